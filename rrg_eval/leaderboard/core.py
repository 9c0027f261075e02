"""The statistics of a leaderboard from per-report statistics already computed (from texts or saved runs).

:func:`build_leaderboard` takes, per section, the resampling design and every metric's statistics for every
system, and returns the :class:`~rrg_eval.leaderboard.Leaderboard`: scores, 95% bootstrap CIs, paired tests
against the baseline (raw and adjusted p-values), effect sizes (system minus baseline with its bootstrap CI),
ranks and rank intervals. ``rrg_eval.compare`` (texts) and ``rrg_eval.compare_runs`` (saved runs) both end here,
so a leaderboard from saved runs equals the one computed from the texts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import designs
from .. import progress as pg
from .. import resampling as rs
from ..multitest import METHOD_NAMES, adjust
from ..ranking import rank_intervals
from ..result import KeyInfo
from ..stats import Stats


@dataclass
class MetricStats:
    """One metric's statistics for every system of a section (``label`` is ``bleu`` or ``findings/bleu``)."""

    label: str
    aggregate: Callable[[Stats], Mapping[str, float]]
    keys: list[str]
    key_info: dict[str, KeyInfo]
    stats: list[Stats]
    scores: list[dict[str, float]]
    signature: str
    batch: rs.BatchAggregate | None = None  # the metric's vectorised ``aggregate_resamples``, when it has one


@dataclass
class Block:
    """A section (or the whole report when there are none): its design and metrics."""

    prefix: str
    design: designs.Design
    metrics: list[MetricStats] = field(default_factory=list)


def test_signature(test: str, resamples: int, ci_resamples: int, seed: int, design: designs.Design) -> str:
    """The suffix added to every metric signature: ``|bs:1000|seed:12345`` (``|cluster:FIELD`` when clustered)."""
    sig = (f"bs:{resamples}" if test == "bootstrap" else f"ar:{resamples}|bs:{ci_resamples}") + f"|seed:{seed}"
    if design.clustered:
        sig += f"|cluster:{design.field}"
    return sig


