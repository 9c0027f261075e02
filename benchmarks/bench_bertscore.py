"""Benchmark: rrg-eval ``bertscore`` vs the official ``bert_score.score`` (bert-score 0.3.13).

Same weights (a base-size synthetic distilbert-base-uncased from ``rrg_eval.synthetic_weights``, real DistilBERT sizes,
seeded random weights), same 382 IU X-ray val pairs (each val report scored against another one, as the test
fixture ``iu_pairs`` pairs them), same configuration (layer 5, rescaled with bert-score's distilbert baseline,
no idf). Every run is a fresh process, so imports and model loading count; peak RSS is that process's
``ru_maxrss``. rrg-eval runs twice on one cache folder (cold, then warm); bert-score runs in the reference venv
made by ``.ci/setup_bertscore_venv.sh`` (bert-score 0.3.13 needs transformers < 5).

    python benchmarks/bench_bertscore.py [--official-python .venv-bertscore/bin/python] [--write]

``--write`` replaces the ``## bertscore`` section of benchmarks/RESULTS.md with the figures and the command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "iu_xray" / "val.jsonl"
RUNNER = REPO / "tests" / "support" / "official_bertscore_runner.py"
RESULTS = REPO / "benchmarks" / "RESULTS.md"


def load_pairs() -> tuple[list[str], list[str], list[str]]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    ids = [r["id"] for r in rows]
    refs = [r["report"] for r in rows]
    preds = [rows[(i * 7 + 3) % len(rows)]["report"] for i in range(len(rows))]
    return ids, preds, refs


def worker(models: str, cache_dir: str) -> None:
    """One rrg-eval run in this process; prints JSON (seconds, peak RSS, per-report values)."""
    start = time.perf_counter()
    os.environ["RRG_EVAL_MODEL_DIR"] = models
    os.environ["HF_HUB_OFFLINE"] = "1"
    from rrg_eval.metrics.registry import load_metric

    ids, preds, refs = load_pairs()
    result = load_metric("bertscore", device="cpu").compute(predictions=preds, references=refs, ids=ids,
                                                           cache_dir=cache_dir)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "scores": result.scores, "F": result.per_report["bertscore_f1"].tolist(),
                      "signature": result.signature}))


def run_ours(models: Path, cache_dir: Path) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--worker", str(models), str(cache_dir)], capture_output=True,
                          text=True, check=True)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["wall"] = time.perf_counter() - start
    return out


def run_official(python: str, models: Path) -> dict:
    import importlib.util

    spec = importlib.util.find_spec("bert_score")
    baseline = Path(next(iter(spec.submodule_search_locations))) / "rescale_baseline/en/distilbert-base-uncased.tsv"
    _, preds, refs = load_pairs()
    kwargs = {"model_type": str(models / "distilbert-base-uncased"), "num_layers": 5, "lang": "en",
              "rescale_with_baseline": True, "baseline_path": str(baseline), "device": "cpu"}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    start = time.perf_counter()
    done = subprocess.run([python, str(RUNNER)], input=json.dumps({"cands": preds, "refs": refs, "kwargs": kwargs}),
                          capture_output=True, text=True, check=True, env=env)
    out = json.loads(done.stdout)
    out["wall"] = time.perf_counter() - start
    return out


def write_section(text: str) -> None:
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.is_file() else "# Benchmark results\n"
    lines = old.splitlines()
    out, skipping = [], False
    for line in lines:
        if line.startswith("## "):
            skipping = line.strip() == "## bertscore"
            if skipping:
                continue
        if not skipping:
            out.append(line)
    body = "\n".join(out).rstrip() + "\n\n" + text.rstrip() + "\n"
    RESULTS.write_text(body, encoding="utf-8")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official-python", default=str(REPO / ".venv-bertscore" / "bin" / "python"))
    parser.add_argument("--models", help="folder with a synthetic base model (default: made in a temp folder)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each; the fastest is reported")
    parser.add_argument("--write", action="store_true", help="write the figures into benchmarks/RESULTS.md")
    args = parser.parse_args()
    import numpy as np

    from rrg_eval.synthetic_weights import synthesize

    with tempfile.TemporaryDirectory() as tmp:
        models = Path(args.models) if args.models else synthesize("bertscore", Path(tmp) / "models", "base", 0)
        runs: dict[str, list[dict]] = {"official": [], "cold": [], "warm": []}
        for k in range(args.repeats):  # interleaved, so that load from other jobs hits both alike
            cache = Path(tmp) / f"cache{k}"
            runs["official"].append(run_official(args.official_python, models))
            runs["cold"].append(run_ours(models, cache))
            runs["warm"].append(run_ours(models, cache))
    official, cold, warm = (min(runs[k], key=lambda r: r["wall"]) for k in ("official", "cold", "warm"))
    every = "; ".join(f"{k}: " + ", ".join(f"{r['wall']:.2f}" for r in v) for k, v in runs.items())
    n = len(cold["F"])
    diff = float(np.max(np.abs(np.asarray(cold["F"]) - np.asarray(official["F"]))))
    warm_diff = float(np.max(np.abs(np.asarray(cold["F"]) - np.asarray(warm["F"]))))
    command = f"python benchmarks/bench_bertscore.py --repeats {args.repeats} --write"
    text = f"""## bertscore

Command: `{command}` (after `.ci/setup_bertscore_venv.sh`). Machine: {platform.machine()}, {os.cpu_count()} CPU
cores (shared with other jobs while measured), CPU only (`device=cpu` for both). Weights: synthetic
distilbert-base-uncased at the real size (`rrg-eval models synth bertscore DIR --size base`, seed 0); layer 5,
rescaled with bert-score's distilbert baseline, idf off. Data: the {n} IU X-ray val pairs. Each run is a fresh
process (imports and model loading included); peak RSS is that process's. Fastest of {args.repeats} interleaved
runs each (all wall times, s: {every}).

| run | wall s | pairs/s | peak RSS MiB |
|---|---:|---:|---:|
| bert_score.score 0.3.13 (transformers {official['versions']['transformers']}) \
| {official['wall']:.1f} | {n / official['wall']:.1f} | {official['peak_rss_mb']:.0f} |
| rrg-eval bertscore, cold cache | {cold['wall']:.1f} | {n / cold['wall']:.1f} | {cold['peak_rss_mb']:.0f} |
| rrg-eval bertscore, warm cache | {warm['wall']:.2f} | {n / warm['wall']:.0f} | {warm['peak_rss_mb']:.0f} |

- cold vs bert_score: {official['wall'] / cold['wall']:.2f}x the throughput (target: at least 1x). Both run the same
  5-layer forward pass on CPU, which dominates; rrg-eval saves padding (exact token-length sorting) and matching
  time, so the margin is small and within the noise of a shared machine (see all wall times above).
- warm vs cold: {cold['wall'] / warm['wall']:.1f}x faster (target: at least 20x); the warm run loads neither torch
  nor transformers: embeddings come from the cache, matching is numpy.
- max |F1 difference| per report vs bert_score: {diff:.1e}; warm vs cold: {warm_diff:.1e}.
"""
    print(text)
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
