"""CRIMSON: the score on hand-computed evaluations, the answer repairs, and the metric against the loopback
server (prompt texts from a stand-in prompt_parts.py: the real ones come from the installed crimson-score, see
tests/test_crimson_parity.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from judge_server import JudgeServer

from rrg_eval.judge.crimson_protocol import (
    _PART_NAMES,
    SYSTEM_MESSAGE,
    load_prompt,
    parse_json_answer,
    read_answer,
    score_evaluation,
)


def finding(i: str, sig: str) -> dict:
    return {"id": i, "finding": f"finding {i}", "clinical_significance": sig}


def evaluation(refs, preds, matched=(), false=(), missing=(), attrs=()) -> dict:
    return {"reference_findings": list(refs), "predicted_findings": list(preds),
            "matched_findings": [{"ref_id": r, "pred_id": p} for r, p in matched],
            "errors": {"false_findings": list(false), "missing_findings": list(missing),
                       "attribute_errors": list(attrs)}}


def test_weighted_score_with_partial_credit():
    ev = evaluation([finding("R1", "urgent"), finding("R2", "actionable_not_urgent")],
                    [finding("P1", "urgent"), finding("P2", "benign_expected")],
                    matched=[("R1", "P1")], false=["P2"], missing=["R2"],
                    attrs=[{"ref_id": "R1", "pred_id": "P1", "severity": "significant", "error_types": ["location"]}])
    r = score_evaluation(ev)
    # N_G = 1 + 0.5; correct = 1 * 1 / (1 + 0.5); E_false = 0 (benign); S = correct / N_G
    assert r.n_g == 1.5 and r.e_false == 0.0 and r.e_miss == 0.5
    assert r.score == round((1 / 1.5) / 1.5, 4)
    assert r.counts[:4] == (1, 1, 1, 1) and sum(r.counts[4:]) == 0


def test_negative_scores_and_empty_references():
    ev = evaluation([finding("R1", "not_actionable_not_urgent")], [finding("P1", "urgent")], false=["P1"],
                    missing=["R1"])
    assert score_evaluation(ev).score == -0.5  # S = -4 -> -(1 - 0) / (1 + 1)
    assert score_evaluation(evaluation([], [])).score == 1.0  # nothing to find, nothing false
    ev = evaluation([], [finding("P1", "actionable_not_urgent")], false=["P1"])
    assert score_evaluation(ev).score == round(-0.5 / 1.5, 4)


def test_unknown_levels_weigh_a_quarter_duplicates_count_once_types_by_substring():
    ev = evaluation([finding("R1", "high")], [finding("P1", "urgent"), finding("P2", "urgent")],
                    matched=[("R1", "P1"), ("R1", "P2")],
                    attrs=[{"ref_id": "R1", "pred_id": "P1", "severity": "negligible",
                            "error_types": "location|severity"}])
    r = score_evaluation(ev)
    assert r.n_g == 0.25 and r.correct == 0.25 and r.score == 1.0
    assert r.counts[3] == 1 and r.counts[4] == 1  # a string of types counts each type named in it


def test_unscorable_objects_are_none():
    assert score_evaluation([1, 2]) is None
    assert score_evaluation({"reference_findings": [{"finding": "no id"}]}) is None
    assert read_answer("not json") is None
    assert read_answer("```json\n{}\n```") is None  # the package does not strip fences either


def test_answer_repairs():
    assert parse_json_answer('{"a": "he said \u201cno\u201d"}') == {"a": 'he said "no"'}
    assert parse_json_answer('{"a": ["":["R1"]}') == {"a": ["R1"]}
    assert parse_json_answer('{"a": 1,b": 2}') == {"a": 1, "b": 2}
    assert parse_json_answer('{"a": 1,"orphan","b": 2}') == {"a": 1, "b": 2}
    assert parse_json_answer('{"a": "C:\\Lung"}') == {"a": "C:\\Lung"}
    assert parse_json_answer('{"a": "the "new" opacity"}') == {"a": 'the "new" opacity'}
    assert parse_json_answer('{"a": 1, "a": 2}') == {"a": 1}


@pytest.fixture()
def prompt_parts(tmp_path: Path) -> Path:
    path = tmp_path / "prompt_parts.py"
    path.write_text("".join(f'{name} = """text of {name}"""\n' for name in _PART_NAMES), encoding="utf-8")
    return path


def test_prompt_assembly(prompt_parts):
    prompt = load_prompt(prompt_parts)
    text = prompt.text("REF", "CAND", guidelines=False)
    assert text.startswith("text of OBJECTIVE\n\nReference Findings (Ground Truth):\nREF\n\n"
                           "Predicted Findings (Candidate):\nCAND\n\ntext of TASK_STEPS")
    assert "SIGNIFICANCE_EXAMPLES" not in text and text.endswith("text of OUTPUT_FORMAT\n\ntext of IMPORTANT_NOTES")
    assert "text of SIGNIFICANCE_EXAMPLES" in prompt.text("R", "C", guidelines=True)
    assert prompt.messages("R", "C", guidelines=True)[0] == {"role": "system", "content": SYSTEM_MESSAGE}


class CrimsonServer(JudgeServer):
    def default(self, candidate: str):
        return json.dumps(evaluation([finding("R1", "urgent")], [finding("P1", "urgent")], matched=[("R1", "P1")]))


def test_metric_against_the_server(prompt_parts, tmp_path, monkeypatch):
    pytest.importorskip("openai")
    from rrg_eval.metrics.registry import load_metric

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setattr("judge_server._CANDIDATE", __import__("re").compile(
        r"Predicted Findings \(Candidate\):\n(.*?)\n\ntext of TASK_STEPS", __import__("re").DOTALL))
    refs, preds = ["Right effusion.", "Clear."], ["Right effusion.", "Left pneumothorax."]
    with CrimsonServer() as srv:
        srv.script[preds[1]] = ["{broken", "{still broken"]
        metric = load_metric("crimson", base_url=srv.url, prompt_source=str(prompt_parts), backoff=0.01)
        result = metric.compute(predictions=preds, references=refs, ids=["a", "b"], cache_dir=tmp_path)
        assert len(srv.requests) == 3  # b re-asked once
        body = srv.requests[0]["body"]
        assert body["seed"] == 42 and body["temperature"] == 0.0 and body["max_tokens"] == 8192
        assert body["messages"][0]["content"] == SYSTEM_MESSAGE
        assert "SIGNIFICANCE_EXAMPLES" not in body["messages"][1]["content"]  # the fine-tuned model: no guidelines
        assert result.scores["crimson"] == 1.0 and result.scores["crimson_unparsed_rate"] == 0.5
        assert math.isnan(result.per_report["crimson"][1])
        again = metric.compute(predictions=preds, references=refs, ids=["a", "b"], cache_dir=tmp_path)
        assert len(srv.requests) == 3 and again.scores == result.scores
    sig = metric.signature()
    assert sig.startswith("crimson|backend:openai|model:rajpurkarlab/medgemma-4b-it-crimson|")
    assert "|guidelines:off|" in sig and "|seed:42|" in sig
    assert "refusing" in load_metric("crimson", base_url="https://api.openai.com/v1", model="gpt-5.2",
                                     prompt_source=str(prompt_parts)).unavailable_reason()


def test_long_answers_score_the_same_from_the_cache(prompt_parts, tmp_path, monkeypatch):
    """The cache keeps only an excerpt of a long answer; the score read from the whole answer is kept."""
    pytest.importorskip("openai")
    from rrg_eval.metrics.registry import load_metric

    monkeypatch.setattr("judge_server._CANDIDATE", __import__("re").compile(
        r"Predicted Findings \(Candidate\):\n(.*?)\n\ntext of TASK_STEPS", __import__("re").DOTALL))
    refs = [finding(f"R{i}", "urgent") for i in range(1, 80)]
    preds = [finding(f"P{i}", "urgent") for i in range(1, 80)]
    long = json.dumps(evaluation(refs, preds, matched=[(f"R{i}", f"P{i}") for i in range(1, 40)],
                                 false=[f"P{i}" for i in range(40, 80)], missing=[f"R{i}" for i in range(40, 80)]))
    assert len(long) > 5000
    with CrimsonServer() as srv:
        srv.script["x"] = [long]
        metric = load_metric("crimson", base_url=srv.url, prompt_source=str(prompt_parts))
        first = metric.compute(predictions=["x"], references=["y"], ids=["a"], cache_dir=tmp_path)
        again = metric.compute(predictions=["x"], references=["y"], ids=["a"], cache_dir=tmp_path)
        assert len(srv.requests) == 1
    assert first.scores == again.scores and first.scores["crimson_false_findings"] == 40
