"""Distance matrices between every pair of K sets of rows of one feature matrix, at once.

The similarity stage needs a (K, K) matrix of a distance between K sets of rows of
one feature matrix, for the sets as observed and for hundreds of bootstrap
resamples of them.  A resampled set is given by the indices of its rows (with
repeats); these functions compute every pair from shared work (one kernel matrix,
one set of part means per set) instead of pair by pair.  Each is tested against
its pair-by-pair definition in :mod:`ganstyle.metrics.distances`.  :func:`kid_table`
is the GAN sanity checks' KID of every generator against every culture, the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import linalg

from ganstyle.metrics.distances import _covariance_factor, _feature_matrix, _frechet_from_factors, polynomial_kernel
from ganstyle.models.devices import single_threaded_blas

# --------------------------------------------------------------------------- cross-validated distance


def noise_whitener(x, labels) -> np.ndarray:
    """(d, d) matrix W with which ``x @ W`` has identity within-class covariance.

    The covariance is the pooled covariance of the rows about their class
    means, shrunk by Ledoit-Wolf (stable for fewer rows than dimensions);
    ``W`` is its inverse symmetric square root.  Distances between class means
    in the whitened space are Mahalanobis distances in units of the
    within-culture spread.
    """
    from sklearn.covariance import LedoitWolf

    x = _feature_matrix(x, "x")
    labels = np.asarray(labels)
    residuals = x.copy()
    for label in np.unique(labels):
        rows = labels == label
        residuals[rows] -= x[rows].mean(axis=0)
    covariance = LedoitWolf(assume_centered=True).fit(residuals).covariance_
    eigenvalues, eigenvectors = linalg.eigh(covariance)
    floor = max(float(eigenvalues.max()), 1e-300) * 1e-10
    return (eigenvectors / np.sqrt(np.clip(eigenvalues, floor, None))) @ eigenvectors.T


# --------------------------------------------------------------------------- all pairs of sets at once


def count_matrix(index_sets, n_rows: int) -> np.ndarray:
    """(K, n_rows): how often each row occurs in each index set."""
    counts = np.zeros((len(index_sets), n_rows))
    for k, index in enumerate(index_sets):
        counts[k] = np.bincount(np.asarray(index, dtype=np.int64), minlength=n_rows)
    return counts


def kid_matrix(kernel: np.ndarray, index_sets) -> np.ndarray:
    """(K, K) unbiased MMD^2 between every pair of index sets, from the (N, N) kernel of all rows.

    The within-set means leave out pairs of copies of one row (as :func:`kid`
    does with ``distinct_pairs``), so resampled sets are not biased upwards;
    sets are used whole (no random subsets).  A set whose rows are all copies
    of one row gets k(a, a).  ``kernel`` is e.g. :func:`polynomial_kernel` of
    the feature matrix with itself.
    """
    counts = count_matrix(index_sets, len(kernel))
    sizes = counts.sum(axis=1)
    gram = counts @ kernel @ counts.T  # sum of k over all (i in a, j in b)
    repeats = (counts**2) @ np.diagonal(kernel)  # pairs of copies of one row, and of a row with itself
    same_pairs = sizes**2 - (counts**2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        within = np.where(same_pairs > 0, (np.diagonal(gram) - repeats) / np.where(same_pairs > 0, same_pairs, 1), repeats / sizes**2)
    cross = gram / np.outer(sizes, sizes)
    mmd2 = within[:, None] + within[None, :] - 2.0 * cross
    np.fill_diagonal(mmd2, 0.0)
    return mmd2


def kid_table(samples: dict[str, np.ndarray], heldout: dict[str, np.ndarray], n_boot: int, seed: int) -> pd.DataFrame:
    """Long table: KID (bootstrap CI) of every generator's samples against every culture's held-out
    images, all as reference features ``{culture: (N, D)}``; every generator's culture must be among them.
    ``kid_minus_own``: how much farther than its own culture's images each culture's lie, with its
    bootstrap interval (``kid_minus_own_ci_low``, ``..._ci_high``) when ``n_boot`` > 0.

    One kernel matrix of all sets; a bootstrap replicate resamples every set
    with replacement and recomputes every KID from it (``n_boot`` 0: no interval).
    """
    generators, cultures = list(samples), list(heldout)
    blocks = [samples[c] for c in generators] + [heldout[c] for c in cultures]
    starts = np.cumsum([0] + [len(b) for b in blocks])
    x = np.vstack(blocks).astype(np.float64)
    with single_threaded_blas():
        kernel = polynomial_kernel(x, x)
    sets = [np.arange(starts[i], starts[i + 1]) for i in range(len(blocks))]
    g = len(generators)

    def cross(index_sets):
        return kid_matrix(kernel, index_sets)[:g, g:]  # generators x held-out cultures

    value = cross(sets)
    low = high = np.full_like(value, np.nan)
    if n_boot:
        rng = np.random.default_rng(seed)
        replicates = np.stack([cross([s[rng.integers(0, len(s), len(s))] for s in sets]) for _ in range(n_boot)])
        low, high = np.quantile(replicates, [0.025, 0.975], axis=0)
        # each replicate resamples every set at once, so the difference to the own culture has an interval too
        own_column = [cultures.index(a) for a in generators]
        differences = replicates - replicates[:, np.arange(g), own_column][:, :, None]
        diff_low, diff_high = np.quantile(differences, [0.025, 0.975], axis=0)
    table = pd.DataFrame(
        [
            {"generator_culture": a, "heldout_culture": b, "kid": value[i, j], "ci_low": low[i, j], "ci_high": high[i, j]}
            for i, a in enumerate(generators)
            for j, b in enumerate(cultures)
        ]
    )
    own = table[table.generator_culture == table.heldout_culture].set_index("generator_culture")["kid"]
    best = table.loc[table.groupby("generator_culture")["kid"].idxmin()].set_index("generator_culture")["heldout_culture"]
    table["own_is_smallest"] = table["generator_culture"].map(lambda c: best[c] == c)
    table["kid_minus_own"] = table["kid"] - table["generator_culture"].map(own)
    if n_boot:
        table["kid_minus_own_ci_low"] = diff_low.ravel()
        table["kid_minus_own_ci_high"] = diff_high.ravel()
    return table


def part_means(x: np.ndarray, index: np.ndarray, parts: int, rng: np.random.Generator) -> np.ndarray:
    """(parts, d) means of random parts of the rows ``x[index]``; copies of one row stay in one part."""
    distinct, inverse = np.unique(np.asarray(index), return_inverse=True)
    parts = min(parts, len(distinct))
    order = rng.permutation(len(distinct))
    part_of_distinct = np.empty(len(distinct), dtype=np.int64)
    part_of_distinct[order] = np.arange(len(distinct)) % parts
    part = part_of_distinct[inverse.ravel()]
    sums = np.zeros((parts, x.shape[1]))
    np.add.at(sums, part, x[np.asarray(index)])
    return sums / np.bincount(part, minlength=parts)[:, None]


def crossnobis_matrix(x: np.ndarray, index_sets, folds: int = 4, seed: int = 0) -> np.ndarray:
    """(K, K) cross-validated squared distances between the means of every pair of index sets (crossnobis-style).

    Each set's rows are split into ``folds`` parts; with ``d_f`` the difference
    of the two sets' means in part ``f``, the estimate is the mean of
    ``d_f . d_g`` over pairs of different parts, divided by the number of
    features.  Parts are independent, so the noise of the means does not add
    up as it does in ``||mean_a - mean_b||^2``: the estimate is unbiased for the
    squared distance of the true means (about 0, and possibly negative, for two
    samples of one distribution) whatever the sample sizes.  Copies of a row
    (bootstrap resamples) stay in one part, so a copy is never paired with
    itself.  On features whitened by the within-set covariance
    (:func:`noise_whitener`) this is the crossnobis estimator of the squared
    Mahalanobis distance (Walther et al. 2016).
    """
    x = np.asarray(x, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = [part_means(x, index, folds, rng) for index in index_sets]
    parts = min(len(m) for m in means)
    if parts < 2:
        raise ValueError("crossnobis needs at least 2 distinct rows in every set")
    means = np.stack([m[:parts] if len(m) == parts else _merge_parts(m, parts) for m in means])  # (K, F, d)
    totals = means.sum(axis=1)  # (K, d)
    total_gram = totals @ totals.T
    # sum_f ||m_af - m_bf||^2 = sum_f ||m_af||^2 + ||m_bf||^2 - 2 m_af . m_bf
    squares = np.einsum("kfd,kfd->k", means, means)
    matched = np.einsum("afd,bfd->ab", means, means)
    sum_total = np.diagonal(total_gram)[:, None] + np.diagonal(total_gram)[None, :] - 2.0 * total_gram
    sum_parts = squares[:, None] + squares[None, :] - 2.0 * matched
    distance = (sum_total - sum_parts) / (parts * (parts - 1)) / x.shape[1]
    np.fill_diagonal(distance, 0.0)
    return distance


def _merge_parts(means: np.ndarray, parts: int) -> np.ndarray:
    """Fewer parts from more (a set with more distinct rows than the smallest): average neighbours."""
    groups = np.array_split(np.arange(len(means)), parts)
    return np.stack([means[g].mean(axis=0) for g in groups])


def frechet_matrix(x: np.ndarray, index_sets) -> np.ndarray:
    """(K, K) Fréchet distances between every pair of index sets (each set's covariance factored once)."""
    x = np.asarray(x, dtype=np.float64)
    factors = [_covariance_factor(x[np.asarray(index)], 0.0)[:2] for index in index_sets]
    k = len(factors)
    distance = np.zeros((k, k))
    for a in range(k):
        for b in range(a + 1, k):
            distance[a, b] = distance[b, a] = _frechet_from_factors(*factors[a], *factors[b])
    return distance
