"""Structured findings: overlap of JSON-formatted predictions with the reference report.

A structured prediction is a JSON list of sentence objects (or one object)::

    {"anatomical_entity": str|null, "location_descriptor": str|null, "procedure": str|null,
     "clinical_findings": [{"clinical_finding": str, "existence": "pos_dx"|"neg_dx"|"unc_dx",
                            "descriptive_term": str|null, "observation": str}]}

* ``json_value_recall``: per report, the share of the prediction's non-null text values (every field but the
  ``existence`` code) found in the reference text (both lower-cased, whitespace runs collapsed, ends trimmed),
  matched as a whole-word phrase; mean over reports. A valid prediction with no text values scores 0. When the
  reference is JSON too, its text values (joined) are the reference text.
* ``json_finding_precision`` / ``_recall`` / ``_f1``: only when references are JSON; (observation, existence,
  anatomical_entity) triples as multisets, micro-averaged over reports; a wrong existence is a miss.
* ``json_invalid_rate``: predictions that are not JSON or not of the schema. They score 0, stay in every mean,
  and their ids are flagged in the per-report output (``json_invalid``) and listed in the warnings.

Markdown code fences around the JSON (```json ... ```) are removed before parsing.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..option_spec import option
from ..stats import Stats
from .base import Metric, RunContext

EXISTENCE = frozenset({"pos_dx", "neg_dx", "unc_dx"})
SENTENCE_TEXT_FIELDS = ("anatomical_entity", "location_descriptor", "procedure")
FINDING_TEXT_FIELDS = ("clinical_finding", "descriptive_term", "observation")
_SENTENCE_FIELDS = frozenset(SENTENCE_TEXT_FIELDS) | {"clinical_findings"}
_FINDING_FIELDS = frozenset(FINDING_TEXT_FIELDS) | {"existence"}
_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
_SPACES = re.compile(r"\s+")


class SchemaError(ValueError):
    """A prediction that is JSON but not of the structured-findings schema."""


def clean_text(text: str) -> str:
    """Lower-case, collapse whitespace runs, trim the ends."""
    return _SPACES.sub(" ", text.lower()).strip()


def _check_optional_str(obj: dict, key: str, where: str) -> None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise SchemaError(f"{where}.{key} must be a string or null, got {type(value).__name__}")


def parse_structured(text: str) -> list[dict[str, Any]]:
    """Parse and validate one structured report; raises ValueError (JSON) or SchemaError (shape)."""
    match = _FENCE.match(text)
    if match:
        text = match.group(1)
    data = json.loads(text)
    sentences = [data] if isinstance(data, dict) else data
    if not isinstance(sentences, list):
        raise SchemaError(f"expected an object or a list of objects, got {type(data).__name__}")
    for i, sentence in enumerate(sentences):
        where = f"[{i}]"
        if not isinstance(sentence, dict):
            raise SchemaError(f"{where} must be an object, got {type(sentence).__name__}")
        unknown = set(sentence) - _SENTENCE_FIELDS
        if unknown:
            raise SchemaError(f"{where} has unknown field(s): {', '.join(sorted(unknown))}")
        for key in SENTENCE_TEXT_FIELDS:
            _check_optional_str(sentence, key, where)
        findings = sentence.get("clinical_findings", [])
        if findings is None:
            findings = []
        if not isinstance(findings, list):
            raise SchemaError(f"{where}.clinical_findings must be a list")
        for j, finding in enumerate(findings):
            fwhere = f"{where}.clinical_findings[{j}]"
            if not isinstance(finding, dict):
                raise SchemaError(f"{fwhere} must be an object")
            unknown = set(finding) - _FINDING_FIELDS
            if unknown:
                raise SchemaError(f"{fwhere} has unknown field(s): {', '.join(sorted(unknown))}")
            for key in FINDING_TEXT_FIELDS:
                _check_optional_str(finding, key, fwhere)
            if finding.get("existence") not in EXISTENCE:
                raise SchemaError(f"{fwhere}.existence must be one of pos_dx, neg_dx, unc_dx")
    return sentences


def text_values(sentences: list[dict[str, Any]]) -> list[str]:
    """Every non-empty text value (cleaned), the existence code excluded."""
    values = []
    for sentence in sentences:
        values.extend(sentence.get(k) for k in SENTENCE_TEXT_FIELDS)
        for finding in sentence.get("clinical_findings") or []:
            values.extend(finding.get(k) for k in FINDING_TEXT_FIELDS)
    cleaned = (clean_text(v) for v in values if isinstance(v, str))
    return [v for v in cleaned if v]


def finding_triples(sentences: list[dict[str, Any]]) -> Counter:
    """Multiset of (observation, existence, anatomical_entity) triples, texts cleaned."""
    triples: Counter = Counter()
    for sentence in sentences:
        entity = clean_text(sentence.get("anatomical_entity") or "")
        for finding in sentence.get("clinical_findings") or []:
            triples[(clean_text(finding.get("observation") or ""), finding["existence"], entity)] += 1
    return triples


def phrase_in(phrase: str, text: str) -> bool:
    """Whole-word phrase match of cleaned ``phrase`` in cleaned ``text``."""
    return re.search(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", text) is not None


def _try_parse(text: str) -> tuple[list[dict[str, Any]] | None, str | None]:
    try:
        return parse_structured(text), None
    except SchemaError as exc:
        return None, f"not of the schema: {exc}"
    except ValueError as exc:
        return None, f"not valid JSON: {exc}"


def _prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


@dataclass(frozen=True)
class JsonOverlapConfig:
    """Options of ``json_overlap``."""

    strip_code_fences: bool = option(True, sig="fences", help="accept JSON wrapped in Markdown code fences")


class JsonOverlap(Metric):
    """Overlap of structured (JSON) findings with the reference."""

    name = "json_overlap"
    Config = JsonOverlapConfig
    description = "structured (JSON) findings: value recall, finding-triple F1, invalid-JSON rate"
    reference = "rrg-eval's own definition (docs/metrics.md); no external reference implementation"
    keys = ("json_value_recall", "json_finding_precision", "json_finding_recall", "json_finding_f1",
            "json_invalid_rate")
    key_kinds = {"json_invalid_rate": "rate"}
    lower_is_better = frozenset({"json_invalid_rate"})

    def skip_reason(self, *, predictions: Sequence[str], references: Sequence[str]) -> str | None:
        if any(_looks_like_json(p) for p in predictions):
            return None
        return "no prediction is JSON; name it (--metrics json_overlap) to score structured findings"

    def compute_stats(self, *, predictions: list[str], references: list[str], ids: list[str],
                      context: RunContext) -> Stats:
        n = len(predictions)
        total = np.zeros(n)
        found = np.zeros(n)
        invalid = np.zeros(n, dtype=bool)
        ref_json = np.zeros(n, dtype=bool)
        counts = np.zeros((n, 3))  # tp, fp, fn
        invalid_ids: list[str] = []
        for i, (pred, ref) in enumerate(zip(predictions, references)):
            text = pred if self.config.strip_code_fences else pred.strip()
            sentences, _ = _try_parse(text) if self.config.strip_code_fences else _parse_no_fence(text)
            ref_sentences, _ = _try_parse(ref)
            ref_json[i] = ref_sentences is not None
            ref_text = " ; ".join(text_values(ref_sentences)) if ref_sentences is not None else clean_text(ref)
            ref_triples = finding_triples(ref_sentences) if ref_sentences is not None else Counter()
            if sentences is None:
                invalid[i] = True
                invalid_ids.append(ids[i])
                counts[i] = (0, 0, sum(ref_triples.values()))
                continue
            values = text_values(sentences)
            total[i] = len(values)
            found[i] = sum(1 for v in values if phrase_in(v, ref_text))
            pred_triples = finding_triples(sentences)
            tp = sum((pred_triples & ref_triples).values())
            counts[i] = (tp, sum(pred_triples.values()) - tp, sum(ref_triples.values()) - tp)
        if invalid_ids:
            shown = ", ".join(invalid_ids[:10]) + (", ..." if len(invalid_ids) > 10 else "")
            context.warn(self.name, f"{len(invalid_ids)} of {n} predictions are not valid structured JSON and "
                                    f"score 0 (ids: {shown})")
        if ref_json.any() and not ref_json.all():
            context.warn(self.name, f"{int((~ref_json).sum())} of {n} references are not structured JSON; "
                                    "finding precision/recall/F1 use the JSON ones only")
        return {"total": total, "found": found, "invalid": invalid, "ref_json": ref_json, "counts": counts}

    @staticmethod
    def _recall(stats: Stats) -> np.ndarray:
        total = stats["total"]
        return np.divide(stats["found"], total, out=np.zeros_like(total), where=total > 0)

    def aggregate(self, stats: Stats) -> dict[str, float]:
        n = len(stats["total"])
        if n == 0:
            return {"json_value_recall": 0.0, "json_invalid_rate": 0.0}
        out = {"json_value_recall": float(self._recall(stats).mean())}
        if stats["ref_json"].any():
            tp, fp, fn = stats["counts"][stats["ref_json"]].sum(axis=0)
            p, r, f = _prf(tp, fp, fn)
            out.update(json_finding_precision=p, json_finding_recall=r, json_finding_f1=f)
        out["json_invalid_rate"] = float(stats["invalid"].mean())
        return out

    def per_report(self, stats: Stats) -> dict[str, np.ndarray]:
        out = {"json_value_recall": self._recall(stats), "json_invalid": stats["invalid"].astype(float)}
        if stats["ref_json"].any():
            rows = []
            for (tp, fp, fn), is_json in zip(stats["counts"], stats["ref_json"]):
                if not is_json:
                    rows.append((np.nan, np.nan, np.nan))
                elif tp + fp + fn == 0:
                    rows.append((1.0, 1.0, 1.0))  # nothing predicted, nothing to find: full agreement
                else:
                    rows.append(_prf(tp, fp, fn))
            arr = np.asarray(rows, dtype=float).reshape(-1, 3)
            out.update(json_finding_precision=arr[:, 0], json_finding_recall=arr[:, 1], json_finding_f1=arr[:, 2])
        return out


def _looks_like_json(text: str) -> bool:
    """True when ``text`` parses as a JSON object or list (code fences allowed)."""
    if not text.lstrip().startswith(("{", "[", "```")):
        return False
    match = _FENCE.match(text)
    try:
        return isinstance(json.loads(match.group(1) if match else text), (dict, list))
    except ValueError:
        return False


def _parse_no_fence(text: str) -> tuple[list[dict[str, Any]] | None, str | None]:
    if _FENCE.match(text):
        return None, "not valid JSON: wrapped in a code fence"
    return _try_parse(text)
