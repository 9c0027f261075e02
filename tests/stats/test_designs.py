"""Clustered resampling, exact permutation tests and rank intervals.

References: a naive clustered bootstrap written out with Python lists (the same generator draws), BLEU recomputed
from the resampled texts, and brute-force enumeration of every swap pattern for the exact test.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import rrg_eval
from rrg_eval import designs
from rrg_eval import resampling as rs
from rrg_eval.metrics.registry import load_metric
from rrg_eval.ranking import rank_intervals, resampled_ranks


def naive_cluster_bootstrap(values: list[str], resamples: int, seed: int) -> list[list[int]]:
    """Clusters in order of first appearance; draw cluster numbers; concatenate their rows."""
    members: dict[str, list[int]] = {}
    for row, value in enumerate(values):
        members.setdefault(value, []).append(row)
    clusters = list(members)
    drawn = np.random.default_rng(seed).choice(len(clusters), size=(resamples, len(clusters)), replace=True)
    return [[row for c in draw for row in members[clusters[c]]] for draw in drawn]


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_clustered_bootstrap_equals_naive(seed):
    rng = np.random.default_rng(seed)
    values = [f"p{int(v)}" for v in rng.integers(0, 7, 23)]
    design = designs.Design.from_values(values, field="patient_id")
    ours = designs.bootstrap_rows(design, 40, seed)
    naive = naive_cluster_bootstrap(values, 40, seed)
    assert [list(map(int, r)) for r in ours] == naive


def test_singleton_clusters_draw_the_unclustered_indices():
    design = designs.Design.from_values([f"s{i}" for i in range(30)], field=None)
    assert not design.clustered
    assert np.array_equal(designs.bootstrap_rows(design, 25, 9), rs.bootstrap_indices(30, 25, 9))
    masks, exact = designs.swap_masks(design, 25, 9)
    assert not exact and np.array_equal(masks, rs.ar_masks(30, 25, 9))


def test_clustered_swaps_move_whole_clusters():
    values = ["a", "a", "b", "c", "c", "c", "b"]
    design = designs.Design.from_values(values, field="patient_id")
    masks, exact = designs.swap_masks(design, 5, 3)
    assert not exact and masks.shape == (5, 7)
    for mask in masks:
        for cluster in "abc":
            rows = [i for i, v in enumerate(values) if v == cluster]
            assert len(set(mask[rows])) == 1


def test_clustered_ci_equals_bleu_recomputed_on_resampled_texts(iu_pairs):
    ids, preds, refs = (x[:18] for x in iu_pairs)
    patients = {rid: f"patient{i // 3}" for i, rid in enumerate(ids)}  # 6 patients, 3 studies each
    other = [refs[(i * 5 + 2) % 18] for i in range(18)]
    board = rrg_eval.compare(systems={"a": dict(zip(ids, preds)), "b": dict(zip(ids, other))},
                             references=dict(zip(ids, refs)), metrics=["bleu"], resamples=30, seed=4,
                             clusters=patients, cluster_field="patient_id", use_cache=False)
    assert board.test["cluster_field"] == "patient_id" and board.test["clusters"] == 6
    assert board.signatures["bleu"].endswith("|cluster:patient_id")
    metric = load_metric("bleu")
    rows = naive_cluster_bootstrap([patients[i] for i in ids], 30, 4)
    for name, texts in (("a", preds), ("b", other)):
        scores = sorted(metric.compute(predictions=[texts[r] for r in row],
                                       references=[refs[r] for r in row]).scores["bleu4"] for row in rows)
        assert board.system(name).ci["bleu4"] == pytest.approx((scores[0], scores[-1]), rel=1e-12)


def test_cluster_field_read_from_the_references_file(tmp_path):
    import json

    refs = tmp_path / "refs.jsonl"
    refs.write_text("".join(json.dumps({"id": f"r{i}", "report": f"no acute finding {i}", "patient_id": i // 2})
                            + "\n" for i in range(8)))
    board = rrg_eval.compare(systems={"a": {f"r{i}": "no acute finding" for i in range(8)},
                                      "b": {f"r{i}": f"acute finding {i}" for i in range(8)}},
                             references=str(refs), metrics=["rouge"], resamples=20, cluster_field="patient_id",
                             use_cache=False)
    assert board.test["clusters"] == 4 and board.test["largest_cluster"] == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "r0", "report": "x"}) + "\n")
    with pytest.raises(rrg_eval.InputError, match=r'bad.jsonl:1: missing cluster field "patient_id"'):
        rrg_eval.compare(systems={"a": {"r0": "x"}, "b": {"r0": "y"}}, references=str(bad), metrics=["rouge"],
                         cluster_field="patient_id", use_cache=False)


# -- exact permutation -----------------------------------------------------------------------------------------

FIVE_REFS = ["no acute cardiopulmonary process", "heart size normal lungs clear", "small left pleural effusion",
             "mild cardiomegaly without edema", "no pneumothorax or consolidation"]
FIVE_BAD = ["the the the", "a a a a", "of of", "is is is", "and and"]


def test_five_reports_exact_floor_and_brute_force():
    """RadEval's 5-report example: the exact test cannot go below 2/32 = 0.0625."""
    refs = dict(enumerate(FIVE_REFS))
    board = rrg_eval.compare(systems={"bad": dict(enumerate(FIVE_BAD)), "good": refs}, references=refs,
                             metrics=["rouge"], test="ar", resamples=10000, use_cache=False)
    assert board.test["exact"] is True and board.test["p_floor"] == 0.0625
    for key in board.keys:
        assert board.systems[1].p_values[key] == 0.0625
    # brute force: every assignment of the 5 rows, |mean difference| at least the observed one
    metric = load_metric("rouge")
    base = metric.compute(predictions=FIVE_BAD, references=FIVE_REFS).per_report["rougeL"]
    good = metric.compute(predictions=FIVE_REFS, references=FIVE_REFS).per_report["rougeL"]
    observed = abs(good.mean() - base.mean())
    extreme = sum(abs(np.mean([g - b if s else b - g for s, g, b in zip(signs, good, base)])) >= observed - 1e-12
                  for signs in itertools.product([0, 1], repeat=5))
    assert extreme / 32 == board.systems[1].p_values["rougeL"]


