"""Classification: area under the ROC curve of scores, and a cross-validated linear probe's confusion.

Used e.g. for "how well does culture A's critic tell A's held-out images from
B's?".  The AUC is the Mann-Whitney probability P(score_pos > score_neg) +
0.5 P(score_pos == score_neg), computed from average ranks, so ties are
handled exactly and no threshold sweep is needed.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata


def _scores(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        raise ValueError(f"{name}: no scores")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: {int((~np.isfinite(array)).sum())} score(s) are NaN or infinite")
    return array


def mann_whitney_u(pos_scores, neg_scores) -> float:
    """U statistic of the positives: number of (pos, neg) pairs with pos > neg, ties counting 1/2."""
    pos, neg = _scores(pos_scores, "pos_scores"), _scores(neg_scores, "neg_scores")
    ranks = rankdata(np.concatenate([pos, neg]), method="average")  # ties get their average rank
    return float(ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2.0)


def roc_auc(pos_scores, neg_scores) -> float:
    """Area under the ROC curve of scores where positives should score higher.

    0.5 is chance, 1.0 perfect separation, 0.0 perfectly inverted.
    """
    pos, neg = _scores(pos_scores, "pos_scores"), _scores(neg_scores, "neg_scores")
    return mann_whitney_u(pos, neg) / (pos.size * neg.size)


def roc_auc_bootstrap(pos_scores, neg_scores, n_boot: int = 200, seed: int = 0, ci: float = 0.95) -> tuple[float, float, float]:
    """``bootstrap(roc_auc, pos, neg, ...)`` from one table of pairwise wins: each replicate averages
    its rows and columns (the same resamples in the same order, the same ties counted as half)."""
    from ganstyle.metrics.distances import _check_ci, _interval

    pos, neg = _scores(pos_scores, "pos_scores"), _scores(neg_scores, "neg_scores")
    _check_ci(ci)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    wins = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    rng = np.random.default_rng(seed)
    replicates = np.empty(n_boot)
    for i in range(n_boot):
        ip = rng.integers(0, pos.size, pos.size)
        ineg = rng.integers(0, neg.size, neg.size)
        # a resample's AUC: the mean of its rows' and columns' wins (counts of each index times its wins)
        replicates[i] = np.bincount(ip, minlength=pos.size) @ wins @ np.bincount(ineg, minlength=neg.size) / (pos.size * neg.size)
    low, high = _interval(replicates, ci, "bootstrap replicates")
    return roc_auc(pos, neg), low, high


def probe_predictions(x: np.ndarray, labels: np.ndarray, folds: int, c: float, seed: int) -> np.ndarray:
    """Out-of-fold predictions of a multinomial logistic regression on ``x`` (stratified k-fold CV).

    Raises ValueError if a class has fewer than 2 rows.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    smallest = int(np.unique(labels, return_counts=True)[1].min())
    if smallest < 2:
        raise ValueError("a culture has fewer than 2 images: no cross-validated probe")
    if smallest < folds:
        warnings.warn(f"linear probe: smallest culture has {smallest} images, using {smallest} folds instead of {folds}", RuntimeWarning, stacklevel=2)
        folds = smallest
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return cross_val_predict(model, x, labels, cv=splitter)


def confusion_rates(true_index: np.ndarray, predicted_index: np.ndarray, groups: Sequence[np.ndarray]) -> np.ndarray:
    """(K, K): row a = share of culture a's rows (``groups[a]``, may repeat) predicted as each culture."""
    k = len(groups)
    rates = np.zeros((k, k))
    for a, rows in enumerate(groups):
        rates[a] = np.bincount(predicted_index[rows], minlength=k)[:k] / len(rows)
    return rates


def probe_distance(confusion: np.ndarray) -> np.ndarray:
    """Pairwise distance from a confusion matrix, restricted to each pair's 2 x 2 block.

    ``1 - 2 (C_ab + C_ba) / (C_aa + C_ab + C_ba + C_bb)``: 0 when the probe mixes
    a and b up as often as it gets them right, 1 when it never mixes them up.
    A pair the probe assigns entirely to other cultures gives no evidence of
    separation and is set to 0 with a warning.  Clipped to [0, 1].
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    mixed = confusion + confusion.T
    within = np.diag(confusion)[:, None] + np.diag(confusion)[None, :] + mixed
    empty = within <= 0
    np.fill_diagonal(empty, False)
    if empty.any():
        warnings.warn(f"linear probe: {int(empty.sum()) // 2} pair(s) never predicted as either culture; distance set to 0", RuntimeWarning, stacklevel=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        distance = np.where(empty, 0.0, 1.0 - 2.0 * mixed / np.where(empty, 1.0, within))
    distance = np.clip(distance, 0.0, 1.0)
    np.fill_diagonal(distance, 0.0)
    return distance
