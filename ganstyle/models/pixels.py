"""Pixel values as networks see them: uint8 [0, 255] <-> float32 [-1, 1].

The one place the scaling is written, as numpy (for arrays) and as TensorFlow
ops (inside traced steps and inference functions).  Both directions keep
float32 arithmetic, so a value converted here equals one converted anywhere
else in the project bit for bit.  TensorFlow is imported only by the tensor
versions, so that light stages can use the numpy ones.
"""

from __future__ import annotations

import numpy as np


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1], as networks take them."""
    return np.asarray(images, dtype=np.float32) / np.float32(127.5) - np.float32(1.0)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255], rounded; values outside are clipped, NaN becomes mid-grey."""
    values = np.nan_to_num(np.asarray(images, dtype=np.float32), nan=0.0)
    return np.clip(np.rint((values + 1.0) * 127.5), 0, 255).astype(np.uint8)


def to_float_tensor(images):
    """uint8 (or any numeric) tensor -> float32 tensor in [-1, 1]."""
    import tensorflow as tf

    return tf.cast(images, tf.float32) / 127.5 - 1.0


def to_uint8_tensor(images):
    """float32 tensor in [-1, 1] -> uint8 tensor, rounded half to even and clipped to [0, 255]."""
    import tensorflow as tf

    return tf.cast(tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0, 255), tf.uint8)
