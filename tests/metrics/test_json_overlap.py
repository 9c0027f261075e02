"""``json_overlap``: value recall, finding-triple precision/recall/F1, invalid-JSON handling, default-set skipping.

Expected numbers are computed by hand in the comments (no external reference implementation exists).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import rrg_eval
from rrg_eval.metrics.json_overlap import SchemaError, clean_text, parse_structured, phrase_in
from rrg_eval.metrics.registry import load_metric
from rrg_eval.render import render_result


def _finding(finding: str | None, existence: str, observation: str | None, term: str | None = None) -> dict:
    return {"clinical_finding": finding, "existence": existence, "descriptive_term": term, "observation": observation}


def _sentence(entity: str | None, *findings: dict, location: str | None = None, procedure: str | None = None) -> dict:
    return {"anatomical_entity": entity, "location_descriptor": location, "procedure": procedure,
            "clinical_findings": list(findings)}


# -- value recall against free-text references -------------------------------------------------------------------

def test_value_recall_by_hand() -> None:
    preds = [
        # values: "left lung" (found), "effusion" (found), "small" (not found), "pleural effusion" (found across a
        # line break and a double space); the nulls are not values -> 3/4
        json.dumps([_sentence("Left  Lung", _finding("effusion", "neg_dx", "Pleural Effusion", "small"))]),
        # "lung" is not a whole word of "lungs" (not found), "heart" found, "cardiomegaly" found -> 2/3
        json.dumps(_sentence("lung", _finding("heart", "pos_dx", "cardiomegaly"))),
        # valid, but no text values at all -> 0
        json.dumps([_sentence(None)]),
        # an empty list is a valid report with no values -> 0
        "[]",
    ]
    refs = ["The LEFT lung is clear.  No pleural\n effusion.", "Lungs are clear. Heart size normal. No cardiomegaly.",
            "Normal chest.", "Normal chest."]
    score = load_metric("json_overlap").compute(predictions=preds, references=refs, ids=["r1", "r2", "r3", "r4"])
    np.testing.assert_allclose(score.per_report["json_value_recall"], [3 / 4, 2 / 3, 0.0, 0.0], rtol=0, atol=1e-12)
    assert score.scores["json_value_recall"] == pytest.approx((3 / 4 + 2 / 3) / 4, abs=1e-12)
    assert score.scores["json_invalid_rate"] == 0.0
    # free-text references: no finding triples to compare with
    assert "json_finding_f1" not in score.scores and "json_finding_f1" not in score.per_report
    assert score.warnings == []


def test_phrase_matching_and_cleaning() -> None:
    assert clean_text("  Small \t\n LEFT  effusion ") == "small left effusion"
    assert phrase_in("left effusion", "small left effusion.")
    assert phrase_in("effusion", "(effusion)")
    assert not phrase_in("effusion", "effusions")
    assert not phrase_in("lung", "lungs")
    assert not phrase_in("left effusion", "left pleural effusion")
    assert phrase_in("t12", "t12 compression")  # regex characters are escaped; digits are word characters
    assert phrase_in("c.t.", "prior c.t. scan")


# -- finding triples against JSON references ---------------------------------------------------------------------

def _finding_case() -> tuple[list[str], list[str]]:
    preds = [
        json.dumps([_sentence("Left lung", _finding("effusion", "neg_dx", "Pleural  effusion")),
                    _sentence("heart", _finding("enlarged heart", "pos_dx", "cardiomegaly"))]),
        json.dumps(_sentence(None, _finding("pneumothorax", "neg_dx", "pneumothorax"))),
        "The lungs are clear.",  # not JSON
    ]
    refs = [
        json.dumps([_sentence("left lung", _finding("effusion", "neg_dx", "pleural effusion")),
                    _sentence("Heart", _finding("heart size", "neg_dx", "cardiomegaly"))]),
        json.dumps([_sentence(None, _finding("pneumothorax", "neg_dx", "pneumothorax")),
                    _sentence("left lower lobe", _finding("atelectasis", "pos_dx", "atelectasis"))]),
        json.dumps(_sentence("lungs", _finding("edema", "pos_dx", "edema"))),
    ]
    return preds, refs


def test_finding_precision_recall_f1_micro_averaged_by_hand() -> None:
    preds, refs = _finding_case()
    score = load_metric("json_overlap").compute(predictions=preds, references=refs, ids=["r1", "r2", "r3"])
    # r1: (pleural effusion, neg, left lung) matches; (cardiomegaly, pos, heart) vs (cardiomegaly, neg, heart):
    #     existence mismatch -> one false positive and one false negative.   tp=1 fp=1 fn=1
    # r2: (pneumothorax, neg, "") matches; (atelectasis, pos, left lower lobe) missed.   tp=1 fp=0 fn=1
    # r3: invalid prediction -> scores 0; its reference triple is missed.   tp=0 fp=0 fn=1
    # micro: tp=2 fp=1 fn=3 -> P=2/3, R=2/5, F1=2PR/(P+R)=1/2 (not the mean of per-report F1s)
    assert score.scores["json_finding_precision"] == pytest.approx(2 / 3, abs=1e-12)
    assert score.scores["json_finding_recall"] == pytest.approx(2 / 5, abs=1e-12)
    assert score.scores["json_finding_f1"] == pytest.approx(1 / 2, abs=1e-12)
    np.testing.assert_allclose(score.per_report["json_finding_precision"], [1 / 2, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(score.per_report["json_finding_recall"], [1 / 2, 1 / 2, 0.0], atol=1e-12)
    np.testing.assert_allclose(score.per_report["json_finding_f1"], [1 / 2, 2 / 3, 0.0], atol=1e-12)
    assert score.scores["json_invalid_rate"] == pytest.approx(1 / 3)
    np.testing.assert_array_equal(score.per_report["json_invalid"], [0.0, 0.0, 1.0])
    # value recall against a JSON reference uses the reference's text values:
    # r1 values: left lung, effusion, pleural effusion, heart, enlarged heart, cardiomegaly -> "enlarged heart"
    #            is missing -> 5/6; r2: pneumothorax x2 -> 1; r3 invalid -> 0
    np.testing.assert_allclose(score.per_report["json_value_recall"], [5 / 6, 1.0, 0.0], atol=1e-12)
    assert score.warnings == ["json_overlap: 1 of 3 predictions are not valid structured JSON and score 0 (ids: r3)"]


def test_multiset_triples() -> None:
    twice = json.dumps([_sentence("lung", _finding("nodule", "pos_dx", "nodule")),
                        _sentence("lung", _finding("nodule", "pos_dx", "nodule"))])
    once = json.dumps([_sentence("lung", _finding("nodule", "pos_dx", "nodule"))])
    score = load_metric("json_overlap").compute(predictions=[twice], references=[once])
    # tp=1 fp=1 fn=0
    assert score.scores["json_finding_precision"] == pytest.approx(0.5)
    assert score.scores["json_finding_recall"] == pytest.approx(1.0)


@pytest.mark.parametrize(("bad", "why"), [
    ('{"anatomical_entity": "lung", ', "not valid JSON"),
    ("just text", "not valid JSON"),
    ('"a string"', "expected an object or a list of objects"),
    ('[1, 2]', "must be an object"),
    ('{"anatomical_entity": 3}', "anatomical_entity must be a string or null"),
    ('{"organ": "lung"}', "unknown field(s): organ"),
    ('{"clinical_findings": {"observation": "x"}}', "clinical_findings must be a list"),
    ('{"clinical_findings": [{"observation": "x", "existence": "maybe"}]}', "existence must be one of"),
    ('{"clinical_findings": [{"observation": "x"}]}', "existence must be one of"),
    ('{"clinical_findings": [{"observation": "x", "existence": "pos_dx", "size": 3}]}', "unknown field(s): size"),
])
def test_invalid_predictions_score_zero_and_are_counted(bad: str, why: str) -> None:
    good = json.dumps(_sentence("lung", _finding("clear", "neg_dx", "opacity")))
    if why == "not valid JSON":
        with pytest.raises(json.JSONDecodeError):
            parse_structured(bad)
    else:
        with pytest.raises(SchemaError, match=re.escape(why)):
            parse_structured(bad)
    score = load_metric("json_overlap").compute(predictions=[good, bad], references=["lung opacity", "lung"],
                                                ids=["ok", "broken"])
    assert score.scores["json_invalid_rate"] == 0.5
    np.testing.assert_array_equal(score.per_report["json_invalid"], [0.0, 1.0])
    np.testing.assert_allclose(score.per_report["json_value_recall"], [2 / 3, 0.0])  # lung, opacity; not clear
    assert score.scores["json_value_recall"] == pytest.approx(1 / 3)  # the invalid one stays in the mean
    assert score.warnings == ["json_overlap: 1 of 2 predictions are not valid structured JSON and score 0 "
                              "(ids: broken)"]


def test_code_fences_accepted() -> None:
    body = json.dumps([_sentence("heart", _finding("size", "neg_dx", "cardiomegaly"))], indent=2)
    fenced = ["```json\n" + body + "\n```", "```\n" + body + "\n```", "  ```json\n" + body + "```  "]
    score = load_metric("json_overlap").compute(predictions=fenced, references=["no cardiomegaly, heart normal"] * 3)
    assert score.scores["json_invalid_rate"] == 0.0
    np.testing.assert_allclose(score.per_report["json_value_recall"], [2 / 3] * 3)
    strict = load_metric("json_overlap", strip_code_fences=False)
    assert "fences:no" in strict.signature()
    assert strict.compute(predictions=fenced[:1], references=["x"]).scores["json_invalid_rate"] == 1.0


def test_result_lists_invalid_ids_per_report() -> None:
    preds, refs = _finding_case()
    result = rrg_eval.score(predictions=dict(zip(["r1", "r2", "r3"], preds)),
                            references=dict(zip(["r1", "r2", "r3"], refs)), metrics=["json_overlap"],
                            use_cache=False)
    frame = result.per_report
    assert list(frame.index[frame["json_invalid"] == 1.0]) == ["r3"]
    records = result.per_report_records()
    assert records[2]["id"] == "r3" and records[2]["json_invalid"] == 1.0
    assert "ids: r3" in result.warnings[0]
    assert result.key_info["json_invalid_rate"].higher_is_better is False
    assert "json_invalid_rate (%) ↓" in render_result(result, "table")


def test_default_set_skips_json_overlap_on_free_text_but_runs_it_on_json() -> None:
    no_java = {"meteor": {"java": "/nonexistent/java"}}  # keep the JVM out of this test
    free = rrg_eval.score(predictions={"a": "no effusion"}, references={"a": "no pleural effusion"},
                          use_cache=False, **no_java)
    assert "json_overlap" in free.unavailable and "--metrics json_overlap" in free.unavailable["json_overlap"]
    assert "json_value_recall" not in free.scores and "bleu1" in free.scores
    structured = json.dumps(_sentence(None, _finding("effusion", "neg_dx", "pleural effusion")))
    run = rrg_eval.score(predictions={"a": structured}, references={"a": "no pleural effusion"},
                         use_cache=False, **no_java)
    assert "json_overlap" not in run.unavailable
    assert run.scores["json_value_recall"] == 1.0 and run.scores["json_invalid_rate"] == 0.0
    # named explicitly, it runs on free text too (and every prediction is invalid)
    named = rrg_eval.score(predictions={"a": "no effusion"}, references={"a": "no pleural effusion"},
                           metrics=["json_overlap"], use_cache=False)
    assert named.scores["json_invalid_rate"] == 1.0
