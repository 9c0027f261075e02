"""Leaderboard plots: one panel per metric (and section), every system's scores with their 95% CIs.

Keys of one metric (``bleu1``..``bleu4``) share a panel along its x axis; systems sit side by side at each key,
coloured consistently across panels. Values significantly better than the baseline are drawn as stars.
Returns PNG or SVG bytes; matplotlib is imported here only (``pip install 'rrg-eval[compare]'``).
"""

from __future__ import annotations

import io
import math

from ..errors import ConfigError
from ..escape import plot_text
from .leaderboard import Leaderboard

PLOT_FORMATS = ("png", "svg")
RANK_TITLE = "rank (95% bootstrap interval)"


def _draw_ranks(ax, lb: Leaderboard, keys: list[str], colors: list[str], width: float) -> None:  # type: ignore[no-untyped-def]
    """The rank panel: every system's rank on every key with its bootstrap interval (rank 1 at the top)."""
    for s, entry in enumerate(lb.systems):
        xs, ys, lows, highs = [], [], [], []
        for k, key in enumerate(keys):
            rank = entry.ranks.get(key)
            lo, hi = (entry.rank_ci or {}).get(key, (math.nan, math.nan))
            if rank is None or lo != lo:
                continue
            xs.append(k - 0.4 + width * (s + 0.5))
            ys.append(rank)
            lows.append(max(0.0, rank - lo))
            highs.append(max(0.0, hi - rank))
        ax.errorbar(xs, ys, yerr=[lows, highs], fmt="s", color=colors[s], ecolor=colors[s], elinewidth=1.4,
                    capsize=3, markersize=4)
    short = [k.split("/", 1)[1] if lb.sections and "/" in k else k for k in keys]
    ax.set_xticks(range(len(keys)))
    many = len(keys) > 4
    ax.set_xticklabels([plot_text(k) for k in short], fontsize=7, rotation=45 if many else 0,
                       ha="right" if many else "center")
    ax.set_xlim(-0.6, len(keys) - 0.4)
    ax.set_ylim(len(lb.systems) + 0.5, 0.5)
    ax.set_yticks(range(1, len(lb.systems) + 1))
    ax.set_title(RANK_TITLE, fontsize=10)
    ax.set_ylabel("rank", fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="y", alpha=0.3)


def _panels(lb: Leaderboard) -> list[tuple[str, list[str]]]:
    """``[(title, keys)]``: one panel per metric label (``bleu`` or ``findings/bleu``), keys in table order."""
    panels: dict[str, list[str]] = {}
    for key in lb.keys:
        panels.setdefault(lb.key_info[key].metric, []).append(key)
    return list(panels.items())


def _scale(lb: Leaderboard, key: str) -> float:
    return 100.0 if lb.key_info[key].kind in ("fraction", "rate") else 1.0


