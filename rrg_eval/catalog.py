"""What ``rrg-eval metrics`` lists: each metric's name, purpose, extra, default config, and whether it can run here.

Whether a metric can run is told in three separate facts, so that one cannot pass for another: the packages (or
programs, such as Java) it needs are installed; the model weights it needs are found (and where: the folder of
``$RRG_EVAL_MODEL_DIR`` or the hub cache; synthetic weights say so); an LLM judge is configured (a model named).
A metric that cannot run carries its reason and the one command that fixes it. Nothing here downloads or loads a
model: weights are looked up as ``rrg-eval models list`` looks them up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from . import option_spec as cfg
from .metrics.base import Metric, is_judge
from .metrics.registry import metric_class, names

JUDGE_FIX = "--set {name}.model=NAME --set {name}.base_url=http://127.0.0.1:8000/v1"
WEIGHTS_FIX = "rrg-eval models download --metrics {name}"
_COMMAND = re.compile(r"pip install(?: [^\s;()]+)+|apt-get install [\w.-]+|python -m nltk\.downloader \w+")


@dataclass(frozen=True)
class MetricInfo:
    """One row of the metric catalogue.

    ``available``: it can run here now (installed, weights found, configured, nothing else in the way).
    ``installed``: the packages and programs it needs are there. ``weights``: ``"-"`` (needs none), where they
    were found (``$RRG_EVAL_MODEL_DIR``, ``hub cache``; ``synthetic, ...`` for ``rrg-eval models synth`` weights)
    or ``missing``. ``configured``: None for metrics without a judge model, else whether one is named.
    ``fix``: the one command that makes it runnable (None when it runs, or no command can).
    ``keys``: every key it can produce (:meth:`Metric.all_keys`); ``key_options``: those of them produced only
    under some options, with the options (``{"bertscore_cxr_f1": {"preset": "cxr"}, ...}``).
    """

    name: str
    description: str
    keys: tuple[str, ...]
    extra: str | None
    available: bool
    reason: str | None
    reference: str
    default_config: dict[str, Any]
    installed: bool = True
    weights: str = "-"
    configured: bool | None = None
    fix: str | None = None
    key_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # keys (in ``keys``) needing options

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "keys": list(self.keys),
                "extra": self.extra, "can_run": self.available, "installed": self.installed,
                "weights": self.weights, "configured": self.configured, "reason": self.reason, "fix": self.fix,
                "reference": self.reference, "default_config": self.default_config,
                "key_options": {k: dict(v) for k, v in self.key_options.items()}}


def _package_problem(reason: str) -> bool:
    """Whether ``reason`` is about something to install (a package, Java), not weights or configuration."""
    return "pip install" in reason or "Java" in reason or "needs torch" in reason


def _command_in(reason: str) -> str | None:
    """The command a reason names (``pip install ...``, ``apt-get install ...``), if any."""
    found = _COMMAND.search(reason)
    return found.group(0).rstrip(".,") if found else None


def _weights(metric: Metric) -> tuple[str, str | None]:
    """(the weights column, why they are not usable or None), without downloading anything."""
    requests = metric.required_weights()
    if not requests:
        return "-", None
    from .model_admin import is_synthetic, locate

    places: list[str] = []
    missing: list[str] = []
    synthetic = False
    for request in requests:
        path, where = locate(request)
        if path is None:
            missing.append(request.repo_id)
            continue
        synthetic = synthetic or is_synthetic(path)
        if where not in places:
            places.append(where)
    if missing:
        repos = list(dict.fromkeys(missing))
        return "missing", f"model weights not found: {', '.join(repos)} (not in $RRG_EVAL_MODEL_DIR nor the hub cache)"
    return ("synthetic, " if synthetic else "") + ", ".join(places), None


def _configured(metric: Metric) -> bool | None:
    """For LLM judges: whether a judge model is named (``model``, or ``azure_deployment``); None otherwise."""
    if not is_judge(metric):
        return None
    config = metric.config
    return bool(getattr(config, "model", "") or getattr(config, "azure_deployment", ""))


def describe(name: str) -> MetricInfo:
    """Describe metric ``name`` with its default config and whether it can run here (three facts, see above)."""
    cls = metric_class(name)
    metric = cls()
    try:
        reason = metric.unavailable_reason()
        weights, weights_reason = _weights(metric)
        configured = _configured(metric)
    finally:
        metric.close()
    installed = not (reason and _package_problem(reason))
    fix = None
    about_weights = reason is None or "rrg-eval models download" in reason  # the metric's own weights check
    if not installed:  # install first; the other facts are shown in their columns
        fix = _command_in(reason)  # type: ignore[arg-type]
    elif configured is False:
        fix, reason = JUDGE_FIX.format(name=name), reason or "no judge model configured"
    elif weights_reason is not None and about_weights:
        fix, reason = WEIGHTS_FIX.format(name=name), weights_reason
    elif reason is not None:
        fix = _command_in(reason)
        reason = reason if weights_reason is None else f"{reason}; {weights_reason}"
    return MetricInfo(name=name, description=cls.description, keys=cls.all_keys(), extra=cls.extra,
                      available=reason is None, reason=reason, reference=cls.reference,
                      default_config=cfg.to_dict(metric.config), installed=installed, weights=weights,
                      configured=configured, fix=fix,
                      key_options={k: cls.options_for_key(k) for k in cls.all_keys() if k not in cls.keys})


def catalog() -> list[MetricInfo]:
    """Every registered metric, described."""
    return [describe(n) for n in names()]
