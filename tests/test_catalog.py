"""``rrg-eval metrics``: separate facts (installed, weights found and where, judge configured), never "can run"
for a model metric without its weights, and the one command that fixes each metric that cannot run (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rrg_eval.catalog import MetricInfo, describe
from rrg_eval.render import render_catalog


def _info(name: str, *, available: bool, installed: bool = True, weights: str = "-", configured: bool | None = None,
          reason: str | None = None, fix: str | None = None, extra: str | None = None) -> MetricInfo:
    return MetricInfo(name=name, description=f"what {name} measures", keys=(name,), extra=extra, available=available,
                      reason=reason, reference="", default_config={"opt": 1}, installed=installed, weights=weights,
                      configured=configured, fix=fix)


CATALOG = [
    _info("bleu", available=True),
    _info("bertscore", available=False, weights="missing", extra="models", fix="rrg-eval models download --metrics "
          "bertscore", reason="model weights not found: distilbert-base-uncased (not in $RRG_EVAL_MODEL_DIR nor the "
                              "hub cache)"),
    _info("radgraph", available=True, weights="synthetic, $RRG_EVAL_MODEL_DIR", extra="models"),
    _info("ratescore", available=False, installed=False, weights="missing", extra="ratescore",
          reason="ratescore needs medspacy: pip install 'rrg-eval[ratescore]'",
          fix="pip install 'rrg-eval[ratescore]'"),
    _info("green", available=False, configured=False, extra="judge", reason="no judge model configured",
          fix="--set green.model=NAME --set green.base_url=http://127.0.0.1:8000/v1"),
    _info("radcliq", available=False, extra="models", reason="component sembscore is not available in this version"),
]

EXPECTED = """\
name       can run  installed  weights                         configured  extra      measures
bleu       yes      yes        -                               -           -          what bleu measures
bertscore  no       yes        missing                         -           models     what bertscore measures
radgraph   yes      yes        synthetic, $RRG_EVAL_MODEL_DIR  -           models     what radgraph measures
ratescore  no       no         missing                         -           ratescore  what ratescore measures
green      no       yes        -                               no          judge      what green measures
radcliq    no       yes        -                               -           models     what radcliq measures

default config (change with --set METRIC.FIELD=VALUE):
  bleu: opt=1
  bertscore: opt=1
  radgraph: opt=1
  ratescore: opt=1
  green: opt=1
  radcliq: opt=1

cannot run here yet (why, and the command that fixes it):
  bertscore: model weights not found: distilbert-base-uncased (not in $RRG_EVAL_MODEL_DIR nor the hub cache)
    fix: rrg-eval models download --metrics bertscore
  ratescore: ratescore needs medspacy: pip install 'rrg-eval[ratescore]'
    fix: pip install 'rrg-eval[ratescore]'
  green: no judge model configured
    fix: --set green.model=NAME --set green.base_url=http://127.0.0.1:8000/v1
  radcliq: component sembscore is not available in this version
    fix: none in this version of rrg-eval

without network here: run `rrg-eval models download --metrics ... --to DIR` on a connected machine, copy DIR here \
and set RRG_EVAL_MODEL_DIR=DIR.
"""


def test_catalog_table_exact_output() -> None:
    assert render_catalog(CATALOG) == EXPECTED


@pytest.fixture
def no_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "models").mkdir()
    return tmp_path / "models"


@pytest.mark.parametrize("name", ["bertscore", "f1chexbert", "radgraph", "radgraph_combined"])
def test_model_metric_without_weights_cannot_run(no_weights: Path, name: str) -> None:
    pytest.importorskip("torch")
    info = describe(name)
    assert info.installed and info.weights == "missing" and not info.available
    assert info.fix == f"rrg-eval models download --metrics {name}"
    assert info.reason and info.reason.startswith("model weights not found: ")


def test_synthetic_weights_are_found_and_marked(no_weights: Path) -> None:
    pytest.importorskip("torch")
    from rrg_eval.model_admin import synth

    synth("bertscore", no_weights)
    info = describe("bertscore")
    assert info.available and info.weights == "synthetic, $RRG_EVAL_MODEL_DIR" and info.fix is None


def test_judge_with_its_client_installed_is_not_configured_rather_than_not_installed() -> None:
    pytest.importorskip("openai")
    for name in ("chexprompt", "green"):
        info = describe(name)
        assert info.installed and info.configured is False and not info.available, name
        assert info.fix == f"--set {name}.model=NAME --set {name}.base_url=http://127.0.0.1:8000/v1"


def test_judge_without_its_client_is_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__

    def no_openai(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name == "openai":
            raise ImportError("no openai here")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_openai)
    info = describe("chexprompt")
    assert not info.installed and info.fix == "pip install 'rrg-eval[judge]'"


def test_keys_produced_under_options_are_listed() -> None:
    """A metric's ``key_options`` keys (bertscore's preset=cxr keys) are in the catalogue: its JSON ``keys`` and
    ``key_options``, and one table line naming the flag that produces them."""
    from dataclasses import replace

    info = describe("bertscore")
    assert info.keys == ("bertscore_p", "bertscore_r", "bertscore_f1", "bertscore_cxr_p", "bertscore_cxr_r",
                         "bertscore_cxr_f1")
    assert info.key_options == dict.fromkeys(("bertscore_cxr_p", "bertscore_cxr_r", "bertscore_cxr_f1"),
                                             {"preset": "cxr"})
    data = info.to_dict()
    assert data["keys"] == list(info.keys) and data["key_options"]["bertscore_cxr_f1"] == {"preset": "cxr"}
    assert describe("bleu").key_options == {} and describe("bleu").to_dict()["key_options"] == {}
    keyed = replace(CATALOG[0], key_options={"bleu_x": {"mode": "x"}, "bleu_y": {"mode": "x"}})
    lines = render_catalog([keyed]).splitlines()
    at = lines.index("keys produced only under some options:")
    assert lines[at + 1] == "  bleu: bleu_x, bleu_y (--set bleu.mode=x)"
    assert "keys produced only under some options:" not in render_catalog(CATALOG)
