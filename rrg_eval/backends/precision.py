"""Reduced-precision inference for the BERT-style encoders of the model metrics (opt-in, default fp32).

Every back-end that runs a transformer encoder (CheXbert, the RadGraph encoder, BERTScore's model, RaTEScore's
NER and entity encoders) takes a ``precision`` and calls :func:`prepare` on its encoder once, after loading the
weights; the small heads on top stay in float32, and each back-end casts the encoder's output back to float32,
so only the encoder's arithmetic changes.

* ``fp32``: the weights as loaded; the numbers equal the reference packages (the default).
* ``bf16``: encoder weights and activations in bfloat16 (``module.to(torch.bfloat16)``); on a GPU the usual
  reduced-precision inference. On the CPU it is refused where it missed the target (:data:`REFUSED_ON_CPU`).
* ``fp16``: encoder in float16; GPU only (CPU float16 matmuls are slow and refused).
* ``int8``: dynamic quantisation of every ``torch.nn.Linear`` of the encoder
  (``torch.ao.quantization.quantize_dynamic``, int8 weights, activations quantised per batch, VNNI kernels);
  CPU only (PyTorch has no GPU kernels for it), and refused for the metrics where it missed the target
  (:data:`REFUSED_ON_CPU`); ``benchmarks/bench_precision.py`` measures every mode again (other CPUs, real weights).

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
HELP = ("encoder arithmetic: fp32 (default, equal to the reference); on a GPU bf16 or fp16; on the CPU int8 or "
        "bf16 where they met the issue-17 target (see docs/metrics.md#reduced-precision-precision)")
# Modes measured on the CPU against issue 17's target (>= 2x faster, <= 0.5 % CheXbert label flips, |delta| <= 0.005
# on every corpus key) that missed it, per metric: refused on the CPU with the measurement in the message
# (benchmarks/bench_precision.py, benchmarks/RESULTS.md). bench_precision.py empties this mapping to measure them.
_TARGET = "target: 2x faster, <= 0.5 % label flips, |delta| <= 0.005"
REFUSED_ON_CPU: dict[str, dict[str, str]] = {
    "f1chexbert": {"bf16": f"measured 1.9x faster than fp32 with 3.0 % CheXbert label flips ({_TARGET})",
                   "int8": f"measured 2.7x faster than fp32 but 14 % CheXbert label flips ({_TARGET})"},
    "radgraph": {"bf16": f"measured 1.7x faster than fp32, 94.9 % entity / 92.2 % relation agreement, "
                         f"|delta| 0.0065 ({_TARGET})",
                 "int8": f"measured 2.1x faster than fp32 but 85.0 % entity / 74.5 % relation agreement, "
                         f"|delta| 0.0094 ({_TARGET})"},
    "ratescore": {"bf16": f"measured 1.4x faster than fp32 (interleaved run), 81 % RaTE-NER entity agreement, "
                          f"|delta| 0.0092 ({_TARGET})",
                  "int8": f"measured 1.3x faster than fp32 (interleaved run), 98.5 % RaTE-NER entity agreement, "
                          f"|delta| 0.0069 ({_TARGET})"},
}


def check(precision: str, device: Any, *, metric: str = "") -> None:
    """Refuse a precision the device cannot run (ConfigError naming what to use instead)."""
    where = f"{metric}.precision" if metric else "precision"
    if precision not in PRECISIONS:
        raise ConfigError(f"{where}: {precision!r} is not a valid choice; valid: {', '.join(PRECISIONS)}")
    kind = getattr(device, "type", str(device).split(":")[0])
    if precision == "int8" and kind != "cpu":
        raise ConfigError(f"{where}=int8 runs on the CPU only (dynamic quantisation); on {kind} use bf16 or fp16")
    if precision == "fp16" and kind == "cpu":
        raise ConfigError(f"{where}=fp16 needs a GPU; on the CPU use fp32")
    refused = REFUSED_ON_CPU.get(metric, {}).get(precision) if kind == "cpu" else None
    if refused:
        raise ConfigError(f"{where}={precision} is refused on the CPU: {refused}; use fp32 "
                          "(see benchmarks/RESULTS.md, 'reduced precision')")


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
