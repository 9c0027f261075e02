"""Local text generation for LLM metrics: a small protocol and a Hugging Face ``transformers`` implementation.

:class:`TextGenerator` is what a metric needs: ``generate(prompts) -> answers`` (one decoded, cleaned answer per
prompt, in order) and an ``identity`` string that goes into signatures and cache keys.

:class:`HFChatGenerator` runs greedy decoding the way GREEN's reference loop does (``green_score/green.py``):
the tokenizer loaded with ``add_eos_token=True, use_fast=True, padding_side='left'`` (see
:func:`load_reference_tokenizer`), pad token = EOS, a chat
template applied with a generation prompt, inputs truncated to ``max_length`` tokens, ``generate(max_length=
max_length, do_sample=False)`` (so a batch's budget is ``max_length`` minus its longest prompt, as in the
reference), the whole sequence decoded with ``skip_special_tokens=True`` and cleaned. What it adds: distinct
prompts only, batched in order of token length (longest first, so padding is small and an out-of-memory error
comes first), and ``device_map`` (e.g. ``auto``) to spread a large model over several GPUs in one process
(the reference's multi-GPU path starts a process group per GPU and breaks on ``sys.exit`` in workers).
Data types: ``auto`` is bfloat16 on GPUs that support it, else float16 on GPU, and float32 on CPU (the
reference loads float16 everywhere; pass ``dtype=float16`` to match it on CPU).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import MetricUnavailable


class TextGenerator(Protocol):
    """One answer per prompt, in order; ``identity`` names the model and decoding for signatures and caches."""

    identity: str

    def generate(self, prompts: Sequence[str]) -> list[str]:
        """The answers to ``prompts`` (same length and order)."""
        ...


@dataclass(frozen=True)
class GenerationSettings:
    """How :class:`HFChatGenerator` decodes (every field changes answers, so ``key`` goes into cache keys)."""

    max_length: int = 2048
    batch_size: int = 8
    dtype: str = "auto"
    device: str = "auto"
    device_map: str = ""
    sort_by_length: bool = True

    def key(self, resolved_dtype: str) -> str:
        return f"greedy;max_length={self.max_length};dtype={resolved_dtype}"


def _import_torch_transformers() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError:
        raise MetricUnavailable("the local back-end needs torch and transformers: pip install 'rrg-eval[models]'"
                                ) from None
    return torch, transformers


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``."""
    torch, _ = _import_torch_transformers()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str, device: str) -> str:
    """``auto`` -> bfloat16 (GPU with bf16) / float16 (other GPUs) / float32 (CPU)."""
    torch, _ = _import_torch_transformers()
    if dtype != "auto":
        return dtype
    if device.startswith("cuda"):
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "float32"


def load_reference_tokenizer(transformers: Any, model: str) -> Any:
    """The tokenizer as GREEN's reference loads it (``add_eos_token=True, use_fast=True, padding_side='left'``):
    EOS appended to every encoded text, BOS in front when the tokenizer adds one by itself. (transformers 5
    forgets a tokenizer's own BOS when ``add_eos_token`` is passed alone, so its BOS setting is passed too.)"""
    plain = transformers.AutoTokenizer.from_pretrained(model, use_fast=True)
    probe = plain("a")["input_ids"]
    has_bos = plain.bos_token_id is not None and bool(probe) and probe[0] == plain.bos_token_id
    return transformers.AutoTokenizer.from_pretrained(model, add_eos_token=True, add_bos_token=has_bos,
                                                      use_fast=True, padding_side="left")


