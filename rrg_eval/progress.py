"""Progress of long work as small typed events: what ``progress=`` of the API receives. Pure: nothing prints here.

``rrg_eval.score(..., progress=callback)``, ``rrg_eval.compare(..., progress=callback)`` and
``rrg_eval.api.score_pairs(..., progress=callback)`` call ``callback(event)`` with a :class:`ProgressEvent` as
the work goes on (``progress=False``, the default, sends nothing; ``progress=True`` shows the command line's
renderer on standard error). The stages, in the order one metric sends them:

``metric``
    one metric on one system: ``done=0, total=pairs`` when it starts, ``done=total`` when its statistics are
    computed.
``unique``, ``cached``, ``compute``
    a model metric's annotation (``ModelMetric.annotate_cached``): the distinct texts (``done == total``), how
    many of them the cache held (``done`` of ``total``), then the texts run through the model (``done`` of
    ``total``, from 0, once per chunk); ``compute`` is not sent when everything was cached.
``answers``
    an LLM judge's answers received (``done`` of ``total`` questions to send after the cache), from 0.
``skipped``
    the metric did not produce numbers on this system (it failed, or found out it cannot run): ``done=0``.

``compare`` sends every event of every system with ``system`` set (``name``, or ``name [section]``), then
``resample``: the metrics whose CIs and paired tests are done (``done`` of ``total``; ``detail`` the metric
resampled next), with no ``metric`` or ``system``.
A callback should return quickly; an LLM judge's ``answers`` events come from its client's thread (the same
thread the whole run uses, except under a running event loop such as Jupyter's, where it is a worker thread).
``rrg-eval models download`` sends ``download`` (files fetched, ``detail`` the file) and the baselines
``embed``, ``generate`` and ``train`` (``detail``: epoch and loss).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

METRIC = "metric"
UNIQUE = "unique"
CACHED = "cached"
COMPUTE = "compute"
ANSWERS = "answers"
SKIPPED = "skipped"
DOWNLOAD = "download"
EMBED = "embed"
GENERATE = "generate"
TRAIN = "train"
RESAMPLE = "resample"
STAGES = (METRIC, UNIQUE, CACHED, COMPUTE, ANSWERS, SKIPPED, RESAMPLE, DOWNLOAD, EMBED, GENERATE, TRAIN)


@dataclass(frozen=True)
class ProgressEvent:
    """One step of progress: ``done`` of ``total`` units of ``stage`` for ``metric`` on ``system``.

    ``total`` is None when unknown; ``detail`` is a short free text for stages that name a thing (the file
    being downloaded, the epoch being trained).
    """

    stage: str
    metric: str | None = None
    system: str | None = None
    done: int = 0
    total: int | None = None
    detail: str | None = None

    @property
    def finished(self) -> bool:
        """True when the stage is complete (``done == total``)."""
        return self.total is not None and self.done >= self.total


class ProgressCallback(Protocol):
    """What ``progress=`` accepts besides True and False: called with each event, in the caller's order."""

    def __call__(self, event: ProgressEvent) -> None: ...


ProgressArg = bool | None | Callable[[ProgressEvent], None]


def resolve(progress: ProgressArg) -> Callable[[ProgressEvent], None] | None:
    """The callback for an API's ``progress=`` argument: None for False/None, the command line's renderer on
    standard error for True (bars on a terminal, plain lines otherwise), the callable itself otherwise."""
    if progress is None or progress is False:
        return None
    if progress is True:
        # the one place outside rrg_eval.cli that reaches the CLI: only the CLI prints (tests/test_import_graph)
        from .cli.progress import stderr_progress

        return stderr_progress()
    if not callable(progress):
        from .errors import ConfigError

        raise ConfigError(f"progress must be True, False or a callable taking a ProgressEvent, got {progress!r}")
    return progress


def finish(callback: Callable[[ProgressEvent], None] | None) -> None:
    """Let a renderer that :func:`resolve` made for ``progress=True`` end its display (bars stop, lines flush)."""
    close = getattr(callback, "close", None)
    if callable(close):
        close()


def with_system(callback: Callable[[ProgressEvent], None] | None,
                system: str) -> Callable[[ProgressEvent], None] | None:
    """``callback`` with ``system`` set on every event it receives (how ``compare`` labels each system)."""
    if callback is None:
        return None

    def labelled(event: ProgressEvent) -> None:
        callback(dataclasses.replace(event, system=system))

    return labelled


def emit(callback: Callable[[ProgressEvent], None] | None, stage: str, metric: str | None = None, *,
         done: int = 0, total: int | None = None, detail: str | None = None) -> None:
    """Send one event to ``callback`` (nothing when it is None)."""
    if callback is not None:
        callback(ProgressEvent(stage=stage, metric=metric, done=int(done),
                               total=None if total is None else int(total), detail=detail))
