"""Linear read-outs trained beside a critic: a culture head (joint critic) and a rotation head (per-culture critics).

A head reads the critic's *extracted* features (the multi-layer channel
statistics that the feature stage exports), so whatever its loss teaches the
critic's body lands in exactly the features that are measured.  It has no
spectral norm and its own Adam: a read-out must keep up with the features it
reads, and the critic's small, normalised learning rate would leave it behind.
Heads are part of the training state (checkpointed), not of the exported critic.
"""

from __future__ import annotations

import numpy as np

from ganstyle.models.adversarial import adam, numbered


class LinearHead:
    """A dense layer (``n_in`` -> ``n_out`` logits) with its own Adam; ``seed`` draws its initial kernel."""

    def __init__(self, n_in: int, n_out: int, learning_rate: float, recipe, seed: int, name: str, optimizer_name: str):
        import keras

        self.name, self.optimizer_name = name, optimizer_name
        self.layer = keras.layers.Dense(n_out, dtype="float32", kernel_initializer=keras.initializers.GlorotUniform(seed=seed), name=name)
        self.layer.build((None, n_in))
        self.optimizer = adam(learning_rate, recipe)
        self.optimizer.build(self.layer.trainable_variables)

    def __call__(self, features):
        return self.layer(features)

    def reset(self, seed: int) -> None:
        """The state of a new head of ``seed``: its initial kernel, zero bias, a fresh optimiser."""
        import keras

        kernel = keras.initializers.GlorotUniform(seed=seed)(self.layer.kernel.shape)
        self.layer.kernel.assign(kernel)
        self.layer.bias.assign(np.zeros(self.layer.bias.shape, "float32"))
        for variable in self.optimizer.variables:
            if not variable.path.endswith("learning_rate"):
                variable.assign(np.zeros(variable.shape, variable.dtype))

    def scaled(self, loss):
        """``loss`` as this head's optimiser differentiates it (loss scaling under float16)."""
        return self.optimizer.scale_loss(loss)

    def apply(self, tape, scaled_loss) -> None:
        variables = self.layer.trainable_variables
        self.optimizer.apply(tape.gradient(scaled_loss, variables), variables)

    def variables(self) -> dict:
        return {**numbered(self.name, self.layer.weights), **numbered(self.optimizer_name, self.optimizer.variables)}


def quarter_turns(images):
    """The images in 4 equal chunks, chunk j turned by j x 90 degrees, and each image's j (SS-GAN's rotation task).

    ``images``: (N, H, H, C); the last N mod 4 images are left out.
    """
    import tensorflow as tf

    chunk = tf.shape(images)[0] // 4  # dynamic: a traced step's batch size may be unknown
    turned = tf.concat([tf.image.rot90(images[j * chunk : (j + 1) * chunk], k=j) for j in range(4)], axis=0)
    return turned, tf.repeat(tf.range(4), chunk)
