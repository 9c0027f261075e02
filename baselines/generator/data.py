"""Study images to tensors (several views stitched side by side, or the first frontal view) and reports to tokens.

No torchvision: images are read with Pillow, resized with Pillow's bilinear filter and normalised with numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rrg_eval.errors import ConfigError, InputError

from ..studies import Study
from .config import DataConfig

if TYPE_CHECKING:
    import torch
    from PIL import Image

FRONTAL = ("pa", "ap", "frontal", "postero-anterior", "antero-posterior")
SPECIAL = {"pad": "[PAD]", "unk": "[UNK]", "eos": "[EOS]"}


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise ConfigError("reading images needs Pillow: pip install pillow") from None
    return Image


def select_views(study: Study, cfg: DataConfig) -> list[str]:
    """The image files used for a study: the first ``max_views`` (stitch) or the first frontal view.

    Frontal views are recognised by the optional per-image labels in ``study.fields[cfg.view_field]`` (PA, AP,
    frontal); without labels the first image counts as the frontal one.
    """
    if not study.images:
        raise InputError(f'study "{study.id}" has no images')
    if cfg.views == "stitch":
        return list(study.images[:cfg.max_views])
    labels = study.fields.get(cfg.view_field)
    if isinstance(labels, list) and len(labels) == len(study.images):
        for name, label in zip(study.images, labels):
            if isinstance(label, str) and label.strip().lower() in FRONTAL:
                return [name]
    return [study.images[0]]


def stitch(images: Sequence[Image.Image], *, size: tuple[int, int], max_views: int, mode: str = "RGB") -> Image.Image:
    """Up to ``max_views`` images resized to ``(height, width // max_views)`` and laid side by side, left-aligned
    on a black canvas of ``size`` = (height, width); a single view (``max_views=1``) fills the canvas."""
    Image = _pil()
    height, width = size
    slot = width // max_views
    if slot < 1:
        raise ConfigError(f"data.image_size width {width} is smaller than data.max_views {max_views}")
    canvas = Image.new(mode, (width, height))
    for k, image in enumerate(list(images)[:max_views]):
        canvas.paste(image.convert(mode).resize((slot, height), Image.BILINEAR), (k * slot, 0))
    return canvas


def to_array(image: Image.Image, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """(C, H, W) float32, scaled to [0, 1] and normalised per channel."""
    array = np.asarray(image, dtype=np.float32) / 255.0
    if array.ndim == 2:
        array = array[:, :, None]
    channels = array.shape[2]
    m = np.resize(np.asarray(mean, dtype=np.float32), channels)
    s = np.resize(np.asarray(std, dtype=np.float32), channels)
    return ((array - m) / s).transpose(2, 0, 1).copy()


def load_study_image(study: Study, image_dir: str | Path, cfg: DataConfig, channels: int = 3) -> np.ndarray:
    """The study's input image as a normalised (C, H, W) array."""
    mode = "RGB" if channels == 3 else "L"
    return to_array(study_image(study, image_dir, cfg, mode), cfg.mean, cfg.std)


def study_image(study: Study, image_dir: str | Path, cfg: DataConfig, mode: str = "RGB") -> Image.Image:
    """The study's input image (views stitched per ``data.views``) as a Pillow image of ``data.image_size``."""
    Image = _pil()
    views = []
    for name in select_views(study, cfg):
        path = Path(image_dir) / name
        if not path.is_file():
            raise InputError(f'image "{name}" of study "{study.id}" not found', path=str(path))
        with Image.open(path) as img:
            views.append(img.convert(mode))
    max_views = cfg.max_views if cfg.views == "stitch" else 1
    return stitch(views, size=tuple(cfg.image_size), max_views=max_views, mode=mode)


def build_wordlevel_tokenizer(texts: Sequence[str]) -> Any:
    """A lower-casing word-level tokenizer trained on ``texts`` (for tiny configs and tests; no download)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token=SPECIAL["unk"]))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=[SPECIAL["pad"], SPECIAL["unk"], SPECIAL["eos"]])
    tok.train_from_iterator(list(texts), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=SPECIAL["pad"], unk_token=SPECIAL["unk"],
                                   eos_token=SPECIAL["eos"])


def build_bpe_tokenizer(texts: Sequence[str], *, vocab_size: int = 512, special: Sequence[str] = (),
                        eos: str = SPECIAL["eos"], pad: str = SPECIAL["pad"]) -> Any:
    """A byte-level BPE tokenizer trained on ``texts``: decoding gives back the exact text (case, punctuation,
    JSON), which the word-level tokenizer does not. ``special`` tokens are added whole (e.g. chat markers)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # no pre-splitting: merges may cross spaces and punctuation, so the repeated keys of JSON targets become
    # single tokens (a tiny model then learns well-formed JSON in a few steps)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    specials = list(dict.fromkeys([pad, eos, *special]))
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(texts), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=pad, eos_token=eos)


