"""All model metrics together, as a user runs them: cold cache, then a warm rerun, with peak memory.

Usage: python benchmarks/bench_models_all.py [--models DIR] [--metrics bertscore,radgraph,f1chexbert]

Writes base-size synthetic checkpoints (``rrg-eval models synth KIND DIR --size base``) unless ``--models`` holds
them, then runs ``rrg-eval score`` on the 382 IU X-ray val pairs twice in fresh processes against one cache
folder: cold (empty cache) and warm. Prints wall seconds and peak RSS of each run (targets: warm at least 20x
faster than cold; peak RSS of all three together under 4 GiB).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "iu_xray" / "val.jsonl"
KIND = {"bertscore": "bertscore", "radgraph": "radgraph", "f1chexbert": "chexbert"}


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    # ru_maxrss of children is the largest child so far: runs are ordered cold (largest) then warm
    return wall, max(peak, before) / 1024.0, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", help="folder with base-size synthetic checkpoints (default: write them)")
    parser.add_argument("--metrics", default="bertscore,radgraph,f1chexbert")
    args = parser.parse_args()
    metrics = [m for m in args.metrics.split(",") if m]
    work = Path(tempfile.mkdtemp(prefix="rrg-bench-"))
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    preds = [{"id": r["id"], "report": rows[(i * 7 + 3) % len(rows)]["report"]} for i, r in enumerate(rows)]
    (work / "preds.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))
    models = Path(args.models) if args.models else work / "models"
    rrg = [sys.executable, "-m", "rrg_eval"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", RRG_EVAL_MODEL_DIR=str(models))
    if not args.models:
        for metric in metrics:
            subprocess.run([*rrg, "models", "synth", KIND[metric], str(models), "--size", "base"], check=True,
                           env=env, capture_output=True)
    cmd = [*rrg, "score", str(work / "preds.jsonl"), str(DATA), "--metrics", ",".join(metrics), "--format", "json",
           "--cache-dir", str(work / "cache"), "--device", "cpu"]
    cold, cold_rss, out_cold = _run(cmd, env)
    warm, _, out_warm = _run(cmd, env)
    same = json.loads(out_cold)["scores"] == json.loads(out_warm)["scores"]
    print(f"metrics: {', '.join(metrics)}; 382 IU X-ray val pairs; base-size synthetic weights; CPU\n")
    print("| run | wall s | peak RSS MiB |\n|---|---:|---:|")
    print(f"| cold cache | {cold:.1f} | {cold_rss:.0f} |")
    print(f"| warm cache | {warm:.1f} | (below cold) |")
    print(f"\nwarm vs cold: {cold / warm:.1f}x faster; identical scores: {same}")


if __name__ == "__main__":
    main()
