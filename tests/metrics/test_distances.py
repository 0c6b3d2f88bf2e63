"""Distances against independent float64 computations written differently from the module."""

import itertools
import warnings

import numpy as np
import pytest
from scipy import linalg
from scipy.spatial.distance import cdist

from ganstyle.metrics import distances
from ganstyle.metrics.distances import (
    BootstrapBiasWarning,
    SingularCovarianceWarning,
    bootstrap,
    frechet_distance,
    gaussian_frechet_distance,
    kid,
    kid_subsets,
    memorisation,
    nearest_neighbour_distances,
    polynomial_mmd2,
    split_half_floor,
)

RTOL = 1e-5


def _psd_sqrt(cov):
    """Symmetric PSD square root by eigen-decomposition (exact for singular matrices too)."""
    w, v = np.linalg.eigh(cov)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def reference_fd(x, y, sqrt=linalg.sqrtm):
    """FD with Tr((C1 C2)^1/2) from the eigenvalues of sqrt(C1) C2 sqrt(C1)."""
    c1, c2 = np.cov(x, rowvar=False, ddof=1), np.cov(y, rowvar=False, ddof=1)
    c1, c2 = np.atleast_2d(c1), np.atleast_2d(c2)
    s1 = np.real(sqrt(c1))
    eig = np.linalg.eigvalsh(s1 @ c2 @ s1)
    diff = x.mean(axis=0) - y.mean(axis=0)
    return float(diff @ diff + np.trace(c1) + np.trace(c2) - 2 * np.sqrt(np.clip(eig, 0, None)).sum())


def correlated(rng, n, d, shift=0.0):
    return rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + shift


# --------------------------------------------------------------------------- Fréchet distance


@pytest.mark.parametrize("n,m,d", [(50, 80, 10), (400, 300, 32), (3, 200, 2)])
def test_frechet_matches_sqrtm_reference(n, m, d):
    rng = np.random.default_rng(n)
    x, y = correlated(rng, n, d), correlated(rng, m, d, shift=0.7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # well-conditioned: no warning
        value = frechet_distance(x, y)
    assert value == pytest.approx(reference_fd(x, y), rel=RTOL)


def test_frechet_one_dimension_closed_form():
    # between 1-D Gaussians FD = (mu1 - mu2)^2 + (sigma1 - sigma2)^2
    rng = np.random.default_rng(0)
    x, y = rng.normal(1.0, 2.0, size=(40, 1)), rng.normal(-0.5, 0.5, size=(70, 1))
    expected = (x.mean() - y.mean()) ** 2 + (x.std(ddof=1) - y.std(ddof=1)) ** 2
    assert frechet_distance(x, y) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("n,m,d", [(20, 30, 64), (5, 200, 16), (200, 9, 16)])
def test_frechet_singular_covariance_warns_and_is_exact(n, m, d):
    rng = np.random.default_rng(d + n)
    x, y = correlated(rng, n, d), correlated(rng, m, d, shift=0.5)
    with pytest.warns(SingularCovarianceWarning, match="singular"):
        value = frechet_distance(x, y)
    assert np.isfinite(value) and isinstance(value, float)
    assert value == pytest.approx(reference_fd(x, y, sqrt=_psd_sqrt), rel=RTOL)


def test_frechet_identical_sets_are_zero():
    rng = np.random.default_rng(1)
    x = correlated(rng, 300, 20)
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9 * np.trace(np.cov(x, rowvar=False)))
    small = correlated(rng, 10, 50)  # n < d: singular, still exactly 0 and no NaN
    with pytest.warns(SingularCovarianceWarning):
        assert frechet_distance(small, small) == pytest.approx(0.0, abs=1e-9 * np.trace(np.cov(small, rowvar=False)))


def test_frechet_constant_feature():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(100, 4)), rng.normal(size=(120, 4)) + 0.3
    x[:, 2], y[:, 2] = 5.0, 6.0
    with pytest.warns(SingularCovarianceWarning):
        value = frechet_distance(x, y)
    # a constant feature adds only its squared mean difference
    keep = [0, 1, 3]
    assert value == pytest.approx(reference_fd(x[:, keep], y[:, keep]) + 1.0, rel=RTOL)


def test_frechet_eps_is_pytorch_fid_fallback():
    rng = np.random.default_rng(3)
    x, y = correlated(rng, 8, 12), correlated(rng, 9, 12, shift=1.0)
    eps = 1e-3
    c1, c2 = np.cov(x, rowvar=False) + eps * np.eye(12), np.cov(y, rowvar=False) + eps * np.eye(12)
    s1 = linalg.sqrtm(c1)
    diff = x.mean(0) - y.mean(0)
    expected = diff @ diff + np.trace(c1) + np.trace(c2) - 2 * np.sqrt(np.linalg.eigvalsh(s1 @ c2 @ s1)).sum()
    assert frechet_distance(x, y, eps=eps) == pytest.approx(expected, rel=RTOL)


