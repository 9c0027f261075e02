"""The regression gate (module named so that ``rrg_eval.gate`` stays the function): is a candidate run
significantly worse than the baseline run on the selected keys?

``rrg_eval.gate(candidate=..., baseline=..., metrics=[...])`` returns a :class:`GateReport`;
``rrg_eval.assert_no_regression`` raises an ``AssertionError`` whose message is the report's table (for pytest);
``rrg-eval gate`` exits 0 (no regression), 1 (a table of what regressed) or 2 (unusable input).

The test is paired and **one-sided** (the question is "worse?", not "different?"): with ``d`` the difference
candidate minus baseline, signed so that positive is better, the paired bootstrap counts the centred resampled
differences ``d* - mean(d*)`` strictly below the observed ``d`` and gives ``p = (c + 1) / (n + 1)``;
approximate randomization counts the shuffled differences strictly below ``d`` (exact permutation when
``2**units <= trials``: the share of patterns at or below ``d``). The p-values of all selected keys are adjusted
together (Holm by default). A key **regresses** when its adjusted p is below ``alpha`` and its drop (baseline
minus candidate in the better direction, in the units of the scores: fractions, not percent) exceeds the
key's ``max_drop`` (0 unless given).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import designs
from . import resampling as rs
from .clusters import design_for, read_cluster_values
from .errors import ConfigError, InputError
from .multitest import METHOD_NAMES, check_method
from .multitest import adjust as adjust_p

DEFAULT_RESAMPLES = {"bootstrap": 1000, "ar": 10000}


@dataclass(frozen=True)
class GateRow:
    """One key: both values, the difference (candidate - baseline) with its 95% bootstrap CI, the test."""

    key: str
    baseline: float
    candidate: float
    difference: float
    ci: tuple[float, float]
    p_value: float
    p_adjusted: float
    max_drop: float
    higher_is_better: bool
    regressed: bool

    @property
    def drop(self) -> float:
        """How much worse the candidate is, in the key's better direction (negative: it is better)."""
        return -self.difference if self.higher_is_better else self.difference


@dataclass
class GateReport:
    """The gate's verdict over the selected keys."""

    rows: list[GateRow]
    alpha: float
    adjust: str
    test: dict[str, Any]
    n: int
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(r.regressed for r in self.rows)

    @property
    def regressions(self) -> list[GateRow]:
        return [r for r in self.rows if r.regressed]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "alpha": self.alpha, "adjust": self.adjust, "test": dict(self.test), "n": self.n,
                "rows": [{"key": r.key, "baseline": r.baseline, "candidate": r.candidate,
                          "difference": r.difference, "ci": list(r.ci), "p_value": r.p_value,
                          "p_adjusted": r.p_adjusted, "max_drop": r.max_drop, "regressed": r.regressed}
                         for r in self.rows],
                "warnings": list(self.warnings)}

    def table(self, only_regressions: bool = False) -> str:
        """A plain-text table (fractions shown x100) and a one-line verdict."""
        return render_gate(self, only_regressions=only_regressions)


def _pct(value: float) -> str:
    return "n/a" if value != value else f"{100 * value:.2f}"


def render_gate(report: GateReport, *, only_regressions: bool = False) -> str:
    """Pure rendering of a report: one row per key, then the verdict and the test."""
    rows = report.regressions if only_regressions else report.rows
    header = ["key", "baseline", "candidate", "difference", "95% CI", "p", "p adjusted", "max drop", "verdict"]
    body = []
    for r in rows:
        verdict = "REGRESSED" if r.regressed else "ok"
        body.append([r.key + ("" if r.higher_is_better else " (lower is better)"), _pct(r.baseline),
                     _pct(r.candidate), ("+" if r.difference > 0 else "") + _pct(r.difference),
                     f"[{_pct(r.ci[0])}, {_pct(r.ci[1])}]", f"{r.p_value:.4g}", f"{r.p_adjusted:.4g}",
                     _pct(r.max_drop), verdict])
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in body]
    t = report.test
    how = (f"paired bootstrap, {t['resamples']} resamples" if t["name"] == "bootstrap"
           else f"{'exact permutation' if t.get('exact') else 'approximate randomization'}, {t['trials']} trials")
    n_bad = len(report.regressions)
    verdict = ("no regression" if report.ok else f"{n_bad} key(s) significantly worse than the baseline")
    lines += ["", f"{verdict} ({report.n} reports; one-sided {how}, seed {t['seed']}; "
              f"{METHOD_NAMES[report.adjust]} over {len(report.rows)} key(s); alpha {report.alpha:g}; "
              f"p floor {t['p_floor']:.3g}; values x100)"]
    lines += [f"warning: {w}" for w in report.warnings]
    return "\n".join(lines) + "\n"


