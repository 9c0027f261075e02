"""The generator's configuration: a YAML file read into frozen dataclasses, unknown keys rejected."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rrg_eval.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


@dataclass(frozen=True)
class DataConfig:
    """How a study becomes an input image and a target text."""

    text_field: str = "report"          # one model per section: "findings" or "impression"
    prompt: str = ""                    # prompt placed after the image tokens, e.g. "findings:"
    sections: tuple[str, ...] = ()      # one model, several sections: one example per field named here, prompted
                                        # by data.prompt with {section} filled in (default "{section}:")
    views: str = "stitch"               # stitch: up to max_views side by side; frontal: first frontal view
    max_views: int = 4
    image_size: tuple[int, int] = (224, 224)   # (height, width) of the final image; each view gets width/max_views
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    max_length: int = 128               # report tokens kept (truncations are counted)
    view_field: str = "views"           # optional per-image view labels, e.g. ["PA", "LATERAL"]
    target: str = "text"                # text: the report as written; r2gen2_json: R2Gen2's structured JSON labels
                                        # (arch native_vlm), from data.json_field or derived from the report text
    json_field: str = "labels"          # a study field holding ready R2Gen2 labels (object or JSON string)


@dataclass(frozen=True)
class EncoderConfig:
    """The image encoder: a pretrained Hugging Face folder / hub id, or a config built with random weights."""

    pretrained: str | None = None       # a folder / hub id, or "open_clip:NAME" (e.g. BiomedCLIP, needs open_clip)
    config: dict[str, Any] = field(default_factory=dict)   # {model_type: resnet|vit|clip_vision_model, ...}
    select_layer: int | None = None     # take this hidden layer's tokens (LLaVA: -2, the penultimate); None: last


@dataclass(frozen=True)
class MappingConfig:
    """The mapping network from visual features to LM soft prompts."""

    type: str = "attention"             # attention: one decoder layer pooling into num_queries tokens; mlp: LLaVA
    num_queries: int = 10
    hidden_size: int = 512
    num_heads: int = 8
    dropout: float = 0.0


@dataclass(frozen=True)
class LMConfig:
    """The causal language model and its tokenizer."""

    pretrained: str | None = None
    config: dict[str, Any] = field(default_factory=dict)   # {model_type: gpt2, n_layer: ...} for random weights
    tokenizer: str | None = None        # a folder / hub id; default lm.pretrained; "wordlevel" or "bpe" (byte-level,
                                        # exact round trip): built from the training texts
    quantization: str | None = None     # None, "4bit" (QLoRA) or "8bit": bitsandbytes on a CUDA GPU; without a GPU
                                        # the same config trains plain LoRA and says so in a warning


@dataclass(frozen=True)
class LoraConfig:
    """LoRA through peft; target_modules default: the attention query and value projections of the LM."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] | None = None
    modules_to_save: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainConfig:
    """Fine-tuning schedule and optimiser."""

    schedule: str = "two_stage"         # two_stage | one_stage | frozen_encoder | projector_then_lora (LLaVA:
                                        # stage 1 mapping only, stage 2 mapping + LoRA; encoder always frozen)
    stage1_epochs: int = 1
    epochs: int = 10
    batch_size: int = 8
    lr: float = 1e-4                    # mapping network and LoRA weights
    stage1_lr: float | None = None      # learning rate of the first stage_1 epochs (default: lr)
    encoder_lr: float = 1e-5            # image encoder (stage 2)
    weight_decay: float = 0.01
    grad_accum: int = 1
    max_grad_norm: float = 1.0
    grad_checkpointing: bool = False
    precision: str = "auto"             # auto: bf16 on CUDA, fp32 otherwise; fp32; bf16
    device: str = "auto"
    accelerate: bool = False            # multi-GPU / mixed precision through accelerate
    val_metric: str = "bleu"            # an rrg-eval metric name
    val_key: str = "bleu4"              # the score key that picks the best checkpoint (its direction is respected)
    val_max_studies: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class GenerateConfig:
    """Decoding."""

    num_beams: int = 1                  # 1: greedy
    max_new_tokens: int = 128
    batch_size: int = 8
    length_penalty: float = 1.0


@dataclass(frozen=True)
class VLMConfig:
    """A native vision-language model (``arch: native_vlm``): the model itself is ``lm.pretrained`` (any
    transformers image-text-to-text model, e.g. Qwen2-VL) or ``lm.config`` (random weights, model_type qwen2_vl);
    training examples are chat messages: optional system prompt, then the user turn (image, prompt)."""

    system_prompt: str = ""
    user_prompt: str = "Write the radiology report for this chest X-ray."
    image_first: bool = True            # the user turn: image, then prompt (False: prompt, then image, as R2Gen2)
    image_processor: dict[str, Any] = field(default_factory=dict)  # e.g. {min_pixels, max_pixels}; random models:
                                                                    # {patch_size, merge_size, temporal_patch_size}


