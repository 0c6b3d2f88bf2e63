"""Multiple comparisons: Benjamini-Hochberg q-values over the tests of one table.

A run reports some 30 measures side by side, each with its own permutation p-value;
a reader who picks the smallest needs them corrected for how many were looked at.
The false discovery rate (Benjamini & Hochberg 1995) is controlled over the tests of
one table; tests without a p-value (NaN: too few cultures, no permutations) are not
counted and keep NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import false_discovery_control


def bh_q_values(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) of the finite entries; NaN stays NaN."""
    p = np.asarray(p_values, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        q[finite] = false_discovery_control(p[finite], method="bh")
    return q
