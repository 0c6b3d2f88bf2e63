"""Figures: every family writes non-empty PDF/PNG files and a TSV equal to the table it was drawn from.

The inputs are real stage outputs: synthetic features with planted groups go
through the similarity, cluster and stats stages; corpora, GAN samples,
histories, translations and judge tables are written in their documented formats.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from planted_results import CULTURES, GROUPS, LABELS, LATLON, Planted, plant

from ganstyle import figures
from ganstyle.errors import UserError
from ganstyle.figures import statistics as statistics_figures
from ganstyle.figures import style
from ganstyle.figures.images import HISTORY_COLUMNS, pick_evenly
from ganstyle.figures.maps import ellipse_parameters
from ganstyle.figures.matrices import CRITIC_AUC_MEASURE, leaf_order, tree_from_linkage
from ganstyle.figures.shared import display_of, display_of_missing
from ganstyle.figures.statistics import mantel_pairs
from ganstyle.io import files
from ganstyle.stages import figures as figures_stage
from ganstyle.stages import typicality

# low dpi and PNG only: the tests check files and data, not looks (every format: test_every_format_is_written_and_redrawn_identically)
SETTINGS = {"dpi": 72, "formats": ["png"], "typical_images": 4, "bridges_closest": 2, "bridges_pairs": ["latin__thai"], "bridges_images": 3}


def build_results(
    root: Path,
    planted: Planted | None = None,
    cultures=CULTURES,
    groups=GROUPS,
    labels=LABELS,
    latlon=LATLON,
    seeds=(0, 1),
    translations=True,
    n_boot=10,
    permutations=19,
) -> dict:
    """A results/ tree of every stage the figures read: the planted similarity, cluster and stats results
    (the session's shared ``planted``, else made here from the other arguments) beside corpora, GAN
    samples and histories, typicality, translations and judge tables written in their documented formats."""
    rng = np.random.default_rng(3)
    if planted is None:
        planted = plant(root, cultures, groups, labels, latlon, seeds, n_boot, permutations, transfer=False, external=False)
    else:  # the shared results, linked (read only) into this tree
        for stage in ("features", "similarity", "clustering", "stats"):
            (root / "results" / stage).parent.mkdir(parents=True, exist_ok=True)
            (root / "results" / stage).symlink_to(planted.results / stage, target_is_directory=True)
    # corpora: images whose brightness pattern depends on the group
    for k, culture in enumerate(planted.cultures):
        images = rng.integers(0, 256, size=(50, 16, 16, 1), dtype=np.uint8)
        images[:, : 2 + 2 * (k % 4)] = 255
        split = np.where(np.arange(50) % 5 == 0, "heldout", "train")
        folder = root / "results" / "corpus" / culture
        folder.mkdir(parents=True)
        np.savez(folder / "images.npz", images=images, ids=np.array([f"{culture[:4]}{i:012x}" for i in range(50)]), split=split)
        for seed in planted.seeds:
            gan = root / "results" / "gan" / culture / f"seed{seed}"
            gan.mkdir(parents=True)
            files.save_samples(
                gan / "samples.npz", files.Samples(rng.integers(0, 256, size=(40, 16, 16, 1), dtype=np.uint8), rng.normal(size=(40, 8)).astype(np.float32))
            )
            steps = np.arange(50, 501, 50)
            pd.DataFrame(
                {
                    "step": steps,
                    "d_loss": 2 * np.exp(-steps / 300) + 0.5,
                    "g_loss": 0.4 + steps / 1000,
                    "d_real": 0.8 - steps / 2000,
                    "d_fake": -0.9 + steps / 3000,
                    "r1": 0.0,
                    "images_per_s": 500.0,
                    "elapsed_s": steps / 10,
                }
            ).to_csv(gan / "history.tsv", sep="\t", index=False)
    # every held-out image's typicality as the typicality stage writes it: each culture's critic scores its own images higher
    cultures, seeds = planted.cultures, planted.seeds
    heldout = {}
    for culture in cultures:
        with np.load(root / "results" / "corpus" / culture / "images.npz") as data:
            heldout[culture] = data["ids"][data["split"] == "heldout"].astype(str)
    image_ids = np.concatenate(list(heldout.values()))
    image_cultures = np.repeat(cultures, [len(v) for v in heldout.values()])
    planted_scores = (image_cultures[:, None] == np.array(cultures)[None]) * 2.0
    seed_scores = np.stack([planted_scores + rng.normal(size=planted_scores.shape) for _ in seeds])
    table = typicality.typicality_table(
        typicality.SeedScores("joint", image_cultures, image_ids, np.array(cultures), seed_scores),
        {i: f"{c}/{i}.png" for c, i in zip(image_cultures, image_ids)},
    )
    files.save_typicality(root / "results" / "images" / "typicality.tsv", table)
    # translations as the translator writes them (first seed), and the judge's tables
    if translations:
        with np.load(root / "results" / "corpus" / cultures[0] / "images.npz") as data:
            shape = data["images"].shape[1:]
        n_held = 2 * len(cultures)
        source_culture = np.repeat(np.arange(len(cultures)), 2).astype(np.int32)
        files.save_translations(
            root / "results" / "transfer" / "seed0" / "translations.npz",
            files.Translations(
                np.array(cultures), rng.integers(0, 256, size=(n_held, *shape), dtype=np.uint8), source_culture, np.array([f"i{i}" for i in range(n_held)]),
                rng.integers(0, 256, size=(len(cultures), n_held, *shape), dtype=np.uint8), rng.uniform(5, 30, size=(len(cultures), n_held)).astype(np.float32),
            ),
        )  # fmt: skip
        judge = root / "results" / "judge"
        judge.mkdir(parents=True)
        real = pd.DataFrame({"culture": cultures, "n": 10, "accuracy": np.linspace(0.8, 1.0, len(cultures)), "mean_probability": 0.7})
        real.to_csv(judge / "real.tsv", sep="\t", index=False)
        for kind, seeds_of_kind in (("gan_samples", seeds), ("joint_samples", seeds), ("translations", seeds[:1])):
            rows = [{"kind": kind, "seed": s, "culture": c, "n": 20, "accuracy": 0.5, "mean_probability": 0.4} for s in seeds_of_kind for c in cultures]
            scored = pd.DataFrame(rows).merge(real[["culture", "accuracy"]].rename(columns={"accuracy": "real_accuracy"}), on="culture")
            scored.assign(ratio=scored["accuracy"] / scored["real_accuracy"]).to_csv(judge / f"{kind}.tsv", sep="\t", index=False)
        # interpolations as the interpolate stage writes them: p(b) rises for latin -> greek, falls for arabic -> thai
        pairs, draws, steps = [("latin", "greek"), ("arabic", "thai")], 3, 4
        files.save_interpolations(
            root / "results" / "images" / "interpolations.npz",
            files.Interpolations(
                rng.integers(0, 256, size=(2, draws, steps, *shape), dtype=np.uint8), np.array(["latin", "arabic"]), np.array(["greek", "thai"])
            ),
        )
        rows = [
            {"pair": p, "a": a, "b": b, "closest": p + 1, "configured": False, "draw": d, "step": t, "weight_b": t / (steps - 1),
             "p_a": 0.5, "p_b": (0.2 + 0.2 * t if p == 0 else 0.8 - 0.2 * t) + 0.01 * d, "judged": b}
            for p, (a, b) in enumerate(pairs) for d in range(draws) for t in range(steps)
        ]  # fmt: skip
        pd.DataFrame(rows).to_csv(root / "results" / "images" / "interpolations.tsv", sep="\t", index=False)

    return {"registry": planted.registry, "results": root / "results", "seeds": list(planted.seeds), "cultures": planted.cultures}


def run_families(built: dict, out: Path, settings: dict = SETTINGS) -> None:
    """Every figure family, as the Snakemake rules call them."""
    r, cultures = built["results"], built["cultures"]
    common = ["--cultures-file", str(built["registry"]), "--settings", json.dumps(settings)]
    sim, cl, st = r / "similarity", r / "clustering", r / "stats"
    corpora = [str(r / "corpus" / c / "images.npz") for c in cultures]
    calls = [
        ["corpus", "--cultures", *cultures, "--corpora", *[str(r / "corpus" / c / "images.npz") for c in cultures], "--out", str(out / "corpus" / "examples")],
        ["translations", "--translations", str(r / "transfer" / "seed0" / "translations.npz"), "--out", str(out / "transfer" / "translations")],
        ["judge", *[f"--{kind.replace('_', '-')}={r / 'judge' / f'{kind}.tsv'}" for kind in ("real", "gan_samples", "joint_samples", "translations")], "--out", str(out / "judge")],
        ["heatmaps", "--similarity", str(sim / "similarity.tsv"), "--distances", str(sim / "distances.npz"), "--linkage", str(cl / "linkage.tsv"), "--measures", str(sim / "measures.tsv"), "--out", str(out / "heatmaps")],
        ["critic-auc", "--similarity", str(sim / "similarity.tsv"), "--distances", str(sim / "distances.npz"), "--linkage", str(cl / "linkage.tsv"), "--out", str(out / "critic_auc")],
        ["dendrograms", "--linkage", str(cl / "linkage.tsv"), "--distances", str(sim / "distances.npz"), "--out", str(out / "dendrograms")],
        ["mds", "--mds", str(cl / "mds.tsv"), "--mds-bootstrap", str(cl / "mds_bootstrap.tsv"), "--out", str(out / "mds")],
        ["neighbours", "--similarity", str(sim / "similarity.tsv"), "--floors", str(sim / "floors.tsv"), "--measures", str(sim / "measures.tsv"), "--distances", str(sim / "distances.npz"), "--out", str(out / "neighbours")],
        ["mantel", "--distances", str(sim / "distances.npz"), "--measures", str(sim / "measures.tsv"), "--mantel", str(st / "mantel.tsv"), "--out", str(out / "mantel")],
        ["summary", "--ari-nmi", str(st / "ari_nmi.tsv"), "--permanova", str(st / "permanova.tsv"), "--out", str(out / "summary")],
        ["group-recovery", "--group-recovery", str(st / "group_recovery.tsv"), "--out", str(out / "group_recovery")],
        ["seed-stability", "--seed-stability", str(st / "seed_stability.tsv"), "--measures", str(sim / "measures.tsv"), "--out", str(out / "seed_stability")],
        ["interpolations", "--interpolations", str(r / "images" / "interpolations.npz"), "--table", str(r / "images" / "interpolations.tsv"), "--out", str(out / "images" / "interpolations")],
        ["typical", "--typicality", str(r / "images" / "typicality.tsv"), "--corpora", *corpora, "--out", str(out / "images" / "typical")],
        ["bridges", "--typicality", str(r / "images" / "typicality.tsv"), "--measures", str(sim / "measures.tsv"), "--matrices", str(sim / "matrices"), "--corpora", *corpora, "--out", str(out / "images" / "bridges")],
    ]  # fmt: skip
    for culture in cultures:
        seeds = built["seeds"]
        calls.append([
            "training", "--culture", culture, "--corpus", str(r / "corpus" / culture / "images.npz"),
            "--samples", str(r / "gan" / culture / f"seed{seeds[0]}" / "samples.npz"), "--sample-seed", str(seeds[0]),
            "--histories", *[str(r / "gan" / culture / f"seed{s}" / "history.tsv") for s in seeds], "--seeds", *map(str, seeds),
            "--out-samples", str(out / "training" / f"{culture}_samples"), "--out-curves", str(out / "training" / f"{culture}_curves"),
        ])  # fmt: skip
    for call in calls:
        assert figures_stage.main([call[0], *common, *call[1:]]) == 0, call[0]


@pytest.fixture(scope="module")
def drawn(planted, tmp_path_factory):
    root = tmp_path_factory.mktemp("figures")
    built = build_results(root, planted)
    out = root / "figures"
    run_families(built, out)
    return built, out


def read(path):
    return pd.read_csv(path, sep="\t")


def assert_figure(stem: Path):
    for suffix in (".png", ".tsv"):
        path = stem.with_name(stem.name + suffix)
        assert path.is_file() and path.stat().st_size > 0, path
    with Image.open(stem.with_name(stem.name + ".png")) as image:
        assert image.size[0] > 50 and image.size[1] > 50
    return read(stem.with_name(stem.name + ".tsv"))


# --------------------------------------------------------------------------- every figure and its data


def test_corpus_examples_show_training_images_with_counts(drawn):
    built, out = drawn
    table = assert_figure(out / "corpus" / "examples")
    assert list(dict.fromkeys(table["culture"])) == CULTURES
    assert set(table["label"]) == set(LABELS)
    for culture in CULTURES:
        with np.load(built["results"] / "corpus" / culture / "images.npz") as data:
            ids, split = data["ids"], data["split"]
        rows = table[table["culture"] == culture]
        assert list(rows["id"]) == list(ids[rows["index"]]) and (split[rows["index"]] == "train").all()
        assert rows["n_train"].iloc[0] == (split == "train").sum() and rows["n_heldout"].iloc[0] == (split == "heldout").sum()
        assert len(rows) == 8 and rows["index"].is_unique


def test_training_figures_hold_the_samples_and_histories(drawn):
    built, out = drawn
    for culture in CULTURES:
        samples = assert_figure(out / "training" / f"{culture}_samples")
        assert (samples["panel"] == "real").sum() == 36 and (samples["panel"] == "generated").sum() == 36
        generated = samples[samples["panel"] == "generated"]
        assert list(generated["index"]) == list(range(36)) and (generated["seed"] == built["seeds"][0]).all()
        curves = assert_figure(out / "training" / f"{culture}_curves")
        for seed in built["seeds"]:
            history = read(built["results"] / "gan" / culture / f"seed{seed}" / "history.tsv")
            mine = curves[curves["seed"] == seed].reset_index(drop=True)
            pd.testing.assert_frame_equal(mine[HISTORY_COLUMNS], history[HISTORY_COLUMNS], check_dtype=False, rtol=1e-5)


def test_translations_show_each_culture_into_every_culture(drawn):
    built, out = drawn
    table = assert_figure(out / "transfer" / "translations")
    cultures = built["cultures"]
    assert list(dict.fromkeys(table["source"])) == cultures  # registry order, one held-out image each by default
    for culture in cultures:
        assert table.loc[table.source == culture, "target"].tolist() == cultures
    translations = files.load_translations(built["results"] / "transfer" / "seed0" / "translations.npz")
    row = table[(table.source == "greek") & (table.target == "arabic")].iloc[0]
    assert row["cycle_error"] == pytest.approx(translations.cycle_error[cultures.index("arabic"), row["row"]], abs=1e-4)
    assert translations.source_culture[row["row"]] == cultures.index("greek")


def test_interpolations_show_every_strip_with_the_judges_rise(drawn):
    built, out = drawn
    table = assert_figure(out / "images" / "interpolations")
    source = read(built["results"] / "images" / "interpolations.tsv")
    assert len(table) == len(source) == 2 * 3 * 4
    np.testing.assert_allclose(table["p_b"], source["p_b"], atol=1e-6)
    rises = table.drop_duplicates("pair").set_index("pair")
    assert rises.loc[0, "rises"] and not rises.loc[1, "rises"]
    assert rises.loc[0, "p_b_start"] == pytest.approx(0.21) and rises.loc[0, "p_b_end"] == pytest.approx(0.81)
    assert rises.loc[0, "label_b"] == "Greek"


def test_judge_figure_plots_every_kind_against_the_real_accuracy(drawn):
    built, out = drawn
    table = assert_figure(out / "judge")
    assert set(table["kind"]) == {"real", "gan_samples", "joint_samples", "translations"}
    real = read(built["results"] / "judge" / "real.tsv").set_index("culture")["accuracy"]
    mine = table[table["kind"] == "real"].set_index("culture")["accuracy"]
    pd.testing.assert_series_equal(mine.sort_index(), real.sort_index(), check_names=False)
    gan = table[table["kind"] == "gan_samples"]
    np.testing.assert_allclose(gan["ratio"], 0.5 / gan["culture"].map(real), atol=1e-6)
    assert len(gan) == len(built["cultures"]) * len(built["seeds"])


def _similarity(built):
    return read(built["results"] / "similarity" / "similarity.tsv")


def test_heatmaps_hold_every_distance_matrix_in_tree_order(drawn):
    built, out = drawn
    measures = read(built["results"] / "similarity" / "measures.tsv")
    distances = [m for m in measures.loc[measures["distance"], "measure"] if figures.drawn_per_measure(m)]
    assert sorted(p.stem for p in (out / "heatmaps").glob("*.png")) == sorted(distances)
    linkage = read(built["results"] / "clustering" / "linkage.tsv")
    for measure in distances:
        table = assert_figure(out / "heatmaps" / measure)
        matrix = pd.read_csv(built["results"] / "similarity" / "matrices" / f"{measure}.tsv", sep="\t", index_col=0)
        for row in table.itertuples():
            assert row.value == pytest.approx(matrix.loc[row.culture_a, row.culture_b], rel=1e-5, abs=1e-12)
        source = _similarity(built).query("measure == @measure").set_index(["culture_a", "culture_b"])
        merged = table.set_index(["culture_a", "culture_b"]).join(source, rsuffix="_src")
        np.testing.assert_allclose(merged["ci_low"], merged["ci_low_src"], rtol=1e-5)
        # rows drawn in the order of the clustering stage's average-linkage tree
        tree = tree_from_linkage(linkage[(linkage["measure"] == measure) & (linkage["method"] == "average")])
        order = [CULTURES[i] for i in leaf_order(tree)]
        assert list(table.drop_duplicates("row").sort_values("row")["culture_a"]) == order
        assert len(table) == len(CULTURES) ** 2 and set(table["label_a"]) == set(LABELS)


def test_critic_auc_figure_is_the_directed_matrix(drawn):
    built, out = drawn
    table = assert_figure(out / "critic_auc")
    matrix = pd.read_csv(built["results"] / "similarity" / "matrices" / f"{CRITIC_AUC_MEASURE}.tsv", sep="\t", index_col=0)
    for row in table.itertuples():
        assert row.value == pytest.approx(matrix.loc[row.culture_a, row.culture_b], rel=1e-5)
    # directed: (a, b) and (b, a) differ somewhere
    square = table.pivot(index="culture_a", columns="culture_b", values="value")
    assert not np.allclose(square.to_numpy(), square.to_numpy().T)


def test_dendrograms_carry_the_stage_support(drawn):
    built, out = drawn
    linkage = read(built["results"] / "clustering" / "linkage.tsv")
    for (measure, method), rows in linkage.groupby(["measure", "method"]):
        if not figures.drawn_per_measure(measure):
            assert not (out / "dendrograms" / f"{measure}__{method}.png").exists()
            continue
        table = assert_figure(out / "dendrograms" / f"{measure}__{method}")
        merges = table[table["kind"] == "merge"].sort_values("node").reset_index(drop=True)
        expected = rows.sort_values("node").reset_index(drop=True)
        for column in ("node", "left", "right", "size", "leaves"):
            assert list(merges[column].astype(type(expected[column].iloc[0]))) == list(expected[column]), column
        np.testing.assert_allclose(merges["height"], expected["height"], rtol=1e-5)
        np.testing.assert_allclose(merges["support"], expected["support"], rtol=1e-5)
        leaves = table[table["kind"] == "leaf"]
        assert list(leaves["culture"]) == CULTURES
        # a merge sits midway between its children, as scipy draws it
        position = dict(zip(table["node"].astype(int), table["position"]))
        for merge in merges.itertuples():
            assert merge.position == pytest.approx((position[int(merge.left)] + position[int(merge.right)]) / 2)


def test_mds_points_are_the_stage_positions_with_bootstrap_ellipses(drawn):
    built, out = drawn
    mds = read(built["results"] / "clustering" / "mds.tsv")
    boot = read(built["results"] / "clustering" / "mds_bootstrap.tsv")
    for measure, rows in mds[mds["measure"].map(figures.drawn_per_measure)].groupby("measure"):
        table = assert_figure(out / "mds" / measure)
        np.testing.assert_allclose(table[["x", "y", "spread"]].to_numpy(), rows[["x", "y", "spread"]].to_numpy(), rtol=1e-5)
        assert (table["n_boot"] == boot[boot["measure"] == measure].groupby("culture").size().reindex(table["culture"], fill_value=0).to_numpy()).all()
        booted = table[table["n_boot"] > 0]
        assert (booted["ellipse_width"] >= booted["ellipse_height"]).all() and (booted["ellipse_height"] >= 0).all()
        assert table.loc[table["n_boot"] == 0, "ellipse_width"].isna().all()


def test_neighbours_are_the_nearest_with_their_intervals_and_floors(drawn):
    built, out = drawn
    similarity_table = _similarity(built)
    floors = read(built["results"] / "similarity" / "floors.tsv")
    for measure in ("fd_critic", "kid_reference", "probe_critic"):
        table = assert_figure(out / "neighbours" / measure)
        rows = similarity_table[(similarity_table["measure"] == measure) & (similarity_table["culture_a"] != similarity_table["culture_b"])]
        for culture in CULTURES:
            mine = table[table["culture"] == culture].sort_values("rank")
            theirs = rows[rows["culture_a"] == culture].sort_values("value", kind="stable").head(3)
            assert list(mine["neighbour"]) == list(theirs["culture_b"])
            np.testing.assert_allclose(mine[["value", "ci_low", "ci_high"]].to_numpy(), theirs[["value", "ci_low", "ci_high"]].to_numpy(), rtol=1e-5)
            own = floors[(floors["measure"] == measure) & (floors["culture"] == culture)]
            if len(own):
                assert mine["floor"].iloc[0] == pytest.approx(own["value"].mean(), rel=1e-5)
            else:
                assert mine["floor"].isna().all()


def test_mantel_scatter_holds_both_matrices_and_the_test(drawn):
    built, out = drawn
    table = assert_figure(out / "mantel")
    mantel = read(built["results"] / "stats" / "mantel.tsv")
    assert set(zip(table["measure"], table["comparison"])) >= {
        ("fd_critic", "fd_reference"),
        ("fd_critic", "geographic_km"),
        ("separability_critic", "fd_reference"),
        ("kid_median_critic", "kid_reference"),
    }
    fd_critic = pd.read_csv(built["results"] / "similarity" / "matrices" / "fd_critic.tsv", sep="\t", index_col=0)
    rows = table[(table["measure"] == "fd_critic") & (table["comparison"] == "fd_reference")]
    assert len(rows) == len(CULTURES) * (len(CULTURES) - 1) // 2
    for row in rows.itertuples():
        assert row.measure_value == pytest.approx(fd_critic.loc[row.culture_a, row.culture_b], rel=1e-5)
    test = mantel[
        ((mantel["matrix_a"] == "fd_critic") & (mantel["matrix_b"] == "fd_reference"))
        | ((mantel["matrix_a"] == "fd_reference") & (mantel["matrix_b"] == "fd_critic"))
    ]
    assert rows["r"].iloc[0] == pytest.approx(test["r"].iloc[0]) and rows["p_value"].iloc[0] == pytest.approx(test["p_value"].iloc[0])
    geo = table[(table["measure"] == "fd_critic") & (table["comparison"] == "geographic_km")]
    latin_greek = geo[(geo["culture_a"] == "latin") & (geo["culture_b"] == "greek")]["comparison_value"].iloc[0]
    assert 900 < latin_greek < 1100  # Rome - Athens, about 1050 km


def test_summary_table_holds_ari_nmi_and_permanova(drawn):
    built, out = drawn
    table = assert_figure(out / "summary")
    ari = read(built["results"] / "stats" / "ari_nmi.tsv")
    at_groups = ari[ari["k_rule"] == "groups"].reset_index(drop=True)
    agreement = table[table["table"] == "agreement"].reset_index(drop=True)
    assert list(agreement["measure"]) == list(at_groups["measure"])
    np.testing.assert_allclose(agreement[["ari", "nmi", "ari_p_value"]].to_numpy(), at_groups[["ari", "nmi", "p_value"]].to_numpy(), rtol=1e-5)
    permanova = read(built["results"] / "stats" / "permanova.tsv")
    image_level = permanova[permanova["level"] == "image"].reset_index(drop=True)
    rows = table[table["table"] == "permanova"].reset_index(drop=True)
    np.testing.assert_allclose(rows["pseudo_f"], image_level["statistic"], rtol=1e-5)
    culture_level = permanova[permanova["level"] == "culture"].set_index("space")
    for row in agreement.itertuples():
        assert row.pseudo_f == pytest.approx(culture_level.loc[row.measure, "statistic"], rel=1e-5)


def test_group_recovery_figure_holds_every_measure_with_its_role(drawn):
    built, out = drawn
    table = assert_figure(out / "group_recovery")
    recovery = read(built["results"] / "stats" / "group_recovery.tsv")
    assert sorted(table["measure"]) == sorted(recovery["measure"])
    merged = table.set_index("measure").join(recovery.set_index("measure"), rsuffix="_src")
    np.testing.assert_allclose(merged["group_auc"], merged["group_auc_src"], rtol=1e-5)
    assert {"gan", "control", "baseline"} <= set(table["role"])
    # the primary measure (the schema's default) is drawn first, and it alone
    assert table["measure"].iloc[0] == "cross_conditional_joint" and table["primary"].tolist() == [True] + [False] * (len(table) - 1)
    assert recovery.set_index("measure")["primary"].astype(str).str.lower().eq("true").sum() == 1
    # the planted groups are recovered by the reference baseline
    assert table.query("measure == 'kid_reference'")["group_auc"].iloc[0] > 0.8


def test_seed_stability_figure_has_one_dot_per_seed_pair(drawn):
    built, out = drawn
    table = assert_figure(out / "seed_stability")
    stability = read(built["results"] / "stats" / "seed_stability.tsv")
    assert len(table) == len(stability) and set(table["measure"]) == set(stability["measure"])
    assert table["role"].notna().all() and set(table["role"]) <= {"gan", "control"}


def test_seed_stability_figure_plots_the_r_of_seed_stability_tsv(planted, monkeypatch, tmp_path):
    """The dots themselves, read back from the drawn axes: x is r, the row is the measure."""
    drawn_figures = []
    monkeypatch.setattr(statistics_figures, "write_figure", lambda fig, out, table, settings: drawn_figures.append(fig))
    argv = ["seed-stability", "--cultures-file", str(planted.registry), "--settings", json.dumps(SETTINGS)]
    argv += [
        "--seed-stability",
        str(planted.stats / "seed_stability.tsv"),
        "--measures",
        str(planted.similarity / "measures.tsv"),
        "--out",
        str(tmp_path / "s"),
    ]
    assert figures_stage.main(argv) == 0
    (axes,) = drawn_figures[0].axes
    row_label = {tick.get_position()[1]: tick.get_text() for tick in axes.get_yticklabels()}
    plotted = sorted((row_label[y], x) for x, y in axes.collections[0].get_offsets())
    stability = read(planted.stats / "seed_stability.tsv")
    expected = sorted(zip(stability["measure"].map(figures.measure_label), stability["r"]))
    assert len(plotted) == len(expected) == len(stability) > 1
    assert [label for label, _ in plotted] == [label for label, _ in expected]
    np.testing.assert_allclose([x for _, x in plotted], [value for _, value in expected], rtol=1e-9)
    assert len({value for _, value in expected}) > 1  # distinct r values: a shuffled plot would show


def test_without_bootstrap_or_permutations_the_figures_still_draw(tmp_path):
    # n_boot 0: no intervals, no node support, no MDS spread; permutations 0: no p-values
    built = build_results(
        tmp_path, cultures=CULTURES[:4], groups=GROUPS[:4], labels=LABELS[:4], latlon=LATLON[:4], seeds=(0,), translations=False, n_boot=0, permutations=0
    )
    r = built["results"]
    common = ["--cultures-file", str(built["registry"]), "--settings", json.dumps(SETTINGS)]
    sim, cl, st, out = r / "similarity", r / "clustering", r / "stats", tmp_path / "figures"
    # the measures whose figures are checked (the critic's and its baseline counterpart), to keep the drawing short
    measures = tmp_path / "measures.tsv"
    all_measures = read(sim / "measures.tsv")
    all_measures[all_measures["measure"].isin(["fd_critic", "fd_reference"])].to_csv(measures, sep="\t", index=False)
    for call in (
        ["dendrograms", "--linkage", str(cl / "linkage.tsv"), "--distances", str(sim / "distances.npz"), "--out", str(out / "dendrograms")],
        ["mds", "--mds", str(cl / "mds.tsv"), "--mds-bootstrap", str(cl / "mds_bootstrap.tsv"), "--out", str(out / "mds")],
        ["neighbours", "--similarity", str(sim / "similarity.tsv"), "--floors", str(sim / "floors.tsv"), "--measures", str(measures), "--distances", str(sim / "distances.npz"), "--out", str(out / "neighbours")],
        ["mantel", "--distances", str(sim / "distances.npz"), "--measures", str(measures), "--mantel", str(st / "mantel.tsv"), "--out", str(out / "mantel")],
        ["summary", "--ari-nmi", str(st / "ari_nmi.tsv"), "--permanova", str(st / "permanova.tsv"), "--out", str(out / "summary")],
    ):  # fmt: skip
        assert figures_stage.main([call[0], *common, *call[1:]]) == 0, call[0]
    assert read(out / "dendrograms" / "fd_critic__average.tsv")["support"].isna().all()
    mds = assert_figure(out / "mds" / "fd_critic")
    assert mds["ellipse_width"].isna().all() and (mds["n_boot"] == 0).all()
    neighbours = assert_figure(out / "neighbours" / "fd_critic")
    assert neighbours["ci_low"].isna().all() and neighbours["value"].notna().all()
    assert assert_figure(out / "mantel")["p_value"].isna().all()
    assert_figure(out / "summary")


def test_every_format_is_written_and_redrawn_identically(drawn, tmp_path):
    """Each configured format is a real file of its kind, and drawing the same data again gives the same bytes
    (no creation dates or versions in the files)."""
    built, _ = drawn
    r = built["results"]
    settings = {**SETTINGS, "formats": ["pdf", "png", "svg"]}
    magic = {".pdf": b"%PDF", ".png": b"\x89PNG", ".svg": b"<?xml", ".tsv": b"table\tmeasure"}
    drawings = []
    for attempt in ("first", "again"):
        argv = ["summary", "--cultures-file", str(built["registry"]), "--settings", json.dumps(settings)]
        argv += ["--ari-nmi", str(r / "stats" / "ari_nmi.tsv"), "--permanova", str(r / "stats" / "permanova.tsv"), "--out", str(tmp_path / attempt / "summary")]
        assert figures_stage.main(argv) == 0
        drawings.append({path.name: path.read_bytes() for path in sorted((tmp_path / attempt).iterdir())})
    first, again = drawings
    assert {Path(name).suffix for name in first} == set(magic)
    for name, content in first.items():
        assert content.startswith(magic[Path(name).suffix]), name
        assert again[name] == content, name


# --------------------------------------------------------------------------- pure helpers and errors


def test_measure_labels():
    assert figures.measure_label("fd_critic") == "Fréchet distance, critic panel"
    assert figures.measure_label("kid_reference_excess") == "KID, reference features minus floor"
    assert figures.measure_label("separability_critic") == "separability, critic panel"
    assert figures.measure_label("cross_conditional_joint") == "cross-conditional score, joint critic"
    assert figures.measure_label("transfer_cycle_l1_sym") == "transfer cycle l1, both directions"
    assert figures.measure_label("geographic_km") == "geographic distance (km)"
    assert figures.measure_label("language") == "language"


def test_pick_evenly():
    assert list(pick_evenly(10, 3)) == [0, 4, 9] or list(pick_evenly(10, 3)) == [0, 5, 9]
    assert list(pick_evenly(2, 5)) == [0, 1] and len(pick_evenly(0, 3)) == 0


def test_ellipse_parameters_recover_a_known_spread():
    rng = np.random.default_rng(0)
    angle = np.radians(30)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    offsets = (rng.normal(size=(20000, 2)) * [2.0, 0.5]) @ rotation.T
    width, height, degrees = ellipse_parameters(offsets, 0.95)
    scale = 2 * np.sqrt(5.991)
    assert width == pytest.approx(scale * 2.0, rel=0.03) and height == pytest.approx(scale * 0.5, rel=0.03)
    assert (degrees - 30) % 180 == pytest.approx(0, abs=2) or (degrees - 30) % 180 == pytest.approx(180, abs=2)
    inside = np.mean([(p @ np.linalg.inv(np.cov(offsets.T)) @ p) <= 5.991 for p in offsets[:2000]])
    assert inside == pytest.approx(0.95, abs=0.02)
    assert np.isnan(ellipse_parameters(offsets[:2], 0.95)[0])


def test_mantel_pairs_use_counterparts_then_baseline():
    matrices = {m: np.zeros((3, 3)) for m in ("fd_critic", "fd_reference", "separability_critic", "kid_reference", "geographic_km")}
    pairs = mantel_pairs(["fd_critic", "separability_critic"], matrices, "kid_reference", ["geographic_km", "absent"])
    assert pairs == [
        ("fd_critic", "fd_reference"),
        ("fd_critic", "geographic_km"),
        ("separability_critic", "kid_reference"),
        ("separability_critic", "geographic_km"),
    ]


def test_controls_get_no_figures_of_their_own():
    assert figures.drawn_per_measure("kid_joint") and figures.drawn_per_measure("kid_reference")
    assert not figures.drawn_per_measure("kid_joint_untrained") and not figures.drawn_per_measure("kid_critic_untrained")


def test_display_uses_registry_labels_and_one_palette(tmp_path):
    from ganstyle.config.registry import load_registry

    registry_path = tmp_path / "cultures.tsv"
    registry_path.write_text("culture\tpath\tlabel\tgroup\na\ta\tAlpha\tg1\nb\tb\tBeta\t\nc\tc\tGamma\tg2\n")
    registry = load_registry(registry_path)
    display = display_of(registry, ["c", "a", "b"])
    assert display.labels(["c", "a", "b"]) == ["Gamma", "Alpha", "Beta"]
    assert display.group("b") == style.NO_GROUP and display.colour("b") == style.NO_GROUP_COLOUR
    assert display.colour("a") == style.OKABE_ITO[0] and display.colour("c") == style.OKABE_ITO[1]
    extended = display_of_missing(display, ["zeta"])
    assert extended.label("zeta") == "zeta" and extended.group("zeta") == style.NO_GROUP


def test_missing_inputs_name_the_file(drawn, tmp_path):
    built, _ = drawn
    common = ["--cultures-file", str(built["registry"]), "--settings", json.dumps(SETTINGS)]
    with pytest.raises(UserError, match="ari_nmi_missing.tsv"):
        figures_stage.main(["summary", *common, "--ari-nmi", str(tmp_path / "ari_nmi_missing.tsv"), "--permanova", "x.tsv", "--out", str(tmp_path / "s")])
    bad = tmp_path / "history.tsv"
    bad.write_text("step\td_loss\n1\t0.5\n")
    r = built["results"]
    argv = [
        "training", *common, "--culture", "latin", "--corpus", str(r / "corpus" / "latin" / "images.npz"), "--samples", str(r / "gan" / "latin" / "seed0" / "samples.npz"),
        "--sample-seed", "0", "--histories", str(bad), "--seeds", "0", "--out-samples", str(tmp_path / "s"), "--out-curves", str(tmp_path / "c"),
    ]  # fmt: skip
    with pytest.raises(UserError, match=r"history.tsv: missing column\(s\) g_loss"):
        figures_stage.main(argv)
    with pytest.raises(UserError, match="figures.formats"):
        figures_stage.main(
            [
                "summary",
                "--cultures-file",
                str(built["registry"]),
                "--settings",
                json.dumps({"formats": ["pdf"]}),
                "--ari-nmi",
                "a",
                "--permanova",
                "b",
                "--out",
                "c",
            ]
        )


# --------------------------------------------------------------------------- the images behind the numbers


def _typicality(built):
    return files.load_typicality(built["results"] / "images" / "typicality.tsv")


def test_typical_figure_shows_each_cultures_highest_and_lowest_ranked_images(drawn):
    built, out = drawn
    table = assert_figure(out / "images" / "typical")
    scores = _typicality(built)
    assert list(dict.fromkeys(table["culture"])) == CULTURES
    for culture in CULTURES:
        own = scores[(scores["critic"] == culture) & (scores["culture"] == culture)].sort_values("score", ascending=False)
        mine = table[table["culture"] == culture]
        typical, atypical = mine[mine["kind"] == "typical"], mine[mine["kind"] == "atypical"]
        assert list(typical["id"].astype(str)) == list(own["id"][:4]) and list(typical["position"]) == [0, 1, 2, 3]
        assert list(atypical["id"].astype(str)) == list(own["id"][-4:]) and list(atypical["rank"]) == [7, 8, 9, 10]
        np.testing.assert_allclose(typical["score"], own["score"][:4], rtol=1e-5)
        assert (mine["label"] == LABELS[CULTURES.index(culture)]).all()


def test_bridges_show_the_closest_and_the_configured_pairs(drawn):
    built, out = drawn
    table = assert_figure(out / "images" / "bridges")
    matrix = pd.read_csv(built["results"] / "similarity" / "matrices" / "cross_conditional_joint.tsv", sep="\t", index_col=0)
    symmetric = (matrix + matrix.T) / 2
    pairs = sorted(((symmetric.loc[a, b], a, b) for i, a in enumerate(CULTURES) for b in CULTURES[i + 1 :]))
    shown = table.drop_duplicates("pair").sort_values("pair")
    closest = [(a, b) for _, a, b in pairs[:2]]
    assert [tuple(sorted(p)) for p in zip(shown["a"], shown["b"])] == [tuple(sorted(p)) for p in closest + [("latin", "thai")]]
    assert list(shown["closest"]) == [1, 2, 0] and list(shown["configured"]) == [False, False, True]
    np.testing.assert_allclose(shown["distance"], [pairs[0][0], pairs[1][0], symmetric.loc["latin", "thai"]], rtol=1e-5)
    scores = _typicality(built)
    for (pair, critic, culture), rows in table.groupby(["pair", "critic", "culture"]):
        # by a's critic's score minus b's: the shared "looks real" part of both scores cancels
        mine = scores[(scores["critic"] == critic) & (scores["culture"] == culture)].set_index("id")["score"]
        theirs = scores[(scores["critic"] == culture) & (scores["culture"] == culture)].set_index("id")["score"]
        expected = (mine - theirs).sort_values(ascending=False).index[:3]
        assert list(rows.sort_values("position")["id"].astype(str)) == list(expected)
        a, b = shown.set_index("pair").loc[pair, ["a", "b"]]
        assert {critic, culture} == {a, b} and critic != culture


def test_bridges_refuse_an_unknown_culture_and_a_measure_that_is_no_distance(drawn, tmp_path):
    built, _ = drawn
    r = built["results"]
    argv = ["bridges", "--cultures-file", str(built["registry"]), "--typicality", str(r / "images" / "typicality.tsv"), "--measures", str(r / "similarity" / "measures.tsv"),
            "--matrices", str(r / "similarity" / "matrices"), "--corpora", *[str(r / "corpus" / c / "images.npz") for c in CULTURES], "--out", str(tmp_path / "bridges")]  # fmt: skip
    with pytest.raises(UserError, match="config key 'figures.bridges_pairs': pair 'latin__klingon' names unknown culture\\(s\\) klingon"):
        figures_stage.main([*argv, "--settings", json.dumps({**SETTINGS, "bridges_pairs": ["latin__klingon"]})])
    with pytest.raises(UserError, match="config key 'figures.bridges_measure': 'probe_confusion_joint' is not a distance measure"):
        figures_stage.main([*argv, "--settings", json.dumps({**SETTINGS, "bridges_measure": "probe_confusion_joint"})])
    assert not (tmp_path / "bridges.png").exists()
