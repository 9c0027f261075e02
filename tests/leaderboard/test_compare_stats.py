"""Statistical sanity of ``rrg_eval.compare``: self-comparison, a clearly better system, p never 0, resampling."""

from __future__ import annotations

import numpy as np
import pytest

import rrg_eval
from rrg_eval import resampling as rs
from rrg_eval.metrics.registry import load_metric


@pytest.fixture(scope="module")
def small(iu_pairs):
    """120 IU X-ray val reports: references, random other reports, references with a few words dropped."""
    ids, preds, refs = iu_pairs
    ids, preds, refs = ids[:120], preds[:120], refs[:120]
    dropped = [" ".join(w for j, w in enumerate(r.split()) if j % 7 != 3) for r in refs]
    return ids, dict(zip(ids, refs)), dict(zip(ids, preds)), dict(zip(ids, dropped))


@pytest.mark.parametrize("test", ["bootstrap", "ar"])
def test_system_against_itself_gets_p_one(small, test):
    ids, refs, rand, _ = small
    board = rrg_eval.compare(systems={"a": rand, "a_again": dict(rand)}, references=refs, metrics=["bleu", "rouge"],
                             test=test, resamples=200, use_cache=False)
    twin = board.systems[1]
    assert set(twin.p_values) == set(board.keys)
    assert all(p == 1.0 for p in twin.p_values.values())
    for key in board.keys:
        lo, hi = twin.delta_ci[key]
        assert lo <= 0.0 <= hi
        assert twin.ci[key] == board.systems[0].ci[key]
        assert not board.significantly_better("a_again", key)


@pytest.mark.parametrize("test", ["bootstrap", "ar"])
def test_clearly_better_system_is_significant_and_p_never_zero(small, test):
    ids, refs, rand, dropped = small
    n = 200
    board = rrg_eval.compare(systems={"random": rand, "dropped": dropped}, references=refs,
                             metrics=["bleu", "sacrebleu", "rouge"], test=test, resamples=n, use_cache=False)
    better = board.systems[1]
    for key in board.keys:
        assert better.p_values[key] < 0.01
        assert better.p_values[key] == 1 / (n + 1)  # the smallest value possible, never 0
        assert board.significantly_better("dropped", key)
        assert better.ranks[key] == 1 and board.systems[0].ranks[key] == 2
        assert better.delta_ci[key][0] > 0
    assert better.mean_rank == 1.0 and board.systems[0].mean_rank == 2.0
    # the baseline is never "significantly better" than itself, and the worse system is not marked
    reverse = rrg_eval.compare(systems={"dropped": dropped, "random": rand}, references=refs, metrics=["bleu"],
                               test=test, resamples=n, use_cache=False)
    assert all(p < 0.01 for p in reverse.systems[1].p_values.values())
    assert not any(reverse.significantly_better("random", k) for k in reverse.keys)


def test_corpus_metrics_are_recomputed_from_resampled_stats(small):
    ids, refs, rand, _ = small
    metric = load_metric("bleu")
    ref_list = [refs[i] for i in ids]
    stats = metric.compute(predictions=[rand[i] for i in ids], references=ref_list).stats
    idx = rs.bootstrap_indices(len(ids), 5, 12345)
    scores = rs.resampled_scores(metric.aggregate, stats, idx, ["bleu4"])
    for row, value in zip(idx, scores["bleu4"]):
        again = metric.compute(predictions=[rand[ids[i]] for i in row], references=[ref_list[i] for i in row])
        assert value == pytest.approx(again.scores["bleu4"], rel=1e-12)
        per_report_mean = float(np.mean(metric.per_report(stats)["bleu4"][row]))
        assert value != pytest.approx(per_report_mean, rel=1e-3)


def test_indices_and_masks_follow_sacrebleus_draws():
    idx = rs.bootstrap_indices(50, 10, 7)
    assert np.array_equal(idx, np.random.default_rng(7).choice(50, size=(10, 50), replace=True))
    masks = rs.ar_masks(50, 10, 7)
    assert masks.dtype == bool
    assert np.array_equal(masks, np.random.default_rng(7).integers(2, size=(10, 50), dtype=bool))


def test_p_value_and_ci_definitions():
    assert rs.p_value(np.array([0.1, 0.2, 0.3, 0.4]), 0.2) == (2 + 1) / (4 + 1)  # strictly greater
    assert rs.p_value(np.zeros(9), 0.0) == 1 / 10
    assert rs.percentile_ci(np.arange(1000.0)[::-1]) == (25.0, 974.0)  # sorted[n // 40], sorted[n - n // 40 - 1]
    assert rs.paired_bootstrap_p(np.array([1.0, 2.0]), np.array([1.0, 2.0]), 0.0) == 1 / 3
    assert rs.stats_identical({"a": np.arange(3), "b": [1, 2]}, {"a": np.arange(3), "b": [1, 2]})
    assert not rs.stats_identical({"a": np.arange(3)}, {"a": np.arange(1, 4)})


def test_same_indices_across_metrics_and_seed_recorded(small):
    ids, refs, rand, dropped = small
    one = rrg_eval.compare(systems={"r": rand, "d": dropped}, references=refs, metrics=["bleu"], resamples=50,
                           seed=3, use_cache=False)
    two = rrg_eval.compare(systems={"r": rand, "d": dropped}, references=refs, metrics=["sacrebleu", "bleu"],
                           resamples=50, seed=3, use_cache=False)
    assert one.systems[1].ci["bleu4"] == two.systems[1].ci["bleu4"]
    assert one.test["seed"] == 3 and "seed:3" in one.signatures["bleu"] and "bs:50" in one.signatures["bleu"]
    other_seed = rrg_eval.compare(systems={"r": rand, "d": dropped}, references=refs, metrics=["bleu"],
                                  resamples=50, seed=4, use_cache=False)
    assert other_seed.systems[1].ci["bleu4"] != one.systems[1].ci["bleu4"]
