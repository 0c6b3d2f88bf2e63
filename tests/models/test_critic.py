import keras
import numpy as np
import pytest
from gan_settings import tiny_recipe

from ganstyle import io
from ganstyle.errors import UserError
from ganstyle.models import (
    critic,
    networks,
)

SMALL = {"latent_dim": 8, "g_width": 4, "d_width": 4, "max_width": 16}


@pytest.fixture(scope="module", params=networks.ARCHITECTURES)
def saved_critic(request, tmp_path_factory):
    _, discriminator = networks.build_models(tiny_recipe(architecture=request.param, **SMALL), 32, 3)
    path = tmp_path_factory.mktemp(request.param) / "discriminator.keras"
    io.save_keras(discriminator, path)
    return discriminator, path


def _images(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def test_loaded_critic_gives_the_trained_models_outputs(saved_critic):
    discriminator, path = saved_critic
    loaded = critic.load_critic(path)
    images = _images(5)
    features, logits = critic.critic_outputs(loaded, images, batch_size=2)
    assert features.dtype == np.float32 and logits.dtype == np.float32
    assert logits.shape == (5, 1) and features.shape == (5, discriminator.outputs[1].shape[-1])
    want_logit, want_features = discriminator(images.astype("float32") / 127.5 - 1.0, training=False)
    np.testing.assert_allclose(features, np.asarray(want_features), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits, np.asarray(want_logit), rtol=1e-5, atol=1e-6)


def test_outputs_do_not_depend_on_batching_and_do_not_change_the_model(saved_critic):
    _, path = saved_critic
    model = critic.load_critic(path)
    weights = [np.asarray(w).copy() for w in model.weights]
    images = _images(7, seed=1)
    a = critic.critic_outputs(model, images, batch_size=7)
    b = critic.critic_outputs(model, images, batch_size=3)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-5, atol=1e-6)
    for before, after in zip(weights, model.weights):
        np.testing.assert_array_equal(before, np.asarray(after))  # no spectral-norm update in inference


def test_empty_input_gives_empty_arrays(saved_critic):
    discriminator, path = saved_critic
    features, logits = critic.critic_outputs(critic.load_critic(path), np.zeros((0, 32, 32, 3), np.uint8))
    assert features.shape == (0, discriminator.outputs[1].shape[-1]) and logits.shape == (0, 1)


def test_bad_inputs(saved_critic, tmp_path):
    _, path = saved_critic
    model = critic.load_critic(path)
    with pytest.raises(ValueError, match="uint8"):
        critic.critic_outputs(model, np.zeros((2, 32, 32, 3), np.float32))
    with pytest.raises(UserError, match="do not fit"):
        critic.critic_outputs(model, np.zeros((2, 64, 64, 3), np.uint8))
    with pytest.raises(UserError, match="not found"):
        critic.load_critic(tmp_path / "missing.keras")
    single = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    io.save_keras(single, tmp_path / "single.keras")
    with pytest.raises(UserError, match="two outputs"):
        critic.load_critic(tmp_path / "single.keras")


@pytest.mark.parametrize("minibatch_stddev", [False, True])
def test_an_images_features_do_not_depend_on_the_other_images_of_its_batch(minibatch_stddev):
    _, discriminator = networks.build_models(tiny_recipe(architecture="default", minibatch_stddev=minibatch_stddev, **SMALL), 32, 1)
    image = _images(1, seed=3)[..., :1]
    alone = critic.critic_outputs(discriminator, image)
    for others in (_images(7, seed=4)[..., :1], np.zeros((3, 32, 32, 1), np.uint8)):
        features, logits = critic.critic_outputs(discriminator, np.concatenate([others, image]))
        np.testing.assert_allclose(features[-1:], alone[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(logits[-1:], alone[1], rtol=1e-5, atol=1e-6)


def test_joint_critic_has_one_logit_per_culture_and_culture_embeddings():
    _, discriminator = networks.build_models(tiny_recipe(architecture="default", **SMALL), 32, 1, n_classes=5)
    features, logits = critic.critic_outputs(discriminator, _images(4)[..., :1])
    assert logits.shape == (4, 5)
    embeddings = networks.class_embeddings(discriminator)
    assert embeddings.shape[0] == 5
    # logit_y = psi(phi) + <e_y, phi>: differences between cultures are inner products with e_a - e_b
    assert not np.allclose(logits[:, 0], logits[:, 1])


@pytest.mark.parametrize("spectral_embedding", [True, False])
def test_joint_critic_logit_differences_are_projections_on_embedding_differences(spectral_embedding):
    """Projection discriminator: logit_y = psi(phi) + phi . e_y, so logit_a - logit_b = phi . (e_a - e_b),
    with phi the pooled features and e_y the culture embeddings that networks.class_embeddings returns."""
    _, discriminator = networks.build_models(tiny_recipe(architecture="default", **SMALL).replace(spectral_embedding=spectral_embedding), 32, 1, n_classes=4)
    images = _images(6, seed=2)[..., :1]
    _, logits = critic.critic_outputs(discriminator, images)
    pooling = next(layer for layer in discriminator.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D))
    phi = np.asarray(keras.Model(discriminator.input, pooling.output)(images.astype("float32") / 127.5 - 1.0, training=False), dtype=np.float64)
    embeddings = networks.class_embeddings(discriminator).astype(np.float64)
    assert embeddings.shape == (4, phi.shape[1]) and np.abs(phi).max() > 1e-3
    for a in range(4):
        for b in range(4):
            np.testing.assert_allclose(logits[:, a] - logits[:, b], phi @ (embeddings[a] - embeddings[b]), rtol=1e-4, atol=1e-5)
    # what is left after the projection is one logit psi(phi), the same for every culture
    psi = logits - phi @ embeddings.T
    np.testing.assert_allclose(psi, np.repeat(psi[:, :1], 4, axis=1), rtol=1e-4, atol=1e-5)
    assert np.std(logits[:, 0] - logits[:, 1]) > 1e-4  # the check above is not between equal columns
