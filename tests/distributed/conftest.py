"""Fixtures of the Ray engine's tests: a time limit on every test, and one local cluster per module.

On a 2-CPU machine a Ray actor pool that reserves every CPU can hang, so the engine's actors take fractional
CPUs and every test here is cut off by SIGALRM after ``TIME_LIMIT_S``; the cluster is stopped, and any process it
left is ended by pid, when the module finishes.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator

import pytest

pytest.importorskip("ray.data")
psutil = pytest.importorskip("psutil")

TIME_LIMIT_S = 300


@pytest.fixture(autouse=True)
def _time_limit() -> Iterator[None]:
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"a Ray engine test ran past {TIME_LIMIT_S} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TIME_LIMIT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def ray_processes() -> list[psutil.Process]:
    """Ray's processes started below this test process (raylet, gcs_server, workers)."""
    return [p for p in psutil.Process().children(recursive=True)]


def end_processes(processes: list[psutil.Process]) -> None:
    """End the given processes by pid (never by name): terminate, wait, then kill what is left."""
    for p in processes:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=10)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


@pytest.fixture(scope="module")
def ray_tmpdir() -> Iterator[str]:
    """A short RAY_TMPDIR (Ray's socket paths must stay under 107 characters)."""
    folder = tempfile.mkdtemp(prefix="rrgray", dir="/tmp")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_cluster(ray_tmpdir: str) -> Iterator[None]:
    """One local cluster (127.0.0.1, 2 CPUs) for the module; stopped, and its leftovers ended, at the end."""
    import ray

    from rrg_eval.distributed import start_local_cluster

    saved = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = ray_tmpdir
    start_local_cluster(num_cpus=2)
    try:
        yield
    finally:
        children = ray_processes()
        ray.shutdown()
        _, alive = psutil.wait_procs(children, timeout=15)
        end_processes(alive)
        if saved is None:
            os.environ.pop("RAY_TMPDIR", None)
        else:
            os.environ["RAY_TMPDIR"] = saved
