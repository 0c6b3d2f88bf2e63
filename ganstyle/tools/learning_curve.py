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

With ``--joint`` it trains the joint conditional GAN of all ``--cultures`` instead (the ``gan``
section with the ``joint`` section on top, as ``train-joint``), once per seed, and scores its samples
of each culture the same way (one row per culture; their mean ratio is ``judge-score --kind
joint_samples``'s).  With ``--groups`` it also reports the cross-conditional score's within-vs-across-group
AUC (``cross_conditional_auc``) from the critic of that step alone.

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
    "cross_conditional_auc",
]


def checked_budgets(at: list[int]) -> list[int]:
    """The ``--at`` step counts, which must be positive and strictly increasing (one run passes each)."""
    if not at or any(a <= 0 for a in at) or any(b <= a for a, b in zip(at, at[1:])):
        raise UserError(f"--at: step counts must be positive and increasing, got {at}")
    return list(at)


def nearest(kids: dict[str, float]) -> str:
    """The culture with the smallest KID (ties: the first listed)."""
    return min(kids, key=kids.get)


def summary(table: pd.DataFrame, joint: bool = False) -> pd.DataFrame:
    """Per step count: mean judge ratio, how many generators are nearest their own culture, mean diversity.
    A joint curve (``joint``) per seed and step count, over the cultures of its one generator, with
    the cross-conditional AUC."""
    keys = ["seed", "steps"] if joint else ["steps"]
    grouped = table.groupby(keys, sort=True)
    result = pd.DataFrame(
        {
            "gans": grouped.size(),
            "mean_ratio": grouped["ratio"].mean(),
            "own_is_nearest": grouped["own_is_nearest"].sum(),
            "mean_diversity": grouped["diversity"].mean(),
        }
    )
    if joint:
        result["cross_conditional_auc"] = grouped["cross_conditional_auc"].first()
    return result.reset_index()


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


def _continuing(images: np.ndarray, batch_size: int, seed: int, done: int, labels: np.ndarray | None = None):
    """make_dataset for ``train`` from step ``done`` on: the batches an uninterrupted run sees there."""
    from ganstyle.models import training

    return lambda start, end: training.step_batches(images, batch_size, seed, done + start, done + end, labels=labels)


def _along_one_run(task, images, recipe, seed, at, labels=None):
    """Train ``task`` through each step count of ``at`` in turn; yields (steps, training seconds so far)."""
    from ganstyle.models import training

    runner = training.compile_runner(task, recipe.jit_compile)
    done, seconds = 0, 0.0
    for steps in at:
        started = time.perf_counter()
        training.train(
            task,
            _continuing(images, recipe.batch_size, seed, done, labels),
            steps - done,
            log_every=min(recipe.log_every, steps - done),
            progress=False,
            runner=runner,
        )
        seconds += time.perf_counter() - started
        done = steps
        yield steps, round(seconds, 1)


class _Scoring:
    """What every curve scores against: the judge, each culture's held-out images and their reference features."""

    def __init__(self, corpus_dir: Path, cultures: list[str], judge_path: Path, recipe, seed: int, threads):
        from ganstyle.metrics.reference import reference_features
        from ganstyle.models import training
        from ganstyle.stages.corpus import load_corpus

        training.configure_tensorflow(threads, seed, deterministic=recipe.deterministic)
        training.configure_precision(recipe.mixed_precision)
        from ganstyle.stages.judge import load_judge

        self.cultures = cultures
        self.judge = load_judge(judge_path, cultures)
        self.heldout = {c: load_corpus(corpus_dir / c / "images.npz", split="heldout")[0] for c in cultures}
        self.features = {c: reference_features(images) for c, images in self.heldout.items()}
        self.real_accuracy = {c: judged_as(self.judge, self.heldout[c], k) for k, c in enumerate(cultures)}

    def row(self, samples: np.ndarray, culture: str, seed: int, steps: int, images: int, train_s: float) -> dict:
        row = {"culture": culture, "seed": seed, "steps": steps, "images": images, "train_s": train_s}
        row.update(score(samples, culture, self.cultures, self.judge, self.features, self.real_accuracy[culture]))
        log.info(
            "%s seed %d, %d steps: judge ratio %.2f, nearest %s, diversity %.2f", culture, seed, steps, row["ratio"], row["nearest_culture"], row["diversity"]
        )
        return row


