"""The network: image encoder (transformers) -> mapping network -> causal LM with LoRA (peft).

The mapping network turns the encoder's visual sequence into soft-prompt embeddings of the LM's size. They are
followed by the embedded section prompt (if any) and the report tokens; the loss covers the report tokens only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from rrg_eval.errors import ConfigError

from .config import GeneratorConfig

# The attention query and value projections, by model type (GPT-2 fuses q, k, v into c_attn).
DEFAULT_LORA_TARGETS = {
    "gpt2": ("c_attn",),
    "llama": ("q_proj", "v_proj"),
    "mistral": ("q_proj", "v_proj"),
    "opt": ("q_proj", "v_proj"),
    "gpt_neox": ("query_key_value",),
    "gpt_bigcode": ("c_attn",),
}


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Random initialisation inside this block draws from a generator seeded with ``seed``; the global state is
    restored afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _auto_config(values: dict[str, Any], where: str) -> Any:
    from transformers import AutoConfig

    values = dict(values)
    model_type = values.pop("model_type", None)
    if not model_type:
        raise ConfigError(f"{where}.config needs a model_type (e.g. resnet, vit, clip_vision_model, gpt2, llama)")
    try:
        return AutoConfig.for_model(model_type, **values)
    except ValueError as exc:
        raise ConfigError(f"{where}.config: {exc}") from None


def build_encoder(cfg: GeneratorConfig) -> tuple[nn.Module, int, int]:
    """(encoder, feature size, input channels) from a pretrained folder / hub id or a config with random weights.

    A full CLIP-style model is reduced to its vision tower.
    """
    from transformers import AutoModel

    if cfg.encoder.pretrained and cfg.encoder.pretrained.startswith("open_clip:"):
        model = OpenClipTower(cfg.encoder.pretrained[len("open_clip:"):])
    elif cfg.encoder.pretrained:
        model = AutoModel.from_pretrained(cfg.encoder.pretrained)
    else:
        model = AutoModel.from_config(_auto_config(cfg.encoder.config, "encoder"))
    if hasattr(model, "vision_model"):
        model = model.vision_model
    conf = model.config
    native = getattr(conf, "image_size", None)
    if isinstance(native, int):
        native = (native, native)
    if native is not None and tuple(native) != tuple(cfg.data.image_size):
        raise ConfigError(f"the image encoder takes {native[0]}x{native[1]} images but data.image_size is "
                          f"{list(cfg.data.image_size)}; make them equal (e.g. data.views: frontal, or a narrower "
                          "stitch) or use a convolutional encoder, which takes any size")
    sizes = getattr(conf, "hidden_sizes", None)
    dim = int(sizes[-1]) if sizes else int(conf.hidden_size)
    channels = int(getattr(conf, "num_channels", 3))
    return model, dim, channels


class OpenClipTower(nn.Module):
    """An ``open_clip`` model's image tower (e.g. ``hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224``,
    LLaVA-Rad's encoder family) as a vision tower: the token sequence of its ViT trunk (timm), with a
    transformers-like ``config`` (hidden_size, image_size, num_channels) and ``last_hidden_state`` output."""

    def __init__(self, name: str) -> None:
        super().__init__()
        try:
            import open_clip
        except ImportError:
            raise ConfigError("encoder.pretrained open_clip:... needs open_clip: pip install open_clip_torch") from None
        model = open_clip.create_model(name)
        self.visual = model.visual
        trunk = getattr(self.visual, "trunk", None)
        if trunk is None or not hasattr(trunk, "forward_features"):
            raise ConfigError(f"open_clip model {name} has no timm ViT trunk to take tokens from")
        size = getattr(self.visual, "image_size", 224)
        from types import SimpleNamespace

        self.config = SimpleNamespace(hidden_size=int(trunk.num_features), num_channels=3,
                                      image_size=tuple(size) if isinstance(size, (tuple, list)) else int(size))

    def forward(self, pixel_values: torch.Tensor, output_hidden_states: bool = False) -> Any:
        """``last_hidden_state``: the trunk's final (normed) tokens; with ``output_hidden_states``,
        ``hidden_states`` holds each transformer block's output (so ``[-2]`` is the penultimate layer)."""
        from types import SimpleNamespace

        trunk = self.visual.trunk
        if not output_hidden_states:
            return SimpleNamespace(last_hidden_state=trunk.forward_features(pixel_values), hidden_states=None)
        blocks = getattr(trunk, "blocks", None)
        if blocks is None:
            raise ConfigError("encoder.select_layer needs an open_clip ViT trunk with transformer blocks")
        outputs: list[torch.Tensor] = []
        hooks = [b.register_forward_hook(lambda _m, _i, out: outputs.append(out)) for b in blocks]
        try:
            tokens = trunk.forward_features(pixel_values)
        finally:
            for hook in hooks:
                hook.remove()
        return SimpleNamespace(last_hidden_state=tokens, hidden_states=tuple(outputs))


