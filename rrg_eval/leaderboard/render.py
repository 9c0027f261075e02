"""Pure rendering of a :class:`~rrg_eval.leaderboard.Leaderboard`: rich table, Markdown, LaTeX, CSV, JSON, HTML.

Human tables show fractions x100 with two decimals (``rrg_eval.render.display_value``), each value with its
95% CI in brackets; values significantly better than the baseline carry a ``*``. The test, its settings and
the metric signatures form the footer. CSV and JSON keep full precision.
"""

from __future__ import annotations

import csv
import io
import math

from ..errors import ConfigError
from ..escape import csv_cell, latex_comment, latex_text, markdown_code, markdown_text, one_line
from ..render import display_label, display_value
from ..version import __version__
from .leaderboard import Leaderboard, SystemScores

FORMATS = ("table", "markdown", "latex", "csv", "json", "html")
MARK = "*"


def _fmt(value: float, lb: Leaderboard, key: str) -> str:
    return display_value(value, lb.key_info[key])


def column_label(lb: Leaderboard, key: str) -> str:
    """A column header: the key without its section prefix, with "(%)" / "↓" as ``display_label`` adds."""
    short = key.split("/", 1)[1] if lb.sections and "/" in key else key
    return display_label(short, lb.key_info[key])


def cell_value(lb: Leaderboard, entry: SystemScores, key: str) -> str:
    """The value as tables show it, with the significance mark."""
    text = _fmt(entry.scores.get(key, math.nan), lb, key)
    return text + MARK if lb.significantly_better(entry.name, key) else text


def cell_ci(lb: Leaderboard, entry: SystemScores, key: str) -> str:
    """The 95% CI as tables show it: ``[low, high]``."""
    lo, hi = entry.ci.get(key, (math.nan, math.nan))
    return f"[{_fmt(lo, lb, key)}, {_fmt(hi, lb, key)}]"


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


def _rank_text(value: float) -> str:
    return "n/a" if value != value else f"{value:.2f}"


def test_sentence(lb: Leaderboard) -> str:
    """The test and its settings, in words."""
    t = lb.test
    if t["name"] == "bootstrap":
        how = f"paired bootstrap, {t['resamples']} resamples"
    else:
        how = f"approximate randomization, {t['trials']} trials"
    return f"{how}, seed {t['seed']}"


def footer_lines(lb: Leaderboard, *, name=lambda s: s) -> list[str]:  # type: ignore[no-untyped-def]
    """What every human table states under it: units, CI method, significance test, ranks, n.

    ``name`` escapes the system names (user-derived) for the output format.
    """
    t = lb.test
    lines = [
        f"rrg-eval {__version__}: {len(lb.systems)} systems on {lb.n} reports; baseline: {name(lb.baseline)}; "
        "fractions shown x100 (%).",
        f"[low, high]: 95% percentile bootstrap CI ({t['ci_resamples']} resamples, seed {t['seed']}).",
        f"{MARK} significantly better than the baseline: two-sided {test_sentence(lb)}; "
        f"p < {t['alpha']:g}.",
        "Ranks: 1 = best on a key (ties share the better rank); mean rank = mean over the keys"
        + (" of the block." if lb.sections else "."),
    ]
    if lb.sections and len(lb.sections) > 1:
        lines.append("Mean rank over all sections: "
                     + ", ".join(f"{name(s.name)} {_rank_text(s.mean_rank)}" for s in lb.systems) + ".")
    return lines


def signature_lines(lb: Leaderboard) -> list[str]:
    """Every metric's signature; prefixed by its section when sections are compared."""
    if lb.sections:
        return [f"{label.split('/', 1)[0]}: {sig}" for label, sig in lb.signatures.items()]
    return list(lb.signatures.values())


def _extra_lines(lb: Leaderboard, *, bullet: str, code, text=lambda s: s) -> list[str]:  # type: ignore[no-untyped-def]
    lines: list[str] = []
    if lb.signatures:
        lines += ["", "signatures:"]
        lines += [f"{bullet}{code(sig)}" for sig in signature_lines(lb)]
    if lb.warnings:
        lines += ["", "warnings:"]
        lines += [f"{bullet}{text(w)}" for w in lb.warnings]
    if lb.unavailable:
        lines += ["", "not run (unavailable):"]
        lines += [f"{bullet}{text(f'{m}: {why}')}" for m, why in lb.unavailable.items()]
    if lb.errors:
        lines += ["", "failed:"]
        lines += [f"{bullet}{text(f'{m}: {why}')}" for m, why in lb.errors.items()]
    return lines


# -- terminal --------------------------------------------------------------------------------------------------

def render_table(lb: Leaderboard) -> str:
    """A rich table for the terminal (plain text, no colour codes), one block of rows per section."""
    try:
        from rich import box
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        raise ConfigError("the terminal table needs rich: pip install 'rrg-eval[compare]' "
                          "(or use --format markdown)") from None
    blocks = lb.section_keys()
    columns = shared_columns(lb)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title=None)
    table.add_column("system", justify="left", no_wrap=True)
    for label, _ in columns:
        table.add_column(label, justify="right", no_wrap=True)
    table.add_column("mean rank", justify="right", no_wrap=True)
    for b, (section, block_keys) in enumerate(blocks):
        if section is not None:
            table.add_row(f"[{one_line(section)}]", *([""] * (len(columns) + 1)))
        for entry in lb.systems:
            cells = [f"{cell_value(lb, entry, k[b])}\n{cell_ci(lb, entry, k[b])}" if k[b] else "" for _, k in columns]
            table.add_row(one_line(system_label(lb, entry)), *cells, _rank_text(block_mean_rank(entry, block_keys)))
        if b < len(blocks) - 1:
            table.add_section()
    out = io.StringIO()
    console = Console(file=out, width=4000, color_system=None, force_terminal=False, highlight=False,
                      emoji=False, markup=False, legacy_windows=False)
    console.print(table)
    body = "\n".join(line.rstrip() for line in out.getvalue().splitlines())
    lines = [body, ""] + footer_lines(lb, name=one_line) + _extra_lines(lb, bullet="  ", code=one_line, text=one_line)
    return "\n".join(lines) + "\n"


