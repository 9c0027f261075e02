"""Multiple-comparison adjustment of p-values: Holm (family-wise error) and Benjamini-Hochberg (false discovery).

A leaderboard runs one paired test per (system, key); ``adjust(p_values, method)`` returns the adjusted values
in the same order. NaN p-values (no test possible) stay NaN and do not count towards the number of tests.
The definitions are those of Holm (1979) and Benjamini & Hochberg (1995), as ``statsmodels.stats.multitest.
multipletests`` computes them (``method="holm"`` / ``"fdr_bh"``); tests/stats/test_multitest.py checks equality.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import ConfigError

METHODS = ("holm", "bh", "none")
METHOD_NAMES = {"holm": "Holm (family-wise error rate)", "bh": "Benjamini-Hochberg (false discovery rate)",
                "none": "none (raw p-values)"}
DEFAULT_METHOD = "holm"


def check_method(method: str) -> str:
    """``method`` if it is one of :data:`METHODS`, else a ConfigError naming the valid ones."""
    if method not in METHODS:
        raise ConfigError(f"unknown p-value adjustment {method!r}; valid: {', '.join(METHODS)}")
    return method


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment: ``max_{j<=i} min(1, (m - j) p_(j))`` over the sorted p-values."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="mergesort")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out


def benjamini_hochberg(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg step-up adjustment: ``min_{j>=i} min(1, m p_(j) / j)`` over the sorted p-values."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="mergesort")
    scaled = p[order] * m / np.arange(1, m + 1)
    stepped = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out


def adjust(p_values: Sequence[float] | np.ndarray, method: str = DEFAULT_METHOD) -> np.ndarray:
    """Adjusted p-values in the input order; NaN entries stay NaN and are not counted as tests."""
    check_method(method)
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = ~np.isnan(p)
    if method == "none":
        out[valid] = p[valid]
    elif method == "holm":
        out[valid] = holm(p[valid])
    else:
        out[valid] = benjamini_hochberg(p[valid])
    return out
