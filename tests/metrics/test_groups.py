import numpy as np
import pytest

from ganstyle.metrics.groups import agreement, agreement_p_value, pair_kinds, within_across_auc, within_across_auc_replicates


def test_pair_kinds_count_each_pair_once_and_skip_unknown_groups():
    within, across = pair_kinds(["x", "x", "y", None])
    assert within.sum() == 1 and within[0, 1]
    assert across.sum() == 2 and across[0, 2] and across[1, 2]


def test_perfect_random_and_inverted_group_structure():
    groups = ["a", "a", "b", "b"]
    perfect = np.array([[0, 1, 5, 5], [1, 0, 5, 5], [5, 5, 0, 1], [5, 5, 1, 0]], float)
    assert within_across_auc(perfect, groups) == 1.0
    assert within_across_auc(-perfect + 6, groups) == 0.0
    assert within_across_auc(np.ones((4, 4)), groups) == 0.5  # all tied: chance


def test_auc_is_the_share_of_within_across_comparisons_won():
    groups = ["a", "a", "b", "b"]
    d = np.array([[0, 2, 1, 5], [2, 0, 5, 5], [1, 5, 0, 3], [5, 5, 3, 0]], float)
    # within: 2, 3; across: 1, 5, 5, 5 -> (2<1? no, 2<5 x3) + (3<1? no, 3<5 x3) = 6 of 8
    assert within_across_auc(d, groups) == pytest.approx(6 / 8)
    assert np.isnan(within_across_auc(d, ["a", "b", "c", "d"]))  # no within-group pairs
    np.testing.assert_allclose(within_across_auc_replicates(np.stack([d, d]), groups), [0.75, 0.75])


def test_adjusted_rand_indices_match_sklearn_row_by_row():
    from sklearn.metrics import adjusted_rand_score

    from ganstyle.metrics.groups import adjusted_rand_indices

    rng = np.random.default_rng(0)
    clusters = rng.integers(0, 4, 12)
    truths = np.stack([rng.permutation(np.repeat(["a", "b", "c", "d"], 3)) for _ in range(50)])
    np.testing.assert_allclose(adjusted_rand_indices(truths, clusters), [adjusted_rand_score(t, clusters) for t in truths], atol=1e-12)
    # trivial labellings, as sklearn: all in one cluster against all in one group -> 1
    assert adjusted_rand_indices(np.zeros((1, 5)), np.zeros(5))[0] == adjusted_rand_score(np.zeros(5), np.zeros(5))
    assert adjusted_rand_indices(np.arange(5)[None], np.zeros(5))[0] == pytest.approx(adjusted_rand_score(np.arange(5), np.zeros(5)))


def test_agreement_and_its_permutation_p_value():
    groups = ["x", "x", "y", "y", "z", "z", "w", "w"]
    assert agreement([1, 1, 2, 2, 3, 3, 4, 4], groups) == (pytest.approx(1.0), pytest.approx(1.0))
    assert agreement_p_value([1, 1, 2, 2, 3, 3, 4, 4], groups, 199, seed=0) < 0.05
    ari, _ = agreement([1, 2, 1, 2, 1, 2, 1, 2], groups)
    assert ari < 0.1
    assert agreement_p_value([1, 2, 1, 2, 1, 2, 1, 2], groups, 199, seed=0) > 0.3
    assert np.isnan(agreement_p_value([1, 1, 2, 2], ["a", "a", "b", "b"], 0, seed=0))
