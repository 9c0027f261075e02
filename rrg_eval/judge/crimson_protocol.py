"""CRIMSON's judge protocol (crimson-score 0.2.0, rajpurkarlab/CRIMSON): prompt, JSON answer repair, and score.

The judge lists the abnormal findings of both reports (normal and negated findings are left out by the prompt:
"Only evaluate positive findings, not normal findings"), gives each a clinical significance, matches them, and
lists false findings, missing findings and attribute errors (each ``significant`` or ``negligible``, with error
types among location, severity, descriptor, measurement, certainty, unspecific, overinterpretation, temporal)
as one JSON object. :func:`score_evaluation` turns that object into the score as ``CRIMSONScore._calculate_crimson``
does:

* finding weights by clinical significance: urgent 1.0, actionable_not_urgent 0.5, not_actionable_not_urgent
  0.25, benign_expected 0.0, anything else 0.25; attribute-error weights: significant 0.5, negligible 0.0,
  anything else 0.25;
* ``N_G`` = summed weights of the reference findings (when there are none: matched + weighted missing);
  ``E_false`` = summed weights of the false (predicted) findings; ``E_miss`` likewise for missing ones;
* ``correct`` = for each distinct matched reference finding of weight ``w``: ``w`` without attribute errors,
  else ``w * w / (w + sum of its attribute-error weights)``;
* ``S = (correct - E_false) / N_G`` (no reference finding: 1 when nothing false or missing, else
  ``-(E_false + E_miss + 1)``); CRIMSON = ``S`` when ``S >= 0``, else ``-x / (1 + x)`` with
  ``x = E_false - correct`` when ``x > 0``, else 0; rounded to 4 decimals. Range (-1, 1], higher is better.

The prompt's texts are read at run time from the installed ``crimson-score`` package (``CRIMSON/prompt_parts.py``,
parsed with :mod:`ast`, never imported or copied) and assembled in its order. The answer is parsed as JSON with
the package's repairs (smart quotes, ``["":[`` arrays, keys missing their opening quote, orphan keys, invalid
backslash escapes, unescaped quotes inside strings); anything still unreadable, or an object the score cannot be
computed from, is unparsed (``None``).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MetricUnavailable

SYSTEM_MESSAGE = "You are an expert radiology evaluator that assesses the accuracy of radiology reports."
FINE_TUNED_MODEL = "rajpurkarlab/medgemma-4b-it-crimson"  # trained on the prompt without guidelines
SIGNIFICANCE_WEIGHTS = {"urgent": 1.0, "actionable_not_urgent": 0.5, "not_actionable_not_urgent": 0.25,
                        "benign_expected": 0.0}
ATTRIBUTE_WEIGHTS = {"significant": 0.5, "negligible": 0.0}
OTHER_WEIGHT = 0.25
ATTRIBUTE_TYPES = ("location", "severity", "descriptor", "measurement", "certainty", "unspecific",
                   "overinterpretation", "temporal")
COUNT_NAMES = ("false_findings", "missing_findings", "attribute_errors",
               *(f"{t}_errors" for t in ATTRIBUTE_TYPES))
_PART_NAMES = ("OBJECTIVE", "TASK_STEPS", "CLINICAL_SIGNIFICANCE_LEVELS", "SIGNIFICANCE_APPLICATION",
               "ATTRIBUTE_SEVERITY_LEVELS", "ATTRIBUTE_ERROR_INSTRUCTIONS", "ERROR_CATEGORIES", "MATCHING_CRITERIA",
               "OUTPUT_FORMAT", "IMPORTANT_NOTES", "SIGNIFICANCE_EXAMPLES", "ATTRIBUTE_SEVERITY_GUIDELINES")
INSTALL_HINT = "pip install --no-deps crimson-score==0.2.0 (the prompt is read from it; nothing of it is imported)"


@dataclass(frozen=True)
class CrimsonPrompt:
    """The prompt's fixed texts (from the installed package) and how to assemble them for a pair."""

    parts: dict[str, str]
    version: str

    @property
    def digest(self) -> str:
        fixed = json.dumps([SYSTEM_MESSAGE, [self.parts[n] for n in _PART_NAMES]], ensure_ascii=False)
        return hashlib.sha256(fixed.encode("utf-8")).hexdigest()[:12]

    def text(self, reference: str, candidate: str, *, guidelines: bool) -> str:
        """The user message for one pair (no patient context), sections in the package's order."""
        p = self.parts
        sections = [p["OBJECTIVE"], f"Reference Findings (Ground Truth):\n{reference}",
                    f"Predicted Findings (Candidate):\n{candidate}", p["TASK_STEPS"], p["CLINICAL_SIGNIFICANCE_LEVELS"]]
        if guidelines:
            sections.append(p["SIGNIFICANCE_EXAMPLES"])
        sections += [p["SIGNIFICANCE_APPLICATION"], p["ATTRIBUTE_SEVERITY_LEVELS"], p["ERROR_CATEGORIES"],
                     p["MATCHING_CRITERIA"], p["ATTRIBUTE_ERROR_INSTRUCTIONS"]]
        if guidelines:
            sections.append(p["ATTRIBUTE_SEVERITY_GUIDELINES"])
        sections += [p["OUTPUT_FORMAT"], p["IMPORTANT_NOTES"]]
        return "\n\n".join(s for s in sections if s)

    def messages(self, reference: str, candidate: str, *, guidelines: bool) -> list[dict[str, str]]:
        return [{"role": "system", "content": SYSTEM_MESSAGE},
                {"role": "user", "content": self.text(reference, candidate, guidelines=guidelines)}]


