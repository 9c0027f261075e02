"""The two structured-findings schemas ``json_overlap`` reads, and which one a file uses.

``rrg-eval`` (a list of sentence objects, or one)::

    {"anatomical_entity": str|null, "location_descriptor": str|null, "procedure": str|null,
     "clinical_findings": [{"clinical_finding": str, "existence": "pos_dx"|"neg_dx"|"unc_dx",
                            "descriptive_term": str|null, "observation": str}]}

``r2gen2`` (R2Gen2's labels, GitHub aayushv001/R2Gen2: the prompt in ``Preprocessing/main.py`` and the model
output shown in ``Training/train_model.ipynb``)::

    {"Sentences": [{"anatomical entity": str|null|[str|null, ...], "location_descriptor": str|null,
                    "procedure": [str|null, ...], "clinical findings": [{"clinical finding": str,
                    "existence": "pos_dx"|"neg_dx"|"unc_dx", "descriptive_term": str (optional),
                    "observation": str} | null, ...]}]}

R2Gen2 writes its keys with spaces in the prompt and with underscores in its pydantic model, so both spellings
are read; text fields may be a string, null or a list of them (each string is one value). Both schemas are read
into the same form (rrg-eval's field names; a text field holds a string, None or a list), so value recall and
finding triples are computed the same way; ``existence`` is kept, so a ``neg_dx`` finding is a negated finding.

A file's schema is detected from its JSON values: ``r2gen2`` when most of them are objects with a
``Sentences`` key, else ``rrg-eval``; entries of the other schema are then not of the file's schema (invalid).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any, Literal

EXISTENCE = frozenset({"pos_dx", "neg_dx", "unc_dx"})
SENTENCE_TEXT_FIELDS = ("anatomical_entity", "location_descriptor", "procedure")
FINDING_TEXT_FIELDS = ("clinical_finding", "descriptive_term", "observation")
_SENTENCE_FIELDS = frozenset(SENTENCE_TEXT_FIELDS) | {"clinical_findings"}
_FINDING_FIELDS = frozenset(FINDING_TEXT_FIELDS) | {"existence"}

Schema = Literal["rrg-eval", "r2gen2"]
SCHEMAS: tuple[Schema, ...] = ("rrg-eval", "r2gen2")

# R2Gen2 spelling -> rrg-eval field name
_R2GEN2_SENTENCE_KEYS = {"anatomical entity": "anatomical_entity", "anatomical_entity": "anatomical_entity",
                         "location_descriptor": "location_descriptor", "location descriptor": "location_descriptor",
                         "procedure": "procedure", "clinical findings": "clinical_findings",
                         "clinical_findings": "clinical_findings"}
_R2GEN2_FINDING_KEYS = {"clinical finding": "clinical_finding", "clinical_finding": "clinical_finding",
                        "existence": "existence", "descriptive_term": "descriptive_term",
                        "descriptive term": "descriptive_term", "observation": "observation"}


_SPACES = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Lower-case, collapse whitespace runs, trim the ends."""
    return _SPACES.sub(" ", text.lower()).strip()


class SchemaError(ValueError):
    """A prediction that is JSON but not of the structured-findings schema."""


def is_r2gen2(value: Any) -> bool:
    """True for a value shaped as R2Gen2's labels (an object with a ``Sentences`` key)."""
    return isinstance(value, dict) and "Sentences" in value


def detect_schema(values: Iterable[Any]) -> Schema | None:
    """The schema of a file from its parsed JSON values (None: not JSON); None when no value is an object/list."""
    votes = Counter("r2gen2" if is_r2gen2(v) else "rrg-eval" for v in values if isinstance(v, (dict, list)))
    if not votes:
        return None
    return "r2gen2" if votes["r2gen2"] > votes["rrg-eval"] else "rrg-eval"


def _check_optional_str(obj: dict, key: str, where: str) -> None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise SchemaError(f"{where}.{key} must be a string or null, got {type(value).__name__}")


def read_rrg_eval(data: Any) -> list[dict[str, Any]]:
    """Validate one report in rrg-eval's schema; its sentences. Raises SchemaError."""
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


