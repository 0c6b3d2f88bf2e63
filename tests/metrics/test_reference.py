import time
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from ganstyle.metrics.distances import frechet_distance, kid, split_half_floor
from ganstyle.metrics.reference import (
    REFERENCE_VERSION,
    feature_names,
    filter_bank,
    reference_features,
)

REPO = Path(__file__).resolve().parents[2]
SIZE = 64
ROWS, COLS = np.mgrid[0:SIZE, 0:SIZE]


def to_images(float_images):
    return np.clip(np.round(float_images), 0, 255).astype(np.uint8)[..., None]


def stripes(rng, n):
    """Sinusoidal gratings of random orientation, phase and period 4-7 px."""
    out = []
    for _ in range(n):
        theta, freq, phase = rng.uniform(0, np.pi), rng.uniform(0.15, 0.25), rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * freq * (COLS * np.cos(theta) + ROWS * np.sin(theta)) + phase)
        out.append(127.5 + 100 * wave + rng.normal(0, 5, (SIZE, SIZE)))
    return to_images(np.array(out))


def dots(rng, n):
    """Bright discs of radius 2-4 px on a dark ground."""
    out = []
    for _ in range(n):
        image = np.full((SIZE, SIZE), 30.0)
        for _ in range(rng.integers(15, 25)):
            cy, cx, radius = *rng.uniform(0, SIZE, 2), rng.uniform(2, 4)
            image[(ROWS - cy) ** 2 + (COLS - cx) ** 2 < radius**2] = 220
        out.append(image + rng.normal(0, 5, (SIZE, SIZE)))
    return to_images(np.array(out))


def noise(rng, n):
    return to_images(rng.normal(127.5, 50, (n, SIZE, SIZE)))


def test_shapes_and_names():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (5, 32, 32, 1), dtype=np.uint8)
    colour = rng.integers(0, 256, (4, 48, 80, 3), dtype=np.uint8)  # non-square works too
    assert reference_features(grey).shape == (5, len(feature_names(1))) == (5, 219)
    assert reference_features(colour).shape == (4, len(feature_names(3))) == (4, 235)
    assert feature_names(3)[:219] == feature_names(1)
    assert reference_features(grey).dtype == np.float64
    assert reference_features(grey[..., 0]).shape == (5, 219)  # (N, H, W) is grayscale
    assert reference_features(np.zeros((0, 64, 64, 3), np.uint8)).shape == (0, 235)
    assert REFERENCE_VERSION == "ref-v2"


def test_large_images_finite():
    rng = np.random.default_rng(1)
    features = reference_features(rng.integers(0, 256, (2, 256, 256, 3), dtype=np.uint8))
    assert np.isfinite(features).all()


def test_deterministic_and_independent_of_batch_size():
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (37, 64, 64, 3), dtype=np.uint8)
    whole = reference_features(images)
    np.testing.assert_array_equal(whole, reference_features(images))
    np.testing.assert_array_equal(whole, reference_features(images, batch_size=1))
    np.testing.assert_array_equal(whole, reference_features(images, batch_size=10))
    np.testing.assert_array_equal(whole[5:9], reference_features(images[5:9]))


def test_pinned_values():
    # fails when a feature's definition changed: then bump REFERENCE_VERSION and update these numbers
    bank = filter_bank()
    np.testing.assert_allclose(
        [bank[0, 0], bank[12, 1], bank[7, 3], bank[11, 4]],
        [0.2642643531260913, 0.19730588100037466, -0.2400511354535727, -0.4850303266033664],
        rtol=1e-12,
    )
    rows, cols = np.mgrid[0:48, 0:48]
    image = ((np.sin(cols * 0.7) * np.cos(rows * 0.3) + 1) * 100 + cols).astype(np.uint8)
    features = reference_features(np.stack([image, image[::-1], image.T], -1)[None])[0]
    pinned = {
        0: 0.05856510074255734,
        9: 0.05682802276818914,
        20: 0.49363321526969606,
        60: 0.42899473972662294,
        135: -0.7157891868464382,
        150: 0.6597706407516286,
        180: 0.8479690072315669,
        215: 0.3774323529411765,
        223: -0.26085244301147953,
        230: 0.03061385437100718,
    }
    np.testing.assert_allclose(features[list(pinned)], list(pinned.values()), rtol=1e-9)