def board_fields(names: list[str], sources: list[str], blocks: list[Block], *, test: str, resamples: int,
                 ci_resamples: int, seed: int, adjust_method: str, sections: list[str] | None, warnings: list[str],
                 unavailable: dict[str, str], errors: dict[str, str], settings: dict[str, Any],
                 rank_fn: Callable[[list[float], bool], list[int | None]],
                 progress: Callable[[pg.ProgressEvent], None] | None = None,
                 ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Resample every metric of every block with shared indices; see the module docstring.

    ``progress`` gets a ``resample`` event before each metric and one when all are done.

    Returns the keyword arguments of every ``SystemScores`` and of the ``Leaderboard`` (assembled by
    :func:`rrg_eval.leaderboard.leaderboard.build_leaderboard`, so that this module imports no data class).
    """
    k = len(names)
    keys: list[str] = []
    key_info: dict[str, KeyInfo] = {}
    signatures: dict[str, str] = {}
    scores: list[dict[str, float]] = [{} for _ in names]
    cis: list[dict[str, tuple[float, float]]] = [{} for _ in names]
    p_values: list[dict[str, float]] = [{} for _ in names]
    delta_cis: list[dict[str, tuple[float, float]]] = [{} for _ in names]
    rank_ci: list[dict[str, tuple[float, float]]] = [{} for _ in names]
    p_first: list[dict[str, float]] = [{} for _ in names]
    n_total = 0
    design_info: dict[str, Any] = {"cluster_field": None}
    floor = math.nan
    exact = False
    total_runs = sum(len(block.metrics) for block in blocks)
    runs_done = 0
    for block in blocks:
        design = block.design
        n_total = max(n_total, design.n)
        if design.clustered:
            design_info = design.describe()
        boot = designs.bootstrap_rows(design, ci_resamples, seed)
        if test == "bootstrap":
            test_idx = boot if ci_resamples == resamples else designs.bootstrap_rows(design, resamples, seed)
        else:
            test_idx, exact = designs.swap_masks(design, resamples, seed)
        floor = designs.p_floor(design, test, resamples)
        suffix = test_signature(test, resamples, ci_resamples, seed, design)
        for run in block.metrics:
            pg.emit(progress, pg.RESAMPLE, done=runs_done, total=total_runs, detail=run.label)
            runs_done += 1
            signatures[run.label] = f"{run.signature}|{suffix}"
            full = [block.prefix + key for key in run.keys]
            for key, name in zip(run.keys, full):
                keys.append(name)
                key_info[name] = run.key_info[key]
            boot_scores = [rs.resampled_scores(run.aggregate, st, boot, run.keys, batch=run.batch)
                           for st in run.stats]
            if test == "bootstrap":
                test_scores = boot_scores if test_idx is boot else [
                    rs.resampled_scores(run.aggregate, st, test_idx, run.keys, batch=run.batch) for st in run.stats]
            for i in range(k):
                for key, name in zip(run.keys, full):
                    scores[i][name] = float(run.scores[i].get(key, math.nan))
                    cis[i][name] = rs.percentile_ci(boot_scores[i][key])
            for key, name in zip(run.keys, full):
                better = run.key_info[key].higher_is_better
                for i, (interval, first) in enumerate(rank_intervals([b[key] for b in boot_scores], better)):
                    rank_ci[i][name] = interval
                    p_first[i][name] = first
            for i in range(1, k):
                identical = rs.stats_identical(run.stats[0], run.stats[i])
                if test == "ar" and not identical:
                    ar_a, ar_b = rs.ar_scores(run.aggregate, run.stats[0], run.stats[i], test_idx, run.keys,
                                              batch=run.batch)
                for key, name in zip(run.keys, full):
                    observed = scores[i][name] - scores[0][name]
                    delta_cis[i][name] = rs.percentile_ci(boot_scores[i][key] - boot_scores[0][key])
                    if identical:
                        p_values[i][name] = 1.0
                    elif test == "bootstrap":
                        p_values[i][name] = rs.paired_bootstrap_p(test_scores[i][key], test_scores[0][key],
                                                                  observed)
                    elif exact:
                        p_values[i][name] = designs.exact_p(np.abs(ar_a[key] - ar_b[key]), observed)
                    else:
                        p_values[i][name] = rs.ar_p(ar_a[key], ar_b[key], observed)
    pg.emit(progress, pg.RESAMPLE, done=runs_done, total=total_runs)
    adjusted = _adjust_all(p_values, keys, adjust_method)
    rank_table: list[dict[str, int | None]] = [{} for _ in names]
    for key in keys:
        for i, r in enumerate(rank_fn([scores[i][key] for i in range(k)], key_info[key].higher_is_better)):
            rank_table[i][key] = r
    entries = []
    for i, (name, source) in enumerate(zip(names, sources)):
        given = [r for r in rank_table[i].values() if r is not None]
        effects = None
        if i:
            effects = {key: {"difference": scores[i][key] - scores[0][key], "ci": delta_cis[i][key]} for key in keys}
        entries.append(dict(
            name=name, source=source, scores=scores[i], ci=cis[i], ranks=rank_table[i],
            mean_rank=float(np.mean(given)) if given else math.nan,
            p_values=p_values[i] if i else None, delta_ci=delta_cis[i] if i else None,
            p_adjusted=adjusted[i] if i else None, effects=effects, rank_ci=rank_ci[i], p_first=p_first[i]))
    settings = dict(settings)
    settings.update(adjust=adjust_method, adjust_description=METHOD_NAMES[adjust_method],
                    tests=sum(1 for p in adjusted for v in p.values() if v == v), p_floor=floor, **design_info)
    if test == "ar":
        settings["exact"] = exact
        if exact:
            settings["p_value"] = ("exact permutation test over all 2^units swap patterns: p = share of patterns "
                                   "with |difference| >= the observed one (ties count, relative tolerance "
                                   f"{designs.EXACT_TOLERANCE:g}); identical per-report statistics give p = 1")
    return entries, dict(baseline=names[0], keys=keys, key_info=key_info, test=settings, signatures=signatures,
                         n=n_total, sections=sections, warnings=warnings, unavailable=unavailable, errors=errors)


def _adjust_all(p_values: list[dict[str, float]], keys: list[str], method: str) -> list[dict[str, float]]:
    """Adjust every (system, key) p-value together; the baseline's row stays empty."""
    cells = [(i, key) for i in range(1, len(p_values)) for key in keys if key in p_values[i]]
    raw = np.array([p_values[i][key] for i, key in cells], dtype=float)
    values = adjust(raw, method) if len(raw) else raw
    out: list[dict[str, float]] = [{} for _ in p_values]
    for (i, key), value in zip(cells, values):
        out[i][key] = float(value)
    return out
