"""Reading saved runs: ``rrg_eval.load_run(path)`` gives back the :class:`~rrg_eval.result.Result` that
``result.save(path)`` / ``rrg-eval score --save-run`` wrote. The format and the writer are in
:mod:`rrg_eval.run_format` (docs/runs.md); nothing is unpickled on loading.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from typing import Any

import numpy as np

from .errors import InputError
from .result import KeyInfo, Result
from .run_format import FORMAT, FORMAT_VERSION, _unplain, decode, encode, run_bytes, save_run

__all__ = ["FORMAT", "FORMAT_VERSION", "as_run", "decode", "encode", "load_run", "run_bytes", "save_run"]


# -- reading ---------------------------------------------------------------------------------------------------

def load_run(path: str | os.PathLike) -> Result:
    """Read a saved run back into a :class:`~rrg_eval.result.Result` (statistics, signatures, options)."""
    where = str(path)
    if not os.path.exists(where):
        raise InputError("no such file", path=where)
    try:
        archive = zipfile.ZipFile(where)
    except (zipfile.BadZipFile, OSError):
        raise InputError("not an rrg-eval run file (expected a ZIP archive written by --save-run)",
                         path=where) from None
    with archive:
        names = set(archive.namelist())
        if "run.json" not in names:
            raise InputError("not an rrg-eval run file (no run.json inside)", path=where)
        try:
            meta = _unplain(json.loads(archive.read("run.json")))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"run.json is not valid JSON: {exc}", path=where) from None
        if not isinstance(meta, dict):
            raise InputError("not an rrg-eval run file (run.json is not an object)", path=where)
        if meta.get("format") != FORMAT:
            raise InputError(f"not an rrg-eval run file (format {meta.get('format')!r})", path=where)
        version = meta.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise InputError(f"run format version {version} is newer than this rrg-eval reads "
                             f"({FORMAT_VERSION}); upgrade rrg-eval", path=where)
        result = Result(n=int(meta["n"]), ids=list(meta["ids"]), scores={}, signatures={}, key_info={},
                        warnings=list(meta.get("warnings", [])), unavailable=dict(meta.get("unavailable", {})),
                        errors=dict(meta.get("errors", {})), references_digest=meta.get("references_digest"),
                        clusters=meta.get("clusters"), versions=dict(meta.get("versions", {})))
        for entry in meta["metrics"]:
            name = entry["name"]
            allowed = _metric_modules(name)
            stats = {}
            for column, spec in entry["columns"].items():
                member = spec["member"]
                if member not in names:
                    raise InputError(f"member {member} is missing (metric {name}, column {column})", path=where)
                data = archive.read(member)
                if spec["encoding"] == "npy":
                    stats[column] = np.load(io.BytesIO(data), allow_pickle=False)
                else:
                    value = decode(json.loads(data), where=f"{where}: {member}", allowed_modules=allowed)
                    stats[column] = value
                rows = len(stats[column])
                if rows != result.n:
                    raise InputError(f"metric {name}, column {column}: {rows} rows for {result.n} ids", path=where)
            result.stats[name] = stats
            result.signatures[name] = entry["signature"]
            result.options[name] = dict(entry.get("options", {}))
            for key, info in entry["keys"].items():
                result.key_info[key] = KeyInfo(metric=name, kind=info["kind"],
                                               higher_is_better=bool(info["higher_is_better"]))
            result.scores.update({k: float(v) for k, v in entry["scores"].items()})
        if meta.get("texts") and "texts.json" in names:
            result.texts = json.loads(archive.read("texts.json"))
        else:
            result.texts = None
    return result


def _metric_modules(name: str) -> frozenset[str]:
    """The module of a registered metric's class: its own named tuples may be loaded."""
    try:
        from .metrics.registry import metric_class

        return frozenset({metric_class(name).__module__})
    except Exception:  # noqa: BLE001 - an unregistered metric simply allows nothing extra
        return frozenset()


def as_run(obj: Any, *, role: str) -> Result:
    """A Result given as itself or as a path to a saved run."""
    if isinstance(obj, Result):
        return obj
    if isinstance(obj, (str, os.PathLike)):
        return load_run(obj)
    raise InputError(f"expected a saved run path or a Result, got {type(obj).__name__}", path=role)
