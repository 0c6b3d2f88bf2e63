"""Distances between two sets of feature vectors, their uncertainty and noise floor.

All functions take ``(n, d)`` arrays (rows are images, columns features) and
compute in float64.

Fréchet distance (FD)
    ``||mu_x - mu_y||^2 + Tr(C_x + C_y - 2 (C_x C_y)^{1/2})``, the squared
    2-Wasserstein distance between Gaussians with the sets' means and sample
    covariances (``ddof=1``), as pytorch-fid and TF-GAN define FID.  The trace of
    the matrix square root is computed without a matrix square root: with any
    factorisations ``C_x = L_x L_x^T`` and ``C_y = L_y L_y^T``, the eigenvalues
    of ``C_x C_y`` are the squared singular values of ``L_x^T L_y``, so
    ``Tr((C_x C_y)^{1/2})`` is the sum of those singular values.  ``L`` is the
    centred data itself (``X_c^T / sqrt(n-1)``) when ``n <= d`` and an
    eigen-factor of ``C`` otherwise.  This is exact and real for singular
    covariances too, so no epsilon is needed where ``scipy.linalg.sqrtm`` would
    fail; singular covariances still trigger a :class:`SingularCovarianceWarning`
    because FD from fewer samples than dimensions is a poor, strongly biased
    estimate.  ``eps > 0`` adds ``eps`` to both diagonals (pytorch-fid's
    fallback) if you want exactly that convention.

KID
    Unbiased MMD^2 with the cubic polynomial kernel ``k(a, b) = (a.b / d + 1)^3``
    (Bińkowski et al. 2018), averaged over random subsets as torch-fidelity
    does.  Unbiased means it can be slightly negative for equal distributions.
    Pairs of identical rows are left out of the within-set means (a row
    repeated by bootstrap resampling must not be paired with itself); for
    de-duplicated inputs this is exactly the usual estimator.

Uncertainty
    :func:`bootstrap` resamples the rows of each set independently with
    replacement.  Its default percentile interval suits statistics that are
    (nearly) unbiased under resampling, such as KID and AUC.  The Fréchet
    distance is biased upwards, and its replicates more so (a resample holds
    only ~63 % distinct rows), so for near-identical sets the percentile
    interval lies entirely above the value (a :class:`BootstrapBiasWarning`
    says so); ``method="basic"`` reflects the interval about the value,
    removing that bias, and covers the true distance.  Whether a distance is
    above sampling noise at all is what :func:`split_half_floor` answers: the
    distance between two random disjoint halves of one set.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
from scipy import linalg


class SingularCovarianceWarning(UserWarning):
    """A covariance matrix in a Fréchet distance is singular (rank < dimension)."""


class BootstrapBiasWarning(UserWarning):
    """A statistic lies outside its own percentile bootstrap interval: it is biased under resampling."""


def _feature_matrix(values, name: str, min_rows: int = 2) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (n_samples, n_features) array, got shape {array.shape}")
    if array.shape[0] < min_rows:
        raise ValueError(f"{name}: needs at least {min_rows} samples (rows), got {array.shape[0]}")
    if array.shape[1] == 0:
        raise ValueError(f"{name}: has no features (columns)")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return array


def _same_width(x: np.ndarray, y: np.ndarray) -> None:
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y have different numbers of features ({x.shape[1]} vs {y.shape[1]})")


# --------------------------------------------------------------------------- Fréchet distance


def _eigen_factor(cov: np.ndarray) -> tuple[np.ndarray, int]:
    """L with cov = L L^T (negative rounding eigenvalues clipped) and the numerical rank."""
    eigenvalues, eigenvectors = linalg.eigh(cov)
    tolerance = max(eigenvalues.max(initial=0.0), 0.0) * cov.shape[0] * np.finfo(np.float64).eps
    rank = int((eigenvalues > tolerance).sum())
    return eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None)), rank


def _covariance_factor(data: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean, a factor L with C + eps I = L L^T, and the rank of C + eps I (C: sample covariance)."""
    n, d = data.shape
    mean = data.mean(axis=0)
    centred = data - mean
    if eps == 0.0 and n <= d:
        # thin factor straight from the data: C = X_c^T X_c / (n - 1), rank <= n - 1 < d
        return mean, centred.T / math.sqrt(n - 1), int(np.linalg.matrix_rank(centred))
    cov = centred.T @ centred / (n - 1)
    factor, rank = _eigen_factor(cov + eps * np.eye(d))
    return mean, factor, rank


