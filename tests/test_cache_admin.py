"""``rrg-eval cache info`` / ``cache clear`` (issue 11 #10): what each cache holds, and clearing one metric's
cached answers (e.g. after a judge answered impossible counts) without touching the other caches."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from rrg_eval import cache_admin
from rrg_eval.cache import AnnotationCache
from rrg_eval.cli import main
from rrg_eval.errors import ConfigError


def fill(folder: Path, namespace: str, n: int) -> None:
    store = AnnotationCache(folder, namespace)
    store.put_many({f"k{i}": b"v" * 100 for i in range(n)})
    store.close()


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    fill(tmp_path, "chexprompt-answers", 3)
    fill(tmp_path, "chexbert-0123456789abcdef", 5)
    fill(tmp_path, "file-sha256", 1)
    (tmp_path / "radgraph-x.corrupt-1700000000").write_bytes(b"junk")
    (tmp_path / "notes.txt").write_text("not a cache")
    return tmp_path


def test_info_lists_each_cache_with_owner_entries_size_and_path(folder):
    files = {f.namespace: f for f in cache_admin.cache_files(folder)}
    assert set(files) == {"chexprompt-answers", "chexbert-0123456789abcdef", "file-sha256", "radgraph-x"}
    judge = files["chexprompt-answers"]
    assert (judge.metric, judge.entries) == ("chexprompt", 3) and judge.size_bytes > 0
    assert judge.path == folder / "chexprompt-answers.sqlite" and "judge answers" in judge.holds
    assert files["chexbert-0123456789abcdef"].metric == "f1chexbert"
    assert files["file-sha256"].metric is None
    assert files["radgraph-x"].entries is None and "corrupt" in files["radgraph-x"].problem
    assert cache_admin.cache_files(folder / "missing") == []


def test_clear_one_metric_keeps_the_others(folder):
    cleared = cache_admin.clear(folder, "chexprompt")
    assert [c.namespace for c in cleared] == ["chexprompt-answers"] and cleared[0].entries == 3
    files = {f.namespace: f for f in cache_admin.cache_files(folder)}
    assert files["chexprompt-answers"].entries == 0 and files["chexbert-0123456789abcdef"].entries == 5
    assert cache_admin.clear(folder, "bleu") == []
    with pytest.raises(ConfigError, match="unknown metric 'nope'"):
        cache_admin.clear(folder, "nope")


def test_clear_removes_an_unreadable_file(tmp_path):
    (tmp_path / "chexprompt-answers.sqlite").write_bytes(b"this is not sqlite at all" * 10)
    cleared = cache_admin.clear(tmp_path, "chexprompt")
    assert len(cleared) == 1 and not (tmp_path / "chexprompt-answers.sqlite").exists()


def test_clear_waits_then_fails_on_a_locked_cache(tmp_path, monkeypatch):
    fill(tmp_path, "chexprompt-answers", 2)
    holder = sqlite3.connect(tmp_path / "chexprompt-answers.sqlite")
    holder.execute("BEGIN EXCLUSIVE")
    real_connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: real_connect(*a, **{**k, "timeout": 0.1}))
    try:
        with pytest.raises(cache_admin.CacheInUse, match="in use by another rrg-eval run"):
            cache_admin._empty(cache_admin.CacheFile("chexprompt-answers", "chexprompt", "", 2, 0,
                                                     tmp_path / "chexprompt-answers.sqlite"))
    finally:
        holder.rollback()
        holder.close()
    assert cache_admin.cache_files(tmp_path)[0].entries == 2  # nothing lost


def test_cli_info_and_clear(folder, capsys):
    assert main(["cache", "info", "--cache-dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"cache folder: {folder}" in out and "chexprompt-answers  [chexprompt]  3 entries" in out
    assert "file-sha256  [shared]  1 entry" in out and f"path: {folder / 'chexprompt-answers.sqlite'}" in out
    assert main(["cache", "info", "--cache-dir", str(folder), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {f["namespace"]: f["entries"] for f in data["files"]}["chexbert-0123456789abcdef"] == 5
    assert main(["cache", "clear", "--metric", "chexprompt", "--cache-dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "cleared chexprompt-answers: 3 entries" in out and "chexprompt: 3 entries removed" in out
    assert main(["cache", "clear", "--metric", "chexprompt", "--cache-dir", str(folder)]) == 0
    assert "chexprompt: 0 entries removed" in capsys.readouterr().out
    assert main(["cache", "clear", "--metric", "nope", "--cache-dir", str(folder)]) == 2
    assert main(["cache", "info", "--cache-dir", str(folder / "none")]) == 0
    assert "no caches in" in capsys.readouterr().out


def test_cli_uses_the_default_cache_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RRG_EVAL_CACHE_DIR", str(tmp_path))
    fill(tmp_path, "chexprompt-answers", 1)
    assert main(["cache", "info"]) == 0
    assert "chexprompt-answers  [chexprompt]  1 entry" in capsys.readouterr().out
