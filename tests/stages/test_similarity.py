import json

import numpy as np
import pandas as pd
import pytest
from feature_files import write_feature_files
from planted_results import N_IMAGES, SIMILARITY_SETTINGS

from ganstyle.errors import UserError
from ganstyle.metrics.critics import embedding_cosine
from ganstyle.stages import similarity

SETTINGS = SIMILARITY_SETTINGS


# --------------------------------------------------------------------------- pure functions


def test_transfer_estimates_symmetrise_and_flag_incomplete_measures():
    table = pd.DataFrame(
        [
            ("a", "b", "steps", 2.0, 1.0, 3.0),
            ("b", "a", "steps", 4.0, 3.0, 6.0),
            ("a", "c", "steps", 1.0, 0.5, 1.5),
            ("b", "c", "steps", 3.0, 2.0, 4.0),
            ("a", "b", "fool", 0.3, 0.2, 0.4),
            ("a", "zz", "fool", 0.3, 0.2, 0.4),
        ],
        columns=["source", "target", "measure", "value", "ci_low", "ci_high"],
    )
    estimates, intervals, measures = similarity.transfer_estimates(table, ["a", "b", "c"], "t.tsv")
    sym = estimates["transfer_steps_sym"].value
    assert sym[0, 1] == pytest.approx(3.0) and sym[1, 0] == pytest.approx(3.0) and sym[0, 2] == pytest.approx(1.0)
    low, high = intervals["transfer_steps_sym"]
    assert (low[0, 1], high[0, 1]) == (1.0, 6.0)  # envelope of both directions
    assert measures["transfer_steps_sym"].distance
    assert not measures["transfer_fool_sym"].distance  # misses pairs
    assert estimates["transfer_steps"].value[1, 0] == 4.0
    with pytest.raises(UserError, match="t.tsv: missing column"):
        similarity.transfer_estimates(table.drop(columns="ci_low"), ["a", "b"], "t.tsv")


# --------------------------------------------------------------------------- the stage


def _run(cultures, critics, reference, out, settings=SETTINGS, transfer=()):
    import json

    argv = ["--cultures", *cultures, "--critic-features", *critics, "--reference", reference, "--out", str(out), "--settings", json.dumps(settings)]
    if transfer:
        argv += ["--transfer", *transfer]
    return similarity.main(argv)