def _frechet_from_factors(mean_x, factor_x, mean_y, factor_y) -> float:
    diff = mean_x - mean_y
    trace_x = float(np.sum(factor_x * factor_x))  # Tr(L L^T) = ||L||_F^2
    trace_y = float(np.sum(factor_y * factor_y))
    trace_sqrt = float(linalg.svdvals(factor_x.T @ factor_y).sum())  # Tr((C_x C_y)^{1/2})
    # a squared distance: clip the rounding error that can make identical sets slightly negative
    return max(float(diff @ diff) + trace_x + trace_y - 2.0 * trace_sqrt, 0.0)


def _warn_singular(singular: list[str], d: int) -> None:
    warnings.warn(
        f"Fréchet distance: singular covariance of {' and '.join(singular)} ({d} features); "
        "the value is computed exactly for these sample covariances but is a high-variance, upward-biased "
        "estimate - use more samples than features or fewer features",
        SingularCovarianceWarning,
        stacklevel=3,
    )


def frechet_distance(x, y, eps: float = 0.0) -> float:
    """Fréchet distance between the Gaussians fitted to the rows of ``x`` and ``y``.

    ``x`` (n, d) and ``y`` (m, d), each with at least 2 rows.  ``eps`` > 0 adds
    ``eps`` to the diagonals of both covariances first (pytorch-fid's fallback
    for singular covariances; not needed here, see the module docstring).
    """
    x, y = _feature_matrix(x, "x"), _feature_matrix(y, "y")
    _same_width(x, y)
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    d = x.shape[1]
    mean_x, factor_x, rank_x = _covariance_factor(x, eps)
    mean_y, factor_y, rank_y = _covariance_factor(y, eps)
    singular = [f"{name} (rank {rank} from {len(data)} samples)" for name, rank, data in (("x", rank_x, x), ("y", rank_y, y)) if rank < d]
    if singular:
        _warn_singular(singular, d)
    return _frechet_from_factors(mean_x, factor_x, mean_y, factor_y)


def gaussian_frechet_distance(mean_x, cov_x, mean_y, cov_y) -> float:
    """Fréchet distance between two Gaussians given by means (d,) and covariances (d, d).

    For statistics accumulated elsewhere (e.g. streamed over batches); the
    covariances must be symmetric positive semi-definite.
    """
    mean_x, mean_y = np.asarray(mean_x, np.float64).ravel(), np.asarray(mean_y, np.float64).ravel()
    cov_x, cov_y = np.asarray(cov_x, np.float64), np.asarray(cov_y, np.float64)
    d = mean_x.size
    for name, cov in (("cov_x", cov_x), ("cov_y", cov_y)):
        if cov.shape != (d, d) or mean_y.size != d:
            raise ValueError(f"{name}: expected shape ({d}, {d}) matching the means, got {cov.shape}")
        if not np.isfinite(cov).all():
            raise ValueError(f"{name}: contains NaN or infinite values")
    factor_x, _ = _eigen_factor((cov_x + cov_x.T) / 2)
    factor_y, _ = _eigen_factor((cov_y + cov_y.T) / 2)
    return _frechet_from_factors(mean_x, factor_x, mean_y, factor_y)


# --------------------------------------------------------------------------- KID


def polynomial_kernel(a: np.ndarray, b: np.ndarray, degree: int = 3, coef0: float = 1.0) -> np.ndarray:
    """k(a, b) = (a.b / d + coef0) ** degree for all pairs of rows: (len(a), len(b))."""
    return (a @ b.T / a.shape[1] + coef0) ** degree


