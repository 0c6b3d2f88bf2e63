"""Stages ``train-translator`` (one translator per joint-GAN seed, every pair of cultures) and ``transfer-distances``.

``train-translator`` trains the encoder of ``ganstyle.models.translator`` on the
joint GAN of one seed (its EMA generator, frozen), translates every culture's
held-out images into every other culture, and measures each direction
source -> target on those held-out images only:

============================  ==============================================================
cycle_error                   mean |x - G(E(G(E(x), target)), source)| per pixel, grey levels
reconstruction_error          mean |x - G(E(x), source)|: what the translator cannot keep at all
effort_pixels                 transfer effort: mean grey-level change from the image's
                              reconstruction G(E(x), source) to its translation G(E(x), target):
                              the change the culture makes, apart from reconstruction error
effort_reference              the same change in the reference feature space: RMS over features,
                              in pooled standard deviations of the two cultures' held-out images
kid                           KID (reference features) of translated images vs the target's
kid_untranslated              the same for the source images before translation (baseline)
critic_auc                    AUC of the target culture's GAN critic, real target images vs
                              translated ones (0.5: the critic cannot tell them apart)
critic_auc_untranslated       the same for untranslated source images (baseline)
============================  ==============================================================

each with a percentile bootstrap interval over images.  Outputs in
``results/transfer/seed<seed>/``: ``encoder.keras``, ``translations.npz``
(``ganstyle.io.files.Translations``), ``metrics.tsv`` (one row per direction),
``history.tsv``.  ``transfer-distances`` averages the seeds' metrics into one
long table (source, target, measure, value, ci_low, ci_high) for the
similarity stage.

TensorFlow is imported only inside functions, after ``devices.claim_gpu``.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ganstyle import io
from ganstyle.config import add_settings_arguments, section
from ganstyle.errors import UserError
from ganstyle.io import files
from ganstyle.io.files import TRANSLATOR_RUN
from ganstyle.metrics.transfer import bootstrap_mean, critic_measures, feature_measures, grey_level_differences, pooled_scale
from ganstyle.models.devices import single_threaded_blas

log = logging.getLogger(__name__)

MEASURES = (
    "cycle_error",
    "reconstruction_error",
    "effort_pixels",
    "effort_reference",
    "kid",
    "kid_untranslated",
    "critic_auc",
    "critic_auc_untranslated",
)
LONG_COLUMNS = ["source", "target", "measure", "value", "ci_low", "ci_high"]


# ---------------------------------------------------------------- measures (no I/O)


def direction_measures(
    source_images,
    reconstructed,
    translated,
    cycle_error,
    target_images,
    f_reconstructed,
    f_translated,
    f_source,
    f_target,
    scale,
    logits,
    n_boot: int,
    seed: int,
) -> dict:
    """Every measure of one direction source -> target, each as (value, ci_low, ci_high).

    ``logits``: the target critic's logits of (real target images, translated, untranslated source images).
    """
    return {
        "cycle_error": bootstrap_mean(cycle_error, n_boot, seed),
        "reconstruction_error": bootstrap_mean(grey_level_differences(source_images, reconstructed), n_boot, seed),
        "effort_pixels": bootstrap_mean(grey_level_differences(reconstructed, translated), n_boot, seed),
        # the effort is measured from the reconstruction: what the translation changes beyond the round trip
        **feature_measures(f_source, f_translated, f_target, scale, n_boot, seed, f_before=f_reconstructed),
        **critic_measures(*logits, n_boot=n_boot, seed=seed),
    }


def metrics_row(source: str, target: str, measures: dict, **extra) -> dict:
    """One metrics.tsv row: each measure as value, _ci_low, _ci_high columns."""
    row = {"source": source, "target": target, **extra}
    for name in MEASURES:
        value, low, high = measures[name]
        row.update({name: value, f"{name}_ci_low": low, f"{name}_ci_high": high})
    return row


def metrics_long(wide: pd.DataFrame) -> pd.DataFrame:
    """metrics.tsv rows -> long (source, target, measure, value, ci_low, ci_high)."""
    rows = [
        {"source": r["source"], "target": r["target"], "measure": name, "value": r[name], "ci_low": r[f"{name}_ci_low"], "ci_high": r[f"{name}_ci_high"]}
        for r in wide.to_dict("records")
        for name in MEASURES
    ]
    return pd.DataFrame(rows, columns=LONG_COLUMNS)


def seed_average(long_tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The seeds' long tables averaged per (source, target, measure): value and interval bounds."""
    stacked = pd.concat(long_tables, ignore_index=True)
    averaged = stacked.groupby(["source", "target", "measure"], sort=False)[["value", "ci_low", "ci_high"]].mean().reset_index()
    return averaged[LONG_COLUMNS]