def _key_hint(key: str) -> str:
    """For a key that a registered metric produces only under some options (``bertscore_cxr_f1``): which."""
    from .errors import ConfigError
    from .metrics.registry import key_source, options_note

    try:
        name, options = key_source(key)
    except ConfigError:
        return ""
    if not options:
        return ""
    return f"; {key} is produced by {name}{options_note(options)}, which the baseline run did not use"


def _select_keys(baseline: Any, candidate: Any, metrics: Iterable[str] | str | None) -> list[str]:
    """Keys named directly or through their metric; every one must be in both runs."""
    if metrics is None:
        wanted = [k for k in baseline.key_info if k in candidate.key_info]
    else:
        names = [m.strip() for m in (metrics.split(",") if isinstance(metrics, str) else metrics) if m.strip()]
        wanted = []
        for name in names:
            keys = [name] if name in baseline.key_info else [k for k, i in baseline.key_info.items()
                                                            if i.metric == name]
            if not keys:
                known = ", ".join(sorted(set(baseline.key_info) | {i.metric for i in baseline.key_info.values()}))
                raise InputError(f"{name!r} is neither a score key nor a metric of the baseline run (known: {known})"
                                 + _key_hint(name))
            wanted += [k for k in keys if k not in wanted]
    for key in wanted:
        if key not in candidate.key_info:
            raise InputError(f"key {key!r} is not in the candidate run")
    if not wanted:
        raise InputError("no score key to gate on")
    return wanted


