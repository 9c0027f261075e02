"""R2Gen2's structured-output mode: reports -> R2Gen2 JSON labels (training targets), and validation of the JSON a
model writes.

The schema is the one ``json_overlap`` reads (:mod:`rrg_eval.metrics.json_schema`, R2Gen2 spelling)::

    {"Sentences": [{"anatomical entity": str|null, "location_descriptor": str|null, "procedure": str|null,
                    "clinical findings": [{"clinical finding": str, "existence": "pos_dx"|"neg_dx"|"unc_dx",
                                           "observation": str}]}]}

R2Gen2 had GPT-4 write these labels for every IU X-ray report. Where a study carries such labels (field
``data.json_field``, an object or a JSON string) they are the target as given; otherwise
:func:`report_to_r2gen2` derives them from the report with transparent rules (one sentence object per sentence;
negation and uncertainty cues set ``existence``; a small anatomy lexicon fills ``anatomical entity``; a
laterality word fills ``location_descriptor``). The rules are a stand-in for the labeller, not a parser: use
ready labels to reproduce R2Gen2's row.

A generated text is *valid* when ``json_overlap``'s lenient extraction finds a JSON value of R2Gen2's schema in
it. Invalid outputs are counted and kept as written (``json_overlap`` scores them 0 and reports the rate).
"""

from __future__ import annotations

import json
import re
from typing import Any

from rrg_eval.errors import InputError
from rrg_eval.metrics.json_overlap import parse_structured

from ..studies import Study

NEGATION = re.compile(r"^(?:there is |there are )?(?:no|without|negative for|free of|not)\b\s*", re.IGNORECASE)
_NEGATED_ANYWHERE = re.compile(r"\b(?:no|without|negative for|free of|not)\b", re.IGNORECASE)
UNCERTAIN = re.compile(r"\b(?:may|might|possible|possibly|probable|probably|likely|suspicious|questionable|"
                       r"cannot be excluded|suggest|suggests|suggestive|concern for)\b", re.IGNORECASE)
# anatomy named in chest X-ray reports, longest first so that "pleural space" wins over "pleural"
ANATOMY = ("cardiomediastinal silhouette", "mediastinal contours", "pulmonary vasculature", "pleural space",
           "costophrenic angle", "hemidiaphragm", "mediastinum", "diaphragm", "trachea", "heart", "lungs", "lung",
           "pleural", "aorta", "hilum", "hila", "spine", "bones", "ribs", "osseous structures", "soft tissues")
_ANATOMY = re.compile(r"\b(" + "|".join(re.escape(a) for a in ANATOMY) + r")\b", re.IGNORECASE)
_SIDE = re.compile(r"\b(right|left|bilateral|bibasilar|upper|lower|basilar|apical)\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s+\.\s*")
R2GEN2_SYSTEM_PROMPT = ("You are an expert Radiologist.\nYour only task is to convert the medical findings present "
                        "in the given images into JSON Labels.")
"""R2Gen2's system prompt for label generation (GitHub aayushv001/R2Gen2, Training/train_model.ipynb, cell 51)."""


def sentences(report: str) -> list[str]:
    """The report's sentences, stripped, without their final full stop."""
    parts = (p.strip().rstrip(".").strip() for p in _SENTENCE_END.split(report))
    return [p for p in parts if p]


def existence(sentence: str) -> str:
    """``neg_dx`` (a negation cue), ``unc_dx`` (a hedge) or ``pos_dx``."""
    if NEGATION.search(sentence) or _NEGATED_ANYWHERE.search(sentence):
        return "neg_dx"
    if UNCERTAIN.search(sentence):
        return "unc_dx"
    return "pos_dx"


def sentence_labels(sentence: str) -> dict[str, Any]:
    """One sentence as an R2Gen2 sentence object (rule-based)."""
    anatomy = _ANATOMY.search(sentence)
    side = _SIDE.search(sentence)
    observation = NEGATION.sub("", sentence).strip() or sentence
    return {"anatomical entity": anatomy.group(1).lower() if anatomy else None,
            "location_descriptor": side.group(1).lower() if side else None,
            "procedure": None,
            "clinical findings": [{"clinical finding": sentence, "existence": existence(sentence),
                                   "observation": observation}]}


def report_to_r2gen2(report: str) -> dict[str, Any]:
    """R2Gen2 labels of a free-text report: ``{"Sentences": [...]}``, one object per sentence."""
    return {"Sentences": [sentence_labels(s) for s in sentences(report)]}


def dumps(labels: Any) -> str:
    """Compact JSON (the training target: fewer tokens than indented JSON, the same value)."""
    return json.dumps(labels, ensure_ascii=False, separators=(",", ":"))


def structured_target(study: Study, text: str, json_field: str) -> str:
    """The JSON target of a study: its ready labels in ``json_field`` when present (validated), else the labels
    derived from ``text``."""
    given = study.fields.get(json_field)
    if given is None:
        return dumps(report_to_r2gen2(text))
    raw = given if isinstance(given, str) else dumps(given)
    try:
        parse_structured(raw, mode="strict", schema="r2gen2")
    except ValueError as exc:
        raise InputError(f'study "{study.id}": field "{json_field}" is not R2Gen2 JSON labels: {exc}',
                         field=json_field) from None
    return raw


def json_valid(text: str) -> bool:
    """Whether a generated text holds R2Gen2 JSON (lenient extraction, as ``json_overlap`` reads it)."""
    try:
        parse_structured(text, schema="r2gen2")
    except ValueError:  # JSONDecodeError and SchemaError are both ValueErrors
        return False
    return True
