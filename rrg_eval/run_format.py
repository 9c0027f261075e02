"""The saved-run file format: writing a run and the tagged JSON encoding of statistics (reading: :mod:`.runs`).

Saved runs: one file per scored system, to build leaderboards and gates later without recomputing.

``rrg-eval score ... --save-run RUN`` / ``result.save(path)`` writes, ``rrg_eval.load_run(path)`` reads back a
:class:`~rrg_eval.result.Result` with every metric's per-report statistics, so ``rrg_eval.compare_runs`` and
``rrg-eval gate`` resample exactly as ``compare`` does on the texts.

Format (version 1, documented in docs/runs.md): a ZIP archive (NPZ-compatible, readable with ``numpy.load``)
holding

- ``run.json``: ``{"format": "rrg-eval-run", "format_version": 1, "n", "ids", "references_digest", "versions",
  "clusters", "warnings", "unavailable", "errors", "metrics": [{"name", "signature", "options", "keys":
  {key: {"kind", "higher_is_better"}}, "scores", "columns": {column: {"member", "encoding"}}}], "texts"}``;
- ``stats/<metric>/<column>.npy``: numeric or boolean statistics columns, one row per report, in ``ids`` order;
- ``stats/<metric>/<column>.json``: other columns (lists of tuples, dicts, arrays of varying length) in a
  tagged JSON encoding (:func:`encode`), exact for every float;
- ``texts.json``: ``{"predictions": [...], "references": [...]}``, only when saved with text.

Nothing is unpickled on loading: arrays are read with ``allow_pickle=False`` and JSON values are rebuilt from
tags (a named tuple only from a class of rrg-eval or of the metric's own module). The archive is written
through a temporary file and an atomic rename, with fixed member dates, so the same run gives the same bytes.
"""

from __future__ import annotations

import importlib
import io
import json
import math
import os
import platform
import zipfile
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InputError
from .version import __version__

if TYPE_CHECKING:
    from .result import Result

FORMAT = "rrg-eval-run"
FORMAT_VERSION = 1
_DATE = (1980, 1, 1, 0, 0, 0)


# -- the JSON encoding of statistics that are not plain arrays -------------------------------------------------

def encode(value: Any, *, where: str) -> Any:
    """A JSON-able tree of ``value`` with tags for what JSON lacks (tuples, arrays, non-finite floats)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biufU":
            return {"__nd__": value.dtype.str, "shape": list(value.shape),
                    "v": [encode(v, where=where) for v in value.ravel().tolist()]}
        return {"__nd__": "O", "shape": list(value.shape),
                "v": [encode(v, where=where) for v in value.ravel().tolist()]}
    if isinstance(value, np.generic):
        return {"__np__": value.dtype.str, "v": encode(value.item(), where=where)}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        cls = type(value)
        return {"__nt__": f"{cls.__module__}:{cls.__qualname__}", "v": [encode(v, where=where) for v in value]}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, where=where) for v in value]}
    if isinstance(value, list):
        return [encode(v, where=where) for v in value]
    if isinstance(value, dict):
        kind = "__counter__" if type(value).__name__ == "Counter" else "__dict__"
        return {kind: [[encode(k, where=where), encode(v, where=where)] for k, v in value.items()]}
    raise InputError(f"cannot save statistics of type {type(value).__name__} (supported: numbers, strings, "
                     "tuples, lists, dicts, numpy arrays)", path=where)


def decode(tree: Any, *, where: str, allowed_modules: frozenset[str]) -> Any:
    """The inverse of :func:`encode`."""
    if isinstance(tree, list):
        return [decode(v, where=where, allowed_modules=allowed_modules) for v in tree]
    if not isinstance(tree, dict):
        return tree

    def sub(v: Any) -> Any:
        return decode(v, where=where, allowed_modules=allowed_modules)

    if "__float__" in tree:
        return float(tree["__float__"])
    if "__nd__" in tree:
        values = [sub(v) for v in tree["v"]]
        if tree["__nd__"] == "O":
            arr = np.empty(len(values), dtype=object)
            arr[:] = values
            return arr.reshape(tree["shape"])
        return np.array(values, dtype=np.dtype(tree["__nd__"])).reshape(tree["shape"])
    if "__np__" in tree:
        return np.dtype(tree["__np__"]).type(sub(tree["v"]))
    if "__tuple__" in tree:
        return tuple(sub(v) for v in tree["__tuple__"])
    if "__dict__" in tree or "__counter__" in tree:
        pairs = [(sub(k), sub(v)) for k, v in tree.get("__dict__", tree.get("__counter__"))]
        if "__counter__" in tree:
            from collections import Counter

            return Counter(dict(pairs))
        return dict(pairs)
    if "__nt__" in tree:
        module, _, qualname = str(tree["__nt__"]).partition(":")
        if not (module == "rrg_eval" or module.startswith("rrg_eval.") or module in allowed_modules):
            raise InputError(f"statistics name a type from module {module!r}, which a run may not load", path=where)
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        if not (isinstance(obj, type) and issubclass(obj, tuple) and hasattr(obj, "_fields")):
            raise InputError(f"{tree['__nt__']} is not a named tuple", path=where)
        return obj(*[sub(v) for v in tree["v"]])
    raise InputError(f"unknown tag in statistics: {sorted(tree)[:3]}", path=where)


def _plain(obj: Any) -> Any:
    """Metadata as standard JSON: dicts and lists as they are, non-finite floats tagged."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return {"__float__": repr(obj)}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _unplain(obj: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"__float__"}:
            return float(obj["__float__"])
        return {k: _unplain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unplain(v) for v in obj]
    return obj


