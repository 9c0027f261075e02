"""Input files that once crashed or were misread (issue 11, items 14, 16, 22): deep JSON, CSV field counts and
quotes, Parquet columns; and the one JSONL reading path shared by reports and studies."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rrg_baselines.studies import read_studies

from rrg_eval.cli import main
from rrg_eval.errors import InputError
from rrg_eval.inputs import iter_json_lines, read_reports

DEEP = "[" * 100_000 + "]" * 100_000  # far past any recursion limit


def _error(capsys: pytest.CaptureFixture, preds: Path, refs: Path) -> tuple[int, str]:
    code = main(["score", str(preds), str(refs), "--metrics", "bleu", "--no-cache"])
    return code, capsys.readouterr().err


@pytest.fixture
def refs_file(tmp_path: Path) -> Path:
    path = tmp_path / "refs.jsonl"
    path.write_text('{"id": "a", "report": "x ."}\n{"id": "b", "report": "y ."}\n', encoding="utf-8")
    return path


# -- #14 deep nesting -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "content", "where"), [
    ("preds.jsonl", '{"id": "a", "report": "x"}\n{"id": "b", "report": "y", "extra": ' + DEEP + "}\n", ":2: "),
    ("preds.json", '[{"id": "a", "report": "x", "extra": ' + DEEP + "}]", ": "),
])
def test_deeply_nested_input_is_an_input_error(tmp_path, refs_file, capsys, name, content, where) -> None:  # type: ignore[no-untyped-def]
    """Regression: a file nested 100,000 deep aborted with a RecursionError traceback (exit 1, no message)."""
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match="nested too deeply"):
        read_reports(path)
    code, err = _error(capsys, path, refs_file)
    assert code == 2 and err == f"rrg-eval: error: {path}{where}JSON nested too deeply to read\n"


def test_deeply_nested_study_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "studies.jsonl"
    path.write_text('{"id": 1, "report": "a .", "images": ' + DEEP + "}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"studies.jsonl:1: JSON nested too deeply"):
        read_studies(path)


def test_integer_beyond_python_limit_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "preds.jsonl"
    path.write_text('{"id": ' + "7" * 5000 + ', "report": "x"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"preds.jsonl:1: unreadable JSON value"):
        read_reports(path)


# -- one JSONL path for reports and studies ----------------------------------------------------------------------

def test_studies_use_the_reports_jsonl_reader(tmp_path: Path) -> None:
    """Studies once split lines with str.splitlines (a U+2028 inside a report broke the line) and raised
    UnicodeDecodeError on bad bytes; both files now go through inputs.iter_json_lines."""
    path = tmp_path / "studies.jsonl"
    path.write_bytes(('{"id": 1, "report": "left\u2028right ."}\n').encode("utf-8"))
    assert [s.report for s in read_studies(path)] == ["left\u2028right ."]
    assert [row for _, row in iter_json_lines(path)] == [{"id": 1, "report": "left\u2028right ."}]
    path.write_bytes(b'{"id": 1, "report": "a ."}\n{"id": 2, "report": "caf\xe9"}\n')
    with pytest.raises(InputError, match=r"studies.jsonl:2: not valid UTF-8"):
        read_studies(path)
    path.write_text('{"id": 1, "report": "a ."}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"studies.jsonl:2: expected a JSON object, got list"):
        read_studies(path)
    with pytest.raises(InputError, match="no such file"):
        read_studies(tmp_path / "missing.jsonl")


# -- #22 CSV ------------------------------------------------------------------------------------------------------

def test_csv_row_with_more_fields_than_the_header(tmp_path, refs_file, capsys) -> None:  # type: ignore[no-untyped-def]
    """Regression: an unquoted comma cut the report silently ("...size. Stable") with exit 0."""
    path = tmp_path / "preds.csv"
    path.write_text("id,report\na,x .\nb,The cardiac size. Stable, mild p\n", encoding="utf-8")
    code, err = _error(capsys, path, refs_file)
    assert code == 2
    assert err == (f"rrg-eval: error: {path}:3: 3 fields where the header has 2 (more than the header; "
                   "quote fields that contain the delimiter)\n")


def test_csv_row_with_fewer_fields(tmp_path: Path) -> None:
    path = tmp_path / "preds.tsv"
    path.write_text("id\treport\tsource\na\tx\tm\n\nb\ty\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"preds.tsv:4: 2 fields where the header has 3 \(fewer"):
        read_reports(path)


def test_csv_unterminated_quote_is_named(tmp_path, refs_file, capsys) -> None:  # type: ignore[no-untyped-def]
    """Regression: an unclosed quote swallowed the rest of the file and surfaced as "ids do not match"."""
    path = tmp_path / "preds.csv"
    path.write_text('id,report\na,x .\nb,"y .\nc,z .\n', encoding="utf-8")
    code, err = _error(capsys, path, refs_file)
    assert code == 2
    assert err.startswith(f"rrg-eval: error: {path}:3: unterminated quoted field")


def test_csv_quoted_fields_keep_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "preds.csv"
    path.write_text('id,report\na,"two\nlines, with a comma"\nb,"say ""hi"""\n', encoding="utf-8")
    reports = read_reports(path)
    assert reports.texts == {"a": "two\nlines, with a comma", "b": 'say "hi"'}
    assert reports.lines == {"a": 2, "b": 4}
    path.write_text('id,report\na,"x" trailing\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"preds.csv:2: malformed CSV"):
        read_reports(path)


# -- #16 Parquet --------------------------------------------------------------------------------------------------

def test_parquet_reads_only_the_id_and_text_columns(tmp_path: Path) -> None:
    """Regression: every column was read (a 20 kB file with an unused 600 MB column peaked at 1.37 GB).

    The unused column's pages are overwritten with garbage: reading it would fail (pyarrow says so below), so
    a successful read proves that only the two columns were read.
    """
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "preds.parquet"
    table = pa.table({"id": ["a", "b", "c"], "report": ["x", "y", "z"],
                      "pixels": [os.urandom(100_000) for _ in range(3)]})
    pq.write_table(table, path, compression="none", use_dictionary=False)
    chunk = pq.ParquetFile(path).metadata.row_group(0).column(2)
    assert chunk.path_in_schema == "pixels"
    with open(path, "r+b") as handle:
        handle.seek(chunk.data_page_offset)
        handle.write(b"\xff" * chunk.total_compressed_size)
    with pytest.raises(OSError):
        pq.read_table(path)  # all columns: the garbage is read
    reports = read_reports(path)
    assert reports.texts == {"a": "x", "b": "y", "c": "z"}
    assert read_reports(path, id_field="report", text_field="report").texts == {"x": "x", "y": "y", "z": "z"}


def test_parquet_missing_column_lists_the_schema(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "preds.parquet"
    pq.write_table(pa.table({"id": ["a"], "findings": ["x"]}), path)
    with pytest.raises(InputError, match=r'missing column "report" \(columns present: "id", "findings"\)'):
        read_reports(path)


def test_jsonl_line_numbers_survive_crlf_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "preds.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": "a", "report": "x"}\r\n\r\n{"id": "b", "report": "y"}\r\n')
    assert read_reports(path).lines == {"a": 1, "b": 3}


def test_csv_stray_carriage_return_is_named(tmp_path: Path) -> None:
    """Found by the property tests: a bare \\r in an unquoted field raised csv.Error (a traceback)."""
    path = tmp_path / "preds.csv"
    path.write_bytes(b"id,report\na,x\rb\n")
    with pytest.raises(InputError, match=r"preds.csv:2: a carriage return \(\\r\) inside an unquoted field"):
        read_reports(path)


def test_deeply_nested_or_binary_config_file_is_a_config_error(tmp_path, refs_file, capsys) -> None:  # type: ignore[no-untyped-def]
    """The --config YAML is an input file too: deep nesting raised RecursionError (after minutes in PyYAML's
    quadratic pure-Python scanner), bad bytes UnicodeDecodeError."""
    import time

    config = tmp_path / "c.yaml"
    for content, message in ((b"[" * 100_000, "not valid YAML"), (b"bleu: {\xff: 1}\n", "not valid UTF-8")):
        config.write_bytes(content)
        start = time.perf_counter()
        code = main(["score", str(refs_file), str(refs_file), "--metrics", "bleu", "--no-cache",
                     "--config", str(config)])
        assert time.perf_counter() - start < 2.0
        assert code == 2 and capsys.readouterr().err.startswith(f"rrg-eval: error: {config}: {message}")


def test_unpaired_surrogate_is_an_input_error(tmp_path, refs_file, capsys) -> None:  # type: ignore[no-untyped-def]
    """Trying it as a user: a JSON "\\ud800" escape (valid JSON, not valid Unicode) passed the reader and crashed
    the run later with UnicodeEncodeError (references digest, outputs)."""
    path = tmp_path / "preds.jsonl"
    path.write_text('{"id": "a", "report": "x"}\n{"id": "b", "report": "heart \\udc00 normal ."}\n', encoding="utf-8")
    code, err = _error(capsys, path, refs_file)
    assert code == 2 and err == (f'rrg-eval: error: {path}:2: field "report" holds an unpaired surrogate '
                                 '(a "\\udc00" escape without its pair): not valid Unicode text\n')
    path.write_text('{"id": "\\ud800", "report": "x"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r'preds.jsonl:1: field "id" holds an unpaired surrogate'):
        read_studies(path)
    import rrg_eval

    with pytest.raises(InputError, match=r'text of id "a" holds an unpaired surrogate'):
        rrg_eval.score(predictions={"a": "x\udc00"}, references={"a": "x"}, metrics=["bleu"])
