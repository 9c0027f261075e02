"""What the on-disk caches hold, and clearing one metric's cached entries.

Backs ``rrg-eval cache info`` and ``rrg-eval cache clear --metric NAME``. The cache folder (``--cache-dir``,
default ``$RRG_EVAL_CACHE_DIR``, ``$XDG_CACHE_HOME/rrg-eval`` or ``~/.cache/rrg-eval``) holds one SQLite file
per namespace (:mod:`rrg_eval.cache`). A namespace belongs to the metric that writes it (:data:`KINDS`; a
plug-in metric's namespaces are recognised when they start with ``<metric name>-``); ``file-sha256`` is shared
by every model-based metric. Files moved aside as corrupt (``<namespace>.corrupt-<time>``) are listed too.

Clearing deletes the metric's entries inside SQLite (so a run holding the file open is never left writing
into a deleted file) and shrinks the file; a file SQLite cannot read is removed instead. Nothing here prints:
the CLI renders :func:`render_info` and :func:`render_cleared`.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import ConfigError, RrgEvalError

# namespace prefix -> (owning metric or None for shared, what its entries hold)
KINDS: tuple[tuple[str, str | None, str], ...] = (
    ("chexprompt-answers", "chexprompt",
     "LLM-judge answers: parsed error counts and an excerpt of each answer (at most 4,000 characters), keyed "
     "by a hash of server, model, prompt, settings and the report pair"),
    ("green-answers", "green",
     "GREEN judge answers: the counts read from each answer and an excerpt of it, keyed by a hash of back-end, "
     "server or local model, settings and the report pair (each cut to 300 words)"),
    ("crimson-answers", "crimson",
     "CRIMSON judge answers: the score and counts computed from each answer and an excerpt of it, keyed by a hash "
     "of server, model, prompt, settings and the report pair"),
    ("chexbert-", "f1chexbert", "CheXbert labels of report texts, keyed by a hash of the text"),
    ("radgraph-", "radgraph", "RadGraph entities and relations (with the report's words), keyed by a hash of the text"),
    ("bertscore-", "bertscore", "BERT embeddings of report texts, keyed by a hash of the text"),
    ("file-sha256", None, "sha256 digests of model files, keyed by path, size and modification time"),
)
_SIDECARS = ("-wal", "-shm", "-journal")


class CacheInUse(RrgEvalError):
    """The cache file is locked by another process (a run in progress)."""

    exit_code = 1


@dataclass(frozen=True)
class CacheFile:
    """One namespace file of the cache folder."""

    namespace: str
    metric: str | None  # the metric that writes it; None: shared
    holds: str
    entries: int | None  # None when the file cannot be read (see ``problem``)
    size_bytes: int  # the file and its -wal/-shm/-journal companions
    path: Path
    problem: str | None = None

    def to_dict(self) -> dict:
        out = asdict(self)
        out["path"] = str(self.path)
        return out


def _registered() -> list[str]:
    from .metrics.registry import names

    return names()


def owner_of(namespace: str, metrics: list[str] | None = None) -> tuple[str | None, str]:
    """(metric, what it holds) for a namespace; an unknown namespace has owner None."""
    for prefix, metric, holds in KINDS:
        if namespace == prefix or (prefix.endswith("-") and namespace.startswith(prefix)):
            return metric, holds
    known = metrics if metrics is not None else _registered()
    head = namespace.split("-", 1)[0]
    if head in known:
        return head, f"annotations cached by {head}"
    return None, "unknown namespace (not written by a registered metric)"


def _size(path: Path) -> int:
    total = 0
    for candidate in (path, *(Path(str(path) + s) for s in _SIDECARS)):
        try:
            total += candidate.stat().st_size
        except OSError:
            pass
    return total


def _count(path: Path) -> tuple[int | None, str | None]:
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=2)
    except sqlite3.Error as exc:
        return None, f"cannot open: {exc}"
    try:
        return int(conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0]), None
    except sqlite3.Error as exc:
        return None, f"cannot read: {exc}"
    finally:
        conn.close()


def cache_files(cache_dir: str | Path) -> list[CacheFile]:
    """Every namespace file in ``cache_dir`` (none when the folder does not exist), by name."""
    folder = Path(cache_dir)
    if not folder.is_dir():
        return []
    metrics = _registered()
    out = []
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        if path.suffix == ".sqlite":
            namespace = path.stem
            metric, holds = owner_of(namespace, metrics)
            entries, problem = _count(path)
        elif ".corrupt-" in path.name:
            namespace = path.name.split(".corrupt-")[0]
            metric, holds = owner_of(namespace, metrics)
            entries, problem = None, "moved aside as corrupt; safe to delete"
        else:
            continue
        out.append(CacheFile(namespace=namespace, metric=metric, holds=holds, entries=entries,
                             size_bytes=_size(path), path=path, problem=problem))
    return out


def _remove(path: Path) -> None:
    for candidate in (path, *(Path(str(path) + s) for s in _SIDECARS)):
        try:
            candidate.unlink()
        except FileNotFoundError:
            pass


def _empty(item: CacheFile) -> None:
    """Delete every entry of one namespace file, or the file when SQLite cannot read it."""
    if item.entries is None:
        _remove(item.path)
        return
    try:
        conn = sqlite3.connect(str(item.path), timeout=5)
    except sqlite3.Error:
        _remove(item.path)
        return
    try:
        with conn:
            conn.execute("DELETE FROM entries")
        conn.execute("VACUUM")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise CacheInUse(f"{item.path}: the cache is in use by another rrg-eval run; clear it when that run "
                             "has finished") from None
        raise RrgEvalError(f"{item.path}: could not clear the cache: {exc}") from None
    except sqlite3.DatabaseError:
        conn.close()
        _remove(item.path)
        return
    finally:
        conn.close()


def clear(cache_dir: str | Path, metric: str) -> list[CacheFile]:
    """Delete every cached entry of ``metric`` in ``cache_dir``; returns the files cleared (as they were)."""
    if metric not in _registered():
        raise ConfigError(f"unknown metric {metric!r}; valid metrics: {', '.join(_registered())}")
    cleared = [item for item in cache_files(cache_dir) if item.metric == metric]
    for item in cleared:
        _empty(item)
    return cleared


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover


def _entries(n: int) -> str:
    return f"{n} entry" if n == 1 else f"{n} entries"


def render_info(cache_dir: str | Path, files: list[CacheFile], fmt: str = "table") -> str:
    """The ``rrg-eval cache info`` output."""
    if fmt == "json":
        return json.dumps({"cache_dir": str(cache_dir), "files": [f.to_dict() for f in files],
                           "size_bytes": sum(f.size_bytes for f in files)}, indent=2) + "\n"
    if not files:
        return f"no caches in {cache_dir}\n"
    lines = [f"cache folder: {cache_dir}"]
    for f in files:
        entries = _entries(f.entries) if f.entries is not None else "entries unknown"
        lines.append(f"{f.namespace}  [{f.metric or 'shared'}]  {entries}, {_human(f.size_bytes)}")
        lines.append(f"    holds: {f.holds}")
        lines.append(f"    path: {f.path}")
        if f.problem:
            lines.append(f"    note: {f.problem}")
    lines.append(f"total: {_human(sum(f.size_bytes for f in files))} in {len(files)} file(s)")
    return "\n".join(lines) + "\n"


def render_cleared(cache_dir: str | Path, metric: str, cleared: list[CacheFile]) -> str:
    """The ``rrg-eval cache clear`` output."""
    if not cleared:
        return f"nothing cached for {metric} in {cache_dir}\n"
    lines = []
    for f in cleared:
        what = _entries(f.entries) if f.entries is not None else "an unreadable file"
        lines.append(f"cleared {f.namespace}: {what}, {_human(f.size_bytes)} ({f.path})")
    lines.append(f"{metric}: {_entries(sum(f.entries or 0 for f in cleared))} removed")
    return "\n".join(lines) + "\n"
