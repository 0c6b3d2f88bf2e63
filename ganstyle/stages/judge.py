"""Stages ``train-judge`` and ``judge-score``: a culture classifier of real images that judges generated ones.

``train-judge`` trains the judge (``ganstyle.models.judge``) on every culture's
train split and reports its accuracy on the held-out split of real images:
``judge.keras``, ``real.tsv`` (per culture), ``confusion.tsv``, ``history.tsv``
and ``metrics.json`` in ``results/judge/``.

``judge-score --kind KIND`` asks it about images that should look like a given
culture and writes ``results/judge/<KIND>.tsv``, one row per (seed, culture):

- ``gan_samples``: each culture's GAN samples, judged as that culture;
- ``joint_samples``: the joint generator's samples of each class, judged as
  that class, with their within-class diversity beside the real images';
- ``translations``: translated held-out images, judged as their target, beside
  the rate at which the untranslated sources are already judged as the target.

Every row carries the judge's accuracy on that culture's real held-out images
and the ratio of the two ("GAN-test" accuracy relative to real).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ganstyle import io
from ganstyle.config import add_settings_arguments, section
from ganstyle.errors import UserError
from ganstyle.io import files
from ganstyle.io.files import JUDGE

log = logging.getLogger(__name__)

SCORE_KINDS = ("gan_samples", "joint_samples", "translations")
SCORE_COLUMNS = ["kind", "seed", "culture", "n", "accuracy", "mean_probability", "real_accuracy", "ratio"]


# ---------------------------------------------------------------- pure functions


def accuracy_table(probabilities: np.ndarray, labels: np.ndarray, cultures: list[str]) -> pd.DataFrame:
    """Per culture: images, share classified as that culture, mean probability of it."""
    predicted = probabilities.argmax(axis=1)
    rows = []
    for index, culture in enumerate(cultures):
        mine = labels == index
        n = int(mine.sum())
        rows.append(
            {
                "culture": culture,
                "n": n,
                "accuracy": float((predicted[mine] == index).mean()) if n else np.nan,
                "mean_probability": float(probabilities[mine, index].mean()) if n else np.nan,
            }
        )
    return pd.DataFrame(rows)


def confusion_table(probabilities: np.ndarray, labels: np.ndarray, cultures: list[str]) -> pd.DataFrame:
    """Row = true culture, column = predicted culture, share of the row's images."""
    predicted = probabilities.argmax(axis=1)
    counts = np.zeros((len(cultures), len(cultures)))
    np.add.at(counts, (labels, predicted), 1)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    return pd.DataFrame(shares, index=pd.Index(cultures, name="culture"), columns=cultures)


def relative_to_real(scores: pd.DataFrame, real: pd.DataFrame) -> pd.DataFrame:
    """``scores`` with the judge's real held-out accuracy of each culture and the ratio of the two."""
    real_accuracy = real.set_index("culture")["accuracy"]
    scored = scores.copy()
    scored["real_accuracy"] = scored["culture"].map(real_accuracy)
    scored["ratio"] = scored["accuracy"] / scored["real_accuracy"]
    return scored


def mean_pairwise_distance(features: np.ndarray, max_images: int = 500, seed: int = 0) -> float:
    """Mean Euclidean distance between distinct images (a random subset of ``max_images`` for large sets)."""
    from scipy.spatial.distance import pdist

    if len(features) > max_images:
        features = features[np.random.default_rng(seed).choice(len(features), max_images, replace=False)]
    return float(pdist(features).mean()) if len(features) > 1 else np.nan


# ---------------------------------------------------------------- train-judge