class HFChatGenerator:
    """Greedy chat generation with ``transformers`` (see the module docstring)."""

    def __init__(self, model: str, *, chat_template: str, to_messages: Callable[[str], list[dict[str, str]]],
                 clean: Callable[[str], str], settings: GenerationSettings = GenerationSettings()) -> None:
        torch, transformers = _import_torch_transformers()
        self.settings = settings
        self.device = resolve_device(settings.device)
        self.dtype = resolve_dtype(settings.dtype, self.device)
        self.identity = f"transformers:{model}:{settings.key(self.dtype)}"
        self._to_messages = to_messages
        self._clean = clean
        try:
            self.tokenizer = load_reference_tokenizer(transformers, model)
            kwargs: dict[str, Any] = {"dtype": getattr(torch, self.dtype)}
            if settings.device_map:
                kwargs["device_map"] = settings.device_map
            self.model = transformers.AutoModelForCausalLM.from_pretrained(model, **kwargs)
        except OSError as exc:
            raise MetricUnavailable(f"cannot load the judge model {model!r}: {exc}") from None
        if not settings.device_map:
            self.model.to(self.device)
        self.model.eval()
        self.tokenizer.chat_template = chat_template
        self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.clean_up_tokenization_spaces = True
        self.tokenizer.padding_side = "left"
        self.tokens_generated = 0

    def _input_device(self) -> Any:
        return self.model.device if self.settings.device_map else self.device

    def render(self, prompt: str) -> str:
        """The chat text fed to the tokenizer for one prompt."""
        return self.tokenizer.apply_chat_template(self._to_messages(prompt), tokenize=False,
                                                  add_generation_prompt=True)

    def generate(self, prompts: Sequence[str]) -> list[str]:
        torch, _ = _import_torch_transformers()
        distinct = list(dict.fromkeys(prompts))
        texts = [self.render(p) for p in distinct]
        order = list(range(len(distinct)))
        if self.settings.sort_by_length:
            lengths = [len(ids) for ids in self.tokenizer(texts, truncation=True,
                                                           max_length=self.settings.max_length)["input_ids"]]
            order.sort(key=lambda i: -lengths[i])
        answers: dict[int, str] = {}
        size = max(1, self.settings.batch_size)
        with torch.inference_mode():
            for start in range(0, len(order), size):
                chunk = order[start:start + size]
                batch = self.tokenizer([texts[i] for i in chunk], return_tensors="pt", padding=True,
                                       truncation=True, max_length=self.settings.max_length)
                batch = batch.to(self._input_device())
                out = self.model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                          eos_token_id=self.tokenizer.eos_token_id,
                                          pad_token_id=self.tokenizer.pad_token_id,
                                          max_length=self.settings.max_length, do_sample=False,
                                          temperature=None, top_p=None)
                self.tokens_generated += int((out[:, batch["input_ids"].shape[1]:] != self.tokenizer.pad_token_id)
                                             .sum())
                decoded = self.tokenizer.batch_decode(out, skip_special_tokens=True)
                for i, text in zip(chunk, decoded):
                    answers[i] = self._clean(text)
        by_prompt = {distinct[i]: answers[i] for i in order}
        return [by_prompt[p] for p in prompts]


class HFMessagesGenerator:
    """Greedy chat generation the way a ``transformers`` ``text-generation`` pipeline answers a conversation
    (CRIMSON's reference path): the model's own chat template with a generation prompt, tokenized by
    ``apply_chat_template``; the model's own ``generation_config.json`` when it has one, else greedy with
    ``max_new_tokens``; the new tokens decoded with ``skip_special_tokens=True``. Distinct prompts only, batched in
    order of token length with left padding (``batch_size=1``: no padding, as the reference's default)."""

    def __init__(self, model: str, *, to_messages: Callable[[str], list[dict[str, str]]], max_new_tokens: int = 8192,
                 settings: GenerationSettings = GenerationSettings()) -> None:
        torch, transformers = _import_torch_transformers()
        self.settings = settings
        self.device = resolve_device(settings.device)
        self.dtype = resolve_dtype(settings.dtype, self.device)
        self.max_new_tokens = max_new_tokens
        self._to_messages = to_messages
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(model)
            kwargs: dict[str, Any] = {"dtype": getattr(torch, self.dtype)}
            if settings.device_map:
                kwargs["device_map"] = settings.device_map
            self.model = transformers.AutoModelForCausalLM.from_pretrained(model, **kwargs)
        except OSError as exc:
            raise MetricUnavailable(f"cannot load the judge model {model!r}: {exc}") from None
        if not settings.device_map:
            self.model.to(self.device)
        self.model.eval()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        own = not getattr(self.model.generation_config, "_from_model_config", True)
        self._own_config = own
        limit = "model-config" if own else f"max_new={max_new_tokens}"
        self.identity = f"transformers-chat:{model}:greedy;{limit};dtype={self.dtype}"
        self.tokens_generated = 0

    def _encode(self, conversations: list[list[dict[str, str]]]) -> Any:
        return self.tokenizer.apply_chat_template(conversations, add_generation_prompt=True, return_dict=True,
                                                  return_tensors="pt", padding=True)

    def generate(self, prompts: Sequence[str]) -> list[str]:
        torch, _ = _import_torch_transformers()
        distinct = list(dict.fromkeys(prompts))
        order = list(range(len(distinct)))
        if self.settings.sort_by_length and self.settings.batch_size > 1:
            lengths = [len(self.tokenizer.apply_chat_template(self._to_messages(p), add_generation_prompt=True,
                                                              tokenize=True, return_dict=True)["input_ids"])
                       for p in distinct]
            order.sort(key=lambda i: -lengths[i])
        answers: dict[int, str] = {}
        size = max(1, self.settings.batch_size)
        device = self.model.device if self.settings.device_map else self.device
        with torch.inference_mode():
            for start in range(0, len(order), size):
                chunk = order[start:start + size]
                batch = self._encode([self._to_messages(distinct[i]) for i in chunk]).to(device)
                if self._own_config:
                    out = self.model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                              generation_config=self.model.generation_config)
                else:
                    out = self.model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                              max_new_tokens=self.max_new_tokens, max_length=None, do_sample=False)
                width = batch["input_ids"].shape[1]
                for i, sequence in zip(chunk, out):
                    new = sequence[width:]
                    self.tokens_generated += int((new != self.tokenizer.pad_token_id).sum())
                    answers[i] = self.tokenizer.decode(new, skip_special_tokens=True)
        by_prompt = {distinct[i]: answers[i] for i in order}
        return [by_prompt[p] for p in prompts]
