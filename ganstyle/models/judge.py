"""The judge: a culture classifier trained on real training images only, never on generated ones.

It is not a GAN and plays no part in any measure.  It answers one question for
the GAN stages: does an image look like culture c to a good classifier of real
images?  Asked of each culture's generated samples, of the joint generator's
samples per class and of translated held-out images, this is "GAN-test"
accuracy (Shmelkov et al., ECCV 2018); a judge that is weak on real held-out
images would make every such ratio meaningless, so its held-out accuracy is
always reported beside them.

The network is a small VGG-style CNN (two 3x3 convolutions with batch norm and
ReLU per stage, stride-2 pooling between stages, global average pooling,
dropout, one logit per culture): a plain, well-understood classifier, sized so
that training it costs a fraction of one GAN's training.  It trains with
label smoothing, a cosine-decayed Adam and augmentation of what a culture is
not (position, sharpness, contrast, noise; :func:`augment`; no flips: a
mirrored letter is not a letter of the same script).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ganstyle.models.tracing import graph_function


@dataclass(frozen=True)
class JudgeRecipe:
    """How the judge is built and trained (the ``judge`` config section, resolved)."""

    width: int
    epochs: int
    batch_size: int
    learning_rate: float
    label_smoothing: float
    dropout: float
    shift: int
    seed: int

    @classmethod
    def from_settings(cls, settings: dict) -> JudgeRecipe:
        return cls(**{name: settings[name] for name in cls.__dataclass_fields__})


def build_judge(resolution: int, channels: int, n_classes: int, width: int, dropout: float):
    """(N, R, R, C) float images in [-1, 1] -> (N, n_classes) float32 logits."""
    import keras
    from keras import layers

    stages = max(2, int(np.log2(resolution)) - 3)  # 32 px: 32, 16, 8 -> 3 stages; 64 px: 4
    image = keras.Input((resolution, resolution, channels), name="image")
    x = image
    for stage in range(stages):
        if stage:
            x = layers.MaxPooling2D(2)(x)
        for _ in range(2):
            x = layers.Conv2D(width * 2**stage, 3, padding="same", use_bias=False)(x)
            x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    logits = layers.Dense(n_classes, dtype="float32", name="logits")(x)
    return keras.Model(image, logits, name="judge")


def augment(images, shift: int, seed_pair):
    """What the judge must not care about, drawn per image from a stateless seed: position (a random
    crop of the reflect-padded image, up to ``shift`` pixels), sharpness (a blend towards a blurred
    copy), contrast and brightness, and pixel noise.  A judge trained on crisp renderings alone
    loses half its accuracy on real images blurred by half a pixel, and would then judge a
    generator's sharpness rather than its culture."""
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(seed_pair, 5)
    n = tf.shape(images)[0]
    size, channels = images.shape[1], images.shape[3]
    if shift > 0:
        padded = tf.pad(images, [[0, 0], [shift, shift], [shift, shift], [0, 0]], mode="REFLECT")
        offsets = tf.random.stateless_uniform([n, 2], seeds[0], 0, 2 * shift + 1, dtype=tf.int32)
        rows = offsets[:, :1] + tf.range(size)[None, :]
        cols = offsets[:, 1:] + tf.range(size)[None, :]
        images = tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)
    taps = tf.constant([0.0625, 0.25, 0.375, 0.25, 0.0625])  # binomial: a Gaussian of about 1 pixel
    kernel = tf.tile((taps[:, None] * taps[None, :])[:, :, None, None], [1, 1, channels, 1])
    blurred = tf.nn.depthwise_conv2d(tf.pad(images, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="REFLECT"), kernel, [1, 1, 1, 1], "VALID")
    sharpness = tf.random.stateless_uniform([n, 1, 1, 1], seeds[1])
    images = images + sharpness * (blurred - images)
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    contrast = tf.random.stateless_uniform([n, 1, 1, 1], seeds[2], 0.6, 1.2)
    brightness = tf.random.stateless_uniform([n, 1, 1, 1], seeds[3], -0.2, 0.2)
    noise = tf.random.stateless_normal(tf.shape(images), seeds[4]) * 0.05
    return tf.clip_by_value((images - mean) * contrast + mean + brightness + noise, -1.0, 1.0)


def train_judge(images: np.ndarray, labels: np.ndarray, n_classes: int, recipe: JudgeRecipe, progress: bool = True):
    """Train a judge on uint8 NHWC ``images`` with int ``labels``; returns (model, history DataFrame)."""
    import keras
    import pandas as pd
    import tensorflow as tf

    from ganstyle.models.pixels import to_float_tensor
    from ganstyle.models.training import pipeline_options

    keras.utils.set_random_seed(recipe.seed)
    model = build_judge(images.shape[1], images.shape[3], n_classes, recipe.width, recipe.dropout)
    steps_per_epoch = max(1, len(images) // recipe.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(recipe.learning_rate, recipe.epochs * steps_per_epoch)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=recipe.label_smoothing),
        metrics=["accuracy"],
    )
    one_hot = np.eye(n_classes, dtype=np.float32)[labels]
    data = (
        tf.data.Dataset.from_tensor_slices((images, one_hot))
        .shuffle(len(images), seed=recipe.seed, reshuffle_each_iteration=True)
        .batch(recipe.batch_size, drop_remainder=True)
        .repeat()
        .enumerate()
        .map(lambda i, batch: (augment(to_float_tensor(batch[0]), recipe.shift, tf.stack([tf.constant(recipe.seed, tf.int64), i])), batch[1]))
        .prefetch(2)
        .with_options(pipeline_options())
    )
    fitted = model.fit(data, epochs=recipe.epochs, steps_per_epoch=steps_per_epoch, shuffle=False, verbose=2 if progress else 0)
    history = pd.DataFrame(fitted.history)
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    return model, history


def judge_probabilities(model, images_uint8: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """(N, K) float32 class probabilities of uint8 NHWC images (inference mode)."""
    import tensorflow as tf

    from ganstyle.models.pixels import to_float_tensor

    n_classes = int(model.outputs[0].shape[-1])
    if len(images_uint8) == 0:
        return np.zeros((0, n_classes), np.float32)

    @graph_function(reduce_retracing=True)
    def forward(batch):
        return tf.nn.softmax(tf.cast(model(to_float_tensor(batch), training=False), tf.float32))

    return np.concatenate([forward(tf.constant(images_uint8[i : i + batch_size])).numpy() for i in range(0, len(images_uint8), batch_size)])
