"""Stand-ins for RadCliQ's components that are still to be added (sembscore, the BERTScore CXR preset), and for
radgraph_combined (no model needed): fixed functions of each pair, counting their computations."""

from __future__ import annotations

from dataclasses import make_dataclass
from typing import Any, ClassVar

import numpy as np

from rrg_eval.metrics.base import Metric, RunContext
from rrg_eval.option_spec import option
from rrg_eval.stats import Stats

CALLS: dict[str, int] = {}


class _Feature(Metric):
    """A stand-in component: a fixed function of the pair, counting its computations."""

    Config: ClassVar[type]
    description = "test stand-in"

    def compute_stats(self, *, predictions: list[str], references: list[str], ids: list[str],
                      context: RunContext) -> Stats:
        CALLS[self.name] = CALLS.get(self.name, 0) + 1
        values = [((len(p) * 7 + len(r) * 3) % 11) / 10 for p, r in zip(predictions, references)]
        return {"v": np.array(values)}

    def aggregate(self, stats: Stats) -> dict[str, float]:
        return {self.keys[0]: float(stats["v"].mean())}

    def per_report(self, stats: Stats) -> dict[str, np.ndarray]:
        return {self.keys[0]: stats["v"]}


def stand_in(metric_name: str, key: str, **fields: Any) -> type[Metric]:
    """A stand-in metric class named ``metric_name`` with per-report key ``key`` and these config fields."""
    config = make_dataclass(f"{metric_name}Config", [(k, type(v), option(v, in_signature=k != "device"))
                                                     for k, v in fields.items()], frozen=True)
    return type(metric_name, (_Feature,), {"name": metric_name, "keys": (key,), "Config": config})


FakeSembScore = stand_in("sembscore", "sembscore", device="auto")
FakeBertScore = stand_in("bertscore", "bertscore_cxr_f1", preset="default", idf=False, idf_corpus=None,
                         device="auto")
FakeRadGraph = stand_in("radgraph_combined", "radgraph_combined", model_type="radgraph", device="auto")
