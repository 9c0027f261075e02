"""ROUGE-1/2/L/Lsum: mean F-measure over reports from Google's ``rouge-score`` package.

``RougeScorer(rouge_types, use_stemmer=True).score(reference, prediction)`` per report, averaged; stemming on
is the RRG24 convention. ``rougeLsum`` splits summaries on newlines, as rouge-score does.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..normalize import Normalization, normalize
from ..option_spec import option
from ..stats import Stats
from .base import Metric, RunContext

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
TOKEN_MEMO = 50_000  # texts whose tokens are kept (references scored against several systems are tokenized once)


def _sentence_splitter_ready(split: bool) -> str | None:
    """``check`` of ``split_summaries``: rouge-score splits with nltk's punkt, whose data is a separate download."""
    if not split:
        return None
    try:
        import nltk

        nltk.data.find("tokenizers/punkt_tab/english/")
    except LookupError:
        return ("needs nltk's punkt_tab sentence-splitter data, which is not installed; fetch it once with "
                "`python -m nltk.downloader punkt_tab` (or copy it into a folder on NLTK_DATA on an offline machine)")
    except ImportError:
        return "needs nltk: pip install nltk"
    return None


class _MemoStemmer:
    """rouge-score's Porter stemmer, each distinct word stemmed once (stemming is a pure function of the word)."""

    def __init__(self) -> None:
        from nltk.stem import porter

        self._stemmer = porter.PorterStemmer()
        self._stems: dict[str, str] = {}

    def stem(self, word: str) -> str:
        found = self._stems.get(word)
        if found is None:
            found = self._stems[word] = self._stemmer.stem(word)
        return found


def _memo_tokenizer(use_stemmer: bool) -> Any:
    """rouge-score's ``DefaultTokenizer``, with stems and the tokens of recent texts remembered.

    The tokens are exactly ``rouge_score.tokenize.tokenize(text, PorterStemmer())``'s: the stemmer is the same
    (``rouge_score.tokenizers.DefaultTokenizer`` builds nltk's ``PorterStemmer()``), only called once per word.
    Profiling a 3 x 5,000-report compare showed 60% of its time in the stemmer.
    """
    from rouge_score import tokenize
    from rouge_score.tokenizers import Tokenizer

    class MemoTokenizer(Tokenizer):
        def __init__(self) -> None:
            self._stemmer = _MemoStemmer() if use_stemmer else None
            self._tokens: OrderedDict[str, list[str]] = OrderedDict()

        def tokenize(self, text: str) -> list[str]:
            tokens = self._tokens.get(text)
            if tokens is None:
                tokens = tokenize.tokenize(text, self._stemmer)
                self._tokens[text] = tokens
                if len(self._tokens) > TOKEN_MEMO:
                    self._tokens.popitem(last=False)
            return list(tokens)

    return MemoTokenizer()


@dataclass(frozen=True)
class RougeConfig:
    """Options of ``rouge``; names are ``rouge_score.RougeScorer``'s arguments."""

    use_stemmer: bool = option(True, sig="stem", help="Porter-stem tokens longer than 3 characters")
    split_summaries: bool = option(False, sig="split", help="split rougeLsum summaries on sentences (nltk; needs "
                                   "its punkt_tab data)", check=_sentence_splitter_ready)
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
                                       split_summaries=self.config.split_summaries,
                                       tokenizer=_memo_tokenizer(self.config.use_stemmer))
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
