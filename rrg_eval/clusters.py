"""The cluster of each report (``--cluster-field patient_id``), read from the references file.

Clustered resampling (:mod:`rrg_eval.designs`) needs one cluster value per reference id. The values come from
a field of the references file (JSONL, JSON array, CSV, TSV, Parquet), from ``{id: {field: value}}`` rows, or
from an ``{id: value}`` mapping. Values are compared as strings (an integer ``patient_id`` of 7 and "7" are
the same patient); a missing or null value is an error naming file, line and field.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .designs import Design
from .errors import InputError


def _value(raw: Any, *, path: str, line: int | None, field: str) -> str:
    if raw is None or isinstance(raw, (bool, dict, list)) or (isinstance(raw, str) and not raw.strip()):
        shown = "null" if raw is None else repr(raw)
        raise InputError(f'cluster field "{field}" must be a non-empty string or number, got {shown}',
                         path=path, line=line, field=field)
    return str(raw)


def _rows(path: str, id_field: str, field: str) -> Iterator[tuple[int | None, Mapping[str, Any]]]:
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise InputError("reading Parquet needs pyarrow: pip install 'rrg-eval[parquet]'", path=path) from None
        for index, row in enumerate(pq.read_table(path).to_pylist(), start=1):
            yield index, row
        return
    text = p.read_bytes().decode("utf-8-sig", errors="replace")
    if suffix in (".csv", ".tsv"):
        reader = csv.DictReader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ",")
        for row in reader:
            yield reader.line_num, row
        return
    if suffix == ".json" and text.lstrip().startswith("["):
        for index, row in enumerate(json.loads(text), start=1):
            yield index, row
        return
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, json.loads(line)


def read_cluster_values(source: Any, field: str, *, id_field: str = "id") -> dict[str, str]:
    """``{id: cluster}`` from a references path, ``{id: {field: value}}`` rows or an ``{id: value}`` mapping."""
    if isinstance(source, Mapping):
        out = {}
        for rid, row in source.items():
            raw = row.get(field) if isinstance(row, Mapping) else row
            if isinstance(row, Mapping) and field not in row:
                raise InputError(f'id "{rid}" has no cluster field "{field}"', path="references", field=field)
            out[str(rid)] = _value(raw, path="references", line=None, field=field)
        return out
    if not isinstance(source, (str, os.PathLike)):
        raise InputError(f"--cluster-field {field} needs the references as a file or as {{id: {{field: value}}}} "
                         "rows", path="references")
    path = str(source)
    out = {}
    for line, row in _rows(path, id_field, field):
        if not isinstance(row, Mapping):
            continue  # the reports reader has already reported malformed rows
        if field not in row:
            present = ", ".join(f'"{k}"' for k in row) or "none"
            raise InputError(f'missing cluster field "{field}" (fields present: {present})', path=path, line=line,
                             field=field)
        out[str(row.get(id_field))] = _value(row[field], path=path, line=line, field=field)
    return out


def design_for(ids: Sequence[str], values: Mapping[str, str] | None, field: str | None) -> Design:
    """The design of rows ``ids``: clustered by ``values`` when given, else one unit per report."""
    if values is None:
        return Design.unclustered(len(ids))
    missing = [i for i in ids if i not in values]
    if missing:
        shown = ", ".join(f'"{i}"' for i in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise InputError(f'{len(missing)} id(s) have no cluster value "{field}" (first: {shown})', field=field)
    return Design.from_values([values[i] for i in ids], field=field or "cluster")
