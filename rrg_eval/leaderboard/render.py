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
from ..render import COMPARE_FORMATS, outcome_lines
from .cells import (
    MARK,
    block_mean_rank,
    cell_ci,
    cell_value,
    column_label,
    fmt_value,
    footer_lines,
    has_rank_intervals,
    rank_interval_text,
    rank_text,
    shared_columns,
    signature_lines,
    system_label,
    test_sentence,
)
from .html import render_html_page
from .leaderboard import Leaderboard

FORMATS = COMPARE_FORMATS


def _extra_lines(lb: Leaderboard, *, bullet: str, code, text=lambda s: s) -> list[str]:  # type: ignore[no-untyped-def]
    return outcome_lines(signature_lines(lb), lb.warnings, lb.unavailable, lb.errors, bullet=bullet, code=code,
                         text=text)


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
            table.add_row(one_line(system_label(lb, entry)), *cells, rank_text(block_mean_rank(entry, block_keys)))
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

def _md_escape(text: str) -> str:
    """Markdown cell text: no raw HTML, links or cell breaks (``rrg_eval.escape.markdown_text``)."""
    return markdown_text(text)


def render_markdown(lb: Leaderboard) -> str:
    """GitHub-flavoured Markdown: one table per section, footer and signatures as a list."""
    lines: list[str] = []
    for section, keys in lb.section_keys():
        if section is not None:
            lines += [f"**{_md_escape(section)}**", ""]
        header = ["system", *(column_label(lb, k) for k in keys), "mean rank"]
        lines.append("| " + " | ".join(_md_escape(h) for h in header) + " |")
        lines.append("|---|" + "---:|" * (len(keys) + 1))
        for entry in lb.systems:
            cells = [f"{cell_value(lb, entry, k)} [{cell_ci(lb, entry, k)[1:-1]}]" for k in keys]
            cells = [c.replace(MARK, "\\" + MARK) for c in cells]
            lines.append("| " + " | ".join([_md_escape(system_label(lb, entry)), *cells,
                                            rank_text(block_mean_rank(entry, keys))]) + " |")
        lines.append("")
    if has_rank_intervals(lb):
        for section, keys in lb.section_keys():
            title = f" ({_md_escape(section)})" if section is not None else ""
            lines += [f"**Rank intervals{title}**: rank [95% interval] share of resamples ranked first", ""]
            lines.append("| " + " | ".join(_md_escape(h) for h in ["system", *(column_label(lb, k) for k in keys)])
                         + " |")
            lines.append("|---|" + "---:|" * len(keys))
            for entry in lb.systems:
                lines.append("| " + " | ".join([_md_escape(system_label(lb, entry)),
                                                *(rank_interval_text(entry, k) for k in keys)]) + " |")
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
                value = fmt_value(entry.scores.get(k, math.nan), lb, k)
                if lb.significantly_better(entry.name, k):
                    value += r"$^{*}$"
                cells.append(value + r" {\scriptsize " + cell_ci(lb, entry, k) + "}")
            lines.append(" & ".join([latex_text(system_label(lb, entry)), *cells,
                                     rank_text(block_mean_rank(entry, block_keys))]) + r" \\")
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
                                 _num(entry.scores.get(key)), _num(lo),
                                 _num(hi), _num(p), _num(dlo), _num(dhi),
                                 "yes" if lb.significantly_better(entry.name, key) else "no",
                                 entry.ranks.get(key) or "", _num(entry.mean_rank), test_sentence(lb),
                                 csv_cell(lb.signatures.get(info.metric, ""))])
    return out.getvalue()


def render_json(lb: Leaderboard) -> str:
    """``{"baseline", "test", "signatures", "systems": [...]}`` at full precision; NaN becomes null."""
    return lb.to_json(indent=2) + "\n"


def render_html(lb: Leaderboard) -> str:
    """A self-contained page (sortable tables, the plot when matplotlib is installed)."""
    return render_html_page(lb)


def render_leaderboard(lb: Leaderboard, fmt: str) -> str:
    """Render ``lb`` in format ``fmt`` (one of :data:`FORMATS`)."""
    renderers = {"table": render_table, "markdown": render_markdown, "latex": render_latex, "csv": render_csv,
                 "json": render_json, "html": render_html}
    if fmt not in renderers:
        raise ConfigError(f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    return renderers[fmt](lb)
