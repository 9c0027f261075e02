"""F1-RadGraph: entity and relation overlap between RadGraph graphs of prediction and reference.

Equal to ``radgraph.F1RadGraph(reward_level="all", model_type=...)`` of the official ``radgraph`` package
(0.1.18): the same archives from ``StanfordAIMI/RRG_scorers`` (``radgraph``, ``radgraph-xl`` (default),
``modern-radgraph-xl``), the same per-model preprocessing and decoding (``rrg_eval.backends.radgraph_model``),
and the same three reward levels per report:

* ``simple``: F1 of the sets of (entity text, label);
* ``partial``: F1 of (text, label) for entities without relations and (text, label, True) for those with;
* ``complete``: F1 of (text, label) for entities without relations and (lowercased text, label, relation,
  lowercased target text) for every relation;

a report whose prediction or reference is empty, or whose graphs have no entity on either side, scores 0 and
stays in the mean. Corpus scores are means of the per-report F1 values. ``lowercase=true`` lowercases entity
text everywhere (the unreleased upstream fix); by default the text is compared case-sensitively except inside
relation tuples, as every released version does.

Graphs are cached on disk per text and per digest of every file that changes them (the archive, the encoder's
config.json and tokenizer files), so references are annotated once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..backends.precision import HELP as PRECISION_HELP
from ..backends.precision import PRECISIONS, Precision
from ..errors import MetricUnavailable
from ..option_spec import option, torch_device
from ..stats import Stats
from ..weights import WeightRequest, model_dir, resolve
from .base import RunContext, count_empty
from .model import Codec, ModelMetric

HUB_REPO = "StanfordAIMI/RRG_scorers"
ARCHIVES = {"radgraph": "radgraph.tar.gz", "radgraph-xl": "radgraph-xl.tar.gz",
            "modern-radgraph-xl": "modern-radgraph-xl.tar.gz"}
LEVELS = ("simple", "partial", "complete")
ModelType = Literal["radgraph", "radgraph-xl", "modern-radgraph-xl"]
MAX_LENGTH_NOTE = "max_length (512 in the released archives)"
_TOKENIZER_FILES = ("tokenizer_config.json", "vocab.txt", "tokenizer.json", "special_tokens_map.json")
# every encoder file AutoConfig / AutoTokenizer read: each changes the numbers (issue 11 #7)
ENCODER_FILES = ("config.json", *_TOKENIZER_FILES, "vocab.json", "merges.txt", "added_tokens.json")


@dataclass(frozen=True)
class RadGraphConfig:
    """Options of ``radgraph``; ``model_type`` keeps the official package's argument name."""

    model_type: ModelType = option("radgraph-xl", sig="model", help="RadGraph model: radgraph, radgraph-xl, "
                                   "modern-radgraph-xl (archives of StanfordAIMI/RRG_scorers)")
    lowercase: bool = option(False, sig="lower", help="compare entity text lowercased at every reward level "
                             "(the unreleased upstream fix); false = every released radgraph version")
    precision: Precision = option("fp32", in_signature=False, help=PRECISION_HELP, choices=PRECISIONS)
    model_path: str | None = option(None, in_signature=False, help="explicit path of the model archive "
                                    "(<model_type>.tar.gz); the signature carries its sha256 instead")
    encoder_path: str | None = option(None, in_signature=False, help="explicit folder with the encoder's "
                                      "config.json and tokenizer files (default: the hub id the archive names)")
    device: str = option("auto", in_signature=False, help="torch device: auto (cuda when present), cpu, cuda:0",
                         check=torch_device)
    batch_size: int = option(16, in_signature=False, help="reports per encoder call")


def _candidates(entities: dict[str, dict[str, Any]], level: str, lowercase: bool) -> set[tuple]:
    """The tuples one reward level compares, for one graph."""
    def text(entity: dict[str, Any]) -> str:
        return entity["tokens"].lower() if lowercase else entity["tokens"]

    out: set[tuple] = set()
    for entity in entities.values():
        relations = entity["relations"]
        if level == "simple":
            out.add((text(entity), entity["label"]))
        elif not relations:
            out.add((text(entity), entity["label"]))
        elif level == "partial":
            out.add((text(entity), entity["label"], True))
        else:
            for relation, target in relations:
                out.add((entity["tokens"].lower(), entity["label"], relation,
                         entities[target]["tokens"].lower()))
    return out