def test_frechet_invariant_to_rotation_and_translation():
    rng = np.random.default_rng(4)
    x, y = correlated(rng, 100, 6), correlated(rng, 90, 6, shift=0.4)
    rotation, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    moved = frechet_distance(x @ rotation + 3.0, y @ rotation + 3.0)
    assert moved == pytest.approx(frechet_distance(x, y), rel=1e-9)


def test_gaussian_frechet_matches_sample_version():
    rng = np.random.default_rng(5)
    x, y = correlated(rng, 60, 5), correlated(rng, 70, 5, shift=-1)
    from_moments = gaussian_frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    assert from_moments == pytest.approx(frechet_distance(x, y), rel=1e-9)


@pytest.mark.parametrize(
    "x,y,match",
    [
        (np.ones((1, 3)), np.ones((5, 3)), "at least 2"),
        (np.ones((5, 3)), np.ones((5, 4)), "different numbers of features"),
        (np.full((5, 3), np.nan), np.ones((5, 3)), "NaN"),
        (np.ones(5), np.ones(5), "2-D"),
    ],
)
def test_frechet_bad_input(x, y, match):
    with pytest.raises(ValueError, match=match):
        frechet_distance(x, y)


# --------------------------------------------------------------------------- KID


def loop_mmd2(x, y, skip_identical=False):
    """Unbiased polynomial MMD^2 with explicit loops over pairs."""
    d = x.shape[1]

    def k(a, b):
        return (sum(float(p) * float(q) for p, q in zip(a, b)) / d + 1.0) ** 3

    def within(s):
        pairs = [(i, j) for i, j in itertools.permutations(range(len(s)), 2) if not (skip_identical and np.array_equal(s[i], s[j]))]
        return sum(k(s[i], s[j]) for i, j in pairs) / len(pairs)

    cross = sum(k(a, b) for a in x for b in y) / (len(x) * len(y))
    return within(x) + within(y) - 2 * cross


def test_polynomial_mmd2_matches_loops():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(7, 4)), rng.normal(size=(9, 4)) + 0.5
    assert polynomial_mmd2(x, y) == pytest.approx(loop_mmd2(x, y), rel=RTOL)


def test_kid_small_sets_use_all_samples():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(6, 3)) * 2
    mean, std = kid(x, y, subset_size=10, return_std=True)
    assert mean == pytest.approx(loop_mmd2(x, y), rel=RTOL)
    assert std == 0.0


@pytest.mark.parametrize("cache_entries", [2**24, 0])  # precomputed kernels, and per-subset products
def test_kid_subsets_match_loops(monkeypatch, cache_entries):
    monkeypatch.setattr(distances, "_KERNEL_CACHE_ENTRIES", cache_entries)
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(12, 3)), rng.normal(size=(15, 3)) + 0.3
    values = kid_subsets(x, y, subsets=4, subset_size=6, seed=3)
    # the documented scheme: per subset, sorted draws without replacement, x first
    draws = np.random.default_rng(3)
    expected = []
    for _ in range(4):
        ix = np.sort(draws.choice(12, 6, replace=False))
        iy = np.sort(draws.choice(15, 6, replace=False))
        expected.append(loop_mmd2(x[ix], y[iy]))
    np.testing.assert_allclose(values, expected, rtol=RTOL)
    mean, std = kid(x, y, subsets=4, subset_size=6, seed=3, return_std=True)
    assert mean == pytest.approx(np.mean(expected), rel=RTOL)
    assert std == pytest.approx(np.std(expected), rel=RTOL)


def test_kid_deterministic_by_seed():
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(60, 5)), rng.normal(size=(50, 5))
    assert kid(x, y, subsets=5, subset_size=20, seed=1) == kid(x, y, subsets=5, subset_size=20, seed=1)
    assert kid(x, y, subsets=5, subset_size=20, seed=1) != kid(x, y, subsets=5, subset_size=20, seed=2)


def test_kid_identical_sets_near_zero_and_distinct_sets_positive():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(200, 8))
    same = kid(x, x)
    far = kid(x, rng.normal(size=(200, 8)) + 1.0)
    assert np.isfinite(same) and abs(same) < 0.02 * far


