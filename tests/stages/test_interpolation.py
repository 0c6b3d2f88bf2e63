"""The interpolate stage: the joint generator moved from culture a to b with fixed noise, read by the judge."""

import json

import numpy as np
import pandas as pd
import pytest

from ganstyle import io
from ganstyle.errors import UserError
from ganstyle.io import files
from ganstyle.stages import interpolation

CULTURES = ["dark", "grey", "light"]


def test_culture_weights_move_from_a_to_b_in_equal_steps():
    weights = interpolation.culture_weights(0, 2, 3, 5)
    np.testing.assert_allclose(weights, [[1, 0, 0], [0.75, 0, 0.25], [0.5, 0, 0.5], [0.25, 0, 0.75], [0, 0, 1]])
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)


def test_a_pair_rises_when_p_b_grows_along_the_strip():
    steps = np.tile(np.arange(4), 2)
    table = pd.DataFrame(
        {
            "pair": [0] * 8 + [1] * 8,
            "a": ["x"] * 8 + ["y"] * 8,
            "b": ["y"] * 8 + ["x"] * 8,
            "step": np.r_[steps, steps],
            "p_b": np.r_[[0.1, 0.3, 0.6, 0.9] * 2, [0.5, 0.4, 0.3, 0.2], [0.6, 0.5, 0.4, 0.1]],
        }
    )
    rise = interpolation.rise_of_pairs(table).set_index("pair")
    assert rise.loc[0, "rises"] and not rise.loc[1, "rises"]
    assert rise.loc[0, "p_b_start"] == pytest.approx(0.1) and rise.loc[0, "p_b_end"] == pytest.approx(0.9)
    assert rise.loc[1, "p_b_end"] == pytest.approx(0.15)
    assert rise.loc[0, "spearman_rho"] > 0.9 and rise.loc[1, "spearman_rho"] < -0.9


def _planted_models(folder):
    """A 'generator' whose image brightness is its culture input (dark -0.8, grey 0, light +0.8), whatever
    the noise, and a 'judge' that reads brightness: both saved as the stages save theirs."""
    import keras

    z, c = keras.Input((4,)), keras.Input((3,))
    noise_part = keras.layers.Dense(64, use_bias=False, kernel_initializer="zeros")(z)
    culture_part = keras.layers.Dense(64, use_bias=False)(c)
    generator = keras.Model([z, c], keras.layers.Reshape((8, 8, 1))(keras.layers.Add()([noise_part, culture_part])))
    generator.layers[-3].set_weights([np.repeat(np.array([[-0.8], [0.0], [0.8]], np.float32), 64, axis=1)])
    image = keras.Input((8, 8, 1))
    logits = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(image))
    judge = keras.Model(image, logits)
    # logits of mean brightness m (-0.8 .. 0.8): dark -10 m - 4, grey 0, light 10 m - 4: each culture wins at its own brightness
    judge.layers[-1].set_weights([np.array([[-10.0, 0.0, 10.0]], np.float32), np.array([-4.0, 0.0, -4.0], np.float32)])
    folder.mkdir(parents=True, exist_ok=True)
    generator.save(folder / "generator.keras")
    judge.save(folder / "judge.keras")
    return folder / "generator.keras", folder / "judge.keras"


@pytest.fixture
def similarity_results(tmp_path):
    """measures.tsv with its primary measure, and that measure's matrix: dark-grey closest, dark-light farthest."""
    sim = tmp_path / "similarity"
    (sim / "matrices").mkdir(parents=True)
    pd.DataFrame({"measure": ["cross_conditional_joint", "kid_reference"], "distance": True, "primary": [True, False]}).to_csv(
        sim / "measures.tsv", sep="\t", index=False
    )
    matrix = pd.DataFrame([[0, 1, 5], [1, 0, 2], [5, 2, 0]], index=pd.Index(CULTURES, name="culture"), columns=CULTURES, dtype=float)
    matrix.to_csv(sim / "matrices" / "cross_conditional_joint.tsv", sep="\t")
    return sim


def _argv(models, sim, out, figures=None, settings=None):
    generator, judge = models
    return [
        "--generator", str(generator), "--judge", str(judge), "--cultures", *CULTURES, "--measures", str(sim / "measures.tsv"),
        "--matrices", str(sim / "matrices"), "--figure-settings", json.dumps(figures or {"bridges_closest": 1, "bridges_pairs": ["light__dark"]}),
        "--settings", json.dumps(settings or {"steps": 5, "draws": 2, "seed": 0}), "--out", str(out),
    ]  # fmt: skip


def test_the_stage_interpolates_the_bridge_pairs_and_the_judge_sees_b_rise(tmp_path, similarity_results):
    models = _planted_models(tmp_path / "models")
    out = tmp_path / "images"
    assert interpolation.main(_argv(models, similarity_results, out)) == 0
    record = files.load_interpolations(out / files.IMAGES["interpolations"])
    # the closest pair under the primary measure, then the configured one
    assert record.a.tolist() == ["dark", "light"] and record.b.tolist() == ["grey", "dark"]
    assert record.images.shape == (2, 2, 5, 8, 8, 1) and record.images.dtype == np.uint8
    # brightness follows the culture weights, not the noise: both draws alike, light -> dark darkens
    np.testing.assert_array_equal(record.images[:, 0], record.images[:, 1])
    brightness = record.images[1, 0].mean(axis=(1, 2, 3))
    assert np.all(np.diff(brightness) < 0)
    table = io.read_tsv(out / files.IMAGES["interpolations_table"])
    assert len(table) == 2 * 2 * 5 and set(table.columns) == set(interpolation.COLUMNS)
    np.testing.assert_allclose(table[table["pair"] == 1].groupby("step")["weight_b"].first(), np.linspace(0, 1, 5))
    rise = interpolation.rise_of_pairs(table).set_index("pair")
    assert rise["rises"].all()
    ends = table[table["pair"] == 1].sort_values("step")
    assert ends["judged"].iloc[0] == "light" and ends["judged"].iloc[-1] == "dark"


def test_bad_inputs_are_named(tmp_path, similarity_results):
    models = _planted_models(tmp_path / "models")
    out = tmp_path / "images"
    with pytest.raises(UserError, match="config key 'figures.bridges_pairs': pair 'light__klingon' names unknown culture"):
        interpolation.main(_argv(models, similarity_results, out, figures={"bridges_closest": 1, "bridges_pairs": ["light__klingon"]}))
    with pytest.raises(UserError, match="no pairs to interpolate"):
        interpolation.main(_argv(models, similarity_results, out, figures={"bridges_closest": 0, "bridges_pairs": []}))
    argv = _argv(models, similarity_results, out)
    argv[argv.index("--cultures") + 1 : argv.index("--measures")] = ["dark", "grey"]
    with pytest.raises(UserError, match="knows 3 cultures, --cultures lists 2"):
        interpolation.main(argv)
    with pytest.raises(UserError, match="joint generator model not found"):
        interpolation.main(_argv((tmp_path / "none.keras", models[1]), similarity_results, out))