def load_tokenizer(name: str | None, train_texts: Sequence[str] | None = None) -> Any:
    """A tokenizer from a folder / hub id, or ``"wordlevel"`` / ``"bpe"`` built from ``train_texts``; pad defaults
    to eos."""
    if name in ("wordlevel", "bpe"):
        if not train_texts:
            raise ConfigError(f'lm.tokenizer "{name}" needs training reports to build the vocabulary')
        build = build_wordlevel_tokenizer if name == "wordlevel" else build_bpe_tokenizer
        tokenizer = build(train_texts)
    elif name:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(name)
    else:
        raise ConfigError("no tokenizer: set lm.tokenizer (a folder, a hub id, or wordlevel) or lm.pretrained")
    if tokenizer.eos_token_id is None:
        raise ConfigError(f"tokenizer {name} has no end-of-sequence token")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


@dataclass
class Encoded:
    """One training example: image array, token ids (section prompt, report, eos) and labels (-100 on the
    prompt: the loss covers the report and its eos only)."""

    id: str
    pixels: np.ndarray
    target: list[int]
    labels: list[int]
    truncated: bool
    section: str | None = None


def prompt_text(cfg: DataConfig, section: str | None) -> str:
    """The prompt after the image tokens: ``data.prompt`` with ``{section}`` filled in (sections default to
    ``"{section}:"``)."""
    if section is None:
        return cfg.prompt
    return (cfg.prompt or "{section}:").replace("{section}", section)


def prompt_ids(tokenizer: Any, cfg: DataConfig, section: str | None) -> list[int]:
    text = prompt_text(cfg, section)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []


def encode_target(tokenizer: Any, text: str, max_length: int) -> tuple[list[int], bool]:
    """Token ids of the report, cut to ``max_length``, followed by eos; returns (ids, whether it was cut)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    truncated = len(ids) > max_length
    return list(ids[:max_length]) + [tokenizer.eos_token_id], truncated


def section_text(study: Study, section: str) -> str:
    value = study.fields.get(section)
    return value if isinstance(value, str) else ""


class StudyDataset:
    """Map-style dataset of training examples: one per study, or with ``data.sections`` one per study and
    non-empty section (images read lazily, or all at once with ``preload``)."""

    def __init__(self, studies: Sequence[Study], image_dir: str | Path, cfg: DataConfig, tokenizer: Any,
                 channels: int = 3, preload: bool = False) -> None:
        self.studies = list(studies)
        self.image_dir = image_dir
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.channels = channels
        self._cache: dict[int, np.ndarray] = {}
        self.examples: list[tuple[int, str | None]] = []
        for k, study in enumerate(self.studies):
            if cfg.sections:
                self.examples += [(k, name) for name in cfg.sections if section_text(study, name).strip()]
            else:
                self.examples.append((k, None))
        self._prompts = {name: prompt_ids(tokenizer, cfg, name) for name in (cfg.sections or (None,))}
        if preload:
            for i in range(len(self.studies)):
                self._cache[i] = self.pixels(i)

    def pixels(self, study_index: int) -> np.ndarray:
        """The input image of study ``study_index``."""
        if study_index in self._cache:
            return self._cache[study_index]
        return load_study_image(self.studies[study_index], self.image_dir, self.cfg, self.channels)

    def __len__(self) -> int:
        return len(self.examples)

    def truncated_count(self) -> int:
        """How many examples' reports exceed ``data.max_length`` tokens (reads no image)."""
        count = 0
        for k, section in self.examples:
            study = self.studies[k]
            text = study.report if section is None else section_text(study, section)
            count += encode_target(self.tokenizer, text, self.cfg.max_length)[1]
        return count

    def __getitem__(self, index: int) -> Encoded:
        k, section = self.examples[index]
        study = self.studies[k]
        text = study.report if section is None else section_text(study, section)
        report, truncated = encode_target(self.tokenizer, text, self.cfg.max_length)
        prompt = self._prompts[section]
        return Encoded(id=study.id, pixels=self.pixels(k), target=prompt + report,
                       labels=[-100] * len(prompt) + report, truncated=truncated, section=section)


def collate(items: Sequence[Encoded], pad_id: int) -> dict[str, torch.Tensor | list[str]]:
    """Stack images; right-pad token ids (labels -100 on padding)."""
    import torch

    length = max(len(it.target) for it in items)
    ids = torch.full((len(items), length), pad_id, dtype=torch.long)
    labels = torch.full((len(items), length), -100, dtype=torch.long)
    mask = torch.zeros((len(items), length), dtype=torch.long)
    for row, it in enumerate(items):
        n = len(it.target)
        ids[row, :n] = torch.tensor(it.target)
        labels[row, :n] = torch.tensor(it.labels)
        mask[row, :n] = 1
    pixels = torch.from_numpy(np.stack([it.pixels for it in items]))
    return {"ids": [it.id for it in items], "pixel_values": pixels, "input_ids": ids, "attention_mask": mask,
            "labels": labels}
