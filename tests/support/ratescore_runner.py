"""Runs rrg-eval's ratescore metric in a given interpreter (the official package's venv has medspaCy).

Usage: python ratescore_runner.py IN.json OUT.json, with IN.json = {"ner": DIR, "encoder": DIR,
"candidates": [...], "references": [...], "cache_dir": DIR or null}; the repository root must be on
PYTHONPATH. Writes the per-report scores, the warnings, whether torch was imported, the seconds spent and the
peak resident memory to OUT.json.
"""

import json
import sys
import time

t0 = time.perf_counter()
from rrg_eval.metrics.ratescore import RaTEScore  # noqa: E402

data = json.load(open(sys.argv[1], encoding="utf-8"))
metric = RaTEScore(ner_path=data["ner"], encoder_path=data["encoder"], device="cpu")
score = metric.compute(predictions=data["candidates"], references=data["references"], cache_dir=data["cache_dir"])
t1 = time.perf_counter()


def peak_rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


json.dump({"scores": [float(x) for x in score.per_report["ratescore"]], "warnings": score.warnings,
           "torch_imported": "torch" in sys.modules, "seconds": t1 - t0, "peak_rss_mib": peak_rss_mib(),
           "signature": score.signature}, open(sys.argv[2], "w", encoding="utf-8"))
