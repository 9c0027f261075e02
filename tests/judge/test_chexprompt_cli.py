"""``rrg-eval score --metrics chexprompt`` end to end against the loopback server: dry run, shortcuts, privacy
refusal, and a scan of every output for the API key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from judge_server import JudgeServer, answer

pytest.importorskip("openai")

from rrg_eval.cli import main  # noqa: E402

KEY = "sk-cli-T0PSECRET-9876543210fedcba"
REFS = {"a": "Small left effusion.", "b": "Normal chest.", "c": "Mild edema.", "d": "Right upper lobe nodule."}
PREDS = {"a": "No effusion.", "b": "Normal chest.", "c": "Severe edema.", "d": "Right upper lobe nodule."}


@pytest.fixture()
def server():
    with JudgeServer() as srv:
        srv.script[PREDS["a"]] = [answer((0, 1, 0, 0, 0, 0), (0,) * 6)]
        srv.script[PREDS["c"]] = ["garbage"]
        yield srv


@pytest.fixture()
def files(tmp_path: Path) -> tuple[str, str]:
    preds = tmp_path / "preds.jsonl"
    refs = tmp_path / "refs.jsonl"
    preds.write_text("".join(json.dumps({"id": k, "report": v}) + "\n" for k, v in PREDS.items()))
    refs.write_text("".join(json.dumps({"id": k, "report": v}) + "\n" for k, v in REFS.items()))
    return str(preds), str(refs)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("RRG_EVAL_ALLOW_REMOTE_JUDGE", raising=False)


def judge_args(server: JudgeServer, tmp_path: Path) -> list[str]:
    return ["--metrics", "chexprompt", "--set", "chexprompt.model=judge-test", "--set",
            f"chexprompt.base_url={server.url}", "--set", "chexprompt.timeout=0.5", "--set", "chexprompt.backoff=0.01",
            "--set", "chexprompt.parse_retries=1", "--cache-dir", str(tmp_path / "cache")]


def test_dry_run_sends_nothing_then_run_then_dry_run_sees_the_cache(server, files, tmp_path, capsys):
    args = ["score", *files, *judge_args(server, tmp_path)]
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert server.requests == []
    assert "requests to send: 4 (up to 8 if every answer needs its parse retries)" in out
    assert "answered by the cache: 0" in out and "not estimated" in out
    assert main([*args, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(server.requests) == 4 + 1  # 'garbage' was re-asked once
    assert data["scores"]["chexprompt_unparsed_rate"] == pytest.approx(0.25)
    assert data["scores"]["chexprompt_significant_errors"] == pytest.approx(1 / 3)
    assert any("ids: c" in w for w in data["warnings"])
    assert main([*args, "--dry-run"]) == 0
    assert "requests to send: 0" in capsys.readouterr().out
    assert len(server.requests) == 5


def test_dry_run_for_a_remote_openai_model_estimates_cost_and_notes_the_refusal(files, tmp_path, capsys):
    assert main(["score", *files, "--metrics", "chexprompt", "--set", "chexprompt.model=gpt-4o", "--no-cache",
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "at api.openai.com" in out and "estimated cost: $" in out
    assert "a real run would be refused: refusing to send report text to api.openai.com" in out


def test_remote_judge_is_refused_before_anything_is_sent(server, files, tmp_path, capsys):
    code = main(["score", *files, "--metrics", "chexprompt", "--set", "chexprompt.model=judge-test",
                 "--set", "chexprompt.base_url=http://198.51.100.4:8000/v1", "--no-cache"])
    err = capsys.readouterr().err
    assert code == 1 and "refusing to send report text to 198.51.100.4" in err and "--allow-remote-judge" in err


def test_shortcut_flags_reach_the_config(server, files, tmp_path, capsys):
    code = main(["score", *files, *judge_args(server, tmp_path), "--chexprompt-prompt", "rrg-eval",
                 "--allow-remote-judge", "--format", "json"])
    assert code == 0
    sig = json.loads(capsys.readouterr().out)["signatures"]["chexprompt"]
    assert "prompt:rrg-eval" in sig


def test_the_key_never_appears_in_any_output(server, files, tmp_path, capsys, caplog):
    out_json = tmp_path / "result.json"
    per_report = tmp_path / "per_report.jsonl"
    caplog.set_level("DEBUG")
    assert main(["score", *files, *judge_args(server, tmp_path), "--out", str(out_json), "--per-report",
                 str(per_report)]) == 0
    server.fatal_after = 0  # a failing run too: the server echoes the key in its 401 message
    assert main(["score", *files, *judge_args(server, tmp_path), "--set", "chexprompt.temperature=0.3"]) == 1
    captured = capsys.readouterr()
    assert "rejected the API key (401)" in captured.err
    texts = [captured.out, captured.err, caplog.text, out_json.read_text(), per_report.read_text()]
    for path in (tmp_path / "cache").rglob("*"):
        if path.is_file():
            texts.append(path.read_bytes().decode("latin-1"))
    assert server.requests[0]["headers"]["authorization"] == f"Bearer {KEY}"  # the key was really used
    for text in texts:
        assert KEY not in text and "T0PSECRET" not in text
    rows = [json.loads(line) for line in per_report.read_text().splitlines()]
    assert rows[2]["chexprompt_unparsed"] == 1.0 and rows[2]["chexprompt_significant_errors"] is None
    assert {f"chexprompt_insignificant_{t}" for t in "ABCDEF"} <= set(rows[0])


def test_dry_run_of_the_default_set_sends_nothing(files, capsys):
    assert main(["score", *files, "--dry-run"]) == 0
    assert "default metric set sends nothing" in capsys.readouterr().out
