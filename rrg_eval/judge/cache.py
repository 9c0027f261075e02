"""Judge answers on disk: one SQLite namespace under the cache folder, written as each answer arrives.

An entry's key hashes the backend kind, the model (or Azure deployment), the prompt digest, the decoding
settings, the reference and the candidate; the value is ``{"answer": text, "attempts": n, "accepted": bool}``
as JSON. Nothing else is stored (never the API key, the base URL or the report ids). A rejected (unparsed)
answer is stored with its attempt count, so a rerun re-asks only when more parse retries are allowed than were
already spent. Built on :class:`rrg_eval.cache.AnnotationCache`; a connection per thread, because answers can
be written from the worker thread that runs the event loop. Opening, file modes (0700 / 0600) and what an
SQLite error means (corrupt: moved aside; locked, full, read-only: go on without the cache, nothing lost;
unusable folder: :class:`rrg_eval.cache.CacheError`) are the annotation cache's, shared.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..cache import AnnotationCache, text_key


@dataclass(frozen=True)
class CachedAnswer:
    """An answer read back from the cache."""

    text: str
    attempts: int
    accepted: bool


def answer_key(*, backend: str, model: str, prompt_digest: str, decoding: str, reference: str,
               candidate: str) -> str:
    """The cache key of one judge question."""
    return text_key("judge-v1", backend, model, prompt_digest, decoding, reference, candidate)


class AnswerCache:
    """Persistent judge answers for one namespace; a no-op when ``cache_dir`` is None (``--no-cache``)."""

    def __init__(self, cache_dir: str | Path | None, namespace: str) -> None:
        self.cache_dir = cache_dir
        self.namespace = namespace
        self._local = threading.local()
        self._opened: list[AnnotationCache] = []
        self._lock = threading.Lock()

    def _store(self) -> AnnotationCache:
        store = getattr(self._local, "store", None)
        if store is None:
            store = AnnotationCache(self.cache_dir, self.namespace)
            self._local.store = store
            with self._lock:
                self._opened.append(store)
        return store

    @property
    def enabled(self) -> bool:
        return self.cache_dir is not None

    @property
    def problem(self) -> str | None:
        """Why this thread's cache was not read or written (locked, disk full, read-only), if it was not."""
        store = getattr(self._local, "store", None)
        return store.problem if store is not None else None

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedAnswer]:
        """The cached answers of those ``keys`` that are present (unreadable entries are skipped)."""
        out: dict[str, CachedAnswer] = {}
        for key, raw in self._store().get_many(keys).items():
            try:
                data = json.loads(raw.decode("utf-8"))
                out[key] = CachedAnswer(text=str(data["answer"]), attempts=int(data["attempts"]),
                                        accepted=bool(data["accepted"]))
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                continue
        return out

    def put(self, key: str, text: str, attempts: int, accepted: bool) -> None:
        """Store one answer and commit at once."""
        value = json.dumps({"answer": text, "attempts": attempts, "accepted": accepted}, ensure_ascii=False)
        self._store().put_many({key: value.encode("utf-8")})

    def close(self) -> None:
        """Close every connection this cache opened. SQLite connections may be closed from their own thread
        only, so the ones opened elsewhere are left to be released with their thread."""
        with self._lock:
            opened, self._opened = self._opened, []
        mine = getattr(self._local, "store", None)
        for store in opened:
            if store is mine:
                store.close()
        self._local.store = None


class CacheWriter:
    """Writes answers from a thread of its own, so the event loop never waits on a disk commit.

    ``put`` queues an answer; the writer commits whatever is queued at once (answers arriving while a commit
    runs are committed together in the next one). ``close`` waits until everything queued is on disk. A no-op
    when ``cache_dir`` is None.
    """

    _STOP = object()

    def __init__(self, cache_dir: str | Path | None, namespace: str) -> None:
        import queue

        self.enabled = cache_dir is not None
        self.error: BaseException | None = None
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        if self.enabled:
            self._cache = AnswerCache(cache_dir, namespace)
            self._thread = threading.Thread(target=self._work, name="rrg-eval-judge-cache", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        import queue

        store = self._cache._store()
        stop = False
        while not stop:
            items = [self._queue.get()]
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            batch = {}
            for item in items:
                if item is self._STOP:
                    stop = True
                else:
                    batch[item[0]] = item[1]
            if batch and self.error is None:
                try:
                    store.put_many(batch)
                    if store.problem is not None:
                        self.error = OSError(store.problem)
                except Exception as exc:  # reported by close(); the run itself goes on
                    self.error = exc
        self._cache.close()

    def put(self, key: str, text: str, attempts: int, accepted: bool) -> None:
        if not self.enabled:
            return
        value = json.dumps({"answer": text, "attempts": attempts, "accepted": accepted}, ensure_ascii=False)
        self._queue.put((key, value.encode("utf-8")))

    def close(self) -> None:
        """Wait until every queued answer is committed."""
        if self._thread is not None:
            self._queue.put(self._STOP)
            self._thread.join()
            self._thread = None
