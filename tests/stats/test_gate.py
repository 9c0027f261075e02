"""The regression gate: verdicts, exit codes, tolerated drops, the pytest helper, and its calibration.

Calibration: 200 simulated comparisons of a system with itself (fresh per-report noise, tests/stats/gate_sim.py)
must raise a false alarm at a rate inside the two-sided 99% binomial band of alpha = 0.05 (3 to 19 alarms of
200, computed below from the binomial distribution). Power with a known injected drop is reported in
docs/statistics.md (the numbers this file's power test measures).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

import rrg_eval
from rrg_eval.cli import main
from rrg_eval.errors import ConfigError, InputError

sys.path.insert(0, str(Path(__file__).parent))
from gate_sim import simulated_pair  # noqa: E402

SIMULATIONS = 200
RESAMPLES = 500


def binomial_band(n: int, p: float, level: float = 0.99) -> tuple[int, int]:
    """Smallest and largest counts outside which each tail holds at most (1 - level) / 2."""
    pmf = [math.comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(n + 1)]
    tail = (1 - level) / 2
    low = next(k for k in range(n + 1) if sum(pmf[: k + 1]) > tail)
    high = next(k for k in range(n, -1, -1) if sum(pmf[k:]) > tail)
    return low, high


def _alarm_rate(drop: float, test: str = "bootstrap") -> int:
    alarms = 0
    for seed in range(SIMULATIONS):
        base, cand = simulated_pair(seed, drop=drop)
        report = rrg_eval.gate(candidate=cand, baseline=base, metrics=["rougeL"], alpha=0.05, test=test,
                               resamples=RESAMPLES, seed=seed)
        alarms += not report.ok
    return alarms


def test_false_alarm_rate_is_within_the_binomial_band_of_alpha():
    low, high = binomial_band(SIMULATIONS, 0.05)
    assert (low, high) == (3, 19)
    alarms = _alarm_rate(0.0)
    assert low <= alarms <= high, f"{alarms} false alarms in {SIMULATIONS}"


@pytest.mark.slow
def test_power_with_an_injected_drop():
    """docs/statistics.md reports these rates (n = 100 reports, per-report SD of the difference about 0.21)."""
    rates = {drop: _alarm_rate(drop) / SIMULATIONS for drop in (0.02, 0.04, 0.06)}
    print("power:", rates)
    assert rates[0.02] < rates[0.04] < rates[0.06]
    assert rates[0.06] >= 0.8


def test_verdicts_table_and_assert_helper():
    base, cand = simulated_pair(1, n=200, drop=0.1)
    report = rrg_eval.gate(candidate=cand, baseline=base, metrics=["rouge1", "rougeL"], resamples=200)
    assert not report.ok and [r.key for r in report.regressions] == ["rouge1", "rougeL"]
    table = report.table()
    assert table.splitlines()[0].split() == ["key", "baseline", "candidate", "difference", "95%", "CI", "p", "p",
                                             "adjusted", "max", "drop", "verdict"]
    assert "REGRESSED" in table and "2 key(s) significantly worse than the baseline" in table
    with pytest.raises(AssertionError, match=r"(?s)regression against the baseline:\n.*rougeL .*REGRESSED"):
        rrg_eval.assert_no_regression(cand, base, metrics=["rougeL"], resamples=200)
    assert rrg_eval.assert_no_regression(base, cand, metrics=["rougeL"], resamples=200).ok  # better passes
    tolerated = rrg_eval.gate(candidate=cand, baseline=base, metrics=["rougeL"], resamples=200,
                              max_drop={"rougeL": 0.2})
    assert tolerated.ok and tolerated.rows[0].p_adjusted < 0.05
    same = rrg_eval.gate(candidate=base, baseline=base, metrics=["rouge"], resamples=50)
    assert same.ok and all(r.p_value == 1.0 for r in same.rows) and len(same.rows) == 4
    exact = rrg_eval.gate(candidate=simulated_pair(2, n=6, drop=0.5)[1], baseline=simulated_pair(2, n=6)[0],
                          metrics=["rougeL"], test="ar", resamples=1000)
    assert exact.test["exact"] is True and exact.rows[0].p_value == pytest.approx(1 / 64)


def test_bad_input():
    base, cand = simulated_pair(1, n=20)
    with pytest.raises(InputError, match="'bleu4' is neither a score key nor a metric"):
        rrg_eval.gate(candidate=cand, baseline=base, metrics=["bleu4"])
    # a key only some options produce (Metric.key_options) says which options
    with pytest.raises(InputError, match=r"bertscore_cxr_f1 is produced by bertscore \(with preset='cxr'\), which "
                                         "the baseline run did not use"):
        rrg_eval.gate(candidate=cand, baseline=base, metrics=["bertscore_cxr_f1"])
    with pytest.raises(ConfigError, match="--max-drop names key"):
        rrg_eval.gate(candidate=cand, baseline=base, metrics=["rougeL"], max_drop={"rouge1": 0.1})
    _, other = simulated_pair(1, n=21)
    with pytest.raises(InputError, match="different references"):
        rrg_eval.gate(candidate=other, baseline=base, metrics=["rougeL"])


def test_cli_exit_codes(tmp_path, capsys):
    base, cand = simulated_pair(3, n=150, drop=0.1)
    base.save(tmp_path / "base.run")
    cand.save(tmp_path / "cand.run")
    args = ["gate", "--baseline", str(tmp_path / "base.run"), "--candidate", str(tmp_path / "cand.run"),
            "--metrics", "rougeL", "--resamples", "200"]
    assert main(args) == 1
    assert "rougeL  " in capsys.readouterr().out
    assert main([*args, "--max-drop", "rougeL=0.5"]) == 0
    assert "no regression" in capsys.readouterr().out
    assert main(["gate", "--baseline", str(tmp_path / "cand.run"), "--candidate", str(tmp_path / "base.run"),
                 "--metrics", "rougeL", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert main([*args, "--max-drop", "rougeL"]) == 2
    assert main(["gate", "--baseline", str(tmp_path / "missing.run"), "--candidate", str(tmp_path / "base.run")]) == 2
    assert "missing.run: no such file" in capsys.readouterr().err
