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
through :meth:`F1CheXbert.labels`. Labels (and the [CLS] vector of the same pass) are cached on disk per text and
per digest of every file that changes them: chexbert.pth, the encoder's config.json and tokenizer files.
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
from ..weights import WeightRequest, resolve
from .base import RunContext, count_empty
from .model import Codec, ModelMetric

HUB_REPO = "StanfordAIMI/RRG_scorers"
BERT_REPO = "bert-base-uncased"
TARGET_NAMES = ("Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
                "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other",
                "Fracture", "Support Devices", "No Finding")
TARGET_NAMES_5 = ("Cardiomegaly", "Edema", "Consolidation", "Atelectasis", "Pleural Effusion")
INDEX_5 = np.array([TARGET_NAMES.index(n) for n in TARGET_NAMES_5])
BLANK, POSITIVE, NEGATIVE, UNCERTAIN = 0, 1, 2, 3
# every file of the encoder folder that BertConfig / BertTokenizer read: each changes the numbers (issue 11 #7)
ENCODER_FILES = ("config.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json",
                 "added_tokens.json", "tokenizer.json")


@dataclass(frozen=True)
class F1CheXbertConfig:
    """Options of ``f1chexbert``."""

    uncertain_as: Literal["positive", "negative"] = option(
        "positive", sig="unc", help="label value of an 'uncertain' finding: positive (f1chexbert 'rrg' mode, "
        "default) or negative (LLaVA-Rad)")
    precision: Precision = option("fp32", in_signature=False, help=PRECISION_HELP, choices=PRECISIONS)
    checkpoint: str | None = option(None, in_signature=False, help="explicit path of chexbert.pth; the signature "
                                    "carries its sha256 instead")
    bert_path: str | None = option(None, in_signature=False, help="explicit folder with bert-base-uncased's "
                                   "config.json and vocab.txt")
    device: str = option("auto", in_signature=False, help="torch device: auto (cuda when present), cpu, cuda:0",
                         check=torch_device)
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


class F1CheXbert(ModelMetric):
    """F1-CheXbert (14 and 5 labels), f1chexbert 0.0.2 convention."""

    name = "f1chexbert"
    Config = F1CheXbertConfig
    description = "F1 of the 14 (and 5) CheXbert labels of prediction vs reference (micro, macro, weighted)"
    reference = "f1chexbert 0.0.2 F1CheXbert()(hyps=..., refs=...): accuracy and classification_report dicts"
    keys = ("f1chexbert_14_micro_f1", "f1chexbert_14_macro_f1", "f1chexbert_14_weighted_f1",
            "f1chexbert_5_micro_f1", "f1chexbert_5_macro_f1", "f1chexbert_5_weighted_f1", "f1chexbert_5_accuracy")

    # -- weights ------------------------------------------------------------------------------------------
    def required_weights(self) -> list[WeightRequest]:
        return [WeightRequest(HUB_REPO, "chexbert.pth", what="CheXbert labeler weights"),
                WeightRequest(BERT_REPO, "config.json", what="CheXbert encoder config"),
                WeightRequest(BERT_REPO, "vocab.txt", what="CheXbert tokenizer vocabulary")]

    def checkpoint_path(self, *, use_hub: bool = True) -> Path:
        return resolve(self.required_weights()[0], self.config.checkpoint, use_hub=use_hub)

    def _bert_dir(self, *, use_hub: bool = True) -> Path:
        if self.config.bert_path:
            path = Path(self.config.bert_path).expanduser()
            for name in ("config.json", "vocab.txt"):
                if not (path / name).is_file():
                    raise MetricUnavailable(f"f1chexbert.bert_path {path} has no {name}")
            return path
        config = resolve(self.required_weights()[1], use_hub=use_hub)
        vocab = resolve(self.required_weights()[2], use_hub=use_hub)
        if config.parent != vocab.parent:
            raise MetricUnavailable(f"bert-base-uncased config.json ({config}) and vocab.txt ({vocab}) are in "
                                    "different folders")
        return config.parent

    def weight_files(self, *, use_hub: bool = True) -> list[Path]:
        """chexbert.pth, and the encoder's config.json and tokenizer files (every one that is present)."""
        checkpoint = self.checkpoint_path(use_hub=use_hub)
        folder = self._bert_dir(use_hub=use_hub)
        return [checkpoint, *[folder / n for n in ENCODER_FILES if (folder / n).is_file()]]

    def cache_label(self) -> str:
        return "chexbert"

    def load_backend(self) -> Any:
        """The loaded labeler (``rrg_eval.backends.chexbert_model.CheXbertModel``)."""
        from ..backends.chexbert_model import CheXbertModel

        return CheXbertModel(self.checkpoint_path(), self._bert_dir(), device=self.device(),
                             batch_size=self.batch_size, precision=self.precision)

    def model(self) -> Any:
        """The loaded labeler (kept for callers of the previous API)."""
        return self.backend()

    # -- labelling ----------------------------------------------------------------------------------------
    def chexbert_outputs(self, texts: Sequence[str], *, context: RunContext,
                         need_cls: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Class indices (n, 14) and, with ``need_cls``, [CLS] vectors (n, hidden) of ``texts``, cached.

        One forward pass gives both and the cache stores both, so an embedding metric on the CheXbert encoder
        (SembScore) reuses the labeler's pass and its cache entries.
        """
        from ..backends.chexbert_model import decode_output, encode_output

        truncated = [0]  # over every chunk annotate_cached computes: one warning

        def compute(todo: list[str], progress: Any = None) -> list[tuple[np.ndarray, np.ndarray | None]]:
            extra = {"on_batch": progress} if progress is not None else {}  # a stand-in may take texts alone
            classes, cls, cut = self.backend().run(todo, **extra)
            truncated[0] += cut
            return [(classes[j], cls[j]) for j in range(len(todo))]

        found = self.annotate_cached(texts, context, codec=Codec(lambda v: encode_output(*v), decode_output),
                                     compute=compute, accept=(lambda v: v[1] is not None) if need_cls else None)
        if truncated[0]:
            context.warn(self.name, f"{truncated[0]} report(s) longer than 512 word pieces truncated to 512, "
                         "as the official package does")
        if not texts:
            return np.zeros((0, 14), dtype=np.int64), None
        classes = np.stack([found[t][0] for t in texts])
        cls = np.stack([found[t][1] for t in texts]) if need_cls else None  # type: ignore[misc]
        return classes, cls

    def classes(self, texts: Sequence[str], *, cache_dir: Path | None = None,
                context: RunContext | None = None) -> np.ndarray:
        """CheXbert class indices (n, 14: 0 blank, 1 positive, 2 negative, 3 uncertain), de-duplicated, cached."""
        return self.chexbert_outputs(texts, context=context or RunContext(cache_dir=cache_dir))[0]

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

