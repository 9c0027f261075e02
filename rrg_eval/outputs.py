"""Writing output files, and checking output paths before any work is done.

Writes never leave a half-written file the user named: a regular file (or a new path) is written to a temporary
file in the same folder and renamed over the target, so it is complete or unchanged. Links are followed: a
symlink given as output keeps being a link and its target receives the content. Devices, FIFOs and other files
that are not regular files are written through (opened and written, not replaced), so ``--out /dev/stdout`` or
a named pipe works and ``/dev/null`` stays a device.

:func:`check_outputs` runs before anything is computed: it refuses an output that is an input (same file after
resolving links, so a run can never destroy its own data), a folder given as a file, paths that cannot be
written, and outputs whose extra package is missing. When a write fails anyway after the work, :func:`write_all`
reports it and lets the caller still print the results.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import stat
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import OutputError

PathLike = str | os.PathLike


def resolve_output(path: PathLike) -> str:
    """The file a write to ``path`` lands in: every symlink followed (a dangling link names its future target)."""
    given = os.fspath(path)
    real = os.path.realpath(given)
    if os.path.islink(real):  # realpath stops inside a loop of links
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), given)
    if not os.path.lexists(real) and os.path.exists(given):
        return given  # a /proc "magic" link (/dev/stdout -> /proc/self/fd/1 -> pipe:[N]): open it as given
    return real


def _write(path: PathLike, data: bytes) -> None:
    target = resolve_output(path)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a folder, expected a file", os.fspath(path))
    if st is not None and not stat.S_ISREG(st.st_mode):
        # a device, FIFO or socket: write through, never replace it with a regular file
        with open(target, "wb") as handle:
            handle.write(data)
        return
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    if st is not None:
        mode = stat.S_IMODE(st.st_mode)  # replacing a file keeps its permissions
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask  # mkstemp creates 0600; a new output is an ordinary file
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:  # KeyboardInterrupt too: the target stays as it was, the temporary file goes
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_text(path: PathLike, text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) to ``path``: atomically for files, through for devices/FIFOs."""
    _write(path, text.encode("utf-8"))


def write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path``: atomically for regular files and new paths, through for devices and FIFOs."""
    _write(path, data)


@dataclass(frozen=True)
class Need:
    """An importable module an output needs, with the install hint shown when it is missing."""

    module: str
    hint: str


def _same_file_key(path: str) -> tuple[int, int] | None:
    """``(device, inode)`` of the regular file ``path`` names after links; None for new paths and devices/FIFOs
    (writing through to ``/dev/null`` or a pipe destroys nothing, so it may appear twice)."""
    try:
        st = os.stat(path)  # follows links
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def _nearest_existing(folder: str) -> str:
    while folder and not os.path.lexists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return folder or "."


def _output_problem(path: str) -> str | None:
    """Why ``path`` cannot be written, or None."""
    try:
        target = resolve_output(path)
    except OSError as exc:
        return exc.strerror or str(exc)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        return exc.strerror or str(exc)
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            return os.strerror(errno.EISDIR)  # the wording of the error a write would raise
        if not os.access(target, os.W_OK):
            return os.strerror(errno.EACCES)
        if not stat.S_ISREG(st.st_mode):
            return None  # a device or FIFO is written through: only the file itself must be writable
    folder = os.path.dirname(target)
    existing = _nearest_existing(folder)
    if not os.path.isdir(existing):
        return f"cannot create it: {existing} is not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{os.strerror(errno.EACCES)} (cannot write into the folder {existing})"
    return None


def check_outputs(outputs: Mapping[str, PathLike | None], inputs: Mapping[str, PathLike | None] | None = None,
                  *, needs: Mapping[str, Sequence[Need]] | None = None) -> None:
    """Refuse, before any work, outputs that would fail or destroy data; raise :class:`OutputError` naming all.

    ``outputs`` and ``inputs`` map a label (``--out``, ``references``) to a path (None: not given); ``needs`` maps
    a label (``--plot``, ``--format table``) to the modules it needs. An output that is the same file as an input
    or as another output (after resolving links), a folder, a path in an unwritable or uncreatable folder, and a
    missing module are all reported at once.
    """
    problems: list[str] = []
    given_inputs = {label: os.fspath(p) for label, p in (inputs or {}).items() if p is not None}
    input_keys = {label: _same_file_key(p) for label, p in given_inputs.items()}
    seen: dict[str, str] = {}
    for label, raw in outputs.items():
        if raw is None:
            continue
        path = os.fspath(raw)
        key = _same_file_key(path)
        clash = [f"{lab} ({given_inputs[lab]})" for lab, k in input_keys.items() if key is not None and k == key]
        if clash:
            problems.append(f"{path}: {label} is the same file as the input {', '.join(clash)}; "
                            "writing it would destroy the input")
            continue
        try:
            real = resolve_output(path)
        except OSError:
            real = path
        special = os.path.exists(real) and not os.path.isfile(real) and not os.path.isdir(real)
        if real in seen and not special:
            problems.append(f"{path}: {label} is the same file as {seen[real]}")
            continue
        seen[real] = f"{label} ({path})"
        why = _output_problem(path)
        if why:
            problems.append(f"{path}: {why}")
    for label, modules in (needs or {}).items():
        for need in modules:
            if importlib.util.find_spec(need.module) is None:
                problems.append(f"{label} needs {need.module}: {need.hint}")
    if problems:
        raise OutputError("; ".join(problems) if len(problems) == 1 else
                          "output problems (nothing was computed):\n  " + "\n  ".join(problems))


def write_all(items: Sequence[tuple[PathLike, str | bytes]]) -> list[str]:
    """Write every ``(path, content)``; return one ``"PATH: reason"`` per write that failed (the others happen)."""
    failed: list[str] = []
    for path, content in items:
        try:
            if isinstance(content, str):
                write_text(path, content)
            else:
                write_bytes(path, content)
        except OSError as exc:
            failed.append(f"{os.fspath(path)}: {exc.strerror or exc}")
    return failed
