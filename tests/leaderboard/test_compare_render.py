"""Exact output of the leaderboard renderers on a small fixed leaderboard (tests/support/compare_fixture.py).

The expected texts (tests/data/compare/leaderboard.*, ``@VERSION@`` standing for the package version) were
produced by these renderers and checked by eye: values x100 with two decimals for
fractions and rates, three for scores, CIs in brackets, ``*`` on values significantly better than the baseline
(p < 0.05 in the better direction: ``worse`` has p < 0.05 on bleu4 but is worse, so it is not marked), and the
lower-is-better key with an arrow.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from compare_fixture import fixed_leaderboard

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
    assert list(data) == ["baseline", "test", "signatures", "systems"]
    assert data["baseline"] == "base_line"
    assert data["test"]["name"] == "bootstrap" and data["test"]["seed"] == 12345
    base, better, worse = data["systems"]
    assert base == {"name": "base_line", "scores": {"bleu4": 0.1, "cider": 0.25, "err_rate": 0.2},
                    "ci": {"bleu4": [0.09, 0.11], "cider": [0.2, 0.3], "err_rate": [0.15, 0.25]},
                    "ranks": {"bleu4": 2, "cider": 3, "err_rate": 3}, "mean_rank": 8 / 3}
    assert better["scores"]["bleu4"] == 0.123456
    assert better["p_values"] == {"bleu4": 0.000999000999000999, "cider": 0.001998001998001998,
                                  "err_rate": 0.01998001998001998}
    assert list(worse) == ["name", "scores", "ci", "p_values", "ranks", "mean_rank"]


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
