"""BLEU-2 as CXR-Report-Metric computes it (the ``bleu_score`` feature of RadCliQ and ReXrank's BLEU-2 column).

CXR-Report-Metric (rajpurkarlab, ``CXRMetric/run_eval.py``, ``add_bleu_col``) scores every report on its own with
the ``fast-bleu`` package: ``BLEU([reference_tokens], {"bigram": (1/2, 1/2)}).get_score([prediction_tokens])``,
with tokens ``text.lower().replace(".", " .").split(" ")`` minus empty strings. fast-bleu 0.0.90
(``cpp_sources/sources/nltk.cpp``) then computes, for one hypothesis and one reference:

* p_n = (clipped n-gram matches) / max(1, hypothesis n-grams), for n = 1, 2;
* 0 when p_1 has no match; otherwise a zero p_2 becomes 1 / (10 * its denominator) (NLTK's ``method1``,
  epsilon 0.1, fast-bleu's default ``smoothing_func=1``);
* brevity penalty 1 when the hypothesis is longer than the reference, 0 when it is empty, else
  exp(1 - ref_len / hyp_len);
* BLEU-2 = BP * exp(0.5 log p_1 + 0.5 log p_2).

The corpus score is the mean of the per-report values (as RadCliQ and ReXrank average them). Not the same
number as ``bleu``'s ``bleu2`` (pycocoevalcap: corpus-level counts, no lowercasing, other smoothing), hence the
separate key ``bleu2_cxr``.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..stats import Stats
from .base import Metric, RunContext, count_empty

_EPSILON = 0.1  # NLTK SmoothingFunction().method1, as fast-bleu's smooth_1
# columns of the statistics matrix
_HYP_LEN, _REF_LEN, _M1, _D1, _M2, _D2 = range(6)


def cxr_tokens(text: str) -> list[str]:
    """CXR-Report-Metric's ``prep_reports``: lowercase, a space before every '.', split on ' ', drop empties."""
    return [t for t in text.lower().replace(".", " .").split(" ") if t != ""]


def _clipped(hyp: list[tuple[str, ...]], ref: list[tuple[str, ...]]) -> tuple[int, int]:
    """(clipped matches, max(1, number of hypothesis n-grams))."""
    ref_counts = Counter(ref)
    matches = sum(min(c, ref_counts[g]) for g, c in Counter(hyp).items())
    return matches, max(1, len(hyp))


def bleu2_row(prediction: str, reference: str) -> list[int]:
    """[hyp_len, ref_len, matches_1, denominator_1, matches_2, denominator_2] of one pair."""
    hyp = cxr_tokens(prediction)
    ref = cxr_tokens(reference)
    m1, d1 = _clipped([(t,) for t in hyp], [(t,) for t in ref])
    m2, d2 = _clipped(list(zip(hyp, hyp[1:])), list(zip(ref, ref[1:])))
    return [len(hyp), len(ref), m1, d1, m2, d2]


def bleu2_from_row(row: np.ndarray | list[int]) -> float:
    """fast-bleu's BLEU-2 of one pair from its counts."""
    hyp_len, ref_len, m1, d1, m2, d2 = (int(x) for x in row)
    if m1 == 0:
        return 0.0
    p2 = m2 / d2 if m2 else _EPSILON / d2
    if hyp_len > ref_len:
        penalty = 1.0
    else:
        penalty = math.exp(1.0 - ref_len / hyp_len)
    return penalty * math.exp(0.5 * math.log(m1 / d1) + 0.5 * math.log(p2))


@dataclass(frozen=True)
class Bleu2CxrConfig:
    """``bleu2_cxr`` has no options: its tokenisation, weights and smoothing are the reference's."""


class Bleu2Cxr(Metric):
    """Per-report BLEU-2 of CXR-Report-Metric (fast-bleu), averaged over reports."""

    name = "bleu2_cxr"
    Config = Bleu2CxrConfig
    description = ("BLEU-2 per report as CXR-Report-Metric / RadCliQ / ReXrank compute it (fast-bleu, lowercased, "
                   "'.' split off), mean over reports")
    reference = ("CXR-Report-Metric run_eval.add_bleu_col: fast_bleu 0.0.90 BLEU([ref], {'bigram': (1/2, 1/2)})"
                 ".get_score([hyp])")
    keys = ("bleu2_cxr",)
    signature_fixed = ("tok:cxr-lower-dot", "w:1/2,1/2", "smooth:method1", "avg:report")

    def compute_stats(self, *, predictions: list[str], references: list[str], ids: list[str],
                      context: RunContext) -> Stats:
        count_empty(predictions, references, self.name, context,
                    how="scored as fast-bleu scores their tokens (an empty text has none: 0); CXR-Report-Metric "
                        "reads an empty CSV field as the word 'nan'")
        rows = [bleu2_row(p, r) for p, r in zip(predictions, references)]
        return {"bleu2_cxr_counts": np.asarray(rows, dtype=np.int64).reshape(len(rows), 6)}

    def per_report(self, stats: Stats) -> dict[str, np.ndarray]:
        counts = stats["bleu2_cxr_counts"]
        return {"bleu2_cxr": np.array([bleu2_from_row(r) for r in counts], dtype=float)}

    def aggregate(self, stats: Stats) -> dict[str, float]:
        values = self.per_report(stats)["bleu2_cxr"]
        return {"bleu2_cxr": float(values.mean()) if len(values) else 0.0}

    def aggregate_resamples(self, stats: Stats, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Means of the per-report values over each resample (the values are computed once)."""
        values = self.per_report(stats)["bleu2_cxr"]
        return {"bleu2_cxr": values[np.asarray(indices, dtype=np.int64)].mean(axis=1)}