def test_filter_bank_is_zero_mean_unit_norm():
    bank = filter_bank()
    assert bank.shape == (25, 8)
    np.testing.assert_allclose(bank.sum(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(bank, axis=0), 1.0, rtol=1e-12)
    # the 0 and 90 degree edge filters are transposes of each other (up to sign)
    edge0, edge90 = bank[:, 4].reshape(5, 5), bank[:, 6].reshape(5, 5)
    np.testing.assert_allclose(np.abs(edge0), np.abs(edge90.T), atol=1e-12)


def test_grey_rgb_equals_grey_and_has_no_colour():
    rng = np.random.default_rng(3)
    grey = rng.integers(0, 256, (6, 40, 40, 1), dtype=np.uint8)
    rgb = reference_features(np.repeat(grey, 3, axis=3))
    np.testing.assert_allclose(rgb[:, :219], reference_features(grey), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(rgb[:, 219:], 0.0)


def test_constant_and_colour_images():
    names = feature_names(3)
    flat = np.zeros((2, 32, 32, 3), np.uint8)
    flat[0] = 51
    flat[1] = (255, 0, 0)  # pure red
    features = reference_features(flat)
    assert np.isfinite(features).all()
    texture = features[:, : names.index("luma_mean")]  # filter statistics and autocorrelations
    np.testing.assert_allclose(texture, 0.0, atol=1e-12)  # no structure at all
    assert features[0, names.index("luma_mean")] == pytest.approx(51 / 255)
    hue = features[:, names.index("hue0") : names.index("hue0") + 8]
    red_chroma = np.hypot(1 / np.sqrt(2), 1 / np.sqrt(6))
    assert hue[0].sum() == 0.0 and hue[1].sum() == pytest.approx(red_chroma)
    # red sits at 30 degrees in the opponent plane: shared 1/3 : 2/3 by the 0 and 45 degree bins
    np.testing.assert_allclose(hue[1, :2], [red_chroma / 3, 2 * red_chroma / 3])


def test_autocorrelation_sees_the_period_and_direction_of_stripes():
    names = feature_names(1)
    period = 4
    horizontal = np.where(ROWS % period < period // 2, 0, 255).astype(np.uint8)  # stripes along x
    features = dict(zip(names, reference_features(np.stack([horizontal, horizontal.T])[..., None])[0]))
    transposed = dict(zip(names, reference_features(horizontal.T[None, ..., None])[0]))
    assert features["s0_autocorr_dy4_dx+0"] == pytest.approx(1.0, abs=1e-3)  # one period down: the same
    assert features["s0_autocorr_dy2_dx+0"] == pytest.approx(-1.0, abs=1e-3)  # half a period: inverted
    assert features["s0_autocorr_dy0_dx+3"] == pytest.approx(1.0, abs=1e-3)  # along the stripes: the same
    assert transposed["s0_autocorr_dy0_dx+2"] == pytest.approx(-1.0, abs=1e-3)
    assert transposed["s0_autocorr_dy3_dx+0"] == pytest.approx(1.0, abs=1e-3)


def test_separates_textures():
    rng = np.random.default_rng(4)
    # halves larger than D = 219, so that the Frechet distances' covariances are not singular
    n = 480
    sets = {name: reference_features(make(rng, n)) for name, make in [("stripes", stripes), ("dots", dots), ("noise", noise)]}
    floors = {name: split_half_floor(frechet_distance, features, n_rep=3)[2] for name, features in sets.items()}
    for a, b in [("stripes", "dots"), ("stripes", "noise"), ("dots", "noise")]:
        between = frechet_distance(sets[a][: n // 2], sets[b][: n // 2])  # same size as the floor's halves
        assert between > 5 * max(floors[a], floors[b]), (a, b)
        assert kid(sets[a], sets[b]) > 20 * abs(kid(sets[a][: n // 2], sets[a][n // 2 :]))


def test_distance_grows_with_blur():
    rng = np.random.default_rng(5)

    def textures(n):  # fine-grained random texture
        return np.clip(ndimage.gaussian_filter(rng.normal(127.5, 40, (n, SIZE, SIZE)), (0, 0.7, 0.7)) * 2 - 127.5, 0, 255)

    reference, base = reference_features(to_images(textures(150))), textures(150)
    fds, kids = [], []
    for sigma in [0, 0.5, 1, 2, 3]:
        blurred = ndimage.gaussian_filter(base, (0, sigma, sigma), mode="reflect") if sigma else base
        features = reference_features(to_images(blurred))
        fds.append(frechet_distance(reference, features))
        kids.append(kid(reference, features))
    assert np.all(np.diff(fds) > 0), fds
    assert np.all(np.diff(kids) > 0), kids


@pytest.mark.parametrize(
    "images,match",
    [
        (np.zeros((2, 64, 64, 1), np.float32), "uint8"),
        (np.zeros((2, 16, 64, 1), np.uint8), "at least 32"),
        (np.zeros((2, 64, 64, 2), np.uint8), "C = 1 or 3"),
    ],
)
def test_bad_input(images, match):
    with pytest.raises(ValueError, match=match):
        reference_features(images)


@pytest.mark.slow
def test_throughput_64px_grey():
    images = np.random.default_rng(6).integers(0, 256, (5000, 64, 64, 1), dtype=np.uint8)
    start = time.perf_counter()
    reference_features(images)
    assert time.perf_counter() - start < 60


@pytest.fixture(scope="module")
def demo_corpus_splits():
    """The bundled demo corpus as the default workflow sees it: ingested at config.yaml's settings, split."""
    from ganstyle.config import load_config
    from ganstyle.config.registry import culture_source, load_study
    from ganstyle.stages.corpus import build_corpus
    from ganstyle.stages.ingest import ingest_culture

    config = load_config(REPO / "config.yaml")
    study = load_study(REPO / config["cultures"], base=REPO)
    splits = {}
    for culture in study.registry["culture"]:
        images, manifest, _ = ingest_culture(culture_source(study, culture), config["ingest"], progress=False)
        images, manifest, _ = build_corpus(images, manifest, {}, config["ingest"]["heldout_fraction"])
        splits[culture] = {split: images[(manifest["split"] == split).to_numpy()] for split in ("train", "heldout")}
    return splits


def test_tells_the_demo_scripts_apart(demo_corpus_splits):
    # the control of gan_sanity: if each culture's real *training* images are not closest (in KID) to
    # their own held-out images, no generator can pass the sanity matrix.  ref-v1 failed it (Gurmukhi).
    features = {c: {s: reference_features(images) for s, images in splits.items()} for c, splits in demo_corpus_splits.items()}
    cultures = list(features)
    for culture in cultures:
        kids = {other: kid(features[culture]["train"], features[other]["heldout"], seed=0) for other in cultures}
        assert min(kids, key=kids.get) == culture, (culture, sorted(kids.items(), key=lambda item: item[1])[:3])
