"""All-pairs distance matrices against the pair-by-pair definitions."""

import numpy as np
import pytest

from ganstyle.metrics.distances import frechet_distance, polynomial_kernel, polynomial_mmd2
from ganstyle.metrics.matrices import count_matrix, crossnobis_matrix, frechet_matrix, kid_matrix, kid_table, noise_whitener


def _sets(rng, sizes=(30, 40, 25), d=6, shifts=(0.0, 0.5, 1.5)):
    x = np.vstack([rng.normal(size=(n, d)) + s for n, s in zip(sizes, shifts)])
    starts = np.cumsum((0,) + sizes)
    return x, [np.arange(starts[k], starts[k + 1]) for k in range(len(sizes))]


def test_count_matrix_counts_repeats():
    counts = count_matrix([np.array([0, 0, 2]), np.array([1])], 3)
    np.testing.assert_array_equal(counts, [[2, 0, 1], [0, 1, 0]])


@pytest.mark.parametrize("resampled", [False, True])
def test_kid_matrix_equals_pairwise_unbiased_mmd(resampled):
    rng = np.random.default_rng(0)
    x, sets = _sets(rng)
    if resampled:  # bootstrap resamples repeat rows; copies must not be paired with themselves
        sets = [s[rng.integers(0, len(s), len(s))] for s in sets]
    matrix = kid_matrix(polynomial_kernel(x, x), sets)
    for a in range(3):
        for b in range(3):
            expected = 0.0 if a == b else polynomial_mmd2(x[sets[a]], x[sets[b]])
            assert matrix[a, b] == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_kid_table_marks_whether_each_generator_is_closest_to_its_own_culture():
    rng = np.random.default_rng(0)
    centres = {"a": 0.0, "b": 5.0, "c": 10.0}
    heldout = {c: rng.normal(mu, 1, (30, 4)) for c, mu in centres.items()}
    samples = {"a": rng.normal(0, 1, (40, 4)), "b": rng.normal(5, 1, (40, 4)), "c": rng.normal(5.2, 1, (40, 4))}
    table = kid_table(samples, heldout, n_boot=5, seed=0)
    assert len(table) == 9
    own = table.groupby("generator_culture")["own_is_smallest"].first()
    assert own.to_dict() == {"a": True, "b": True, "c": False}  # c's generator imitates b
    assert (table.loc[table.generator_culture == table.heldout_culture, "kid_minus_own"] == 0).all()
    # the difference's interval: a is clearly nearest its own; c clearly nearer b than its own culture
    difference = table.set_index(["generator_culture", "heldout_culture"])[["kid_minus_own_ci_low", "kid_minus_own_ci_high"]]
    assert (difference.loc[("a", "b")] > 0).all() and (difference.loc[("c", "b")] < 0).all()
    assert (difference.loc[("a", "a")] == 0).all()
    assert "kid_minus_own_ci_low" not in kid_table(samples, heldout, n_boot=0, seed=0)


def test_kid_table_interval_of_the_difference_holds_zero_for_two_cultures_alike():
    rng = np.random.default_rng(3)
    heldout = {"a": rng.normal(0, 1, (30, 4)), "twin": rng.normal(0, 1, (30, 4))}
    table = kid_table({"a": rng.normal(0, 1, (40, 4))}, heldout, n_boot=50, seed=0).set_index("heldout_culture")
    assert table.loc["twin", "kid_minus_own_ci_low"] < 0 < table.loc["twin", "kid_minus_own_ci_high"]


def test_frechet_matrix_equals_pairwise_fd():
    rng = np.random.default_rng(1)
    x, sets = _sets(rng)
    matrix = frechet_matrix(x, sets)
    assert matrix[0, 2] == pytest.approx(frechet_distance(x[sets[0]], x[sets[2]]), rel=1e-9)
    np.testing.assert_allclose(matrix, matrix.T)


def test_crossnobis_is_unbiased_for_the_squared_distance_of_means():
    rng = np.random.default_rng(2)
    d, n = 8, 20
    delta = np.zeros(d)
    delta[0] = 1.0  # true squared distance per feature: 1 / d
    same, apart, naive = [], [], []
    for rep in range(300):
        x = np.vstack([rng.normal(size=(n, d)), rng.normal(size=(n, d)), rng.normal(size=(n, d)) + delta])
        sets = [np.arange(0, n), np.arange(n, 2 * n), np.arange(2 * n, 3 * n)]
        matrix = crossnobis_matrix(x, sets, folds=4, seed=rep)
        same.append(matrix[0, 1])
        apart.append(matrix[0, 2])
        naive.append(np.sum((x[sets[0]].mean(0) - x[sets[1]].mean(0)) ** 2) / d)
    assert abs(np.mean(same)) < 0.01  # no bias for one distribution ...
    assert np.mean(naive) == pytest.approx(2 / n, rel=0.2)  # ... where the plain distance of means has 2/n
    assert np.mean(apart) == pytest.approx(1 / d, rel=0.15)
    assert min(same) < 0  # unbiased means it can be negative


def test_crossnobis_keeps_copies_of_a_row_in_one_part():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 5))
    sets = [np.repeat(np.arange(0, 20), 3), np.repeat(np.arange(20, 40), 3)]  # every row three times
    values = [crossnobis_matrix(x, sets, folds=4, seed=s)[0, 1] for s in range(200)]
    plain = [crossnobis_matrix(x, [np.arange(0, 20), np.arange(20, 40)], folds=4, seed=s)[0, 1] for s in range(200)]
    # copies pooled within parts: the same estimate as without copies, not inflated by self-pairs
    assert np.mean(values) == pytest.approx(np.mean(plain), abs=0.02)


def test_noise_whitener_gives_identity_within_covariance():
    rng = np.random.default_rng(4)
    rotation = np.linalg.qr(rng.normal(size=(4, 4)))[0]
    mixing = np.diag([1.0, 1.5, 2.0, 3.0]) @ rotation  # well conditioned: Ledoit-Wolf barely shrinks
    x = np.vstack([rng.normal(size=(500, 4)) @ mixing + 3 * k for k in range(2)])
    labels = np.repeat([0, 1], 500)
    white = x @ noise_whitener(x, labels)
    residuals = np.vstack([white[labels == k] - white[labels == k].mean(0) for k in range(2)])
    np.testing.assert_allclose(np.cov(residuals, rowvar=False), np.eye(4), atol=0.1)
