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

from .. import option_sources as opts
from .. import progress as pg
from ..api import build_metrics, option_warnings, resolve_cache_dir, score_pairs, skip_for_inputs, split_config
from ..clusters import design_for, read_cluster_values
from ..errors import ConfigError, InputError
from ..inputs import Pairs, ReportSet, as_report_set, pair, read_reports, references_digest
from ..metrics.base import Metric
from ..multitest import check_method
from ..result import KeyInfo, Result
from ..version import __version__

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
    baseline. Leaderboards computed by :func:`compare` also carry ``p_adjusted`` (adjusted across every
    (system, key) test), ``effects`` (``{key: {"difference", "ci"}}``, system minus baseline), ``rank_ci`` (the
    95% bootstrap interval of the rank) and ``p_first`` (share of resamples where the system ranks first).
    """

    name: str
    source: str
    scores: dict[str, float]
    ci: dict[str, tuple[float, float]]
    ranks: dict[str, int | None]
    mean_rank: float
    p_values: dict[str, float] | None = None
    delta_ci: dict[str, tuple[float, float]] | None = None
    p_adjusted: dict[str, float] | None = None
    effects: dict[str, dict[str, Any]] | None = None
    rank_ci: dict[str, tuple[float, float]] | None = None
    p_first: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "scores": dict(self.scores),
                               "ci": {k: [lo, hi] for k, (lo, hi) in self.ci.items()}}
        if self.p_values is not None:
            out["p_values"] = dict(self.p_values)
        out["ranks"] = dict(self.ranks)
        out["mean_rank"] = self.mean_rank
        if self.p_adjusted is not None:
            out["p_adjusted"] = dict(self.p_adjusted)
        if self.effects is not None:
            out["effects"] = {k: {"difference": v["difference"], "ci": list(v["ci"])} for k, v in self.effects.items()}
        if self.rank_ci is not None:
            out["rank_intervals"] = {k: {"ci": list(v), "p_first": (self.p_first or {}).get(k)}
                                     for k, v in self.rank_ci.items()}
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
    suite: dict[str, Any] | None = None  # name, version and columns when compared as a suite (rrg_eval.suites)

    @property
    def alpha(self) -> float:
        return float(self.test.get("alpha", DEFAULT_ALPHA))

    def system(self, name: str) -> SystemScores:
        for entry in self.systems:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def p_value(self, name: str, key: str) -> float:
        """The p-value the marks use: the adjusted one when the leaderboard has them, else the raw one."""
        entry = self.system(name)
        chosen = entry.p_adjusted if entry.p_adjusted is not None else entry.p_values
        return float((chosen or {}).get(key, float("nan")))

    def significance(self, name: str, key: str) -> str | None:
        """``"better"`` or ``"worse"`` when ``name`` differs from the baseline on ``key`` with (adjusted)
        p < alpha, in that direction (lower is better on lower-is-better keys); None otherwise (and for the
        baseline)."""
        entry = self.system(name)
        if entry.p_values is None:
            return None
        p = self.p_value(name, key)
        if not p < self.alpha:
            return None
        base = self.systems[0].scores[key]
        value = entry.scores[key]
        if value == base or value != value or base != base:
            return None
        better = value > base if self.key_info[key].higher_is_better else value < base
        return "better" if better else "worse"

    def significantly_better(self, name: str, key: str) -> bool:
        """True when ``name`` differs from the baseline on ``key`` with (adjusted) p < alpha, in the better
        direction."""
        return self.significance(name, key) == "better"

    def significantly_worse(self, name: str, key: str) -> bool:
        """True when ``name`` differs from the baseline on ``key`` with (adjusted) p < alpha, in the worse
        direction."""
        return self.significance(name, key) == "worse"

    def section_keys(self) -> list[tuple[str | None, list[str]]]:
        """``[(section or None, keys of that block)]`` in table order."""
        if not self.sections:
            return [(None, list(self.keys))]
        return [(s, [k for k in self.keys if k.startswith(f"{s}/")]) for s in self.sections]

    def to_dict(self) -> dict[str, Any]:
        """``{"n", "rrg_eval_version", "baseline", "test", "signatures", "systems": [...], "warnings",
        "unavailable", "errors"[, "suite"]}`` with full precision (the outcome keys as ``score``'s JSON has them).

        Every system but the baseline carries ``"significance": {key: "better" | "worse" | null}`` (the marks
        of the tables: adjusted p < alpha, in which direction).
        """
        systems = []
        for entry in self.systems:
            data = entry.to_dict()
            if entry.p_values is not None:
                data["significance"] = {key: self.significance(entry.name, key) for key in self.keys}
            systems.append(data)
        out = {"n": self.n, "rrg_eval_version": __version__, "baseline": self.baseline, "test": dict(self.test),
               "signatures": dict(self.signatures), "systems": systems, "warnings": list(self.warnings),
               "unavailable": dict(self.unavailable), "errors": dict(self.errors)}
        if self.suite is not None:
            out["suite"] = dict(self.suite)
        return out

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
                rlo, rhi = (entry.rank_ci or {}).get(key, (math.nan, math.nan))
                records.append({
                    "system": entry.name, "key": key, "metric": self.key_info[key].metric,
                    "value": entry.scores.get(key, math.nan), "ci_low": lo, "ci_high": hi,
                    "p_value": (entry.p_values or {}).get(key, math.nan),
                    "p_adjusted": (entry.p_adjusted or {}).get(key, math.nan),
                    "rank_ci_low": rlo, "rank_ci_high": rhi, "p_first": (entry.p_first or {}).get(key, math.nan),
                    "delta_ci_low": dlo, "delta_ci_high": dhi,
                    "significantly_better": self.significantly_better(entry.name, key),
                    "significantly_worse": self.significantly_worse(entry.name, key),
                    "rank": entry.ranks.get(key), "mean_rank": entry.mean_rank})
        return pd.DataFrame.from_records(records)


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
            adjust: str = "holm", cluster_field: str | None = None, clusters: Mapping[str, Any] | None = None,
            suite: str | None = None, progress: pg.ProgressArg = False, engine: Any = None,
            **config: Any) -> Leaderboard:
    """Compare systems on the same references; the first system is the baseline.

    ``systems``: ``{name: predictions}`` (each a path, an ``{id: text}`` mapping, ``{id: {field: text}}`` rows
    or a list of texts) or a list of paths (names from the file stems). ``test``: ``"bootstrap"`` (paired
    bootstrap, 1,000 resamples by default) or ``"ar"`` (approximate randomization, 10,000 trials by default).
    ``ci_resamples``: bootstrap resamples for the 95% CIs (default: ``resamples`` for the bootstrap test, 1,000
    for AR). ``sections``: text fields compared as separate blocks (``["findings", "impression"]``), replacing
    ``text_field``. ``config``: per-metric option dicts and global options, as in :func:`rrg_eval.score`.
    ``adjust``: multiple-comparison adjustment of the p-values across every (system, key) test (``holm``,
    ``bh`` or ``none``); the marks use the adjusted p-values. ``cluster_field``: resample whole clusters (e.g.
    ``patient_id``) read from that field of the references (or given as ``clusters={id: cluster}``). With
    ``test="ar"`` and ``2**units <= resamples`` the permutation test is exact (every swap pattern once).
    ``progress``: False (default), True (bars on a terminal, else one line per stage, on standard error) or a
    callable receiving each :class:`rrg_eval.progress.ProgressEvent`, ``system`` set to the system's name
    (``name [section]`` with ``sections``).
    ``suite``: a named suite (``rrg_eval.suites``, e.g. ``"rexrank"``) instead of ``metrics``: its metrics and
    exact options (user options on top); the leaderboard records its name, version and columns.
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
    check_method(adjust)
    seed = int(seed)
    named = _named_systems(systems)
    cluster_values = None
    if clusters is not None:
        cluster_values = {str(k): str(v) for k, v in clusters.items()}
        cluster_field = cluster_field or "cluster"
    elif cluster_field:
        cluster_values = read_cluster_values(references, cluster_field, id_field=id_field)
    section_list: list[str | None] = list(sections) if sections else [None]
    if sections and len(set(section_list)) != len(section_list):
        raise ConfigError(f"sections repeat: {', '.join(map(str, section_list))}")

    per_metric, global_options = split_config(config)
    file_options = opts.load_config_file(config_file) if config_file else {}
    failed: dict[str, str] = {}  # named but cannot run here: listed as failed, the others still compared
    chosen = None
    if suite is not None:  # a named suite: its metrics and exact options (rrg_eval.suites), as score(suite=)
        from ..suites import build_suite_metrics, get_suite

        if metrics is not None:
            raise ConfigError("give either metrics or suite, not both")
        chosen = get_suite(suite)
        built, unavailable = build_suite_metrics(chosen, options=opts.merge(file_options, per_metric),
                                                 global_options=global_options, strict=strict)
    else:
        built, unavailable = build_metrics(metrics, strict=strict, options=per_metric,
                                           global_options=global_options, file_options=file_options,
                                           failed=failed)
    # read and pair everything before computing anything: id errors come first
    paired = {s: _pair_all(named, references, id_field=id_field, text_field=s or text_field) for s in section_list}
    callback = pg.resolve(progress)
    session = None
    try:
        if engine is not None:  # a rrg_eval.distributed.RayEngine: connected (or started) here, closed below
            if not callable(getattr(engine, "open", None)):
                raise ConfigError(f"engine must be a rrg_eval.distributed.RayEngine, got {engine!r}")
            session = engine.open()
        board = _compare_pairs(named, paired, built, unavailable, explicit=metrics is not None or suite is not None,
                               test=test,
                               resamples=resamples, ci_resamples=ci_resamples, seed=seed, alpha=alpha,
                               sections=list(sections) if sections else None, strict=strict,
                               cache_dir=resolve_cache_dir(cache_dir, use_cache), adjust=adjust,
                               cluster_values=cluster_values, cluster_field=cluster_field, progress=callback,
                               engine=session)
        board.errors = {**failed, **board.errors}
        board.warnings[:0] = option_warnings(metrics, config)
        if chosen is not None:
            from ..suites import suite_info

            board.suite = suite_info(chosen)
        return board
    finally:
        if session is not None:
            session.close()
        if progress is True:
            pg.finish(callback)
        for metric in built:
            metric.close()


def _compare_pairs(named: list[tuple[str, Any]], paired: dict[str | None, tuple[list[Pairs], str]],
                   metrics: list[Metric], unavailable: dict[str, str], *, explicit: bool, test: str,
                   resamples: int, ci_resamples: int, seed: int, alpha: float, sections: list[str] | None,
                   cache_dir: Path | None, strict: bool = False, adjust: str = "holm",
                   cluster_values: Mapping[str, str] | None = None, cluster_field: str | None = None,
                   progress: Any = None, engine: Any = None) -> Leaderboard:
    """Every system scored by :func:`rrg_eval.api.score_pairs` (the same metric instances), then resampled by
    :func:`build_leaderboard` (the code that ``compare_runs`` also ends in).

    A metric kept in the board ran on every system of every section; one that failed (or turned out not to
    run) on any system is listed once under its label with the first system's message, as ``score`` lists it.
    """
    from .core import Block, MetricStats

    unavailable = dict(unavailable)
    # the default metric set drops a metric that objects to any system's inputs (score's rule, every system)
    metrics, skipped = skip_for_inputs(metrics, [p for pairs_list, _ in paired.values() for p in pairs_list],
                                       explicit=explicit)
    unavailable.update(skipped)
    names = [nm for nm, _ in named]
    errors: dict[str, str] = {}
    warnings: list[str] = []
    blocks = []
    for section, (pairs_list, digest) in paired.items():
        prefix = f"{section}/" if section else ""
        where = f" ({section})" if section else ""
        results: list[Result] = []
        for name, pairs in zip(names, pairs_list):
            result = score_pairs(pairs, metrics, cache_dir=cache_dir, explicit=explicit, strict=strict,
                                 progress=pg.with_system(progress, f"{name}{f' [{section}]' if section else ''}"),
                                 engine=engine)
            warnings.extend(f"{name}{where}: {w}" for w in result.warnings)
            results.append(result)
        block = Block(prefix=prefix, design=design_for(pairs_list[0].ids, cluster_values, cluster_field))
        for metric in metrics:
            label = f"{prefix}{metric.name}"
            failed = next((r for r in results if metric.name not in r.stats), None)
            if failed is not None:
                if metric.name in failed.errors:
                    errors[label] = failed.errors[metric.name]
                else:
                    unavailable[label] = failed.unavailable.get(metric.name, "did not run")
                continue
            run_keys: list[str] = []
            for r in results:
                run_keys += [k for k, info in r.key_info.items() if info.metric == metric.name and k not in run_keys]
            info = {key: KeyInfo(metric=label, kind=metric.kind_of(key), higher_is_better=metric.higher_is_better(key))
                    for key in run_keys}
            block.metrics.append(MetricStats(
                label=label, aggregate=metric.aggregate, keys=run_keys, key_info=info,
                stats=[r.stats[metric.name] for r in results],
                scores=[{k: r.scores.get(k, math.nan) for k in run_keys} for r in results],
                signature=metric.signature(digest), batch=metric.aggregate_resamples))
        blocks.append(block)
    sources = [str(src) if isinstance(src, (str, os.PathLike)) else f"system {nm!r}" for nm, src in named]
    return build_leaderboard(names, sources, blocks, test=test, resamples=resamples, ci_resamples=ci_resamples,
                             seed=seed, alpha=alpha, adjust_method=adjust, sections=sections, warnings=warnings,
                             unavailable=unavailable, errors=errors, progress=progress)


def build_leaderboard(names: list[str], sources: list[str], blocks: list[Any], *, test: str, resamples: int,
                      ci_resamples: int, seed: int, alpha: float, **rest: Any) -> Leaderboard:
    """The leaderboard of already-computed statistics (``blocks`` of :mod:`.core`), for texts and saved runs."""
    from .core import board_fields

    entries, board = board_fields(names, sources, blocks, test=test, resamples=resamples, ci_resamples=ci_resamples,
                                  seed=seed, settings=_test_settings(test, resamples, ci_resamples, seed, alpha),
                                  rank_fn=_ranks, **rest)
    return Leaderboard(systems=[SystemScores(**entry) for entry in entries], **board)
