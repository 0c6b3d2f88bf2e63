"""A multi-domain translator on the joint conditional GAN: an image of culture a becomes ``G(E(x), b)``.

One encoder E serves every pair of cultures.  It inverts the joint GAN's (EMA)
generator G, which stays frozen:

- on G's own samples it regresses the code: ``E(G(z, y)) ~ z`` (squared error);
- on real training images it reconstructs them: ``G(E(x), y_x) ~ x`` (mean
  absolute error in pixels).

Translating an image into culture b keeps its code ``E(x)`` (what G reads as
layout, weight, size and spacing) and changes the culture G is asked for:
``G(E(x), b)``.  The round trip ``G(E(G(E(x), b)), a)`` measures what the
translation kept (cycle error).  Compared with one CycleGAN per pair of
cultures (Zhu et al. 2017), this is one small model per joint GAN whatever the
number of cultures, in the spirit of multi-domain translators such as StarGAN
(Choi et al. 2018), built on an inverted conditional generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ganstyle.models.adversarial import adam, numbered
from ganstyle.models.tracing import graph_function


@dataclass(frozen=True)
class TranslatorRecipe:
    """How the encoder is trained (the ``transfer`` config section, resolved)."""

    steps: int
    batch_size: int
    width: int
    learning_rate: float
    latent_weight: float
    checkpoint_every: int
    log_every: int
    jit_compile: bool
    mixed_precision: str | bool
    deterministic: bool
    codes_on_prior: bool = True
    beta1: float = 0.5
    beta2: float = 0.999

    @classmethod
    def from_section(cls, section: dict) -> TranslatorRecipe:
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in section.items() if k in fields})

    def fingerprint(self, *parts) -> str:
        import hashlib
        import json

        training = {k: v for k, v in self.__dict__.items() if k not in ("steps", "checkpoint_every", "log_every")}
        digest = hashlib.sha256(json.dumps(training, sort_keys=True).encode())
        for part in parts:
            digest.update(part if isinstance(part, bytes) else json.dumps(part).encode())
        return digest.hexdigest()[:32]


def build_encoder(resolution: int, channels: int, latent_dim: int, width: int, codes_on_prior: bool = True):
    """(N, R, R, C) images in [-1, 1] -> (N, latent_dim) codes: strided convolutions with batch
    norm down to 4x4, flattened (the code must keep where things are), one linear layer; with
    ``codes_on_prior`` the codes are put on the noise prior's shell (:class:`PriorShell`)."""
    import keras
    from keras import layers

    from ganstyle.models.networks import PriorShell, num_upsamplings

    image = keras.Input((resolution, resolution, channels), name="image")
    x = layers.LeakyReLU(0.2)(layers.Conv2D(width, 3, padding="same")(image))
    for i in range(num_upsamplings(resolution)):
        x = layers.Conv2D(min(width * 2 ** (i + 1), 256), 4, strides=2, padding="same", use_bias=False)(x)
        x = layers.LeakyReLU(0.2)(layers.BatchNormalization()(x))
    code = layers.Dense(latent_dim, dtype="float32", name="code")(layers.Flatten()(x))
    if codes_on_prior:
        code = PriorShell(dtype="float32", name="code_on_prior")(code)
    return keras.Model(image, code, name="encoder")


class TranslatorTask:
    """The encoder's state and training step, for ``ganstyle.models.training.train``.

    A batch is ``(real images uint8, their culture indices)``.  One step draws
    codes and cultures, generates G's images of them (no gradient into G),
    and updates E on the latent regression of those and the reconstruction
    of the real batch.
    """

    def __init__(self, encoder, generator, recipe: TranslatorRecipe, n_classes: int, seed: int):
        import tensorflow as tf

        self.encoder, self.generator, self.recipe = encoder, generator, recipe
        self.n_classes = n_classes
        self.images_per_step = recipe.batch_size
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.optimizer = adam(recipe.learning_rate, recipe)
        self.optimizer.build(encoder.trainable_variables)
        self.rng = tf.random.Generator.from_seed(seed, alg="philox")
        generator.trainable = False

    def variables(self) -> dict:
        return {**numbered("encoder", self.encoder.weights), **numbered("optimizer", self.optimizer.variables), "rng": self.rng.state}

    def train_step(self, batch):
        import tensorflow as tf

        from ganstyle.models.pixels import to_float_tensor

        real_uint8, cultures = batch
        real = to_float_tensor(real_uint8)
        n = tf.shape(real)[0]
        codes = self.rng.normal([n, self.latent_dim])
        drawn = self.rng.uniform([n], 0, self.n_classes, dtype=tf.int32)
        generated = tf.cast(self.generator([codes, tf.one_hot(drawn, self.n_classes)], training=False), tf.float32)
        with tf.GradientTape() as tape:
            latent = tf.reduce_mean(tf.square(tf.cast(self.encoder(generated, training=True), tf.float32) - codes))
            rebuilt = tf.cast(self.generator([self.encoder(real, training=True), tf.one_hot(cultures, self.n_classes)], training=False), tf.float32)
            reconstruction = tf.reduce_mean(tf.abs(rebuilt - real))
            loss = reconstruction + self.recipe.latent_weight * latent
            scaled = self.optimizer.scale_loss(loss)
        self.optimizer.apply(tape.gradient(scaled, self.encoder.trainable_variables), self.encoder.trainable_variables)
        return {"loss": loss, "reconstruction": reconstruction, "latent": latent}


def translate_all(encoder, generator, images_uint8: np.ndarray, source_culture: np.ndarray, n_classes: int, batch_size: int = 256):
    """Every image into every culture: ``(translated (K, N, H, W, C) uint8, cycle_error (K, N) float32)``.

    ``translated[k]`` is ``G(E(x), k)``; ``cycle_error[k]`` the mean absolute grey-level difference
    between ``x`` and ``G(E(G(E(x), k)), a)`` for its own culture ``a``.
    """
    import tensorflow as tf

    from ganstyle.models.pixels import to_float_tensor, to_uint8_tensor

    @graph_function(reduce_retracing=True)
    def into(batch_uint8, target):
        code = encoder(to_float_tensor(batch_uint8), training=False)
        return to_uint8_tensor(tf.cast(generator([code, tf.one_hot(target, n_classes)], training=False), tf.float32))

    translated, cycle = [], []
    for k in range(n_classes):
        out, errors = [], []
        for i in range(0, len(images_uint8), batch_size):
            x = tf.constant(images_uint8[i : i + batch_size])
            own = tf.constant(np.asarray(source_culture[i : i + batch_size], np.int32))
            moved = into(x, tf.fill(tf.shape(own), k))
            back = into(moved, own)
            out.append(moved.numpy())
            errors.append(np.abs(back.numpy().astype(np.float32) - x.numpy().astype(np.float32)).mean(axis=(1, 2, 3)))
        translated.append(np.concatenate(out))
        cycle.append(np.concatenate(errors))
    return np.stack(translated), np.stack(cycle).astype(np.float32)
