"""The GAN of one culture, and of all cultures at once (the joint critic): recipes, training task, sampling.

- :class:`GANTask`: the state and training step that
  :func:`ganstyle.models.training.train` runs, for a per-culture GAN and, with a
  class-conditional generator and projection discriminator, for the joint critic.
- :func:`fixed_noise`, :func:`generate_images`: reproducible samples.

The stages ``train-gan`` and ``train-joint`` (``ganstyle.stages.gan``, ``ganstyle.stages.joint``)
do the I/O around these.  TensorFlow is imported only inside functions, so that
the stages can resolve their recipes (``ganstyle.models.recipes``) before ``devices.claim_gpu`` has picked a GPU.
"""

from __future__ import annotations

import numpy as np

from ganstyle.models.adversarial import AUGMENT_SEED_OFFSET, AdversarialTask, numbered
from ganstyle.models.heads import LinearHead, quarter_turns
from ganstyle.models.recipes import GANRecipe
from ganstyle.models.tracing import graph_function

# the rotation head: its own Adam's learning rate (the joint critic's feature-head value) and
# the offset of its initial kernel's seed from the run's, apart from the networks' streams
ROTATION_HEAD_LR = 0.01
ROTATION_SEED_OFFSET = 2_000_003


def initial_models(recipe: GANRecipe, resolution: int, channels: int, seed: int, n_classes: int = 1):
    """(generator, discriminator) exactly as a training run of ``seed`` starts from them: the
    untrained control of the feature stage is this discriminator."""
    import keras

    from ganstyle.models import networks

    keras.utils.set_random_seed(seed)
    return networks.build_models(recipe, resolution, channels, n_classes)


# ---------------------------------------------------------------- the training step


