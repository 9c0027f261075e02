"""Native vision-language models (``arch: native_vlm``): R2Gen2's recipe, a VLM fine-tuned end to end with LoRA.

The model is any transformers image-text-to-text model (``AutoModelForImageTextToText``: Qwen2-VL and the rest of
the family) from ``lm.pretrained``, or a random-weight Qwen2-VL built from ``lm.config`` (tests). Each study
becomes a chat: an optional system turn (``vlm.system_prompt``), a user turn with the study image (views stitched
or the frontal view, per ``data``) and ``vlm.user_prompt``, and the assistant turn to learn: the report, or with
``data.target: r2gen2_json`` its R2Gen2 JSON labels (:mod:`.structured`). The prompt is formatted by the
processor's chat template; the loss covers the assistant tokens and the end-of-turn token only.

LoRA adapters (peft) are the only trainable weights. ``lm.quantization: 4bit`` (QLoRA) or ``8bit`` loads the frozen
base through bitsandbytes on a CUDA GPU; on a machine without one the same config trains plain LoRA and the
trainer says so in a warning.

A run folder holds ``config.yaml``, ``processor/``, ``vlm_base.safetensors`` (random-weight models only),
``log.jsonl`` and ``checkpoints/{last,best}/`` (``adapter.safetensors``, ``adapter_config.json``,
``state.json``). Native-VLM runs do not resume: a folder that already holds a checkpoint is refused.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from rrg_eval.errors import ConfigError, InputError
from rrg_eval.outputs import write_text

from ..studies import Study
from .config import GeneratorConfig
from .data import build_bpe_tokenizer, study_image
from .structured import R2GEN2_SYSTEM_PROMPT, json_valid, structured_target

Progress = Callable[[str, dict[str, Any]], None]

# Chat markers of the random-weight Qwen2-VL (Qwen's token names, so the processor finds its image token).
PAD, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""A minimal ChatML template for the random-weight model (pretrained processors bring their own)."""

DEFAULT_VLM_LORA = r".*language_model.*\.(q_proj|v_proj)$"
"""Default LoRA targets: the language model's query and value projections (not the vision tower's)."""

__all__ = ["NativeVLM", "R2GEN2_SYSTEM_PROMPT", "generate_vlm", "load_vlm_run", "target_text", "train_vlm"]


def messages(cfg: GeneratorConfig) -> list[dict[str, Any]]:
    """The chat before the assistant's answer: optional system turn, user turn with the image and the prompt."""
    out: list[dict[str, Any]] = []
    if cfg.vlm.system_prompt:
        out.append({"role": "system", "content": [{"type": "text", "text": cfg.vlm.system_prompt}]})
    image, text = {"type": "image"}, {"type": "text", "text": cfg.vlm.user_prompt}
    out.append({"role": "user", "content": [image, text] if cfg.vlm.image_first else [text, image]})
    return out


def target_text(study: Study, cfg: GeneratorConfig) -> str:
    """What the model learns to write for ``study``: the report, or its R2Gen2 JSON labels."""
    if cfg.data.target == "r2gen2_json":
        return structured_target(study, study.report, cfg.data.json_field)
    return study.report


# ----------------------------------------------------------------------------------------------- building
def build_processor(cfg: GeneratorConfig, train_texts: Sequence[str]) -> Any:
    """The processor (tokenizer, image processor, chat template): from ``lm.pretrained``, or built here for a
    random-weight Qwen2-VL (byte-level BPE trained on ``train_texts``, the ChatML template above)."""
    options = dict(cfg.vlm.image_processor)
    if cfg.lm.pretrained:
        source = cfg.lm.tokenizer or cfg.lm.pretrained
        if (Path(source) / ChatProcessor.FILE).is_file():  # a folder written by this module (tests, exports)
            return ChatProcessor.from_pretrained(source)
        from transformers import AutoProcessor

        return AutoProcessor.from_pretrained(source, **options)
    if cfg.lm.config.get("model_type") != "qwen2_vl":
        raise ConfigError("a random-weight native VLM is built for lm.config.model_type: qwen2_vl only; give "
                          "lm.pretrained (any image-text-to-text model) for others")
    options.update(image_mean=list(cfg.data.mean), image_std=list(cfg.data.std))
    prompt = cfg.vlm.system_prompt + " " + cfg.vlm.user_prompt + " system user assistant"
    tokenizer = build_bpe_tokenizer([*train_texts, prompt], vocab_size=int(cfg.lm.config.get("vocab_size", 512)),
                                    special=(IM_START, *VISION_TOKENS), eos=IM_END, pad=PAD)
    return ChatProcessor(tokenizer, options)


