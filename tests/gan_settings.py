"""Tiny ``gan`` settings shared by the GAN tests (the stage's and the model code's)."""

import json

TINY = {
    "g_width": 4,
    "d_width": 4,
    "max_width": 16,
    "latent_dim": 8,
    "batch_size": 4,
    "samples": 16,
    "grid": 2,
    "n_boot": 5,
    "log_every": 2,
    "checkpoint_every": 4,
    "steps": 6,
}


def tiny_settings(**overrides) -> dict:
    """The validated ``gan`` section of TINY with ``overrides``."""
    from ganstyle.config import section

    return section("gan", json.dumps({**TINY, **overrides}))