def test_kid_leaves_out_pairs_of_repeated_rows():
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(7, 3))
    assert kid(x, y, distinct_pairs=True) == kid(x, y, distinct_pairs=False)  # no repeats: same estimator
    x_rep = x[[0, 0, 1, 2, 2, 2, 3, 4]]
    assert polynomial_mmd2(x_rep, y) == pytest.approx(loop_mmd2(x_rep, y, skip_identical=True), rel=RTOL)
    assert polynomial_mmd2(x_rep, y, distinct_pairs=False) == pytest.approx(loop_mmd2(x_rep, y), rel=RTOL)
    constant = np.ones((5, 3))  # one distinct row: the within-set mean is k(a, a)
    assert np.isfinite(polynomial_mmd2(constant, y))


def test_kid_bootstrap_is_not_biased_by_repeated_rows():
    # same distribution: the percentile interval must contain 0; without
    # distinct_pairs, self-pairs of repeated rows push it far above 0
    rng = np.random.default_rng(12)
    x, y = rng.normal(size=(150, 8)), rng.normal(size=(150, 8))
    value, low, high = bootstrap(kid, x, y, n_boot=40, seed=0)
    assert low <= 0.0 <= high and low <= value <= high

    def kid_with_self_pairs(a, b):
        return kid(a, b, distinct_pairs=False)

    with pytest.warns(BootstrapBiasWarning):
        _, biased_low, _ = bootstrap(kid_with_self_pairs, x, y, n_boot=40, seed=0)
    assert biased_low > 0.0


