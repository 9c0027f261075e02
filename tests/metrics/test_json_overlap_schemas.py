"""``json_overlap`` reads R2Gen2's schema as well as rrg-eval's: detected per file, named in the signature.

Expected numbers are computed by hand in the comments.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import rrg_eval
from rrg_eval.metrics.json_schema import SchemaError, detect_schema, read_r2gen2
from rrg_eval.metrics.registry import load_metric

DATA = Path(rrg_eval.__file__).parent / "data"


def r2gen2(*sentences: dict) -> str:
    return json.dumps({"Sentences": list(sentences)}, indent=2)


def sentence(entity: str | list | None, *findings: dict | None, location: str | None = None,
             procedure: list | None = None) -> dict:
    return {"anatomical entity": entity, "location_descriptor": location,
            "procedure": procedure if procedure is not None else [None], "clinical findings": list(findings)}


def finding(text: str, existence: str, observation: str, term: str | None = None) -> dict:
    out = {"clinical finding": text, "existence": existence, "observation": observation}
    if term is not None:
        out["descriptive_term"] = term
    return out


def test_value_recall_on_r2gen2_predictions_by_hand() -> None:
    preds = [
        # values: heart, heart size, within normal limits -> all found in the lower-cased reference -> 3/3
        r2gen2(sentence("heart", finding("heart size", "neg_dx", "within normal limits"))),
        # values: lungs, left, chest x-ray (list item), effusion, small, effusion; "chest x-ray" and "small" are
        # not in the reference -> 4/6; "clinical findings": [null] items are skipped
        r2gen2(sentence("lungs", finding("effusion", "pos_dx", "effusion", "small"), None, location="left",
                        procedure=["chest x-ray", None])),
        # anatomical entity as a list: each item is a value: lung, pleura -> 2/2
        r2gen2(sentence(["lung", "pleura"])),
    ]
    refs = ["Heart size within normal limits.", "Left lungs: pleural effusion.", "Lung and pleura normal."]
    score = load_metric("json_overlap").compute(predictions=preds, references=refs)
    np.testing.assert_allclose(score.per_report["json_value_recall"], [1.0, 4 / 6, 1.0], atol=1e-12)
    assert score.scores["json_invalid_rate"] == 0.0
    assert "|schema:r2gen2|ref_schema:text|" in score.signature


def test_negated_findings_match_only_negated_findings() -> None:
    # R2Gen2 predictions against R2Gen2 references: triples (observation, existence, entity)
    pred = r2gen2(sentence(None, finding("pneumothorax", "neg_dx", "pneumothorax")),
                  sentence("heart", finding("cardiomegaly", "neg_dx", "cardiomegaly")))
    ref = r2gen2(sentence(None, finding("pneumothorax", "pos_dx", "pneumothorax")),  # present in the reference
                 sentence("heart", finding("cardiomegaly", "neg_dx", "cardiomegaly")))
    score = load_metric("json_overlap").compute(predictions=[pred], references=[ref])
    # (pneumothorax, neg, "") vs (pneumothorax, pos, ""): a miss both ways; cardiomegaly neg/neg matches
    # tp=1 fp=1 fn=1 -> P=R=F1=1/2
    assert score.scores["json_finding_precision"] == pytest.approx(0.5)
    assert score.scores["json_finding_recall"] == pytest.approx(0.5)
    assert "|schema:r2gen2|ref_schema:r2gen2|" in score.signature


def test_r2gen2_predictions_against_rrg_eval_references() -> None:
    pred = r2gen2(sentence("Heart", finding("heart size", "neg_dx", "Cardiomegaly")))
    ref = json.dumps([{"anatomical_entity": "heart", "location_descriptor": None, "procedure": None,
                       "clinical_findings": [{"clinical_finding": "size", "existence": "neg_dx",
                                              "descriptive_term": None, "observation": "cardiomegaly"}]}])
    score = load_metric("json_overlap").compute(predictions=[pred], references=[ref])
    # (cardiomegaly, neg_dx, heart) on both sides after cleaning -> P=R=1
    assert score.scores["json_finding_f1"] == 1.0
    assert "|schema:r2gen2|ref_schema:rrg-eval|" in score.signature


def test_schema_detected_per_file_by_majority_others_invalid() -> None:
    rrg = json.dumps({"anatomical_entity": "heart", "clinical_findings": []})
    r2 = r2gen2(sentence("heart"))
    assert detect_schema([json.loads(r2), json.loads(r2), json.loads(rrg)]) == "r2gen2"
    assert detect_schema([json.loads(r2), json.loads(rrg)]) == "rrg-eval"  # a tie stays with rrg-eval's
    assert detect_schema([None, "text", 3]) is None
    score = load_metric("json_overlap").compute(predictions=[r2, r2, rrg], references=["heart"] * 3,
                                                ids=["a", "b", "c"])
    np.testing.assert_array_equal(score.per_report["json_invalid"], [0.0, 0.0, 1.0])
    assert "(ids: c)" in score.warnings[0]
    # forcing the schema
    forced = load_metric("json_overlap", schema="rrg-eval").compute(predictions=[r2, r2, rrg],
                                                                    references=["heart"] * 3)
    np.testing.assert_array_equal(forced.per_report["json_invalid"], [1.0, 1.0, 0.0])
    assert "|schema:rrg-eval|" in forced.signature


def test_signature_before_and_across_systems() -> None:
    metric = load_metric("json_overlap")
    assert "|schema:auto|ref_schema:auto|" in metric.signature()
    rrg = json.dumps({"anatomical_entity": "heart", "clinical_findings": []})
    r2 = r2gen2(sentence("heart"))
    context = rrg_eval.metrics.base.RunContext()
    metric.compute_stats(predictions=[r2], references=["heart"], ids=["1"], context=context)
    metric.compute_stats(predictions=[rrg], references=["heart"], ids=["1"], context=context)
    # one metric scoring two systems (compare): both schemas are named
    assert "|schema:r2gen2+rrg-eval|ref_schema:text|" in metric.signature()
    # compute() names only its own inputs
    assert "|schema:rrg-eval|" in metric.compute(predictions=[rrg], references=["heart"]).signature


@pytest.mark.parametrize(("data", "message"), [
    ({"Sentences": {}}, "Sentences must be a list"),
    ({"Sentences": [], "Impression": "x"}, "beside Sentences: Impression"),
    ({"Sentences": [3]}, "Sentences[0] must be an object"),
    ({"Sentences": [{"organ": "lung"}]}, "unknown field(s): organ"),
    ({"Sentences": [{"anatomical entity": 3}]}, "must be a string, null or a list"),
    ({"Sentences": [{"anatomical entity": "a", "anatomical_entity": "b"}]}, "anatomical_entity twice"),
    ({"Sentences": [{"clinical findings": [{"observation": "x"}]}]}, "existence must be one of"),
    ({"Sentences": [{"clinical findings": [{"observation": "x", "existence": "maybe"}]}]}, "existence"),
    ({"Sentences": [{"clinical findings": "none"}]}, "must be a list"),
    ({"Sentences": [{"clinical findings": [3]}]}, "must be an object or null"),
])
def test_r2gen2_schema_errors(data: dict, message: str) -> None:
    with pytest.raises(SchemaError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]")):
        read_r2gen2(data)


def test_both_spellings_and_null_sentences_are_read() -> None:
    sentences = read_r2gen2({"Sentences": [
        {"anatomical_entity": "lungs", "clinical_findings": [
            {"clinical_finding": "clear", "existence": "neg_dx", "descriptive_term": None, "observation": "clear"}]},
        {"anatomical entity": None, "clinical findings": None}]})
    assert sentences[0]["clinical_findings"][0]["existence"] == "neg_dx"
    assert sentences[1]["clinical_findings"] == []
    assert read_r2gen2({"Sentences": None}) == []


def test_bundled_r2gen2_example_both_conventions() -> None:
    result = rrg_eval.score(predictions=DATA / "example_r2gen2_preds.jsonl",
                            references=DATA / "example_r2gen2_refs.jsonl", metrics=["json_overlap"],
                            json_overlap={"convention": "rrg-eval,r2gen2"}, use_cache=False)
    assert result.errors == {}
    assert result.scores["json_invalid_rate"] == 0.0
    assert "|schema:r2gen2|ref_schema:text|" in result.signatures["json_overlap"]
    # R2Gen2's word substring count is case-sensitive and counts every word, rrg-eval's matches whole phrases
    # case-insensitively: the two differ on the example (pinned values: rrg-eval 0.1.0 on the bundled files)
    # r2-001 by hand: R2Gen2 counts heart, heart, size, within, normal, limits, lungs, focal, consolidation x2,
    # pneumothorax x2 (12 words; newlines deleted, indentation spaces split); "heart" is not in "Heart ..." -> 10/12.
    # rrg-eval's values: heart, heart size, within normal limits, lungs, focal consolidation, consolidation,
    # pneumothorax x2 (8) all found as whole phrases, case-insensitively -> 1.0
    assert result.per_report["json_overlap_r2gen2"]["r2-001"] == 10 / 12
    assert result.per_report["json_value_recall"]["r2-001"] == 1.0
    # the corpus values, pinned (rrg-eval 0.1.0 on the bundled files; the r2gen2 values equal the second
    # statement in test_json_overlap_r2gen2.py)
    assert result.scores["json_overlap_r2gen2"] == pytest.approx(0.717171717, abs=1e-9)
    assert result.scores["json_value_recall"] == pytest.approx(0.666666667, abs=1e-9)


@pytest.mark.parametrize(("predictions", "runs"), [
    (["[1] The heart is normal.", "No effusion {see prior}."], False),  # free text with brackets
    (["The heart is normal."], False),
    (['Labels: {"Sentences": []}'], True),  # a report of R2Gen2's schema inside prose
    (['Here: ```json\n{"anatomical_entity": "heart"}\n```'], True),  # rrg-eval's schema inside prose
    (['{"organ": "heart"}'], True),  # JSON as a whole, not of a schema: runs and reports it invalid
    (["[[1, 2]]"], True),
])
def test_default_set_runs_json_overlap_only_on_structured_predictions(predictions: list[str], runs: bool) -> None:
    reason = load_metric("json_overlap").skip_reason(predictions=predictions, references=["x"] * len(predictions))
    assert (reason is None) is runs