def test_approximate_when_patterns_exceed_trials():
    refs = dict(enumerate(FIVE_REFS))
    board = rrg_eval.compare(systems={"bad": dict(enumerate(FIVE_BAD)), "good": refs}, references=refs,
                             metrics=["rouge"], test="ar", resamples=16, use_cache=False)
    assert board.test["exact"] is False and board.test["p_floor"] == 1 / 17
    assert board.systems[1].p_values["rougeL"] >= 1 / 17


def test_exact_p_counts_ties_and_rounding():
    assert designs.exact_p(np.array([0.5, 0.5, 0.1, 0.1]), 0.5) == 0.5
    assert designs.exact_p(np.array([0.3 - 1e-15, 0.1]), 0.3) == 0.5  # rounding noise is a tie
    design = designs.Design.unclustered(3)
    masks, exact = designs.swap_masks(design, 8, 0)
    assert exact and masks.shape == (8, 3) and len({tuple(m) for m in masks}) == 8
    assert designs.p_floor(design, "ar", 8) == 0.25 and designs.p_floor(design, "bootstrap", 8) == 1 / 9


# -- rank intervals --------------------------------------------------------------------------------------------

def test_resampled_ranks_ties_direction_and_nan():
    samples = [np.array([0.5, 0.2, np.nan]), np.array([0.5, 0.3, 0.1]), np.array([0.1, 0.3, 0.2])]
    ranks = resampled_ranks(samples, higher_is_better=True)
    assert ranks.tolist() == [[1, 3, 0], [1, 1, 2], [3, 1, 1]]
    assert resampled_ranks(samples, higher_is_better=False).tolist() == [[2, 1, 0], [2, 2, 1], [1, 2, 2]]
    (ci, first), *_ = rank_intervals(samples, True)
    assert ci == (1.0, 3.0) and first == pytest.approx(1 / 3)


def test_leaderboard_rank_intervals_show_ties(iu_pairs):
    ids, preds, refs = (x[:60] for x in iu_pairs)
    board = rrg_eval.compare(systems={"a": dict(zip(ids, preds)), "a2": dict(zip(ids, preds)),
                                      "ref": dict(zip(ids, refs))},
                             references=dict(zip(ids, refs)), metrics=["bleu"], resamples=50, use_cache=False)
    assert board.system("ref").rank_ci["bleu4"] == (1.0, 1.0) and board.system("ref").p_first["bleu4"] == 1.0
    assert board.system("a").rank_ci["bleu4"] == board.system("a2").rank_ci["bleu4"] == (2.0, 2.0)
    from rrg_eval.leaderboard.render import render_leaderboard

    markdown = render_leaderboard(board, "markdown")
    assert "**Rank intervals**" in markdown and "| ref | 1 [1-1] 100% |" in markdown
    html = render_leaderboard(board, "html")
    assert "<h2>Rank intervals</h2>" in html and "1 [1-1] 100%" in html
