"""CheXbert: BERT (uncased) with 13 four-way heads and one two-way head on the [CLS] output.

Loads ``chexbert.pth`` as released in ``StanfordAIMI/RRG_scorers`` (a dict whose ``model_state_dict`` holds the
labeler's parameters, each name prefixed by ``module.``) with ``torch.load(..., weights_only=True)``. The encoder's
sizes come from the ``config.json`` of ``bert-base-uncased`` (as the official package builds it) and are checked
against the state dict, so that tiny synthetic checkpoints work. Texts are cleaned and tokenized as the official
``f1chexbert`` 0.0.2 does (whitespace collapsed, BERT uncased word pieces, ``[CLS] ... [SEP]``, cut to 512 ids
keeping the final ``[SEP]``), then encoded in length-sorted batches. Dropout is inactive (eval mode).

Class indices of the 13 four-way heads: 0 blank, 1 positive, 2 negative, 3 uncertain; of the 14th ("No
Finding"): 0 blank, 1 positive.

One forward pass gives both the labels and the [CLS] vector (``CheXbertModel.run``), and one cache entry can
hold both (:func:`encode_output` / :func:`decode_output`), so that a metric built on CheXbert embeddings (e.g.
SembScore) reuses the labeler's pass and cache.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MetricError, MetricUnavailable
from ..weights import read_checkpoint_error

MAX_IDS = 512
N_HEADS = 14
_WS = re.compile(r"\s+")


def clean(text: str) -> str:
    """The official package's cleaning: strip, every whitespace run becomes one space."""
    return _WS.sub(" ", text.strip()).strip()


def encode_output(classes: np.ndarray, cls: np.ndarray | None) -> bytes:
    """A cache entry: the 14 class indices (int8), then the [CLS] vector (little-endian float32) when given."""
    out = np.asarray(classes, dtype=np.int8).tobytes()
    return out if cls is None else out + np.ascontiguousarray(cls, dtype="<f4").tobytes()


def decode_output(blob: bytes) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The inverse of :func:`encode_output`; None for a damaged entry."""
    if len(blob) < N_HEADS or (len(blob) - N_HEADS) % 4:
        return None
    classes = np.frombuffer(blob, dtype=np.int8, count=N_HEADS)
    if classes.min() < 0 or classes.max() > 3:
        return None
    cls = np.frombuffer(blob, dtype="<f4", offset=N_HEADS) if len(blob) > N_HEADS else None
    return classes.astype(np.int64), (cls.astype(np.float32) if cls is not None else None)


def load_state_dict(path: Path) -> dict[str, Any]:
    """The labeler's parameters from ``chexbert.pth``, without the ``module.`` prefixes (weights_only load)."""
    import torch

    try:
        blob = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle / zip errors come in many types
        raise read_checkpoint_error(path, exc, what="CheXbert checkpoint") from None
    state = blob.get("model_state_dict", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict):
        raise MetricUnavailable(f"{path} holds no CheXbert state dict ('model_state_dict')")
    return {k.replace("module.", ""): v for k, v in state.items()}


