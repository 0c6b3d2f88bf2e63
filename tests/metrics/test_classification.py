import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from ganstyle.metrics.classification import confusion_rates, mann_whitney_u, probe_distance, probe_predictions, roc_auc


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


def test_confusion_rates_and_probe_distance():
    true = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
    pred = np.array([0, 0, 1, 1, 1, 1, 0, 0, 2, 2])
    groups = [np.flatnonzero(true == k) for k in range(3)]
    conf = confusion_rates(true, pred, groups)
    np.testing.assert_allclose(conf, [[0.5, 0.5, 0], [0.5, 0.5, 0], [0, 0, 1]])
    dist = probe_distance(conf)
    assert dist[0, 1] == pytest.approx(0.0)  # mixed up as often as right: indistinguishable
    assert dist[0, 2] == pytest.approx(1.0) and dist[1, 2] == pytest.approx(1.0)
    # a bootstrap resample that repeats rows counts them repeatedly
    conf_rep = confusion_rates(true, pred, [np.array([0, 0, 0, 2]), groups[1], groups[2]])
    np.testing.assert_allclose(conf_rep[0], [0.75, 0.25, 0])


def test_probe_distance_warns_for_pairs_never_predicted():
    conf = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    with pytest.warns(RuntimeWarning, match="never predicted"):
        dist = probe_distance(conf)
    assert dist[0, 1] == 0.0 and np.isfinite(dist).all()


def test_probe_predictions_separate_separable_cultures():
    rng = np.random.default_rng(2)
    x = np.vstack([rng.normal(size=(20, 4)), rng.normal(size=(20, 4)) + 5.0])
    labels = np.repeat([0, 1], 20)
    predicted = probe_predictions(x, labels, folds=4, c=1.0, seed=0)
    assert (predicted == labels).mean() > 0.95
    with pytest.raises(ValueError, match="fewer than 2"):
        probe_predictions(x[:21], np.r_[labels[:20], 1], folds=4, c=1.0, seed=0)


def test_roc_auc_bootstrap_equals_the_generic_bootstrap_with_ties():
    from ganstyle.metrics.classification import roc_auc_bootstrap
    from ganstyle.metrics.distances import bootstrap

    rng = np.random.default_rng(0)
    pos, neg = np.round(rng.normal(size=30) + 0.4, 1), np.round(rng.normal(size=25), 1)  # rounded: many ties
    np.testing.assert_allclose(roc_auc_bootstrap(pos, neg, n_boot=100, seed=4), bootstrap(roc_auc, pos, neg, n_boot=100, seed=4), rtol=1e-12)
    assert roc_auc_bootstrap(pos, neg, n_boot=10)[0] == pytest.approx(roc_auc_score(np.r_[np.ones(30), np.zeros(25)], np.r_[pos, neg]))
