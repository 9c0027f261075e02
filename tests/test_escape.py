"""Hostile system names, section names, ids and warnings in every output format (issue 11, item 17).

A name with a line break must not put a live line into a LaTeX comment, a CSV cell must not start a spreadsheet
formula, Markdown must not pass raw HTML, the HTML page must escape everything, and a plot must not parse a name
as mathtext.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from rrg_eval.escape import csv_cell, latex_comment, latex_text, markdown_code, markdown_text, one_line, plot_text
from rrg_eval.leaderboard.plot import plot_leaderboard
from rrg_eval.leaderboard.render import render_leaderboard
from rrg_eval.render import render_result
from rrg_eval.result import KeyInfo, Result

sys.path.insert(0, str(Path(__file__).parent))
from compare_fixture import fixed_leaderboard  # noqa: E402

LATEX_BREAKOUT = "evil\n\\input{/etc/passwd}"
FORMULA = "=HYPERLINK(\"http://x.example\",\"click\")"
HTML = "<img src=x onerror=alert(1)>"
NAMES = [LATEX_BREAKOUT, FORMULA, HTML, "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "a|b`c`[l](javascript:x)",
         "x\r\n\\end{tabular}", "line\u2028sep", "$\\frac$"]


def hostile_leaderboard():  # type: ignore[no-untyped-def]
    lb = fixed_leaderboard()
    renames = {"base_line": LATEX_BREAKOUT, "better": FORMULA, "worse": HTML}
    systems = [dataclasses.replace(s, name=renames[s.name]) for s in lb.systems]
    return dataclasses.replace(lb, baseline=LATEX_BREAKOUT, systems=systems,
                               warnings=[f"{HTML}: 2 empty prediction(s) (ids {FORMULA}, {LATEX_BREAKOUT})"])


def hostile_result() -> Result:
    return Result(n=1, ids=[HTML], scores={"bleu4": 0.5}, signatures={"bleu": "bleu|x:" + LATEX_BREAKOUT},
                  key_info={"bleu4": KeyInfo("bleu", "fraction", True)},
                  per_report_values={"bleu4": np.array([0.5])},
                  warnings=[f"empty prediction for id {HTML}\n{FORMULA}"], unavailable={"judge": HTML},
                  errors={"m": "=1+1"})


def _latex_live_lines(text: str) -> list[str]:
    """Lines of LaTeX output that are not comments, minus the table's own structure."""
    return [line for line in text.splitlines() if not line.startswith("%")]


# -- the pure helpers ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_helpers_leave_no_line_break_or_live_markup(name: str) -> None:
    for escaped in (latex_text(name), latex_comment(name), markdown_text(name), markdown_code(name), one_line(name)):
        assert len(escaped.splitlines()) == 1
    assert "\\input" not in latex_text(name) and "\\end" not in latex_text(name)
    assert "<" not in markdown_text(name).replace("\\<", "")
    assert not csv_cell(name).startswith(("=", "+", "-", "@"))


def test_helper_examples() -> None:
    assert latex_text("a_b & 50% {x}") == r"a\_b \& 50\% \{x\}"
    assert latex_comment("a\nb\r\nc") == "a b  c"
    assert csv_cell("=1+1") == "'=1+1" and csv_cell("base_line") == "base_line" and csv_cell("") == ""
    assert markdown_text("<b>a|b</b>") == r"\<b\>a\|b\</b\>"
    assert markdown_code("a`b") == "``a`b``" and markdown_code("`x") == "`` `x ``"
    assert plot_text("$x$") == r"\$x\$"


# -- the score renderers -------------------------------------------------------------------------------------------

def test_result_latex_comment_cannot_break_out() -> None:
    text = render_result(hostile_result(), "latex")
    live = _latex_live_lines(text)
    assert not any("\\input" in line for line in live)
    assert live[-1] == r"\end{tabular}"


