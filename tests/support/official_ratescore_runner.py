"""Runs the official ratescore 0.6.0 RaTEScore in its own venv (.ci/setup_official_ratescore.sh).

Usage: python official_ratescore_runner.py IN.json OUT.json, with IN.json = {"ner": DIR, "encoder": DIR,
"candidates": [...], "references": [...], "per_pair": bool}. ``per_pair`` calls ``compute_score`` once per pair
(the package drops reports that have no kept sentence from its NER output, which shifts later reports in a
batch, and raises when a call has no kept sentence on one side: the error text is recorded instead); otherwise
once for the whole list. Writes the scores (a list per call when per_pair), the seconds spent
(import and model load, scoring) and the peak resident memory to OUT.json. ``OFFICIAL_QUIET=1`` silences
PyRuSH's per-token DEBUG log lines (as rrg-eval does), which cost time but change no number.
"""

import json
import os
import resource
import sys
import time

t0 = time.perf_counter()
import torch  # noqa: E402

torch.set_num_threads(int(os.environ.get("OFFICIAL_THREADS", torch.get_num_threads())))
if os.environ.get("OFFICIAL_QUIET"):  # PyRuSH logs every token at DEBUG level through loguru (no effect on numbers)
    from loguru import logger

    logger.disable("PyRuSH")
from RaTEScore import RaTEScore  # noqa: E402

data = json.load(open(sys.argv[1], encoding="utf-8"))
scorer = RaTEScore(bert_model=data["ner"], eval_model=data["encoder"], use_gpu=False)
t1 = time.perf_counter()
cands, refs = data["candidates"], data["references"]
if data.get("per_pair"):
    scores = []
    for c, r in zip(cands, refs):
        try:
            scores.append([float(x) for x in scorer.compute_score([c], [r])])
        except Exception as exc:  # the package fails on a call whose reports have no kept sentence
            scores.append(f"{type(exc).__name__}: {exc}")
else:
    scores = [float(x) for x in scorer.compute_score(cands, refs)]
t2 = time.perf_counter()


def peak_rss_mib():
    """VmHWM of this process (reset at exec, unlike ru_maxrss, which a child inherits from its parent)."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


json.dump({"scores": scores, "load_s": t1 - t0, "score_s": t2 - t1, "peak_rss_mib": peak_rss_mib()},
          open(sys.argv[2], "w", encoding="utf-8"))
