"""Identities of model files: sha256 digests, remembered per (path, size, mtime) so that reruns skip the hashing.

Annotation caches are keyed by the identity of the model that produced them (a digest of its weights and
configuration), so other weights never hit the same entries. Hashing a 250 MB checkpoint takes about a second;
the digest is therefore remembered in memory and, when a cache folder is given, in the ``file-sha256``
namespace of the annotation cache, keyed by the file's absolute path, size and modification time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from .cache import AnnotationCache, text_key

_MEMO: dict[str, str] = {}


def _stat_key(path: Path) -> str:
    st = path.stat()
    return text_key(str(path.resolve()), str(st.st_size), str(st.st_mtime_ns))


def file_sha256(path: str | Path, cache_dir: str | Path | None = None) -> str:
    """The sha256 hex digest of the file at ``path`` (remembered while the file is unchanged)."""
    p = Path(path)
    key = _stat_key(p)
    if key in _MEMO:
        return _MEMO[key]
    store = AnnotationCache(cache_dir, "file-sha256")
    try:
        hit = store.get_many([key]).get(key)
        if hit is not None and len(hit) == 64:
            digest = hit.decode("ascii", "replace")
        else:
            h = hashlib.sha256()
            with p.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    h.update(block)
            digest = h.hexdigest()
            store.put_many({key: digest.encode("ascii")})
    finally:
        store.close()
    _MEMO[key] = digest
    return digest


def files_digest(paths: Iterable[Path], cache_dir: str | Path | None = None) -> str:
    """One digest over several files (their names and contents), e.g. a model folder's config and weights."""
    h = hashlib.sha256()
    for p in sorted(paths, key=lambda q: q.name):
        h.update(p.name.encode("utf-8") + b"\x00" + file_sha256(p, cache_dir).encode("ascii") + b"\x01")
    return h.hexdigest()