def _within_set_mean(kernel: np.ndarray, labels: np.ndarray | None) -> float:
    """Mean kernel value over pairs of different observations of one set.

    Without labels these are the pairs i != j (the unbiased U-statistic).
    With labels (row i is a copy of unique row labels[i]) pairs of copies of
    the same row are left out too: a bootstrap resample repeats rows, and
    pairing an observation with itself would bias MMD^2 upwards by about
    k(a, a) / m.  A set whose rows are all copies of one row gets k(a, a).
    """
    m = kernel.shape[0]
    if labels is None:
        return float((kernel.sum() - np.trace(kernel)) / (m * (m - 1)))
    counts = np.bincount(labels)
    copies_of_row = counts[labels]  # how often each row's value occurs in the set
    n_pairs = m * m - float((counts.astype(np.float64) ** 2).sum())
    if n_pairs == 0:
        return float(np.diagonal(kernel).mean())
    return float((kernel.sum() - (copies_of_row * np.diagonal(kernel)).sum()) / n_pairs)


def _mmd2_from_kernels(k_xx, k_yy, k_xy, labels_x=None, labels_y=None) -> float:
    """Unbiased MMD^2: within-set means over pairs of different observations, cross-set mean over all pairs."""
    return _within_set_mean(k_xx, labels_x) + _within_set_mean(k_yy, labels_y) - 2.0 * float(k_xy.mean())


def _row_labels(data: np.ndarray) -> np.ndarray | None:
    """Index of each row among the unique rows, or None when all rows differ."""
    _, labels = np.unique(data, axis=0, return_inverse=True)
    labels = labels.ravel()
    return None if labels.max() + 1 == len(data) else labels


def _relabel(labels: np.ndarray | None, index: np.ndarray) -> np.ndarray | None:
    if labels is None:
        return None
    labels = np.unique(labels[index], return_inverse=True)[1].ravel()
    return None if labels.max() + 1 == len(labels) else labels


def polynomial_mmd2(x, y, degree: int = 3, coef0: float = 1.0, distinct_pairs: bool = True) -> float:
    """Unbiased MMD^2 between all rows of ``x`` and ``y`` with the polynomial kernel.

    ``distinct_pairs``: leave pairs of identical rows out of the within-set
    means (see :func:`kid`); for sets without repeated rows it changes nothing.
    """
    x, y = _feature_matrix(x, "x"), _feature_matrix(y, "y")
    _same_width(x, y)
    labels_x, labels_y = (_row_labels(x), _row_labels(y)) if distinct_pairs else (None, None)
    return _mmd2_from_kernels(
        polynomial_kernel(x, x, degree, coef0),
        polynomial_kernel(y, y, degree, coef0),
        polynomial_kernel(x, y, degree, coef0),
        labels_x,
        labels_y,
    )


# Precompute the full kernel matrices when they hold at most this many entries
# (128 MB): each subset is then an index lookup instead of three matrix products.
_KERNEL_CACHE_ENTRIES = 2**24


def kid_subsets(
    x,
    y,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    degree: int = 3,
    coef0: float = 1.0,
    distinct_pairs: bool = True,
) -> np.ndarray:
    """Unbiased polynomial MMD^2 of each of ``subsets`` random subset pairs: (subsets,).

    Each subset draws ``min(n, subset_size)`` rows of x and ``min(m, subset_size)``
    rows of y without replacement; a set smaller than ``subset_size`` is used whole.
    """
    x, y = _feature_matrix(x, "x"), _feature_matrix(y, "y")
    _same_width(x, y)
    if subsets < 1:
        raise ValueError(f"subsets must be >= 1, got {subsets}")
    if subset_size < 2:
        raise ValueError(f"subset_size must be >= 2, got {subset_size}")
    n, m = len(x), len(y)
    size_x, size_y = min(n, subset_size), min(m, subset_size)
    if size_x == n and size_y == m:
        # every subset is the whole of both sets: one value, no subsampling variability
        return np.full(subsets, polynomial_mmd2(x, y, degree, coef0, distinct_pairs))
    labels_x, labels_y = (_row_labels(x), _row_labels(y)) if distinct_pairs else (None, None)
    rng = np.random.default_rng(seed)
    cached = n * n + m * m + n * m <= _KERNEL_CACHE_ENTRIES
    if cached:
        k_xx, k_yy, k_xy = (polynomial_kernel(a, b, degree, coef0) for a, b in ((x, x), (y, y), (x, y)))
    values = np.empty(subsets)
    for i in range(subsets):
        ix = np.sort(rng.choice(n, size_x, replace=False))
        iy = np.sort(rng.choice(m, size_y, replace=False))
        if cached:
            sub_xx, sub_yy, sub_xy = k_xx[np.ix_(ix, ix)], k_yy[np.ix_(iy, iy)], k_xy[np.ix_(ix, iy)]
        else:
            sub_xx, sub_yy, sub_xy = (polynomial_kernel(a, b, degree, coef0) for a, b in ((x[ix], x[ix]), (y[iy], y[iy]), (x[ix], y[iy])))
        values[i] = _mmd2_from_kernels(sub_xx, sub_yy, sub_xy, _relabel(labels_x, ix), _relabel(labels_y, iy))
    return values


