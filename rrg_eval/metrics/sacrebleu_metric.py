"""sacreBLEU: ``sacrebleu.corpus_bleu`` with its defaults, divided by 100, with its own signature carried along.

Per-report statistics are sacrebleu's own segment statistics (``_extract_corpus_statistics``), the same ones
its paired significance tests resample; the corpus score is ``_compute_score_from_stats`` of their sum.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..normalize import Normalization, normalize
from ..option_spec import non_negative, option
from ..stats import Stats
from .base import Metric, RunContext


def _tokenizers() -> list[str]:
    """The tokenizer names the installed sacrebleu accepts."""
    from sacrebleu.metrics import bleu

    return list(bleu._TOKENIZERS)


def _smooth_methods() -> list[str]:
    from sacrebleu.metrics import BLEU

    return list(BLEU.SMOOTH_DEFAULTS)


@contextlib.contextmanager
def captured_log(sink: list[str]) -> Iterator[None]:
    """Route sacrebleu's log records (e.g. "That's 100 lines that end in a tokenized period") into ``sink``.

    sacrebleu logs warnings about its input through the ``sacrebleu`` logger; without this they leak to standard
    error and are missing from the result's warnings.
    """
    logger = logging.getLogger("sacrebleu")

    class _Sink(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            sink.append(" ".join(record.getMessage().split()))

    handler = _Sink(level=logging.WARNING)
    old_propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = old_propagate


@dataclass(frozen=True)
class SacreBleuConfig:
    """Options of ``sacrebleu``; names are ``sacrebleu.metrics.BLEU``'s arguments."""

    lowercase: bool = option(False, help="lower-case before scoring (sacrebleu -lc)", in_signature=False)
    tokenize: str = option("13a", help="sacrebleu tokenizer (13a, intl, char, none, ...)", in_signature=False,
                           choices=_tokenizers)
    smooth_method: str = option("exp", help="smoothing: exp, floor, add-k, none", in_signature=False,
                                choices=_smooth_methods)
    smooth_value: float | None = option(None, help="smoothing value for floor / add-k", in_signature=False,
                                        check=non_negative)
    effective_order: bool = option(False, help="use effective order (sentence-level BLEU)", in_signature=False)
    normalize: Normalization = option("none", sig="norm", help="text normalisation before scoring")


class SacreBleu(Metric):
    """Corpus BLEU as sacrebleu computes it."""

    name = "sacrebleu"
    Config = SacreBleuConfig
    description = "sacreBLEU corpus BLEU (13a tokenizer, exp smoothing), value / 100"
    reference = "sacrebleu.corpus_bleu(hyps, [refs]).score / 100"
    keys = ("sacrebleu",)

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._bleu: Any = None

    def unavailable_reason(self) -> str | None:
        try:
            import sacrebleu  # noqa: F401
        except ImportError:
            return "the sacrebleu package is not installed: pip install sacrebleu"
        return None

    def backend_versions(self) -> dict[str, str]:
        import sacrebleu

        return {"sacrebleu": sacrebleu.__version__}

    def _scorer(self) -> Any:
        if self._bleu is None:
            from sacrebleu.metrics import BLEU

            c = self.config
            self._bleu = BLEU(lowercase=c.lowercase, tokenize=c.tokenize, smooth_method=c.smooth_method,
                              smooth_value=c.smooth_value, effective_order=c.effective_order)
        return self._bleu

    def compute_stats(self, *, predictions: list[str], references: list[str], ids: list[str],
                      context: RunContext) -> Stats:
        mode = self.config.normalize
        hyps = [normalize(p, mode) for p in predictions]
        refs = [normalize(r, mode) for r in references]
        logged: list[str] = []
        with captured_log(logged):
            rows = self._scorer()._extract_corpus_statistics(hyps, [refs])
        for message in dict.fromkeys(logged):
            context.warn(self.name, message)
        return {"counts": np.asarray(rows, dtype=np.int64).reshape(len(rows), -1)}

    def aggregate(self, stats: Stats) -> dict[str, float]:
        total = stats["counts"].sum(axis=0)
        return {"sacrebleu": self._scorer()._compute_score_from_stats(total.tolist()).score / 100.0}

    def per_report(self, stats: Stats) -> dict[str, np.ndarray]:
        scorer = self._scorer()
        values = [scorer._compute_score_from_stats(row.tolist()).score / 100.0 for row in stats["counts"]]
        return {"sacrebleu": np.asarray(values, dtype=float)}

    def signature(self, refs_digest: str | None = None) -> str:
        """Ours, with sacrebleu's own signature fields (nrefs, case, eff, tok, smooth) embedded."""
        own = self._scorer().get_signature().format()
        fields = [f for f in own.split("|") if not f.startswith("version:")]
        if not any(f.startswith("nrefs:") for f in fields):
            fields.insert(0, "nrefs:1")
        parts = [self.name, f"norm:{self.config.normalize}", *fields]
        if refs_digest:
            parts.append(f"refs:{refs_digest}")
        from ..version import __version__

        parts.append(f"v:{__version__}")
        parts.extend(f"{k}:{v}" for k, v in self.backend_versions().items())
        return "|".join(parts)
