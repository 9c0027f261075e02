"""Parity of rrg-eval's paired tests with sacrebleu's own ``PairedTest`` on BLEU.

Golden values are not hard-coded: both sides are computed here, sacrebleu 2.6.0
``sacrebleu.significance.PairedTest(named_systems, {"BLEU": BLEU()}, [refs], test_type=..., n_samples=0)``
(its defaults: 1,000 bootstrap resamples, 10,000 AR trials, seed 12345 from ``SACREBLEU_SEED``) against
``rrg_eval.compare(..., metrics=["sacrebleu"], test=...)`` with the same seed and counts, on IU X-ray val reports.
"""

from __future__ import annotations

import pytest

import rrg_eval

sacrebleu = pytest.importorskip("sacrebleu")
from sacrebleu.metrics import BLEU  # noqa: E402
from sacrebleu.significance import PairedTest  # noqa: E402


@pytest.fixture(scope="module")
def named_systems(iu_pairs):
    """Three different systems: another report as prediction, another shuffle, and 1 in 5 references kept."""
    ids, preds, refs = iu_pairs
    n = len(refs)
    other = [refs[(i * 11 + 5) % n] for i in range(n)]
    mixed = [refs[i] if i % 5 == 0 else preds[i] for i in range(n)]
    return ids, refs, [("base", preds), ("other", other), ("mixed", mixed)]


def _ours(named_systems, test: str):
    ids, refs, named = named_systems
    return rrg_eval.compare(systems={name: dict(zip(ids, hyps)) for name, hyps in named},
                            references=dict(zip(ids, refs)), metrics=["sacrebleu"], test=test, seed=12345,
                            use_cache=False)


def _theirs(named_systems, test_type: str, monkeypatch):
    monkeypatch.delenv("SACREBLEU_SEED", raising=False)  # sacrebleu's default seed: 12345
    _, refs, named = named_systems
    extra = {"n_ar_confidence": 0} if test_type == "ar" else {}  # 0 = its default of 1,000 CI resamples
    _, scores = PairedTest(named, {"BLEU": BLEU()}, [refs], test_type=test_type, n_samples=0, **extra)()
    return scores["BLEU"]


def test_paired_bootstrap_equals_sacrebleu(named_systems, monkeypatch):
    theirs = _theirs(named_systems, "bs", monkeypatch)
    ours = _ours(named_systems, "bootstrap")
    assert ours.test["resamples"] == 1000 and ours.test["seed"] == 12345
    for their, entry in zip(theirs, ours.systems):
        assert entry.scores["sacrebleu"] * 100 == pytest.approx(their.score, abs=1e-9)
        lo, hi = entry.ci["sacrebleu"]
        # sacrebleu reports half the distance between the same order statistics (float32 sums on its side)
        assert 50 * (hi - lo) == pytest.approx(their.ci, abs=1e-5)
        if their.p_value is None:
            assert entry.p_values is None
        else:
            assert entry.p_values["sacrebleu"] == their.p_value
    assert 0.05 < ours.systems[1].p_values["sacrebleu"] < 1  # a non-trivial p-value is matched, not only 1/(n+1)
    assert ours.systems[2].p_values["sacrebleu"] == 1 / 1001


def test_approximate_randomization_equals_sacrebleu(named_systems, monkeypatch):
    theirs = _theirs(named_systems, "ar", monkeypatch)
    ours = _ours(named_systems, "ar")
    assert ours.test["trials"] == 10000 and ours.test["ci_resamples"] == 1000
    for their, entry in zip(theirs, ours.systems):
        assert entry.scores["sacrebleu"] * 100 == pytest.approx(their.score, abs=1e-9)
        if their.p_value is not None:
            assert entry.p_values["sacrebleu"] == their.p_value
    # sacrebleu draws the baseline's CI with fresh bootstrap indices from the seed, as we do for every system
    lo, hi = ours.systems[0].ci["sacrebleu"]
    assert 50 * (hi - lo) == pytest.approx(theirs[0].ci, abs=1e-5)
    assert 0.05 < ours.systems[1].p_values["sacrebleu"] < 1


@pytest.mark.parametrize(("ours", "theirs"), [("bootstrap", "bs"), ("ar", "ar")])
def test_saved_runs_keep_equality_with_sacrebleu(named_systems, monkeypatch, tmp_path, ours, theirs):
    """Issue 15: raw p-values from saved runs (score --save-run, compare --runs) still equal sacrebleu's; the
    adjusted ones are extra (Holm over the two tests here) and the AR test stays approximate (2^n > trials)."""
    ids, refs, named = named_systems
    paths = {}
    for name, hyps in named:
        result = rrg_eval.score(predictions=dict(zip(ids, hyps)), references=dict(zip(ids, refs)),
                                metrics=["sacrebleu"], use_cache=False)
        paths[name] = tmp_path / f"{name}.run"
        result.save(paths[name])
    board = rrg_eval.compare_runs(runs=paths, test=ours, seed=12345)
    their_scores = _theirs(named_systems, theirs, monkeypatch)
    assert board.test.get("exact", False) is False and board.test["adjust"] == "holm"
    for their, entry in zip(their_scores[1:], board.systems[1:]):
        assert entry.p_values["sacrebleu"] == their.p_value
        assert entry.p_adjusted["sacrebleu"] >= entry.p_values["sacrebleu"]
