"""Linear read-outs beside a critic (ganstyle.models.heads)."""

import numpy as np
import tensorflow as tf
from gan_settings import tiny_recipe

from ganstyle.models.heads import LinearHead, quarter_turns


def test_quarter_turns_turn_chunk_j_by_j_quarters():
    images = np.arange(8 * 3 * 3, dtype=np.float32).reshape(8, 3, 3, 1)
    turned, turns = quarter_turns(tf.constant(images))
    np.testing.assert_array_equal(turns.numpy(), [0, 0, 1, 1, 2, 2, 3, 3])
    for i in range(8):
        np.testing.assert_array_equal(turned.numpy()[i], np.rot90(images[i], k=i // 2, axes=(0, 1)))


def test_reset_restores_a_new_head_of_that_seed():
    head = LinearHead(6, 3, 0.01, tiny_recipe(beta1=0.5, beta2=0.99), seed=4, name="h", optimizer_name="h_optimizer")
    initial = {k: np.array(v) for k, v in head.variables().items()}
    features, labels = tf.random.normal([5, 6], seed=1), tf.constant([0, 1, 2, 0, 1])
    with tf.GradientTape() as tape:
        loss = head.scaled(tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=head(features))))
    head.apply(tape, loss)
    assert not np.array_equal(np.array(head.layer.kernel), initial["h/0000"])
    head.reset(4)
    for name, value in head.variables().items():
        np.testing.assert_array_equal(np.array(value), initial[name], err_msg=name)


def test_quarter_turns_traces_with_an_unknown_batch_size():
    traced = tf.function(quarter_turns, input_signature=[tf.TensorSpec([None, 3, 3, 1], tf.float32)])
    turned, turns = traced(tf.zeros([9, 3, 3, 1]))
    assert turned.shape[0] == 8 and list(turns.numpy()) == [0, 0, 1, 1, 2, 2, 3, 3]
