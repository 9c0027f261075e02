"""Reduced-precision inference for the BERT-style encoders of the model metrics (opt-in, default fp32).

Every back-end that runs a transformer encoder (CheXbert, the RadGraph encoder, BERTScore's model, RaTEScore's
NER and entity encoders) takes a ``precision`` and calls :func:`prepare` on its encoder once, after loading the
weights; the small heads on top stay in float32, and each back-end casts the encoder's output back to float32,
so only the encoder's arithmetic changes.

* ``fp32``: the weights as loaded; the numbers equal the reference packages (the default).
* ``bf16``: encoder weights and activations in bfloat16 (``module.to(torch.bfloat16)``). On CPU this uses
  AVX-512 BF16 kernels where the CPU has them; on a GPU it is the usual mixed-precision inference.
* ``fp16``: encoder in float16; GPU only (CPU float16 matmuls are slow and refused).
* ``int8``: dynamic quantisation of every ``torch.nn.Linear`` of the encoder
  (``torch.ao.quantization.quantize_dynamic``, int8 weights, activations quantised per batch, VNNI kernels);
  CPU only (refused on a GPU, where PyTorch has no dynamic-quantisation kernels).

The measured speed-ups and agreement with fp32 are in ``benchmarks/RESULTS.md`` (``bench_precision.py``) and the
metric cards (``docs/metrics.md``). The precision is an option of each metric's config, so it is in the
signature (``prec:``), and non-fp32 annotations live in their own cache namespace (:func:`cache_suffix`).
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

from ..errors import ConfigError

Precision = Literal["fp32", "bf16", "fp16", "int8"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16", "int8")
HELP = ("encoder arithmetic: fp32 (default, equal to the reference), bf16 (CPU with AVX-512 BF16, or GPU), "
        "fp16 (GPU only), int8 (dynamic quantisation, CPU only); see docs/metrics.md for the measured effect")


def check(precision: str, device: Any, *, metric: str = "") -> None:
    """Refuse a precision the device cannot run (ConfigError naming what to use instead)."""
    where = f"{metric}.precision" if metric else "precision"
    if precision not in PRECISIONS:
        raise ConfigError(f"{where}: {precision!r} is not a valid choice; valid: {', '.join(PRECISIONS)}")
    kind = getattr(device, "type", str(device).split(":")[0])
    if precision == "int8" and kind != "cpu":
        raise ConfigError(f"{where}=int8 runs on the CPU only (dynamic quantisation); on {kind} use bf16 or fp16")
    if precision == "fp16" and kind == "cpu":
        raise ConfigError(f"{where}=fp16 needs a GPU; on the CPU use bf16 or int8")


def prepare(module: Any, precision: str, device: Any, *, metric: str = "") -> Any:
    """``module`` (an encoder in eval mode, already on ``device``) converted to ``precision``; returns it.

    fp32 returns the module unchanged. The caller must use the returned module (int8 builds a new one).
    """
    import torch

    check(precision, device, metric=metric)
    if precision == "fp32":
        return module
    if precision == "bf16":
        return module.to(torch.bfloat16)
    if precision == "fp16":
        return module.to(torch.float16)
    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao; the API still works
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8)


def cache_suffix(precision: str) -> str:
    """What a cache namespace gets for ``precision``: nothing for fp32 (old entries stay valid), else ``-bf16``..."""
    return "" if precision == "fp32" else f"-{precision}"
