"""Stages ``train-gan`` (one GAN per culture and seed) and ``gan-sanity``.

``train-gan`` trains a GAN on a culture's train split, saves the EMA
generator and the discriminator (the culture's critic, see
``ganstyle.models.critic``), a fixed-noise sample grid, generated samples, the
training history and offline quality metrics (KID and Fréchet distance to the
held-out images in the reference feature space, with bootstrap intervals, and
a memorisation check).  Training resumes from the newest full-state
checkpoint in ``--checkpoints``.  The recipes, the training task and
sampling are model code, in ``ganstyle.models.gan``; this module does the I/O.

``gan-sanity`` checks that each generator imitates its own culture: the KID
of culture A's samples (of every seed) against every culture's held-out
images, which should be smallest for A's own.

TensorFlow is imported only inside functions, after ``devices.claim_gpu``
has picked this job's GPU.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ganstyle import io
from ganstyle.config import add_settings_arguments, section
from ganstyle.errors import UserError
from ganstyle.io import files
from ganstyle.io.files import GAN_RUN
from ganstyle.io.images import image_grid
from ganstyle.models.devices import single_threaded_blas
from ganstyle.models.gan import GANTask, fixed_noise, generate_images, initial_models
from ganstyle.models.recipes import GANRecipe
from ganstyle.stages.corpus import load_splits

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- quality metrics (no I/O)


def _flat(images):
    """Pixels as [0, 1] float rows, for nearest neighbours in pixel space."""
    return images.reshape(len(images), -1).astype(np.float64) / 255.0


def quality_metrics(generated: np.ndarray, train: np.ndarray, heldout: np.ndarray, n_boot: int, seed: int) -> dict:
    """KID and FD of generated vs held-out images in the reference feature space
    (bootstrap intervals), and memorisation in reference-feature and pixel space."""
    from ganstyle.metrics.distances import bootstrap, frechet_distance, kid, memorisation
    from ganstyle.metrics.reference import REFERENCE_VERSION, reference_features

    with warnings.catch_warnings(record=True) as caught, single_threaded_blas():
        warnings.simplefilter("always")
        f_gen, f_train, f_held = (reference_features(x) for x in (generated, train, heldout))
        kid_value = bootstrap(lambda a, b: kid(a, b, seed=seed), f_gen, f_held, n_boot=n_boot, seed=seed)
        # FD is biased upwards under resampling: the basic bootstrap corrects for that
        fd_value = bootstrap(frechet_distance, f_gen, f_held, n_boot=n_boot, seed=seed, method="basic")
        memorisation_reference = memorisation(f_gen, f_train, f_held)
        memorisation_pixels = memorisation(_flat(generated), _flat(train), _flat(heldout))
    notes = sorted({str(w.message) for w in caught})
    for note in notes:
        log.warning("%s", note)
    return {
        "reference_version": REFERENCE_VERSION,
        "reference_dim": int(f_gen.shape[1]),
        "kid": dict(zip(("value", "ci_low", "ci_high"), kid_value)),
        "fd": dict(zip(("value", "ci_low", "ci_high"), fd_value)),
        "kid_ci_method": "percentile bootstrap",
        "fd_ci_method": "basic bootstrap",
        "n_boot": n_boot,
        "n_generated": len(generated),
        "n_train": len(train),
        "n_heldout": len(heldout),
        "memorisation_reference": memorisation_reference,
        "memorisation_pixels": memorisation_pixels,
        "warnings": notes,
    }


# ---------------------------------------------------------------- stage train-gan


def train_gan(
    corpus_path: Path, culture: str, seeds: list[int], out: Path, checkpoints: Path, recipe: GANRecipe, threads: int | None, progress: bool = True
) -> list[dict]:
    """Train one culture's GAN for every seed and save every output (``out/seed<seed>/``);
    returns the metrics.json contents.  The seeds share one traced training step."""
    from ganstyle.models import devices

    devices.claim_gpu()
    from ganstyle.models import networks, training

    training.configure_tensorflow(threads, seeds[0], deterministic=recipe.deterministic)
    precision = training.configure_precision(recipe.mixed_precision)
    train_images, heldout_images = load_splits(corpus_path, needs="a GAN", measures="metrics")
    resolution, channels = train_images.shape[1], train_images.shape[3]
    if train_images.shape[1] != train_images.shape[2] or resolution not in networks.RESOLUTIONS:
        raise UserError(f"{corpus_path}: images are {train_images.shape[1]}x{train_images.shape[2]}; a GAN needs square images of {networks.RESOLUTIONS}")
    log.info(
        "%s seeds %s: %d train / %d held-out images, %dx%dx%d, %s, precision %s",
        culture,
        seeds,
        len(train_images),
        len(heldout_images),
        resolution,
        resolution,
        channels,
        recipe.architecture,
        precision,
    )
    task, results = None, []
    for seed in seeds:
        started = time.perf_counter()
        generator, discriminator = initial_models(recipe, resolution, channels, seed)
        if task is None:
            task = GANTask(generator, discriminator, recipe, seed)
            run = training.compile_runner(task, recipe.jit_compile)
        else:
            task.start_seed(seed, generator, discriminator)
        checkpointer = training.Checkpointer(
            checkpoints / f"seed{seed}",
            task.variables(),
            recipe.fingerprint(culture, seed, list(train_images.shape), np.ascontiguousarray(train_images).tobytes()),
        )
        history = training.train_recipe(
            task,
            lambda start, end, seed=seed: training.step_batches(train_images, recipe.batch_size, seed, start, end),
            recipe,
            checkpointer,
            recipe.checkpoint_every,
            f"{culture} seed{seed}",
            progress,
            runner=run,
        )
        results.append(save_run(task, history, out / f"seed{seed}", culture, seed, recipe, train_images, heldout_images, precision, threads, started))
    return results


def save_run(
    task, history, out: Path, culture: str, seed: int, recipe: GANRecipe, train_images, heldout_images, precision: str, threads, started: float
) -> dict:
    """Models, samples, history and quality metrics of one trained (culture, seed)."""

    from ganstyle.models import training

    train_seconds = float(history["elapsed_s"].iloc[-1]) if len(history) else 0.0
    out.mkdir(parents=True, exist_ok=True)
    io.save_keras(task.ema_generator, out / GAN_RUN["generator"])
    io.save_keras(task.discriminator, out / GAN_RUN["discriminator"])
    noise = fixed_noise(recipe.samples, task.latent_dim, seed)
    samples = generate_images(task.ema_generator, noise)
    grid = recipe.grid
    io.save_png(out / GAN_RUN["samples_png"], image_grid(samples[: grid * grid], grid))
    files.save_samples(out / GAN_RUN["samples"], files.Samples(samples, noise))
    io.write_tsv(out / GAN_RUN["history"], history)

    log.info("saved models and %d samples; computing quality metrics", len(samples))
    metrics = quality_metrics(samples, train_images, heldout_images, recipe.n_boot, seed)
    rates = history["images_per_s"].iloc[1:] if len(history) > 1 else history["images_per_s"]
    metrics.update(
        {
            "culture": culture,
            "seed": seed,
            "steps": int(recipe.steps),
            "train_seconds": train_seconds,
            "wall_seconds_this_run": time.perf_counter() - started,
            "images_per_s_median": float(rates.median()) if len(rates) else None,
            "settings": recipe.as_dict(),
            "resolution": int(train_images.shape[1]),
            "channels": int(train_images.shape[3]),
            **training.run_environment(precision, threads),
        }
    )
    io.write_json(out / GAN_RUN["metrics"], metrics)
    log.info(
        "%s seed %d: KID %.4g [%.4g, %.4g], FD %.4g, %d steps in %.0f s",
        culture,
        seed,
        *metrics["kid"].values(),
        metrics["fd"]["value"],
        recipe.steps,
        train_seconds,
    )
    return metrics


# ---------------------------------------------------------------- stage gan-sanity


def gan_sanity(
    samples_paths: list[Path],
    corpus_paths: list[Path],
    cultures: list[str],
    seeds: list[int],
    out_long: Path,
    out_matrix: Path,
    n_boot: int,
) -> pd.DataFrame:
    """KID of every seed's generator of every culture against every culture's held-out images
    (``samples_paths``: seed by seed, each seed's cultures in ``cultures`` order), and beside it
    the same check with each culture's real training images in place of its samples (``real_kid``,
    ``real_kid_minus_own``): how far apart the check can tell two cultures at all, so that a
    generator nearest a sibling culture can be read against the margin real images have.
    Each seed's bootstrap draws from that seed, so one seed's rows do not depend on the others."""
    from ganstyle.metrics.matrices import kid_table
    from ganstyle.metrics.reference import reference_features

    if len(corpus_paths) != len(cultures) or len(samples_paths) != len(cultures) * len(seeds):
        raise UserError(
            f"gan-sanity: give one --corpus per --cultures entry ({len(cultures)}) and one --samples per culture and seed "
            f"({len(cultures)} x {len(seeds)}, seed by seed, in --cultures order); got {len(corpus_paths)} and {len(samples_paths)}"
        )
    real, heldout, tables = {}, {}, []
    with single_threaded_blas():
        for culture, corpus_path in zip(cultures, corpus_paths):
            train_images, heldout_images = load_splits(corpus_path, needs="the real-images control", measures="KIDs")
            real[culture] = reference_features(train_images)
            heldout[culture] = reference_features(heldout_images)
        for i, seed in enumerate(seeds):
            seed_paths = samples_paths[i * len(cultures) : (i + 1) * len(cultures)]
            samples = {culture: reference_features(files.load_samples(path).images) for culture, path in zip(cultures, seed_paths)}
            table = kid_table(samples, heldout, n_boot, seed)
            table.insert(0, "seed", seed)
            tables.append(table)
    control = kid_table(real, heldout, 0, seeds[0]).set_index(["generator_culture", "heldout_culture"])
    table = pd.concat(tables, ignore_index=True)
    pairs = pd.MultiIndex.from_frame(table[["generator_culture", "heldout_culture"]])
    table["real_kid"] = control["kid"].reindex(pairs).to_numpy()
    table["real_kid_minus_own"] = control["kid_minus_own"].reindex(pairs).to_numpy()
    io.write_tsv(out_long, table)
    matrix = table.pivot(index=["seed", "generator_culture"], columns="heldout_culture", values="kid")
    io.write_tsv(out_matrix, matrix.reindex(pd.MultiIndex.from_product([seeds, cultures]))[cultures].rename_axis(["seed", "generator_culture"]), index=True)
    _log_sanity(table, len(cultures))
    return table


def _log_sanity(table: pd.DataFrame, n_cultures: int) -> None:
    """Per seed: how many generators are nearest their own culture, and how many of them clearly (the
    bootstrap interval of the difference to every other culture above 0); for each miss, by how much,
    with that interval, against the margin of the real-images control."""
    others = table[table.generator_culture != table.heldout_culture]
    margins = others.groupby("generator_culture")["real_kid_minus_own"].min()
    for seed, rows in table.groupby("seed", sort=False):
        own = rows.groupby("generator_culture", sort=False)["own_is_smallest"].first()
        clearly = ""
        if "kid_minus_own_ci_low" in rows:
            lowest = rows[rows.generator_culture != rows.heldout_culture].groupby("generator_culture")["kid_minus_own_ci_low"].min()
            clearly = f" ({int((lowest > 0).sum())} clearly: the interval of the difference to every other culture above 0)"
        log.info("gan-sanity: seed %s: %d of %d generators closest to their own culture's held-out images%s", seed, int(own.sum()), n_cultures, clearly)
        failed = list(own.index[~own])
        if not failed:
            continue
        nearest = rows.loc[rows.groupby("generator_culture")["kid"].idxmin()].set_index("generator_culture")
        misses = []
        for c in failed:
            row = nearest.loc[c]
            interval = f", interval {row.kid_minus_own_ci_low:.2g} to {row.kid_minus_own_ci_high:.2g}" if "kid_minus_own_ci_low" in row else ""
            misses.append(f"{c} (nearest {row.heldout_culture} by {-row.kid_minus_own:.2g} KID{interval}; real images' margin {margins[c]:.2g})")
        log.warning(
            "gan-sanity: seed %s: not closest to their own culture: %s. An interval that holds 0 means the bootstrap cannot "
            "tell which of the two is nearer; the real images' margin is how far the nearest other culture lies above the own "
            "with real training images in place of samples",
            seed,
            "; ".join(misses),
        )


# ---------------------------------------------------------------- CLI


def _parser(stage: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m ganstyle {stage}", description=__doc__.split("\n\n")[0])
    add_settings_arguments(parser, "gan")
    parser.add_argument("--threads", type=int, default=None, help="TensorFlow intra-op threads (the rule's threads)")
    if stage == "train-gan":
        parser.add_argument("--corpus", type=Path, required=True, help="results/corpus/{culture}/images.npz")
        parser.add_argument("--culture", required=True)
        parser.add_argument("--seeds", type=int, nargs="+", required=True, help="GAN seeds, trained one after the other")
        parser.add_argument("--out", type=Path, required=True, help="output folder, results/gan/{culture}: writes seed<seed>/ for every seed")
        parser.add_argument("--checkpoints", type=Path, required=True, help="checkpoint folder (kept between runs): seed<seed>/ for every seed")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    else:
        parser.add_argument("--cultures", nargs="+", required=True)
        parser.add_argument("--seeds", type=int, nargs="+", required=True, help="the GAN seeds whose samples are given")
        parser.add_argument(
            "--samples", type=Path, nargs="+", required=True, help="samples.npz of every culture for every seed: seed by seed, each in --cultures order"
        )
        parser.add_argument("--corpus", type=Path, nargs="+", required=True, help="images.npz of each culture's corpus")
        parser.add_argument("--out-long", type=Path, required=True)
        parser.add_argument("--out-matrix", type=Path, required=True)
    return parser


def main(argv: list[str] | None = None, stage: str = "train-gan") -> int:
    args = _parser(stage).parse_args(argv)
    settings = section("gan", args.settings, args.config_path)
    if stage == "train-gan":
        recipe = GANRecipe.from_section(settings)
        train_gan(args.corpus, args.culture, args.seeds, args.out, args.checkpoints, recipe, args.threads, progress=not args.no_progress)
    elif stage == "gan-sanity":
        gan_sanity(args.samples, args.corpus, args.cultures, args.seeds, args.out_long, args.out_matrix, settings["sanity_n_boot"])
    else:
        raise UserError(f"ganstyle.stages.gan has no stage {stage!r}")
    return 0