def kid(
    x,
    y,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    return_std: bool = False,
    degree: int = 3,
    coef0: float = 1.0,
    distinct_pairs: bool = True,
) -> float | tuple[float, float]:
    """Kernel Inception-style distance: mean unbiased MMD^2 over random subsets.

    With ``return_std=True`` returns ``(mean, std)``, the std (ddof=0, as
    torch-fidelity) across subsets; it is 0 when both sets are used whole.

    ``distinct_pairs`` (default) leaves pairs of identical rows out of the
    within-set means, so that a row repeated by bootstrap resampling is not
    paired with itself; on sets without repeated rows (de-duplicated images)
    the value is exactly torch-fidelity's estimator.
    """
    values = kid_subsets(x, y, subsets=subsets, subset_size=subset_size, seed=seed, degree=degree, coef0=coef0, distinct_pairs=distinct_pairs)
    if np.all(values == values[0]):
        mean, std = float(values[0]), 0.0  # whole sets: no subsampling variability (and no rounding noise)
    else:
        mean, std = float(values.mean()), float(values.std())
    return (mean, std) if return_std else mean


# --------------------------------------------------------------------------- uncertainty and noise floor


def _check_ci(ci: float) -> None:
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")


def _call_collecting_warnings(fn: Callable, pairs, what: str) -> np.ndarray:
    """fn on each (a, b) pair; warnings are reported once per category, with a count and an example."""
    values = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for a, b in pairs:
            values.append(float(fn(a, b)))
    by_category: dict[type, list[str]] = {}
    for warning in caught:
        by_category.setdefault(warning.category, []).append(str(warning.message))
    for category, messages in by_category.items():
        warnings.warn(f"{len(messages)} warning(s) in {len(values)} {what}, e.g.: {messages[0]}", category, stacklevel=3)
    return np.asarray(values)


def _interval(values: np.ndarray, ci: float, what: str) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size < values.size:
        warnings.warn(f"{values.size - finite.size} of {values.size} {what} are NaN or infinite and were left out", RuntimeWarning, stacklevel=3)
    if finite.size == 0:
        return math.nan, math.nan
    low, high = np.quantile(finite, [(1 - ci) / 2, (1 + ci) / 2])
    return float(low), float(high)


BOOTSTRAP_METHODS = ("percentile", "basic")


