"""The model-metric scaffold: what every metric that runs a neural model shares.

A model metric subclasses :class:`ModelMetric` and supplies only what is its own:

* ``requires`` (importable module names; availability is checked with ``importlib.util.find_spec``, so listing
  metrics or a warm-cache run never imports torch) and ``install_hint``;
* :meth:`ModelMetric.weight_files`: EVERY local file that changes the numbers (checkpoint, tokenizer files, model
  config). Their digest is the cache namespace's identity and the signature's ``weights:`` field
  (``weights:unresolved`` when the files are not here yet, ``weights:synthetic-<digest>`` for random weights
  written by ``rrg-eval models synth``);
* :meth:`ModelMetric.load_backend`: build the back-end object (from ``rrg_eval.backends``), called lazily by
  :meth:`ModelMetric.backend` on the first cache miss;
* its config (with ``device`` and ``batch_size`` options), keys, ``compute_stats`` and ``aggregate``.

Annotations go through :meth:`ModelMetric.annotate_cached` (one loop for all: de-duplicate the texts, read the
cache, compute the misses in batches, write them, count and warn). Another metric that reuses a back-end and
its cache (e.g. ``radgraph_combined`` over RadGraph graphs) builds the owning metric and calls its public
annotation method (``RadGraph.annotate``, ``F1CheXbert.chexbert_outputs``): same cache, same entries.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from ..cache import AnnotationCache, text_key
from ..errors import MetricUnavailable
from ..fingerprint import files_digest
from ..progress import CACHED, COMPUTE, UNIQUE
from .base import Metric, RunContext

T = TypeVar("T")
# texts per ``compute`` call of annotate_cached (at least 16 batches): a progress step, and what an interrupted
# run keeps in the cache; each chunk is length-sorted by the back-end as the whole list was
ANNOTATE_CHUNK = 512
INSTALL_HINT = "pip install 'rrg-eval[models]'"


def takes_progress(compute: Callable[..., Any]) -> bool:
    """Whether ``compute`` accepts a ``progress`` argument (a callable told how many texts of its list are done)."""
    try:
        return "progress" in inspect.signature(compute).parameters
    except (TypeError, ValueError):  # a builtin or C callable: no signature to read
        return False


def is_synthetic(paths: Sequence[Path]) -> bool:
    """Whether any of ``paths`` lies in a model folder written by ``rrg-eval models synth`` (its marker file)."""
    from ..synthetic_weights import is_synthetic as marked

    return any(marked(p) for p in paths)


@dataclass(frozen=True)
class Codec(Generic[T]):
    """How one back-end's annotation is stored in the cache: ``encode`` to bytes, ``decode`` back (None, or an
    exception among ValueError/KeyError/TypeError, for an unreadable entry, which is then recomputed)."""

    encode: Callable[[T], bytes]
    decode: Callable[[bytes], T | None]


@dataclass
class AnnotateCounts:
    """What one :meth:`ModelMetric.annotate_cached` call did (for progress and tests)."""

    unique: int = 0
    cached: int = 0
    computed: int = 0
    unreadable: int = 0


class ModelMetric(Metric):
    """Base of metrics that run a model: requirements, device, lazy back-end, weights identity, cached loop."""

    requires: ClassVar[tuple[str, ...]] = ("torch", "transformers")
    install_hint: ClassVar[str] = INSTALL_HINT
    display_name: ClassVar[str] = ""  # how messages name the metric (default: its registry name)
    extra = "models"

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        if self.precision != "fp32" and getattr(self.config, "device", "auto") != "auto":
            from ..backends.precision import check

            check(self.precision, self.config.device, metric=self.name)  # a refused mode fails before any work
        self._backend: Any = None
        self._weights: list[Path] | None = None
        self._digest: str | None = None
        self.last_counts = AnnotateCounts()

    # -- what a subclass provides -------------------------------------------------------------------------
    def weight_files(self, *, use_hub: bool = True) -> list[Path]:
        """Every local file that changes the numbers; raises MetricUnavailable when one cannot be found."""
        raise NotImplementedError

    def load_backend(self) -> Any:
        """Build the back-end (heavy imports here, never at module level)."""
        raise NotImplementedError

    def cache_label(self) -> str:
        """The readable part of the cache namespace (default: the metric's name)."""
        return self.name

    # -- availability and identity ------------------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        # find_spec, not import: listing metrics or a warm-cache run must not pay for importing torch
        missing = [m for m in self.requires if importlib.util.find_spec(m) is None]
        if missing:
            return f"{self.display_name or self.name} needs {' and '.join(missing)}: {self.install_hint}"
        return None

    def resolved_weight_files(self, *, use_hub: bool = True) -> list[Path]:
        """:meth:`weight_files`, remembered once found."""
        if self._weights is None:
            self._weights = list(self.weight_files(use_hub=use_hub))
        return self._weights

    def weights_digest(self, cache_dir: Path | None = None) -> str:
        """sha256 over the names and contents of every weight file (remembered per path, size and mtime)."""
        if self._digest is None:
            self._digest = files_digest(self.resolved_weight_files(), cache_dir)
        return self._digest

    def synthetic(self) -> bool:
        """Whether the weights were written by ``rrg-eval models synth`` (random: numbers are meaningless)."""
        return self._weights is not None and is_synthetic(self._weights)

    def backend_versions(self) -> dict[str, str]:
        """``weights``: the digest prefix, ``synthetic-<prefix>`` or ``unresolved``; never downloads."""
        if self._weights is None:
            try:
                self.resolved_weight_files(use_hub=False)
            except MetricUnavailable:
                self._weights = None
                return {"weights": "unresolved"}
        prefix = self.weights_digest()[:12]
        return {"weights": f"synthetic-{prefix}" if self.synthetic() else prefix}

    def cache_namespace(self, cache_dir: Path | None = None) -> str:
        """``<label>-<digest>``, plus ``-<precision>`` for a reduced-precision run (its own entries)."""
        from ..backends.precision import cache_suffix

        return f"{self.cache_label()}-{self.weights_digest(cache_dir)[:16]}{cache_suffix(self.precision)}"

    # -- device and back-end ------------------------------------------------------------------------------
    def device(self) -> str:
        """The configured torch device; ``auto`` is cuda when present, else cpu."""
        device = getattr(self.config, "device", "auto")
        if device != "auto":
            return device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def signature_fields(self) -> list[str]:
        """The options, then ``prec:<mode>`` for a reduced-precision run (fp32, the reference's, is not written,
        so signatures and saved runs from before the option existed stay comparable)."""
        fields = super().signature_fields()
        if self.precision != "fp32":
            fields.append(f"prec:{self.precision}")
        return fields

    @property
    def precision(self) -> str:
        """The configured encoder precision (``rrg_eval.backends.precision``); fp32 for metrics without one."""
        return str(getattr(self.config, "precision", "fp32"))

    @property
    def batch_size(self) -> int:
        return max(1, int(getattr(self.config, "batch_size", 8)))

    def backend(self) -> Any:
        """The loaded back-end, built on first use."""
        if self._backend is None:
            reason = self.unavailable_reason()
            if reason:
                raise MetricUnavailable(reason)
            self._backend = self.load_backend()
        return self._backend

    def close(self) -> None:
        self._backend = None

    # -- the one cached annotate loop ---------------------------------------------------------------------
    def annotate_chunk(self) -> int:
        """Texts per ``compute`` call: :data:`ANNOTATE_CHUNK`, and at least 16 batches."""
        return max(ANNOTATE_CHUNK, 16 * self.batch_size)

    def annotate_cached(self, texts: Sequence[str], context: RunContext, *, codec: Codec[T],
                        compute: Callable[[list[str]], list[T]], namespace: str | None = None,
                        accept: Callable[[T], bool] | None = None) -> dict[str, T]:
        """The annotation of each distinct text: cached ones read, the rest computed by ``compute`` and stored.

        ``compute`` gets the missing texts (in first-seen order) in chunks of :meth:`annotate_chunk` texts
        and returns one annotation each (it batches itself); each chunk is stored as soon as it is computed,
        and the run's progress callback gets ``unique``, ``cached`` and ``compute`` events (done/total per
        chunk, or per batch when ``compute`` takes a ``progress`` argument: it then calls ``progress(done)``
        with the texts of its chunk done so far, e.g. after each batch). ``accept`` may refuse a cached entry
        that is readable but not enough (e.g. labels stored without the vector a caller needs): it is
        recomputed. Unreadable entries are counted in a warning; a
        corrupt cache file moved aside, or a cache that could not be used (locked, disk full, read-only), is
        reported from the cache's structured flags. Annotations are also kept in the run's memo
        (``context.annotations``, per namespace), so a second metric on the same back-end and weights reuses
        them in the same run even without a disk cache (counted as cached).
        """
        unique = list(dict.fromkeys(texts))
        counts = AnnotateCounts(unique=len(unique))
        space = namespace or self.cache_namespace(context.cache_dir)
        memo = context.annotations.setdefault(space, {})
        found: dict[str, T] = {t: memo[t] for t in unique
                               if t in memo and (accept is None or accept(memo[t]))}
        cache = AnnotationCache(context.cache_dir, space)
        try:
            keys = {t: text_key(t) for t in unique if t not in found}
            stored = cache.get_many(keys.values()) if keys else {}
            for text in keys:
                blob = stored.get(keys[text])
                if blob is None:
                    continue
                try:
                    value = codec.decode(blob)
                except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                    value = None
                if value is None:
                    counts.unreadable += 1
                elif accept is None or accept(value):
                    found[text] = value
            counts.cached = len(found)
            context.report(UNIQUE, self.name, done=len(unique), total=len(unique))
            context.report(CACHED, self.name, done=counts.cached, total=len(unique))
            todo = [t for t in unique if t not in found]
            if todo:
                context.report(COMPUTE, self.name, done=0, total=len(todo))
                step = self.annotate_chunk()
                ticks = context.progress is not None and takes_progress(compute)
                reported = [0]

                def report(done: int) -> None:  # never backwards, never twice the same count
                    if done > reported[0]:
                        reported[0] = done
                        context.report(COMPUTE, self.name, done=done, total=len(todo))

                for start in range(0, len(todo), step):
                    part = todo[start:start + step]
                    if ticks:
                        base, size = counts.computed, len(part)
                        computed = compute(part, progress=lambda n, base=base, size=size: report(base + min(n, size)))
                    else:
                        computed = compute(part)
                    if len(computed) != len(part):
                        raise RuntimeError(f"{self.name}: the back-end returned {len(computed)} annotations for "
                                           f"{len(part)} texts")
                    cache.put_many({keys[t]: codec.encode(v) for t, v in zip(part, computed)})
                    found.update(zip(part, computed))
                    counts.computed += len(part)
                    report(counts.computed)
        finally:
            cache.close()
        memo.update(found)
        if counts.unreadable:
            context.warn(self.name, f"{counts.unreadable} unreadable cache entr"
                         f"{'y' if counts.unreadable == 1 else 'ies'} (damaged) recomputed")
        if cache.rebuilt:
            context.warn(self.name, f"corrupt cache file {cache.path} moved aside to {cache.moved_to} and rebuilt")
        if cache.problem:
            context.warn(self.name, cache.problem)
        if self.synthetic():
            message = "synthetic (random) weights from `rrg-eval models synth`: the numbers are meaningless"
            if f"{self.name}: {message}" not in context.warnings:
                context.warn(self.name, message)
        self.last_counts = counts
        return found
