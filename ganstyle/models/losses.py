"""GAN losses on raw discriminator logits (no sigmoid in the networks).

Conventions: the discriminator minimises ``d_loss``, the generator minimises
``g_loss``; a larger logit means "more real".

- ``bce``: the seed's binary cross-entropy, written with softplus so that it
  is stable for large logits (``-log sigmoid(x) = softplus(-x)``); the
  generator uses the non-saturating form ``-log D(G(z))``.
- ``hinge``: ``relu(1 - real) + relu(1 + fake)`` for the discriminator,
  ``-fake`` for the generator (Lim & Ye 2017; Miyato et al. 2018).
"""

from __future__ import annotations

import tensorflow as tf

LOSSES = ("hinge", "bce")


def discriminator_loss(kind: str, real_logits, fake_logits):
    if kind == "hinge":
        return tf.reduce_mean(tf.nn.relu(1.0 - real_logits)) + tf.reduce_mean(tf.nn.relu(1.0 + fake_logits))
    if kind == "bce":
        return tf.reduce_mean(tf.nn.softplus(-real_logits)) + tf.reduce_mean(tf.nn.softplus(fake_logits))
    raise ValueError(f"unknown loss {kind!r}; expected one of {LOSSES}")


def generator_loss(kind: str, fake_logits):
    if kind == "hinge":
        return -tf.reduce_mean(fake_logits)
    if kind == "bce":
        return tf.reduce_mean(tf.nn.softplus(-fake_logits))
    raise ValueError(f"unknown loss {kind!r}; expected one of {LOSSES}")


def r1_penalty(real_input_gradients):
    """R1 regulariser (Mescheder et al. 2018) without its gamma/2 factor:
    the mean over the batch of the squared norm of d logit / d real image."""
    axes = list(range(1, len(real_input_gradients.shape)))
    return tf.reduce_mean(tf.reduce_sum(tf.square(real_input_gradients), axis=axes))


def feature_matching(real_features, fake_features):
    """Feature matching (Salimans et al. 2016): squared distance between the batch
    means of the discriminator's penultimate features of real and generated
    images, averaged over features; pulls the generator towards the whole real
    distribution rather than one convincing mode."""
    difference = tf.reduce_mean(real_features, axis=0) - tf.reduce_mean(fake_features, axis=0)
    return tf.reduce_mean(tf.square(difference))


def culture_cross_entropy(cultures, class_logits):
    """Mean cross-entropy of the culture indices under the softmax of (N, K) class logits."""
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=cultures, logits=class_logits))


def mode_seeking(first_images, second_images, first_noise, second_noise):
    """Mode seeking (Mao et al. 2019): how far apart two images of one culture from two noise draws
    are, per unit of noise distance (mean absolute differences).  The generator minimises its
    reciprocal, so it cannot answer different noise with one image per culture."""
    images = tf.reduce_mean(tf.abs(first_images - second_images))
    noise = tf.reduce_mean(tf.abs(first_noise - second_noise))
    return 1.0 / (images / noise + 1e-5)
