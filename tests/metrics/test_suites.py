"""Named suites: definitions, the API and CLI entry points, exact rendering, and columns not yet available."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import rrg_eval
from rrg_eval.cli import main
from rrg_eval.errors import ConfigError
from rrg_eval.metrics.registry import metric_class
from rrg_eval.suites import SUITES, Column, Suite, get_suite, render_suite_table

PREDS = {"a": "No effusion. Heart normal.", "b": "Lungs clear.", "c": "Mild cardiomegaly."}
REFS = {"a": "No pleural effusion.", "b": "The lungs are clear.", "c": "Cardiomegaly is mild."}


def test_definitions() -> None:
    assert set(SUITES) >= {"rexrank", "rrg24", "llava-rad", "two-stage", "r2gen2"}
    rexrank = get_suite("rexrank")
    assert [c.label for c in rexrank.columns] == ["BLEU-2", "BERTScore", "SembScore", "RadGraph", "1/RadCliQ-v1",
                                                  "RaTEScore", "GREEN"]
    assert [c.key for c in rexrank.columns][:5] == ["bleu2_cxr", "bertscore_cxr_f1", "sembscore",
                                                   "radgraph_combined", "radcliq_v1_inverse"]
    for suite in SUITES.values():
        assert suite.version and suite.source
        for column in suite.columns:
            try:
                cls = metric_class(column.metric)
            except ConfigError:
                assert column.note, (suite.name, column.metric)  # a missing metric says why
                continue
            options = suite.options.get(column.metric, {})
            if all(k in {f for f in cls.Config.__dataclass_fields__} for k in options):
                cls(**options)  # the exact options are valid
    with pytest.raises(ConfigError, match="valid suites: rexrank"):
        get_suite("nope")


def test_render_exact() -> None:
    suite = Suite(name="demo", version="2", description="a demo", source="here",
                  columns=(Column("BLEU-2", "bleu2_cxr", "bleu2_cxr"), Column("X", "x", "x_key", "x is coming")),
                  notes=("a note",))
    text = render_suite_table({"bleu2_cxr": 0.123456}, {"x": "x is not in this version"}, {}, suite, n=3)
    assert text == ("suite demo v2: a demo; 3 reports\n\n| BLEU-2 | X |\n|---:|---:|\n| 0.1235 | n/a |\n\n"
                    "- X: not available: x is not in this version\n- note: a note\n")


def test_score_suite_api() -> None:
    result = rrg_eval.score(predictions=PREDS, references=REFS, suite="rexrank", use_cache=False)
    assert result.suite is not None and result.suite["name"] == "rexrank" and result.suite["version"] == "1"
    assert "bleu2_cxr" in result.scores
    for missing in ("sembscore", "green", "ratescore", "radcliq", "bertscore"):
        assert missing in result.unavailable, missing
    data = json.loads(result.to_json())
    assert data["suite"]["columns"][0] == {"label": "BLEU-2", "metric": "bleu2_cxr", "key": "bleu2_cxr"}
    with pytest.raises(ConfigError, match="either metrics or suite"):
        rrg_eval.score(predictions=PREDS, references=REFS, suite="rexrank", metrics=["bleu"])


def test_suite_options_are_exact_and_user_options_on_top() -> None:
    result = rrg_eval.score(predictions=PREDS, references=REFS, suite="r2gen2", use_cache=False,
                            bertscore={"batch_size": 8})
    assert "stem:no" in result.signatures["rouge"]
    assert set(result.scores) >= {"rouge1", "rouge2", "rougeL", "rougeLsum"}


def _write(tmp_path: Path) -> tuple[str, str]:
    p, r = tmp_path / "p.jsonl", tmp_path / "r.jsonl"
    p.write_text("".join(json.dumps({"id": k, "report": v}) + "\n" for k, v in PREDS.items()), encoding="utf-8")
    r.write_text("".join(json.dumps({"id": k, "report": v}) + "\n" for k, v in REFS.items()), encoding="utf-8")
    return str(p), str(r)


def test_cli_suites_and_score_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["suites"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("rexrank v1: ") and "r2gen2 v1" in out and "model_type=radgraph" in out
    assert main(["suites", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in listed] == list(SUITES)
    p, r = _write(tmp_path)
    out_json = tmp_path / "res.json"
    code = main(["score", p, r, "--suite", "two-stage", "--no-cache", "--out", str(out_json)])
    captured = capsys.readouterr()
    assert code == 1  # f1chexbert has no weights here: named by the suite, so an error, as for --metrics
    lines = captured.out.splitlines()
    assert lines[0] == "suite two-stage v1: the two-stage reference generator's table (rrg-eval baselines); 3 reports"
    assert lines[2] == "| BLEU-4 | ROUGE-L | F1-CheXbert-14 | F1-CheXbert-5 |"
    assert any(line.startswith("- F1-CheXbert-14: not available: ") for line in lines)
    saved = json.loads(out_json.read_text(encoding="utf-8"))
    assert saved["suite"]["name"] == "two-stage" and "bleu4" in saved["scores"]
    assert main(["score", p, r, "--suite", "nope"]) == 2
    assert "unknown suite" in capsys.readouterr().err


def test_cli_compare_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p, r = _write(tmp_path)
    q = tmp_path / "q.jsonl"
    q.write_text("".join(json.dumps({"id": k, "report": v + " Normal."}) + "\n" for k, v in PREDS.items()),
                 encoding="utf-8")
    code = main(["compare", p, str(q), "--refs", r, "--suite", "rexrank", "--no-cache", "--resamples", "50",
                 "--metrics", "bleu"])
    assert code == 2 and "either --metrics or --suite" in capsys.readouterr().err
    main(["compare", p, str(q), "--refs", r, "--suite", "rexrank", "--no-cache", "--resamples", "50",
          "--format", "markdown"])
    out = capsys.readouterr().out
    assert out.startswith("suite rexrank v1: ") and "- sembscore: not available: " in out
    assert "bleu2_cxr" in out
    main(["compare", p, str(q), "--refs", r, "--suite", "rexrank", "--no-cache", "--resamples", "50",
          "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert data["suite"]["name"] == "rexrank" and data["suite"]["version"] == "1"


def test_compare_suite_api() -> None:
    """``rrg_eval.compare(suite=...)``: the suite's metrics and options, its name and version in the output."""
    other = {k: v + " Stable." for k, v in REFS.items()}
    board = rrg_eval.compare(systems={"a": PREDS, "b": other}, references=REFS, suite="rexrank", use_cache=False,
                             resamples=50)
    assert board.suite is not None and board.suite["name"] == "rexrank" and board.suite["version"] == "1"
    assert "bleu2_cxr" in board.keys
    assert json.loads(board.to_json())["suite"]["columns"][0]["key"] == "bleu2_cxr"
    with pytest.raises(ConfigError, match="either metrics or suite"):
        rrg_eval.compare(systems={"a": PREDS, "b": other}, references=REFS, suite="rexrank", metrics=["bleu"])
    plain = rrg_eval.compare(systems={"a": PREDS, "b": other}, references=REFS, metrics=["bleu2_cxr"],
                             use_cache=False, resamples=50)
    assert plain.suite is None and "suite" not in json.loads(plain.to_json())


