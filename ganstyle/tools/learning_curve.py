"""How a per-culture GAN recipe learns with its budget: the judge and sanity checks at several step counts of one run.

A recipe search (issue #22, ``docs/validation.md``) asks how many steps a recipe needs before its
generators look like their culture.  Training one run per budget repeats the early steps every time;
this tool trains each (culture, seed) once and stops at every ``--at`` step count to score the
generator (its EMA, as the stage saves it) as the workflow does:

- ``judge_accuracy``: the share of ``gan.samples`` generated images that the judge (``train-judge``)
  classifies as the GAN's own culture, beside ``real_accuracy`` (the judge on that culture's
  held-out images) and their ``ratio`` ("GAN-test", as ``judge-score --kind gan_samples``);
- ``nearest_culture`` and ``own_is_nearest``: the culture whose held-out images are nearest to the
  samples in KID on the reference features (the check of ``gan-sanity``, without its bootstrap);
- ``diversity``: the samples' mean pairwise distance in the reference features over that of the
  culture's held-out images.

Nothing of the workflow is written: one TSV (``--out``), written atomically.  Run it on the
development corpus only.
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

log = logging.getLogger(__name__)

COLUMNS = [
    "culture",
    "seed",
    "steps",
    "images",
    "train_s",
    "judge_accuracy",
    "real_accuracy",
    "ratio",
    "nearest_culture",
    "own_is_nearest",
    "diversity",
]


def checked_budgets(at: list[int]) -> list[int]:
    """The ``--at`` step counts, which must be positive and strictly increasing (one run passes each)."""
    if not at or any(a <= 0 for a in at) or any(b <= a for a, b in zip(at, at[1:])):
        raise UserError(f"--at: step counts must be positive and increasing, got {at}")
    return list(at)


def nearest(kids: dict[str, float]) -> str:
    """The culture with the smallest KID (ties: the first listed)."""
    return min(kids, key=kids.get)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per step count: mean judge ratio, how many GANs are nearest their own culture, mean diversity."""
    grouped = table.groupby("steps", sort=True)
    return pd.DataFrame(
        {
            "gans": grouped.size(),
            "mean_ratio": grouped["ratio"].mean(),
            "own_is_nearest": grouped["own_is_nearest"].sum(),
            "mean_diversity": grouped["diversity"].mean(),
        }
    ).reset_index()


def judged_as(judge, images: np.ndarray, index: int) -> float:
    """The share of ``images`` the judge classifies as culture ``index``."""
    from ganstyle.models.judge import judge_probabilities

    return float((judge_probabilities(judge, images).argmax(axis=1) == index).mean())


def score(samples: np.ndarray, culture: str, cultures: list[str], judge, heldout_features: dict[str, np.ndarray], real_accuracy: float) -> dict:
    """The scores of one generator's samples (see the module docstring)."""
    from ganstyle.metrics.distances import kid
    from ganstyle.metrics.reference import reference_features
    from ganstyle.stages.judge import mean_pairwise_distance

    judged = judged_as(judge, samples, cultures.index(culture))
    features = reference_features(samples)
    kids = {other: float(kid(features, heldout_features[other])) for other in cultures}
    closest = nearest(kids)
    return {
        "judge_accuracy": judged,
        "real_accuracy": real_accuracy,
        "ratio": judged / real_accuracy if real_accuracy > 0 else np.nan,
        "nearest_culture": closest,
        "own_is_nearest": closest == culture,
        "diversity": mean_pairwise_distance(features) / mean_pairwise_distance(heldout_features[culture]),
    }


def _continuing(images: np.ndarray, batch_size: int, seed: int, done: int):
    """make_dataset for ``train`` from step ``done`` on: the batches an uninterrupted run sees there."""
    from ganstyle.models import training

    return lambda start, end: training.step_batches(images, batch_size, seed, done + start, done + end)


