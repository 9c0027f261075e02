"""The whole ``rexrank`` suite on the 382 IU X-ray val pairs, cold and warm, against its components run one by one.

    python benchmarks/bench_rexrank.py [--size tiny|base] [--n 382]

Synthetic weights (``rrg-eval models synth``: RadGraph v1, CheXbert, distilroberta-base; ``base`` = the real
architecture sizes) in a temporary model folder; CPU, wall seconds, the load average printed beside each timing.
Rows:

* suite cold: ``score(suite="rexrank")`` with an empty cache; suite warm: the same again (every model output
  read from the cache, no model loaded);
* one by one, no cache: bleu2_cxr, bertscore (preset cxr), sembscore, radgraph_combined, radcliq as five
  separate runs with ``use_cache=False`` (radcliq then recomputes its four components);
* one by one, shared cache: the same five runs on one empty cache (radcliq reads its components' entries).

It also counts the CheXbert passes of the suite run (SembScore must add none beyond the one it needs) and checks
that the suite's numbers equal the one-by-one numbers. RaTEScore and GREEN columns are not run (not configured).
torch and transformers are imported before the first timing.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "iu_xray" / "val.jsonl"
COMPONENTS = ("bleu2_cxr", "bertscore", "sembscore", "radgraph_combined", "radcliq")
KEYS = ("bleu2_cxr", "bertscore_cxr_f1", "sembscore", "radgraph_combined", "radcliq_v1")


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="tiny", choices=["tiny", "base"])
    parser.add_argument("--n", type=int, default=382)
    args = parser.parse_args()

    import torch  # noqa: F401 - imported before any timing: every row then pays the same (nothing) for imports
    import transformers  # noqa: F401

    import rrg_eval
    from rrg_eval.metrics.f1chexbert import F1CheXbert
    from rrg_eval.synthetic_weights import radgraph, synthesize

    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()][:args.n]
    refs = {r["id"]: r["report"] for r in rows}
    preds = {r["id"]: rows[(i * 7 + 3) % len(rows)]["report"] for i, r in enumerate(rows)}
    texts = len(set(t.strip() for t in [*preds.values(), *refs.values()]))
    print(f"{len(refs)} pairs from {DATA.name} ({texts} distinct texts), size {args.size}")

    passes: list[int] = []
    original = F1CheXbert.load_backend

    def counting(self: F1CheXbert) -> Any:
        backend = original(self)
        run = backend.run

        def counted(batch: list[str]) -> Any:
            passes.append(len(batch))
            return run(batch)

        backend.run = counted
        return backend

    F1CheXbert.load_backend = counting  # type: ignore[method-assign]
    common = {"predictions": preds, "references": refs, "device": "cpu"}
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"
        radgraph.synthesize(models, args.size, seed=0, model_types=("radgraph",))
        synthesize("chexbert", models, args.size, seed=0)
        synthesize("distilroberta", models, args.size, seed=0)
        os.environ["RRG_EVAL_MODEL_DIR"] = str(models)

        cache = Path(tmp) / "cache"
        t0 = time.perf_counter()
        cold = rrg_eval.score(suite="rexrank", cache_dir=cache, **common)
        t1 = time.perf_counter()
        cold_passes = list(passes)
        warm = rrg_eval.score(suite="rexrank", cache_dir=cache, **common)
        t2 = time.perf_counter()
        assert not cold.errors and not warm.errors, (cold.errors, warm.errors)
        print(f"| suite rexrank, cold | {t1 - t0:.1f} s | {load()} | CheXbert passes {len(cold_passes)} "
              f"({sum(cold_passes)} texts) |")
        print(f"| suite rexrank, warm | {t2 - t1:.1f} s | {load()} | CheXbert passes "
              f"{len(passes) - len(cold_passes)} |")

        opts = {"bertscore": {"preset": "cxr"}}
        separate: dict[str, float] = {}
        for label, use_cache, folder in (("no cache", False, None), ("shared cache", True, Path(tmp) / "cache2")):
            start = time.perf_counter()
            each = []
            for name in COMPONENTS:
                t_name = time.perf_counter()
                extra = {k: v for k, v in opts.items() if k == name}
                if name != "bleu2_cxr":
                    extra["device"] = "cpu"
                result = rrg_eval.score(predictions=preds, references=refs, metrics=[name], use_cache=use_cache,
                                        cache_dir=folder, **extra)
                assert not result.errors, result.errors
                separate.update(result.scores)
                each.append(f"{name} {time.perf_counter() - t_name:.1f}")
            print(f"| one by one, {label} | {time.perf_counter() - start:.1f} s | {load()} | {', '.join(each)} |")
        for key in KEYS:
            assert abs(cold.scores[key] - separate[key]) < 1e-9, key
        print("| suite == one by one | " + ", ".join(f"{k} {cold.scores[k]:.4f}" for k in KEYS) + " |")
        print("not available: " + "; ".join(f"{k}: {v[:60]}" for k, v in cold.unavailable.items()))


if __name__ == "__main__":
    main()
