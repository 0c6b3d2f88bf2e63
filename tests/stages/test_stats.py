from itertools import permutations as permutations_of

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.stats import pearsonr

from ganstyle.errors import UserError
from ganstyle.metrics import measures
from ganstyle.metrics.geo import haversine_km
from ganstyle.stages import stats


def test_agreement_table_uses_group_count_and_chosen_k():
    assignments = pd.concat(
        [
            pd.DataFrame({"measure": "m", "method": "average", "k": 2, "culture": list("abcd"), "cluster": [0, 0, 1, 1]}),
            pd.DataFrame({"measure": "m", "method": "average", "k": 3, "culture": list("abcd"), "cluster": [0, 0, 1, 2]}),
        ]
    )
    summary = pd.DataFrame({"measure": ["m"], "method": ["average"], "chosen_k": [3]})
    table = stats.agreement_table(assignments, summary, {"a": "g", "b": "g", "c": "h", "d": "h"}, 0, 0)
    assert list(table["k_rule"]) == ["groups", "silhouette"] and list(table["k"]) == [2, 3]
    assert table.loc[0, "ari"] == pytest.approx(1.0) and table.loc[1, "ari"] < 1.0


def test_unit_permutation_keeps_cultures_whole():
    unit_of_row = np.repeat(["a", "b", "c", "d"], 3)
    seen = []

    def statistic(labels):
        # every culture's rows always carry one label
        assert all(len(set(labels[unit_of_row == u])) == 1 for u in "abcd")
        seen.append(tuple(labels))
        return float(labels[0] == labels[3])

    _, p = stats.unit_permutation_test(statistic, unit_of_row, {"a": "g", "b": "g", "c": "h", "d": "h"}, 50, seed=0)
    assert len(seen) == 51 and 0 < p <= 1


def pseudo_f(x: np.ndarray, labels: np.ndarray) -> float:
    """PERMANOVA's pseudo-F on Euclidean distances (Anderson 2001), written out: the stage uses scikit-bio's."""
    d2 = squareform(pdist(x)) ** 2
    n, names = len(x), np.unique(labels)
    total = d2[np.triu_indices(n, 1)].sum() / n
    within = sum(d2[np.ix_(labels == g, labels == g)][np.triu_indices((labels == g).sum(), 1)].sum() / (labels == g).sum() for g in names)
    return ((total - within) / (len(names) - 1)) / (within / (n - len(names)))


def test_culture_level_permutation_p_is_exact_on_an_enumerable_case():
    """4 cultures in 2 groups of 2: 4! orders of the cultures' group labels give 6 distinct labelings.  The
    stage's p for 'group' (whole cultures permuted) is (1 + #{permuted pseudo-F >= observed}) / (1 + permutations),
    counted here with an independent pseudo-F over the labelings the stage drew, and close to the exact p."""
    rng = np.random.default_rng(8)
    cultures = np.repeat(["c0", "c1", "c2", "c3"], 3)
    shift = {"c0": 0.0, "c1": 0.8, "c2": 3.0, "c3": 4.5}  # unequal, so that the 6 labelings give distinct F
    x = np.array([[shift[c], 0.0] for c in cultures]) + 0.3 * rng.normal(size=(12, 2))
    group_of = {"c0": "g", "c1": "g", "c2": "h", "c3": "h"}
    permutations, seed = 199, 4

    anova, _ = stats.image_level_tests(x, cultures, group_of, "space", permutations, seed)
    by_group = next(row for row in anova if row["factor"] == "group")
    observed = pseudo_f(x, np.array([group_of[c] for c in cultures]))
    assert by_group["permuted"] == "cultures" and by_group["statistic"] == pytest.approx(observed, rel=1e-9)

    drawn = []  # the stage's permutations, replayed with the same seed
    stats.unit_permutation_test(lambda labels: drawn.append(labels.copy()) or 0.0, cultures, group_of, permutations, seed)
    assert len(drawn) == 1 + permutations and list(drawn[0]) == [group_of[c] for c in cultures]
    hits = sum(pseudo_f(x, labels) >= observed - 1e-9 for labels in drawn[1:])
    assert by_group["p_value"] == (1 + hits) / (1 + permutations)

    # every labelling the test can draw, enumerated: cultures stay whole, and only 6 exist
    units = sorted(group_of)
    labelings = {tuple(np.array(order)[np.searchsorted(units, cultures)]) for order in permutations_of([group_of[u] for u in units])}
    assert len(labelings) == 6 and {tuple(labels) for labels in drawn[1:]} == labelings
    exact = np.mean([pseudo_f(x, np.array(labels)) >= observed - 1e-9 for labels in labelings])
    assert exact == pytest.approx(2 / 6)  # the observed split and its mirror image
    assert abs(by_group["p_value"] - exact) < 4 * np.sqrt(exact * (1 - exact) / permutations)


