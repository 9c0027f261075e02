"""Parity of the lexical metrics with their reference packages on the IU X-ray validation reports, to 1e-9.

Reference calls (versions pinned by the ``test`` extra):

* ``bleu``: pycocoevalcap 1.2, ``Bleu(4).compute_score(gts, res, verbose=0)``
* ``cider``: pycocoevalcap 1.2, ``Cider().compute_score(gts, res)``
* ``meteor``: pycocoevalcap 1.2, ``Meteor().compute_score(gts, res)`` (meteor-1.5.jar, needs Java)
* ``rouge``: rouge-score 0.1.2, ``RougeScorer([...], use_stemmer=...).score(ref, pred)[t].fmeasure``, mean
* ``sacrebleu``: sacrebleu 2.x, ``sacrebleu.corpus_bleu(hyps, [refs]).score / 100``; per report
  ``sacrebleu.metrics.BLEU().corpus_score([hyp], [[ref]]).score / 100`` (the sentence's own statistics)

Predictions are other reports of the same split (see ``iu_pairs`` in conftest.py).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from rrg_eval.metrics.registry import load_metric
from rrg_eval.normalize import normalize
from rrg_eval.stats import take

pytest.importorskip("pycocoevalcap")
from pycocoevalcap.bleu.bleu import Bleu as CocoBleu  # noqa: E402
from pycocoevalcap.cider.cider import Cider as CocoCider  # noqa: E402

TOL = 1e-9
MODES = ["none", "lower", "r2gen"]


def _with_empties(preds: list[str], refs: list[str]) -> tuple[list[str], list[str]]:
    """A few empty and whitespace-only predictions and references (valid input, scored as the reference packages
    do; no line break, which pycocoevalcap's METEOR cannot send)."""
    preds, refs = list(preds), list(refs)
    for i in (0, 17, 101):
        preds[i] = ""
    for i in (5, 250):
        refs[i] = ""
    preds[300] = refs[300] = ""
    preds[40] = "   "
    refs[41] = " \t "
    preds[42] = refs[42] = "  "
    return preds, refs


@pytest.fixture(scope="module", params=[(m, False) for m in MODES] + [("none", True)],
                ids=[f"norm={m}" for m in MODES] + ["empties"])
def variant(request, iu_pairs):  # type: ignore[no-untyped-def]
    """(ids, raw predictions, raw references, normalisation mode, texts as the reference package sees them)."""
    mode, empties = request.param
    ids, preds, refs = iu_pairs
    if empties:
        preds, refs = _with_empties(preds, refs)
    norm_preds = [normalize(p, mode) for p in preds]
    norm_refs = [normalize(r, mode) for r in refs]
    return ids, preds, refs, mode, norm_preds, norm_refs


def _coco(ids: list[str], preds: list[str], refs: list[str]) -> tuple[dict, dict]:
    return {i: [r] for i, r in zip(ids, refs)}, {i: [p] for i, p in zip(ids, preds)}


def test_bleu_matches_pycocoevalcap(variant):  # type: ignore[no-untyped-def]
    ids, preds, refs, mode, npreds, nrefs = variant
    ours = load_metric("bleu", normalize=mode).compute(predictions=preds, references=refs, ids=ids)
    gts, res = _coco(ids, npreds, nrefs)
    # pycocoevalcap 1.2: Bleu(4).compute_score(gts, res, verbose=0) -> ([b1..b4], [[per-image b1], ..])
    corpus, per_image = CocoBleu(4).compute_score(gts, res, verbose=0)
    for k in range(4):
        assert ours.scores[f"bleu{k + 1}"] == pytest.approx(corpus[k], abs=TOL)
        np.testing.assert_allclose(ours.per_report[f"bleu{k + 1}"], per_image[k], rtol=0, atol=TOL)
    assert f"norm:{mode}" in ours.signature


def test_cider_matches_pycocoevalcap(variant):  # type: ignore[no-untyped-def]
    ids, preds, refs, mode, npreds, nrefs = variant
    ours = load_metric("cider", normalize=mode).compute(predictions=preds, references=refs, ids=ids)
    gts, res = _coco(ids, npreds, nrefs)
    # pycocoevalcap 1.2: Cider().compute_score(gts, res) -> (mean, per-image array in gts order)
    corpus, per_image = CocoCider().compute_score(gts, res)
    assert ours.scores["cider"] == pytest.approx(corpus, abs=TOL)
    np.testing.assert_allclose(ours.per_report["cider"], per_image, rtol=0, atol=TOL)


def _rouge_check(ids, preds, refs, mode, npreds, nrefs, use_stemmer):  # type: ignore[no-untyped-def]
    from rouge_score.rouge_scorer import RougeScorer

    ours = load_metric("rouge", normalize=mode, use_stemmer=use_stemmer).compute(
        predictions=preds, references=refs, ids=ids)
    types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    # rouge-score 0.1.2: RougeScorer(types, use_stemmer=...).score(target, prediction)[t].fmeasure, mean
    scorer = RougeScorer(types, use_stemmer=use_stemmer)
    expected = np.array([[s[t].fmeasure for t in types] for s in (scorer.score(r, p) for p, r in zip(npreds, nrefs))])
    for j, t in enumerate(types):
        assert ours.scores[t] == pytest.approx(expected[:, j].mean(), abs=TOL)
        np.testing.assert_allclose(ours.per_report[t], expected[:, j], rtol=0, atol=TOL)
    assert f"stem:{'yes' if use_stemmer else 'no'}" in ours.signature


def test_rouge_matches_rouge_score(variant):  # type: ignore[no-untyped-def]
    _rouge_check(*variant, use_stemmer=True)


def test_rouge_without_stemmer_matches_rouge_score(iu_pairs):  # type: ignore[no-untyped-def]
    ids, preds, refs = iu_pairs
    _rouge_check(ids, preds, refs, "none", preds, refs, use_stemmer=False)


def test_sacrebleu_matches_sacrebleu(variant):  # type: ignore[no-untyped-def]
    import sacrebleu
    from sacrebleu.metrics import BLEU

    ids, preds, refs, mode, npreds, nrefs = variant
    ours = load_metric("sacrebleu", normalize=mode).compute(predictions=preds, references=refs, ids=ids)
    # sacrebleu >= 2.3 (2.6.0 when frozen): corpus_bleu(hyps, [refs]).score / 100 with its defaults
    assert ours.scores["sacrebleu"] == pytest.approx(sacrebleu.corpus_bleu(npreds, [nrefs]).score / 100, abs=TOL)
    # sacrebleu >= 2.3, per report: BLEU() (defaults).corpus_score([hyp], [[ref]]): the segment's own statistics
    bleu = BLEU()
    expected = [bleu.corpus_score([p], [[r]]).score / 100 for p, r in zip(npreds, nrefs)]
    np.testing.assert_allclose(ours.per_report["sacrebleu"], expected, rtol=0, atol=TOL)
    assert "nrefs:1" in ours.signature and "tok:13a" in ours.signature and f"sacrebleu:{sacrebleu.__version__}" \
        in ours.signature


def test_bootstrap_resample_equals_reference_on_resampled_corpus(iu_pairs):  # type: ignore[no-untyped-def]
    """aggregate(take(stats, idx)) is the reference package run on the resampled corpus (ids made unique)."""
    ids, preds, refs = iu_pairs
    idx = np.random.default_rng(20240607).integers(0, len(ids), size=len(ids))
    assert len(set(idx.tolist())) < len(idx)  # the resample does repeat rows
    new_ids = [f"r{j}" for j in range(len(idx))]
    gts, res = _coco(new_ids, [preds[i] for i in idx], [refs[i] for i in idx])
    bleu = load_metric("bleu")
    stats = bleu.compute(predictions=preds, references=refs, ids=ids).stats
    # pycocoevalcap 1.2 Bleu(4).compute_score on the resampled corpus
    expected_bleu, _ = CocoBleu(4).compute_score(gts, res, verbose=0)
    got = bleu.aggregate(take(stats, idx))
    for k in range(4):
        assert got[f"bleu{k + 1}"] == pytest.approx(expected_bleu[k], abs=TOL)
    cider = load_metric("cider")
    cstats = cider.compute(predictions=preds, references=refs, ids=ids).stats
    # pycocoevalcap 1.2 Cider().compute_score on the resampled corpus (idf from the resampled references)
    expected_cider, _ = CocoCider().compute_score(gts, res)
    assert cider.aggregate(take(cstats, idx))["cider"] == pytest.approx(expected_cider, abs=TOL)


# -- METEOR (Java; slow: two JVMs and 382 pairs take ~30-50 s on 2 cores) ----------------------------------------------

@pytest.fixture(scope="module")
def coco_meteor():  # type: ignore[no-untyped-def]
    """One pycocoevalcap Meteor (one Java process) for the module."""
    if shutil.which("java") is None:
        pytest.skip("METEOR parity needs a Java runtime (`java` not found on PATH)")
    from pycocoevalcap.meteor.meteor import Meteor as CocoMeteor

    meteor = CocoMeteor()
    yield meteor
    meteor.meteor_p.stdin.close()
    meteor.meteor_p.kill()
    meteor.meteor_p.wait()


@pytest.fixture(scope="module")
def our_meteor():  # type: ignore[no-untyped-def]
    """One of our meteor metrics (one Java process) for the module."""
    if shutil.which("java") is None:
        pytest.skip("METEOR parity needs a Java runtime (`java` not found on PATH)")
    metric = load_metric("meteor")
    yield metric
    metric.close()


@pytest.mark.slow
@pytest.mark.parametrize("with_empties", [False, True], ids=["plain", "empties"])
def test_meteor_matches_pycocoevalcap(iu_pairs, coco_meteor, our_meteor, with_empties):  # type: ignore[no-untyped-def]
    ids, preds, refs = iu_pairs
    if with_empties:
        preds, refs = _with_empties(preds, refs)
    ours = our_meteor.compute(predictions=preds, references=refs, ids=ids)
    gts, res = _coco(ids, preds, refs)
    # pycocoevalcap 1.2: Meteor().compute_score(gts, res) -> (corpus, [per-image])
    corpus, per_image = coco_meteor.compute_score(gts, res)
    assert ours.scores["meteor"] == pytest.approx(corpus, abs=TOL)
    np.testing.assert_allclose(ours.per_report["meteor"], per_image, rtol=0, atol=TOL)


@pytest.mark.slow
def test_meteor_with_normalization_matches_pycocoevalcap(iu_pairs, coco_meteor):  # type: ignore[no-untyped-def]
    ids, preds, refs = iu_pairs
    ids, preds, refs = ids[:120], preds[:120], refs[:120]
    metric = load_metric("meteor", normalize="r2gen")
    try:
        ours = metric.compute(predictions=preds, references=refs, ids=ids)
    finally:
        metric.close()
    gts, res = _coco(ids, [normalize(p, "r2gen") for p in preds], [normalize(r, "r2gen") for r in refs])
    # pycocoevalcap 1.2: Meteor().compute_score on the r2gen-normalised texts
    corpus, per_image = coco_meteor.compute_score(gts, res)
    assert ours.scores["meteor"] == pytest.approx(corpus, abs=TOL)
    np.testing.assert_allclose(ours.per_report["meteor"], per_image, rtol=0, atol=TOL)
    assert "norm:r2gen" in ours.signature


@pytest.mark.slow
def test_meteor_line_breaks_do_not_break_the_protocol(our_meteor):  # type: ignore[no-untyped-def]
    """Regression: a "\\r" inside a report (CRLF text) ended the jar's input line and crashed the metric."""
    crlf = our_meteor.compute(predictions=["the heart is normal.\r\nno effusion", "clear\rlungs"],
                              references=["heart normal\r\nno pleural\neffusion", "lungs are clear"])
    spaced = our_meteor.compute(predictions=["the heart is normal. no effusion", "clear lungs"],
                                references=["heart normal no pleural effusion", "lungs are clear"])
    assert crlf.scores == spaced.scores and 0 < crlf.scores["meteor"] < 1
    np.testing.assert_array_equal(crlf.per_report["meteor"], spaced.per_report["meteor"])