def learning_curve(corpus_dir: Path, cultures: list[str], train: list[str], judge_path: Path, recipe, seeds: list[int], at: list[int], threads) -> pd.DataFrame:
    from ganstyle.stages.corpus import load_splits

    unknown = sorted(set(train) - set(cultures))
    if unknown:
        raise UserError(f"--train: {', '.join(unknown)} not in --cultures")
    scoring = _Scoring(corpus_dir, cultures, judge_path, recipe, seeds[0], threads)
    from ganstyle.models.gan import GANTask, fixed_noise, generate_images, initial_models

    rows = []
    for culture in train:
        images = load_splits(corpus_dir / culture / "images.npz", needs="a GAN", measures="its learning curve")[0]
        for seed in seeds:
            task = GANTask(*initial_models(recipe, images.shape[1], images.shape[3], seed), recipe, seed)
            for steps, seconds in _along_one_run(task, images, recipe, seed, at):
                samples = generate_images(task.ema_generator, fixed_noise(recipe.samples, task.latent_dim, seed))
                rows.append(scoring.row(samples, culture, seed, steps, steps * recipe.batch_size, seconds))
    return pd.DataFrame(rows, columns=COLUMNS)


def joint_learning_curve(
    corpus_dir: Path, cultures: list[str], judge_path: Path, recipe, seeds: list[int], at: list[int], threads, per_culture: int, groups: list[str] | None
) -> pd.DataFrame:
    """The joint GAN of all ``cultures``, once per seed, scored per culture at every step count of ``at``."""
    from ganstyle.stages.corpus import load_cultures

    if groups is not None and len(groups) != len(cultures):
        raise UserError(f"--groups lists {len(groups)} groups but --cultures {len(cultures)} cultures (one group per culture, same order)")
    scoring = _Scoring(corpus_dir, cultures, judge_path, recipe, seeds[0], threads)
    from ganstyle.metrics.critics import cross_conditional
    from ganstyle.metrics.groups import within_across_auc
    from ganstyle.models.critic import critic_outputs
    from ganstyle.models.gan import GANTask, culture_noise, generate_images, initial_models

    corpora = [corpus_dir / c / "images.npz" for c in cultures]
    images, labels, _ = load_cultures(cultures, corpora, needs="the joint GAN", measures="its learning curve")
    heldout = np.concatenate([scoring.heldout[c] for c in cultures])
    heldout_sets = np.split(np.arange(len(heldout)), np.cumsum([len(scoring.heldout[c]) for c in cultures])[:-1])
    rows = []
    for seed in seeds:
        task = GANTask(*initial_models(recipe, images.shape[1], images.shape[3], seed, n_classes=len(cultures)), recipe, seed)
        noise, sample_labels = culture_noise(per_culture, len(cultures), task.latent_dim, seed)
        for steps, seconds in _along_one_run(task, images, recipe, seed, at, labels):
            samples = generate_images(task.ema_generator, noise, sample_labels)
            auc = np.nan
            if groups is not None:
                logits = critic_outputs(task.discriminator, heldout)[1]
                auc = within_across_auc(cross_conditional(logits, heldout_sets), groups)
            for k, culture in enumerate(cultures):
                row = scoring.row(samples[sample_labels == k], culture, seed, steps, steps * recipe.batch_size, seconds)
                rows.append({**row, "cross_conditional_auc": auc})
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
    parser.add_argument("--joint", action="store_true", help="train the joint conditional GAN of all --cultures instead of per-culture GANs")
    parser.add_argument("--joint-settings", help="--joint: the 'joint' config section as JSON (default: from --config, as the 'gan' section)")
    parser.add_argument("--samples", type=int, help="--joint: samples scored per culture (default: joint's samples split over the cultures, as train-joint)")
    parser.add_argument("--groups", nargs="+", help="--joint: each culture's group, in --cultures order: adds the cross-conditional AUC")
    args = parser.parse_args(argv)
    from ganstyle.models.recipes import GANRecipe, JointRecipe

    settings = section("gan", args.settings, args.config_path)
    seeds = args.seeds if args.seeds else list(settings["seeds"])
    at = checked_budgets(args.at)
    if args.joint:
        recipe = JointRecipe.from_sections(settings, section("joint", args.joint_settings, args.config_path))
        per_culture = args.samples or recipe.samples_per_culture(len(args.cultures))
        table = joint_learning_curve(args.corpus_dir, args.cultures, args.judge, recipe, seeds, at, args.threads, per_culture, args.groups)
    else:
        recipe = GANRecipe.from_section(settings)
        table = learning_curve(args.corpus_dir, args.cultures, args.train or args.cultures, args.judge, recipe, seeds, at, args.threads)
    io.write_tsv(args.out, table)
    log.info("learning curve, %s:\n%s", args.out, summary(table, args.joint).to_string(index=False))
    return 0
