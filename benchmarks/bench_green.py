"""Benchmark GREEN's local back-end against the reference ``green_score`` generate loop, on CPU, same work.

Both decode the same pairs (IU X-ray val: each report against another, as tests/conftest.py's ``iu_pairs``) with
the synthetic tiny GREEN model (``rrg_eval.synthetic_weights.green``, seed 0), greedy, each in a fresh process
with one torch thread. The reference (Stanford-AIMI/GREEN, ``GREEN(model, cpu=True)``: batches of 8 in input
order, float16, no de-duplication) runs in its own environment (transformers 4.40.0, its pin); give its
interpreter and a checkout of its repository. rrg-eval runs (1) with the reference's batches and data type
(same texts: a check that the work is the same) and (2) with its defaults (float32 on CPU, distinct prompts
only, length-sorted batches of 8), cold cache. Tokens/s counts generated tokens (from rrg-eval's run (1), whose
answers equal the reference's).

    python benchmarks/bench_green.py --reference-python /path/venv/bin/python --reference-root /path/GREEN \
        [--pairs 48] [--work /tmp/rrg-bench-green] [--write]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "RESULTS.md"

REFERENCE = r"""
import json, sys, time, types, torch
torch.set_num_threads(1)
data = json.load(open(sys.argv[1]))
sys.modules.setdefault("sentence_transformers", types.SimpleNamespace(SentenceTransformer=object))
sys.path.insert(0, data["reference_root"])
t0 = time.perf_counter()
from green_score.green import GREEN
g = GREEN(data["model"], output_dir=sys.argv[2], cpu=True, compute_summary_stats=False)
t1 = time.perf_counter()
g(data["refs"], data["hyps"])
t2 = time.perf_counter()
json.dump({"load_s": t1 - t0, "generate_s": t2 - t1, "completions": list(g.completions)}, open(sys.argv[3], "w"))
"""

OURS = r"""
import json, sys, time, torch
torch.set_num_threads(1)
data = json.load(open(sys.argv[1]))
settings = json.loads(sys.argv[2])
t0 = time.perf_counter()
from rrg_eval.backends.generation import GenerationSettings, HFChatGenerator
from rrg_eval.judge.green_protocol import CHAT_TEMPLATE, chat_messages, clean_response, green_prompt
gen = HFChatGenerator(data["model"], chat_template=CHAT_TEMPLATE, to_messages=chat_messages, clean=clean_response,
                      settings=GenerationSettings(device="cpu", **settings))
t1 = time.perf_counter()
out = gen.generate([green_prompt(r, h) for r, h in zip(data["refs"], data["hyps"])])
t2 = time.perf_counter()
json.dump({"load_s": t1 - t0, "generate_s": t2 - t1, "completions": out, "tokens": gen.tokens_generated},
          open(sys.argv[3], "w"))
"""


def iu_pairs(n: int) -> tuple[list[str], list[str]]:
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import load_iu_xray

    rows = load_iu_xray("val")
    refs = [r["report"] for r in rows]
    preds = [rows[(i * 7 + 3) % len(rows)]["report"] for i in range(len(rows))]
    return preds[:n], refs[:n]


def run(python: str, code: str, *args: str) -> dict:
    out = Path(args[-1])
    subprocess.run([python, "-c", code, *args], check=True, capture_output=True, text=True)
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-python", required=True)
    parser.add_argument("--reference-root", required=True)
    parser.add_argument("--pairs", type=int, default=48)
    parser.add_argument("--work", type=Path, default=Path("/tmp/rrg-bench-green"))
    parser.add_argument("--write", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args()
    import torch

    from rrg_eval.synthetic_weights.green import model_folder, synthesize

    torch.set_num_threads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    folder = model_folder(args.work / "model")
    if not (folder / "model.safetensors").exists():
        synthesize(args.work / "model", size="tiny", seed=0)
    hyps, refs = iu_pairs(args.pairs)
    data = args.work / "data.json"
    data.write_text(json.dumps({"model": str(folder), "refs": refs, "hyps": hyps,
                                "reference_root": args.reference_root}))
    t = time.perf_counter()
    ref = run(args.reference_python, REFERENCE, str(data), str(args.work), str(args.work / "ref.json"))
    ref_wall = time.perf_counter() - t
    same = run(sys.executable, OURS, str(data), json.dumps({"dtype": "float16", "sort_by_length": False}),
               str(args.work / "same.json"))
    ours = run(sys.executable, OURS, str(data), json.dumps({}), str(args.work / "ours.json"))
    identical = sum(a == b for a, b in zip(same["completions"], ref["completions"]))
    tokens = same["tokens"]
    distinct = len(set(zip(refs, hyps)))
    rows = [("reference GREEN loop (float16, batches of 8 in order)", ref),
            ("rrg-eval, the reference's batches and float16", same),
            ("rrg-eval defaults (float32, distinct prompts, length-sorted)", ours)]
    lines = ["## green (local transformers back-end)\n",
             f"Command: `python benchmarks/bench_green.py --reference-python ... --reference-root ... --pairs "
             f"{args.pairs} --write` ({platform.machine()}, CPU only, 1 torch thread, machine shared with other "
             f"jobs). Model: synthetic tiny GREEN (2-layer 64-wide Llama, seed 0). {len(refs)} IU X-ray val pairs "
             f"({distinct} distinct); {tokens} generated tokens in the reference's answers; identical answers "
             f"(reference vs rrg-eval with its batches): {identical}/{len(refs)}. Generation time only (model "
             f"loading excluded; reference process wall time, imports included: {ref_wall:.1f} s).\n",
             "| run | generate s | reports/s | tokens/s |", "|---|---:|---:|---:|"]
    for name, r in rows:
        lines.append(f"| {name} | {r['generate_s']:.2f} | {len(refs) / r['generate_s']:.1f} | "
                     f"{tokens / r['generate_s']:.0f} |")
    lines.append(f"\nrrg-eval defaults vs the reference loop: {ref['generate_s'] / ours['generate_s']:.1f}x the "
                 "reports/s (tokens/s counted on the same answers' tokens; rrg-eval's float32 answers may differ "
                 "from float16 ones on a random model).\n")
    text = "\n".join(lines)
    print(text)
    if args.write:
        with RESULTS.open("a", encoding="utf-8") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
