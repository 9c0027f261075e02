"""GREEN's server back-end against the scripted OpenAI-compatible server on 127.0.0.1 (tests/judge_server.py),
driven by the real ``openai`` client: request shape, scores, unparsed answers re-asked then counted, resuming
after a crash, a warm rerun that sends nothing, and the privacy guard."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from judge_server import JudgeServer

pytest.importorskip("openai")

from rrg_eval.errors import MetricError, MetricUnavailable  # noqa: E402
from rrg_eval.judge.green_protocol import green_prompt  # noqa: E402
from rrg_eval.metrics.registry import load_metric  # noqa: E402

KEY = "sk-test-S3CRET-key-0123456789abcdef"
REFS = ["Small right pleural effusion. No pneumothorax.", "Heart size normal. Lungs clear.",
        "Mild cardiomegaly, unchanged.", "Left lower lobe consolidation."]
PREDS = ["No effusion.", "Normal heart. Clear lungs.", "Severe cardiomegaly.", "Right lower lobe consolidation."]
IDS = ["r1", "r2", "r3", "r4"]
NAMES = ("False report of a finding in the candidate", "Missing a finding present in the reference",
         "Misidentification of a finding's anatomic location/position",
         "Misassessment of the severity of a finding", "Mentioning a comparison that isn't in the reference",
         "Omitting a comparison detailing a change from a prior study")


def green_answer(sig, insig, matched) -> str:
    """A well-formed GREEN answer in the fine-tuned model's format."""
    def block(counts):
        return "\n".join(f"({t}) {n}: {c}." + (" x" * c) for t, n, c in zip("abcdef", NAMES, counts))
    return (f"[Explanation]:\nSome explanation.\n\n[Clinically Significant Errors]:\n{block(sig)}\n\n"
            f"[Clinically Insignificant Errors]:\n{block(insig)}\n\n[Matched Findings]:\n{matched}. a; b")


NO_MATCHED = "[Explanation]:\nx\n\n[Clinically Significant Errors]:\n(a) False: 1. y"


class GreenServer(JudgeServer):
    def default(self, candidate: str):
        return green_answer((0,) * 6, (0,) * 6, 1)


@pytest.fixture()
def server():
    with GreenServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("RRG_EVAL_ALLOW_REMOTE_JUDGE", raising=False)


def green(server: JudgeServer, **overrides):
    options = {"model": "green-test", "base_url": server.url, "timeout": 2.0, "backoff": 0.01, "max_retries": 2,
               "concurrency": 3}
    options.update(overrides)
    return load_metric("green", **options)


def script(server: JudgeServer) -> None:
    server.script[PREDS[0]] = [green_answer((1, 1, 0, 0, 0, 0), (0,) * 6, 2)]            # 2/4
    server.script[PREDS[1]] = [green_answer((0,) * 6, (0, 1, 0, 0, 0, 0), 3)]             # 1
    server.script[PREDS[2]] = [green_answer((0, 0, 0, 1, 0, 0), (0,) * 6, 0)]             # m = 0 -> 0
    server.script[PREDS[3]] = [NO_MATCHED, NO_MATCHED, green_answer((0, 0, 1, 0, 0, 0), (0,) * 6, 1)]


def test_scores_request_shape_and_reask(server, tmp_path):
    script(server)
    result = green(server, parse_retries=2).compute(predictions=PREDS, references=REFS, ids=IDS,
                                                    cache_dir=tmp_path)
    s = result.scores
    per_values = [0.5, 1.0, 0.0, 0.5]
    assert s["green"] == pytest.approx(np.mean(per_values))
    assert s["green_std"] == pytest.approx(np.std(per_values))
    assert s["green_significant_a"] == pytest.approx(0.25) and s["green_significant_d"] == pytest.approx(0.25)
    assert s["green_insignificant_b"] == pytest.approx(0.25)
    assert s["green_matched_findings"] == pytest.approx(6 / 4)
    assert s["green_unparsed_rate"] == 0.0
    assert result.per_report["green"].tolist() == pytest.approx(per_values)
    assert len(server.requests) == 6  # two re-asks for the last pair
    bodies = [r["body"] for r in server.requests]
    assert all(b["temperature"] == 0.0 and b["model"] == "green-test" for b in bodies)
    prompts = {b["messages"][0]["content"] for b in bodies}
    assert prompts == {green_prompt(r, p) for r, p in zip(REFS, PREDS)}
    assert all(len(b["messages"]) == 1 and b["messages"][0]["role"] == "user" for b in bodies)
    assert server.requests[0]["path"] == "/v1/chat/completions"
    assert server.max_in_flight <= 3


