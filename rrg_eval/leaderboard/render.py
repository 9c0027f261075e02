"""Pure rendering of a :class:`~rrg_eval.leaderboard.Leaderboard`: rich table, Markdown, LaTeX, CSV, JSON, HTML.

Human tables show fractions x100 with two decimals (``rrg_eval.render.display_value``), each value with its
95% CI in brackets; values significantly better than the baseline carry a ``*``, significantly worse ones a
``†``. The test, its settings and the metric signatures form the footer. CSV and JSON keep full precision (and
the direction as a field). The terminal table fits a given width by splitting its columns into blocks.
"""

from __future__ import annotations

import csv
import io
import math

from ..errors import ConfigError
from ..escape import csv_cell, latex_comment, latex_text, markdown_code, markdown_text, one_line
from ..render import COMPARE_FORMATS, outcome_lines, wrap_line, wrap_outcome
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

Column = tuple[str, list[str | None]]  # (label, full key or None per section block)
RANK = ("mean rank", [])  # the mean-rank column, as an item of a block


def _rich_table(lb: Leaderboard, columns: list[Column]) -> str:
    """One rich table (plain text) of the system column and ``columns`` (:data:`RANK`: the mean rank)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    blocks = lb.section_keys()
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title=None)
    table.add_column("system", justify="left", no_wrap=True)
    for label, _ in columns:
        table.add_column(label, justify="right", no_wrap=True)
    for b, (section, block_keys) in enumerate(blocks):
        if section is not None:
            table.add_row(f"[{one_line(section)}]", *([""] * len(columns)))
        for entry in lb.systems:
            cells = [rank_text(block_mean_rank(entry, block_keys)) if column is RANK
                     else f"{cell_value(lb, entry, k[b])}\n{cell_ci(lb, entry, k[b])}" if k[b] else ""
                     for column in columns for k in [column[1]]]
            table.add_row(one_line(system_label(lb, entry)), *cells)
        if b < len(blocks) - 1:
            table.add_section()
    out = io.StringIO()
    console = Console(file=out, width=100_000, color_system=None, force_terminal=False, highlight=False,
                      emoji=False, markup=False, legacy_windows=False)
    console.print(table)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


def _text_width(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def _column_blocks(lb: Leaderboard, width: int | None) -> list[str]:
    """The table as one block, or split into blocks of columns that each fit ``width`` characters.

    Every block repeats the system column; the mean rank is the last column of the last block. The fewest
    blocks that fit, with the columns spread evenly over them. A cell is never broken: a single column wider
    than ``width`` gets a block of its own, wider than asked.
    """
    items: list[Column] = [*shared_columns(lb), RANK]
    whole = _rich_table(lb, items)
    if width is None or _text_width(whole) <= width:
        return [whole]

    def fits(group: list[Column]) -> bool:
        return _text_width(_rich_table(lb, group)) <= width  # type: ignore[operator]

    greedy: list[list[Column]] = [[]]
    for item in items:
        if greedy[-1] and not fits(greedy[-1] + [item]):
            greedy.append([])
        greedy[-1].append(item)
    count = len(greedy)
    size, extra = divmod(len(items), count)
    even, start = [], 0
    for i in range(count):
        stop = start + size + (1 if i < extra else 0)
        even.append(items[start:stop])
        start = stop
    groups = even if all(fits(g) for g in even) else greedy
    return [_rich_table(lb, group) for group in groups]


def render_table(lb: Leaderboard, width: int | None = None) -> str:
    """A rich table for the terminal (plain text, no colour codes), one block of rows per section.

    ``width``: the terminal's width in characters (None: one table however wide). A wider table is split into
    blocks of columns, each repeating the system column, and the sentences under it are wrapped; no number,
    interval or signature is ever broken.
    """
    try:
        import rich  # noqa: F401
    except ImportError:
        raise ConfigError("the terminal table needs rich: pip install 'rrg-eval[compare]' "
                          "(or use --format markdown)") from None
    body = "\n\n".join(_column_blocks(lb, width))
    footer = [wrapped for line in footer_lines(lb, name=one_line, rank_intervals=False)  # not in this table
              for wrapped in wrap_line(line, width)]
    extra = wrap_outcome(_extra_lines(lb, bullet="  ", code=one_line, text=one_line), width)
    return "\n".join([body, "", *footer, *extra]) + "\n"


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
                mark = lb.significance(entry.name, k)
                if mark is not None:
                    value += r"$^{*}$" if mark == "better" else r"$^{\dagger}$"
                cells.append(value + r" {\scriptsize " + cell_ci(lb, entry, k) + "}")
            lines.append(" & ".join([latex_text(system_label(lb, entry)), *cells,
                                     rank_text(block_mean_rank(entry, block_keys))]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [f"% {latex_comment(line)}" for line in footer_lines(lb, rank_intervals=False)]
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
                     "delta_ci_low", "delta_ci_high", "significantly_better", "significantly_worse", "rank",
                     "mean_rank", "test", "signature"])
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
                                 "yes" if lb.significantly_worse(entry.name, key) else "no",
                                 entry.ranks.get(key) or "", _num(entry.mean_rank), test_sentence(lb),
                                 csv_cell(lb.signatures.get(info.metric, ""))])
    return out.getvalue()


def render_json(lb: Leaderboard) -> str:
    """``{"n", "rrg_eval_version", "baseline", "test", "signatures", "systems": [...], "warnings", "unavailable",
    "errors"}`` at full precision; NaN becomes null."""
    return lb.to_json(indent=2) + "\n"


def render_html(lb: Leaderboard) -> str:
    """A self-contained page (sortable tables, the plot when matplotlib is installed)."""
    return render_html_page(lb)


def render_leaderboard(lb: Leaderboard, fmt: str, *, width: int | None = None) -> str:
    """Render ``lb`` in format ``fmt`` (one of :data:`FORMATS`); ``width`` fits the terminal table to a width."""
    if fmt == "table":
        return render_table(lb, width)
    renderers = {"table": render_table, "markdown": render_markdown, "latex": render_latex, "csv": render_csv,
                 "json": render_json, "html": render_html}
    if fmt not in renderers:
        raise ConfigError(f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    return renderers[fmt](lb)
