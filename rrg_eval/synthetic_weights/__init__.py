"""Synthetic checkpoints in the official formats, with seeded random weights, for offline tests and benchmarks.

``synthesize(kind, out_dir, size="tiny"|"base", seed=0)`` writes the files of one model family into
``out_dir`` laid out like ``$RRG_EVAL_MODEL_DIR`` (one ``<org>--<name>/`` folder per hub repository) and
returns ``out_dir``; point ``RRG_EVAL_MODEL_DIR`` at it. ``tiny`` is small enough for unit tests, ``base`` has
the real architecture sizes (for benchmarks). The numbers these models give are meaningless; the formats and
the code paths are the real ones. CLI: ``rrg-eval models synth KIND OUT_DIR [--size tiny|base] [--seed N]``.

Adding a kind is one line in :data:`SYNTHESIZERS`: ``"kind": "module:function"``, where the function has the
signature ``synthesize(out_dir: Path, size: str, seed: int) -> Path``; modules are imported only when used.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from ..errors import ConfigError

SIZES = ("tiny", "base")
# written at the root of every synthetic model folder: metrics, signatures (``weights:synthetic-<digest>``),
# score warnings and ``rrg-eval models verify`` read it, so random weights never pass for real ones
SYNTHETIC_MARKER = "RRG_EVAL_SYNTHETIC"


def is_synthetic(path: str | os.PathLike) -> bool:
    """Whether the weight file at ``path`` lies in a model folder written by :func:`synthesize`."""
    p = Path(path)
    return any((folder / SYNTHETIC_MARKER).is_file() for folder in (p.parent, p.parent.parent) if folder != p)

# kind -> "module:function"
SYNTHESIZERS: dict[str, str] = {
    "bertscore": "rrg_eval.synthetic_weights.bertscore:synthesize",
    "chexbert": "rrg_eval.synthetic_weights.chexbert:synthesize",
    "crimson": "rrg_eval.synthetic_weights.crimson:synthesize",
    "distilroberta": "rrg_eval.synthetic_weights.distilroberta:synthesize",
    "green": "rrg_eval.synthetic_weights.green:synthesize",
    "radgraph": "rrg_eval.synthetic_weights.radgraph:synthesize",
    "ratescore": "rrg_eval.synthetic_weights.ratescore:synthesize",
}


def kinds() -> list[str]:
    """The registered kinds of synthetic checkpoints."""
    return list(SYNTHESIZERS)


def synthesize(kind: str, out_dir: str | os.PathLike, size: str = "tiny", seed: int = 0) -> Path:
    """Write the synthetic checkpoint files of ``kind`` under ``out_dir`` (a model folder root); returns it."""
    if kind not in SYNTHESIZERS:
        raise ConfigError(f"unknown synthetic model kind {kind!r}; valid kinds: {', '.join(kinds())}")
    if size not in SIZES:
        raise ConfigError(f"unknown size {size!r}; valid sizes: {', '.join(SIZES)}")
    module_name, _, attr = SYNTHESIZERS[kind].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise ConfigError(f"synthetic model kind {kind!r} is not available in this installation") from None
        raise
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    getattr(module, attr)(out, size, int(seed))
    (out / SYNTHETIC_MARKER).write_text(f"synthetic {kind} weights (size {size}, seed {seed}) written by "
                                        "rrg-eval models synth: random, the numbers they give are meaningless\n",
                                        encoding="utf-8")
    return out  # the model-folder root, whatever the kind's own function returns
