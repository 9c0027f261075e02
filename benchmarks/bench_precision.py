"""Benchmark reduced precision (``precision=bf16|int8``) against fp32 for f1chexbert, radgraph, bertscore, ratescore.

Scores the IU X-ray validation pairs (each report against another study's report, the pairing of
``bench_f1chexbert.py``: prediction ``i`` is report ``(7 i + 3) mod n``) with base-size synthetic weights written by
``rrg-eval models synth KIND DIR --size base`` (the real architectures, random weights), without the annotation
cache, in one process. For each metric the fp32 / bf16 / int8 models are loaded once, then the runs are
interleaved (fp32, bf16, int8, fp32, ...) so that the shared machine's load hits every precision alike; the
speed-up is fp32's median time over the mode's median time. Agreement with fp32 (from the first repetition):

* f1chexbert: label-flip rate (share of the 14 binary labels of every scored text that differ from fp32);
* radgraph: entity and relation agreement (Jaccard of the (text side, span, label) entity tuples and of the
  (text side, span, label, span) relation tuples over the corpus), and the share of reports with identical graphs;
* ratescore: entity agreement (Jaccard of the (sentence, position, text, type) entities RaTE-NER found in every
  distinct sentence) and the share of sentences with identical entities; its sentences are split at ". " (a
  stand-in for medspaCy, which the project venv does not have; the split does not depend on the precision);
* every metric: max |difference| of every corpus key.

Target (issue 17): speed-up >= 2, flips <= 0.5 %, |delta| <= 0.005 on every key. Random weights make the flip and
agreement figures unrepresentative of trained weights (random heads sit near decision boundaries more often).

    RRG_EVAL_MODEL_DIR=/tmp/prec/synth python benchmarks/bench_precision.py [--n 382] [--reps 3] [--threads 2]
        [--metrics f1chexbert,radgraph,bertscore,ratescore] [--json out.json]

Prints a Markdown table (paste into benchmarks/RESULTS.md) and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PRECISIONS = ("fp32", "bf16", "int8")
OPTIONS: dict[str, dict[str, Any]] = {"f1chexbert": {}, "radgraph": {"model_type": "radgraph-xl"}, "bertscore": {},
                                      "ratescore": {}}


class DotSplitter:
    """ratescore's sentences split at ". " and filtered as the package filters them (stand-in for medspaCy)."""

    name = "bench-dot"

    def __call__(self, text: str) -> list[str]:
        import re

        from rrg_eval.backends.ratescore_model import keep_sentence

        return [s for s in (keep_sentence(x) for x in re.split(r"(?<=\.)\s+", text)) if s]


def load(name: str, precision: str) -> Any:
    """The metric on the CPU at ``precision`` (ratescore with :class:`DotSplitter`)."""
    from rrg_eval.metrics.registry import load_metric

    if name == "ratescore":
        from rrg_eval.metrics.ratescore import RaTEScore

        return RaTEScore(splitter=DotSplitter(), device="cpu", precision=precision, **OPTIONS[name])
    return load_metric(name, device="cpu", precision=precision, **OPTIONS[name])


def record_ner(metric: Any) -> dict[str, Any]:
    """ratescore: a dict that collects RaTE-NER's entities of every sentence the metric runs through it."""
    seen: dict[str, Any] = {}
    ner = metric.backend().ner
    run = ner.entities

    def entities(sentences: Any) -> Any:
        out = run(sentences)
        for s, e in zip(sentences, out):
            seen.setdefault(s, e)
        return out

    ner.entities = entities
    return seen


def iu_pairs(n: int) -> tuple[list[str], list[str]]:
    """The first ``n`` of the 382 IU X-ray val pairs (prediction = another study's report)."""
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import load_iu_xray

    rows = load_iu_xray("val")
    refs = [r["report"] for r in rows]
    preds = [rows[(i * 7 + 3) % len(rows)]["report"] for i in range(len(rows))]
    return preds[:n], refs[:n]


