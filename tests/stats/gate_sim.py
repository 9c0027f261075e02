"""Simulated runs for the gate's calibration: the same system scored twice with fresh per-report noise.

Each report has a difficulty ``d ~ U(0.1, 0.6)``; a system's per-report ROUGE F-measure is
``clip(d + N(0, 0.15), 0, 1)`` (all four ROUGE columns alike). Baseline and candidate draw their noise
independently, so with ``drop=0`` there is no true difference; ``drop`` lowers every candidate value.
"""

from __future__ import annotations

import numpy as np

from rrg_eval.metrics.registry import metric_class
from rrg_eval.option_spec import to_dict
from rrg_eval.result import KeyInfo, Result


def simulated_run(values: np.ndarray, digest: str = "sim000000000") -> Result:
    """A Result holding rouge statistics ``values`` (one per report) as a saved run would."""
    cls = metric_class("rouge")
    metric = cls()
    stats = {"fmeasure": np.repeat(values[:, None], 4, axis=1)}
    n = len(values)
    result = Result(n=n, ids=[f"r{i}" for i in range(n)], scores={}, signatures={"rouge": f"rouge|refs:{digest}"},
                    key_info={}, references_digest=digest)
    result.stats["rouge"] = stats
    result.options["rouge"] = to_dict(metric.config)
    for key, value in metric.aggregate(stats).items():
        result.scores[key] = float(value)
        result.key_info[key] = KeyInfo(metric="rouge", kind="fraction", higher_is_better=True)
    return result


def simulated_pair(seed: int, n: int = 100, drop: float = 0.0, noise: float = 0.15) -> tuple[Result, Result]:
    rng = np.random.default_rng(seed)
    difficulty = rng.uniform(0.1, 0.6, n)
    base = np.clip(difficulty + rng.normal(0, noise, n), 0, 1)
    cand = np.clip(difficulty + rng.normal(0, noise, n) - drop, 0, 1)
    return simulated_run(base), simulated_run(cand)
