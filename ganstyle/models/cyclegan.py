"""CycleGAN (Zhu et al. 2017) for unpaired translation between two cultures.

Networks, losses, the pool of past fakes and the training task that
``ganstyle.models.training.train`` runs (the same loop, checkpoints and resume as
the per-culture GANs).

- Generators: ResNet generators (7x7 stem, two stride-2 downsamplings,
  residual blocks, two stride-2 transposed convolutions, 7x7 to the image,
  tanh) with instance normalisation and reflection padding; the number of
  residual blocks follows the resolution (``RESIDUAL_BLOCKS``: 9 at 256 px as
  in the paper, 6 at 128, fewer below).
- Discriminators: PatchGAN (4x4 stride-2 convolutions with LeakyReLU and
  instance norm, one logit per overlapping patch).  At 64 px and above they
  see 70x70 receptive fields as in the paper; at 32 px one downsampling fewer,
  so that the patches stay smaller than the image.
- Losses: least squares (LSGAN) for both players, L1 cycle-consistency
  ``|F(G(a)) - a| + |G(F(b)) - b|`` and L1 identity ``|G(b) - b| + |F(a) - a|``.
- Discriminators learn from a pool of the last ``pool_size`` fakes (Shrivastava
  et al. 2017) so that they do not forget earlier generator modes.
- Adam, constant learning rate, then linear decay to 0 from
  ``decay_start`` x steps on (the paper: the second half).

All networks take and return float32 images in [-1, 1], NHWC.
"""

from __future__ import annotations

import weakref
from types import SimpleNamespace

import keras
import tensorflow as tf
from keras import layers, ops

from ganstyle.models.adversarial import AdversarialTask, numbered
from ganstyle.models.pixels import to_float_tensor, to_uint8_tensor

RESOLUTIONS = (32, 64, 128, 256)
RESIDUAL_BLOCKS = {32: 2, 64: 3, 128: 6, 256: 9}


# ---------------------------------------------------------------- layers


@keras.saving.register_keras_serializable(package="ganstyle")
class ReflectionPad2D(layers.Layer):
    """Mirror ``padding`` pixels on every side (d c b | a b c d): no dark frame
    from zero padding, which a generator would otherwise learn to paint over."""

    def __init__(self, padding: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)

    def call(self, inputs):
        p = self.padding
        return ops.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        grow = lambda d: None if d is None else d + 2 * self.padding  # noqa: E731
        return (n, grow(h), grow(w), c)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


