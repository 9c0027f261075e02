"""Reference generators for leaderboard baseline rows.

``baselines.text``: the text baselines (``constant``, ``random``, ``nearest``) that need no training.
``baselines.generator``: the two-stage vision-language recipe (image encoder -> mapping network -> causal LM with
LoRA). Nothing here is imported by ``rrg_eval``; the CLI reaches it through ``rrg-eval baseline ...``.
"""

from __future__ import annotations

__all__ = ["studies", "text"]
