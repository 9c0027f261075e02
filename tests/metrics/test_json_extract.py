"""JSON extraction for ``json_overlap``: chat output, linear time, bounded depth (issue 12 #4, issue 11 #13/#14).

Expected values are written by hand or are :func:`json.loads`'s (Python 3.11 standard library) on the same text.
"""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rrg_eval.metrics.json_extract import MAX_DEPTH, _Reader, extract_json, strip_fence
from rrg_eval.metrics.registry import load_metric

GOOD = {"anatomical_entity": "heart", "clinical_findings": [
    {"clinical_finding": "heart size", "existence": "neg_dx", "descriptive_term": None, "observation": "cardiomegaly"}]}


def _ok(text: str, **kwargs: object) -> object:
    return extract_json(text, **kwargs)  # type: ignore[arg-type]


def _bad(text: str, **kwargs: object) -> str:
    with pytest.raises(json.JSONDecodeError) as info:
        extract_json(text, **kwargs)  # type: ignore[arg-type]
    return info.value.msg


# -- what users expect from chat output ------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    json.dumps(GOOD),
    "Here is the report:\n```json\n" + json.dumps(GOOD, indent=2) + "\n```\nLet me know if you need more.",
    "```\n" + json.dumps(GOOD) + "\n```",
    "```json " + json.dumps(GOOD) + "```",
    "Sure! " + json.dumps(GOOD) + " Hope this helps.",
    json.dumps(GOOD) + "\n\nNote: {not json}",  # what follows the first complete value is ignored
    "{heart} is fine; the JSON: " + json.dumps(GOOD),  # a bracket that opens no JSON is passed over
    "1. Findings: " + json.dumps(GOOD),  # a list number before the JSON is not "the value"
    # trailing commas and single quotes, as models write them (Python's None too)
    "{'anatomical_entity': 'heart', 'clinical_findings': [{'clinical_finding': 'heart size', "
    "'existence': 'neg_dx', 'descriptive_term': None, 'observation': 'cardiomegaly',},],}",
    '{"anatomical_entity": "heart",\n "clinical_findings": [{"clinical_finding": "heart size",\n'
    '  "existence": "neg_dx", "descriptive_term": null, "observation": "cardiomegaly",\n },\n ],\n}',
])
def test_chat_output_gives_the_json(text: str) -> None:
    assert _ok(text) == GOOD


def test_single_quoted_strings_and_escapes() -> None:
    assert _ok("""['it\\'s', 'say "no"', 'a\\\\b', '\\u00e9\\n', "x'y"]""") == [
        "it's", 'say "no"', "a\\b", "é\n", "x'y"]
    assert _ok("['\\\\']") == ["\\"]  # an escaped backslash before the closing quote
    assert _ok("{'a': True, 'b': False}") == {"a": True, "b": False}


@pytest.mark.parametrize("text", ["[1,]", '{"a": 1,}', "{'a': 1}", "```json\n[1]\n``` and more", '{"a":1} x'])
def test_strict_mode_is_json_loads_inside_an_optional_fence(text: str) -> None:
    _bad(text, mode="strict")
    assert _ok(text) is not None  # lenient mode reads each of them


def test_strict_fence_stripping_matches_the_former_pattern() -> None:
    former = re.compile(r"^\s*```[a-zA-Z]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)  # cubic; only short inputs here
    cases = ["```json\n[1]\n```", "```\n[1]```", "  ```json [1] ```  ", "``````", "```json```", "```", "`````",
             "```ab\n```\n", "[1]", "```json\n[1]\n``` x", "```x``` ```", "\u00a0```[2]```\u2003"]
    for text in cases:
        match = former.match(text)
        inner = strip_fence(text)
        assert (match is None) == (inner is None), text
        if match:
            assert match.group(1) == inner.strip(), text  # type: ignore[union-attr]


@given(st.lists(st.sampled_from(["`", "``", "```", " ", "\n", "json", "x", "[1]", "\t"]), max_size=12).map("".join))
@settings(max_examples=300, deadline=None)
def test_strict_fence_stripping_matches_the_former_pattern_on_random_text(text: str) -> None:
    former = re.compile(r"^\s*```[a-zA-Z]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
    match = former.match(text)
    inner = strip_fence(text)
    assert (match is None) == (inner is None)
    if match:
        assert match.group(1) == inner.strip()  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "message"), [
    ("", "no JSON object or array found"),
    ("just text", "no JSON object or array found"),
    ('{"anatomical_entity": "lung", ', "Expecting property name"),
    ('{"a": 1 "b": 2} {"c": 3}', "Expecting ',' delimiter"),  # JSON that broke: nothing inside it is tried
    ("```json\n{'a': }\n```", "Expecting value"),
    ('["unterminated', "Unterminated string"),
    ("[1, 2", "Expecting ',' delimiter"),
])
def test_what_cannot_be_read_is_a_json_error(text: str, message: str) -> None:
    assert message in _bad(text)


