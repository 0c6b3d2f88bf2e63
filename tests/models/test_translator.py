"""The translator on the joint conditional GAN (ganstyle.models.translator)."""

import keras
import numpy as np
import tensorflow as tf
from gan_settings import tiny_recipe

from ganstyle.models import networks, training
from ganstyle.models.translator import TranslatorRecipe, TranslatorTask, build_encoder, translate_all

RECIPE = TranslatorRecipe(
    steps=60,
    batch_size=8,
    width=4,
    learning_rate=0.003,
    latent_weight=1.0,
    checkpoint_every=60,
    log_every=20,
    jit_compile=False,
    mixed_precision=False,
    deterministic=True,
)


def _generator(n_classes=3):
    keras.utils.set_random_seed(0)
    return networks.build_models(tiny_recipe(), 32, 1, n_classes=n_classes)[0]


def test_the_encoder_learns_to_invert_a_frozen_generator():
    generator = _generator()
    frozen = [np.array(w) for w in generator.weights]
    encoder = build_encoder(32, 1, int(generator.inputs[0].shape[-1]), RECIPE.width)
    task = TranslatorTask(encoder, generator, RECIPE, 3, seed=0)
    images = np.random.default_rng(0).integers(0, 256, (32, 32, 32, 1), dtype=np.uint8)
    labels = np.arange(32, dtype=np.int32) % 3
    history = training.train(task, lambda s, e: training.step_batches(images, 8, 0, s, e, labels=labels), RECIPE.steps, log_every=20, progress=False)
    assert history["latent"].iloc[-1] < 0.7 * history["latent"].iloc[0]
    for before, after in zip(frozen, generator.weights):
        np.testing.assert_array_equal(before, np.asarray(after))  # G never moves
    assert set(task.variables()) >= {"rng"} and any(k.startswith("encoder/") for k in task.variables())


def test_translate_all_moves_every_image_into_every_culture():
    generator = _generator()
    encoder = build_encoder(32, 1, int(generator.inputs[0].shape[-1]), 4)
    images = np.random.default_rng(1).integers(0, 256, (5, 32, 32, 1), dtype=np.uint8)
    own = np.array([0, 1, 2, 0, 1], np.int32)
    translated, cycle = translate_all(encoder, generator, images, own, 3, batch_size=2)
    assert translated.shape == (3, 5, 32, 32, 1) and translated.dtype == np.uint8 and cycle.shape == (3, 5)
    codes = encoder(tf.constant(images / 127.5 - 1, tf.float32), training=False)
    for k in range(3):
        expected = generator([codes, tf.one_hot(np.full(5, k), 3)], training=False).numpy()
        np.testing.assert_allclose(translated[k] / 127.5 - 1, expected, atol=2 / 127.5)
    # the round trip into k and back: its error is what the cycle error reports
    back = generator([encoder(tf.constant(translated[2] / 127.5 - 1, tf.float32), training=False), tf.one_hot(own, 3)], training=False).numpy()
    back_uint8 = np.clip(np.round((back + 1) * 127.5), 0, 255)
    np.testing.assert_allclose(cycle[2], np.abs(back_uint8 - images).mean(axis=(1, 2, 3)), atol=1.0)


def test_forward_flops_counts_the_encoder_layer_by_layer():
    encoder = build_encoder(32, 1, 64, width=16)
    stem, down = 2 * 32 * 32 * 9 * 1 * 16, [2 * 16 * 16 * 16 * 16 * 32, 2 * 8 * 8 * 16 * 32 * 64, 2 * 4 * 4 * 16 * 64 * 128]
    code = 2 * (4 * 4 * 128) * 64
    assert [networks.layer_flops(layer) for layer in encoder.layers if networks.layer_flops(layer)] == [stem, *down, code]
    assert networks.forward_flops(encoder) == stem + sum(down) + code  # batch norm and activations are not counted


def test_codes_on_the_prior_shell_have_the_noise_norm_and_survive_saving(tmp_path):
    images = tf.constant(np.random.default_rng(2).uniform(-1, 1, (6, 32, 32, 1)), tf.float32)
    on_shell = build_encoder(32, 1, 16, 4, codes_on_prior=True)
    norms = np.linalg.norm(on_shell(images, training=False).numpy(), axis=1)
    np.testing.assert_allclose(norms, 4.0, rtol=1e-5)  # sqrt(16): where N(0, I_16) noise lies
    free = build_encoder(32, 1, 16, 4, codes_on_prior=False)
    assert "code_on_prior" not in [layer.name for layer in free.layers]
    on_shell.save(tmp_path / "encoder.keras")
    loaded = keras.models.load_model(tmp_path / "encoder.keras", compile=False)
    np.testing.assert_allclose(loaded(images, training=False).numpy(), on_shell(images, training=False).numpy(), rtol=1e-6)