def _f1(hyp: set[tuple], ref: set[tuple]) -> float:
    precision = sum(1 for x in hyp if x in ref) / len(hyp) if hyp else 0.0
    recall = sum(1 for x in ref if x in hyp) / len(ref) if ref else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def report_rewards(hyp: dict[str, dict[str, Any]], ref: dict[str, dict[str, Any]], *,
                   lowercase: bool = False) -> tuple[float, float, float]:
    """(simple, partial, complete) F1 of one pair of graphs (entity dicts), as ``radgraph.rewards`` computes it."""
    if not hyp or not ref:
        return (0.0, 0.0, 0.0)
    return tuple(_f1(_candidates(hyp, level, lowercase), _candidates(ref, level, lowercase))  # type: ignore[return-value]
                 for level in LEVELS)


class RadGraph(ModelMetric):
    """F1-RadGraph (simple / partial / complete), radgraph 0.1.18 convention."""

    name = "radgraph"
    Config = RadGraphConfig
    description = "F1 of RadGraph entities and relations (RG_E, RG_ER, RG_ER-bar), per report, averaged"
    reference = ("radgraph 0.1.18 F1RadGraph(reward_level='all', model_type='radgraph-xl')(hyps=..., refs=...)"
                 " mean_reward")
    keys = ("radgraph_simple", "radgraph_partial", "radgraph_complete")

    # -- weights ------------------------------------------------------------------------------------------
    def archive_request(self) -> WeightRequest:
        model_type = self.config.model_type
        return WeightRequest(HUB_REPO, ARCHIVES[model_type], what=f"RadGraph model archive ({model_type})")

    def required_weights(self) -> list[WeightRequest]:
        """The archive, and (once the archive is here) the encoder files its config names."""
        requests = [self.archive_request()]
        try:
            archive = resolve(self.archive_request(), self.config.model_path, use_hub=False)
        except MetricUnavailable:
            return requests
        from ..backends.radgraph_model import archive_encoder_name

        name = archive_encoder_name(archive)
        if name and not Path(name).is_dir():
            tokenizer = "tokenizer.json" if self.config.model_type == "modern-radgraph-xl" else "vocab.txt"
            requests += [WeightRequest(name, "config.json", what="RadGraph encoder config"),
                         WeightRequest(name, tokenizer, what="RadGraph encoder tokenizer")]
        return requests

    def archive_path(self, *, use_hub: bool = True) -> Path:
        """The archive's local path (explicit ``model_path``, ``$RRG_EVAL_MODEL_DIR`` or the hub cache)."""
        return resolve(self.archive_request(), self.config.model_path, use_hub=use_hub)

    def weight_files(self, *, use_hub: bool = True) -> list[Path]:
        """The archive, and the encoder's config.json and tokenizer files (each changes the numbers)."""
        from ..backends.radgraph_model import archive_encoder_name

        archive = self.archive_path(use_hub=use_hub)
        name = archive_encoder_name(archive)
        files = [archive]
        if name or self.config.encoder_path:
            folder = self._encoder_dir(name or "", use_hub=use_hub)
            files += [folder / n for n in ENCODER_FILES if (folder / n).is_file()]
        return files

    def cache_label(self) -> str:
        return f"radgraph-{self.config.model_type}"

    def _encoder_dir(self, encoder_name: str, *, use_hub: bool = True) -> Path:
        if self.config.encoder_path:
            path = Path(self.config.encoder_path).expanduser()
            if not (path / "config.json").is_file():
                raise MetricUnavailable(f"radgraph.encoder_path {path} has no config.json")
            return path
        if Path(encoder_name).is_dir():
            return Path(encoder_name)
        config = resolve(WeightRequest(encoder_name, "config.json", what="RadGraph encoder config"),
                         use_hub=use_hub)
        folder = config.parent
        root = model_dir()
        if root is not None and folder.resolve().is_relative_to(root.resolve()):
            return folder  # a model folder holds what it holds; only a hub snapshot is completed from the hub
        for name in _TOKENIZER_FILES:  # the tokenizer files sit next to config.json in the hub snapshot
            if not (folder / name).is_file():
                try:
                    resolve(WeightRequest(encoder_name, name), use_hub=use_hub)
                except MetricUnavailable:
                    pass
        return folder

    def load_backend(self) -> Any:
        """The loaded RadGraph model (``rrg_eval.backends.radgraph_model.RadGraphModel``)."""
        from ..backends.radgraph_model import RadGraphModel

        return RadGraphModel(self.archive_path(), self.config.model_type, self._encoder_dir,
                             device=self.device(), batch_size=self.batch_size, precision=self.precision)

    def model(self) -> Any:
        """The loaded RadGraph model (kept for callers of the previous API)."""
        return self.backend()

    def annotate(self, texts: Sequence[str], *, cache_dir: Path | None = None,
                 context: RunContext | None = None) -> list[dict[str, Any]]:
        """RadGraph graphs of ``texts``: ``{"text", "entities", "n_wordpieces", "windows"}`` per text, cached.

        The public entry for other metrics built on RadGraph annotations (e.g. ``radgraph_combined``): they
        share this cache (namespace per model type and weights digest).
        """
        from ..backends.radgraph_model import Graph

        context = context or RunContext(cache_dir=cache_dir)
        def compute(todo: list[str], progress: Any = None) -> list[Graph]:
            # on_batch only when progress is asked for (a stand-in back-end may take the texts alone)
            extra = {"on_batch": progress} if progress is not None else {}
            return list(self.backend().annotate(todo, **extra))

        graphs = self.annotate_cached(texts, context, codec=Codec(lambda g: g.to_json(), Graph.from_json),
                                      compute=compute)
        return [{"text": graphs[t].text, "entities": graphs[t].entities, "n_wordpieces": graphs[t].n_wordpieces,
                 "windows": graphs[t].windows} for t in texts]

    # -- computing ----------------------------------------------------------------------------------------
    def compute_stats(self, *, predictions: list[str], references: list[str], ids: list[str],
                      context: RunContext) -> Stats:
        # "scored as the reference does" holds for empty texts only; whitespace-only ones get their own warning
        count_empty([t for t in predictions if not t], [t for t in references if not t], self.name, context)
        n = len(predictions)
        # the official package skips a pair when either text is empty (len 0); a text of only spaces has no
        # words, hence no entities, and scores 0 as well (the package itself fails on it)
        live = [i for i in range(n) if predictions[i] and references[i]]
        blank = sum(1 for i in live if not predictions[i].strip() or not references[i].strip())
        if blank:
            context.warn(self.name, f"{blank} pair(s) with a blank (whitespace-only) report scored 0 and kept in "
                         "the mean: rrg-eval's choice, the official package raises on them")
        texts = [predictions[i] for i in live] + [references[i] for i in live]
        graphs = self.annotate(texts, context=context) if texts else []
        long = len({g["text"] for g in graphs if g["windows"] > 1})
        if long:
            context.warn(self.name, f"{long} report(s) longer than the encoder's {MAX_LENGTH_NOTE} word pieces: "
                         "encoded in several windows, as the official package does (no truncation)")
        scores = np.zeros((n, 3), dtype=float)
        hyp_entities: list[dict[str, Any]] = [{} for _ in range(n)]
        ref_entities: list[dict[str, Any]] = [{} for _ in range(n)]
        for j, i in enumerate(live):
            hyp_entities[i] = graphs[j]["entities"]
            ref_entities[i] = graphs[len(live) + j]["entities"]
            scores[i] = report_rewards(hyp_entities[i], ref_entities[i], lowercase=self.config.lowercase)
        return {"rewards": scores, "prediction_entities": hyp_entities, "reference_entities": ref_entities}

    def aggregate(self, stats: Stats) -> dict[str, float]:
        values = stats["rewards"]
        if len(values) == 0:
            return {k: 0.0 for k in self.keys}
        means = values.mean(axis=0)
        return {k: float(means[j]) for j, k in enumerate(self.keys)}

    def per_report(self, stats: Stats) -> dict[str, np.ndarray]:
        return {k: stats["rewards"][:, j] for j, k in enumerate(self.keys)}

