"""F1-CheXbert: agreement of the 14 CheXbert labels of prediction and reference.

Equal to ``f1chexbert.F1CheXbert()(hyps=..., refs=...)`` of the official ``f1chexbert`` package (0.0.2):
the CheXbert labeler (``chexbert.pth`` of ``StanfordAIMI/RRG_scorers`` on a ``bert-base-uncased`` encoder,
``rrg_eval.backends.chexbert_model``) labels every report; its 'rrg' mapping makes each label binary
(positive and uncertain -> 1, negative and blank -> 0; ``uncertain_as=negative`` maps uncertain to 0, LLaVA-Rad's
convention). Corpus scores are scikit-learn's ``classification_report`` averages over the multi-label vectors
(zero_division -> 0), computed here with numpy:

* micro F1 = 2 TP / (2 TP + FP + FN) with the counts summed over reports and labels;
* macro F1 = mean over labels of each label's F1;
* weighted F1 = mean of the labels' F1 weighted by their number of positive references (0 when none);
* ``f1chexbert_5_accuracy`` = share of reports whose 5 labels (Cardiomegaly, Edema, Consolidation, Atelectasis,
  Pleural Effusion) all agree (``accuracy_score``, subset accuracy).

Per report, each key is the same formula applied to that report alone (a one-report corpus); the accuracy per
report is 1 when its 5 labels agree (the package's ``pe_accuracy``). The labels of every report (14 columns of
0/1, in ``TARGET_NAMES`` order) are in the statistics (``prediction_labels``, ``reference_labels``) and available
through :meth:`F1CheXbert.labels`. Labels are cached on disk per checkpoint (sha256) and text.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..cache import AnnotationCache, text_key
from ..errors import MetricUnavailable
from ..fingerprint import file_sha256
from ..option_spec import option
from ..stats import Stats
from ..weights import WeightRequest, resolve
from .base import Metric, RunContext, count_empty

HUB_REPO = "StanfordAIMI/RRG_scorers"
BERT_REPO = "bert-base-uncased"
TARGET_NAMES = ("Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
                "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other",
                "Fracture", "Support Devices", "No Finding")
TARGET_NAMES_5 = ("Cardiomegaly", "Edema", "Consolidation", "Atelectasis", "Pleural Effusion")
INDEX_5 = np.array([TARGET_NAMES.index(n) for n in TARGET_NAMES_5])
BLANK, POSITIVE, NEGATIVE, UNCERTAIN = 0, 1, 2, 3


@dataclass(frozen=True)
class F1CheXbertConfig:
    """Options of ``f1chexbert``."""

    uncertain_as: Literal["positive", "negative"] = option(
        "positive", sig="unc", help="label value of an 'uncertain' finding: positive (f1chexbert 'rrg' mode, "
        "default) or negative (LLaVA-Rad)")
    checkpoint: str | None = option(None, in_signature=False, help="explicit path of chexbert.pth; the signature "
                                    "carries its sha256 instead")
    bert_path: str | None = option(None, in_signature=False, help="explicit folder with bert-base-uncased's "
                                   "config.json and vocab.txt")
    device: str = option("auto", in_signature=False, help="torch device: auto (cuda when present), cpu, cuda:0")
    batch_size: int = option(8, in_signature=False, help="reports per encoder call (small batches are fastest on "
                            "CPU; raise it on a GPU)")


def binary_labels(classes: np.ndarray, uncertain_as: str = "positive") -> np.ndarray:
    """0/1 labels from CheXbert class indices (n, 14): positive -> 1, uncertain -> 1 or 0, blank/negative -> 0."""
    out = classes == POSITIVE
    if uncertain_as == "positive":
        out = out | (classes == UNCERTAIN)
    return out.astype(np.int8)


def f1_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """micro / macro / weighted F1 of multi-label 0/1 matrices (n, L), as scikit-learn's classification_report."""
    t = np.asarray(y_true, dtype=bool)
    p = np.asarray(y_pred, dtype=bool)
    tp = (t & p).sum(axis=0).astype(float)
    fp = (~t & p).sum(axis=0).astype(float)
    fn = (t & ~p).sum(axis=0).astype(float)
    denom = 2 * tp + fp + fn
    per_label = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    micro_denom = denom.sum()
    support = tp + fn
    return {
        "micro_f1": float(2 * tp.sum() / micro_denom) if micro_denom > 0 else 0.0,
        "macro_f1": float(per_label.mean()) if per_label.size else 0.0,
        "weighted_f1": float((per_label * support).sum() / support.sum()) if support.sum() > 0 else 0.0,
    }


