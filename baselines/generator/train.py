"""Fine-tuning: two-stage (frozen encoder, then unfrozen), one-stage or frozen-encoder schedules.

A run folder holds ``config.yaml``, ``tokenizer/``, ``lm_base.safetensors`` (only when the LM has random base
weights), ``log.jsonl`` (one line per epoch: losses and validation scores; rewritten whole after each epoch),
``checkpoints/last`` and ``checkpoints/best``. A checkpoint has ``encoder.safetensors``, ``mapping.safetensors``,
the LoRA adapter ``adapter.safetensors`` (+ ``adapter_config.json``), ``optimizer.pt`` (last only) and
``state.json``. Training resumes from ``checkpoints/last`` when the run folder already has one (same config
required; ``train.epochs`` may grow). The best checkpoint is the epoch with the best validation score
``train.val_key`` of rrg-eval metric ``train.val_metric`` (greedy reports of the validation studies).
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from rrg_eval.errors import ConfigError, InputError
from rrg_eval.outputs import write_text

from ..studies import Study
from .config import GeneratorConfig, config_from_dict
from .data import StudyDataset, collate, load_tokenizer, prompt_text, section_text
from .generate import generate_reports
from .model import ReportGenerator, build_model, set_encoder_trainable, set_lora_trainable

Progress = Callable[[str, dict[str, Any]], None]
WEIGHT_FILES = ("encoder.safetensors", "mapping.safetensors", "adapter.safetensors", "adapter_config.json")


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def use_bf16(cfg: GeneratorConfig, device: torch.device) -> bool:
    return device.type == "cuda" and cfg.train.precision in ("auto", "bf16")


def lora_trainable(cfg: GeneratorConfig, epoch: int) -> bool:
    """Whether the LoRA weights train in ``epoch``: always, except stage 1 of ``projector_then_lora``."""
    return cfg.train.schedule != "projector_then_lora" or epoch >= cfg.train.stage1_epochs


def stage_name(cfg: GeneratorConfig, epoch: int) -> str:
    """"1" / "2" for the two-stage schedules, else the schedule's name."""
    if cfg.train.schedule in ("two_stage", "projector_then_lora"):
        return "1" if epoch < cfg.train.stage1_epochs else "2"
    return cfg.train.schedule


def quantization_warning(cfg: GeneratorConfig) -> str | None:
    """The warning when ``lm.quantization`` is set but this run has no CUDA GPU (it then trains plain LoRA)."""
    from .model import quantization_active

    if cfg.lm.quantization and not quantization_active(cfg):
        return (f"lm.quantization: {cfg.lm.quantization} needs a CUDA GPU; none here, so this run trains plain "
                "LoRA on full-precision weights (same adapters, more memory)")
    return None


def encoder_trainable(cfg: GeneratorConfig, epoch: int) -> bool:
    """Whether the image encoder trains in ``epoch`` (0-based) under the configured schedule."""
    if cfg.train.schedule == "projector_then_lora":
        return False
    if cfg.train.schedule == "one_stage":
        return True
    if cfg.train.schedule == "frozen_encoder":
        return False
    return epoch >= cfg.train.stage1_epochs


