import warnings

import numpy as np
import pandas as pd
import pytest
from feature_files import write_feature_files
from PIL import Image, ImageDraw, ImageFilter
from sklearn.metrics import adjusted_rand_score, roc_auc_score

from ganstyle import clustering, similarity
from ganstyle.errors import UserError
from ganstyle.metrics.distances import frechet_distance
from ganstyle.metrics.groups import within_across_auc
from ganstyle.metrics.reference import reference_features

SETTINGS = {"n_components": 8, "n_boot": 12, "ci": 0.9, "split_half_reps": 5, "probe_folds": 3, "probe_c": 1.0, "crossnobis_folds": 4, "seed": 0}


# --------------------------------------------------------------------------- pure functions


def test_standardise_drops_constant_columns_and_scales():
    x = np.column_stack([np.arange(6.0), np.full(6, 3.0), 10 * np.arange(6.0) ** 2])
    z = similarity.standardise_columns(x)
    assert z.shape == (6, 2)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1)


def test_joint_space_weighs_blocks_equally_and_is_deterministic():
    rng = np.random.default_rng(0)
    small, large = rng.normal(size=(50, 3)), 1000 * rng.normal(size=(50, 3))
    embedding, explained = similarity.joint_space([small, large], n_components=6)
    assert embedding.shape == (50, 6)
    assert explained == pytest.approx(1.0)
    # with all components kept, distances are those of the standardised panel: the scale of a block is gone
    panel = np.hstack([similarity.standardise_columns(small), similarity.standardise_columns(large)])
    d_embed = np.linalg.norm(embedding[:, None] - embedding[None], axis=-1)
    d_panel = np.linalg.norm(panel[:, None] - panel[None], axis=-1)
    # ... up to one overall scale, which gives the components variance 1 on average
    assert embedding.var(axis=0).mean() == pytest.approx(1.0)
    np.testing.assert_allclose(d_embed, d_panel * np.sqrt(6 / panel.var(axis=0).sum()), atol=1e-9)
    again, _ = similarity.joint_space([small, large], n_components=6)
    np.testing.assert_array_equal(embedding, again)


def test_joint_space_of_wide_blocks_equals_plain_pca():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(5)
    wide = rng.normal(size=(30, 8)) @ rng.normal(size=(8, 200)) + 0.1 * rng.normal(size=(30, 200))  # more columns than rows
    narrow = rng.normal(size=(30, 4))
    embedding, _ = similarity.joint_space([wide, narrow], n_components=5)
    panel = np.hstack([similarity.standardise_columns(wide), similarity.standardise_columns(narrow)])
    plain = PCA(n_components=5, svd_solver="full").fit_transform(panel)
    plain *= np.sqrt(5 / plain.var(axis=0).sum())
    np.testing.assert_allclose(np.abs(embedding), np.abs(plain), atol=1e-9)


def test_bootstrap_resamples_stay_within_culture_and_repeat():
    groups = [np.arange(0, 5), np.arange(5, 12)]
    first = similarity.bootstrap_resamples(groups, 4, seed=3)
    second = similarity.bootstrap_resamples(groups, 4, seed=3)
    for a, b in zip(first, second):
        for rows, again, group in zip(a, b, groups):
            np.testing.assert_array_equal(rows, again)
            assert len(rows) == len(group) and set(rows) <= set(group)


def test_critic_auc_matrix_matches_sklearn():
    rng = np.random.default_rng(1)
    groups = [np.arange(0, 30), np.arange(30, 70), np.arange(70, 90)]
    logits = [rng.normal(size=90) + 2.0 * np.isin(np.arange(90), g) for g in groups]
    auc = similarity.critic_auc_matrix(logits, groups)
    for a in range(3):
        assert auc[a, a] == 0.5
        for b in range(3):
            if a != b:
                rows = np.concatenate([groups[a], groups[b]])
                truth = np.r_[np.ones(len(groups[a])), np.zeros(len(groups[b]))]
                assert auc[a, b] == pytest.approx(roc_auc_score(truth, logits[a][rows]))


