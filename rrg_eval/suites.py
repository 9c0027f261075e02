"""Named, versioned metric suites: one flag reproduces a leaderboard's or a paper's table.

A :class:`Suite` fixes the metrics, their exact options, and the table: column order and the names the
leaderboard or paper uses. ``rrg-eval score --suite NAME``, ``rrg_eval.score(suite=NAME)`` and ``compare
--suite NAME`` run it and write the suite's name and version into the output. A suite's version changes whenever
one of its numbers could change (an option, a metric convention), so a table says which definition it follows.

A column whose metric (or option) is not in this version of rrg-eval, or cannot run here, is listed as not
available with the reason; the others still run. Options given by the user (``--set``, ``--device``) apply on top
of the suite's; options that change numbers then show in the signatures, which every output carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import option_sources as opts
from .errors import ConfigError, MetricUnavailable
from .metrics.base import Metric
from .metrics.registry import metric_class


@dataclass(frozen=True)
class Column:
    """One column of a suite's table: the leaderboard's name for rrg-eval key ``key`` of metric ``metric``."""

    label: str
    metric: str
    key: str
    note: str = ""


@dataclass(frozen=True)
class Suite:
    """A named, versioned set of metrics with exact options, and its table's columns."""

    name: str
    version: str
    description: str
    source: str
    columns: tuple[Column, ...]
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # metric -> exact options
    notes: tuple[str, ...] = ()

    @property
    def metrics(self) -> list[str]:
        """The metric names, in the order of their first column."""
        return list(dict.fromkeys(c.metric for c in self.columns))

    def label(self) -> str:
        return f"{self.name} v{self.version}"


_CXR_BERTSCORE = {"preset": "cxr"}
_CXR_BERT_NOTE = "the BERTScore CXR preset: distilroberta-base weights in $RRG_EVAL_MODEL_DIR/distilroberta-base/"
_SEMB_NOTE = "SembScore: the CheXbert weights of f1chexbert (chexbert.pth, bert-base-uncased config and vocab)"

