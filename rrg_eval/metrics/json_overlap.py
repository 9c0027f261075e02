"""Structured findings: overlap of JSON-formatted predictions with the reference report.

Two conventions (``convention``, one or both, comma-separated):

``rrg-eval`` (default): predictions read in one of two schemas (:mod:`.json_schema`: rrg-eval's own, or
R2Gen2's ``{"Sentences": [...]}``, detected per file and named in the signature):

* ``json_value_recall``: per report, the share of the prediction's non-null text values (every field but the
  ``existence`` code) found in the reference text (both lower-cased, whitespace runs collapsed, ends trimmed),
  matched as a whole-word phrase; mean over reports. A valid prediction with no text values scores 0. When the
  reference is JSON too, its text values (joined) are the reference text.
* ``json_finding_precision`` / ``_recall`` / ``_f1``: only when references are JSON; (observation, existence,
  anatomical_entity) triples as multisets, micro-averaged over reports; a wrong existence is a miss (a
  ``neg_dx`` finding only matches a ``neg_dx`` finding).
* ``json_invalid_rate``: predictions from which no JSON value of the file's schema can be read. They score 0,
  stay in every mean, and their ids are flagged in the per-report output (``json_invalid``) and listed in the
  warnings.

The JSON is extracted as :mod:`.json_extract` describes (``parse=lenient``: the first complete JSON value after
an optional code fence, prose around it ignored, trailing commas and single quotes accepted; ``parse=strict``:
the whole text, inside an optional fence, read by ``json.loads``'s rules).

``r2gen2``: ``json_overlap_r2gen2``, R2Gen2's published "custom JSON overlap" on the raw strings
(:mod:`.r2gen2_overlap`: words of the output found as case-sensitive substrings of the reference).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..option_spec import option
from ..stats import Stats
from .base import Metric, RunContext
from .json_extract import ParseMode, extract_json
from .json_schema import (
    EXISTENCE,
    FINDING_TEXT_FIELDS,
    SENTENCE_TEXT_FIELDS,
    Schema,
    SchemaError,
    clean_text,
    detect_schema,
    finding_triples,
    is_r2gen2,
    read_rrg_eval,
    read_schema,
    text_values,
)
from .r2gen2_overlap import r2gen2_counts

__all__ = ["CONVENTIONS", "EXISTENCE", "FINDING_TEXT_FIELDS", "SENTENCE_TEXT_FIELDS", "JsonOverlap",
           "JsonOverlapConfig", "SchemaError", "clean_text", "finding_triples", "parse_structured", "phrase_in",
           "text_values"]

CONVENTIONS = ("rrg-eval", "r2gen2")
"""``rrg-eval``: value recall, finding P/R/F1, invalid rate. ``r2gen2``: R2Gen2's published overlap."""


def parse_structured(text: str, *, mode: ParseMode = "lenient", fences: bool = True,
                     schema: Schema = "rrg-eval") -> list[dict[str, Any]]:
    """Extract and validate one structured report; raises ValueError (JSON) or SchemaError (shape)."""
    return read_schema(extract_json(text, mode=mode, fences=fences), schema)


def phrase_in(phrase: str, text: str) -> bool:
    """Whole-word phrase match of cleaned ``phrase`` in cleaned ``text`` (as regex ``(?<!\\w)phrase(?!\\w)``)."""
    if not phrase:
        return False
    start = text.find(phrase)
    while start >= 0:
        end = start + len(phrase)
        if not (start and _word_char(text[start - 1])) and not (end < len(text) and _word_char(text[end])):
            return True
        start = text.find(phrase, start + 1)
    return False


def _word_char(char: str) -> bool:
    return char.isalnum() or char == "_"  # what ``\w`` matches in a str pattern


def _prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _check_conventions(value: tuple[str, ...]) -> str | None:
    if not value:
        return f"name at least one convention: {', '.join(CONVENTIONS)}"
    unknown = [v for v in value if v not in CONVENTIONS]
    if unknown:
        return f"unknown convention(s) {', '.join(unknown)}; valid: {', '.join(CONVENTIONS)}"
    return None


@dataclass(frozen=True)
class JsonOverlapConfig:
    """Options of ``json_overlap``."""

    strip_code_fences: bool = option(True, sig="fences", help="accept JSON wrapped in Markdown code fences")
    parse: Literal["lenient", "strict"] = option(
        "lenient", help="lenient: the first complete JSON value after an optional code fence (prose around it "
                        "ignored, trailing commas and single quotes accepted); strict: the whole text is JSON")
    convention: tuple[str, ...] = option(
        ("rrg-eval",), check=_check_conventions,
        help="rrg-eval (value recall, finding P/R/F1, invalid rate), r2gen2 (R2Gen2's published JSON overlap, "
             "key json_overlap_r2gen2), or both: rrg-eval,r2gen2")
    schema: Literal["auto", "rrg-eval", "r2gen2"] = option(
        "auto", in_signature=False, help="schema of the JSON files: auto (detected per file), rrg-eval or r2gen2; "
                                         "the schema read is named in the signature either way")

    def __post_init__(self) -> None:
        # one spelling per set of conventions (rrg-eval first), so equal numbers get equal signatures
        if isinstance(self.convention, tuple) and all(isinstance(c, str) for c in self.convention):
            ordered = tuple(c for c in CONVENTIONS if c in self.convention)
            ordered += tuple(dict.fromkeys(c for c in self.convention if c not in CONVENTIONS))
            object.__setattr__(self, "convention", ordered)


