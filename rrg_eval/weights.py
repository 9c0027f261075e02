"""Finding model weights: explicit path, then ``$RRG_EVAL_MODEL_DIR``, then the Hugging Face hub cache.

``$RRG_EVAL_MODEL_DIR`` is laid out like the hub: one folder per hub repository, named ``<org>--<name>`` (or
``<name>`` for ids without an org), holding that repository's files as the hub has them, e.g.
``StanfordAIMI--RRG_scorers/chexbert.pth`` or ``distilbert-base-uncased/config.json``.

The hub is used through ``huggingface_hub`` (downloading when online, ``HF_HUB_OFFLINE=1`` honoured). When a
file cannot be found offline, the error names the file, every place looked, and the command that fetches it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import MetricUnavailable

MODEL_DIR_ENV = "RRG_EVAL_MODEL_DIR"


def repo_folder_name(repo_id: str) -> str:
    """``org/name`` -> ``org--name``; ``name`` -> ``name``."""
    return repo_id.replace("/", "--")


def model_dir() -> Path | None:
    """The folder named by ``$RRG_EVAL_MODEL_DIR``, if set."""
    value = os.environ.get(MODEL_DIR_ENV)
    return Path(value).expanduser() if value else None


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class WeightRequest:
    """One file (or a whole repository when ``filename`` is None) that a metric needs."""

    repo_id: str
    filename: str | None = None
    what: str = ""

    def describe(self) -> str:
        return f"{self.repo_id}/{self.filename}" if self.filename else self.repo_id


def _fetch_hint(request: WeightRequest) -> str:
    return (f"fetch it on a machine with network access with `rrg-eval models download --to DIR`, copy DIR here "
            f"and set {MODEL_DIR_ENV}=DIR (or pass the path in the metric's config)")


def _from_model_dir(request: WeightRequest) -> Path | None:
    root = model_dir()
    if root is None:
        return None
    folder = root / repo_folder_name(request.repo_id)
    if request.filename is None:
        return folder if folder.is_dir() else None
    path = folder / request.filename
    return path if path.is_file() else None


def _hub_reachable(timeout: float = 3.0) -> bool:
    """A quick connection check, so that a machine without network fails at once, not after minutes of retries."""
    import socket
    from urllib.parse import urlparse

    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _from_hub(request: WeightRequest) -> tuple[Path | None, str]:
    """The hub cache first (no network); then a download when online and the hub answers."""
    try:
        import huggingface_hub
    except ImportError:
        return None, "huggingface_hub is not installed"

    def fetch(local_only: bool) -> Path:
        if request.filename is None:
            return Path(huggingface_hub.snapshot_download(request.repo_id, local_files_only=local_only))
        return Path(huggingface_hub.hf_hub_download(request.repo_id, request.filename, local_files_only=local_only))

    try:
        return fetch(True), ""
    except Exception:  # not in the local cache
        pass
    if hub_offline():
        return None, "not in the local cache and HF_HUB_OFFLINE=1"
    if not _hub_reachable():
        return None, "not in the local cache, and the hub cannot be reached (offline?)"
    try:
        return fetch(False), ""
    except Exception as exc:  # hub errors come in many types (404, gated repo, connection)
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def resolve(request: WeightRequest, explicit: str | os.PathLike | None = None, *, use_hub: bool = True) -> Path:
    """The local path of ``request``; raises MetricUnavailable naming every place looked."""
    looked: list[str] = []
    if explicit:
        path = Path(explicit).expanduser()
        if request.filename is not None and path.is_dir():
            path = path / request.filename
        if path.exists():
            return path
        raise MetricUnavailable(f"{request.describe()}: the configured path {path} does not exist")
    found = _from_model_dir(request)
    if found is not None:
        return found
    root = model_dir()
    target = repo_folder_name(request.repo_id) + (f"/{request.filename}" if request.filename else "")
    looked.append(f"${MODEL_DIR_ENV}/{target}" + (f" ({root / target})" if root else " (not set)"))
    if use_hub:
        found, why = _from_hub(request)
        if found is not None:
            return found
        looked.append(f"the Hugging Face hub: {why}")
    what = f" ({request.what})" if request.what else ""
    raise MetricUnavailable(f"{request.describe()}{what} not found; looked in " + "; ".join(looked) + "; "
                            + _fetch_hint(request))


def read_checkpoint_error(path: Path, exc: BaseException, *, what: str = "checkpoint") -> MetricUnavailable:
    """A one-line error for a weight file that cannot be read (corrupt, truncated), naming its path."""
    detail = str(exc).splitlines()[0] if str(exc) else ""
    return MetricUnavailable(f"cannot read the {what} {path}: {type(exc).__name__}: {detail} (a corrupt or "
                             f"incomplete download? check it with `rrg-eval models verify`, fetch it again)")
