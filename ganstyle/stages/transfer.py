"""Stages ``train-transfer`` (a CycleGAN between two cultures) and ``transfer-distances``.

``train-transfer`` trains a CycleGAN (``ganstyle.models.cyclegan``) between the
train splits of cultures A and B with the shared training loop
(``ganstyle.models.training``: checkpoints, resume after a kill, progress bar),
saves both generators, a grid of held-out images with their translations and
round trips, and ``metrics.tsv``: one row per direction (A -> B, B -> A),
measured on held-out images only:

============================  ==============================================================
cycle_error                   mean |x - F(G(x))| per pixel, grey levels (0-255)
identity_error                mean |y - G(y)| over the target's images, grey levels
effort_pixels                 transfer effort: mean |x - G(x)| per pixel, grey levels
effort_reference              transfer effort in the reference feature space: RMS over features
                              of the change x -> G(x), in pooled standard deviations of the
                              two cultures' held-out features
kid                           KID (reference features) of translated images vs the target's
kid_untranslated              the same for the source images before translation (baseline)
critic_auc                    AUC of the target culture's GAN critic, real target images vs
                              translated ones (0.5: the critic cannot tell them apart)
critic_auc_untranslated       the same for untranslated source images (baseline)
============================  ==============================================================

each with a percentile bootstrap interval over images.  ``transfer-distances``
stacks all pairs' rows into one long table (source, target, measure, value,
ci_low, ci_high) for the similarity stage.

TensorFlow is imported only inside functions, after ``devices.claim_gpu``.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ganstyle import io
from ganstyle.config import add_settings_arguments, section
from ganstyle.errors import UserError
from ganstyle.io import files
from ganstyle.io.files import TRANSFER_RUN
from ganstyle.metrics.transfer import critic_measures, feature_measures, pixel_measures, pooled_scale
from ganstyle.models.devices import single_threaded_blas
from ganstyle.stages.corpus import load_splits

log = logging.getLogger(__name__)

PAIRS_KEY = "transfer.pairs"
MEASURES = (
    "cycle_error",
    "identity_error",
    "effort_pixels",
    "effort_reference",
    "kid",
    "kid_untranslated",
    "critic_auc",
    "critic_auc_untranslated",
)
LONG_COLUMNS = ["source", "target", "measure", "value", "ci_low", "ci_high"]
# settings that do not change the trained weights (a checkpoint stays valid when they change);
# ``steps`` is not among them: the learning-rate schedule depends on it
NON_TRAINING_KEYS = ("pairs", "checkpoint_every", "log_every", "grid_images", "n_boot")


# ---------------------------------------------------------------- pairs


def pair_name(a: str, b: str) -> str:
    return f"{a}__{b}"


class UnknownCulturesInPair(UserError):
    """A pair naming cultures the registry does not have (skipped by ``parse_pairs``)."""


def split_pair(name: str, cultures: list[str]) -> tuple[str, str]:
    """``'a__b'`` -> ``(a, b)`` for known cultures; names may themselves contain '_'."""
    known = set(cultures)
    splits = [(name[:i], name[i + 2 :]) for i in range(1, len(name) - 2) if name[i : i + 2] == "__"]
    matches = [(a, b) for a, b in splits if a in known and b in known]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise UserError(f"config key '{PAIRS_KEY}': pair '{name}' can be read as {' or '.join(pair_name(*m) + f' ({m[0]!r}, {m[1]!r})' for m in matches)}")
    if not splits:
        raise UserError(f"config key '{PAIRS_KEY}': '{name}' is not of the form a__b")
    unknown = sorted({part for a, b in splits for part in (a, b) if part not in known})
    raise UnknownCulturesInPair(
        f"config key '{PAIRS_KEY}': pair '{name}' names unknown culture(s) {', '.join(unknown)}; "
        f"the registry has {', '.join(cultures)} (set '{PAIRS_KEY}' to your own pairs, 'all' or [])"
    )


def parse_pairs(pairs, cultures: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """The configured pairs as ``(a, b)`` with a < b (every pair for ``'all'``), and the listed
    pairs skipped because they name cultures not in the registry.

    The single owner of the pair list: rules, figures and the transfer table all read
    it from here.  Unknown cultures are skipped rather than refused, so that a user who
    replaces the demo registry with their own gets a run (with one warning) while
    ``transfer.pairs`` still lists the demo's pairs.  Raises UserError naming the config
    key for a pair of a culture with itself, a pair written b__a, a pair listed twice,
    or a name that is not of the form a__b.
    """
    if pairs == "all":
        return list(itertools.combinations(sorted(cultures), 2)), []
    if isinstance(pairs, str) or not isinstance(pairs, (list, tuple)):
        raise UserError(f"config key '{PAIRS_KEY}': expected 'all' or a list of 'a__b', got {pairs!r}")
    parsed, skipped, seen = [], [], set()
    for name in pairs:
        try:
            a, b = split_pair(str(name), cultures)
        except UnknownCulturesInPair:
            skipped.append(str(name))
            continue
        if a == b:
            raise UserError(f"config key '{PAIRS_KEY}': pair '{name}' pairs culture '{a}' with itself")
        if a > b:
            raise UserError(f"config key '{PAIRS_KEY}': write pair '{name}' as '{pair_name(b, a)}' (a < b; both directions are trained anyway)")
        if (a, b) in seen:
            raise UserError(f"config key '{PAIRS_KEY}': pair '{name}' is listed twice")
        seen.add((a, b))
        parsed.append((a, b))
    return parsed, skipped


def skipped_pairs_warning(skipped: list[str], cultures: list[str]) -> str:
    """The one line that says which configured pairs are not trained, and which key to change."""
    return (
        f"config key '{PAIRS_KEY}': skipping {len(skipped)} pair(s) that name cultures not in the registry: {', '.join(skipped)} "
        f"(the registry has {', '.join(cultures)}; set '{PAIRS_KEY}' to your own pairs, 'all' or [])"
    )


# ---------------------------------------------------------------- metrics.tsv rows


def metrics_row(source: str, target: str, measures: dict, **extra) -> dict:
    """One metrics.tsv row: each measure as value, _ci_low, _ci_high columns."""
    row = {"source": source, "target": target, **extra}
    for name in MEASURES:
        value, low, high = measures[name]
        row.update({name: value, f"{name}_ci_low": low, f"{name}_ci_high": high})
    return row


def metrics_long(wide: pd.DataFrame) -> pd.DataFrame:
    """metrics.tsv rows -> long (source, target, measure, value, ci_low, ci_high)."""
    rows = []
    for record in wide.to_dict("records"):
        for name in MEASURES:
            rows.append(
                {
                    "source": record["source"],
                    "target": record["target"],
                    "measure": name,
                    "value": record[name],
                    "ci_low": record[f"{name}_ci_low"],
                    "ci_high": record[f"{name}_ci_high"],
                }
            )
    return pd.DataFrame(rows, columns=LONG_COLUMNS)


# ---------------------------------------------------------------- the grid figure


def grid_figure(rows: list[tuple[str, np.ndarray]], title: str):
    """A figure with one labelled row of images per ``(label, uint8 NHWC images)``."""
    from matplotlib.figure import Figure

    columns = max(len(images) for _, images in rows)
    cell = 0.8  # inches per image
    fig = Figure(figsize=(1.9 + columns * cell, 0.45 + len(rows) * cell), layout="constrained")
    axes = fig.subplots(len(rows), columns, squeeze=False, gridspec_kw={"wspace": 0.02, "hspace": 0.02})
    for r, (label, images) in enumerate(rows):
        for c in range(columns):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c < len(images):
                image = images[c]
                ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        axes[r][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title, fontsize=9)
    return fig


# ---------------------------------------------------------------- stage train-transfer


def _fingerprint(settings: dict, a: str, b: str, train_a: np.ndarray, train_b: np.ndarray) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({k: v for k, v in settings.items() if k not in NON_TRAINING_KEYS}, sort_keys=True).encode())
    for culture, images in ((a, train_a), (b, train_b)):
        digest.update(f"{culture}\0{images.shape}\0".encode())
        digest.update(np.ascontiguousarray(images).tobytes())
    return digest.hexdigest()[:32]


def _check_inputs(settings: dict, corpora: dict[str, tuple[np.ndarray, np.ndarray]], paths: dict[str, Path]) -> tuple[int, int]:
    from ganstyle.models.cyclegan import RESOLUTIONS

    shapes = {culture: train.shape[1:] for culture, (train, _) in corpora.items()}
    (a, shape_a), (b, shape_b) = shapes.items()
    if shape_a != shape_b:
        raise UserError(f"{paths[a]} has images of shape {shape_a}, {paths[b]} of shape {shape_b}: a CycleGAN needs one shape")
    resolution, width, channels = shape_a
    if resolution != width or resolution not in RESOLUTIONS:
        raise UserError(f"{paths[a]}: images are {resolution}x{width}; a CycleGAN needs square images of {RESOLUTIONS}")
    if 0 < settings["pool_size"] < settings["batch_size"]:
        raise UserError(f"config key 'transfer.pool_size' ({settings['pool_size']}) must be 0 or at least transfer.batch_size ({settings['batch_size']})")
    return resolution, channels


def _critic_logits(path: Path, *image_sets: np.ndarray) -> list[np.ndarray]:
    from ganstyle.models.critic import critic_outputs, load_critic

    critic = load_critic(path)
    return [critic_outputs(critic, images)[1][:, 0] for images in image_sets]


def _use_light_graph_optimisation() -> None:
    """On the CPU, skip grappler's graph rewriting: it took 5-10 s of a ~15 s start-up for the
    CycleGAN step graph and did not make the steps faster (measured on 2 cores)."""
    import tensorflow as tf

    from ganstyle.models.training import gpu_available

    if not gpu_available():
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


def train_transfer(
    a: str,
    b: str,
    corpus_a: Path,
    corpus_b: Path,
    critic_a: Path,
    critic_b: Path,
    out: Path,
    checkpoints: Path,
    settings: dict,
    threads: int | None,
    labels: tuple[str, str] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Train the A <-> B CycleGAN, write every output; return metrics.tsv's rows."""
    if not a < b:
        raise UserError(f"pair {pair_name(a, b)}: cultures must be in order a < b (as in '{PAIRS_KEY}')")
    for path in (critic_a, critic_b):
        if not Path(path).is_file():
            raise UserError(f"critic model not found: {path} (run the train_gan rule first)")
    from ganstyle.models import devices

    devices.claim_gpu()
    from ganstyle.metrics.reference import reference_features
    from ganstyle.models import cyclegan, training

    started = time.perf_counter()
    seed = int(settings["seed"])
    training.configure_tensorflow(threads, seed, deterministic=settings["deterministic"])
    precision = training.configure_precision(settings["mixed_precision"])
    _use_light_graph_optimisation()
    paths = {a: Path(corpus_a), b: Path(corpus_b)}
    corpora = {culture: load_splits(path, needs="a CycleGAN", measures="transfer measures") for culture, path in paths.items()}
    resolution, channels = _check_inputs(settings, corpora, paths)
    (train_a, held_a), (train_b, held_b) = corpora[a], corpora[b]
    label_a, label_b = labels or (a, b)
    log.info(
        "%s <-> %s: %d/%d train, %d/%d held-out images, %dx%dx%d, precision %s",
        a,
        b,
        len(train_a),
        len(train_b),
        len(held_a),
        len(held_b),
        resolution,
        resolution,
        channels,
        precision,
    )

    models = cyclegan.build_models(resolution, channels, settings["g_width"], settings["d_width"], settings["residual_blocks"])
    task = cyclegan.CycleGANTask(models, settings, seed)
    checkpointer = training.Checkpointer(checkpoints, task.variables(), _fingerprint(settings, a, b, train_a, train_b))
    batch_size = settings["batch_size"]

    def batches(start, end):
        return cyclegan.pair_batches(train_a, train_b, batch_size, seed, start, end)

    history = training.train(
        task,
        batches,
        total_steps=settings["steps"],
        checkpointer=checkpointer,
        checkpoint_every=settings["checkpoint_every"],
        log_every=settings["log_every"],
        jit_compile=settings["jit_compile"],
        progress=progress,
        description=pair_name(a, b),
    )
    train_seconds = float(history["elapsed_s"].iloc[-1]) if len(history) else 0.0

    out.mkdir(parents=True, exist_ok=True)
    io.save_keras(models["G_ab"], out / TRANSFER_RUN["generator_ab"])
    io.save_keras(models["G_ba"], out / TRANSFER_RUN["generator_ba"])
    io.write_tsv(out / TRANSFER_RUN["history"], history)

    # every measure on held-out images: what the models never trained on
    G_ab, G_ba = models["G_ab"], models["G_ba"]
    a_to_b = cyclegan.translate(G_ab, held_a)
    b_to_a = cyclegan.translate(G_ba, held_b)
    a_cycled = cyclegan.translate(G_ba, a_to_b)
    b_cycled = cyclegan.translate(G_ab, b_to_a)
    b_identity = cyclegan.translate(G_ab, held_b)  # G_ab applied to what already is B
    a_identity = cyclegan.translate(G_ba, held_a)

    k = settings["grid_images"]
    fig = grid_figure(
        [
            (f"{label_a}\n(held-out)", held_a[:k]),
            (f"{label_a} → {label_b}", a_to_b[:k]),
            (f"back to {label_a}\n(cycle)", a_cycled[:k]),
            (f"{label_b}\n(held-out)", held_b[:k]),
            (f"{label_b} → {label_a}", b_to_a[:k]),
            (f"back to {label_b}\n(cycle)", b_cycled[:k]),
        ],
        f"CycleGAN {label_a} ↔ {label_b}, held-out images, {settings['steps']} steps",
    )
    io.save_figure(fig, out / TRANSFER_RUN["grid"], dpi=150)
    # the same examples as arrays, for the source x target figure of the figures stage
    files.save_transfer_examples(out / TRANSFER_RUN["examples"], files.TransferExamples(held_a[:k], a_to_b[:k], held_b[:k], b_to_a[:k]))

    log.info("translated held-out images; computing measures")
    n_boot = settings["n_boot"]
    with single_threaded_blas():
        f_a, f_b, f_ab, f_ba = (reference_features(x) for x in (held_a, held_b, a_to_b, b_to_a))
    scale = pooled_scale(f_a, f_b)
    critic_b_real, critic_b_translated, critic_b_source = _critic_logits(critic_b, held_b, a_to_b, held_a)
    critic_a_real, critic_a_translated, critic_a_source = _critic_logits(critic_a, held_a, b_to_a, held_b)
    rows = []
    directions = [
        (a, b, held_a, a_to_b, a_cycled, held_b, b_identity, f_a, f_ab, f_b, critic_b_real, critic_b_translated, critic_b_source),
        (b, a, held_b, b_to_a, b_cycled, held_a, a_identity, f_b, f_ba, f_a, critic_a_real, critic_a_translated, critic_a_source),
    ]
    for source, target, src, translated, cycled, tgt, tgt_identity, f_src, f_translated, f_tgt, real_logits, translated_logits, source_logits in directions:
        with single_threaded_blas():
            measures = {
                **pixel_measures(src, translated, cycled, tgt, tgt_identity, n_boot, seed),
                **feature_measures(f_src, f_translated, f_tgt, scale, n_boot, seed),
                **critic_measures(real_logits, translated_logits, source_logits, n_boot, seed),
            }
        rows.append(
            metrics_row(source, target, measures, n_source=len(src), n_target=len(tgt), steps=int(settings["steps"]), train_seconds=round(train_seconds, 1))
        )
    table = pd.DataFrame(rows)
    io.write_tsv(out / TRANSFER_RUN["metrics"], table)
    for row in rows:
        log.info(
            "%s -> %s: effort %.1f grey levels, cycle error %.1f, KID %.4g (untranslated %.4g), critic AUC %.3f (untranslated %.3f)",
            row["source"],
            row["target"],
            row["effort_pixels"],
            row["cycle_error"],
            row["kid"],
            row["kid_untranslated"],
            row["critic_auc"],
            row["critic_auc_untranslated"],
        )
    log.info("%s done in %.0f s (%.0f s training)", pair_name(a, b), time.perf_counter() - started, train_seconds)
    return table


