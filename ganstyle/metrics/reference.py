"""Reference (non-GAN) texture and colour features: a fixed, versioned extractor.

Critic features come from networks trained on the cultures themselves; the
reference features answer "would a generic, culture-blind description of
texture and colour give the same similarities?".  Downloaded ImageNet weights
are not available offline, so the extractor is built from parts known to
capture texture and style, with every number fixed by this file:

Luminance pyramid
    Texture is measured on luminance Y = 0.299 R + 0.587 G + 0.114 B (ITU-R
    BT.601) in [0, 1], at 3 scales: the image and two levels of a Gaussian
    pyramid (5-tap binomial blur, then every second pixel), so the same small
    filters see structure of about 5, 10 and 20 pixels.
Filter bank (8 filters of 5 x 5 per scale)
    * 4 random zero-mean, unit-norm filters, rectified with ReLU.  Shallow
      networks of random filters with Gram-matrix statistics synthesise
      natural textures nearly as well as trained VGG features (Ustyuzhaninov
      et al., ICLR 2017).  Their values are uniform numbers from SHA-256 of
      ``"ref-v1/random-filter/<i>/<j>"``, not from a library RNG, so no numpy
      version can change them (ref-v2 keeps the filters of ref-v1).
    * 4 oriented first-derivative-of-Gaussian edge filters (sigma = 1 px;
      0, 45, 90, 135 degrees), full-wave rectified (absolute value): oriented
      edge energy regardless of polarity, the core of the Portilla-Simoncelli
      texture statistics.
    Borders are mirrored (d c b | a b c d), so every pixel has a response.
Statistics per scale (44 = 8 + 8 + 28)
    mean and standard deviation of each rectified channel over the image, and
    the correlation between every pair of channels - the Gram matrix of the
    centred responses normalised by the standard deviations (Gatys et al.
    2015 style statistics).  Standard deviations are regularised by one grey
    level (eps = (1/255)^2 in the variances), so channels that are flat up to
    quantisation noise get correlation ~0 instead of amplified noise.
Spatial autocorrelation (2 x 40 = 80)
    the correlation of the centred luminance with itself shifted by every
    offset (dy, dx) of a 9 x 9 window (half of it: the other half is the
    same by symmetry), over the pixels both copies cover, at the first two
    scales.  Filter statistics pool over positions and so lose how strokes
    are arranged; the autocorrelation keeps it (stroke spacing, headlines,
    vertical bars) - the "auto-correlation" part of Portilla and Simoncelli
    (2000).  Added in ref-v2: with ref-v1 the real training images of
    Gurmukhi were closer to Devanagari's held-out images than to their own.
Intensity statistics (7)
    mean and standard deviation of Y, and its 5/25/50/75/95 % quantiles: the
    global tone curve, which filters (zero mean) ignore.  (ref-v1 also had
    the skewness of Y; on text, mostly white, it ranges over -5..0 and so
    outweighed all other features in kernel distances while saying little
    beyond ink density, which the mean and quantiles already give.)
Colour statistics (16, 3-channel images only)
    In the opponent space O1 = (R - G)/sqrt 2, O2 = (R + G - 2B)/sqrt 6: mean
    and std of O1 and O2, the correlations Y-O1, Y-O2, O1-O2, the std of the
    chroma sqrt(O1^2 + O2^2), and an 8-bin hue histogram weighted by chroma
    (each pixel shared linearly between its two nearest hue bins; bins sum to
    the mean chroma, grey pixels contribute nothing).

So a 1-channel image has ``D = 3 * 44 + 80 + 7 = 219`` features and a
3-channel image ``D = 235``: the first 219 are defined identically (on
luminance), the last 16 are colour.  An RGB image with R = G = B gives the
grey image's 219 features (up to rounding, ~1e-14) and zero colour features.  ``feature_names(channels)`` names
the columns.  Features depend on the pixel scale (the pyramid is not
resolution-normalised), so compare images of one resolution, as the corpus
stage produces.

Determinism: every operation works on each image separately with shapes
that do not depend on the batch, so features are identical (bit for bit)
across runs and batch sizes.  Bump ``REFERENCE_VERSION`` on any change that
alters a feature value.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np
from scipy import ndimage

REFERENCE_VERSION = "ref-v2"

N_SCALES = 3
FILTER_SIZE = 5
N_RANDOM_FILTERS = 4
EDGE_ORIENTATIONS_DEG = (0, 45, 90, 135)
EDGE_SIGMA = 1.0
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
AUTOCORR_RADIUS = 4
AUTOCORR_SCALES = 2
HUE_BINS = 8
MIN_SIDE = 32
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])
VARIANCE_EPS = (1.0 / 255.0) ** 2  # one grey level: below this a channel counts as flat
# Working memory per chunk of images (the filter responses dominate): ~256 MB.
_CHUNK_BYTES = 2**28

_N_CHANNELS = N_RANDOM_FILTERS + len(EDGE_ORIENTATIONS_DEG)
_PAIRS = np.triu_indices(_N_CHANNELS, k=1)
# half of the (2r+1) x (2r+1) window of shifts: the correlation at -d equals the one at +d
_OFFSETS = [(0, dx) for dx in range(1, AUTOCORR_RADIUS + 1)] + [
    (dy, dx) for dy in range(1, AUTOCORR_RADIUS + 1) for dx in range(-AUTOCORR_RADIUS, AUTOCORR_RADIUS + 1)
]


def _hash_uniform(label: str, count: int) -> np.ndarray:
    """``count`` numbers uniform in [0, 1) from SHA-256 of ``label/<counter>``: library-independent."""
    words = []
    counter = 0
    while len(words) < count:
        digest = hashlib.sha256(f"{label}/{counter}".encode("ascii")).digest()
        words += [int.from_bytes(digest[i : i + 8], "little") >> 11 for i in range(0, 32, 8)]  # 53 bits each
        counter += 1
    return np.array(words[:count], dtype=np.float64) * 2.0**-53


def _zero_mean_unit_norm(kernel: np.ndarray) -> np.ndarray:
    kernel = kernel - kernel.mean()
    return kernel / np.linalg.norm(kernel)


@functools.lru_cache(maxsize=1)
def filter_bank() -> np.ndarray:
    """The (FILTER_SIZE**2, 8) filter matrix: 4 random filters, then 4 oriented edge filters."""
    size = FILTER_SIZE
    random_filters = [_zero_mean_unit_norm(2.0 * _hash_uniform(f"ref-v1/random-filter/{i}", size * size) - 1.0) for i in range(N_RANDOM_FILTERS)]
    offsets = np.arange(size) - size // 2
    rows, cols = np.meshgrid(offsets, offsets, indexing="ij")
    gaussian = np.exp(-(rows**2 + cols**2) / (2.0 * EDGE_SIGMA**2))
    edge_filters = []
    for degrees in EDGE_ORIENTATIONS_DEG:
        theta = np.radians(degrees)
        # derivative along the direction theta (x = column to the right, y = row upwards)
        edge_filters.append(_zero_mean_unit_norm((np.cos(theta) * cols - np.sin(theta) * rows) * gaussian).ravel())
    bank = np.stack(random_filters + edge_filters, axis=1)
    bank.setflags(write=False)
    return bank


def feature_names(channels: int) -> list[str]:
    """Column names of ``reference_features`` for 1- or 3-channel images."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    filters = [f"rand{i}" for i in range(N_RANDOM_FILTERS)] + [f"edge{d}" for d in EDGE_ORIENTATIONS_DEG]
    names = []
    for scale in range(N_SCALES):
        names += [f"s{scale}_{f}_mean" for f in filters]
        names += [f"s{scale}_{f}_std" for f in filters]
        names += [f"s{scale}_corr_{filters[i]}_{filters[j]}" for i, j in zip(*_PAIRS)]
    names += [f"s{scale}_autocorr_dy{dy}_dx{dx:+d}" for scale in range(AUTOCORR_SCALES) for dy, dx in _OFFSETS]
    names += ["luma_mean", "luma_std"] + [f"luma_q{round(q * 100):02d}" for q in QUANTILES]
    if channels == 3:
        names += ["o1_mean", "o2_mean", "o1_std", "o2_std", "corr_luma_o1", "corr_luma_o2", "corr_o1_o2", "chroma_std"]
        names += [f"hue{round(360 * k / HUE_BINS)}" for k in range(HUE_BINS)]
    return names


