"""How well a culture x culture distance matrix recovers known groups.

The continuous endpoint beside ARI: for cultures with a known group, the
probability that a within-group distance is smaller than an across-group one
(the ROC AUC of "across" against "within" pairs, ties counting one half).
0.5 = the distances ignore the groups, 1 = every within-group pair is closer
than every across-group pair.  Unlike ARI at k = #groups it does not depend on
one cut of one tree, and it changes smoothly with the distances.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ganstyle.metrics.classification import roc_auc


def pair_kinds(groups: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (K, K) masks of the within-group and across-group pairs (upper triangle only).

    ``groups[i]`` is culture i's group, or None / "" for a culture without one
    (left out of both masks).
    """
    labels = np.asarray([("" if g is None else str(g)) for g in groups], dtype=object)
    known = labels != ""
    upper = np.triu(np.ones((len(labels), len(labels)), dtype=bool), 1)
    both = upper & known[:, None] & known[None, :]
    same = labels[:, None] == labels[None, :]
    return both & same, both & ~same


def within_across_auc(distance: np.ndarray, groups: Sequence) -> float:
    """P(a within-group distance < an across-group distance); NaN without both kinds of pairs."""
    distance = np.asarray(distance, dtype=np.float64)
    within, across = pair_kinds(groups)
    if not within.any() or not across.any():
        return float("nan")
    values_within, values_across = distance[within], distance[across]
    if not (np.isfinite(values_within).all() and np.isfinite(values_across).all()):
        return float("nan")
    return roc_auc(values_across, values_within)


def within_across_auc_replicates(replicates: np.ndarray, groups: Sequence) -> np.ndarray:
    """The endpoint of each (B, K, K) replicate matrix: (B,)."""
    return np.asarray([within_across_auc(matrix, groups) for matrix in replicates])
