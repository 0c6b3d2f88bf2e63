import keras
import numpy as np
import pytest
from gan_settings import tiny_recipe

from ganstyle.models import networks

SMALL = {"latent_dim": 8, "g_width": 4, "d_width": 4, "max_width": 16}


@pytest.mark.parametrize("architecture", networks.ARCHITECTURES)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("resolution", networks.RESOLUTIONS)
def test_shapes_for_every_resolution_and_channel_count(architecture, channels, resolution):
    generator, discriminator = networks.build_models(tiny_recipe(architecture=architecture, **SMALL), resolution, channels)
    z = np.random.default_rng(0).standard_normal((2, SMALL["latent_dim"])).astype("float32")
    images = generator(z, training=False)
    assert tuple(images.shape) == (2, resolution, resolution, channels)
    assert np.all(np.abs(np.asarray(images)) <= 1.0)  # tanh
    logit, features = discriminator(images, training=False)
    assert tuple(logit.shape) == (2, 1)
    assert features.shape[0] == 2 and features.ndim == 2
    # the documented critic API: two outputs, features are what the logit is computed from
    assert len(discriminator.outputs) == 2
    assert discriminator.outputs[1].shape[-1] == features.shape[1]


def test_depth_follows_resolution():
    counts = []
    for resolution in networks.RESOLUTIONS:
        generator, _ = networks.build_models(tiny_recipe(architecture="default", **SMALL), resolution, 1)
        counts.append(sum(isinstance(layer, keras.layers.Conv2DTranspose) for layer in generator.layers))
    assert counts == [3, 4, 5, 6]


def test_seed_generator_at_32px_is_the_seed_documents_stack():
    generator = networks.seed_generator(32, 3, latent_dim=100, width=64)
    transposed = [layer for layer in generator.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [layer.filters for layer in transposed] == [128, 64, 3]
    dense = [layer for layer in generator.layers if isinstance(layer, keras.layers.Dense)][0]
    assert dense.units == 4 * 4 * 256
    discriminator = networks.seed_discriminator(32, 3, width=64)
    convs = [layer for layer in discriminator.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [layer.filters for layer in convs] == [64, 128]
    assert discriminator.outputs[1].shape[-1] == 8 * 8 * 128  # Flatten of the last conv


def test_unknown_resolution_and_architecture_are_rejected():
    with pytest.raises(ValueError, match="resolution"):
        networks.build_models(tiny_recipe(architecture="default", **SMALL), 48, 1)
    with pytest.raises(ValueError, match="architecture"):
        networks.build_models(tiny_recipe(**SMALL).replace(architecture="stylegan"), 32, 1)


def test_spectral_norm_converges_to_unit_largest_singular_value():
    # Power iteration converges like (s2/s1)^(2n): a random kernel drawn by whatever earlier tests left in
    # Keras's global seed can have s1/s2 ~ 1.01 and miss 1e-3 after 50 steps.  Seed 2 gives s1/s2 = 1.11.
    keras.utils.set_random_seed(2)
    layer = networks.SpectralConv2D(6, 3, padding="same", spectral_seed=1)
    x = np.random.default_rng(0).standard_normal((1, 8, 8, 5)).astype("float32")
    layer(x)
    for _ in range(50):  # power iteration runs once per training call
        layer(x, training=True)
    kernel = np.asarray(layer.normalized_kernel(False)).reshape(-1, 6)
    assert np.linalg.svd(kernel, compute_uv=False)[0] == pytest.approx(1.0, rel=1e-3)
    raw = np.asarray(layer.kernel).reshape(-1, 6)
    assert np.linalg.svd(raw, compute_uv=False)[0] != pytest.approx(1.0, rel=1e-2)  # the weight itself is not rescaled


def test_spectral_vector_is_updated_only_in_training():
    layer = networks.SpectralDense(3, spectral_seed=2)
    x = np.ones((2, 4), "float32")
    layer(x)
    before = np.asarray(layer.spectral_u).copy()
    layer(x, training=False)
    np.testing.assert_array_equal(np.asarray(layer.spectral_u), before)
    layer(x, training=True)
    assert not np.allclose(np.asarray(layer.spectral_u), before)


def test_forward_flops_counts_multiply_adds():
    generator = networks.seed_generator(32, 3, latent_dim=100, width=64)
    expected = 2 * (100 * 4096 + 4 * 4 * 16 * 256 * 128 + 8 * 8 * 16 * 128 * 64 + 16 * 16 * 16 * 64 * 3)
    assert networks.forward_flops(generator) == expected
    discriminator = networks.seed_discriminator(32, 3, width=64)
    expected = 2 * (16 * 16 * 16 * 3 * 64 + 8 * 8 * 16 * 64 * 128 + 8 * 8 * 128)
    assert networks.forward_flops(discriminator) == expected


def test_minibatch_stddev_uses_the_batch_in_training_and_its_running_mean_in_inference():
    layer = networks.MinibatchStddev(momentum=0.5)
    x = np.random.default_rng(0).standard_normal((6, 4, 4, 3)).astype("float32")
    out = np.asarray(layer(x, training=True))
    expected = np.mean(np.sqrt(x.var(axis=0) + 1e-8))
    assert out.shape == (6, 4, 4, 4)
    np.testing.assert_allclose(out[..., 3], expected, rtol=1e-5)
    np.testing.assert_array_equal(out[..., :3], x)
    assert float(np.asarray(layer.moving_stddev)) == pytest.approx(0.5 * expected, rel=1e-5)
    alone = np.asarray(layer(x[:1], training=False))[..., 3]
    together = np.asarray(layer(x, training=False))[:1, ..., 3]
    np.testing.assert_array_equal(alone, together)  # inference: independent of the batch
    np.testing.assert_allclose(alone, 0.5 * expected, rtol=1e-5)
    # a batch of identical images has no spread: the signal a collapsed generator gives away
    same = np.repeat(x[:1], 4, axis=0)
    assert np.asarray(layer(same, training=True))[..., 3].max() < 1e-3