def gate(*, candidate: Any, baseline: Any, metrics: Iterable[str] | str | None = None, alpha: float = 0.05,
         max_drop: Mapping[str, float] | None = None, test: str = "bootstrap", resamples: int | None = None,
         seed: int = 12345, adjust: str = "holm", cluster_field: str | None = None,
         references: Any = None) -> GateReport:
    """Test whether ``candidate`` is significantly worse than ``baseline`` (saved runs or Results)."""
    from .leaderboard.from_runs import check_compatible, rebuild_metric, run_clusters
    from .runs import as_run

    if test not in DEFAULT_RESAMPLES:
        raise ConfigError(f"unknown test {test!r}; valid tests: bootstrap, ar")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be between 0 and 1, got {alpha}")
    check_method(adjust)
    resamples = DEFAULT_RESAMPLES[test] if resamples is None else int(resamples)
    if resamples < 1:
        raise ConfigError(f"resamples must be at least 1, got {resamples}")
    base_src = str(baseline) if not hasattr(baseline, "stats") else "baseline"
    cand_src = str(candidate) if not hasattr(candidate, "stats") else "candidate"
    base = as_run(baseline, role=base_src)
    cand = as_run(candidate, role=cand_src)
    keys = _select_keys(base, cand, metrics)
    metric_names = list(dict.fromkeys(base.key_info[k].metric for k in keys))
    pair = [("baseline", base_src, base), ("candidate", cand_src, cand)]
    check_compatible(pair, metric_names)
    limits = {str(k): float(v) for k, v in (max_drop or {}).items()}
    unknown = [k for k in limits if k not in keys]
    if unknown:
        raise ConfigError(f"--max-drop names key(s) not gated: {', '.join(unknown)} (gated: {', '.join(keys)})")
    values = None
    if cluster_field:
        values = (read_cluster_values(references, cluster_field) if references is not None
                  else run_clusters(pair, cluster_field))
        if values is None:
            raise InputError(f"--cluster-field {cluster_field}: the runs hold no such clusters")
    design = design_for(base.ids, values, cluster_field)
    boot = designs.bootstrap_rows(design, resamples if test == "bootstrap" else 1000, seed)
    masks, exact = (designs.swap_masks(design, resamples, seed) if test == "ar" else (None, False))
    raw: dict[str, float] = {}
    diffs: dict[str, tuple[float, tuple[float, float]]] = {}
    for name in metric_names:
        metric = rebuild_metric(name, base.options.get(name, {}))
        try:
            mkeys = [k for k in keys if base.key_info[k].metric == name]
            b_stats, c_stats = base.stats[name], cand.stats[name]
            b_obs, c_obs = metric.aggregate(b_stats), metric.aggregate(c_stats)
            b_boot = rs.resampled_scores(metric.aggregate, b_stats, boot, mkeys, batch=metric.aggregate_resamples)
            c_boot = rs.resampled_scores(metric.aggregate, c_stats, boot, mkeys, batch=metric.aggregate_resamples)
            identical = rs.stats_identical(b_stats, c_stats)
            if test == "ar" and not identical:
                ar_a, ar_b = rs.ar_scores(metric.aggregate, b_stats, c_stats, masks, mkeys,
                                              batch=metric.aggregate_resamples)
            for key in mkeys:
                sign = 1.0 if base.key_info[key].higher_is_better else -1.0
                observed = float(c_obs[key]) - float(b_obs[key])
                diffs[key] = (observed, rs.percentile_ci(c_boot[key] - b_boot[key]))
                signed = sign * observed
                if identical:
                    raw[key] = 1.0
                elif test == "bootstrap":
                    null = sign * (c_boot[key] - b_boot[key])
                    raw[key] = one_sided_p(null - null.mean(), signed)
                elif exact:
                    raw[key] = exact_one_sided_p(sign * (ar_b[key] - ar_a[key]), signed)
                else:
                    raw[key] = one_sided_p(sign * (ar_b[key] - ar_a[key]), signed)
        finally:
            metric.close()
    adjusted = dict(zip(keys, adjust_p(np.array([raw[k] for k in keys]), adjust)))
    rows = []
    for key in keys:
        info = base.key_info[key]
        observed, ci = diffs[key]
        drop = -observed if info.higher_is_better else observed
        limit = limits.get(key, 0.0)
        regressed = bool(adjusted[key] < alpha and drop > 0 and drop > limit)
        rows.append(GateRow(key=key, baseline=float(base.scores.get(key, math.nan)),
                            candidate=float(cand.scores.get(key, math.nan)), difference=observed, ci=ci,
                            p_value=raw[key], p_adjusted=float(adjusted[key]), max_drop=limit,
                            higher_is_better=info.higher_is_better, regressed=regressed))
    settings: dict[str, Any] = {"name": test, "seed": int(seed), "sided": "one-sided (worse)",
                                **design.describe(), "p_floor": designs.p_floor(design, test, resamples)}
    settings["resamples" if test == "bootstrap" else "trials"] = resamples
    if test == "ar":
        settings["exact"] = exact
    return GateReport(rows=rows, alpha=alpha, adjust=adjust, test=settings, n=base.n)


def one_sided_p(null: np.ndarray, observed: float) -> float:
    """``(c + 1) / (n + 1)``, ``c`` = null differences strictly below the observed (signed: negative is worse)."""
    values = np.asarray(null, dtype=float)
    if observed != observed:
        return float("nan")
    return (int(np.sum(values < observed)) + 1) / (len(values) + 1)


def exact_one_sided_p(permuted: np.ndarray, observed: float) -> float:
    """Share of all swap patterns whose signed difference is at or below the observed one (ties count)."""
    values = np.asarray(permuted, dtype=float)
    if observed != observed:
        return float("nan")
    threshold = observed + designs.EXACT_TOLERANCE * max(1.0, abs(observed))
    return float(np.sum(values <= threshold)) / len(values)


def assert_no_regression(candidate: Any, baseline: Any, *, metrics: Iterable[str] | str | None = None,
                         alpha: float = 0.05, max_drop: Mapping[str, float] | None = None,
                         **settings: Any) -> GateReport:
    """Raise ``AssertionError`` (message: the table of regressed keys) when the gate fails; else the report."""
    report = gate(candidate=candidate, baseline=baseline, metrics=metrics, alpha=alpha, max_drop=max_drop,
                  **settings)
    if not report.ok:
        raise AssertionError("regression against the baseline:\n" + report.table(only_regressions=True))
    return report
