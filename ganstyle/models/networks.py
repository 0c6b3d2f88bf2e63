"""Generator and discriminator builders.

Two architectures, chosen with the config key ``gan.architecture``:

- ``seed``: the DCGAN of the project's seed document (Dense -> Conv2DTranspose
  generator with ReLU, strided-conv ReLU discriminator, Flatten, one logit),
  made runnable: the Dense layer now produces exactly the tensor the Reshape
  expects, the generator takes only noise, the discriminator returns a logit
  (the sigmoid lives in the loss, which is numerically stable), and depth
  follows resolution.  Kept as the baseline.
- ``default``: the small-data recipe: the same transposed-convolution
  generator with batch normalisation, and a spectrally normalised
  discriminator with LeakyReLU and global average pooling (optionally a
  minibatch-stddev channel before its last block).

Both default networks are also built class-conditional (``n_classes > 1``),
for the joint critic of all cultures: the generator takes the culture as a
learned embedding beside the noise, the discriminator is a projection
discriminator (Miyato & Koyama 2018), ``logit_y = psi(phi(x)) + <e_y, phi(x)>``.

Every discriminator is a functional model with one float32 image input in
[-1, 1] and two outputs ``[logits (N, n_classes), features (N, F)]``, which
later stages use as the critic's logits and features (see ``ganstyle.models.critic``).
For the default architecture ``features`` are multi-layer statistics: the
mean and the standard deviation over positions of every channel of every
block, from the full resolution down to 4x4, so that stroke density and
weight (fine layers) count as well as layout (coarse ones).  Each is computed
from one image alone.  The seed architecture keeps its Flatten features.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

ARCHITECTURES = ("default", "seed")
RESOLUTIONS = (32, 64, 128, 256)


def num_upsamplings(resolution: int) -> int:
    """Stride-2 stages between the 4x4 seed feature map and ``resolution``."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution}")
    return int(math.log2(resolution)) - 2


def _widths(base_width: int, max_width: int, count: int) -> list[int]:
    """Channel widths from the coarsest to the finest stage: doubling towards coarse, capped."""
    return [min(max_width, base_width * 2 ** (count - 1 - i)) for i in range(count)]


# ---------------------------------------------------------------- spectral norm


def _l2_normalize(x, eps=1e-12):
    return x / ops.sqrt(ops.maximum(ops.sum(ops.square(x)), eps))


