import keras
import numpy as np
import pytest
import tensorflow as tf

from ganstyle.models import cyclegan, training

SETTINGS = {
    "batch_size": 2,
    "cycle_weight": 10.0,
    "identity_weight": 5.0,
    "learning_rate": 2e-4,
    "beta1": 0.5,
    "beta2": 0.999,
    "steps": 10,
    "decay_start": 0.5,
    "pool_size": 4,
    "augment": [],
}


def _images(n, size=32, channels=1, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, channels), dtype=np.uint8)


# ---------------------------------------------------------------- networks


@pytest.mark.parametrize("resolution,channels", [(32, 1), (64, 3)])
def test_generator_maps_images_to_images_of_the_same_shape_in_range(resolution, channels):
    generator = cyclegan.resnet_generator(resolution, channels, width=4)
    x = tf.random.uniform((2, resolution, resolution, channels), -1, 1)
    y = generator(x, training=False)
    assert y.shape == x.shape and y.dtype == tf.float32
    assert float(tf.reduce_max(tf.abs(y))) <= 1.0
    blocks = sum(isinstance(layer, keras.layers.Add) for layer in generator.layers)
    assert blocks == cyclegan.RESIDUAL_BLOCKS[resolution]


def test_residual_blocks_can_be_set():
    generator = cyclegan.resnet_generator(32, 1, width=2, residual_blocks=5)
    assert sum(isinstance(layer, keras.layers.Add) for layer in generator.layers) == 5


@pytest.mark.parametrize("resolution,patches", [(32, 8), (64, 8), (128, 16)])
def test_patch_discriminator_scores_patches(resolution, patches):
    discriminator = cyclegan.patch_discriminator(resolution, 1, width=2)
    logits = discriminator(tf.zeros((3, resolution, resolution, 1)))
    assert logits.shape == (3, patches, patches, 1)


def test_unsupported_resolution_is_refused():
    with pytest.raises(ValueError, match="resolution"):
        cyclegan.resnet_generator(48, 1)


def test_reflection_padding_mirrors_without_repeating_the_edge():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    padded = cyclegan.ReflectionPad2D(2)(x)
    np.testing.assert_array_equal(np.asarray(padded)[0, :, :, 0], np.pad(x[0, :, :, 0], 2, mode="reflect"))


def test_instance_normalization_normalises_each_image_and_channel_alone():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(3, 8, 8, 2)) * [1.0, 10.0] + [5.0, -3.0]).astype(np.float32)
    y = np.asarray(cyclegan.InstanceNormalization()(x))
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(1, 2)), 1, atol=1e-3)
    # an image's output does not depend on the rest of the batch
    np.testing.assert_allclose(np.asarray(cyclegan.InstanceNormalization()(x[:1])), y[:1], atol=1e-6)


def test_saved_generator_loads_and_translates_identically(tmp_path):
    from ganstyle import io

    generator = cyclegan.resnet_generator(32, 1, width=2)
    io.save_keras(generator, tmp_path / "G.keras")
    loaded = keras.saving.load_model(tmp_path / "G.keras", compile=False)
    images = _images(3)
    np.testing.assert_array_equal(cyclegan.translate(generator, images), cyclegan.translate(loaded, images))
    assert cyclegan.translate(loaded, images).dtype == np.uint8


# ---------------------------------------------------------------- losses and schedule


def test_lsgan_losses_on_known_logits():
    ones, zeros = tf.ones((2, 4, 4, 1)), tf.zeros((2, 4, 4, 1))
    assert float(cyclegan.lsgan_discriminator_loss(ones, zeros)) == 0.0  # perfect discriminator
    assert float(cyclegan.lsgan_discriminator_loss(zeros, ones)) == pytest.approx(1.0)  # 0.5 (1 + 1)
    assert float(cyclegan.lsgan_discriminator_loss(0.5 * ones, 0.5 * ones)) == pytest.approx(0.25)
    assert float(cyclegan.lsgan_generator_loss(ones)) == 0.0
    assert float(cyclegan.lsgan_generator_loss(zeros)) == pytest.approx(1.0)
    assert float(cyclegan.lsgan_generator_loss(-ones)) == pytest.approx(4.0)


def test_cycle_and_identity_losses_are_mean_absolute_differences():
    real = tf.constant([[[[0.0], [1.0]], [[-1.0], [0.5]]]])
    other = tf.constant([[[[0.5], [1.0]], [[1.0], [0.0]]]])
    expected = (0.5 + 0.0 + 2.0 + 0.5) / 4
    assert float(cyclegan.cycle_loss(real, other)) == pytest.approx(expected)
    assert float(cyclegan.identity_loss(real, other)) == pytest.approx(expected)
    assert float(cyclegan.cycle_loss(real, real)) == 0.0


def test_learning_rate_is_constant_then_decays_linearly_to_zero():
    schedule = cyclegan.LinearDecay(2e-4, total_steps=100, decay_start=0.5)
    values = [float(schedule(s)) for s in (0, 25, 50, 75, 100, 120)]
    np.testing.assert_allclose(values, [2e-4, 2e-4, 2e-4, 1e-4, 0.0, 0.0], atol=1e-12)
    assert float(cyclegan.LinearDecay(1.0, 10, decay_start=0.0)(5)) == pytest.approx(0.5)


# ---------------------------------------------------------------- image pool


def _fakes(values):
    return tf.constant(np.array(values, np.float32)[:, None, None, None] * np.ones((1, 2, 2, 1), np.float32))


def _values(images):
    return np.asarray(images)[:, 0, 0, 0].tolist()


