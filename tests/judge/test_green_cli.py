"""``rrg-eval score --metrics green`` end to end against the loopback server: JSON output, per-report nulls,
dry run, warm rerun, the key in no output, the remote refusal and --allow-remote-judge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_green_server import NO_MATCHED, GreenServer, green_answer

pytest.importorskip("openai")

from rrg_eval.cli import main  # noqa: E402

KEY = "sk-cli-GR33N-SECRET-9876543210"
REFS = {"a": "Small left effusion.", "b": "Normal chest.", "c": "Mild edema."}
PREDS = {"a": "No effusion.", "b": "Normal chest.", "c": "Severe edema."}


@pytest.fixture()
def server():
    with GreenServer() as srv:
        srv.script[PREDS["a"]] = [green_answer((0, 1, 0, 0, 0, 0), (0,) * 6, 1)]
        srv.script[PREDS["c"]] = [NO_MATCHED]
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


def green_args(server, tmp_path: Path) -> list[str]:
    return ["--metrics", "green", "--set", "green.model=green-test", "--set", f"green.base_url={server.url}",
            "--set", "green.backoff=0.01", "--cache-dir", str(tmp_path / "cache")]


def test_score_json_per_report_dry_run_and_warm_rerun(server, files, tmp_path, capsys):
    args = ["score", *files, *green_args(server, tmp_path)]
    assert main([*args, "--dry-run"]) == 0
    assert "requests to send: 3" in capsys.readouterr().out and server.requests == []
    per_report = tmp_path / "per.jsonl"
    assert main([*args, "--format", "json", "--per-report", str(per_report)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(server.requests) == 4  # c re-asked once
    assert data["scores"]["green"] == pytest.approx((0.5 + 1.0) / 2)
    assert data["scores"]["green_unparsed_rate"] == pytest.approx(1 / 3)
    assert data["signatures"]["green"].startswith("green|backend:openai|model:green-test|")
    rows = {r["id"]: r for r in map(json.loads, per_report.read_text().splitlines())}
    assert rows["c"]["green"] is None and rows["c"]["green_unparsed"] == 1.0 and rows["a"]["green"] == 0.5
    assert main([*args, "--format", "json"]) == 0
    assert len(server.requests) == 4  # warm: nothing sent
    texts = [capsys.readouterr().out, per_report.read_text()]
    texts += [p.read_bytes().decode("latin-1") for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert all(KEY not in t for t in texts)


def test_remote_refused_unless_allowed(files, tmp_path, capsys):
    code = main(["score", *files, "--metrics", "green", "--set", "green.model=m", "--set",
                 "green.base_url=http://198.51.100.4:8000/v1", "--no-cache"])
    err = capsys.readouterr().err
    assert code == 1 and "refusing to send report text to 198.51.100.4" in err
    assert main(["score", *files, "--metrics", "green", "--set", "green.model=m", "--set",
                 "green.base_url=http://198.51.100.4:8000/v1", "--no-cache", "--allow-remote-judge",
                 "--dry-run"]) == 0
    assert "would be refused" not in capsys.readouterr().out
