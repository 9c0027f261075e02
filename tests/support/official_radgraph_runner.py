"""Runs the official ``radgraph`` package (0.1.18) on JSON input; executed in ``.venv-official-radgraph``.

Usage: ``python tests/support/official_radgraph_runner.py IN.json OUT.json`` where IN.json holds ``hub_cache``,
``model_type``, ``hyps``, ``refs``. The official package finds the (synthetic) archive and encoder in the hub
cache folder, offline. OUT.json gets the mean and per-report rewards, the annotations of the non-empty pairs,
the seconds spent (model load, scoring) and the peak resident memory. Kept free of rrg_eval imports.
"""

import json
import os
import resource
import sys
import time


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        job = json.load(f)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["HF_HUB_CACHE"] = job["hub_cache"]
    import torch

    torch.set_num_threads(int(job.get("threads", torch.get_num_threads())))
    from radgraph import F1RadGraph

    t0 = time.perf_counter()
    scorer = F1RadGraph(reward_level="all", model_type=job["model_type"], model_cache_dir=job["hub_cache"],
                        cuda=-1)
    t1 = time.perf_counter()
    mean, rewards, hyp_ann, ref_ann = scorer(hyps=job["hyps"], refs=job["refs"])
    t2 = time.perf_counter()
    out = {
        "mean": [float(x) for x in mean],
        "rewards": [[float(x) for x in level] for level in rewards],
        "hyp_annotations": hyp_ann,
        "ref_annotations": ref_ann,
        "load_s": t1 - t0,
        "score_s": t2 - t1,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