@keras.saving.register_keras_serializable(package="ganstyle")
class InstanceNormalization(layers.Layer):
    """Normalise each image's channel over its height and width, then scale and shift
    (learned per channel).  Statistics never mix images, so training and inference agree."""

    def __init__(self, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(shape=(channels,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta")

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        mean, variance = ops.moments(x, axes=[1, 2], keepdims=True)
        x = (x - mean) * ops.rsqrt(variance + self.epsilon)
        x = x * ops.cast(self.gamma, "float32") + ops.cast(self.beta, "float32")
        return ops.cast(x, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def _conv(width, kernel, strides=1, padding="same"):
    # N(0, 0.02) initialisation, as the paper
    return layers.Conv2D(width, kernel, strides=strides, padding=padding, use_bias=False, kernel_initializer=keras.initializers.RandomNormal(stddev=0.02))


# ---------------------------------------------------------------- networks


def check_resolution(resolution: int) -> None:
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution}")


def resnet_generator(resolution: int, channels: int, width: int = 16, residual_blocks: int | None = None, name: str = "generator") -> keras.Model:
    """Image-to-image ResNet generator: (N, R, R, C) in [-1, 1] -> same shape in [-1, 1]."""
    check_resolution(resolution)
    blocks = RESIDUAL_BLOCKS[resolution] if residual_blocks is None else int(residual_blocks)
    image = keras.Input((resolution, resolution, channels), name="image")
    x = ReflectionPad2D(3)(image)
    x = layers.ReLU()(InstanceNormalization()(_conv(width, 7, padding="valid")(x)))
    for factor in (2, 4):  # two stride-2 downsamplings
        x = layers.ReLU()(InstanceNormalization()(_conv(width * factor, 3, strides=2)(x)))
    for _ in range(blocks):
        skip = x
        x = ReflectionPad2D(1)(x)
        x = layers.ReLU()(InstanceNormalization()(_conv(width * 4, 3, padding="valid")(x)))
        x = ReflectionPad2D(1)(x)
        x = InstanceNormalization()(_conv(width * 4, 3, padding="valid")(x))
        x = layers.Add()([skip, x])
    for factor in (2, 1):  # back up to full resolution
        x = layers.Conv2DTranspose(
            width * factor, 3, strides=2, padding="same", use_bias=False, kernel_initializer=keras.initializers.RandomNormal(stddev=0.02)
        )(x)
        x = layers.ReLU()(InstanceNormalization()(x))
    x = ReflectionPad2D(3)(x)
    x = layers.Conv2D(channels, 7, padding="valid", kernel_initializer=keras.initializers.RandomNormal(stddev=0.02))(x)
    translated = layers.Activation("tanh", dtype="float32", name="translated")(x)
    return keras.Model(image, translated, name=name)


def patch_discriminator(resolution: int, channels: int, width: int = 16, name: str = "discriminator") -> keras.Model:
    """PatchGAN: (N, R, R, C) -> (N, P, P, 1) logits, one per overlapping image patch."""
    check_resolution(resolution)
    downsamplings = 3 if resolution >= 64 else 2
    image = keras.Input((resolution, resolution, channels), name="image")
    x = layers.LeakyReLU(0.2)(_conv(width, 4, strides=2)(image))  # no norm on the first layer
    for i in range(1, downsamplings):
        x = layers.LeakyReLU(0.2)(InstanceNormalization()(_conv(width * 2**i, 4, strides=2)(x)))
    x = layers.LeakyReLU(0.2)(InstanceNormalization()(_conv(width * 2**downsamplings, 4)(x)))
    logits = layers.Conv2D(1, 4, padding="same", dtype="float32", name="patch_logits", kernel_initializer=keras.initializers.RandomNormal(stddev=0.02))(x)
    return keras.Model(image, logits, name=name)


def build_models(resolution: int, channels: int, g_width: int, d_width: int, residual_blocks: int | None = None) -> dict:
    """The four networks: G_ab (A -> B), G_ba (B -> A), D_a (is it A?), D_b (is it B?)."""
    return {
        "G_ab": resnet_generator(resolution, channels, g_width, residual_blocks, name="G_ab"),
        "G_ba": resnet_generator(resolution, channels, g_width, residual_blocks, name="G_ba"),
        "D_a": patch_discriminator(resolution, channels, d_width, name="D_a"),
        "D_b": patch_discriminator(resolution, channels, d_width, name="D_b"),
    }


# ---------------------------------------------------------------- losses


def lsgan_discriminator_loss(real_logits, fake_logits):
    """0.5 [(D(real) - 1)^2 + D(fake)^2]: the paper halves D's loss to slow it down."""
    return 0.5 * (tf.reduce_mean(tf.square(real_logits - 1.0)) + tf.reduce_mean(tf.square(fake_logits)))


def lsgan_generator_loss(fake_logits):
    """(D(G(x)) - 1)^2: the generator wants its fakes scored as real."""
    return tf.reduce_mean(tf.square(fake_logits - 1.0))


def cycle_loss(real, cycled):
    """Mean absolute difference between an image and its round trip (units of the [-1, 1] scale)."""
    return tf.reduce_mean(tf.abs(tf.cast(real, tf.float32) - tf.cast(cycled, tf.float32)))


def identity_loss(real, same):
    """Mean absolute change a generator makes to an image already in its target domain."""
    return tf.reduce_mean(tf.abs(tf.cast(real, tf.float32) - tf.cast(same, tf.float32)))


# ---------------------------------------------------------------- schedule


@keras.saving.register_keras_serializable(package="ganstyle")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``initial`` until ``decay_start`` x ``total_steps``, then linearly down to 0 at ``total_steps``."""

    def __init__(self, initial: float, total_steps: int, decay_start: float = 0.5):
        self.initial, self.total_steps, self.decay_start = float(initial), int(total_steps), float(decay_start)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        start = self.decay_start * self.total_steps
        remaining = (self.total_steps - step) / tf.maximum(self.total_steps - start, 1.0)
        return self.initial * tf.clip_by_value(remaining, 0.0, 1.0)

    def get_config(self):
        return {"initial": self.initial, "total_steps": self.total_steps, "decay_start": self.decay_start}


# ---------------------------------------------------------------- the pool of past fakes


class ImagePool:
    """The last ``size`` generated images, for the discriminator to see old fakes too.

    While the pool fills, a batch's fakes are stored and passed through.  Once
    it is full, each fake is, with probability 1/2, swapped for a random stored
    one (which the discriminator sees instead) and otherwise passed through.
    Swapped slots are distinct within a batch, so the result does not depend on
    the order of writes.  Images, fill count and RNG are variables: part of the
    checkpointed state.
    """

    def __init__(self, size: int, image_shape: tuple[int, int, int], seed: int):
        self.size = int(size)
        self.images = tf.Variable(tf.zeros((max(self.size, 1), *image_shape), tf.float32), trainable=False, name="pool_images")
        self.count = tf.Variable(0, dtype=tf.int64, trainable=False, name="pool_count")
        self.rng = tf.random.Generator.from_seed(seed, alg="philox")

    def variables(self) -> dict:
        return {"images": self.images, "count": self.count, "rng": self.rng.state}

    def query(self, fakes):
        if self.size == 0:
            return fakes
        fakes = tf.cast(fakes, tf.float32)
        n = tf.shape(fakes, out_type=tf.int64)[0]
        positions = tf.range(n)
        full = self.count >= self.size
        # filling: store in the next free slots (a batch that would overflow stores what fits)
        fill_slots = self.count + positions
        fills = tf.logical_and(tf.logical_not(full), fill_slots < self.size)
        # full: swap with probability 1/2, each fake with its own distinct random slot
        coins = self.rng.uniform([n]) < 0.5
        random_slots = tf.argsort(self.rng.uniform([self.size]))[: tf.cast(n, tf.int32)]
        random_slots = tf.cast(random_slots, tf.int64)
        swaps = tf.logical_and(full, coins)
        stored = tf.gather(self.images, tf.where(swaps, random_slots, 0))
        returned = tf.where(swaps[:, None, None, None], stored, fakes)
        writes = tf.logical_or(fills, swaps)
        slots = tf.where(fills, fill_slots, random_slots)
        self.images.scatter_nd_update(tf.boolean_mask(slots, writes)[:, None], tf.boolean_mask(fakes, writes))
        self.count.assign(tf.minimum(self.count + tf.reduce_sum(tf.cast(fills, tf.int64)), self.size))
        return returned


# ---------------------------------------------------------------- the training task


class CycleGANTask(AdversarialTask):
    """CycleGAN state and training step, for ``ganstyle.models.training.train``.

    A batch is ``(images_a, images_b)``, uint8.  One step: both translations,
    both round trips and both identity mappings; generator loss = LSGAN terms
    + ``cycle_weight`` x cycle + ``identity_weight`` x identity; each
    discriminator learns from real images against pooled fakes; DiffAugment
    (optional) on everything a discriminator sees.  Generators and
    discriminators are updated simultaneously from the same forward pass.
    """

    def __init__(self, models: dict, settings: dict, seed: int):
        self.models = models
        self.recipe = SimpleNamespace(**settings)  # what AdversarialTask reads: betas, augment
        self.batch_size = int(settings["batch_size"])
        self.images_per_step = 2 * self.batch_size
        self.cycle_weight = float(settings["cycle_weight"])
        self.identity_weight = float(settings["identity_weight"])
        self.generator_variables = models["G_ab"].trainable_variables + models["G_ba"].trainable_variables
        self.discriminator_variables = models["D_a"].trainable_variables + models["D_b"].trainable_variables

        def schedule():
            return LinearDecay(settings["learning_rate"], settings["steps"], settings["decay_start"])

        self.set_up_players(schedule(), schedule(), self.generator_variables, self.discriminator_variables, seed)
        image_shape = tuple(models["G_ab"].inputs[0].shape[1:])
        self.pool_a = ImagePool(settings["pool_size"], image_shape, seed + 11)  # past fakes of A (from G_ba)
        self.pool_b = ImagePool(settings["pool_size"], image_shape, seed + 12)

    def variables(self) -> dict:
        state = {}
        for name, model in self.models.items():
            state.update(numbered(name, model.weights))
        state.update(self.player_state())
        for name, pool in (("pool_a", self.pool_a), ("pool_b", self.pool_b)):
            state.update({f"{name}/{key}": v for key, v in pool.variables().items()})
        state["rng/augment"] = self.augment_rng.state
        return state

    def _logits(self, discriminator, images):
        return tf.cast(self.models[discriminator](self.augment(images), training=True), tf.float32)

    def train_step(self, batch):
        images_a, images_b = batch
        real_a, real_b = to_float_tensor(images_a), to_float_tensor(images_b)
        G_ab, G_ba = self.models["G_ab"], self.models["G_ba"]
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake_b = tf.cast(G_ab(real_a, training=True), tf.float32)
            fake_a = tf.cast(G_ba(real_b, training=True), tf.float32)
            cycled_a = tf.cast(G_ba(fake_b, training=True), tf.float32)
            cycled_b = tf.cast(G_ab(fake_a, training=True), tf.float32)
            adversarial = lsgan_generator_loss(self._logits("D_b", fake_b)) + lsgan_generator_loss(self._logits("D_a", fake_a))
            cycle = cycle_loss(real_a, cycled_a) + cycle_loss(real_b, cycled_b)
            if self.identity_weight > 0:
                identity = identity_loss(real_b, G_ab(real_b, training=True)) + identity_loss(real_a, G_ba(real_a, training=True))
            else:
                identity = tf.constant(0.0)
            g_loss = adversarial + self.cycle_weight * cycle + self.identity_weight * identity

            pooled_a = self.pool_a.query(tf.stop_gradient(fake_a))
            pooled_b = self.pool_b.query(tf.stop_gradient(fake_b))
            d_a_loss = lsgan_discriminator_loss(self._logits("D_a", real_a), self._logits("D_a", pooled_a))
            d_b_loss = lsgan_discriminator_loss(self._logits("D_b", real_b), self._logits("D_b", pooled_b))
            d_loss = d_a_loss + d_b_loss
            g_scaled = self.g_optimizer.scale_loss(g_loss)
            d_scaled = self.d_optimizer.scale_loss(d_loss)
        g_grads = g_tape.gradient(g_scaled, self.generator_variables)
        d_grads = d_tape.gradient(d_scaled, self.discriminator_variables)
        self.g_optimizer.apply(g_grads, self.generator_variables)
        self.d_optimizer.apply(d_grads, self.discriminator_variables)
        return {
            "g_loss": g_loss,
            "adversarial": adversarial,
            "cycle": cycle,
            "identity": identity,
            "d_a_loss": d_a_loss,
            "d_b_loss": d_b_loss,
        }


def pair_batches(images_a, images_b, batch_size: int, seed: int, start_step: int, end_step: int) -> tf.data.Dataset:
    """Batches ``(a, b)`` of steps ``start_step .. end_step - 1``: each culture's stream is a
    pure function of (seed, step) (``training.step_batches``), so a resumed run sees the same pairs."""
    from ganstyle.models.training import step_batches

    stream_a = step_batches(images_a, batch_size, seed, start_step, end_step)
    stream_b = step_batches(images_b, batch_size, seed + 1, start_step, end_step)
    return tf.data.Dataset.zip((stream_a, stream_b))


# one traced inference function per generator: translate() is called many times per pair
_FORWARD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _forward(generator):
    if generator not in _FORWARD:

        @tf.function(reduce_retracing=True)
        def forward(batch):
            translated = tf.cast(generator(to_float_tensor(batch), training=False), tf.float32)
            return to_uint8_tensor(translated)

        _FORWARD[generator] = forward
    return _FORWARD[generator]


def translate(generator, images_uint8, batch_size: int = 64):
    """uint8 NHWC images through a generator (inference), back to uint8 NHWC."""
    import numpy as np

    forward = _forward(generator)
    if len(images_uint8) == 0:
        return np.zeros_like(images_uint8)
    return np.concatenate([forward(tf.constant(images_uint8[i : i + batch_size])).numpy() for i in range(0, len(images_uint8), batch_size)])
