"""The model-metric scaffold: weights identity (issue 11 #7), synthetic weights (issue 13), file-naming load
errors (issue 13), one cached loop."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from rrg_eval.metrics.base import RunContext  # noqa: E402
from rrg_eval.metrics.model import Codec, ModelMetric  # noqa: E402
from rrg_eval.metrics.registry import load_metric  # noqa: E402
from rrg_eval.synthetic_weights import SYNTHETIC_MARKER, synthesize  # noqa: E402
from rrg_eval.synthetic_weights import chexbert as chexbert_synth  # noqa: E402
from rrg_eval.synthetic_weights import radgraph as radgraph_synth  # noqa: E402

PREDS = ["No acute cardiopulmonary abnormality.", "Mild cardiomegaly. Small left pleural effusion.",
         "Lungs are clear. No pneumothorax.", "Stable atelectasis at the right base."]
REFS = ["No acute disease.", "Cardiomegaly with pleural effusion.", "Clear lungs, no pneumothorax.",
        "Right basilar atelectasis, unchanged."]


def _permute_vocab(folder: Path) -> None:
    """Swap the ids of every ordinary word piece (the special tokens keep theirs)."""
    lines = (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()
    head = [t for t in lines if t.startswith("[")]
    rest = [t for t in lines if not t.startswith("[")]
    random.Random(0).shuffle(rest)
    (folder / "vocab.txt").write_text("\n".join(head + rest) + "\n", encoding="utf-8")


def _weights(signature: str) -> str:
    return next(p for p in signature.split("|") if p.startswith("weights:"))


def test_f1chexbert_permuted_vocab_changes_key_and_signature(tmp_path: Path) -> None:
    synth = chexbert_synth.synthesize(tmp_path / "m", "tiny", 0)
    root = Path(synth) if (Path(synth) / "bert-base-uncased").is_dir() else tmp_path / "m"
    ckpt = next(root.rglob("chexbert.pth"))
    bert = root / "bert-base-uncased"
    permuted = tmp_path / "bert-permuted"
    shutil.copytree(bert, permuted)
    _permute_vocab(permuted)
    cache = tmp_path / "cache"
    a = load_metric("f1chexbert", checkpoint=str(ckpt), bert_path=str(bert), device="cpu")
    b = load_metric("f1chexbert", checkpoint=str(ckpt), bert_path=str(permuted), device="cpu")
    first = a.compute(predictions=PREDS, references=REFS, cache_dir=cache)
    second = b.compute(predictions=PREDS, references=REFS, cache_dir=cache)
    fresh = load_metric("f1chexbert", checkpoint=str(ckpt), bert_path=str(permuted), device="cpu").compute(
        predictions=PREDS, references=REFS, cache_dir=None)
    assert _weights(first.signature) != _weights(second.signature)
    assert a.cache_namespace() != b.cache_namespace()
    assert second.scores == fresh.scores  # never the stale entries of the other vocabulary
    assert b.last_counts.computed == b.last_counts.unique  # nothing read from a's entries


def test_radgraph_permuted_encoder_vocab_changes_key_and_signature(tmp_path: Path) -> None:
    radgraph_synth.synthesize(tmp_path / "m", "tiny", seed=0, model_types=("radgraph-xl",))
    archive = next((tmp_path / "m").rglob("radgraph-xl.tar.gz"))
    encoder = next(p.parent for p in (tmp_path / "m").rglob("config.json") if p.parent.name.endswith("encoder-tiny"))
    permuted = tmp_path / "enc-permuted"
    shutil.copytree(encoder, permuted)
    _permute_vocab(permuted)
    a = load_metric("radgraph", model_path=str(archive), encoder_path=str(encoder), device="cpu")
    b = load_metric("radgraph", model_path=str(archive), encoder_path=str(permuted), device="cpu")
    assert _weights(a.signature()) != _weights(b.signature())
    assert a.cache_namespace() != b.cache_namespace()
    cache = tmp_path / "cache"
    a.compute(predictions=PREDS, references=REFS, cache_dir=cache)
    b.compute(predictions=PREDS, references=REFS, cache_dir=cache)
    assert b.last_counts.cached == 0


def test_synthetic_weights_are_marked_everywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rrg_eval import model_admin

    folder = synthesize("bertscore", tmp_path / "synth")
    assert (folder / SYNTHETIC_MARKER).is_file()
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(folder))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    metric = load_metric("bertscore")
    assert "weights:synthetic-" in metric.signature()
    score = metric.compute(predictions=PREDS, references=REFS)
    assert "weights:synthetic-" in score.signature
    assert any("synthetic" in w and "meaningless" in w for w in score.warnings)
    results = model_admin.verify(["bertscore"])
    assert all(r.synthetic for r in results)
    assert "SYNTHETIC" in model_admin.render_verify(results)
    (folder / SYNTHETIC_MARKER).unlink()  # real weights: no mark
    assert "synthetic" not in load_metric("bertscore").signature()


def test_corrupt_safetensors_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rrg_eval.errors import MetricUnavailable

    folder = synthesize("bertscore", tmp_path / "synth")
    weights = folder / "distilbert-base-uncased" / "model.safetensors"
    weights.write_bytes(b"\x01\x00")
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(folder))
    with pytest.raises(MetricUnavailable) as info:
        load_metric("bertscore").compute(predictions=PREDS[:1], references=REFS[:1])
    assert str(weights) in str(info.value)


class _Upper(ModelMetric):
    """A toy model metric: the scaffold's loop with a back-end that upper-cases (counts its calls)."""

    name = "toy"
    keys = ("toy",)
    requires = ()

    def __init__(self) -> None:
        from dataclasses import make_dataclass

        type(self).Config = make_dataclass("ToyConfig", [], frozen=True)
        super().__init__()
        self.calls: list[list[str]] = []

    def weight_files(self, *, use_hub: bool = True) -> list[Path]:
        return [Path(__file__)]

    def compute_stats(self, **kw):  # pragma: no cover - not used
        raise NotImplementedError

    def aggregate(self, stats):  # pragma: no cover
        return {}

    def per_report(self, stats):  # pragma: no cover
        return {}


def test_cached_loop_dedupes_reads_and_counts(tmp_path: Path) -> None:
    codec = Codec(lambda v: v.encode(), lambda b: b.decode() if b != b"bad" else None)
    metric = _Upper()

    def compute(todo: list[str]) -> list[str]:
        metric.calls.append(todo)
        return [t.upper() for t in todo]

    ctx = RunContext(cache_dir=tmp_path)
    out = metric.annotate_cached(["a", "b", "a"], ctx, codec=codec, compute=compute)
    assert out == {"a": "A", "b": "B"} and metric.calls == [["a", "b"]]
    assert (metric.last_counts.unique, metric.last_counts.computed) == (2, 2)
    from rrg_eval.cache import AnnotationCache, text_key

    store = AnnotationCache(tmp_path, metric.cache_namespace())
    store.put_many({text_key("b"): b"bad"})
    store.close()
    ctx = RunContext(cache_dir=tmp_path)
    out = metric.annotate_cached(["a", "b", "c"], ctx, codec=codec, compute=compute)
    assert out == {"a": "A", "b": "B", "c": "C"} and metric.calls[-1] == ["b", "c"]
    assert metric.last_counts.cached == 1 and metric.last_counts.unreadable == 1
    assert any("1 unreadable cache entry" in w for w in ctx.warnings)
