import numpy as np
import pytest
from gan_settings import tiny_recipe

from ganstyle.errors import UserError
from ganstyle.stages import features

SIZE = 32


def _write_corpus(path, n, seed, heldout_every=2):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, SIZE, SIZE, 1), dtype=np.uint8)
    ids = np.array([f"{seed:04d}{i:012x}" for i in range(n)])
    split = np.array(["heldout" if i % heldout_every == 0 else "train" for i in range(n)])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, images=images, ids=ids, split=split)
    return images[split == "heldout"], ids[split == "heldout"]


SMALL = {"architecture": "default", "latent_dim": 8, "g_width": 4, "d_width": 4, "max_width": 16}


def _tiny_critic(path, poison=False, n_classes=1, seed=0):
    """A discriminator with the documented outputs [logits (N, K), features (N, F)]."""
    import keras

    from ganstyle import io
    from ganstyle.models import networks

    keras.utils.set_random_seed(seed)
    _, model = networks.build_models(tiny_recipe(**SMALL), SIZE, 1, n_classes=n_classes)
    if poison:
        layer = model.get_layer("logit")
        layer.kernel.assign(np.full(layer.kernel.shape, np.nan, np.float32))
    io.save_keras(model, path)
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
    np.testing.assert_array_equal(stacked["logits"], [[0], [0], [2], [2], [2]])
    no_logits = features.stack_cultures(images, ids, lambda x: (np.zeros((len(x), 3)), None))
    assert "logits" not in no_logits


def test_non_finite_rows():
    stacked = {"features": np.array([[0.0, 1.0], [np.nan, 1.0], [0.0, 0.0]]), "logits": np.array([0.0, 0.0, np.inf])}
    np.testing.assert_array_equal(features.non_finite_rows(stacked), [False, True, True])


def _critic_argv(tmp_path, cultures, paths, joint=True):
    import json

    critics = []
    for i, culture in enumerate(cultures):
        _tiny_critic(tmp_path / f"{culture}.keras", seed=i)
        critics.append(str(tmp_path / f"{culture}.keras"))
    snapshots = []
    if joint:
        for step in (4, 6):
            _tiny_critic(tmp_path / f"critic_step{step:06d}.keras", n_classes=len(cultures), seed=step)
            snapshots.append(str(tmp_path / f"critic_step{step:06d}.keras"))
    settings = json.dumps({k: v for k, v in SMALL.items()})
    joint_settings = json.dumps({"steps": 6, "snapshot_every": 2, "snapshots": 2, "d_width": 4, "g_width": 4})
    return (
        [
            "--critics",
            *critics,
            "--joint-critics",
            *snapshots,
            "--seed",
            "3",
            "--cultures",
            *cultures,
            "--corpora",
            *paths,
            "--settings",
            settings,
            "--joint",
            joint_settings,
            "--out-dir",
            str(tmp_path / "features"),
        ],
        critics,
        snapshots,
    )


def test_every_critic_space_of_one_seed(tmp_path, corpora):
    import json

    from ganstyle.config import section
    from ganstyle.models import gan
    from ganstyle.models.critic import critic_outputs, load_critic
    from ganstyle.models.recipes import GANRecipe

    cultures, paths, heldout = corpora
    argv, critics, snapshots = _critic_argv(tmp_path, cultures, paths)
    assert features.main(argv) == 0
    n = sum(len(heldout[c][0]) for c in cultures)
    rows = np.concatenate([np.full(len(heldout[c][0]), c) for c in cultures]) == "gamma"
    with np.load(tmp_path / "features" / "critic" / "seed3.npz") as data:
        assert list(data["culture"]) == [c for c in cultures for _ in heldout[c][0]]
        assert list(data["ids"]) == [i for c in cultures for i in heldout[c][1]]
        assert str(data["space"]) == "critic" and int(data["seed"]) == 3
        assert data["logits"].shape == (1, n, 3) and list(data["logit_cultures"]) == cultures
        assert data["features"].shape[:2] == (1, n) and data["features"].shape[2] == data["blocks"].sum() and len(data["blocks"]) == 3
        # block and logit k are culture k's critic, as the critic API gives them on the held-out images alone
        direct_features, direct_logits = critic_outputs(load_critic(critics[1]), heldout["gamma"][0])
        width = data["blocks"][0]
        np.testing.assert_allclose(data["features"][0][rows][:, width : 2 * width], direct_features, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(data["logits"][0][rows][:, 1:2], direct_logits, rtol=1e-5, atol=1e-6)
    with np.load(tmp_path / "features" / "joint" / "seed3.npz") as data:
        assert data["features"].shape[:2] == (2, n) and data["logits"].shape == (2, n, 3) and list(data["steps"]) == [4, 6]
        assert data["embeddings"].shape[:2] == (2, 3)
    # the controls: the networks a run of seed 3 starts from
    untrained = gan.initial_models(GANRecipe.from_section(section("gan", json.dumps(SMALL))), SIZE, 1, 3)[1]
    with np.load(tmp_path / "features" / "critic_untrained" / "seed3.npz") as data:
        direct_features, direct_logits = critic_outputs(untrained, heldout["gamma"][0])
        np.testing.assert_allclose(data["features"][0][rows], direct_features, rtol=1e-5, atol=1e-6)
        assert data["logits"].shape == (1, n, 3)  # one network, its logit standing for every culture's critic
        np.testing.assert_allclose(data["logits"][0][rows][:, 2:3], direct_logits, rtol=1e-5, atol=1e-6)
    with np.load(tmp_path / "features" / "joint_untrained" / "seed3.npz") as data:
        assert data["logits"].shape == (1, n, 3) and list(data["steps"]) == [0]
    # the same inputs give identical files
    first = (tmp_path / "features" / "joint" / "seed3.npz").read_bytes()
    assert features.main(argv) == 0
    with np.load(tmp_path / "features" / "joint" / "seed3.npz") as again, np.load(io_bytes(first)) as before:
        for key in before.files:
            np.testing.assert_array_equal(again[key], before[key])


def io_bytes(data: bytes):
    import io

    return io.BytesIO(data)


def test_without_the_joint_critic_only_the_per_culture_spaces_are_written(tmp_path, corpora):
    cultures, paths, _ = corpora
    argv, _, _ = _critic_argv(tmp_path, cultures, paths, joint=False)
    assert features.main(argv) == 0
    assert sorted(p.name for p in (tmp_path / "features").iterdir()) == ["critic", "critic_untrained"]


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
    with pytest.raises(UserError, match="needs --out-dir and --seed"):
        features.main(["--critics", str(tmp_path / "d.keras"), "--cultures", *cultures, "--corpora", *paths])
    argv, _, _ = _critic_argv(tmp_path, cultures, paths, joint=False)
    start = argv.index("--critics")
    with pytest.raises(UserError, match="--critics lists 2 files but --cultures 3"):
        features.main(argv[: start + 1] + argv[start + 2 :])


def test_diverged_critic_is_refused(tmp_path, corpora):
    cultures, paths, _ = corpora
    argv, critics, _ = _critic_argv(tmp_path, cultures, paths, joint=False)
    _tiny_critic(tmp_path / "nan.keras", poison=True)
    argv[argv.index(critics[0])] = str(tmp_path / "nan.keras")
    with pytest.raises(UserError, match="nan.keras: non-finite features for .* images"):
        features.main(argv)
    assert not (tmp_path / "features" / "critic" / "seed3.npz").exists()
