"""Time ``rrg-eval compare --runs`` on saved runs: 10 systems x 5,000 reports x 10 keys, 1,000 resamples.

Usage: python benchmarks/bench_compare_runs.py [--systems 10] [--reports 5000] [--resamples 1000] [--repeat 2]

The runs are synthetic (written once, not timed): per-report statistics of bleu (4 keys, n-gram count rows),
bertscore (3 keys, per-report P/R/F) and radgraph (3 keys, per-report rewards plus entity dicts as the metric
saves them), drawn from a seeded generator so that systems differ a little. Timed: the whole command in this
process (loading the 10 runs, rebuilding the metrics, 1,000 bootstrap resamples for every system and metric,
paired tests, Holm adjustment, rank intervals, JSON rendering). Prints the wall seconds of each repeat.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rrg_eval.metrics.registry import metric_class
from rrg_eval.option_spec import to_dict
from rrg_eval.result import KeyInfo, Result

METRICS = ("bleu", "bertscore", "radgraph")


def synthetic_run(system: int, n: int, digest: str) -> Result:
    """One system's run: statistics shaped as each metric's ``compute_stats`` returns them."""
    rng = np.random.default_rng(1000 + system)
    ids = [f"study{i:05d}" for i in range(n)]
    testlen = rng.integers(20, 80, n)
    reflen = rng.integers(20, 80, n)
    guess = np.stack([np.maximum(testlen - k, 0) for k in range(4)], axis=1)
    skill = 0.3 + 0.01 * system
    correct = np.stack([rng.binomial(guess[:, k], skill / (k + 1)) for k in range(4)], axis=1)
    counts = np.concatenate([testlen[:, None], reflen[:, None], guess, correct], axis=1).astype(np.int64)
    bert = np.clip(rng.normal(0.85 + 0.002 * system, 0.05, (n, 3)), 0, 1)
    rewards = np.clip(rng.normal(0.3 + 0.005 * system, 0.15, (n, 3)), 0, 1)
    entities = [{"1": {"tokens": "effusion", "label": "OBS-DA", "relations": []}} for _ in range(n)]
    stats = {"bleu": {"counts": counts},
             "bertscore": {"bertscore_p": bert[:, 0], "bertscore_r": bert[:, 1], "bertscore_f1": bert[:, 2]},
             "radgraph": {"rewards": rewards, "prediction_entities": entities, "reference_entities": entities}}
    result = Result(n=n, ids=ids, scores={}, signatures={}, key_info={}, references_digest=digest)
    for name in METRICS:
        cls = metric_class(name)
        metric = cls()
        result.stats[name] = stats[name]
        result.options[name] = to_dict(metric.config)
        result.signatures[name] = f"{name}|synthetic|refs:{digest}"
        for key, value in metric.aggregate(stats[name]).items():
            result.scores[key] = float(value)
            result.key_info[key] = KeyInfo(metric=name, kind=cls.kind_of(key), higher_is_better=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, default=10)
    parser.add_argument("--reports", type=int, default=5000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    from rrg_eval.cli import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for s in range(args.systems):
            path = Path(tmp) / f"sys{s}.run"
            synthetic_run(s, args.reports, "bench0000000").save(path)
            paths.append(str(path))
        size = sum(Path(p).stat().st_size for p in paths) / 2**20
        argv = ["compare", "--runs", *paths, "--resamples", str(args.resamples), "--format", "json",
                "--out", str(Path(tmp) / "board.json")]
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                code = cli(argv)
            times.append(time.perf_counter() - start)
            if code != 0:
                sys.exit(f"compare failed with exit code {code}")
    print(f"{args.systems} systems x {args.reports} reports x 10 keys, {args.resamples} resamples "
          f"({size:.1f} MiB of runs): " + ", ".join(f"{t:.2f} s" for t in times) + f" (best {min(times):.2f} s)")


if __name__ == "__main__":
    main()
