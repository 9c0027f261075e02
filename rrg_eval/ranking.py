"""Rank intervals: each system's rank on a key in every bootstrap resample, summarised as an interval.

On each resample (the same row indices for every system) a system's rank is ``1 + the number of systems
strictly better`` (competition ranks: ties share the better rank). The rank interval is the 95% percentile
interval of those ranks with the order statistics of the score CIs (``n // 40`` from each end), and
``p_first`` is the share of resamples where the system ranks first. Overlapping rank intervals show a tie that
the point ranks hide.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .resampling import percentile_ci


def resampled_ranks(samples: Sequence[np.ndarray], higher_is_better: bool) -> np.ndarray:
    """``(systems, resamples)`` ranks; a NaN score gets rank 0 (no rank) and is never counted as better."""
    scores = np.vstack([np.asarray(s, dtype=float) for s in samples])
    signed = scores if higher_is_better else -scores
    valid = ~np.isnan(signed)
    filled = np.where(valid, signed, -np.inf)
    better = (filled[None, :, :] > filled[:, None, :]) & valid[None, :, :]
    ranks = 1 + better.sum(axis=1)
    return np.where(valid, ranks, 0)


def rank_intervals(samples: Sequence[np.ndarray],
                   higher_is_better: bool) -> list[tuple[tuple[float, float], float]]:
    """Per system: ``((low, high), p_first)`` from the resampled scores (NaN where it never had a rank)."""
    ranks = resampled_ranks(samples, higher_is_better)
    out = []
    for row in ranks:
        given = row[row > 0]
        if len(given) == 0:
            out.append(((float("nan"), float("nan")), float("nan")))
            continue
        lo, hi = percentile_ci(given.astype(float))
        out.append(((lo, hi), float(np.mean(row == 1))))
    return out