# --------------------------------------------------------------------------- per-image building blocks (batched)


def _blur_downsample(images: np.ndarray) -> np.ndarray:
    """One Gaussian-pyramid step: separable [1 4 6 4 1]/16 blur (mirrored borders), keep every 2nd pixel."""
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)), mode="reflect")
    rows = (padded[:, :-4] + 4 * padded[:, 1:-3] + 6 * padded[:, 2:-2] + 4 * padded[:, 3:-1] + padded[:, 4:]) / 16.0
    blurred = (rows[:, :, :-4] + 4 * rows[:, :, 1:-3] + 6 * rows[:, :, 2:-2] + 4 * rows[:, :, 3:-1] + rows[:, :, 4:]) / 16.0
    return blurred[:, ::2, ::2]


def _rectified_responses(images: np.ndarray) -> np.ndarray:
    """(B, 8, H*W) rectified filter responses of (B, H, W) luminance images."""
    batch, height, width = images.shape
    responses = np.empty((batch, _N_CHANNELS, height * width))
    for channel, kernel in enumerate(filter_bank().T):
        # a local operation: each image's responses are computed alone, whatever the batch
        response = ndimage.correlate(images, kernel.reshape(1, FILTER_SIZE, FILTER_SIZE), mode="mirror")
        # random filters: ReLU (sign matters); edge filters: energy regardless of polarity
        response = np.maximum(response, 0.0) if channel < N_RANDOM_FILTERS else np.abs(response)
        responses[:, channel] = response.reshape(batch, -1)
    return responses


