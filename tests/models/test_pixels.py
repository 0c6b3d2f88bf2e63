"""uint8 <-> [-1, 1] conversion (ganstyle.models.pixels): numpy and tensor versions agree bit for bit."""

import numpy as np

from ganstyle.models import pixels


def test_float_conversions():
    values = np.arange(256, dtype=np.uint8)
    floats = pixels.to_float(values)
    assert floats.dtype == np.float32 and floats[0] == -1 and floats[-1] == 1
    np.testing.assert_array_equal(pixels.to_uint8(floats), values)
    np.testing.assert_array_equal(pixels.to_uint8(np.array([-3.0, 0.0, 7.0, np.nan])), [0, 128, 255, 128])


def test_tensor_conversions_equal_the_numpy_ones_bitwise():
    import tensorflow as tf

    values = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    floats = pixels.to_float_tensor(tf.constant(values))
    assert floats.dtype == tf.float32
    np.testing.assert_array_equal(floats.numpy().view(np.uint32), pixels.to_float(values).view(np.uint32))
    # [-1.5, 1.5] in steps that hit the rounding midpoints between grey levels
    generated = np.linspace(-1.5, 1.5, 2001, dtype=np.float32)
    converted = pixels.to_uint8_tensor(tf.constant(generated))
    assert converted.dtype == tf.uint8
    np.testing.assert_array_equal(converted.numpy(), pixels.to_uint8(generated))
    np.testing.assert_array_equal(pixels.to_uint8_tensor(floats).numpy(), values)
