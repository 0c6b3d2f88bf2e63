"""Image hashes: exact content hashes, a 64-bit perceptual hash, Hamming distances.

The perceptual hash is a DCT hash: the image is reduced to 32 x 32 grey levels,
and each of the 64 lowest-frequency cosine coefficients (the DC term, i.e. the
mean brightness, excluded) contributes one bit: above or below their median.
Re-encoding, rescaling and mild colour changes move few bits; different images
differ in about half of them.  Uniform images all hash to 0, and smooth ones
(gradients) nearly so: the hash alone would call a black, a white and a grey
image near duplicates.  So a near duplicate must also have nearly the same
pixels: the mean absolute difference of 8 x 8 grey thumbnails
(:func:`thumbnail`), kept beside the hash, must be small too.
"""

from __future__ import annotations

import hashlib

import numpy as np
import scipy.fft
from PIL import Image

PHASH_SIDE = 32  # the image is reduced to this many pixels a side before the DCT
PHASH_BITS = 64
THUMBNAIL_SIDE = 8  # the pixel-level check of near duplicates compares 8 x 8 grey thumbnails


def content_hash(data: bytes) -> str:
    """SHA-256 of a file's bytes, 64 hex digits."""
    return hashlib.sha256(data).hexdigest()


def pixel_hash(pixels: np.ndarray) -> str:
    """16 hex digits of SHA-256 over an image's shape and uint8 pixels.

    Used as an image id: equal for two files that decode to the same pixels,
    whatever their format, metadata or EXIF rotation.
    """
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    digest = hashlib.sha256("x".join(map(str, pixels.shape)).encode() + b"\0")
    digest.update(pixels.data)
    return digest.hexdigest()[:16]


def _grey(pixels: np.ndarray) -> Image.Image:
    pixels = np.asarray(pixels, dtype=np.uint8)
    if pixels.ndim == 3:
        pixels = pixels[..., 0] if pixels.shape[2] == 1 else pixels
    image = Image.fromarray(pixels)
    return image if image.mode == "L" else image.convert("L")