def _channel_statistics(responses: np.ndarray) -> np.ndarray:
    """(B, 44): per-channel means, standard deviations and pairwise correlations over positions."""
    positions = responses.shape[2]
    mean = responses.sum(axis=2) / positions
    second_moment = np.matmul(responses, responses.transpose(0, 2, 1)) / positions  # Gram matrix
    cov = second_moment - mean[:, :, None] * mean[:, None, :]
    var = np.clip(np.diagonal(cov, axis1=1, axis2=2), 0.0, None)
    scale = np.sqrt(var + VARIANCE_EPS)
    corr = cov / (scale[:, :, None] * scale[:, None, :])
    return np.concatenate([mean, np.sqrt(var), corr[:, _PAIRS[0], _PAIRS[1]]], axis=1)


def _autocorrelation(images: np.ndarray) -> np.ndarray:
    """(B, 40): correlation of each centred (B, H, W) image with itself shifted by each of _OFFSETS."""
    centred = images - images.mean(axis=(1, 2), keepdims=True)
    variance = (centred * centred).mean(axis=(1, 2)) + VARIANCE_EPS
    height, width = images.shape[1:]
    values = []
    for dy, dx in _OFFSETS:
        # the overlap of the image and its shifted copy: no padding invents structure at the borders
        shifted = centred[:, dy:, max(dx, 0) : width + min(dx, 0)]
        base = centred[:, : height - dy, max(-dx, 0) : width - max(dx, 0)]
        values.append((shifted * base).mean(axis=(1, 2)) / variance)
    return np.stack(values, axis=1)


def _correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row correlation of (B, P) arrays, regularised by VARIANCE_EPS."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    return (a * b).mean(axis=1) / np.sqrt(((a * a).mean(axis=1) + VARIANCE_EPS) * ((b * b).mean(axis=1) + VARIANCE_EPS))