def test_separability_is_symmetric_and_counts_inverted_critics():
    auc = np.array([[0.5, 0.9, 0.1], [0.7, 0.5, 0.5], [0.1, 0.5, 0.5]])
    sep = similarity.symmetrised_separability(auc)
    np.testing.assert_allclose(sep, sep.T)
    assert sep[0, 1] == pytest.approx((0.8 + 0.4) / 2)
    assert sep[0, 2] == pytest.approx(0.8)  # both critics invert: still separated
    assert sep[1, 2] == 0 and np.all(np.diag(sep) == 0)


def test_confusion_rates_and_probe_distance():
    true = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
    pred = np.array([0, 0, 1, 1, 1, 1, 0, 0, 2, 2])
    groups = [np.flatnonzero(true == k) for k in range(3)]
    conf = similarity.confusion_rates(true, pred, groups)
    np.testing.assert_allclose(conf, [[0.5, 0.5, 0], [0.5, 0.5, 0], [0, 0, 1]])
    dist = similarity.probe_distance(conf)
    assert dist[0, 1] == pytest.approx(0.0)  # mixed up as often as right: indistinguishable
    assert dist[0, 2] == pytest.approx(1.0) and dist[1, 2] == pytest.approx(1.0)
    # a bootstrap resample that repeats rows counts them repeatedly
    conf_rep = similarity.confusion_rates(true, pred, [np.array([0, 0, 0, 2]), groups[1], groups[2]])
    np.testing.assert_allclose(conf_rep[0], [0.75, 0.25, 0])


def test_probe_distance_warns_for_pairs_never_predicted():
    conf = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    with pytest.warns(RuntimeWarning, match="never predicted"):
        dist = similarity.probe_distance(conf)
    assert dist[0, 1] == 0.0 and np.isfinite(dist).all()


def test_probe_predictions_separate_separable_cultures():
    rng = np.random.default_rng(2)
    x = np.vstack([rng.normal(size=(20, 4)), rng.normal(size=(20, 4)) + 5.0])
    labels = np.repeat([0, 1], 20)
    predicted = similarity.probe_predictions(x, labels, folds=4, c=1.0, seed=0)
    assert (predicted == labels).mean() > 0.95
    with pytest.raises(ValueError, match="fewer than 2"):
        similarity.probe_predictions(x[:21], np.r_[labels[:20], 1], folds=4, c=1.0, seed=0)


def test_centred_replicates_have_the_estimate_as_median():
    rng = np.random.default_rng(3)
    value = np.array([[0.0, 5.0], [5.0, 0.0]])
    replicates = value + 3.0 + rng.normal(size=(101, 2, 2))  # biased upwards like FD under resampling
    centred = similarity.centre_replicates(value, replicates, (0.0, np.inf))
    np.testing.assert_allclose(np.median(centred, axis=0)[0, 1], 5.0)
    assert centred.min() >= 0.0
    low, high = similarity.percentile_interval(centred, 0.9)
    assert low[0, 1] < 5.0 < high[0, 1]
    raw_low, raw_high = similarity.percentile_interval(replicates, 0.9)
    assert high[0, 1] - low[0, 1] == pytest.approx(raw_high[0, 1] - raw_low[0, 1])  # the spread is kept


def test_relative_to_floor():
    values = np.array([[0.0, 10.0], [10.0, 0.0]])
    excess, ratio = similarity.relative_to_floor(values, np.array([2.0, 4.0]))
    assert excess[0, 1] == pytest.approx(7.0) and ratio[0, 1] == pytest.approx(10 / 3)
    assert excess[0, 0] == 0 and np.isnan(ratio[0, 0])
    _, ratio = similarity.relative_to_floor(values, np.array([0.0, -1.0]))
    assert np.isnan(ratio[0, 1])  # a floor at or below 0 has no ratio


def test_pairwise_matrix_uses_the_metrics_function():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(60, 3))
    groups = [np.arange(0, 20), np.arange(20, 40), np.arange(40, 60)]
    matrix = similarity.pairwise_matrix(x, groups, frechet_distance)
    assert matrix[1, 2] == pytest.approx(frechet_distance(x[20:40], x[40:60]))
    np.testing.assert_allclose(matrix, matrix.T)


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


# --------------------------------------------------------------------------- planted structure


