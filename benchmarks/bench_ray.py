"""Overhead of the Ray engine against the local path on this machine (issue 17).

Scores the IU X-ray val pairs (each report against another report) with the same metrics locally and on a local
Ray cluster (``rrg_eval.distributed.RayEngine``), interleaved in one process, and checks that the numbers are
identical. Reports the cluster's start and stop, and per pass the wall time of each path (best of ``--repeat``).

    python benchmarks/bench_ray.py --metrics bleu,rouge,cider --workers 2 --blocks 4 --repeat 2

Write the machine's load average (``uptime``) next to any figure: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "iu_xray" / "val.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SHARED))
    parser.add_argument("--n", type=int, default=0, help="first N pairs (default: all)")
    parser.add_argument("--metrics", default="bleu,rouge,cider")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--device", default=None, help="device option of the model metrics (e.g. cpu)")
    args = parser.parse_args()

    import ray

    import rrg_eval
    from rrg_eval.distributed import RayEngine, start_local_cluster

    rows = [json.loads(line) for line in Path(args.data).read_text().splitlines() if line.strip()]
    if args.n:
        rows = rows[: args.n]
    refs = {f"s{i}": r["report"] for i, r in enumerate(rows)}
    preds = {f"s{i}": rows[(i * 7 + 3) % len(rows)]["report"] for i in range(len(rows))}
    metrics = args.metrics.split(",")
    options = {"device": args.device} if args.device else {}
    common = {"predictions": preds, "references": refs, "metrics": metrics, "use_cache": False, **options}

    t0 = time.perf_counter()
    start_local_cluster(num_cpus=os.cpu_count())
    started = time.perf_counter() - t0
    engine = RayEngine(workers=args.workers, blocks=args.blocks)
    local_times, ray_times, diffs = [], [], []
    try:
        for _ in range(args.repeat):
            t = time.perf_counter()
            local = rrg_eval.score(**common)
            local_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            distributed = rrg_eval.score(**common, engine=engine)
            ray_times.append(time.perf_counter() - t)
            assert set(distributed.scores) == set(local.scores) and not distributed.errors, distributed.errors
            diffs.append(max(abs(distributed.scores[k] - v) for k, v in local.scores.items()))
    finally:
        t = time.perf_counter()
        ray.shutdown()
        stopped = time.perf_counter() - t
    best_local, best_ray = min(local_times), min(ray_times)
    print(f"{len(rows)} pairs, metrics {','.join(metrics)}, workers {args.workers}, blocks {args.blocks}")
    print(f"cluster start {started:.1f} s, stop {stopped:.1f} s")
    print(f"local  runs (s): {', '.join(f'{x:.2f}' for x in local_times)}")
    print(f"ray    runs (s): {', '.join(f'{x:.2f}' for x in ray_times)}")
    print(f"best: local {best_local:.2f} s, ray {best_ray:.2f} s, overhead {best_ray - best_local:+.2f} s "
          f"({best_ray / best_local:.1f}x); max |score difference| {max(diffs):.1e}")


if __name__ == "__main__":
    main()
