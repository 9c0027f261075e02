"""The Metric contract, checked on EVERY registered metric (issue 10, item 8).

For each metric in the registry: its ``Config`` is a frozen dataclass and every option that changes a number is
in the signature; ``aggregate`` is pure (same numbers twice, statistics untouched) and equal on the statistics
taken and concatenated back; ``per_report`` arrays have one value per report; the keys declared in ``keys``
are the keys returned. Model metrics run on tiny synthetic checkpoints (``rrg_eval.synthetic_weights``), the LLM
judge against the loopback fake server (tests/support/judge_server.py). A metric that cannot be built here is skipped
with the reason the metric gives.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from rrg_eval.metrics.registry import metric_class, names
from rrg_eval.stats import concat, n_rows, take

PREDS = ["the heart is normal in size . no effusion .", "mild cardiomegaly . lungs are clear .",
         "no pneumothorax .", "small left pleural effusion .", "", "stable appearance of the chest ."]
REFS = ["heart size is normal . no pleural effusion .", "cardiomegaly . the lungs are clear .",
        "no pneumothorax or effusion .", "left pleural effusion is small .", "no acute disease .",
        "no acute cardiopulmonary process ."]


def _structured(entity: str, finding: str, existence: str) -> str:
    """A report in json_overlap's structured-findings schema (one sentence, one finding)."""
    return json.dumps([{"anatomical_entity": entity, "location_descriptor": None, "procedure": None,
                        "clinical_findings": [{"clinical_finding": finding, "existence": existence,
                                               "descriptive_term": None, "observation": finding}]}])


JSON_PREDS = [_structured("heart", "cardiomegaly", "neg_dx"), _structured("lung", "effusion", "pos_dx"),
              _structured("lung", "pneumothorax", "neg_dx"), "not json", _structured("lung", "opacity", "unc_dx"),
              _structured("chest", "disease", "neg_dx")]
JSON_REFS = [_structured("heart", "cardiomegaly", "neg_dx"), _structured("lung", "effusion", "neg_dx"),
             _structured("lung", "pneumothorax", "neg_dx"), _structured("lung", "effusion", "pos_dx"),
             _structured("lung", "opacity", "pos_dx"), _structured("chest", "disease", "neg_dx")]
# keys a metric declares that only another option gives (json_overlap's R2Gen2 convention): left out of the
# equality on these default-option inputs, still required to be among the declared keys
OTHER_OPTION_KEYS = {"json_overlap": {"json_overlap_r2gen2"}}
# METEOR's aggregate runs the Meteor 1.5 jar once per call (about 5 s each here): checked with -m slow
SLOW = {"meteor"}
MODEL_KINDS = {"bertscore": "bertscore", "f1chexbert": "chexbert", "radgraph": "radgraph",
               "radgraph_combined": "radgraph"}
# options that point a model metric at the synthetic checkpoint `synthesize` writes (radgraph-xl only)
MODEL_OPTIONS = {"radgraph_combined": {"model_type": "radgraph-xl"}}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder laid out as $RRG_EVAL_MODEL_DIR with every model metric's tiny synthetic checkpoint."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from rrg_eval.synthetic_weights import synthesize

    root = tmp_path_factory.mktemp("contract-models")
    for kind in sorted(set(MODEL_KINDS.values())):
        synthesize(kind, root, size="tiny", seed=0)
    return root


@pytest.fixture()
def judge_server(monkeypatch: pytest.MonkeyPatch):
    from judge_server import JudgeServer

    monkeypatch.setenv("OPENAI_API_KEY", "sk-contract-test")
    with JudgeServer() as srv:
        yield srv


def _build(name: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    options: dict = {}
    if name in MODEL_KINDS:
        monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(request.getfixturevalue("model_dir")))
        options["device"] = "cpu"
        options.update(MODEL_OPTIONS.get(name, {}))
    if name == "chexprompt":
        pytest.importorskip("openai")
        server = request.getfixturevalue("judge_server")
        options.update(model="judge-test", base_url=server.url, timeout=2.0, backoff=0.01, max_retries=1)
    metric = metric_class(name)(**options)
    reason = metric.unavailable_reason()
    if reason is not None:
        metric.close()
        pytest.skip(f"{name} cannot run here: {reason}")
    return metric


def _equal(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=np.asarray(a).dtype.kind == "f")
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    return a == b


@pytest.mark.parametrize("name", names())
def test_config_is_a_frozen_dataclass(name: str) -> None:
    cls = metric_class(name)
    assert dataclasses.is_dataclass(cls.Config) and cls.Config.__dataclass_params__.frozen, name
    metric = cls()
    with pytest.raises(dataclasses.FrozenInstanceError):
        first = dataclasses.fields(metric.config)[0].name if dataclasses.fields(metric.config) else None
        if first is None:
            raise dataclasses.FrozenInstanceError("no fields")
        setattr(metric.config, first, None)
    metric.close()


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in names()])
def test_stats_aggregate_per_report_and_keys(name: str, request: pytest.FixtureRequest,
                                             monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    metric = _build(name, request, monkeypatch)
    preds, refs = (JSON_PREDS, JSON_REFS) if name == "json_overlap" else (PREDS, REFS)
    n = len(refs)
    try:
        score = metric.compute(predictions=preds, references=refs, cache_dir=tmp_path / "cache")
    finally:
        metric.close()
    stats = score.stats
    assert n_rows(stats) == n
    # every option that can change a number is in the signature, before the one tail the base class writes
    signature = score.signature
    assert signature.startswith(f"{name}|") and "|refs:" in signature and "|v:" in signature
    for f in dataclasses.fields(metric.Config):
        if f.metadata.get("in_signature", True):
            sig = f.metadata.get("sig") or f.name
            assert f"|{sig}:" in signature, f"{name}: option {f.name} ({sig}) missing from {signature}"
    # the keys declared are the keys returned
    assert set(score.scores) == set(metric.keys) - OTHER_OPTION_KEYS.get(name, set()), name
    # per-report arrays: one value per report
    for key, values in score.per_report.items():
        assert len(values) == n, (name, key)
    # aggregate is pure: same numbers twice, the statistics untouched
    before = copy.deepcopy(stats)
    again = metric.aggregate(stats)
    assert _equal(again, score.scores) and _equal(stats, before), name
    # ... and a function of the rows: taken apart and concatenated back, the same numbers
    halves = concat(take(stats, list(range(n // 2))), take(stats, list(range(n // 2, n))))
    assert _equal(metric.aggregate(halves), score.scores), name
    # resamples at once equal resamples one by one
    idx = np.random.default_rng(0).integers(0, n, size=(3, n))
    batch = metric.aggregate_resamples(stats, idx)
    for row in range(3):
        one = metric.aggregate(take(stats, idx[row]))
        for key, value in one.items():
            assert np.isclose(batch[key][row], value, equal_nan=True, rtol=1e-9, atol=1e-12), (name, key)


def test_json_overlap_with_both_conventions_returns_every_declared_key() -> None:
    metric = metric_class("json_overlap")(convention=("rrg-eval", "r2gen2"))
    score = metric.compute(predictions=JSON_PREDS, references=JSON_REFS)
    assert set(score.scores) == set(metric.keys)
