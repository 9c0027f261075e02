"""ROUGE-1/2/L/Lsum: mean F-measure over reports from Google's ``rouge-score`` package.

``RougeScorer(rouge_types, use_stemmer=True).score(reference, prediction)`` per report, averaged; stemming on
is the RRG24 convention. ``rougeLsum`` splits summaries on newlines, as rouge-score does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..normalize import Normalization, normalize
from ..option_spec import option
from ..stats import Stats
from .base import Metric, RunContext

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


@dataclass(frozen=True)
class RougeConfig:
    """Options of ``rouge``; names are ``rouge_score.RougeScorer``'s arguments."""

    use_stemmer: bool = option(True, sig="stem", help="Porter-stem tokens longer than 3 characters")
    split_summaries: bool = option(False, sig="split", help="split rougeLsum summaries on sentences (nltk)")
    normalize: Normalization = option("none", sig="norm", help="text normalisation before scoring")


class Rouge(Metric):
    """ROUGE F-measures, rouge-score convention."""

    name = "rouge"
    Config = RougeConfig
    description = "longest-common-subsequence and n-gram overlap F-measure (ROUGE-1/2/L/Lsum)"
    reference = "rouge_score 0.1.2 RougeScorer(..., use_stemmer=True).score(target, prediction).fmeasure, mean"
    keys = ROUGE_TYPES

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._scorer: Any = None

    def unavailable_reason(self) -> str | None:
        try:
            import rouge_score  # noqa: F401
        except ImportError:
            return "the rouge-score package is not installed: pip install rouge-score"
        return None

    def backend_versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"rouge-score": version("rouge-score")}

    def compute_stats(self, *, predictions: list[str], references: list[str], ids: list[str],
                      context: RunContext) -> Stats:
        if self._scorer is None:
            from rouge_score.rouge_scorer import RougeScorer

            self._scorer = RougeScorer(list(ROUGE_TYPES), use_stemmer=self.config.use_stemmer,
                                       split_summaries=self.config.split_summaries)
        mode = self.config.normalize
        out = np.zeros((len(predictions), len(ROUGE_TYPES)), dtype=float)
        for i, (pred, ref) in enumerate(zip(predictions, references)):
            result = self._scorer.score(normalize(ref, mode), normalize(pred, mode))
            out[i] = [result[t].fmeasure for t in ROUGE_TYPES]
        return {"fmeasure": out}

    def aggregate(self, stats: Stats) -> dict[str, float]:
        values = stats["fmeasure"]
        if len(values) == 0:
            return {k: 0.0 for k in self.keys}
        means = values.mean(axis=0)
        return {k: float(means[j]) for j, k in enumerate(self.keys)}

    def per_report(self, stats: Stats) -> dict[str, np.ndarray]:
        return {k: stats["fmeasure"][:, j] for j, k in enumerate(self.keys)}