def train(cultures: list[str], corpora: list[Path], out: Path, settings: dict, threads: int | None, progress: bool = True) -> pd.DataFrame:
    from ganstyle.models import training
    from ganstyle.models.judge import JudgeRecipe, judge_probabilities, train_judge
    from ganstyle.stages.corpus import load_cultures

    recipe = JudgeRecipe.from_settings(settings)
    training.configure_tensorflow(threads, recipe.seed)
    precision = training.configure_precision(settings["mixed_precision"])
    images, labels, heldout = load_cultures(cultures, corpora, needs="the judge", measures="its held-out accuracy")
    log.info("judge: %d cultures, %d train images, precision %s", len(cultures), len(images), precision)
    model, history = train_judge(images, labels, len(cultures), recipe, progress)
    held_images = np.concatenate([heldout[c] for c in cultures])
    held_labels = np.concatenate([np.full(len(heldout[c]), k) for k, c in enumerate(cultures)])
    probabilities = judge_probabilities(model, held_images)
    real = accuracy_table(probabilities, held_labels, cultures)
    out.mkdir(parents=True, exist_ok=True)
    io.save_keras(model, out / JUDGE["model"])
    io.write_tsv(out / JUDGE["real"], real)
    io.write_tsv(out / JUDGE["confusion"], confusion_table(probabilities, held_labels, cultures), index=True)
    io.write_tsv(out / JUDGE["history"], history)
    overall = float((probabilities.argmax(1) == held_labels).mean())
    io.write_json(
        out / JUDGE["metrics"],
        {
            "heldout_accuracy": overall,
            "balanced_accuracy": float(real["accuracy"].mean()),
            "chance": 1 / len(cultures),
            "n_train": len(images),
            "n_heldout": len(held_images),
            "recipe": recipe.__dict__,
            **training.run_environment(precision, threads),
        },
    )
    log.info("judge: held-out accuracy %.3f (balanced %.3f; chance %.3f)", overall, real["accuracy"].mean(), 1 / len(cultures))
    return real


# ---------------------------------------------------------------- judge-score


def load_judge(path: Path, cultures: list[str]):
    from ganstyle.models.critic import load_model

    model = load_model(path, "judge")
    if int(model.outputs[0].shape[-1]) != len(cultures):
        raise UserError(f"{path}: the judge knows {int(model.outputs[0].shape[-1])} cultures, --cultures lists {len(cultures)}; re-run train_judge")
    return model


def score_gan_samples(model, cultures: list[str], samples: dict[tuple[int, str], Path]) -> pd.DataFrame:
    """Each culture's GAN samples (``samples[(seed, culture)]``), judged as that culture."""
    from ganstyle.models.judge import judge_probabilities

    rows = []
    for (seed, culture), path in samples.items():
        images = files.load_samples(path).images
        table = accuracy_table(judge_probabilities(model, images), np.full(len(images), cultures.index(culture)), cultures)
        rows.append({"kind": "gan_samples", "seed": seed, **table[table.culture == culture].iloc[0].to_dict()})
    return pd.DataFrame(rows)


def score_joint_samples(model, cultures: list[str], samples: dict[int, Path], heldout: dict[str, np.ndarray]) -> pd.DataFrame:
    """The joint generator's samples of each class, judged as that class; within-class diversity in the
    reference space (mean pairwise distance) beside the real held-out images'."""
    from ganstyle.metrics.reference import reference_features
    from ganstyle.models.judge import judge_probabilities

    real_diversity = {c: mean_pairwise_distance(reference_features(heldout[c])) for c in cultures}
    rows = []
    for seed, path in samples.items():
        loaded = files.load_samples(path)
        if loaded.culture is None:
            raise UserError(f"{path}: joint samples carry no culture labels; re-run train_joint")
        unknown = sorted(set(loaded.culture) - set(cultures))
        if unknown:
            raise UserError(f"{path}: samples of cultures not in --cultures: {', '.join(unknown)}")
        labels = np.array([cultures.index(c) for c in loaded.culture])
        table = accuracy_table(judge_probabilities(model, loaded.images), labels, cultures)
        table["diversity"] = [mean_pairwise_distance(reference_features(loaded.images[labels == k])) for k in range(len(cultures))]
        table["real_diversity"] = table["culture"].map(real_diversity)
        table["diversity_ratio"] = table["diversity"] / table["real_diversity"]
        table.insert(0, "seed", seed)
        table.insert(0, "kind", "joint_samples")
        rows.append(table)
    return pd.concat(rows, ignore_index=True)


