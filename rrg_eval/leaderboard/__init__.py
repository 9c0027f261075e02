"""Leaderboards: ``rrg_eval.compare(...)`` and ``rrg-eval compare``: CIs, paired tests, ranks, tables and plots.

The function is exposed as ``rrg_eval.compare``; this subpackage is named ``leaderboard`` so that the name
``rrg_eval.compare`` always means the function.
"""

from __future__ import annotations

from .leaderboard import Leaderboard, SystemScores, compare

__all__ = ["Leaderboard", "SystemScores", "compare"]
