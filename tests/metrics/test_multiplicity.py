import numpy as np
from scipy.stats import false_discovery_control

from ganstyle.metrics.multiplicity import bh_q_values


def test_q_values_by_hand():
    # sorted p 0.005, 0.01, 0.03, 0.04 of m = 4: p * m / rank = 0.02, 0.02, 0.04, 0.04 (already monotone)
    np.testing.assert_allclose(bh_q_values([0.01, 0.04, 0.03, 0.005]), [0.02, 0.04, 0.04, 0.02])


def test_a_larger_p_can_lower_an_earlier_q():
    # 0.02 * 3 / 2 = 0.03 would exceed the next one's 0.025 * 3 / 3: the step-up takes the minimum
    np.testing.assert_allclose(bh_q_values([0.02, 0.025, 0.001]), [0.025, 0.025, 0.003])


def test_nan_is_not_a_test_and_stays_nan():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=30)
    with_nan = np.insert(p, [3, 10], np.nan)
    q = bh_q_values(with_nan)
    assert np.isnan(q[[3, 11]]).all()
    np.testing.assert_allclose(q[np.isfinite(q)], false_discovery_control(p, method="bh"))
    assert (q[np.isfinite(q)] >= p - 1e-15).all()


def test_no_p_values():
    assert bh_q_values([]).shape == (0,) and np.isnan(bh_q_values([np.nan, np.nan])).all()
