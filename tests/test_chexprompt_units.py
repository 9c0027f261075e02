"""CheXprompt pieces without a server: answer parsing, privacy rules, dry-run estimates, prompts, signature."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rrg_eval.errors import ConfigError, MetricUnavailable
from rrg_eval.judge import dryrun, privacy
from rrg_eval.judge.client import RateLimiter, parse_retry_after, redact
from rrg_eval.judge.parse import Counts, parse_answer, parse_list
from rrg_eval.judge.prompts import load_prompt, official_prompt, rrg_eval_prompt
from rrg_eval.metrics.registry import load_metric
from rrg_eval.stats import take

SQ = "[(A, 1), (B, 0), (C, 2), (D, 0), (E, 0), (F, 3)]"
RD = "((A, 0), (B, 1), (C, 0), (D, 0), (E, 1), (F, 0))"


# -- parsing -----------------------------------------------------------------------------------------------
def test_parse_both_formats():
    text = f"Number of clinically significant errors by type: {SQ}\nNumber of clinically insignificant errors by " \
           f"type: {RD}"
    assert parse_answer(text) == Counts(significant=(1, 0, 2, 0, 0, 3), insignificant=(0, 1, 0, 0, 1, 0))


def test_parse_tolerates_explanations_bold_blank_lines_and_order():
    text = ("Let me compare. The number of clinically significant errors is what matters here.\n\n"
            f"**Number of clinically insignificant errors by type:** {RD}\n\n"
            f"Number of clinically significant errors by type: {SQ}\n"
            "Explanation: (A) the candidate mentions an effusion (not in the reference).")
    assert parse_answer(text) == Counts(significant=(1, 0, 2, 0, 0, 3), insignificant=(0, 1, 0, 0, 1, 0))


def test_parse_the_published_example_layout():
    text = ("Number of clinically significant errors by type: ((A, 1), (B, 1), (C, 0), (D, 0), (E, 0), (F, 0))\n\n"
            "Number of clinically insignificant errors by type: ((A, 1), (B, 0), (C, 0), (D, 0), (E, 0), (F, 0))")
    assert parse_answer(text).significant == (1, 1, 0, 0, 0, 0)


@pytest.mark.parametrize("text", [
    None, "", "   ", "garbage", "Number of clinically significant errors by type: " + SQ,
    "Number of clinically insignificant errors by type: " + RD,
    "Number of clinically significant errors by type: [(A, 1), (B, 0)]\n"
    "Number of clinically insignificant errors by type: " + RD,
    "Number of clinically significant errors by type: [(A, 1), (A, 0), (C, 0), (D, 0), (E, 0), (F, 0)]\n"
    "Number of clinically insignificant errors by type: " + RD,
    "Number of clinically significant errors by type: [(A, one), (B, 0), (C, 0), (D, 0), (E, 0), (F, 0)]\n"
    "Number of clinically insignificant errors by type: " + RD,
    "Number of clinically significant errors by type: [(A, 1), (B, 0), (C, 0), (D, 0), (E, 0), (F, 0)\n"
    "Number of clinically insignificant errors by type: " + RD,
])
def test_unparseable_answers_are_none_never_zero(text):
    assert parse_answer(text) is None


def test_parse_list_lowercase_and_quotes():
    assert parse_list("[('a', 1), ('b', 0), (c, 0), (d, 0), (e, 0), (f, 2)]") == (1, 0, 0, 0, 0, 2)
    assert parse_list("no list") is None


# -- aggregate ---------------------------------------------------------------------------------------------
def _stats():
    sig = np.array([[1, 0, 0, 0, 0, 0], [np.nan] * 6, [0] * 6, [0, 2, 0, 1, 0, 0]], dtype=float)
    insig = np.array([[0] * 6, [np.nan] * 6, [1, 0, 0, 0, 0, 0], [0] * 6], dtype=float)
    return {"significant": sig, "insignificant": insig, "parsed": np.array([True, False, True, True])}


def test_aggregate_excludes_unparsed_and_resamples():
    metric = load_metric("chexprompt")
    scores = metric.aggregate(_stats())
    assert scores["chexprompt_significant_errors"] == pytest.approx(4 / 3)
    assert scores["chexprompt_insignificant_errors"] == pytest.approx(1 / 3)
    assert scores["chexprompt_error_free_rate"] == pytest.approx(1 / 3)
    assert scores["chexprompt_significant_B"] == pytest.approx(2 / 3)
    assert scores["chexprompt_unparsed_rate"] == pytest.approx(1 / 4)
    assert set(scores) == set(metric.keys)
    boot = metric.aggregate(take(_stats(), [2, 2, 1]))
    assert boot["chexprompt_significant_errors"] == 0.0 and boot["chexprompt_unparsed_rate"] == pytest.approx(1 / 3)
    empty = metric.aggregate(take(_stats(), []))
    assert empty["chexprompt_unparsed_rate"] == 0.0 and math.isnan(empty["chexprompt_significant_errors"])
    per = metric.per_report(_stats())
    assert per["chexprompt_unparsed"].tolist() == [0, 1, 0, 0]
    assert per["chexprompt_error_free"][2] == 1.0 and math.isnan(per["chexprompt_error_free"][1])
    assert {f"chexprompt_insignificant_{t}" for t in "ABCDEF"} <= set(per)


# -- privacy -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("host,private", [
    # vllm.localhost: a name like any other since issue 11 #3 (resolved and checked; here it does not resolve)
    ("localhost", True), ("vllm.localhost", False), ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True),
    ("10.1.2.3", True), ("172.16.0.1", True), ("172.31.255.255", True), ("172.32.0.1", False),
    ("192.168.1.20", True), ("192.169.0.1", False), ("fc00::1", True), ("fd12:3456::1", True),
    ("8.8.8.8", False), ("2001:db8::1", False), ("169.254.1.1", False), ("::ffff:10.0.0.1", True),
])
def test_private_ranges(host, private):
    assert privacy.classify_host(host, resolver=lambda h: [])[0] is private


def test_hosted_apis_are_remote_without_a_lookup():
    def boom(host):
        raise AssertionError("no DNS lookup for known hosted APIs")
    assert privacy.classify_host("api.openai.com", resolver=boom)[0] is False
    assert privacy.classify_host("myres.openai.azure.com", resolver=boom)[0] is False


def test_names_are_private_only_when_every_address_is():
    assert privacy.classify_host("gpu-box", resolver=lambda h: ["10.0.0.5", "fd00::5"])[0] is True
    assert privacy.classify_host("mixed", resolver=lambda h: ["10.0.0.5", "34.1.2.3"])[0] is False
    private, why = privacy.classify_host("nowhere", resolver=lambda h: [])
    assert private is False and "does not resolve" in why


def test_refusal_message_and_explicit_allowing():
    refusal = privacy.privacy_refusal("https://api.openai.com/v1", allow_remote=False, environ={})
    assert "api.openai.com" in refusal and "--allow-remote-judge" in refusal
    assert "RRG_EVAL_ALLOW_REMOTE_JUDGE=1" in refusal and "patient data" in refusal
    assert privacy.privacy_refusal("https://api.openai.com/v1", allow_remote=True, environ={}) is None
    assert privacy.privacy_refusal("https://api.openai.com/v1", allow_remote=False,
                                   environ={"RRG_EVAL_ALLOW_REMOTE_JUDGE": "1"}) is None
    assert privacy.privacy_refusal("https://api.openai.com/v1", allow_remote=False,
                                   environ={"RRG_EVAL_ALLOW_REMOTE_JUDGE": "0"}) is not None
    assert privacy.privacy_refusal("http://127.0.0.1:8000/v1", allow_remote=False, environ={}) is None
    assert privacy.privacy_refusal("http://[::1]:8000/v1", allow_remote=False, environ={}) is None
    with pytest.raises(ConfigError):
        privacy.host_of("http:///v1")


# -- client helpers ----------------------------------------------------------------------------------------
def test_retry_after_parsing_and_redaction():
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "100000"}) == 300.0
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({}) is None and parse_retry_after(None) is None
    assert redact("key sk-abcdef was wrong", ["sk-abcdef"]) == "key *** was wrong"


def test_rate_limiter_spacing():
    import asyncio
    import time

    async def go() -> float:
        limiter = RateLimiter(1200)  # 0.05 s apart
        start = time.monotonic()
        for _ in range(5):
            await limiter.wait()
        return time.monotonic() - start

    assert asyncio.run(go()) >= 0.19
    assert RateLimiter(0).interval == 0.0


# -- dry run -----------------------------------------------------------------------------------------------
def test_token_estimate_and_prices():
    assert dryrun.estimate_tokens([{"role": "user", "content": "x" * 10}]) == 3 + 4
    assert dryrun.price_of("gpt-4o") == (2.50, 10.00)
    assert dryrun.price_of("gpt-4o-mini-2024-07-18") == (0.15, 0.60)
    assert dryrun.price_of("gpt-4-0613") == (30.0, 60.0)
    assert dryrun.price_of("llama3.1:70b") is None


def test_plan_and_render_exact():
    plan = dryrun.make_plan(metric="chexprompt", backend="openai", model="gpt-4o", host="api.openai.com",
                            host_private=False, pairs=3, cached=1, to_send=[[{"role": "user", "content": "x" * 396}]],
                            max_tokens=128, parse_retries=2, refusal=None)
    assert (plan.requests, plan.input_tokens, plan.output_tokens, plan.max_requests) == (1, 103, 128, 3)
    assert plan.cost_usd == pytest.approx((103 * 2.5 + 128 * 10) / 1e6)
    assert dryrun.render_plan(plan) == (
        "chexprompt: dry run, nothing sent\n"
        "  judge: openai model gpt-4o at api.openai.com\n"
        "  pairs: 3 (2 distinct), answered by the cache: 1\n"
        "  requests to send: 1 (up to 3 if every answer needs its parse retries)\n"
        "  estimated tokens: 103 input + up to 128 output (characters/4 + 4 per message; output at max_tokens)\n"
        f"  estimated cost: $0.00 at OpenAI list prices of {dryrun.PRICES_DATE} (output at max_tokens, so an upper "
        "bound)\n")
    local = dryrun.make_plan(metric="chexprompt", backend="openai", model="gpt-4o", host="127.0.0.1",
                             host_private=True, pairs=1, cached=0, to_send=[[{"content": "x"}]], max_tokens=1,
                             parse_retries=0)
    assert local.cost_usd is None


# -- prompts -----------------------------------------------------------------------------------------------
def test_own_prompt_messages_and_digest():
    prompt = rrg_eval_prompt()
    messages = prompt.messages("REF TEXT", "CAND TEXT")
    assert messages[0]["role"] == "system" and "six" in messages[0]["content"]
    assert [m["role"] for m in messages[1:-1]] == ["user", "assistant"] * 3
    assert messages[-1] == {"role": "user", "content": 'Reference report: """REF TEXT"""\n\nCandidate report: '
                                                       '"""CAND TEXT"""'}
    for m in messages[2:-1:2]:
        assert parse_answer(m["content"]) is not None  # the worked examples follow the answer format
    assert len(prompt.digest) == 12 and prompt.digest == rrg_eval_prompt().digest


FAKE_EVALUATOR = '''
import openai.error  # the real module needs the pre-1.0 openai API; rrg-eval must not import it
SYSTEM_INSTRUCTIONS = "SYS"
USER_INSTRUCTIONS = ("Rules\\n##\\n{examples_formatted}\\n##\\nReference Findings: {eval_reference}"
                     "\\nCandidate Findings: {eval_candidate}\\nErrors:")
EXAMPLES_FORMATTED = "EXAMPLES"
'''


def test_official_prompt_read_from_package_without_importing(tmp_path, monkeypatch):
    pkg = tmp_path / "chexprompt"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from chexprompt.evaluator import *\n")
    (pkg / "evaluator.py").write_text(FAKE_EVALUATOR)
    monkeypatch.syspath_prepend(str(tmp_path))
    prompt = official_prompt()
    assert prompt.messages("R", "C") == [
        {"role": "system", "content": "SYS"},
        {"role": "user", "content": "Rules\n##\nEXAMPLES\n##\nReference Findings: R\nCandidate Findings: C\nErrors:"}]
    metric = load_metric("chexprompt", prompt="official", model="m", base_url="http://127.0.0.1:1/v1")
    assert f"prompt_hash:{prompt.digest}" in metric.signature()
    assert prompt.digest != rrg_eval_prompt().digest


def test_official_prompt_missing_package_is_a_clear_error(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "chexprompt" else real(name, *a))
    with pytest.raises(MetricUnavailable, match="'chexprompt' package, which is not installed"):
        load_prompt("official")
    reason = load_metric("chexprompt", prompt="official", model="m",
                         base_url="http://127.0.0.1:1/v1").unavailable_reason()
    assert "chexprompt-prompt rrg-eval" in reason


# -- config, signature, availability ------------------------------------------------------------------------
def test_signature_holds_what_changes_answers_only():
    base = load_metric("chexprompt", model="llama-judge", base_url="http://127.0.0.1:8000/v1")
    sig = base.signature("abc")
    assert sig.startswith("chexprompt|backend:openai|model:llama-judge|")
    for part in ("temp:0.0", "max_tokens:128", "top_p:0.9", "seed:none", "prompt:rrg-eval", "parse_retries:2",
                 f"prompt_hash:{rrg_eval_prompt().digest}", "refs:abc"):
        assert part in sig
    # issue 11 #9: the endpoint (scheme, host, port, path) is in the signature; only that field differs
    assert "|endpoint:http://127.0.0.1:8000/v1|" in sig
    assert "OPENAI_API_KEY" not in sig and "concurrency" not in sig
    assert base.with_options(concurrency=9, timeout=3).signature("abc") == sig
    other = base.with_options(base_url="http://10.0.0.2/v1").signature("abc")
    assert other != sig and other.replace("endpoint:http://10.0.0.2:80/v1", "endpoint:http://127.0.0.1:8000/v1") == sig
    assert base.with_options(temperature=0.2).signature("abc") != sig
    assert base.with_options(seed=7).signature("abc") != sig


def test_not_configured_reason_says_how():
    reason = load_metric("chexprompt").unavailable_reason()
    assert "--set chexprompt.model=" in reason and "base_url" in reason


@pytest.mark.parametrize("field,value", [("max_tokens", 0), ("concurrency", 0), ("timeout", 0), ("top_p", 1.5),
                                         ("parse_retries", -1), ("prompt", "other")])
def test_bad_options_are_config_errors(field, value):
    with pytest.raises(ConfigError):
        load_metric("chexprompt", **{field: value})


def test_azure_without_endpoint_is_unavailable():
    reason = load_metric("chexprompt", azure_deployment="dep").unavailable_reason()
    assert "Azure needs the endpoint" in reason


def test_not_in_the_default_metric_set(monkeypatch):
    import rrg_eval

    monkeypatch.setenv("OPENAI_API_KEY", "sk-unused")
    result = rrg_eval.score(predictions=["a b"], references=["a b"], metrics=None, use_cache=False,
                            chexprompt={"model": "m", "base_url": "http://127.0.0.1:9/v1"})
    assert "chexprompt" in result.unavailable and "--metrics chexprompt" in result.unavailable["chexprompt"]
    assert not any(k.startswith("chexprompt") for k in result.scores)


def test_a_fake_backend_can_be_injected():
    """The ChatBackend protocol: metrics take any backend (rule 7), here a fake with no network at all."""
    from rrg_eval.judge.client import Decoding

    class Fake:
        kind = "fake"
        model = "fake-judge"
        calls = 0

        async def complete(self, messages, decoding: Decoding) -> str:
            Fake.calls += 1
            assert decoding.max_tokens == 64 and messages[0]["role"] == "system"
            return ("Number of clinically significant errors by type: [(A, 1), (B, 0), (C, 0), (D, 0), (E, 0), "
                    "(F, 0)]\nNumber of clinically insignificant errors by type: ((A, 0), (B, 0), (C, 0), (D, 0), "
                    "(E, 0), (F, 0))")

        async def aclose(self) -> None:
            return None

    from rrg_eval.metrics.chexprompt import Chexprompt

    metric = Chexprompt(model="m", base_url="http://127.0.0.1:1/v1", max_tokens=64,
                        backend_factory=lambda config, key: Fake())
    result = metric.compute(predictions=["x", "y"], references=["a", "b"])
    assert Fake.calls == 2 and result.scores["chexprompt_significant_A"] == 1.0