# -- writing ---------------------------------------------------------------------------------------------------

def _npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array(out, np.ascontiguousarray(array), allow_pickle=False)
    return out.getvalue()


def _member(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def versions(result: Result) -> dict[str, str]:
    """rrg-eval, Python and numpy versions plus every metric's back-end versions."""
    return {"rrg_eval": __version__, "python": platform.python_version(), "numpy": np.__version__,
            **result.versions}


def run_bytes(result: Result, *, with_text: bool = False, where: str = "run") -> bytes:
    """The saved run as bytes (see the module docstring for the layout)."""
    if with_text and not result.texts:
        raise InputError("this result holds no report texts to save (it was loaded without them)", path=where)
    buffer = io.BytesIO()
    metrics = []
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, stats in result.stats.items():
            columns = {}
            for column, value in stats.items():
                base = f"stats/{_safe(name)}/{_safe(column)}"
                if isinstance(value, np.ndarray) and value.dtype.kind in "biufU":
                    _member(archive, base + ".npy", _npy(value))
                    columns[column] = {"member": base + ".npy", "encoding": "npy"}
                else:
                    tree = encode(list(value) if not isinstance(value, np.ndarray) else value,
                                  where=f"{where}: metric {name}, column {column}")
                    kind = "json-array" if isinstance(value, np.ndarray) else "json-list"
                    _member(archive, base + ".json", json.dumps(tree, separators=(",", ":")).encode())
                    columns[column] = {"member": base + ".json", "encoding": kind}
            keys = {k: {"kind": i.kind, "higher_is_better": i.higher_is_better}
                    for k, i in result.key_info.items() if i.metric == name}
            metrics.append({"name": name, "signature": result.signatures.get(name, ""),
                            "options": result.options.get(name, {}), "keys": keys,
                            "scores": {k: result.scores[k] for k in keys if k in result.scores},
                            "columns": columns})
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "n": result.n, "ids": list(result.ids),
                "references_digest": result.references_digest, "versions": versions(result),
                "clusters": result.clusters, "warnings": list(result.warnings),
                "unavailable": dict(result.unavailable), "errors": dict(result.errors), "metrics": metrics,
                "texts": bool(with_text)}
        _member(archive, "run.json", json.dumps(_plain(meta), indent=1, ensure_ascii=False, allow_nan=False).encode())
        if with_text:
            _member(archive, "texts.json", json.dumps(result.texts, ensure_ascii=False).encode())
    return buffer.getvalue()


def save_run(result: Result, path: str | os.PathLike, *, with_text: bool = False) -> None:
    """Write ``result`` to ``path`` atomically (complete or absent)."""
    from .outputs import write_bytes as write_bytes_atomic

    write_bytes_atomic(path, run_bytes(result, with_text=with_text, where=str(path)))


