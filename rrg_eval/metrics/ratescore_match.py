"""RaTEScore's matching of entities and its score (ratescore 0.6.0 ``RaTEScore/utils.py`` ``compute`` and
``RaTEScore/scorer.py``), in numpy: the affinity matrices, ``torch.topk``'s pick among tied similarities, the
directed scores and their F1. Used by :mod:`rrg_eval.metrics.ratescore`; no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_TYPES = ("abnormality", "anatomy", "disease", "non-abnormality", "non-disease")
# ratescore 0.6.0, RaTEScore/scorer.py: DEFAULT_MATRIX_LONG / DEFAULT_MATRIX_SHORT, rows x columns in _TYPES order
_LONG = ((0.4276119164393705, 0.6240929990607657, 0.0034478181112993847, 0.5431049700217344, 0.27005425386213877),
         (0.7487824274337533, 0.2856134859160784, 0.4592143222158069, 0.02097055139911715, 0.00013736314126696204),
         (0.8396510075734789, 0.9950209388542061, 0.8460555030578727, 0.9820689020512646, 0.3789136708096537),
         (0.16546764653692908, 0.018670610691852826, 0.719397354576018, 0.0009357166071730684, 0.0927333564267591),
         (0.7759420231214385, 0.1839139293714062, 0.10073046076318157, 0.03860183811876373, 0.34065681486566446))
_LONG_NEG = 0.8716553966489615
_SHORT = ((0.4070293318365468, 0.6952639610605605, 0.28342529466226446, 0.9479148658006686, 0.23875064111146294),
          (0.5829759950441763, 0.7709590751917746, 0.0006059634829551632, 0.794672584951181, 0.27982942400798977),
          (0.8840397619834857, 0.9637659445696822, 0.19018958438059513, 0.6962283914800402, 0.943727057946997),
          (0.1712744286898638, 0.4485149671497294, 0.00045065329822896076, 0.0007887930317199857, 0.8555432840895761),
          (0.9555801066212176, 0.13122106162635216, 0.6072996585919443, 0.05650711141169969, 0.3214769399791204))
_SHORT_NEG = 0.3611577852354489
# (type of the entity, type of its best match) pairs weighted by neg_weight (ratescore 0.6.0, utils.compute)
NEG_PAIRS = frozenset({("NON-DISEASE", "DISEASE"), ("NON-ABNORMALITY", "ABNORMALITY"), ("DISEASE", "NON-DISEASE"),
                       ("ABNORMALITY", "NON-ABNORMALITY"), ("NON-DISEASE", "ABNORMALITY"),
                       ("NON-ABNORMALITY", "DISEASE"), ("DISEASE", "NON-ABNORMALITY"),
                       ("ABNORMALITY", "NON-DISEASE")})
NO_ENTITY_SCORE = 0.5


def affinity(name: str) -> tuple[dict[tuple[str, str], float], float]:
    """The affinity weights ``{(type_a, type_b): w}`` (upper-case types) and ``neg_weight`` of ``long``/``short``."""
    rows, neg = (_LONG, _LONG_NEG) if name == "long" else (_SHORT, _SHORT_NEG)
    return {(a.upper(), b.upper()): rows[i][j] for i, a in enumerate(_TYPES) for j, b in enumerate(_TYPES)}, neg


def torch_top1(values: np.ndarray) -> int:
    """The index ``torch.topk(values, 1)`` returns on CPU, ties included (checked against torch in the tests).

    torch selects with ``std::partial_sort`` when ``64 * k <= n`` (the first of the largest values) and with
    ``std::nth_element`` otherwise: libstdc++'s introselect (median-of-three pivot, unguarded Hoare
    partition, insertion sort below 4 elements), which among equal largest values returns the one this walk
    leaves in front.
    """
    n = len(values)
    if n >= 64:
        return int(np.argmax(values))
    v = [float(x) for x in values]
    q = list(range(n))

    def gt(a: int, b: int) -> bool:
        return v[q[a]] > v[q[b]]

    last = n
    depth = 2 * (n.bit_length() - 1) if n else 0
    while last > 3:
        if depth == 0:
            break
        depth -= 1
        a, b, c = 1, last // 2, last - 1
        if gt(a, b):
            pick = b if gt(b, c) else (c if gt(a, c) else a)
        else:
            pick = a if gt(a, c) else (c if gt(b, c) else b)
        q[0], q[pick] = q[pick], q[0]
        lo, hi = 1, last
        while True:
            while gt(lo, 0):
                lo += 1
            hi -= 1
            while gt(0, hi):
                hi -= 1
            if lo >= hi:
                break
            q[lo], q[hi] = q[hi], q[lo]
            lo += 1
        last = lo  # the wanted position (0) lies left of the cut
    best = 0
    for j in range(1, last):
        if gt(j, best):
            best = j
    return q[best]


def best_matches(sims: np.ndarray) -> tuple[list[int], list[float]]:
    """Per row of ``sims``, the column ``torch.topk(k=1)`` picks and its similarity."""
    idx, val = [], []
    for row in sims:
        top = row.max() if row.size else 0.0
        j = torch_top1(row) if (row == top).sum() > 1 else int(np.argmax(row))
        idx.append(j)
        val.append(float(row[j]))
    return idx, val


def directed_score(best_idx: Sequence[int], best_val: Sequence[float], types_a: Sequence[str],
                   types_b: Sequence[str], weights: dict[tuple[str, str], float], neg_weight: float) -> float:
    """``score(A -> B)`` (the package's ``compute``) from each A entity's best B match and its similarity."""
    total = 0.0
    weight_sum = 0.0
    for j, s, type_a in zip(best_idx, best_val, types_a):
        type_b = types_b[j]
        w = weights[(type_a, type_b)]
        total += s * w * (neg_weight if (type_a, type_b) in NEG_PAIRS else 1)
        weight_sum += w
    return total / weight_sum if weight_sum != 0 else 0.0


def f1(precision: float, recall: float) -> float:
    """The package's combination: 2PR / (P + R), 0 when P + R == 0."""
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class EntitySide:
    """The entities of one report: vectors of its distinct strings (rows), each entity's row, each one's type."""

    vectors: np.ndarray
    index: np.ndarray
    types: tuple[str, ...]

    def ambiguous(self) -> bool:
        """True when entities encoded alike carry different types (the package's pick among them is rounding)."""
        seen: dict[int, str] = {}
        for row, kind in zip(self.index.tolist(), self.types):
            if seen.setdefault(row, kind) != kind:
                return True
        return False


def pair_score(ref: EntitySide, pred: EntitySide, weights: dict[tuple[str, str], float],
               neg_weight: float) -> float:
    """RaTEScore of one pair.

    Similarities are computed between distinct entity strings and then spread to every occurrence, so that
    repeated strings tie exactly and ``torch.topk``'s rule for ties picks among them.
    """
    if len(ref.types) == 0 or len(pred.types) == 0:
        return NO_ENTITY_SCORE
    sims = (ref.vectors @ pred.vectors.T)[np.ix_(ref.index, pred.index)]
    precision = directed_score(*best_matches(sims), ref.types, pred.types, weights, neg_weight)
    recall = directed_score(*best_matches(np.ascontiguousarray(sims.T)), pred.types, ref.types, weights,
                            neg_weight)
    return f1(precision, recall)


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows divided by their L2 norm (at least 1e-12), in float32, as ``F.normalize``."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.sqrt((v * v).sum(axis=1, keepdims=True, dtype=np.float32))
    return v / np.maximum(norms, np.float32(1e-12))
