"""Composite metrics: metrics computed from other metrics' per-report values (RadCliQ).

A composite declares its components as :class:`Component` (metric name, options, the per-report key it uses)
and implements :meth:`CompositeMetric.combine`. Its ``compute_stats`` gets each component's statistics through
:func:`rrg_eval.metrics.base.compute_once`, the same memo the orchestration uses, so a run that asks for the
composite and its components computes each component once, and a run that asks only for the composite computes
the components without reporting them. A component that does not exist in this version, or that cannot run
here, makes the composite unavailable with that reason.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..stats import Stats
from .base import Metric, RunContext, compute_once


@dataclass(frozen=True)
class Component:
    """One feature of a composite: ``metric`` built with ``options``; its per-report values under ``key``."""

    metric: str
    key: str
    options: Mapping[str, Any] = field(default_factory=dict)
    missing: str = ""  # why it may be absent from this version (shown while it is)


class CompositeMetric(Metric):
    """Base class of metrics computed from the per-report values of other metrics."""

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._built: list[Metric | None] = []
        self._missing: list[str] = []
        from .registry import metric_class

        for component in self.components():
            try:
                self._built.append(metric_class(component.metric)(**dict(component.options)))
            except ConfigError as exc:
                self._built.append(None)
                why = component.missing or str(exc)
                self._missing.append(f"component {component.key} ({component.metric}) is not available in this "
                                     f"version: {why}")

    @abstractmethod
    def components(self) -> list[Component]:
        """The features, in the order :meth:`combine` receives them (may depend on ``self.config``)."""

    @abstractmethod
    def combine(self, features: np.ndarray, context: RunContext) -> Stats:
        """This metric's statistics from the (reports, components) matrix of per-report feature values."""

    def component_metrics(self) -> list[Metric]:
        """The built component metrics (raises ConfigError when one is missing)."""
        if self._missing:
            raise ConfigError(f"{self.name}: " + "; ".join(self._missing))
        return [m for m in self._built if m is not None]

    def unavailable_reason(self) -> str | None:
        if self._missing:
            return "; ".join(self._missing)
        for component, metric in zip(self.components(), self._built):
            reason = metric.unavailable_reason() if metric is not None else None
            if reason:
                return f"component {component.key} ({metric.name}) cannot run: {reason}"
        return None

    def required_weights(self) -> list[Any]:
        return [w for m in self._built if m is not None for w in m.required_weights()]

    def blocks_reason(self) -> str | None:
        """A component's reason not to be computed block by block (``rrg_eval.distributed``), or None."""
        for metric in self._built:
            hook = getattr(metric, "blocks_reason", None)
            reason = hook() if callable(hook) else None
            if reason:
                return f"component {metric.name}: {reason}"  # type: ignore[union-attr]
        return None

    def backend_versions(self) -> dict[str, str]:
        """Each component's signature options and back-end versions, prefixed by the component's key."""
        out: dict[str, str] = {}
        for component, metric in zip(self.components(), self._built):
            if metric is None:
                out[component.key] = "missing"
                continue
            parts = metric.signature().split("|")[1:]
            out[component.key] = ",".join(p for p in parts if not p.startswith("v:"))
        return out

    def compute_stats(self, *, predictions: list[str], references: list[str], ids: list[str],
                      context: RunContext) -> Stats:
        columns = []
        for component, metric in zip(self.components(), self.component_metrics()):
            stats = compute_once(metric, predictions=predictions, references=references, ids=ids, context=context)
            columns.append(np.asarray(metric.per_report(stats)[component.key], dtype=float))
        features = np.column_stack(columns) if columns else np.zeros((len(predictions), 0))
        return self.combine(features.reshape(len(predictions), len(columns)), context)

    def close(self) -> None:
        for metric in self._built:
            if metric is not None:
                metric.close()
