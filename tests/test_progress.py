"""Progress events (issue 13, "Progress"): the exact sequences the API sends to a callback, the model scaffold's
stages, the judges' answers, and the plain-line renderer of logs (never lines run together)."""

from __future__ import annotations

import io
import os
from dataclasses import make_dataclass
from pathlib import Path

import numpy as np
import pytest

import rrg_eval
from rrg_eval import progress as pg
from rrg_eval.api import read_pairs, score_pairs
from rrg_eval.cli.progress import PlainProgress, describe, make_progress
from rrg_eval.errors import ConfigError, MetricError
from rrg_eval.metrics.base import Metric, RunContext
from rrg_eval.metrics.model import Codec, ModelMetric
from rrg_eval.progress import ProgressEvent as E

PREDS = {"a": "No acute disease.", "b": "Small left effusion.", "c": "Heart size normal."}
REFS = {"a": "No acute cardiopulmonary disease.", "b": "Small left pleural effusion.", "c": "Normal heart."}


def test_score_sends_a_start_and_an_end_per_metric() -> None:
    events: list[E] = []
    rrg_eval.score(predictions=PREDS, references=REFS, metrics=["bleu", "cider"], use_cache=False,
                   progress=events.append)
    assert events == [E("metric", "bleu", None, 0, 3), E("metric", "bleu", None, 3, 3),
                      E("metric", "cider", None, 0, 3), E("metric", "cider", None, 3, 3)]


def test_default_and_false_send_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    rrg_eval.score(predictions=PREDS, references=REFS, metrics=["bleu"], use_cache=False)
    rrg_eval.score(predictions=PREDS, references=REFS, metrics=["bleu"], use_cache=False, progress=False)
    assert capsys.readouterr().err == ""