class MLPMapper(nn.Module):
    """LLaVA-style adapter: every visual token goes through Linear-GELU-Linear to the LM embedding size."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


class AttentionPooler(nn.Module):
    """One transformer decoder layer: ``num_queries`` learned queries attend to the visual sequence; the result
    is projected to the LM embedding size."""

    def __init__(self, in_dim: int, out_dim: int, *, num_queries: int, hidden: int, heads: int,
                 dropout: float) -> None:
        super().__init__()
        self.inp = nn.Linear(in_dim, hidden)
        self.queries = nn.Parameter(torch.randn(num_queries, hidden) * 0.02)
        self.layer = nn.TransformerDecoderLayer(hidden, heads, dim_feedforward=4 * hidden, dropout=dropout,
                                                batch_first=True, norm_first=True)
        self.out = nn.Linear(hidden, out_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        memory = self.inp(features)
        queries = self.queries.unsqueeze(0).expand(features.shape[0], -1, -1)
        return self.out(self.layer(queries, memory))


def build_lm(cfg: GeneratorConfig, tokenizer: Any) -> tuple[nn.Module, bool]:
    """(causal LM, whether its base weights are random and must be saved with the run)."""
    from transformers import AutoModelForCausalLM

    if cfg.lm.pretrained:
        kwargs: dict[str, Any] = {}
        quantized = quantization_active(cfg)
        if quantized:
            kwargs["quantization_config"] = bnb_config(cfg.lm.quantization)
            kwargs["device_map"] = {"": torch.cuda.current_device()}
        elif _bf16_weights(cfg):
            import transformers

            key = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
            kwargs[key] = torch.bfloat16  # the frozen base in bf16; peft keeps the LoRA weights in fp32
        model = AutoModelForCausalLM.from_pretrained(cfg.lm.pretrained, **kwargs)
        if quantized:
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.train.grad_checkpointing)
        return model, False
    values = dict(cfg.lm.config)
    values.setdefault("vocab_size", len(tokenizer))
    for key in ("eos_token_id", "bos_token_id"):
        values.setdefault(key, tokenizer.eos_token_id)
    values.setdefault("pad_token_id", tokenizer.pad_token_id)
    if values["vocab_size"] < len(tokenizer):
        raise ConfigError(f"lm.config.vocab_size {values['vocab_size']} < tokenizer size {len(tokenizer)}")
    return AutoModelForCausalLM.from_config(_auto_config(values, "lm")), True


def _bf16_weights(cfg: GeneratorConfig) -> bool:
    """Load a pretrained LM's frozen weights in bf16: only on CUDA, when the precision allows it."""
    on_cuda = cfg.train.device.startswith("cuda") or (cfg.train.device == "auto" and torch.cuda.is_available())
    return on_cuda and cfg.train.precision in ("auto", "bf16")


def quantization_active(cfg: GeneratorConfig) -> bool:
    """Whether ``lm.quantization`` applies: set, and this run's device is a CUDA GPU. Without a GPU the same
    config trains plain LoRA (the trainer says so in a warning)."""
    if not cfg.lm.quantization:
        return False
    if cfg.train.device == "auto":
        return torch.cuda.is_available()
    return cfg.train.device.startswith("cuda") and torch.cuda.is_available()


