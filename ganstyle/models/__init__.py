"""Model code, no stage I/O: networks, losses, augmentation, the shared training loop and the training tasks.

- :mod:`ganstyle.models.pixels`: uint8 <-> [-1, 1] conversion, numpy and tensor versions.
- :mod:`ganstyle.models.networks`: generator and discriminator builders (per-culture and joint critic GANs).
- :mod:`ganstyle.models.losses`: GAN losses on raw logits.
- :mod:`ganstyle.models.augment`: DiffAugment.
- :mod:`ganstyle.models.training`: runtime set-up, data order, EMA, checkpoints and the training loop.
- :mod:`ganstyle.models.tracing`: ``graph_function``, tf.function without AutoGraph (how every model is traced).
- :mod:`ganstyle.models.adversarial`: what the two-player tasks share (optimisers, augmentation stream, state names).
- :mod:`ganstyle.models.gan`: recipes, the GAN training task (per culture, and class-conditional for the joint critic), sampling.
- :mod:`ganstyle.models.translator`: the encoder that inverts the joint generator, and translation into every culture.
- :mod:`ganstyle.models.judge`: the culture classifier of real images that judges generated ones.
- :mod:`ganstyle.models.recipes`: the typed, frozen training recipes.

Submodules are imported explicitly (``from ganstyle.models import networks``) so that
importing the package does not import TensorFlow.
"""