def test_fences_off_refuses_fenced_json() -> None:
    assert "code fence" in _bad("```json\n[1]\n```", fences=False)
    assert _ok("[1] and ```code```", fences=False) == [1]


# -- issue 11 #14: deep nesting is invalid JSON, never a RecursionError -------------------------------------------

@pytest.mark.parametrize("text", ["[" * 1000 + "]" * 1000, "[" * 100_000, '{"a":' * 5000 + "1" + "}" * 5000,
                                  '{"Sentences": ' + "[" * 2000 + "]" * 2000 + "}"])
def test_deep_nesting_is_invalid_json(text: str) -> None:
    for mode in ("lenient", "strict"):
        assert "nested deeper" in _bad(text, mode=mode)
    assert _ok("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None  # the bound itself is accepted


def test_deep_prediction_and_reference_are_counted_not_raised() -> None:
    deep = "[" * 1000 + "]" * 1000
    metric = load_metric("json_overlap", convention="rrg-eval,r2gen2")
    # the default set asks skip_reason on every run: not JSON, so not run by default (and no RecursionError)
    assert "no prediction is JSON" in metric.skip_reason(predictions=[deep], references=["x"])
    score = metric.compute(predictions=[deep, json.dumps(GOOD)], references=[deep, "No cardiomegaly."],
                           ids=["deep", "ok"])
    assert score.scores["json_invalid_rate"] == 0.5
    np.testing.assert_array_equal(score.per_report["json_invalid"], [1.0, 0.0])
    assert "ids: deep" in score.warnings[0]


# -- issue 11 #13: fence stripping is linear ---------------------------------------------------------------------

ADVERSARIAL = [
    "```" + " " * 100_000 + "x",  # issue 11 #13: 80 s at 4,000 spaces with the former pattern
    "```" + " " * 50_000 + "\n" * 50_000 + "```",
    "```json\n" + "[" * 50_000,
    "[" * 100_000, "{" * 100_000, "{a" * 50_000, "[{" * 50_000, "{[" * 50_000, "[1]" * 33_000,
    "[" + "1," * 50_000, "[" + '"ab",' * 20_000, "{" + '"k": "v",' * 11_000, '["' + '[\\"' * 33_000,
    "['" + "[\\'" * 33_000, "'" * 100_000, '"' * 100_000, "\\" * 100_000, "x" * 100_000, " " * 100_000,
    "```" * 33_000, "[1, 2" + " " * 100_000, "{'a': '" + "\\'" * 50_000, "1" * 100_000, "-" * 100_000,
    "[" + "1" * 5000 + "]",  # more digits than int() converts by default: invalid, not a ValueError traceback
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=[f"adversarial{i}" for i in range(len(ADVERSARIAL))])
def test_100kb_adversarial_inputs_finish_in_under_2_s(text: str) -> None:
    metric = load_metric("json_overlap", convention="rrg-eval,r2gen2")
    started = time.perf_counter()
    metric.skip_reason(predictions=[text], references=[text])
    score = metric.compute(predictions=[text], references=[text])
    elapsed = time.perf_counter() - started
    assert set(score.scores) >= {"json_value_recall", "json_invalid_rate", "json_overlap_r2gen2"}
    assert elapsed < 2.0, f"{elapsed:.2f} s"  # generous: milliseconds on a quiet machine


# -- property-based: random and adversarial text ends as a value or a counted invalid ----------------------------

_JSONISH = st.sampled_from(list("{}[]\",:'\\ \n\t`-0123456789.eEtrufalsn") +
                           ["```", "```json\n", "true", "null", "None", '"a"', "'b'", "1e400", "NaN", "\u00e9", "😀"])


@given(st.one_of(st.text(max_size=200), st.lists(_JSONISH, max_size=80).map("".join)))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_text_is_a_value_or_a_json_error(text: str) -> None:
    for mode in ("lenient", "strict"):
        try:
            extract_json(text, mode=mode)
        except json.JSONDecodeError:
            pass


@given(st.lists(st.one_of(st.text(max_size=60), st.lists(_JSONISH, max_size=60).map("".join)), min_size=1,
                max_size=5))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_predictions_end_as_a_score_or_counted_invalid(texts: list[str]) -> None:
    metric = load_metric("json_overlap", convention="rrg-eval,r2gen2")
    metric.skip_reason(predictions=texts, references=texts[::-1])
    score = metric.compute(predictions=texts, references=texts[::-1])
    assert 0.0 <= score.scores["json_invalid_rate"] <= 1.0
    assert 0.0 <= score.scores["json_value_recall"] <= 1.0
    assert 0.0 <= score.scores["json_overlap_r2gen2"] <= 1.0
    invalid = score.per_report["json_invalid"]
    assert score.scores["json_invalid_rate"] == pytest.approx(invalid.mean())


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30)


