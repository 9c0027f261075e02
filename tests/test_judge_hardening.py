"""Issue 11, judge items: each test failed before its fix. A loopback server (tests/judge_server.py) stands in
for the judge; redirect targets and names are never reached (conftest refuses non-loopback connections, and
the connection recorder below proves no attempt was made)."""

from __future__ import annotations

import socket
import sqlite3
import time
from pathlib import Path

import pytest
from judge_server import JudgeServer, answer

pytest.importorskip("openai")

from rrg_eval.errors import ConfigError, MetricError, MetricUnavailable  # noqa: E402
from rrg_eval.judge import privacy  # noqa: E402
from rrg_eval.metrics.registry import load_metric  # noqa: E402

KEY = "sk-test-H4RDEN-key-0123456789abcdef"
REFS = ["Small right pleural effusion.", "Heart size normal."]
PREDS = ["No effusion.", "Normal heart."]
IDS = ["r1", "r2"]
GOOD = answer((0, 1, 0, 0, 0, 0), (0,) * 6)


@pytest.fixture()
def server():
    with JudgeServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("RRG_EVAL_ALLOW_REMOTE_JUDGE", raising=False)


@pytest.fixture()
def connections(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every address a socket tried to connect to (on top of conftest's loopback-only guard)."""
    seen: list = []
    guarded = socket.socket.connect

    def record(self: socket.socket, address: object) -> None:
        seen.append(address)
        return guarded(self, address)

    monkeypatch.setattr(socket.socket, "connect", record)
    return seen


def judge(url: str, **overrides):
    options = {"model": "judge-test", "base_url": url, "timeout": 2, "backoff": 0.01, "max_retries": 2,
               "parse_retries": 0}
    options.update(overrides)
    return load_metric("chexprompt", **options)


def cache_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def cache_rows(folder: Path) -> int:
    conn = sqlite3.connect(next(folder.glob("chexprompt*.sqlite")))
    try:
        return conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
    finally:
        conn.close()


# -- 1. redirects ------------------------------------------------------------------------------------------
def test_a_redirect_is_an_error_naming_its_target_and_the_text_is_not_resent(server, tmp_path, connections):
    server.script[PREDS[0]] = [("redirect", 307, "http://203.0.113.7:8000/v1/chat/completions?token=abc")]
    with pytest.raises(MetricError) as info:
        judge(server.url, concurrency=1).compute(predictions=PREDS[:1], references=REFS[:1], cache_dir=tmp_path)
    message = str(info.value)
    assert "HTTP 307" in message and "redirect to http://203.0.113.7:8000/v1/chat/completions" in message
    assert "token=abc" not in message and "never follow redirects" in message
    assert len(server.requests) == 1  # not retried: retrying cannot help
    hosts = {a[0] for a in connections if isinstance(a, tuple)}
    assert hosts == {"127.0.0.1"}  # the report text never went towards 203.0.113.7


# -- 2. zone ids ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["http://127.0.0.1%.evil.example:8000/v1", "http://10.1.2.3%25.evil.example/v1",
                                 "http://192.168.1.1%x.attacker.example/v1"])
def test_a_zone_id_on_an_ipv4_address_is_not_private(url):
    refusal = privacy.privacy_refusal(url, allow_remote=False, environ={}, resolver=lambda h: ["127.0.0.1"])
    assert refusal is not None and "zone id" in refusal
    assert privacy.is_private_address(privacy.host_of(url)) is False


def test_a_zone_id_on_an_ipv6_literal_is_accepted():
    assert privacy.privacy_refusal("http://[::1%25lo]:8000/v1", allow_remote=False, environ={}) is None
    assert privacy.is_private_address("fd00::5%eth0") and not privacy.is_private_address("fe80::1%eth0")


# -- 3. names that DNS decides -------------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["foo.localhost", "localhost.", "vllm.localhost"])
def test_localhost_lookalikes_are_resolved_and_checked(host):
    private, why = privacy.classify_host(host, resolver=lambda h: ["93.184.216.34"])
    assert private is False and "93.184.216.34" in why
    assert privacy.classify_host(host, resolver=lambda h: ["127.0.0.1"])[0] is True
    assert privacy.classify_host("localhost", resolver=lambda h: ["10.9.9.9"])[0] is False


def test_requests_connect_to_the_checked_address_not_a_new_lookup(server, tmp_path, monkeypatch, connections):
    """The name resolves (here, by a stub) to 127.0.0.1 at check time; the HTTP stack must connect there, not
    ask DNS again (a real lookup of this name fails, so before the fix the request never arrived)."""
    asked: list[str] = []
    monkeypatch.setattr(privacy, "_resolve", lambda host: asked.append(host) or ["127.0.0.1"])
    url = f"http://judge-box.invalid:{server.port}/v1"
    result = judge(url).compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)
    assert result.scores["chexprompt_unparsed_rate"] == 0.0 and len(server.requests) == 2
    assert server.requests[0]["headers"]["host"] == f"judge-box.invalid:{server.port}"
    assert "judge-box.invalid" in asked
    assert {a[0] for a in connections if isinstance(a, tuple)} == {"127.0.0.1"}


