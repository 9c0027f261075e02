"""Benchmark ``ratescore`` against the official ``RaTEScore`` (ratescore 0.6.0) on the same synthetic weights.

Both score IU X-ray validation pairs (``tests/conftest.py::iu_pairs``: each report against another; the first
``--n``) with base-size synthetic models (DeBERTa-v3-base NER, MPNet-base BioLORD, written by
``rrg_eval.synthetic_weights.ratescore``), each in a fresh process, so that wall time includes imports and model
loading and peak resident memory is the process's own. Ours runs twice: cold (empty cache folder) and warm (same
folder). Both run in ``.venv-official-ratescore`` (``.ci/setup_official_ratescore.sh``: medspaCy needs numpy<2
on Python 3.11), with the same number of torch threads; PyRuSH's per-token debug logging is silenced in both.
The per-report scores of both are compared.

    python benchmarks/bench_ratescore.py [--n 382] [--threads 2] [--work /tmp/rrg-bench-ratescore]

Prints a markdown section (copy it into ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = REPO / ".venv-official-ratescore" / "bin" / "python"
OFFICIAL = REPO / "tests" / "support" / "official_ratescore_runner.py"
OURS = REPO / "tests" / "support" / "ratescore_runner.py"


def iu_pairs(n: int) -> tuple[list[str], list[str]]:
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import load_iu_xray  # the same pairs as the iu_pairs fixture

    rows = load_iu_xray("val")
    refs = [r["report"] for r in rows]
    preds = [rows[(i * 7 + 3) % len(rows)]["report"] for i in range(len(rows))]
    return preds[:n], refs[:n]


def run(script: Path, data: Path, out: Path, env: dict[str, str]) -> dict:
    t0 = time.perf_counter()
    subprocess.run([str(PY), str(script), str(data), str(out)], env=env, check=True, capture_output=True, text=True)
    return {**json.loads(out.read_text(encoding="utf-8")), "wall_s": time.perf_counter() - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=382)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", default="base", choices=("tiny", "base"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/rrg-bench-ratescore"))
    args = parser.parse_args()
    from rrg_eval.synthetic_weights.ratescore import ENCODER_FOLDER, NER_FOLDER, synthesize

    work = args.work
    synth = work / f"synth-{args.size}"
    if not (synth / ENCODER_FOLDER / "model.safetensors").is_file():
        synthesize(synth, args.size, seed=0)
    preds, refs = iu_pairs(args.n)
    cache = work / "cache"
    if cache.exists():
        shutil.rmtree(cache)
    data = {"ner": str(synth / NER_FOLDER), "encoder": str(synth / ENCODER_FOLDER), "candidates": preds,
            "references": refs, "cache_dir": str(cache)}
    (work / "in.json").write_text(json.dumps(data), encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "OFFICIAL_THREADS": str(args.threads),
           "OFFICIAL_QUIET": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": str(REPO)}
    official = run(OFFICIAL, work / "in.json", work / "official.json", env)
    cold = run(OURS, work / "in.json", work / "cold.json", env)
    warm = run(OURS, work / "in.json", work / "warm.json", env)
    diff = max(abs(a - b) for a, b in zip(official["scores"], cold["scores"]))
    n = len(preds)
    lines = [
        "## ratescore",
        "",
        f"{n} IU X-ray val pairs, {args.size}-size synthetic models (DeBERTa-v3 NER, MPNet BioLORD), CPU, "
        f"{args.threads} torch threads, each run a fresh process (wall time includes imports and model load).",
        "",
        "| run | wall s | pairs/s | speed-up vs official | peak RSS MiB |",
        "|---|---|---|---|---|",
        f"| official ratescore 0.6.0 | {official['wall_s']:.1f} | {n / official['wall_s']:.2f} | 1.0x | "
        f"{official['peak_rss_mib']:.0f} |",
    ]
    for label, r in (("cold", cold), ("warm", warm)):
        lines.append(f"| rrg-eval {label} cache | {r['wall_s']:.1f} | {n / r['wall_s']:.2f} | "
                     f"{official['wall_s'] / r['wall_s']:.1f}x | {r['peak_rss_mib']:.0f} |")
    lines += ["", f"Official: load {official['load_s']:.1f} s, scoring {official['score_s']:.1f} s. Warm run "
              f"imported torch: {warm['torch_imported']}. Largest per-report difference vs official: {diff:.2e}.",
              "", f"Command: `python benchmarks/bench_ratescore.py --n {n} --threads {args.threads} --size "
              f"{args.size}` (after `bash .ci/setup_official_ratescore.sh`).", ""]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
