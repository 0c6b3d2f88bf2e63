"""The measure registry: declared measures, planted structure recovered by every kind of measure."""

import warnings

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from sklearn.metrics import adjusted_rand_score

from ganstyle.metrics import measures, resampling
from ganstyle.metrics.groups import within_across_auc
from ganstyle.metrics.reference import reference_features
from ganstyle.stages import clustering

SETTINGS = {"n_components": 8, "n_boot": 12, "ci": 0.9, "split_half_reps": 5, "probe_folds": 3, "probe_c": 1.0, "crossnobis_folds": 4, "seed": 0}


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
    groups = resampling.culture_groups(labels, cultures)
    return images, cultures, groups, np.repeat(np.arange(len(blurs)), n), [0, 0, 1, 1, 2, 2]


def _recovered(matrix, k=3):
    tree = clustering.cluster_tree(clustering.clean_distance(matrix), "average")
    return clustering.flat_clusters(tree, k)


def test_planted_structure_distances_grow_and_clusters_are_recovered():
    images, cultures, groups, labels_index, planted = _planted()
    resamples = resampling.bootstrap_resamples(groups, 20, seed=0)
    data = measures.SpaceData([reference_features(images)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimates, floors, _, _ = measures.space_estimates(data, measures.SPACES["reference"], labels_index, groups, resamples, SETTINGS, cultures)

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
    resamples = resampling.bootstrap_resamples(groups, 10, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        joint, _, _, _ = measures.space_estimates(
            measures.SpaceData([features], logits, centres), measures.SPACES["joint"], labels_index, groups, resamples, SETTINGS, cultures
        )
        panel, _, _, _ = measures.space_estimates(
            measures.SpaceData([features[:, :100], features[:, 100:]], logits),
            measures.SPACES["critic"],
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


def test_measures_are_declared_once_for_every_space():
    names = measures.MEASURES
    for space in measures.SPACES:
        assert f"kid_{space}" in names and f"crossnobis_{space}" in names
    assert "cross_conditional_joint" in names and "cross_conditional_critic" not in names
    assert "kid_median_critic" in names and "kid_median_joint" not in names
    assert all(m.label for m in names.values())


def test_every_trained_measure_has_its_untrained_control():
    for name, m in measures.MEASURES.items():
        control = measures.untrained_counterpart(name)
        if measures.SPACES[m.space].role != "gan":
            assert control is None, name
            continue
        assert measures.SPACES[measures.MEASURES[control].space].role == "control", name
        assert measures.SPACES[measures.MEASURES[control].space].critics == measures.SPACES[m.space].critics, name
        assert measures.MEASURES[control].label.split(",")[0] == m.label.split(",")[0], name  # the same metric
    assert measures.untrained_counterpart("cross_conditional_joint") == "cross_conditional_joint_untrained"
    assert measures.untrained_counterpart("fd_critic_excess") == "fd_critic_untrained_excess"
    assert measures.untrained_counterpart("transfer_kid_sym") is None


def test_a_metric_declared_with_the_decorator_is_computed_in_every_space_it_applies_to(monkeypatch):
    monkeypatch.setattr(measures, "METRICS", dict(measures.METRICS))

    @measures.metric("mean_gap", "mean gap", distance=True, bounds=measures.POSITIVE)
    def mean_gap(ctx):
        """distance of culture means in {where}"""
        means = lambda sets: np.stack([ctx.x[s].mean(axis=0) for s in sets])  # noqa: E731
        return ctx.over_sets(lambda sets: np.linalg.norm(means(sets)[:, None] - means(sets)[None], axis=-1))

    space = measures.SPACES["reference"]
    declared = {m.name: m for m in measures.space_measures(space)}
    assert declared["mean_gap_reference"].description == "distance of culture means in the non-GAN reference features"
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(size=(20, 5)), rng.normal(size=(20, 5)) + 3])
    groups = [np.arange(20), np.arange(20, 40)]
    resamples = resampling.bootstrap_resamples(groups, 3, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimates, _, _, _ = measures.space_estimates(measures.SpaceData([x]), space, np.repeat([0, 1], 20), groups, resamples, SETTINGS, ["a", "b"])
    gap = estimates["mean_gap_reference"]
    assert gap.value[0, 1] > 1 and gap.value[0, 0] == 0 and gap.replicates.shape == (3, 2, 2)
