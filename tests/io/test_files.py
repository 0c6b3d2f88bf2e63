"""Every inter-stage file: what its writer saves, its loader returns; a missing file or array is named."""

import numpy as np
import pytest

from ganstyle.errors import UserError
from ganstyle.io import files

rng = np.random.default_rng(0)
CULTURE, IDS = np.array(["a", "a", "b"]), np.array(["0", "1", "2"])


def _equal(a, b):
    for key, value in vars(a).items():
        other = getattr(b, key)
        if isinstance(value, dict):
            assert value.keys() == other.keys(), key
            for name in value:
                if value[name] is None:
                    assert other[name] is None, (key, name)
                else:
                    np.testing.assert_array_equal(value[name], other[name])
        elif value is None:
            assert other is None, key
        else:
            np.testing.assert_array_equal(value, other)


@pytest.mark.parametrize(
    "save, load, record",
    [
        (
            files.save_reference_features,
            files.load_reference_features,
            files.ReferenceFeatures(rng.normal(size=(3, 4)).astype(np.float32), CULTURE, IDS, "ref-v2"),
        ),
        (
            files.save_critic_space,
            files.load_critic_space,
            files.CriticSpaceFeatures(
                "joint",
                1,
                CULTURE,
                IDS,
                np.array(["a", "b"]),
                np.array([10, 20]),
                rng.normal(size=(2, 3, 5)),
                np.array([5]),
                rng.normal(size=(2, 3, 2)),
                rng.normal(size=(2, 2, 4)),
            ),
        ),
        (
            files.save_distances,
            files.load_distances,
            files.Distances(
                ["a", "b"], {"m": np.array([[0.0, 1.0], [1.0, 0.0]]), "n": np.eye(2)}, {"m": rng.random((3, 2, 2)), "n": None}, {"m": True, "n": False}
            ),
        ),
        (files.save_image_features, files.load_image_features, files.ImageFeatures(CULTURE, IDS, {"reference": rng.normal(size=(3, 2))})),
        (
            files.save_samples,
            files.load_samples,
            files.Samples(rng.integers(0, 256, (2, 4, 4, 1), dtype=np.uint8), rng.normal(size=(2, 8)), np.array(["a", "b"])),
        ),
        (files.save_samples, files.load_samples, files.Samples(rng.integers(0, 256, (2, 4, 4, 1), dtype=np.uint8), rng.normal(size=(2, 8)))),
        (
            files.save_translations,
            files.load_translations,
            files.Translations(
                np.array(["a", "b"]),
                rng.integers(0, 256, (3, 4, 4, 1), dtype=np.uint8),
                np.array([0, 1, 1]),
                np.array(["x", "y", "z"]),
                rng.integers(0, 256, (2, 3, 4, 4, 1), dtype=np.uint8),
                rng.random((2, 3)).astype(np.float32),
            ),
        ),
    ],
)
def test_what_is_saved_is_loaded(tmp_path, save, load, record):
    save(tmp_path / "file.npz", record)
    _equal(record, load(tmp_path / "file.npz"))


def test_a_missing_file_or_array_is_named_with_the_rule_to_run(tmp_path):
    with pytest.raises(UserError, match=r"distances not found: .*nothing.npz \(run similarity\)"):
        files.load_distances(tmp_path / "nothing.npz")
    np.savez(tmp_path / "old.npz", images=np.zeros((1, 2, 2, 1), np.uint8))
    with pytest.raises(UserError, match=r"old.npz: missing array\(s\) noise \(re-run train_gan\)"):
        files.load_samples(tmp_path / "old.npz")


def test_stage_file_names_are_declared_once():
    assert files.SIMILARITY.path("results", "distances") == "results/similarity/distances.npz"
    assert files.GAN_RUN.path("res", "samples", culture="greek", seed=0) == "res/gan/greek/seed0/samples.npz"