def test_true_shows_plain_lines_on_a_stderr_that_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    rrg_eval.score(predictions=PREDS, references=REFS, metrics=["bleu"], use_cache=False, progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "rrg-eval: bleu: scoring 3 pairs" and lines[1].startswith("rrg-eval: bleu: done in ")
    assert len(lines) == 2


def test_a_wrong_progress_value_is_refused_before_any_work() -> None:
    with pytest.raises(ConfigError, match="progress must be True, False or a callable"):
        rrg_eval.score(predictions=PREDS, references=REFS, metrics=["bleu"], progress="yes")  # type: ignore[arg-type]


def test_compare_labels_every_event_with_its_system() -> None:
    events: list[E] = []
    rrg_eval.compare(systems={"base": PREDS, "copy": REFS}, references=REFS, metrics=["bleu"], resamples=20,
                     use_cache=False, progress=events.append)
    assert events == [E("metric", "bleu", "base", 0, 3), E("metric", "bleu", "base", 3, 3),
                      E("metric", "bleu", "copy", 0, 3), E("metric", "bleu", "copy", 3, 3),
                      E("resample", None, None, 0, 1, detail="bleu"), E("resample", None, None, 1, 1)]


def test_compare_sections_name_the_section() -> None:
    rows = {k: {"findings": v, "impression": v} for k, v in REFS.items()}
    events: list[E] = []
    rrg_eval.compare(systems={"s1": rows, "s2": rows}, references=rows, metrics=["bleu"], resamples=10,
                     sections=["findings", "impression"], use_cache=False, progress=events.append)
    starts = [e.system for e in events if e.done == 0 and e.stage == "metric"]
    assert starts == ["s1 [findings]", "s2 [findings]", "s1 [impression]", "s2 [impression]"]
    assert [e.detail for e in events if e.stage == "resample"] == ["findings/bleu", "impression/bleu", None]


class _Failing(Metric):
    name = "fails_for_progress"
    description = "fails on purpose (test)"
    keys = ("nothing",)
    Config = make_dataclass("FailingConfig", [], frozen=True)

    def compute_stats(self, *, predictions, references, ids, context):  # type: ignore[no-untyped-def]
        raise MetricError("exploded")

    def aggregate(self, stats):  # type: ignore[no-untyped-def]
        return {}

    def per_report(self, stats):  # type: ignore[no-untyped-def]
        return {"nothing": np.zeros(0)}


def test_a_failing_metric_sends_skipped_and_the_next_one_runs() -> None:
    from rrg_eval.metrics.registry import metric_class

    events: list[E] = []
    result = score_pairs(read_pairs(PREDS, REFS), [_Failing(), metric_class("bleu")()], progress=events.append)
    assert "fails_for_progress" in result.errors and "bleu1" in result.scores
    assert events == [E("metric", "fails_for_progress", None, 0, 3), E("skipped", "fails_for_progress", None, 0, 3),
                      E("metric", "bleu", None, 0, 3), E("metric", "bleu", None, 3, 3)]


class _Toy(ModelMetric):
    """A model metric without a model: the scaffold's loop with a back-end that upper-cases."""

    name = "toy_progress"
    keys = ("toy",)
    requires = ()
    Config = make_dataclass("ToyProgressConfig", [], frozen=True)

    def __init__(self, chunk: int = 512) -> None:
        super().__init__()
        self.chunk = chunk
        self.calls: list[list[str]] = []

    def annotate_chunk(self) -> int:
        return self.chunk

    def weight_files(self, *, use_hub: bool = True) -> list[Path]:
        return [Path(__file__)]

    def compute_stats(self, *, predictions, references, ids, context):  # type: ignore[no-untyped-def]
        def compute(todo: list[str]) -> list[str]:
            self.calls.append(list(todo))
            return [t.upper() for t in todo]

        found = self.annotate_cached(predictions + references, context, compute=compute,
                                     codec=Codec(lambda v: v.encode(), lambda b: b.decode()))
        return {"toy": np.array([float(found[p] == found[r]) for p, r in zip(predictions, references)])}

    def aggregate(self, stats):  # type: ignore[no-untyped-def]
        return {"toy": float(np.mean(stats["toy"]))}

    def per_report(self, stats):  # type: ignore[no-untyped-def]
        return {"toy": stats["toy"]}


def test_the_model_scaffold_sends_unique_cached_and_compute(tmp_path: Path) -> None:
    texts = ["a", "b", "a", "c", "d", "e", "b"]
    metric = _Toy(chunk=2)
    events: list[E] = []
    out = metric.annotate_cached(texts, RunContext(cache_dir=tmp_path, progress=events.append),
                                 codec=Codec(lambda v: v.encode(), lambda b: b.decode()),
                                 compute=lambda todo: metric.calls.append(todo) or [t.upper() for t in todo])
    assert out == {t: t.upper() for t in texts}
    assert metric.calls == [["a", "b"], ["c", "d"], ["e"]]  # chunks in first-seen order, each stored at once
    assert events == [E("unique", "toy_progress", None, 5, 5), E("cached", "toy_progress", None, 0, 5),
                      E("compute", "toy_progress", None, 0, 5), E("compute", "toy_progress", None, 2, 5),
                      E("compute", "toy_progress", None, 4, 5), E("compute", "toy_progress", None, 5, 5)]
    events.clear()
    metric.annotate_cached(texts + ["f"], RunContext(cache_dir=tmp_path, progress=events.append),
                           codec=Codec(lambda v: v.encode(), lambda b: b.decode()),
                           compute=lambda todo: [t.upper() for t in todo])
    assert events == [E("unique", "toy_progress", None, 6, 6), E("cached", "toy_progress", None, 5, 6),
                      E("compute", "toy_progress", None, 0, 1), E("compute", "toy_progress", None, 1, 1)]
    events.clear()
    metric.annotate_cached(texts, RunContext(cache_dir=tmp_path, progress=events.append),
                           codec=Codec(lambda v: v.encode(), lambda b: b.decode()),
                           compute=lambda todo: pytest.fail("everything is cached"))  # type: ignore[arg-type]
    assert events == [E("unique", "toy_progress", None, 5, 5), E("cached", "toy_progress", None, 5, 5)]


def test_a_model_metric_in_score_pairs_sends_its_stages_inside_its_metric_events() -> None:
    events: list[E] = []
    score_pairs(read_pairs(PREDS, REFS), [_Toy()], progress=events.append)
    assert [(e.stage, e.done, e.total) for e in events] == [
        ("metric", 0, 3), ("unique", 6, 6), ("cached", 0, 6), ("compute", 0, 6), ("compute", 6, 6),
        ("metric", 3, 3)]


def test_the_chunk_is_at_least_sixteen_batches() -> None:
    from rrg_eval.metrics import model

    metric = _Toy()
    assert ModelMetric.annotate_chunk(metric) == model.ANNOTATE_CHUNK
    type(metric).batch_size = property(lambda self: 64)  # type: ignore[assignment]
    try:
        assert ModelMetric.annotate_chunk(metric) == 16 * 64
    finally:
        del type(metric).batch_size


_ANSWER = ("Number of clinically significant errors by type: [(A, 1), (B, 0), (C, 0), (D, 0), (E, 0), (F, 0)]\n"
           "Number of clinically insignificant errors by type: ((A, 0), (B, 0), (C, 0), (D, 0), (E, 0), (F, 0))")


def test_a_judge_sends_one_event_per_answer(tmp_path: Path) -> None:
    from rrg_eval.metrics.chexprompt import Chexprompt

    class Fake:
        kind = "fake"
        model = "fake-judge"

        async def complete(self, messages, decoding) -> str:  # type: ignore[no-untyped-def]
            return _ANSWER

        async def aclose(self) -> None:
            return None

    metric = Chexprompt(model="m", base_url="http://127.0.0.1:1/v1", backend_factory=lambda config, key: Fake())
    events: list[E] = []
    context = RunContext(cache_dir=tmp_path, progress=events.append)
    metric.compute_stats(predictions=["x", "y", "x"], references=["a", "b", "a"], ids=["1", "2", "3"],
                         context=context)
    assert events == [E("answers", "chexprompt", None, 0, 2), E("answers", "chexprompt", None, 1, 2),
                      E("answers", "chexprompt", None, 2, 2)]
    events.clear()
    metric.compute_stats(predictions=["x", "y"], references=["a", "b"], ids=["1", "2"], context=context)
    assert events == []  # every answer cached: nothing to send


# -- the plain renderer of logs -----------------------------------------------------------------------------

class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_first_and_last_always_others_at_most_every_interval() -> None:
    stream, clock = io.StringIO(), _Clock()
    show = PlainProgress(stream, interval=10.0, clock=clock)
    show(E("metric", "bertscore", "sysA", 0, 382))
    show(E("unique", "bertscore", "sysA", 764, 764))
    show(E("cached", "bertscore", "sysA", 700, 764))
    for done, at in ((0, 1.0), (16, 2.0), (32, 12.5), (48, 13.0), (64, 14.0)):
        clock.now = at
        show(E("compute", "bertscore", "sysA", done, 64))
    clock.now = 20.25
    show(E("metric", "bertscore", "sysA", 382, 382))
    assert stream.getvalue() == (
        "rrg-eval: sysA: bertscore: scoring 382 pairs\n"
        "rrg-eval: sysA: bertscore: 764 unique texts\n"
        "rrg-eval: sysA: bertscore: 700/764 cached\n"
        "rrg-eval: sysA: bertscore: computing 0/64\n"
        "rrg-eval: sysA: bertscore: computing 32/64\n"
        "rrg-eval: sysA: bertscore: computing 64/64\n"
        "rrg-eval: sysA: bertscore: done in 20.2 s\n")


def test_baseline_embedding_progress_never_runs_lines_together() -> None:
    """The known bug: ``\\rembedded 64/382`` without a newline gave "embedded 64/382embedded 128/382" in logs."""
    from rrg_eval.cli.baseline import baseline_progress

    stream = io.StringIO()
    show = baseline_progress(PlainProgress(stream, interval=0.0))
    for done in (64, 128, 192, 256, 320, 382):
        show("embed", {"done": done, "total": 382})
    show("step", {"epoch": 1, "epochs": 2, "step": 3, "steps": 3, "loss": 1.5})
    show("epoch", {"epoch": 1, "stage": 1, "train_loss": 1.5, "best_epoch": 1, "val": {}})
    text = stream.getvalue()
    assert "\r" not in text
    assert text.splitlines() == [f"rrg-eval: embedded {d}/382" for d in (64, 128, 192, 256, 320, 382)] + [
        "rrg-eval: epoch 1/2 loss 1.5000 step 3/3", "epoch 1 (stage 1): train loss 1.5000 best epoch 1"]


def test_baseline_progress_quiet_keeps_only_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    from rrg_eval.cli.baseline import baseline_progress

    show = baseline_progress(None)
    show("embed", {"done": 1, "total": 2})
    show("warning", {"message": "no validation set"})
    assert capsys.readouterr().err == "rrg-eval: warning: no validation set\n"


def test_every_stage_has_words() -> None:
    for stage in pg.STAGES:
        text = describe(E(stage, "m", None, 1, 2, detail="x"))
        assert text.startswith("m: ") and not text.startswith(f"m: {stage} "), stage


def test_make_progress_quiet_terminal_and_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    assert make_progress(io.StringIO(), quiet=True) is None
    assert isinstance(make_progress(io.StringIO()), PlainProgress)  # not a terminal
    pytest.importorskip("rich")
    from rrg_eval.cli.progress import BarProgress

    assert isinstance(make_progress(io.StringIO(), terminal=True), BarProgress)
    import builtins

    real_import = builtins.__import__

    def no_rich(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name.startswith("rich"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_rich)
    assert isinstance(make_progress(io.StringIO(), terminal=True), PlainProgress)  # rich missing: lines


def test_a_compute_that_takes_progress_reports_per_batch(tmp_path: Path) -> None:
    metric = _Toy(chunk=4)
    events: list[E] = []

    def compute(todo: list[str], progress=None) -> list[str]:  # type: ignore[no-untyped-def]
        for done in range(1, len(todo) + 1):  # a batch of one text at a time
            progress(done)
        return [t.upper() for t in todo]

    metric.annotate_cached(list("abcdef"), RunContext(cache_dir=tmp_path, progress=events.append),
                           codec=Codec(lambda v: v.encode(), lambda b: b.decode()), compute=compute)
    assert [e.done for e in events if e.stage == "compute"] == [0, 1, 2, 3, 4, 5, 6]


def test_bertscore_reports_each_batch_of_its_encoder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from rrg_eval.synthetic_weights import synthesize

    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(synthesize("bertscore", tmp_path / "models", size="tiny", seed=0)))
    events: list[E] = []
    result = rrg_eval.score(predictions=PREDS, references=REFS, metrics=["bertscore"], use_cache=False,
                            bertscore={"batch_size": 2}, progress=events.append)
    assert not result.errors, result.errors
    assert [(e.stage, e.done, e.total) for e in events] == [
        ("metric", 0, 3), ("unique", 6, 6), ("cached", 0, 6), ("compute", 0, 6), ("compute", 2, 6),
        ("compute", 4, 6), ("compute", 6, 6), ("metric", 3, 3)]


def _fake_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in ``huggingface_hub`` that writes each requested file locally (no network)."""
    import sys
    import types

    def hf_hub_download(repo_id: str, filename: str, local_dir: Path | None = None) -> str:
        path = Path(local_dir) / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{repo_id}/{filename}", encoding="utf-8")
        return str(path)

    def snapshot_download(repo_id: str, local_dir: Path | None = None) -> str:
        Path(local_dir).mkdir(parents=True, exist_ok=True)
        return str(local_dir)

    fake = types.ModuleType("huggingface_hub")
    fake.hf_hub_download = hf_hub_download  # type: ignore[attr-defined]
    fake.snapshot_download = snapshot_download  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "huggingface_hub", fake)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def test_models_download_sends_one_event_per_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rrg_eval import model_admin

    _fake_hub(monkeypatch)
    events: list[E] = []
    fetched = model_admin.download(tmp_path / "m", ["bertscore"], progress=events.append)
    n = len(fetched)
    assert n >= 2
    assert [(e.stage, e.metric, e.done, e.total) for e in events] == [
        *[("download", "bertscore", i, n) for i in range(n)], ("download", None, n, n)]
    assert [e.detail for e in events[:-1]] == [s.request.describe() for s in fetched]


def test_models_download_cli_lines_and_quiet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from rrg_eval.cli import main

    _fake_hub(monkeypatch)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "0")
    assert main(["models", "download", "--to", str(tmp_path / "m"), "--metrics", "bertscore", "--format", "json"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("rrg-eval: bertscore: downloading 0/") and lines[-1].startswith("rrg-eval: downloading ")
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"  # the hub's own bars would run lines together in a log
    assert main(["models", "download", "--to", str(tmp_path / "m"), "--metrics", "bertscore", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_baseline_run_closing_line_and_quiet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("rrg_baselines")
    from rrg_eval.cli import main

    train = tmp_path / "train.jsonl"
    train.write_text("".join(f'{{"id": "t{i}", "report": "{t}"}}\n' for i, t in enumerate(REFS.values())),
                     encoding="utf-8")
    test = tmp_path / "test.jsonl"
    test.write_text('{"id": "x", "report": "anything"}\n', encoding="utf-8")
    args = ["baseline", "run", "constant", "--train", str(train), "--test", str(test)]
    assert main([*args, "--out", str(tmp_path / "a.jsonl")]) == 0
    assert capsys.readouterr().err == f"wrote 1 constant reports to {tmp_path / 'a.jsonl'}\n"
    assert main([*args, "--out", str(tmp_path / "b.jsonl"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
