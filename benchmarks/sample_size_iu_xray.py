"""How many reports are needed to see a difference of a given size, per metric, from the IU X-ray data.

Usage: python benchmarks/sample_size_iu_xray.py [--resamples 1000] [--metrics bleu,rouge,cider,meteor]

Two systems of the same quality are scored on the 382 IU X-ray val reports: the seeded random-training-report
baseline (``rrg_baselines.text.random_baseline``) with seeds 0 and 1. The paired bootstrap (1,000 resamples,
seed 12345) gives the standard error ``SE0`` of their difference at ``n0 = 382``. With a two-sided test at
alpha = 0.05 and power 0.8, a true difference ``delta`` needs about ``n = n0 * ((1.96 + 0.84) * SE0 / delta)^2``
reports (the SE shrinks as ``1 / sqrt(n)``). Two unrelated random reports are little correlated, so this is the
conservative end: systems that share most of their output (a model and its fine-tuned version) have a smaller SE
of the difference and need fewer reports. Prints a Markdown table (docs/statistics.md).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from rrg_baselines.studies import read_studies
from rrg_baselines.text import random_baseline

from rrg_eval import resampling as rs
from rrg_eval.metrics.registry import load_metric

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "iu_xray"
KEYS = {"bleu": ["bleu4"], "rouge": ["rougeL"], "cider": ["cider"], "meteor": ["meteor"], "sacrebleu": ["sacrebleu"]}
DELTAS = (0.01, 0.02, 0.05)
Z = 1.959964 + 0.841621  # two-sided alpha 0.05, power 0.8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--metrics", default="bleu,rouge,cider,meteor")
    parser.add_argument("--data", default=str(DATA))
    args = parser.parse_args()
    train = read_studies(Path(args.data) / "train.jsonl")
    val = read_studies(Path(args.data) / "val.jsonl")
    refs = [s.report for s in val]
    systems = [random_baseline(train, val, seed=seed) for seed in (0, 1)]
    n0 = len(val)
    idx = rs.bootstrap_indices(n0, args.resamples, 12345)
    print(f"n0 = {n0} IU X-ray val reports; random baseline seed 0 vs seed 1; {args.resamples} paired bootstrap "
          "resamples (seed 12345); n for alpha 0.05 two-sided, power 0.8\n")
    print("| key | system A | system B | SE0 of the difference | " + " | ".join(
        f"n for delta {100 * d:g} pt" for d in DELTAS) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(DELTAS))
    for name in args.metrics.split(","):
        metric = load_metric(name)
        reason = metric.unavailable_reason()
        if reason:
            print(f"| {name} | not run here: {reason} |")
            continue
        stats = [metric.compute(predictions=[s[v.id] for v in val], references=refs).stats for s in systems]
        keys = KEYS.get(name, list(metric.keys))
        boot = [rs.resampled_scores(metric.aggregate, st, idx, keys, batch=metric.aggregate_resamples)
                for st in stats]
        for key in keys:
            values = [float(metric.aggregate(st)[key]) for st in stats]
            se = float(np.std(boot[1][key] - boot[0][key], ddof=1))
            needed = [math.ceil(n0 * (Z * se / d) ** 2) for d in DELTAS]
            scale = 100 if metric.kind_of(key) in ("fraction", "rate") else 1
            print(f"| {key} | {scale * values[0]:.2f} | {scale * values[1]:.2f} | {scale * se:.3f} | "
                  + " | ".join(f"{n:,}" for n in needed) + " |")
        metric.close()


if __name__ == "__main__":
    main()
