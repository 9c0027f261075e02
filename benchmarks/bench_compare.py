"""Time ``rrg_eval.compare`` on realistic systems: the resampled aggregates of the lexical metrics.

Usage: python benchmarks/bench_compare.py [--n 5000] [--systems 3] [--metrics bleu,rouge,cider] [--resamples 1000]

References are IU X-ray reports (train + val, cycled with seeded edits past 3,444 so that every reference is a
distinct text). Systems are what report generators write: another study's report, the reference with words
dropped and swapped, and a shortened reference; none is the references reordered, so de-duplication does not
flatter the timing. Prints the wall time of the whole ``compare`` call (scoring + paired bootstrap + CIs).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "iu_xray"


def _edit(text: str, rng: np.random.Generator, drop: float, swap: float) -> str:
    words = text.split()
    out = [w for w in words if rng.random() >= drop] or words[:1]
    for _ in range(int(len(out) * swap)):
        i, j = rng.integers(0, len(out), 2)
        out[i], out[j] = out[j], out[i]
    return " ".join(out)


def build(n: int, n_systems: int, seed: int = 0) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """``references`` ({id: text}) and ``systems`` ({name: {id: text}}) with ``n`` pairs each."""
    rows = []
    for split in ("train", "val"):
        rows += [json.loads(line) for line in (DATA / f"{split}.jsonl").read_text().splitlines() if line.strip()]
    rng = np.random.default_rng(seed)
    base = [r["report"] for r in rows]
    refs = [base[i % len(base)] if i < len(base) else _edit(base[i % len(base)], rng, 0.1, 0.1) for i in range(n)]
    ids = [f"s{i}" for i in range(n)]
    makers = [
        lambda i: refs[(i * 7 + 3) % n],                              # another study's report
        lambda i: _edit(refs[i], rng, 0.25, 0.15),                    # the reference, edited
        lambda i: " ".join(refs[i].split()[: max(1, len(refs[i].split()) // 2)]),  # half the reference
    ]
    systems = {}
    for s in range(n_systems):
        make = makers[s % len(makers)]
        systems[f"system{s}"] = {rid: make(i) for i, rid in enumerate(ids)}
    return dict(zip(ids, refs)), systems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--systems", type=int, default=3)
    parser.add_argument("--metrics", default="bleu,rouge,cider")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--test", default="bootstrap")
    args = parser.parse_args()
    import rrg_eval

    refs, systems = build(args.n, args.systems)
    start = time.perf_counter()
    board = rrg_eval.compare(systems=systems, references=refs, metrics=args.metrics.split(","),
                             resamples=args.resamples, test=args.test, use_cache=False)
    elapsed = time.perf_counter() - start
    print(f"{args.systems} systems x {args.n} reports, metrics {args.metrics}, {args.test} with {args.resamples} "
          f"resamples: {elapsed:.1f} s")
    print(board.render("markdown"))


if __name__ == "__main__":
    main()
