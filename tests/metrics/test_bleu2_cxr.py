"""bleu2_cxr: CXR-Report-Metric's BLEU-2, against the fast-bleu package it calls (0.0.90, the test extra)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rrg_eval.metrics.bleu2_cxr import Bleu2Cxr, bleu2_from_row, bleu2_row, cxr_tokens
from rrg_eval.stats import concat, take

WEIGHTS = {"bigram": (1 / 2.0, 1 / 2.0)}  # CXR-Report-Metric run_eval.weights


def fast_bleu_scores(preds: list[str], refs: list[str]) -> list[float]:
    """CXR-Report-Metric's add_bleu_col, one BLEU object per report as it does."""
    fast_bleu = pytest.importorskip("fast_bleu")
    out = []
    for pred, ref in zip(preds, refs):
        scores = fast_bleu.BLEU([cxr_tokens(ref)], WEIGHTS).get_score([cxr_tokens(pred)])["bigram"]
        assert len(scores) == 1
        out.append(scores[0])
    return out


EDGE_PREDS = ["", "No effusion.", "no", "The heart is normal. The heart is normal.", "a  b\tc\nd .. e",
              "Lungs clear", "x", "LUNGS CLEAR.", "clear lungs", "caf\u00e9 na\u00efve \u2713.", "   ", "No effusion.",
              " \t\n ", "\n"]
EDGE_REFS = ["No effusion.", "", "no", "The heart is normal.", "a b\tc\nd . . e", "Lungs are clear.",
             "y", "lungs clear.", "lungs clear", "Caf\u00e9 na\u00efve \u2713 .", "No effusion.", "  ", "\t\n", "\n"]


def test_tokens_as_reference() -> None:
    assert cxr_tokens("No  effusion. Heart OK.") == ["no", "effusion", ".", "heart", "ok", "."]
    assert cxr_tokens("a\tb\nc") == ["a\tb\nc"]  # split on ' ' only, as the reference
    assert cxr_tokens("") == []


def test_hand_values() -> None:
    # fast-bleu docstring-style example, computed by hand: p1 = 2/3, p2 = 1/2, equal lengths (BP 1)
    assert bleu2_from_row(bleu2_row("a b d", "a b c")) == pytest.approx(math.sqrt(2 / 3 * 1 / 2), abs=1e-15)
    # one matched word, no bigram: p2 = 0.1 / 1 (method1), BP = exp(1 - 3/1)
    assert bleu2_from_row(bleu2_row("a", "a b c")) == pytest.approx(math.exp(-2) * math.sqrt(0.1), abs=1e-15)
    assert bleu2_from_row(bleu2_row("", "a b")) == 0.0
    assert bleu2_from_row(bleu2_row("z", "a b")) == 0.0


def test_parity_with_fast_bleu_edge_cases() -> None:
    theirs = fast_bleu_scores(EDGE_PREDS, EDGE_REFS)
    ours = Bleu2Cxr().compute(predictions=EDGE_PREDS, references=EDGE_REFS)
    assert np.abs(ours.per_report["bleu2_cxr"] - np.array(theirs)).max() <= 1e-12
    assert ours.scores["bleu2_cxr"] == pytest.approx(float(np.mean(theirs)), abs=1e-12)


def test_parity_with_fast_bleu_iu_xray(iu_pairs: tuple[list[str], list[str], list[str]],
                                       iu_val: list[dict]) -> None:
    ids, preds, refs = iu_pairs
    # spread the values: half the predictions are their reference minus its first sentence
    preds = [p if i % 2 else ". ".join(r.split(". ")[1:]) for i, (p, r) in enumerate(zip(preds, refs))]
    theirs = np.array(fast_bleu_scores(preds, refs))
    ours = Bleu2Cxr().compute(predictions=preds, references=refs, ids=ids)
    assert np.abs(ours.per_report["bleu2_cxr"] - theirs).max() <= 1e-12
    assert ours.scores["bleu2_cxr"] == pytest.approx(float(theirs.mean()), abs=1e-12)
    assert len(set(np.round(theirs, 6))) > 100  # the comparison means something


def test_stats_take_concat_and_resamples() -> None:
    metric = Bleu2Cxr()
    result = metric.compute(predictions=EDGE_PREDS, references=EDGE_REFS)
    stats = result.stats
    both = concat(take(stats, [0, 1, 2]), take(stats, range(3, len(EDGE_PREDS))))
    assert metric.aggregate(both) == result.scores
    idx = np.array([[0, 0, 3, 4], [9, 8, 7, 3]])
    batch = metric.aggregate_resamples(stats, idx)
    for r in range(2):
        assert batch["bleu2_cxr"][r] == pytest.approx(metric.aggregate(take(stats, idx[r]))["bleu2_cxr"],
                                                      abs=1e-15)
    assert "bleu2_cxr" in metric.signature() and "tok:cxr-lower-dot" in metric.signature()