def _qwen2_vl_image_processor(**options: Any) -> Any:
    import transformers.models.qwen2_vl as qwen2_vl

    image_cls = getattr(qwen2_vl, "Qwen2VLImageProcessorPil", None) or qwen2_vl.Qwen2VLImageProcessor
    return image_cls(**options)


class ChatProcessor:
    """The processor of the random-weight Qwen2-VL: tokenizer, Qwen2-VL image processor and the ChatML template
    above; each image marker becomes as many image tokens as the image has merged patches (Qwen2-VL's rule:
    ``t * h * w / merge_size**2``). transformers' Qwen2VLProcessor would need a video processor (torchvision)."""

    FILE = "chat_processor.json"

    def __init__(self, tokenizer: Any, image_options: dict[str, Any]) -> None:
        self.tokenizer = tokenizer
        self.image_options = dict(image_options)
        self.image_processor = _qwen2_vl_image_processor(**image_options)

    def apply_chat_template(self, conversation: list[dict[str, Any]], *, add_generation_prompt: bool = False,
                            tokenize: bool = False) -> str:
        import jinja2

        return jinja2.Environment().from_string(CHAT_TEMPLATE).render(messages=conversation,
                                                                      add_generation_prompt=add_generation_prompt)

    def __call__(self, *, text: list[str], images: list[Any], return_tensors: str = "pt") -> dict[str, Any]:
        pixels = self.image_processor(images=images, return_tensors="pt")
        merge = self.image_processor.merge_size ** 2
        counts = iter([int(g.prod()) // merge for g in pixels["image_grid_thw"]])
        expanded = []
        for t in text:
            parts = t.split(VISION_TOKENS[2])
            expanded.append(parts[0] + "".join(VISION_TOKENS[2] * next(counts) + p for p in parts[1:]))
        ids = self.tokenizer(expanded, add_special_tokens=False, return_tensors="pt", padding=True)
        return {"input_ids": ids["input_ids"], "attention_mask": ids["attention_mask"],
                "pixel_values": pixels["pixel_values"], "image_grid_thw": pixels["image_grid_thw"]}

    def save_pretrained(self, folder: str) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(folder)
        write_text(Path(folder) / self.FILE, json.dumps(self.image_options, indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, folder: str) -> ChatProcessor:
        from transformers import PreTrainedTokenizerFast

        options = json.loads((Path(folder) / cls.FILE).read_text(encoding="utf-8"))
        return cls(PreTrainedTokenizerFast.from_pretrained(folder), options)


def load_processor(folder: Path) -> Any:
    """The processor saved in a run folder."""
    if (folder / ChatProcessor.FILE).is_file():
        return ChatProcessor.from_pretrained(str(folder))
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(str(folder))


def build_vlm(cfg: GeneratorConfig, processor: Any) -> tuple[torch.nn.Module, bool]:
    """(model, whether its base weights are random and must be saved with the run), before LoRA."""
    from transformers import AutoModelForImageTextToText

    from .model import _auto_config, _bf16_weights, bnb_config, quantization_active

    if cfg.lm.pretrained:
        kwargs: dict[str, Any] = {}
        if quantization_active(cfg):
            kwargs["quantization_config"] = bnb_config(cfg.lm.quantization or "4bit")
            kwargs["device_map"] = {"": torch.cuda.current_device()}
        elif _bf16_weights(cfg):
            import transformers

            key = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
            kwargs[key] = torch.bfloat16  # the frozen base in bf16; peft keeps the LoRA weights in fp32
        model = AutoModelForImageTextToText.from_pretrained(cfg.lm.pretrained, **kwargs)
        if quantization_active(cfg):
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.train.grad_checkpointing)
        return model, False
    tok = processor.tokenizer
    ip = processor.image_processor
    values = dict(cfg.lm.config)
    text = dict(values.pop("text_config", {}))
    vision = dict(values.pop("vision_config", {}))
    text.update(vocab_size=len(tok), eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id)
    values.pop("vocab_size", None)
    vision.update(patch_size=ip.patch_size, spatial_merge_size=ip.merge_size,
                  temporal_patch_size=ip.temporal_patch_size)
    ids = {name: tok.convert_tokens_to_ids(token) for name, token in
           (("vision_start_token_id", VISION_TOKENS[0]), ("vision_end_token_id", VISION_TOKENS[1]),
            ("image_token_id", VISION_TOKENS[2]), ("video_token_id", VISION_TOKENS[3]))}
    config = _auto_config({**values, **ids, "text_config": text, "vision_config": vision}, "lm")
    return AutoModelForImageTextToText.from_config(config), True


def add_vlm_lora(model: torch.nn.Module, cfg: GeneratorConfig) -> torch.nn.Module:
    """Freeze the VLM and wrap it with LoRA (``lora.target_modules`` or the LM's q/v projections)."""
    from peft import LoraConfig, get_peft_model

    for p in model.parameters():
        p.requires_grad_(False)
    targets: Any = list(cfg.lora.target_modules) if cfg.lora.target_modules else DEFAULT_VLM_LORA
    lora = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=targets, modules_to_save=list(cfg.lora.modules_to_save) or None,
                      task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


class NativeVLM:
    """A VLM with LoRA adapters, its processor and config; what ``load_run`` returns for ``arch: native_vlm``."""

    native_vlm = True

    def __init__(self, model: torch.nn.Module, processor: Any, cfg: GeneratorConfig) -> None:
        self.model = model
        self.processor = processor
        self.cfg = cfg

    @property
    def device(self) -> torch.device:
        return next(p for p in self.model.parameters()).device

    @property
    def training(self) -> bool:
        return self.model.training

    def train(self, mode: bool = True) -> NativeVLM:
        self.model.train(mode)
        return self

    def eval(self) -> NativeVLM:
        return self.train(False)

    def to_device(self, device: torch.device | str) -> NativeVLM:
        if not any(getattr(self.model.get_base_model(), f, False) for f in ("is_loaded_in_4bit", "is_loaded_in_8bit")):
            self.model.to(device)
        return self

    def trainable_names(self) -> list[str]:
        return [n for n, p in self.model.named_parameters() if p.requires_grad]


def build_native_vlm(cfg: GeneratorConfig, processor: Any) -> tuple[NativeVLM, bool]:
    """The VLM with fresh LoRA weights (seeded by ``train.seed``); and whether its base weights are random."""
    from .model import seeded

    with seeded(cfg.train.seed):
        model, random_base = build_vlm(cfg, processor)
        return NativeVLM(model, processor, cfg), random_base


# ----------------------------------------------------------------------------------------------- examples
@dataclass
class Prompt:
    """A study's chat prompt: token ids (image tokens expanded), pixel patches and the image grid."""

    id: str
    ids: list[int]
    pixel_values: torch.Tensor
    grid: torch.Tensor


def encode_prompt(processor: Any, cfg: GeneratorConfig, study: Study, image_dir: str | Path) -> Prompt:
    text = processor.apply_chat_template(messages(cfg), add_generation_prompt=True, tokenize=False)
    image = study_image(study, image_dir, cfg.data, "RGB")
    out = processor(text=[text], images=[image], return_tensors="pt")
    return Prompt(id=study.id, ids=out["input_ids"][0].tolist(), pixel_values=out["pixel_values"],
                  grid=out["image_grid_thw"])


def encode_target(processor: Any, text: str, max_length: int) -> tuple[list[int], bool]:
    """Assistant tokens cut to ``max_length``, then the end-of-turn token; and whether they were cut."""
    tok = processor.tokenizer
    ids = tok(text, add_special_tokens=False)["input_ids"]
    return list(ids[:max_length]) + [tok.eos_token_id], len(ids) > max_length


def image_token_types(model: torch.nn.Module) -> int | None:
    """The image token id when the model wants ``mm_token_type_ids`` (1 on image tokens; transformers >= 5's
    Qwen2-VL computes its 3-D rotary positions from them), else None."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if "mm_token_type_ids" not in inspect.signature(base.forward).parameters:
        return None
    return getattr(base.config, "image_token_id", None)


def batch_tensors(prompts: Sequence[Prompt], targets: Sequence[list[int]], pad: int, *, left: bool,
                  score_targets: bool = True, image_token: int | None = None) -> dict[str, torch.Tensor]:
    """Pad ``prompt + target`` rows (left for generation, right for teacher forcing); labels -100 off target;
    ``mm_token_type_ids`` when ``image_token`` is given."""
    rows = [p.ids + t for p, t in zip(prompts, targets)]
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), pad, dtype=torch.long)
    labels = torch.full((len(rows), length), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for k, (p, t, row) in enumerate(zip(prompts, targets, rows)):
        start = length - len(row) if left else 0
        ids[k, start:start + len(row)] = torch.tensor(row)
        mask[k, start:start + len(row)] = 1
        if score_targets and t:
            labels[k, start + len(p.ids):start + len(row)] = torch.tensor(t)
    out = {"input_ids": ids, "attention_mask": mask, "labels": labels,
           "pixel_values": torch.cat([p.pixel_values for p in prompts]),
           "image_grid_thw": torch.cat([p.grid for p in prompts])}
    if image_token is not None:
        out["mm_token_type_ids"] = (ids == image_token).long()
    return out


def _inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in batch.items() if k != "labels"}


def token_logprobs(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per-token log-probabilities of ``labels`` (0 where -100), position t predicted from t - 1."""
    logits = model(**_inputs(batch)).logits
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    labels = batch["labels"][:, 1:]
    valid = labels != -100
    picked = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1) * valid
    return torch.nn.functional.pad(picked, (1, 0))


def loss_of(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy of the target tokens."""
    picked = token_logprobs(model, batch)
    count = (batch["labels"] != -100).sum().clamp(min=1)
    return -picked.sum() / count


# ----------------------------------------------------------------------------------------------- training
def _prepare(cfg: GeneratorConfig, run_dir: Path, train: Sequence[Study]) -> Any:
    if (run_dir / "checkpoints" / "last").exists():
        raise ConfigError(f"{run_dir} already holds a native-VLM run; native-VLM runs do not resume: use another "
                          "--out folder")
    processor = build_processor(cfg, [target_text(s, cfg) for s in train])
    processor.save_pretrained(str(run_dir / "processor"))
    write_text(run_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    return processor


def _save_adapter(vlm: NativeVLM, folder: Path, state: dict[str, Any]) -> None:
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    adapter = {k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(vlm.model).items()}
    save_file(adapter, str(tmp / "adapter.safetensors"))
    write_text(tmp / "adapter_config.json",
               json.dumps(vlm.model.peft_config["default"].to_dict(), indent=2, default=list) + "\n")
    write_text(tmp / "state.json", json.dumps(state, indent=2) + "\n")
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)


def _validate(vlm: NativeVLM, val: Sequence[Study], image_dir: str | Path, cfg: GeneratorConfig) -> dict[str, float]:
    from rrg_eval import score

    studies = list(val)[:cfg.train.val_max_studies] if cfg.train.val_max_studies else list(val)
    generated = generate_vlm(vlm, studies, image_dir, cfg, num_beams=1)
    result = score(predictions={g.id: g.report for g in generated}, references={s.id: s.report for s in studies},
                   metrics=[cfg.train.val_metric], use_cache=False)
    result.raise_for_errors()
    if cfg.train.val_key not in result.scores:
        raise ConfigError(f"train.val_key {cfg.train.val_key!r} is not a key of metric {cfg.train.val_metric!r} "
                          f"(keys: {', '.join(result.scores)})")
    scores = {k: float(v) for k, v in result.scores.items()}
    scores["higher_is_better"] = float(result.key_info[cfg.train.val_key].higher_is_better)
    scores["confidence"] = float(np.nanmean([g.confidence for g in generated])) if generated else float("nan")
    return scores


def train_vlm(cfg: GeneratorConfig, train_studies: Sequence[Study], val_studies: Sequence[Study],
              image_dir: str | Path, run_dir: str | Path, *, progress: Progress | None = None,
              val_image_dir: str | Path | None = None) -> Any:
    """Fine-tune a native VLM with LoRA into ``run_dir``; returns a :class:`~.train.TrainOutcome`."""
    from safetensors.torch import save_model

    from .model import seeded
    from .train import TrainOutcome, _order, pick_device, quantization_warning, use_bf16

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    warnings = [w for w in (quantization_warning(cfg),) if w]
    for w in warnings:
        if progress:
            progress("warning", {"message": w})
    processor = _prepare(cfg, run_dir, train_studies)
    device = pick_device(cfg.train.device)
    vlm, random_base = build_native_vlm(cfg, processor)
    if random_base:
        save_model(vlm.model, str(run_dir / "vlm_base.safetensors"))
    with seeded(cfg.train.seed + 1):
        vlm.model = add_vlm_lora(vlm.model, cfg)
    if cfg.train.grad_checkpointing:
        vlm.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    vlm.to_device(device)
    params = [p for p in vlm.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    pad = processor.tokenizer.pad_token_id
    # targets are encoded up front (cheap); images are read per batch (a 7B recipe's patches take MBs per study)
    encoded = [encode_target(processor, target_text(s, cfg), cfg.data.max_length) for s in train_studies]
    truncated = sum(cut for _, cut in encoded)
    if truncated:
        w = f"{truncated} training target(s) cut to data.max_length={cfg.data.max_length} tokens"
        warnings.append(w)
        if progress:
            progress("warning", {"message": w})
    bf16 = use_bf16(cfg, device)
    image_token = image_token_types(vlm.model)
    history: list[dict[str, Any]] = []
    best_epoch, best_score = None, None
    for epoch in range(cfg.train.epochs):
        vlm.train()
        order = _order(len(encoded), cfg.train.seed, epoch)
        steps = math.ceil(len(order) / cfg.train.batch_size)
        losses = []
        optimizer.zero_grad(set_to_none=True)
        for step in range(steps):
            idx = order[step * cfg.train.batch_size:(step + 1) * cfg.train.batch_size]
            prompts = [encode_prompt(processor, cfg, train_studies[i], image_dir) for i in idx]
            batch = batch_tensors(prompts, [encoded[i][0] for i in idx], pad, left=False, image_token=image_token)
            batch = {k: v.to(device) for k, v in batch.items()}
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = loss_of(vlm.model, batch) / cfg.train.grad_accum
            loss.backward()
            if (step + 1) % cfg.train.grad_accum == 0 or step + 1 == steps:
                if cfg.train.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(params, cfg.train.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item() * cfg.train.grad_accum)
            if progress:
                progress("step", {"epoch": epoch + 1, "epochs": cfg.train.epochs, "step": step + 1, "steps": steps,
                                  "loss": losses[-1], "encoder_trainable": False})
        record: dict[str, Any] = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "stage": "one_stage",
                                  "step_losses": losses}
        improved, value = True, None
        if val_studies:
            scores = _validate(vlm, val_studies, val_image_dir or image_dir, cfg)
            higher = bool(scores.pop("higher_is_better"))
            record["val"] = scores
            value = scores[cfg.train.val_key]
            improved = best_score is None or (value > best_score if higher else value < best_score)
        if improved:
            best_epoch, best_score = epoch + 1, value
        record["best_epoch"] = best_epoch
        history.append(record)
        state = {"epochs_done": epoch + 1, "best_epoch": best_epoch, "best_score": best_score}
        _save_adapter(vlm, run_dir / "checkpoints" / "last", state)
        if improved:
            _save_adapter(vlm, run_dir / "checkpoints" / "best", {"epoch": epoch + 1, "score": value,
                                                                   "metric": cfg.train.val_key})
        write_text(run_dir / "log.jsonl", "".join(json.dumps(r) + "\n" for r in history))
        if progress:
            progress("epoch", record)
    return TrainOutcome(epochs_run=cfg.train.epochs, history=history, best_epoch=best_epoch, best_score=best_score,
                        resumed_from=0, truncated=truncated, warnings=warnings)


def load_vlm_run(run_dir: Path, cfg: GeneratorConfig, *, checkpoint: str = "best", device: str = "cpu") -> NativeVLM:
    """The trained VLM of a run folder (base weights, then the checkpoint's adapter)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file, load_model

    from .model import seeded
    from .train import pick_device

    processor = load_processor(run_dir / "processor")
    vlm, random_base = build_native_vlm(cfg, processor)
    if random_base:
        load_model(vlm.model, str(run_dir / "vlm_base.safetensors"))
    with seeded(cfg.train.seed + 1):
        vlm.model = add_vlm_lora(vlm.model, cfg)
    folder = run_dir / "checkpoints" / checkpoint
    if not folder.is_dir() and checkpoint == "best":
        folder = run_dir / "checkpoints" / "last"
    if not (folder / "adapter.safetensors").is_file():
        raise InputError(f"no checkpoint {checkpoint!r} in this run folder", path=str(run_dir))
    result = set_peft_model_state_dict(vlm.model, load_file(str(folder / "adapter.safetensors")))
    if getattr(result, "unexpected_keys", []):
        raise InputError("adapter weights do not fit the model", path=str(folder))
    vlm.to_device(pick_device(device))
    vlm.eval()
    return vlm


# ----------------------------------------------------------------------------------------------- generation
def _eos_ids(vlm: NativeVLM) -> list[int]:
    ids = [vlm.processor.tokenizer.eos_token_id]
    extra = getattr(getattr(vlm.model, "generation_config", None), "eos_token_id", None)
    ids += extra if isinstance(extra, list) else ([extra] if extra is not None else [])
    return list(dict.fromkeys(i for i in ids if i is not None))


@torch.no_grad()
def generate_vlm(vlm: NativeVLM, studies: Sequence[Study], image_dir: str | Path, cfg: GeneratorConfig, *,
                 num_beams: int | None = None, max_new_tokens: int | None = None, batch_size: int | None = None,
                 progress: Progress | None = None) -> list[Any]:
    """A report (or JSON labels) for every study, in input order, with its confidence; with ``data.target:
    r2gen2_json`` each output says whether it is valid R2Gen2 JSON (invalid ones are kept as written and counted
    in a warning)."""
    from .generate import Generated

    gen = cfg.generate
    num_beams = num_beams or gen.num_beams
    max_new_tokens = max_new_tokens or gen.max_new_tokens
    batch_size = batch_size or gen.batch_size
    tok = vlm.processor.tokenizer
    eos, pad = _eos_ids(vlm), tok.pad_token_id
    device = vlm.device
    studies = list(studies)
    structured = cfg.data.target == "r2gen2_json"
    image_token = image_token_types(vlm.model)
    was_training = vlm.training
    vlm.eval()
    out: list[Generated] = []
    try:
        for start in range(0, len(studies), batch_size):
            chunk = studies[start:start + batch_size]
            prompts = [encode_prompt(vlm.processor, cfg, s, image_dir) for s in chunk]
            batch = batch_tensors(prompts, [[] for _ in chunk], pad, left=True, score_targets=False,
                                  image_token=image_token)
            batch = {k: v.to(device) for k, v in batch.items()}
            beam = {"num_beams": num_beams, "length_penalty": gen.length_penalty, "early_stopping": True}
            sequences = vlm.model.generate(**_inputs(batch), max_new_tokens=max_new_tokens,
                                           do_sample=False, eos_token_id=eos, pad_token_id=pad,
                                           **(beam if num_beams > 1 else {}))
            width = batch["input_ids"].shape[1]
            rows = []
            for seq in sequences[:, width:].tolist():
                row = []
                for t in seq:
                    row.append(t)
                    if t in eos:
                        break
                while row and row[-1] == pad and pad not in eos:
                    row.pop()
                rows.append(row)
            scored = batch_tensors(prompts, rows, pad, left=False, image_token=image_token)
            scored = {k: v.to(device) for k, v in scored.items()}
            probs = token_logprobs(vlm.model, scored).exp() * (scored["labels"] != -100)
            for k, (study, row) in enumerate(zip(chunk, rows)):
                text = tok.decode([t for t in row if t not in eos], skip_special_tokens=True).strip()
                conf = float(probs[k].sum() / len(row)) if row else float("nan")
                out.append(Generated(id=study.id, report=text, confidence=conf, tokens=len(row),
                                     json_valid=json_valid(text) if structured else None))
            if progress:
                progress("generate", {"done": start + len(chunk), "total": len(studies)})
    finally:
        vlm.train(was_training)
    if structured and progress:
        invalid = sum(not g.json_valid for g in out)
        if invalid:
            progress("warning", {"message": f"{invalid} of {len(out)} generated outputs are not valid R2Gen2 JSON; "
                                            "they are kept as written (json_overlap scores them 0 and reports "
                                            "the rate)"})
    return out