def test_a_name_that_resolves_elsewhere_at_request_time_is_refused_before_sending(server, monkeypatch):
    answers = iter([["127.0.0.1"], ["203.0.113.9"]])  # the check, then a rebinding by the time of the run
    monkeypatch.setattr(privacy, "_resolve", lambda host: next(answers, ["203.0.113.9"]))
    with pytest.raises(MetricUnavailable, match="203.0.113.9"):
        judge(f"http://judge-box.invalid:{server.port}/v1").compute(predictions=PREDS, references=REFS)
    assert server.requests == []


# -- 4. credentials --------------------------------------------------------------------------------------------
def test_credentials_in_base_url_are_refused_without_echoing_them(server):
    server.fatal_after = 0
    url = f"http://judge:pa55w0rd-xyz@127.0.0.1:{server.port}/v1"
    with pytest.raises(ConfigError) as info:
        judge(url)
    assert "pa55w0rd" not in str(info.value) and "credentials" in str(info.value)
    import rrg_eval

    with pytest.raises(ConfigError) as info:
        rrg_eval.score(predictions=PREDS, references=REFS, metrics=["chexprompt"], use_cache=False,
                       chexprompt={"model": "m", "base_url": url})
    assert "pa55w0rd" not in str(info.value) + repr(info.value)
    assert server.requests == []


def test_a_key_echoed_in_an_answer_is_redacted_before_caching(server, tmp_path):
    server.script[PREDS[0]] = [f"Your key is {KEY}.\n{GOOD}"]
    result = judge(server.url).compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)
    assert result.scores["chexprompt_unparsed_rate"] == 0.0
    assert result.scores["chexprompt_significant_B"] == pytest.approx(0.5)
    data = cache_bytes(tmp_path)
    assert b"H4RDEN" not in data and KEY.encode() not in data and b"Your key is ***" in data


# -- 8. transport failures are not answers ------------------------------------------------------------------
def test_html_and_malformed_bodies_are_retried_not_cached(server, tmp_path):
    server.script[PREDS[0]] = [("raw", 200, "text/html", b"<html><body>Gateway login</body></html>"), GOOD]
    server.script[PREDS[1]] = [("raw", 200, "application/json", b'{"choices": [ broken'), GOOD]
    metric = judge(server.url)
    result = metric.compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)
    assert result.scores["chexprompt_unparsed_rate"] == 0.0 and len(server.requests) == 4
    causes = " ".join(metric.last_run.retries)
    assert "not a chat completion" in causes and "not valid JSON" in causes


def test_a_server_that_only_sends_html_caches_nothing(server, tmp_path):
    for p in PREDS:
        server.script[p] = [("raw", 200, "text/html; charset=utf-8", b"<html>proxy error</html>")]
    with pytest.raises(MetricError, match="not a chat completion"):
        judge(server.url, max_retries=1, concurrency=1).compute(predictions=PREDS, references=REFS,
                                                                 cache_dir=tmp_path)
    assert not list(tmp_path.glob("chexprompt*.sqlite")) or cache_rows(tmp_path) == 0
    server.script.clear()  # healthy again: the rerun asks every question
    before = len(server.requests)
    result = judge(server.url).compute(predictions=PREDS, references=REFS, cache_dir=tmp_path)
    assert len(server.requests) == before + 2 and result.scores["chexprompt_unparsed_rate"] == 0.0


def test_a_json_object_that_is_not_a_completion_is_not_an_answer(server, tmp_path):
    server.script[PREDS[0]] = [("raw", 200, "application/json", b'{"detail": "queue full"}'), GOOD]
    judge(server.url).compute(predictions=PREDS[:1], references=REFS[:1], cache_dir=tmp_path)
    assert len(server.requests) == 2


# -- 9. the endpoint is part of the key and the signature --------------------------------------------------
def test_two_servers_with_the_same_model_name_do_not_share_answers(tmp_path):
    with JudgeServer() as one, JudgeServer() as two:
        one.script[PREDS[0]] = [answer((1, 0, 0, 0, 0, 0), (0,) * 6)]
        two.script[PREDS[0]] = [answer((3, 0, 0, 0, 0, 0), (0,) * 6)]
        first = judge(one.url, model="local").compute(predictions=PREDS[:1], references=REFS[:1], cache_dir=tmp_path)
        second = judge(two.url, model="local").compute(predictions=PREDS[:1], references=REFS[:1],
                                                       cache_dir=tmp_path)
        assert len(one.requests) == 1 and len(two.requests) == 1
        assert first.scores["chexprompt_significant_A"] == 1 and second.scores["chexprompt_significant_A"] == 3
        assert f"|endpoint:http://127.0.0.1:{one.port}/v1|" in first.signature
        assert first.signature.replace(str(one.port), str(two.port)) == second.signature