def plot_leaderboard(lb: Leaderboard, fmt: str = "png", *, dpi: int = 120) -> bytes:
    """Draw the leaderboard; ``fmt`` is ``png`` or ``svg``."""
    if fmt not in PLOT_FORMATS:
        raise ConfigError(f"unknown plot format {fmt!r}; valid: {', '.join(PLOT_FORMATS)} (from the file suffix)")
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("plots need matplotlib: pip install 'rrg-eval[compare]'") from None
    panels = _panels(lb)
    if not panels:
        raise ConfigError("nothing to plot: no metric produced scores")
    rank_panel = len(panels) if any(e.rank_ci for e in lb.systems) else None
    if rank_panel is not None:
        panels.append((RANK_TITLE, list(lb.keys)))
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    per_key = max(0.9, 0.28 * len(lb.systems))
    if nrows == 1:  # one row: each panel as wide as its keys need
        ratios = [max(1.8, len(keys)) for _, keys in panels]
    else:
        ratios = [max(1.8, max(len(keys) for _, keys in panels))] * ncols
    size = (max(5.0, sum(ratios) * per_key + 0.9 * ncols), 3.0 * nrows + 0.8)
    fig = Figure(figsize=size, dpi=dpi, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, gridspec_kw={"width_ratios": ratios})
    colors = [f"C{i % 10}" for i in range(len(lb.systems))]
    width = 0.8 / max(1, len(lb.systems))
    handles = []
    for index, (title, keys) in enumerate(panels):
        ax = axes[index // ncols][index % ncols]
        if index == rank_panel:
            _draw_ranks(ax, lb, keys, colors, width)
            continue
        for s, entry in enumerate(lb.systems):
            xs, ys, lows, highs, stars, worse = [], [], [], [], [], []
            for k, key in enumerate(keys):
                scale = _scale(lb, key)
                value = entry.scores.get(key, math.nan) * scale
                lo, hi = entry.ci.get(key, (math.nan, math.nan))
                xs.append(k - 0.4 + width * (s + 0.5))
                ys.append(value)
                lows.append(max(0.0, value - lo * scale) if lo == lo else 0.0)
                highs.append(max(0.0, hi * scale - value) if hi == hi else 0.0)
                stars.append(lb.significantly_better(entry.name, key))
                worse.append(lb.significantly_worse(entry.name, key))
            handle = ax.errorbar(xs, ys, yerr=[lows, highs], fmt="o", color=colors[s], ecolor=colors[s],
                                 elinewidth=1.4, capsize=3, markersize=5, label=plot_text(entry.name))
            sig_x = [x for x, flag in zip(xs, stars) if flag]
            sig_y = [y for y, flag in zip(ys, stars) if flag]
            if sig_x:
                ax.plot(sig_x, sig_y, linestyle="none", marker="*", markersize=12, color=colors[s],
                        markeredgecolor="black", markeredgewidth=0.6)
            down_x = [x for x, flag in zip(xs, worse) if flag]
            down_y = [y for y, flag in zip(ys, worse) if flag]
            if down_x:
                ax.plot(down_x, down_y, linestyle="none", marker="v", markersize=10, color=colors[s],
                        markeredgecolor="black", markeredgewidth=0.6)
            if index == 0:
                handles.append(handle)
        info = lb.key_info[keys[0]]
        short = [k.split("/", 1)[1] if lb.sections and "/" in k else k for k in keys]
        ax.set_xticks(range(len(keys)))
        ax.set_xticklabels([plot_text(k) for k in short], fontsize=8)
        ax.set_xlim(-0.6, len(keys) - 0.4)
        unit = "%" if info.kind in ("fraction", "rate") else "score"
        arrow = "" if info.higher_is_better else " (lower is better)"
        ax.set_title(plot_text(title) + arrow, fontsize=10)
        ax.set_ylabel(unit, fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.ticklabel_format(axis="y", useOffset=False, style="plain")
    for index in range(len(panels), nrows * ncols):
        axes[index // ncols][index % ncols].set_visible(False)
    t = lb.test
    test = (f"paired bootstrap, {t['resamples']} resamples" if t["name"] == "bootstrap"
            else f"approximate randomization, {t['trials']} trials")
    adjusted = {"holm": "Holm-adjusted ", "bh": "BH-adjusted "}.get(t.get("adjust", ""), "")
    fig.suptitle(f"{len(lb.systems)} systems, {lb.n} reports; error bars: 95% bootstrap CIs\n"
                 f"★ significantly better, ▼ significantly worse than {plot_text(lb.baseline)} "
                 f"({adjusted}p < {t['alpha']:g}, {test}, "
                 f"seed {t['seed']})",
                 fontsize=9)
    fig.legend(handles=handles, labels=[plot_text(e.name) for e in lb.systems], loc="outside lower center",
               ncol=min(len(lb.systems), 6), fontsize=8, frameon=False)
    out = io.BytesIO()
    metadata = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
    with matplotlib.rc_context({"svg.hashsalt": "rrg-eval", "svg.fonttype": "path"}):
        fig.savefig(out, format=fmt, metadata=metadata)
    return out.getvalue()