def bootstrap(fn: Callable, x, y, n_boot: int = 200, seed: int = 0, ci: float = 0.95, method: str = "percentile") -> tuple[float, float, float]:
    """``(value, low, high)``: ``fn(x, y)`` on the full sets and its bootstrap interval.

    Each of ``n_boot`` replicates resamples the rows of ``x`` and of ``y``
    independently with replacement (same sizes) and evaluates ``fn``.  Any
    ``fn(a, b) -> float`` works (a distance, an AUC of two score vectors, ...).

    ``method="percentile"``: the ``(1 - ci)/2`` and ``(1 + ci)/2`` quantiles of
    the replicates.  ``method="basic"``: those quantiles reflected about the
    value, ``(2 value - q_high, 2 value - q_low)``, which removes the bootstrap
    estimate of the statistic's bias; use it for biased statistics such as
    the Fréchet distance, whose replicates sit systematically above the
    full-sample value (its lower bound can then be negative: consistent with
    a distance of 0).

    Warnings raised by replicates are reported once each, with a count.
    """
    _check_ci(ci)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if method not in BOOTSTRAP_METHODS:
        raise ValueError(f"method must be one of {', '.join(BOOTSTRAP_METHODS)}, got {method!r}")
    x, y = np.asarray(x), np.asarray(y)
    if len(x) == 0 or len(y) == 0:
        raise ValueError(f"bootstrap needs non-empty sets, got {len(x)} and {len(y)} rows")
    value = float(fn(x, y))
    rng = np.random.default_rng(seed)

    def resamples():
        for _ in range(n_boot):
            ix = rng.integers(0, len(x), len(x))
            iy = rng.integers(0, len(y), len(y))
            yield x[ix], y[iy]

    replicates = _call_collecting_warnings(fn, resamples(), "bootstrap replicates")
    low, high = _interval(replicates, ci, "bootstrap replicates")
    if method == "basic":
        low, high = 2.0 * value - high, 2.0 * value - low
    elif not low <= value <= high:
        warnings.warn(
            f"bootstrap: the value {value:.6g} lies outside its {ci:.0%} percentile interval [{low:.6g}, {high:.6g}]; "
            "the statistic is biased under resampling (small samples?) - method='basic' corrects for that",
            BootstrapBiasWarning,
            stacklevel=2,
        )
    return value, low, high


def kid_bootstrap(x, y, n_boot: int = 200, seed: int = 0, ci: float = 0.95, subset_size: int = 1000) -> tuple[float, float, float]:
    """``bootstrap(kid, x, y, ...)`` with the kernels computed once: each replicate is an index lookup.

    The same resamples (same generator, same order) and the same statistic as :func:`bootstrap` of
    :func:`kid`, for sets no larger than ``subset_size`` (which KID uses whole); larger sets go through
    :func:`bootstrap`.  A pair of copies of one image in a resample is left out of the within-set means,
    as :func:`kid` leaves out identical rows.
    """
    x, y = _feature_matrix(x, "x"), _feature_matrix(y, "y")
    _same_width(x, y)
    if len(x) > subset_size or len(y) > subset_size:
        return bootstrap(lambda a, b: kid(a, b, subset_size=subset_size, seed=seed), x, y, n_boot=n_boot, seed=seed, ci=ci)
    _check_ci(ci)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    k_xx, k_yy, k_xy = (polynomial_kernel(a, b) for a, b in ((x, x), (y, y), (x, y)))
    # rows identical in the sets themselves share a label, so that their pairs are left out too
    base_x, base_y = (labels if labels is not None else np.arange(len(data)) for labels, data in ((_row_labels(x), x), (_row_labels(y), y)))
    value = _mmd2_from_kernels(k_xx, k_yy, k_xy, _row_labels(x), _row_labels(y))
    rng = np.random.default_rng(seed)
    replicates = np.empty(n_boot)
    for i in range(n_boot):
        ix = rng.integers(0, len(x), len(x))
        iy = rng.integers(0, len(y), len(y))
        replicates[i] = _mmd2_from_kernels(k_xx[np.ix_(ix, ix)], k_yy[np.ix_(iy, iy)], k_xy[np.ix_(ix, iy)], base_x[ix], base_y[iy])
    low, high = _interval(replicates, ci, "bootstrap replicates")
    return value, low, high


def split_half_floor(fn: Callable, x, n_rep: int = 20, seed: int = 0, ci: float = 0.95, half_size: int | None = None) -> tuple[float, float, float]:
    """``(mean, low, high)`` of ``fn(a, b)`` over ``n_rep`` random splits of ``x`` into two disjoint halves.

    The distance a set has to itself through sampling alone: the noise floor
    under which a distance between two cultures means nothing.  Halves have
    ``half_size`` rows (default ``len(x) // 2``).  Distances such as FD shrink
    with sample size, so a floor from halves of n/2 rows is conservative
    (higher) for comparisons of full sets of n rows; compare at equal sizes
    for an exact baseline.  ``low``/``high`` are the ``ci`` percentiles.
    """
    _check_ci(ci)
    if n_rep < 1:
        raise ValueError(f"n_rep must be >= 1, got {n_rep}")
    x = np.asarray(x)
    half_size = len(x) // 2 if half_size is None else int(half_size)
    if half_size < 2 or 2 * half_size > len(x):
        raise ValueError(f"split_half_floor needs two disjoint halves of at least 2 rows: {len(x)} rows, half_size {half_size}")
    rng = np.random.default_rng(seed)

    def splits():
        for _ in range(n_rep):
            order = rng.permutation(len(x))
            yield x[order[:half_size]], x[order[half_size : 2 * half_size]]

    values = _call_collecting_warnings(fn, splits(), "split-half replicates")
    low, high = _interval(values, ci, "split-half replicates")
    finite = values[np.isfinite(values)]
    return (float(finite.mean()) if finite.size else math.nan), low, high