class GANTask(AdversarialTask):
    """The GAN's state and its training step, for ``ganstyle.models.training.train``.

    One step: G(z) -> fake; DiffAugment on real and fake alike; one
    discriminator pass over the augmented fakes and one over the augmented
    reals; both players' losses from those logits (the generator's plus
    feature matching on D's penultimate features, the discriminator's plus
    the optional R1 penalty on the augmented reals); both players updated
    simultaneously with Adam; the EMA generator follows G.  ``variables()``
    is the full state: G, D, EMA G, both optimizers, the noise and
    augmentation RNGs.  (D's minibatch-stddev running mean is updated by both
    passes, so in inference it stands for a mix of real and generated batches.)

    Class-conditional (the joint critic): a batch is ``(images, culture
    indices)``; each fake gets the culture of the real image in its place, and
    each image's logit is its culture's column of D's logits.
    """

    def __init__(self, generator, discriminator, recipe: GANRecipe, seed: int):
        import keras
        import tensorflow as tf

        self.generator, self.discriminator = generator, discriminator
        self.recipe = recipe
        self.batch_size = recipe.batch_size
        self.images_per_step = self.batch_size
        # half the real batch (a multiple of 4) is turned for the rotation head: +1/4 of the critic's images
        self.rotated_images = max(4, self.batch_size // 8 * 4)
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.conditional = len(generator.inputs) > 1
        self.n_classes = int(generator.inputs[1].shape[-1]) if self.conditional else 1
        self.ema_generator = keras.models.clone_model(generator)
        self.ema_generator.set_weights(generator.get_weights())
        self.set_up_players(recipe.learning_rate_g, recipe.learning_rate_d, generator.trainable_variables, discriminator.trainable_variables, seed)
        n_classes, n_features = int(discriminator.outputs[0].shape[-1]), int(discriminator.outputs[1].shape[-1])
        # The feature head (joint critic): a culture classifier on the extracted features.  Its cross-entropy
        # on real images shapes them towards what tells the cultures apart; the spectrally normalised
        # projection logits alone spread too little for that (docs/validation.md).
        self.feature_head = None
        if self.conditional and recipe.feature_head > 0:
            self.feature_head = LinearHead(n_features, n_classes, recipe.feature_head_lr, recipe, seed, "feature_head", "head_optimizer")
        # The rotation head (per-culture critics, SS-GAN, Chen et al. 2019): which quarter turn a real image
        # was given.  Real-vs-fake of one culture alone rewards features of the generator's artefacts; the
        # rotation task rewards features of the letterforms themselves.  Same read-out recipe as the feature head.
        self.rotation_head = None
        if recipe.rotation_head > 0:
            if self.batch_size < 4:
                raise ValueError(f"gan.rotation_head needs gan.batch_size >= 4 (one image per quarter turn), not {self.batch_size}")
            self.rotation_head = LinearHead(n_features, 4, ROTATION_HEAD_LR, recipe, seed + ROTATION_SEED_OFFSET, "rotation_head", "rotation_optimizer")
        self.noise_rng = tf.random.Generator.from_seed(seed, alg="philox")
        self._apply_updates = graph_function(self._updates, jit_compile=True)

    def start_seed(self, seed: int, generator, discriminator) -> None:
        """Reset every variable to the start of a run of ``seed`` (``generator``, ``discriminator``:
        that run's initial networks, from :func:`initial_models`), keeping the traced step.

        The same state as a new ``GANTask`` of that seed, so several seeds train in
        one process with one trace of the step (tracing costs as much as ~100 steps).
        """
        if self.feature_head is not None:
            raise ValueError("a task with a feature head (the joint critic) trains one seed per task")
        if self.rotation_head is not None:
            self.rotation_head.reset(seed + ROTATION_SEED_OFFSET)
        for target, source in ((self.generator, generator), (self.ema_generator, generator), (self.discriminator, discriminator)):
            for variable, value in zip(target.weights, source.weights, strict=True):
                variable.assign(value)
        for optimizer in (self.g_optimizer, self.d_optimizer):
            for variable in optimizer.variables:
                if variable.path.endswith("learning_rate"):
                    continue
                variable.assign(np.zeros(variable.shape, variable.dtype))
        self.noise_rng.reset_from_seed(seed)
        self.augment_rng.reset_from_seed(seed + AUGMENT_SEED_OFFSET)

    def variables(self) -> dict:
        return {
            **numbered("generator", self.generator.weights),
            **numbered("discriminator", self.discriminator.weights),
            **numbered("ema_generator", self.ema_generator.weights),
            **(self.feature_head.variables() if self.feature_head else {}),
            **(self.rotation_head.variables() if self.rotation_head else {}),
            **self.player_state(),
            "rng/noise": self.noise_rng.state,
            "rng/augment": self.augment_rng.state,
        }

    def _logits_and_features(self, augmented, cultures):
        import tensorflow as tf

        all_logits, features = map(_as_float32, self.discriminator(augmented, training=True))
        if cultures is None:
            return all_logits, features, None
        return tf.gather(all_logits, cultures, axis=1, batch_dims=1)[:, None], features, all_logits

    def train_step(self, batch):
        import tensorflow as tf

        from ganstyle.models.losses import culture_cross_entropy, discriminator_loss, feature_matching, generator_loss, mode_seeking, r1_penalty
        from ganstyle.models.pixels import to_float_tensor

        real_uint8, cultures = batch if self.conditional else (batch, None)
        kind, r1_gamma = self.recipe.loss, float(self.recipe.r1_gamma)
        fm_weight = float(self.recipe.feature_matching)
        class_weight = float(self.recipe.classification)
        real = to_float_tensor(real_uint8)
        noise = self.noise_rng.normal([tf.shape(real)[0], self.latent_dim])
        seeking = float(self.recipe.mode_seeking)
        fake_cultures = cultures
        half = self.batch_size // 2
        if seeking > 0 and self.conditional:
            # mode seeking compares pairs: the second half of the fakes repeats the first half's cultures
            fake_cultures = tf.concat([cultures[:half], cultures[:half], cultures[2 * half :]], axis=0)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            inputs = [noise, tf.one_hot(fake_cultures, self.n_classes)] if self.conditional else noise
            fake = tf.cast(self.generator(inputs, training=True), tf.float32)
            # real and fake go through D separately: G's gradient then only flows
            # back through the fake half (a joint pass would also backpropagate
            # through the real half, ~10% more work)
            fake_logits, fake_features, fake_all = self._logits_and_features(self.augment(fake), fake_cultures)
            real_augmented = self.augment(real)
            if r1_gamma > 0:
                with tf.GradientTape() as r1_tape:
                    r1_tape.watch(real_augmented)
                    real_logits, real_features, real_all = self._logits_and_features(real_augmented, cultures)
                    real_sum = tf.reduce_sum(real_logits)
                r1 = r1_penalty(r1_tape.gradient(real_sum, real_augmented))
            else:
                real_logits, real_features, real_all = self._logits_and_features(real_augmented, cultures)
                r1 = tf.constant(0.0)
            d_loss = discriminator_loss(kind, real_logits, fake_logits)
            g_loss = generator_loss(kind, fake_logits)
            matching = feature_matching(tf.stop_gradient(real_features), fake_features)
            d_total, g_total = d_loss + 0.5 * r1_gamma * r1, g_loss + fm_weight * matching
            seeking_loss = tf.constant(0.0)
            if seeking > 0:
                seeking_loss = mode_seeking(fake[:half], fake[half : 2 * half], noise[:half], noise[half : 2 * half])
                g_total += seeking * seeking_loss
            real_ce = fake_ce = tf.constant(0.0)
            if self.conditional and class_weight > 0:
                # auxiliary classifier (AC-GAN, Odena et al. 2017) on the projection logits: D names the
                # culture of real images, G makes images D names as their culture (psi cancels in the softmax)
                real_ce = culture_cross_entropy(cultures, real_all)
                fake_ce = culture_cross_entropy(fake_cultures, fake_all)
                d_total += class_weight * real_ce
                g_total += class_weight * fake_ce
            head_ce = rotation_ce = tf.constant(0.0)
            if self.feature_head is not None:
                with tf.GradientTape() as head_tape:
                    head_ce = culture_cross_entropy(cultures, self.feature_head(real_features))
                    head_loss = float(self.recipe.feature_head) * head_ce
                    head_scaled = self.feature_head.scaled(head_loss)
                d_total += head_loss  # the body learns from it with the critic's own optimiser
            if self.rotation_head is not None:
                turned, turns = quarter_turns(real_augmented[: self.rotated_images])
                with tf.GradientTape() as rotation_tape:
                    turned_features = _as_float32(self.discriminator(turned, training=True)[1])
                    rotation_ce = culture_cross_entropy(turns, self.rotation_head(turned_features))
                    rotation_loss = float(self.recipe.rotation_head) * rotation_ce
                    rotation_scaled = self.rotation_head.scaled(rotation_loss)
                d_total += rotation_loss
            d_scaled = self.d_optimizer.scale_loss(d_total)
            g_scaled = self.g_optimizer.scale_loss(g_total)
        g_grads = g_tape.gradient(g_scaled, self.generator.trainable_variables)
        d_grads = d_tape.gradient(d_scaled, self.discriminator.trainable_variables)
        if self.feature_head is not None:
            self.feature_head.apply(head_tape, head_scaled)
        if self.rotation_head is not None:
            self.rotation_head.apply(rotation_tape, rotation_scaled)
        self._apply_updates(g_grads, d_grads)
        return {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_real": tf.reduce_mean(real_logits),
            "d_fake": tf.reduce_mean(fake_logits),
            "r1": r1,
            "feature_matching": matching,
            **({"real_culture_ce": real_ce, "fake_culture_ce": fake_ce} if self.conditional else {}),
            **({"mode_seeking": seeking_loss} if seeking > 0 else {}),
            **({"feature_head_ce": head_ce} if self.feature_head is not None else {}),
            **({"rotation_ce": rotation_ce} if self.rotation_head is not None else {}),
        }

    def _updates(self, g_grads, d_grads):
        """Both Adam steps and the EMA: only element-wise work, which XLA fuses
        into a few loops (Keras runs ~15 small ops per variable otherwise)."""
        from ganstyle.models.training import ema_decay, ema_update

        self.d_optimizer.apply(d_grads, self.discriminator.trainable_variables)
        self.g_optimizer.apply(g_grads, self.generator.trainable_variables)
        decay = ema_decay(self.g_optimizer.iterations, self.recipe.ema_decay)
        ema_update(self.ema_generator.weights, self.generator.weights, decay)


def _as_float32(x):
    import tensorflow as tf

    return tf.cast(x, tf.float32)


# ---------------------------------------------------------------- sampling


def fixed_noise(count: int, latent_dim: int, seed: int) -> np.ndarray:
    """The same noise for the same (count, latent_dim, seed): samples are reproducible."""
    return np.random.default_rng([seed, 7919]).standard_normal((count, latent_dim)).astype(np.float32)


def culture_noise(per_culture: int, n_cultures: int, latent_dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A conditional generator's reproducible sample plan: ``(noise, culture indices)``, ``per_culture``
    draws for each culture, culture after culture."""
    labels = np.repeat(np.arange(n_cultures, dtype=np.int32), per_culture)
    return fixed_noise(len(labels), latent_dim, seed), labels


def generate_images(generator, noise: np.ndarray, cultures: np.ndarray | None = None, batch_size: int = 256) -> np.ndarray:
    """uint8 NHWC images from ``noise`` (inference mode: BN uses its running statistics).

    A conditional generator also takes ``cultures``: culture indices (N,), or culture weights
    (N, K) whose rows mix cultures (one-hot rows are the indices' images).
    """
    import tensorflow as tf

    from ganstyle.models.pixels import to_uint8_tensor

    @graph_function(reduce_retracing=True)
    def forward(inputs):
        return to_uint8_tensor(tf.cast(generator(inputs, training=False), tf.float32))

    weights = None
    if cultures is not None:
        cultures = np.asarray(cultures)
        n_classes = int(generator.inputs[1].shape[-1])
        weights = np.eye(n_classes, dtype=np.float32)[cultures.astype(int)] if cultures.ndim == 1 else cultures.astype(np.float32)

    def batch(i):
        z = tf.constant(noise[i : i + batch_size])
        return z if weights is None else [z, tf.constant(weights[i : i + batch_size])]

    return np.concatenate([forward(batch(i)).numpy() for i in range(0, len(noise), batch_size)])