# ----------------------------------------------------------------------------------------------- checkpoints
def save_weights(model: ReportGenerator, folder: Path) -> None:
    """Encoder, mapping and LoRA adapter weights as safetensors (adapter separately, peft's key names)."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file, save_model

    folder.mkdir(parents=True, exist_ok=True)
    save_model(model.encoder, str(folder / "encoder.safetensors"))
    save_model(model.mapping, str(folder / "mapping.safetensors"))
    adapter = {k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(model.lm).items()}
    save_file(adapter, str(folder / "adapter.safetensors"))
    peft_config = model.lm.peft_config["default"].to_dict()
    write_text(folder / "adapter_config.json", json.dumps(peft_config, indent=2, default=list) + "\n")


def load_weights(model: ReportGenerator, folder: Path) -> None:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file, load_model

    for name in WEIGHT_FILES:
        if not (folder / name).is_file():
            raise InputError(f"checkpoint is incomplete: {name} missing", path=str(folder))
    load_model(model.encoder, str(folder / "encoder.safetensors"))
    load_model(model.mapping, str(folder / "mapping.safetensors"))
    result = set_peft_model_state_dict(model.lm, load_file(str(folder / "adapter.safetensors")))
    unexpected = getattr(result, "unexpected_keys", [])
    if unexpected:
        raise InputError(f"adapter weights do not fit the model (unexpected: {unexpected[:3]})", path=str(folder))


def _write_state(folder: Path, state: dict[str, Any]) -> None:
    write_text(folder / "state.json", json.dumps(state, indent=2) + "\n")


def save_checkpoint(model: ReportGenerator, optimizer: torch.optim.Optimizer, state: dict[str, Any],
                    run_dir: Path) -> None:
    """Write ``checkpoints/last`` through a temporary folder, so an interruption never leaves half a checkpoint."""
    root = run_dir / "checkpoints"
    tmp = root / "last.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    save_weights(model, tmp)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    _write_state(tmp, state)
    last = root / "last"
    old = root / "last.old"
    if last.exists():
        last.rename(old)
    tmp.rename(last)
    if old.exists():
        shutil.rmtree(old)


def _copy_best(run_dir: Path, state: dict[str, Any]) -> None:
    root = run_dir / "checkpoints"
    tmp = root / "best.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for name in WEIGHT_FILES:
        shutil.copy2(root / "last" / name, tmp / name)
    _write_state(tmp, state)
    best = root / "best"
    if best.exists():
        shutil.rmtree(best)
    tmp.rename(best)


# ----------------------------------------------------------------------------------------------- run folder
def _resume_key(cfg: GeneratorConfig) -> dict[str, Any]:
    """The config as far as resuming must match: everything except the number of epochs."""
    values = cfg.to_dict()
    values["train"] = {k: v for k, v in values["train"].items() if k != "epochs"}
    values.pop("meta", None)
    return values


def _prepare_run(cfg: GeneratorConfig, run_dir: Path, train: Sequence[Study]) -> tuple[Any, bool]:
    """Write (or check) config.yaml and the tokenizer; returns (tokenizer, resuming)."""
    config_path = run_dir / "config.yaml"
    root = run_dir / "checkpoints"
    if not (root / "last").exists() and (root / "last.old").is_dir():  # interrupted while swapping folders
        (root / "last.old").rename(root / "last")
    resuming = (root / "last" / "state.json").is_file()
    if config_path.is_file():
        saved = config_from_dict(yaml.safe_load(config_path.read_text(encoding="utf-8")), where=str(config_path))
        if _resume_key(saved) != _resume_key(cfg):
            raise ConfigError(f"{run_dir} holds a run with a different config; use another --out folder, or the "
                              f"same config (train.epochs may grow) to resume it")
    tok_dir = run_dir / "tokenizer"
    if tok_dir.is_dir():
        tokenizer = load_tokenizer(str(tok_dir))
    else:
        texts = [s.report for s in train] + [section_text(s, n) for s in train for n in cfg.data.sections]
        texts += [prompt_text(cfg.data, n) for n in (cfg.data.sections or (None,))]
        tokenizer = load_tokenizer(cfg.lm.tokenizer or cfg.lm.pretrained, texts)
        tokenizer.save_pretrained(str(tok_dir))
    write_text(config_path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    return tokenizer, resuming


def load_run(run_dir: str | Path, *, checkpoint: str = "best", device: str = "cpu") -> tuple[ReportGenerator, Any,
                                                                                             GeneratorConfig]:
    """(model, tokenizer, config) of a trained run; ``checkpoint``: best (default) or last."""
    from safetensors.torch import load_model

    run_dir = Path(run_dir)
    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise InputError("not a run folder (no config.yaml)", path=str(run_dir))
    cfg = config_from_dict(yaml.safe_load(config_path.read_text(encoding="utf-8")), where=str(config_path))
    if cfg.arch == "native_vlm":
        from .vlm import load_vlm_run

        vlm = load_vlm_run(run_dir, cfg, checkpoint=checkpoint, device=device)
        return vlm, vlm.processor.tokenizer, cfg
    tokenizer = load_tokenizer(str(run_dir / "tokenizer"))
    model, random_lm = build_model(cfg, tokenizer)
    if random_lm:
        load_model(model.lm, str(run_dir / "lm_base.safetensors"))
    folder = run_dir / "checkpoints" / checkpoint
    if not folder.is_dir() and checkpoint == "best":
        folder = run_dir / "checkpoints" / "last"
    if not folder.is_dir():
        raise InputError(f"no checkpoint {checkpoint!r} in this run folder", path=str(run_dir))
    load_weights(model, folder)
    model.to_device(pick_device(device))
    model.eval()
    return model, tokenizer, cfg


# ----------------------------------------------------------------------------------------------- training
@dataclass
class TrainOutcome:
    """What a training call did: epochs run now, the per-epoch log, the best epoch and score."""

    epochs_run: int
    history: list[dict[str, Any]]
    best_epoch: int | None
    best_score: float | None
    resumed_from: int
    truncated: int = 0
    warnings: list[str] = field(default_factory=list)


def _param_groups(model: ReportGenerator, cfg: GeneratorConfig) -> list[dict[str, Any]]:
    lm_params = [p for p in model.lm.parameters() if p.requires_grad]
    return [
        {"params": list(model.mapping.parameters()), "lr": cfg.train.lr, "name": "mapping"},
        {"params": lm_params, "lr": cfg.train.lr, "name": "lora"},
        {"params": list(model.encoder.parameters()), "lr": cfg.train.encoder_lr, "name": "encoder"},
    ]


def _order(n: int, seed: int, epoch: int) -> list[int]:
    return np.random.default_rng([seed, epoch]).permutation(n).tolist()


def reference_text(study: Study, cfg: GeneratorConfig) -> str:
    """The text a generated report is compared with: the report, or the sections joined in config order."""
    if not cfg.data.sections:
        return study.report
    return " ".join(t for t in (section_text(study, n).strip() for n in cfg.data.sections) if t)


def _validate(model: ReportGenerator, tokenizer: Any, val: Sequence[Study], image_dir: str | Path,
              cfg: GeneratorConfig, device: torch.device, progress: Progress | None) -> dict[str, float]:
    from rrg_eval import score

    studies = list(val)[:cfg.train.val_max_studies] if cfg.train.val_max_studies else list(val)
    generated = generate_reports(model, tokenizer, studies, image_dir, cfg, num_beams=1, device=device)
    refs = {s.id: reference_text(s, cfg) for s in studies}
    result = score(predictions={g.id: g.report for g in generated}, references=refs,
                   metrics=[cfg.train.val_metric], use_cache=False)
    result.raise_for_errors()
    if cfg.train.val_key not in result.scores:
        raise ConfigError(f"train.val_key {cfg.train.val_key!r} is not a key of metric {cfg.train.val_metric!r} "
                          f"(keys: {', '.join(result.scores)})")
    scores = dict(result.scores)
    scores["higher_is_better"] = float(result.key_info[cfg.train.val_key].higher_is_better)
    scores["confidence"] = float(np.nanmean([g.confidence for g in generated])) if generated else float("nan")
    return scores


def train(cfg: GeneratorConfig, train_studies: Sequence[Study], val_studies: Sequence[Study],
          image_dir: str | Path, run_dir: str | Path, *, progress: Progress | None = None,
          val_image_dir: str | Path | None = None) -> TrainOutcome:
    """Fine-tune per ``cfg`` into ``run_dir``, resuming from its last checkpoint if it has one."""
    from safetensors.torch import load_model, save_model

    if not train_studies:
        raise InputError("no training studies")
    if cfg.arch == "native_vlm":
        from .vlm import train_vlm

        return train_vlm(cfg, train_studies, val_studies, image_dir, run_dir, progress=progress,
                         val_image_dir=val_image_dir)
    warning = quantization_warning(cfg)
    if warning and progress:
        progress("warning", {"message": warning})
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tokenizer, resuming = _prepare_run(cfg, run_dir, train_studies)
    device = pick_device(cfg.train.device)
    model, random_lm = build_model(cfg, tokenizer)
    if random_lm:
        base = run_dir / "lm_base.safetensors"
        if base.is_file():
            load_model(model.lm, str(base))
        else:
            save_model(model.lm, str(base))
    if cfg.train.grad_checkpointing:
        model.lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.to_device(device)
    optimizer = torch.optim.AdamW(_param_groups(model, cfg), weight_decay=cfg.train.weight_decay)
    state: dict[str, Any] = {"epochs_done": 0, "global_step": 0, "best_epoch": None, "best_score": None,
                             "history": []}
    if resuming:
        last = run_dir / "checkpoints" / "last"
        load_weights(model, last)
        optimizer.load_state_dict(torch.load(last / "optimizer.pt", map_location=device, weights_only=True))
        state = json.loads((last / "state.json").read_text(encoding="utf-8"))
        best_state = run_dir / "checkpoints" / "best" / "state.json"
        best_saved = json.loads(best_state.read_text(encoding="utf-8")).get("epoch") if best_state.is_file() else None
        if state["best_epoch"] == state["epochs_done"] and best_saved != state["best_epoch"]:
            _copy_best(run_dir, {"epoch": state["best_epoch"], "score": state["best_score"],
                                 "metric": cfg.train.val_key})  # interrupted before the copy
        if progress:
            progress("resume", {"epoch": state["epochs_done"]})
    resumed_from = state["epochs_done"]

    dataset = StudyDataset(train_studies, image_dir, cfg.data, tokenizer, channels=model.channels)
    truncated = dataset.truncated_count()
    if truncated and progress:
        progress("warning", {"message": f"{truncated} training report(s) cut to data.max_length="
                                        f"{cfg.data.max_length} tokens"})
    accelerator = _accelerator(cfg, device) if cfg.train.accelerate else None
    bf16 = use_bf16(cfg, device)
    batch = cfg.train.batch_size
    run_model: Any = model
    if accelerator is not None:
        run_model, optimizer = accelerator.prepare(model, optimizer)
    for epoch in range(state["epochs_done"], cfg.train.epochs):
        set_encoder_trainable(model, encoder_trainable(cfg, epoch))
        set_lora_trainable(model, lora_trainable(cfg, epoch))
        stage1 = cfg.train.schedule in ("two_stage", "projector_then_lora") and epoch < cfg.train.stage1_epochs
        for group in optimizer.param_groups:
            if group.get("name") in ("mapping", "lora"):
                group["lr"] = cfg.train.stage1_lr if stage1 and cfg.train.stage1_lr is not None else cfg.train.lr
        model.train()
        order = _order(len(dataset), cfg.train.seed, epoch)
        if accelerator is not None:  # each process trains on its own share of the epoch
            order = order[accelerator.process_index::accelerator.num_processes]
        steps = math.ceil(len(order) / batch)
        losses = []
        optimizer.zero_grad(set_to_none=True)
        for step in range(steps):
            items = [dataset[i] for i in order[step * batch:(step + 1) * batch]]
            b = collate(items, tokenizer.pad_token_id)
            tensors = {k: v.to(device) for k, v in b.items() if isinstance(v, torch.Tensor)}
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = run_model(**tensors) / cfg.train.grad_accum
            if accelerator is not None:
                accelerator.backward(loss)
            else:
                loss.backward()
            if (step + 1) % cfg.train.grad_accum == 0 or step + 1 == steps:
                params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
                if cfg.train.max_grad_norm and params:
                    torch.nn.utils.clip_grad_norm_(params, cfg.train.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            state["global_step"] += 1
            losses.append(loss.item() * cfg.train.grad_accum)
            if progress:
                progress("step", {"epoch": epoch + 1, "epochs": cfg.train.epochs, "step": step + 1, "steps": steps,
                                  "loss": losses[-1], "encoder_trainable": encoder_trainable(cfg, epoch)})
        record: dict[str, Any] = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)),
                                  "stage": stage_name(cfg, epoch), "encoder_trainable": encoder_trainable(cfg, epoch),
                                  "lora_trainable": lora_trainable(cfg, epoch)}
        if val_studies and (accelerator is None or accelerator.is_main_process):
            scores = _validate(model, tokenizer, val_studies, val_image_dir or image_dir, cfg, device, progress)
            higher = bool(scores.pop("higher_is_better"))
            record["val"] = scores
            value = scores[cfg.train.val_key]
            best = state["best_score"]
            improved = best is None or (value > best if higher else value < best)
        else:
            improved, value = True, None
        if improved:
            state["best_epoch"], state["best_score"] = epoch + 1, value
        record["best_epoch"] = state["best_epoch"]
        state["epochs_done"] = epoch + 1
        state["history"].append(record)
        if accelerator is not None:
            accelerator.wait_for_everyone()
            if not accelerator.is_main_process:
                continue
        save_checkpoint(model, optimizer, state, run_dir)
        if improved:
            _copy_best(run_dir, {"epoch": epoch + 1, "score": value, "metric": cfg.train.val_key})
        write_text(run_dir / "log.jsonl", "".join(json.dumps(r) + "\n" for r in state["history"]))
        if progress:
            progress("epoch", record)
    return TrainOutcome(epochs_run=state["epochs_done"] - resumed_from, history=state["history"],
                        best_epoch=state["best_epoch"], best_score=state["best_score"], resumed_from=resumed_from,
                        truncated=truncated, warnings=[warning] if warning else [])


def _accelerator(cfg: GeneratorConfig, device: torch.device) -> Any:
    try:
        from accelerate import Accelerator
    except ImportError:
        raise ConfigError("train.accelerate needs accelerate: pip install 'rrg-eval[baselines]'") from None
    return Accelerator(mixed_precision="bf16" if use_bf16(cfg, device) else "no")
