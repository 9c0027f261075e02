"""rrg-eval: one package for evaluating radiology report generation.

``rrg_eval.score(predictions=..., references=..., metrics=[...])`` scores a system; ``rrg_eval.load_metric``
gives one metric on its own; ``rrg_eval.list_metrics()`` names them. Importing the package imports no deep
learning framework: model back-ends load their dependencies when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from .api import score
    from .errors import ConfigError, InputError, MetricError, MetricUnavailable, RrgEvalError
    from .leaderboard import Leaderboard, compare
    from .leaderboard.from_runs import compare_runs
    from .leaderboard.plot import plot_leaderboard
    from .leaderboard.render import render_leaderboard
    from .metrics.base import Metric
    from .metrics.registry import load_metric, register
    from .regression_gate import GateReport, assert_no_regression, gate
    from .render import render_result
    from .result import Result
    from .runs import load_run

__all__ = ["ConfigError", "GateReport", "InputError", "Leaderboard", "Metric", "MetricError", "MetricUnavailable",
           "Result", "RrgEvalError", "__version__", "assert_no_regression", "compare", "compare_runs", "gate",
           "list_metrics", "load_metric", "load_run", "plot_leaderboard", "register", "render_leaderboard",
           "render_result", "score"]

_LAZY = {
    "score": ("api", "score"),
    "compare": ("leaderboard.leaderboard", "compare"),
    "Leaderboard": ("leaderboard.leaderboard", "Leaderboard"),
    "compare_runs": ("leaderboard.from_runs", "compare_runs"),
    "load_run": ("runs", "load_run"),
    "gate": ("regression_gate", "gate"),
    "GateReport": ("regression_gate", "GateReport"),
    "assert_no_regression": ("regression_gate", "assert_no_regression"),
    "load_metric": ("metrics.registry", "load_metric"),
    "register": ("metrics.registry", "register"),
    "Metric": ("metrics.base", "Metric"),
    "Result": ("result", "Result"),
    "render_result": ("render", "render_result"),
    "render_leaderboard": ("leaderboard.render", "render_leaderboard"),
    "plot_leaderboard": ("leaderboard.plot", "plot_leaderboard"),
    "ConfigError": ("errors", "ConfigError"),
    "InputError": ("errors", "InputError"),
    "MetricError": ("errors", "MetricError"),
    "MetricUnavailable": ("errors", "MetricUnavailable"),
    "RrgEvalError": ("errors", "RrgEvalError"),
}


def list_metrics() -> list[str]:
    """Names of every registered metric (built-ins and plug-ins)."""
    from .metrics.registry import names

    return names()


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'rrg_eval' has no attribute {name!r}")