def test_kid_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        kid(np.ones((1, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="subset_size"):
        kid(np.ones((4, 2)), np.ones((4, 2)), subset_size=1)


# --------------------------------------------------------------------------- bootstrap and noise floor


def mean_difference(a, b):
    return float(np.mean(a) - np.mean(b))


def test_bootstrap_interval_matches_standard_error():
    rng = np.random.default_rng(13)
    x, y = rng.normal(1.0, 1.0, 400), rng.normal(0.0, 2.0, 300)
    value, low, high = bootstrap(mean_difference, x, y, n_boot=400, seed=0)
    assert value == mean_difference(x, y)
    assert low < value < high
    se = np.sqrt(x.var(ddof=1) / len(x) + y.var(ddof=1) / len(y))
    assert (high - low) == pytest.approx(2 * 1.959964 * se, rel=0.2)


def test_bootstrap_narrows_with_n_and_contains_value():
    rng = np.random.default_rng(14)
    widths = []
    for n in (100, 1000):
        x, y = rng.normal(size=(n, 4)), rng.normal(size=(n, 4)) + 1.0
        value, low, high = bootstrap(frechet_distance, x, y, n_boot=50, seed=0)
        assert low <= value <= high
        widths.append(high - low)
    assert widths[1] < 0.5 * widths[0]


def test_bootstrap_deterministic_and_basic_is_reflection():
    rng = np.random.default_rng(15)
    x, y = rng.normal(size=50), rng.normal(size=60)
    first = bootstrap(mean_difference, x, y, n_boot=30, seed=7)
    assert first == bootstrap(mean_difference, x, y, n_boot=30, seed=7)
    assert first != bootstrap(mean_difference, x, y, n_boot=30, seed=8)
    value, low, high = first
    basic = bootstrap(mean_difference, x, y, n_boot=30, seed=7, method="basic")
    assert basic == pytest.approx((value, 2 * value - high, 2 * value - low))


def test_bootstrap_of_biased_frechet_distance():
    # equal distributions, small n: FD is biased upwards and its replicates more so.
    rng = np.random.default_rng(16)
    x, y = rng.normal(size=(100, 8)), rng.normal(size=(100, 8))
    with pytest.warns(BootstrapBiasWarning, match="basic"):
        value, low, _ = bootstrap(frechet_distance, x, y, n_boot=40, seed=0)
    assert low > value
    _, basic_low, basic_high = bootstrap(frechet_distance, x, y, n_boot=40, seed=0, method="basic")
    assert basic_low <= 0.0 <= basic_high  # covers the true distance 0


def test_bootstrap_reports_replicate_warnings_once():
    rng = np.random.default_rng(17)
    x, y = rng.normal(size=(6, 10)), rng.normal(size=(6, 10))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bootstrap(frechet_distance, x, y, n_boot=25, seed=0)
    messages = [str(w.message) for w in caught if w.category is SingularCovarianceWarning]
    assert len(messages) == 2  # the full-set call, then one summary for the replicates
    assert "in 25 bootstrap replicates" in messages[1]


@pytest.mark.parametrize("kwargs,match", [({"ci": 1.0}, "ci"), ({"n_boot": 0}, "n_boot"), ({"method": "bca"}, "method")])
def test_bootstrap_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bootstrap(mean_difference, np.ones(3), np.ones(3), **kwargs)


def test_split_half_floor_uses_disjoint_halves():
    x = np.arange(21.0)[:, None]  # every row distinct
    seen = []

    def record(a, b):
        assert len(a) == len(b) == 10
        assert not set(a.ravel()) & set(b.ravel())
        seen.append(tuple(a.ravel()))
        return float(a.mean() - b.mean())

    mean, low, high = split_half_floor(record, x, n_rep=6, seed=0)
    assert len(set(seen)) == 6 and low <= mean <= high
    assert split_half_floor(record, x, n_rep=6, seed=0) == (mean, low, high)
    with pytest.raises(ValueError, match="half_size"):
        split_half_floor(record, x[:3])


def test_split_half_floor_is_the_same_size_distance_of_equal_distributions():
    rng = np.random.default_rng(18)
    x = rng.normal(size=(400, 5))
    floor, low, high = split_half_floor(frechet_distance, x, n_rep=10, seed=0)
    independent = [frechet_distance(rng.normal(size=(200, 5)), rng.normal(size=(200, 5))) for _ in range(10)]
    assert 0 < low <= floor <= high
    assert floor == pytest.approx(np.mean(independent), rel=0.5)
    assert frechet_distance(x, rng.normal(size=(400, 5)) + 1.0) > 10 * high


# --------------------------------------------------------------------------- nearest neighbours and memorisation


@pytest.mark.parametrize("block_entries", [2**22, 7])  # one block, and many small blocks
def test_nearest_neighbours_match_cdist(monkeypatch, block_entries):
    monkeypatch.setattr(distances, "_NN_BLOCK_ENTRIES", block_entries)
    rng = np.random.default_rng(19)
    query, reference = rng.normal(size=(23, 4)), rng.normal(size=(17, 4))
    pairwise = cdist(query, reference)
    distance, index = nearest_neighbour_distances(query, reference, return_index=True)
    np.testing.assert_allclose(distance, pairwise.min(axis=1), rtol=1e-12)
    np.testing.assert_array_equal(index, pairwise.argmin(axis=1))
    own = cdist(reference, reference)
    np.fill_diagonal(own, np.inf)
    np.testing.assert_allclose(nearest_neighbour_distances(reference, reference, exclude_self=True), own.min(axis=1), rtol=1e-12)


def test_nearest_neighbours_exact_copies_are_zero():
    rng = np.random.default_rng(20)
    reference = rng.normal(size=(30, 8)) + 1e4  # large norms: the dot-product expansion alone would not give 0
    assert np.all(nearest_neighbour_distances(reference[:5], reference) == 0.0)
    with_duplicate = np.vstack([reference, reference[:1]])
    nearest = nearest_neighbour_distances(with_duplicate, with_duplicate, exclude_self=True)
    assert nearest[0] == 0.0 and nearest[-1] == 0.0 and np.all(nearest[1:-1] > 0)
    with pytest.raises(ValueError, match="same set"):
        nearest_neighbour_distances(reference[:3], reference, exclude_self=True)


def test_memorisation_detects_copies():
    rng = np.random.default_rng(21)
    train, heldout = rng.normal(size=(300, 6)), rng.normal(size=(100, 6))
    fresh = memorisation(rng.normal(size=(100, 6)), train, heldout)
    copies = memorisation(train[:100] + rng.normal(scale=0.01, size=(100, 6)), train, heldout)
    assert 0.75 < fresh["ratio"] < 1.33 and fresh["frac_generated_below_heldout_p05"] < 0.2
    assert copies["ratio"] < 0.1 and copies["frac_generated_below_heldout_p05"] > 0.9
    assert copies["median_nn_heldout_train"] == pytest.approx(np.median(cdist(heldout, train).min(axis=1)))
    assert copies["n_generated"] == 100 and copies["n_train"] == 300
    with pytest.warns(RuntimeWarning, match="held-out"):
        assert np.isnan(memorisation(heldout, train, train[:50])["ratio"])


def test_kid_bootstrap_equals_the_generic_bootstrap_of_kid():
    """Kernels once, replicates by index: the same resamples, the same values (a repeated row included)."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 12)), rng.normal(size=(35, 12)) + 0.3
    x[5] = x[7]
    fast = distances.kid_bootstrap(x, y, n_boot=50, seed=3)
    slow = distances.bootstrap(lambda a, b: distances.kid(a, b, seed=3), x, y, n_boot=50, seed=3)
    np.testing.assert_allclose(fast, slow, rtol=1e-9)
    # sets larger than a KID subset go through the generic bootstrap of subset KID
    big = distances.kid_bootstrap(x, y, n_boot=5, seed=1, subset_size=20)
    np.testing.assert_allclose(big, distances.bootstrap(lambda a, b: distances.kid(a, b, subset_size=20, seed=1), x, y, n_boot=5, seed=1))