# --------------------------------------------------------------------------- nearest neighbours, memorisation

# Rows of squared distances computed at once: bounds memory to ~32 MB.
_NN_BLOCK_ENTRIES = 2**22


def nearest_neighbour_distances(query, reference, exclude_self: bool = False, return_index: bool = False):
    """Euclidean distance from each query row to its nearest reference row: (n_query,).

    ``exclude_self=True`` is for a set against itself (``query`` and
    ``reference`` the same rows in the same order): row i is not matched with
    reference row i, while other, duplicate rows still count (distance 0).
    With ``return_index=True`` also returns the index of the nearest reference row.
    """
    query = _feature_matrix(query, "query", min_rows=1)
    reference = _feature_matrix(reference, "reference", min_rows=2 if exclude_self else 1)
    _same_width(query, reference)
    if exclude_self and query.shape != reference.shape:
        raise ValueError(f"exclude_self needs query and reference to be the same set, got shapes {query.shape} and {reference.shape}")
    ref_sq = np.einsum("ij,ij->i", reference, reference)
    block = max(1, _NN_BLOCK_ENTRIES // len(reference))
    nearest = np.empty(len(query), dtype=np.int64)
    for start in range(0, len(query), block):
        chunk = query[start : start + block]
        # ||q||^2 is the same for every candidate of a row, so it is left out of the argmin
        scores = ref_sq[None, :] - 2.0 * chunk @ reference.T
        if exclude_self:
            rows = np.arange(len(chunk))
            scores[rows, start + rows] = np.inf
        nearest[start : start + len(chunk)] = scores.argmin(axis=1)
    # the expansion above loses precision for near-identical rows: recompute the winners directly,
    # so that an exact copy has distance exactly 0
    distances = np.sqrt(np.sum((query - reference[nearest]) ** 2, axis=1))
    return (distances, nearest) if return_index else distances


def memorisation(generated, train, heldout) -> dict[str, float]:
    """Does a generator copy its training set?  Nearest-neighbour distances in one feature space.

    Returns medians of the NN distance to the train set from generated and
    from held-out samples, their ratio (about 1 for a generator that
    generalises like unseen real data, well below 1 when it reproduces
    training images), and the fraction of generated samples closer to the
    train set than the 5th percentile of held-out samples (about 0.05 without
    copying).
    """
    generated = _feature_matrix(generated, "generated", min_rows=1)
    train = _feature_matrix(train, "train", min_rows=1)
    heldout = _feature_matrix(heldout, "heldout", min_rows=1)
    _same_width(generated, train)
    _same_width(heldout, train)
    generated_nn = nearest_neighbour_distances(generated, train)
    heldout_nn = nearest_neighbour_distances(heldout, train)
    generated_median, heldout_median = float(np.median(generated_nn)), float(np.median(heldout_nn))
    if heldout_median > 0:
        ratio = generated_median / heldout_median
    else:
        warnings.warn(
            "memorisation: half or more of the held-out samples equal a train sample (median NN distance 0); ratio is NaN", RuntimeWarning, stacklevel=2
        )
        ratio = math.nan
    heldout_p05 = float(np.quantile(heldout_nn, 0.05))
    return {
        "median_nn_generated_train": generated_median,
        "median_nn_heldout_train": heldout_median,
        "ratio": ratio,
        "p05_nn_heldout_train": heldout_p05,
        "frac_generated_below_heldout_p05": float(np.mean(generated_nn < heldout_p05)),
        "n_generated": len(generated),
        "n_train": len(train),
        "n_heldout": len(heldout),
    }
