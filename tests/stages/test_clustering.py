import json

import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import pdist, squareform

from ganstyle.errors import UserError
from ganstyle.io import files
from ganstyle.stages import clustering


def _points_distance(points):
    return squareform(pdist(np.asarray(points, dtype=float)))


# two tight groups far apart, and a looser third
POINTS = np.array([[0, 0], [0.3, 0], [0, 0.3], [10, 0], [10.3, 0], [10, 0.4], [5, 9], [5.5, 9.5]])
GROUPS = [0, 0, 0, 1, 1, 1, 2, 2]


def test_clean_distance_checks_and_repairs():
    d = np.array([[0.1, 1.0], [1.2, 0.0]])
    cleaned = clustering.clean_distance(d)
    assert cleaned[0, 1] == cleaned[1, 0] == pytest.approx(1.1) and cleaned[0, 0] == 0
    with pytest.raises(ValueError, match="NaN"):
        clustering.clean_distance(np.array([[0, np.nan], [np.nan, 0]]))
    with pytest.raises(ValueError, match="negative"):
        clustering.clean_distance(np.array([[0, -1.0], [-1.0, 0]]))
    with pytest.raises(ValueError, match="not square"):
        clustering.clean_distance(np.zeros((2, 3)))


def test_tree_cut_and_silhouette_recover_the_groups():
    d = _points_distance(POINTS)
    tree = clustering.cluster_tree(d, "average")
    np.testing.assert_allclose(tree, linkage(pdist(POINTS), "average"))
    labels = clustering.flat_clusters(tree, 3)
    assert list(labels) == GROUPS  # numbered by first appearance
    table = clustering.silhouette_table(tree, d, "average", max_clusters=10)
    assert list(table["k"]) == list(range(2, 8))  # capped at K - 1
    assert clustering.choose_k(table)[0] == 3


def test_ward_clusters_the_square_root():
    d = _points_distance(POINTS) ** 2  # squared Euclidean, like MMD^2
    tree = clustering.cluster_tree(d, "ward")
    np.testing.assert_allclose(tree, linkage(POINTS, "ward"))
    assert clustering.cophenetic_correlation(tree, d, "ward") > 0.9


def test_cophenetic_correlation_of_an_ultrametric_is_one():
    # an ultrametric is reproduced exactly by average linkage
    d = np.array([[0, 1, 4, 4], [1, 0, 4, 4], [4, 4, 0, 2], [4, 4, 2, 0]], dtype=float)
    tree = clustering.cluster_tree(d, "average")
    assert clustering.cophenetic_correlation(tree, d, "average") == pytest.approx(1.0)
    flat = np.ones((4, 4)) - np.eye(4)
    assert np.isnan(clustering.cophenetic_correlation(clustering.cluster_tree(flat, "average"), flat, "average"))


def test_choose_k_prefers_the_smallest_on_ties_and_handles_none():
    table = pd.DataFrame({"k": [2, 3, 4], "n_clusters": [2, 3, 4], "silhouette": [0.5, 0.7, 0.7]})
    assert clustering.choose_k(table) == (3, 0.7)
    assert clustering.choose_k(table.assign(silhouette=np.nan))[0] == 0


def test_node_support_and_consensus():
    d = _points_distance(POINTS)
    tree = clustering.cluster_tree(d, "average")
    leaves = clustering.node_leaf_sets(tree)
    assert leaves[-1] == frozenset(range(len(POINTS)))
    assert frozenset({0, 1, 2}) in leaves and frozenset({3, 4, 5}) in leaves
    np.testing.assert_array_equal(clustering.node_support(tree, [tree, tree]), 1.0)
    # a replicate in which culture 2 has moved to the second group
    moved = POINTS.copy()
    moved[2] = [10.1, 0.2]
    other = clustering.cluster_tree(_points_distance(moved), "average")
    support = clustering.node_support(tree, [tree, other])
    assert support[leaves.index(frozenset({0, 1, 2}))] == 0.5
    assert support[leaves.index(frozenset({6, 7}))] == 1.0
    assert support[-1] == 1.0
    assert np.isnan(clustering.node_support(tree, [])).all()

    consensus = clustering.co_clustering([np.array([0, 0, 1]), np.array([0, 1, 1])])
    np.testing.assert_allclose(consensus, [[1, 0.5, 0], [0.5, 1, 0.5], [0, 0.5, 1]])


def test_mds_recovers_a_planar_configuration_and_alignment_undoes_rotation():
    d = _points_distance(POINTS)
    embedding = clustering.mds_embedding(d, seed=0)
    assert clustering.kruskal_stress(embedding, d) < 1e-3
    np.testing.assert_allclose(_points_distance(embedding), d, atol=1e-2)
    angle = 0.7
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    turned = (embedding @ rotation) * np.array([1, -1]) + 3.0  # rotated, reflected, moved
    np.testing.assert_allclose(clustering.align_to(turned, embedding), embedding, atol=1e-9)