def thumbnail(pixels: np.ndarray) -> np.ndarray:
    """8 x 8 uint8 grey thumbnail (area averages) of a uint8 image (H, W) or (H, W, C)."""
    return np.asarray(_grey(pixels).resize((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.BOX), dtype=np.uint8)


def thumbnail_hex(value: np.ndarray) -> str:
    return np.asarray(value, dtype=np.uint8).tobytes().hex()


def parse_thumbnail(text: str) -> np.ndarray:
    data = bytes.fromhex(text)
    if len(data) != THUMBNAIL_SIDE**2:
        raise ValueError(f"not an {THUMBNAIL_SIDE} x {THUMBNAIL_SIDE} thumbnail: {text[:20]!r}...")
    return np.frombuffer(data, dtype=np.uint8).reshape(THUMBNAIL_SIDE, THUMBNAIL_SIDE)


def as_thumbnail_array(values) -> np.ndarray:
    """Thumbnails (arrays or hex strings) as an (N, 8, 8) uint8 array."""
    arrays = [parse_thumbnail(v) if isinstance(v, str) else np.asarray(v, dtype=np.uint8) for v in values]
    return np.stack(arrays) if arrays else np.zeros((0, THUMBNAIL_SIDE, THUMBNAIL_SIDE), dtype=np.uint8)


def thumbnail_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute grey-level difference (0..255) of thumbnails, pairwise along the first axis."""
    return np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).mean(axis=(-2, -1))


def _low_frequency_order(count: int) -> list[tuple[int, int]]:
    # (row, col) of the `count` lowest frequencies after DC, by total frequency then row
    cells = sorted(((u, v) for u in range(PHASH_SIDE) for v in range(PHASH_SIDE)), key=lambda c: (c[0] + c[1], c[0]))
    return cells[1 : count + 1]


_PHASH_CELLS = tuple(np.array(axis) for axis in zip(*_low_frequency_order(PHASH_BITS)))


def perceptual_hash(pixels: np.ndarray) -> int:
    """64-bit DCT perceptual hash of a uint8 image (H, W) or (H, W, C), as an int."""
    image = _grey(pixels)
    # Lanczos in Pillow widens its support when shrinking, so this averages areas
    small = image.resize((PHASH_SIDE, PHASH_SIDE), Image.Resampling.LANCZOS, reducing_gap=3.0)
    coefficients = scipy.fft.dctn(np.asarray(small, dtype=np.float64), type=2, norm="ortho")[_PHASH_CELLS]
    # a margin, so that rounding noise in near-zero coefficients does not flip bits
    margin = 1e-6 * (1.0 + np.abs(coefficients).max())
    bits = coefficients > np.median(coefficients) + margin
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


def phash_hex(value: int) -> str:
    return f"{value:016x}"


def parse_phash(text: str) -> int:
    value = int(text, 16)
    if not 0 <= value < 1 << PHASH_BITS:
        raise ValueError(f"not a 64-bit hash: {text!r}")
    return value


def hamming(a: int, b: int) -> int:
    """Number of differing bits of two 64-bit hashes."""
    return (a ^ b).bit_count()


def as_hash_array(values) -> np.ndarray:
    """64-bit hashes (ints or hex strings) as a uint64 array."""
    return np.array([parse_phash(v) if isinstance(v, str) else int(v) for v in values], dtype=np.uint64)


def _block_masks(max_bits: int) -> list[tuple[int, np.uint64]]:
    # 64 bits cut into max_bits + 1 contiguous blocks of near-equal width
    blocks = max_bits + 1
    edges = [round(i * PHASH_BITS / blocks) for i in range(blocks + 1)]
    return [(lo, np.uint64((1 << (hi - lo)) - 1)) for lo, hi in zip(edges[:-1], edges[1:])]


def _pairs_brute_force(a: np.ndarray, b: np.ndarray, max_bits: int):
    rows, cols = [], []
    chunk = max(1, 2**21 // len(b))  # about 16 MB of distances at a time
    for start in range(0, len(a), chunk):
        distances = np.bitwise_count(a[start : start + chunk, None] ^ b[None, :])
        i, j = np.nonzero(distances <= max_bits)
        rows.append(i + start)
        cols.append(j)
    return np.concatenate(rows), np.concatenate(cols)


def _pairs_by_blocks(a: np.ndarray, b: np.ndarray, max_bits: int):
    # Pigeonhole: if two hashes differ in at most k bits, at least one of k + 1
    # disjoint blocks is identical in both; so only pairs sharing a block value
    # need comparing.
    rows, cols = [], []
    for shift, mask in _block_masks(max_bits):
        key_a = (a >> np.uint64(shift)) & mask
        key_b = (b >> np.uint64(shift)) & mask
        order_b = np.argsort(key_b, kind="stable")
        sorted_b = key_b[order_b]
        lo = np.searchsorted(sorted_b, key_a, side="left")
        hi = np.searchsorted(sorted_b, key_a, side="right")
        counts = hi - lo
        i = np.repeat(np.arange(len(a)), counts)
        # positions lo[i], lo[i]+1, ..., hi[i]-1 for every i
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        rows.append(i)
        cols.append(order_b[np.repeat(lo, counts) + offsets])
    i, j = np.concatenate(rows), np.concatenate(cols)
    if len(i):
        unique = np.unique(i.astype(np.int64) * len(b) + j)
        i, j = unique // len(b), unique % len(b)
    return i, j


def near_pairs(a, b=None, max_bits: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs of hashes at Hamming distance <= max_bits.

    With ``b`` None, pairs within ``a`` with i < j; otherwise pairs (i in a, j in b).
    Returns index arrays i, j and distances d, sorted by (i, j).
    """
    a = as_hash_array(a) if not isinstance(a, np.ndarray) else a.astype(np.uint64)
    same = b is None
    b = a if same else (as_hash_array(b) if not isinstance(b, np.ndarray) else b.astype(np.uint64))
    if not 0 <= max_bits <= PHASH_BITS:
        raise ValueError(f"max_bits must be in 0..{PHASH_BITS}, got {max_bits}")
    if len(a) == 0 or len(b) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    # blocks narrower than ~8 bits match too often to save anything
    pairs = _pairs_by_blocks if max_bits < 8 else _pairs_brute_force
    i, j = pairs(a, b, max_bits)
    i, j = i.astype(np.int64), j.astype(np.int64)
    d = np.bitwise_count(a[i] ^ b[j]).astype(np.int64)
    keep = d <= max_bits
    if same:
        keep &= i < j
    i, j, d = i[keep], j[keep], d[keep]
    order = np.lexsort((j, i))
    return i[order], j[order], d[order]


def near_duplicates(hashes, thumbnails, max_bits: int, max_difference: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs i < j of near duplicates: hashes at most ``max_bits`` apart *and* thumbnails at most
    ``max_difference`` grey levels apart on average.  Returns i, j and the hash distances."""
    i, j, d = near_pairs(hashes, None, max_bits)
    thumbnails = as_thumbnail_array(thumbnails)
    close = thumbnail_difference(thumbnails[i], thumbnails[j]) <= max_difference if len(i) else np.zeros(0, dtype=bool)
    return i[close], j[close], d[close]