# ---------------------------------------------------------------- stage transfer-distances


def transfer_distances(metrics_paths: list[Path], out: Path) -> pd.DataFrame:
    """Stack every pair's metrics.tsv into the long table."""
    frames = []
    required = ["source", "target", *[f"{m}{s}" for m in MEASURES for s in ("", "_ci_low", "_ci_high")]]
    for path in metrics_paths:
        if not Path(path).is_file():
            raise UserError(f"transfer metrics not found: {path}")
        wide = io.read_tsv(path)
        missing = [c for c in required if c not in wide.columns]
        if missing:
            raise UserError(f"{path}: missing column(s) {', '.join(missing)} (written by an older version? re-run train_transfer)")
        frames.append(metrics_long(wide))
    long = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=LONG_COLUMNS)
    duplicated = long.duplicated(["source", "target", "measure"])
    if duplicated.any():
        first = long[duplicated].iloc[0]
        raise UserError(f"direction {first['source']} -> {first['target']} appears in more than one metrics file")
    io.write_tsv(out, long)
    return long


# ---------------------------------------------------------------- CLI


def _parser(stage: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m ganstyle {stage}", description=__doc__.split("\n\n")[0])
    if stage == "train-transfer":
        add_settings_arguments(parser, "transfer")
        parser.add_argument("--culture-a", required=True, help="first culture of the pair (a < b)")
        parser.add_argument("--culture-b", required=True)
        parser.add_argument("--corpus-a", type=Path, required=True, help="results/corpus/{a}/images.npz")
        parser.add_argument("--corpus-b", type=Path, required=True)
        parser.add_argument("--critic-a", type=Path, required=True, help="results/gan/{a}/seed{seed}/discriminator.keras")
        parser.add_argument("--critic-b", type=Path, required=True)
        parser.add_argument("--label-a", help="display name of culture a in grid.png (default: its id)")
        parser.add_argument("--label-b")
        parser.add_argument("--out", type=Path, required=True, help="output folder, results/transfer/{a}__{b}")
        parser.add_argument("--checkpoints", type=Path, required=True, help="checkpoint folder (kept between runs)")
        parser.add_argument("--threads", type=int, default=None, help="TensorFlow intra-op threads (the rule's threads)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    else:
        parser.add_argument("--metrics", type=Path, nargs="*", default=[], help="metrics.tsv of every trained pair")
        parser.add_argument("--out", type=Path, required=True, help="results/transfer/transfer_distances.tsv")
    return parser


def main(argv: list[str] | None = None, stage: str = "train-transfer") -> int:
    args = _parser(stage).parse_args(argv)
    if stage == "train-transfer":
        settings = section("transfer", args.settings, args.config_path)
        a, b = args.culture_a, args.culture_b
        train_transfer(
            a,
            b,
            args.corpus_a,
            args.corpus_b,
            args.critic_a,
            args.critic_b,
            args.out,
            args.checkpoints,
            settings,
            args.threads,
            labels=(args.label_a or a, args.label_b or b),
            progress=not args.no_progress,
        )
    elif stage == "transfer-distances":
        transfer_distances(args.metrics, args.out)
    else:
        raise UserError(f"ganstyle.stages.transfer has no stage {stage!r}")
    return 0
