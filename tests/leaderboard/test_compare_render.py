"""Exact output of the leaderboard renderers on a small fixed leaderboard (tests/support/compare_fixture.py).

The expected texts (tests/data/compare/leaderboard.*, ``@VERSION@`` standing for the package version) were
produced by these renderers and checked by eye: values x100 with two decimals for
fractions and rates, three for scores, CIs in brackets, ``*`` on values significantly better than the baseline
(p < 0.05 in the better direction), ``†`` on values significantly worse (``worse`` has p < 0.05 on bleu4 in
the worse direction), and the lower-is-better key with an arrow. The terminal table fits a width (80, 100, 200
columns: tests/data/compare/wide_*.txt, from ``wide_leaderboard``) by splitting its columns into blocks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from compare_fixture import fixed_leaderboard, wide_leaderboard

from rrg_eval.leaderboard.plot import plot_leaderboard
from rrg_eval.leaderboard.render import render_leaderboard
from rrg_eval.version import __version__

V = __version__

GOLDEN = Path(__file__).parent / "data" / "compare"


@pytest.mark.parametrize(("fmt", "golden"), [("table", "leaderboard.txt"), ("markdown", "leaderboard.md"),
                                             ("latex", "leaderboard.tex"), ("csv", "leaderboard.csv")])
def test_exact_output(fmt, golden):
    expected = (GOLDEN / golden).read_text(encoding="utf-8").replace("@VERSION@", V)
    assert render_leaderboard(fixed_leaderboard(), fmt) == expected


def test_json_is_the_documented_schema_at_full_precision():
    data = json.loads(render_leaderboard(fixed_leaderboard(), "json"))
    assert list(data) == ["n", "rrg_eval_version", "baseline", "test", "signatures", "systems", "warnings",
                          "unavailable", "errors"]
    assert data["n"] == 50 and data["rrg_eval_version"] == V
    assert data["baseline"] == "base_line"
    assert data["test"]["name"] == "bootstrap" and data["test"]["seed"] == 12345
    base, better, worse = data["systems"]
    assert base == {"name": "base_line", "scores": {"bleu4": 0.1, "cider": 0.25, "err_rate": 0.2},
                    "ci": {"bleu4": [0.09, 0.11], "cider": [0.2, 0.3], "err_rate": [0.15, 0.25]},
                    "ranks": {"bleu4": 2, "cider": 3, "err_rate": 3}, "mean_rank": 8 / 3}
    assert better["scores"]["bleu4"] == 0.123456
    assert better["p_values"] == {"bleu4": 0.000999000999000999, "cider": 0.001998001998001998,
                                  "err_rate": 0.01998001998001998}
    assert list(worse) == ["name", "scores", "ci", "p_values", "ranks", "mean_rank", "significance"]
    assert better["significance"] == {"bleu4": "better", "cider": "better", "err_rate": "better"}
    assert worse["significance"] == {"bleu4": "worse", "cider": None, "err_rate": None}
    assert "significance" not in base


@pytest.mark.parametrize("width", [80, 100, 200])
def test_terminal_table_fits_the_width(width):
    expected = (GOLDEN / f"wide_{width}.txt").read_text(encoding="utf-8").replace("@VERSION@", V)
    text = render_leaderboard(wide_leaderboard(), "table", width=width)
    assert text == expected
    lines = text.splitlines()
    # only the signatures (copied, never broken) may be wider than asked
    assert all(len(line) <= width for line in lines if "|v:" not in line)
    # every number and interval of the one-table rendering is in the blocks, whole
    whole = render_leaderboard(wide_leaderboard(), "table")
    cells = CELL.findall(_table_part(whole))
    assert len(cells) == 4 * 10 + 4 * 9  # a value per key and the mean rank, an interval per key
    assert sorted(CELL.findall(_table_part(text))) == sorted(cells)


CELL = re.compile(r"\[[^\]]+\]|\d+\.\d+[*†]?")  # an interval, or a value with its mark


def _table_part(text: str) -> str:
    """The blocks of a terminal table: everything above its footer."""
    return text.split("\nrrg-eval ", 1)[0]


def test_a_narrow_width_never_breaks_a_cell():
    text = render_leaderboard(wide_leaderboard(), "table", width=20)
    assert text.count("system ") == 10  # one block per column and one for the mean rank
    assert "[28.00, 32.00]" in text and "p < 0.05." in text


def test_worse_mark_in_every_format():
    board = fixed_leaderboard()
    assert "5.00†" in render_leaderboard(board, "table") and "5.00† [4.00, 6.00]" in render_leaderboard(
        board, "markdown")
    assert r"5.00$^{\dagger}$" in render_leaderboard(board, "latex")
    assert ",worse,no,bleu,bleu4,0.05,0.04,0.06,0.000999000999000999,-0.06,-0.04,no,yes," in render_leaderboard(
        board, "csv")
    from rrg_eval.leaderboard.html import render_html_page

    page = render_html_page(board, include_plot=False)
    assert '<td class=worse data-value="0.05" title="p = 0.000999"><span class="v">5.00†</span>' in page
    assert "† significantly worse than the baseline" in page


def test_html_page_is_self_contained_and_sortable():
    from rrg_eval.leaderboard.html import render_html_page

    page = render_html_page(fixed_leaderboard(), include_plot=False)
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    assert "http://" not in page and "https://" not in page and "<link" not in page
    assert page.count('<table class="lb">') == 1
    assert '<th data-type="number" data-better="lower" title="err_rate">err_rate (%) ↓</th>' in page
    assert ('<td class=sig data-value="0.123456" title="p = 0.000999"><span class="v">12.35*</span>'
            '<span class="ci">[11.00, 13.50]</span></td>') in page
    assert "addEventListener('click'" in page
    assert "<code>bleu|norm:none|refs:abc|v:0.1.0|bs:1000|seed:12345</code>" in page


def test_html_embeds_the_plot_as_png():
    pytest.importorskip("matplotlib")
    page = render_leaderboard(fixed_leaderboard(), "html")
    assert '<img class="plot" alt="scores with 95% confidence intervals" src="data:image/png;base64,' in page


def test_plot_png_and_svg():
    pytest.importorskip("matplotlib")
    board = fixed_leaderboard()
    assert plot_leaderboard(board, "png").startswith(b"\x89PNG\r\n\x1a\n")
    svg = plot_leaderboard(board, "svg")
    assert b"<svg" in svg and svg == plot_leaderboard(board, "svg")  # deterministic


def test_unknown_format_is_a_config_error():
    from rrg_eval.errors import ConfigError

    with pytest.raises(ConfigError, match="valid formats"):
        render_leaderboard(fixed_leaderboard(), "xml")
