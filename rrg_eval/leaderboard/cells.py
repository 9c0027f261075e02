"""What every leaderboard rendering shares: cell texts, column labels, the footer sentences.

Used by the text renderers (:mod:`.render`) and the HTML page (:mod:`.html`); imports no renderer.
"""

from __future__ import annotations

import math

from ..render import display_label, display_value
from ..version import __version__
from .leaderboard import Leaderboard, SystemScores

MARK = "*"  # significantly better than the baseline
WORSE_MARK = "†"  # significantly worse than the baseline (a dagger)


def fmt_value(value: float, lb: Leaderboard, key: str) -> str:
    return display_value(value, lb.key_info[key])


def column_label(lb: Leaderboard, key: str) -> str:
    """A column header: the key without its section prefix, with "(%)" / "↓" as ``display_label`` adds."""
    short = key.split("/", 1)[1] if lb.sections and "/" in key else key
    return display_label(short, lb.key_info[key])


def cell_mark(lb: Leaderboard, entry: SystemScores, key: str) -> str:
    """``*`` (significantly better than the baseline), ``†`` (significantly worse) or ``""``."""
    return {"better": MARK, "worse": WORSE_MARK}.get(lb.significance(entry.name, key) or "", "")


def cell_value(lb: Leaderboard, entry: SystemScores, key: str) -> str:
    """The value as tables show it, with the significance mark."""
    return fmt_value(entry.scores.get(key, math.nan), lb, key) + cell_mark(lb, entry, key)


def cell_ci(lb: Leaderboard, entry: SystemScores, key: str) -> str:
    """The 95% CI as tables show it: ``[low, high]``."""
    lo, hi = entry.ci.get(key, (math.nan, math.nan))
    return f"[{fmt_value(lo, lb, key)}, {fmt_value(hi, lb, key)}]"


def system_label(lb: Leaderboard, entry: SystemScores) -> str:
    return f"{entry.name} (baseline)" if entry.name == lb.baseline else entry.name


def shared_columns(lb: Leaderboard) -> list[tuple[str, list[str | None]]]:
    """Columns of a table with one block per section: ``[(label, [full key or None per block])]``."""
    blocks = lb.section_keys()
    columns: dict[str, list[str | None]] = {}
    for b, (_, keys) in enumerate(blocks):
        for key in keys:
            columns.setdefault(column_label(lb, key), [None] * len(blocks))[b] = key
    return list(columns.items())


def block_mean_rank(entry: SystemScores, keys: list[str]) -> float:
    """Mean rank over ``keys`` (a section's block); the overall mean rank when there are no sections."""
    ranks = [entry.ranks[k] for k in keys if entry.ranks.get(k) is not None]
    return sum(ranks) / len(ranks) if ranks else math.nan  # type: ignore[arg-type]


def rank_text(value: float) -> str:
    return "n/a" if value != value else f"{value:.2f}"


def test_sentence(lb: Leaderboard) -> str:
    """The test and its settings, in words."""
    t = lb.test
    if t["name"] == "bootstrap":
        how = f"paired bootstrap, {t['resamples']} resamples"
    else:
        how = f"approximate randomization, {t['trials']} trials"
    return f"{how}, seed {t['seed']}"


def footer_lines(lb: Leaderboard, *, name=lambda s: s, rank_intervals: bool = True) -> list[str]:  # type: ignore[no-untyped-def]
    """What every human table states under it: units, CI method, significance test, ranks, n.

    ``name`` escapes the system names (user-derived) for the output format. ``rank_intervals``: whether the
    output shows the rank intervals (and so explains them).
    """
    t = lb.test
    lines = [
        f"rrg-eval {__version__}: {len(lb.systems)} systems on {lb.n} reports; baseline: {name(lb.baseline)}; "
        "fractions shown x100 (%).",
        f"[low, high]: 95% percentile bootstrap CI ({t['ci_resamples']} resamples, seed {t['seed']}).",
        f"{MARK} significantly better, {WORSE_MARK} significantly worse than the baseline: two-sided "
        f"{test_sentence(lb)}; "
        + (f"{adjustment_words(t)} p < {t['alpha']:g}." if "adjust" in t else f"p < {t['alpha']:g}."),
        "Ranks: 1 = best on a key (ties share the better rank); mean rank = mean over the keys"
        + (" of the block." if lb.sections else "."),
    ]
    if t.get("cluster_field"):
        lines.append(f"Resampling by cluster: {t['clusters']} clusters of field {t['cluster_field']}.")
    if rank_intervals and has_rank_intervals(lb):
        lines.append("Rank intervals: 95% bootstrap interval of each rank, and how often the system ranks first.")
    if lb.sections and len(lb.sections) > 1:
        lines.append("Mean rank over all sections: "
                     + ", ".join(f"{name(s.name)} {rank_text(s.mean_rank)}" for s in lb.systems) + ".")
    return lines


def adjustment_words(t: dict) -> str:  # type: ignore[type-arg]
    """``Holm-adjusted (12 tests; ...)``: the adjustment, the number of tests and the design's p-value floor."""
    method = {"holm": "Holm-adjusted", "bh": "Benjamini-Hochberg-adjusted", "none": "unadjusted"}[t["adjust"]]
    words = f"{method} ({t.get('tests', 0)} tests"
    if t.get("exact"):
        words += ", exact permutation"
    if t.get("p_floor") is not None and t["p_floor"] == t["p_floor"]:
        words += f"; no p-value below {t['p_floor']:.3g} with this design"
    return words + ")"


def has_rank_intervals(lb: Leaderboard) -> bool:
    return any(entry.rank_ci for entry in lb.systems)


def rank_interval_text(entry: SystemScores, key: str) -> str:
    """``1 [1-2] 63%``: the rank, its 95% interval, and the share of resamples where the system is first."""
    rank = entry.ranks.get(key)
    lo, hi = (entry.rank_ci or {}).get(key, (math.nan, math.nan))
    first = (entry.p_first or {}).get(key, math.nan)
    if rank is None or lo != lo:
        return "n/a"
    return f"{rank} [{lo:.0f}-{hi:.0f}] {100 * first:.0f}%"


def signature_lines(lb: Leaderboard) -> list[str]:
    """Every metric's signature; prefixed by its section when sections are compared."""
    if lb.sections:
        return [f"{label.split('/', 1)[0]}: {sig}" for label, sig in lb.signatures.items()]
    return list(lb.signatures.values())
