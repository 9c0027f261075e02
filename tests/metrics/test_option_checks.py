"""Options are checked when the config is built (exit 2 before any work), against the back-end's real choices."""

from __future__ import annotations

import pytest

import rrg_eval
from rrg_eval.errors import ConfigError, MetricError
from rrg_eval.option_spec import torch_device


@pytest.mark.parametrize(("metric", "options", "message"), [
    ("sacrebleu", {"tokenize": "nosuch"}, "valid: none, zh, 13a"),
    ("sacrebleu", {"smooth_method": "geometric"}, "valid: none, floor, add-k, exp"),
    ("sacrebleu", {"smooth_value": -1}, "must be 0 or more"),
    ("cider", {"sigma": -1}, "must be greater than 0"),
    ("cider", {"sigma": 0}, "must be greater than 0"),
])
def test_bad_values_fail_when_built(metric: str, options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        rrg_eval.load_metric(metric, **options)


def test_cli_set_with_bad_choice_exits_2(tmp_path, capsys) -> None:
    from rrg_eval.cli import main

    preds = tmp_path / "p.jsonl"
    refs = tmp_path / "r.jsonl"
    preds.write_text('{"id": "1", "report": "no effusion"}\n')
    refs.write_text('{"id": "1", "report": "no pleural effusion"}\n')
    code = main(["score", str(preds), str(refs), "--metrics", "sacrebleu", "--set", "sacrebleu.tokenize=nosuch"])
    assert code == 2
    assert "sacrebleu.tokenize: 'nosuch' is not a valid choice" in capsys.readouterr().err


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:0", "cuda:12", "mps"])
def test_device_names_accepted(device: str) -> None:
    assert torch_device(device) is None


@pytest.mark.parametrize("device", ["gpu0", "gpu", "cuda0", "cuda:", "CPU", ""])
def test_device_names_refused(device: str) -> None:
    assert "valid: auto, cpu, cuda, cuda:N" in (torch_device(device) or "")


def test_split_summaries_without_punkt_data_is_refused_up_front() -> None:
    import nltk

    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
        pytest.skip("nltk's punkt_tab data is installed here, so the option is valid")
    except LookupError:
        pass
    with pytest.raises(ConfigError, match="python -m nltk.downloader punkt_tab"):
        rrg_eval.load_metric("rouge", split_summaries=True)
    rrg_eval.load_metric("rouge", split_summaries=False)


def test_sacrebleu_log_lines_become_warnings(capfd) -> None:
    metric = rrg_eval.load_metric("sacrebleu")
    score = metric.compute(predictions=["no acute disease ."] * 120, references=["no acute disease ."] * 120)
    assert any("lines that end in a tokenized period" in w for w in score.warnings)
    assert "tokenized period" not in capfd.readouterr().err


@pytest.mark.slow
def test_meteor_report_too_long_names_the_report() -> None:
    meteor = rrg_eval.load_metric("meteor")
    if meteor.unavailable_reason():
        pytest.skip(meteor.unavailable_reason())
    huge = " ".join(["effusion"] * 200_000)
    try:
        with pytest.raises(MetricError, match=r"report 'b' \(200,000 words\) stopped the Meteor jar"):
            meteor.compute(predictions=["heart normal", huge], references=["heart normal", "no effusion"],
                           ids=["a", "b"])
        # the jar is restarted for the next call
        assert meteor.compute(predictions=["heart normal"], references=["heart normal"]).scores["meteor"] == 1.0
    finally:
        meteor.close()
