"""What ``rrg-eval models`` does: list, download, verify and synthesise the model files metrics need.

Pure functions returning data (and pure renderers returning strings); ``rrg_eval.cli`` prints. The files a
metric needs come from its ``required_weights()``; they are looked up the way the metrics look them up
(``$RRG_EVAL_MODEL_DIR/<org>--<name>/``, then the Hugging Face hub cache) without downloading anything, except
in :func:`download`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import MetricError, MetricUnavailable
from .metrics.registry import metric_class, names
from .progress import DOWNLOAD, ProgressEvent, emit
from .weights import MODEL_DIR_ENV, WeightRequest, hub_offline, model_dir, repo_folder_name


@dataclass(frozen=True)
class WeightStatus:
    """One needed file (or repository), who needs it, and where it was found."""

    metrics: tuple[str, ...]
    request: WeightRequest
    path: Path | None
    where: str
    size: int | None = None
    sha256: str | None = None

    @property
    def found(self) -> bool:
        return self.path is not None

    def to_dict(self) -> dict[str, Any]:
        return {"metrics": list(self.metrics), "repo_id": self.request.repo_id, "filename": self.request.filename,
                "what": self.request.what, "found": self.found, "where": self.where,
                "path": str(self.path) if self.path else None, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class VerifyResult:
    """The check of one needed file: present, loadable, and its digest."""

    status: WeightStatus
    ok: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.status.to_dict(), "ok": self.ok, "message": self.message, "synthetic": self.synthetic}

    @property
    def synthetic(self) -> bool:
        """Random weights written by ``rrg-eval models synth`` (numbers computed with them are meaningless)."""
        return self.status.path is not None and is_synthetic(self.status.path)


def requirements(metrics: Iterable[str] | None = None) -> list[tuple[tuple[str, ...], WeightRequest]]:
    """Every distinct file the selected metrics (default: all registered) need, with the metrics needing it."""
    needed: dict[tuple[str, str | None], tuple[list[str], WeightRequest]] = {}
    for name in (list(metrics) if metrics is not None else names()):
        metric = metric_class(name)()
        try:
            requests = metric.required_weights()
        finally:
            metric.close()
        for req in requests:
            entry = needed.setdefault((req.repo_id, req.filename), ([], req))
            if name not in entry[0]:
                entry[0].append(name)
    return [(tuple(users), req) for users, req in needed.values()]


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def locate(request: WeightRequest) -> tuple[Path | None, str]:
    """(local path, where) of ``request`` without downloading: $RRG_EVAL_MODEL_DIR, then the hub cache."""
    root = model_dir()
    if root is not None:
        folder = root / repo_folder_name(request.repo_id)
        path = folder if request.filename is None else folder / request.filename
        if (request.filename is None and path.is_dir()) or path.is_file():
            return path, f"${MODEL_DIR_ENV}"
    try:
        import huggingface_hub
    except ImportError:
        return None, "missing"
    try:
        if request.filename is None:
            found = huggingface_hub.snapshot_download(request.repo_id, local_files_only=True)
        else:
            found = huggingface_hub.try_to_load_from_cache(request.repo_id, request.filename)
    except Exception:  # not cached (the hub library raises several types)
        return None, "missing"
    if isinstance(found, str) and Path(found).exists():
        return Path(found), "hub cache"
    return None, "missing"


def list_weights(metrics: Iterable[str] | None = None, *, hash_files: bool = True,
                 cache_dir: str | Path | None = None) -> list[WeightStatus]:
    """What each metric needs, where it was found, its size and (optionally) sha256."""
    from .fingerprint import file_sha256

    out = []
    for users, req in requirements(metrics):
        path, where = locate(req)
        size = digest = None
        if path is not None:
            if path.is_dir():
                size = _dir_size(path)
            else:
                size = path.stat().st_size
                digest = file_sha256(path, cache_dir) if hash_files else None
        out.append(WeightStatus(users, req, path, where, size, digest))
    return out


def download(to: str | os.PathLike | None = None, metrics: Iterable[str] | None = None, *,
             progress: Callable[[ProgressEvent], None] | None = None) -> list[WeightStatus]:
    """Fetch every needed file from the hub, into ``to`` laid out as $RRG_EVAL_MODEL_DIR (or the hub cache).

    ``progress`` gets a ``download`` event before each file (``done`` files of ``total``, ``metric`` the
    metrics needing it, ``detail`` the file) and one when all are fetched.
    """
    if hub_offline():
        raise MetricUnavailable("HF_HUB_OFFLINE is set: `rrg-eval models download` needs network access to the "
                                "Hugging Face hub; run it on a connected machine and copy the folder given to --to")
    try:
        import huggingface_hub
    except ImportError:
        raise MetricUnavailable("downloading needs huggingface_hub: pip install 'rrg-eval[models]'") from None
    from .fingerprint import file_sha256

    out = []
    needed = requirements(metrics)
    for i, (users, req) in enumerate(needed):
        emit(progress, DOWNLOAD, ",".join(users), done=i, total=len(needed), detail=req.describe())
        local_dir = Path(to) / repo_folder_name(req.repo_id) if to is not None else None
        try:
            if req.filename is None:
                path = huggingface_hub.snapshot_download(req.repo_id, local_dir=local_dir)
            else:
                path = huggingface_hub.hf_hub_download(req.repo_id, req.filename, local_dir=local_dir)
        except Exception as exc:  # network, 404, auth: many types
            raise MetricError(f"cannot download {req.describe()} (needed by {', '.join(users)}): "
                              f"{type(exc).__name__}: {exc}") from None
        p = Path(path)
        where = str(to) if to is not None else "hub cache"
        if p.is_dir():
            out.append(WeightStatus(users, req, p, where, _dir_size(p)))
        else:
            out.append(WeightStatus(users, req, p, where, p.stat().st_size, file_sha256(p)))
    emit(progress, DOWNLOAD, None, done=len(needed), total=len(needed))
    return out


def check_loadable(path: Path) -> str:
    """Open ``path`` the way the metrics do (safetensors, ``torch.load(weights_only=True)``, JSON, tar, text).

    Returns a short description; raises on a file that cannot be read.
    """
    name = path.name
    if path.is_dir():
        return f"folder with {sum(1 for p in path.rglob('*') if p.is_file())} files"
    if name.endswith(".safetensors"):
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as fh:
            return f"safetensors, {len(list(fh.keys()))} tensors"
    if name.endswith((".pth", ".pt", ".bin", ".ckpt")):
        import torch

        obj = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
        return f"torch checkpoint ({type(obj).__name__}{f', {len(obj)} entries' if hasattr(obj, '__len__') else ''})"
    if name.endswith(".json"):
        json.loads(path.read_text(encoding="utf-8"))
        return "JSON"
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        import tarfile

        with tarfile.open(path) as tar:
            return f"archive, {len(tar.getmembers())} members"
    path.read_bytes().decode("utf-8")
    return "text"


def is_synthetic(path: Path) -> bool:
    """Whether ``path`` was written by ``rrg-eval models synth`` (its folder holds the marker file)."""
    from .synthetic_weights import is_synthetic as marked

    return marked(path)


def verify(metrics: Iterable[str] | None = None, cache_dir: str | Path | None = None) -> list[VerifyResult]:
    """Every needed file: present, loadable, sha256."""
    out = []
    for status in list_weights(metrics, hash_files=True, cache_dir=cache_dir):
        if status.path is None:
            from .weights import _fetch_hint

            out.append(VerifyResult(status, False, f"missing; {_fetch_hint(status.request)}"))
            continue
        try:
            out.append(VerifyResult(status, True, check_loadable(status.path)))
        except Exception as exc:  # any failure to read is the finding
            out.append(VerifyResult(status, False, f"cannot load: {type(exc).__name__}: {exc}"))
    return out


def synth(kind: str, out_dir: str | os.PathLike, size: str = "tiny", seed: int = 0) -> Path:
    """Write synthetic checkpoints of ``kind`` (:mod:`rrg_eval.synthetic_weights`); returns the model folder."""
    from .synthetic_weights import synthesize

    return synthesize(kind, out_dir, size=size, seed=seed)


# -- rendering (pure) -------------------------------------------------------------------------------------------
def _human(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def render_weights(statuses: list[WeightStatus], fmt: str = "table") -> str:
    """The ``models list`` / ``models download`` output."""
    if fmt == "json":
        return json.dumps([s.to_dict() for s in statuses], indent=2) + "\n"
    if not statuses:
        return "no registered metric needs model files\n"
    lines = []
    for s in statuses:
        lines.append(f"{s.request.describe()}  [{', '.join(s.metrics)}]  {s.request.what}".rstrip())
        if s.path is None:
            lines.append("    not found")
        else:
            lines.append(f"    {s.where}: {s.path}")
            lines.append(f"    size {_human(s.size)}" + (f"  sha256 {s.sha256}" if s.sha256 else ""))
    missing = [s for s in statuses if s.path is None]
    if missing:
        users = sorted({m for s in missing for m in s.metrics})
        lines += ["", f"{len(missing)} of {len(statuses)} not found; fetch them with `rrg-eval models download "
                      f"--metrics {','.join(users)}` (without network here: add --to DIR on a connected machine, "
                      f"copy DIR here and set {MODEL_DIR_ENV}=DIR)"]
    return "\n".join(lines) + "\n"


def render_verify(results: list[VerifyResult], fmt: str = "table") -> str:
    """The ``models verify`` output: one line per file, then a summary."""
    if fmt == "json":
        return json.dumps([r.to_dict() for r in results], indent=2) + "\n"
    lines = []
    for r in results:
        mark = "ok     " if r.ok else "FAILED "
        digest = f"  sha256 {r.status.sha256}" if r.status.sha256 else ""
        lines.append(f"{mark}{r.status.request.describe()}: {r.message}{digest}")
    bad = sum(1 for r in results if not r.ok)
    fake = sum(1 for r in results if r.synthetic)
    if fake:
        names = ", ".join(r.status.request.describe() for r in results if r.synthetic)
        lines.append(f"SYNTHETIC (random weights from `rrg-eval models synth`, scores computed with them are "
                     f"meaningless): {names}")
    lines.append(f"{len(results) - bad} of {len(results)} file(s) ok" if results else "nothing to verify")
    return "\n".join(lines) + "\n"
