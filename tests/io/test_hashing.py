"""Content hashes, perceptual hash and near-pair search (ganstyle.io.hashing)."""

import hashlib
import io
import itertools

import numpy as np
import pytest
from PIL import Image

from ganstyle.io.hashing import (
    as_hash_array,
    content_hash,
    hamming,
    near_pairs,
    parse_phash,
    perceptual_hash,
    phash_hex,
    pixel_hash,
)


def texture(seed: int, size=(96, 80)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((6, 6, 3)) * 255).astype(np.uint8)).resize(size, Image.Resampling.BICUBIC)


def test_content_hash_is_sha256():
    assert content_hash(b"abc") == hashlib.sha256(b"abc").hexdigest()


def test_pixel_hash_depends_on_pixels_and_shape():
    pixels = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    assert len(pixel_hash(pixels)) == 16 and int(pixel_hash(pixels), 16) >= 0
    assert pixel_hash(pixels) == pixel_hash(pixels.copy())
    assert pixel_hash(pixels) != pixel_hash(pixels.reshape(4, 12, 1))
    changed = pixels.copy()
    changed[0, 0, 0] += 1
    assert pixel_hash(pixels) != pixel_hash(changed)


def test_perceptual_hash_survives_recompression_and_resizing():
    image = texture(1)
    reference = perceptual_hash(np.asarray(image))
    buffer = io.BytesIO()
    image.resize((72, 60), Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=85)
    copy = np.asarray(Image.open(buffer))
    assert hamming(reference, perceptual_hash(copy)) <= 3
    assert perceptual_hash(np.asarray(image.convert("L"))) == reference  # colour is ignored


def test_perceptual_hash_separates_different_images():
    hashes = [perceptual_hash(np.asarray(texture(seed))) for seed in range(30)]
    distances = [hamming(a, b) for a, b in itertools.combinations(hashes, 2)]
    assert min(distances) > 8
    assert 24 < np.mean(distances) < 40  # about half the bits differ


def test_perceptual_hash_of_uniform_images_is_zero_and_bits_are_used():
    assert perceptual_hash(np.full((50, 50), 77, np.uint8)) == 0
    hashes = [perceptual_hash(np.asarray(texture(seed))) for seed in range(40)]
    assert all(0 <= h < 2**64 for h in hashes)
    ones = np.mean([[h >> bit & 1 for bit in range(64)] for h in hashes], axis=0)
    assert ones.min() > 0 and ones.max() < 1  # no bit is constant (the DC term is left out)


def test_hex_round_trip_and_hamming():
    assert phash_hex(5) == "0000000000000005"
    assert parse_phash("ffffffffffffffff") == 2**64 - 1
    with pytest.raises(ValueError):
        parse_phash("1" + "0" * 16)
    assert hamming(0b1011, 0b0001) == 2 and hamming(0, 2**64 - 1) == 64
    np.testing.assert_array_equal(as_hash_array(["00000000000000ff", 3]), np.array([255, 3], dtype=np.uint64))


def _reference_pairs(a, b, max_bits, same):
    return sorted(
        (i, j, hamming(x, y)) for (i, x), (j, y) in itertools.product(enumerate(a), enumerate(b)) if hamming(x, y) <= max_bits and (not same or i < j)
    )


def _planted_hashes(rng, n):
    """Random hashes plus copies with a few flipped bits, so that near pairs exist."""
    base = [int(v) for v in rng.integers(0, 2**63, n)]
    near = [h ^ sum(1 << int(bit) for bit in rng.choice(64, rng.integers(0, 12), replace=False)) for h in base[: n // 2]]
    return base + near


@pytest.mark.parametrize("max_bits", [0, 1, 3, 7, 8, 12])
def test_near_pairs_matches_brute_force(max_bits):
    rng = np.random.default_rng(max_bits)
    a = _planted_hashes(rng, 60)
    b = _planted_hashes(rng, 30) + a[:10]
    i, j, d = near_pairs(a, None, max_bits)
    assert list(zip(i.tolist(), j.tolist(), d.tolist())) == _reference_pairs(a, a, max_bits, same=True)
    i, j, d = near_pairs(a, b, max_bits)
    assert list(zip(i.tolist(), j.tolist(), d.tolist())) == _reference_pairs(a, b, max_bits, same=False)


def test_near_pairs_edge_cases():
    assert all(len(x) == 0 for x in near_pairs([], None, 3))
    assert all(len(x) == 0 for x in near_pairs([1, 2], [], 3))
    i, j, d = near_pairs([7, 7, 7], None, 0)  # identical hashes: every pair once
    assert list(zip(i, j)) == [(0, 1), (0, 2), (1, 2)] and not d.any()
    with pytest.raises(ValueError):
        near_pairs([1], None, 65)
