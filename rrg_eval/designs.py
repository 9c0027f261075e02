"""Resampling designs: which rows a bootstrap resample takes and which rows a permutation swaps.

A :class:`Design` is the unit structure of a test set. Without clusters every report is its own unit and the
draws are exactly :func:`rrg_eval.resampling.bootstrap_indices` / :func:`~rrg_eval.resampling.ar_masks`
(sacrebleu's). With clusters (``--cluster-field patient_id``) a bootstrap resample draws whole clusters with
replacement (``rng.choice(n_clusters, size=(resamples, n_clusters))``, then the rows of each drawn cluster in
input order), so resamples have varying sizes; a permutation swaps whole clusters between the two systems.
Clusters are numbered in order of first appearance, so a design whose clusters are all single reports draws the
same indices as the unclustered one.

Exact permutation: with ``u`` units there are only ``2**u`` distinct swap patterns. When ``2**u`` is at most the
number of trials, :func:`swap_masks` enumerates every pattern once instead of sampling (``exact`` is True) and
the p-value is the exact share of patterns at least as extreme (:func:`exact_p`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import resampling as rs

EXACT_TOLERANCE = 1e-9  # relative: permuted differences within it of the observed one count as ties (>=)
MAX_EXACT_UNITS = 24    # never enumerate more than 2**24 patterns, whatever the trial count


@dataclass(frozen=True)
class Design:
    """``codes[i]``: the cluster number of row ``i`` (0..n_units-1, in order of first appearance)."""

    codes: np.ndarray
    field: str | None = None

    @classmethod
    def unclustered(cls, n: int) -> Design:
        return cls(codes=np.arange(n, dtype=np.int64))

    @classmethod
    def from_values(cls, values: Sequence[object], field: str | None = None) -> Design:
        """Clusters from one value per row (``patient_id`` of each report, in row order)."""
        numbers: dict[object, int] = {}
        codes = np.fromiter((numbers.setdefault(v, len(numbers)) for v in values), dtype=np.int64,
                            count=len(values))
        return cls(codes=codes, field=field)

    @property
    def n(self) -> int:
        return len(self.codes)

    @property
    def n_units(self) -> int:
        return int(self.codes.max()) + 1 if len(self.codes) else 0

    @property
    def clustered(self) -> bool:
        return self.field is not None or self.n_units != self.n

    def members(self) -> list[np.ndarray]:
        """Rows of each cluster, in input order."""
        order = np.argsort(self.codes, kind="stable")
        bounds = np.searchsorted(self.codes[order], np.arange(self.n_units + 1))
        return [order[bounds[c]:bounds[c + 1]] for c in range(self.n_units)]

    def describe(self) -> dict[str, object]:
        """What the output records about the design."""
        if not self.clustered:
            return {"cluster_field": None}
        sizes = np.bincount(self.codes)
        return {"cluster_field": self.field, "clusters": self.n_units, "largest_cluster": int(sizes.max())}


def bootstrap_rows(design: Design, resamples: int, seed: int) -> np.ndarray | list[np.ndarray]:
    """Row indices of every bootstrap resample: an ``(resamples, n)`` array, or a list when clustered."""
    if not design.clustered:
        return rs.bootstrap_indices(design.n, resamples, seed)
    rng = np.random.default_rng(seed)
    drawn = rng.choice(design.n_units, size=(resamples, design.n_units), replace=True)
    members = design.members()
    sizes = np.array([len(m) for m in members], dtype=np.int64)
    flat = np.concatenate(members) if members else np.zeros(0, np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]) if len(sizes) else sizes
    out = []
    for row in drawn:
        lengths = sizes[row]
        offsets = np.repeat(starts[row] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        out.append(flat[np.arange(int(lengths.sum())) + offsets])
    return out


def is_exact(design: Design, trials: int) -> bool:
    """True when every swap pattern fits in ``trials`` (``2**units <= trials``)."""
    return design.n_units <= MAX_EXACT_UNITS and 2 ** design.n_units <= trials


def swap_masks(design: Design, trials: int, seed: int) -> tuple[np.ndarray, bool]:
    """``(masks, exact)``: ``(patterns, n)`` booleans, True where pseudo-system A takes the baseline's row.

    Exact: all ``2**units`` patterns, pattern ``k`` swapping unit ``u`` when bit ``u`` of ``k`` is 0 (pattern
    ``2**units - 1`` is the observed assignment). Otherwise ``trials`` random patterns drawn as sacrebleu draws
    them (per unit when clustered).
    """
    units = design.n_units
    if is_exact(design, trials):
        patterns = np.arange(2 ** units, dtype=np.int64)
        unit_masks = ((patterns[:, None] >> np.arange(units, dtype=np.int64)) & 1).astype(bool)
        return unit_masks[:, design.codes], True
    unit_masks = rs.ar_masks(units, trials, seed)
    return (unit_masks if not design.clustered else unit_masks[:, design.codes]), False


def exact_p(permuted: np.ndarray, observed: float) -> float:
    """Exact two-sided p: the share of patterns whose |difference| is at least the observed one.

    Ties count as at least as extreme; a permuted difference within ``EXACT_TOLERANCE`` (relative) of the
    observed one is a tie, so floating-point rounding of the same rows summed in another order cannot lower p.
    """
    values = np.asarray(permuted, dtype=float)
    if observed != observed:
        return float("nan")
    threshold = abs(observed) - EXACT_TOLERANCE * max(1.0, abs(observed))
    return float(np.sum(values >= threshold)) / len(values)


def p_floor(design: Design, test: str, trials: int) -> float:
    """The smallest p-value this design and test can report.

    Exact permutation: ``2 / 2**units`` (a pattern and its complement give the same |difference|). Otherwise
    ``1 / (trials + 1)``, the floor of the ``(c + 1) / (n + 1)`` estimate.
    """
    if test == "ar" and is_exact(design, trials):
        return min(1.0, 2.0 / 2 ** design.n_units)
    return 1.0 / (trials + 1)


def exact_floor(design: Design) -> float:
    """The smallest p-value any permutation test can give on this design: ``2 / 2**units`` (0 when huge)."""
    units = design.n_units
    return min(1.0, 2.0 ** (1 - units)) if units < 1075 else 0.0
