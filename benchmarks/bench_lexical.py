"""Time rrg-eval's lexical metrics against their reference packages on IU X-ray reports.

Usage: python benchmarks/bench_lexical.py [--split train|val] [--repeat 3]
Each report is paired with another report as its prediction. Prints a Markdown table (seconds, best of
``--repeat``) and the largest absolute difference between the two implementations' corpus scores.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "iu_xray"


def _best(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", default="val")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = [json.loads(line) for line in (DATA / f"{args.split}.jsonl").read_text().splitlines() if line.strip()]
    refs = [r["report"] for r in rows]
    preds = [rows[(i * 7 + 3) % len(rows)]["report"] for i in range(len(rows))]
    ids = [str(i) for i in range(len(rows))]
    gts = {i: [r] for i, r in zip(ids, refs)}
    res = {i: [p] for i, p in zip(ids, preds)}

    import numpy as np
    import sacrebleu
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from rouge_score.rouge_scorer import RougeScorer

    import rrg_eval

    def ours(name: str) -> Callable[[], dict]:
        metric = rrg_eval.load_metric(name)
        return lambda: metric.compute(predictions=preds, references=refs).scores

    def rouge_ref() -> float:
        scorer = RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
        return float(np.mean([scorer.score(r, p)["rougeL"].fmeasure for p, r in zip(preds, refs)]))

    cases = [
        ("bleu", lambda: Bleu(4).compute_score(gts, res, verbose=0)[0][3], ours("bleu"), "bleu4"),
        ("cider", lambda: Cider().compute_score(gts, res)[0], ours("cider"), "cider"),
        ("rouge", rouge_ref, ours("rouge"), "rougeL"),
        ("sacrebleu", lambda: sacrebleu.corpus_bleu(preds, [refs]).score / 100, ours("sacrebleu"), "sacrebleu"),
    ]
    print(f"{len(rows)} pairs from {args.split}.jsonl, best of {args.repeat}\n")
    print("| metric | reference package (s) | rrg-eval (s) | max abs diff |")
    print("|---|---:|---:|---:|")
    for name, ref_fn, our_fn, key in cases:
        t_ref, v_ref = _best(ref_fn, args.repeat)
        t_our, v_our = _best(our_fn, args.repeat)
        print(f"| {name} | {t_ref:.3f} | {t_our:.3f} | {abs(float(v_ref) - v_our[key]):.1e} |")  # type: ignore[index]

    cider = rrg_eval.load_metric("cider")
    stats = cider.compute(predictions=preds, references=refs).stats
    rng = np.random.default_rng(12345)
    from rrg_eval.stats import take

    start = time.perf_counter()
    for _ in range(100):
        cider.aggregate(take(stats, rng.integers(0, len(refs), len(refs))))
    print(f"\nCIDEr aggregate on a bootstrap resample: {(time.perf_counter() - start) * 10:.1f} ms")


if __name__ == "__main__":
    main()
