"""Benchmark ``radgraph`` against the official ``radgraph.F1RadGraph`` (0.1.18) on the same synthetic weights.

Both score the 382 IU X-ray validation pairs (``tests/conftest.py::iu_pairs``: each report against another) with a
base-size synthetic ``radgraph-xl`` archive (BERT-base encoder, written by
``rrg_eval.synthetic_weights.radgraph``), each in a
fresh process, so that peak resident memory is the process's own. Ours runs twice: cold (empty cache folder) and
warm (same folder). The official package runs in ``.venv-official-radgraph`` (``.ci/setup_official_radgraph.sh``).

    python benchmarks/bench_radgraph.py [--threads 2] [--work /tmp/rrg-bench-radgraph] [--write]

``--write`` replaces the ``## radgraph`` section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OFFICIAL_PY = REPO / ".venv-official-radgraph" / "bin" / "python"
RUNNER = REPO / "tests" / "support" / "official_radgraph_runner.py"
RESULTS = REPO / "benchmarks" / "RESULTS.md"


def iu_pairs() -> tuple[list[str], list[str]]:
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import load_iu_xray  # the same pairs as the iu_pairs fixture

    rows = load_iu_xray("val")
    refs = [r["report"] for r in rows]
    preds = [rows[(i * 7 + 3) % len(rows)]["report"] for i in range(len(rows))]
    return preds, refs


def ours_worker(args: argparse.Namespace) -> None:
    """Score in this process and print a JSON line (seconds, scores, peak RSS)."""
    import torch

    torch.set_num_threads(args.threads)
    os.environ["RRG_EVAL_MODEL_DIR"] = str(args.work / "models")
    os.environ["HF_HUB_OFFLINE"] = "1"
    from rrg_eval.metrics.registry import load_metric

    preds, refs = iu_pairs()
    t0 = time.perf_counter()
    metric = load_metric("radgraph", device="cpu", batch_size=args.batch_size)
    result = metric.compute(predictions=preds, references=refs, cache_dir=args.cache)
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "scores": result.scores,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_ours(args: argparse.Namespace, cache: Path) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--threads", str(args.threads), "--work", str(args.work),
           "--cache", str(cache), "--batch-size", str(args.batch_size)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall_s"] = time.perf_counter() - t0
    return out


def run_official(args: argparse.Namespace, preds: list[str], refs: list[str]) -> dict:
    hub = args.work / "hub"
    extracted = hub / "radgraph-xl"  # the package extracts the archive here on first use: start cold
    shutil.rmtree(extracted, ignore_errors=True)
    job = args.work / "official-job.json"
    out = args.work / "official-out.json"
    job.write_text(json.dumps({"hub_cache": str(hub), "model_type": "radgraph-xl", "hyps": preds, "refs": refs,
                               "threads": args.threads}), encoding="utf-8")
    t0 = time.perf_counter()
    subprocess.run([str(OFFICIAL_PY), str(RUNNER), str(job), str(out)], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    result = json.loads(out.read_text(encoding="utf-8"))
    result["wall_s"] = wall
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--work", type=Path, default=Path("/tmp/rrg-bench-radgraph"))
    parser.add_argument("--write", action="store_true", help="write the section of benchmarks/RESULTS.md")
    parser.add_argument("--skip-official", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        ours_worker(args)
        return

    from rrg_eval.synthetic_weights.radgraph import official_hub_cache, synthesize

    models = args.work / "models"
    if not (models / "StanfordAIMI--RRG_scorers" / "radgraph-xl.tar.gz").is_file():
        synthesize(models, "base", seed=0, model_types=("radgraph-xl",))
    official_hub_cache(models, args.work / "hub")
    preds, refs = iu_pairs()
    cache = args.work / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    cold = run_ours(args, cache)
    warm = run_ours(args, cache)
    official = None if args.skip_official or not OFFICIAL_PY.is_file() else run_official(args, preds, refs)

    n = len(preds)
    lines = [
        "## radgraph",
        "",
        f"`python benchmarks/bench_radgraph.py --threads {args.threads} --write` — {n} IU X-ray val pairs, "
        "synthetic base-size `radgraph-xl` archive (BERT-base encoder, seeded random weights), CPU, "
        f"{args.threads} torch threads, {os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
        "each run in a fresh process; wall time includes loading the model.",
        "",
        "| run | wall s | pairs/s | peak RSS MiB |",
        "|---|---:|---:|---:|",
        f"| rrg-eval cold cache | {cold['wall_s']:.1f} | {n / cold['wall_s']:.2f} | {cold['peak_rss_mib']:.0f} |",
        f"| rrg-eval warm cache | {warm['wall_s']:.1f} | {n / warm['wall_s']:.2f} | {warm['peak_rss_mib']:.0f} |",
    ]
    if official is not None:
        lines.append(f"| radgraph 0.1.18 F1RadGraph | {official['wall_s']:.1f} | {n / official['wall_s']:.2f} | "
                     f"{official['peak_rss_mib']:.0f} |")
        same = all(abs(cold["scores"][k] - official["mean"][j]) <= 1e-6
                   for j, k in enumerate(("radgraph_simple", "radgraph_partial", "radgraph_complete")))
        lines += ["",
                  f"Cold speed-up over the official package: {official['wall_s'] / cold['wall_s']:.1f}x end to end "
                  f"(the official scoring alone, model loaded: {official['score_s']:.1f} s, "
                  f"{official['score_s'] / cold['wall_s']:.1f}x our whole cold run); "
                  f"warm over cold: {cold['wall_s'] / warm['wall_s']:.0f}x. "
                  f"Scores equal to the official ones (1e-6): {'yes' if same else 'NO'}."]
    lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.write:
        old = RESULTS.read_text(encoding="utf-8") if RESULTS.is_file() else "# Benchmarks\n\n"
        start = old.find("## radgraph")
        if start >= 0:
            end = old.find("\n## ", start + 1)
            old = old[:start] + (old[end + 1:] if end >= 0 else "")
        RESULTS.write_text(old.rstrip("\n") + "\n\n" + text, encoding="utf-8")


if __name__ == "__main__":
    main()
