"""The leaderboard: every metric of every system with a 95% bootstrap CI, paired tests against a baseline, ranks.

``rrg_eval.compare(systems={name: predictions}, references=..., metrics=[...]) -> Leaderboard``. The first
system is the baseline. Statistics are computed once per system and metric with the *same* metric instances
(so model caches annotate the references once), then resampled with the same indices for every metric and
system (:mod:`rrg_eval.resampling`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import option_sources as opts
from .. import resampling as rs
from ..api import build_metrics, empty_report_warnings, resolve_cache_dir
from ..errors import ConfigError, InputError, RrgEvalError
from ..inputs import Pairs, ReportSet, as_report_set, pair, read_reports
from ..metrics.base import Metric, RunContext, references_digest
from ..result import KeyInfo
from ..stats import Stats

if TYPE_CHECKING:
    import pandas as pd

TESTS = ("bootstrap", "ar")
TEST_NAMES = {"bootstrap": "paired bootstrap", "ar": "approximate randomization"}
DEFAULT_RESAMPLES = {"bootstrap": 1000, "ar": 10000}
DEFAULT_CI_RESAMPLES = 1000
DEFAULT_SEED = 12345
DEFAULT_ALPHA = 0.05
CONFIDENCE = 0.95


@dataclass
class SystemScores:
    """One row of the leaderboard: a system's scores, CIs, p-values against the baseline and ranks.

    Keys are score keys (``bleu4``), prefixed by the section (``findings/bleu4``) when sections are compared.
    ``p_values`` and ``delta_ci`` (95% CI of system minus baseline on the shared resamples) are None for the
    baseline.
    """

    name: str
    source: str
    scores: dict[str, float]
    ci: dict[str, tuple[float, float]]
    ranks: dict[str, int | None]
    mean_rank: float
    p_values: dict[str, float] | None = None
    delta_ci: dict[str, tuple[float, float]] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "scores": dict(self.scores),
                               "ci": {k: [lo, hi] for k, (lo, hi) in self.ci.items()}}
        if self.p_values is not None:
            out["p_values"] = dict(self.p_values)
        out["ranks"] = dict(self.ranks)
        out["mean_rank"] = self.mean_rank
        return out


@dataclass
class Leaderboard:
    """Systems compared on the same references; the first is the baseline."""

    baseline: str
    systems: list[SystemScores]
    keys: list[str]
    key_info: dict[str, KeyInfo]
    test: dict[str, Any]
    signatures: dict[str, str]
    n: int
    sections: list[str] | None = None
    warnings: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def alpha(self) -> float:
        return float(self.test.get("alpha", DEFAULT_ALPHA))

    def system(self, name: str) -> SystemScores:
        for entry in self.systems:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def significantly_better(self, name: str, key: str) -> bool:
        """True when ``name`` differs from the baseline on ``key`` with p < alpha, in the better direction."""
        entry = self.system(name)
        if entry.p_values is None:
            return False
        p = entry.p_values.get(key, float("nan"))
        if not p < self.alpha:
            return False
        base = self.systems[0].scores[key]
        value = entry.scores[key]
        return value > base if self.key_info[key].higher_is_better else value < base

    def section_keys(self) -> list[tuple[str | None, list[str]]]:
        """``[(section or None, keys of that block)]`` in table order."""
        if not self.sections:
            return [(None, list(self.keys))]
        return [(s, [k for k in self.keys if k.startswith(f"{s}/")]) for s in self.sections]

    def to_dict(self) -> dict[str, Any]:
        """``{"baseline", "test", "signatures", "systems": [...]}`` with full precision."""
        return {"baseline": self.baseline, "test": dict(self.test), "signatures": dict(self.signatures),
                "systems": [s.to_dict() for s in self.systems]}

    def to_json(self, indent: int | None = 2) -> str:
        """The JSON of :meth:`to_dict` (NaN written as null)."""
        return json.dumps(_nan_to_none(self.to_dict()), indent=indent, ensure_ascii=False)

    def to_pandas(self) -> pd.DataFrame:
        """Long format: one row per (system, key) with value, CI, p-value, significance and rank."""
        import pandas as pd

        records = []
        for entry in self.systems:
            for key in self.keys:
                lo, hi = entry.ci.get(key, (math.nan, math.nan))
                dlo, dhi = (entry.delta_ci or {}).get(key, (math.nan, math.nan))
                records.append({
                    "system": entry.name, "key": key, "metric": self.key_info[key].metric,
                    "value": entry.scores.get(key, math.nan), "ci_low": lo, "ci_high": hi,
                    "p_value": (entry.p_values or {}).get(key, math.nan),
                    "delta_ci_low": dlo, "delta_ci_high": dhi,
                    "significantly_better": self.significantly_better(entry.name, key),
                    "rank": entry.ranks.get(key), "mean_rank": entry.mean_rank})
        return pd.DataFrame.from_records(records)

    def render(self, fmt: str = "table") -> str:
        """Render as ``table``, ``markdown``, ``latex``, ``csv``, ``json`` or ``html``."""
        from .render import render_leaderboard

        return render_leaderboard(self, fmt)

    def plot(self, fmt: str = "png") -> bytes:
        """One panel per metric, every system with its CI (PNG or SVG bytes; needs matplotlib)."""
        from .plot import plot_leaderboard

        return plot_leaderboard(self, fmt)


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and obj != obj:
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    return obj


# -- inputs ------------------------------------------------------------------------------------------------

def _load(obj: Any, *, role: str, id_field: str, text_field: str) -> ReportSet:
    """A report set from a path, an ``{id: text}`` mapping, ``{id: {field: text}}`` rows, or a list of texts."""
    if isinstance(obj, Mapping) and obj and all(isinstance(v, Mapping) for v in obj.values()):
        texts = {}
        for rid, row in obj.items():
            if text_field not in row:
                raise InputError(f'id "{rid}" has no field "{text_field}" (fields: {", ".join(map(str, row))})',
                                 path=role)
            texts[rid] = row[text_field]
        return as_report_set(texts, role=role)
    if isinstance(obj, (str, os.PathLike)):
        return read_reports(obj, id_field=id_field, text_field=text_field)
    return as_report_set(obj, role=role, id_field=id_field, text_field=text_field)


def _named_systems(systems: Mapping[str, Any] | Sequence[Any]) -> list[tuple[str, Any]]:
    """``{name: preds}`` or ``[(name, preds)]`` or ``[path, ...]`` (names from the file stems)."""
    if isinstance(systems, Mapping):
        named = [(str(k), v) for k, v in systems.items()]
    else:
        named = []
        for item in systems:
            if isinstance(item, tuple) and len(item) == 2:
                named.append((str(item[0]), item[1]))
            elif isinstance(item, (str, os.PathLike)):
                named.append((Path(item).stem, item))
            else:
                raise ConfigError("systems must be {name: predictions}, [(name, predictions)] or a list of paths")
    if len(named) < 2:
        raise ConfigError(f"compare needs at least two systems (a baseline and one other), got {len(named)}")
    seen: set[str] = set()
    for name, _ in named:
        if name in seen:
            raise ConfigError(f'two systems are named "{name}"; name them explicitly (name=path)')
        seen.add(name)
    return named


def _pair_all(named: list[tuple[str, Any]], references: Any, *, id_field: str,
              text_field: str) -> tuple[list[Pairs], str]:
    refs = _load(references, role="references", id_field=id_field, text_field=text_field)
    pairs = []
    for name, preds in named:
        role = f"system {name!r}" if not isinstance(preds, (str, os.PathLike)) else str(preds)
        pairs.append(pair(_load(preds, role=role, id_field=id_field, text_field=text_field), refs))
    return pairs, references_digest(refs.ids, list(refs.texts.values()))


# -- computing ---------------------------------------------------------------------------------------------

def _ranks(values: list[float], higher_is_better: bool) -> list[int | None]:
    """Competition ranks (1, 2, 2, 4); NaN gets no rank."""
    out: list[int | None] = []
    for v in values:
        if v != v:
            out.append(None)
            continue
        better = sum(1 for w in values if w == w and (w > v if higher_is_better else w < v))
        out.append(better + 1)
    return out


@dataclass
class _MetricRun:
    metric: Metric
    keys: list[str]
    stats: list[Stats]          # one per system
    scores: list[dict[str, float]]


def _test_settings(test: str, resamples: int, ci_resamples: int, seed: int, alpha: float) -> dict[str, Any]:
    out: dict[str, Any] = {"name": test, "description": TEST_NAMES[test]}
    if test == "bootstrap":
        out["resamples"] = resamples
    else:
        out["trials"] = resamples
    out.update(ci_resamples=ci_resamples, confidence=CONFIDENCE, seed=seed, alpha=alpha,
               p_value="(c+1)/(n+1), c = resampled |differences| strictly greater than the observed one; "
                       "identical per-report statistics give p = 1")
    return out


def compare(*, systems: Mapping[str, Any] | Sequence[Any], references: Any,
            metrics: Iterable[str] | str | None = None, test: str = "bootstrap", resamples: int | None = None,
            ci_resamples: int | None = None, seed: int = DEFAULT_SEED, alpha: float = DEFAULT_ALPHA,
            sections: Sequence[str] | None = None, strict: bool = False,
            cache_dir: str | os.PathLike | None = None, use_cache: bool = True, id_field: str = "id",
            text_field: str = "report", config_file: str | os.PathLike | None = None,
            **config: Any) -> Leaderboard:
    """Compare systems on the same references; the first system is the baseline.

    ``systems``: ``{name: predictions}`` (each a path, an ``{id: text}`` mapping, ``{id: {field: text}}`` rows
    or a list of texts) or a list of paths (names from the file stems). ``test``: ``"bootstrap"`` (paired
    bootstrap, 1,000 resamples by default) or ``"ar"`` (approximate randomization, 10,000 trials by default).
    ``ci_resamples``: bootstrap resamples for the 95% CIs (default: ``resamples`` for the bootstrap test, 1,000
    for AR). ``sections``: text fields compared as separate blocks (``["findings", "impression"]``), replacing
    ``text_field``. ``config``: per-metric option dicts and global options, as in :func:`rrg_eval.score`.
    """
    if test not in TESTS:
        raise ConfigError(f"unknown test {test!r}; valid tests: {', '.join(TESTS)}")
    resamples = DEFAULT_RESAMPLES[test] if resamples is None else int(resamples)
    if resamples < 1:
        raise ConfigError(f"resamples must be at least 1, got {resamples}")
    if ci_resamples is None:
        ci_resamples = resamples if test == "bootstrap" else DEFAULT_CI_RESAMPLES
    if ci_resamples < 1:
        raise ConfigError(f"ci_resamples must be at least 1, got {ci_resamples}")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be between 0 and 1, got {alpha}")
    seed = int(seed)
    named = _named_systems(systems)
    section_list: list[str | None] = list(sections) if sections else [None]
    if sections and len(set(section_list)) != len(section_list):
        raise ConfigError(f"sections repeat: {', '.join(map(str, section_list))}")

    per_metric = {k: dict(v) for k, v in config.items() if isinstance(v, Mapping)}
    global_options = {k: v for k, v in config.items() if not isinstance(v, Mapping)}
    file_options = opts.load_config_file(config_file) if config_file else {}
    built, unavailable = build_metrics(metrics, strict=strict, options=per_metric, global_options=global_options,
                                       file_options=file_options)
    # read and pair everything before computing anything: id errors come first
    paired = {s: _pair_all(named, references, id_field=id_field, text_field=s or text_field) for s in section_list}
    try:
        return _compare_pairs(named, paired, built, unavailable, explicit=metrics is not None, test=test,
                              resamples=resamples, ci_resamples=ci_resamples, seed=seed, alpha=alpha,
                              sections=list(sections) if sections else None,
                              cache_dir=resolve_cache_dir(cache_dir, use_cache))
    finally:
        for metric in built:
            metric.close()


def _compare_pairs(named: list[tuple[str, Any]], paired: dict[str | None, tuple[list[Pairs], str]],
                   metrics: list[Metric], unavailable: dict[str, str], *, explicit: bool, test: str,
                   resamples: int, ci_resamples: int, seed: int, alpha: float, sections: list[str] | None,
                   cache_dir: Path | None) -> Leaderboard:
    unavailable = dict(unavailable)
    context = RunContext(cache_dir=cache_dir)
    if not explicit:  # the default metric set drops metrics that object to these inputs (as score does)
        first_pairs = next(iter(paired.values()))[0][0]
        kept = []
        for metric in metrics:
            reason = metric.skip_reason(predictions=first_pairs.predictions, references=first_pairs.references)
            if reason is None:
                kept.append(metric)
            else:
                unavailable[metric.name] = reason
        metrics = kept
    n_systems = len(named)
    keys: list[str] = []
    key_info: dict[str, KeyInfo] = {}
    signatures: dict[str, str] = {}
    errors: dict[str, str] = {}
    scores: list[dict[str, float]] = [{} for _ in named]
    cis: list[dict[str, tuple[float, float]]] = [{} for _ in named]
    p_values: list[dict[str, float]] = [{} for _ in named]
    delta_cis: list[dict[str, tuple[float, float]]] = [{} for _ in named]
    test_sig = (f"bs:{resamples}" if test == "bootstrap" else f"ar:{resamples}|bs:{ci_resamples}") + f"|seed:{seed}"
    n_total = 0
    for section, (pairs_list, digest) in paired.items():
        prefix = f"{section}/" if section else ""
        where = f" ({section})" if section else ""
        n = len(pairs_list[0])
        n_total = max(n_total, n)
        for name, pairs in zip((nm for nm, _ in named), pairs_list):
            context.warnings.extend(f"{name}{where}: {w}" for w in empty_report_warnings(pairs))
        boot = rs.bootstrap_indices(n, ci_resamples, seed)
        test_idx = boot if test == "bootstrap" and ci_resamples == resamples else (
            rs.bootstrap_indices(n, resamples, seed) if test == "bootstrap" else rs.ar_masks(n, resamples, seed))
        for metric in metrics:
            label = f"{prefix}{metric.name}"
            try:
                run = _run_metric(metric, pairs_list, [f"{nm}{where}" for nm, _ in named], context)
            except RrgEvalError as exc:
                errors[label] = str(exc)
                continue
            except Exception as exc:  # one failing metric must not lose the others
                errors[label] = f"{type(exc).__name__}: {exc}"
                continue
            signatures[label] = f"{metric.signature(digest)}|{test_sig}"
            for key in run.keys:
                full = prefix + key
                keys.append(full)
                key_info[full] = KeyInfo(metric=label, kind=metric.kind_of(key),
                                         higher_is_better=metric.higher_is_better(key))
            boot_scores = [rs.resampled_scores(metric.aggregate, st, boot, run.keys,
                                               batch=metric.aggregate_resamples) for st in run.stats]
            if test == "bootstrap":
                test_scores = boot_scores if test_idx is boot else [
                    rs.resampled_scores(metric.aggregate, st, test_idx, run.keys,
                                          batch=metric.aggregate_resamples) for st in run.stats]
            for i in range(n_systems):
                for key in run.keys:
                    full = prefix + key
                    scores[i][full] = float(run.scores[i].get(key, math.nan))
                    cis[i][full] = rs.percentile_ci(boot_scores[i][key])
                if i == 0:
                    continue
                identical = rs.stats_identical(run.stats[0], run.stats[i])
                if test == "ar" and not identical:
                    ar_a, ar_b = rs.ar_scores(metric.aggregate, run.stats[0], run.stats[i], test_idx, run.keys,
                                               batch=metric.aggregate_resamples)
                for key in run.keys:
                    full = prefix + key
                    observed = scores[i][full] - scores[0][full]
                    delta_cis[i][full] = rs.percentile_ci(boot_scores[i][key] - boot_scores[0][key])
                    if identical:
                        p_values[i][full] = 1.0
                    elif test == "bootstrap":
                        p_values[i][full] = rs.paired_bootstrap_p(test_scores[i][key], test_scores[0][key],
                                                                  observed)
                    else:
                        p_values[i][full] = rs.ar_p(ar_a[key], ar_b[key], observed)
    rank_table: list[dict[str, int | None]] = [{} for _ in named]
    for key in keys:
        ranked = _ranks([scores[i][key] for i in range(n_systems)], key_info[key].higher_is_better)
        for i, r in enumerate(ranked):
            rank_table[i][key] = r
    entries = []
    for i, (name, source) in enumerate(named):
        given = [r for r in rank_table[i].values() if r is not None]
        entries.append(SystemScores(
            name=name, source=str(source) if isinstance(source, (str, os.PathLike)) else f"system {name!r}",
            scores=scores[i], ci=cis[i], ranks=rank_table[i],
            mean_rank=float(np.mean(given)) if given else math.nan,
            p_values=p_values[i] if i else None, delta_ci=delta_cis[i] if i else None))
    return Leaderboard(baseline=named[0][0], systems=entries, keys=keys, key_info=key_info,
                       test=_test_settings(test, resamples, ci_resamples, seed, alpha), signatures=signatures,
                       n=n_total, sections=sections, warnings=list(context.warnings), unavailable=unavailable,
                       errors=errors)


def _run_metric(metric: Metric, pairs_list: list[Pairs], names: list[str], context: RunContext) -> _MetricRun:
    """Statistics of every system with the same metric instance (references annotated once via its caches).

    Warnings a metric records are prefixed with the system they came from.
    """
    stats = []
    scores = []
    for name, pairs in zip(names, pairs_list):
        own = RunContext(cache_dir=context.cache_dir)
        st = metric.compute_stats(predictions=list(pairs.predictions), references=list(pairs.references),
                                  ids=list(pairs.ids), context=own)
        context.warnings.extend(f"{name}: {w}" for w in own.warnings)
        stats.append(st)
        scores.append({k: float(v) for k, v in metric.aggregate(st).items()})
    keys = list(scores[0])
    for other in scores[1:]:
        keys += [k for k in other if k not in keys]
    return _MetricRun(metric=metric, keys=keys, stats=stats, scores=scores)