def _entity_tuples(side: str, i: int, entities: dict[str, Any]) -> tuple[set, set]:
    ents, rels = set(), set()
    by_id = {k: (e["start_ix"], e["end_ix"]) for k, e in entities.items()}
    for e in entities.values():
        span = (e["start_ix"], e["end_ix"])
        ents.add((side, i, span, e["label"]))
        for label, target in e["relations"]:
            rels.add((side, i, span, label, by_id.get(target)))
    return ents, rels


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def agreement(name: str, base: Any, other: Any, ner: dict[str, dict[str, Any]] | None = None,
              precision: str = "") -> dict[str, float]:
    """Agreement of one precision's statistics with fp32's (see the module docstring)."""
    import numpy as np

    out: dict[str, float] = {}
    if name == "ratescore" and ner:
        a, b = ner["fp32"], ner[precision]
        ea = {(s, j, *e) for s, ents in a.items() for j, e in enumerate(ents)}
        eb = {(s, j, *e) for s, ents in b.items() for j, e in enumerate(ents)}
        out["entity_agreement"] = _jaccard(ea, eb)
        out["identical_sentences"] = sum(a[s] == b.get(s) for s in a) / len(a) if a else 1.0
        d = np.abs(np.asarray(other.per_report["ratescore"]) - np.asarray(base.per_report["ratescore"]))
        out["max_report_delta"] = float(d.max()) if len(d) else 0.0
    if name == "f1chexbert":
        a = np.concatenate([base.stats["prediction_labels"], base.stats["reference_labels"]])
        b = np.concatenate([other.stats["prediction_labels"], other.stats["reference_labels"]])
        out["label_flip_rate"] = float((a != b).mean())
    if name == "radgraph":
        ea, ra, eb, rb = set(), set(), set(), set()
        same = 0
        pairs = list(zip(base.stats["prediction_entities"], other.stats["prediction_entities"])) + list(
            zip(base.stats["reference_entities"], other.stats["reference_entities"]))
        for i, (x, y) in enumerate(pairs):
            e1, r1 = _entity_tuples("t", i, x)
            e2, r2 = _entity_tuples("t", i, y)
            ea |= e1
            ra |= r1
            eb |= e2
            rb |= r2
            same += int(e1 == e2 and r1 == r2)
        out["entity_agreement"] = _jaccard(ea, eb)
        out["relation_agreement"] = _jaccard(ra, rb)
        out["identical_graphs"] = same / len(pairs) if pairs else 1.0
    out["max_abs_delta"] = max(abs(other.scores[k] - base.scores[k]) for k in base.scores)
    out["worst_key"] = max(base.scores, key=lambda k: abs(other.scores[k] - base.scores[k]))  # type: ignore[assignment]
    return out


def bench(name: str, preds: list[str], refs: list[str], reps: int) -> list[dict[str, Any]]:
    metrics = {p: load(name, p) for p in PRECISIONS}
    loads = {}
    ner: dict[str, dict[str, Any]] = {}
    for p, m in metrics.items():
        t0 = time.perf_counter()
        m.backend()
        m.signature()  # the weights' digest (remembered per metric): hashed here, not in the first timed run
        if name == "ratescore":
            m.backend().ner, m.backend().encoder  # noqa: B018 (both load lazily: time their loading here)
            m.cache_namespace(None), m.model_digest("encoder")  # noqa: B018 (its per-model digests)
            ner[p] = record_ner(m)
        loads[p] = time.perf_counter() - t0
    times: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    first: dict[str, Any] = {}
    for _ in range(reps):
        for p, m in metrics.items():
            t0 = time.perf_counter()
            result = m.compute(predictions=preds, references=refs, cache_dir=None)
            times[p].append(time.perf_counter() - t0)
            first.setdefault(p, result)
            print(f"  {name} {p}: {times[p][-1]:.1f} s (load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
    rows = []
    base_t = statistics.median(times["fp32"])
    for p in PRECISIONS:
        t = statistics.median(times[p])
        row = {"metric": name, "precision": p, "median_s": t, "times_s": times[p], "load_s": loads[p],
               "speedup": base_t / t, **agreement(name, first["fp32"], first[p], ner, p)}
        rows.append(row)
    for m in metrics.values():
        m.close()
    return rows


def verdict(row: dict[str, Any]) -> str:
    ok = row["speedup"] >= 2 and row["max_abs_delta"] <= 0.005 and row.get("label_flip_rate", 0) <= 0.005
    return "meets" if ok else "misses"


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| metric | precision | median s | speed-up | label flips | entity / relation agreement | "
             "identical graphs | max abs delta (key) | target |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        flips = f"{100 * r['label_flip_rate']:.2f} %" if "label_flip_rate" in r else "-"
        agree = (f"{100 * r['entity_agreement']:.1f} % / {100 * r['relation_agreement']:.1f} %"
                 if "relation_agreement" in r else f"{100 * r['entity_agreement']:.1f} % / -"
                 if "entity_agreement" in r else "-")
        same = (f"{100 * r['identical_graphs']:.1f} %" if "identical_graphs" in r else
                f"{100 * r['identical_sentences']:.1f} % (sentences)" if "identical_sentences" in r else "-")
        target = "-" if r["precision"] == "fp32" else verdict(r)
        lines.append(f"| {r['metric']} | {r['precision']} | {r['median_s']:.1f} | {r['speedup']:.2f}x | {flips} | "
                     f"{agree} | {same} | {r['max_abs_delta']:.4f} ({r['worst_key']}) | {target} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=382, help="pairs scored (the first N of the 382)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--metrics", default="f1chexbert,radgraph,bertscore,ratescore")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not os.environ.get("RRG_EVAL_MODEL_DIR"):
        sys.exit("set RRG_EVAL_MODEL_DIR to a folder written by `rrg-eval models synth KIND DIR --size base`")
    import torch

    from rrg_eval.backends import precision

    precision.REFUSED_ON_CPU.clear()  # measure the modes that rrg-eval refuses on the CPU (this process only)
    torch.set_num_threads(args.threads)
    preds, refs = iu_pairs(args.n)
    load_before = os.getloadavg()
    rows = []
    for name in args.metrics.split(","):
        rows += bench(name, preds, refs, args.reps)
    load_after = os.getloadavg()
    print(f"{len(preds)} pairs, {args.reps} interleaved repetitions, {args.threads} torch threads, torch "
          f"{torch.__version__}; load average before {load_before[0]:.1f} / after {load_after[0]:.1f} (1 min)\n")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "load": [load_before, load_after], "n": len(preds)},
                                        indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
