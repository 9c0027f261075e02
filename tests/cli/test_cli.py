"""``rrg-eval score`` and ``rrg-eval metrics``: exact outputs, options, files written and exit codes.

The frozen outputs below were produced by this package on the three pairs of ``_write_inputs`` and checked by
eye (BLEU/ROUGE values also agree with the parity tests' reference packages); only the package and rouge-score
versions are substituted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

from rrg_eval import __version__
from rrg_eval.cli import main
from rrg_eval.errors import MetricError
from rrg_eval.metrics import registry
from rrg_eval.metrics.base import Metric

REFS = ['{"id": "a", "report": "The heart is normal in size. The lungs are clear."}',
        '{"id": "b", "report": "No pleural effusion or pneumothorax."}',
        '{"id": "c", "report": "Mild cardiomegaly. Small left pleural effusion."}']
PREDS = ['{"id": "c", "report": "Cardiomegaly with a small left effusion."}',
         '{"id": "a", "report": "The heart is normal. The lungs are clear."}',
         '{"id": "b", "report": "No effusion or pneumothorax."}']

V = __version__
RS = version("rouge-score")
SIG_BLEU = f"bleu|norm:none|tok:whitespace|eff:closest|refs:718bd7b51645|v:{V}"
SIG_ROUGE = f"rouge|stem:yes|split:no|norm:none|refs:718bd7b51645|v:{V}|rouge-score:{RS}"
SIG_CIDER = f"cider|sigma:6.0|norm:none|tok:whitespace|idf:corpus|refs:718bd7b51645|v:{V}"

TABLE = f"""rrg-eval {V}: 3 reports; fractions shown x100 (%)

metric         value
-------------  -----
bleu1 (%)      61.13
bleu2 (%)      49.14
bleu3 (%)      40.84
bleu4 (%)      28.29
rouge1 (%)     81.48
rouge2 (%)     50.71
rougeL (%)     81.48
rougeLsum (%)  81.48
cider          3.537

signatures:
  {SIG_BLEU}
  {SIG_ROUGE}
  {SIG_CIDER}
"""

SCORES = {"bleu1": 0.6113479123530716, "bleu2": 0.4914240427611429, "bleu3": 0.40844762719298655,
          "bleu4": 0.2829411095594485, "rouge1": 0.8148148148148149, "rouge2": 0.5071428571428572,
          "rougeL": 0.8148148148148149, "rougeLsum": 0.8148148148148149, "cider": 3.5372524395260476}

JSON = json.dumps({"n": 3, "rrg_eval_version": V, "scores": SCORES,
                   "signatures": {"bleu": SIG_BLEU, "rouge": SIG_ROUGE, "cider": SIG_CIDER},
                   "warnings": [], "unavailable": {}, "errors": {}}, indent=2) + "\n"

MARKDOWN = f"""_rrg-eval {V}: 3 reports; fractions shown x100 (%)_

| metric | value |
|---|---:|
| bleu1 (%) | 61.13 |
| bleu2 (%) | 49.14 |
| bleu3 (%) | 40.84 |
| bleu4 (%) | 28.29 |
| rouge1 (%) | 81.48 |
| rouge2 (%) | 50.71 |
| rougeL (%) | 81.48 |
| rougeLsum (%) | 81.48 |
| cider | 3.537 |

