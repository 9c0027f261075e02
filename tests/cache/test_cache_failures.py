"""Issue 11 #5, #6, #11: private cache files; locked / full / read-only is not corrupt; unusable folders.

Each test fails on the cache of before the fix (which renamed any DatabaseError's file ``.corrupt-<time>``,
created 0755/0644 files and let ``FileExistsError`` / ``OperationalError`` through).
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from rrg_eval import cache as cache_module
from rrg_eval.cache import AnnotationCache, CacheError, classify, text_key
from rrg_eval.errors import ConfigError
from rrg_eval.judge.cache import AnswerCache, CacheWriter


def _filled(folder: Path, n: int = 200) -> dict[str, bytes]:
    cache = AnnotationCache(folder, "ns")
    items = {text_key(f"report {i}"): f"value {i}".encode() * 20 for i in range(n)}
    cache.put_many(items)
    cache.close()
    return items


def test_cache_folder_0700_and_files_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        folder = tmp_path / "a" / "cache"
        cache = AnnotationCache(folder, "ns")
        cache.put_many({"k": b"v"})
        cache.close()
        judge = CacheWriter(folder, "judge-ns")
        judge.put("k", "answer", 1, True)
        judge.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("ns.sqlite", "judge-ns.sqlite"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name


def test_locked_cache_is_waited_for_then_skipped_never_moved(tmp_path: Path) -> None:
    items = _filled(tmp_path)
    holder = sqlite3.connect(str(tmp_path / "ns.sqlite"))
    holder.execute("BEGIN EXCLUSIVE")
    try:
        cache = AnnotationCache(tmp_path, "ns", timeout=0.2)
        assert cache.get_many(items) == {}
        cache.put_many({"new": b"x"})
        assert cache.rebuilt is False and cache.problem and "locked" in cache.problem
        assert str(tmp_path / "ns.sqlite") in cache.problem
    finally:
        holder.rollback()
        holder.close()
    assert not list(tmp_path.glob("ns.corrupt-*"))
    again = AnnotationCache(tmp_path, "ns")
    assert again.get_many(items) == items  # every stored entry is still there
    again.close()


def test_disk_full_keeps_the_stored_entries(tmp_path: Path) -> None:
    items = _filled(tmp_path)
    cache = AnnotationCache(tmp_path, "ns")
    assert len(cache) == len(items)
    pages = cache._conn.execute("PRAGMA page_count").fetchone()[0]  # type: ignore[union-attr]
    cache._conn.execute(f"PRAGMA max_page_count = {pages}")  # type: ignore[union-attr]  # SQLITE_FULL
    cache.put_many({f"big{i}": os.urandom(50_000) for i in range(5)})
    assert cache.rebuilt is False and cache.problem and "disk is full" in cache.problem
    cache.close()
    assert not list(tmp_path.glob("ns.corrupt-*"))
    again = AnnotationCache(tmp_path, "ns")
    assert again.get_many(items) == items
    again.close()


def test_read_only_database_is_not_corrupt(tmp_path: Path) -> None:
    items = _filled(tmp_path)
    cache = AnnotationCache(tmp_path, "ns")
    assert cache.get_many(list(items)[:1])
    cache._conn.close()  # type: ignore[union-attr]
    cache._conn = sqlite3.connect(f"file:{tmp_path / 'ns.sqlite'}?mode=ro", uri=True)  # as a read-only file does
    cache.put_many({"new": b"x"})
    assert cache.rebuilt is False and cache.problem and "read-only" in cache.problem
    assert not list(tmp_path.glob("ns.corrupt-*"))
    again = AnnotationCache(tmp_path, "ns")
    assert again.get_many(items) == items
    again.close()


def test_classify() -> None:
    assert classify(sqlite3.DatabaseError("database disk image is malformed")) == "corrupt"
    assert classify(sqlite3.DatabaseError("file is not a database")) == "corrupt"
    assert classify(sqlite3.OperationalError("database is locked")) == "busy"
    assert classify(sqlite3.OperationalError("database or disk is full")) == "full"
    assert classify(sqlite3.OperationalError("attempt to write a readonly database")) == "readonly"


def test_cache_dir_that_is_a_file_is_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    for folder in (blocker, blocker / "sub"):
        with pytest.raises(CacheError) as info:
            AnnotationCache(folder, "ns").get_many(["k"])
        message = str(info.value)
        assert "\n" not in message and str(blocker) in message
        assert "--cache-dir" in message and "--no-cache" in message
        assert isinstance(info.value, ConfigError)  # exit 2
    with pytest.raises(CacheError):
        AnswerCache(blocker, "judge").get_many(["k"])


def test_read_only_cache_folder_is_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    real_open = os.open

    def refuse(path, flags, *args, **kwargs):  # what a read-only folder does for a user other than root
        if str(path).startswith(str(folder)) and flags & os.O_CREAT:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(cache_module.os, "open", refuse)
    with pytest.raises(CacheError) as info:
        AnnotationCache(folder, "ns").put_many({"k": b"v"})
    message = str(info.value)
    assert "\n" not in message and str(folder) in message and "Permission denied" in message
    assert "--no-cache" in message


def test_corrupt_is_still_moved_aside_with_a_flag(tmp_path: Path) -> None:
    (tmp_path / "ns.sqlite").write_bytes(b"garbage" * 2000)
    cache = AnnotationCache(tmp_path, "ns")
    assert cache.get_many(["k"]) == {}
    assert cache.rebuilt and cache.moved_to is not None and cache.moved_to.exists() and cache.problem is None
    cache.close()


def test_judge_writer_reports_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(self, items):
        self.problem = f"cache {self.path} not written: the disk is full"
    monkeypatch.setattr(AnnotationCache, "put_many", full)
    writer = CacheWriter(tmp_path, "judge")
    writer.put("k", "answer", 1, True)
    writer.close()
    assert writer.error is not None and "disk is full" in str(writer.error)


def test_locked_judge_cache_is_a_problem_not_a_rebuild(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = CacheWriter(tmp_path, "judge")
    writer.put("k", "answer", 1, True)
    writer.close()
    monkeypatch.setattr(cache_module, "LOCK_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(str(tmp_path / "judge.sqlite"))
    holder.execute("BEGIN EXCLUSIVE")
    try:
        lookup = AnswerCache(tmp_path, "judge")
        assert lookup.get_many(["k"]) == {}
        assert lookup.problem and "locked" in lookup.problem
        lookup.close()
    finally:
        holder.rollback()
        holder.close()
    assert not list(tmp_path.glob("judge.corrupt-*"))
    again = AnswerCache(tmp_path, "judge")
    assert again.get_many(["k"])["k"].text == "answer"
    again.close()
