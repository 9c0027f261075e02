"""``rrg_eval.compare`` inputs, errors, sections, pandas and the ``rrg-eval compare`` command."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import rrg_eval
from rrg_eval.cli import main
from rrg_eval.errors import ConfigError, InputError
from rrg_eval.leaderboard.render import render_leaderboard
from rrg_eval.metrics.base import Metric

REFS = {"r1": "no acute cardiopulmonary abnormality", "r2": "mild cardiomegaly without edema",
        "r3": "small left pleural effusion", "r4": "the lungs are clear"}
GOOD = {"r1": "no acute cardiopulmonary abnormality", "r2": "mild cardiomegaly", "r3": "small pleural effusion",
        "r4": "the lungs are clear"}
BAD = {"r1": "heart size normal", "r2": "the lungs are clear", "r3": "no pneumothorax", "r4": "mild cardiomegaly"}


def _write(path: Path, texts: dict[str, str], **extra: dict[str, str]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for rid, text in texts.items():
            row = {"id": rid, "report": text, **{k: v[rid] for k, v in extra.items()}}
            handle.write(json.dumps(row) + "\n")
    return path


def test_compare_is_the_function_and_lazy():
    import importlib

    assert callable(rrg_eval.compare)
    sub = importlib.import_module("rrg_eval.leaderboard")  # the subpackage must not shadow the function
    assert callable(rrg_eval.compare)
    assert rrg_eval.compare is sub.compare


def test_ids_not_matching_the_references_name_file_and_ids(tmp_path):
    refs = _write(tmp_path / "refs.jsonl", REFS)
    good = _write(tmp_path / "good.jsonl", GOOD)
    short = _write(tmp_path / "short.jsonl", {k: v for k, v in BAD.items() if k != "r3"} | {"x9": "extra"})
    with pytest.raises(InputError) as err:
        rrg_eval.compare(systems=[good, short], references=refs, metrics=["bleu"], resamples=10)
    message = str(err.value)
    assert str(short) in message and '"r3"' in message and '"x9"' in message
    with pytest.raises(InputError, match=r"system 'b'.*\"r4\""):
        rrg_eval.compare(systems={"a": GOOD, "b": {k: v for k, v in BAD.items() if k != "r4"}},
                         references=REFS, metrics=["bleu"], resamples=10)


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="at least two systems"):
        rrg_eval.compare(systems={"a": GOOD}, references=REFS, metrics=["bleu"])
    with pytest.raises(ConfigError, match="unknown test"):
        rrg_eval.compare(systems={"a": GOOD, "b": BAD}, references=REFS, metrics=["bleu"], test="t")
    with pytest.raises(ConfigError, match="resamples"):
        rrg_eval.compare(systems={"a": GOOD, "b": BAD}, references=REFS, metrics=["bleu"], resamples=0)


def test_sections_give_one_block_each(tmp_path):
    impression = {k: v.split()[0] for k, v in REFS.items()}
    refs = _write(tmp_path / "refs.jsonl", REFS, findings=REFS, impression=impression)
    good = _write(tmp_path / "good.jsonl", GOOD, findings=GOOD, impression=impression)
    bad = _write(tmp_path / "bad.jsonl", BAD, findings=BAD, impression={k: "x" for k in REFS})
    board = rrg_eval.compare(systems={"bad": bad, "good": good}, references=refs, metrics=["rouge"],
                             sections=["findings", "impression"], resamples=20, use_cache=False)
    assert board.sections == ["findings", "impression"]
    assert [s for s, _ in board.section_keys()] == ["findings", "impression"]
    assert board.keys[0] == "findings/rouge1" and "impression/rougeL" in board.keys
    assert board.system("good").scores["impression/rouge1"] == 1.0
    assert set(board.signatures) == {"findings/rouge", "impression/rouge"}
    table = render_leaderboard(board, "table")
    assert "[findings]" in table and "[impression]" in table
    frame = board.to_pandas()
    assert len(frame) == 2 * len(board.keys)
    assert set(frame.columns) >= {"system", "key", "value", "ci_low", "ci_high", "p_value", "rank"}


def test_cli_json_out_and_plot(tmp_path, capsys):
    refs = _write(tmp_path / "refs.jsonl", REFS)
    bad = _write(tmp_path / "bad.jsonl", BAD)
    good = _write(tmp_path / "good.jsonl", GOOD)
    out = tmp_path / "board.json"
    plot = tmp_path / "board.svg"
    code = main(["compare", "--refs", str(refs), str(bad), f"mine={good}", "--metrics", "bleu,rouge",
                 "--resamples", "30", "--seed", "7", "--format", "json", "--out", str(out), "--plot", str(plot),
                 "--no-cache"])
    assert code == 0
    assert capsys.readouterr().out == ""
    data = json.loads(out.read_text())
    assert list(data) == ["n", "rrg_eval_version", "baseline", "test", "signatures", "systems", "warnings",
                          "unavailable", "errors"]
    assert data["baseline"] == "bad"
    assert data["test"]["seed"] == 7 and data["test"]["resamples"] == 30
    assert [s["name"] for s in data["systems"]] == ["bad", "mine"]
    # issue 15 extended the schema after these keys: adjusted p-values, effect sizes and rank intervals
    assert list(data["systems"][0]) == ["name", "scores", "ci", "ranks", "mean_rank", "rank_intervals"]
    assert list(data["systems"][1]) == ["name", "scores", "ci", "p_values", "ranks", "mean_rank", "p_adjusted",
                                        "effects", "rank_intervals", "significance"]
    assert set(data["systems"][1]["p_values"]) == set(data["systems"][1]["scores"])
    assert all(len(v) == 2 for v in data["systems"][1]["ci"].values())
    assert plot.read_bytes().lstrip().startswith(b"<?xml")


def test_cli_errors_exit_2(tmp_path, capsys):
    refs = _write(tmp_path / "refs.jsonl", REFS)
    bad = _write(tmp_path / "bad.jsonl", {k: v for k, v in BAD.items() if k != "r2"})
    good = _write(tmp_path / "good.jsonl", GOOD)
    assert main(["compare", "--refs", str(refs), str(good), str(bad), "--metrics", "bleu"]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl" in err and '"r2"' in err
    assert main(["compare", "--refs", str(refs), str(good), str(good), "--metrics", "bleu"]) == 2
    assert "NAME=PATH" in capsys.readouterr().err
    assert main(["compare", "--refs", str(refs), str(good), f"b={good}", "--metrics", "bleu",
                 "--plot", str(tmp_path / "x.gif")]) == 2


def test_cli_table_to_stdout(tmp_path, capsys):
    refs = _write(tmp_path / "refs.jsonl", REFS)
    code = main(["compare", "--refs", str(refs), f"a={_write(tmp_path / 'a.jsonl', BAD)}",
                 f"b={_write(tmp_path / 'b.jsonl', GOOD)}", "--metrics", "bleu", "--test", "ar", "--resamples", "50",
                 "--no-cache"])
    assert code == 0
    out = capsys.readouterr().out
    assert "a (baseline)" in out and "approximate randomization, 50 trials, seed 12345" in out
    assert "bleu|" in out


# -- plug-in metrics: a corpus-level micro-F1 with a lower-is-better key, and one that fails ---------------------

@dataclass(frozen=True)
class _NoOptions:
    """No options."""


class _WordF1(Metric):
    """Micro-F1 over word sets (sums counts, not a mean of per-report F1) and a lower-is-better miss rate."""

    name = "test_word_f1"
    Config = _NoOptions
    description = "test metric"
    keys = ("word_f1", "miss_rate")
    key_kinds = {"miss_rate": "rate"}
    lower_is_better = frozenset({"miss_rate"})

    def compute_stats(self, *, predictions, references, ids, context):
        rows = []
        for pred, ref in zip(predictions, references):
            p, r = set(pred.split()), set(ref.split())
            rows.append([len(p & r), len(p - r), len(r - p)])
        return {"counts": np.asarray(rows, dtype=np.int64).reshape(-1, 3), "ids": list(ids)}

    def aggregate(self, stats):
        tp, fp, fn = stats["counts"].sum(axis=0)
        return {"word_f1": 2 * tp / max(1, 2 * tp + fp + fn), "miss_rate": fn / max(1, tp + fn)}

    def per_report(self, stats):
        return {}


class _Broken(_WordF1):
    name = "test_broken"

    def compute_stats(self, *, predictions, references, ids, context):
        raise RuntimeError("boom")


@pytest.fixture
def plugins(monkeypatch):
    from rrg_eval.metrics import registry

    monkeypatch.setitem(registry._extra, _WordF1.name, _WordF1)
    monkeypatch.setitem(registry._extra, _Broken.name, _Broken)


def test_plugin_metric_lower_is_better_and_a_failing_metric(plugins, tmp_path, capsys):
    board = rrg_eval.compare(systems={"bad": BAD, "good": GOOD}, references=REFS,
                             metrics=["test_word_f1", "test_broken"], resamples=50, use_cache=False)
    assert board.keys == ["word_f1", "miss_rate"]
    assert "boom" in board.errors["test_broken"]
    good = board.system("good")
    assert good.scores["miss_rate"] < board.systems[0].scores["miss_rate"]
    assert good.ranks == {"word_f1": 1, "miss_rate": 1}
    assert "miss_rate (%) ↓" in render_leaderboard(board, "markdown")
    assert "test_broken: RuntimeError: boom" in render_leaderboard(board, "table")
    refs = _write(tmp_path / "refs.jsonl", REFS)
    code = main(["compare", "--refs", str(refs), f"a={_write(tmp_path / 'a.jsonl', BAD)}",
                 f"b={_write(tmp_path / 'b.jsonl', GOOD)}", "--metrics", "test_word_f1,test_broken",
                 "--resamples", "20", "--format", "csv"])
    captured = capsys.readouterr()
    assert code == 1
    assert "metric test_broken failed" in captured.err
    assert captured.out.count("\n") == 1 + 2 * 2  # header + 2 systems x 2 keys