SUITES: dict[str, Suite] = {s.name: s for s in (
    Suite(
        name="rexrank", version="1",
        description="ReXrank leaderboard (ranked by 1/RadCliQ-v1), CXR-Report-Metric conventions",
        source="ReXrank (rajpurkarlab.github.io/rexrank); rajpurkarlab/CXR-Report-Metric CXRMetric/run_eval.py",
        columns=(
            Column("BLEU-2", "bleu2_cxr", "bleu2_cxr"),
            Column("BERTScore", "bertscore", "bertscore_cxr_f1", _CXR_BERT_NOTE),
            Column("SembScore", "sembscore", "sembscore", _SEMB_NOTE),
            Column("RadGraph", "radgraph_combined", "radgraph_combined"),
            Column("1/RadCliQ-v1", "radcliq", "radcliq_v1_inverse",
                   "needs every RadCliQ component: RadGraph v1, the BERTScore CXR preset, SembScore, BLEU-2"),
            Column("RaTEScore", "ratescore", "ratescore", "needs the ratescore extra and its two models"),
            Column("GREEN", "green", "green", "an LLM judge: set green.model (and green.base_url for a server)"),
        ),
        options={"bertscore": _CXR_BERTSCORE, "radgraph_combined": {"model_type": "radgraph"},
                 "radcliq": {"idf": False}},
        notes=("BERTScore IDF off, as ReXrank states (CXR-Report-Metric USE_IDF=False).",),
    ),
    Suite(
        name="rrg24", version="1",
        description="BioNLP 2024 shared task on radiology report generation (RRG24)",
        source="Stanford-AIMI/RRG24 index.md (metrics: BLEU, ROUGE-L, BERTScore, F1-RadGraph, F1-CheXbert)",
        columns=(
            Column("BLEU-4", "bleu", "bleu4"),
            Column("ROUGE-L", "rouge", "rougeL"),
            Column("BERTScore", "bertscore", "bertscore_f1"),
            Column("F1-CheXbert", "f1chexbert", "f1chexbert_14_micro_f1"),
            Column("F1-RadGraph", "radgraph", "radgraph_partial"),
        ),
        options={"bleu": {}, "rouge": {"use_stemmer": True},
                 "bertscore": {"model_type": "distilbert-base-uncased", "num_layers": 5,
                               "rescale_with_baseline": True, "idf": False},
                 "f1chexbert": {"uncertain_as": "positive"}, "radgraph": {"model_type": "radgraph-xl"}},
        notes=("BLEU: pycocoevalcap corpus BLEU-4 on whitespace tokens (ViLMedic/RadEval convention).",
               "F1-CheXbert as micro-F1 over 14 labels and F1-RadGraph as the partial reward (RG_ER) on "
               "radgraph-xl are this suite's reading of the RRG24 scorer; its source does not pin them."),
    ),
    Suite(
        name="llava-rad", version="1",
        description="LLaVA-Rad (Chaves et al. 2024) report-generation table",
        source="LLaVA-Rad paper and microsoft/LLaVA-Rad evaluation (CheXbert mapping: uncertain as negative)",
        columns=(
            Column("BLEU-4", "bleu", "bleu4"),
            Column("ROUGE-L", "rouge", "rougeL"),
            Column("F1-RadGraph", "radgraph", "radgraph_partial"),
            Column("Micro-F1-14", "f1chexbert", "f1chexbert_14_micro_f1"),
            Column("Macro-F1-14", "f1chexbert", "f1chexbert_14_macro_f1"),
            Column("Micro-F1-5", "f1chexbert", "f1chexbert_5_micro_f1"),
            Column("Macro-F1-5", "f1chexbert", "f1chexbert_5_macro_f1"),
        ),
        options={"bleu": {}, "rouge": {"use_stemmer": True}, "radgraph": {"model_type": "radgraph"},
                 "f1chexbert": {"uncertain_as": "negative"}},
        notes=("CheXprompt (LLM judge) is left out: it runs only when named and configured (--metrics chexprompt).",
               "BLEU-4 (pycocoevalcap) and F1-RadGraph as the partial reward on the original RadGraph model are "
               "this suite's reading of LLaVA-Rad's evaluation; the CheXbert mapping (uncertain as negative) is "
               "LLaVA-Rad's."),
    ),
    Suite(
        name="two-stage", version="1",
        description="the two-stage reference generator's table (rrg-eval baselines)",
        source="rrg-eval docs/baselines.md",
        columns=(
            Column("BLEU-4", "bleu", "bleu4"),
            Column("ROUGE-L", "rouge", "rougeL"),
            Column("F1-CheXbert-14", "f1chexbert", "f1chexbert_14_micro_f1"),
            Column("F1-CheXbert-5", "f1chexbert", "f1chexbert_5_micro_f1"),
        ),
        options={"bleu": {}, "rouge": {"use_stemmer": True}, "f1chexbert": {"uncertain_as": "positive"}},
    ),
    Suite(
        name="r2gen2", version="1",
        description="R2Gen2 (structured JSON findings): JSON overlap, ROUGE, BERTScore precision and recall",
        source="aayushv001/R2Gen2 Training/train_model.ipynb (evaluate_labels; evaluate's rouge and bertscore "
               "with lang='en')",
        columns=(
            Column("JSON overlap (R2Gen2)", "json_overlap", "json_overlap_r2gen2"),
            Column("JSON value recall", "json_overlap", "json_value_recall"),
            Column("JSON invalid rate", "json_overlap", "json_invalid_rate"),
            Column("ROUGE-1", "rouge", "rouge1"),
            Column("ROUGE-2", "rouge", "rouge2"),
            Column("ROUGE-L", "rouge", "rougeL"),
            Column("ROUGE-Lsum", "rouge", "rougeLsum"),
            Column("BERTScore P", "bertscore", "bertscore_p"),
            Column("BERTScore R", "bertscore", "bertscore_r"),
        ),
        options={"json_overlap": {"convention": ("rrg-eval", "r2gen2")}, "rouge": {"use_stemmer": False},
                 "bertscore": {"model_type": "roberta-large", "num_layers": 17, "rescale_with_baseline": False,
                               "idf": False}},
        notes=("evaluate's rouge (no stemming) reports a bootstrap median of the mean F-measure; rrg-eval reports "
               "the mean itself.", "BERTScore: bert_score's lang='en' defaults (roberta-large, layer 17, "
                                   "not rescaled)."),
    ),
)}