def test_stage_writes_documented_tables_and_is_reproducible(planted, tmp_path):
    out, cultures, settings = planted.similarity, planted.cultures, planted.similarity_settings
    table = pd.read_csv(out / "similarity.tsv", sep="\t")
    assert list(table.columns) == similarity.LONG_COLUMNS
    k = len(cultures)
    assert set(table["measure"]) == set(similarity.MEASURES) | {"transfer_cycle_l1", "transfer_cycle_l1_sym"}
    for name in (
        "logit_auc_critic",
        "separability_critic",
        "fd_critic",
        "kid_critic",
        "probe_critic",
        "cross_conditional_joint",
        "kid_median_critic",
        "crossnobis_joint_untrained",
        "fd_reference",
        "fd_critic_excess",
        "transfer_cycle_l1_sym",
    ):
        rows = table[table["measure"] == name]
        assert len(rows) == k * k, name
        matrix = pd.read_csv(out / "matrices" / f"{name}.tsv", sep="\t", index_col=0)
        assert list(matrix.index) == cultures and list(matrix.columns) == cultures
    fd = table[(table["measure"] == "fd_critic") & (table["culture_a"] != table["culture_b"])]
    assert (fd["ci_low"] <= fd["value"]).all() and (fd["value"] <= fd["ci_high"]).all()
    assert (fd["n_a"] == N_IMAGES).all()

    with np.load(out / "distances.npz") as data:
        names = list(data["measures"])
        assert {"separability_critic", "fd_critic", "kid_critic", "probe_critic", "fd_reference", "embedding_cosine_joint", "transfer_cycle_l1_sym"} <= set(
            names
        )
        assert "logit_auc_critic" not in names  # asymmetric: not a distance
        assert data["fd_critic__boot"].shape == (settings["n_boot"], k, k)
        assert "transfer_cycle_l1_sym__boot" not in data.files and "embedding_cosine_joint__boot" not in data.files
        ward = dict(zip(names, data["ward_ok"]))
        assert ward["kid_critic"] and not ward["fd_critic"]
    per_seed = pd.read_csv(out / "per_seed.tsv", sep="\t")
    assert set(per_seed["seed"]) == {0, 1} and "fd_reference" not in set(per_seed["measure"])
    assert "cross_conditional_joint" in set(per_seed["measure"])
    floors = pd.read_csv(out / "floors.tsv", sep="\t")
    assert {"fd_critic", "kid_critic", "fd_reference", "kid_joint_untrained"} <= set(floors["measure"])
    measures = pd.read_csv(out / "measures.tsv", sep="\t").set_index("measure")
    assert measures.loc["kid_critic_untrained", "role"] == "control" and measures.loc["kid_reference", "role"] == "baseline"
    assert measures.loc["cross_conditional_joint", "role"] == "gan"
    assert measures.index[measures["primary"]].tolist() == ["cross_conditional_joint"]  # the schema's default
    spaces = pd.read_csv(out / "spaces.tsv", sep="\t")
    assert len(spaces[(spaces["space"] == "joint") & (spaces["seed"] == 0)]) == 2  # one row per snapshot
    with np.load(out / "image_features.npz") as data:
        assert {"reference", "critic_seed0", "critic_untrained_seed0", "joint_seed0", "joint_untrained_seed0", "culture", "ids"} == set(data.files)

    # re-running gives identical tables
    assert similarity.main(planted.similarity_argv(tmp_path / "again")) == 0
    for name in ("similarity.tsv", "floors.tsv", "per_seed.tsv"):
        assert (out / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name


def test_snapshots_are_averaged_within_a_seed(tmp_path):
    cultures, critics, reference = write_feature_files(tmp_path / "features")
    assert _run(cultures, critics, reference, tmp_path / "out", settings={**SETTINGS, "n_boot": 0}) == 0
    cosine = pd.read_csv(tmp_path / "out" / "matrices" / "embedding_cosine_joint.tsv", sep="\t", index_col=0).to_numpy()
    with np.load(critics[2]) as data:  # joint, seed 0: both snapshots have the same embeddings
        np.testing.assert_allclose(cosine, embedding_cosine(data["embeddings"][0].astype(np.float64)), rtol=1e-5)


def test_stage_rejects_mismatched_or_incomplete_features(tmp_path):
    cultures, critics, reference = write_feature_files(tmp_path / "features")
    with np.load(critics[0]) as data:
        arrays = dict(data)
    partial = tmp_path / "partial.npz"
    np.savez(partial, **{**arrays, "logit_cultures": arrays["logit_cultures"][:-1], "logits": arrays["logits"][..., :-1]})
    with pytest.raises(UserError, match="no critic \\(logit\\) for culture"):
        _run(cultures, [str(partial), *critics[1:]], reference, tmp_path / "out")
    other = tmp_path / "other.npz"
    np.savez(other, **{**arrays, "ids": arrays["ids"][::-1]})
    with pytest.raises(UserError, match="different held-out images"):
        _run(cultures, [str(other), *critics[1:]], reference, tmp_path / "out")
    with pytest.raises(UserError, match="listed twice"):
        _run(["a", "a", "b", "c"], critics, reference, tmp_path / "out")
    with pytest.raises(UserError, match="no features of the per-culture critics"):
        _run(cultures, critics[1:], reference, tmp_path / "out")


@pytest.mark.parametrize(
    ("primary", "message"),
    [
        ("kid_reference", "'kid_reference' is not a distance of a trained GAN critic"),
        ("kid_joint_untrained", "'kid_joint_untrained' is not a distance of a trained GAN critic"),
        ("no_such_measure", "'no_such_measure' is no measure"),
    ],
)
def test_the_primary_measure_must_be_a_gan_measure(planted, tmp_path, primary, message):
    argv = planted.similarity_argv(tmp_path / "out")
    argv[argv.index("--settings") + 1] = json.dumps({**planted.similarity_settings, "primary_measure": primary})
    with pytest.raises(UserError, match=f"config key 'similarity.primary_measure': {message}"):
        similarity.main(argv)


def test_a_primary_measure_of_a_space_without_features_is_named(planted, tmp_path):
    argv = planted.similarity_argv(tmp_path / "out")
    argv[argv.index("--critic-features") + 1 : argv.index("--reference")] = [c for c in planted.critics if "/critic" in c]
    with pytest.raises(UserError, match="'similarity.primary_measure': 'cross_conditional_joint' was not computed: no features of its space 'joint'"):
        similarity.main(argv)
