"""Stage ``extract-features``: every culture's held-out images through the critics of one
GAN seed, and through the controls; or through the non-GAN reference extractor.

Critic spaces (``CRITIC_SPACES``), one file each, ``results/features/<space>/seed<seed>.npz``:

``critic``
    the per-culture critics (each culture's discriminator, trained on that
    culture alone): one feature block and one logit column per critic.
``critic_untrained``
    the control: the same network before training (it starts from the same
    weights for every culture of a seed, so it is one block and one logit,
    repeated for every culture).
``joint``
    the joint critic (one class-conditional GAN over all cultures): one
    shared feature block, one logit column per culture it is conditioned on,
    the culture embeddings; one entry per exported snapshot.
``joint_untrained``
    the control: the joint critic's network before training.

Keys of a critic-space file: ``features`` float32 (S, N, F) for S snapshots,
``blocks`` (B,) widths of the feature blocks side by side in ``features``,
``logits`` float32 (S, N, K), ``logit_cultures`` (K,) the critic (or
conditioning culture) of each logit column, ``embeddings`` float32 (S, K, E)
(joint spaces only), ``steps`` (S,) training steps, ``culture`` and ``ids`` (N,)
of the images, ``space``, ``seed``.  The reference file
``results/features/reference.npz`` has ``features`` (N, F), ``culture``,
``ids`` and ``extractor`` (the reference version).

An image's features are computed from that image alone (inference mode), so
they do not depend on which images share its batch.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from ganstyle.config import add_settings_arguments, section
from ganstyle.errors import UserError
from ganstyle.io.files import CriticSpaceFeatures, ReferenceFeatures, save_critic_space, save_reference_features

log = logging.getLogger(__name__)

CRITIC_SPACES = ("critic", "critic_untrained", "joint", "joint_untrained")


def stack_cultures(
    images_by_culture: Mapping[str, np.ndarray],
    ids_by_culture: Mapping[str, np.ndarray],
    extract: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]],
) -> dict[str, np.ndarray]:
    """Run ``extract(images) -> (features, logits (n, K) or None)`` on every culture and stack the rows.

    Row order is culture by culture in the mapping's order, then image order:
    deterministic, so re-running gives identical files.
    """
    features, logits, cultures, ids = [], [], [], []
    for culture, images in images_by_culture.items():
        culture_features, culture_logits = extract(images)
        features.append(np.asarray(culture_features, dtype=np.float32).reshape(len(images), -1))
        if culture_logits is not None:
            logits.append(np.asarray(culture_logits, dtype=np.float32).reshape(len(images), -1))
        cultures.append(np.full(len(images), culture))
        ids.append(np.asarray(ids_by_culture[culture]).astype(str))
    stacked = {
        "features": np.concatenate(features),
        "culture": np.concatenate(cultures).astype(str),
        "ids": np.concatenate(ids).astype(str),
    }
    if logits:
        stacked["logits"] = np.concatenate(logits)
    return stacked


def non_finite_rows(stacked: Mapping[str, np.ndarray]) -> np.ndarray:
    """Boolean mask of images whose features or logits are NaN/inf (a diverged critic)."""
    bad = ~np.isfinite(stacked["features"]).all(axis=1)
    if "logits" in stacked:
        bad |= ~np.isfinite(stacked["logits"]).reshape(len(bad), -1).all(axis=1)
    return bad


def load_heldout(cultures: list[str], corpora: list[str]) -> tuple[dict, dict]:
    """Held-out images and ids of each culture, in the given order."""
    from ganstyle.stages.corpus import load_corpus

    if len(cultures) != len(corpora):
        raise UserError(f"--cultures lists {len(cultures)} names but --corpora {len(corpora)} files")
    if len(set(cultures)) != len(cultures):
        raise UserError("--cultures: a culture is listed twice")
    images, ids = {}, {}
    for culture, path in zip(cultures, corpora):
        if not Path(path).exists():
            raise UserError(f"corpus not found: {path}")
        culture_images, culture_ids = load_corpus(path, split="heldout")
        if len(culture_images) == 0:
            raise UserError(f"{path}: culture '{culture}' has no held-out images (config key ingest.heldout_fraction)")
        images[culture], ids[culture] = culture_images, np.asarray(culture_ids).astype(str)
    return images, ids


def _through(model, where: str, images: dict, ids: dict) -> dict[str, np.ndarray]:
    """Features and logits of every held-out image through one critic; refuses a diverged critic."""
    from ganstyle.models.critic import critic_outputs

    try:
        stacked = stack_cultures(images, ids, lambda x: critic_outputs(model, x))
    except ValueError as err:  # images the critic cannot take (too small, wrong channels)
        raise UserError(f"{where}: {err}") from err
    bad = non_finite_rows(stacked)
    if bad.any():
        # a critic that gives NaN for some images has diverged; any distance built on it would be meaningless
        raise UserError(f"{where}: non-finite features for {int(bad.sum())} images (cultures {', '.join(sorted(set(stacked['culture'][bad])))})")
    return stacked


def critic_space(
    models: list, names: list[str], logit_cultures: list[str], images: dict, ids: dict, panel: bool, steps: list[int], space: str, seed: int
) -> CriticSpaceFeatures:
    """One critic-space file.

    ``panel``: ``models`` are one critic per culture, side by side (features
    blocks, one logit column each); otherwise ``models`` are snapshots of one
    critic (one block, its own logit columns).
    """
    from ganstyle.models.networks import class_embeddings

    outputs = [_through(model, name, images, ids) for model, name in zip(models, names)]
    first = outputs[0]
    embeddings = None
    if panel:
        features = np.concatenate([o["features"] for o in outputs], axis=1)[None]
        blocks = np.asarray([o["features"].shape[1] for o in outputs])
        logits = np.concatenate([o["logits"] for o in outputs], axis=1)[None]
    else:
        features = np.stack([o["features"] for o in outputs])
        blocks = np.asarray([first["features"].shape[1]])
        logits = np.stack([o["logits"] for o in outputs])
        per_snapshot = [class_embeddings(model) for model in models]
        if per_snapshot[0] is not None:
            embeddings = np.stack(per_snapshot).astype(np.float32)
    if logits.shape[2] != len(logit_cultures):
        raise UserError(f"{names[0]}: {logits.shape[2]} logits per image, expected one per culture ({len(logit_cultures)})")
    return CriticSpaceFeatures(space, seed, first["culture"], first["ids"], np.asarray(logit_cultures), np.asarray(steps), features, blocks, logits, embeddings)


def untrained_critic(recipe, image_shape: tuple, seed: int, n_classes: int = 1):
    """The discriminator a training run of ``seed`` starts from (same recipe, same initial weights)."""
    from ganstyle.models.gan import initial_models

    return initial_models(recipe, image_shape[0], image_shape[2], seed, n_classes)[1]


def extract_critic_spaces(args, images: dict, ids: dict) -> None:
    from ganstyle.models.devices import hide_gpus

    hide_gpus()  # inference is cheap; keep TensorFlow off GPUs that training jobs are using
    from ganstyle.models.critic import load_critic
    from ganstyle.models.recipes import GANRecipe, JointRecipe

    cultures = list(images)
    if len(args.critics) != len(cultures):
        raise UserError(f"--critics lists {len(args.critics)} files but --cultures {len(cultures)} cultures (one critic per culture, same order)")
    shape = next(iter(images.values())).shape[1:]
    out = Path(args.out_dir)
    gan_recipe = GANRecipe.from_section(section("gan", args.settings, args.config_path))
    written = {
        "critic": critic_space(
            [load_critic(p) for p in args.critics], list(args.critics), cultures, images, ids, True, [gan_recipe.steps], "critic", args.seed
        ),
        "critic_untrained": critic_space(
            [untrained_critic(gan_recipe, shape, args.seed)], ["untrained critic"], cultures[:1], images, ids, True, [0], "critic_untrained", args.seed
        ),
    }
    # one network for every culture: its one logit column stands for each culture's critic
    untrained = written["critic_untrained"]
    untrained.logits = np.repeat(untrained.logits, len(cultures), axis=2)
    untrained.logit_cultures = np.asarray(cultures)
    if args.joint_critics:
        joint = JointRecipe.from_sections(section("gan", args.settings, args.config_path), section("joint", args.joint))
        steps = [int(Path(p).stem.rsplit("step", 1)[-1]) for p in args.joint_critics]
        written["joint"] = critic_space(
            [load_critic(p) for p in args.joint_critics], list(args.joint_critics), cultures, images, ids, False, steps, "joint", args.seed
        )
        written["joint_untrained"] = critic_space(
            [untrained_critic(joint, shape, args.seed, len(cultures))],
            ["untrained joint critic"],
            cultures,
            images,
            ids,
            False,
            [0],
            "joint_untrained",
            args.seed,
        )
    for space, critic_features in written.items():
        save_critic_space(out / space / f"seed{args.seed}.npz", critic_features)
        snapshots, n_images, width = critic_features.features.shape
        log.info(
            "%s seed %d: %d images x %d features, %d logits, %d snapshot(s)", space, args.seed, n_images, width, critic_features.logits.shape[2], snapshots
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ganstyle extract-features",
        description="Features of every culture's held-out images in the critic spaces of one GAN seed (or the reference space).",
    )
    parser.add_argument("--cultures", nargs="+", required=True, help="culture names, in the order of --corpora")
    parser.add_argument("--corpora", nargs="+", required=True, help="results/corpus/{culture}/images.npz, one per culture")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--critics", nargs="+", help="each culture's discriminator.keras of one seed, in the order of --cultures")
    which.add_argument("--reference", action="store_true", help="use the non-GAN reference extractor instead")
    parser.add_argument("--joint-critics", nargs="*", default=[], help="the joint critic's critic_step<N>.keras snapshots of the same seed")
    parser.add_argument("--seed", type=int, default=-1, help="the GAN seed of the critics")
    parser.add_argument("--joint", help="the 'joint' config section as JSON (with --joint-critics)")
    parser.add_argument("--out-dir", help="with --critics: writes OUT_DIR/<space>/seed<seed>.npz for every critic space")
    parser.add_argument("--out", help="with --reference: the output .npz")
    add_settings_arguments(parser, "gan")
    return parser


def main(argv: list[str] | None = None, stage: str = "extract-features") -> int:
    args = build_parser().parse_args(argv)
    if args.critics and (not args.out_dir or args.seed < 0):
        raise UserError("--critics needs --out-dir and --seed")
    if args.reference and not args.out:
        raise UserError("--reference needs --out")
    images, ids = load_heldout(args.cultures, args.corpora)
    if args.critics:
        extract_critic_spaces(args, images, ids)
        return 0
    from ganstyle.metrics.reference import REFERENCE_VERSION, reference_features

    stacked = stack_cultures(images, ids, lambda x: (reference_features(x), None))
    save_reference_features(args.out, ReferenceFeatures(stacked["features"], stacked["culture"], stacked["ids"], str(REFERENCE_VERSION)))
    log.info("reference: %d images x %d features from %d cultures -> %s", len(stacked["ids"]), stacked["features"].shape[1], len(images), args.out)
    return 0