def test_the_endpoint_is_normalised_and_never_holds_the_key():
    assert privacy.endpoint_of("HTTP://LocalHost:8000/v1/") == "http://localhost:8000/v1"
    assert privacy.endpoint_of("https://api.openai.com/v1") == "https://api.openai.com:443/v1"
    assert privacy.endpoint_of("http://[::1]/v1?k=1") == "http://[::1]:80/v1"
    sig = load_metric("chexprompt", model="m", base_url="http://127.0.0.1:9/v1").signature()
    assert KEY not in sig and "endpoint:http://127.0.0.1:9/v1" in sig


# -- 10. impossible counts ---------------------------------------------------------------------------------
def test_impossible_counts_are_unparsed_before_caching(server, tmp_path):
    huge = "9" * 401
    server.script[PREDS[0]] = [GOOD.replace("(A, 0)", f"(A, {huge})", 1)]
    server.script[PREDS[1]] = [GOOD.replace("(A, 0)", f"(A, {'7' * 5000})", 1)]
    result = judge(server.url).compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)
    assert result.scores["chexprompt_unparsed_rate"] == 1.0
    again = judge(server.url).compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)
    assert again.scores["chexprompt_unparsed_rate"] == 1.0 and len(server.requests) == 2  # from the cache
    # the way out after a bad judge run: clear that metric's cached answers, and the rerun asks again
    from rrg_eval.cache_admin import clear

    assert [c.entries for c in clear(tmp_path, "chexprompt")] == [2]
    server.script.clear()
    fresh = judge(server.url).compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)
    assert fresh.scores["chexprompt_unparsed_rate"] == 0.0 and len(server.requests) == 4


# -- 12. size ------------------------------------------------------------------------------------------------
def test_a_huge_answer_stores_counts_and_a_bounded_excerpt(server, tmp_path):
    server.script[PREDS[0]] = ["x" * 3_000_000 + "\n" + GOOD]
    result = judge(server.url, timeout=10).compute(predictions=PREDS[:1], references=REFS[:1], cache_dir=tmp_path)
    assert result.scores["chexprompt_significant_B"] == 1.0
    assert len(cache_bytes(tmp_path)) < 100_000
    again = judge(server.url).compute(predictions=PREDS[:1], references=REFS[:1], cache_dir=tmp_path)
    assert len(server.requests) == 1 and again.scores == result.scores  # counts served from the cache


# -- 15. per-request deadline ------------------------------------------------------------------------------
def test_a_trickling_server_cannot_hold_a_request_past_its_deadline(server, tmp_path):
    server.script[PREDS[0]] = [("trickle", 40)]  # ~400 bytes at 40 bytes/s: 10 s; each read well within 2 s
    metric = judge(server.url, timeout=2, request_deadline=0.6, max_retries=1)
    start = time.monotonic()
    with pytest.raises(MetricError, match="deadline of 0.6 s"):
        metric.compute(predictions=PREDS[:1], references=REFS[:1], cache_dir=tmp_path)
    assert time.monotonic() - start < 4
    assert len(server.requests) == 2


def test_the_pinned_transport_keeps_the_name_for_tls_and_refuses_other_hosts():
    """https to a private name: connect to the checked addresses (the next one when one refuses), with the
    name as Host header and TLS server name (so the certificate is checked against the name)."""
    import asyncio

    import openai

    from rrg_eval.judge.client import HostGuardError, _httpx_module, pinned_transport

    httpx = _httpx_module(openai)
    route = privacy.Route("judge.lan", True, "", ("10.0.0.5", "10.0.0.6"))
    transport = pinned_transport(httpx, "https://judge.lan:8443/v1", route)
    seen = []

    class Inner:
        async def handle_async_request(self, request):
            seen.append((request.url.host, request.headers["host"], request.extensions.get("sni_hostname")))
            if len(seen) == 1:
                raise httpx.ConnectError("refused")
            return httpx.Response(200, json={})

        async def aclose(self):
            return None

    transport._inner = Inner()
    response = asyncio.run(transport.handle_async_request(
        httpx.Request("POST", "https://judge.lan:8443/v1/chat/completions", content=b"{}")))
    assert response.status_code == 200
    assert seen == [("10.0.0.5", "judge.lan:8443", "judge.lan"), ("10.0.0.6", "judge.lan:8443", "judge.lan")]
    for other in ("https://evil.example/v1/chat/completions", "http://judge.lan:8443/v1/chat/completions",
                  "https://judge.lan:9999/v1/chat/completions"):
        with pytest.raises(HostGuardError):
            asyncio.run(transport.handle_async_request(httpx.Request("POST", other, content=b"{}")))
    assert len(seen) == 2
