"""CheXprompt against a real HTTP server on 127.0.0.1, driven by the real ``openai`` client.

The server (tests/support/judge_server.py) is scripted per candidate report: valid answers in both formats, answers
with explanations, garbage, empty content, 429 with Retry-After, 500, a hang past the timeout, a dropped
connection, and a fatal 401 after k requests (a crash mid-run).
"""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from judge_server import ZERO, JudgeServer, answer

pytest.importorskip("openai")

from rrg_eval.errors import MetricError, MetricUnavailable  # noqa: E402
from rrg_eval.metrics.registry import load_metric  # noqa: E402
from rrg_eval.stats import take  # noqa: E402

KEY = "sk-test-S3CRET-key-0123456789abcdef"
REFS = ["Small right pleural effusion. No pneumothorax.", "Heart size normal. Lungs clear.",
        "Mild cardiomegaly, unchanged.", "Left lower lobe consolidation."]
PREDS = ["No effusion.", "Normal heart. Clear lungs.", "Severe cardiomegaly.", "Right lower lobe consolidation."]
IDS = ["r1", "r2", "r3", "r4"]


@pytest.fixture()
def server():
    with JudgeServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("RRG_EVAL_ALLOW_REMOTE_JUDGE", raising=False)


def judge(server: JudgeServer, **overrides):
    options = {"model": "judge-test", "base_url": server.url, "timeout": 0.4, "backoff": 0.01, "max_retries": 3,
               "concurrency": 4, "parse_retries": 1}
    options.update(overrides)
    return load_metric("chexprompt", **options)


def script_valid(server: JudgeServer) -> None:
    server.script[PREDS[0]] = [answer((0, 1, 0, 0, 0, 0), (0,) * 6)]
    server.script[PREDS[1]] = [answer((0,) * 6, (1, 0, 0, 0, 0, 0), round_brackets=True)]
    server.script[PREDS[2]] = ["The candidate overstates the severity.\n" + answer((0, 0, 0, 1, 0, 0), (0,) * 6)
                               + "\nExplanation: (D) mild vs severe."]
    server.script[PREDS[3]] = [answer((0, 0, 1, 0, 0, 0), (0, 0, 0, 0, 1, 0), round_brackets=True)]


def test_valid_answers_both_formats_and_explanations(server, tmp_path):
    script_valid(server)
    result = judge(server).compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)
    s = result.scores
    assert len(server.requests) == 4
    assert s["chexprompt_significant_errors"] == pytest.approx(3 / 4)
    assert s["chexprompt_insignificant_errors"] == pytest.approx(2 / 4)
    assert s["chexprompt_error_free_rate"] == pytest.approx(1 / 4)
    assert [s[f"chexprompt_significant_{t}"] for t in "ABCDEF"] == pytest.approx([0, .25, .25, .25, 0, 0])
    assert s["chexprompt_unparsed_rate"] == 0.0
    per = result.per_report
    assert per["chexprompt_significant_B"].tolist() == [1, 0, 0, 0]
    assert per["chexprompt_insignificant_E"].tolist() == [0, 0, 0, 1]
    assert per["chexprompt_error_free"].tolist() == [0, 1, 0, 0]
    body = server.requests[0]["body"]
    assert body["temperature"] == 0.0 and body["max_tokens"] == 128 and body["top_p"] == 0.9
    assert "seed" not in body
    assert body["messages"][0]["role"] == "system"
    assert server.requests[0]["headers"]["authorization"] == f"Bearer {KEY}"
    assert result.warnings == []


def test_garbage_and_empty_answers_are_reasked_then_unparsed(server, tmp_path):
    script_valid(server)
    server.script[PREDS[0]] = ["I cannot evaluate this.", answer((2, 0, 0, 0, 0, 0), ZERO and (0,) * 6)]
    server.script[PREDS[1]] = ["garbage"]   # never parses
    server.script[PREDS[2]] = [None]        # null content, never parses
    server.script[PREDS[3]] = [""]          # empty content, never parses
    metric = judge(server, parse_retries=2)
    result = metric.compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)
    assert len(server.requests) == 2 + 3 * 3
    assert metric.last_run.reasks == 1 + 3 * 2
    s = result.scores
    assert s["chexprompt_unparsed_rate"] == pytest.approx(3 / 4)
    assert s["chexprompt_significant_errors"] == pytest.approx(2.0)  # the parsed report only, never zeros
    assert s["chexprompt_error_free_rate"] == 0.0
    assert result.per_report["chexprompt_unparsed"].tolist() == [0, 1, 1, 1]
    assert math.isnan(result.per_report["chexprompt_significant_errors"][1])
    assert len(result.warnings) == 1 and "r2, r3, r4" in result.warnings[0] and "3 of 4" in result.warnings[0]
    # the unparsed answers are cached with their attempts: a rerun sends nothing
    before = len(server.requests)
    again = judge(server, parse_retries=2).compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)
    assert len(server.requests) == before
    assert again.scores == pytest.approx(s, nan_ok=True)
    # allowing more parse retries re-asks only the unparsed ones, once each
    judge(server, parse_retries=3).compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)
    assert len(server.requests) == before + 3


