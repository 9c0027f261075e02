"""Leaderboards from saved runs: ``rrg_eval.compare_runs(runs=[...])`` and ``rrg-eval compare --runs ...``.

No metric is recomputed: each metric is rebuilt from the options its run recorded, and only its pure
``aggregate`` runs on the saved per-report statistics, through the same code as ``rrg_eval.compare``. Runs must
have been scored on the same references (same digest of ids and texts) with the same metric signatures;
otherwise the comparison is refused with a message naming what differs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..clusters import design_for, read_cluster_values
from ..errors import ConfigError, InputError, RrgEvalError
from ..metrics.base import Metric
from ..multitest import check_method
from ..result import Result
from ..runs import as_run
from ..version import __version__
from .core import Block, MetricStats
from .leaderboard import (
    DEFAULT_ALPHA,
    DEFAULT_CI_RESAMPLES,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    TESTS,
    Leaderboard,
    build_leaderboard,
)


def named_runs(runs: Mapping[str, Any] | Sequence[Any]) -> list[tuple[str, str, Result]]:
    """``[(name, source, Result)]`` from ``{name: run}``, ``[(name, run)]`` or paths (named by file stem)."""
    items: list[tuple[str, Any]]
    if isinstance(runs, Mapping):
        items = [(str(k), v) for k, v in runs.items()]
    else:
        items = []
        for item in runs:
            if isinstance(item, tuple) and len(item) == 2:
                items.append((str(item[0]), item[1]))
            elif isinstance(item, (str, os.PathLike)):
                items.append((Path(item).stem, item))
            else:
                raise ConfigError("runs must be {name: run}, [(name, run)] or a list of run paths")
    out = []
    seen: set[str] = set()
    for name, obj in items:
        if name in seen:
            raise ConfigError(f'two runs are named "{name}"; name them explicitly (NAME=PATH)')
        seen.add(name)
        source = str(obj) if isinstance(obj, (str, os.PathLike)) else f"run {name!r}"
        out.append((name, source, as_run(obj, role=source)))
    return out


def _signature_difference(first: str, second: str) -> str:
    a, b = first.split("|"), second.split("|")
    only_a = [p for p in a if p not in b]
    only_b = [p for p in b if p not in a]
    return f"{', '.join(only_a) or '(nothing)'} vs {', '.join(only_b) or '(nothing)'}"


def check_compatible(runs: list[tuple[str, str, Result]], metric_names: Iterable[str]) -> None:
    """Refuse runs scored on other references or with other metric signatures, naming the difference."""
    _, first_src, first = runs[0]
    for _, src, run in runs[1:]:
        if run.references_digest != first.references_digest or run.ids != first.ids:
            raise InputError(f"runs were scored on different references: {first_src} has references digest "
                             f"{first.references_digest} ({first.n} reports), {src} has {run.references_digest} "
                             f"({run.n} reports); score every system on the same references file")
        for metric in metric_names:
            sig_a, sig_b = first.signatures.get(metric), run.signatures.get(metric)
            if sig_a != sig_b:
                raise InputError(f"metric {metric}: signatures differ between {first_src} and {src}: "
                                 f"{_signature_difference(sig_a or '', sig_b or '')} (full: {sig_a!r} vs {sig_b!r})")


def select_metrics(runs: list[tuple[str, str, Result]], metrics: Iterable[str] | str | None,
                   warnings: list[str]) -> list[str]:
    """Metric names present in every run (those named, or all), in the first run's order."""
    present = [m for m in runs[0][2].stats if all(m in r.stats for _, _, r in runs)]
    if metrics is None:
        dropped = sorted({m for _, _, r in runs for m in r.stats} - set(present))
        if dropped:
            warnings.append(f"left out: metric(s) {', '.join(dropped)} not in every run")
        if not present:
            raise InputError("the runs have no metric in common")
        return present
    wanted = [m.strip() for m in (metrics.split(",") if isinstance(metrics, str) else metrics) if m.strip()]
    for name in wanted:
        missing = [src for _, src, r in runs if name not in r.stats]
        if missing:
            raise InputError(f"metric {name} is not in run(s) {', '.join(missing)}")
    return wanted


def rebuild_metric(name: str, options: Mapping[str, Any]) -> Metric:
    """The metric instance whose ``aggregate`` turns saved statistics into scores."""
    from ..metrics.registry import metric_class

    try:
        cls = metric_class(name)
    except RrgEvalError:
        raise ConfigError(f"metric {name} of the saved runs is not registered here (a plug-in not "
                          "installed?)") from None
    return cls(**dict(options))


