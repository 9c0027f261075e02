"""Reduced precision (rrg_eval.backends.precision): refusals, signatures, cache namespaces, tiny real models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rrg_eval.backends import precision
from rrg_eval.backends.precision import PRECISIONS, cache_suffix, check
from rrg_eval.errors import ConfigError
from rrg_eval.metrics.registry import load_metric

PREDS = ["Heart size is normal. No pleural effusion.", "Mild cardiomegaly with small left effusion.", ""]
REFS = ["The heart is enlarged. Small effusion.", "No acute cardiopulmonary process.", "Lungs are clear."]


@pytest.fixture()
def measured(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lift the CPU refusals, as benchmarks/bench_precision.py does, to exercise the reduced-precision paths."""
    monkeypatch.setattr(precision, "REFUSED_ON_CPU", {})


def test_cpu_modes_that_missed_the_target_are_refused_with_the_measurement() -> None:
    assert set(precision.REFUSED_ON_CPU["f1chexbert"]) == {"bf16", "int8"}
    for mode in ("bf16", "int8"):
        with pytest.raises(ConfigError, match=f"f1chexbert.precision={mode} is refused on the CPU: measured"):
            check(mode, "cpu", metric="f1chexbert")
        with pytest.raises(ConfigError, match="refused on the CPU"):  # at config time, before any work
            load_metric("f1chexbert", device="cpu", precision=mode)
    check("bf16", "cuda", metric="f1chexbert")
    check("int8", "cpu", metric="bertscore")  # met the target
    check("bf16", "cpu", metric="bertscore")


def test_check_refuses_what_the_device_cannot_run(measured: None) -> None:
    for p in ("fp32", "bf16", "int8"):
        check(p, "cpu")
    for p in ("fp32", "bf16", "fp16"):
        check(p, "cuda:0")
    with pytest.raises(ConfigError, match="int8 runs on the CPU only"):
        check("int8", "cuda")
    with pytest.raises(ConfigError, match="fp16 needs a GPU"):
        check("fp16", "cpu", metric="radgraph")
    with pytest.raises(ConfigError, match="valid: fp32, bf16, fp16, int8"):
        check("fp8", "cpu")
    assert cache_suffix("fp32") == "" and cache_suffix("int8") == "-int8"


@pytest.mark.parametrize("name", ["f1chexbert", "radgraph", "bertscore"])
def test_option_in_signature_and_refused_when_unknown(name: str, measured: None) -> None:
    metric = load_metric(name)
    assert metric.config.precision == "fp32"
    assert "|prec:" not in metric.signature()  # fp32 (the default) is not written
    assert "|prec:int8" in load_metric(name, precision="int8").signature()
    with pytest.raises(ConfigError, match=f"{name}.precision"):
        load_metric(name, precision="int4")


torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rrg_eval.synthetic_weights import radgraph as rg
    from rrg_eval.synthetic_weights import synthesize

    out = tmp_path_factory.mktemp("prec-models")
    synthesize("chexbert", out, size="tiny", seed=0)
    synthesize("bertscore", out, size="tiny", seed=0)
    rg.synthesize(out, "tiny", seed=0, model_types=("radgraph-xl",))
    return out


@pytest.mark.parametrize("name", ["f1chexbert", "radgraph", "bertscore"])
def test_reduced_precision_runs_signs_and_caches_apart(name: str, models: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch, measured: None) -> None:
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(models))
    cache = tmp_path / "cache"
    for mode in ("fp32", "int8", "bf16"):
        metric = load_metric(name, device="cpu", precision=mode)
        try:
            result = metric.compute(predictions=PREDS, references=REFS, cache_dir=cache)
            namespace = metric.cache_namespace(cache)
        finally:
            metric.close()
        assert (f"|prec:{mode}|" in result.signature) == (mode != "fp32") and ("|prec:" in result.signature) == (
            mode != "fp32")
        assert namespace.endswith(cache_suffix(mode)) and (mode == "fp32") == (
            not namespace.endswith(("-int8", "-bf16")))
        assert all(np.isfinite(v) for v in result.scores.values())
    # every precision computed its own entries (nothing was read from another precision's namespace)
    files = sorted(p.name for p in cache.iterdir() if p.suffix == ".sqlite")
    assert any(f.endswith("-int8.sqlite") for f in files) and any(f.endswith("-bf16.sqlite") for f in files)


def test_default_fp32_numbers_unchanged(models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """precision=fp32 leaves the encoder untouched: same module type, same float32 outputs as before."""
    from rrg_eval.backends.precision import prepare

    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(models))
    metric = load_metric("f1chexbert", device="cpu")
    bert = metric.backend().bert
    assert prepare(bert, "fp32", "cpu") is bert
    assert all(p.dtype == torch.float32 for p in bert.parameters())


def test_int8_quantises_every_linear_of_the_encoder(models: Path, monkeypatch: pytest.MonkeyPatch,
                                                   measured: None) -> None:
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(models))
    metric = load_metric("radgraph", device="cpu", precision="int8")
    encoder = metric.backend().encoder
    kinds = {type(m).__module__ + "." + type(m).__name__ for m in encoder.modules()}
    assert not any(k == "torch.nn.modules.linear.Linear" for k in kinds)
    assert any("quantized" in k for k in kinds)
    # the span heads stay float32
    assert type(metric.backend().ner_out) is torch.nn.Linear
    assert "fp16" in PRECISIONS