def _text_or_list(value: Any, where: str) -> str | list[str | None] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(v is None or isinstance(v, str) for v in value):
        return value
    raise SchemaError(f"{where} must be a string, null or a list of them, got {type(value).__name__}")


def _renamed(obj: dict, names: dict[str, str], where: str) -> dict[str, Any]:
    unknown = set(obj) - set(names)
    if unknown:
        raise SchemaError(f"{where} has unknown field(s): {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = names[key]
        if name in out:
            raise SchemaError(f"{where} has {name} twice (spelled with a space and with an underscore)")
        out[name] = value
    return out


def read_r2gen2(data: Any) -> list[dict[str, Any]]:
    """Validate one report in R2Gen2's schema; its sentences in rrg-eval's field names. Raises SchemaError."""
    if not is_r2gen2(data):
        raise SchemaError("expected an object with a Sentences list (R2Gen2's schema)")
    unknown = set(data) - {"Sentences"}
    if unknown:
        raise SchemaError(f"unknown field(s) beside Sentences: {', '.join(sorted(unknown))}")
    raw = data["Sentences"]
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise SchemaError("Sentences must be a list")
    sentences = []
    for i, item in enumerate(raw):
        where = f"Sentences[{i}]"
        if not isinstance(item, dict):
            raise SchemaError(f"{where} must be an object, got {type(item).__name__}")
        sentence = _renamed(item, _R2GEN2_SENTENCE_KEYS, where)
        for key in SENTENCE_TEXT_FIELDS:
            sentence[key] = _text_or_list(sentence.get(key), f"{where}.{key}")
        findings = sentence.get("clinical_findings") or []
        if not isinstance(findings, list):
            raise SchemaError(f"{where}.clinical findings must be a list")
        read = []
        for j, raw_finding in enumerate(findings):
            fwhere = f"{where}.clinical findings[{j}]"
            if raw_finding is None:  # R2Gen2's prompt writes "clinical findings": [null] for none
                continue
            if not isinstance(raw_finding, dict):
                raise SchemaError(f"{fwhere} must be an object or null")
            finding = _renamed(raw_finding, _R2GEN2_FINDING_KEYS, fwhere)
            for key in FINDING_TEXT_FIELDS:
                finding[key] = _text_or_list(finding.get(key), f"{fwhere}.{key}")
            if finding.get("existence") not in EXISTENCE:
                raise SchemaError(f"{fwhere}.existence must be one of pos_dx, neg_dx, unc_dx")
            read.append(finding)
        sentence["clinical_findings"] = read
        sentences.append(sentence)
    return sentences


def read_schema(data: Any, schema: Schema) -> list[dict[str, Any]]:
    """The sentences of one parsed report read in ``schema``; raises SchemaError."""
    return read_r2gen2(data) if schema == "r2gen2" else read_rrg_eval(data)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def text_values(sentences: list[dict[str, Any]]) -> list[str]:
    """Every non-empty text value (cleaned), the existence code excluded; list items one by one."""
    values: list[str] = []
    for sentence in sentences:
        for key in SENTENCE_TEXT_FIELDS:
            values.extend(_strings(sentence.get(key)))
        for finding in sentence.get("clinical_findings") or []:
            for key in FINDING_TEXT_FIELDS:
                values.extend(_strings(finding.get(key)))
    cleaned = (clean_text(v) for v in values)
    return [v for v in cleaned if v]


def _joined(value: Any) -> str:
    """One field as one cleaned string: a list's cleaned, non-empty items sorted and joined with "; "."""
    if isinstance(value, list):
        return "; ".join(sorted(c for c in (clean_text(v) for v in _strings(value)) if c))
    return clean_text(value or "")


def finding_triples(sentences: list[dict[str, Any]]) -> Counter:
    """Multiset of (observation, existence, anatomical_entity) triples, texts cleaned."""
    triples: Counter = Counter()
    for sentence in sentences:
        entity = _joined(sentence.get("anatomical_entity"))
        for finding in sentence.get("clinical_findings") or []:
            triples[(_joined(finding.get("observation")), finding["existence"], entity)] += 1
    return triples
