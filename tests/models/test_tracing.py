"""graph_function: traces without AutoGraph, so tensor-dependent Python control flow fails loudly."""

import numpy as np
import pytest
import tensorflow as tf

from ganstyle.models.tracing import graph_function


def test_a_python_if_on_a_tensor_raises_at_trace_time():
    def halve_positive(x):
        if tf.reduce_sum(x) > 0:  # AutoGraph would turn this into tf.cond; without it, tracing must fail
            return x / 2
        return x

    assert float(tf.function(halve_positive)(tf.constant([2.0]))[0]) == 1.0
    with pytest.raises(tf.errors.OperatorNotAllowedInGraphError, match="as a Python `bool`"):
        graph_function(halve_positive)(tf.constant([2.0]))


def test_options_reach_tf_function_in_both_spellings():
    @graph_function(jit_compile=True)
    def square(x):
        return x * x

    plain = graph_function(lambda x: x + 1)
    np.testing.assert_array_equal(square(tf.constant([3.0])).numpy(), [9.0])
    np.testing.assert_array_equal(plain(tf.constant([3.0])).numpy(), [4.0])
    assert square.experimental_get_compiler_ir(tf.constant([3.0]))(stage="hlo")  # XLA-compiled: it has HLO
