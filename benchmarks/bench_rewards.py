"""Benchmark reward-call overhead: ``rrg_eval.rewards.make_reward`` vs RadEval's ``make_reward_fn``.

A GRPO step scores 64 completions (8 prompts x 8 generations: 8 references, each repeated 8 times). The batches
come from the IU X-ray val reports: batch ``b`` takes references ``8 b .. 8 b + 7`` and, as completions, 64 other
studies' reports (never the reference). For bleu, rouge, f1chexbert and radgraph (radgraph-xl) each side builds its
reward once and calls it on ``--steps`` batches; the first call includes the model load, the rest are the
per-step overhead (median). Both sides use the same base-size synthetic weights (``rrg-eval models synth``) and
the same torch thread count. rrg-eval runs with its annotation cache in a fresh folder (references are annotated
once and then read back, as in training); RadEval has no cache.

Second part: two rewards on one back-end (``radgraph_partial`` and ``radgraph_simple``, and a weighted
``radgraph_partial + f1chexbert_5_micro_f1``) load the model once with rrg-eval (counted by wrapping the back-end
constructors); with RadEval each ``make_reward_fn`` builds its own scorer (counted the same way).

    RRG_EVAL_MODEL_DIR=/tmp/prec/synth python benchmarks/bench_rewards.py [--steps 4] [--threads 2]
        [--radeval .venv-radeval/bin/python] [--metrics bleu,rouge,f1chexbert,radgraph]

RadEval (``pip install RadEval`` 2.2.1, in its own venv ``.venv-radeval``, not committed) reads chexbert.pth and
the RadGraph archive through ``hf_hub_download`` into ``appdirs`` caches: the script lays out the synthetic files
there (``$XDG_CACHE_HOME``) and runs it with ``HF_HUB_OFFLINE=1``. Prints Markdown tables and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUR_KEYS = {"bleu": "bleu4", "rouge": "rougeL", "f1chexbert": "f1chexbert_5_micro_f1", "radgraph": "radgraph_partial"}
THEIR_KEYS = {"bleu": None, "rouge": "rougeL", "f1chexbert": "f1chexbert_5_micro_f1", "radgraph": "radgraph_partial"}
OPTIONS = {"radgraph": {"model_type": "radgraph-xl"}, "f1chexbert": {"device": "cpu"}}


def batches(steps: int) -> list[tuple[list[str], list[str]]]:
    """``steps`` GRPO-like batches of 64 (completion, reference) pairs from the IU X-ray val reports."""
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import load_iu_xray

    reports = [r["report"] for r in load_iu_xray("val")]
    n = len(reports)
    out = []
    for b in range(steps):
        refs, comps = [], []
        for p in range(8):
            ref_i = (8 * b + p) % n
            for g in range(8):
                refs.append(reports[ref_i])
                comps.append(reports[(ref_i + 1 + 37 * g + 11 * b) % n])
        out.append((comps, refs))
    return out


OURS = r"""
import json, statistics, sys, time
job = json.load(open(sys.argv[1]))
import torch
torch.set_num_threads(job["threads"])
from rrg_eval.rewards import Scorer, make_reward
from rrg_eval.backends import chexbert_model, radgraph_model
loads = {"chexbert": 0, "radgraph": 0}
def counting(cls, name):
    init = cls.__init__
    def wrapped(self, *a, **k):
        loads[name] += 1
        init(self, *a, **k)
    cls.__init__ = wrapped
counting(chexbert_model.CheXbertModel, "chexbert")
counting(radgraph_model.RadGraphModel, "radgraph")
out = {}
if job["mode"] == "time":
    metric = job["metric"]
    scorer = Scorer(cache_dir=job["cache"])
    t0 = time.perf_counter()
    reward = make_reward(metric, key=job["key"], scorer=scorer, **job["options"])
    build = time.perf_counter() - t0
    times = []
    for comps, refs in job["batches"]:
        t0 = time.perf_counter()
        values = reward(prompts=[""] * len(comps), completions=comps, reference=refs)
        times.append(time.perf_counter() - t0)
        assert len(values) == len(comps)
    out = {"build_s": build, "times_s": times, "loads": loads}
