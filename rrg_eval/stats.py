"""Per-report statistics: a dict of row-aligned columns, and the pure operations every metric shares.

A metric's ``compute_stats`` returns ``Stats``: ``{column: numpy array or list}``, each with one row per report.
``aggregate(stats)`` is a pure function of those rows, so bootstrap resampling and approximate randomization
work for every metric by building new row sets with :func:`take` and :func:`concat`, never by averaging
per-report scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

Stats = dict[str, Any]


def n_rows(stats: Stats) -> int:
    """Number of reports in ``stats``."""
    for value in stats.values():
        return len(value)
    return 0


def take(stats: Stats, indices: Sequence[int] | np.ndarray) -> Stats:
    """Rows ``indices`` of ``stats`` (repeats allowed, as in a bootstrap resample)."""
    idx = np.asarray(indices, dtype=np.int64)
    out: Stats = {}
    for key, value in stats.items():
        if isinstance(value, np.ndarray):
            out[key] = value[idx]
        else:
            out[key] = [value[i] for i in idx]
    return out


def concat(first: Stats, second: Stats) -> Stats:
    """Rows of ``first`` followed by rows of ``second`` (same columns)."""
    if set(first) != set(second):
        raise ValueError("cannot concatenate statistics with different columns")
    out: Stats = {}
    for key, value in first.items():
        other = second[key]
        if isinstance(value, np.ndarray):
            out[key] = np.concatenate([value, other])
        else:
            out[key] = list(value) + list(other)
    return out
