"""Benchmark ``f1chexbert`` against the official ``f1chexbert.F1CheXbert`` (0.0.2) on the same synthetic weights.

Both score the 382 IU X-ray validation pairs (``tests/conftest.py::iu_pairs``: each report against another) with a
base-size synthetic ``chexbert.pth`` (BERT-base encoder, written by
``rrg_eval.synthetic_weights.chexbert``), each in a fresh
process, so that peak resident memory is the process's own. Ours runs twice: cold (empty cache folder) and warm
(same folder). The official package runs in ``.venv-official-chexbert`` (``.ci/setup_official_f1chexbert.sh``).
Both use the same number of torch threads. The scores of both are compared (they must agree to 1e-6).

    python benchmarks/bench_f1chexbert.py [--threads 2] [--work /tmp/rrg-bench-chexbert]

Writes ``benchmarks/RESULTS_f1chexbert.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OFFICIAL_PY = REPO / ".venv-official-chexbert" / "bin" / "python"
RUNNER = REPO / "tests" / "support" / "official_f1chexbert_runner.py"
RESULTS = REPO / "benchmarks" / "RESULTS_f1chexbert.md"

OURS = r"""
import json, sys, time
t0 = time.perf_counter()
from rrg_eval.metrics.f1chexbert import F1CheXbert
data = json.load(open(sys.argv[1]))
m = F1CheXbert(checkpoint=data["checkpoint"], bert_path=data["bert"], device="cpu")
score = m.compute(predictions=data["hyps"], references=data["refs"], cache_dir=sys.argv[2])
t1 = time.perf_counter()
json.dump({"scores": score.scores, "total_s": t1 - t0, "warnings": score.warnings,
           "peak_rss_mib": [int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]},
          sys.stdout)
"""


def iu_pairs() -> tuple[list[str], list[str]]:
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import load_iu_xray  # the same pairs as the iu_pairs fixture

    rows = load_iu_xray("val")
    refs = [r["report"] for r in rows]
    preds = [rows[(i * 7 + 3) % len(rows)]["report"] for i in range(len(rows))]
    return preds, refs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/rrg-bench-chexbert"))
    args = parser.parse_args()
    from rrg_eval.synthetic_weights.chexbert import official_layout, synthesize

    work = args.work
    synth = work / "synth"
    if not (synth / "StanfordAIMI--RRG_scorers" / "chexbert.pth").is_file():
        synthesize(synth, "base", seed=0)
    preds, refs = iu_pairs()
    data = {"hyps": preds, "refs": refs, "checkpoint": str(synth / "StanfordAIMI--RRG_scorers" / "chexbert.pth"),
            "bert": str(synth / "bert-base-uncased")}
    (work / "in.json").write_text(json.dumps(data), encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "OFFICIAL_THREADS": str(args.threads)}

    cache = work / "cache"
    if cache.exists():
        import shutil

        shutil.rmtree(cache)
    runs = {}
    for label in ("cold", "warm"):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", OURS, str(work / "in.json"), str(cache)],
                             capture_output=True, text=True, env=env, check=True)
        runs[label] = {**json.loads(out.stdout), "wall_s": time.perf_counter() - t0}

    official_dir = work / "official"
    official_dir.mkdir(exist_ok=True)
    off_env = {**env, **official_layout(synth, official_dir)}
    t0 = time.perf_counter()
    subprocess.run([str(OFFICIAL_PY), str(RUNNER), str(work / "in.json"), str(official_dir / "out.json")],
                   cwd=official_dir, env=off_env, capture_output=True, text=True, check=True)
    official = {**json.loads((official_dir / "out.json").read_text()), "wall_s": time.perf_counter() - t0}
    expected = {"f1chexbert_5_accuracy": official["accuracy"]}
    for n, cr in (("14", official["cr"]), ("5", official["cr_5"])):
        for avg in ("micro", "macro", "weighted"):
            expected[f"f1chexbert_{n}_{avg}_f1"] = cr[f"{avg} avg"]["f1-score"]
    max_diff = max(abs(runs["cold"]["scores"][k] - v) for k, v in expected.items())

    n = len(preds)
    lines = [
        "## f1chexbert",
        "",
        f"382 IU X-ray val pairs, base-size synthetic CheXbert (BERT-base), CPU, {args.threads} torch threads, "
        f"{platform.processor() or platform.machine()}, each run a fresh process (wall time includes imports and "
        "model load).",
        "",
        "| run | wall s | pairs/s | speed-up vs official | peak RSS MiB |",
        "|---|---|---|---|---|",
        f"| official f1chexbert 0.0.2 | {official['wall_s']:.1f} | {n / official['wall_s']:.1f} | 1.0x | "
        f"{official['peak_rss_mib']:.0f} |",
    ]
    for label in ("cold", "warm"):
        r = runs[label]
        lines.append(f"| rrg-eval {label} cache | {r['wall_s']:.1f} | {n / r['wall_s']:.1f} | "
                     f"{official['wall_s'] / r['wall_s']:.1f}x | {r['peak_rss_mib']:.0f} |")
    lines += ["", "Threads: OMP_NUM_THREADS for ours (torch is imported only when a text needs the model, so a warm "
              "run never imports it), torch.set_num_threads for the official package.", "",
              "Why the cold target (4x) is missed here: on CPU the BERT-base forward pass is compute-bound, so "
              "batching (length-sorted, batch 8) gains little over one report at a time; the main gain is "
              "de-duplication (these 382 predictions are a permutation of the references, so 382 texts are encoded "
              "instead of 764, exactly 2x) plus ~1.5x from batching and encoding the references once. Scoring a "
              "second system against the same references encodes only its predictions (cache). On a GPU "
              "(`device=cuda`, larger `batch_size`) batching gains much more.", "",
              f"Warm / cold: {runs['cold']['wall_s'] / runs['warm']['wall_s']:.1f}x faster. "
              f"Largest score difference vs official: {max_diff:.2e}.", "",
              "Command: `python benchmarks/bench_f1chexbert.py --threads " + str(args.threads) + "` (after "
              "`bash .ci/setup_official_f1chexbert.sh`).", ""]
    RESULTS.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
