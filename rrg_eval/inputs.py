"""Reading reports from JSONL, JSON arrays, CSV/TSV and Parquet, with errors that name file, line and field.

Each row has an id field and a text field (``--id-field`` / ``--text-field``). Ids are strings (integer ids are
converted); texts must be strings (an empty string is valid). Duplicate ids are an error.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError

PathLike = str | os.PathLike


@dataclass
class ReportSet:
    """Reports of one file (or Python object), in input order, keyed by id."""

    source: str
    texts: dict[str, str]
    lines: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def ids(self) -> list[str]:
        return list(self.texts)


_SURROGATE = re.compile("[\ud800-\udfff]")


def check_unicode(value: str, *, path: str, line: int | None, field: str, what: str | None = None) -> str:
    """``value`` unchanged, or an InputError if it holds a lone surrogate (JSON ``"\\ud800"`` without its pair),
    which no UTF-8 output, hash or tokenizer can take."""
    bad = _SURROGATE.search(value)
    if bad:
        code = ord(bad.group())
        subject = what or f'field "{field}"'
        raise InputError(f'{subject} holds an unpaired surrogate (a "\\u{code:04x}" escape without its pair): '
                         "not valid Unicode text", path=path, line=line, field=field)
    return value


def _clean_id(value: Any, *, path: str, line: int, id_field: str) -> str:
    if isinstance(value, bool) or value is None:
        raise InputError(f'field "{id_field}" must be a string or an integer, got {value!r}',
                         path=path, line=line, field=id_field)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if not value.strip():
            raise InputError(f'field "{id_field}" is empty', path=path, line=line, field=id_field)
        return check_unicode(value, path=path, line=line, field=id_field)
    raise InputError(f'field "{id_field}" must be a string or an integer, got {type(value).__name__}',
                     path=path, line=line, field=id_field)


def _row_to_report(row: Any, *, path: str, line: int, id_field: str, text_field: str,
                   where: str = "line") -> tuple[str, str]:
    if not isinstance(row, Mapping):
        raise InputError(f"expected a JSON object, got {type(row).__name__}", path=path, line=line)
    present = ", ".join(f'"{k}"' for k in row) or "none"
    for name in (id_field, text_field):
        if name not in row:
            raise InputError(f'missing field "{name}" (fields present: {present})', path=path, line=line,
                             field=name)
    rid = _clean_id(row[id_field], path=path, line=line, id_field=id_field)
    text = row[text_field]
    if not isinstance(text, str):
        got = "null" if text is None else type(text).__name__
        raise InputError(f'field "{text_field}" must be a string, got {got}', path=path, line=line,
                         field=text_field)
    return rid, check_unicode(text, path=path, line=line, field=text_field)


def _decode_lines(path: str, data: bytes) -> Iterator[tuple[int, str]]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                             "convert the file to UTF-8", path=path, line=number) from None


def parse_json(text: str, *, path: str, line: int | None = None) -> Any:
    """``json.loads`` whose every failure is an :class:`InputError` naming the file and line.

    Malformed JSON, nesting deeper than Python's recursion limit allows (``[[[[...]]]]``) and values Python
    refuses (an integer of more than 4,300 digits) end here as typed errors, never as a traceback.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        at = line if line is not None else exc.lineno
        raise InputError(f"malformed JSON: {exc.msg} (column {exc.colno})", path=path, line=at) from None
    except RecursionError:
        raise InputError("JSON nested too deeply to read", path=path, line=line) from None
    except ValueError as exc:  # e.g. "Exceeds the limit (4300 digits) for integer string conversion"
        raise InputError(f"unreadable JSON value: {exc}", path=path, line=line) from None


def read_input_bytes(path: PathLike) -> bytes:
    """The bytes of an input file; a missing file, a folder or an unreadable file is an :class:`InputError`."""
    p = Path(path)
    name = str(path)
    if not p.exists():
        raise InputError("no such file", path=name)
    if p.is_dir():
        raise InputError("is a folder, expected a file", path=name)
    try:
        return p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=name) from None


