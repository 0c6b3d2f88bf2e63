"""Classification quality of scores: area under the ROC curve.

Used e.g. for "how well does culture A's critic tell A's held-out images from
B's?".  The AUC is the Mann-Whitney probability P(score_pos > score_neg) +
0.5 P(score_pos == score_neg), computed from average ranks, so ties are
handled exactly and no threshold sweep is needed.
"""

from __future__ import annotations

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