signatures:
- `{SIG_BLEU}`
- `{SIG_ROUGE}`
- `{SIG_CIDER}`
"""

CSV = "metric,key,value,signature\n" + "".join(
    f"{m},{k},{SCORES[k]!r},{sig}\n"
    for m, keys, sig in (("bleu", ("bleu1", "bleu2", "bleu3", "bleu4"), SIG_BLEU),
                         ("rouge", ("rouge1", "rouge2", "rougeL", "rougeLsum"), SIG_ROUGE),
                         ("cider", ("cider",), SIG_CIDER))
    for k in keys)

LATEX = rf"""\begin{{tabular}}{{lr}}
\toprule
Metric & Value \\
\midrule
bleu1 (\%) & 61.13 \\
bleu2 (\%) & 49.14 \\
bleu3 (\%) & 40.84 \\
bleu4 (\%) & 28.29 \\
rouge1 (\%) & 81.48 \\
rouge2 (\%) & 50.71 \\
rougeL (\%) & 81.48 \\
rougeLsum (\%) & 81.48 \\
cider & 3.537 \\
\bottomrule
\end{{tabular}}
% rrg-eval {V}: 3 reports; fractions shown x100 (%)
% {SIG_BLEU}
% {SIG_ROUGE}
% {SIG_CIDER}
"""

# per-report values of the same run (one JSON line per id, in the references' order)
PER_REPORT = [
    {"id": "a", "bleu1": 0.6814506850171169, "bleu2": 0.6156960793476649, "bleu3": 0.5284976412041222,
     "bleu4": 0.3894003914252567, "rouge1": 0.888888888888889, "rouge2": 0.75, "rougeL": 0.888888888888889,
     "rougeLsum": 0.888888888888889, "cider": 4.856480656247809},
    {"id": "b", "bleu1": 0.7788007826820048, "bleu2": 0.6358881762571986, "bleu3": 0.5399903030856679,
     "bleu4": 0.00010523157378387626, "rouge1": 0.888888888888889, "rouge2": 0.5714285714285715,
     "rougeL": 0.888888888888889, "rougeLsum": 0.888888888888889, "cider": 4.8545917811904635},
    {"id": "c", "bleu1": 0.33333333322222236, "bleu2": 8.164965806419525e-09, "bleu3": 2.5543647736943895e-11,
     "bleu4": 1.5352597832451351e-12, "rouge1": 0.6666666666666666, "rouge2": 0.20000000000000004,
     "rougeL": 0.6666666666666666, "rougeLsum": 0.6666666666666666, "cider": 0.9006848811398711},
]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    preds = tmp_path / "preds.jsonl"
    refs = tmp_path / "refs.jsonl"
    preds.write_text("\n".join(PREDS) + "\n", encoding="utf-8")
    refs.write_text("\n".join(REFS) + "\n", encoding="utf-8")
    return preds, refs


def _score(capsys: pytest.CaptureFixture, preds: Path, refs: Path, *args: str) -> tuple[int, str, str]:
    # --quiet: no progress lines on stderr (progress is tested in tests/cli/test_cli_progress.py)
    code = main(["score", str(preds), str(refs), "--no-cache", "--quiet", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(("fmt", "expected"), [("table", TABLE), ("json", JSON), ("markdown", MARKDOWN),
                                               ("csv", CSV), ("latex", LATEX)])
def test_exact_output_in_each_format(files, capsys, fmt: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = _score(capsys, *files, "--metrics", "bleu,rouge,cider", "--format", fmt)
    assert code == 0 and err == ""
    assert out == expected


def test_table_is_the_default_format(files, capsys) -> None:  # type: ignore[no-untyped-def]
    assert _score(capsys, *files, "--metrics", "bleu,rouge,cider")[1] == TABLE


def test_per_report_and_out_files(files, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    per, out = tmp_path / "sub" / "per.jsonl", tmp_path / "results.json"
    code, stdout, _ = _score(capsys, *files, "--metrics", "bleu,rouge,cider", "--per-report", str(per),
                             "--out", str(out))
    assert code == 0 and stdout == TABLE
    lines = per.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == PER_REPORT
    assert list(json.loads(lines[0])) == list(PER_REPORT[0])  # id first, then every key
    assert out.read_text(encoding="utf-8") == JSON
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        ["preds.jsonl", "refs.jsonl", "per.jsonl", "results.json"])  # atomic writes leave no temp files


def test_set_changes_the_rouge_signature(files, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = _score(capsys, *files, "--metrics", "rouge", "--format", "json", "--set", "rouge.use_stemmer=false")
    data = json.loads(out)
    assert code == 0
    assert data["signatures"]["rouge"] == SIG_ROUGE.replace("stem:yes", "stem:no")


def test_normalize_flag_goes_into_signatures(files, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = _score(capsys, *files, "--metrics", "bleu,cider", "--format", "json", "--normalize", "lower")
    data = json.loads(out)
    assert code == 0
    assert data["signatures"] == {"bleu": SIG_BLEU.replace("norm:none", "norm:lower"),
                                  "cider": SIG_CIDER.replace("norm:none", "norm:lower")}
    assert data["scores"]["bleu1"] > SCORES["bleu1"]  # "Cardiomegaly" now matches "cardiomegaly"


def test_config_file(files, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "options.yaml"
    config.write_text("rouge:\n  use_stemmer: false\ncider:\n  sigma: 3\n", encoding="utf-8")
    code, out, _ = _score(capsys, *files, "--metrics", "rouge,cider", "--format", "json", "--config", str(config))
    data = json.loads(out)
    assert code == 0
    assert "stem:no" in data["signatures"]["rouge"] and "sigma:3.0" in data["signatures"]["cider"]
    # --set wins over the file
    code, out, _ = _score(capsys, *files, "--metrics", "rouge", "--format", "json", "--config", str(config),
                          "--set", "rouge.use_stemmer=yes")
    assert json.loads(out)["signatures"]["rouge"] == SIG_ROUGE


@pytest.mark.parametrize(("args", "message"), [
    (["--metrics", "blue"], "unknown metric 'blue'; valid metrics: bleu, sacrebleu, meteor, rouge, cider, "
                            "json_overlap"),
    (["--metrics", "rouge", "--set", "rouge.stem=no"],
     "unknown option rouge.stem; valid options of rouge: use_stemmer, split_summaries, normalize"),
    (["--metrics", "bleu", "--set", "blue.normalize=lower"], "unknown metric 'blue'; valid metrics: bleu"),
    (["--metrics", "rouge", "--set", "rouge.use_stemmer=maybe"], "rouge.use_stemmer: expected true or false"),
    (["--metrics", "cider", "--set", "cider.sigma"], "--set expects METRIC.FIELD=VALUE"),
    (["--metrics", ","], "no metric selected; valid metrics: bleu"),
])
def test_unknown_metric_or_field_lists_valid_ones(files, capsys, tmp_path: Path, args: list[str],  # type: ignore[no-untyped-def]
                                                  message: str) -> None:
    out = tmp_path / "out.json"
    code, stdout, err = _score(capsys, *files, *args, "--out", str(out))
    assert code == 2 and stdout == ""
    assert err.startswith("rrg-eval: error: ") and message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_unknown_field_in_config_file(files, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "c.yaml"
    config.write_text("bleu:\n  smooth: true\n", encoding="utf-8")
    code, _, err = _score(capsys, *files, "--metrics", "bleu", "--config", str(config))
    assert code == 2 and "unknown option bleu.smooth; valid options of bleu: normalize" in err


def test_metrics_command_table_and_json(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["metrics"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["name", "can", "run", "installed", "weights", "configured", "extra", "measures"]
    for name in ("bleu", "sacrebleu", "meteor", "rouge", "cider", "json_overlap"):
        assert any(line.startswith(name + " ") for line in lines[1:8]), name
    assert "  rouge: use_stemmer=True, split_summaries=False, normalize='none'" in lines
    assert "  bleu: normalize='none'" in lines
    assert main(["metrics", "--format", "json"]) == 0
    infos = {i["name"]: i for i in json.loads(capsys.readouterr().out)}
    assert infos["bleu"]["keys"] == ["bleu1", "bleu2", "bleu3", "bleu4"]
    assert infos["bleu"]["installed"] is True and infos["bleu"]["can_run"] is True and infos["bleu"]["extra"] is None
    assert infos["meteor"]["extra"] == "meteor"
    assert infos["rouge"]["default_config"] == {"use_stemmer": True, "split_summaries": False, "normalize": "none"}
    assert set(infos["cider"]) == {"name", "description", "keys", "extra", "can_run", "installed", "weights",
                                   "configured", "reason", "fix", "reference", "default_config", "key_options"}
    assert infos["cider"]["key_options"] == {}
    assert infos["bertscore"]["keys"][3:] == ["bertscore_cxr_p", "bertscore_cxr_r", "bertscore_cxr_f1"]
    assert infos["bertscore"]["key_options"]["bertscore_cxr_f1"] == {"preset": "cxr"}


def test_version_via_python_m() -> None:
    proc = subprocess.run([sys.executable, "-m", "rrg_eval", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"rrg-eval {__version__}"


def test_no_command_prints_help_and_exits_2(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main([]) == 2
    assert "score" in capsys.readouterr().out


class _Failing(Metric):
    """A plug-in that always fails while computing."""

    name = "always_fails"
    description = "fails on purpose (test)"
    keys = ("nothing",)

    from dataclasses import dataclass as _dc

    @_dc(frozen=True)
    class Config:
        """No options."""

    def compute_stats(self, *, predictions, references, ids, context):  # type: ignore[no-untyped-def]
        raise MetricError("always_fails: the back-end exploded")

    def aggregate(self, stats):  # type: ignore[no-untyped-def]
        return {}

    def per_report(self, stats):  # type: ignore[no-untyped-def]
        return {"nothing": np.zeros(0)}


@pytest.fixture
def failing_metric():  # type: ignore[no-untyped-def]
    registry.register(_Failing)
    yield _Failing
    registry._extra.pop(_Failing.name, None)


def test_failing_metric_exit_1_others_still_printed_and_written(files, capsys, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                failing_metric) -> None:
    out = tmp_path / "out.json"
    code, stdout, err = _score(capsys, *files, "--metrics", "bleu,always_fails", "--format", "json",
                               "--out", str(out))
    assert code == 1
    data = json.loads(stdout)
    assert data["scores"] == {k: SCORES[k] for k in ("bleu1", "bleu2", "bleu3", "bleu4")}
    assert data["errors"] == {"always_fails": "always_fails: the back-end exploded"}
    assert "always_fails" not in data["signatures"]
    assert err == "rrg-eval: error: metric always_fails failed: always_fails: the back-end exploded\n"
    assert json.loads(out.read_text(encoding="utf-8")) == data
    code, stdout, _ = _score(capsys, *files, "--metrics", "bleu,always_fails")
    assert code == 1 and "\nbleu1 (%)  61.13\n" in stdout and "failed:\n  always_fails: " in stdout


def test_meteor_without_java(files, capsys, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A metric named but unable to run does not take the others' numbers with it (README: exit 1, "the other
    metrics' numbers are still printed and written"); alone, it is the one-line error it always was."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on PATH
    out = tmp_path / "r.json"
    code, stdout, err = _score(capsys, *files, "--metrics", "meteor,bleu", "--out", str(out))
    assert code == 1 and "\nbleu1 (%)  61.13\n" in stdout
    why = ("cannot run here: METEOR needs Java, and `java` was not found on PATH: install a Java runtime (e.g. "
           "apt-get install default-jre-headless) or set meteor.java")
    assert f"failed:\n  meteor: {why}\n" in stdout
    assert err == f"rrg-eval: error: metric meteor failed: {why}\n"
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["errors"] == {"meteor": why} and set(data["scores"]) == {"bleu1", "bleu2", "bleu3", "bleu4"}
    code, stdout, err = _score(capsys, *files, "--metrics", "meteor", "--set", "meteor.java=/nonexistent/java")
    assert code == 1 and stdout == ""
    assert err.startswith("rrg-eval: error: meteor cannot run: METEOR needs Java, and `/nonexistent/java` was not "
                          "found")
    # in the default set it is listed as unavailable and the run succeeds
    code, stdout, err = _score(capsys, *files, "--format", "json", "--set", "meteor.java=/nonexistent/java")
    data = json.loads(stdout)
    assert code == 0 and err == ""
    assert "Java" in data["unavailable"]["meteor"] and "/nonexistent/java" in data["unavailable"]["meteor"]
    assert "meteor" not in data["scores"]
    assert {"bleu1", "sacrebleu", "rouge1", "cider"} <= set(data["scores"])
    assert "json_overlap" in data["unavailable"]  # free-text predictions: not run by default
    # --strict makes an unavailable metric of the default set an error
    code, stdout, err = _score(capsys, *files, "--strict", "--set", "meteor.java=/nonexistent/java")
    assert code == 1 and "rrg-eval: error: metric meteor failed: cannot run here: METEOR needs Java" in err
    assert any(line.split()[:3] == ["bleu1", "(%)", "61.13"] for line in stdout.splitlines())


def test_unwritable_output_is_a_one_line_error(files, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Regression: ``--out`` naming a folder ended in a traceback."""
    folder = tmp_path / "a_folder"
    folder.mkdir()
    code, _, err = _score(capsys, *files, "--metrics", "bleu", "--out", str(folder))
    assert code == 2
    assert err == f"rrg-eval: error: {folder}: Is a directory\n"
    assert list(folder.iterdir()) == [] and not list(tmp_path.glob(".*.tmp"))