def _clouds(shifts, n=25, dim=4, seed=0, spread=None):
    rng = np.random.default_rng(seed)
    spread = spread or [1.0] * len(shifts)
    x = np.concatenate([shift + s * rng.normal(size=(n, dim)) for shift, s in zip(shifts, spread)])
    return x, np.repeat([f"c{i}" for i in range(len(shifts))], n)


def test_image_level_permanova_detects_planted_differences_only():
    x, labels = _clouds([0.0, 0.0, 3.0, 3.0])
    groups = {"c0": "g", "c1": "g", "c2": "h", "c3": "h"}
    anova, disp = stats.image_level_tests(x, labels, groups, "space", 99, seed=0)
    by_factor = {row["factor"]: row for row in anova}
    assert by_factor["culture"]["p_value"] <= 0.02
    assert by_factor["group"]["permuted"] == "cultures"
    # 4 cultures in 2 groups of 2: only 3 distinct splits, so the smallest attainable p is large
    assert by_factor["group"]["p_value"] > 0.2
    same, labels = _clouds([0.0, 0.0, 0.0, 0.0], seed=1)
    anova, _ = stats.image_level_tests(same, labels, {}, "space", 99, seed=0)
    assert len(anova) == 1 and anova[0]["p_value"] > 0.05


def test_permdisp_detects_different_spread():
    x, labels = _clouds([0.0, 0.0], n=40, spread=[1.0, 4.0])
    _, disp = stats.image_level_tests(x, labels, {}, "space", 99, seed=0)
    assert disp[0]["p_value"] <= 0.02


def test_culture_level_tests_need_replicated_groups():
    d = squareform(pdist(np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.3]])))
    cultures = [f"c{i}" for i in range(6)]
    anova, disp = stats.culture_level_tests(d, cultures, dict(zip(cultures, "ggghhh")), "m", 199, 0)
    assert anova["p_value"] < 0.1 and anova["n_objects"] == 6
    assert stats.culture_level_tests(d, cultures, dict(zip(cultures, "abcdef")), "m", 99, 0) is None


def test_mantel_table_against_independent_pearson():
    rng = np.random.default_rng(2)
    points = rng.normal(size=(7, 2))
    a = squareform(pdist(points))
    b = squareform(pdist(points + 0.3 * rng.normal(size=points.shape)))
    c = squareform(pdist(rng.normal(size=(7, 2))))
    table = stats.mantel_table({"a": a, "b": b, "c": c}, "pearson", 99, seed=0)
    assert list(zip(table["matrix_a"], table["matrix_b"])) == [("a", "b"), ("a", "c"), ("b", "c")]
    upper = np.triu_indices(7, 1)
    assert table.loc[0, "r"] == pytest.approx(pearsonr(a[upper], b[upper])[0])
    assert table.loc[0, "p_value"] < 0.05
    assert table["q_bh"].notna().all() and (table["q_bh"] >= table["p_value"] - 1e-12).all()


def test_mantel_table_uses_cultures_known_to_both():
    rng = np.random.default_rng(3)
    points = rng.normal(size=(6, 2))
    full = squareform(pdist(points))
    partial = full.copy()
    partial[5, :] = partial[:, 5] = np.nan  # e.g. a culture without coordinates
    table = stats.mantel_table({"full": full, "partial": partial}, "spearman", 99, seed=0)
    assert table.loc[0, "n"] == 5 and table.loc[0, "r"] == pytest.approx(1.0)


def test_geographic_matrix_is_haversine(tmp_path):
    registry = pd.DataFrame({"lat": [0.0, 0.0, 45.0, None], "lon": [0.0, 90.0, 10.0, None]}, index=["a", "b", "c", "d"])
    geo = stats.geographic_matrix(registry, ["a", "b", "c", "d"])
    assert geo[0, 1] == pytest.approx(haversine_km(0, 0, 0, 90))
    assert np.isnan(geo[3]).all()
    assert stats.geographic_matrix(registry.iloc[[0, 3]], ["a", "d"]) is None


def test_external_matrix_is_validated_and_reordered(tmp_path):
    path = tmp_path / "m.tsv"
    pd.DataFrame([[0, 1, 2], [1, 0, 3], [2, 3, 0]], index=["a", "b", "c"], columns=["a", "b", "c"]).to_csv(path, sep="\t")
    matrix = stats.read_external_matrix(path, ["c", "a"], "key")
    np.testing.assert_array_equal(matrix, [[0, 2], [2, 0]])
    with pytest.raises(UserError, match="m.tsv.*culture.*zz"):
        stats.read_external_matrix(path, ["a", "zz"], "key")
    pd.DataFrame([[0, 1], [2, 0]], index=["a", "b"], columns=["a", "b"]).to_csv(path, sep="\t")
    with pytest.raises(UserError, match="m.tsv.*not symmetric"):
        stats.read_external_matrix(path, ["a", "b"], "key")


