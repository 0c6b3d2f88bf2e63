import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from ganstyle.metrics.classification import mann_whitney_u, roc_auc


def pair_count_auc(pos, neg):
    """P(pos > neg) + 0.5 P(pos == neg) by counting every pair."""
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(4))
def test_roc_auc_with_ties_matches_sklearn_and_pair_counting(seed):
    rng = np.random.default_rng(seed)
    pos = rng.integers(0, 6, size=rng.integers(1, 40)).astype(float) + 0.5  # coarse scores: many ties
    neg = rng.integers(0, 6, size=rng.integers(1, 40)).astype(float)
    neg[: len(neg) // 2] += 0.5
    expected = roc_auc_score(np.r_[np.ones(len(pos)), np.zeros(len(neg))], np.r_[pos, neg])
    assert roc_auc(pos, neg) == pytest.approx(expected, rel=1e-12)
    assert roc_auc(pos, neg) == pytest.approx(pair_count_auc(pos, neg), rel=1e-12)


def test_roc_auc_continuous_scores_match_sklearn():
    rng = np.random.default_rng(9)
    pos, neg = rng.normal(0.5, 1, 500), rng.normal(0, 1, 700)
    expected = roc_auc_score(np.r_[np.ones(500), np.zeros(700)], np.r_[pos, neg])
    assert roc_auc(pos, neg) == pytest.approx(expected, rel=1e-12)


def test_roc_auc_extremes():
    assert roc_auc([3, 4, 5], [0, 1, 2]) == 1.0
    assert roc_auc([0, 1], [2, 3, 4]) == 0.0
    assert roc_auc([1, 1, 1], [1, 1]) == 0.5
    assert mann_whitney_u([2, 3], [1, 2]) == 3.5  # (2>1) + 0.5 (2=2) + (3>1) + (3>2)


@pytest.mark.parametrize("pos,neg,match", [([], [1.0], "no scores"), ([1.0, np.nan], [0.0], "NaN")])
def test_roc_auc_bad_input(pos, neg, match):
    with pytest.raises(ValueError, match=match):
        roc_auc(pos, neg)