def test_mds_spread_grows_with_bootstrap_noise():
    d = _points_distance(POINTS)
    rng = np.random.default_rng(0)

    def replicates(noise):
        return np.stack([_points_distance(POINTS + noise * rng.normal(size=POINTS.shape)) for _ in range(15)])

    point, quiet = clustering.mds_with_spread(d, replicates(0.05), seed=0)
    _, loud = clustering.mds_with_spread(d, replicates(0.5), seed=0)

    def spread(aligned):
        return np.sqrt(((aligned - point) ** 2).sum(-1).mean())

    assert spread(quiet) < spread(loud)
    assert quiet.shape == (15, len(POINTS), 2)


def _write_distances(path, with_boot=True):
    cultures = [f"c{i}" for i in range(len(POINTS))]
    rng = np.random.default_rng(1)
    d = _points_distance(POINTS)
    values = {"fd_x": d, "kid_x": d**2, "transfer_y_sym": d + 1.0 - np.eye(len(d))}
    replicates = {}
    if with_boot:
        boot = np.stack([_points_distance(POINTS + 0.3 * rng.normal(size=POINTS.shape)) for _ in range(10)])
        replicates = {"fd_x": boot, "kid_x": boot**2}
    files.save_distances(path, files.Distances(list(cultures), values, replicates, {"kid_x": True}))
    return cultures


def test_stage_writes_tables(tmp_path):
    cultures = _write_distances(tmp_path / "distances.npz")
    settings = json.dumps({"methods": ["average", "ward"], "max_clusters": 5, "seed": 0})
    out = tmp_path / "clustering"
    assert clustering.main(["--distances", str(tmp_path / "distances.npz"), "--out", str(out), "--settings", settings]) == 0
    summary = pd.read_csv(out / "summary.tsv", sep="\t")
    pairs = set(zip(summary["measure"], summary["method"]))
    assert pairs == {("fd_x", "average"), ("kid_x", "average"), ("kid_x", "ward"), ("transfer_y_sym", "average")}
    assert (summary.set_index(["measure", "method"]).loc[("fd_x", "average"), "chosen_k"]) == 3
    assert summary.set_index("measure").loc["transfer_y_sym", "n_boot"] == 0
    linkage_table = pd.read_csv(out / "linkage.tsv", sep="\t")
    fd_nodes = linkage_table[(linkage_table["measure"] == "fd_x")]
    assert len(fd_nodes) == len(cultures) - 1 and fd_nodes["support"].between(0, 1).all()
    assert fd_nodes["leaves"].iloc[-1].split(",") == cultures
    assignments = pd.read_csv(out / "assignments.tsv", sep="\t")
    cut = assignments[(assignments["measure"] == "fd_x") & (assignments["method"] == "average") & (assignments["k"] == 3)]
    assert list(cut["cluster"]) == GROUPS
    consensus = pd.read_csv(out / "consensus" / "fd_x__average.tsv", sep="\t", index_col=0)
    assert list(consensus.index) == cultures and np.allclose(np.diag(consensus), 1)
    assert not (out / "consensus" / "transfer_y_sym__average.tsv").exists()
    mds = pd.read_csv(out / "mds.tsv", sep="\t")
    assert set(mds["measure"]) == {"fd_x", "kid_x", "transfer_y_sym"}
    assert mds.loc[mds["measure"] == "fd_x", "spread"].gt(0).all()
    assert mds.loc[mds["measure"] == "transfer_y_sym", "spread"].isna().all()
    boot = pd.read_csv(out / "mds_bootstrap.tsv", sep="\t")
    assert len(boot[boot["measure"] == "fd_x"]) == 10 * len(cultures)

    again = tmp_path / "again"
    clustering.main(["--distances", str(tmp_path / "distances.npz"), "--out", str(again), "--settings", settings])
    for name in ("summary.tsv", "linkage.tsv", "mds.tsv", "mds_bootstrap.tsv"):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


def test_stage_rejects_bad_input(tmp_path):
    with pytest.raises(UserError, match="distances not found"):
        clustering.main(["--distances", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "out")])
    np.savez(
        tmp_path / "bad.npz",
        cultures=np.array(["a", "b", "c"]),
        measures=np.array(["m"]),
        ward_ok=np.array([False]),
        m=np.array([[0, 1, np.nan], [1, 0, 1], [np.nan, 1, 0]]),
    )
    with pytest.raises(UserError, match="bad.npz: m: contains NaN"):
        clustering.main(["--distances", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "out")])


def test_mds_of_distances_that_break_the_triangle_inequality_is_finite():
    # FD and KID between cultures are not metrics: 26.6 + 120.4 < 154.1 made
    # scikit-learn's classical start take the root of a negative eigenvalue.
    import numpy as np

    from ganstyle.stages.clustering import mds_embedding

    distance = np.array([[0.0, 26.5675, 120.3939], [26.5675, 0.0, 154.1148], [120.3939, 154.1148, 0.0]])
    embedding = mds_embedding(distance, seed=0)
    assert embedding.shape == (3, 2) and np.isfinite(embedding).all()