class _SpectralNormalized(layers.Layer):
    """Base of layers whose kernel is divided by its largest singular value
    (Miyato et al. 2018) at every call.

    One power iteration per training call; the running singular vector ``u``
    is a non-trainable weight, so it is saved with the model and in
    checkpoints.  The gradient flows through ``kernel / sigma`` with ``u, v``
    held constant, as in the paper's implementation.  Standalone layers (not
    subclasses of Conv2D/Dense) so that Keras saves all three weights.
    """

    def __init__(self, units, use_bias=True, spectral_seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.use_bias, self.spectral_seed = int(units), bool(use_bias), spectral_seed

    def _kernel_shape(self, input_shape) -> tuple:
        raise NotImplementedError

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=self._kernel_shape(input_shape), initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias") if self.use_bias else None
        self.spectral_u = self.add_weight(
            shape=(1, self.units),
            initializer=keras.initializers.RandomNormal(stddev=1.0, seed=self.spectral_seed),
            trainable=False,
            name="spectral_u",
        )

    def normalized_kernel(self, training=False):
        """kernel / sigma; in training also stores the power iteration's new ``u``."""
        kernel = ops.cast(self.kernel, "float32")
        w = ops.reshape(kernel, (-1, self.units))  # (fan_in, units)
        u = ops.stop_gradient(ops.cast(self.spectral_u, "float32"))
        v = ops.stop_gradient(_l2_normalize(ops.matmul(u, ops.transpose(w))))
        u_new = ops.stop_gradient(_l2_normalize(ops.matmul(v, w)))
        sigma = ops.sum(ops.matmul(v, w) * u_new)
        if training:
            self.spectral_u.assign(ops.cast(u_new, self.spectral_u.dtype))
        return ops.cast(kernel / sigma, self.compute_dtype)

    def _finish(self, outputs):
        if not self.use_bias:
            return outputs
        import tensorflow as tf  # BiasAdd (not AddV2) lets grappler fuse conv + bias + activation

        return tf.nn.bias_add(outputs, ops.cast(self.bias, self.compute_dtype))

    def get_config(self):
        return {**super().get_config(), "units": self.units, "use_bias": self.use_bias, "spectral_seed": self.spectral_seed}


@keras.saving.register_keras_serializable(package="ganstyle")
class SpectralConv2D(_SpectralNormalized):
    """2D convolution (NHWC, 'same' or 'valid' padding) with a spectrally normalised kernel."""

    def __init__(self, filters, kernel_size, strides=1, padding="same", use_bias=True, spectral_seed=None, units=None, **kwargs):
        super().__init__(filters, use_bias=use_bias, spectral_seed=spectral_seed, **kwargs)
        self.filters = int(filters)
        self.kernel_size = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (int(kernel_size),) * 2
        self.strides = tuple(strides) if isinstance(strides, (tuple, list)) else (int(strides),) * 2
        self.padding = padding

    def _kernel_shape(self, input_shape):
        return (*self.kernel_size, input_shape[-1], self.filters)

    def call(self, inputs, training=None):
        kernel = self.normalized_kernel(bool(training))
        return self._finish(ops.conv(inputs, kernel, strides=self.strides, padding=self.padding))

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        if self.padding == "same":
            size = [None if d is None else -(-d // s) for d, s in zip((h, w), self.strides)]
        else:
            size = [None if d is None else (d - k) // s + 1 for d, k, s in zip((h, w), self.kernel_size, self.strides)]
        return (n, *size, self.filters)

    def get_config(self):
        config = super().get_config()
        config.pop("units")
        return {**config, "filters": self.filters, "kernel_size": self.kernel_size, "strides": self.strides, "padding": self.padding}


@keras.saving.register_keras_serializable(package="ganstyle")
class SpectralDense(_SpectralNormalized):
    """Dense layer with a spectrally normalised kernel."""

    def _kernel_shape(self, input_shape):
        return (input_shape[-1], self.units)

    def call(self, inputs, training=None):
        return self._finish(ops.matmul(inputs, self.normalized_kernel(bool(training))))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)


@keras.saving.register_keras_serializable(package="ganstyle")
class MinibatchStddev(layers.Layer):
    """Appends one feature map: how much the batch varies (Karras et al. 2018).

    In training the channel holds the standard deviation over the batch,
    averaged over positions and channels, so the discriminator can tell a
    collapsed (too uniform) batch of fakes from real data.  In inference it
    holds the running mean of that statistic instead, so a critic's outputs for
    one image never depend on the other images in its batch.
    """

    def __init__(self, momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        self.momentum = float(momentum)

    def build(self, input_shape):
        self.moving_stddev = self.add_weight(shape=(), initializer="zeros", trainable=False, name="moving_stddev")

    def call(self, inputs, training=None):
        if training:
            variance = ops.var(ops.cast(inputs, "float32"), axis=0)
            stddev = ops.mean(ops.sqrt(variance + 1e-8))
            # read as float32: under a mixed policy Keras autocasts variables to the compute dtype
            moving = ops.cast(self.moving_stddev.value, "float32")
            self.moving_stddev.assign(self.momentum * moving + (1.0 - self.momentum) * stddev)
        else:
            stddev = ops.cast(self.moving_stddev.value, "float32")
        channel = ops.ones_like(inputs[..., :1]) * ops.cast(stddev, inputs.dtype)
        return ops.concatenate([inputs, channel], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}


@keras.saving.register_keras_serializable(package="ganstyle")
class ChannelStatistics(layers.Layer):
    """(N, H, W, C) -> (N, 2C): each channel's mean and standard deviation over positions, in float32."""

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        mean = ops.mean(x, axis=(1, 2))
        std = ops.sqrt(ops.maximum(ops.mean(ops.square(x), axis=(1, 2)) - ops.square(mean), 0.0) + 1e-8)
        return ops.concatenate([mean, std], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2 * input_shape[-1])


@keras.saving.register_keras_serializable(package="ganstyle")
class PriorShell(keras.layers.Layer):
    """Codes scaled onto the sphere of radius sqrt(d), where nearly all of G's Gaussian noise lies.

    Left free, an encoder that reconstructs real images drifts to codes far outside the noise G was
    trained on (norms of ~28 where the noise has ~8), and there G reads the culture it is asked for
    less: more translations keep their source culture.  On the shell a code is one G knows.
    """

    def call(self, codes):
        codes = ops.cast(codes, "float32")
        norm = ops.sqrt(ops.maximum(ops.sum(ops.square(codes), axis=-1, keepdims=True), 1e-12))
        return codes * (float(codes.shape[-1]) ** 0.5 / norm)

    def compute_output_shape(self, input_shape):
        return input_shape


# ---------------------------------------------------------------- seed DCGAN


def seed_generator(resolution: int, channels: int, latent_dim: int = 100, width: int = 64, max_width: int = 512) -> keras.Model:
    """The seed document's generator; at 32x32 with width 64 it is exactly the
    seed's 256 -> 128 -> 64 -> C stack."""
    n_up = num_upsamplings(resolution)
    widths = _widths(width, max_width, n_up)  # widths[0] is the Dense/reshape width
    z = keras.Input((latent_dim,), name="noise")
    x = layers.Dense(4 * 4 * widths[0], activation="relu")(z)
    x = layers.Reshape((4, 4, widths[0]))(x)
    for w in widths[1:]:
        x = layers.Conv2DTranspose(w, 4, strides=2, padding="same", activation="relu")(x)
    image = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="tanh", dtype="float32")(x)
    return keras.Model(z, image, name="seed_generator")


def seed_discriminator(resolution: int, channels: int, width: int = 64, max_width: int = 512) -> keras.Model:
    """The seed document's discriminator: stride-2 ReLU convolutions down to 8x8,
    Flatten (the critic features), one logit."""
    n_down = num_upsamplings(resolution) - 1  # 32 -> 8x8 in two steps, as in the seed
    image = keras.Input((resolution, resolution, channels), name="image")
    x = image
    for w in reversed(_widths(width, max_width, n_down)):
        x = layers.Conv2D(w, 4, strides=2, padding="same", activation="relu")(x)
    features = layers.Flatten(name="features")(x)
    logit = layers.Dense(1, dtype="float32", name="logit")(features)
    features = layers.Activation("linear", dtype="float32", name="critic_features")(features)
    return keras.Model(image, [logit, features], name="seed_discriminator")


# ---------------------------------------------------------------- default recipe


def default_generator(resolution: int, channels: int, latent_dim: int = 64, width: int = 32, max_width: int = 256, n_classes: int = 1) -> keras.Model:
    """DCGAN-style generator: Dense to 4x4, stride-2 transposed convolutions with
    batch norm and ReLU, a 3x3 convolution to the image, tanh.  With
    ``n_classes > 1`` its inputs are ``[noise, culture weights (N, n_classes)]`` (one-hot for one
    culture), the culture entering as a learned embedding of the noise's size beside the noise."""
    n_up = num_upsamplings(resolution)
    widths = _widths(width, max_width, n_up + 1)  # 4x4 ... resolution
    z = keras.Input((latent_dim,), name="noise")
    inputs, x = z, z
    if n_classes > 1:
        # the culture as one-hot (or mixing) weights: a linear embedding of a weight vector, so that a
        # generator can also be asked for points between cultures (interpolations)
        culture = keras.Input((n_classes,), name="culture")
        embedding = layers.Dense(latent_dim, use_bias=False, kernel_initializer=keras.initializers.RandomNormal(stddev=1.0), name="culture_embedding")
        inputs, x = [z, culture], layers.Concatenate()([z, embedding(culture)])
    x = layers.Dense(4 * 4 * widths[0], use_bias=False)(x)
    x = layers.Reshape((4, 4, widths[0]))(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    for w in widths[1:]:
        x = layers.Conv2DTranspose(w, 4, strides=2, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.Conv2D(channels, 3, padding="same")(x)
    image = layers.Activation("tanh", dtype="float32")(x)
    return keras.Model(inputs, image, name="generator")


def default_discriminator(
    resolution: int,
    channels: int,
    width: int = 32,
    max_width: int = 256,
    seed: int = 0,
    minibatch_stddev: bool = False,
    n_classes: int = 1,
    spectral_embedding: bool = True,
) -> keras.Model:
    """Spectrally normalised discriminator: a 3x3 stem, stride-2 4x4 convolutions
    with LeakyReLU down to 4x4 (the last one optionally also sees the minibatch
    standard deviation), global average pooling ``phi``, one logit ``psi(phi)``;
    with ``n_classes > 1`` plus the projection ``<e_y, phi>`` for every class y.
    Features: channel means and standard deviations of every block."""
    n_down = num_upsamplings(resolution)
    widths = _widths(width, max_width, n_down + 1)[::-1]  # finest ... 4x4
    image = keras.Input((resolution, resolution, channels), name="image")
    x = layers.LeakyReLU(0.2)(SpectralConv2D(widths[0], 3, padding="same", spectral_seed=seed)(image))
    statistics = [ChannelStatistics()(x)]
    for i, w in enumerate(widths[1:], start=1):
        if minibatch_stddev and i == len(widths) - 1:
            x = MinibatchStddev()(x)
        x = layers.LeakyReLU(0.2)(SpectralConv2D(w, 4, strides=2, padding="same", spectral_seed=seed + i)(x))
        statistics.append(ChannelStatistics()(x))
    phi = layers.GlobalAveragePooling2D(dtype="float32")(x)
    logits = SpectralDense(1, dtype="float32", spectral_seed=seed + 100, name="logit")(phi)
    if n_classes > 1:
        # the rows e_y of this layer's kernel are the culture embeddings
        if spectral_embedding:
            projection = SpectralDense(n_classes, use_bias=False, dtype="float32", spectral_seed=seed + 101, name="class_embedding")(phi)
        else:
            projection = layers.Dense(n_classes, use_bias=False, dtype="float32", name="class_embedding")(phi)
        logits = layers.Add(dtype="float32", name="logits")([logits, projection])
    features = layers.Concatenate(dtype="float32", name="critic_features")(statistics)
    return keras.Model(image, [logits, features], name="discriminator")


def class_embeddings(discriminator: keras.Model) -> np.ndarray | None:
    """(n_classes, F) culture embeddings e_y of a projection discriminator (spectrally normalised), or None."""
    try:
        layer = discriminator.get_layer("class_embedding")
    except ValueError:
        return None
    kernel = layer.normalized_kernel(False) if isinstance(layer, SpectralDense) else layer.kernel
    return np.asarray(kernel).T


def layer_flops(layer) -> int:
    """Floating-point operations of one image through ``layer``: 2 x its multiply-adds if it is a
    convolution, transposed convolution or Dense layer (spectrally normalised or not), else 0."""
    if isinstance(layer, layers.Conv2DTranspose):
        _, h, w, cin = layer.input.shape
        kh, kw = layer.kernel_size
        return int(2 * h * w * kh * kw * cin * layer.filters)
    if isinstance(layer, (layers.Conv2D, SpectralConv2D)):  # after Conv2DTranspose, a subclass
        _, h, w, _ = layer.output.shape
        kh, kw = layer.kernel_size
        return int(2 * h * w * kh * kw * layer.input.shape[-1] * layer.filters)
    if isinstance(layer, (layers.Dense, SpectralDense)):
        return int(2 * layer.input.shape[-1] * layer.units)
    return 0


def forward_flops(model: keras.Model) -> int:
    """Floating-point operations of one image's forward pass, counted analytically:
    2 x multiply-adds of every convolution, transposed convolution and Dense
    layer (:func:`layer_flops`; element-wise ops and batch norm, a few percent, are left out)."""
    return sum(layer_flops(layer) for layer in model.layers)


def build_models(recipe, resolution: int, channels: int, n_classes: int = 1) -> tuple[keras.Model, keras.Model]:
    """(generator, discriminator) of a :class:`~ganstyle.models.recipes.GANRecipe`; ``n_classes > 1``: class-conditional (default architecture)."""
    arch = recipe.architecture
    latent, gw, dw, mw = recipe.latent_dim, recipe.g_width, recipe.d_width, recipe.max_width
    if arch == "seed":
        if n_classes > 1:
            raise ValueError("the seed architecture has no class-conditional form")
        return seed_generator(resolution, channels, latent, gw, mw), seed_discriminator(resolution, channels, dw, mw)
    if arch == "default":
        return (
            default_generator(resolution, channels, latent, gw, mw, n_classes),
            default_discriminator(
                resolution,
                channels,
                dw,
                mw,
                minibatch_stddev=recipe.minibatch_stddev,
                n_classes=n_classes,
                spectral_embedding=recipe.spectral_embedding,
            ),
        )
    raise ValueError(f"unknown architecture {arch!r}; expected one of {ARCHITECTURES}")
