"""The GAN's recipes, training task and sampling (ganstyle.models.gan)."""

import numpy as np
import pytest
import tensorflow as tf
from gan_settings import tiny_recipe

from ganstyle.models import gan
from ganstyle.models.recipes import ARCHITECTURE_VALUES, GANRecipe
from ganstyle.models.tracing import graph_function


def test_recipe_fills_nulls_and_explicit_values_win():
    default = tiny_recipe()
    assert default.loss == ARCHITECTURE_VALUES["default"]["loss"] and default.augment == tuple(ARCHITECTURE_VALUES["default"]["augment"])
    assert default.g_width == 4  # explicit
    seed = tiny_recipe(architecture="seed", g_width=None, d_width=None, latent_dim=None, max_width=None)
    assert (seed.loss, seed.augment, seed.ema_decay, seed.beta1, seed.latent_dim) == ("bce", (), 0.0, 0.5, 100)
    assert tiny_recipe(architecture="seed", loss="hinge").loss == "hinge"
    assert isinstance(default, GANRecipe) and all(value is not None for value in default.as_dict().values())


def test_recipe_is_frozen_and_its_fingerprint_ignores_what_does_not_change_the_weights():
    recipe = tiny_recipe()
    with pytest.raises(AttributeError):
        recipe.steps = 7
    assert recipe.fingerprint("x") == recipe.replace(steps=99, samples=5, log_every=1).fingerprint("x")
    assert recipe.fingerprint("x") != recipe.replace(learning_rate_d=1e-3).fingerprint("x")
    assert recipe.fingerprint("x") != recipe.fingerprint("y")


def test_fixed_noise_is_reproducible():
    np.testing.assert_array_equal(gan.fixed_noise(5, 3, 1), gan.fixed_noise(5, 3, 1))
    assert not np.allclose(gan.fixed_noise(5, 3, 1), gan.fixed_noise(5, 3, 2))


# ---------------------------------------------------------------- the training step


def _task(**overrides):
    recipe = tiny_recipe(**overrides)
    generator, discriminator = gan.initial_models(recipe, 32, 1, seed=0)
    return gan.GANTask(generator, discriminator, recipe, seed=0)


def _real_batch(n=4):
    return tf.constant(np.random.default_rng(1).integers(0, 256, (n, 32, 32, 1), dtype=np.uint8))


def test_diffaugment_is_applied_to_real_and_fake_for_both_players():
    task = _task()
    seen = []
    original = task.augment

    def spy(images):
        seen.append(images)
        return original(images)

    task.augment = spy
    real = _real_batch()
    with tf.GradientTape():  # what the step's noise will be: replay the RNG
        noise = tf.random.Generator.from_state(task.noise_rng.state.numpy(), alg=task.noise_rng.algorithm).normal([4, task.latent_dim])
        fake = task.generator(noise, training=True)
    task.train_step(real)
    assert len(seen) == 2  # one D pass over augmented fakes, one over augmented reals; both losses use them
    inputs = {tuple(np.round(np.asarray(x), 4).ravel()[:8]) for x in seen}
    assert tuple(np.round(np.asarray(tf.cast(real, tf.float32) / 127.5 - 1), 4).ravel()[:8]) in inputs
    assert any(np.allclose(np.asarray(x), np.asarray(fake), atol=1e-5) for x in seen)


def test_discriminator_sees_only_the_augmented_images():
    # if the augmentation maps everything to zeros, D cannot tell real from fake
    # and G gets no gradient: both players really train on augmented images
    task = _task()
    task.augment = lambda images: images * 0.0
    before = [np.asarray(w).copy() for w in task.generator.trainable_variables]
    metrics = task.train_step(_real_batch())
    # equal up to the spectral-norm power iteration that runs between D's two passes
    assert float(metrics["d_real"]) == pytest.approx(float(metrics["d_fake"]), rel=1e-3, abs=1e-6)
    for old, new in zip(before, task.generator.trainable_variables):
        np.testing.assert_array_equal(old, np.asarray(new))


def test_without_augmentation_the_generator_learns():
    task = _task(augment=[])
    before = [np.asarray(w).copy() for w in task.generator.trainable_variables]
    task.train_step(_real_batch())
    assert any(not np.array_equal(old, np.asarray(new)) for old, new in zip(before, task.generator.trainable_variables))


def test_r1_penalty_is_positive_and_enters_the_step():
    metrics = _task(r1_gamma=10.0).train_step(_real_batch())
    assert float(metrics["r1"]) > 0


def test_ema_generator_follows_the_generator():
    task = _task(ema_decay=0.0)
    task.train_step(_real_batch())
    for ema, raw in zip(task.ema_generator.weights, task.generator.weights):
        np.testing.assert_allclose(np.asarray(ema), np.asarray(raw), rtol=1e-6, atol=1e-7)
    task = _task(ema_decay=0.999)
    initial = [np.asarray(w).copy() for w in task.ema_generator.trainable_variables]
    task.train_step(_real_batch())
    moved = [np.abs(np.asarray(w) - i).max() for w, i in zip(task.ema_generator.trainable_variables, initial)]
    raw_moved = [np.abs(np.asarray(w) - i).max() for w, i in zip(task.generator.trainable_variables, initial)]
    assert 0 < max(moved) < max(raw_moved)  # averaged: moves, but less than the raw weights