def score_translations(model, cultures: list[str], examples: dict[int, Path]) -> pd.DataFrame:
    """Translated held-out images judged as their target; the untranslated sources' rate beside them."""
    from ganstyle.models.judge import judge_probabilities

    rows = []
    for seed, path in examples.items():
        translations = files.load_translations(path)
        source_probabilities = judge_probabilities(model, translations.sources)
        for target_index, target in enumerate(translations.cultures):
            if target not in cultures:
                raise UserError(f"{path}: translations into '{target}', which --cultures does not list")
            k = cultures.index(target)
            moved = translations.source_culture != target_index
            translated = translations.translated[target_index][moved]
            probabilities = judge_probabilities(model, translated)
            rows.append(
                {
                    "kind": "translations",
                    "seed": seed,
                    "culture": target,
                    "n": int(moved.sum()),
                    "accuracy": float((probabilities.argmax(1) == k).mean()),
                    "mean_probability": float(probabilities[:, k].mean()),
                    "source_rate": float((source_probabilities[moved].argmax(1) == k).mean()),
                    "cycle_error": float(translations.cycle_error[target_index][moved].mean()),
                }
            )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- CLI


def _parser(stage: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m ganstyle {stage}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cultures", nargs="+", required=True, help="culture names (class index = position)")
    parser.add_argument("--no-progress", action="store_true", help="no progress output")
    if stage == "train-judge":
        add_settings_arguments(parser, "judge")
        parser.add_argument("--corpora", type=Path, nargs="+", required=True, help="results/corpus/{culture}/images.npz, one per culture")
        parser.add_argument("--out", type=Path, required=True, help="output folder, results/judge")
        parser.add_argument("--threads", type=int, default=None, help="TensorFlow intra-op threads (the rule's threads)")
    else:
        parser.add_argument("--kind", choices=SCORE_KINDS, required=True)
        parser.add_argument("--judge", type=Path, required=True, help="results/judge/judge.keras")
        parser.add_argument("--real", type=Path, required=True, help="results/judge/real.tsv (the judge's held-out accuracy)")
        parser.add_argument(
            "--inputs",
            type=Path,
            nargs="+",
            required=True,
            help="samples.npz (gan_samples: one per culture and seed, in --cultures x --seeds order) or per-seed files",
        )
        parser.add_argument("--seeds", type=int, nargs="+", required=True)
        parser.add_argument("--corpora", type=Path, nargs="*", default=[], help="joint_samples: every culture's corpus (for the real images' diversity)")
        parser.add_argument("--out", type=Path, required=True)
    return parser


def main(argv: list[str] | None = None, stage: str = "train-judge") -> int:
    args = _parser(stage).parse_args(argv)
    cultures = list(args.cultures)
    if stage == "train-judge":
        train(cultures, args.corpora, args.out, section("judge", args.settings, args.config_path), args.threads, progress=not args.no_progress)
        return 0
    from ganstyle.models import training

    training.configure_tensorflow(1, 0)
    model = load_judge(args.judge, cultures)
    if args.kind == "gan_samples":
        keys = [(seed, culture) for culture in cultures for seed in args.seeds]
        if len(args.inputs) != len(keys):
            raise UserError(f"--inputs: expected {len(keys)} samples files ({len(cultures)} cultures x {len(args.seeds)} seeds), got {len(args.inputs)}")
        scores = score_gan_samples(model, cultures, dict(zip(keys, args.inputs)))
    else:
        if len(args.inputs) != len(args.seeds):
            raise UserError(f"--inputs: expected one file per seed ({len(args.seeds)}), got {len(args.inputs)}")
        per_seed = dict(zip(args.seeds, args.inputs))
        if args.kind == "joint_samples":
            from ganstyle.stages.corpus import load_cultures

            _, _, heldout = load_cultures(cultures, args.corpora, needs="the judge", measures="diversity")
            scores = score_joint_samples(model, cultures, per_seed, heldout)
        else:
            scores = score_translations(model, cultures, per_seed)
    scored = relative_to_real(scores, io.read_tsv(args.real))
    io.write_tsv(args.out, scored)
    summary = scored.groupby("seed")[["accuracy", "ratio"]].mean()
    for seed, row in summary.iterrows():
        log.info("%s seed %s: judged as their culture %.3f on average, %.2f of the judge's real accuracy", args.kind, seed, row.accuracy, row.ratio)
    return 0
