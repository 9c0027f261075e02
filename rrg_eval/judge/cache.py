"""Judge answers on disk: one SQLite namespace under the cache folder, written as each answer arrives.

An entry's key hashes the backend kind, the endpoint (scheme, host, port and path of the server; never the
key), the model (or Azure deployment), the prompt digest, the decoding settings, the reference and the
candidate. The value is JSON::

    {"parsed": <what the metric's parser made of the answer, or null>, "excerpt": <the first
     MAX_EXCERPT_CHARS characters of the answer>, "chars": <its full length>, "attempts": n, "accepted": bool}

so one answer costs at most a few kB however long the server's answer was. Only answers that came back as a
chat completion are stored (transport failures are retried, never cached), with the API key already redacted
from them by the client. Nothing else is stored (never the API key or the report ids). A rejected (unparsed)
answer is stored with its attempt count, so a rerun re-asks only when more parse retries are allowed than were
already spent. Built on :class:`rrg_eval.cache.AnnotationCache`; a connection per thread, because answers can
be written from the worker thread that runs the event loop.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cache import AnnotationCache, text_key

MAX_EXCERPT_CHARS = 4000  # characters of each answer kept in the cache (the parsed result is kept whole)
KEY_VERSION = "judge-v2"  # v2: the endpoint is part of the key; values hold the parsed result and an excerpt


@dataclass(frozen=True)
class CachedAnswer:
    """An answer read back from the cache: ``text`` is its (possibly cut) excerpt, ``chars`` its full length."""

    text: str
    attempts: int
    accepted: bool
    parsed: Any = None
    chars: int = 0


def answer_key(*, backend: str, model: str, prompt_digest: str, decoding: str, reference: str,
               candidate: str, endpoint: str = "") -> str:
    """The cache key of one judge question (``endpoint``: :func:`rrg_eval.judge.privacy.endpoint_of`)."""
    return text_key(KEY_VERSION, backend, endpoint, model, prompt_digest, decoding, reference, candidate)


def encode_answer(text: str, attempts: int, accepted: bool, parsed: Any = None,
                  max_chars: int = MAX_EXCERPT_CHARS) -> bytes:
    """The stored form of one answer: the parsed result, a bounded excerpt, the full length, the attempts."""
    value = {"parsed": parsed, "excerpt": text[:max_chars], "chars": len(text), "attempts": int(attempts),
             "accepted": bool(accepted)}
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def decode_answer(raw: bytes) -> CachedAnswer | None:
    """An entry read back, or None when it is unreadable (then the question is asked again)."""
    try:
        data = json.loads(raw.decode("utf-8"))
        return CachedAnswer(text=str(data["excerpt"]), attempts=int(data["attempts"]),
                            accepted=bool(data["accepted"]), parsed=data.get("parsed"),
                            chars=int(data.get("chars", 0)))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError):
        return None


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

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedAnswer]:
        """The cached answers of those ``keys`` that are present (unreadable entries are skipped)."""
        out: dict[str, CachedAnswer] = {}
        for key, raw in self._store().get_many(keys).items():
            answer = decode_answer(raw)
            if answer is not None:
                out[key] = answer
        return out

    def put(self, key: str, text: str, attempts: int, accepted: bool, parsed: Any = None) -> None:
        """Store one answer and commit at once."""
        self._store().put_many({key: encode_answer(text, attempts, accepted, parsed)})

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
                except Exception as exc:  # reported by close(); the run itself goes on
                    self.error = exc
        self._cache.close()

    def put(self, key: str, text: str, attempts: int, accepted: bool, parsed: Any = None) -> None:
        if not self.enabled:
            return
        self._queue.put((key, encode_answer(text, attempts, accepted, parsed)))

    def close(self) -> None:
        """Wait until every queued answer is committed."""
        if self._thread is not None:
            self._queue.put(self._STOP)
            self._thread.join()
            self._thread = None
