import numpy as np
import pytest
import tensorflow as tf

from ganstyle.models import augment


def _rng(seed=0):
    return tf.random.Generator.from_seed(seed, alg="philox")


def _images(n=8, size=16, channels=1, seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(-1, 1, (n, size, size, channels)).astype("float32"))


@pytest.mark.parametrize("channels", [1, 3])
def test_shape_and_dtype_are_kept(channels):
    images = _images(channels=channels)
    out = augment.diff_augment(images, _rng())
    assert out.shape == images.shape and out.dtype == images.dtype


def test_same_generator_state_same_augmentation():
    images = _images()
    a = augment.diff_augment(images, _rng(3))
    b = augment.diff_augment(images, _rng(3))
    c = augment.diff_augment(images, _rng(4))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.allclose(a.numpy(), c.numpy())


def test_generator_state_advances_so_batches_differ():
    images, rng = _images(), _rng()
    assert not np.allclose(augment.diff_augment(images, rng).numpy(), augment.diff_augment(images, rng).numpy())


def test_translation_moves_a_pixel_by_at_most_the_ratio():
    size, n = 16, 64
    images = np.zeros((n, size, size, 1), "float32")
    images[:, 8, 8, 0] = 1.0
    out = augment.random_translation(tf.constant(images), _rng(), ratio=0.125).numpy()
    shifts = set()
    for image in out:
        ys, xs = np.nonzero(image[..., 0])
        assert len(ys) == 1  # moved, not smeared; the pixel never leaves the image at this shift
        shifts.add((ys[0] - 8, xs[0] - 8))
        assert abs(ys[0] - 8) <= 2 and abs(xs[0] - 8) <= 2
    assert len(shifts) > 5  # per-image random shifts
    # a pixel at the edge can be shifted out; what enters is the 0 (mid-grey) fill
    edge = np.ones((4, size, size, 1), "float32")
    shifted = augment.random_translation(tf.constant(edge), _rng(1), ratio=0.25).numpy()
    assert set(np.unique(shifted)) <= {0.0, 1.0}


def test_cutout_blanks_one_square_per_image():
    size = 16
    images = tf.ones((32, size, size, 1))
    out = augment.random_cutout(images, _rng(), ratio=0.5).numpy()
    for image in out:
        blank = image[..., 0] == 0
        assert 0 < blank.sum() <= 8 * 8
        ys, xs = np.nonzero(blank)
        # the blanked pixels form one axis-aligned rectangle (clipped square)
        assert blank[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].all()
        assert ys.max() - ys.min() + 1 <= 8 and xs.max() - xs.min() + 1 <= 8


def test_color_changes_brightness_and_contrast_per_image():
    images = _images(n=16)
    out = augment.random_color(images, _rng()).numpy()
    shift = out.mean(axis=(1, 2, 3)) - images.numpy().mean(axis=(1, 2, 3))
    assert np.std(shift) > 0.05  # a different brightness per image
    assert np.all(np.abs(shift) <= 0.5 + 1e-5)


def test_gradients_flow_through_every_transform():
    images = tf.Variable(_images())
    for transforms in (["color"], ["translation"], ["cutout"], list(augment.TRANSFORMS)):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(augment.diff_augment(images, _rng(), transforms) ** 2)
        grad = tape.gradient(loss, images)
        assert grad is not None and float(tf.reduce_sum(tf.abs(grad))) > 0, transforms


def test_unknown_transform_is_rejected():
    with pytest.raises(ValueError, match="unknown DiffAugment"):
        augment.diff_augment(_images(), _rng(), ["rotation"])


def test_runs_inside_tf_function_and_xla():
    images, rng = _images(), _rng()
    plain = tf.function(lambda x: augment.diff_augment(x, rng))(images)
    assert plain.shape == images.shape
    compiled = tf.function(lambda x: augment.diff_augment(x, rng), jit_compile=True)(images)
    assert compiled.shape == images.shape


def test_shift_keeps_every_pixel_and_moves_by_at_most_the_ratio():
    images = _images(n=32)
    out = augment.random_shift(images, _rng(), ratio=0.125).numpy()
    for before, after in zip(images.numpy(), out):
        # a permutation of the pixels: the same grey levels, so the same amount of ink
        np.testing.assert_array_equal(np.sort(before.ravel()), np.sort(after.ravel()))
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if np.array_equal(np.roll(before, (dy, dx), axis=(0, 1)), after)]
        assert matches
    assert not np.allclose(out, images.numpy())