def _intensity_statistics(luma: np.ndarray) -> np.ndarray:
    """(B, 7): mean, std and quantiles of the luminance of each image."""
    flat = luma.reshape(len(luma), -1)
    quantiles = np.quantile(flat, QUANTILES, axis=1).T
    return np.column_stack([flat.mean(axis=1), flat.std(axis=1), quantiles])


def _colour_statistics(rgb: np.ndarray, luma: np.ndarray) -> np.ndarray:
    """(B, 16): opponent-colour moments and correlations, chroma spread and chroma-weighted hue histogram."""
    batch = len(rgb)
    red, green, blue = (rgb[..., c].reshape(batch, -1) for c in range(3))
    o1 = (red - green) / np.sqrt(2.0)
    o2 = (red + green - 2.0 * blue) / np.sqrt(6.0)
    y = luma.reshape(batch, -1)
    chroma = np.sqrt(o1**2 + o2**2)
    # hue position in bins, each pixel split linearly between its two nearest bin centres
    position = (np.arctan2(o2, o1) % (2 * np.pi)) / (2 * np.pi) * HUE_BINS
    lower = np.floor(position).astype(np.int64) % HUE_BINS
    upper_weight = position - np.floor(position)
    upper = (lower + 1) % HUE_BINS
    hue = np.stack(
        [(chroma * ((lower == k) * (1.0 - upper_weight) + (upper == k) * upper_weight)).mean(axis=1) for k in range(HUE_BINS)],
        axis=1,
    )
    return np.column_stack(
        [
            o1.mean(axis=1),
            o2.mean(axis=1),
            o1.std(axis=1),
            o2.std(axis=1),
            _correlation(y, o1),
            _correlation(y, o2),
            _correlation(o1, o2),
            chroma.std(axis=1),
            hue,
        ]
    )


def _features_of_chunk(images: np.ndarray) -> np.ndarray:
    pixels = images.astype(np.float64) / 255.0
    if pixels.shape[-1] == 3:
        luma = sum(weight * pixels[..., c] for c, weight in enumerate(LUMA_WEIGHTS))  # elementwise: exact per pixel
    else:
        luma = pixels[..., 0]
    levels = [luma]
    for _ in range(1, N_SCALES):
        levels.append(_blur_downsample(levels[-1]))
    parts = [_channel_statistics(_rectified_responses(level)) for level in levels]
    parts += [_autocorrelation(level) for level in levels[:AUTOCORR_SCALES]]
    parts.append(_intensity_statistics(luma))
    if pixels.shape[-1] == 3:
        parts.append(_colour_statistics(pixels, luma))
    return np.concatenate(parts, axis=1)


def _check_images(images) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]  # (N, H, W): grayscale without a channel axis
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"reference_features: expected uint8 images (N, H, W, C) with C = 1 or 3, got shape {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"reference_features: expected dtype uint8, got {images.dtype}")
    if min(images.shape[1:3]) < MIN_SIDE:
        raise ValueError(f"reference_features: images must be at least {MIN_SIDE} x {MIN_SIDE} pixels, got {images.shape[1:3]}")
    return images


def reference_features(images_uint8, batch_size: int = 256, progress: bool = False) -> np.ndarray:
    """(N, D) float64 reference features of uint8 images (N, H, W, C), C = 1 (D = 219) or 3 (D = 235).

    ``batch_size`` only bounds how many images are processed at once (it is
    lowered further for large images to keep memory near 256 MB); the
    features do not depend on it.  ``progress`` shows a tqdm bar.
    """
    images = _check_images(images_uint8)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    count, height, width, channels = images.shape
    bytes_per_image = height * width * (2 * _N_CHANNELS + 16) * 8
    chunk = max(1, min(batch_size, _CHUNK_BYTES // bytes_per_image))
    dim = len(feature_names(channels))
    features = np.empty((count, dim), dtype=np.float64)
    starts = range(0, count, chunk)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="reference features", unit="batch")
    for start in starts:
        features[start : start + chunk] = _features_of_chunk(images[start : start + chunk])
    return features
