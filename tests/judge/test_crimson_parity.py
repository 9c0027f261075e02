"""Parity with the official crimson-score 0.2.0: prompt text, JSON answer repairs and score, on generated
answers (well-formed, weighted in every way, malformed), run in ``.venv-official-crimson``
(``.ci/setup_official_crimson.sh``) through ``tests/support/official_crimson_runner.py``; skips when that venv is
absent."""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest

from rrg_eval.judge.crimson_protocol import ATTRIBUTE_TYPES, COUNT_NAMES, load_prompt, read_answer

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("OFFICIAL_CRIMSON_VENV", ROOT / ".venv-official-crimson"))
RUNNER = ROOT / "tests" / "support" / "official_crimson_runner.py"
pytestmark = pytest.mark.slow

LEVELS = ["urgent", "actionable_not_urgent", "not_actionable_not_urgent", "benign_expected", "high", ""]


def generated_answers(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        refs = [{"id": f"R{i}", "finding": f"f{i}", "clinical_significance": rng.choice(LEVELS)}
                for i in range(1, rng.randint(0, 4) + 1)]
        preds = [{"id": f"P{i}", "finding": f"g{i}", "clinical_significance": rng.choice(LEVELS)}
                 for i in range(1, rng.randint(0, 4) + 1)]
        if rng.random() < 0.1 and refs:
            del refs[0]["clinical_significance"]
        matched = [{"ref_id": r["id"], "pred_id": p["id"]} for r in refs for p in preds if rng.random() < 0.3]
        attrs = [{"ref_id": m["ref_id"], "pred_id": m["pred_id"],
                  "severity": rng.choice(["significant", "negligible", "moderate"]),
                  "error_types": rng.choice([rng.sample(ATTRIBUTE_TYPES, rng.randint(1, 3)), "location|temporal"])}
                 for m in matched if rng.random() < 0.5]
        matched_refs = {m["ref_id"] for m in matched}
        matched_preds = {m["pred_id"] for m in matched}
        ev = {"reference_findings": refs, "predicted_findings": preds, "matched_findings": matched,
              "errors": {"false_findings": [p["id"] for p in preds if p["id"] not in matched_preds],
                         "missing_findings": [r["id"] for r in refs if r["id"] not in matched_refs],
                         "attribute_errors": attrs}}
        text = json.dumps(ev, indent=rng.choice([None, 2]))
        damage = rng.random()
        if damage < 0.08:
            text = text.replace('"errors"', "errors", 1).replace(", errors", ",errors")
        elif damage < 0.16:
            text = text.replace('"f1"', '"the \u201cnew\u201d f1"')
        elif damage < 0.24:
            text = text.replace('"g1"', '"C:\\\\g1"').replace("\\\\", "\\")
        elif damage < 0.3:
            text = text[: rng.randint(0, len(text))]
        elif damage < 0.36:
            text = text.replace('"g1"', '"the "new" g1"')
        elif damage < 0.4:
            text = "```json\n" + text + "\n```"
        elif damage < 0.44:
            text = text.replace('"ref_id"', '"ref"', 1)
        out.append(text)
    return out + ["", "[]", "{}", '{"errors": []}', "null", '{"matched_findings": [{"pred_id": "P1"}]}']


def test_prompt_parser_and_score_equal_the_package(tmp_path):
    python = VENV / "bin" / "python"
    if not python.exists():
        pytest.skip(f"official crimson-score venv absent ({VENV}); run .ci/setup_official_crimson.sh")
    pairs = [["Small right pleural effusion.", "No effusion."], ["", "x"], ["a {b} c", "\u00e9 {{d}}"]]
    answers = generated_answers(300)
    inp, out = tmp_path / "in.json", tmp_path / "out.json"
    inp.write_text(json.dumps({"pairs": pairs, "answers": answers}), encoding="utf-8")
    subprocess.run([str(python), str(RUNNER), str(inp), str(out)], check=True, cwd=tmp_path)
    official = json.loads(out.read_text(encoding="utf-8"))
    prompt = load_prompt(official["prompt_parts"])
    for (ref, cand), (without, with_guidelines) in zip(pairs, official["prompts"]):
        assert prompt.text(ref, cand, guidelines=False) == without
        assert prompt.text(ref, cand, guidelines=True) == with_guidelines
    parsed = 0
    for text, expected in zip(answers, official["answers"]):
        ours = read_answer(text)
        if expected is None:
            assert ours is None, text
            continue
        parsed += 1
        assert ours is not None, text
        assert ours.score == expected["crimson_score"]
        assert list(ours.counts) == [expected["error_counts"][k] for k in COUNT_NAMES]
        m = expected["metrics"]
        assert (ours.n_g, ours.e_false, ours.correct) == pytest.approx((m["N_G"], m["E_penalty"], m["correct"]))
    assert 150 < parsed < len(answers)  # both kinds are exercised