def run_clusters(runs: list[tuple[str, str, Result]], field: str) -> dict[str, str] | None:
    """Cluster values saved in the runs for ``field`` (None when no run has them); runs must agree."""
    found = None
    for _, src, run in runs:
        clusters = run.clusters or {}
        if clusters.get("field") != field:
            continue
        values = dict(zip(run.ids, clusters.get("values", [])))
        if found is not None and values != found:
            raise InputError(f"runs disagree on the clusters of field {field!r} ({src})")
        found = values
    return found


def compare_runs(*, runs: Mapping[str, Any] | Sequence[Any], metrics: Iterable[str] | str | None = None,
                 test: str = "bootstrap", resamples: int | None = None, ci_resamples: int | None = None,
                 seed: int = DEFAULT_SEED, alpha: float = DEFAULT_ALPHA, adjust: str = "holm",
                 cluster_field: str | None = None, references: Any = None, id_field: str = "id",
                 clusters: Mapping[str, Any] | None = None) -> Leaderboard:
    """A leaderboard from saved runs (paths or Results); the first run is the baseline.

    The settings are those of :func:`rrg_eval.compare`. ``cluster_field`` is read from ``references`` when
    given, else from the clusters saved in the runs (``score --cluster-field``).
    """
    if test not in TESTS:
        raise ConfigError(f"unknown test {test!r}; valid tests: {', '.join(TESTS)}")
    resamples = DEFAULT_RESAMPLES[test] if resamples is None else int(resamples)
    if ci_resamples is None:
        ci_resamples = resamples if test == "bootstrap" else DEFAULT_CI_RESAMPLES
    if resamples < 1 or ci_resamples < 1:
        raise ConfigError("resamples must be at least 1")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be between 0 and 1, got {alpha}")
    check_method(adjust)
    loaded = named_runs(runs)
    if len(loaded) < 2:
        raise ConfigError(f"compare needs at least two runs (a baseline and one other), got {len(loaded)}")
    warnings: list[str] = []
    chosen = select_metrics(loaded, metrics, warnings)
    check_compatible(loaded, chosen)
    base = loaded[0][2]
    values = None
    if clusters is not None:
        values = {str(k): str(v) for k, v in clusters.items()}
        cluster_field = cluster_field or "cluster"
    elif cluster_field:
        values = (read_cluster_values(references, cluster_field, id_field=id_field) if references is not None
                  else run_clusters(loaded, cluster_field))
        if values is None:
            raise InputError(f"--cluster-field {cluster_field}: the runs hold no such clusters; pass the references "
                             "file (--refs) or score with --cluster-field")
    block = Block(prefix="", design=design_for(base.ids, values, cluster_field))
    errors: dict[str, str] = {}
    recorded = {r.versions.get("rrg_eval") for _, _, r in loaded} - {None}
    if recorded and recorded != {__version__}:
        warnings.append(f"runs recorded with rrg-eval {', '.join(sorted(recorded))}; aggregated with {__version__}")
    for name in chosen:
        try:
            metric = rebuild_metric(name, base.options.get(name, {}))
        except RrgEvalError as exc:
            errors[name] = str(exc)
            continue
        keys = [k for k, info in base.key_info.items() if info.metric == name]
        scores = []
        try:
            for _, _, run in loaded:
                scores.append({k: float(v) for k, v in metric.aggregate(run.stats[name]).items()})
        except RrgEvalError as exc:
            errors[name] = str(exc)
            continue
        block.metrics.append(MetricStats(label=name, aggregate=metric.aggregate, keys=keys,
                                         key_info={k: base.key_info[k] for k in keys},
                                         stats=[run.stats[name] for _, _, run in loaded], scores=scores,
                                         signature=base.signatures[name], batch=metric.aggregate_resamples))
    for _, src, run in loaded:
        warnings.extend(f"{src}: {w}" for w in run.warnings)
    try:
        return build_leaderboard([n for n, _, _ in loaded], [s for _, s, _ in loaded], [block], test=test,
                                 resamples=resamples, ci_resamples=ci_resamples, seed=int(seed), alpha=alpha,
                                 adjust_method=adjust, sections=None, warnings=warnings, unavailable={},
                                 errors=errors)
    finally:
        for metric_stats in block.metrics:
            close = getattr(getattr(metric_stats.aggregate, "__self__", None), "close", None)
            if close:
                close()
