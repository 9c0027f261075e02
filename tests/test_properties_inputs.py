"""Property-based tests (hypothesis) of the readers and the normalisers (issue 11).

Random and adversarial files end as reports or as an :class:`InputError` naming the file, never as another
exception; every normalisation of any text is a string. Time stays linear: a 100 kB input of the worst shapes we
know finishes in under 2 s (a generous bound, not a benchmark).
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rrg_eval.errors import InputError
from rrg_eval.inputs import ReportSet, read_reports
from rrg_eval.normalize import normalize

SUFFIXES = [".jsonl", ".json", ".csv", ".tsv"]
MODES = ["none", "lower", "r2gen", "r2gen_mimic"]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
rows = st.dictionaries(st.sampled_from(["id", "report", "x", "ID", ""]), json_values, max_size=4)
# characters that matter to the formats, mixed with everything else
tricky_text = st.text(alphabet=st.sampled_from(list('{}[]",:\\\n\r\t \'\x00\ufeff\u2028aZ0.-=é')) | st.characters(),
                      max_size=200)


def _read(path: Path) -> ReportSet | None:
    """Read ``path``: reports or an InputError naming the file; any other exception fails the test."""
    try:
        return read_reports(path)
    except InputError as exc:
        assert str(path) in str(exc)
        return None


def _check(tmp_path: Path, suffix: str, data: bytes) -> ReportSet | None:
    path = tmp_path / f"in{suffix}"
    path.write_bytes(data)
    result = _read(path)
    if result is not None:
        assert len(result) > 0 and all(isinstance(t, str) for t in result.texts.values())
        assert set(result.lines) == set(result.texts)
        for rid, text in result.texts.items():  # every id and text can be hashed, tokenised and written as UTF-8
            rid.encode("utf-8"), text.encode("utf-8")
    return result


@SETTINGS
@given(data=st.binary(max_size=600), suffix=st.sampled_from(SUFFIXES))
def test_random_bytes_are_reports_or_an_input_error(tmp_path: Path, data: bytes, suffix: str) -> None:
    _check(tmp_path, suffix, data)


@SETTINGS
@given(text=tricky_text, suffix=st.sampled_from(SUFFIXES))
def test_random_text_is_reports_or_an_input_error(tmp_path: Path, text: str, suffix: str) -> None:
    _check(tmp_path, suffix, text.encode("utf-8", "surrogatepass"))


@SETTINGS
@given(items=st.lists(rows, max_size=6), cut=st.integers(min_value=0, max_value=400),
       junk=st.text(max_size=5))
def test_mutated_json_lines_and_arrays(tmp_path: Path, items: list, cut: int, junk: str) -> None:
    lines = "".join(json.dumps(r) + "\n" for r in items)
    _check(tmp_path, ".jsonl", lines.encode())
    _check(tmp_path, ".jsonl", (lines[:cut] + junk + lines[cut:]).encode("utf-8", "surrogatepass"))
    array = json.dumps(items)
    _check(tmp_path, ".json", array.encode())
    _check(tmp_path, ".json", (array[:cut] + junk + array[cut:]).encode("utf-8", "surrogatepass"))


@SETTINGS
@given(header=st.lists(st.sampled_from(["id", "report", "other", ""]), min_size=1, max_size=4),
       body=st.lists(st.lists(tricky_text, max_size=5), max_size=6), quote=st.booleans(),
       suffix=st.sampled_from([".csv", ".tsv"]))
def test_csv_and_tsv_grids(tmp_path: Path, header: list, body: list, quote: bool, suffix: str) -> None:
    delimiter = "\t" if suffix == ".tsv" else ","
    if quote:  # well-formed quoting: a result must hold exactly the written cells
        out = io.StringIO()
        writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(body)
        text = out.getvalue()
    else:  # raw joins: delimiters and quotes inside cells
        text = "\n".join(delimiter.join(row) for row in [header, *body])
    result = _check(tmp_path, suffix, text.encode("utf-8", "surrogatepass"))
    if result is not None and quote:
        assert len(result) == len([r for r in body if r])


@settings(max_examples=300, deadline=None)
@given(text=tricky_text | st.text(max_size=300), mode=st.sampled_from(MODES))
def test_normalize_returns_text_for_any_input(text: str, mode: str) -> None:
    out = normalize(text, mode)  # type: ignore[arg-type]
    assert isinstance(out, str)
    if mode == "lower":
        assert out == text.lower()
    if mode.startswith("r2gen"):
        assert out.endswith(" .")


# -- 100 kB adversarial inputs: linear time ---------------------------------------------------------------------

KB100 = 100_000
BIG_INPUTS = {
    "deep.jsonl": "[" * KB100,
    "deep.json": "[" * (KB100 // 2) + "]" * (KB100 // 2),
    "quotes.csv": "id,report\n" + '"' * KB100,
    "open-quote.csv": 'id,report\na,"' + "x," * (KB100 // 2),
    "long-field.csv": 'id,report\na,"' + "y" * (KB100 - 20) + '"\n',
    "many-fields.tsv": "id\treport\n" + "a\t" * (KB100 // 2),
    "many-rows.jsonl": "".join(json.dumps({"id": str(i), "report": "x"}) + "\n" for i in range(KB100 // 30)),
    "backslashes.jsonl": '{"id": "a", "report": "' + "\\" * (KB100 - 1) + '"}\n',
    "blank.jsonl": "\n" * KB100 + '{"id": "a", "report": "x"}\n',
}


@pytest.mark.parametrize("name", sorted(BIG_INPUTS))
def test_100kb_adversarial_file_reads_in_under_2s(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(BIG_INPUTS[name], encoding="utf-8")
    start = time.perf_counter()
    _read(path)
    assert time.perf_counter() - start < 2.0


BIG_TEXTS = {
    "dots": "." * KB100, "dot-space": ". " * (KB100 // 2), "numbered": "1. 2. 3. 4. 5. " * (KB100 // 15),
    "spaces": " " * KB100, "underscores": "_" * KB100, "newlines": "\n" * KB100,
    "punctuation": "[.,?;*!%^&_+():-{}]" * (KB100 // 19), "words": "The Heart Is Normal. " * (KB100 // 21),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(BIG_TEXTS))
def test_100kb_adversarial_text_normalises_in_under_2s(name: str, mode: str) -> None:
    start = time.perf_counter()
    assert isinstance(normalize(BIG_TEXTS[name], mode), str)  # type: ignore[arg-type]
    assert time.perf_counter() - start < 2.0
