"""Tiny ``gan`` settings and corpora shared by the GAN tests (the stages' and the model code's)."""

import json
from pathlib import Path

import numpy as np

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


def tiny_recipe(**overrides):
    """The :class:`~ganstyle.models.recipes.GANRecipe` of TINY with ``overrides``."""
    from ganstyle.models.recipes import GANRecipe

    return GANRecipe.from_section(tiny_settings(**overrides))


def make_corpus(path: Path, n=24, size=32, channels=1, seed=0, tone=None):
    """A tiny corpus npz with the documented keys: dark strokes on light ground."""
    rng = np.random.default_rng(seed)
    images = np.full((n, size, size, channels), 235 if tone is None else tone, np.uint8)
    for image in images:
        for _ in range(3):
            y, x = rng.integers(2, size - 6, 2)
            image[y : y + rng.integers(2, 6), x : x + rng.integers(1, 4)] = rng.integers(0, 60)
    ids = np.array([f"{seed:04d}{i:012d}" for i in range(n)])
    split = np.where(np.arange(n) % 4 == 0, "heldout", "train")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, images=images, ids=ids, split=split)
    return path
