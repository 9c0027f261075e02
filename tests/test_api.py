"""The Python API: ``rrg_eval.score``, ``rrg_eval.load_metric``, options, plug-ins, and no torch on import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import rrg_eval
from rrg_eval import ConfigError, InputError, MetricUnavailable, Result
from rrg_eval.render import render_result

REFS = {"a": "The heart is normal in size. The lungs are clear.",
        "b": "No pleural effusion or pneumothorax.",
        "c": "Mild cardiomegaly. Small left pleural effusion."}
PREDS = {"c": "Cardiomegaly with a small left effusion.",
         "a": "The heart is normal. The lungs are clear.",
         "b": "No effusion or pneumothorax."}
# the same run through the CLI (tests/cli/test_cli.py) gives these values; rrg-eval's own output, frozen
BLEU1 = 0.6113479123530716
ROUGE1 = 0.8148148148148149


def _write(path: Path, texts: dict[str, str]) -> Path:
    path.write_text("".join(json.dumps({"id": k, "report": v}) + "\n" for k, v in texts.items()), encoding="utf-8")
    return path


def test_score_with_dicts_aligns_by_id() -> None:
    result = rrg_eval.score(predictions=PREDS, references=REFS, metrics=["bleu", "rouge"], use_cache=False)
    assert isinstance(result, Result)
    assert result.n == 3 and result.ids == ["a", "b", "c"]
    assert result.scores["bleu1"] == BLEU1 and result.scores["rouge1"] == ROUGE1
    assert set(result.signatures) == {"bleu", "rouge"}
    assert result.signatures["rouge"].startswith("rouge|stem:yes|split:no|norm:none|refs:")


def test_score_with_lists_and_paths_gives_the_same_numbers(tmp_path: Path) -> None:
    ids = list(REFS)
    by_list = rrg_eval.score(predictions=[PREDS[i] for i in ids], references=[REFS[i] for i in ids],
                             metrics="bleu,rouge", use_cache=False)
    assert by_list.ids == ["0", "1", "2"]
    preds, refs = _write(tmp_path / "p.jsonl", PREDS), _write(tmp_path / "r.jsonl", REFS)
    by_str = rrg_eval.score(predictions=str(preds), references=str(refs), metrics=["bleu", "rouge"], use_cache=False)
    by_path = rrg_eval.score(predictions=preds, references=refs, metrics=["bleu", "rouge"], use_cache=False)
    assert by_list.scores == by_str.scores == by_path.scores
    assert by_str.scores["bleu1"] == BLEU1
    # the signature pins the references, ids included
    assert by_str.signatures == by_path.signatures != by_list.signatures


def test_result_accessors() -> None:
    result = rrg_eval.score(predictions=PREDS, references=REFS, metrics=["bleu", "cider"], use_cache=False)
    frame = result.per_report
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index) == ["a", "b", "c"] and frame.index.name == "id"
    assert list(frame.columns) == ["bleu1", "bleu2", "bleu3", "bleu4", "cider"]
    assert frame.loc["c", "bleu1"] == pytest.approx(1 / 3, abs=1e-9)
    data = json.loads(result.to_json())
    assert data["n"] == 3 and data["scores"] == result.scores and data["signatures"] == result.signatures
    assert set(data) == {"n", "rrg_eval_version", "scores", "signatures", "warnings", "unavailable", "errors"}
    assert render_result(result, "table").startswith(f"rrg-eval {rrg_eval.__version__}: 3 reports")
    assert render_result(result, "markdown").startswith("_rrg-eval")
    assert json.loads(render_result(result, "json")) == data
    assert render_result(result, "csv").splitlines()[0] == "metric,key,value,signature"
    assert render_result(result, "latex").startswith(r"\begin{tabular}")
    with pytest.raises(ConfigError, match="unknown format 'html'"):
        render_result(result, "html")
    result.raise_for_errors()  # nothing failed


def test_empty_texts_are_scored_and_counted() -> None:
    result = rrg_eval.score(predictions={"a": "", "b": "no effusion"}, references={"a": "normal", "b": ""},
                            metrics=["bleu", "rouge"], use_cache=False)
    assert result.n == 2 and result.scores["rouge1"] == 0.0
    assert result.warnings == ["input: 1 empty prediction(s) (ids: a); each metric says how it scores them where "
                               "that differs from its reference implementation",
                               "input: 1 empty reference(s) (ids: b); each metric says how it scores them where "
                               "that differs from its reference implementation"]


def test_keyword_only() -> None:
    with pytest.raises(TypeError):
        rrg_eval.score(PREDS, REFS)  # type: ignore[misc]
    metric = rrg_eval.load_metric("bleu")
    with pytest.raises(TypeError):
        metric.compute(["a b"], ["a b"])  # type: ignore[misc]


def test_load_metric_and_compute() -> None:
    metric = rrg_eval.load_metric("rouge", use_stemmer=False)
    assert metric.config.use_stemmer is False
    score = metric.compute(predictions=["the lungs are clear"], references=["lungs clear"], ids=["x"])
    assert score.scores["rouge1"] == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert list(score.per_report["rouge1"]) == [pytest.approx(2 / 3)]
    assert "stem:no" in score.signature and "refs:" in score.signature
    assert score.warnings == []
    with pytest.raises(InputError, match="2 predictions but 1 references"):
        rrg_eval.load_metric("bleu").compute(predictions=["a", "b"], references=["a"])
    with pytest.raises(ConfigError, match="unknown option rouge.stem; valid options of rouge: use_stemmer"):
        rrg_eval.load_metric("rouge", stem=False)
    with pytest.raises(ConfigError, match="unknown metric 'nope'; valid metrics: bleu"):
        rrg_eval.load_metric("nope")
    with pytest.raises(ConfigError, match="cider.sigma: expected a number"):
        rrg_eval.load_metric("cider", sigma="wide")


def test_global_and_per_metric_options() -> None:
    result = rrg_eval.score(predictions=PREDS, references=REFS, metrics=["bleu", "rouge", "cider"],
                            normalize="lower", rouge={"use_stemmer": False}, use_cache=False)
    assert all("norm:lower" in sig for sig in result.signatures.values())
    assert "stem:no" in result.signatures["rouge"]
    assert result.scores["bleu1"] > BLEU1  # "Cardiomegaly" now matches "cardiomegaly"
    # a per-metric value wins over the global one
    result = rrg_eval.score(predictions=PREDS, references=REFS, metrics=["bleu", "cider"], normalize="lower",
                            cider={"normalize": "none"}, use_cache=False)
    assert "norm:lower" in result.signatures["bleu"] and "norm:none" in result.signatures["cider"]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"rouge": {"stem": False}}, "unknown option rouge.stem; valid options of rouge: use_stemmer, split_summaries"),
    ({"blue": {"normalize": "lower"}}, "unknown metric 'blue'"),
    ({"frobnicate": 3}, "option 'frobnicate' applies to none of the selected metrics"),
    ({"normalize": "upper"}, "bleu.normalize: 'upper' is not one of 'none', 'lower', 'r2gen'"),
    ({"metrics": ["bleu", "blue"]}, "unknown metric 'blue'; valid metrics: bleu, sacrebleu"),
])
def test_bad_options_are_config_errors(kwargs: dict, match: str) -> None:
    kwargs = {"metrics": ["bleu", "rouge"], **kwargs}
    with pytest.raises(ConfigError, match=match):
        rrg_eval.score(predictions=PREDS, references=REFS, use_cache=False, **kwargs)


def test_explicit_unavailable_metric_raises() -> None:
    with pytest.raises(MetricUnavailable, match="meteor cannot run: METEOR needs Java"):
        rrg_eval.score(predictions=PREDS, references=REFS, metrics=["meteor"], meteor={"java": "/nonexistent/java"})


def test_import_does_not_import_torch() -> None:
    code = textwrap.dedent("""
        import sys
        import rrg_eval
        result = rrg_eval.score(predictions=["the heart is normal", "no effusion"],
                                references=["heart normal", "no pleural effusion"], metrics=["bleu"],
                                use_cache=False)
        assert 0 < result.scores["bleu1"] <= 1, result.scores
        heavy = sorted(m for m in ("torch", "transformers", "tensorflow", "jax") if m in sys.modules)
        assert not heavy, heavy
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_availability_checks_do_not_import_torch() -> None:
    """Listing metrics (and a warm-cache run) must not pay for importing torch: availability uses find_spec."""
    code = textwrap.dedent("""
        import sys
        from rrg_eval import load_metric
        from rrg_eval.metrics.registry import names
        for name in names():
            load_metric(name).unavailable_reason()
        heavy = sorted(m for m in ("torch", "transformers") if m in sys.modules)
        assert not heavy, heavy
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_entry_point_plugin(tmp_path: Path) -> None:
    """A third-party package registering a metric under the entry-point group ``rrg_eval.metrics``."""
    dist = tmp_path / "rrg_eval_wordcount-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rrg-eval-wordcount\nVersion: 0.1\n",
                                   encoding="utf-8")
    (dist / "entry_points.txt").write_text("[rrg_eval.metrics]\nlength_ratio = rrg_eval_wordcount:LengthRatio\n",
                                           encoding="utf-8")
    (tmp_path / "rrg_eval_wordcount.py").write_text(textwrap.dedent('''
        """A toy plug-in: ratio of predicted to reference words."""
        from dataclasses import dataclass

        import numpy as np

        from rrg_eval.option_spec import option
        from rrg_eval.metrics.base import Metric


        @dataclass(frozen=True)
        class LengthRatioConfig:
            scale: float = option(1.0, help="multiply the ratio")


        class LengthRatio(Metric):
            name = "length_ratio"
            Config = LengthRatioConfig
            description = "predicted words / reference words"
            keys = ("length_ratio",)
            key_kinds = {"length_ratio": "score"}

            def compute_stats(self, *, predictions, references, ids, context):
                return {"words": np.array([[len(p.split()), len(r.split())]
                                           for p, r in zip(predictions, references)], dtype=float)}

            def aggregate(self, stats):
                total = stats["words"].sum(axis=0)
                return {"length_ratio": self.config.scale * total[0] / total[1]}

            def per_report(self, stats):
                return {"length_ratio": self.config.scale * stats["words"][:, 0] / stats["words"][:, 1]}
    '''), encoding="utf-8")
    code = textwrap.dedent("""
        import json
        import rrg_eval
        names = rrg_eval.list_metrics()
        result = rrg_eval.score(predictions={"x": "a b c d", "y": "a"}, references={"x": "a b", "y": "a b"},
                                metrics=["length_ratio", "bleu"], length_ratio={"scale": 2}, use_cache=False)
        print(json.dumps({"names": names, "scores": result.scores, "sig": result.signatures["length_ratio"]}))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["names"][-1] == "length_ratio" and out["names"][0] == "bleu"
    assert out["scores"]["length_ratio"] == 2 * 5 / 4
    assert out["sig"].startswith("length_ratio|scale:2.0|refs:")
    # and the CLI lists it
    proc = subprocess.run([sys.executable, "-m", "rrg_eval", "metrics", "--format", "json"], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "length_ratio" in [m["name"] for m in json.loads(proc.stdout)]
