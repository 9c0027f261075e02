"""RaTEScore: entity-aware similarity of prediction and reference (MAGIC-AI4Med, PyPI ``ratescore``).

Equal, per report, to ``RaTEScore(...).compute_score(candidate_list, reference_list)`` of the official
``ratescore`` 0.6.0 package (import name ``RaTEScore``):

1. entities (text, type) of each report: medspaCy sentences, RaTE-NER labels, the package's IOB walk
   (:mod:`rrg_eval.backends.ratescore_model`), types ABNORMALITY, NON-ABNORMALITY, DISEASE, NON-DISEASE, ANATOMY;
2. each entity embedded by BioLORD-2023-C (``[CLS]`` of the last hidden state), vectors L2-normalised;
3. for every entity of side A, the most cosine-similar entity of side B (``torch.topk(k=1)``, whose choice among
   exactly equal similarities is reproduced by :func:`torch_top1`), its similarity ``s`` weighted by the
   affinity ``w[type_A, type_B]`` and by ``neg_weight`` when the pair is one of the 8 negation pairs
   (a NON- type against its positive counterpart or the other positive type);
   ``score(A -> B) = sum(s * w * neg) / sum(w)`` (0 when ``sum(w) == 0``);
4. ``P = score(reference -> prediction)``, ``R = score(prediction -> reference)``, RaTEScore = ``2PR / (P + R)``
   (0 when ``P + R == 0``); 0.5 when either report has no entity.

Affinity weights and ``neg_weight``: the package's ``long`` (default) and ``short`` matrices (constants below,
from ``RaTEScore/scorer.py`` of ratescore 0.6.0). The corpus score is the mean of the per-report scores.
A report with no sentence the package keeps (empty, whitespace only, under 3 characters) has no entity and
scores 0.5 with any partner (counted in a warning); the package itself raises IndexError on a call whose only
pair has such a report, and in a batch drops it from its NER output, which shifts every later report onto the
wrong partner. A report of only punctuation is a kept sentence, scored as the package scores it.

Speed: NER runs once per distinct report text, batched over distinct sentences sorted by length; each distinct
entity string is embedded once per run. Both go through the model-metric scaffold's cached loop
(:meth:`ModelMetric.annotate_cached`), in namespaces keyed by the sha256 of every file of the model that produces
them (NER: the RaTE-NER folder and the splitter's versions; embeddings: the BioLORD folder), so warm reruns load
no model and import no torch; the signature's ``weights:`` field covers every file of both folders.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..backends.precision import HELP as PRECISION_HELP
from ..backends.precision import PRECISIONS, Precision, cache_suffix
from ..cache import text_key
from ..errors import MetricUnavailable
from ..fingerprint import files_digest
from ..option_spec import option, positive, torch_device
from ..stats import Stats
from ..weights import WeightRequest, resolve
from .base import RunContext
from .model import Codec, ModelMetric
from .ratescore_match import (
    NEG_PAIRS,
    NO_ENTITY_SCORE,
    EntitySide,
    affinity,
    best_matches,
    directed_score,
    f1,
    normalise,
    pair_score,
    torch_top1,
)

# the matching and scoring functions live in ratescore_match; re-exported here, where callers found them
__all__ = ["NEG_PAIRS", "NO_ENTITY_SCORE", "EntitySide", "RaTEScore", "RaTEScoreConfig", "affinity", "best_matches",
           "directed_score", "f1", "normalise", "pair_score", "torch_top1"]

NER_REPO = "Angelakeke/RaTE-NER-Deberta"
ENCODER_REPO = "FremyCompany/BioLORD-2023-C"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json", ".txt", ".model")


def _model_files(folder: Path) -> list[Path]:
    """The files of a model folder that its loading reads (weights, configuration, tokenizer)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES))


@dataclass(frozen=True)
class RaTEScoreConfig:
    """Options of ``ratescore``."""

    affinity_matrix: Literal["long", "short"] = option(
        "long", sig="aff", help="type affinity weights of the package: long (default, paragraphs) or short")
    ner_path: str | None = option(None, in_signature=False, help="explicit folder of Angelakeke/RaTE-NER-Deberta "
                                  "(config, weights, tokenizer); the signature carries its digest instead")
    encoder_path: str | None = option(None, in_signature=False, help="explicit folder of "
                                      "FremyCompany/BioLORD-2023-C; the signature carries its digest instead")
    device: str = option("auto", in_signature=False, help="torch device: auto (cuda when present), cpu, cuda:0",
                         check=torch_device)
    batch_size: int = option(16, in_signature=False, help="sentences per NER call", check=positive)
    entity_batch_size: int = option(128, in_signature=False, help="entity strings per encoder call",
                                    check=positive)
    precision: Precision = option("fp32", in_signature=False, help=PRECISION_HELP + "; both RaTE-NER and BioLORD",
                                  choices=PRECISIONS)


