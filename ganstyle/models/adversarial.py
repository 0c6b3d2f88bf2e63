"""What the two-player training tasks share: one Adam per side, DiffAugment, and their state.

The per-culture GAN and the joint critic (:class:`ganstyle.models.gan.GANTask`)
train a generator side against a discriminator side.  Both sides' optimisers,
the augmentation stream and how their variables are named in checkpoints
live here; each task keeps its own networks, loss and step (the translator,
:mod:`ganstyle.models.translator`, uses the optimiser helpers too).  TensorFlow is imported only inside functions, so that stages
can read :mod:`ganstyle.models.gan`'s recipes before they pick a GPU.
"""

from __future__ import annotations

# offset of the augmentation stream's seed from the run's seed: the stream stays
# apart from the noise (or pool) streams, so switching augmentation off changes nothing else
AUGMENT_SEED_OFFSET = 1_000_003


def adam(learning_rate, recipe):
    """Adam with the recipe's betas; under mixed float16 wrapped in loss scaling (bfloat16 needs none)."""
    import keras

    optimizer = keras.optimizers.Adam(learning_rate, beta_1=recipe.beta1, beta_2=recipe.beta2)
    if keras.mixed_precision.global_policy().name == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def numbered(group: str, variables) -> dict:
    """``{"<group>/0000": v, ...}``: checkpoint names by position, stable as long as the model is."""
    return {f"{group}/{i:04d}": v for i, v in enumerate(variables)}


class AdversarialTask:
    """Base of the two-player tasks: both sides' Adam optimisers and the augmentation stream.

    A subclass sets ``recipe`` and calls :meth:`set_up_players` in its
    ``__init__``; its ``variables()`` includes :meth:`player_state`.
    """

    recipe: object  # a recipe with beta1, beta2 and augment (ganstyle.models.recipes)

    def set_up_players(self, g_learning_rate, d_learning_rate, generator_variables, discriminator_variables, seed: int) -> None:
        """Both optimisers (slots built) and the augmentation RNG of a run of ``seed``."""
        import tensorflow as tf

        self.g_optimizer = adam(g_learning_rate, self.recipe)
        self.d_optimizer = adam(d_learning_rate, self.recipe)
        # slots exist before a checkpoint is restored into them
        self.g_optimizer.build(generator_variables)
        self.d_optimizer.build(discriminator_variables)
        self.augment_rng = tf.random.Generator.from_seed(seed + AUGMENT_SEED_OFFSET, alg="philox")

    def player_state(self) -> dict:
        """Both optimisers' variables (slots, iteration counters, learning rates), by checkpoint name."""
        return {**numbered("g_optimizer", self.g_optimizer.variables), **numbered("d_optimizer", self.d_optimizer.variables)}

    def augment(self, images):
        """The configured DiffAugment transforms, drawn from this task's augmentation stream (none: unchanged)."""
        from ganstyle.models.augment import diff_augment

        transforms = self.recipe.augment
        return diff_augment(images, self.augment_rng, transforms) if transforms else images
