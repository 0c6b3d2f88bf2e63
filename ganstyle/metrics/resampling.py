"""Bootstrap replicates of K cultures' images, their intervals, and split-half noise floors.

One bootstrap serves every measure: replicate ``r`` resamples each culture's
rows with replacement, the same resample in every space and seed, so that
replicate matrices of different spaces and seeds can be averaged and compared.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

from ganstyle.metrics.distances import split_half_floor


def culture_groups(labels: np.ndarray, cultures: Sequence[str]) -> list[np.ndarray]:
    """Row indices of each culture, in the order of ``cultures``."""
    labels = np.asarray(labels).astype(str)
    return [np.flatnonzero(labels == c) for c in cultures]


def bootstrap_resamples(groups: Sequence[np.ndarray], n_boot: int, seed: int) -> list[list[np.ndarray]]:
    """``n_boot`` replicates, each a with-replacement resample of every culture's rows (same sizes)."""
    rng = np.random.default_rng(seed)
    return [[group[rng.integers(0, len(group), len(group))] for group in groups] for _ in range(n_boot)]


def centre_replicates(value: np.ndarray, replicates: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """Shift every cell's replicates so that their median is the point estimate (then clip to ``bounds``).

    Resampling with replacement repeats images, which shrinks each culture's
    effective sample and biases FD upwards by far more than its sampling
    spread: plain percentile intervals of FD then lie entirely above the
    estimate.  The shift removes this location artefact of resampling and
    keeps the spread, so the interval describes sampling variability around
    the reported value.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells stay NaN
        shift = np.nanmedian(replicates, axis=0) - value
    return np.clip(replicates - np.where(np.isfinite(shift), shift, 0.0), *bounds)


def percentile_interval(replicates: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    """Element-wise percentile interval over the first axis, ignoring NaN replicates."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells stay NaN
        low, high = np.nanquantile(replicates, [(1 - ci) / 2, (1 + ci) / 2], axis=0)
    return low, high


def culture_floors(
    x: np.ndarray, groups: Sequence[np.ndarray], fn: Callable, n_rep: int, seed: int, ci: float, names: Sequence[str] | None = None
) -> np.ndarray:
    """(K, 3) split-half floor (mean, low, high) of ``fn`` per culture; NaN for cultures with fewer than 4 rows."""
    floors = np.full((len(groups), 3), np.nan)
    for k, rows in enumerate(groups):
        if len(rows) < 4:
            name = names[k] if names is not None else f"#{k + 1}"
            warnings.warn(f"split-half floor needs at least 4 images, culture {name} has {len(rows)}: floor is NaN", RuntimeWarning, stacklevel=2)
            continue
        floors[k] = split_half_floor(fn, x[rows], n_rep=n_rep, seed=seed + k, ci=ci)
    return floors


def relative_to_floor(values: np.ndarray, floor_means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(excess, ratio) of a (..., K, K) array over the pair's mean floor; ratio NaN where the floor is <= 0."""
    pair_floor = (floor_means[:, None] + floor_means[None, :]) / 2.0
    excess = values - pair_floor
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(pair_floor > 0, values / np.where(pair_floor > 0, pair_floor, 1.0), np.nan)
    k = len(floor_means)
    excess[..., np.arange(k), np.arange(k)] = 0.0
    ratio[..., np.arange(k), np.arange(k)] = np.nan
    return excess, ratio
