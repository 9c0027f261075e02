"""CIDEr-D as pycocoevalcap computes it: tf-idf n-gram cosine with clipping and a length penalty.

Document frequencies come from the references of the corpus being scored (as pycocoevalcap does), so the
score of a report depends on the corpus; ``aggregate`` recomputes them from the rows it is given, which keeps
bootstrap resamples exact. Quirks kept for parity: the length in the Gaussian penalty counts bigrams, not
words; sigma is 6; the mean over n-gram orders is multiplied by 10.

The computation is vectorised: each report's n-grams are hashed to 64-bit ids once (``compute_stats``), and
``aggregate`` is a handful of numpy operations over the concatenated rows (milliseconds for a resample).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..normalize import Normalization, normalize
from ..option_spec import option
from ..stats import Stats
from .base import Metric, RunContext

N = 4


class _Grams(NamedTuple):
    """One report's n-grams: hashed ids, term frequencies and orders (0-based)."""

    ids: np.ndarray
    tf: np.ndarray
    order: np.ndarray


class CiderRow(NamedTuple):
    """Per-report CIDEr statistics: candidate and reference n-grams and where they coincide."""

    cand: _Grams
    ref: _Grams
    match_cand: np.ndarray
    match_ref: np.ndarray
    len_cand: int
    len_ref: int


def _gram_id(gram: tuple[str, ...]) -> int:
    digest = hashlib.blake2b("\x1f".join(gram).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def _grams(text: str) -> tuple[_Grams, int]:
    words = text.split()
    counts: Counter = Counter()
    for k in range(1, N + 1):
        for i in range(len(words) - k + 1):
            counts[tuple(words[i:i + k])] += 1
    ids = np.fromiter((_gram_id(g) for g in counts), dtype=np.int64, count=len(counts))
    tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    order = np.fromiter((len(g) - 1 for g in counts), dtype=np.int64, count=len(counts))
    bigrams = int(tf[order == 1].sum()) if len(tf) else 0
    return _Grams(ids, tf, order), bigrams


def cider_row(prediction: str, reference: str) -> CiderRow:
    """Statistics of one (prediction, reference) pair."""
    cand, len_c = _grams(prediction)
    ref, len_r = _grams(reference)
    _, match_c, match_r = np.intersect1d(cand.ids, ref.ids, assume_unique=True, return_indices=True)
    return CiderRow(cand, ref, match_c.astype(np.int64), match_r.astype(np.int64), len_c, len_r)


def _concat(parts: list[_Grams]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    sizes = np.fromiter((len(p.ids) for p in parts), dtype=np.int64, count=len(parts))
    ids = np.concatenate([p.ids for p in parts]) if parts else np.zeros(0, np.int64)
    tf = np.concatenate([p.tf for p in parts]) if parts else np.zeros(0)
    order = np.concatenate([p.order for p in parts]) if parts else np.zeros(0, np.int64)
    row = np.repeat(np.arange(len(parts)), sizes)
    return ids, tf, order, row


def cider_scores(rows: list[CiderRow], sigma: float) -> np.ndarray:
    """Per-report CIDEr-D of the rows, with document frequencies from the rows' references."""
    n = len(rows)
    if n == 0:
        return np.zeros(0)
    r_ids, r_tf, r_order, r_row = _concat([r.ref for r in rows])
    c_ids, c_tf, c_order, c_row = _concat([r.cand for r in rows])
    vocab, df = np.unique(r_ids, return_counts=True)
    log_n = np.log(float(n))

    def weights(ids: np.ndarray, tf: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(vocab, ids)
        pos_clipped = np.minimum(pos, max(len(vocab) - 1, 0))
        found = (pos < len(vocab)) & (vocab[pos_clipped] == ids) if len(vocab) else np.zeros(len(ids), bool)
        freq = np.where(found, df[pos_clipped] if len(vocab) else 0, 0).astype(np.float64)
        return tf * (log_n - np.log(np.maximum(1.0, freq)))

    w_c = weights(c_ids, c_tf)
    w_r = weights(r_ids, r_tf)
    norm_c = np.sqrt(np.bincount(c_row * N + c_order, weights=w_c ** 2, minlength=n * N)).reshape(n, N)
    norm_r = np.sqrt(np.bincount(r_row * N + r_order, weights=w_r ** 2, minlength=n * N)).reshape(n, N)
    # matched n-grams: offsets of each row's n-grams inside the concatenated arrays
    c_start = np.concatenate([[0], np.cumsum([len(r.cand.ids) for r in rows])[:-1]])
    r_start = np.concatenate([[0], np.cumsum([len(r.ref.ids) for r in rows])[:-1]])
    m_sizes = np.fromiter((len(r.match_cand) for r in rows), dtype=np.int64, count=n)
    m_row = np.repeat(np.arange(n), m_sizes)
    mc = np.concatenate([r.match_cand for r in rows]) + np.repeat(c_start, m_sizes)
    mr = np.concatenate([r.match_ref for r in rows]) + np.repeat(r_start, m_sizes)
    contrib = np.minimum(w_c[mc], w_r[mr]) * w_r[mr]
    val = np.bincount(m_row * N + c_order[mc], weights=contrib, minlength=n * N).reshape(n, N)
    both = (norm_c != 0) & (norm_r != 0)
    val = np.where(both, val / np.where(both, norm_c * norm_r, 1.0), val)
    delta = np.array([r.len_cand - r.len_ref for r in rows], dtype=np.float64)
    val *= (np.e ** (-(delta ** 2) / (2 * sigma ** 2)))[:, None]
    return val.mean(axis=1) * 10.0


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
        return {"rows": [cider_row(normalize(p, mode), normalize(r, mode))
                         for p, r in zip(predictions, references)]}

    def aggregate(self, stats: Stats) -> dict[str, float]:
        if not stats["rows"]:
            return {"cider": 0.0}
        return {"cider": float(np.mean(cider_scores(stats["rows"], self.config.sigma)))}

    def per_report(self, stats: Stats) -> dict[str, np.ndarray]:
        return {"cider": cider_scores(stats["rows"], self.config.sigma)}
