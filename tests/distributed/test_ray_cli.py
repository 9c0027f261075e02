"""``rrg-eval score --engine ray`` in its own process: it starts a local cluster under ``$RAY_TMPDIR``, prints the
numbers of a local run, writes ``--per-report`` with ``--no-cache``, and stops the cluster (no process is left)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the command starts and stops a Ray cluster (15-40 s here)


def _leftovers(marker: str) -> list:
    """Processes whose command line names ``marker`` (the test's own RAY_TMPDIR): Ray processes it left."""
    import psutil

    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            if any(marker in part for part in (p.info["cmdline"] or [])):
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_score_engine_ray_equals_local_and_stops_its_cluster(iu_val: list[dict], tmp_path: Path,
                                                             ray_tmpdir: str) -> None:
    refs, preds = tmp_path / "refs.jsonl", tmp_path / "preds.jsonl"
    rows = iu_val[:40]
    refs.write_text("".join(json.dumps({"id": f"s{i}", "report": r["report"]}) + "\n" for i, r in enumerate(rows)))
    preds.write_text("".join(json.dumps({"id": f"s{i}", "report": rows[(i * 7 + 3) % 40]["report"]}) + "\n"
                             for i in range(40)))
    env = {**os.environ, "RAY_TMPDIR": ray_tmpdir, "RRG_EVAL_CACHE_DIR": str(tmp_path / "cache")}
    common = [sys.executable, "-m", "rrg_eval", "score", str(preds), str(refs), "--metrics", "bleu,rouge",
              "--format", "json", "--no-cache"]
    local = subprocess.run([*common, "--per-report", str(tmp_path / "local.jsonl")], capture_output=True,
                           text=True, env=env, timeout=120)
    assert local.returncode == 0, local.stderr
    try:
        ray = subprocess.run([*common, "--per-report", str(tmp_path / "ray.jsonl"), "--engine", "ray",
                              "--workers", "2"], capture_output=True, text=True, env=env, timeout=240)
        assert ray.returncode == 0, ray.stderr
        assert json.loads(ray.stdout)["scores"] == json.loads(local.stdout)["scores"]
        assert (tmp_path / "ray.jsonl").read_text() == (tmp_path / "local.jsonl").read_text()
        assert not (tmp_path / "cache").exists()  # --no-cache: nothing read or written
        assert any(Path(ray_tmpdir, "ray").glob("session_*")), "the cluster did not use RAY_TMPDIR"
    finally:
        left = _leftovers(ray_tmpdir)
        if left:
            import psutil

            for p in left:
                try:
                    p.kill()
                except psutil.NoSuchProcess:
                    pass
        assert not left, f"the command left Ray processes: {[p.pid for p in left]}"
