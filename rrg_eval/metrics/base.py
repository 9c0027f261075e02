"""The metric protocol: per-report statistics computed once, then a pure aggregate.

Every metric is a subclass of :class:`Metric` with a frozen ``Config`` dataclass. The split between
``compute_stats`` (expensive, once) and ``aggregate`` (pure, cheap) is what gives every metric confidence
intervals and paired significance tests: resampling only re-runs ``aggregate`` on other rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np

from .. import option_spec as cfg
from .. import progress as pg
from ..inputs import count_empty_texts, references_digest
from ..stats import Stats, take
from ..version import __version__

KeyKind = Literal["fraction", "score", "count", "rate"]


@dataclass
class RunContext:
    """What a metric may use while computing: the cache folder, a sink for warnings, a progress callback."""

    cache_dir: Path | None = None
    warnings: list[str] = field(default_factory=list)
    computed: dict[str, Stats] = field(default_factory=dict, repr=False)  # compute_once's memo, this run only
    progress: Callable[[pg.ProgressEvent], None] | None = field(default=None, repr=False)
    # annotate_cached's memo, this run only: cache namespace -> {text: annotation}; two metrics on one back-end
    # (f1chexbert and sembscore) share one model pass even without a disk cache (--no-cache)
    annotations: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def warn(self, metric: str, message: str) -> None:
        """Record a warning (truncations, empty reports, unparsed answers): counted, never silent."""
        self.warnings.append(f"{metric}: {message}")

    def report(self, stage: str, metric: str, *, done: int, total: int | None = None) -> None:
        """Send a progress event (:mod:`rrg_eval.progress`) when the run asked for progress; else nothing."""
        pg.emit(self.progress, stage, metric, done=done, total=total)


@dataclass(frozen=True)
class MetricScore:
    """The result of one metric on one corpus."""

    scores: dict[str, float]
    per_report: dict[str, np.ndarray]
    signature: str
    stats: Stats
    warnings: list[str]


class Metric(ABC):
    """Base class of every metric.

    Subclasses set the class attributes and implement :meth:`compute_stats`, :meth:`aggregate` and
    :meth:`per_report`. ``Config`` must be a frozen dataclass whose fields use :func:`rrg_eval.option_spec.option`.
    """

    name: ClassVar[str]
    Config: ClassVar[type]
    description: ClassVar[str]
    reference: ClassVar[str] = ""
    keys: ClassVar[tuple[str, ...]]
    # keys that only some options produce, with those options (e.g. bertscore's preset=cxr keys); see all_keys
    key_options: ClassVar[dict[str, dict[str, Any]]] = {}
    key_kinds: ClassVar[dict[str, KeyKind]] = {}
    lower_is_better: ClassVar[frozenset[str]] = frozenset()
    extra: ClassVar[str | None] = None
    signature_fixed: ClassVar[tuple[str, ...]] = ()
    judge: ClassVar[bool] = False  # an LLM judge (implements JudgeMetric.plan_requests)
    named_only: ClassVar[bool] = False  # left out of the default set (e.g. judges that send text and cost money)

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        base = config if config is not None else self.Config()
        if not isinstance(base, self.Config):
            raise TypeError(f"{self.name}: config must be a {self.Config.__name__}")
        self.config = cfg.replace(base, overrides, metric=self.name)

    # -- availability -------------------------------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        """None when the metric can run here, else why not and how to fix it."""
        return None

    def skip_reason(self, *, predictions: Sequence[str], references: Sequence[str]) -> str | None:
        """Why this metric is left out of the *default* set for these inputs (None: run it).

        Only consulted when the metric was not named explicitly; e.g. ``json_overlap`` on free-text reports.
        """
        return None

    def backend_versions(self) -> dict[str, str]:
        """Versions of the packages or models that produce the numbers, for the signature."""
        return {}

    # -- computing ----------------------------------------------------------------------------------------
    @abstractmethod
    def compute_stats(self, *, predictions: list[str], references: list[str], ids: list[str],
                      context: RunContext) -> Stats:
        """Per-report statistics, one row per (prediction, reference) pair."""

    @abstractmethod
    def aggregate(self, stats: Stats) -> dict[str, float]:
        """Corpus scores from statistics: a pure function of the rows."""

    @abstractmethod
    def per_report(self, stats: Stats) -> dict[str, np.ndarray]:
        """Per-report scores, one array per key, for error analysis."""

    def aggregate_resamples(self, stats: Stats, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Scores of many resamples at once: row ``r`` of ``indices`` (resamples, k) is one resample.

        Equal to ``aggregate(take(stats, indices[r]))`` for every ``r``. The default does exactly that; metrics
        whose aggregate is costly per call (corpus-wide document frequencies, an external scorer) override it
        with a vectorised form that gives the same numbers, so that bootstrap CIs and paired tests of every
        metric cost about as much as BLEU's.
        """
        out: dict[str, np.ndarray] = {}
        for row, idx in enumerate(np.asarray(indices, dtype=np.int64)):
            for key, value in self.aggregate(take(stats, idx)).items():
                out.setdefault(key, np.full(len(indices), np.nan))[row] = float(value)
        return out

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release external resources (subprocesses, models)."""

    def required_weights(self) -> list[Any]:
        """The model files this metric needs (``rrg_eval.weights.WeightRequest``), for ``rrg-eval models``."""
        return []

    # -- describing ---------------------------------------------------------------------------------------
    @classmethod
    def all_keys(cls) -> tuple[str, ...]:
        """Every key the metric can produce: :attr:`keys` (the default options'), then those of
        :attr:`key_options` (produced only under their options). What catalogues, rewards and key look-ups read."""
        return tuple(cls.keys) + tuple(k for k in cls.key_options if k not in cls.keys)

    @classmethod
    def options_for_key(cls, key: str) -> dict[str, Any]:
        """The options under which the metric produces ``key`` (``{}`` for a default key); KeyError if none."""
        if key in cls.key_options:
            return dict(cls.key_options[key])
        if key in cls.keys:
            return {}
        raise KeyError(key)

    @classmethod
    def higher_is_better(cls, key: str) -> bool:
        return key not in cls.lower_is_better

    @classmethod
    def kind_of(cls, key: str) -> KeyKind:
        return cls.key_kinds.get(key, "fraction")

    def signature_fields(self) -> list[str]:
        """The fields between the name and the tail: the config's options, then ``signature_fixed``.

        Metrics whose identity carries more than their options (a backend's own signature, a prompt hash)
        override this hook, never :meth:`signature` itself.
        """
        return [*cfg.signature_parts(self.config), *self.signature_fixed]

    def signature(self, refs_digest: str | None = None) -> str:
        """``name|fields...|refs:digest|v:version|backend:version``: the tail is written here only."""
        parts = [self.name, *self.signature_fields()]
        if refs_digest:
            parts.append(f"refs:{refs_digest}")
        parts.append(f"v:{__version__}")
        parts.extend(f"{k}:{v}" for k, v in self.backend_versions().items())
        return "|".join(parts)

    def default_config(self) -> dict[str, Any]:
        return cfg.to_dict(self.Config())

    def with_options(self, **overrides: Any) -> Metric:
        """A new metric of the same kind with some options changed."""
        return type(self)(dataclasses.replace(self.config), **overrides)

    # -- convenience --------------------------------------------------------------------------------------
    def compute(self, *, predictions: Sequence[str], references: Sequence[str],
                ids: Sequence[str] | None = None, cache_dir: str | Path | None = None) -> MetricScore:
        """Score aligned lists of predictions and references with this metric alone."""
        if len(predictions) != len(references):
            from ..errors import InputError

            raise InputError(f"{len(predictions)} predictions but {len(references)} references")
        row_ids = [str(i) for i in ids] if ids is not None else [str(i) for i in range(len(references))]
        context = RunContext(cache_dir=Path(cache_dir) if cache_dir else None)
        stats = self.compute_stats(predictions=list(predictions), references=list(references), ids=row_ids,
                                   context=context)
        return MetricScore(scores=self.aggregate(stats), per_report=self.per_report(stats),
                           signature=self.signature(references_digest(row_ids, list(references))), stats=stats,
                           warnings=list(context.warnings))


SPEED_OPTIONS = frozenset({"device", "batch_size", "concurrency"})


def _inputs_digest(ids: Sequence[str], predictions: Sequence[str], references: Sequence[str]) -> str:
    h = hashlib.sha256()
    for row in zip(ids, predictions, references):
        for text in row:
            data = text.encode("utf-8", "surrogatepass")
            h.update(len(data).to_bytes(8, "little") + data)
    return h.hexdigest()


def compute_once(metric: Metric, *, predictions: list[str], references: list[str], ids: list[str],
                 context: RunContext) -> Stats:
    """``metric.compute_stats`` unless a metric of the same signature already ran on these pairs in this run.

    The orchestration and composite metrics (``rrg_eval.metrics.composite``) both go through here, so asking
    for a composite and its components in one run computes each component once. Two metrics are the same
    computation when they are of the same class with the same options, leaving out those that only change how
    fast it runs (:data:`SPEED_OPTIONS`). (Not the signature: some metrics can only sign after computing.)
    """
    options = {k: v for k, v in cfg.to_dict(metric.config).items() if k not in SPEED_OPTIONS}
    key = f"{type(metric).__module__}.{type(metric).__qualname__}|{sorted(options.items())!r}|" \
        + _inputs_digest(ids, predictions, references)
    if key not in context.computed:
        context.computed[key] = metric.compute_stats(predictions=predictions, references=references, ids=ids,
                                                     context=context)
    return context.computed[key]


def count_empty(predictions: Sequence[str], references: Sequence[str], metric: str, context: RunContext, *,
                how: str = "scored as the reference implementation does") -> None:
    """Warn about empty (or whitespace-only) predictions and references: valid input, counted.

    ``how`` says what the metric does with them; a metric whose reference implementation raises on them or scores
    them otherwise says so there (and in its card in docs/metrics.md) instead of the default.
    """
    empty_preds = len(count_empty_texts(predictions))
    empty_refs = len(count_empty_texts(references))
    if empty_preds:
        context.warn(metric, f"{empty_preds} empty prediction(s), {how}")
    if empty_refs:
        context.warn(metric, f"{empty_refs} empty reference(s), {how}")


@runtime_checkable
class JudgeMetric(Protocol):
    """A metric that sends report text to an LLM judge: it can say what it would send without sending it.

    ``rrg-eval score --dry-run`` plans every selected metric that satisfies this protocol.
    """

    name: str

    def plan_requests(self, *, predictions: Sequence[str], references: Sequence[str],
                      cache_dir: str | Path | None = None) -> Any:
        """What computing would send on these inputs, after the cache (a ``JudgePlan``); sends nothing."""


def is_judge(metric: Metric | type[Metric]) -> bool:
    """True for LLM-judge metrics: those that declare ``judge = True`` (and so implement :class:`JudgeMetric`)."""
    return bool(getattr(metric, "judge", False))
