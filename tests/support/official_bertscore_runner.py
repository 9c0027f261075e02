"""Runs the official ``bert_score.score`` (bert-score 0.3.13) in the reference venv (.ci/setup_bertscore_venv.sh).

Reads a JSON request on stdin: ``{"cands": [...], "refs": [...], "kwargs": {...}}`` (with ``"scorer": true``,
``bert_score.BERTScorer(**kwargs).score(cands, refs)`` instead); writes to stdout
``{"P": [...], "R": [...], "F": [...], "seconds": s, "peak_rss_mb": m, "versions": {...}}``.
Used by tests/metrics/test_bertscore_parity.py and benchmarks/bench_bertscore.py; never imported by rrg_eval.
"""

import json
import resource
import sys
import time
from importlib.metadata import version


def main() -> None:
    request = json.load(sys.stdin)
    start = time.perf_counter()
    import bert_score
    import transformers

    if request.get("scorer"):  # BERTScorer(...).score, as CXR-Report-Metric calls it (idf_sents in kwargs)
        P, R, F = bert_score.BERTScorer(**request["kwargs"]).score(request["cands"], request["refs"])
    else:
        P, R, F = bert_score.score(request["cands"], request["refs"], **request["kwargs"])
    seconds = time.perf_counter() - start
    out = {"P": [float(x) for x in P], "R": [float(x) for x in R], "F": [float(x) for x in F],
           "seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "versions": {"bert_score": version("bert-score"), "transformers": transformers.__version__}}
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    main()
