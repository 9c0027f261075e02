"""The BERTScore CXR preset (CXR-Report-Metric's BERTScore): what it fixes, spaces, keys, idf corpus, signature;
parity with bert-score 0.3.13 ``BERTScorer`` on a synthetic distilroberta-base (slow, in its own venv)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("bert_score")

import rrg_eval  # noqa: E402
from rrg_eval.errors import ConfigError  # noqa: E402
from rrg_eval.metrics.bertscore import CXR_KEYS, BertScore, corpus_digest, read_idf_corpus  # noqa: E402

PREDS = ["The heart  size is   normal.", "No  pleural effusion.", "", "Lungs are clear. No pneumothorax."]
REFS = ["The heart size is normal.", "No pleural effusion or pneumothorax.", "Clear lungs.", "Lungs  clear."]


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rrg_eval.synthetic_weights import synthesize

    return synthesize("distilroberta", tmp_path_factory.mktemp("droberta"), "tiny", seed=0)


@pytest.fixture()
def model_dir(synth: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(synth))
    return synth


def test_preset_fixes_the_reference_configuration() -> None:
    metric = BertScore(preset="cxr")
    c = metric.config
    assert (c.model_type, c.num_layers, c.rescale_with_baseline, c.idf) == ("distilroberta-base", 5, True, False)
    assert metric.keys == CXR_KEYS == ("bertscore_cxr_p", "bertscore_cxr_r", "bertscore_cxr_f1")
    assert BertScore().keys == ("bertscore_p", "bertscore_r", "bertscore_f1")
    assert [w.filename for w in metric.required_weights()] == ["config.json", "vocab.json", "merges.txt",
                                                               "model.safetensors"]
    assert {w.repo_id for w in metric.required_weights()} == {"distilroberta-base"}
    with pytest.raises(ConfigError, match="preset=cxr fixes model_type"):
        BertScore(preset="cxr", model_type="roberta-large")
    with pytest.raises(ConfigError, match="rescale_with_baseline"):
        BertScore(preset="cxr", rescale_with_baseline=False)
    with pytest.raises(ConfigError, match="preset"):
        BertScore(preset="nope")
    assert "preset" not in BertScore().signature()  # default signatures are unchanged


def test_keys_spaces_and_signature(model_dir: Path) -> None:
    result = rrg_eval.score(predictions=PREDS, references=REFS, metrics=["bertscore"], bertscore={"preset": "cxr"},
                            use_cache=False, device="cpu")
    assert not result.errors, result.errors
    assert set(result.scores) == set(CXR_KEYS)
    sig = result.signatures["bertscore"]
    assert "model:distilroberta-base|L:5|idf:no|rescaled:yes|lang:en|preset:cxr|" in sig
    assert "idf_corpus" not in sig and "weights:synthetic-" in sig
    collapsed = rrg_eval.score(predictions=[re.sub(" +", " ", p) for p in PREDS],
                               references=[re.sub(" +", " ", r) for r in REFS], metrics=["bertscore"],
                               bertscore={"preset": "cxr"}, use_cache=False, device="cpu")
    for key in CXR_KEYS:  # runs of spaces are collapsed as CXR-Report-Metric does
        assert np.array_equal(result.per_report[key].to_numpy(), collapsed.per_report[key].to_numpy())
    plain = rrg_eval.score(predictions=PREDS, references=REFS, metrics=["bertscore"], use_cache=False,
                           device="cpu", bertscore={"model_type": "distilroberta-base"})
    assert not np.array_equal(plain.per_report["bertscore_f1"].to_numpy(),
                              result.per_report["bertscore_cxr_f1"].to_numpy())  # "normal." vs "  normal."


def test_idf_corpus(model_dir: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(REFS) + "\n\n", encoding="utf-8")
    assert read_idf_corpus(str(corpus)) == REFS
    run = rrg_eval.score(predictions=PREDS, references=REFS, metrics=["bertscore"], use_cache=False, device="cpu",
                         bertscore={"preset": "cxr", "idf": True})
    explicit = rrg_eval.score(predictions=PREDS, references=REFS, metrics=["bertscore"], use_cache=False,
                              device="cpu", bertscore={"preset": "cxr", "idf": True, "idf_corpus": str(corpus)})
    assert "|idf:yes|" in run.signatures["bertscore"] and "|idf_corpus:refs|" in run.signatures["bertscore"]
    assert f"|idf_corpus:{corpus_digest(REFS)}|" in explicit.signatures["bertscore"]
    for key in CXR_KEYS:  # the corpus equals the run's references (spaces are collapsed on both sides)
        np.testing.assert_allclose(explicit.per_report[key].to_numpy(), run.per_report[key].to_numpy(), atol=1e-7)
    # the first two rows alone, with the corpus: the same values as in the whole run
    part = rrg_eval.score(predictions=PREDS[:2], references=REFS[:2], metrics=["bertscore"], use_cache=False,
                          device="cpu", bertscore={"preset": "cxr", "idf": True, "idf_corpus": str(corpus)})
    assert np.array_equal(part.per_report["bertscore_cxr_f1"].to_numpy(),
                          explicit.per_report["bertscore_cxr_f1"].to_numpy()[:2])
    other = tmp_path / "other.jsonl"
    other.write_text('{"id": "a", "report": "Heart normal."}\n{"id": "b", "report": "Effusion."}\n')
    assert read_idf_corpus(str(other)) == ["Heart normal.", "Effusion."]
    with pytest.raises(ConfigError, match="does not exist"):
        read_idf_corpus(str(tmp_path / "missing.txt"))
    with pytest.raises(ConfigError, match="idf_corpus: file .* does not exist"):  # when the config is built
        BertScore(preset="cxr", idf=True, idf_corpus=str(tmp_path / "missing.txt"))


def test_models_synth_kind() -> None:
    from rrg_eval.synthetic_weights import SYNTHESIZERS

    assert SYNTHESIZERS["distilroberta"] == "rrg_eval.synthetic_weights.distilroberta:synthesize"


@pytest.mark.slow
def test_base_size_is_distilroberta_base(tmp_path: Path) -> None:
    from rrg_eval.synthetic_weights.distilroberta import roberta_config, roberta_state_dict

    sd = roberta_state_dict(roberta_config("base"), 0)
    assert sum(v.size for v in sd.values()) == 82_118_400  # RobertaModel(distilroberta-base config) parameters


# -- parity with bert-score 0.3.13 (its venv: .ci/setup_bertscore_venv.sh) -------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("idf", [False, True])
def test_parity_with_bert_score_scorer(idf: bool, model_dir: Path, tmp_path: Path,
                                       iu_pairs: tuple[list[str], list[str], list[str]]) -> None:
    """CXR-Report-Metric's call, BERTScorer(model_type=distilroberta-base, lang=en, rescale_with_baseline=True,
    idf=..., idf_sents=refs).score(hyps, refs) on space-collapsed texts, vs the preset (idf from the references)."""
    from test_bertscore_parity import REPO, run_official

    python = REPO / ".venv-bertscore" / "bin" / "python"
    if not python.is_file():
        pytest.skip("bert-score 0.3.13 venv absent: run .ci/setup_bertscore_venv.sh")
    from rrg_eval.metrics.bertscore import bundled_baseline

    ids, preds, refs = (list(x[:200]) for x in iu_pairs)
    preds[0], preds[1], refs[2] = "", "Heart   size  normal.  No effusion.", " ".join(refs[:40])
    hyps_c = [re.sub(r" +", " ", t) for t in preds]
    refs_c = [re.sub(r" +", " ", t) for t in refs]
    import json
    import os
    import subprocess

    baseline = bundled_baseline("en", "distilroberta-base")
    kwargs = {"model_type": str(model_dir / "distilroberta-base"), "num_layers": 5, "batch_size": 256, "lang": "en",
              "rescale_with_baseline": True, "idf": idf, "idf_sents": refs_c, "baseline_path": str(baseline)}
    request = json.dumps({"cands": hyps_c, "refs": refs_c, "kwargs": kwargs, "scorer": True})
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([str(python), str(REPO / "tests" / "support" / "official_bertscore_runner.py")],
                          input=request, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    official = json.loads(done.stdout)
    ours = BertScore(preset="cxr", idf=idf, device="cpu", batch_size=256).compute(
        predictions=preds, references=refs, ids=ids, cache_dir=tmp_path / "c")
    # 1e-6 on the model's (un-rescaled) scores: float32 sums differ in the last bits with the padding width of a
    # batch (bert-score batches by word count, rrg-eval by token count), and rescaling multiplies that by
    # 1 / (1 - b) (6.6 for distilroberta-base's layer-5 baseline), so the rescaled tolerance is 1e-6 / (1 - b)
    from rrg_eval.metrics.bertscore import read_baseline

    base = read_baseline(baseline, 5).astype(float)
    for j, (k, key) in enumerate((("P", "bertscore_cxr_p"), ("R", "bertscore_cxr_r"), ("F", "bertscore_cxr_f1"))):
        np.testing.assert_allclose(ours.per_report[key], np.asarray(official[k]), rtol=0, atol=1e-6 / (1 - base[j]),
                                   err_msg=key)
        assert abs(ours.scores[key] - float(np.mean(official[k]))) < 1e-6, key
    assert len(set(np.round(ours.per_report["bertscore_cxr_f1"], 6))) > 50
    del run_official