def test_unparsed_counted_excluded_and_null(server, tmp_path):
    server.script[PREDS[3]] = [NO_MATCHED]
    result = green(server, parse_retries=1).compute(predictions=PREDS, references=REFS, ids=IDS,
                                                    cache_dir=tmp_path)
    assert len(server.requests) == 5  # asked once more, then counted
    assert result.scores["green_unparsed_rate"] == 0.25
    assert result.scores["green"] == 1.0  # the three parsed answers: m = 1, no errors
    assert math.isnan(result.per_report["green"][3])
    assert any("r4" in w and "green_unparsed_rate" in w for w in result.warnings)
    # the reference's behaviour: the same answer scored as zero errors, hence GREEN 0
    zero = green(server, parse_retries=1, unparsed="zero").compute(predictions=PREDS, references=REFS, ids=IDS,
                                                                   cache_dir=tmp_path)
    assert zero.scores["green"] == pytest.approx(0.75) and zero.scores["green_unparsed_rate"] == 0.25
    assert zero.per_report["green"][3] == 0.0 and zero.per_report["green_significant_a"][3] == 1.0


def test_warm_rerun_sends_nothing_and_key_never_stored(server, tmp_path):
    script(server)
    first = green(server, parse_retries=2).compute(predictions=PREDS, references=REFS, ids=IDS,
                                                   cache_dir=tmp_path)
    sent = len(server.requests)
    again = green(server, parse_retries=2).compute(predictions=PREDS, references=REFS, ids=IDS,
                                                   cache_dir=tmp_path)
    assert len(server.requests) == sent
    assert again.scores == first.scores
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes()
    assert KEY not in json.dumps(first.scores) + "".join(first.warnings) + first.signature


def test_resumes_after_a_crash(server, tmp_path):
    server.fatal_after = 2
    with pytest.raises(MetricError) as info:
        green(server, concurrency=1).compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)
    assert KEY not in str(info.value)
    server.fatal_after = None
    before = len(server.requests)
    result = green(server, concurrency=1).compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)
    assert len(server.requests) - before == 2  # only the two answers the crash lost
    assert result.scores["green"] == 1.0


def test_no_cache_asks_again(server):
    green(server).compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=None)
    green(server).compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=None)
    assert len(server.requests) == 8


def test_duplicates_and_long_reports_asked_once(server, tmp_path):
    long_ref = " ".join(["effusion"] * 350)
    preds = ["same", "same", "x " * 301, "x " * 302]  # the two long ones share their first 300 words
    refs = [long_ref, long_ref, "r", "r"]
    green(server).compute(predictions=preds, references=refs, ids=list("abcd"), cache_dir=tmp_path)
    assert len(server.requests) == 2


def test_remote_host_refused_without_consent(tmp_path):
    metric = load_metric("green", model="m", base_url="https://api.openai.com/v1")
    assert "refusing" in (metric.unavailable_reason() or "")
    with pytest.raises(MetricUnavailable):
        metric.compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)


def test_signature_and_dry_run(server, tmp_path):
    metric = green(server)
    sig = metric.signature()
    assert sig.startswith("green|backend:openai|model:green-test|") and "unparsed:null" in sig
    assert KEY not in sig
    plan = metric.plan_requests(predictions=PREDS, references=REFS, cache_dir=tmp_path)
    assert plan.requests == 4 and len(server.requests) == 0
    local = load_metric("green", model="some/model")
    assert local.signature().startswith("green|backend:transformers|model:some/model|")


CHILD = r"""
import sys
from rrg_eval.metrics.registry import load_metric
url, cache, refs, preds = sys.argv[1], sys.argv[2], sys.argv[3].split("|"), sys.argv[4].split("|")
metric = load_metric("green", model="green-test", base_url=url, concurrency=1, timeout=60.0)
metric.compute(predictions=preds, references=refs, ids=[str(i) for i in range(len(refs))], cache_dir=cache)
"""


def test_resumes_after_the_process_is_killed(server, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    server.script[PREDS[2]] = [("hang", 5.0)]  # the third request never gets its answer before the kill
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    child = subprocess.Popen([sys.executable, "-c", CHILD, server.url, str(tmp_path), "|".join(REFS),
                              "|".join(PREDS)], env=env)
    deadline = time.monotonic() + 60
    while len(server.requests) < 3 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)  # the two answers received are committed as they arrive
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert len(server.requests) == 3
    server.script[PREDS[2]] = [green_answer((0,) * 6, (0,) * 6, 1)]
    result = green(server, concurrency=1).compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)
    assert len(server.requests) == 3 + 2  # only the two unanswered pairs
    assert result.scores["green"] == 1.0 and result.scores["green_unparsed_rate"] == 0.0


def test_long_answers_score_the_same_from_the_cache(server, tmp_path):
    """The cache may keep only an excerpt of a long answer: the counts read from it are kept whole."""
    long = "[Explanation]:\n" + "word " * 2000 + "\n\n" + green_answer((1, 0, 0, 0, 0, 0), (0,) * 6, 3).split(
        "\n\n", 1)[1]
    server.script[PREDS[0]] = [long]
    first = green(server).compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)
    again = green(server).compute(predictions=PREDS, references=REFS, ids=IDS, cache_dir=tmp_path)
    assert len(server.requests) == 4
    assert first.per_report["green"][0] == 0.75 and again.scores == first.scores


def test_credentials_in_the_url_are_refused():
    metric = load_metric("green", model="m", base_url="http://user:pass@127.0.0.1:8000/v1")
    reason = metric.unavailable_reason() or ""
    assert reason and "pass" not in reason.replace("password", "")