class CheXbertModel:
    """The CheXbert labeler ready for inference: ``classes(texts)`` -> (n, 14) int array of class indices."""

    def __init__(self, checkpoint: Path, bert_dir: Path, *, device: str = "cpu", batch_size: int = 32,
                 precision: str = "fp32") -> None:
        """Load the labeler; ``precision`` (``rrg_eval.backends.precision``) applies to the encoder only."""
        import torch
        from transformers import BertConfig, BertModel, BertTokenizer

        from .precision import check, prepare

        self.device = torch.device(device)
        check(precision, self.device, metric="f1chexbert")
        self.batch_size = max(1, int(batch_size))
        config = BertConfig(**json.loads((bert_dir / "config.json").read_text(encoding="utf-8")))
        state = load_state_dict(checkpoint)
        heads = [(state.get(f"linear_heads.{i}.weight"), state.get(f"linear_heads.{i}.bias")) for i in range(N_HEADS)]
        if any(w is None or b is None for w, b in heads):
            raise MetricError(f"{checkpoint}: missing linear_heads.* (expected {N_HEADS} heads)")
        hidden = int(heads[0][0].shape[1])
        if hidden != config.hidden_size:
            raise MetricError(f"{checkpoint}: heads take {hidden} features but {bert_dir}/config.json says "
                              f"hidden_size={config.hidden_size}")
        self.bert = BertModel(config)
        bert_state = {k[len("bert."):]: v for k, v in state.items() if k.startswith("bert.")}
        result = self.bert.load_state_dict(bert_state, strict=False)
        own_params = {name for name, _ in self.bert.named_parameters()}
        missing = [k for k in result.missing_keys if k in own_params]
        if missing:
            raise MetricError(f"{checkpoint}: {len(missing)} encoder parameter(s) missing, e.g. {missing[:3]}")
        self.bert.to(self.device).eval()
        self.bert = prepare(self.bert, precision, self.device, metric="f1chexbert")
        self.heads_w = [w.to(self.device, torch.float32) for w, _ in heads]
        self.heads_b = [b.to(self.device, torch.float32) for _, b in heads]
        self.tokenizer = BertTokenizer.from_pretrained(str(bert_dir))  # as the package: vocab + tokenizer_config
        self.cls_id = self.tokenizer.convert_tokens_to_ids("[CLS]")
        self.sep_id = self.tokenizer.convert_tokens_to_ids("[SEP]")
        self.pad_id = self.tokenizer.convert_tokens_to_ids("[PAD]")

    def encode(self, text: str) -> tuple[list[int], bool]:
        """Token ids as the official package builds them, and whether the text was cut to 512 ids."""
        tokens = self.tokenizer.tokenize(clean(text))
        ids = [self.cls_id, *self.tokenizer.convert_tokens_to_ids(tokens), self.sep_id] if tokens else [
            self.cls_id, self.sep_id]
        if len(ids) > MAX_IDS:
            return ids[:MAX_IDS - 1] + [self.sep_id], True
        return ids, False

    def features(self, encoded: Sequence[list[int]], on_batch: Callable[[int], None] | None = None) -> Any:
        """[CLS] output (n, hidden) of token id lists, in length-sorted padded batches (a float32 tensor);
        ``on_batch(done)`` after each batch (progress)."""
        import torch

        out = torch.zeros((len(encoded), self.bert.config.hidden_size), dtype=torch.float32, device=self.device)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                chunk = order[start:start + self.batch_size]
                width = max(len(encoded[i]) for i in chunk)
                ids = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for row, i in enumerate(chunk):
                    seq = encoded[i]
                    ids[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
                    mask[row, :len(seq)] = 1
                hidden = self.bert(input_ids=ids.to(self.device), attention_mask=mask.to(self.device))[0]
                out[torch.tensor(chunk, device=self.device)] = hidden[:, 0, :].float()
                if on_batch is not None:
                    on_batch(start + len(chunk))
        return out

    def run(self, texts: Sequence[str],
            on_batch: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """One forward pass: class indices (n, 14), [CLS] vectors (n, hidden, float32), truncated count."""
        import torch

        encoded = [self.encode(t) for t in texts]
        truncated = sum(1 for _, cut in encoded if cut)
        if not encoded:
            return (np.zeros((0, N_HEADS), dtype=np.int64),
                    np.zeros((0, self.bert.config.hidden_size), dtype=np.float32), 0)
        cls = self.features([ids for ids, _ in encoded], on_batch)
        with torch.inference_mode():
            preds = [torch.argmax(cls @ w.T + b, dim=1) for w, b in zip(self.heads_w, self.heads_b)]
            classes = torch.stack(preds, dim=1).cpu().numpy().astype(np.int64)
        return classes, cls.cpu().numpy().astype(np.float32), truncated

    def classes(self, texts: Sequence[str]) -> tuple[np.ndarray, int]:
        """Class index of each of the 14 heads for each text, and how many texts were truncated."""
        classes, _, truncated = self.run(texts)
        return classes, truncated
