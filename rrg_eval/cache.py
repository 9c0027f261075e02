"""On-disk annotation cache: model outputs (labels, graphs, embeddings, judge answers) keyed by text.

One SQLite file per namespace under the cache folder. The namespace pins the model's identity (e.g.
``chexbert-<sha256 of weights>``) so that other weights never hit the same entries; the key is a sha256 of the
text (or of several texts). Values are bytes, serialised by the caller. Entries are committed as they are
added, so an interrupted run keeps what it computed. A corrupt or truncated file is detected, moved aside and
rebuilt, never crashing the run.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def text_key(*parts: str) -> str:
    """A stable key for one text or a tuple of texts."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


class AnnotationCache:
    """A persistent ``key -> bytes`` store for one namespace; a no-op when ``cache_dir`` is None."""

    def __init__(self, cache_dir: str | Path | None, namespace: str) -> None:
        self.namespace = _SAFE.sub("_", namespace)
        self.path = Path(cache_dir) / f"{self.namespace}.sqlite" if cache_dir is not None else None
        self.rebuilt = False
        self._conn: sqlite3.Connection | None = None

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def _connect(self) -> sqlite3.Connection | None:
        if self.path is None:
            return None
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._conn = self._open()
            except sqlite3.DatabaseError:
                self._rebuild()
        return self._conn

    def _check_size(self) -> None:
        """A file shorter than its header says, or not a whole number of pages, was truncated.

        SQLite reads missing bytes of a short last page as zeros and ``quick_check`` can pass, so a value cut
        short would be returned as if it were whole; the header is checked here instead.
        """
        assert self.path is not None
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size == 0:
            return
        with open(self.path, "rb") as handle:
            header = handle.read(100)
        if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
            raise sqlite3.DatabaseError("not an SQLite file")
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        pages = int.from_bytes(header[28:32], "big")
        header_valid = header[24:28] == header[92:96]  # the in-header page count is valid only then
        if size % page_size or (header_valid and pages and size < pages * page_size):
            raise sqlite3.DatabaseError(f"truncated: {size} bytes, pages of {page_size}")

    def _open(self) -> sqlite3.Connection:
        assert self.path is not None
        conn = sqlite3.connect(str(self.path), timeout=30)
        conn.execute("CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
        conn.commit()
        try:
            conn.execute("BEGIN")
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # a shared lock: no commit in flight
            self._check_size()
        except sqlite3.DatabaseError:
            conn.close()
            raise
        conn.rollback()
        row = conn.execute("PRAGMA quick_check").fetchone()
        if not row or row[0] != "ok":
            conn.close()
            raise sqlite3.DatabaseError(f"quick_check: {row}")
        return conn

    def _rebuild(self) -> None:
        """Move a corrupt file aside and start an empty one."""
        assert self.path is not None
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None
        if self.path.exists():
            self.path.rename(self.path.with_suffix(f".corrupt-{int(time.time())}"))
        for suffix in ("-wal", "-shm", "-journal"):
            side = Path(str(self.path) + suffix)
            if side.exists():
                side.unlink()
        self.rebuilt = True
        self._conn = self._open()

    def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        """The cached values of those ``keys`` that are present."""
        conn = self._connect()
        wanted = list(dict.fromkeys(keys))
        if conn is None or not wanted:
            return {}
        found: dict[str, bytes] = {}
        try:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for key, value in conn.execute(f"SELECT key, value FROM entries WHERE key IN ({marks})", chunk):
                    found[key] = bytes(value)
        except sqlite3.DatabaseError:
            self._rebuild()
            return {}
        return found

    def put_many(self, items: Mapping[str, bytes]) -> None:
        """Store ``items`` and commit at once."""
        conn = self._connect()
        if conn is None or not items:
            return
        rows = list(items.items())
        try:
            with conn:
                conn.executemany("INSERT OR REPLACE INTO entries (key, value) VALUES (?, ?)", rows)
        except sqlite3.DatabaseError:
            self._rebuild()
            with self._conn:  # type: ignore[union-attr]
                self._conn.executemany("INSERT OR REPLACE INTO entries (key, value) VALUES (?, ?)", rows)  # type: ignore[union-attr]

    def __len__(self) -> int:
        conn = self._connect()
        if conn is None:
            return 0
        return int(conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
