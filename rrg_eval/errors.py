"""Typed exceptions: every error a user can cause carries an actionable message.

The CLI maps them to exit codes: :class:`InputError` and :class:`ConfigError` exit 2 (bad input or usage),
:class:`MetricError` and :class:`MetricUnavailable` exit 1 (a metric failed or could not run).
"""

from __future__ import annotations


class RrgEvalError(Exception):
    """Base class of every error rrg-eval raises on purpose."""

    exit_code = 1


class InputError(RrgEvalError):
    """Bad input data: the message names the file, the line and the field."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        location = ""
        if path is not None:
            location = path if line is None else f"{path}:{line}"
            location += ": "
        super().__init__(location + message)
        self.path = path
        self.line = line
        self.field = field


class ConfigError(RrgEvalError):
    """A bad option: unknown metric, unknown field, or a value of the wrong type."""

    exit_code = 2


class MetricUnavailable(RrgEvalError):
    """A metric cannot run here (missing package, Java, weights); the message says how to fix it."""

    exit_code = 1


class MetricError(RrgEvalError):
    """A metric failed while computing."""

    exit_code = 1


class OutputError(RrgEvalError):
    """An output path that cannot be written, is an input, or needs a missing package (checked before work)."""

    exit_code = 2


def did_you_mean(name: str, valid: list[str] | tuple[str, ...]) -> str:
    """``"; did you mean 'rouge'?"`` for a near miss (``rogue``), else ``""``: the tail of an unknown-name error."""
    import difflib

    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
