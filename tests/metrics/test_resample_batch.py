"""Vectorised resampled aggregates equal ``aggregate(take(stats, idx))`` for every resample.

CIDEr (document frequencies per resample) and METEOR (Meteor 1.5's formula on summed statistics instead of a
jar round trip per resample) override ``Metric.aggregate_resamples``; the base class's default is the plain
loop. The reference for each is the metric's own ``aggregate`` on the resampled rows, which the lexical parity
tests tie to pycocoevalcap 1.2.
"""

from __future__ import annotations

import numpy as np
import pytest

import rrg_eval
from rrg_eval import resampling as rs
from rrg_eval.stats import take

PREDS = ["heart size is normal . no effusion .", "", "mild cardiomegaly .", "no acute disease",
         "lungs are clear . no pneumothorax . no effusion .", "stable appearance of the chest", "a"]
REFS = ["the heart is normal in size . no pleural effusion .", "no acute cardiopulmonary process .",
        "cardiomegaly . no effusion .", "no acute disease", "lungs are clear .", "", "heart size is normal ."]


def _naive(metric: rrg_eval.metrics.base.Metric, stats: dict, indices: np.ndarray, key: str) -> np.ndarray:
    return np.array([metric.aggregate(take(stats, idx))[key] for idx in indices])


@pytest.mark.parametrize(("name", "key"), [("cider", "cider"), ("bleu", "bleu4"), ("rouge", "rougeL")])
def test_batch_equals_loop(name: str, key: str) -> None:
    metric = rrg_eval.load_metric(name)
    stats = metric.compute(predictions=PREDS, references=REFS).stats
    indices = np.random.default_rng(3).choice(len(PREDS), size=(40, len(PREDS)), replace=True)
    batch = metric.aggregate_resamples(stats, indices)[key]
    np.testing.assert_allclose(batch, _naive(metric, stats, indices, key), rtol=0, atol=1e-12)


def test_cider_batch_on_iu_reports(iu_pairs) -> None:
    _, preds, refs = iu_pairs
    preds, refs = preds[:150], refs[:150]
    metric = rrg_eval.load_metric("cider")
    stats = metric.compute(predictions=preds, references=refs).stats
    indices = rs.bootstrap_indices(len(refs), 25, seed=7)
    np.testing.assert_allclose(metric.aggregate_resamples(stats, indices)["cider"],
                               _naive(metric, stats, indices, "cider"), rtol=0, atol=1e-12)


def test_meteor_formula_equals_jar(iu_pairs) -> None:
    meteor = rrg_eval.load_metric("meteor")
    reason = meteor.unavailable_reason()
    if reason:
        pytest.skip(reason)
    _, preds, refs = iu_pairs
    preds, refs = preds[:120], refs[:120]
    # edited references too: perfect segments (one chunk, every word matched) count 0 chunks in the jar's sums
    preds = preds[:60] + refs[60:90] + [" ".join(r.split()[::-1]) for r in refs[90:]]
    try:
        stats = meteor.compute(predictions=preds, references=refs).stats
        indices = rs.bootstrap_indices(len(refs), 20, seed=11)
        np.testing.assert_allclose(meteor.aggregate_resamples(stats, indices)["meteor"],
                                   _naive(meteor, stats, indices, "meteor"), rtol=0, atol=1e-12)
        from rrg_eval.metrics.meteor import meteor_from_sums, stats_matrix

        matrix = stats_matrix(stats["meteor_stats"])
        np.testing.assert_allclose(meteor_from_sums(matrix), meteor.per_report(stats)["meteor"], rtol=0, atol=1e-12)
    finally:
        meteor.close()


def test_ar_with_batch_equals_loop() -> None:
    metric = rrg_eval.load_metric("cider")
    a = metric.compute(predictions=PREDS, references=REFS).stats
    b = metric.compute(predictions=PREDS[::-1], references=REFS).stats
    masks = rs.ar_masks(len(PREDS), 30, seed=5)
    fast = rs.ar_scores(metric.aggregate, a, b, masks, ["cider"], batch=metric.aggregate_resamples)
    slow = rs.ar_scores(metric.aggregate, a, b, masks, ["cider"])
    for x, y in zip(fast, slow):
        np.testing.assert_allclose(x["cider"], y["cider"], rtol=0, atol=1e-12)