def load_prompt(source: str | Path | None = None) -> CrimsonPrompt:
    """The prompt texts of the installed ``crimson-score`` (or of the ``prompt_parts.py`` at ``source``)."""
    if source is None:
        spec = importlib.util.find_spec("CRIMSON")
        if spec is None or not spec.submodule_search_locations:
            raise MetricUnavailable(f"crimson needs the crimson-score package for its prompt: {INSTALL_HINT}")
        source = Path(next(iter(spec.submodule_search_locations))) / "prompt_parts.py"
    path = Path(source)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError) as exc:
        raise MetricUnavailable(f"crimson: cannot read the prompt from {path}: {exc}") from None
    parts: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                parts[node.targets[0].id] = node.value.value
    missing = [n for n in _PART_NAMES if n not in parts]
    if missing:
        raise MetricUnavailable(f"crimson: {path} lacks {', '.join(missing)}; {INSTALL_HINT}")
    try:
        from importlib.metadata import version

        found = version("crimson-score")
    except Exception:  # a source file given directly
        found = "unknown"
    return CrimsonPrompt(parts=parts, version=found)


# -- answer repair, in the package's order ---------------------------------------------------------------------
_BAD_ESCAPE = re.compile(r'\\(?!["\\/bfnrtu])')
_ORPHAN_AFTER_COMMA = re.compile(r',\s*"[^"]*"\s*(?=\s*[,}])(?!\s*:)')
_ORPHAN_AT_START = re.compile(r'(?<=\{)\s*"[^"]*"\s*,\s*(?=")')
_ARRAY_OBJECT = re.compile(r'\[""\s*:\s*\[')
_KEY_WITHOUT_OPEN_QUOTE = re.compile(r'([\]}"0-9]\s*,\s*|{\s*)([a-zA-Z_][a-zA-Z0-9_]*")')


def _first_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        out.setdefault(key, value)
    return out


def _loads(text: str) -> Any:
    return json.loads(text, object_pairs_hook=_first_keys)


def _structural_quote(text: str, i: int) -> bool:
    before = text[i - 1] if i > 0 else ""
    after = text[i + 1] if i + 1 < len(text) else ""
    if before in (":", "[", "{") or after in (":", "]", "}"):
        return True
    if before == ",":
        prev = text[i - 2] if i >= 2 else ""
        return prev in ('"', "]", "}") or prev.isdigit()
    if after == ",":
        nxt = text[i + 2] if i + 2 < len(text) else ""
        return nxt in ('"', "[", "{") or nxt.isdigit()
    return False


def _escape_stray_quotes(text: str, rounds: int = 50) -> Any:
    for _ in range(rounds):
        try:
            return _loads(text)
        except json.JSONDecodeError as exc:
            fixed = False
            for i in range(exc.pos, max(0, exc.pos - 5) - 1, -1):
                if i < len(text) and text[i] == '"' and (i == 0 or text[i - 1] != "\\") \
                        and not _structural_quote(text, i):
                    text = text[:i] + '\\"' + text[i + 1:]
                    fixed = True
                    break
            if not fixed:
                raise
    raise json.JSONDecodeError("too many stray quotes", text, 0)