def test_pool_passes_fakes_through_while_filling_then_swaps_about_half():
    pool = cyclegan.ImagePool(4, (2, 2, 1), seed=0)
    assert _values(pool.query(_fakes([1, 2, 3]))) == [1, 2, 3]
    assert _values(pool.query(_fakes([4, 5]))) == [4, 5]  # 4 fills the last slot, 5 does not fit
    assert int(pool.count.numpy()) == 4
    assert sorted(_values(pool.images)) == [1, 2, 3, 4]
    returned = []
    for step in range(50):
        batch = [100 + 2 * step, 101 + 2 * step]
        out = _values(pool.query(_fakes(batch)))
        returned += [v for v, new in zip(out, batch) if v != new]
        stored = _values(pool.images)
        assert len(stored) == 4 and all(new in stored or new in out for new in batch)
    assert 30 <= len(returned) <= 70  # about half of 100 fakes were swapped for older ones
    assert len(set(returned)) == len(returned)  # a stored fake is handed out once, then replaced


def test_pool_of_size_zero_passes_everything_through():
    pool = cyclegan.ImagePool(0, (2, 2, 1), seed=0)
    for _ in range(3):
        assert _values(pool.query(_fakes([7, 8]))) == [7, 8]


def test_pool_is_deterministic_per_seed():
    def run(seed):
        pool = cyclegan.ImagePool(3, (2, 2, 1), seed=seed)
        return [_values(pool.query(_fakes([i, i + 0.5]))) for i in range(10)]

    assert run(1) == run(1)
    assert run(1) != run(2)


# ---------------------------------------------------------------- the training task


def _task(**overrides):
    keras.utils.set_random_seed(0)
    settings = {**SETTINGS, **overrides}
    return cyclegan.CycleGANTask(cyclegan.build_models(32, 1, 2, 2), settings, seed=0)


def _batch():
    return tf.constant(_images(2, seed=1)), tf.constant(_images(2, seed=2))


def test_step_reports_the_cycle_and_identity_losses_of_the_current_generators():
    task = _task()
    a, b = _batch()
    real_a, real_b = (tf.cast(x, tf.float32) / 127.5 - 1 for x in (a, b))
    G_ab, G_ba = task.models["G_ab"], task.models["G_ba"]
    cycle = cyclegan.cycle_loss(real_a, G_ba(G_ab(real_a))) + cyclegan.cycle_loss(real_b, G_ab(G_ba(real_b)))
    identity = cyclegan.identity_loss(real_b, G_ab(real_b)) + cyclegan.identity_loss(real_a, G_ba(real_a))
    metrics = task.train_step((a, b))
    assert float(metrics["cycle"]) == pytest.approx(float(cycle), rel=1e-5)
    assert float(metrics["identity"]) == pytest.approx(float(identity), rel=1e-5)
    expected = float(metrics["adversarial"]) + 10 * float(cycle) + 5 * float(identity)
    assert float(metrics["g_loss"]) == pytest.approx(expected, rel=1e-5)


def test_identity_weight_zero_switches_the_identity_term_off():
    metrics = _task(identity_weight=0.0).train_step(_batch())
    assert float(metrics["identity"]) == 0.0


def test_a_step_updates_all_four_networks_and_fills_the_pools():
    task = _task()
    before = {name: [np.asarray(w).copy() for w in model.trainable_variables] for name, model in task.models.items()}
    task.train_step(_batch())
    for name, model in task.models.items():
        assert any(not np.array_equal(old, np.asarray(new)) for old, new in zip(before[name], model.trainable_variables)), name
    assert int(task.pool_a.count.numpy()) == 2 and int(task.pool_b.count.numpy()) == 2


def test_variables_cover_the_full_state():
    task = _task(augment=["translation"])
    ids = {id(v) for v in task.variables().values()}
    for model in task.models.values():
        assert all(id(w) in ids for w in model.weights)
    for optimizer in (task.g_optimizer, task.d_optimizer):
        assert all(id(v) in ids for v in optimizer.variables)
    for pool in (task.pool_a, task.pool_b):
        assert {id(pool.images), id(pool.count), id(pool.rng.state)} <= ids
    assert id(task.augment_rng.state) in ids


def test_pair_batches_are_a_pure_function_of_seed_and_step():
    a, b = _images(7, size=4, seed=1), _images(5, size=4, seed=2)

    def firsts(start, end):
        return [(x.numpy()[:, 0, 0, 0].tolist(), y.numpy()[:, 0, 0, 0].tolist()) for x, y in cyclegan.pair_batches(a, b, 3, 0, start, end)]

    assert firsts(4, 6) == firsts(0, 6)[4:]


def _train(directory, total, seed=0):
    task = _task(steps=20)
    a, b = _images(6, seed=3), _images(6, seed=4)
    checkpointer = training.Checkpointer(directory, task.variables(), "fingerprint")
    training.train(task, lambda s, e: cyclegan.pair_batches(a, b, 2, seed, s, e), total, checkpointer, checkpoint_every=3, log_every=3, progress=False)
    return task


def test_resumed_training_ends_with_identical_state(tmp_path):
    """Stopped after a checkpoint (as if killed) and resumed: the same state as a straight run."""
    straight = _train(tmp_path / "straight", 6)
    _train(tmp_path / "resumed", 3)
    resumed = _train(tmp_path / "resumed", 6)
    for name, value in straight.variables().items():
        np.testing.assert_array_equal(np.asarray(value), np.asarray(resumed.variables()[name]), err_msg=name)
