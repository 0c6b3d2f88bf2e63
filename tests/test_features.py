import numpy as np
import pytest

from ganstyle import features
from ganstyle.errors import UserError

SIZE = 32


def _write_corpus(path, n, seed, heldout_every=2):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, SIZE, SIZE, 1), dtype=np.uint8)
    ids = np.array([f"{seed:04d}{i:012x}" for i in range(n)])
    split = np.array(["heldout" if i % heldout_every == 0 else "train" for i in range(n)])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, images=images, ids=ids, split=split)
    return images[split == "heldout"], ids[split == "heldout"]


def _tiny_critic(path, poison=False):
    """A functional critic with the documented outputs [logit (N, 1), features (N, F)]."""
    import keras

    keras.utils.set_random_seed(0)
    image = keras.Input((SIZE, SIZE, 1))
    hidden = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(image)
    hidden = keras.layers.GlobalAveragePooling2D()(hidden)
    feats = keras.layers.Dense(6, activation="tanh")(hidden)
    logit = keras.layers.Dense(1)(feats)
    model = keras.Model(image, [logit, feats])
    if poison:
        weights = model.layers[-1].get_weights()
        model.layers[-1].set_weights([np.full_like(weights[0], np.nan), weights[1]])
    model.save(path)
    return model


@pytest.fixture
def corpora(tmp_path):
    heldout = {}
    paths = []
    for i, culture in enumerate(["alpha", "beta", "gamma"]):
        path = tmp_path / "corpus" / culture / "images.npz"
        heldout[culture] = _write_corpus(path, n=10 + 2 * i, seed=i)
        paths.append(str(path))
    return ["alpha", "beta", "gamma"], paths, heldout


def test_stack_cultures_keeps_order_and_labels():
    images = {"b": np.zeros((2, 4, 4, 1), np.uint8), "a": np.ones((3, 4, 4, 1), np.uint8)}
    ids = {"b": np.array(["x1", "x2"]), "a": np.array(["y1", "y2", "y3"])}
    stacked = features.stack_cultures(images, ids, lambda x: (x.reshape(len(x), -1)[:, :2].astype(float), x[:, 0, 0, 0] * 2.0))
    assert list(stacked["culture"]) == ["b", "b", "a", "a", "a"]
    assert list(stacked["ids"]) == ["x1", "x2", "y1", "y2", "y3"]
    assert stacked["features"].dtype == np.float32 and stacked["features"].shape == (5, 2)
    np.testing.assert_array_equal(stacked["logits"], [0, 0, 2, 2, 2])
    no_logits = features.stack_cultures(images, ids, lambda x: (np.zeros((len(x), 3)), None))
    assert "logits" not in no_logits


def test_non_finite_rows():
    stacked = {"features": np.array([[0.0, 1.0], [np.nan, 1.0], [0.0, 0.0]]), "logits": np.array([0.0, 0.0, np.inf])}
    np.testing.assert_array_equal(features.non_finite_rows(stacked), [False, True, True])


def test_critic_features_of_all_cultures(tmp_path, corpora):
    from ganstyle.critic import critic_outputs, load_critic

    cultures, paths, heldout = corpora
    _tiny_critic(tmp_path / "discriminator.keras")
    out = tmp_path / "features" / "critic_beta" / "seed3.npz"
    argv = ["--critic", str(tmp_path / "discriminator.keras"), "--critic-culture", "beta", "--seed", "3", "--cultures", *cultures, "--corpora", *paths, "--out", str(out)]
    assert features.main(argv) == 0
    with np.load(out) as data:
        assert {"features", "logits", "culture", "ids", "critic", "seed", "extractor"} <= set(data.files)
        n = sum(len(heldout[c][0]) for c in cultures)
        assert data["features"].shape == (n, 6) and data["features"].dtype == np.float32
        assert data["logits"].shape == (n,)
        assert list(data["culture"]) == [c for c in cultures for _ in heldout[c][0]]
        assert list(data["ids"]) == [i for c in cultures for i in heldout[c][1]]
        assert str(data["critic"]) == "beta" and int(data["seed"]) == 3
        # the same numbers as the critic API on the held-out images alone
        direct_features, direct_logits = critic_outputs(load_critic(tmp_path / "discriminator.keras"), heldout["gamma"][0])
        rows = data["culture"] == "gamma"
        np.testing.assert_allclose(data["features"][rows], direct_features, rtol=1e-6)
        np.testing.assert_allclose(data["logits"][rows], direct_logits, rtol=1e-6)
        first = {k: data[k] for k in data.files}
    assert features.main(argv[:-1] + [str(tmp_path / "again.npz")]) == 0
    with np.load(tmp_path / "again.npz") as again:
        for key, value in first.items():
            np.testing.assert_array_equal(again[key], value)


def test_reference_features(tmp_path, corpora):
    from ganstyle.metrics.reference import REFERENCE_VERSION, reference_features

    cultures, paths, heldout = corpora
    out = tmp_path / "reference.npz"
    assert features.main(["--reference", "--cultures", *cultures, "--corpora", *paths, "--out", str(out)]) == 0
    with np.load(out) as data:
        assert "logits" not in data.files
        assert str(data["extractor"]) == REFERENCE_VERSION
        rows = data["culture"] == "alpha"
        np.testing.assert_allclose(data["features"][rows], reference_features(heldout["alpha"][0]).astype(np.float32))


def test_bad_input_is_named(tmp_path, corpora):
    cultures, paths, _ = corpora
    with pytest.raises(UserError, match="3 names but --corpora 2"):
        features.main(["--reference", "--cultures", *cultures, "--corpora", *paths[:2], "--out", str(tmp_path / "x.npz")])
    empty = tmp_path / "corpus" / "empty" / "images.npz"
    empty.parent.mkdir(parents=True)
    np.savez(empty, images=np.zeros((2, SIZE, SIZE, 1), np.uint8), ids=np.array(["a", "b"]), split=np.array(["train", "train"]))
    with pytest.raises(UserError, match="empty/images.npz.*no held-out images"):
        features.main(["--reference", "--cultures", "empty", "--corpora", str(empty), "--out", str(tmp_path / "x.npz")])
    with pytest.raises(UserError, match="needs --critic-culture"):
        features.main(["--critic", str(tmp_path / "d.keras"), "--cultures", *cultures, "--corpora", *paths, "--out", str(tmp_path / "x.npz")])


def test_diverged_critic_is_refused(tmp_path, corpora):
    cultures, paths, _ = corpora
    _tiny_critic(tmp_path / "nan.keras", poison=True)
    out = tmp_path / "x.npz"
    with pytest.raises(UserError, match="nan.keras: non-finite features for .* images"):
        features.main(["--critic", str(tmp_path / "nan.keras"), "--critic-culture", "alpha", "--cultures", *cultures, "--corpora", *paths, "--out", str(out)])
    assert not out.exists()
