"""``json_overlap`` with ``convention=r2gen2``: R2Gen2's published "custom JSON overlap", exactly.

The definition is ``evaluate_labels`` in R2Gen2's training notebook (GitHub aayushv001/R2Gen2,
``Training/train_model.ipynb``, the cell before the one printing 0.7632). Its behaviour, as read there: delete
``\\n } { " : [ ] ,``; ``split(" ")``; drop ``""`` and 14 schema words; count words that are case-sensitive
substrings of the raw reference; divide by the number of words (ZeroDivisionError when there is none); mean.

Three independent checks of rrg-eval's implementation: hand-computed values (comments show the work), the two
examples of issue 12, and :func:`restated` below, a second statement of the same behaviour written from that
description character by character (no ``str.translate``, no ``str.split``, no ``in`` on strings), compared per
report on 600 seeded random cases and on hypothesis' cases.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rrg_eval
from rrg_eval.cli import main
from rrg_eval.errors import ConfigError
from rrg_eval.metrics.r2gen2_overlap import r2gen2_counts, r2gen2_overlap, r2gen2_words
from rrg_eval.metrics.registry import load_metric

# -- the second statement of the definition ------------------------------------------------------------------

_DELETED = ("\n", "}", "{", '"', ":", "[", "]", ",")
_SCHEMA_WORDS = ("Sentences", "anatomical", "entity", "location_descriptor", "null", "procedure", "clinical",
                 "findings", "finding", "existence", "pos_dx", "neg_dx", "unc_dx", "observation")


def _occurs(word: str, text: str) -> bool:
    """Case-sensitive substring test by comparing every window (no ``in``, no ``find``)."""
    width = len(word)
    return any(text[start:start + width] == word for start in range(len(text) - width + 1))


def restated(generated: str, reference: str) -> float | None:
    """R2Gen2's per-report value, restated; None where the published code raises ZeroDivisionError."""
    words: list[str] = []
    current = ""
    for char in generated:
        if char in _DELETED:
            continue
        if char == " ":
            words.append(current)
            current = ""
        else:
            current += char
    words.append(current)
    counted = [w for w in words if w != "" and all(w != s for s in _SCHEMA_WORDS)]
    if not counted:
        return None
    return sum(1 for w in counted if _occurs(w, reference)) / len(counted)


def _value(generated: str, reference: str) -> float:
    return load_metric("json_overlap", convention="r2gen2").compute(
        predictions=[generated], references=[reference]).scores["json_overlap_r2gen2"]


# -- the issue's two examples ----------------------------------------------------------------------------------

ISSUE_R2GEN2 = ('{"Sentences": [{"anatomical entity": "heart", "location_descriptor": null, "procedure": [null], '
                '"clinical findings": [{"clinical finding": "heart size", "existence": "neg_dx", '
                '"observation": "within normal limits"}]}]}')
ISSUE_RRG = '[{"anatomical_entity": "heart", "clinical_findings": []}]'


def test_the_two_examples_of_issue_12() -> None:
    # 1: counted words heart, heart, size, within, normal, limits; "heart" is not in "Heart ..." (case) -> 4/6
    assert r2gen2_words(ISSUE_R2GEN2) == ["heart", "heart", "size", "within", "normal", "limits"]
    assert _value(ISSUE_R2GEN2, "Heart size within normal limits.") == 4 / 6
    assert round(_value(ISSUE_R2GEN2, "Heart size within normal limits."), 3) == 0.667
    # 2: anatomical_entity and clinical_findings (underscored) are not schema words; none of the three occurs
    assert r2gen2_words(ISSUE_RRG) == ["anatomical_entity", "heart", "clinical_findings"]
    assert _value(ISSUE_RRG, "Heart size is normal.") == 0.0
    for generated, reference in ((ISSUE_R2GEN2, "Heart size within normal limits."),
                                 (ISSUE_RRG, "Heart size is normal.")):
        assert restated(generated, reference) == _value(generated, reference)


