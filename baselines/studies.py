"""Reading studies (``{id, report, images, ...}`` JSON Lines) and writing prediction files."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from rrg_eval.errors import InputError
from rrg_eval.inputs import check_unicode, iter_json_lines
from rrg_eval.outputs import write_text


@dataclass(frozen=True)
class Study:
    """One imaging study: its id, report (may be empty for test sets), image file names and any other fields."""

    id: str
    report: str
    images: tuple[str, ...] = ()
    fields: dict[str, Any] = field(default_factory=dict, compare=False)


def read_studies(path: str | os.PathLike, *, text_field: str = "report", require_report: bool = True,
                 images_field: str = "images") -> list[Study]:
    """Read a JSON Lines file of studies (the package's one JSONL reader); errors name the file, line and field."""
    name = str(path)
    studies: list[Study] = []
    seen: dict[str, int] = {}
    for number, row in iter_json_lines(path):
        if "id" not in row:
            raise InputError('missing field "id"', path=name, line=number, field="id")
        rid = check_unicode(str(row["id"]), path=name, line=number, field="id")
        if rid in seen:
            raise InputError(f'duplicate id "{rid}" (first seen on line {seen[rid]})', path=name, line=number)
        seen[rid] = number
        report = row.get(text_field, "")
        if require_report and not isinstance(row.get(text_field), str):
            raise InputError(f'missing or non-string field "{text_field}"', path=name, line=number,
                             field=text_field)
        images = row.get(images_field) or []
        if isinstance(images, str):
            images = [images]
        if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
            raise InputError(f'field "{images_field}" must be a list of file names', path=name, line=number,
                             field=images_field)
        if isinstance(report, str):
            check_unicode(report, path=name, line=number, field=text_field)
        studies.append(Study(id=rid, report=report if isinstance(report, str) else "", images=tuple(images),
                             fields=row))
    if not studies:
        raise InputError("file is empty (no studies)", path=name)
    return studies


def predictions_jsonl(predictions: dict[str, str], extra: dict[str, dict[str, Any]] | None = None) -> str:
    """``{"id", "report", ...extra}`` JSON Lines (the format ``rrg-eval score`` reads)."""
    lines = []
    for rid, text in predictions.items():
        row: dict[str, Any] = {"id": rid, "report": text}
        if extra and rid in extra:
            row.update(extra[rid])
        lines.append(json.dumps(row, ensure_ascii=False))
    return "".join(line + "\n" for line in lines)


def write_predictions(path: str | os.PathLike, predictions: dict[str, str],
                      extra: dict[str, dict[str, Any]] | None = None) -> None:
    """Write :func:`predictions_jsonl` to ``path`` (atomically for a regular file, see ``rrg_eval.outputs``)."""
    write_text(path, predictions_jsonl(predictions, extra))
