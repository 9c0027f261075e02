"""Image embeddings for the ``nearest`` baseline: the generator's image encoder, mean-pooled over its visual
sequence. The encoder comes from a YAML config (pretrained or random weights) or from a trained run folder."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from ..studies import Study
from .config import GeneratorConfig, config_from_dict, load_config
from .data import load_study_image
from .model import build_encoder, seeded

Progress = Callable[[str, int, int], None]


class ImageEncoder:
    """Embeds studies by their (stitched or frontal) image: the mean of the encoder's output sequence.

    ``source``: a generator config (YAML path or shipped name) or a run folder (its trained encoder is used).
    """

    def __init__(self, source: str | Path, image_dir: str | Path, *, key_image_dir: str | Path | None = None,
                 batch_size: int = 16, device: str = "cpu") -> None:
        source = Path(source)
        self.cfg: GeneratorConfig
        if source.is_dir():
            self.cfg = config_from_dict(yaml.safe_load((source / "config.yaml").read_text(encoding="utf-8")),
                                        where=str(source / "config.yaml"))
        else:
            self.cfg = load_config(source)
        with seeded(self.cfg.train.seed):
            self.encoder, _, self.channels = build_encoder(self.cfg)
        if source.is_dir():
            from safetensors.torch import load_model

            folder = source / "checkpoints" / "best"
            if not folder.is_dir():
                folder = source / "checkpoints" / "last"
            load_model(self.encoder, str(folder / "encoder.safetensors"))
        self.encoder.to(device).eval()
        self.device = device
        self.image_dir = Path(image_dir)
        self.key_image_dir = Path(key_image_dir) if key_image_dir else self.image_dir
        self.batch_size = batch_size

    @torch.no_grad()
    def _encode(self, studies: Sequence[Study], image_dir: Path, progress: Progress | None) -> np.ndarray:
        out = []
        for start in range(0, len(studies), self.batch_size):
            chunk = studies[start:start + self.batch_size]
            pixels = np.stack([load_study_image(s, image_dir, self.cfg.data, self.channels) for s in chunk])
            hidden: Any = self.encoder(pixel_values=torch.from_numpy(pixels).to(self.device)).last_hidden_state
            if hidden.dim() == 4:
                hidden = hidden.flatten(2).transpose(1, 2)
            out.append(hidden.mean(1).float().cpu().numpy())
            if progress:
                progress("embed", min(start + self.batch_size, len(studies)), len(studies))
        return np.concatenate(out)

    def encode_keys(self, studies: Sequence[Study], progress: Progress | None = None) -> np.ndarray:
        return self._encode(list(studies), self.key_image_dir, progress)

    def encode_queries(self, studies: Sequence[Study], progress: Progress | None = None) -> np.ndarray:
        return self._encode(list(studies), self.image_dir, progress)