# ---------------------------------------------------------------- stage train-translator


def train_translator(
    generator_path: Path,
    cultures: list[str],
    corpora: list[Path],
    critics: list[Path],
    seed: int,
    out: Path,
    checkpoints: Path,
    settings: dict,
    threads: int | None,
    progress: bool = True,
) -> pd.DataFrame:
    """Train the encoder on the joint generator of ``seed``, translate every held-out image into every
    culture and write every output; returns metrics.tsv's rows."""
    from ganstyle.models import devices

    devices.claim_gpu()
    from ganstyle.metrics.reference import reference_features
    from ganstyle.models import training
    from ganstyle.models.critic import critic_outputs, load_critic, load_model
    from ganstyle.models.translator import TranslatorRecipe, TranslatorTask, build_encoder, translate_all
    from ganstyle.stages.corpus import load_cultures

    started = time.perf_counter()
    recipe = TranslatorRecipe.from_section(settings)
    if len(critics) != len(cultures):
        raise UserError(f"--critics lists {len(critics)} files but --cultures {len(cultures)} cultures (one critic per culture, same order)")
    training.configure_tensorflow(threads, seed, deterministic=recipe.deterministic)
    precision = training.configure_precision(recipe.mixed_precision)
    generator = load_model(generator_path, "joint generator")
    if len(generator.inputs) != 2 or int(generator.inputs[1].shape[-1]) != len(cultures):
        raise UserError(f"{generator_path}: not a conditional generator of the {len(cultures)} cultures given; re-run train_joint")
    train_images, labels, heldout = load_cultures(cultures, corpora, needs="the translator", measures="its transfer measures")
    resolution, channels = train_images.shape[1], train_images.shape[3]
    if tuple(generator.outputs[0].shape[1:]) != train_images.shape[1:]:
        raise UserError(f"{generator_path}: makes images of shape {tuple(generator.outputs[0].shape[1:])}, the corpora hold {train_images.shape[1:]}")
    latent_dim = int(generator.inputs[0].shape[-1])
    log.info("translator seed %d: %d cultures, %d train images, precision %s", seed, len(cultures), len(train_images), precision)

    import keras

    keras.utils.set_random_seed(seed)
    encoder = build_encoder(resolution, channels, latent_dim, recipe.width, recipe.codes_on_prior)
    task = TranslatorTask(encoder, generator, recipe, len(cultures), seed)
    fingerprint = recipe.fingerprint(cultures, seed, Path(generator_path).read_bytes(), np.ascontiguousarray(train_images).tobytes(), labels.tobytes())
    checkpointer = training.Checkpointer(checkpoints, task.variables(), fingerprint)

    def batches(start, end):
        return training.step_batches(train_images, recipe.batch_size, seed, start, end, labels=labels)

    history = training.train_recipe(task, batches, recipe, checkpointer, recipe.checkpoint_every, f"translator seed{seed}", progress)
    out.mkdir(parents=True, exist_ok=True)
    io.save_keras(encoder, out / TRANSLATOR_RUN["encoder"])
    io.write_tsv(out / TRANSLATOR_RUN["history"], history)

    # every measure on held-out images: what neither the GAN nor the encoder trained on
    sources = np.concatenate([heldout[c] for c in cultures])
    source_culture = np.concatenate([np.full(len(heldout[c]), k, np.int32) for k, c in enumerate(cultures)])
    source_ids = np.concatenate([[f"{c}:{i}" for i in range(len(heldout[c]))] for c in cultures])
    translated, cycle_error = translate_all(encoder, generator, sources, source_culture, len(cultures))
    files.save_translations(
        out / TRANSLATOR_RUN["translations"], files.Translations(np.asarray(cultures), sources, source_culture, source_ids, translated, cycle_error)
    )
    log.info("translated %d held-out images into %d cultures; computing measures", len(sources), len(cultures))

    with single_threaded_blas():
        f_real = {c: reference_features(heldout[c]) for c in cultures}
        f_translated = [reference_features(translated[k]) for k in range(len(cultures))]
    critic_logits = {}
    for k, (culture, path) in enumerate(zip(cultures, critics)):
        critic = load_critic(path)
        critic_logits[culture] = (
            critic_outputs(critic, heldout[culture])[1][:, 0],
            critic_outputs(critic, translated[k])[1][:, 0],
            critic_outputs(critic, sources)[1][:, 0],
        )
    rows = []
    for (a, source), (b, target) in itertools.permutations(enumerate(cultures), 2):
        mine = source_culture == a
        real_b, translated_b, sources_b = critic_logits[target]
        with single_threaded_blas():
            measures = direction_measures(
                sources[mine],
                translated[a][mine],
                translated[b][mine],
                cycle_error[b][mine],
                heldout[target],
                f_translated[a][mine],
                f_translated[b][mine],
                f_real[source],
                f_real[target],
                pooled_scale(f_real[source], f_real[target]),
                (real_b, translated_b[mine], sources_b[mine]),
                settings["n_boot"],
                seed,
            )
        rows.append(metrics_row(source, target, measures, n_source=int(mine.sum()), n_target=len(heldout[target]), seed=seed))
    table = pd.DataFrame(rows)
    io.write_tsv(out / TRANSLATOR_RUN["metrics"], table)
    log.info(
        "translator seed %d: median effort %.1f grey levels, median cycle error %.1f, median critic AUC %.3f (untranslated %.3f); %.0f s",
        seed,
        table["effort_pixels"].median(),
        table["cycle_error"].median(),
        table["critic_auc"].median(),
        table["critic_auc_untranslated"].median(),
        time.perf_counter() - started,
    )
    return table