def test_seed_stability_between_seeds():
    rng = np.random.default_rng(4)
    points = rng.normal(size=(6, 3))
    cultures = [f"c{i}" for i in range(6)]
    rows = []
    for seed, noise in ((0, 0.0), (1, 0.05), (2, 0.05)):
        d = squareform(pdist(points + noise * rng.normal(size=points.shape)))
        for i, a in enumerate(cultures):
            for j, b in enumerate(cultures):
                rows.append({"seed": seed, "culture_a": a, "culture_b": b, "measure": "fd_critic", "value": d[i, j]})
    matrices = stats.seed_matrices(pd.DataFrame(rows), cultures)
    table = stats.seed_stability_table(matrices, "spearman", 99, seed=0)
    assert len(table) == 3 and (table["r"] > 0.8).all()
    assert stats.seed_stability_table({"m": {0: matrices["fd_critic"][0]}}, "spearman", 99, 0).empty


def test_stage_end_to_end(planted, tmp_path):
    # 6 cultures in 3 groups, features planted by group; the similarity and cluster stages made the inputs
    out = planted.stats
    ari = pd.read_csv(out / "ari_nmi.tsv", sep="\t")
    at_groups = ari[(ari["k_rule"] == "groups") & (ari["method"] == "average") & ari["measure"].isin(["fd_reference", "kid_reference", "fd_critic"])]
    assert len(at_groups) == 3 and (at_groups["ari"] == 1.0).all() and (at_groups["k"] == 3).all()
    mantel = pd.read_csv(out / "mantel.tsv", sep="\t")
    assert {"geographic_km", "language"} <= set(mantel["matrix_a"]) | set(mantel["matrix_b"])
    row = mantel[(mantel["matrix_a"] == "fd_reference") & (mantel["matrix_b"] == "language")]
    assert row["r"].iloc[0] > 0.5
    permanova = pd.read_csv(out / "permanova.tsv", sep="\t")
    assert set(permanova["space"]) >= {"reference", "critic_seed0", "joint_seed0", "critic_untrained_seed0", "fd_reference"}
    assert set(permanova["level"]) == {"image", "culture"}
    permdisp = pd.read_csv(out / "permdisp.tsv", sep="\t")
    assert len(permdisp) == len(permanova)
    seeds = pd.read_csv(out / "seed_stability.tsv", sep="\t")
    per_seed_distances = {name for name, m in measures.MEASURES.items() if m.per_seed and m.distance}
    assert set(seeds["measure"]) == per_seed_distances
    assert (seeds["seed_a"] == 0).all() and (seeds["seed_b"] == 1).all()

    # group recovery: every distance, GAN measures beside their controls and the baseline
    recovery = pd.read_csv(out / "group_recovery.tsv", sep="\t").set_index("measure")
    assert list(recovery.columns) == stats.RECOVERY_COLUMNS[1:]
    assert {"kid_reference", "kid_critic", "kid_critic_untrained", "cross_conditional_joint"} <= set(recovery.index)
    assert recovery.loc["kid_reference", "role"] == "baseline" and recovery.loc["kid_joint_untrained", "role"] == "control"
    assert recovery.loc["fd_reference", "group_auc"] == 1.0 and recovery.loc["fd_reference", "ari"] == 1.0
    assert recovery.loc["cross_conditional_joint", "group_auc"] > 0.9  # the planted logits carry the groups
    row = recovery.loc["kid_critic"]
    assert row["n_seeds"] == 2 and row["group_auc_seed_min"] <= row["group_auc_seed_max"] and np.isfinite(row["seed_r_min"])
    assert row["group_auc_ci_low"] <= row["group_auc_ci_high"]
    assert recovery.loc["kid_reference", "n_seeds"] == 0
    # Benjamini-Hochberg over the measures of the table: m = the measures with a p-value
    p = recovery["ari_p_value"].dropna().sort_values()
    by_hand = np.minimum.accumulate((p * len(p) / np.arange(1, len(p) + 1))[::-1])[::-1].clip(upper=1)
    np.testing.assert_allclose(recovery.loc[p.index, "ari_q_bh"], by_hand)

    summary = pd.read_csv(out / "summary.tsv", sep="\t").set_index("measure")
    assert summary.loc["fd_reference", "ari_groups"] == 1.0
    assert summary.loc["fd_critic", "r_fd_reference"] == pytest.approx(
        mantel[(mantel["matrix_a"] == "fd_reference") & (mantel["matrix_b"] == "fd_critic")]["r"].iloc[0]
    )
    assert np.isfinite(summary.loc["fd_critic", "seed_r_min"]) and np.isnan(summary.loc["fd_reference", "seed_r_min"])

    again = tmp_path / "again"
    assert stats.main(planted.stats_argv(again)) == 0
    for name in ("ari_nmi.tsv", "permanova.tsv", "permdisp.tsv", "mantel.tsv", "seed_stability.tsv", "summary.tsv", "group_recovery.tsv"):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name

    bad = dict(planted.stats_settings, external_matrices=[{"name": "fd_critic", "path": str(planted.external)}])
    with pytest.raises(UserError, match="already used"):
        stats.main(planted.stats_argv(tmp_path / "bad", bad))