def subset_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """1.0 per row whose labels all agree, else 0.0."""
    return np.all(np.asarray(y_true) == np.asarray(y_pred), axis=1).astype(float)


class F1CheXbert(Metric):
    """F1-CheXbert (14 and 5 labels), f1chexbert 0.0.2 convention."""

    name = "f1chexbert"
    Config = F1CheXbertConfig
    description = "F1 of the 14 (and 5) CheXbert labels of prediction vs reference (micro, macro, weighted)"
    reference = "f1chexbert 0.0.2 F1CheXbert()(hyps=..., refs=...): accuracy and classification_report dicts"
    keys = ("f1chexbert_14_micro_f1", "f1chexbert_14_macro_f1", "f1chexbert_14_weighted_f1",
            "f1chexbert_5_micro_f1", "f1chexbert_5_macro_f1", "f1chexbert_5_weighted_f1", "f1chexbert_5_accuracy")
    extra = "models"

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._model: Any = None
        self._checkpoint: Path | None = None
        self._sha: str | None = None

    # -- availability and identity ------------------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        # find_spec, not import: listing metrics or a warm-cache run must not pay for importing torch
        missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
        if missing:
            return f"f1chexbert needs {' and '.join(missing)}: pip install 'rrg-eval[models]'"
        return None

    def required_weights(self) -> list[WeightRequest]:
        return [WeightRequest(HUB_REPO, "chexbert.pth", what="CheXbert labeler weights"),
                WeightRequest(BERT_REPO, "config.json", what="CheXbert encoder config"),
                WeightRequest(BERT_REPO, "vocab.txt", what="CheXbert tokenizer vocabulary")]

    def checkpoint_path(self, *, use_hub: bool = True) -> Path:
        if self._checkpoint is None:
            self._checkpoint = resolve(self.required_weights()[0], self.config.checkpoint, use_hub=use_hub)
        return self._checkpoint

    def _bert_dir(self) -> Path:
        if self.config.bert_path:
            path = Path(self.config.bert_path).expanduser()
            for name in ("config.json", "vocab.txt"):
                if not (path / name).is_file():
                    raise MetricUnavailable(f"f1chexbert.bert_path {path} has no {name}")
            return path
        config = resolve(self.required_weights()[1])
        vocab = resolve(self.required_weights()[2])
        if config.parent != vocab.parent:
            raise MetricUnavailable(f"bert-base-uncased config.json ({config}) and vocab.txt ({vocab}) are in "
                                    "different folders")
        return config.parent

    def checkpoint_sha256(self, cache_dir: Path | None = None) -> str:
        """sha256 of the chexbert.pth (``rrg_eval.fingerprint``: remembered per path, size and mtime)."""
        if self._sha is None:
            self._sha = file_sha256(self.checkpoint_path(), cache_dir)
        return self._sha

    def backend_versions(self) -> dict[str, str]:
        """The checkpoint's sha256 prefix; never downloads."""
        if self._checkpoint is None:
            try:
                self.checkpoint_path(use_hub=False)
            except MetricUnavailable:
                return {"weights": "unresolved"}
        return {"weights": self.checkpoint_sha256()[:12]}

    def _device(self) -> str:
        if self.config.device != "auto":
            return self.config.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def model(self) -> Any:
        """The loaded labeler (``rrg_eval.backends.chexbert_model.CheXbertModel``)."""
        if self._model is None:
            reason = self.unavailable_reason()
            if reason:
                raise MetricUnavailable(reason)
            from ..backends.chexbert_model import CheXbertModel

            self._model = CheXbertModel(self.checkpoint_path(), self._bert_dir(), device=self._device(),
                                        batch_size=self.config.batch_size)
        return self._model

    # -- labelling ----------------------------------------------------------------------------------------
    def classes(self, texts: Sequence[str], *, cache_dir: Path | None = None,
                context: RunContext | None = None) -> np.ndarray:
        """CheXbert class indices (n, 14: 0 blank, 1 positive, 2 negative, 3 uncertain), de-duplicated, cached."""
        context = context or RunContext(cache_dir=cache_dir)
        unique = list(dict.fromkeys(texts))
        cache = AnnotationCache(context.cache_dir, "chexbert-" + self.checkpoint_sha256(context.cache_dir)[:16])
        keys = {t: text_key(t) for t in unique}
        found: dict[str, np.ndarray] = {}
        bad = 0
        stored = cache.get_many(keys.values())
        for text in unique:
            data = stored.get(keys[text])
            if data is None:
                continue
            row = np.frombuffer(data, dtype=np.int8)
            if row.shape != (14,) or row.min() < 0 or row.max() > 3:
                bad += 1
                continue
            found[text] = row.astype(np.int64)
        if bad:
            context.warn(self.name, f"{bad} unreadable cache entr{'y' if bad == 1 else 'ies'} recomputed")
        todo = [t for t in unique if t not in found]
        if todo:
            computed, truncated = self.model().classes(todo)
            if truncated:
                context.warn(self.name, f"{truncated} report(s) longer than 512 word pieces truncated to 512, "
                             "as the official package does")
            cache.put_many({keys[t]: computed[j].astype(np.int8).tobytes() for j, t in enumerate(todo)})
            found.update((t, computed[j]) for j, t in enumerate(todo))
        if cache.rebuilt:
            context.warn(self.name, f"corrupt cache file {cache.path} moved aside and rebuilt")
        cache.close()
        if not texts:
            return np.zeros((0, 14), dtype=np.int64)
        return np.stack([found[t] for t in texts])

    def labels(self, texts: Sequence[str], *, cache_dir: Path | None = None,
               context: RunContext | None = None) -> np.ndarray:
        """0/1 labels (n, 14) in ``TARGET_NAMES`` order, under this metric's ``uncertain_as`` mapping."""
        return binary_labels(self.classes(texts, cache_dir=cache_dir, context=context), self.config.uncertain_as)

    # -- computing ----------------------------------------------------------------------------------------
    def compute_stats(self, *, predictions: list[str], references: list[str], ids: list[str],
                      context: RunContext) -> Stats:
        count_empty(predictions, references, self.name, context)
        # the official package strips each report before labelling it
        labels = self.labels([t.strip() for t in [*predictions, *references]], context=context)
        n = len(predictions)
        return {"prediction_labels": labels[:n], "reference_labels": labels[n:]}

    def aggregate(self, stats: Stats) -> dict[str, float]:
        hyp = np.asarray(stats["prediction_labels"]).reshape(-1, 14)
        ref = np.asarray(stats["reference_labels"]).reshape(-1, 14)
        s14 = f1_scores(ref, hyp)
        s5 = f1_scores(ref[:, INDEX_5], hyp[:, INDEX_5])
        acc = subset_accuracy(ref[:, INDEX_5], hyp[:, INDEX_5])
        return {"f1chexbert_14_micro_f1": s14["micro_f1"], "f1chexbert_14_macro_f1": s14["macro_f1"],
                "f1chexbert_14_weighted_f1": s14["weighted_f1"], "f1chexbert_5_micro_f1": s5["micro_f1"],
                "f1chexbert_5_macro_f1": s5["macro_f1"], "f1chexbert_5_weighted_f1": s5["weighted_f1"],
                "f1chexbert_5_accuracy": float(acc.mean()) if len(acc) else 0.0}

    def per_report(self, stats: Stats) -> dict[str, np.ndarray]:
        hyp = np.asarray(stats["prediction_labels"]).reshape(-1, 14)
        ref = np.asarray(stats["reference_labels"]).reshape(-1, 14)
        rows = [self.aggregate({"prediction_labels": hyp[i:i + 1], "reference_labels": ref[i:i + 1]})
                for i in range(len(hyp))]
        return {k: np.array([r[k] for r in rows], dtype=float) for k in self.keys}

    def close(self) -> None:
        self._model = None