def _shape_images(n: int, blur: float, seed: int, size: int = 32) -> np.ndarray:
    """Random outlined ellipses, rectangles and strokes (same distribution for every culture), then blurred."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n):
        image = Image.new("L", (size, size), 255)
        draw = ImageDraw.Draw(image)
        for _ in range(rng.integers(2, 5)):
            x0, y0 = rng.integers(0, size - 10, 2)
            x1, y1 = x0 + rng.integers(6, 14), y0 + rng.integers(6, 14)
            kind = rng.integers(3)
            if kind == 0:
                draw.ellipse((x0, y0, x1, y1), outline=0, width=2)
            elif kind == 1:
                draw.rectangle((x0, y0, x1, y1), outline=0, width=2)
            else:
                draw.line((x0, y0, x1, y1), fill=0, width=2)
        if blur > 0:
            image = image.filter(ImageFilter.GaussianBlur(blur))
        images.append(np.asarray(image)[..., None])
    return np.stack(images)


def _planted(n=60, blurs=(0.0, 0.25, 1.2, 1.45, 2.4, 2.65)):
    """Six cultures: the same kind of shapes, blurred by an increasing amount, in three planted groups."""
    images = np.concatenate([_shape_images(n, blur, seed=10 + i) for i, blur in enumerate(blurs)])
    cultures = [f"c{i}" for i in range(len(blurs))]
    labels = np.repeat(cultures, n)
    groups = similarity.culture_groups(labels, cultures)
    return images, cultures, groups, np.repeat(np.arange(len(blurs)), n), [0, 0, 1, 1, 2, 2]


def _recovered(matrix, k=3):
    tree = clustering.cluster_tree(clustering.clean_distance(matrix), "average")
    return clustering.flat_clusters(tree, k)


def test_planted_structure_distances_grow_and_clusters_are_recovered():
    images, cultures, groups, labels_index, planted = _planted()
    resamples = similarity.bootstrap_resamples(groups, 20, seed=0)
    data = similarity.SpaceData([reference_features(images)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimates, floors, _, _ = similarity.space_estimates(data, similarity.SPACES["reference"], labels_index, groups, resamples, SETTINGS, cultures)

    for name in ("fd_reference", "kid_reference", "crossnobis_reference"):
        matrix = estimates[name].value
        from_sharpest = matrix[0, 1:]
        assert np.all(np.diff(from_sharpest) > 0), f"{name} does not grow with blur: {from_sharpest}"
        from_blurriest = matrix[-1, :-1][::-1]
        assert np.all(np.diff(from_blurriest) > 0), f"{name} does not grow with blur: {from_blurriest}"
        if name in floors:  # the largest planted difference is far above the split-half noise floor
            assert matrix[0, -1] > 3 * np.nanmax(floors[name][:, 2])

    for name in ("fd_reference", "kid_reference", "crossnobis_reference", "probe_reference"):
        assert adjusted_rand_score(planted, _recovered(estimates[name].value)) == 1.0, name
        assert within_across_auc(estimates[name].value, planted) > 0.9, name


def test_planted_structure_is_recovered_by_the_critic_measures():
    """Critic-space measures on planted logits and features: a panel of per-culture critics and a joint
    critic whose culture embeddings and conditional logits carry the planted groups."""
    rng = np.random.default_rng(7)
    images, cultures, groups, labels_index, planted = _planted(n=40)
    features = reference_features(images)
    k = len(cultures)
    centres = np.stack([rng.normal(size=6) * 0.3 + 3.0 * np.eye(3)[g].repeat(2) for g in planted])  # group-level directions
    phi = centres[labels_index] + rng.normal(size=(len(images), 6))
    logits = phi @ centres.T  # logit conditioned on culture b: <e_b, phi>
    resamples = similarity.bootstrap_resamples(groups, 10, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        joint, _, _, _ = similarity.space_estimates(
            similarity.SpaceData([features], logits, centres), similarity.SPACES["joint"], labels_index, groups, resamples, SETTINGS, cultures
        )
        panel, _, _, _ = similarity.space_estimates(
            similarity.SpaceData([features[:, :100], features[:, 100:]], logits),
            similarity.SPACES["critic"],
            labels_index,
            groups,
            resamples,
            SETTINGS,
            cultures,
        )
    for name in ("cross_conditional_joint", "embedding_cosine_joint", "separability_joint", "kid_joint", "crossnobis_joint"):
        assert adjusted_rand_score(planted, _recovered(joint[name].value)) == 1.0, name
    for name in ("kid_median_critic", "crossnobis_median_critic", "crossnobis_critic", "separability_critic"):
        assert within_across_auc(panel[name].value, planted) > 0.9, name
    assert joint["embedding_cosine_joint"].replicates is None  # no images involved
    assert joint["cross_conditional_joint"].replicates.shape == (10, k, k)


def test_cross_conditional_is_the_drop_in_logit_under_the_other_culture():
    logits = np.array([[3.0, 1.0], [2.0, 0.0], [0.0, 4.0]])  # rows: images; columns: conditioned on culture 0, 1
    score = similarity.cross_conditional(logits, [np.array([0, 1]), np.array([2])])
    # culture 0's images drop by 2 when read as culture 1; culture 1's by 4 when read as culture 0
    assert score[0, 1] == pytest.approx(3.0) and score[1, 0] == pytest.approx(3.0) and score[0, 0] == 0.0


def test_embedding_cosine():
    distance = similarity.embedding_cosine(np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]]))
    assert distance[0, 1] == pytest.approx(0.0) and distance[0, 2] == pytest.approx(1.0)


def test_measures_are_declared_once_for_every_space():
    names = similarity.MEASURES
    for space in similarity.SPACES:
        assert f"kid_{space}" in names and f"crossnobis_{space}" in names
    assert "cross_conditional_joint" in names and "cross_conditional_critic" not in names
    assert "kid_median_critic" in names and "kid_median_joint" not in names
    assert all(m.label for m in names.values())


# --------------------------------------------------------------------------- the stage


def _run(cultures, critics, reference, out, settings=SETTINGS, transfer=()):
    import json

    argv = ["--cultures", *cultures, "--critic-features", *critics, "--reference", reference, "--out", str(out), "--settings", json.dumps(settings)]
    if transfer:
        argv += ["--transfer", *transfer]
    return similarity.main(argv)


def test_stage_writes_documented_tables_and_is_reproducible(tmp_path):
    cultures, critics, reference = write_feature_files(tmp_path / "features", seeds=(0, 1))
    transfer = tmp_path / "transfer_distances.tsv"
    pairs = [(a, b) for a in cultures for b in cultures if a != b]
    pd.DataFrame(
        [(a, b, "cycle_l1", 1.0 + cultures.index(a) + cultures.index(b), 0.5, 9.0) for a, b in pairs],
        columns=["source", "target", "measure", "value", "ci_low", "ci_high"],
    ).to_csv(transfer, sep="\t", index=False)

    assert _run(cultures, critics, reference, tmp_path / "out", transfer=[str(transfer)]) == 0
    out = tmp_path / "out"
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
    assert (fd["n_a"] == 16).all()

    with np.load(out / "distances.npz") as data:
        names = list(data["measures"])
        assert {"separability_critic", "fd_critic", "kid_critic", "probe_critic", "fd_reference", "embedding_cosine_joint", "transfer_cycle_l1_sym"} <= set(
            names
        )
        assert "logit_auc_critic" not in names  # asymmetric: not a distance
        assert data["fd_critic__boot"].shape == (SETTINGS["n_boot"], k, k)
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
    spaces = pd.read_csv(out / "spaces.tsv", sep="\t")
    assert len(spaces[(spaces["space"] == "joint") & (spaces["seed"] == 0)]) == 2  # one row per snapshot
    with np.load(out / "image_features.npz") as data:
        assert {"reference", "critic_seed0", "critic_untrained_seed0", "joint_seed0", "joint_untrained_seed0", "culture", "ids"} == set(data.files)

    # re-running gives identical tables
    assert _run(cultures, critics, reference, tmp_path / "again", transfer=[str(transfer)]) == 0
    for name in ("similarity.tsv", "floors.tsv", "per_seed.tsv"):
        assert (out / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name


def test_snapshots_are_averaged_within_a_seed(tmp_path):
    cultures, critics, reference = write_feature_files(tmp_path / "features")
    assert _run(cultures, critics, reference, tmp_path / "out", settings={**SETTINGS, "n_boot": 0}) == 0
    cosine = pd.read_csv(tmp_path / "out" / "matrices" / "embedding_cosine_joint.tsv", sep="\t", index_col=0).to_numpy()
    with np.load(critics[2]) as data:  # joint, seed 0: both snapshots have the same embeddings
        np.testing.assert_allclose(cosine, similarity.embedding_cosine(data["embeddings"][0].astype(np.float64)), rtol=1e-5)


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
