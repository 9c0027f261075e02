"""Runs the official f1chexbert 0.0.2 F1CheXbert in its own venv (transformers<5, scikit-learn<1.6).

Usage: python official_f1chexbert_runner.py IN.json OUT.json, with IN.json = {"hyps": [...], "refs": [...]};
run with the environment and working folder of ``rrg_eval.synthetic_weights.chexbert.official_layout``. Writes the
package's accuracy, per-report accuracy, both classification reports, the per-report label vectors it wrote to
its hyps/refs files, and the seconds spent (model load, scoring) to OUT.json.
"""

import ast
import json
import os
import resource
import sys
import tempfile
import time

import torch

torch.set_num_threads(int(os.environ.get("OFFICIAL_THREADS", torch.get_num_threads())))
t0 = time.perf_counter()
from f1chexbert import F1CheXbert  # noqa: E402

data = json.load(open(sys.argv[1], encoding="utf-8"))
tmp = tempfile.mkdtemp()
refs_file, hyps_file = os.path.join(tmp, "refs.txt"), os.path.join(tmp, "hyps.txt")
model = F1CheXbert(refs_filename=refs_file, hyps_filename=hyps_file, device="cpu")
t1 = time.perf_counter()
accuracy, pe_accuracy, cr, cr_5 = model.forward(data["hyps"], data["refs"])
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


def read(path):
    return [ast.literal_eval(line.strip()) for line in open(path).read().splitlines()] if data["hyps"] else []


json.dump({"accuracy": float(accuracy), "pe_accuracy": [float(x) for x in pe_accuracy], "cr": cr, "cr_5": cr_5,
           "hyp_labels": read(hyps_file), "ref_labels": read(refs_file), "load_s": t1 - t0, "score_s": t2 - t1,
           "peak_rss_mib": peak_rss_mib()},
          open(sys.argv[2], "w", encoding="utf-8"), default=float)
