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


def adjusted_rand_indices(truths: np.ndarray, clusters) -> np.ndarray:
    """Adjusted Rand index of each row of ``truths`` (R, n) against one labelling ``clusters`` (n,),
    as sklearn's ``adjusted_rand_score`` defines it (1.0 where both labellings are trivial), vectorised
    over rows so that a permutation test over thousands of shuffles stays cheap."""
    truths = np.atleast_2d(np.asarray(truths))
    _, t = np.unique(truths, return_inverse=True)
    t = t.reshape(truths.shape)
    _, c = np.unique(np.asarray(clusters), return_inverse=True)
    n_t, n_c, rows, n = t.max() + 1, c.max() + 1, t.shape[0], t.shape[1]
    cells = (np.arange(rows)[:, None] * n_t + t) * n_c + c[None, :]
    table = np.bincount(cells.ravel(), minlength=rows * n_t * n_c).reshape(rows, n_t, n_c).astype(float)

    def pairs(x):
        return x * (x - 1) / 2

    index = pairs(table).sum(axis=(1, 2))
    a, b = pairs(table.sum(axis=2)).sum(axis=1), pairs(table.sum(axis=1)).sum(axis=1)
    expected = a * b / pairs(float(n)) if n > 1 else np.zeros(rows)
    maximum = (a + b) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        ari = (index - expected) / (maximum - expected)
    return np.where(np.isclose(maximum, expected), 1.0, ari)


def agreement(clusters: Sequence, groups: Sequence) -> tuple[float, float]:
    """(adjusted Rand index, normalised mutual information) of two labelings."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return float(adjusted_rand_score(groups, clusters)), float(normalized_mutual_info_score(groups, clusters))


def agreement_p_value(clusters: Sequence, groups: Sequence, permutations: int, seed: int) -> float:
    """One-sided permutation p-value of the ARI: group labels shuffled over cultures."""
    if permutations == 0:
        return float("nan")
    groups = np.asarray(groups)
    observed = adjusted_rand_indices(groups, clusters)[0]
    rng = np.random.default_rng(seed)
    shuffled = np.stack([rng.permutation(groups) for _ in range(permutations)])
    hits = int(np.sum(adjusted_rand_indices(shuffled, clusters) >= observed - 1e-12))
    return (1 + hits) / (1 + permutations)
