"""Tiny ``gan`` settings and corpora shared by the GAN tests (the stages' and the model code's)."""

import json
import os
import signal
import subprocess
import sys
import time
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


def start_stage(stage: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
    """``python -m ganstyle <stage> argv`` in a child process of this checkout (stderr captured as text),
    with ``env`` added to this process's environment."""
    from ganstyle.config import REPO_ROOT

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO_ROOT), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "ganstyle", stage, *argv], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def saved_weights(path: Path) -> list[np.ndarray]:
    """The weights of a saved generator or critic (``.keras``), in order."""
    import keras

    from ganstyle.models.critic import load_critic

    model = keras.saving.load_model(path, compile=False) if path.name == "generator.keras" else load_critic(path)
    return [np.asarray(w) for w in model.weights]


def kill_and_resume(stage: str, straight_argv: list[str], killed_argv: list[str], checkpoints: Path, finished: Path) -> None:
    """Run ``stage`` twice side by side: once straight through, once SIGKILLed as soon as a checkpoint
    appears in ``checkpoints`` and then started again (it must resume from it).  ``finished`` is a file
    the killed run writes only at its end (killed earlier, it must not exist)."""
    straight = start_stage(stage, straight_argv)
    victim = start_stage(stage, killed_argv)
    deadline = time.monotonic() + 120
    while not any(checkpoints.glob("ckpt-*.npz")):
        assert victim.poll() is None, "the run ended before writing a checkpoint: " + victim.stderr.read()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not finished.exists(), "the run finished before it was killed; raise steps"
    resumed = start_stage(stage, killed_argv)
    _, resumed_log = resumed.communicate(timeout=300)
    _, straight_log = straight.communicate(timeout=300)
    assert resumed.returncode == 0, resumed_log[-2000:]
    assert straight.returncode == 0, straight_log[-2000:]
    assert "resumed from" in resumed_log
