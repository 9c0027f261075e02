"""BLEU-1..4 as pycocoevalcap's BleuScorer computes it (option 'closest'), on whitespace-split text.

This is the convention of RRG24, ViLMedic, RadEval and the R2Gen lineage: no tokenizer beyond ``str.split``,
corpus-level n-gram precisions with pycocoevalcap's smoothing constants (tiny=1e-15, small=1e-9) and its
brevity penalty. Per-report values are pycocoevalcap's per-image scores.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..normalize import Normalization, normalize
from ..option_spec import option
from ..stats import Stats
from .base import Metric, RunContext

N = 4
_TINY = 1e-15
_SMALL = 1e-9
# columns of the statistics matrix
_TESTLEN, _REFLEN = 0, 1
_GUESS = slice(2, 2 + N)
_CORRECT = slice(2 + N, 2 + 2 * N)


def _ngrams(words: list[str]) -> Counter:
    counts: Counter = Counter()
    for k in range(1, N + 1):
        for i in range(len(words) - k + 1):
            counts[tuple(words[i:i + k])] += 1
    return counts


def bleu_row(prediction: str, reference: str) -> list[int]:
    """[testlen, reflen, guess_1..4, correct_1..4] of one pair, as BleuScorer.cook_test builds them."""
    test_words = prediction.split()
    ref_words = reference.split()
    test_counts = _ngrams(test_words)
    ref_counts = _ngrams(ref_words)
    testlen = len(test_words)
    guess = [max(0, testlen - k + 1) for k in range(1, N + 1)]
    correct = [0] * N
    for gram, count in test_counts.items():
        correct[len(gram) - 1] += min(ref_counts.get(gram, 0), count)
    return [testlen, len(ref_words), *guess, *correct]


def bleu_from_counts(testlen: float, reflen: float, guess: np.ndarray, correct: np.ndarray) -> list[float]:
    """BLEU-1..4 from (summed) counts, with BleuScorer's constants and brevity penalty."""
    scores = []
    product = 1.0
    for k in range(N):
        product *= (float(correct[k]) + _TINY) / (float(guess[k]) + _SMALL)
        scores.append(product ** (1.0 / (k + 1)))
    ratio = (testlen + _TINY) / (reflen + _SMALL)
    if ratio < 1:
        penalty = math.exp(1 - 1 / ratio)
        scores = [s * penalty for s in scores]
    return scores


@dataclass(frozen=True)
class BleuConfig:
    """Options of ``bleu``."""

    normalize: Normalization = option("none", sig="norm", help="text normalisation before scoring")


class Bleu(Metric):
    """Corpus BLEU-1..4, pycocoevalcap convention."""

    name = "bleu"
    Config = BleuConfig
    description = "n-gram precision with brevity penalty (BLEU-1..4), pycocoevalcap convention"
    reference = "pycocoevalcap 1.2 Bleu(4).compute_score (BleuScorer, option 'closest')"
    keys = ("bleu1", "bleu2", "bleu3", "bleu4")
    signature_fixed = ("tok:whitespace", "eff:closest")

    def compute_stats(self, *, predictions: list[str], references: list[str], ids: list[str],
                      context: RunContext) -> Stats:
        mode = self.config.normalize
        rows = [bleu_row(normalize(p, mode), normalize(r, mode)) for p, r in zip(predictions, references)]
        return {"counts": np.asarray(rows, dtype=np.int64).reshape(len(rows), 2 + 2 * N)}

    def aggregate(self, stats: Stats) -> dict[str, float]:
        total = stats["counts"].sum(axis=0)
        values = bleu_from_counts(float(total[_TESTLEN]), float(total[_REFLEN]), total[_GUESS], total[_CORRECT])
        return dict(zip(self.keys, values))

    def per_report(self, stats: Stats) -> dict[str, np.ndarray]:
        counts = stats["counts"]
        values = np.array([bleu_from_counts(float(r[_TESTLEN]), float(r[_REFLEN]), r[_GUESS], r[_CORRECT])
                           for r in counts], dtype=float).reshape(len(counts), N)
        return {key: values[:, k] for k, key in enumerate(self.keys)}