# -- markdown --------------------------------------------------------------------------------------------------

def render_markdown(lb: Leaderboard) -> str:
    """GitHub-flavoured Markdown: one table per section, footer and signatures as a list."""
    lines: list[str] = []
    for section, keys in lb.section_keys():
        if section is not None:
            lines += [f"**{markdown_text(section)}**", ""]
        header = ["system", *(column_label(lb, k) for k in keys), "mean rank"]
        lines.append("| " + " | ".join(markdown_text(h) for h in header) + " |")
        lines.append("|---|" + "---:|" * (len(keys) + 1))
        for entry in lb.systems:
            cells = [f"{cell_value(lb, entry, k)} [{cell_ci(lb, entry, k)[1:-1]}]" for k in keys]
            cells = [c.replace(MARK, "\\" + MARK) for c in cells]
            lines.append("| " + " | ".join([markdown_text(system_label(lb, entry)), *cells,
                                            _rank_text(block_mean_rank(entry, keys))]) + " |")
        lines.append("")
    lines += [f"_{line.replace(MARK, chr(92) + MARK)}_" for line in footer_lines(lb, name=markdown_text)]
    lines += _extra_lines(lb, bullet="- ", code=markdown_code, text=markdown_text)
    return "\n".join(lines) + "\n"


# -- LaTeX -----------------------------------------------------------------------------------------------------

def render_latex(lb: Leaderboard) -> str:
    """A booktabs table; one block per section; footer and signatures follow as LaTeX comments."""
    blocks = lb.section_keys()
    columns = shared_columns(lb)
    width = len(columns) + 2
    lines = [r"\begin{tabular}{l" + "r" * (len(columns) + 1) + "}", r"\toprule",
             " & ".join(["System", *(latex_text(label) for label, _ in columns), "Mean rank"]) + r" \\",
             r"\midrule"]
    for b, (section, block_keys) in enumerate(blocks):
        if section is not None:
            if b:
                lines.append(r"\midrule")
            lines.append(rf"\multicolumn{{{width}}}{{l}}{{\textit{{{latex_text(section)}}}}} \\")
        for entry in lb.systems:
            cells = []
            for _, per_block in columns:
                k = per_block[b]
                if k is None:
                    cells.append("")
                    continue
                value = _fmt(entry.scores.get(k, math.nan), lb, k)
                if lb.significantly_better(entry.name, k):
                    value += r"$^{*}$"
                cells.append(value + r" {\scriptsize " + cell_ci(lb, entry, k) + "}")
            lines.append(" & ".join([latex_text(system_label(lb, entry)), *cells,
                                     _rank_text(block_mean_rank(entry, block_keys))]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [f"% {latex_comment(line)}" for line in footer_lines(lb)]
    lines += [f"% {latex_comment(sig)}" for sig in signature_lines(lb)]
    return "\n".join(lines) + "\n"


# -- CSV / JSON ------------------------------------------------------------------------------------------------

def _num(value: float | None) -> str:
    if value is None or value != value:
        return ""
    return repr(float(value))


def render_csv(lb: Leaderboard) -> str:
    """Long format with every number at full precision: one row per (system, key)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "system", "baseline", "metric", "key", "value", "ci_low", "ci_high", "p_value",
                     "delta_ci_low", "delta_ci_high", "significantly_better", "rank", "mean_rank", "test",
                     "signature"])
    for section, keys in lb.section_keys():
        for entry in lb.systems:
            for key in keys:
                info = lb.key_info[key]
                lo, hi = entry.ci.get(key, (math.nan, math.nan))
                dlo, dhi = (entry.delta_ci or {}).get(key, (math.nan, math.nan))
                p = (entry.p_values or {}).get(key) if entry.p_values is not None else None
                short = key.split("/", 1)[1] if section is not None else key
                writer.writerow([csv_cell(section or ""), csv_cell(entry.name),
                                 "yes" if entry.name == lb.baseline else "no",
                                 csv_cell(info.metric.split("/", 1)[-1]), csv_cell(short),
                                 _num(entry.scores.get(key)), _num(lo), _num(hi), _num(p), _num(dlo), _num(dhi),
                                 "yes" if lb.significantly_better(entry.name, key) else "no",
                                 entry.ranks.get(key) or "", _num(entry.mean_rank), test_sentence(lb),
                                 csv_cell(lb.signatures.get(info.metric, ""))])
    return out.getvalue()


def render_json(lb: Leaderboard) -> str:
    """``{"baseline", "test", "signatures", "systems": [...]}`` at full precision; NaN becomes null."""
    return lb.to_json(indent=2) + "\n"


def render_html(lb: Leaderboard) -> str:
    from .html import render_html_page

    return render_html_page(lb)


def render_leaderboard(lb: Leaderboard, fmt: str) -> str:
    """Render ``lb`` in format ``fmt`` (one of :data:`FORMATS`)."""
    renderers = {"table": render_table, "markdown": render_markdown, "latex": render_latex, "csv": render_csv,
                 "json": render_json, "html": render_html}
    if fmt not in renderers:
        raise ConfigError(f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    return renderers[fmt](lb)
