"""Stage ``train-joint``: one class-conditional GAN over all cultures, the *joint critic*.

Per-culture critics each live in their own feature space and only ever see
their own culture.  The joint critic sees every culture's training images,
with their culture labels, in one model: a conditional generator and a
projection discriminator (Miyato & Koyama 2018), ``logit(x, y) = psi(phi(x)) +
<e_y, phi(x)>``, spectrally normalised, with DiffAugment and optionally an
auxiliary culture classifier on the projection logits (AC-GAN).  Culture
labels are used; the registry's ``group`` column never is.

What it gives the similarity stage (see ``ganstyle.stages.features``), for every
held-out image: the logit conditioned on each culture (how real the image
looks *as* each culture) and the multi-layer features; and the culture
embeddings ``e_y``.  One model for all cultures: O(1) models, one shared space.

The discriminator is exported at the last ``joint.snapshots`` checkpoints
(``critic_step<N>.keras``), so that distances can be averaged over the end of
training as well as over seeds.

Its recipe is the ``gan`` section with the ``joint`` section's keys on top
(:meth:`ganstyle.models.recipes.JointRecipe.from_sections`).  TensorFlow is imported only inside functions,
after ``devices.claim_gpu`` has picked this job's GPU.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ganstyle import io
from ganstyle.config import add_settings_arguments, section
from ganstyle.errors import UserError
from ganstyle.io import files
from ganstyle.io.files import JOINT_RUN
from ganstyle.io.images import image_grid
from ganstyle.models.recipes import JointRecipe
from ganstyle.stages.corpus import load_cultures

log = logging.getLogger(__name__)


def snapshot_steps(steps: int, snapshot_every: int, snapshots: int) -> list[int]:
    """Training steps at which the critic is exported, oldest first (the last is ``steps``)."""
    return sorted({max(steps - i * snapshot_every, 1) for i in range(snapshots)})


def critic_file(step: int) -> str:
    return f"critic_step{step:06d}.keras"


def train_joint(
    corpora: list[Path], cultures: list[str], seed: int, out: Path, checkpoints: Path, recipe: JointRecipe, threads: int | None, progress: bool = True
) -> dict:
    """Train the joint critic of one seed and write every output; returns metrics.json's content."""
    from ganstyle.models import devices

    devices.claim_gpu()
    from ganstyle.models import training
    from ganstyle.models.gan import GANTask, culture_noise, generate_images, initial_models

    started = time.perf_counter()
    training.configure_tensorflow(threads, seed, deterministic=recipe.deterministic)
    precision = training.configure_precision(recipe.mixed_precision)
    train_images, labels, heldout = load_cultures(cultures, corpora, needs="the joint critic", measures="its sanity matrix")
    resolution, channels = train_images.shape[1], train_images.shape[3]
    log.info(
        "joint critic seed %d: %d cultures, %d train images, %dx%dx%d, precision %s",
        seed,
        len(cultures),
        len(train_images),
        resolution,
        resolution,
        channels,
        precision,
    )

    generator, discriminator = initial_models(recipe, resolution, channels, seed, n_classes=len(cultures))
    task = GANTask(generator, discriminator, recipe, seed)
    steps = snapshot_steps(recipe.steps, recipe.snapshot_every, recipe.snapshots)
    checkpointer = training.Checkpointer(
        checkpoints,
        task.variables(),
        recipe.fingerprint(cultures, seed, list(train_images.shape), np.ascontiguousarray(train_images).tobytes(), np.ascontiguousarray(labels).tobytes()),
        keep=len(steps),
    )

    def batches(start, end):
        return training.step_batches(train_images, recipe.batch_size, seed, start, end, labels=labels)

    history = training.train_recipe(task, batches, recipe, checkpointer, recipe.snapshot_every, f"joint seed{seed}", progress)

    out.mkdir(parents=True, exist_ok=True)
    # the critic at each snapshot: restored from the checkpoints the loop kept; the final state last
    for step in steps:
        checkpointer.restore(max_step=step, exact=True)
        io.save_keras(discriminator, out / critic_file(step))
    io.save_keras(task.ema_generator, out / JOINT_RUN["generator"])

    per_culture = recipe.samples_per_culture(len(cultures))
    noise, sample_labels = culture_noise(per_culture, len(cultures), task.latent_dim, seed)
    samples = generate_images(task.ema_generator, noise, sample_labels)
    columns = min(per_culture, recipe.grid)
    shown = np.concatenate([samples[sample_labels == k][:columns] for k in range(len(cultures))])
    io.save_png(out / JOINT_RUN["samples_png"], image_grid(shown, columns))  # one row per culture
    files.save_samples(out / JOINT_RUN["samples"], files.Samples(samples, noise, np.asarray(cultures)[sample_labels]))
    io.write_tsv(out / JOINT_RUN["history"], history)

    sanity = conditional_sanity(samples, sample_labels, heldout, cultures)
    io.write_tsv(out / JOINT_RUN["sanity"], sanity)

    metrics = {
        "seed": seed,
        "cultures": cultures,
        "steps": int(recipe.steps),
        "snapshot_steps": steps,
        "train_seconds": float(history["elapsed_s"].iloc[-1]) if len(history) else 0.0,
        "wall_seconds_this_run": time.perf_counter() - started,
        "own_culture_closest": int(sanity.groupby("generator_culture")["own_is_smallest"].first().sum()),
        "settings": recipe.as_dict(),
        **training.run_environment(precision, threads),
    }
    io.write_json(out / JOINT_RUN["metrics"], metrics)
    log.info(
        "joint critic seed %d: %d steps; samples of %d of %d cultures are closest (KID) to their own culture",
        seed,
        recipe.steps,
        metrics["own_culture_closest"],
        len(cultures),
    )
    return metrics


def conditional_sanity(samples: np.ndarray, sample_labels: np.ndarray, heldout: dict[str, np.ndarray], cultures: list[str]) -> pd.DataFrame:
    """KID (reference space) of the samples generated for each culture against each culture's held-out images."""
    from ganstyle.metrics.matrices import kid_table
    from ganstyle.metrics.reference import reference_features
    from ganstyle.models.devices import single_threaded_blas

    with single_threaded_blas():
        generated = {c: reference_features(samples[sample_labels == k]) for k, c in enumerate(cultures)}
        real = {c: reference_features(heldout[c]) for c in cultures}
    return kid_table(generated, real, n_boot=0, seed=0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ganstyle train-joint", description=__doc__.split("\n\n")[0])
    add_settings_arguments(parser, "gan")
    parser.add_argument("--joint", required=True, help="the 'joint' config section as JSON")
    parser.add_argument("--cultures", nargs="+", required=True, help="culture names, in the order of --corpora (index = class)")
    parser.add_argument("--corpora", type=Path, nargs="+", required=True, help="results/corpus/{culture}/images.npz, one per culture")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True, help="output folder, results/joint/seed{seed}")
    parser.add_argument("--checkpoints", type=Path, required=True, help="checkpoint folder (kept between runs)")
    parser.add_argument("--threads", type=int, default=None, help="TensorFlow intra-op threads (the rule's threads)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None, stage: str = "train-joint") -> int:
    args = build_parser().parse_args(argv)
    recipe = JointRecipe.from_sections(section("gan", args.settings, args.config_path), section("joint", args.joint))
    if len(set(args.cultures)) != len(args.cultures) or len(args.cultures) < 2:
        raise UserError("--cultures: the joint critic needs at least 2 distinct cultures")
    train_joint(args.corpora, args.cultures, args.seed, args.out, args.checkpoints, recipe, args.threads, progress=not args.no_progress)
    return 0
