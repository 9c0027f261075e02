"""CIDEr-D as pycocoevalcap computes it: tf-idf n-gram cosine with clipping and a length penalty.

Document frequencies come from the references of the corpus being scored (as pycocoevalcap does), so the
score of a report depends on the corpus; ``aggregate`` recomputes them from the rows it is given, which keeps
bootstrap resamples exact. Quirks kept for parity: the length in the Gaussian penalty counts bigrams, not
words; sigma is 6; the mean over n-gram orders is multiplied by 10.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

from ..config import option
from ..normalize import Normalization, normalize
from ..stats import Stats
from .base import Metric, RunContext

N = 4


def _ngram_counts(text: str) -> dict[tuple[str, ...], int]:
    words = text.split()
    counts: dict[tuple[str, ...], int] = defaultdict(int)
    for k in range(1, N + 1):
        for i in range(len(words) - k + 1):
            counts[tuple(words[i:i + k])] += 1
    return dict(counts)


def cider_scores(candidates: list[dict], references: list[dict], sigma: float) -> np.ndarray:
    """Per-report CIDEr-D of ``candidates`` against one reference each, idf from ``references``."""
    doc_freq: Counter = Counter()
    for ref in references:
        doc_freq.update(ref.keys())
    log_n = np.log(float(len(references)))

    def to_vector(counts: dict) -> tuple[list[dict], list[float], int]:
        vec: list[dict] = [{} for _ in range(N)]
        norm = [0.0] * N
        length = 0
        for gram, tf in counts.items():
            df = np.log(max(1.0, doc_freq.get(gram, 0)))
            order = len(gram) - 1
            weight = float(tf) * (log_n - df)
            vec[order][gram] = weight
            norm[order] += pow(weight, 2)
            if order == 1:
                length += tf
        return vec, [np.sqrt(x) for x in norm], length

    penalty_denominator = 2 * sigma ** 2
    scores = np.zeros(len(candidates), dtype=float)
    for i, (cand, ref) in enumerate(zip(candidates, references)):
        vec_c, norm_c, len_c = to_vector(cand)
        vec_r, norm_r, len_r = to_vector(ref)
        delta = float(len_c - len_r)
        val = np.zeros(N)
        for order in range(N):
            ref_vec = vec_r[order]
            for gram, weight in vec_c[order].items():
                ref_weight = ref_vec.get(gram, 0.0)
                val[order] += min(weight, ref_weight) * ref_weight
            if norm_c[order] != 0 and norm_r[order] != 0:
                val[order] /= norm_c[order] * norm_r[order]
            val[order] *= np.e ** (-(delta ** 2) / penalty_denominator)
        scores[i] = np.mean(val) * 10.0
    return scores


@dataclass(frozen=True)
class CiderConfig:
    """Options of ``cider``."""

    sigma: float = option(6.0, help="standard deviation of the Gaussian length penalty")
    normalize: Normalization = option("none", sig="norm", help="text normalisation before scoring")


class Cider(Metric):
    """CIDEr-D, pycocoevalcap convention, idf from the test references."""

    name = "cider"
    Config = CiderConfig
    description = "consensus tf-idf n-gram similarity (CIDEr-D), idf from the test references"
    reference = "pycocoevalcap 1.2 Cider().compute_score"
    keys = ("cider",)
    key_kinds = {"cider": "score"}
    signature_fixed = ("tok:whitespace", "idf:corpus")

    def compute_stats(self, *, predictions: list[str], references: list[str], ids: list[str],
                      context: RunContext) -> Stats:
        mode = self.config.normalize
        return {"cand": [_ngram_counts(normalize(p, mode)) for p in predictions],
                "ref": [_ngram_counts(normalize(r, mode)) for r in references]}

    def aggregate(self, stats: Stats) -> dict[str, float]:
        if not stats["ref"]:
            return {"cider": 0.0}
        return {"cider": float(np.mean(cider_scores(stats["cand"], stats["ref"], self.config.sigma)))}

    def per_report(self, stats: Stats) -> dict[str, np.ndarray]:
        return {"cider": cider_scores(stats["cand"], stats["ref"], self.config.sigma)}