def learning_curve(corpus_dir: Path, cultures: list[str], train: list[str], judge_path: Path, recipe, seeds: list[int], at: list[int], threads) -> pd.DataFrame:
    from ganstyle.metrics.reference import reference_features
    from ganstyle.models import training
    from ganstyle.stages.corpus import load_corpus, load_splits

    unknown = sorted(set(train) - set(cultures))
    if unknown:
        raise UserError(f"--train: {', '.join(unknown)} not in --cultures")
    training.configure_tensorflow(threads, seeds[0], deterministic=recipe.deterministic)
    training.configure_precision(recipe.mixed_precision)
    from ganstyle.models.gan import GANTask, fixed_noise, generate_images, initial_models
    from ganstyle.stages.judge import load_judge

    judge = load_judge(judge_path, cultures)
    heldout = {c: load_corpus(corpus_dir / c / "images.npz", split="heldout")[0] for c in cultures}
    heldout_features = {c: reference_features(images) for c, images in heldout.items()}
    rows = []
    for culture in train:
        real_accuracy = judged_as(judge, heldout[culture], cultures.index(culture))
        images = load_splits(corpus_dir / culture / "images.npz", needs="a GAN", measures="its learning curve")[0]
        for seed in seeds:
            generator, discriminator = initial_models(recipe, images.shape[1], images.shape[3], seed)
            task = GANTask(generator, discriminator, recipe, seed)
            runner = training.compile_runner(task, recipe.jit_compile)
            done, seconds = 0, 0.0
            for steps in at:
                started = time.perf_counter()
                training.train(
                    task,
                    _continuing(images, recipe.batch_size, seed, done),
                    steps - done,
                    log_every=min(recipe.log_every, steps - done),
                    progress=False,
                    runner=runner,
                )
                seconds += time.perf_counter() - started
                done = steps
                samples = generate_images(task.ema_generator, fixed_noise(recipe.samples, task.latent_dim, seed))
                row = {"culture": culture, "seed": seed, "steps": steps, "images": steps * recipe.batch_size, "train_s": round(seconds, 1)}
                row.update(score(samples, culture, cultures, judge, heldout_features, real_accuracy))
                log.info(
                    "%s seed %d, %d steps: judge ratio %.2f, nearest %s, diversity %.2f",
                    culture,
                    seed,
                    steps,
                    row["ratio"],
                    row["nearest_culture"],
                    row["diversity"],
                )
                rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def main(argv: list[str] | None = None, stage: str = "learning-curve") -> int:
    parser = argparse.ArgumentParser(prog=f"python -m ganstyle {stage}", description=__doc__.split("\n\n")[0])
    add_settings_arguments(parser, "gan")
    parser.add_argument("--corpus-dir", type=Path, required=True, help="a run's corpus folder (results_tune/corpus): <culture>/images.npz")
    parser.add_argument("--cultures", nargs="+", required=True, help="every culture, in the judge's order (the sanity check compares all)")
    parser.add_argument("--train", nargs="+", help="the cultures whose GANs to train (default: all)")
    parser.add_argument("--judge", type=Path, required=True, help="judge.keras of train-judge on the same cultures")
    parser.add_argument("--at", type=int, nargs="+", required=True, help="step counts to score at, increasing")
    parser.add_argument("--seeds", type=int, nargs="+", help="GAN seeds (default: the gan section's)")
    parser.add_argument("--out", type=Path, required=True, help="the curve as TSV")
    parser.add_argument("--threads", type=int, default=None, help="TensorFlow intra-op threads")
    args = parser.parse_args(argv)
    from ganstyle.models.recipes import GANRecipe

    settings = section("gan", args.settings, args.config_path)
    recipe = GANRecipe.from_section(settings)
    seeds = args.seeds if args.seeds else list(settings["seeds"])
    table = learning_curve(args.corpus_dir, args.cultures, args.train or args.cultures, args.judge, recipe, seeds, checked_budgets(args.at), args.threads)
    io.write_tsv(args.out, table)
    log.info("learning curve, %s:\n%s", args.out, summary(table).to_string(index=False))
    return 0