@given(_JSON_VALUES, st.sampled_from([None, 0, 2]), st.booleans())
@settings(max_examples=300, deadline=None)
def test_own_reader_equals_json_loads_on_valid_json(value: object, indent: int | None, ascii_only: bool) -> None:
    text = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    expected = json.loads(text)
    for lenient in (False, True):
        got, end = _Reader(text, lenient=lenient).read(0)  # the pure-Python reader, not the C fast path
        assert got == expected and end == len(text)
    assert extract_json(text, mode="strict") == expected
    if isinstance(expected, (dict, list)):
        assert extract_json("Answer:\n```json\n" + text + "\n```\nDone.") == expected


def _lenient_dumps(value: object, draw: st.DrawFn) -> str:
    """Write ``value`` the way chat models do: single quotes here and there, trailing commas, Python literals."""
    if isinstance(value, str):
        if draw(st.booleans()):
            body = json.dumps(value)[1:-1].replace('\\"', '"').replace("'", "\\'")
            return "'" + body + "'"
        return json.dumps(value)
    if value is None or isinstance(value, bool):
        return draw(st.sampled_from([json.dumps(value), repr(value)]))
    if isinstance(value, list):
        items = [_lenient_dumps(v, draw) for v in value]
        comma = "," if items and draw(st.booleans()) else ""
        return "[" + ", ".join(items) + comma + "]"
    if isinstance(value, dict):
        items = [f"{_lenient_dumps(k, draw)}: {_lenient_dumps(v, draw)}" for k, v in value.items()]
        comma = "," if items and draw(st.booleans()) else ""
        return "{" + ",\n ".join(items) + comma + "}"
    return json.dumps(value)


@st.composite
def _lenient_case(draw: st.DrawFn) -> tuple[object, str]:
    value = draw(st.lists(_JSON_VALUES, max_size=4) | st.dictionaries(st.text(max_size=8), _JSON_VALUES, max_size=4))
    return value, _lenient_dumps(value, draw)


@given(_lenient_case())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_trailing_commas_single_quotes_and_python_literals_read_as_users_expect(case: tuple[object, str]) -> None:
    value, text = case
    assert extract_json(text) == value
    assert extract_json("Here you go: " + text + " -- end") == value


def test_a_number_too_long_for_int_is_a_json_error() -> None:
    assert "number not readable" in _bad("[" + "1" * 5000 + "]")
    assert "number not readable" in _bad("[" + "1" * 5000 + "]", mode="strict")
