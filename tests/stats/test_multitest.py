"""Holm and Benjamini-Hochberg adjustments equal statsmodels' ``multipletests`` on random p-value sets.

Reference: statsmodels (the ``test`` extra), ``statsmodels.stats.multitest.multipletests(p, method="holm")`` and
``method="fdr_bh"``, second return value (the adjusted p-values).
"""

from __future__ import annotations

import numpy as np
import pytest

from rrg_eval.errors import ConfigError
from rrg_eval.multitest import adjust

multitest = pytest.importorskip("statsmodels.stats.multitest")


@pytest.mark.parametrize(("ours", "theirs"), [("holm", "holm"), ("bh", "fdr_bh")])
def test_equals_statsmodels_on_random_sets(ours, theirs):
    rng = np.random.default_rng(7)
    for trial in range(300):
        m = int(rng.integers(1, 40))
        p = rng.uniform(0, 1, m) ** float(rng.uniform(0.5, 4))
        if trial % 3 == 0:  # ties and p-values from a discrete test ((c+1)/(n+1))
            p = (rng.integers(0, 60, m) + 1) / 1001
        if trial % 7 == 0:
            p[: m // 2] = 1.0
        expected = multitest.multipletests(p, method=theirs)[1]
        np.testing.assert_allclose(adjust(p, ours), expected, rtol=1e-12, atol=0)


def test_nan_is_kept_and_not_counted():
    p = np.array([0.01, np.nan, 0.04, 0.03])
    out = adjust(p, "holm")
    assert np.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2, 3]], multitest.multipletests(p[[0, 2, 3]], method="holm")[1])


def test_none_and_errors():
    p = [0.2, 0.01]
    assert list(adjust(p, "none")) == p
    assert adjust([], "bh").shape == (0,)
    with pytest.raises(ConfigError, match="valid: holm, bh, none"):
        adjust(p, "bonferroni")