def test_all_unparsed_gives_nan_means_and_full_rate(server, tmp_path):
    for p in PREDS:
        server.script[p] = ["nothing useful"]
    result = judge(server, parse_retries=0).compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=None)
    assert result.scores["chexprompt_unparsed_rate"] == 1.0
    assert math.isnan(result.scores["chexprompt_significant_errors"])
    assert len(server.requests) == 4


def test_429_retry_after_is_honoured(server, tmp_path):
    script_valid(server)
    server.script[PREDS[0]] = [("status", 429, {"Retry-After": "1"}, {"error": {"message": "slow down"}}),
                               answer((0, 1, 0, 0, 0, 0), (0,) * 6)]
    metric = judge(server, backoff=0.01)
    start = time.monotonic()
    result = metric.compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)
    assert time.monotonic() - start >= 0.95  # waited the server's Retry-After, not the 0.01 s backoff
    assert len(server.requests) == 5
    assert result.scores["chexprompt_significant_B"] == pytest.approx(0.25)
    assert sum(metric.last_run.retries.values()) == 1


def test_500_timeout_and_dropped_connection_are_retried(server, tmp_path):
    script_valid(server)
    good = [server.script[p][0] for p in PREDS]
    server.script[PREDS[0]] = [("status", 500, {}, {"error": {"message": "boom"}}),
                               ("status", 503, {"retry-after-ms": "20"}, {"error": {"message": "busy"}}), good[0]]
    server.script[PREDS[1]] = [("hang", 1.0), good[1]]
    server.script[PREDS[2]] = [("drop",), good[2]]
    metric = judge(server, timeout=0.3)
    result = metric.compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)
    assert len(server.requests) == 4 + 2 + 1 + 1
    assert result.scores["chexprompt_unparsed_rate"] == 0.0
    assert result.scores["chexprompt_significant_errors"] == pytest.approx(3 / 4)
    causes = " ".join(metric.last_run.retries)
    assert "500" in causes and "503" in causes and "timed out" in causes and "connection" in causes


def test_persistent_5xx_gives_up_with_a_clear_error(server, tmp_path):
    for p in PREDS:
        server.script[p] = [("status", 500, {}, {"error": {"message": "down"}})]
    with pytest.raises(MetricError, match="gave up after 3 tries"):
        judge(server, max_retries=2, concurrency=1).compute(predictions=PREDS, references=REFS, ids=IDS,
                                                             cache_dir=tmp_path)


def test_second_run_is_served_from_the_cache(server, tmp_path):
    script_valid(server)
    first = judge(server).compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)
    assert len(server.requests) == 4
    second = judge(server, concurrency=1, timeout=5).compute(predictions=PREDS, references=REFS, ids=IDS,
                                                             cache_dir=tmp_path)
    assert len(server.requests) == 4  # zero new requests
    assert second.scores == first.scores
    # other decoding settings are other questions
    judge(server, temperature=0.5).compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)
    assert len(server.requests) == 8


def test_duplicate_pairs_are_asked_once(server):
    result = judge(server).compute(predictions=[PREDS[0]] * 3, references=[REFS[0]] * 3, ids=["a", "b", "c"])
    assert len(server.requests) == 1
    assert result.per_report["chexprompt_unparsed"].tolist() == [0, 0, 0]


def test_crash_mid_run_then_resume(server, tmp_path):
    refs = [f"Reference report number {i}." for i in range(8)]
    preds = [f"Candidate report number {i}." for i in range(8)]
    ids = [f"id{i}" for i in range(8)]
    server.fatal_after = 3
    with pytest.raises(MetricError) as info:
        judge(server, concurrency=1).compute(predictions=preds, references=refs, ids=ids, cache_dir=tmp_path)
    message = str(info.value)
    assert "401" in message and "3 answer(s) received before it are cached" in message
    assert KEY not in message and "S3CRET" not in message
    assert len(server.requests) == 4
    server.fatal_after = None
    result = judge(server, concurrency=1).compute(predictions=preds, references=refs, ids=ids, cache_dir=tmp_path)
    assert len(server.requests) == 4 + 5  # only the 5 not answered before the crash
    assert result.scores["chexprompt_unparsed_rate"] == 0.0


def test_unknown_model_is_a_clear_error(server):
    server.known_models = {"llama-judge"}
    with pytest.raises(MetricError, match=r"does not know the model 'gpt-5-typo' \(404\)"):
        judge(server, model="gpt-5-typo").compute(predictions=PREDS, references=REFS, ids=IDS)


