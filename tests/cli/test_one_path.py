"""score, compare and the judges' dry run share one path: the same outcome rules, options and flags.

Issue 10 item 1: not-run versus failed, ``skip_reason`` and the global options (device, batch_size, normalize)
behave identically in ``score``, ``compare`` and the dry run; item 4: ``score --ci`` equals compare's CI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

import rrg_eval
from rrg_eval.cli import build_parser, main
from rrg_eval.errors import MetricUnavailable
from rrg_eval.metrics.base import Metric
from rrg_eval.option_spec import option

REFS = {"a": "no acute disease", "b": "small left effusion", "c": "heart size normal", "d": "no pneumothorax"}
SYS1 = {"a": "no acute disease", "b": "left effusion", "c": "heart normal", "d": "pneumothorax"}
SYS2 = {"a": "acute disease", "b": "small effusion", "c": "", "d": "no pneumothorax seen"}

SEEN: list = []  # configs the fake metrics were built with


@dataclass(frozen=True)
class _Options:
    normalize: str = option("none", sig="norm")
    device: str = option("auto", in_signature=False)
    batch_size: int = option(8, in_signature=False)


class _Words(Metric):
    name = "t1_words"
    Config = _Options
    description = "test: word overlap"
    keys = ("overlap",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        SEEN.append((self.name, self.config))

    def compute_stats(self, *, predictions, references, ids, context):
        return {"hits": np.asarray([len(set(p.split()) & set(r.split())) for p, r in zip(predictions, references)],
                                   dtype=np.int64),
                "words": np.asarray([max(1, len(set(r.split()))) for r in references], dtype=np.int64)}

    def aggregate(self, stats):
        return {"overlap": float(stats["hits"].sum() / stats["words"].sum())}

    def per_report(self, stats):
        return {"overlap": stats["hits"] / stats["words"]}


class _LateUnavailable(_Words):
    name = "t1_late"

    def compute_stats(self, *, predictions, references, ids, context):
        raise MetricUnavailable("t1_late: weights not found offline")


class _Objects(_Words):
    name = "t1_objects"

    def skip_reason(self, *, predictions, references):
        return "empty predictions" if any(not p for p in predictions) else None


class _Judge(_Words):
    name = "t1_judge"
    judge = True

    def plan_requests(self, *, predictions, references, cache_dir=None):
        from rrg_eval.judge.dryrun import make_plan

        return make_plan(metric=self.name, backend="fake", model=f"norm={self.config.normalize}", host="127.0.0.1",
                         host_private=True, pairs=len(predictions), cached=0, to_send=[], max_tokens=1,
                         parse_retries=0)


@pytest.fixture
def fakes(monkeypatch):
    from rrg_eval.metrics import registry

    for cls in (_Words, _LateUnavailable, _Objects, _Judge):
        monkeypatch.setitem(registry._extra, cls.name, cls)
    # the default set is every registered metric: keep these tests to the fakes
    monkeypatch.setattr(registry, "BUILTIN", {})
    SEEN.clear()


def test_not_run_versus_failed_is_the_same_in_score_and_compare(fakes):
    # default set: a metric that finds out while computing that it cannot run is "not run" in both
    result = rrg_eval.score(predictions=SYS1, references=REFS, use_cache=False)
    board = rrg_eval.compare(systems={"s1": SYS1, "s2": SYS2}, references=REFS, resamples=20, use_cache=False)
    assert "t1_late" in result.unavailable and "t1_late" not in result.errors
    assert "t1_late" in board.unavailable and "t1_late" not in board.errors
    assert result.unavailable["t1_late"] == board.unavailable["t1_late"]
    # named explicitly: a failure in both
    result = rrg_eval.score(predictions=SYS1, references=REFS, metrics=["t1_words", "t1_late"], use_cache=False)
    board = rrg_eval.compare(systems={"s1": SYS1, "s2": SYS2}, references=REFS, metrics=["t1_words", "t1_late"],
                             resamples=20, use_cache=False)
    assert result.errors["t1_late"] == board.errors["t1_late"] == "t1_late: weights not found offline"
    assert board.keys == ["overlap"]


def test_skip_reason_is_the_same_in_score_and_compare_for_every_system(fakes):
    assert "t1_objects" not in rrg_eval.score(predictions=SYS1, references=REFS, use_cache=False).unavailable
    assert rrg_eval.score(predictions=SYS2, references=REFS, use_cache=False).unavailable["t1_objects"] == \
        "empty predictions"
    # only the second system objects: compare leaves the metric out too (it used to check the first only)
    board = rrg_eval.compare(systems={"s1": SYS1, "s2": SYS2}, references=REFS, resamples=20, use_cache=False)
    assert board.unavailable["t1_objects"] == "empty predictions"
    # named explicitly, it runs in both
    board = rrg_eval.compare(systems={"s1": SYS1, "s2": SYS2}, references=REFS, metrics=["t1_objects"],
                             resamples=20, use_cache=False)
    assert "t1_objects" not in board.unavailable and board.keys == ["overlap"]


@pytest.mark.parametrize("command", ["score", "compare", "dry-run"])
def test_global_options_reach_the_metrics_in_score_compare_and_dry_run(fakes, tmp_path, capsys, command):
    refs = tmp_path / "refs.jsonl"
    refs.write_text("".join(json.dumps({"id": k, "report": v}) + "\n" for k, v in REFS.items()))
    preds = tmp_path / "s1.jsonl"
    preds.write_text("".join(json.dumps({"id": k, "report": v}) + "\n" for k, v in SYS1.items()))
    flags = ["--metrics", "t1_words,t1_judge", "--normalize", "lower", "--device", "cpu", "--batch-size", "3",
             "--no-cache"]
    if command == "compare":
        argv = ["compare", "--refs", str(refs), str(preds), f"other={preds}", "--resamples", "10", *flags]
    else:
        argv = ["score", str(preds), str(refs), *flags, *(["--dry-run"] if command == "dry-run" else [])]
    assert main(argv) == 0
    out = capsys.readouterr().out
    built = {name: config for name, config in SEEN}
    expected = _Options(normalize="lower", device="cpu", batch_size=3)
    if command == "dry-run":
        assert built == {"t1_judge": expected}
        assert "norm=lower" in out
    else:
        assert built == {"t1_words": expected, "t1_judge": expected}


def test_score_and_compare_accept_the_same_metric_flags():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices

    def flags(name):
        return {s for a in sub[name]._actions for s in a.option_strings}

    shared = {"--metrics", "--set", "--config", "--normalize", "--device", "--batch-size", "--cache-dir",
              "--no-cache", "--strict", "--dry-run", "--allow-remote-judge", "--chexprompt-prompt", "--id-field",
              "--text-field"}
    assert shared <= flags("score") and shared <= flags("compare")


def test_normalize_and_format_choices_come_from_one_place():
    from rrg_eval.render import COMPARE_FORMATS, FORMATS, NORMALIZE_CHOICES

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    for name, formats in (("score", FORMATS), ("compare", COMPARE_FORMATS)):
        actions = {a.dest: a for a in sub[name]._actions}
        assert tuple(actions["format"].choices) == formats
        assert tuple(actions["normalize"].choices) == NORMALIZE_CHOICES == ("none", "lower", "r2gen", "r2gen_mimic")


def test_score_ci_equals_compare_ci_for_the_same_system_and_seed(tmp_path, capsys):
    metrics = ["bleu", "rouge", "cider"]
    result = rrg_eval.score(predictions=SYS2, references=REFS, metrics=metrics, use_cache=False, ci=0.95,
                            resamples=200, seed=7)
    board = rrg_eval.compare(systems={"s1": SYS1, "s2": SYS2}, references=REFS, metrics=metrics, resamples=200,
                             seed=7, use_cache=False)
    s2 = board.system("s2")
    assert set(result.ci) == set(result.scores) == set(s2.ci)
    for key in result.scores:
        assert result.scores[key] == s2.scores[key]
        np.testing.assert_equal(result.ci[key], s2.ci[key])
    assert result.to_dict()["ci_settings"] == {"confidence": 0.95, "resamples": 200, "seed": 7}
    # the command prints the same intervals
    refs = tmp_path / "refs.jsonl"
    refs.write_text("".join(json.dumps({"id": k, "report": v}) + "\n" for k, v in REFS.items()))
    preds = tmp_path / "s2.jsonl"
    preds.write_text("".join(json.dumps({"id": k, "report": v}) + "\n" for k, v in SYS2.items()))
    assert main(["score", str(preds), str(refs), "--metrics", ",".join(metrics), "--ci", "--resamples", "200",
                 "--seed", "7", "--format", "json", "--no-cache"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["ci"] == {k: [lo, hi] for k, (lo, hi) in s2.ci.items()}
    assert main(["score", str(preds), str(refs), "--metrics", "bleu", "--ci", "0.9", "--no-cache"]) == 0
    table = capsys.readouterr().out
    assert "[low, high]: 90% percentile bootstrap CI (1000 resamples, seed 12345)" in table


def test_score_without_ci_prints_as_before():
    result = rrg_eval.score(predictions=SYS1, references=REFS, metrics=["bleu"], use_cache=False)
    assert result.ci == {} and "ci" not in result.to_dict()


def test_entry_point_and_python_m_run_the_cli_package():
    import subprocess
    import sys
    from importlib.metadata import entry_points

    (script,) = [ep for ep in entry_points(group="console_scripts") if ep.name == "rrg-eval"]
    assert script.value == "rrg_eval.cli:main"
    out = subprocess.run([sys.executable, "-m", "rrg_eval", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"rrg-eval {rrg_eval.__version__}"
