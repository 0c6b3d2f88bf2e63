import math

import numpy as np
import pytest
import tensorflow as tf

from ganstyle.models import losses


def _value(x):
    return float(np.asarray(x))


@pytest.mark.parametrize("kind", losses.LOSSES)
def test_discriminator_loss_falls_as_it_separates_real_from_fake(kind):
    confused = _value(losses.discriminator_loss(kind, tf.zeros(4), tf.zeros(4)))
    right = _value(losses.discriminator_loss(kind, tf.fill([4], 2.0), tf.fill([4], -2.0)))
    wrong = _value(losses.discriminator_loss(kind, tf.fill([4], -2.0), tf.fill([4], 2.0)))
    assert right < confused < wrong


@pytest.mark.parametrize("kind", losses.LOSSES)
def test_generator_loss_falls_as_fakes_look_real(kind):
    fooled = _value(losses.generator_loss(kind, tf.fill([4], 2.0)))
    caught = _value(losses.generator_loss(kind, tf.fill([4], -2.0)))
    assert fooled < caught


@pytest.mark.parametrize("kind", losses.LOSSES)
def test_gradient_signs(kind):
    real, fake = tf.Variable([0.3, -0.2]), tf.Variable([0.1, -0.4])
    with tf.GradientTape(persistent=True) as tape:
        d_loss = losses.discriminator_loss(kind, real, fake)
        g_loss = losses.generator_loss(kind, fake)
    assert np.all(np.asarray(tape.gradient(d_loss, real)) < 0)  # D pushes real logits up
    assert np.all(np.asarray(tape.gradient(d_loss, fake)) > 0)  # and fake logits down
    assert np.all(np.asarray(tape.gradient(g_loss, fake)) < 0)  # G pushes fake logits up


def test_values_against_float64_formulas():
    real = np.array([1.5, -0.5, 3.0])
    fake = np.array([-2.0, 0.25, 0.5])
    softplus = lambda x: np.log1p(np.exp(x))  # noqa: E731
    bce_d = np.mean(softplus(-real)) + np.mean(softplus(fake))
    hinge_d = np.mean(np.maximum(0, 1 - real)) + np.mean(np.maximum(0, 1 + fake))
    assert _value(losses.discriminator_loss("bce", tf.constant(real, tf.float32), tf.constant(fake, tf.float32))) == pytest.approx(bce_d, rel=1e-6)
    assert _value(losses.discriminator_loss("hinge", tf.constant(real, tf.float32), tf.constant(fake, tf.float32))) == pytest.approx(hinge_d, rel=1e-6)
    assert _value(losses.generator_loss("bce", tf.constant(fake, tf.float32))) == pytest.approx(np.mean(softplus(-fake)), rel=1e-6)
    assert _value(losses.generator_loss("hinge", tf.constant(fake, tf.float32))) == pytest.approx(-np.mean(fake), rel=1e-6)


def test_bce_is_stable_for_extreme_logits():
    value = _value(losses.discriminator_loss("bce", tf.constant([200.0]), tf.constant([-200.0])))
    assert math.isfinite(value) and value == pytest.approx(0.0, abs=1e-6)
    assert _value(losses.generator_loss("bce", tf.constant([-200.0]))) == pytest.approx(200.0, rel=1e-6)


def test_r1_penalty_is_mean_squared_gradient_norm():
    grads = tf.constant(np.arange(2 * 2 * 2 * 1, dtype=np.float32).reshape(2, 2, 2, 1))
    expected = np.mean([0 + 1 + 4 + 9, 16 + 25 + 36 + 49])
    assert _value(losses.r1_penalty(grads)) == pytest.approx(expected)


def test_unknown_loss_is_rejected():
    with pytest.raises(ValueError, match="unknown loss"):
        losses.discriminator_loss("wasserstein", tf.zeros(1), tf.zeros(1))


def test_feature_matching_is_the_mean_squared_difference_of_batch_means():
    real = np.array([[1.0, 2.0], [3.0, 4.0]])
    fake = np.array([[0.0, 0.0], [0.0, 2.0], [0.0, 4.0]])
    expected = np.mean((real.mean(0) - fake.mean(0)) ** 2)  # ((2-0)^2 + (3-2)^2) / 2
    assert _value(losses.feature_matching(tf.constant(real, tf.float32), tf.constant(fake, tf.float32))) == pytest.approx(expected)
    assert _value(losses.feature_matching(tf.constant(real, tf.float32), tf.constant(real[::-1], tf.float32))) == 0.0


def test_mode_seeking_is_the_reciprocal_of_image_distance_per_noise_distance():
    first, second = tf.zeros((2, 4, 4, 1)), tf.fill((2, 4, 4, 1), 0.5)
    z1, z2 = tf.zeros((2, 8)), tf.fill((2, 8), 2.0)
    np.testing.assert_allclose(_value(losses.mode_seeking(first, second, z1, z2)), 1.0 / (0.5 / 2.0 + 1e-5), rtol=1e-6)
    # one image whatever the noise (a collapsed generator) costs the most
    assert _value(losses.mode_seeking(first, first, z1, z2)) > 1e4 > _value(losses.mode_seeking(first, second, z1, z2))