def test_cli_compare_suite_is_the_api_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """``compare --suite`` calls ``rrg_eval.compare(suite=...)`` (one path); the suite's metrics that cannot run
    are named once, in the header, not again among the board's not-run metrics."""
    import rrg_eval.leaderboard as lb

    calls: list[dict] = []
    real = lb.compare

    def recording(**kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(lb, "compare", recording)
    p, r = _write(tmp_path)
    q = tmp_path / "q.jsonl"
    q.write_text("".join(json.dumps({"id": k, "report": v + " Normal."}) + "\n" for k, v in PREDS.items()),
                 encoding="utf-8")
    main(["compare", p, str(q), "--refs", r, "--suite", "rexrank", "--no-cache", "--resamples", "50",
          "--format", "json"])
    assert [c["suite"] for c in calls] == ["rexrank"] and calls[0].get("metrics") is None
    data = json.loads(capsys.readouterr().out)
    api = real(systems={"p": p, "q": str(q)}, references=r, suite="rexrank", use_cache=False, resamples=50)
    assert "ratescore" in api.unavailable and "ratescore" not in data["unavailable"]
    assert data["suite"] == api.suite and data["signatures"] == api.signatures
    assert [s["name"] for s in data["systems"]] == [s.name for s in api.systems]


def test_every_suite_column_key_is_a_key_of_its_metric() -> None:
    """A column's key is one its metric can produce (``all_keys``: with the options the suite sets, e.g.
    bertscore_cxr_f1 under preset=cxr), and the suite sets those options."""
    for suite in SUITES.values():
        for column in suite.columns:
            try:
                cls = metric_class(column.metric)
            except ConfigError:
                continue
            assert column.key in cls.all_keys(), (suite.name, column.key)
            options = suite.options.get(column.metric, {})
            for option, value in cls.options_for_key(column.key).items():
                assert options.get(option) == value, (suite.name, column.key, option)
