"""A trained discriminator used as a culture's critic.

``discriminator.keras`` (written by the ``train-gan`` stage) and the joint
critic's ``critic_step<N>.keras`` (``train-joint``) are functional Keras
models: float32 images in [-1, 1] in, ``[logits (N, K), features (N, F)]``
out, where ``K`` is 1 for a culture's critic and the number of cultures for
the joint critic (the logit conditioned on each culture), and ``features``
are the critic's per-image features (see ``ganstyle.models.networks``).  Nothing
here looks layers up by name: the two outputs are the API.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganstyle.errors import UserError
from ganstyle.models.tracing import graph_function


def load_model(path, what: str):
    """Load a Keras model saved by a ganstyle stage (custom layers registered); ``what`` names it in errors."""
    import keras

    import ganstyle.models.networks  # noqa: F401  (registers SpectralConv2D / SpectralDense)

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} model not found: {path}")
    try:
        return keras.saving.load_model(path, compile=False)
    except (ValueError, OSError, TypeError) as err:
        raise UserError(f"{path}: cannot load the {what} model: {err}") from err


def load_critic(path):
    """Load a discriminator saved by ``train-gan`` or ``train-joint`` and check it is a critic."""
    model = load_model(path, "critic")
    if not isinstance(model.outputs, list) or len(model.outputs) != 2:
        raise UserError(f"{path}: a critic must have two outputs [logit, features], this model has {len(model.outputs)}")
    return model


def critic_outputs(model, images_uint8: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """``(features (N, F) float32, logits (N, K) float32)`` of uint8 NHWC images.

    Inference mode (spectral-norm vectors are not updated, batch statistics
    are not used), so an image's outputs do not depend on the other images
    of its batch.
    """
    import tensorflow as tf

    images_uint8 = np.asarray(images_uint8)
    if images_uint8.dtype != np.uint8 or images_uint8.ndim != 4:
        raise ValueError(f"critic_outputs expects uint8 NHWC images, got {images_uint8.dtype} {images_uint8.shape}")
    expected = tuple(model.inputs[0].shape[1:])
    if images_uint8.shape[1:] != expected:
        raise UserError(f"images of shape {images_uint8.shape[1:]} do not fit a critic trained on {expected}")
    feature_dim, logit_dim = int(model.outputs[1].shape[-1]), int(model.outputs[0].shape[-1])
    if len(images_uint8) == 0:
        return np.zeros((0, feature_dim), np.float32), np.zeros((0, logit_dim), np.float32)
    forward = _forward_function(model)
    features, logits = [], []
    for start in range(0, len(images_uint8), batch_size):
        f, l = forward(tf.constant(images_uint8[start : start + batch_size]))
        features.append(f.numpy())
        logits.append(l.numpy())
    return np.concatenate(features), np.concatenate(logits)


def _forward_function(model):
    """One traced inference function per model (kept on it): repeated calls do not retrace."""
    import tensorflow as tf

    from ganstyle.models.pixels import to_float_tensor

    forward = getattr(model, "_ganstyle_forward", None)
    if forward is None:

        @graph_function(reduce_retracing=True)
        def forward(batch):
            logits, features = model(to_float_tensor(batch), training=False)
            return tf.cast(features, tf.float32), tf.cast(logits, tf.float32)

        model._ganstyle_forward = forward
    return forward
