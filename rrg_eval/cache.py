"""On-disk annotation cache: model outputs (labels, graphs, embeddings, judge answers) keyed by text.

One SQLite file per namespace under the cache folder. The namespace pins the model's identity (e.g.
``chexbert-<digest of every file that changes numbers>``) so that other weights never hit the same entries; the
key is a sha256 of the text (or of several texts). Values are bytes, serialised by the caller. Entries are
committed as they are added, so an interrupted run keeps what it computed.

Caches hold full report text's derivatives (labels, graphs with entity text, embeddings) and, for the judge,
the judge's answers: folders are created ``0700`` and files ``0600``.

What goes wrong is classified by :func:`classify` (one helper for the annotation and the judge caches):

* ``corrupt`` (SQLite says malformed / not a database, or the header check fails): the file is moved aside as
  ``<name>.corrupt-<time>`` and rebuilt empty (``rebuilt`` and ``moved_to`` say so);
* ``busy`` (locked by another process, after a bounded wait of ``LOCK_TIMEOUT_S``), ``full`` (disk full),
  ``readonly`` and other I/O errors: nothing is moved or deleted; the cache goes on without reading or writing
  (``problem`` holds a one-line message for the run's warnings) and every stored entry stays on disk;
* a cache folder that cannot be created or opened (read-only folder, a path that is a file): :class:`CacheError`,
  one line naming the path and suggesting ``--cache-dir`` or ``--no-cache``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from .errors import ConfigError

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
LOCK_TIMEOUT_S = 30.0  # how long a cache locked by another process is waited for before going on without it
DIR_MODE = 0o700
FILE_MODE = 0o600
Problem = Literal["corrupt", "busy", "full", "readonly", "cantopen", "io"]

# SQLite primary result codes (https://www.sqlite.org/rescode.html)
_CODES: dict[int, Problem] = {11: "corrupt", 26: "corrupt", 5: "busy", 6: "busy", 13: "full", 8: "readonly",
                              14: "cantopen", 10: "io"}
_TEXTS: tuple[tuple[str, Problem], ...] = (
    ("malformed", "corrupt"), ("not a database", "corrupt"), ("not an sqlite file", "corrupt"),
    ("truncated", "corrupt"), ("quick_check", "corrupt"), ("locked", "busy"), ("busy", "busy"),
    ("disk is full", "full"), ("readonly", "readonly"), ("read-only", "readonly"),
    ("unable to open", "cantopen"))


class CacheError(ConfigError):
    """The cache folder or file cannot be used at all (exit 2): the message names the path and the way out."""


class CorruptCache(sqlite3.DatabaseError):
    """Raised by the header check: the file is not a whole SQLite database."""


def classify(exc: BaseException) -> Problem:
    """What an SQLite error means for a cache: ``corrupt`` (move aside) or a condition that must not lose data."""
    if isinstance(exc, CorruptCache):
        return "corrupt"
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _CODES:
        return _CODES[code & 0xFF]
    text = str(exc).lower()
    for needle, kind in _TEXTS:
        if needle in text:
            return kind
    return "io"


def cache_error(path: Path, why: str) -> CacheError:
    """The one-line error for an unusable cache location."""
    return CacheError(f"cannot use the cache at {path}: {why}; pass --cache-dir DIR (a writable folder) or "
                      "--no-cache")


def ensure_private_dir(folder: Path) -> None:
    """Create ``folder`` (mode 0700) or raise :class:`CacheError` when it cannot be a cache folder."""
    if folder.exists() and not folder.is_dir():
        raise cache_error(folder, "it is a file, not a folder")
    if folder.is_dir():
        return
    try:
        folder.mkdir(parents=True, mode=DIR_MODE)
    except FileExistsError:
        if not folder.is_dir():
            raise cache_error(folder, "a path in it is a file, not a folder") from None
    except (NotADirectoryError, FileNotFoundError):
        raise cache_error(folder, "a path in it is a file, not a folder") from None
    except OSError as exc:
        raise cache_error(folder, exc.strerror or type(exc).__name__) from None
    with contextlib.suppress(OSError):
        folder.chmod(DIR_MODE)  # mkdir's mode is masked by the umask


def open_sqlite(path: Path, *, timeout: float | None = None) -> sqlite3.Connection:
    """Open (creating with mode 0600) the SQLite file at ``path`` inside a private folder.

    Raises :class:`CacheError` when the folder or file cannot be opened at all; other SQLite errors propagate
    for :func:`classify`.
    """
    ensure_private_dir(path.parent)
    if path.exists() and not path.is_file():
        raise cache_error(path, "it is not a regular file")
    if not path.exists():
        try:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
        except OSError as exc:
            raise cache_error(path.parent, exc.strerror or type(exc).__name__) from None
    try:
        return sqlite3.connect(str(path), timeout=LOCK_TIMEOUT_S if timeout is None else timeout)
    except sqlite3.Error as exc:
        raise cache_error(path, str(exc)) from None


def text_key(*parts: str) -> str:
    """A stable key for one text or a tuple of texts."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