else:
    scorer = Scorer(cache_dir=job["cache"])
    comps, refs = job["batches"][0]
    a = make_reward("radgraph", key="radgraph_partial", scorer=scorer, model_type="radgraph-xl")
    b = make_reward("radgraph", key="radgraph_simple", scorer=scorer, model_type="radgraph-xl")
    c = make_reward({"radgraph_partial": 0.5, "f1chexbert_5_micro_f1": 0.5}, scorer=scorer,
                    radgraph={"model_type": "radgraph-xl"}, f1chexbert={"device": "cpu"})
    for r in (a, b, c):
        r(prompts=[""] * len(comps), completions=comps, reference=refs)
    out = {"loads": loads}
json.dump(out, sys.stdout)
"""

THEIRS = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
job = json.load(open(sys.argv[1]))
import torch
torch.set_num_threads(job["threads"])
import radeval
# RadEval 2.2.1's vendored RadGraph imports itself as "RadEval.metrics..." while the package installs as "radeval":
# on a case-sensitive file system every metric import fails (ModuleNotFoundError: RadEval) without this alias
sys.modules.setdefault("RadEval", radeval)
from radeval.rewards import make_reward_fn
loads = {"chexbert": 0, "radgraph": 0}
def counting(module, cls_name, name):
    cls = getattr(module, cls_name)
    init = cls.__init__
    def wrapped(self, *a, **k):
        loads[name] += 1
        init(self, *a, **k)
    cls.__init__ = wrapped
from radeval.metrics.f1chexbert import f1chexbert as fc
from radeval.metrics.radgraph._vendor import core as rg
# RadEval's f1chexbert adapter builds F1CheXbert() with its default device="cuda" and takes no options, so on a
# CPU-only machine it cannot run; the benchmark moves that default to the CPU
init_kw = fc.F1CheXbert.__init__.__kwdefaults__ or {}
if "device" in init_kw and not torch.cuda.is_available():
    init_kw["device"] = "cpu"
counting(fc, "F1CheXbert", "chexbert")
counting(rg, "RadGraph", "radgraph")
if job["mode"] == "time":
    t0 = time.perf_counter()
    kw = {} if job["key"] is None else {"key": job["key"]}
    reward = make_reward_fn(job["metric"], reference_column="reference", **kw)
    build = time.perf_counter() - t0
    times = []
    for comps, refs in job["batches"]:
        t0 = time.perf_counter()
        values = reward(completions=comps, reference=refs, prompts=[""] * len(comps))
        times.append(time.perf_counter() - t0)
        assert len(values) == len(comps)
    out = {"build_s": build, "times_s": times, "loads": loads}
else:
    comps, refs = job["batches"][0]
    # RadEval builds its scorer (and loads the model) inside make_reward_fn: building the two rewards is enough
    a = make_reward_fn("radgraph", key="radgraph_partial", reference_column="reference")
    b = make_reward_fn("radgraph", key="radgraph_simple", reference_column="reference")
    out = {"loads": loads}
json.dump(out, sys.stdout)
"""


def radeval_env(model_dir: Path, work: Path) -> dict[str, str]:
    """Environment under which RadEval's hf_hub_download calls find the synthetic files (offline)."""
    from rrg_eval.synthetic_weights.radgraph import official_hub_cache

    hub = official_hub_cache(model_dir, work / "hub")
    xdg = work / "xdg"
    (xdg / "radgraph").mkdir(parents=True, exist_ok=True)
    for link, target in ((xdg / "chexbert", hub), (xdg / "radgraph" / "0.1.18", hub)):
        if not link.exists():
            link.symlink_to(target)
    return {"XDG_CACHE_HOME": str(xdg), "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1"}