# -- hand-computed cases ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("generated", "reference", "expected"), [
    # "art" is a substring of "heart"; "Lungs" (capital) is not in "lungs clear" -> 1/2
    ("art Lungs", "heart; lungs clear", 1 / 2),
    # two spaces make an empty word (dropped); a tab does not split: "a\tb" is one word, not in the reference
    ("lung  clear a\tb", "lung clear", 2 / 3),
    # ":" "," "[" are deleted, so "effusion:" -> "effusion", "[left," -> "left"; "Sentences" is a schema word
    ('Sentences effusion: [left, "small"]', "small left effusion", 3 / 3),
    # "\r" and "'" are kept: "clear\r" and "'opacity'" are not in the reference; "no" is
    ("no clear\r 'opacity'", "no opacity, lungs clear", 1 / 3),
    # newlines are deleted, not turned into spaces: "heart\nsize" -> "heartsize"
    ("heart\nsize", "heart size", 0 / 1),
    # repeats count every time: normal x3 found, "abnormal" found (substring of itself), "Normal" not
    ("normal normal normal Normal abnormal", "abnormal", 4 / 5),
    # unicode: compared code point by code point, no normalisation ("é" composed vs "e" + U+0301)
    ("côte c\u0302ote ß", "la côte, straße", 2 / 3),
    # schema words only in another case are counted: "Observation" and "NULL" are words
    ("Observation NULL observation null", "Observation", 1 / 2),
])
def test_hand_computed(generated: str, reference: str, expected: float) -> None:
    assert _value(generated, reference) == expected
    assert restated(generated, reference) == expected


def test_empty_word_lists_score_zero_and_are_counted() -> None:
    # the published code raises ZeroDivisionError on these; rrg-eval scores 0.0 and says so
    empties = ["", "   ", "{}", '{"Sentences": [{"anatomical entity": null, "procedure": [null]}]}', "\n\n",
               "pos_dx neg_dx unc_dx null"]
    for text in empties:
        assert restated(text, "anything") is None
    preds = [*empties, "heart"]
    score = load_metric("json_overlap", convention="r2gen2").compute(
        predictions=preds, references=["heart"] * len(preds), ids=[f"e{i}" for i in range(len(preds))])
    np.testing.assert_array_equal(score.per_report["json_overlap_r2gen2"], [0.0] * len(empties) + [1.0])
    assert score.scores["json_overlap_r2gen2"] == 1 / len(preds)
    assert score.warnings == [
        "json_overlap: json_overlap_r2gen2: 6 of 7 predictions have no word left after R2Gen2's stripping and "
        "schema-word list (R2Gen2's evaluate_labels divides by zero on them); scored 0 "
        "(ids: e0, e1, e2, e3, e4, e5)"]


def test_counts_are_per_word_occurrence() -> None:
    assert r2gen2_counts("a b a c", "a c") == (3, 4)
    assert r2gen2_overlap(["a b", "x"], ["a", "x"]) == [0.5, 1.0]


# -- generated cases against the second statement ----------------------------------------------------------------

_VOCAB = ["heart", "Heart", "size", "normal", "Normal", "lungs", "clear", "effusion", "no", "pleural", "art",
          "côte", "c\u0302ote", "ß", "İ", "😀", "x-ray", "T12", "", "'", "\t", "\r", "within", "limits", *_SCHEMA_WORDS,
          "Null", "NEG_DX"]
_CHARS = [" ", "  ", "\n", "{", "}", "[", "]", ",", ":", '"', "'", "\t", "\r", "\\", "é", "\u0301", "\u00a0"]


def _random_finding(rng: random.Random) -> dict:
    finding = {"clinical finding": " ".join(rng.choices(_VOCAB, k=rng.randint(0, 3))),
               "existence": rng.choice(["pos_dx", "neg_dx", "unc_dx"]),
               "observation": " ".join(rng.choices(_VOCAB, k=rng.randint(0, 3)))}
    if rng.random() < 0.3:
        finding["descriptive_term"] = rng.choice(_VOCAB)
    return finding


def _random_r2gen2(rng: random.Random) -> str:
    sentences = [{"anatomical entity": rng.choice([None, rng.choice(_VOCAB)]),
                  "location_descriptor": rng.choice([None, "left", "Right"]),
                  "procedure": [rng.choice([None, "chest x-ray"])],
                  "clinical findings": [_random_finding(rng) for _ in range(rng.randint(0, 3))]}
                 for _ in range(rng.randint(0, 4))]
    return json.dumps({"Sentences": sentences}, indent=rng.choice([None, 2, 4]), ensure_ascii=rng.random() < 0.3)


