"""Issue 13: a metric that cannot run does not take the others' numbers with it, and options given for metrics
that are not selected are a warning naming them, the same in ``score`` and ``compare``, CLI and API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import rrg_eval
from rrg_eval.cli import main
from rrg_eval.errors import ConfigError

REFS = {"r1": "no acute cardiopulmonary abnormality", "r2": "mild cardiomegaly without edema",
        "r3": "small left pleural effusion"}
A = {"r1": "no acute cardiopulmonary abnormality", "r2": "mild cardiomegaly", "r3": "small pleural effusion"}
B = {"r1": "heart size normal", "r2": "the lungs are clear", "r3": "no pneumothorax"}

ROUGE_NOTE = "option rouge.use_stemmer ignored: rouge is not among the selected metrics (bleu)"
BATCH_NOTE = ("option batch_size ignored: no selected metric uses it (bleu); it applies to bertscore, f1chexbert, "
              "sembscore, radgraph, radgraph_combined, ratescore, green, crimson")


def _write(path: Path, texts: dict[str, str]) -> Path:
    path.write_text("".join(json.dumps({"id": k, "report": v}) + "\n" for k, v in texts.items()), encoding="utf-8")
    return path


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path, Path]:
    return _write(tmp_path / "a.jsonl", A), _write(tmp_path / "b.jsonl", B), _write(tmp_path / "refs.jsonl", REFS)


@pytest.mark.parametrize(("flags", "note"), [(["--set", "rouge.use_stemmer=false"], ROUGE_NOTE),
                                             (["--batch-size", "4"], BATCH_NOTE)])
def test_unselected_options_warn_in_score_and_compare(inputs, capsys, tmp_path: Path, flags: list[str],
                                                      note: str) -> None:  # type: ignore[no-untyped-def]
    a, b, refs = inputs
    assert main(["score", str(a), str(refs), "--no-cache", "--metrics", "bleu", "--format", "json", *flags]) == 0
    assert json.loads(capsys.readouterr().out)["warnings"] == [note]
    assert main(["compare", str(a), str(b), "--refs", str(refs), "--no-cache", "--metrics", "bleu", "--resamples",
                 "20", "--format", "json", *flags]) == 0
    out = capsys.readouterr().out
    assert note in out and json.loads(out)["systems"][0]["name"] == "a"


def test_unselected_options_warn_in_the_api() -> None:
    result = rrg_eval.score(predictions=A, references=REFS, metrics=["bleu"], use_cache=False,
                            rouge={"use_stemmer": False}, batch_size=4)
    assert result.warnings == [ROUGE_NOTE, BATCH_NOTE]
    board = rrg_eval.compare(systems={"a": A, "b": B}, references=REFS, metrics=["bleu"], use_cache=False,
                             resamples=20, rouge={"use_stemmer": False})
    assert board.warnings == [ROUGE_NOTE]


def test_an_option_no_metric_has_is_still_an_error() -> None:
    with pytest.raises(ConfigError, match="option 'frobnicate' applies to none of the selected metrics"):
        rrg_eval.score(predictions=A, references=REFS, metrics=["bleu"], use_cache=False, frobnicate=3)


def test_compare_without_java_keeps_bleu(inputs, capsys, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no java on PATH
    a, b, refs = inputs
    code = main(["compare", str(a), str(b), "--refs", str(refs), "--no-cache", "--metrics", "bleu,meteor",
                 "--resamples", "20", "--format", "json"])
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert code == 1
    assert set(data["systems"][1]["scores"]) == {"bleu1", "bleu2", "bleu3", "bleu4"}
    assert "error: metric meteor failed: cannot run here: METEOR needs Java" in captured.err
    board = rrg_eval.compare(systems={"a": A, "b": B}, references=REFS, metrics=["bleu", "meteor"],
                             use_cache=False, resamples=20)
    assert board.errors["meteor"].startswith("cannot run here: METEOR needs Java, and `java` was not found")
    assert "bleu4" in board.keys


@pytest.mark.parametrize(("args", "tail"), [
    (["--metrics", "bleu,rogue"], "; did you mean 'rouge'?\n"),
    (["--metrics", "rouge", "--set", "rouge.use_stemer=false"], "split_summaries, normalize; did you mean "
                                                                "'use_stemmer'?\n"),
    (["--metrics", "rouge", "--set", "rouge.stem=no"], "use_stemmer, split_summaries, normalize\n"),  # no near miss
])
def test_near_misses_are_named(inputs, capsys, args: list[str], tail: str) -> None:  # type: ignore[no-untyped-def]
    a, _, refs = inputs
    assert main(["score", str(a), str(refs), "--no-cache", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rrg-eval: error: unknown ") and err.endswith(tail)


def test_a_table_without_scores_says_so() -> None:
    from rrg_eval.render import render_result

    result = rrg_eval.score(predictions=A, references=REFS, metrics=["bleu"], use_cache=False)
    result.scores.clear()
    result.errors["bleu"] = "the back-end exploded"
    text = render_result(result, "table")
    assert text.splitlines()[:3] == ["rrg-eval " + rrg_eval.__version__ + ": 3 reports; fractions shown x100 (%)", "",
                                     "no scores: no selected metric produced one (see below)"]
    assert "failed:\n  bleu: the back-end exploded\n" in text


@pytest.mark.parametrize(("args", "message"), [
    (["--metrics", "bleu", "--device", "gpu0"], "option device: 'gpu0' is not a device; valid: auto, cpu, cuda"),
    (["--metrics", "bertscore", "--device", "gpu0"], "bertscore.device: 'gpu0' is not a device; valid: auto, cpu"),
    (["--metrics", "radgraph", "--set", "radgraph.device=cuda0"], "radgraph.device: 'cuda0' is not a device"),
])
def test_a_bad_device_is_refused_up_front_used_or_not(inputs, capsys, args: list[str],  # type: ignore[no-untyped-def]
                                                      message: str) -> None:
    a, _, refs = inputs
    assert main(["score", str(a), str(refs), "--no-cache", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith(f"rrg-eval: error: {message}")


def test_score_table_notes_fit_the_width(inputs, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    a, _, refs = inputs
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["score", str(a), str(refs), "--no-cache", "--metrics", "bleu", "--batch-size", "3"]) == 0
    out = capsys.readouterr().out
    assert out.endswith("warnings:\n"
                        "  option batch_size ignored: no selected metric uses it (bleu); it applies to\n"
                        "    bertscore, f1chexbert, sembscore, radgraph, radgraph_combined, ratescore,\n"
                        "    green, crimson\n")
    monkeypatch.delenv("COLUMNS")  # not a terminal (captured): one line per note
    assert main(["score", str(a), str(refs), "--no-cache", "--metrics", "bleu", "--batch-size", "3"]) == 0
    assert capsys.readouterr().out.endswith(f"warnings:\n  {BATCH_NOTE}\n")