def run(python: str, code: str, job: dict[str, Any], env: dict[str, str], work: Path,
        cwd: Path | None = None) -> dict[str, Any]:
    path = work / "job.json"
    path.write_text(json.dumps(job), encoding="utf-8")
    proc = subprocess.run([python, "-c", code, str(path)], capture_output=True, text=True, env=env,
                          cwd=str(cwd) if cwd else None)
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--radeval", default=str(REPO / ".venv-radeval" / "bin" / "python"))
    parser.add_argument("--metrics", default="bleu,rouge,f1chexbert,radgraph")
    parser.add_argument("--sides", default="ours,radeval", help="which implementations to time")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    model_dir = Path(os.environ.get("RRG_EVAL_MODEL_DIR", ""))
    if not model_dir.is_dir():
        sys.exit("set RRG_EVAL_MODEL_DIR to a folder written by `rrg-eval models synth KIND DIR --size base`")
    work = Path(tempfile.mkdtemp(prefix="rrg-bench-rewards-"))
    data = batches(args.steps)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    their_env = {**env, **radeval_env(model_dir, work)}
    # RadEval loads bert-base-uncased by name: a local folder of that name in the working folder is taken first
    their_cwd = work / "cwd"
    their_cwd.mkdir(exist_ok=True)
    if not (their_cwd / "bert-base-uncased").exists():
        (their_cwd / "bert-base-uncased").symlink_to(model_dir / "bert-base-uncased")
    has_radeval = Path(args.radeval).is_file()
    load_before = os.getloadavg()
    rows = []
    for metric in args.metrics.split(","):
        row: dict[str, Any] = {"metric": metric}
        for side, python, code, key, e, cwd in (
                ("ours", sys.executable, OURS, OUR_KEYS[metric], env, None),
                ("radeval", args.radeval, THEIRS, THEIR_KEYS[metric], their_env, their_cwd)):
            if side not in args.sides.split(","):
                row[side] = {"error": "not run (--sides)"}
                continue
            if side == "radeval" and not has_radeval:
                row[side] = {"error": f"no {args.radeval}"}
                continue
            job = {"mode": "time", "metric": metric, "key": key, "options": OPTIONS.get(metric, {}),
                   "batches": data, "threads": args.threads, "cache": str(work / f"cache-{metric}")}
            row[side] = run(python, code, job, e, work, cwd)
            print(f"  {metric} {side}: {row[side]} (load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
        rows.append(row)
    shared = {}
    if "ours" in args.sides.split(","):
        shared["ours"] = run(sys.executable, OURS, {"mode": "shared", "batches": data[:1], "threads": args.threads,
                                                    "cache": str(work / "cache-shared")}, env, work)
    if has_radeval and "radeval" in args.sides.split(","):
        shared["radeval"] = run(args.radeval, THEIRS, {"mode": "shared", "batches": data[:1],
                                                       "threads": args.threads}, their_env, work, their_cwd)
    load_after = os.getloadavg()
    print(f"{args.steps} steps of 64 completions, {args.threads} torch threads; load average before "
          f"{load_before[0]:.1f} / after {load_after[0]:.1f} (1 min)\n")
    print("| metric | rrg-eval first call s | rrg-eval per step s (median) | RadEval first call s | "
          "RadEval per step s (median) | ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        cells = []
        med = {}
        for side in ("ours", "radeval"):
            r = row[side]
            if "error" in r:
                cells += [f"error: {r['error'][:80]}", "-"]
                continue
            med[side] = statistics.median(r["times_s"][1:] or r["times_s"])
            cells += [f"{r['build_s'] + r['times_s'][0]:.2f}", f"{med[side]:.3f}"]
        ratio = f"{med['radeval'] / med['ours']:.1f}x" if len(med) == 2 and med["ours"] > 0 else "-"
        print(f"| {row['metric']} | " + " | ".join(cells) + f" | {ratio} |")
    print(f"\nmodel loads for radgraph_partial + radgraph_simple (+ weighted radgraph/f1chexbert for rrg-eval): "
          f"{json.dumps(shared)}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "shared": shared, "load": [load_before, load_after]}),
                             encoding="utf-8")


if __name__ == "__main__":
    main()
