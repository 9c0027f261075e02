"""Test-wide guards: no test reaches past loopback, and shared fixtures for the IU X-ray data."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# helpers (fake judge server, fixed leaderboard) and the official packages' runners live in tests/support/
sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))
SHARED_DATA = REPO.parent / "shared" / "data" / "iu_xray"
# .ci/run sets this: there a parity test that needs ../shared fails instead of skipping.
REQUIRE_SHARED_ENV = "RRG_EVAL_REQUIRE_SHARED"


def skip_without_shared(what: str) -> None:
    """Skip (or, under .ci/run, fail) a test whose inputs live in ../shared, saying so in the reason."""
    reason = f"needs ../shared: {what}"
    if os.environ.get(REQUIRE_SHARED_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_SHARED_ENV}=1: CI must not skip parity tests on ../shared)")
    pytest.skip(reason)

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_create_connection = socket.create_connection


def _is_loopback(address: object) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    if not isinstance(address, tuple) or not address:
        return True
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode()
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_loopback(address):
        raise ConnectionRefusedError(f"tests may not connect past loopback (tried {address!r})")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_loopback(address):
        raise ConnectionRefusedError(f"tests may not connect past loopback (tried {address!r})")
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def _refuse_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse every non-loopback connection; hub libraries are forced offline too."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def load_iu_xray(split: str = "val") -> list[dict]:
    """The shared IU X-ray reports (read from ../shared, never copied into the repo)."""
    path = SHARED_DATA / f"{split}.jsonl"
    if not path.is_file():
        skip_without_shared(f"IU X-ray reports not found at {path}")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def iu_val() -> list[dict]:
    return load_iu_xray("val")


@pytest.fixture(scope="session")
def iu_pairs() -> tuple[list[str], list[str], list[str]]:
    """(ids, predictions, references): each val report paired with another report as its prediction."""
    rows = load_iu_xray("val")
    ids = [r["id"] for r in rows]
    refs = [r["report"] for r in rows]
    preds = [rows[(i * 7 + 3) % len(rows)]["report"] for i in range(len(rows))]
    return ids, preds, refs