class JsonOverlap(Metric):
    """Overlap of structured (JSON) findings with the reference."""

    name = "json_overlap"
    Config = JsonOverlapConfig
    description = ("structured (JSON) findings: value recall, finding-triple F1, invalid-JSON rate; R2Gen2's "
                   "published JSON overlap (convention=r2gen2)")
    reference = ("rrg-eval's own definition (docs/metrics.md); convention=r2gen2: evaluate_labels of R2Gen2 "
                 "(github.com/aayushv001/R2Gen2, Training/train_model.ipynb)")
    keys = ("json_value_recall", "json_finding_precision", "json_finding_recall", "json_finding_f1",
            "json_invalid_rate", "json_overlap_r2gen2")
    key_kinds = {"json_invalid_rate": "rate"}
    lower_is_better = frozenset({"json_invalid_rate"})

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._schemas_read: dict[str, set[str]] = {"predictions": set(), "references": set()}

    # -- signature: the schema read is part of what produced the numbers -------------------------------------
    @property
    def signature_fixed(self) -> tuple[str, ...]:  # type: ignore[override]
        """``schema:`` (predictions) and ``ref_schema:`` (references: a schema, or ``text``) as read so far.

        Before any computation they show the ``schema`` option (``auto``); several systems scored with one
        metric (``compare``) that were read in different schemas show them all (``r2gen2+rrg-eval``).
        """
        if "rrg-eval" not in self.config.convention:
            return ()
        parts = []
        for label, role in (("schema", "predictions"), ("ref_schema", "references")):
            seen = self._schemas_read[role]
            parts.append(f"{label}:{'+'.join(sorted(seen)) if seen else self.config.schema}")
        return tuple(parts)

    def signature_state(self) -> dict[str, list[str]]:
        """The schemas read so far, for an engine that computed elsewhere (``rrg_eval.distributed``)."""
        return {role: sorted(seen) for role, seen in self._schemas_read.items()}

    def absorb_signature_state(self, state: dict[str, list[str]]) -> None:
        """Add the schemas another instance read (a Ray actor's), so the signature names them as a local run."""
        for role, seen in state.items():
            self._schemas_read.setdefault(role, set()).update(seen)

    def compute(self, **kwargs: Any) -> Any:
        """:meth:`Metric.compute`; the signature names the schemas of this call's inputs only."""
        self._schemas_read = {"predictions": set(), "references": set()}
        return super().compute(**kwargs)

    def skip_reason(self, *, predictions: Sequence[str], references: Sequence[str]) -> str | None:
        if any(self._looks_structured(p) for p in predictions):
            return None
        return "no prediction is JSON; name it (--metrics json_overlap) to score structured findings"

    # -- computing ----------------------------------------------------------------------------------------
    def _extract(self, text: str) -> tuple[Any, str | None]:
        try:
            return extract_json(text, mode=self.config.parse, fences=self.config.strip_code_fences), None
        except ValueError as exc:  # json.JSONDecodeError, and int() refusing a 5,000-digit number
            return None, f"not valid JSON: {exc}"

    def _looks_structured(self, text: str) -> bool:
        """True when ``text`` holds a report of either schema (found as ``parse`` finds it), or is JSON as a whole
        (an object or list, in an optional fence: run, so that its invalid rate is reported)."""
        if "{" not in text and "[" not in text:
            return False
        value, _ = self._extract(text)
        if not isinstance(value, (dict, list)):
            return False
        if is_r2gen2(value):
            return True
        try:
            if read_rrg_eval(value):
                return True
        except SchemaError:
            pass
        try:
            whole = extract_json(text, mode="strict", fences=self.config.strip_code_fences)
        except ValueError:
            return False
        return isinstance(whole, (dict, list))

    def _schema(self, values: list[Any]) -> Schema | None:
        return detect_schema(values) if self.config.schema == "auto" else self.config.schema

    def compute_stats(self, *, predictions: list[str], references: list[str], ids: list[str],
                      context: RunContext) -> Stats:
        stats: Stats = {}
        if "rrg-eval" in self.config.convention:
            stats.update(self._structured_stats(predictions, references, ids, context))
        if "r2gen2" in self.config.convention:
            stats.update(self._r2gen2_stats(predictions, references, ids, context))
        return stats

    def _r2gen2_stats(self, predictions: list[str], references: list[str], ids: list[str],
                      context: RunContext) -> Stats:
        counts = np.array([r2gen2_counts(p, r) for p, r in zip(predictions, references)], dtype=float)
        counts = counts.reshape(-1, 2)
        empty = [rid for rid, total in zip(ids, counts[:, 1]) if total == 0]
        if empty:
            shown = ", ".join(empty[:10]) + (", ..." if len(empty) > 10 else "")
            context.warn(self.name, f"json_overlap_r2gen2: {len(empty)} of {len(ids)} predictions have no word left "
                                    "after R2Gen2's stripping and schema-word list (R2Gen2's evaluate_labels "
                                    f"divides by zero on them); scored 0 (ids: {shown})")
        return {"r2gen2_found": counts[:, 0], "r2gen2_words": counts[:, 1]}

    def _structured_stats(self, predictions: list[str], references: list[str], ids: list[str],
                          context: RunContext) -> Stats:
        n = len(predictions)
        pred_values = [self._extract(p) for p in predictions]
        # a reference is read as JSON only when it starts as JSON: prose with a bracket in it stays prose
        ref_values = [self._extract(r) if r.lstrip().startswith(("{", "[", "```")) else (None, "text")
                      for r in references]
        pred_schema = self._schema([v for v, _ in pred_values]) or "rrg-eval"
        ref_schema = self._schema([v for v, _ in ref_values])
        total = np.zeros(n)
        found = np.zeros(n)
        invalid = np.zeros(n, dtype=bool)
        ref_json = np.zeros(n, dtype=bool)
        counts = np.zeros((n, 3))  # tp, fp, fn
        invalid_ids: list[str] = []
        for i, ((pred, _), (ref, _), ref_text_raw) in enumerate(zip(pred_values, ref_values, references)):
            ref_sentences = _read(ref, ref_schema) if ref_schema is not None else None
            ref_json[i] = ref_sentences is not None
            ref_text = " ; ".join(text_values(ref_sentences)) if ref_sentences is not None else clean_text(
                ref_text_raw)
            ref_triples = finding_triples(ref_sentences) if ref_sentences is not None else Counter()
            sentences = _read(pred, pred_schema)
            if sentences is None:
                invalid[i] = True
                invalid_ids.append(ids[i])
                counts[i] = (0, 0, sum(ref_triples.values()))
                continue
            values = text_values(sentences)
            total[i] = len(values)
            matched = {v: phrase_in(v, ref_text) for v in set(values)}
            found[i] = sum(matched[v] for v in values)
            pred_triples = finding_triples(sentences)
            tp = sum((pred_triples & ref_triples).values())
            counts[i] = (tp, sum(pred_triples.values()) - tp, sum(ref_triples.values()) - tp)
        self._schemas_read["predictions"].add(pred_schema)
        self._schemas_read["references"].add(ref_schema if ref_json.any() else "text")
        if invalid_ids:
            shown = ", ".join(invalid_ids[:10]) + (", ..." if len(invalid_ids) > 10 else "")
            context.warn(self.name, f"{len(invalid_ids)} of {n} predictions are not valid structured JSON and "
                                    f"score 0 (ids: {shown})")
        if ref_json.any() and not ref_json.all():
            context.warn(self.name, f"{int((~ref_json).sum())} of {n} references are not structured JSON; "
                                    "finding precision/recall/F1 use the JSON ones only")
        return {"total": total, "found": found, "invalid": invalid, "ref_json": ref_json, "counts": counts}

    # -- aggregating --------------------------------------------------------------------------------------
    @staticmethod
    def _ratio(found: np.ndarray, total: np.ndarray) -> np.ndarray:
        return np.divide(found, total, out=np.zeros_like(total, dtype=float), where=total > 0)

    def aggregate(self, stats: Stats) -> dict[str, float]:
        out: dict[str, float] = {}
        if "total" in stats:
            n = len(stats["total"])
            if n == 0:
                out.update(json_value_recall=0.0, json_invalid_rate=0.0)
            else:
                out["json_value_recall"] = float(self._ratio(stats["found"], stats["total"]).mean())
                if stats["ref_json"].any():
                    tp, fp, fn = stats["counts"][stats["ref_json"]].sum(axis=0)
                    p, r, f = _prf(tp, fp, fn)
                    out.update(json_finding_precision=p, json_finding_recall=r, json_finding_f1=f)
                out["json_invalid_rate"] = float(stats["invalid"].mean())
        if "r2gen2_words" in stats:
            values = self._ratio(stats["r2gen2_found"], stats["r2gen2_words"])
            out["json_overlap_r2gen2"] = float(values.mean()) if len(values) else 0.0
        return out

    def per_report(self, stats: Stats) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if "total" in stats:
            out["json_value_recall"] = self._ratio(stats["found"], stats["total"])
            out["json_invalid"] = stats["invalid"].astype(float)
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
                out.update(json_finding_precision=arr[:, 0], json_finding_recall=arr[:, 1],
                           json_finding_f1=arr[:, 2])
        if "r2gen2_words" in stats:
            out["json_overlap_r2gen2"] = self._ratio(stats["r2gen2_found"], stats["r2gen2_words"])
        return out


def _read(value: Any, schema: Schema) -> list[dict[str, Any]] | None:
    """The sentences of a parsed value in ``schema``; None when it is not JSON or not of the schema."""
    if value is None:
        return None
    try:
        return read_schema(value, schema)
    except SchemaError:
        return None
