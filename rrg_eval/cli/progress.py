"""Progress on standard error: the renderer of :class:`rrg_eval.progress.ProgressEvent` (only the CLI prints).

On a terminal, a ``rich`` bar per metric (per system and metric in ``compare``; one per download or baseline
stage), its text saying the stage (unique texts, cached, computing, judge answers); without ``rich`` (the
``compare`` extra) plain lines instead. Not on a terminal (CI logs): one whole line per stage start and end,
and at most one line every ``interval`` seconds in between, never carriage returns. ``--quiet``: nothing.

This module reads events by their fields only (no runtime import of :mod:`rrg_eval.progress`), because that
module builds this renderer for the API's ``progress=True``.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from ..progress import ProgressEvent

PLAIN_INTERVAL_S = 15.0  # the most often a stage repeats its line in a log
PREFIX = "rrg-eval: "


def add_quiet_argument(p: argparse.ArgumentParser) -> None:
    """``--quiet``: no progress on standard error (errors are still printed)."""
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print no progress on standard error (bars on a terminal, one line per stage otherwise)")


def _where(event: ProgressEvent) -> str:
    parts = [p for p in (event.system, event.metric) if p]
    return ": ".join(parts)


def _count(event: ProgressEvent) -> str:
    return f"{event.done}/{event.total}" if event.total is not None else str(event.done)


def describe(event: ProgressEvent, elapsed: float | None = None) -> str:
    """The words of one event, without the ``rrg-eval:`` prefix (``sysA: bertscore: computing 64/764``)."""
    stage = event.stage
    if stage == "metric":
        if event.done == 0 and not event.finished:
            text = f"scoring {event.total} pairs" if event.total is not None else "scoring"
        else:
            text = "done" + (f" in {elapsed:.1f} s" if elapsed is not None else "")
    elif stage == "unique":
        text = f"{event.done} unique texts"
    elif stage == "cached":
        text = f"{_count(event)} cached"
    elif stage == "compute":
        text = f"computing {_count(event)}"
    elif stage == "answers":
        text = f"judge answers {_count(event)}"
    elif stage == "skipped":
        text = "no numbers (the reason is listed with the results)"
    elif stage == "resample":
        text = f"resampling {_count(event)} metrics" + (f" ({event.detail})" if event.detail else "")
    elif stage == "download":
        text = f"downloading {_count(event)}" + (f" {event.detail}" if event.detail else "")
    elif stage == "embed":
        text = f"embedded {_count(event)}"
    elif stage == "generate":
        text = f"generated {_count(event)}"
    elif stage == "train":
        text = (f"{event.detail} " if event.detail else "") + f"step {_count(event)}"
    else:
        text = f"{stage} {_count(event)}"
    where = _where(event)
    return f"{where}: {text}" if where else text


class PlainProgress:
    """Whole lines for logs: a stage's first and last event always, others at most every ``interval`` s."""

    def __init__(self, stream: TextIO, *, interval: float = PLAIN_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()  # judge answers arrive on the judge client's thread
        self._last: dict[tuple[Any, ...], float] = {}
        self._started: dict[tuple[Any, ...], float] = {}

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            now = self.clock()
            key = (event.system, event.metric, event.stage)
            elapsed = None
            if event.stage == "metric":
                if event.done == 0 and not event.finished:
                    self._started[key] = now
                elif key in self._started:
                    elapsed = now - self._started.pop(key)
            boundary = event.done == 0 or event.finished or event.total is None
            if not boundary and now - self._last.get(key, -float("inf")) < self.interval:
                return
            self._last[key] = now
            self.stream.write(PREFIX + describe(event, elapsed) + "\n")
            self.stream.flush()

    def log(self, text: str) -> None:
        """A line of its own (e.g. an epoch's summary)."""
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class BarProgress:
    """``rich`` bars on a terminal: one per (system, metric), or per stage of work without a metric."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(file=stream)
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=self.console)
        self._tasks: dict[tuple[Any, ...], Any] = {}
        self._notes: dict[tuple[Any, ...], str] = {}
        self._lock = threading.Lock()
        self._started = False

    def _task(self, key: tuple[Any, ...], description: str, total: int | None) -> Any:
        if not self._started:
            self.progress.start()
            self._started = True
        if key not in self._tasks:
            self._tasks[key] = self.progress.add_task(description, total=total)
        return self._tasks[key]

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            if event.metric is None:  # downloads, baselines: a bar per stage
                key: tuple[Any, ...] = (event.system, event.stage)
                task = self._task(key, describe(event), event.total)
                self.progress.update(task, description=describe(event), total=event.total, completed=event.done)
                return
            key = (event.system, event.metric)
            where = _where(event)
            stage = event.stage
            if stage == "metric":
                task = self._task(key, where, event.total)
                self.progress.update(task, total=event.total, completed=event.done,
                                     description=f"{where}: done" if event.finished else f"{where}: scoring")
                self._notes.pop(key, None)
                return
            task = self._task(key, where, event.total)
            if stage == "unique":
                self._notes[key] = f"{event.done} unique"
                self.progress.update(task, description=f"{where}: {self._notes[key]}")
            elif stage == "cached":
                self._notes[key] = f"{event.total} unique, {event.done} cached"
                self.progress.update(task, description=f"{where}: {self._notes[key]}")
            elif stage in ("compute", "answers"):
                word = "computing" if stage == "compute" else "judge answers"
                note = f" ({self._notes[key]})" if key in self._notes else ""
                self.progress.update(task, description=f"{where}: {word}{note}", total=event.total,
                                     completed=event.done)
            elif stage == "skipped":
                self.progress.update(task, description=f"{where}: no numbers")
            else:
                self.progress.update(task, description=describe(event), total=event.total, completed=event.done)

    def log(self, text: str) -> None:
        """A line above the bars."""
        with self._lock:
            self.console.print(text, markup=False, highlight=False)

    def close(self) -> None:
        with self._lock:
            if self._started:
                self.progress.stop()
                self._started = False


def make_progress(stream: TextIO | None = None, *, quiet: bool = False,
                  terminal: bool | None = None) -> PlainProgress | BarProgress | None:
    """The renderer for ``stream`` (default standard error): None when quiet, bars on a terminal when ``rich``
    is installed, plain lines otherwise."""
    if quiet:
        return None
    stream = stream if stream is not None else sys.stderr
    if terminal is None:
        isatty = getattr(stream, "isatty", None)
        terminal = bool(isatty()) if callable(isatty) else False
    if terminal:
        try:
            return BarProgress(stream)
        except ImportError:  # rich is in the compare extra
            pass
    return PlainProgress(stream)


def stderr_progress() -> PlainProgress | BarProgress:
    """The renderer of the API's ``progress=True``: standard error, bars when it is a terminal."""
    renderer = make_progress(sys.stderr)
    return renderer if renderer is not None else PlainProgress(sys.stderr)


@contextmanager
def progress_from_args(args: argparse.Namespace) -> Iterator[PlainProgress | BarProgress | None]:
    """The renderer a command uses (None with ``--quiet``), closed when the work ends, even on an error."""
    renderer = make_progress(sys.stderr, quiet=bool(getattr(args, "quiet", False)))
    try:
        yield renderer
    finally:
        if renderer is not None:
            renderer.close()
