"""What ``rrg-eval metrics`` lists: each metric's name, purpose, extra, availability and default config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import option_spec as cfg
from .metrics.registry import metric_class, names


@dataclass(frozen=True)
class MetricInfo:
    """One row of the metric catalogue."""

    name: str
    description: str
    keys: tuple[str, ...]
    extra: str | None
    available: bool
    reason: str | None
    reference: str
    default_config: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "keys": list(self.keys),
                "extra": self.extra, "installed": self.available, "reason": self.reason,
                "reference": self.reference, "default_config": self.default_config}


def describe(name: str) -> MetricInfo:
    """Describe metric ``name`` with its default config and whether it can run here."""
    cls = metric_class(name)
    metric = cls()
    try:
        reason = metric.unavailable_reason()
    finally:
        metric.close()
    return MetricInfo(name=name, description=cls.description, keys=tuple(cls.keys), extra=cls.extra,
                      available=reason is None, reason=reason, reference=cls.reference,
                      default_config=cfg.to_dict(metric.config))


def catalog() -> list[MetricInfo]:
    """Every registered metric, described."""
    return [describe(n) for n in names()]
