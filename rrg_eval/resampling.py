"""Resampling for leaderboards: bootstrap indices, approximate-randomization swaps, CIs and paired p-values.

Everything works on per-report statistics (:mod:`rrg_eval.stats`): a resample is ``take(stats, indices)`` and a
score is ``metric.aggregate`` of it, so corpus-level metrics (BLEU, CIDEr, micro-F1) are recomputed from
resampled statistics, never approximated by averaging per-report scores.

The definitions follow sacrebleu 2.6.0 (``sacrebleu/significance.py``):

- bootstrap indices: ``np.random.default_rng(seed).choice(n, size=(resamples, n), replace=True)``;
- AR swap masks: ``np.random.default_rng(seed).integers(2, size=(trials, n), dtype=bool)``; where the mask is
  True, pseudo-system A takes the baseline's row and B the system's row, and the other way round elsewhere;
- the 95% interval: order statistics ``sorted[n // 40]`` and ``sorted[n - n // 40 - 1]`` of the resampled
  scores (sacrebleu's ``estimate_ci``, which reports half their distance);
- p-values: ``(c + 1) / (n + 1)`` where ``c`` counts resampled differences strictly greater than the observed
  absolute difference; for the paired bootstrap the resampled absolute differences are first centred on their
  mean (the null hypothesis), for AR they are the absolute differences of the shuffled pseudo-systems.

One deliberate exception: two systems whose per-report statistics are identical get p = 1 (sacrebleu gives
``1 / (n + 1)``, which would call a system significantly different from itself).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from .stats import Stats, concat, n_rows, take

Aggregate = Callable[[Stats], Mapping[str, float]]
# Scores of many resamples at once: (stats, (resamples, k) row indices) -> {key: array of len(resamples)}.
# Metrics whose aggregate carries corpus-wide state (CIDEr's document frequencies) provide a vectorised one
# (``Metric.aggregate_resamples``) that gives the numbers ``aggregate(take(stats, row))`` gives.
BatchAggregate = Callable[[Stats, np.ndarray], Mapping[str, np.ndarray]]


def bootstrap_indices(n: int, resamples: int, seed: int) -> np.ndarray:
    """``(resamples, n)`` row indices drawn with replacement, as sacrebleu draws them."""
    rng = np.random.default_rng(seed)
    return rng.choice(n, size=(resamples, n), replace=True)


def ar_masks(n: int, trials: int, seed: int) -> np.ndarray:
    """``(trials, n)`` booleans: True where pseudo-system A takes the baseline's row (sacrebleu's ``pos_sel``)."""
    rng = np.random.default_rng(seed)
    return rng.integers(2, size=(trials, n), dtype=bool)


def resampled_scores(aggregate: Aggregate, stats: Stats, indices: np.ndarray,
                     keys: list[str], *, batch: BatchAggregate | None = None) -> dict[str, np.ndarray]:
    """Scores of every resample (one row of ``indices`` each): ``{key: array of len(indices)}``.

    ``batch`` (optional) computes all resamples at once; without it each is ``aggregate(take(stats, row))``.
    """
    if batch is not None:
        many = batch(stats, np.asarray(indices, dtype=np.int64))
        return {key: np.asarray(many.get(key, np.full(len(indices), np.nan)), dtype=float) for key in keys}
    out = {key: np.empty(len(indices), dtype=float) for key in keys}
    for row, idx in enumerate(indices):
        scores = aggregate(take(stats, idx))
        for key in keys:
            out[key][row] = float(scores.get(key, float("nan")))
    return out


def ar_scores(aggregate: Aggregate, baseline: Stats, system: Stats, masks: np.ndarray,
              keys: list[str], *, batch: BatchAggregate | None = None,
              ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Scores of the shuffled pseudo-systems A and B of every AR trial.

    Row ``i`` of A comes from the baseline where ``masks[t, i]`` is True and from the system otherwise; B is
    the complement. Rows are built with ``concat`` + ``take``, so any metric's statistics can be swapped.
    """
    n = n_rows(baseline)
    both = concat(baseline, system)
    own = np.arange(n, dtype=np.int64)
    other = own + n
    if batch is not None:
        masks = np.asarray(masks, dtype=bool)
        out_a = resampled_scores(aggregate, both, np.where(masks, own, other), keys, batch=batch)
        out_b = resampled_scores(aggregate, both, np.where(masks, other, own), keys, batch=batch)
        return out_a, out_b
    out_a = {key: np.empty(len(masks), dtype=float) for key in keys}
    out_b = {key: np.empty(len(masks), dtype=float) for key in keys}
    for row, mask in enumerate(masks):
        scores_a = aggregate(take(both, np.where(mask, own, other)))
        scores_b = aggregate(take(both, np.where(mask, other, own)))
        for key in keys:
            out_a[key][row] = float(scores_a.get(key, float("nan")))
            out_b[key][row] = float(scores_b.get(key, float("nan")))
    return out_a, out_b


def percentile_ci(samples: np.ndarray) -> tuple[float, float]:
    """The 95% interval of resampled scores, with sacrebleu's order statistics (``n // 40`` from each end)."""
    ordered = np.sort(np.asarray(samples, dtype=float))
    n = len(ordered)
    if n == 0:
        return (float("nan"), float("nan"))
    lower = n // 40
    return (float(ordered[lower]), float(ordered[n - lower - 1]))


def p_value(resampled: np.ndarray, observed: float) -> float:
    """``(c + 1) / (n + 1)``, ``c`` = resampled statistics strictly greater than ``observed`` (sacrebleu)."""
    values = np.asarray(resampled, dtype=float)
    if observed != observed:  # NaN: no test possible
        return float("nan")
    count = int(np.sum(values > observed))
    return (count + 1) / (len(values) + 1)


def paired_bootstrap_p(system: np.ndarray, baseline: np.ndarray, observed_diff: float) -> float:
    """Paired bootstrap p-value from the two systems' scores on the same resamples (sacrebleu's ``bs`` test)."""
    diffs = np.abs(np.asarray(system, dtype=float) - np.asarray(baseline, dtype=float))
    return p_value(diffs - diffs.mean(), abs(observed_diff))


def ar_p(scores_a: np.ndarray, scores_b: np.ndarray, observed_diff: float) -> float:
    """Approximate-randomization p-value from the shuffled pseudo-systems' scores (sacrebleu's ``ar`` test)."""
    diffs = np.abs(np.asarray(scores_a, dtype=float) - np.asarray(scores_b, dtype=float))
    return p_value(diffs, abs(observed_diff))


def _values_equal(a: object, b: object) -> bool:
    """Deep equality over numpy arrays, sequences (tuples, NamedTuples, lists), dicts and scalars."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        x, y = np.asarray(a), np.asarray(b)
        if x.shape != y.shape:
            return False
        if x.dtype.kind in "fc" and y.dtype.kind in "fc":
            return bool(np.array_equal(x, y, equal_nan=True))
        if x.dtype == object or y.dtype == object:
            return all(_values_equal(u, v) for u, v in zip(x.ravel().tolist(), y.ravel().tolist()))
        return bool(np.array_equal(x, y))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_values_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_values_equal(u, v) for u, v in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    return bool(a == b)


def stats_identical(first: Stats, second: Stats) -> bool:
    """True when two systems' per-report statistics are equal column by column (then p = 1 by definition)."""
    if set(first) != set(second):
        return False
    return all(_values_equal(value, second[key]) for key, value in first.items())
