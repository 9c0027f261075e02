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
from typing import Any, NamedTuple

import numpy as np

from ..normalize import Normalization, normalize
from ..option_spec import option, positive
from ..stats import Stats
from .base import Metric, RunContext

N = 4
MEMO_TEXTS = 100_000


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


def cider_row(prediction: str, reference: str,
              memo: dict[str, tuple[_Grams, int]] | None = None) -> CiderRow:
    """Statistics of one (prediction, reference) pair; ``memo`` remembers each text's n-grams across calls."""
    if memo is None:
        cand, len_c = _grams(prediction)
        ref, len_r = _grams(reference)
    else:
        cand, len_c = memo.get(prediction) or memo.setdefault(prediction, _grams(prediction))
        ref, len_r = memo.get(reference) or memo.setdefault(reference, _grams(reference))
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


class _Flat(NamedTuple):
    """Every row's n-grams flattened once, for scoring many resamples of the same rows."""

    n: int
    vocab_size: int
    r_v: np.ndarray      # reference n-grams: index into the joint vocabulary
    r_tf: np.ndarray
    r_key: np.ndarray    # row * N + order
    r_row: np.ndarray
    c_v: np.ndarray      # candidate n-grams
    c_tf: np.ndarray
    c_key: np.ndarray
    mc: np.ndarray       # matched pairs: position in the candidate and reference arrays
    mr: np.ndarray
    m_key: np.ndarray
    delta_sq: np.ndarray  # (len_cand - len_ref) ** 2 per row


def _flatten(rows: list[CiderRow]) -> _Flat:
    n = len(rows)
    r_ids, r_tf, r_order, r_row = _concat([r.ref for r in rows])
    c_ids, c_tf, c_order, c_row = _concat([r.cand for r in rows])
    vocab, inverse = np.unique(np.concatenate([r_ids, c_ids]), return_inverse=True)
    c_start = np.concatenate([[0], np.cumsum([len(r.cand.ids) for r in rows])[:-1]]).astype(np.int64)
    r_start = np.concatenate([[0], np.cumsum([len(r.ref.ids) for r in rows])[:-1]]).astype(np.int64)
    m_sizes = np.fromiter((len(r.match_cand) for r in rows), dtype=np.int64, count=n)
    m_row = np.repeat(np.arange(n), m_sizes)
    mc = np.concatenate([r.match_cand for r in rows]).astype(np.int64) + np.repeat(c_start, m_sizes)
    mr = np.concatenate([r.match_ref for r in rows]).astype(np.int64) + np.repeat(r_start, m_sizes)
    delta = np.array([r.len_cand - r.len_ref for r in rows], dtype=np.float64)
    return _Flat(n, len(vocab), inverse[:len(r_ids)], r_tf, r_row * N + r_order, r_row, inverse[len(r_ids):],
                 c_tf, c_row * N + c_order, mc, mr, m_row * N + c_order[mc], delta ** 2)


def cider_resampled(rows: list[CiderRow], indices: np.ndarray, sigma: float) -> np.ndarray:
    """Corpus CIDEr-D of every resample (row of ``indices``), each with its own document frequencies.

    Equal (to rounding, ~1e-16) to ``mean(cider_scores([rows[i] for i in idx], sigma))`` for each ``idx``: a
    resample holding a row ``w`` times counts its reference ``w`` times in the document frequencies and its
    score ``w`` times in the mean. Since every idf is >= 0 (a document frequency never exceeds the resample
    size), each of the three sums a row needs (squared norms of candidate and reference vectors, clipped dot
    product) is a fixed sparse matrix times the vector of squared idfs; a resample costs three sparse
    products instead of rebuilding and re-hashing the rows.
    """
    from scipy import sparse

    flat = _flatten(rows)
    n, v = flat.n, flat.vocab_size
    ones = np.ones(len(flat.r_v))
    refs_of_gram = sparse.csr_matrix((ones, (flat.r_v, flat.r_row)), shape=(v, n))
    r_tf_m, c_tf_m = flat.r_tf[flat.mr], flat.c_tf[flat.mc]
    sums = sparse.vstack([
        sparse.csr_matrix((flat.c_tf ** 2, (flat.c_key, flat.c_v)), shape=(n * N, v)),
        sparse.csr_matrix((flat.r_tf ** 2, (flat.r_key, flat.r_v)), shape=(n * N, v)),
        sparse.csr_matrix((np.minimum(c_tf_m, r_tf_m) * r_tf_m, (flat.m_key, flat.c_v[flat.mc])), shape=(n * N, v)),
    ]).tocsr()
    penalty = np.e ** (-flat.delta_sq / (2 * sigma ** 2))
    out = np.empty(len(indices), dtype=np.float64)
    log_int: np.ndarray | None = None
    for t, idx in enumerate(indices):
        k = len(idx)
        if k == 0:
            out[t] = 0.0
            continue
        if log_int is None or len(log_int) <= k:
            log_int = np.log(np.maximum(1.0, np.arange(k + 1, dtype=np.float64)))  # log max(1, df), df <= k
        w = np.bincount(idx, minlength=n).astype(np.float64)
        df = np.rint(refs_of_gram @ w).astype(np.int64)
        idf_sq = (np.log(float(k)) - log_int[df]) ** 2
        norm_c_sq, norm_r_sq, val = (sums @ idf_sq).reshape(3, n, N)
        norm_c, norm_r = np.sqrt(norm_c_sq), np.sqrt(norm_r_sq)
        both = (norm_c != 0) & (norm_r != 0)
        val = np.where(both, val / np.where(both, norm_c * norm_r, 1.0), val)
        out[t] = float(np.dot(w, val.mean(axis=1) * 10.0 * penalty)) / k
    return out


@dataclass(frozen=True)
class CiderConfig:
    """Options of ``cider``."""

    sigma: float = option(6.0, help="standard deviation of the Gaussian length penalty", check=positive)
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

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._memo: dict[str, tuple[_Grams, int]] = {}

    def compute_stats(self, *, predictions: list[str], references: list[str], ids: list[str],
                      context: RunContext) -> Stats:
        mode = self.config.normalize
        # n-grams of each distinct text, kept across calls on this instance (compare scores every system against
        # the same references); bounded so that a long-lived scorer does not grow without limit
        if len(self._memo) > MEMO_TEXTS:
            self._memo.clear()
        return {"rows": [cider_row(normalize(p, mode), normalize(r, mode), self._memo)
                         for p, r in zip(predictions, references)]}

    def aggregate(self, stats: Stats) -> dict[str, float]:
        if not stats["rows"]:
            return {"cider": 0.0}
        return {"cider": float(np.mean(cider_scores(stats["rows"], self.config.sigma)))}

    def per_report(self, stats: Stats) -> dict[str, np.ndarray]:
        return {"cider": cider_scores(stats["rows"], self.config.sigma)}

    def aggregate_resamples(self, stats: Stats, indices: np.ndarray) -> dict[str, np.ndarray]:
        if not stats["rows"]:
            return {"cider": np.zeros(len(indices))}
        return {"cider": cider_resampled(stats["rows"], np.asarray(indices, dtype=np.int64), self.config.sigma)}