@dataclass(frozen=True)
class MetaConfig:
    """What a shipped config reproduces (documentation only: never changes training, not part of resume)."""

    system: str = ""                    # the published system this config re-creates
    gpu_memory: str = ""                # what the full-size run needs, e.g. "1x A100 40 GB"
    hub_ids: tuple[str, ...] = ()       # the exact Hugging Face ids of its weights
    published: dict[str, Any] = field(default_factory=dict)   # the numbers it should approach (dataset, split)
    sources: tuple[str, ...] = ()       # where the recipe and the numbers come from
    smoke_test: bool = False            # a tiny random-weight config: its scores are a smoke test, not a result


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything one run needs; saved next to the checkpoints as ``config.yaml``."""

    name: str = "run"
    arch: str = "two_stage"             # two_stage: encoder -> mapping -> causal LM; native_vlm: one VLM (section vlm)
    data: DataConfig = field(default_factory=DataConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    mapping: MappingConfig = field(default_factory=MappingConfig)
    lm: LMConfig = field(default_factory=LMConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    vlm: VLMConfig = field(default_factory=VLMConfig)
    meta: MetaConfig = field(default_factory=MetaConfig)

    def to_dict(self) -> dict[str, Any]:
        def plain(v: Any) -> Any:
            if isinstance(v, tuple):
                return [plain(x) for x in v]
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            return v
        return {k: plain(v) for k, v in dataclasses.asdict(self).items()}

    def replace(self, section: str, **changes: Any) -> GeneratorConfig:
        """A copy with fields of one section changed (``cfg.replace("train", epochs=2)``)."""
        return dataclasses.replace(self, **{section: dataclasses.replace(getattr(self, section), **changes)})


_SECTIONS = {"data": DataConfig, "encoder": EncoderConfig, "mapping": MappingConfig, "lm": LMConfig,
             "lora": LoraConfig, "train": TrainConfig, "generate": GenerateConfig, "vlm": VLMConfig,
             "meta": MetaConfig}
ARCHS = ("two_stage", "native_vlm")
SCHEDULES = ("two_stage", "one_stage", "frozen_encoder", "projector_then_lora")


def _build(cls: type, values: Any, where: str) -> Any:
    if values is None:
        return cls()
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(fields)}")
    kwargs = {}
    for key, value in values.items():
        default = getattr(cls(), key)
        if isinstance(value, list) and (isinstance(default, tuple) or default is None):
            value = tuple(value)
        numeric = isinstance(default, float) or "float" in str(fields[key].type)
        if numeric and isinstance(value, (int, str)) and not isinstance(value, bool):
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{where}.{key}: expected a number, got {value!r}") from None
        kwargs[key] = value
    return cls(**kwargs)


def config_from_dict(values: dict[str, Any], where: str = "config") -> GeneratorConfig:
    """Build a :class:`GeneratorConfig` from a dict (as read from YAML); unknown keys are a ConfigError."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level")
    unknown = sorted(set(values) - set(_SECTIONS) - {"name", "arch"})
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {', '.join(unknown)}; known: name, arch, "
                          f"{', '.join(_SECTIONS)}")
    cfg = GeneratorConfig(name=str(values.get("name", "run")), arch=str(values.get("arch", "two_stage")),
                          **{k: _build(c, values.get(k), f"{where}: {k}") for k, c in _SECTIONS.items()})
    validate(cfg)
    return cfg


def validate(cfg: GeneratorConfig) -> None:
    """Reject values the code cannot honour, with the allowed choices."""
    vlm = cfg.arch == "native_vlm"
    checks = [
        (cfg.arch in ARCHS, f"arch must be one of {', '.join(ARCHS)}"),
        (cfg.data.target in ("text", "r2gen2_json"), "data.target must be text or r2gen2_json"),
        (cfg.data.target == "text" or vlm, "data.target: r2gen2_json needs arch: native_vlm"),
        (not (vlm and cfg.data.sections), "data.sections is for arch two_stage; train one native VLM per section"),
        (cfg.data.views in ("stitch", "frontal"), "data.views must be stitch or frontal"),
        (cfg.data.max_views >= 1, "data.max_views must be >= 1"),
        (len(cfg.data.image_size) == 2, "data.image_size must be [height, width]"),
        (cfg.mapping.type in ("attention", "mlp"), "mapping.type must be attention or mlp"),
        (cfg.train.schedule in SCHEDULES, f"train.schedule must be one of {', '.join(SCHEDULES)}"),
        (not vlm or cfg.train.schedule == "one_stage",
         "arch native_vlm trains in one stage: train.schedule: one_stage"),
        (cfg.train.precision in ("auto", "fp32", "bf16"), "train.precision must be auto, fp32 or bf16"),
        (cfg.lm.quantization in (None, "4bit", "8bit"), "lm.quantization must be null, 4bit or 8bit"),
        (vlm or cfg.encoder.pretrained or cfg.encoder.config, "encoder: give pretrained or config"),
        (cfg.lm.pretrained or cfg.lm.config, "lm: give pretrained or config"),
        (cfg.generate.num_beams >= 1, "generate.num_beams must be >= 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def load_config(path: str | os.PathLike) -> GeneratorConfig:
    """Read a YAML config; a bare name (``tiny``) means ``baselines/configs/<name>.yaml``."""
    p = Path(path)
    if not p.exists() and (CONFIG_DIR / f"{path}.yaml").is_file():
        p = CONFIG_DIR / f"{path}.yaml"
    if not p.is_file():
        shipped = ", ".join(sorted(q.stem for q in CONFIG_DIR.glob("*.yaml")))
        raise ConfigError(f"no such config file: {path} (shipped configs: {shipped})")
    try:
        values = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    return config_from_dict(values or {}, where=str(p))