def get_suite(name: str) -> Suite:
    """The suite called ``name``; an unknown name is a ConfigError naming the valid ones."""
    try:
        return SUITES[name]
    except KeyError:
        raise ConfigError(f"unknown suite {name!r}; valid suites: {', '.join(SUITES)}") from None


def build_suite_metrics(suite: Suite, *, options: Mapping[str, Mapping[str, Any]] | None = None,
                        global_options: Mapping[str, Any] | None = None, strict: bool = False,
                        ) -> tuple[list[Metric], dict[str, str]]:
    """The suite's metrics with its options (user ``options`` and ``global_options`` on top).

    Returns (runnable metrics, {metric: why it is not available}); with ``strict`` a metric that cannot run is
    a MetricUnavailable error instead.
    """
    built: list[Metric] = []
    unavailable: dict[str, str] = {}
    known = []
    for name in suite.metrics:
        try:
            metric_class(name)
            known.append(name)
        except ConfigError:
            note = next((c.note for c in suite.columns if c.metric == name and c.note), "")
            unavailable[name] = f"{name} is not in this version of rrg-eval" + (f" ({note})" if note else "")
    user = dict(options or {})
    opts.check_known(user)
    merged = opts.merge({k: dict(suite.options.get(k, {})) for k in known}, user)
    merged = opts.apply_globals(merged, known, global_options or {})
    for name in known:
        try:
            metric = metric_class(name)(**merged.get(name, {}))
        except ConfigError as exc:
            note = next((c.note for c in suite.columns if c.metric == name and c.note), "")
            unavailable[name] = f"{exc}" + (f" ({note})" if note else "")
            continue
        reason = metric.unavailable_reason()
        if reason is None:
            built.append(metric)
        else:
            unavailable[name] = reason
    if strict and unavailable:
        raise MetricUnavailable("; ".join(f"{k} cannot run: {v}" for k, v in unavailable.items()))
    return built, unavailable


def suite_info(suite: Suite) -> dict[str, Any]:
    """What an output records about its suite."""
    return {"name": suite.name, "version": suite.version,
            "columns": [{"label": c.label, "metric": c.metric, "key": c.key} for c in suite.columns]}


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def render_suite_table(scores: Mapping[str, float], unavailable: Mapping[str, str], errors: Mapping[str, str],
                       suite: Suite, *, n: int | None = None) -> str:
    """A one-system table in the suite's column order and names (Markdown), with why a column is empty."""
    header = "| " + " | ".join(c.label for c in suite.columns) + " |"
    rule = "|" + "|".join("---:" for _ in suite.columns) + "|"
    row = "| " + " | ".join(_cell(scores.get(c.key)) for c in suite.columns) + " |"
    lines = [f"suite {suite.label()}: {suite.description}" + (f"; {n} reports" if n is not None else ""),
             "", header, rule, row, ""]
    for column in suite.columns:
        if column.key in scores:
            continue
        why = errors.get(column.metric) or unavailable.get(column.metric) or "no value (see the warnings)"
        lines.append(f"- {column.label}: not available: {why}")
    lines.extend(f"- note: {n_}" for n_ in suite.notes)
    return "\n".join(lines).rstrip("\n") + "\n"


def render_suites(fmt: str = "table") -> str:
    """Every suite with its columns, metrics and exact options (``rrg-eval suites``)."""
    import json

    if fmt == "json":
        data = [{**suite_info(s), "description": s.description, "source": s.source,
                 "options": {k: dict(v) for k, v in s.options.items()}, "notes": list(s.notes)}
                for s in SUITES.values()]
        return json.dumps(data, indent=2) + "\n"
    lines = []
    for suite in SUITES.values():
        lines.append(f"{suite.label()}: {suite.description}")
        lines.append(f"  source: {suite.source}")
        for column in suite.columns:
            options = suite.options.get(column.metric, {})
            shown = ", ".join(f"{k}={v}" for k, v in options.items()) or "defaults"
            lines.append(f"  {column.label:<15} {column.key:<26} {column.metric} ({shown})")
        lines.extend(f"  note: {n}" for n in suite.notes)
        lines.append("")
    return "\n".join(lines)