def bnb_config(kind: str) -> Any:
    """bitsandbytes settings: ``4bit`` (QLoRA: NF4, double quantisation, bf16 compute) or ``8bit``."""
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ConfigError(f"lm.quantization: {kind} needs bitsandbytes: pip install bitsandbytes") from None
    from transformers import BitsAndBytesConfig

    if kind == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def add_lora(lm: nn.Module, cfg: GeneratorConfig) -> nn.Module:
    """Freeze the LM and wrap it with LoRA adapters (only they, and ``modules_to_save``, are trainable)."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise ConfigError("the generator needs peft: pip install 'rrg-eval[baselines]'") from None
    model_type = getattr(lm.config, "model_type", "")
    targets = cfg.lora.target_modules or DEFAULT_LORA_TARGETS.get(model_type)
    for p in lm.parameters():
        p.requires_grad_(False)
    lora = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=list(targets) if targets else None,
                      modules_to_save=list(cfg.lora.modules_to_save) or None,
                      fan_in_fan_out=model_type in ("gpt2", "gpt_bigcode"), task_type="CAUSAL_LM")
    return get_peft_model(lm, lora)


class ReportGenerator(nn.Module):
    """Image encoder -> mapping network -> causal LM (LoRA); images enter the LM as soft prompts."""

    def __init__(self, encoder: nn.Module, mapping: nn.Module, lm: nn.Module, *, channels: int,
                 select_layer: int | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.mapping = mapping
        self.lm = lm
        self.channels = channels
        self.select_layer = select_layer

    def to_device(self, device: torch.device | str) -> ReportGenerator:
        """Move to ``device``; a 4-bit quantised LM stays where bitsandbytes placed it."""
        quantized = any(getattr(m, flag, False) for m in (self.lm, getattr(self.lm, "base_model", self.lm))
                        for flag in ("is_loaded_in_4bit", "is_loaded_in_8bit"))
        if quantized:
            self.encoder.to(device)
            self.mapping.to(device)
            return self
        return self.to(device)

    def train(self, mode: bool = True) -> ReportGenerator:
        """Train mode everywhere except a frozen encoder, which stays in eval mode (batch-norm stats fixed)."""
        super().train(mode)
        if not any(p.requires_grad for p in self.encoder.parameters()):
            self.encoder.eval()
        return self

    def visual_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, T, D) visual sequence; a feature map (B, D, H, W) is flattened to H*W tokens."""
        if self.select_layer is not None:
            out = self.encoder(pixel_values=pixel_values, output_hidden_states=True)
            hidden = out.hidden_states[self.select_layer]
        else:
            hidden = self.encoder(pixel_values=pixel_values).last_hidden_state
        if hidden.dim() == 4:
            hidden = hidden.flatten(2).transpose(1, 2)
        return hidden

    def prefix(self, pixel_values: torch.Tensor, prompt_ids: list[int] | None = None) -> torch.Tensor:
        """Soft prompts, followed by the embedded (section) prompt if given: (B, P, E).

        In training the prompt is part of ``input_ids`` instead (with labels -100), which is the same sequence.
        """
        soft = self.mapping(self.visual_features(pixel_values))
        if prompt_ids:
            ids = torch.tensor(prompt_ids, dtype=torch.long, device=soft.device)
            prompt = self.lm.get_input_embeddings()(ids).unsqueeze(0).expand(soft.shape[0], -1, -1)
            soft = torch.cat([soft, prompt.to(soft.dtype)], dim=1)
        return soft

    def forward(self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the report tokens given the image (teacher forcing)."""
        return self.token_logprobs(pixel_values, input_ids, attention_mask, labels, reduce=True)

    def token_logprobs(self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                       labels: torch.Tensor, reduce: bool = False) -> torch.Tensor:
        """Per-token log-probabilities of ``labels`` (B, L) (0 where label is -100), or the mean loss.

        ``input_ids`` follow the soft prompts directly (a section prompt, if any, is part of them)."""
        prefix = self.prefix(pixel_values)
        tokens = self.lm.get_input_embeddings()(input_ids).to(prefix.dtype)
        embeds = torch.cat([prefix, tokens], dim=1)
        mask = torch.cat([torch.ones(prefix.shape[:2], dtype=attention_mask.dtype, device=attention_mask.device),
                          attention_mask], dim=1)
        logits = self.lm(inputs_embeds=embeds, attention_mask=mask).logits
        # the logit at position t predicts token t + 1: prefix[-1] predicts input_ids[0]
        logits = logits[:, prefix.shape[1] - 1:-1, :].float()
        logp = torch.log_softmax(logits, dim=-1)
        valid = labels != -100
        picked = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1) * valid
        if reduce:
            return -picked.sum() / valid.sum().clamp(min=1)
        return picked


def build_model(cfg: GeneratorConfig, tokenizer: Any) -> tuple[ReportGenerator, bool]:
    """The full network with freshly initialised mapping and LoRA weights (seeded by ``train.seed``).

    Returns (model, whether the LM base weights are random and must be saved with the run).
    """
    with seeded(cfg.train.seed):
        encoder, dim, channels = build_encoder(cfg)
        lm, random_lm = build_lm(cfg, tokenizer)
        lm_dim = lm.get_input_embeddings().weight.shape[1]
        m = cfg.mapping
        if m.type == "mlp":
            mapping: nn.Module = MLPMapper(dim, lm_dim)
        else:
            mapping = AttentionPooler(dim, lm_dim, num_queries=m.num_queries, hidden=m.hidden_size,
                                      heads=m.num_heads, dropout=m.dropout)
        lm = add_lora(lm, cfg)
    return ReportGenerator(encoder, mapping, lm, channels=channels, select_layer=cfg.encoder.select_layer), random_lm


def set_encoder_trainable(model: ReportGenerator, trainable: bool) -> None:
    """Freeze (eval mode: batch-norm statistics stay fixed too) or unfreeze the image encoder."""
    for p in model.encoder.parameters():
        p.requires_grad_(trainable)
    model.encoder.train(trainable and model.training)


def set_lora_trainable(model: ReportGenerator, trainable: bool) -> None:
    """Freeze or unfreeze the LM's adapter weights (LoRA and modules_to_save); the base stays frozen."""
    for name, p in model.lm.named_parameters():
        if "lora_" in name or "modules_to_save" in name:
            p.requires_grad_(trainable)


def lm_trainable_names(model: ReportGenerator) -> list[str]:
    """Names of the LM's trainable parameters (LoRA weights and modules_to_save only)."""
    return [n for n, p in model.lm.named_parameters() if p.requires_grad]
