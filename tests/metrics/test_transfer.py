"""Transfer measures (ganstyle.metrics.transfer)."""

import numpy as np
import pytest

from ganstyle.metrics import transfer


def test_bootstrap_mean_interval_brackets_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small, large = rng.normal(3, 1, 20), rng.normal(3, 1, 2000)
    value, low, high = transfer.bootstrap_mean(small, 200, seed=0)
    assert value == pytest.approx(small.mean()) and low < value < high
    _, low_l, high_l = transfer.bootstrap_mean(large, 200, seed=0)
    assert high_l - low_l < (high - low) / 4
    assert transfer.bootstrap_mean([2.0, 2.0], 10, 0) == (2.0, 2.0, 2.0)


def test_grey_level_differences_per_image():
    x = np.zeros((2, 2, 2, 1), np.uint8)
    y = x.copy()
    y[0] = 255
    y[1, 0, 0] = 10
    np.testing.assert_allclose(transfer.grey_level_differences(x, y), [255.0, 2.5])
    np.testing.assert_allclose(transfer.grey_level_differences(y, x), [255.0, 2.5])  # no uint8 wrap-around


def test_reference_changes_are_rms_in_scale_units():
    before = np.array([[0.0, 0.0], [1.0, 1.0]])
    after = np.array([[2.0, 0.0], [1.0, 4.0]])
    scale = np.array([2.0, 3.0])
    np.testing.assert_allclose(transfer.reference_changes(before, after, scale), [np.sqrt(0.5), np.sqrt(0.5)])
    np.testing.assert_allclose(transfer.pooled_scale(np.array([[1.0, 5.0]]), np.array([[3.0, 5.0]])), [1.0, 1.0])


def test_critic_auc_is_half_when_translations_score_like_real_images():
    rng = np.random.default_rng(0)
    real = rng.normal(0, 1, 200)
    measures = transfer.critic_measures(real, real.copy(), real - 10, n_boot=50, seed=0)
    assert measures["critic_auc"][0] == pytest.approx(0.5)
    assert measures["critic_auc_untranslated"][0] == 1.0  # untranslated images all score lower: told apart
    low, high = measures["critic_auc"][1:]
    assert low < 0.5 < high


def test_feature_measures_kid_drops_when_translations_match_the_target():
    rng = np.random.default_rng(0)
    source, target = rng.normal(0, 1, (60, 5)), rng.normal(3, 1, (60, 5))
    translated = rng.normal(3, 1, (60, 5))
    measures = transfer.feature_measures(source, translated, target, transfer.pooled_scale(source, target), n_boot=20, seed=0)
    assert measures["kid"][0] < measures["kid_untranslated"][0] / 10
    assert measures["effort_reference"][0] > 0.5