class AnnotationCache:
    """A persistent ``key -> bytes`` store for one namespace; a no-op when ``cache_dir`` is None.

    Structured outcome flags for the caller's warnings: ``rebuilt`` (a corrupt file was moved aside to
    ``moved_to`` and an empty one started) and ``problem`` (the cache could not be read or written, e.g. locked
    or disk full; the run went on without it and nothing stored was lost).
    """

    def __init__(self, cache_dir: str | Path | None, namespace: str, *, timeout: float | None = None) -> None:
        self.namespace = _SAFE.sub("_", namespace)
        self.path = Path(cache_dir) / f"{self.namespace}.sqlite" if cache_dir is not None else None
        self.rebuilt = False
        self.moved_to: Path | None = None
        self.problem: str | None = None
        self._timeout = timeout
        self._conn: sqlite3.Connection | None = None

    @property
    def enabled(self) -> bool:
        return self.path is not None and self.problem is None

    def _give_up(self, exc: BaseException, doing: str) -> None:
        """Go on without the cache (locked, full, read-only): record why, keep the file as it is."""
        kind = classify(exc)
        why = {"busy": f"locked by another process (waited {self._wait():g} s)", "full": "the disk is full",
               "readonly": "it is read-only"}.get(kind, str(exc))
        self.problem = f"cache {self.path} not {doing}: {why}; went on without it (nothing stored was lost)"
        self.close()

    def _wait(self) -> float:
        return LOCK_TIMEOUT_S if self._timeout is None else self._timeout

    def _connect(self) -> sqlite3.Connection | None:
        if self.path is None or self.problem is not None:
            return None
        if self._conn is None:
            try:
                self._conn = self._open()
            except CacheError:
                raise
            except sqlite3.DatabaseError as exc:
                if classify(exc) == "corrupt":
                    self._rebuild()
                elif classify(exc) == "cantopen":
                    raise cache_error(self.path, str(exc)) from None
                else:
                    self._give_up(exc, "read")
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
            raise CorruptCache("not an SQLite file")
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        pages = int.from_bytes(header[28:32], "big")
        header_valid = header[24:28] == header[92:96]  # the in-header page count is valid only then
        if page_size == 0 or size % page_size or (header_valid and pages and size < pages * page_size):
            raise CorruptCache(f"truncated: {size} bytes, pages of {page_size}")

    def _open(self) -> sqlite3.Connection:
        assert self.path is not None
        conn = open_sqlite(self.path, timeout=self._timeout)
        try:
            conn.execute("BEGIN")
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # a shared lock: no commit in flight
            self._check_size()
            conn.rollback()
            row = conn.execute("PRAGMA quick_check").fetchone()
            if not row or row[0] != "ok":
                raise CorruptCache(f"quick_check: {row}")
            exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='entries'").fetchone()
            if not exists:
                conn.execute("CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
                conn.commit()
        except BaseException:
            conn.close()
            raise
        return conn

    def _rebuild(self) -> None:
        """Move a corrupt file aside and start an empty one."""
        assert self.path is not None
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
        if self.path.exists():
            self.moved_to = self.path.with_suffix(f".corrupt-{int(time.time())}")
            self.path.rename(self.moved_to)
        for suffix in ("-wal", "-shm", "-journal"):
            side = Path(str(self.path) + suffix)
            if side.exists():
                side.unlink()
        self.rebuilt = True
        try:
            self._conn = self._open()
        except sqlite3.DatabaseError as exc:
            self._give_up(exc, "rebuilt")

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
        except sqlite3.DatabaseError as exc:
            if classify(exc) == "corrupt":
                self._rebuild()
            else:
                self._give_up(exc, "read")
            return {}
        return found

    def put_many(self, items: Mapping[str, bytes]) -> None:
        """Store ``items`` and commit at once (a locked, full or read-only cache: recorded in ``problem``)."""
        conn = self._connect()
        if conn is None or not items:
            return
        rows = list(items.items())
        try:
            with conn:
                conn.executemany("INSERT OR REPLACE INTO entries (key, value) VALUES (?, ?)", rows)
        except sqlite3.DatabaseError as exc:
            if classify(exc) != "corrupt":
                self._give_up(exc, "written")
                return
            self._rebuild()
            if self._conn is None:
                return
            try:
                with self._conn:
                    self._conn.executemany("INSERT OR REPLACE INTO entries (key, value) VALUES (?, ?)", rows)
            except sqlite3.DatabaseError as again:
                self._give_up(again, "written")

    def __len__(self) -> int:
        conn = self._connect()
        if conn is None:
            return 0
        return int(conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