# ---------------------------------------------------------------- stage transfer-distances


def transfer_distances(metrics_paths: list[Path], out: Path) -> pd.DataFrame:
    """Every seed's metrics.tsv, averaged over seeds, in the long table."""
    required = ["source", "target", *[f"{m}{s}" for m in MEASURES for s in ("", "_ci_low", "_ci_high")]]
    tables = []
    for path in metrics_paths:
        if not Path(path).is_file():
            raise UserError(f"transfer metrics not found: {path}")
        wide = io.read_tsv(path)
        missing = [c for c in required if c not in wide.columns]
        if missing:
            raise UserError(f"{path}: missing column(s) {', '.join(missing)} (written by an older version? re-run train_translator)")
        if wide.duplicated(["source", "target"]).any():
            first = wide[wide.duplicated(["source", "target"])].iloc[0]
            raise UserError(f"{path}: direction {first['source']} -> {first['target']} appears twice")
        tables.append(metrics_long(wide))
    long = seed_average(tables) if tables else pd.DataFrame(columns=LONG_COLUMNS)
    io.write_tsv(out, long)
    return long


# ---------------------------------------------------------------- CLI


def _parser(stage: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m ganstyle {stage}", description=__doc__.split("\n\n")[0])
    if stage == "train-translator":
        add_settings_arguments(parser, "transfer")
        parser.add_argument("--generator", type=Path, required=True, help="results/joint/seed{seed}/generator.keras")
        parser.add_argument("--cultures", nargs="+", required=True, help="culture names, in the joint GAN's class order")
        parser.add_argument("--corpora", type=Path, nargs="+", required=True, help="results/corpus/{culture}/images.npz, one per culture")
        parser.add_argument("--critics", type=Path, nargs="+", required=True, help="results/gan/{culture}/seed{seed}/discriminator.keras, one per culture")
        parser.add_argument("--seed", type=int, required=True)
        parser.add_argument("--out", type=Path, required=True, help="output folder, results/transfer/seed{seed}")
        parser.add_argument("--checkpoints", type=Path, required=True, help="checkpoint folder (kept between runs)")
        parser.add_argument("--threads", type=int, default=None, help="TensorFlow intra-op threads (the rule's threads)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    else:
        parser.add_argument("--metrics", type=Path, nargs="*", default=[], help="metrics.tsv of every seed's translator")
        parser.add_argument("--out", type=Path, required=True, help="results/transfer/transfer_distances.tsv")
    return parser


def main(argv: list[str] | None = None, stage: str = "train-translator") -> int:
    args = _parser(stage).parse_args(argv)
    if stage == "train-translator":
        settings = section("transfer", args.settings, args.config_path)
        if len(set(args.cultures)) != len(args.cultures) or len(args.cultures) < 2:
            raise UserError("--cultures: the translator needs at least 2 distinct cultures")
        train_translator(
            args.generator,
            args.cultures,
            args.corpora,
            args.critics,
            args.seed,
            args.out,
            args.checkpoints,
            settings,
            args.threads,
            progress=not args.no_progress,
        )
    elif stage == "transfer-distances":
        transfer_distances(args.metrics, args.out)
    else:
        raise UserError(f"ganstyle.stages.transfer has no stage {stage!r}")
    return 0
