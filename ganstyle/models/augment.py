"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for small-data GANs.

The same random colour, translation (or ink-preserving circular shift) and cutout transforms are applied to real
and generated images before the discriminator sees them, for the
discriminator's and the generator's loss alike, so the discriminator cannot
memorise the few training images and the generator is not pushed to produce
augmented-looking images.  Every transform is differentiable with respect to
the images, so generator gradients flow through it.

Images are float in [-1, 1], NHWC with static height, width and channels.
Randomness comes only from the ``tf.random.Generator`` passed in, whose state
is saved in training checkpoints, so a resumed run draws the same transforms.
"""

from __future__ import annotations

import tensorflow as tf

TRANSFORMS = ("color", "translation", "shift", "cutout")


def _uniform(rng: tf.random.Generator, images, dtype=tf.float32, shape_tail=(1, 1, 1)):
    return rng.uniform(tf.concat([tf.shape(images)[:1], shape_tail], 0), dtype=dtype)


def random_color(images, rng: tf.random.Generator):
    """Random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5) per image."""
    images = images + (_uniform(rng, images) - 0.5)
    channel_mean = tf.reduce_mean(images, axis=3, keepdims=True)
    images = (images - channel_mean) * (_uniform(rng, images) * 2.0) + channel_mean
    image_mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return (images - image_mean) * (_uniform(rng, images) + 0.5) + image_mean


def random_translation(images, rng: tf.random.Generator, ratio: float = 0.125):
    """Shift each image by up to ``ratio`` of its size in x and y, filling with 0 (mid-grey)."""
    height, width = images.shape[1], images.shape[2]
    shift_y, shift_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    batch = tf.shape(images)[:1]
    dy = rng.uniform_full_int(batch, tf.int32) % (2 * shift_y + 1) - shift_y
    dx = rng.uniform_full_int(batch, tf.int32) % (2 * shift_x + 1) - shift_x
    padded = tf.pad(images, [[0, 0], [shift_y, shift_y], [shift_x, shift_x], [0, 0]])
    rows = tf.range(height)[None, :] + shift_y - dy[:, None]  # (N, H) rows of the padded image
    cols = tf.range(width)[None, :] + shift_x - dx[:, None]
    shifted = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(shifted, cols, axis=2, batch_dims=1)


def random_shift(images, rng: tf.random.Generator, ratio: float = 0.125):
    """Shift each image by up to ``ratio`` of its size in x and y, wrapping around the edges.

    Unlike ``random_translation`` nothing is filled in: every pixel is kept, so
    the amount of ink and its grey levels are exactly those of the image (the
    critics of writing systems should not learn to ignore ink density).
    """
    height, width = images.shape[1], images.shape[2]
    shift_y, shift_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    batch = tf.shape(images)[:1]
    dy = rng.uniform_full_int(batch, tf.int32) % (2 * shift_y + 1) - shift_y
    dx = rng.uniform_full_int(batch, tf.int32) % (2 * shift_x + 1) - shift_x
    rows = (tf.range(height)[None, :] - dy[:, None]) % height  # (N, H) source row of each row
    cols = (tf.range(width)[None, :] - dx[:, None]) % width
    shifted = tf.gather(images, rows, axis=1, batch_dims=1)
    return tf.gather(shifted, cols, axis=2, batch_dims=1)


def random_cutout(images, rng: tf.random.Generator, ratio: float = 0.5):
    """Set one random square of side ``ratio`` x size per image to 0 (mid-grey)."""
    height, width = images.shape[1], images.shape[2]
    cut_h, cut_w = int(height * ratio + 0.5), int(width * ratio + 0.5)
    batch = tf.shape(images)[:1]
    # the square's centre may lie anywhere in the image, so it can hang over an edge
    top = rng.uniform_full_int(batch, tf.int32) % (height + (1 - cut_h % 2)) - cut_h // 2
    left = rng.uniform_full_int(batch, tf.int32) % (width + (1 - cut_w % 2)) - cut_w // 2
    y = tf.range(height)[None, :]
    x = tf.range(width)[None, :]
    inside_y = (y >= top[:, None]) & (y < top[:, None] + cut_h)  # (N, H)
    inside_x = (x >= left[:, None]) & (x < left[:, None] + cut_w)  # (N, W)
    cut = inside_y[:, :, None] & inside_x[:, None, :]  # (N, H, W)
    keep = tf.cast(~cut, images.dtype)[..., None]
    return images * keep


def diff_augment(images, rng: tf.random.Generator, transforms=TRANSFORMS, translation_ratio: float = 0.125, cutout_ratio: float = 0.5):
    """Apply ``transforms`` (a subset of TRANSFORMS, in that order) to a batch."""
    unknown = set(transforms) - set(TRANSFORMS)
    if unknown:
        raise ValueError(f"unknown DiffAugment transform(s) {sorted(unknown)}; expected {TRANSFORMS}")
    if "color" in transforms:
        images = random_color(images, rng)
    if "translation" in transforms:
        images = random_translation(images, rng, translation_ratio)
    if "shift" in transforms:
        images = random_shift(images, rng, translation_ratio)
    if "cutout" in transforms:
        images = random_cutout(images, rng, cutout_ratio)
    return images
