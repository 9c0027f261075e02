"""BERTScore, equal to ``bert_score.score`` (bert-score 0.3.13), with our own batched and cached embedding code.

What is reproduced from bert-score 0.3.13 (``bert_score.score`` with one reference per candidate):

* tokenisation: the model's tokenizer with its special tokens (``[CLS] ... [SEP]``), texts stripped first, an
  empty text encoded as ``[CLS] [SEP]``, truncation to the tokenizer's ``model_max_length`` (the model's
  position limit when the tokenizer sets none); truncations are counted in the warnings;
* the representation: the output of layer ``num_layers`` (the model cut after that layer, as bert-score does);
* weights: without idf every token weighs 1 except the ``[CLS]`` and ``[SEP]`` ids (0); with idf, token ``t``
  weighs ``log((N + 1) / (df(t) + 1))`` where ``N`` is the number of reference rows and ``df`` counts the
  reference rows containing ``t`` (unseen tokens ``log(N + 1)``), so ``[CLS]``/``[SEP]`` weigh 0 as well;
* greedy matching on cosine similarities in float32: P = weighted mean over candidate tokens of their best
  similarity to a reference token, R the other way round, F = 2PR / (P + R); an empty candidate or reference
  (only ``[CLS] [SEP]``) gets P = R = 0, and F = 0 where it is undefined;
* bert-score pads the pairs of each batch of ``batch_size`` rows to the longest text in that batch and lets the
  padding (similarity 0) take part in the maximum: a token's best similarity is therefore at least 0 when the
  other text is shorter than the longest one of its batch. This only matters when every similarity of a token
  is negative (not seen with trained models) and is reproduced exactly;
* rescaling with the baseline file that ships inside the bert-score package
  (``bert_score/rescale_baseline/<lang>/<model_type>.tsv``, row ``num_layers``): ``(x - b) / (1 - b)``,
  separately for P, R and F.

Per-report P, R and F are computed once in ``compute_stats``; with ``idf=True`` the idf weights come from the
whole reference corpus given to ``compute_stats`` (as ``bert_score.score`` computes them from its ``refs``), and
stay fixed when rows are resampled: ``aggregate`` is the plain mean of the per-report values, which equals
bert-score's output on the full corpus. Embeddings are computed once per distinct text (sorted by length,
batched) and cached on disk keyed by the model's identity (name, layer, digest of its files) and the text.

``preset="cxr"`` is BERTScore as CXR-Report-Metric computes it (``CXRMetric/run_eval.py``,
``add_bertscore_col``: ``BERTScorer(model_type="distilroberta-base", lang="en", rescale_with_baseline=True,
idf=USE_IDF, idf_sents=<references>)``): distilroberta-base at bert-score's layer 5, rescaled with bert-score's
``distilroberta-base.tsv`` baseline, IDF off by default, and runs of spaces collapsed to one
(``re.sub(' +', ' ', text)``) in predictions and references; keys ``bertscore_cxr_p/r/f1``. With IDF on, the idf
weights come from an explicit corpus (``idf_corpus``: a file of texts, its digest in the signature) or, by
default, from all references of the run (``idf_corpus:refs`` and the run's references digest in the signature);
never from a batch, so a report's score does not depend on how the run is split when a corpus is given.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..backends.bertscore_encoder import Encoder, decode_entry, encode_entry
from ..backends.precision import HELP as PRECISION_HELP
from ..backends.precision import PRECISIONS, Precision
from ..errors import ConfigError, MetricUnavailable
from ..option_spec import option, torch_device
from ..stats import Stats
from ..weights import WeightRequest, hub_offline, resolve
from .base import RunContext, count_empty
from .model import INSTALL_HINT, Codec, ModelMetric

# The layer bert-score uses by default for some common models (bert_score.utils.model2layers, tuned on WMT16).
DEFAULT_LAYERS: dict[str, int] = {
    "distilbert-base-uncased": 5,
    "distilbert-base-multilingual-cased": 5,
    "distilroberta-base": 5,
    "bert-base-uncased": 9,
    "bert-large-uncased": 18,
    "bert-base-multilingual-cased": 9,
    "roberta-base": 10,
    "roberta-large": 17,
    "microsoft/deberta-xlarge-mnli": 40,
}

# Files fetched for a hub model (WordPiece tokenizers; other models can be given as a local folder).
MODEL_FILES: tuple[tuple[str, str], ...] = (
    ("config.json", "model configuration"),
    ("tokenizer_config.json", "tokenizer configuration"),
    ("vocab.txt", "WordPiece vocabulary"),
    ("model.safetensors", "model weights"),
)
# byte-level BPE models (RoBERTa family, e.g. the CXR preset's distilroberta-base) have these instead
BPE_MODEL_FILES: tuple[tuple[str, str], ...] = (
    ("config.json", "model configuration"),
    ("vocab.json", "BPE vocabulary"),
    ("merges.txt", "BPE merges"),
    ("model.safetensors", "model weights"),
)
# what preset="cxr" fixes (CXR-Report-Metric run_eval.add_bertscore_col)
CXR_PRESET = {"model_type": "distilroberta-base", "num_layers": 5, "rescale_with_baseline": True, "lang": "en"}
CXR_KEYS = ("bertscore_cxr_p", "bertscore_cxr_r", "bertscore_cxr_f1")
_SPACES = re.compile(r" +")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
IDENTITY_FILES = ("config.json", "tokenizer_config.json", "tokenizer.json", "vocab.txt", "vocab.json", "merges.txt",
                  "special_tokens_map.json", *WEIGHT_FILES)
__all__ = ["BertScore", "BertScoreConfig", "decode_entry", "encode_entry", "greedy_match_batch", "read_baseline"]


@dataclass(frozen=True)
class BertScoreConfig:
    """Options of ``bertscore`` (names as in ``bert_score.score``)."""

    model_type: str = option("distilbert-base-uncased", sig="model",
                             help="hub id of the model (its folder in $RRG_EVAL_MODEL_DIR is <org>--<name>)")
    num_layers: int | None = option(None, sig="L", help="layer whose output is used (default: bert-score's "
                                                        "choice for model_type, 5 for distilbert-base-uncased)")
    idf: bool = option(False, help="weight tokens by idf computed from the references")
    rescale_with_baseline: bool = option(True, sig="rescaled", help="rescale with bert-score's baseline file")
    lang: str = option("en", help="language of the baseline file (bert_score/rescale_baseline/<lang>/)")
    precision: Precision = option("fp32", in_signature=False, help=PRECISION_HELP, choices=PRECISIONS)
    baseline_path: str | None = option(None, in_signature=False,
                                       help="a baseline TSV of your own (its digest goes into the signature)")
    model_path: str | None = option(None, in_signature=False,
                                    help="local model folder (config.json, tokenizer files, weights)")
    batch_size: int = option(64, in_signature=False, help="texts per forward pass (and pairs per matching batch)")
    device: str = option("auto", in_signature=False, help="'auto' (cuda when available), 'cpu', 'cuda', 'cuda:1'",
                         check=torch_device)
    preset: Literal["default", "cxr"] = option(
        "default", in_signature=False, help="cxr: CXR-Report-Metric's BERTScore (distilroberta-base, layer 5, "
        "rescaled, spaces collapsed; keys bertscore_cxr_*); in the signature when not default")
    idf_corpus: str | None = option(None, in_signature=False, help="with idf: a file of texts (.txt one per line, "
                                    "or JSONL/JSON/CSV with a report field) whose idf weights are used instead of "
                                    "the run's references; its digest goes into the signature",
                                    check=lambda v: None if v is None or Path(str(v)).expanduser().is_file()
                                    else f"file {v} does not exist")


def read_idf_corpus(path: str) -> list[str]:
    """The texts of an idf corpus file: one per non-empty line of a .txt file, else the reports of a report file."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"bertscore.idf_corpus {file} does not exist")
    if file.suffix.lower() == ".txt":
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"bertscore.idf_corpus {file}: cannot read it ({exc})") from None
        texts = [ln for ln in lines if ln.strip()]
    else:
        from ..inputs import as_report_set

        texts = list(as_report_set(str(file), role="idf corpus").texts.values())
    if not texts:
        raise ConfigError(f"bertscore.idf_corpus {file} holds no text")
    return texts


