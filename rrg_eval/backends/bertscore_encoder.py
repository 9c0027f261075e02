"""BERTScore's embedder: tokenizer and truncated model of one folder, texts -> token ids -> layer outputs.

Reproduces bert-score 0.3.13's tokenisation (special tokens, truncation to ``model_max_length`` keeping the final
special token) and representation (the model cut after ``num_layers``); see ``rrg_eval.metrics.bertscore``.
A cache entry holds one text's token ids, float32 embeddings and truncation flag (:func:`encode_entry`).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError

_MAGIC = b"BSE1"
_HEADER = struct.Struct("<4siiB")


def encode_entry(ids: np.ndarray, emb: np.ndarray, truncated: bool) -> bytes:
    """Serialise one text's token ids and float32 embeddings for the annotation cache."""
    n, d = emb.shape
    return (_HEADER.pack(_MAGIC, n, d, int(truncated)) + np.ascontiguousarray(ids, dtype="<i4").tobytes()
            + np.ascontiguousarray(emb, dtype="<f4").tobytes())


def decode_entry(blob: bytes) -> tuple[np.ndarray, np.ndarray, bool] | None:
    """The inverse of :func:`encode_entry`; None for a damaged entry."""
    if len(blob) < _HEADER.size:
        return None
    magic, n, d, truncated = _HEADER.unpack_from(blob)
    if magic != _MAGIC or n < 0 or d <= 0 or len(blob) != _HEADER.size + 4 * n + 4 * n * d:
        return None
    ids = np.frombuffer(blob, dtype="<i4", count=n, offset=_HEADER.size).astype(np.int64)
    emb = np.frombuffer(blob, dtype="<f4", count=n * d, offset=_HEADER.size + 4 * n).reshape(n, d)
    return ids, emb, bool(truncated)


def _truncate_layers(model: Any, num_layers: int) -> Any:
    """Keep the first ``num_layers`` transformer layers (as bert-score does), so out[0] is that layer's output."""
    import torch

    if hasattr(model, "decoder") and hasattr(model, "encoder"):
        model = model.encoder
    for path in (("encoder", "layer"), ("transformer", "layer"), ("layers",), ("layer",), ("encoder", "block")):
        owner = model
        for part in path[:-1]:
            owner = getattr(owner, part, None)
        layers = getattr(owner, path[-1], None) if owner is not None else None
        if isinstance(layers, torch.nn.ModuleList):
            if not 0 <= num_layers <= len(layers):
                raise ConfigError(f"bertscore.num_layers must be between 0 and {len(layers)} for this model, "
                                  f"got {num_layers}")
            setattr(owner, path[-1], torch.nn.ModuleList(list(layers)[:num_layers]))
            return model
    raise ConfigError(f"bertscore: cannot find the transformer layers of {type(model).__name__}")


def _quiet_load(auto_class: Any, folder: Path) -> Any:
    """``auto_class.from_pretrained(folder)`` without transformers' progress bar (only the CLI writes output)."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - very old transformers
        return auto_class.from_pretrained(str(folder))
    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return auto_class.from_pretrained(str(folder))
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def _load_error(folder: Path, exc: BaseException) -> Exception:
    """A load failure naming the weight file (``SafetensorError: header too small`` alone names none)."""
    from ..weights import read_checkpoint_error

    if isinstance(exc, ImportError):
        return exc
    weights = [folder / n for n in ("model.safetensors", "pytorch_model.bin") if (folder / n).is_file()]
    return read_checkpoint_error(weights[0] if weights else folder, exc, what="BERTScore model weights")


class Encoder:
    """Tokenizer and truncated model of one folder: texts -> token ids -> contextual embeddings."""

    def __init__(self, folder: Path, num_layers: int, device: str, batch_size: int, precision: str = "fp32") -> None:
        """Load ``folder``'s tokenizer and model cut after ``num_layers``; ``precision``: see backends.precision."""
        import torch
        from transformers import AutoModel, AutoTokenizer

        from .precision import check, prepare

        self.torch = torch
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"bertscore.device={device!r} but CUDA is not available here; use 'auto' or 'cpu'")
        try:
            self.device = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                                       ("cpu" if device == "auto" else device))
        except RuntimeError as exc:
            raise ConfigError(f"bertscore.device: {exc}") from None
        check(precision, self.device, metric="bertscore")
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        if type(tokenizer).__name__.lower().startswith(("roberta", "gpt2")):
            tokenizer = AutoTokenizer.from_pretrained(str(folder), add_prefix_space=True)
        self.tokenizer = tokenizer
        try:
            model = _quiet_load(AutoModel, folder)
        except (OSError, ValueError, RuntimeError, ImportError) as exc:
            raise _load_error(folder, exc) from None
        except Exception as exc:  # safetensors raises its own SafetensorError (not an OSError)
            if "safetensor" not in type(exc).__name__.lower():
                raise
            raise _load_error(folder, exc) from None
        model.eval()
        model = _truncate_layers(model, num_layers).float()
        self.model = prepare(model.to(self.device), precision, self.device, metric="bertscore")
        limit = int(getattr(tokenizer, "model_max_length", 0) or 0)
        if limit <= 0 or limit > 100_000:  # no model_max_length: bert-score 0.3.13 then cuts at 512
            limit = min(512, int(getattr(model.config, "max_position_embeddings", 512)))
        self.max_length = limit
        self.batch_size = max(1, batch_size)
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad) if pad is not None else 0

    def tokenize(self, texts: list[str]) -> list[tuple[np.ndarray, bool]]:
        """Token ids with special tokens, truncated to ``max_length`` keeping the final special token."""
        out = []
        for start in range(0, len(texts), 1024):
            chunk = texts[start:start + 1024]
            encoded = self.tokenizer(chunk, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
            for ids in encoded:
                truncated = len(ids) > self.max_length
                if truncated:
                    ids = list(ids[:self.max_length - 1]) + [ids[-1]]
                out.append((np.asarray(ids, dtype=np.int64), truncated))
        return out

    def embed(self, token_ids: list[np.ndarray],
              on_batch: Callable[[int], None] | None = None) -> list[np.ndarray]:
        """Layer outputs (float32, one row per token) of each id sequence; batches of similar lengths.

        ``on_batch(done)`` is told the number of sequences embedded so far after each batch (progress)."""
        torch = self.torch
        order = sorted(range(len(token_ids)), key=lambda i: -len(token_ids[i]))
        result: list[np.ndarray] = [np.zeros((0, 0), np.float32)] * len(token_ids)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                batch = order[start:start + self.batch_size]
                width = max(len(token_ids[i]) for i in batch)
                ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, i in enumerate(batch):
                    n = len(token_ids[i])
                    ids[row, :n] = torch.from_numpy(token_ids[i])
                    mask[row, :n] = 1
                out = self.model(ids.to(self.device), attention_mask=mask.to(self.device))[0]
                out = out.float().cpu().numpy()
                for row, i in enumerate(batch):
                    result[i] = np.ascontiguousarray(out[row, :len(token_ids[i])])
                if on_batch is not None:
                    on_batch(start + len(batch))
        return result