def test_variables_cover_the_full_state():
    task = _task()
    state = task.variables()
    ids = {id(v) for v in state.values()}
    for model in (task.generator, task.discriminator, task.ema_generator):
        assert all(id(w) in ids for w in model.weights)
    for optimizer in (task.g_optimizer, task.d_optimizer):
        assert all(id(v) in ids for v in optimizer.variables)
    assert state["rng/noise"] is task.noise_rng.state and state["rng/augment"] is task.augment_rng.state


def _conditional_task(**head):
    recipe = tiny_recipe(feature_matching=0.0).replace(**head)  # the joint section's keys
    generator, discriminator = gan.initial_models(recipe, 32, 1, seed=0, n_classes=2)
    return gan.GANTask(generator, discriminator, recipe, seed=0)


def test_the_feature_head_learns_the_cultures_and_is_part_of_the_state():
    """Two cultures, dark and light images: the linear head on the critic's features learns to tell
    them apart (its own Adam), its weights and optimiser are checkpointed, and without it nothing is added."""
    task = _conditional_task(feature_head=1.0, feature_head_lr=0.01)
    step = graph_function(task.train_step)  # traced, as the training runner does: eagerly the test took twice as long
    rng = np.random.default_rng(0)
    images = np.concatenate([rng.integers(0, 80, (4, 32, 32, 1)), rng.integers(170, 256, (4, 32, 32, 1))]).astype(np.uint8)
    batch = (tf.constant(images), tf.constant(np.repeat([0, 1], 4).astype(np.int32)))
    first = float(step(batch)["feature_head_ce"])
    for _ in range(30):
        last = float(step(batch)["feature_head_ce"])
    assert last < 0.5 * first
    ids = {id(v) for v in task.variables().values()}
    assert all(id(v) in ids for v in [*task.feature_head.layer.weights, *task.feature_head.optimizer.variables])
    plain = _conditional_task(feature_head=0.0)
    assert plain.feature_head is None and "feature_head_ce" not in plain.train_step(batch)


def test_mode_seeking_pairs_fakes_of_one_culture_and_spreads_them():
    """With mode seeking the fakes' second half repeats the first half's cultures (so each pair shares
    a culture); its term is reported and falls as G learns to answer different noise differently."""
    task = _conditional_task(mode_seeking=1.0, batch_size=8)
    step = graph_function(task.train_step)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (8, 32, 32, 1)).astype(np.uint8)
    batch = (tf.constant(images), tf.constant(np.array([0, 1, 1, 0, 1, 1, 1, 1], np.int32)))
    first = float(step(batch)["mode_seeking"])
    for _ in range(20):
        last = float(step(batch)["mode_seeking"])
    assert last < first
    assert "mode_seeking" not in _conditional_task(batch_size=8).train_step(batch)


def test_mode_seeking_of_a_per_culture_generator_pairs_the_halves_of_its_batch():
    """A per-culture GAN with mode seeking reports its term, which falls as G spreads its fakes."""
    task = _task(mode_seeking=1.0, batch_size=8)
    step = graph_function(task.train_step)
    batch = _real_batch(8)
    first = float(step(batch)["mode_seeking"])
    for _ in range(20):
        last = float(step(batch)["mode_seeking"])
    assert last < first
    assert "mode_seeking" not in _task(batch_size=8).train_step(batch)


def _oriented_batch(n=8):
    """Images with ink in their top half only: a quarter turn is visible in them."""
    images = np.full((n, 32, 32, 1), 255, np.uint8)
    images[:, 2:14, 4:28] = np.random.default_rng(2).integers(0, 60, (n, 12, 24, 1))
    return tf.constant(images)


def test_the_rotation_head_learns_quarter_turns_and_is_part_of_the_state():
    task = _task(rotation_head=1.0, batch_size=8, augment=[])
    step = graph_function(task.train_step)  # traced, as the training runner does: eagerly the test took twice as long
    batch = _oriented_batch()
    first = float(step(batch)["rotation_ce"])
    for _ in range(60):
        last = float(step(batch)["rotation_ce"])
    assert first > 1.0 and last < 0.4 * first  # chance is log 4 = 1.39
    ids = {id(v) for v in task.variables().values()}
    assert all(id(v) in ids for v in [*task.rotation_head.layer.weights, *task.rotation_head.optimizer.variables])
    assert "rotation_ce" not in _task(batch_size=8).train_step(batch)


def test_start_seed_resets_the_rotation_head_to_a_new_run_of_that_seed():
    recipe = tiny_recipe(rotation_head=1.0, batch_size=8)
    task = gan.GANTask(*gan.initial_models(recipe, 32, 1, seed=0), recipe, seed=0)
    for _ in range(3):
        task.train_step(_oriented_batch())
    task.start_seed(1, *gan.initial_models(recipe, 32, 1, seed=1))
    fresh = gan.GANTask(*gan.initial_models(recipe, 32, 1, seed=1), recipe, seed=1)
    reused, new = task.variables(), fresh.variables()
    for name in [k for k in new if k.startswith("rotation_")]:
        np.testing.assert_array_equal(np.asarray(reused[name]), np.asarray(new[name]), err_msg=name)


def test_the_rotation_head_needs_four_images_a_batch():
    with pytest.raises(ValueError, match="gan.batch_size >= 4"):
        _task(rotation_head=1.0, batch_size=2)