def parse_json_answer(text: str) -> Any:
    """The JSON value of an answer after the package's repairs, or None when it stays unreadable."""
    text = text.replace("\u201c", '\\"').replace("\u201d", '\\"').replace("\u2018", "\\'").replace("\u2019", "\\'")
    text = _ARRAY_OBJECT.sub("[", text)
    text = _KEY_WITHOUT_OPEN_QUOTE.sub(r'\1"\2', text)
    for candidate in (text, _ORPHAN_AT_START.sub("", _ORPHAN_AFTER_COMMA.sub("", text))):
        try:
            return _loads(candidate)
        except json.JSONDecodeError:
            pass
    escaped = _BAD_ESCAPE.sub(r"\\\\", text)
    try:
        return _loads(escaped)
    except json.JSONDecodeError:
        pass
    for candidate in (text, escaped):
        try:
            return _escape_stray_quotes(candidate)
        except (json.JSONDecodeError, ValueError):
            pass
    return None


# -- score ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CrimsonResult:
    """One report's CRIMSON, its error counts (:data:`COUNT_NAMES` order) and weighted components."""

    score: float
    counts: tuple[int, ...]
    n_g: float
    e_false: float
    e_miss: float
    correct: float


def _weight(item: Any, weights: dict[str, float], key: str) -> float:
    return weights.get(item.get(key, ""), OTHER_WEIGHT)


def _score(evaluation: Any) -> CrimsonResult:
    errors = evaluation.get("errors", {})
    matched = evaluation.get("matched_findings", [])
    references = evaluation.get("reference_findings", [])
    predictions = evaluation.get("predicted_findings", [])
    ref_weight = {r["id"]: _weight(r, SIGNIFICANCE_WEIGHTS, "clinical_significance") for r in references}
    pred_weight = {p["id"]: _weight(p, SIGNIFICANCE_WEIGHTS, "clinical_significance") for p in predictions}
    false_ids = errors.get("false_findings", [])
    missing_ids = errors.get("missing_findings", [])
    e_false = sum(pred_weight.get(i, 0.0) for i in false_ids)
    e_miss = sum(ref_weight.get(i, 0.0) for i in missing_ids)
    attributes = errors.get("attribute_errors", [])
    by_type = [sum(1 for e in attributes if t in e.get("error_types", [])) for t in ATTRIBUTE_TYPES]
    by_ref: dict[Any, list[Any]] = {}
    for err in attributes:
        by_ref.setdefault(err["ref_id"], []).append(err)
    n_g = sum(_weight(r, SIGNIFICANCE_WEIGHTS, "clinical_significance") for r in references)
    if n_g == 0 and not references:
        n_g = len(matched) + e_miss
    seen: set[Any] = set()
    correct = 0.0
    for pair in matched:
        ref_id = pair["ref_id"]
        if ref_id in seen:
            continue
        seen.add(ref_id)
        base = ref_weight.get(ref_id, 0.0)
        own = by_ref.get(ref_id, [])
        if not own:
            correct += base
            continue
        penalty = sum(_weight(e, ATTRIBUTE_WEIGHTS, "severity") for e in own)
        correct += base * (base / (base + penalty) if base + penalty > 0 else 0.0)
    excess = e_false - correct
    if n_g == 0:
        s = 1.0 if e_false == 0 and e_miss == 0 else -(e_false + e_miss + 1)
    else:
        s = (correct - e_false) / n_g
    value = s if s >= 0 else (-excess / (1 + excess) if excess > 0 else 0)
    counts = (len(false_ids), len(missing_ids), len(attributes), *by_type)
    return CrimsonResult(score=round(value, 4), counts=counts, n_g=n_g, e_false=e_false, e_miss=e_miss,
                         correct=correct)


def score_evaluation(evaluation: Any) -> CrimsonResult | None:
    """CRIMSON of one parsed answer, or None when the object is not one the score can be computed from."""
    try:
        return _score(evaluation)
    except Exception:  # the reference fails on such answers too (missing ids, wrong types): unparsed
        return None


def read_answer(text: str) -> CrimsonResult | None:
    """Parse and score one answer (None: unparsed)."""
    try:
        evaluation = parse_json_answer(text)
    except Exception:  # e.g. nesting too deep for the JSON reader: the reference fails on it too
        return None
    return None if evaluation is None else score_evaluation(evaluation)
