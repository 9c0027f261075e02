"""The metric registry: built-in metrics by import path, third-party ones through entry points.

Built-ins are imported only when used, so ``import rrg_eval`` stays light. A third-party package registers a
metric class with the entry-point group ``rrg_eval.metrics``::

    [project.entry-points."rrg_eval.metrics"]
    my_metric = "my_package.metric:MyMetric"
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from ..errors import ConfigError, did_you_mean
from .base import Metric

ENTRY_POINT_GROUP = "rrg_eval.metrics"

# name -> "module:Class"; the order is the order of output tables.
BUILTIN: dict[str, str] = {
    "bleu": "rrg_eval.metrics.bleu:Bleu",
    "sacrebleu": "rrg_eval.metrics.sacrebleu_metric:SacreBleu",
    "meteor": "rrg_eval.metrics.meteor:Meteor",
    "rouge": "rrg_eval.metrics.rouge:Rouge",
    "cider": "rrg_eval.metrics.cider:Cider",
    "json_overlap": "rrg_eval.metrics.json_overlap:JsonOverlap",
    "bertscore": "rrg_eval.metrics.bertscore:BertScore",
    "f1chexbert": "rrg_eval.metrics.f1chexbert:F1CheXbert",
    "sembscore": "rrg_eval.metrics.sembscore:SembScore",
    "radgraph": "rrg_eval.metrics.radgraph:RadGraph",
    "bleu2_cxr": "rrg_eval.metrics.bleu2_cxr:Bleu2Cxr",
    "radgraph_combined": "rrg_eval.metrics.radgraph_combined:RadGraphCombined",
    "radcliq": "rrg_eval.metrics.radcliq:RadCliQ",
    "ratescore": "rrg_eval.metrics.ratescore:RaTEScore",
    "chexprompt": "rrg_eval.metrics.chexprompt:Chexprompt",
    "green": "rrg_eval.metrics.green:Green",
    "crimson": "rrg_eval.metrics.crimson:Crimson",
}

_extra: dict[str, type[Metric]] = {}
_entry_points_loaded = False


def register(cls: type[Metric]) -> type[Metric]:
    """Register a metric class under ``cls.name`` (usable as a decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Metric)):
        raise TypeError("only Metric subclasses can be registered")
    _extra[cls.name] = cls
    return cls


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTIN or ep.name in _extra:
            continue
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plug-in must not break the built-ins
            import warnings

            warnings.warn(f"rrg-eval: cannot load metric plug-in {ep.name!r} ({ep.value}): {exc}", stacklevel=2)
            continue
        register(cls)


def names() -> list[str]:
    """Every registered metric name, built-ins first."""
    _load_entry_points()
    return list(BUILTIN) + [n for n in _extra if n not in BUILTIN]


def metric_class(name: str) -> type[Metric]:
    """The class registered as ``name``; an unknown name is a ConfigError listing the valid ones."""
    if name in BUILTIN:
        module, _, attr = BUILTIN[name].partition(":")
        return getattr(importlib.import_module(module), attr)
    _load_entry_points()
    if name in _extra:
        return _extra[name]
    raise ConfigError(f"unknown metric {name!r}; valid metrics: {', '.join(names())}" + did_you_mean(name, names()))


def load_metric(name: str, **config: Any) -> Metric:
    """An instance of metric ``name`` with config overrides, usable on its own (``.compute(...)``)."""
    return metric_class(name)(**config)


def key_source(key: str) -> tuple[str, dict[str, Any]]:
    """The registered metric that produces score key ``key`` and the options it needs for that (``{}`` for a
    default key): ``radgraph_partial`` -> ``("radgraph", {})``, ``bertscore_cxr_f1`` -> ``("bertscore",
    {"preset": "cxr"})`` (a metric's ``key_options``). An unknown key is a ConfigError."""
    known: list[str] = []
    for name in names():
        cls = metric_class(name)
        if key in cls.all_keys():
            return name, cls.options_for_key(key)
        known += cls.all_keys()
    raise ConfigError(f"no registered metric produces the key {key!r}" + did_you_mean(key, known))


def options_note(options: dict[str, Any]) -> str:
    """``" (with preset='cxr')"`` for the options a key needs, ``""`` for none: the tail of key messages."""
    return f" (with {', '.join(f'{k}={v!r}' for k, v in options.items())})" if options else ""
