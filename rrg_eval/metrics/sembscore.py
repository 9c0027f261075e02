"""SembScore: cosine similarity of the CheXbert [CLS] embeddings of prediction and reference.

As CXR-Report-Metric (rajpurkarlab, ``CXRMetric/run_eval.py``: ``add_semb_col`` on the vectors written by
CheXbert's ``src/encode.py``) defines it, per report:

* each text is cleaned and tokenised as for F1-CheXbert (whitespace runs collapsed, BERT uncased word pieces,
  ``[CLS] ... [SEP]``, cut to 512 ids keeping the final ``[SEP]``) and run through the CheXbert encoder
  (``chexbert.pth``, eval mode: no dropout); its vector is the last layer's output at ``[CLS]`` (no heads);
* ``sembscore`` = cos(prediction vector, reference vector) = (a . b) / (|a| |b|); the corpus score is the mean.

The reference computes the cosine in float32 numpy; here the float32 vectors are compared in float64 (the
difference is below 1e-6). A zero vector (never seen with real weights) scores 0.

The encoder is the ``f1chexbert`` back-end: the same weights, the same annotation cache entries (one entry holds
a text's 14 labels and its [CLS] vector) and the run's in-memory memo, so asking for ``f1chexbert`` and
``sembscore`` together runs CheXbert once per distinct text, with or without a disk cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MetricUnavailable
from ..option_spec import option
from ..stats import Stats
from ..weights import WeightRequest, hub_offline
from .base import RunContext, count_empty
from .f1chexbert import F1CheXbert
from .model import ModelMetric


@dataclass(frozen=True)
class SembScoreConfig:
    """Options of ``sembscore`` (the weights are those of ``f1chexbert``)."""

    checkpoint: str | None = option(None, in_signature=False, help="explicit path of chexbert.pth; the signature "
                                    "carries its sha256 instead")
    bert_path: str | None = option(None, in_signature=False, help="explicit folder with bert-base-uncased's "
                                   "config.json and vocab.txt")
    device: str = option("auto", in_signature=False, help="torch device: auto (cuda when present), cpu, cuda:0")
    batch_size: int = option(8, in_signature=False, help="reports per encoder call")


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (n, d) matrices, in float64; 0 where a vector is zero."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = np.einsum("ij,ij->i", a, b)
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


class SembScore(ModelMetric):
    """Per-report cosine of the CheXbert [CLS] vectors of prediction and reference (CXR-Report-Metric)."""

    name = "sembscore"
    Config = SembScoreConfig
    description = "cosine similarity of the CheXbert encoder's [CLS] vectors of prediction and reference"
    reference = ("CXR-Report-Metric run_eval.add_semb_col on CheXbert src/encode.py vectors "
                 "(bert_labeler.bert(...)[0][:, 0, :], eval mode)")
    keys = ("sembscore",)
    key_kinds = {"sembscore": "score"}
    display_name = "SembScore"
    signature_fixed = ("cls:chexbert-last",)

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        self._chexbert = F1CheXbert(checkpoint=c.checkpoint, bert_path=c.bert_path, device=c.device,
                                    batch_size=c.batch_size)

    # -- weights: those of f1chexbert (same files, same cache namespace) ------------------------------------
    def required_weights(self) -> list[WeightRequest]:
        return self._chexbert.required_weights()

    def weight_files(self, *, use_hub: bool = True) -> list[Path]:
        return self._chexbert.weight_files(use_hub=use_hub)

    def cache_label(self) -> str:
        return self._chexbert.cache_label()

    def unavailable_reason(self) -> str | None:
        reason = super().unavailable_reason()
        if reason is None and hub_offline():  # offline: the weights must be here already
            try:
                self.weight_files(use_hub=False)
            except MetricUnavailable as exc:
                return str(exc)
        return reason

    def load_backend(self) -> Any:
        return self._chexbert.backend()

    def chexbert(self) -> F1CheXbert:
        """The f1chexbert metric whose back-end and cache this metric reads."""
        return self._chexbert

    # -- computing ----------------------------------------------------------------------------------------
    def compute_stats(self, *, predictions: list[str], references: list[str], ids: list[str],
                      context: RunContext) -> Stats:
        count_empty(predictions, references, self.name, context)
        n = len(predictions)
        if not n:
            return {"sembscore": np.zeros(0)}
        # stripped as f1chexbert strips them: the same texts, so the same cache entries
        texts = [t.strip() for t in [*predictions, *references]]
        _, cls = self._chexbert.chexbert_outputs(texts, context=context, need_cls=True)
        if cls is None:  # pragma: no cover - need_cls=True always returns the vectors
            raise RuntimeError("sembscore: the CheXbert back-end returned no [CLS] vectors")
        return {"sembscore": cosine_rows(cls[:n], cls[n:])}

    def aggregate(self, stats: Stats) -> dict[str, float]:
        values = np.asarray(stats["sembscore"], dtype=float)
        return {"sembscore": float(values.mean()) if len(values) else 0.0}

    def per_report(self, stats: Stats) -> dict[str, np.ndarray]:
        return {"sembscore": np.asarray(stats["sembscore"], dtype=float)}

    def close(self) -> None:
        self._chexbert.close()
        super().close()
