"""Keys that only some options produce (``Metric.key_options``, e.g. bertscore's ``preset=cxr`` keys) resolve in
rewards: the key alone builds the metric with those options; a conflicting option or key is a ConfigError."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pytest

from rrg_eval.errors import ConfigError
from rrg_eval.metrics.base import Metric
from rrg_eval.metrics.registry import key_source, metric_class, register
from rrg_eval.option_spec import option
from rrg_eval.rewards import Scorer, make_reward, metric_of_key

REFS = ["a b c", "d e", "f"]
PREDS = ["a b", "d e f g", ""]


@dataclass(frozen=True)
class _KeyedConfig:
    mode: Literal["plain", "long"] = option("plain")


class _Keyed(Metric):
    """Length of the prediction; under ``mode="long"`` its keys are ``test_keyed_long*`` (as a preset's)."""

    name = "test_keyed"
    Config = _KeyedConfig
    description = "test"
    keys = ("test_keyed_len", "test_keyed_words")
    key_options = {"test_keyed_long": {"mode": "long"}, "test_keyed_long_words": {"mode": "long"}}

    def __init__(self, config=None, **overrides) -> None:  # type: ignore[no-untyped-def]
        super().__init__(config, **overrides)
        self.keys = tuple(self.key_options) if self.config.mode == "long" else type(self).keys

    def compute_stats(self, *, predictions, references, ids, context):  # type: ignore[no-untyped-def]
        scale = 10.0 if self.config.mode == "long" else 1.0
        return {"len": np.array([scale * len(p) for p in predictions]),
                "words": np.array([float(len(p.split())) for p in predictions])}

    def aggregate(self, stats):  # type: ignore[no-untyped-def]
        return {k: float(np.mean(v)) for k, v in self.per_report(stats).items()}

    def per_report(self, stats):  # type: ignore[no-untyped-def]
        return dict(zip(self.keys, (stats["len"], stats["words"])))


@pytest.fixture()
def keyed():  # type: ignore[no-untyped-def]
    from rrg_eval.metrics import registry

    register(_Keyed)
    yield
    registry._extra.pop(_Keyed.name, None)


@pytest.fixture()
def scorer(tmp_path) -> Scorer:  # type: ignore[no-untyped-def]
    found = Scorer(cache_dir=tmp_path)
    yield found
    found.close()


def test_all_keys_and_key_source(keyed) -> None:  # type: ignore[no-untyped-def]
    assert _Keyed.all_keys() == ("test_keyed_len", "test_keyed_words", "test_keyed_long", "test_keyed_long_words")
    assert key_source("test_keyed_long") == ("test_keyed", {"mode": "long"})
    assert key_source("test_keyed_len") == ("test_keyed", {})
    assert metric_of_key("test_keyed_long") == "test_keyed"
    with pytest.raises(ConfigError, match="no registered metric produces the key 'test_keyed_lon'; did you mean"):
        key_source("test_keyed_lon")


@pytest.mark.parametrize("call", [lambda s: make_reward("test_keyed_long", scorer=s),
                                  lambda s: make_reward("test_keyed", key="test_keyed_long", scorer=s),
                                  lambda s: make_reward("test_keyed", key="test_keyed_long", mode="long", scorer=s),
                                  lambda s: make_reward({"test_keyed_long": 1.0}, scorer=s)])
def test_a_key_under_options_builds_the_metric_with_them(keyed, scorer: Scorer, call) -> None:  # type: ignore[no-untyped-def]
    reward = call(scorer)
    assert reward(completions=PREDS, reference=REFS) == [30.0, 70.0, 0.0]
    assert scorer.metric("test_keyed", {"mode": "long"}).config.mode == "long"


def test_weighted_sum_of_keys_under_the_same_options(keyed, scorer: Scorer) -> None:  # type: ignore[no-untyped-def]
    reward = make_reward({"test_keyed_long": 1.0, "test_keyed_long_words": 1.0}, scorer=scorer)
    assert reward(completions=PREDS, reference=REFS) == [32.0, 74.0, 0.0]


def test_conflicts_are_config_errors(keyed, scorer: Scorer) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="test_keyed.mode='plain' conflicts with the key"):
        make_reward("test_keyed", key="test_keyed_long", mode="plain", scorer=scorer)
    with pytest.raises(ConfigError, match="test_keyed with mode='long' does not produce test_keyed_len; it "
                                          "produces test_keyed_long, test_keyed_long_words"):
        make_reward({"test_keyed_len": 0.5, "test_keyed_long": 0.5}, scorer=scorer)
    with pytest.raises(ConfigError, match="does not produce test_keyed_len; it produces test_keyed_long"):
        make_reward("test_keyed", key="test_keyed_len", mode="long", scorer=scorer)
    with pytest.raises(ConfigError, match="its keys: .*test_keyed_long \\(with mode='long'\\)"):
        make_reward("test_keyed", key="nope", scorer=scorer)


def test_bertscore_cxr_keys_resolve_to_the_preset() -> None:
    cls = metric_class("bertscore")
    assert cls.all_keys()[3:] == ("bertscore_cxr_p", "bertscore_cxr_r", "bertscore_cxr_f1")
    assert key_source("bertscore_cxr_f1") == ("bertscore", {"preset": "cxr"})
    assert key_source("bertscore_f1") == ("bertscore", {})
    assert cls.kind_of("bertscore_cxr_f1") == "score"  # rescaled, as bertscore_f1: not a fraction


@pytest.fixture(scope="module")
def cxr_weights(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("bert_score")
    from rrg_eval.synthetic_weights import synthesize

    return synthesize("distilroberta", tmp_path_factory.mktemp("droberta"), "tiny", seed=0)


@pytest.mark.parametrize("args", [("bertscore_cxr_f1",), ("bertscore", "bertscore_cxr_f1")])
def test_make_reward_bertscore_cxr_is_score_with_the_preset(scorer: Scorer, cxr_weights, args,  # type: ignore[no-untyped-def]
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import rrg_eval

    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(cxr_weights))
    reward = make_reward(*args, scorer=scorer, device="cpu")
    assert reward.options == {"bertscore": {"device": "cpu", "preset": "cxr"}}
    assert reward.__name__ == "rrg_eval_bertscore_bertscore_cxr_f1"
    got = reward(completions=PREDS, reference=REFS)
    expected = rrg_eval.score(predictions=PREDS, references=REFS, metrics=["bertscore"],
                              bertscore={"preset": "cxr"}, use_cache=False, device="cpu")
    np.testing.assert_allclose(got, expected.per_report_values["bertscore_cxr_f1"], rtol=0, atol=1e-6)
