"""Rewards: TRL's reward signature, values equal to ``rrg_eval.score``'s per-report values, shared metrics."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

import numpy as np
import pytest

import rrg_eval
from rrg_eval.errors import ConfigError
from rrg_eval.metrics.base import Metric
from rrg_eval.metrics.registry import register
from rrg_eval.option_spec import option
from rrg_eval.rewards import Scorer, completion_text, make_reward, make_verl_score

REFS = ["the heart is normal in size . no pleural effusion .", "no acute cardiopulmonary process .",
        "mild cardiomegaly . no effusion .", "lungs are clear ."]
PREDS = ["heart size is normal . no effusion .", "", "cardiomegaly .", "lungs are clear ."]


@pytest.fixture()
def scorer(tmp_path) -> Scorer:
    found = Scorer(cache_dir=tmp_path)
    yield found
    found.close()


@pytest.mark.parametrize(("metric", "key"), [("bleu", "bleu4"), ("rouge", "rougeL"), ("cider", "cider"),
                                             ("sacrebleu", "sacrebleu")])
def test_rewards_equal_score_per_report(scorer: Scorer, metric: str, key: str) -> None:
    reward = make_reward(metric, key=key, scorer=scorer)
    got = reward(prompts=["p"] * 4, completions=PREDS, reference=REFS, completion_ids=[[1]] * 4,
                 trainer_state=None, other_column=[1, 2, 3, 4])
    expected = rrg_eval.score(predictions=PREDS, references=REFS, metrics=[metric], use_cache=False)
    np.testing.assert_allclose(got, expected.per_report_values[key], rtol=0, atol=1e-12)
    assert isinstance(got, list)
    assert reward.__name__ == f"rrg_eval_{metric}_{key}"


def test_conversational_completions_read_from_content(scorer: Scorer) -> None:
    reward = make_reward("bleu", key="bleu1", scorer=scorer)
    plain = reward(prompts=None, completions=PREDS, reference=REFS)
    chat = reward(prompts=None, completions=[[{"role": "assistant", "content": p}] for p in PREDS], reference=REFS)
    assert chat == plain
    assert completion_text([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]) == "a"
    assert completion_text([{"role": "assistant", "content": [{"type": "text", "text": "x y"}]}]) == "x y"


def test_weighted_sum_logs_components(scorer: Scorer) -> None:
    logged: dict[str, float] = {}
    reward = make_reward({"bleu1": 0.5, "rougeL": 0.5}, scorer=scorer)
    got = reward(completions=PREDS, reference=REFS, log_metric=lambda name, value: logged.__setitem__(name, value))
    b = make_reward("bleu", key="bleu1", scorer=scorer)(completions=PREDS, reference=REFS)
    r = make_reward("rouge", key="rougeL", scorer=scorer)(completions=PREDS, reference=REFS)
    np.testing.assert_allclose(got, [0.5 * x + 0.5 * y for x, y in zip(b, r)], rtol=0, atol=1e-12)
    assert set(logged) == {"rrg_eval/bleu1", "rrg_eval/rougeL"}
    assert reward.__name__ == "rrg_eval_bleu1+rougeL"


def test_rewards_share_one_metric_instance(scorer: Scorer) -> None:
    first = make_reward("rouge", key="rougeL", scorer=scorer)
    second = make_reward("rouge", key="rouge1", scorer=scorer)
    assert first.scorer.metric("rouge", {}) is second.scorer.metric("rouge", {})


def test_transform_and_reference_column(scorer: Scorer) -> None:
    reward = make_reward("bleu", key="bleu1", reference_column="findings", transform=lambda x: 2 * x - 1,
                         scorer=scorer)
    got = reward(completions=["lungs are clear ."], findings=["lungs are clear ."])
    assert got == [pytest.approx(1.0)]
    with pytest.raises(ConfigError, match="no 'findings' column"):
        reward(completions=["a"], reference=["a"])


def test_bad_key_and_options_fail_at_creation(scorer: Scorer) -> None:
    with pytest.raises(ConfigError, match="has no key 'bleu9'"):
        make_reward("bleu", key="bleu9", scorer=scorer)
    with pytest.raises(ConfigError, match="no registered metric produces"):
        make_reward({"nosuch_key": 1.0}, scorer=scorer)
    with pytest.raises(ConfigError, match="cider.sigma"):
        make_reward("cider", sigma=-1, scorer=scorer)


@dataclass(frozen=True)
class _UnparsedConfig:
    scale: float = option(1.0)


class _Unparsed(Metric):
    """A metric whose second report cannot be scored (as a judge answer that does not parse)."""

    name = "test_unparsed"
    Config = _UnparsedConfig
    description = "test"
    keys = ("test_unparsed",)

    def compute_stats(self, *, predictions, references, ids, context):
        return {"v": np.array([math.nan if i == 1 else float(len(p)) for i, p in enumerate(predictions)])}

    def aggregate(self, stats):
        return {"test_unparsed": float(np.nanmean(stats["v"]))}

    def per_report(self, stats):
        return {"test_unparsed": stats["v"]}


@pytest.fixture()
def unparsed_metric():
    from rrg_eval.metrics import registry

    register(_Unparsed)
    yield
    registry._extra.pop(_Unparsed.name, None)


def test_unscorable_report_is_none_never_zero(scorer: Scorer, unparsed_metric) -> None:
    reward = make_reward("test_unparsed", scorer=scorer)
    assert reward(completions=["ab", "cd", ""], reference=["x", "y", "z"]) == [2.0, None, 0.0]
    verl = make_verl_score("test_unparsed")
    assert verl("iu", "cd", "y") == 2.0 and verl.unscored == 0


def test_async_variant(scorer: Scorer) -> None:
    reward = make_reward("bleu", key="bleu1", scorer=scorer, asynchronous=True)
    assert asyncio.iscoroutinefunction(reward.__call__)
    got = asyncio.run(reward(completions=PREDS, reference=REFS))
    assert got == make_reward("bleu", key="bleu1", scorer=scorer)(completions=PREDS, reference=REFS)


def test_verl_compute_score() -> None:
    compute_score = make_verl_score("rouge", key="rougeL")
    value = compute_score("iu_xray", "lungs are clear .", "lungs are clear .", extra_info={"index": 3})
    assert value == pytest.approx(1.0)
    assert compute_score.__name__ == "rrg_eval_rouge_rougeL"