def _random_case(rng: random.Random) -> tuple[str, str]:
    kind = rng.randrange(5)
    if kind == 0:  # R2Gen2's schema, as the model writes it
        generated = _random_r2gen2(rng)
    elif kind == 1:  # malformed: truncated R2Gen2 JSON
        full = _random_r2gen2(rng)
        generated = full[:rng.randint(0, len(full))]
    elif kind == 2:  # arbitrary mixtures of words and the deleted characters
        generated = "".join(rng.choice(_VOCAB + _CHARS) for _ in range(rng.randint(0, 30)))
    elif kind == 3:  # prose, fenced JSON
        generated = "Here it is:\n```json\n" + _random_r2gen2(rng) + "\n```"
    else:  # empty and whitespace-only outputs
        generated = rng.choice(["", " ", "\n", "  \n ", "{}", "[]"])
    reference = " ".join(rng.choices(_VOCAB + ["Heart size within normal limits.", "No effusion."],
                                     k=rng.randint(0, 12)))
    return generated, reference


def test_600_seeded_random_cases_equal_the_second_statement_per_report() -> None:
    rng = random.Random(20261201)
    cases = [_random_case(rng) for _ in range(600)]
    generated, references = zip(*cases)
    score = load_metric("json_overlap", convention="r2gen2").compute(predictions=list(generated),
                                                                   references=list(references))
    expected = [restated(g, r) for g, r in cases]
    got = score.per_report["json_overlap_r2gen2"]
    for value, want, case in zip(got, expected, cases):
        assert value == (0.0 if want is None else want), case  # identical floats, not approximately equal
    assert score.scores["json_overlap_r2gen2"] == pytest.approx(np.mean([0.0 if e is None else e for e in expected]),
                                                                abs=1e-15)
    assert sum(e is None for e in expected) >= 20  # the empty-word-list branch is exercised
    assert sum(0 < e < 1 for e in expected if e is not None) >= 100


@settings(max_examples=300, deadline=None)
@given(generated=st.lists(st.sampled_from(_CHARS + [" heart", "Heart", "null", "ß", "a", "b", "neg_dx"])).map("".join),
       reference=st.lists(st.sampled_from(["heart", "Heart", " ", "a", "b", "ß", "null", "\n"])).map("".join))
def test_hypothesis_cases_equal_the_second_statement(generated: str, reference: str) -> None:
    want = restated(generated, reference)
    assert r2gen2_overlap([generated], [reference]) == [0.0 if want is None else want]


# -- interface -------------------------------------------------------------------------------------------------

def test_api_key_column_and_signature() -> None:
    result = rrg_eval.score(predictions={"a": ISSUE_R2GEN2, "b": ISSUE_RRG},
                            references={"a": "Heart size within normal limits.", "b": "Heart size is normal."},
                            metrics=["json_overlap"], json_overlap={"convention": "r2gen2"}, use_cache=False)
    assert result.scores == {"json_overlap_r2gen2": pytest.approx((4 / 6 + 0.0) / 2)}
    assert list(result.per_report["json_overlap_r2gen2"]) == [4 / 6, 0.0]
    signature = result.signatures["json_overlap"]
    assert "|convention:r2gen2|" in signature and "schema:" not in signature
    default = load_metric("json_overlap").signature()
    assert "|convention:rrg-eval|" in default


def test_both_conventions_at_once_in_one_order() -> None:
    a = load_metric("json_overlap", convention="r2gen2,rrg-eval")
    b = load_metric("json_overlap", convention=("rrg-eval", "r2gen2"))
    assert a.config.convention == b.config.convention == ("rrg-eval", "r2gen2")
    score = a.compute(predictions=[ISSUE_R2GEN2], references=["Heart size within normal limits."])
    # rrg-eval's convention reads R2Gen2's schema: heart, heart size, within normal limits all found -> 1.0
    assert score.scores == {"json_value_recall": 1.0, "json_invalid_rate": 0.0, "json_overlap_r2gen2": 4 / 6}
    assert "|convention:rrg-eval,r2gen2|schema:r2gen2|ref_schema:text|" in score.signature


@pytest.mark.parametrize("bad", ["", "r2gen", "rrg-eval,bleu"])
def test_unknown_convention_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match="convention"):
        load_metric("json_overlap", convention=bad)


def test_cli_set_convention(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    preds = tmp_path / "preds.jsonl"
    refs = tmp_path / "refs.jsonl"
    preds.write_text(json.dumps({"id": "1", "report": ISSUE_R2GEN2}) + "\n")
    refs.write_text(json.dumps({"id": "1", "report": "Heart size within normal limits."}) + "\n")
    code = main(["score", str(preds), str(refs), "--no-cache", "--metrics", "json_overlap",
                 "--set", "json_overlap.convention=r2gen2", "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["scores"] == {"json_overlap_r2gen2": 4 / 6}
    assert "convention:r2gen2" in out["signatures"]["json_overlap"]
