"""GREEN's prompt and parser against the reference functions' outputs (tests/data/green_golden.json).

The golden file holds inputs with the outputs of Stanford-AIMI/GREEN's own functions (commit d72c195,
green_score 0.0.12: make_prompt, clean_responses, GREEN.parse_error_counts, GREEN.compute_green), run once
outside rrg-eval; its "provenance" field says how. Inputs: the reference's published test fixtures
(tests/test_repro.py) and seeded generated pairs and answers, malformed ones included.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from rrg_eval.judge.green_protocol import (
    INSIGNIFICANT,
    MATCHED,
    SIGNIFICANT,
    clean_response,
    error_counts,
    green_prompt,
    green_value,
    matched_count,
    parse_green,
    read_answer,
    section,
)

GOLDEN = json.loads((Path(__file__).parent / "data" / "green_golden.json").read_text(encoding="utf-8"))


def test_golden_has_provenance_and_enough_cases():
    assert "d72c195" in GOLDEN["provenance"]
    assert len(GOLDEN["prompts"]) >= 200 and len(GOLDEN["answers"]) >= 200


@pytest.mark.parametrize("case", GOLDEN["prompts"], ids=lambda c: hashlib.sha256(
    (c["reference"] + "\x00" + c["candidate"]).encode()).hexdigest()[:8])
def test_prompt_identical_to_reference(case):
    prompt = green_prompt(case["reference"], case["candidate"])
    if "prompt" in case:
        assert prompt == case["prompt"]
    assert hashlib.sha256(prompt.encode()).hexdigest() == case["prompt_sha256"]


@pytest.mark.parametrize("i", range(len(GOLDEN["answers"])))
def test_parser_identical_to_reference(i):
    case = GOLDEN["answers"][i]
    cleaned = clean_response(case["raw"])
    assert cleaned == case["cleaned"]
    sig_body, insig_body, matched_body = (section(cleaned, t) for t in (SIGNIFICANT, INSIGNIFICANT, MATCHED))
    assert error_counts(sig_body) == case["significant"]
    assert error_counts(insig_body) == case["insignificant"]
    assert matched_count(matched_body) == case["matched"]
    assert (sig_body is not None) == case["significant_present"]
    assert (insig_body is not None) == case["insignificant_present"]
    assert (matched_body is not None) == case["matched_present"]
    answer = read_answer(cleaned)
    assert answer.score == pytest.approx(case["green"], abs=0, rel=0)
    complete = case["significant_present"] and case["matched_present"]
    assert answer.complete == complete
    assert (parse_green(cleaned) is not None) == complete


def test_published_fixture_values():
    """The reference's five published responses: GREEN 0, 1/6, 1/3, 1/2, 1/4 (compute_green on each)."""
    values = [read_answer(clean_response(a["raw"])).score for a in GOLDEN["answers"][:5]]
    assert values == pytest.approx([0.0, 1 / 6, 1 / 3, 1 / 2, 1 / 4])
    first = read_answer(clean_response(GOLDEN["answers"][0]["raw"]))
    assert first.significant == (2, 3, 0, 1, 0, 0) and first.matched == 0


def test_edge_cases():
    assert green_value(0, [5, 0, 0, 0, 0, 0]) == 0.0
    assert green_value(3, [0] * 6) == 1.0
    assert parse_green("") is None
    assert parse_green("[Clinically Significant Errors]:\nNo errors.\n\n[Matched Findings]:\n2. a; b").score == 1.0
    # a missing matched-findings section: unparsed here, zero (GREEN 0) in the reference
    text = "[Clinically Significant Errors]:\n(a) x: 1. y"
    assert parse_green(text) is None and read_answer(text).score == 0.0
    # the prompt cuts each report to its first 300 whitespace tokens and is immune to braces in reports
    long = " ".join(f"w{i}" for i in range(400))
    assert "w299" in green_prompt(long, "{reference}") and "w300" not in green_prompt(long, "x")
