"""Exact output of ``score --ci`` (a Result with intervals) in every format; without intervals nothing changes."""

from __future__ import annotations

import json

import numpy as np

from rrg_eval.render import render_result
from rrg_eval.result import KeyInfo, Result
from rrg_eval.version import __version__


def _result(with_ci: bool) -> Result:
    info = {"bleu4": KeyInfo("bleu", "fraction", True), "cider": KeyInfo("cider", "score", True)}
    result = Result(n=3, ids=["a", "b", "c"], scores={"bleu4": 0.25, "cider": 1.5}, signatures={"bleu": "bleu|v:x",
                    "cider": "cider|v:x"}, key_info=info, per_report_values={"cider": np.array([1.0, 2.0, 1.5])})
    if with_ci:
        result.ci = {"bleu4": (0.125, 0.375), "cider": (float("nan"), 2.0)}
        result.ci_settings = {"confidence": 0.95, "resamples": 200, "seed": 7}
    return result


def test_table_markdown_latex_csv_json_with_intervals():
    result = _result(True)
    assert render_result(result, "table") == (
        f"rrg-eval {__version__}: 3 reports; fractions shown x100 (%)\n"
        "[low, high]: 95% percentile bootstrap CI (200 resamples, seed 7)\n\n"
        "metric     value  CI\n"
        "---------  -----  --------------\n"
        "bleu4 (%)  25.00  [12.50, 37.50]\n"
        "cider      1.500  [n/a, 2.000]\n\n"
        "signatures:\n  bleu|v:x\n  cider|v:x\n")
    assert render_result(result, "markdown").splitlines()[:6] == [
        f"_rrg-eval {__version__}: 3 reports; fractions shown x100 (%)_",
        "_[low, high]: 95% percentile bootstrap CI (200 resamples, seed 7)_", "",
        "| metric | value | CI |", "|---|---:|---:|", "| bleu4 (%) | 25.00 | [12.50, 37.50] |"]
    latex = render_result(result, "latex").splitlines()
    assert latex[:5] == [r"\begin{tabular}{lrr}", r"\toprule", r"Metric & Value & CI \\", r"\midrule",
                         r"bleu4 (\%) & 25.00 & [12.50, 37.50] \\"]
    assert "% [low, high]: 95% percentile bootstrap CI (200 resamples, seed 7)" in latex
    assert render_result(result, "csv").splitlines() == [
        "metric,key,value,ci_low,ci_high,signature", "bleu,bleu4,0.25,0.125,0.375,bleu|v:x",
        "cider,cider,1.5,nan,2.0,cider|v:x"]
    data = json.loads(render_result(result, "json"))
    assert data["ci"] == {"bleu4": [0.125, 0.375], "cider": [None, 2.0]}
    assert data["ci_settings"] == {"confidence": 0.95, "resamples": 200, "seed": 7}


def test_without_intervals_the_output_is_unchanged():
    result = _result(False)
    assert render_result(result, "table").splitlines()[2:4] == ["metric     value", "---------  -----"]
    assert render_result(result, "csv").splitlines()[0] == "metric,key,value,signature"
    assert "ci" not in json.loads(render_result(result, "json"))
