"""CXR-Report-Metric keys on the 382 IU X-ray val pairs: bleu2_cxr against fast-bleu, and radgraph_combined cold
and after ``radgraph`` (shared annotation cache: no second model pass).

    python benchmarks/bench_cxr_metrics.py [--size tiny|base]

RadGraph runs on a synthetic v1 archive (``rrg_eval.synthetic_weights.radgraph``); wall seconds, CPU.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "iu_xray" / "val.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="tiny", choices=["tiny", "base"])
    args = parser.parse_args()
    import os

    import rrg_eval
    from rrg_eval.metrics.bleu2_cxr import cxr_tokens

    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    refs = [r["report"] for r in rows]
    preds = [rows[(i * 7 + 3) % len(rows)]["report"] for i in range(len(rows))]
    print(f"{len(refs)} pairs from {DATA.name}")

    from fast_bleu import BLEU

    t0 = time.perf_counter()
    theirs = [BLEU([cxr_tokens(r)], {"bigram": (0.5, 0.5)}).get_score([cxr_tokens(p)])["bigram"][0]
              for p, r in zip(preds, refs)]
    t1 = time.perf_counter()
    ours = rrg_eval.load_metric("bleu2_cxr").compute(predictions=preds, references=refs)
    t2 = time.perf_counter()
    diff = np.abs(ours.per_report["bleu2_cxr"] - np.array(theirs)).max()
    print(f"| bleu2_cxr | fast-bleu {t1 - t0:.3f} s | rrg-eval {t2 - t1:.3f} s | max abs diff {diff:.1e} |")

    from rrg_eval.synthetic_weights import radgraph as synth

    with tempfile.TemporaryDirectory() as tmp:
        synth.synthesize(Path(tmp) / "models", args.size, seed=0, model_types=("radgraph",))
        os.environ["RRG_EVAL_MODEL_DIR"] = str(Path(tmp) / "models")
        cache = Path(tmp) / "cache"
        t0 = time.perf_counter()
        rrg_eval.score(predictions=preds, references=refs, metrics=["radgraph_combined"], cache_dir=cache,
                       device="cpu")
        t1 = time.perf_counter()
        rrg_eval.score(predictions=preds, references=refs, metrics=["radgraph_combined"], cache_dir=cache,
                       device="cpu")
        t2 = time.perf_counter()
        cache2 = Path(tmp) / "cache2"
        rrg_eval.score(predictions=preds, references=refs, metrics=["radgraph"], cache_dir=cache2,
                       radgraph={"model_type": "radgraph"}, device="cpu")
        t3 = time.perf_counter()
        rrg_eval.score(predictions=preds, references=refs, metrics=["radgraph_combined"], cache_dir=cache2,
                       device="cpu")
        t4 = time.perf_counter()
    print(f"| radgraph_combined ({args.size}) | cold {t1 - t0:.2f} s | warm {t2 - t1:.2f} s | radgraph first "
          f"{t3 - t2:.2f} s, then radgraph_combined {t4 - t3:.2f} s |")


if __name__ == "__main__":
    main()
