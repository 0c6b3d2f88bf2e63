"""Stage typicality: every held-out image's logit under every culture's critic, averaged over snapshots and seeds."""

import numpy as np
import pandas as pd
import pytest
from map_inputs import typicality_argv, write_map_inputs

from ganstyle.errors import UserError
from ganstyle.io import files
from ganstyle.stages import typicality


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    # ids of digits only, and file names pandas would read as missing or as numbers
    names = {"0000000000000001": "NA", "0001000000000002": "1e5", "0002000000000003": "caf\\xe9 <b>.png"}
    inputs = write_map_inputs(tmp_path_factory.mktemp("typicality"), n_per_culture={"latin": 12, "greek": 9, "arabic": 7}, names=names)
    assert typicality.main(typicality_argv(inputs)) == 0
    return inputs, files.load_typicality(inputs["typicality"]), names


def test_scores_are_the_logits_averaged_over_snapshots_then_seeds(scored):
    inputs, table, _ = scored
    seeds = [files.load_critic_space(path) for path in inputs["features"]]
    per_seed = np.stack([f.logits.astype(np.float64).mean(axis=0) for f in seeds])  # (seeds, N, K)
    for k, critic in enumerate(["latin", "greek", "arabic"]):
        rows = table[table["critic"] == critic].set_index("id").loc[seeds[0].ids]
        np.testing.assert_allclose(rows["score"], per_seed[:, :, k].mean(axis=0), rtol=1e-5)
        np.testing.assert_allclose(rows["score_sd"], per_seed[:, :, k].std(axis=0, ddof=1), rtol=1e-4)
        assert list(rows["culture"]) == list(seeds[0].culture)
    assert set(table["space"]) == {"joint"} and len(table) == 3 * 28


def test_contrast_is_the_score_minus_the_score_of_the_images_own_critic(scored):
    _, table, _ = scored
    wide = table.pivot(index="id", columns="critic", values="score")
    for row in table.sample(40, random_state=0).itertuples():
        assert row.contrast == pytest.approx(wide.loc[row.id, row.critic] - wide.loc[row.id, row.culture], rel=1e-5, abs=1e-4)
    assert (table.loc[table["critic"] == table["culture"], "contrast"] == 0).all()


def test_rank_one_is_the_highest_score_within_the_culture(scored):
    _, table, _ = scored
    for (critic, culture), rows in table.groupby(["critic", "culture"]):
        ordered = rows.sort_values("score", ascending=False)
        assert list(ordered["rank"]) == list(range(1, len(rows) + 1)), (critic, culture)
        assert (rows["n_images"] == len(rows)).all()
    # the planted structure: each culture's critic scores its own images above the others'
    own = table[table["critic"] == table["culture"]].groupby("culture")["score"].mean()
    other = table[table["critic"] != table["culture"]].groupby("culture")["score"].mean()
    assert (own > other).all()


def test_ids_and_file_names_stay_text(scored):
    _, table, names = scored
    by_id = table.drop_duplicates("id").set_index("id")["source"]
    for image, name in names.items():
        assert by_id[image] == name
    assert by_id["0000000000000002"] == "latin/00002.png"
    assert table["id"].str.len().eq(16).all()


def test_one_seed_has_no_spread(tmp_path):
    inputs = write_map_inputs(tmp_path, n_per_culture=5, seeds=(3,))
    assert typicality.main(typicality_argv(inputs)) == 0
    table = files.load_typicality(inputs["typicality"])
    assert table["score_sd"].isna().all() and table["score"].notna().all()


def test_seeds_with_other_images_are_refused(tmp_path):
    inputs = write_map_inputs(tmp_path, n_per_culture=5)
    other = files.load_critic_space(inputs["features"][1])
    other.ids = other.ids.copy()
    other.ids[0] = "ffffffffffffffff"
    files.save_critic_space(inputs["features"][1], other)
    with pytest.raises(UserError, match="seed1.npz: holds other images"):
        typicality.main(typicality_argv(inputs))


def test_seeds_in_another_image_order_are_aligned(tmp_path):
    inputs = write_map_inputs(tmp_path, n_per_culture=6)
    assert typicality.main(typicality_argv(inputs)) == 0
    before = files.load_typicality(inputs["typicality"]).set_index(["critic", "id"])["score"]
    f = files.load_critic_space(inputs["features"][1])
    order = np.random.default_rng(0).permutation(len(f.ids))
    f.ids, f.culture, f.features, f.logits = f.ids[order], f.culture[order], f.features[:, order], f.logits[:, order]
    files.save_critic_space(inputs["features"][1], f)
    assert typicality.main(typicality_argv(inputs)) == 0
    after = files.load_typicality(inputs["typicality"]).set_index(["critic", "id"])["score"]
    pd.testing.assert_series_equal(before.sort_index(), after.sort_index(), rtol=1e-6)


@pytest.mark.parametrize(
    ("space", "message"),
    [("reference", "'typicality.space': the space 'reference' has no critic"), ("joint_critic", "'typicality.space': no feature space 'joint_critic'")],
)
def test_a_space_without_critics_is_a_clear_error(tmp_path, space, message):
    inputs = write_map_inputs(tmp_path, n_per_culture=4)
    with pytest.raises(UserError, match=message):
        typicality.main(typicality_argv(inputs, space=space))


def test_files_of_another_space_are_refused(tmp_path):
    inputs = write_map_inputs(tmp_path, n_per_culture=4)
    with pytest.raises(UserError, match="holds the space 'joint', config key 'typicality.space' is 'critic'"):
        typicality.main(typicality_argv(inputs, space="critic"))


def test_a_missing_features_file_names_the_file(tmp_path):
    inputs = write_map_inputs(tmp_path, n_per_culture=4)
    inputs["features"] = [str(tmp_path / "nowhere" / "seed0.npz")]
    with pytest.raises(UserError, match="nowhere/seed0.npz"):
        typicality.main(typicality_argv(inputs))