def corpus_digest(texts: list[str]) -> str:
    """sha256 prefix over the corpus texts, in order (what the signature records)."""
    import hashlib

    h = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little") + data)
    return h.hexdigest()[:12]


def bundled_baseline(lang: str, model_type: str) -> Path | None:
    """The rescaling baseline file that ships inside the bert-score package, if installed and present."""
    spec = importlib.util.find_spec("bert_score")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "rescale_baseline" / lang / f"{model_type}.tsv"
    return path if path.is_file() else None


def read_baseline(path: Path, num_layers: int) -> np.ndarray:
    """Row ``num_layers`` (P, R, F) of a bert-score baseline TSV (``LAYER,P,R,F`` header), as float32."""
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        rows = [[float(v) for v in ln.split(",")] for ln in lines[1:]]
    except (OSError, ValueError) as exc:
        raise ConfigError(f"bertscore: cannot read the baseline file {path}: {exc}") from None
    if num_layers >= len(rows) or len(rows[num_layers]) < 4:
        raise ConfigError(f"bertscore: the baseline file {path} has no row for layer {num_layers}")
    return np.asarray(rows[num_layers][1:4], dtype=np.float64).astype(np.float32)


def _single_thread_blas() -> Any:
    """A context limiting numpy's BLAS to one thread (threadpoolctl, installed with scikit-learn), if available."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _unit_rows(emb: np.ndarray) -> np.ndarray:
    """Each embedding divided by its L2 norm (float32), as bert-score normalises before matching."""
    return emb / np.linalg.norm(emb, axis=-1, keepdims=True)


def greedy_match_batch(hyps: list[np.ndarray], refs: list[np.ndarray], hyp_w: list[np.ndarray],
                       ref_w: list[np.ndarray]) -> np.ndarray:
    """Raw (P, R, F) rows of one batch of pairs, exactly as bert-score's batched matching computes them.

    Inputs are unit-normalised float32 embeddings and float32 token weights. bert-score pads every text of the
    batch to the longest one and gives padded positions similarity 0, which takes part in the maxima (its
    padding quirk); padded weights are 0. Here each pair is matched at its own size (no wasted products) and
    the quirk is applied as a floor of 0 where the other text is shorter than the longest of the batch.
    """
    lh = max(len(h) for h in hyps)
    lr = max(len(r) for r in refs)
    out = np.zeros((len(hyps), 3), np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        for i, (h, r, hw, rw) in enumerate(zip(hyps, refs, hyp_w, ref_w)):
            sim = h @ r.T
            word_p = sim.max(axis=1)
            word_r = sim.max(axis=0)
            if len(r) < lr:
                word_p = np.maximum(word_p, np.float32(0))
            if len(h) < lh:
                word_r = np.maximum(word_r, np.float32(0))
            p = np.float32((word_p * (hw / hw.sum())).sum())
            rc = np.float32((word_r * (rw / rw.sum())).sum())
            f = np.float32(2) * p * rc / (p + rc)
            if len(h) == 2 or len(r) == 2:
                p = rc = np.float32(0)
            out[i] = (p, rc, 0.0 if np.isnan(f) else f)
    return out


class BertScore(ModelMetric):
    """BERTScore P/R/F1 (bert-score 0.3.13 convention), means over reports."""

    name = "bertscore"
    Config = BertScoreConfig
    description = "token-level greedy matching of contextual embeddings (BERTScore, rescaled)"
    reference = ("bert-score 0.3.13 bert_score.score(model_type='distilbert-base-uncased', num_layers=5, "
                 "idf=False, lang='en', rescale_with_baseline=True)")
    keys = ("bertscore_p", "bertscore_r", "bertscore_f1")
    key_options = {key: {"preset": "cxr"} for key in CXR_KEYS}  # the CXR preset's keys (all_keys)
    # kind_of is a class method: the preset's keys are listed here too (rescaled, so scores, not fractions)
    key_kinds = {"bertscore_p": "score", "bertscore_r": "score", "bertscore_f1": "score",
                 **dict.fromkeys(CXR_KEYS, "score")}
    display_name = "BERTScore"

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.keys = type(self).keys
        self._corpus: list[str] | None = None
        if self.config.preset == "cxr":
            self._apply_cxr_preset()
        if self.config.num_layers is None:
            layers = DEFAULT_LAYERS.get(self.config.model_type)
            if layers is None:
                raise ConfigError(f"bertscore: no default layer known for model_type {self.config.model_type!r}; "
                                  f"set bertscore.num_layers")
            self.config = replace(self.config, num_layers=layers)
        if self.config.batch_size < 1:
            raise ConfigError("bertscore.batch_size must be at least 1")

    def blocks_reason(self) -> str | None:
        """Why the statistics cannot be computed block by block (``rrg_eval.distributed``), or None."""
        if self.config.idf and not self.config.idf_corpus:
            return "with idf=True the idf weights come from the whole reference corpus"
        return None

    def _apply_cxr_preset(self) -> None:
        """Fix the CXR preset's model, layer and rescaling; an explicit conflicting option is a ConfigError."""
        defaults = BertScoreConfig()
        for name, value in CXR_PRESET.items():
            given = getattr(self.config, name)
            if given not in (value, getattr(defaults, name)):
                raise ConfigError(f"bertscore.preset=cxr fixes {name}={value!r} (CXR-Report-Metric); it cannot be "
                                  f"combined with bertscore.{name}={given!r}")
        self.config = replace(self.config, **CXR_PRESET)
        self.keys = CXR_KEYS
        self.key_kinds = dict.fromkeys(CXR_KEYS, "score")

    def signature_fields(self) -> list[str]:
        """The options, then ``preset:cxr`` and, with idf, where the idf weights come from."""
        fields = super().signature_fields()
        if self.config.preset != "default":
            fields.append(f"preset:{self.config.preset}")
        if self.config.idf and self.config.idf_corpus:
            fields.append(f"idf_corpus:{corpus_digest(self._idf_corpus())}")
        elif self.config.idf and self.config.preset != "default":
            fields.append("idf_corpus:refs")
        return fields

    def _idf_corpus(self) -> list[str]:
        """The explicit idf corpus, read once."""
        if self._corpus is None:
            self._corpus = read_idf_corpus(str(self.config.idf_corpus))
        return self._corpus

    def _prepare(self, text: str) -> str:
        """What bert-score receives: the text, with runs of spaces collapsed under the cxr preset; stripped."""
        return (_SPACES.sub(" ", text) if self.config.preset == "cxr" else text).strip()

    # -- availability and weights --------------------------------------------------------------------------
    def required_weights(self) -> list[WeightRequest]:
        if self.config.model_path:
            return []
        files = BPE_MODEL_FILES if "roberta" in self.config.model_type else MODEL_FILES
        return [WeightRequest(self.config.model_type, f, f"{what} of the BERTScore model") for f, what in files]

    def unavailable_reason(self) -> str | None:
        reason = super().unavailable_reason()
        if reason:
            return reason
        if self.config.rescale_with_baseline:
            try:
                self._baseline_file()
            except ConfigError as exc:
                return str(exc)
        if self.config.model_path or hub_offline():
            try:
                self._folder(use_hub=not self.config.model_path)
            except MetricUnavailable as exc:
                return str(exc)
        return None

    def _baseline_file(self) -> Path:
        if self.config.baseline_path:
            path = Path(self.config.baseline_path).expanduser()
            if not path.is_file():
                raise ConfigError(f"bertscore.baseline_path {path} does not exist")
            return path
        path = bundled_baseline(self.config.lang, self.config.model_type)
        if path is None:
            raise ConfigError(f"bertscore: no rescaling baseline for {self.config.model_type!r} ({self.config.lang}) "
                              f"in the installed bert-score package ({INSTALL_HINT}); set bertscore.baseline_path "
                              f"or bertscore.rescale_with_baseline=false")
        return path

    def _folder(self, use_hub: bool = True) -> Path:
        """The local model folder: explicit model_path, $RRG_EVAL_MODEL_DIR/<org>--<name>/, the hub cache."""
        if self.config.model_path:
            folder = Path(self.config.model_path).expanduser()
            if not (folder / "config.json").is_file():
                raise MetricUnavailable(f"bertscore.model_path {folder} is not a model folder (no config.json)")
            return folder
        paths = [resolve(req, use_hub=use_hub) for req in self.required_weights()]
        folder = paths[0].parent
        for p in paths[1:]:
            if p.parent != folder:
                raise MetricUnavailable(f"bertscore: the files of {self.config.model_type} are not in one folder "
                                        f"({folder} and {p.parent})")
        return folder

    def weight_files(self, *, use_hub: bool = True) -> list[Path]:
        """The model folder's config, tokenizer and weight files (every one present)."""
        folder = self._folder(use_hub=use_hub)
        files = [folder / n for n in IDENTITY_FILES if (folder / n).is_file()]
        if not any(f.name in WEIGHT_FILES for f in files):
            raise MetricUnavailable(f"bertscore: no model.safetensors or pytorch_model.bin in {folder}")
        return files

    def cache_label(self) -> str:
        return f"bertscore-{self.config.model_type.replace('/', '--')}-L{self.config.num_layers}"

    def _model_identity(self, cache_dir: Path | None) -> tuple[Path, str]:
        """(folder, cache namespace): name, layer and a digest of the config, tokenizer and weight files."""
        return self.resolved_weight_files()[0].parent, self.cache_namespace(cache_dir)

    @property
    def _identity(self) -> tuple[Path, str] | None:
        return self._model_identity(None) if self._weights is not None else None

    @property
    def _encoder(self) -> Encoder | None:
        return self._backend

    def backend_versions(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.config.baseline_path and self.config.rescale_with_baseline:
            from ..fingerprint import file_sha256

            try:
                out["baseline"] = file_sha256(self.config.baseline_path)[:12]
            except OSError:
                out["baseline"] = "missing"
        return {**out, **super().backend_versions()}

    # -- computing -----------------------------------------------------------------------------------------
    def load_backend(self) -> Encoder:
        try:
            return Encoder(self.resolved_weight_files()[0].parent, int(self.config.num_layers), self.config.device,
                           self.config.batch_size, precision=self.config.precision)
        except ImportError as exc:
            raise MetricUnavailable(f"BERTScore needs torch and transformers ({exc}): {INSTALL_HINT}") from None

    def encodings(self, texts: list[str], context: RunContext) -> dict[str, tuple[np.ndarray, np.ndarray, bool]]:
        """Token ids, embeddings and truncation flag of each distinct (stripped) text; cached on disk."""
        def compute(missing: list[str], progress: Any = None) -> list[tuple[np.ndarray, np.ndarray, bool]]:
            encoder = self.backend()
            tokens = encoder.tokenize(missing)
            extra = {"on_batch": progress} if progress is not None else {}  # a stand-in may take ids alone
            embeddings = encoder.embed([ids for ids, _ in tokens], **extra)
            return [(ids, emb, truncated) for (ids, truncated), emb in zip(tokens, embeddings)]

        return self.annotate_cached(texts, context, compute=compute,
                                    codec=Codec(lambda e: encode_entry(*e), decode_entry))

    def compute_stats(self, *, predictions: list[str], references: list[str], ids: list[str],
                      context: RunContext) -> Stats:
        if not references:
            return {k: np.zeros(0) for k in type(self).keys}
        count_empty(predictions, references, self.name, context)
        hyps = [self._prepare(p) for p in predictions]
        refs = [self._prepare(r) for r in references]
        corpus = [self._prepare(t) for t in self._idf_corpus()] if self.config.idf and self.config.idf_corpus \
            else None
        enc = self.encodings(list(dict.fromkeys(hyps + refs)), context)
        truncated = sum(1 for t in enc.values() if t[2])
        if truncated:
            limit = self._encoder.max_length if self._encoder is not None else "the model's maximum"
            context.warn(self.name, f"{truncated} text(s) longer than {limit} tokens truncated, as bert-score does")
        weights = self._token_weights(refs, enc, corpus)
        unit = {t: _unit_rows(e[1]) for t, e in enc.items()}
        tok_w = {t: weights(e[0]) for t, e in enc.items()}
        rows = len(refs)
        bs = self.config.batch_size
        out = np.zeros((rows, 3), dtype=np.float32)
        with _single_thread_blas():  # thousands of small products: BLAS threads only add contention
            for start in range(0, rows, bs):
                hb = hyps[start:start + bs]
                rb = refs[start:start + bs]
                out[start:start + len(hb)] = greedy_match_batch([unit[t] for t in hb], [unit[t] for t in rb],
                                                                [tok_w[t] for t in hb], [tok_w[t] for t in rb])
        if np.isnan(out).any():
            context.warn(self.name, f"{int(np.isnan(out).any(axis=1).sum())} report(s) with undefined scores (NaN), "
                                    f"as bert-score gives them (all token weights zero)")
        if self.config.rescale_with_baseline:
            base = read_baseline(self._baseline_file(), int(self.config.num_layers))
            out = ((out - base) / (np.float32(1) - base)).astype(np.float32)
        values = out.astype(np.float64)
        return {"bertscore_p": values[:, 0], "bertscore_r": values[:, 1], "bertscore_f1": values[:, 2]}

    def _stat_keys(self) -> zip:
        """(output key, statistics key) pairs: the statistics always use the default key names."""
        return zip(self.keys, type(self).keys)

    def _token_weights(self, refs: list[str], enc: dict[str, tuple[np.ndarray, np.ndarray, bool]],
                       corpus: list[str] | None = None) -> Any:
        """A function: token ids -> float32 weights (idf from the reference rows, or from ``corpus`` when given,
        or 1 with [CLS]/[SEP] at 0)."""
        any_ids = next(iter(enc.values()))[0]
        special = {int(any_ids[0]), int(any_ids[-1])}
        if not self.config.idf:
            def plain(ids: np.ndarray) -> np.ndarray:
                return np.array([0.0 if int(t) in special else 1.0 for t in ids], dtype=np.float32)
            return plain
        df: Counter[int] = Counter()
        if corpus is None:
            n_docs = len(refs)
            for text in refs:
                df.update(set(int(t) for t in enc[text][0]))
        else:  # only the tokenizer is needed (bert-score's get_idf_dict on idf_sents)
            n_docs = len(corpus)
            unique = list(dict.fromkeys(corpus))
            ids = dict(zip(unique, (t for t, _ in self.backend().tokenize(unique))))
            for text in corpus:
                df.update(set(int(t) for t in ids[text]))
        unseen = math.log(n_docs + 1)
        idf = {tok: math.log((n_docs + 1) / (c + 1)) for tok, c in df.items()}
        if corpus is not None:  # bert-score sets them to 0 (BERTScorer / score: idf_dict[sep] = idf_dict[cls] = 0)
            idf.update(dict.fromkeys(special, 0.0))

        def weighted(ids: np.ndarray) -> np.ndarray:
            return np.array([idf.get(int(t), unseen) for t in ids], dtype=np.float32)
        return weighted

    def aggregate(self, stats: Stats) -> dict[str, float]:
        return {k: float(np.mean(stats[s])) if len(stats[s]) else 0.0 for k, s in self._stat_keys()}

    def per_report(self, stats: Stats) -> dict[str, np.ndarray]:
        return {k: np.asarray(stats[s], dtype=float) for k, s in self._stat_keys()}