def iter_json_lines(path: PathLike, data: bytes | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every non-blank line of a JSON Lines file (UTF-8, optional BOM).

    The one JSONL reading path of the package (reports here, studies in ``rrg_baselines.studies``): bad UTF-8,
    malformed or too deeply nested JSON and a line that is not a JSON object are :class:`InputError` naming the
    file and line. Lines are split on ``\\n`` only (a U+2028 inside a string is text, not a line break).
    """
    name = str(path)
    if data is None:
        data = read_input_bytes(path)
    for number, text in _decode_lines(name, data):
        if not text.strip():
            continue
        row = parse_json(text, path=name, line=number)
        if not isinstance(row, dict):
            raise InputError(f"expected a JSON object, got {type(row).__name__}", path=name, line=number)
        yield number, row


def _read_jsonl(path: str, data: bytes, id_field: str, text_field: str) -> Iterator[tuple[int, str, str]]:
    for number, row in iter_json_lines(path, data):
        rid, report = _row_to_report(row, path=path, line=number, id_field=id_field, text_field=text_field)
        yield number, rid, report


def _read_json_array(path: str, data: bytes, id_field: str, text_field: str) -> Iterator[tuple[int, str, str]]:
    text = "\n".join(t for _, t in _decode_lines(path, data))
    rows = parse_json(text, path=path)
    if not isinstance(rows, list):
        raise InputError("expected a JSON array of objects or JSON Lines", path=path)
    for index, row in enumerate(rows, start=1):
        rid, report = _row_to_report(row, path=f"{path} [record {index}]", line=None,  # type: ignore[arg-type]
                                     id_field=id_field, text_field=text_field)
        yield index, rid, report


def _csv_records(path: str, text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """``(first line, fields)`` per CSV record; quoting errors are :class:`InputError` naming the record's line."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    end = 0
    while True:
        start = end + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            message = str(exc)
            if "unexpected end of data" in message:
                raise InputError("unterminated quoted field: the quote opened on this line is never closed "
                                 "(it runs to the end of the file)", path=path, line=start) from None
            if "new-line character seen in unquoted field" in message:
                raise InputError("a carriage return (\\r) inside an unquoted field: quote the field, or convert "
                                 "the line endings to \\n or \\r\\n", path=path, line=reader.line_num) from None
            raise InputError(f"malformed CSV: {message}", path=path, line=reader.line_num) from None
        end = reader.line_num
        if fields:
            yield start, fields


def _read_csv(path: str, data: bytes, id_field: str, text_field: str,
              delimiter: str) -> Iterator[tuple[int, str, str]]:
    records = _csv_records(path, "\n".join(t for _, t in _decode_lines(path, data)), delimiter)
    header_line, header = next(records, (1, []))
    present = ", ".join(f'"{k}"' for k in header) or "none"
    for name in (id_field, text_field):
        if name not in header:
            raise InputError(f'missing column "{name}" (columns present: {present})', path=path, line=header_line,
                             field=name)
    id_col, text_col = header.index(id_field), header.index(text_field)
    for number, fields in records:
        if len(fields) != len(header):
            more = "more" if len(fields) > len(header) else "fewer"
            raise InputError(f"{len(fields)} fields where the header has {len(header)} ({more} than the header; "
                             "quote fields that contain the delimiter)", path=path, line=number)
        rid = _clean_id(fields[id_col], path=path, line=number, id_field=id_field)
        yield number, rid, fields[text_col]


def _read_parquet(path: str, id_field: str, text_field: str) -> Iterator[tuple[int, str, str]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError("reading Parquet needs pyarrow: pip install 'rrg-eval[parquet]'", path=path) from None
    try:
        parquet = pq.ParquetFile(path)
        names = parquet.schema_arrow.names
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise InputError(f"cannot read Parquet: {exc}", path=path) from None
    present = ", ".join(f'"{k}"' for k in names)
    for name in (id_field, text_field):
        if name not in names:
            raise InputError(f'missing column "{name}" (columns present: {present})', path=path, field=name)
    try:  # only the two columns: an unused large column is never read
        table = parquet.read(columns=list(dict.fromkeys([id_field, text_field])))
        ids = table.column(id_field).to_pylist()
        texts = table.column(text_field).to_pylist()
    except RecursionError:
        raise InputError("cannot read Parquet: values nested too deeply", path=path) from None
    except Exception as exc:
        raise InputError(f"cannot read Parquet: {exc}", path=path) from None
    for index, (raw_id, text) in enumerate(zip(ids, texts), start=1):
        where = f"{path} [row {index}]"
        rid = _clean_id(raw_id, path=where, line=None, id_field=id_field)  # type: ignore[arg-type]
        if not isinstance(text, str):
            got = "null" if text is None else type(text).__name__
            raise InputError(f'field "{text_field}" must be a string, got {got}', path=where, field=text_field)
        yield index, rid, text


def read_reports(path: PathLike, *, id_field: str = "id", text_field: str = "report") -> ReportSet:
    """Read one file of reports; the format comes from the suffix (.jsonl/.json/.csv/.tsv/.parquet)."""
    p = Path(path)
    name = str(path)
    if not p.exists():
        raise InputError("no such file", path=name)
    if p.is_dir():
        raise InputError("is a folder, expected a file of reports", path=name)
    suffix = p.suffix.lower()
    unit = None  # JSON arrays and Parquet number records/rows, not lines
    if suffix == ".parquet":
        unit = "row"
        rows = _read_parquet(name, id_field, text_field)
    else:
        data = read_input_bytes(p)
        if not data.strip():
            raise InputError("file is empty (no reports)", path=name)
        if suffix in {".csv", ".tsv"}:
            rows = _read_csv(name, data, id_field, text_field, "\t" if suffix == ".tsv" else ",")
        elif suffix == ".json" and data.lstrip().removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"["):
            unit = "record"
            rows = _read_json_array(name, data, id_field, text_field)
        else:
            rows = _read_jsonl(name, data, id_field, text_field)
    texts: dict[str, str] = {}
    lines: dict[str, int] = {}
    for number, rid, text in rows:
        if rid in texts:
            if unit:
                raise InputError(f'duplicate id "{rid}" (first seen in {unit} {lines[rid]})',
                                 path=f"{name} [{unit} {number}]", field=id_field)
            raise InputError(f'duplicate id "{rid}" (first seen on line {lines[rid]})', path=name, line=number,
                             field=id_field)
        texts[rid] = text
        lines[rid] = number
    if not texts:
        raise InputError("file is empty (no reports)", path=name)
    return ReportSet(source=name, texts=texts, lines=lines)


def as_report_set(obj: Any, *, role: str, id_field: str = "id", text_field: str = "report") -> ReportSet:
    """Accept a path, a ``{id: text}`` mapping, a list of texts (ids are positions) or a ReportSet."""
    if isinstance(obj, ReportSet):
        return obj
    if isinstance(obj, (str, os.PathLike)):
        return read_reports(obj, id_field=id_field, text_field=text_field)
    if isinstance(obj, Mapping):
        texts: dict[str, str] = {}
        for key, text in obj.items():
            rid = _clean_id(key, path=role, line=None, id_field="id")  # type: ignore[arg-type]
            if not isinstance(text, str):
                raise InputError(f'text of id "{rid}" must be a string, got {type(text).__name__}', path=role)
            if rid in texts:
                raise InputError(f'duplicate id "{rid}"', path=role)
            texts[rid] = check_unicode(text, path=role, line=None, field="text", what=f'text of id "{rid}"')
        if not texts:
            raise InputError("no reports given", path=role)
        return ReportSet(source=role, texts=texts)
    if isinstance(obj, Sequence):
        texts = {}
        for index, text in enumerate(obj):
            if not isinstance(text, str):
                raise InputError(f"item {index} must be a string, got {type(text).__name__}", path=role)
            texts[str(index)] = check_unicode(text, path=role, line=None, field="text", what=f"item {index}")
        if not texts:
            raise InputError("no reports given", path=role)
        return ReportSet(source=role, texts=texts)
    raise InputError(f"expected a path, a list of texts or an {{id: text}} mapping, got {type(obj).__name__}",
                     path=role)


@dataclass(frozen=True)
class Pairs:
    """Predictions and references aligned by id, in the references' order."""

    ids: list[str]
    predictions: list[str]
    references: list[str]

    def __len__(self) -> int:
        return len(self.ids)


def _preview(ids: list[str], limit: int = 5) -> str:
    shown = ", ".join(f'"{i}"' for i in ids[:limit])
    return shown + (", ..." if len(ids) > limit else "")


def pair(predictions: ReportSet, references: ReportSet) -> Pairs:
    """Align predictions with references by id; any id on one side only is an error naming both files."""
    missing = [i for i in references.texts if i not in predictions.texts]
    extra = [i for i in predictions.texts if i not in references.texts]
    problems = []
    if extra:
        problems.append(f"{len(extra)} id(s) in {predictions.source} not in {references.source} "
                        f"(first: {_preview(extra)})")
    if missing:
        problems.append(f"{len(missing)} id(s) in {references.source} not in {predictions.source} "
                        f"(first: {_preview(missing)})")
    if problems:
        raise InputError("ids do not match: " + "; ".join(problems), path=predictions.source)
    ids = references.ids
    return Pairs(ids=ids, predictions=[predictions.texts[i] for i in ids], references=list(references.texts.values()))


def references_digest(ids: Sequence[str], references: Sequence[str]) -> str:
    """A short digest pinning the references (ids and texts) that a score was computed against."""
    h = hashlib.sha256()
    for rid, text in zip(ids, references):
        h.update(rid.encode("utf-8") + b"\x00" + text.encode("utf-8") + b"\x01")
    return h.hexdigest()[:12]


def count_empty_texts(texts: Sequence[str], ids: Sequence[str] | None = None) -> list[str]:
    """Ids (or positions) of the empty or blank texts: valid input, counted in the warnings."""
    keys = list(ids) if ids is not None else [str(i) for i in range(len(texts))]
    return [k for k, t in zip(keys, texts) if not t.strip()]


def empty_report_warnings(pairs: Pairs) -> list[str]:
    """The input-level warnings about empty predictions and references (ids of the first five)."""
    warnings = []
    for what, texts in (("prediction", pairs.predictions), ("reference", pairs.references)):
        found = count_empty_texts(texts, pairs.ids)
        if found:
            shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
            warnings.append(f"input: {len(found)} empty {what}(s) (ids: {shown}); each metric says how it "
                            "scores them where that differs from its reference implementation")
    return warnings
