"""Frozen config dataclasses: one per metric, feeding Python kwargs, CLI ``--set`` flags and signatures.

A metric declares its options as a frozen dataclass whose fields use :func:`option`. The same class:

* validates Python keyword overrides (``rrg_eval.load_metric("rouge", use_stemmer=False)``),
* parses CLI strings (``--set rouge.use_stemmer=false``, ``--config FILE.yaml``),
* writes the signature fragment (``stem:yes``), so no option that changes a number is left out of it.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, get_args, get_origin

from .errors import ConfigError, did_you_mean

_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off"}


Check = Callable[[Any], "str | None"]


def option(default: Any, *, sig: str | None = None, help: str = "", in_signature: bool = True,
           choices: Iterable[Any] | Callable[[], Iterable[Any]] | None = None, check: Check | None = None) -> Any:
    """Declare a config field.

    ``sig`` is its short name in the signature (default: the field name); ``in_signature=False`` keeps
    options that cannot change a number (batch size, device, concurrency) out of it. ``choices`` (values, or a
    function returning the back-end's real choices, called only when the option is set) and ``check`` (returns
    an error message, or None when the value is fine) are applied when the config is built, so a bad value is
    a ConfigError (exit 2) before any work, naming the valid choices.
    """
    metadata = {"sig": sig, "help": help, "in_signature": in_signature, "choices": choices, "check": check}
    if isinstance(default, (list, dict, set)):
        raise TypeError("config defaults must be immutable (use a tuple)")
    return dataclasses.field(default=default, metadata=metadata)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def field_names(config_cls: type) -> list[str]:
    """The names of a config class's fields, in declaration order."""
    return [f.name for f in dataclasses.fields(config_cls)]


def field_help(config_cls: type) -> dict[str, str]:
    """Field name -> help text, for ``rrg-eval metrics`` and the docs."""
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(config_cls)}


def _type_name(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    return getattr(tp, "__name__", str(tp))


def coerce(value: Any, tp: Any, *, where: str) -> Any:
    """Convert ``value`` (a Python value or a CLI string) to the field type ``tp`` or raise ConfigError."""
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        if value is None or (isinstance(value, str) and value.lower() in {"none", "null"} and type(None) in args):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, where=where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is Literal:
        for choice in args:
            if value == choice or (isinstance(value, str) and str(choice) == value):
                return choice
        raise ConfigError(f"{where}: {value!r} is not {_type_name(tp)}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if origin is tuple:
        item_tp = args[0] if args else str
        if isinstance(value, str):
            items: list[Any] = [v.strip() for v in value.split(",") if v.strip()]
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            raise ConfigError(f"{where}: expected a comma-separated list, got {value!r}")
        return tuple(coerce(v, item_tp, where=where) for v in items)
    return value


def replace(config: Any, overrides: Mapping[str, Any], *, metric: str) -> Any:
    """A copy of ``config`` with ``overrides`` applied, each value checked and converted to its field type."""
    if not overrides:
        return config
    hints = _hints(type(config))
    names = field_names(type(config))
    clean: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in names:
            valid = ", ".join(names) if names else "(none)"
            raise ConfigError(f"unknown option {metric}.{key}; valid options of {metric}: {valid}"
                              + did_you_mean(key, list(names)))
        clean[key] = coerce(value, hints[key], where=f"{metric}.{key}")
        validate(type(config), key, clean[key], metric=metric)
    try:
        return dataclasses.replace(config, **clean)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{metric}: {exc}") from None


def validate(config_cls: type, name: str, value: Any, *, metric: str) -> None:
    """Apply a field's declared ``choices`` and ``check`` to ``value``; ConfigError naming what is valid."""
    meta = {f.name: f.metadata for f in dataclasses.fields(config_cls)}[name]
    if value is None:
        return
    choices = meta.get("choices")
    if choices is not None:
        valid = list(choices() if callable(choices) else choices)
        if value not in valid:
            raise ConfigError(f"{metric}.{name}: {value!r} is not a valid choice; valid: "
                              f"{', '.join(str(c) for c in valid)}")
    check = meta.get("check")
    if check is not None:
        problem = check(value)
        if problem:
            raise ConfigError(f"{metric}.{name}: {problem}")


def positive(value: Any) -> str | None:
    """``check`` for numbers that must be > 0."""
    return None if value > 0 else f"must be greater than 0, got {value!r}"


def non_negative(value: Any) -> str | None:
    """``check`` for numbers that must be >= 0."""
    return None if value >= 0 else f"must be 0 or more, got {value!r}"


_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def torch_device(value: Any) -> str | None:
    """``check`` for torch device names: auto, cpu, mps, cuda, cuda:N."""
    if isinstance(value, str) and _DEVICE.fullmatch(value):
        return None
    return f"{value!r} is not a device; valid: auto, cpu, cuda, cuda:N (e.g. cuda:0), mps"


def to_dict(config: Any) -> dict[str, Any]:
    """The config as a plain JSON-serialisable dict (tuples become lists)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def _sig_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return ",".join(_sig_value(v) for v in value)
    if value is None:
        return "none"
    return str(value)


def signature_parts(config: Any) -> list[str]:
    """``key:value`` fragments of every field that can change a number."""
    parts = []
    for f in dataclasses.fields(config):
        if not f.metadata.get("in_signature", True):
            continue
        key = f.metadata.get("sig") or f.name
        parts.append(f"{key}:{_sig_value(getattr(config, f.name))}")
    return parts