def test_result_csv_cells_are_not_formulas() -> None:
    rows = list(csv.reader(io.StringIO(render_result(hostile_result(), "csv"))))
    assert rows[1][3] == "bleu|x:evil\n\\input{/etc/passwd}"  # quoted by csv, kept whole
    result = dataclasses.replace(hostile_result(), signatures={"bleu": FORMULA})
    rows = list(csv.reader(io.StringIO(render_result(result, "csv"))))
    assert rows[1][3] == "'" + FORMULA


def test_result_markdown_passes_no_html() -> None:
    text = render_result(hostile_result(), "markdown")
    assert "<img" not in text.replace("\\<img", "") and "\\<img" in text
    assert not any(line.startswith("=") for line in text.splitlines())
    assert all(line.count("`") in (0, 2) for line in text.splitlines() if line.startswith("- `"))


# -- the leaderboard renderers -------------------------------------------------------------------------------------

def test_leaderboard_latex_comment_cannot_break_out() -> None:
    """Regression: a system name with a newline put ``\\input{...}`` on a live line after the table."""
    text = render_leaderboard(hostile_leaderboard(), "latex")
    live = _latex_live_lines(text)
    assert live[-1] == r"\end{tabular}"
    assert not any(re.search(r"(?<!textbackslash\{\})input\{", line) for line in live)
    assert "% rrg-eval" in text and "baseline: evil \\input{/etc/passwd};" in text  # shown, but commented out


def test_leaderboard_csv_cells_are_not_formulas() -> None:
    """Regression: CSV cells starting with = + - @ were written raw (formula injection in spreadsheets)."""
    rows = list(csv.DictReader(io.StringIO(render_leaderboard(hostile_leaderboard(), "csv"))))
    systems = {row["system"] for row in rows}
    assert systems == {LATEX_BREAKOUT, "'" + FORMULA, HTML}
    for row in rows:
        for value in row.values():
            if value and value[0] in "=+@" or (value.startswith("-") and not _is_number(value)):
                pytest.fail(f"formula-like cell {value!r}")


def _is_number(text: str) -> bool:
    try:
        return not math.isnan(float(text))
    except ValueError:
        return False


def test_leaderboard_markdown_passes_no_raw_html() -> None:
    """Regression: Markdown passed raw HTML through (a system named <img onerror=...> ran in a rendered page)."""
    text = render_leaderboard(hostile_leaderboard(), "markdown")
    assert "<img" not in text.replace("\\<img", "")
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(table) == 4 and all(line.count(" | ") - line.count("\\| ") == 4 for line in table)


def test_leaderboard_html_escapes_everything() -> None:
    from rrg_eval.leaderboard.html import render_html_page

    page = render_html_page(hostile_leaderboard(), include_plot=False)
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert 'data-value="&lt;img src=x onerror=alert(1)&gt;"' in page


def test_plot_takes_names_as_text() -> None:
    pytest.importorskip("matplotlib")
    lb = hostile_leaderboard()
    systems = [dataclasses.replace(lb.systems[0], name="$\\frac$"), *lb.systems[1:]]
    png = plot_leaderboard(dataclasses.replace(lb, baseline="$\\frac$", systems=systems), "png")  # no mathtext
    assert png.startswith(b"\x89PNG")


def test_terminal_tables_carry_no_control_characters() -> None:
    """A name with an ANSI escape (``\\x1b[2J`` clears the screen) or a line break reached the terminal raw."""
    lb = hostile_leaderboard()
    name = "ev\x1b[2Jil\nx"
    systems = [dataclasses.replace(lb.systems[0], name=name), *lb.systems[1:]]
    lb = dataclasses.replace(lb, systems=systems, baseline=name, warnings=[f"{name}: empty"])
    for text in (render_leaderboard(lb, "table"), render_result(hostile_result(), "table")):
        assert "\x1b" not in text and "\r" not in text
    assert "ev [2Jil x (baseline)" in render_leaderboard(lb, "table")
