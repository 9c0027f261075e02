"""RadGraph-combined: CXR-Report-Metric's RadGraph feature of RadCliQ, and ReXrank's RadGraph column.

As ``CXRMetric/radgraph_evaluate_model.py`` (rajpurkarlab/CXR-Report-Metric) defines it, per report:

* entities: the set {(tokens, label)} of a graph; relations: the set
  {((tokens, label), (target tokens, target label), relation)}; text compared case-sensitively;
* F1 of each pair of sets (reference vs prediction): precision and recall are 0 when undefined, and F1 is 0
  when both are 0 (so two empty sets score 0, not 1);
* ``radgraph_combined`` = (entity F1 + relation F1) / 2; the corpus scores are means over reports.

The graphs are those of the ``radgraph`` metric (the same back-end, model archives and annotation cache, so a
run that also asks for ``radgraph`` with the same model annotates every text once). The default model is the
original RadGraph (``radgraph``, v1), which CXR-Report-Metric, RadCliQ and ReXrank use; ``model_type`` selects
another archive. A blank report has no entities and is not sent to the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..option_spec import option, torch_device
from ..stats import Stats
from .base import Metric, RunContext, count_empty
from .radgraph import ModelType, RadGraph

Entities = Mapping[str, Mapping[str, Any]]


def entity_set(entities: Entities) -> set[tuple[str, str]]:
    """{(tokens, label)} of one graph."""
    return {(e["tokens"], e["label"]) for e in entities.values()}


def relation_set(entities: Entities) -> set[tuple[tuple[str, str], tuple[str, str], str]]:
    """{((tokens, label), (target tokens, target label), relation)} of one graph."""
    out = set()
    for entity in entities.values():
        for relation, target in entity["relations"]:
            other = entities[target]
            out.add(((entity["tokens"], entity["label"]), (other["tokens"], other["label"]), relation))
    return out


def set_f1(reference: set, prediction: set) -> float:
    """F1 of two sets; 0 when undefined (CXR-Report-Metric's ``compute_f1``)."""
    matches = len(reference & prediction)
    precision = matches / len(prediction) if prediction else 0.0
    recall = matches / len(reference) if reference else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def combined_row(prediction: Entities, reference: Entities) -> tuple[float, float]:
    """(entity F1, relation F1) of one pair of graphs."""
    return (set_f1(entity_set(reference), entity_set(prediction)),
            set_f1(relation_set(reference), relation_set(prediction)))


@dataclass(frozen=True)
class RadGraphCombinedConfig:
    """Options of ``radgraph_combined``; the model options are those of ``radgraph``."""

    model_type: ModelType = option("radgraph", sig="model", help="RadGraph model: radgraph (v1, as "
                                   "CXR-Report-Metric and ReXrank), radgraph-xl, modern-radgraph-xl")
    model_path: str | None = option(None, in_signature=False, help="explicit path of the model archive "
                                    "(<model_type>.tar.gz); the signature carries its sha256 instead")
    encoder_path: str | None = option(None, in_signature=False, help="explicit folder with the encoder's "
                                      "config.json and tokenizer files (default: the hub id the archive names)")
    device: str = option("auto", in_signature=False, help="torch device: auto (cuda when present), cpu, cuda:0",
                         check=torch_device)
    batch_size: int = option(16, in_signature=False, help="reports per encoder call")


class RadGraphCombined(Metric):
    """(entity-set F1 + relation-set F1) / 2 per report, CXR-Report-Metric convention."""

    name = "radgraph_combined"
    Config = RadGraphCombinedConfig
    description = ("mean of RadGraph entity-set F1 and relation-set F1 per report (CXR-Report-Metric, RadCliQ, "
                   "ReXrank)")
    reference = ("CXR-Report-Metric radgraph_evaluate_model.evaluate_radgraph + run_eval.add_radgraph_col "
                 "(radgraph_combined = (entity F1 + relation F1) / 2)")
    keys = ("radgraph_combined", "radgraph_entity_f1", "radgraph_relation_f1")
    extra = "models"
    signature_fixed = ("sets:cxr-report-metric",)

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        self._radgraph = RadGraph(model_type=c.model_type, model_path=c.model_path, encoder_path=c.encoder_path,
                                  device=c.device, batch_size=c.batch_size)

    def unavailable_reason(self) -> str | None:
        return self._radgraph.unavailable_reason()

    def required_weights(self) -> list[Any]:
        return self._radgraph.required_weights()

    def backend_versions(self) -> dict[str, str]:
        return self._radgraph.backend_versions()

    def compute_stats(self, *, predictions: list[str], references: list[str], ids: list[str],
                      context: RunContext) -> Stats:
        count_empty(predictions, references, self.name, context,
                    how="scored 0 (no entities, not sent to the model): rrg-eval's choice, the official radgraph "
                        "package raises on a whitespace-only report")
        texts = [t for t in dict.fromkeys([*predictions, *references]) if t.strip()]
        graphs = self._radgraph.annotate(texts, context=context) if texts else []
        entities = {text: graph["entities"] for text, graph in zip(texts, graphs)}
        f1 = np.array([combined_row(entities.get(p, {}), entities.get(r, {}))
                       for p, r in zip(predictions, references)], dtype=float).reshape(len(predictions), 2)
        return {"radgraph_set_f1": f1}

    def per_report(self, stats: Stats) -> dict[str, np.ndarray]:
        f1 = stats["radgraph_set_f1"]
        return {"radgraph_combined": (f1[:, 0] + f1[:, 1]) / 2, "radgraph_entity_f1": f1[:, 0].copy(),
                "radgraph_relation_f1": f1[:, 1].copy()}

    def aggregate(self, stats: Stats) -> dict[str, float]:
        values = self.per_report(stats)
        return {k: float(v.mean()) if len(v) else 0.0 for k, v in values.items()}

    def close(self) -> None:
        self._radgraph.close()