def test_concurrency_bound_and_rate_limit(server):
    refs = [f"ref {i}" for i in range(8)]
    preds = [f"cand {i}" for i in range(8)]
    for p in preds:
        server.script[p] = [("hang", 0.1)]  # slow but within the timeout
    judge(server, concurrency=2, timeout=2).compute(predictions=preds, references=refs)
    assert server.max_in_flight <= 2 and len(server.requests) == 8
    start = time.monotonic()
    judge(server, concurrency=8, requests_per_minute=600, model="other").compute(predictions=preds[:4],
                                                                                  references=refs[:4])
    assert time.monotonic() - start >= 0.3  # 4 starts spaced 0.1 s apart


def test_azure_paths_headers_and_api_version(server, monkeypatch, tmp_path):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_API_KEY")
    script_valid(server)
    metric = load_metric("chexprompt", base_url=f"http://127.0.0.1:{server.port}", azure_deployment="gpt4-judge",
                         api_version="2024-06-01", api_key_env="AZURE_OPENAI_API_KEY", model="gpt-4", timeout=1,
                         backoff=0.01)
    result = metric.compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)
    req = server.requests[0]
    assert req["path"] == "/openai/deployments/gpt4-judge/chat/completions"
    assert req["query"] == {"api-version": ["2024-06-01"]}
    assert req["headers"]["api-key"] == KEY
    assert result.scores["chexprompt_significant_errors"] == pytest.approx(3 / 4)
    assert "backend:azure|model:gpt4-judge/gpt-4" in result.signature


def test_privacy_refusal_sends_nothing(server, monkeypatch):
    metric = load_metric("chexprompt", model="gpt-4o")  # default endpoint: api.openai.com
    reason = metric.unavailable_reason()
    assert reason and "api.openai.com" in reason and "--allow-remote-judge" in reason
    assert "RRG_EVAL_ALLOW_REMOTE_JUDGE=1" in reason
    with pytest.raises(MetricUnavailable, match="refusing to send report text"):
        metric.compute(predictions=PREDS, references=REFS)
    public = load_metric("chexprompt", model="m", base_url="http://203.0.113.9:8000/v1")
    with pytest.raises(MetricUnavailable, match="203.0.113.9 is a public IP address"):
        public.compute(predictions=PREDS, references=REFS)
    assert server.requests == []
    # allowed explicitly by the flag or by the environment variable
    assert load_metric("chexprompt", model="gpt-4o", allow_remote=True).unavailable_reason() is None
    monkeypatch.setenv("RRG_EVAL_ALLOW_REMOTE_JUDGE", "1")
    assert load_metric("chexprompt", model="gpt-4o").unavailable_reason() is None
    # a remote host without a key is refused before sending, naming the variable, not a value
    monkeypatch.delenv("OPENAI_API_KEY")
    assert "$OPENAI_API_KEY" in load_metric("chexprompt", model="gpt-4o").unavailable_reason()


def test_local_server_needs_no_key(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    judge(server).compute(predictions=PREDS[:1], references=REFS[:1])
    assert server.requests[0]["headers"]["authorization"] == "Bearer EMPTY"


def test_stats_resample_with_take(server):
    script_valid(server)
    server.script[PREDS[1]] = ["garbage"]
    metric = judge(server, parse_retries=0)
    result = metric.compute(predictions=PREDS, references=REFS, ids=IDS)
    boot = metric.aggregate(take(result.stats, [0, 0, 1, 2]))
    assert boot["chexprompt_unparsed_rate"] == pytest.approx(0.25)
    assert boot["chexprompt_significant_errors"] == pytest.approx(1.0)  # rows 0, 0, 2: 1 + 1 + 1 over 3
    assert boot["chexprompt_significant_B"] == pytest.approx(2 / 3)
    assert np.isnan(metric.per_report(result.stats)["chexprompt_significant_A"][1])


def test_key_never_in_cache_signature_or_repr(server, tmp_path):
    script_valid(server)
    metric = judge(server)
    result = metric.compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)
    texts = [result.signature, repr(metric), repr(metric.config), str(result.warnings), str(result.scores)]
    for path in Path(tmp_path).rglob("*"):
        if path.is_file():
            texts.append(path.read_bytes().decode("latin-1"))
    for text in texts:
        assert KEY not in text and "S3CRET" not in text
    conn = sqlite3.connect(next(Path(tmp_path).glob("chexprompt*.sqlite")))
    assert conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 4
    conn.close()


def test_401_message_redacts_the_echoed_key(server):
    server.fatal_after = 0
    with pytest.raises(MetricError) as info:
        judge(server).compute(predictions=PREDS, references=REFS)
    text = str(info.value) + repr(info.value)
    assert "rejected the API key (401)" in text and "$OPENAI_API_KEY" in text
    assert KEY not in text and "S3CRET" not in text and "***" in text
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_runs_inside_a_running_event_loop(server, tmp_path):
    """From Jupyter (a loop already running) the judge runs in a worker thread; the cache still works."""
    import asyncio

    script_valid(server)

    async def notebook_cell():
        return judge(server).compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)

    result = asyncio.run(notebook_cell())
    assert result.scores["chexprompt_significant_errors"] == pytest.approx(3 / 4)
    judge(server).compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)
    assert len(server.requests) == 4
