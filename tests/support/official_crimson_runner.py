"""Runs the official crimson-score 0.2.0 functions in their own venv (.venv-official-crimson).

Usage: python official_crimson_runner.py IN.json OUT.json, with IN.json = {"pairs": [[ref, cand], ...],
"answers": [text, ...]}. Writes, per pair, ``prompt_parts.build_prompt`` with and without guidelines, and per
answer, ``utils.parse_json_response`` (or null when it raises) and ``CRIMSONScore._calculate_crimson`` of that
(its crimson_score, error_counts and metrics; null when it raises), plus where the package's prompt_parts.py is.
"""

import json
import sys

import CRIMSON.prompt_parts as parts
from CRIMSON.generate_score import CRIMSONScore
from CRIMSON.utils import parse_json_response

data = json.load(open(sys.argv[1], encoding="utf-8"))
scorer = CRIMSONScore.__new__(CRIMSONScore)  # the score needs no model
prompts = []
for ref, cand in data["pairs"]:
    prompts.append([parts.build_prompt(ref, cand, include_significance_examples=g, include_attribute_guidelines=g,
                                       include_context_guidelines=g) for g in (False, True)])
answers = []
for text in data["answers"]:
    try:
        parsed = parse_json_response(text)
    except Exception:
        answers.append(None)
        continue
    try:
        result = scorer._calculate_crimson(parsed)
        answers.append({"crimson_score": result["crimson_score"], "error_counts": result["error_counts"],
                        "metrics": result["metrics"]})
    except Exception:
        answers.append(None)
json.dump({"prompt_parts": parts.__file__, "prompts": prompts, "answers": answers}, open(sys.argv[2], "w"))
