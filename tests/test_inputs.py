"""Every bad input of the issue, through ``rrg_eval.inputs`` and through the CLI (exit 2, one line on stderr).

Also the good inputs: JSONL, JSON arrays, CSV, TSV, Parquet, other id/text fields, integer ids, blank lines, and
empty report texts (valid, counted in warnings). Nothing is written when the input is bad.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rrg_eval.cli import main
from rrg_eval.errors import InputError
from rrg_eval.inputs import as_report_set, pair, read_reports

REFS = [{"id": "a", "report": "the heart is normal in size ."},
        {"id": "b", "report": "no pleural effusion or pneumothorax ."},
        {"id": "c", "report": "mild cardiomegaly . lungs are clear ."}]
PREDS = [{"id": "c", "report": "cardiomegaly . the lungs are clear ."},
         {"id": "a", "report": "heart size is normal ."},
         {"id": "b", "report": "no effusion ."}]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def refs_file(tmp_path: Path) -> Path:
    return _jsonl(tmp_path / "refs.jsonl", REFS)


@pytest.fixture
def preds_file(tmp_path: Path) -> Path:
    return _jsonl(tmp_path / "preds.jsonl", PREDS)


def _cli_error(capsys: pytest.CaptureFixture, preds: Path, refs: Path, *extra: str) -> str:
    """Run ``rrg-eval score`` expecting exit 2; returns the single stderr line; checks nothing was written."""
    out = preds.parent / "out.json"
    per = preds.parent / "per.jsonl"
    code = main(["score", str(preds), str(refs), "--metrics", "bleu", "--no-cache", "--out", str(out),
                 "--per-report", str(per), *extra])
    captured = capsys.readouterr()
    assert code == 2, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("rrg-eval: error: ")
    assert captured.out == ""
    assert not out.exists() and not per.exists()
    return lines[0]


# -- malformed rows --------------------------------------------------------------------------------------------

def test_malformed_json_line(tmp_path: Path, refs_file: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "preds.jsonl"
    bad.write_text('{"id": "a", "report": "x"}\n{"id": "b", "report": "y"\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"preds\.jsonl:2: malformed JSON") as info:
        read_reports(bad)
    assert info.value.line == 2 and info.value.path == str(bad)
    line = _cli_error(capsys, bad, refs_file)
    assert f"{bad}:2: malformed JSON" in line


def test_line_that_is_not_an_object(tmp_path: Path, refs_file: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "preds.jsonl"
    bad.write_text('{"id": "a", "report": "x"}\n["b", "y"]\n', encoding="utf-8")
    assert f"{bad}:2: expected a JSON object, got list" in _cli_error(capsys, bad, refs_file)


@pytest.mark.parametrize("missing", ["id", "report"])
def test_missing_field_lists_fields_present(tmp_path: Path, refs_file: Path, capsys: pytest.CaptureFixture,
                                            missing: str) -> None:
    row = {"id": "b", "report": "y", "images": []}
    del row[missing]
    bad = _jsonl(tmp_path / "preds.jsonl", [{"id": "a", "report": "x"}, row])
    present = ", ".join(f'"{k}"' for k in row)
    with pytest.raises(InputError) as info:
        read_reports(bad)
    assert info.value.line == 2 and info.value.field == missing
    line = _cli_error(capsys, bad, refs_file)
    assert line == f'rrg-eval: error: {bad}:2: missing field "{missing}" (fields present: {present})'


def test_missing_text_field_named_by_option(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    refs = _jsonl(tmp_path / "refs.jsonl", [{"id": "a", "report": "x"}])
    line = _cli_error(capsys, refs, refs, "--text-field", "findings")
    assert line == f'rrg-eval: error: {refs}:1: missing field "findings" (fields present: "id", "report")'


def test_duplicate_ids(tmp_path: Path, refs_file: Path, capsys: pytest.CaptureFixture) -> None:
    bad = _jsonl(tmp_path / "preds.jsonl", [*PREDS, {"id": "a", "report": "again"}])
    with pytest.raises(InputError) as info:
        read_reports(bad)
    assert info.value.field == "id" and info.value.line == 4
    line = _cli_error(capsys, bad, refs_file)
    assert line == f'rrg-eval: error: {bad}:4: duplicate id "a" (first seen on line 2)'


def test_ids_in_predictions_not_in_references(tmp_path: Path, refs_file: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    extra = [{"id": f"x{i}", "report": "z"} for i in range(7)]
    bad = _jsonl(tmp_path / "preds.jsonl", [*PREDS, *extra])
    with pytest.raises(InputError, match="7 id"):
        pair(read_reports(bad), read_reports(refs_file))
    line = _cli_error(capsys, bad, refs_file)
    assert (f'ids do not match: 7 id(s) in {bad} not in {refs_file} (first: "x0", "x1", "x2", "x3", "x4", ...)'
            in line)
    assert f"in {refs_file} not in" not in line


def test_ids_in_references_not_in_predictions(tmp_path: Path, refs_file: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    bad = _jsonl(tmp_path / "preds.jsonl", PREDS[:1])
    line = _cli_error(capsys, bad, refs_file)
    assert line.endswith(f'ids do not match: 2 id(s) in {refs_file} not in {bad} (first: "a", "b")')


def test_ids_missing_both_ways(tmp_path: Path, refs_file: Path, capsys: pytest.CaptureFixture) -> None:
    bad = _jsonl(tmp_path / "preds.jsonl", [*PREDS[:2], {"id": "zz", "report": "q"}])
    line = _cli_error(capsys, bad, refs_file)
    assert f'1 id(s) in {bad} not in {refs_file} (first: "zz")' in line
    assert f'1 id(s) in {refs_file} not in {bad} (first: "b")' in line


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"], ids=["zero-bytes", "blank-lines"])
def test_empty_file(tmp_path: Path, refs_file: Path, capsys: pytest.CaptureFixture, content: bytes) -> None:
    bad = tmp_path / "preds.jsonl"
    bad.write_bytes(content)
    with pytest.raises(InputError, match="empty"):
        read_reports(bad)
    assert _cli_error(capsys, bad, refs_file) == f"rrg-eval: error: {bad}: file is empty (no reports)"
    assert _cli_error(capsys, refs_file, bad) == f"rrg-eval: error: {bad}: file is empty (no reports)"


def test_non_utf8_bytes(tmp_path: Path, refs_file: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "preds.jsonl"
    bad.write_bytes(b'{"id": "a", "report": "x"}\n{"id": "b", "report": "caf\xe9"}\n')
    with pytest.raises(InputError) as info:
        read_reports(bad)
    assert info.value.line == 2
    line = _cli_error(capsys, bad, refs_file)
    assert line.startswith(f"rrg-eval: error: {bad}:2: not valid UTF-8 (byte 0xe9")
    assert "convert the file to UTF-8" in line


@pytest.mark.parametrize(("value", "got"), [(3, "int"), (None, "null"), (1.5, "float"), (["x"], "list")])
def test_non_string_text(tmp_path: Path, refs_file: Path, capsys: pytest.CaptureFixture, value: object,
                         got: str) -> None:
    bad = _jsonl(tmp_path / "preds.jsonl", [PREDS[0], {"id": "b", "report": value}, PREDS[1]])
    with pytest.raises(InputError) as info:
        read_reports(bad)
    assert info.value.field == "report" and info.value.line == 2
    line = _cli_error(capsys, bad, refs_file)
    assert line == f'rrg-eval: error: {bad}:2: field "report" must be a string, got {got}'


@pytest.mark.parametrize("value", [None, True, "  ", 1.5])
def test_bad_id_values(tmp_path: Path, refs_file: Path, capsys: pytest.CaptureFixture, value: object) -> None:
    bad = _jsonl(tmp_path / "preds.jsonl", [PREDS[0], {"id": value, "report": "x"}])
    line = _cli_error(capsys, bad, refs_file)
    assert line.startswith(f'rrg-eval: error: {bad}:2: field "id" ')


def test_missing_file(tmp_path: Path, refs_file: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "nope.jsonl"
    assert _cli_error(capsys, missing, refs_file) == f"rrg-eval: error: {missing}: no such file"


# -- other formats ---------------------------------------------------------------------------------------------

def test_csv_tsv_parquet_and_json_array_read_the_same_reports(tmp_path: Path) -> None:
    import csv

    expected = {r["id"]: r["report"] for r in REFS}
    with open(tmp_path / "r.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "report", "other"])
        writer.writeheader()
        writer.writerows({**r, "other": "1, 2"} for r in REFS)
    with open(tmp_path / "r.tsv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["report", "id"], delimiter="\t")
        writer.writeheader()
        writer.writerows(REFS)
    (tmp_path / "r.json").write_text(json.dumps(REFS, indent=1), encoding="utf-8")
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [r["id"] for r in REFS], "report": [r["report"] for r in REFS]}),
                   tmp_path / "r.parquet")
    for name in ("r.csv", "r.tsv", "r.json", "r.parquet"):
        reports = read_reports(tmp_path / name)
        assert reports.texts == expected, name
        assert reports.ids == ["a", "b", "c"]


def test_csv_missing_column_and_json_array_bad_record(tmp_path: Path, refs_file: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    bad_csv = tmp_path / "preds.csv"
    bad_csv.write_text("id,text\na,x\n", encoding="utf-8")
    assert _cli_error(capsys, bad_csv, refs_file) == \
        f'rrg-eval: error: {bad_csv}:1: missing column "report" (columns present: "id", "text")'
    bad_json = tmp_path / "preds.json"
    bad_json.write_text(json.dumps([{"id": "a", "report": "x"}, {"id": "b", "report": 7}]), encoding="utf-8")
    assert _cli_error(capsys, bad_json, refs_file) == \
        f'rrg-eval: error: {bad_json} [record 2]: field "report" must be a string, got int'


def test_parquet_errors(tmp_path: Path, refs_file: Path, capsys: pytest.CaptureFixture) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    bad = tmp_path / "preds.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "report": ["x", None]}), bad)
    assert _cli_error(capsys, bad, refs_file) == \
        f'rrg-eval: error: {bad} [row 2]: field "report" must be a string, got null'
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not a parquet file at all")
    assert _cli_error(capsys, garbage, refs_file).startswith(f"rrg-eval: error: {garbage}: cannot read Parquet")


def test_text_field_findings_id_field_and_integer_ids(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    refs = _jsonl(tmp_path / "refs.jsonl", [{"study": 1, "findings": "heart normal .", "impression": "normal"},
                                            {"study": 2, "findings": "small effusion .", "impression": "x"}])
    preds = _jsonl(tmp_path / "preds.jsonl", [{"study": "2", "findings": "small effusion ."},
                                              {"study": "1", "findings": "heart normal ."}])
    reports = read_reports(refs, id_field="study", text_field="findings")
    assert reports.texts == {"1": "heart normal .", "2": "small effusion ."}
    code = main(["score", str(preds), str(refs), "--id-field", "study", "--text-field", "findings",
                 "--metrics", "bleu", "--no-cache", "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["n"] == 2
    assert out["scores"]["bleu1"] == pytest.approx(1.0)  # paired by id, not by line order


def test_blank_lines_skipped_and_line_numbers_kept(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('\n{"id": "a", "report": "x"}\n\n   \n{"id": "b", "report": "y"}\n', encoding="utf-8")
    reports = read_reports(path)
    assert reports.texts == {"a": "x", "b": "y"}
    assert reports.lines == {"a": 2, "b": 5}
    path.write_text('\n{"id": "a", "report": "x"}\n\n{"id": "b"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"r\.jsonl:4: missing field"):
        read_reports(path)


def test_empty_texts_are_valid_and_counted(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    refs = _jsonl(tmp_path / "refs.jsonl", [*REFS, {"id": "d", "report": ""}])
    preds = _jsonl(tmp_path / "preds.jsonl", [*PREDS, {"id": "d", "report": "  "}])
    preds2 = _jsonl(tmp_path / "preds2.jsonl", [{"id": "a", "report": ""}, *PREDS[:1], PREDS[2],
                                                {"id": "d", "report": "x"}])
    code = main(["score", str(preds), str(refs), "--metrics", "bleu", "--no-cache", "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["n"] == 4
    assert any(w.startswith("input: 1 empty prediction(s)") and "ids: d" in w for w in out["warnings"])
    assert any(w.startswith("input: 1 empty reference(s)") and "ids: d" in w for w in out["warnings"])
    code = main(["score", str(preds2), str(refs), "--metrics", "bleu", "--no-cache", "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert any(w.startswith("input: 1 empty prediction(s)") and "ids: a" in w for w in out["warnings"])


# -- the Python side ---------------------------------------------------------------------------------------------

def test_as_report_set_accepts_lists_mappings_and_paths(refs_file: Path) -> None:
    assert as_report_set(["x", "y"], role="predictions").texts == {"0": "x", "1": "y"}
    assert as_report_set({1: "x", "b": "y"}, role="predictions").texts == {"1": "x", "b": "y"}
    assert as_report_set(str(refs_file), role="references").ids == ["a", "b", "c"]
    assert as_report_set(refs_file, role="references").ids == ["a", "b", "c"]


@pytest.mark.parametrize(("obj", "match"), [([], "no reports given"), ({}, "no reports given"),
                                            (["x", 3], "item 1 must be a string, got int"),
                                            ({"a": None}, 'text of id "a" must be a string, got NoneType'),
                                            (3.5, "expected a path, a list of texts"),
                                            ({"1": "x", 1: "y"}, 'duplicate id "1"')])
def test_as_report_set_rejects_bad_objects(obj: object, match: str) -> None:
    with pytest.raises(InputError, match=match):
        as_report_set(obj, role="predictions")


def test_pair_aligns_by_id(preds_file: Path, refs_file: Path) -> None:
    pairs = pair(read_reports(preds_file), read_reports(refs_file))
    assert pairs.ids == ["a", "b", "c"]
    assert pairs.references == [r["report"] for r in REFS]
    assert pairs.predictions == ["heart size is normal .", "no effusion .", "cardiomegaly . the lungs are clear ."]


def test_json_array_with_byte_order_mark(tmp_path: Path) -> None:
    """Regression: a UTF-8 BOM before "[" was read as JSON Lines and failed as malformed JSON."""
    path = tmp_path / "r.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(REFS, indent=2).encode("utf-8"))
    assert read_reports(path).texts == {r["id"]: r["report"] for r in REFS}
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(r) + "\n" for r in REFS).encode("utf-8"))
    assert read_reports(jsonl).ids == ["a", "b", "c"]


def test_duplicate_ids_in_json_array_and_parquet_name_records(tmp_path: Path, refs_file: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    """Regression: duplicates in record-based files were reported as "line N" (a record index)."""
    bad = tmp_path / "preds.json"
    bad.write_text(json.dumps([*PREDS, {"id": "c", "report": "again"}]), encoding="utf-8")
    assert _cli_error(capsys, bad, refs_file) == \
        f'rrg-eval: error: {bad} [record 4]: duplicate id "c" (first seen in record 1)'
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    parquet = tmp_path / "preds.parquet"
    pq.write_table(pa.table({"id": [1, 2, 1], "report": ["x", "y", "z"]}), parquet)
    assert _cli_error(capsys, parquet, refs_file) == \
        f'rrg-eval: error: {parquet} [row 3]: duplicate id "1" (first seen in row 1)'


def test_cli_pairs_across_formats(tmp_path: Path, refs_file: Path, capsys: pytest.CaptureFixture) -> None:
    """Parquet predictions against JSONL references give the JSONL-vs-JSONL numbers (pairing by id)."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    preds_jsonl = _jsonl(tmp_path / "preds.jsonl", PREDS)
    preds_parquet = tmp_path / "preds.parquet"
    pq.write_table(pa.table({"id": [r["id"] for r in PREDS], "report": [r["report"] for r in PREDS]}),
                   preds_parquet)
    outputs = []
    for preds in (preds_jsonl, preds_parquet):
        assert main(["score", str(preds), str(refs_file), "--metrics", "bleu,rouge", "--no-cache",
                     "--format", "json"]) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    assert outputs[0] == outputs[1] and outputs[0]["n"] == 3
