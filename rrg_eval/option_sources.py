"""Metric options from every source (YAML file, ``--set`` flags, Python kwargs), merged and checked.

Sources, later ones winning: ``--config FILE.yaml`` (``{metric: {field: value}}``), then ``--set
METRIC.FIELD=VALUE`` flags / Python per-metric dicts, then global options (``normalize="lower"``) that apply
to every selected metric having that field. Unknown metrics or fields are errors listing the valid ones.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigError, did_you_mean
from .metrics.registry import metric_class, names

Options = dict[str, dict[str, Any]]


def parse_set_flags(flags: Iterable[str]) -> Options:
    """``["rouge.use_stemmer=false", ...]`` -> ``{"rouge": {"use_stemmer": "false"}}`` (values stay strings)."""
    out: Options = {}
    for flag in flags:
        key, sep, value = flag.partition("=")
        metric, dot, fieldname = key.strip().partition(".")
        if not sep or not dot or not metric or not fieldname:
            raise ConfigError(f"--set expects METRIC.FIELD=VALUE, got {flag!r}")
        out.setdefault(metric, {})[fieldname] = value
    return out


def load_config_file(path: str | os.PathLike) -> Options:
    """Read a YAML (or JSON) file of ``{metric: {field: value}}``."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        # libyaml when present: PyYAML's pure-Python scanner is quadratic in the nesting depth ("[" * 100_000
        # stalls for hours); libyaml refuses deep nesting at once.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(p.read_text(encoding="utf-8"), Loader=loader) or {}  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read") from None
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start]
        raise ConfigError(f"{path}: not valid UTF-8 (byte 0x{bad:02x} at offset {exc.start})") from None
    if not isinstance(data, Mapping) or not all(isinstance(v, Mapping) for v in data.values()):
        raise ConfigError(f"{path}: expected a mapping of metric name to a mapping of options")
    return {str(k): dict(v) for k, v in data.items()}


def merge(*sources: Mapping[str, Mapping[str, Any]]) -> Options:
    """Merge option sources; later ones win field by field."""
    out: Options = {}
    for source in sources:
        for metric, fields in source.items():
            out.setdefault(metric, {}).update(fields)
    return out


def check_known(options: Mapping[str, Mapping[str, Any]]) -> None:
    """Every metric and field named must exist."""
    for metric, fields in options.items():
        cls = metric_class(metric)  # raises for unknown metrics, listing the valid ones
        valid = [f.name for f in dataclasses.fields(cls.Config)]
        for fieldname in fields:
            if fieldname not in valid:
                raise ConfigError(f"unknown option {metric}.{fieldname}; valid options of {metric}: "
                                  f"{', '.join(valid) or '(none)'}" + did_you_mean(fieldname, valid))


def _fields(metric: str) -> set[str]:
    """The option names of ``metric`` (none for a name this version does not have, e.g. in a suite)."""
    try:
        return {f.name for f in dataclasses.fields(metric_class(metric).Config)}
    except ConfigError:
        return set()


def apply_globals(options: Options, selected: Iterable[str], global_options: Mapping[str, Any]) -> Options:
    """Apply options such as ``normalize`` or ``device`` to every selected metric that has that field.

    An option that no registered metric has is an error (a typo); one that only unselected metrics have is left
    out (:func:`unused_option_warnings` says so).
    """
    out = {k: dict(v) for k, v in options.items()}
    selected = list(selected)
    for fieldname, value in global_options.items():
        takers = [m for m in selected if fieldname in _fields(m)]
        users = [m for m in names() if fieldname in _fields(m)]
        if not takers and not users:
            raise ConfigError(f"option {fieldname!r} applies to none of the selected metrics "
                              f"({', '.join(selected)}) nor to any other metric; give per-metric options as "
                              f"{{metric: {{field: value}}}} or METRIC.FIELD=VALUE")
        if not takers:  # unused here, yet a bad value is still refused (the same check as when it is used)
            from .option_spec import replace

            try:
                replace(metric_class(users[0]).Config(), {fieldname: value}, metric=users[0])
            except ConfigError as exc:
                raise ConfigError(str(exc).replace(f"{users[0]}.{fieldname}", f"option {fieldname}", 1)) from None
        for metric in takers:
            out.setdefault(metric, {}).setdefault(fieldname, value)
    return out


def unused_option_warnings(selected: Iterable[str], options: Mapping[str, Mapping[str, Any]],
                           global_options: Mapping[str, Any]) -> list[str]:
    """One warning per option given for no selected metric: ``--set rouge.use_stemmer=false`` with ``--metrics
    bleu``, or ``--batch-size`` (a global option) when no selected metric has a batch size.

    Options from a config file are not checked: one file may serve many runs.
    """
    selected = list(selected)
    chosen = ", ".join(selected)
    warnings = []
    for metric, fields in options.items():
        if metric not in selected and fields:
            given = ", ".join(f"{metric}.{f}" for f in fields)
            warnings.append(f"option {given} ignored: {metric} is not among the selected metrics ({chosen})")
    for fieldname in global_options:
        if not any(fieldname in _fields(m) for m in selected):
            users = [m for m in names() if fieldname in _fields(m)]
            warnings.append(f"option {fieldname} ignored: no selected metric uses it ({chosen}); it applies to "
                            f"{', '.join(users)}")
    return warnings


def select_metrics(requested: Iterable[str] | str | None) -> tuple[list[str], bool]:
    """The metric names to run and whether they were named explicitly (``None`` = every registered one)."""
    if requested is None:
        return names(), False
    if isinstance(requested, str):
        requested = [r for r in requested.split(",")]
    chosen: list[str] = []
    for name in requested:
        name = name.strip()
        if not name:
            continue
        metric_class(name)
        if name not in chosen:
            chosen.append(name)
    if not chosen:
        raise ConfigError(f"no metric selected; valid metrics: {', '.join(names())}")
    return chosen, True