class _Models:
    """RaTEScore's back-end: the NER model and the entity encoder, each loaded on its first use only."""

    def __init__(self, metric: RaTEScore) -> None:
        self._metric = metric
        self._ner: Any = None
        self._encoder: Any = None

    @property
    def ner(self) -> Any:
        if self._ner is None:
            from ..backends.ratescore_model import RaTENER

            m = self._metric
            self._ner = RaTENER(m.folder("ner"), device=m.device(), batch_size=m.batch_size,
                                precision=m.precision)
        return self._ner

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            from ..backends.ratescore_model import EntityEncoder

            m = self._metric
            self._encoder = EntityEncoder(m.folder("encoder"), device=m.device(),
                                          batch_size=m.config.entity_batch_size, precision=m.precision)
        return self._encoder


class RaTEScore(ModelMetric):
    """RaTEScore, ratescore 0.6.0 convention."""

    name = "ratescore"
    Config = RaTEScoreConfig
    description = "entity-aware similarity: NER entities matched by BioLORD embeddings, type-weighted F1"
    reference = "ratescore 0.6.0 RaTEScore().compute_score(candidates, references): one value per report"
    keys = ("ratescore",)
    key_kinds = {"ratescore": "score"}
    extra = "ratescore"
    install_hint = "pip install 'rrg-eval[ratescore]'"
    requires = ("torch", "transformers", "medspacy")

    def __init__(self, config: Any = None, *, splitter: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._splitter = splitter  # tests pass a fake; default: medspaCy, as the package
        self._splitter_id = (getattr(splitter, "name", type(splitter).__name__) if splitter is not None else None)
        if splitter is not None:  # a given splitter needs no medspaCy
            self.requires = ("torch", "transformers")
        self._folders: dict[str, Path] = {}
        self._digests: dict[str, str] = {}

    # -- weights and identity -----------------------------------------------------------------------------
    def required_weights(self) -> list[WeightRequest]:
        return [WeightRequest(NER_REPO, what="RaTE-NER DeBERTa token classifier (RaTEScore entities)"),
                WeightRequest(ENCODER_REPO, what="BioLORD-2023-C entity encoder (RaTEScore)")]

    def folder(self, which: str, *, use_hub: bool = True) -> Path:
        """The model folder of the NER model (``ner``) or the entity encoder (``encoder``)."""
        if which not in self._folders:
            request = self.required_weights()[0 if which == "ner" else 1]
            explicit = self.config.ner_path if which == "ner" else self.config.encoder_path
            folder = resolve(request, explicit, use_hub=use_hub)
            if not (folder / "config.json").is_file():
                raise MetricUnavailable(f"{request.describe()}: {folder} has no config.json")
            self._folders[which] = folder
        return self._folders[which]

    def weight_files(self, *, use_hub: bool = True) -> list[Path]:
        """Every file of both model folders that loading reads: weights, config.json, tokenizer files."""
        return [*_model_files(self.folder("ner", use_hub=use_hub)),
                *_model_files(self.folder("encoder", use_hub=use_hub))]

    def model_digest(self, which: str, cache_dir: Path | None = None) -> str:
        """sha256 over every model file of the NER (``ner``) or encoder (``encoder``) folder alone."""
        if which not in self._digests:
            self._digests[which] = files_digest(_model_files(self.folder(which)), cache_dir)
        return self._digests[which]

    def cache_namespace(self, cache_dir: Path | None = None) -> str:
        """The NER entries' namespace: the NER model's digest and the sentence splitter (not the encoder).

        A reduced-precision run gets ``-<precision>`` on this and every other namespace of the metric (entity
        ids, vectors, matches), so its entries never mix with fp32's (whose names are unchanged).
        """
        from ..backends.ratescore_model import splitter_versions

        splitter = self._splitter_id or "medspacy-" + "-".join(f"{k}{v}" for k, v in splitter_versions().items())
        self.resolved_weight_files()  # the scaffold's synthetic-weights warning reads them
        return ("ratescore-ner-" + text_key(self.model_digest("ner", cache_dir), splitter)[:20]
                + cache_suffix(self.precision))

    def _encoder_namespace(self, kind: str, cache_dir: Path | None) -> str:
        return f"ratescore-{kind}-" + self.model_digest("encoder", cache_dir)[:20] + cache_suffix(self.precision)

    def load_backend(self) -> _Models:
        return _Models(self)

    def _split(self) -> Any:
        if self._splitter is None:
            from ..backends.ratescore_model import MedspacySplitter

            self._splitter = MedspacySplitter()
        return self._splitter

    # -- annotation ---------------------------------------------------------------------------------------
    def entities(self, texts: Sequence[str], context: RunContext) -> dict[str, list[tuple[str, str]]]:
        """Entities (text, type) of each distinct text, from the cache or the NER model."""
        from ..backends.ratescore_model import decode_entities, encode_entities

        def compute(todo: list[str]) -> list[list[tuple[str, str]]]:
            split = self._split()
            sentences = {t: split(t) for t in todo}
            distinct = list(dict.fromkeys(s for t in todo for s in sentences[t]))
            model = self.backend().ner
            before = model.truncated
            per_sentence = dict(zip(distinct, model.entities(distinct)))
            if model.truncated > before:
                context.warn(self.name, f"{model.truncated - before} sentence(s) longer than 512 tokens truncated "
                             "to 512, as the official package does")
            return [[e for s in sentences[t] for e in per_sentence[s]] for t in todo]

        return self.annotate_cached(texts, context, codec=Codec(encode_entities, decode_entities), compute=compute)

    def embeddings(self, strings: Sequence[str], context: RunContext) -> tuple[dict[str, str], dict[str, np.ndarray]]:
        """Each distinct entity string's token-id key, and each key's L2-normalised BioLORD vector.

        Vectors are keyed by the encoder's token ids, not by the string, so that strings the tokenizer encodes
        alike ("No" and "no") share one vector bit for bit, as in the package, across runs too. Two cached
        steps: string -> id key, id key -> vector; a warm run reads both and loads nothing.
        """
        from ..backends.ratescore_model import decode_vector, encode_vector

        def ids(todo: list[str]) -> list[str]:
            return [text_key(*map(str, x)) for x in self.backend().encoder.token_ids(todo)]

        id_key = self.annotate_cached(strings, context, namespace=self._encoder_namespace("ids", context.cache_dir),
                                      codec=Codec(str.encode, _decode_key), compute=ids)
        example: dict[str, str] = {}
        for s, k in id_key.items():
            example.setdefault(k, s)
        found = self.annotate_cached(list(example), context, codec=Codec(encode_vector, decode_vector),
                                     namespace=self._encoder_namespace("emb", context.cache_dir),
                                     compute=lambda todo: list(self.backend().encoder.embed([example[k]
                                                                                            for k in todo])))
        if not found:
            return id_key, {}
        names = list(found)
        normed = normalise(np.stack([found[k] for k in names]))
        return id_key, {k: normed[i] for i, k in enumerate(names)}

    def exact_matches(self, predictions: Sequence[str], references: Sequence[str],
                      ents: dict[str, list[tuple[str, str]]], sides: dict[str, EntitySide],
                      context: RunContext) -> dict[tuple[str, str], tuple[list[int], list[float], list[int],
                                                                           list[float]]]:
        """Best matches of the pairs where a side repeats an entity under different types, as the package.

        There the package's pick among the repeats is decided by float rounding of its own batch layout (the
        repeats are not bit-identical), so those pairs are matched by the encoder exactly as the package runs
        it (:meth:`EntityEncoder.side_matches`) and the matches are cached per pair.
        """
        wanted = list(dict.fromkeys(json.dumps([p, r], ensure_ascii=False)
                                    for p, r in zip(predictions, references)
                                    if sides[p].types and sides[r].types
                                    and (sides[p].ambiguous() or sides[r].ambiguous())))
        if not wanted:
            return {}

        def compute(todo: list[str]) -> list[Any]:
            encoder = self.backend().encoder
            pairs = [json.loads(pair) for pair in todo]
            return [encoder.side_matches([e for e, _ in ents[r]], [e for e, _ in ents[p]]) for p, r in pairs]

        namespace = "ratescore-pair-" + text_key(self.cache_namespace(context.cache_dir),
                                                 self.model_digest("encoder", context.cache_dir))[:20] + cache_suffix(
            self.precision)
        found = self.annotate_cached(wanted, context, namespace=namespace, compute=compute,
                                     codec=Codec(lambda v: json.dumps(v).encode("utf-8"), _decode_matches))
        return {tuple(json.loads(pair)): value for pair, value in found.items()}  # type: ignore[misc]

    # -- computing ----------------------------------------------------------------------------------------
    def compute_stats(self, *, predictions: list[str], references: list[str], ids: list[str],
                      context: RunContext) -> Stats:
        self._warn_too_short(predictions, references, context)
        ents = self.entities([*predictions, *references], context)
        id_key, vectors = self.embeddings([e for t in ents for e, _ in ents[t]], context)
        weights, neg_weight = affinity(self.config.affinity_matrix)
        dim = len(next(iter(vectors.values()))) if vectors else 0
        sides: dict[str, EntitySide] = {}
        for text, found in ents.items():
            distinct = list(dict.fromkeys(id_key[e] for e, _ in found))
            row = {k: i for i, k in enumerate(distinct)}
            stacked = np.stack([vectors[k] for k in distinct]) if distinct else np.zeros((0, dim), np.float32)
            sides[text] = EntitySide(stacked, np.asarray([row[id_key[e]] for e, _ in found], dtype=np.int64),
                                     tuple(k for _, k in found))

        exact = self.exact_matches(predictions, references, ents, sides, context)
        scores, n_pred, n_ref, no_entity = [], [], [], 0
        for pred, ref in zip(predictions, references):
            p, r = sides[pred], sides[ref]
            if not p.types or not r.types:
                no_entity += 1
            if (pred, ref) in exact and p.types and r.types:
                i_rp, v_rp, i_pr, v_pr = exact[(pred, ref)]
                scores.append(f1(directed_score(i_rp, v_rp, r.types, p.types, weights, neg_weight),
                                 directed_score(i_pr, v_pr, p.types, r.types, weights, neg_weight)))
            else:
                scores.append(pair_score(r, p, weights, neg_weight))
            n_pred.append(len(p.types))
            n_ref.append(len(r.types))
        if no_entity:
            context.warn(self.name, f"{no_entity} pair(s) with no entity on one side scored {NO_ENTITY_SCORE}, as "
                         "the official package does")
        return {"ratescore": np.asarray(scores, dtype=float), "prediction_entities": np.asarray(n_pred),
                "reference_entities": np.asarray(n_ref)}

    def _warn_too_short(self, predictions: Sequence[str], references: Sequence[str], context: RunContext) -> None:
        """Count the reports that cannot hold a sentence the package keeps (empty, under 3 characters, no word).

        They have no entity, so their pair scores 0.5 here; the package raises IndexError on a call with such a
        report and, in a batch, drops it from its NER output, which shifts every later report onto the wrong
        partner.
        """
        from ..backends.ratescore_model import keep_sentence

        for side, texts in (("prediction", predictions), ("reference", references)):
            short = sum(1 for t in texts if keep_sentence(t) is None)
            if short:
                context.warn(self.name, f"{short} {side}(s) empty or too short for a sentence (under 3 characters "
                             "or no word): no entity, scored 0.5; the official package raises IndexError on such a "
                             "report, or drops it from a batch and shifts the later pairs")

    def aggregate(self, stats: Stats) -> dict[str, float]:
        values = np.asarray(stats["ratescore"], dtype=float)
        return {"ratescore": float(values.mean()) if len(values) else 0.0}

    def per_report(self, stats: Stats) -> dict[str, np.ndarray]:
        return {"ratescore": np.asarray(stats["ratescore"], dtype=float)}


def _decode_key(data: bytes) -> str | None:
    return data.decode("ascii") or None


def _decode_matches(data: bytes) -> tuple[list[int], list[float], list[int], list[float]]:
    i_rp, v_rp, i_pr, v_pr = json.loads(data.decode("utf-8"))
    return [int(x) for x in i_rp], [float(x) for x in v_rp], [int(x) for x in i_pr], [float(x) for x in v_pr]
