"""Stage ``extract-features``: every culture's held-out images through one critic
(or through the non-GAN reference extractor).

One run writes one file: ``results/features/critic_{culture}/seed{seed}.npz``
(``--critic``) or ``results/features/reference.npz`` (``--reference``), holding the
features of *all* cultures' held-out images in one shared feature space.  Each
critic has its own space; later stages compare cultures inside one critic's
space or in the joint panel of standardised critic spaces, never across two
critics' raw features.

Keys of the written npz: ``features`` float32 (N, F), ``logits`` float32 (N,)
(critics only), ``culture`` (N,) str, ``ids`` (N,) str, and provenance scalars
``critic`` (culture of the critic, "" for the reference), ``seed`` (-1 for the
reference) and ``extractor`` (``critic`` or the reference version string).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from ganstyle import io
from ganstyle.errors import UserError

log = logging.getLogger(__name__)


def stack_cultures(
    images_by_culture: Mapping[str, np.ndarray],
    ids_by_culture: Mapping[str, np.ndarray],
    extract: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]],
) -> dict[str, np.ndarray]:
    """Run ``extract(images) -> (features, logits or None)`` on every culture and stack the rows.

    Row order is culture by culture in the mapping's order, then image order:
    deterministic, so re-running gives identical files.
    """
    features, logits, cultures, ids = [], [], [], []
    for culture, images in images_by_culture.items():
        culture_features, culture_logits = extract(images)
        culture_features = np.asarray(culture_features, dtype=np.float32).reshape(len(images), -1)
        features.append(culture_features)
        if culture_logits is not None:
            logits.append(np.asarray(culture_logits, dtype=np.float32).reshape(len(images)))
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
    """Boolean mask of images whose features or logit are NaN/inf (a diverged critic)."""
    bad = ~np.isfinite(stacked["features"]).all(axis=1)
    if "logits" in stacked:
        bad |= ~np.isfinite(stacked["logits"])
    return bad


def load_heldout(cultures: list[str], corpora: list[str]) -> tuple[dict, dict]:
    """Held-out images and ids of each culture, in the given order."""
    from ganstyle.corpus import load_corpus

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ganstyle extract-features",
        description="Features of every culture's held-out images in one critic's space (or the reference space).",
    )
    parser.add_argument("--cultures", nargs="+", required=True, help="culture names, in the order of --corpora")
    parser.add_argument("--corpora", nargs="+", required=True, help="results/corpus/{culture}/images.npz, one per culture")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--critic", help="a culture's discriminator.keras")
    which.add_argument("--reference", action="store_true", help="use the non-GAN reference extractor instead")
    parser.add_argument("--critic-culture", help="the culture the critic was trained on (with --critic)")
    parser.add_argument("--seed", type=int, default=-1, help="the GAN seed of the critic (with --critic), for provenance")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--out", required=True, help="output .npz")
    return parser


def main(argv: list[str] | None = None, stage: str = "extract-features") -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    images, ids = load_heldout(args.cultures, args.corpora)

    where = args.critic or "reference extractor"
    if args.reference:
        from ganstyle.metrics.reference import REFERENCE_VERSION, reference_features

        extract = lambda x: (reference_features(x), None)  # noqa: E731
        provenance = {"critic": "", "seed": -1, "extractor": str(REFERENCE_VERSION)}
    else:
        if not args.critic_culture:
            raise UserError("--critic needs --critic-culture (the culture the critic was trained on)")
        if not Path(args.critic).exists():
            raise UserError(f"critic not found: {args.critic}")
        from ganstyle.devices import hide_gpus

        # inference is cheap; keep TensorFlow off GPUs that training jobs are using
        hide_gpus()
        from ganstyle.critic import critic_outputs, load_critic

        model = load_critic(args.critic)
        extract = lambda x: critic_outputs(model, x, batch_size=args.batch_size)  # noqa: E731
        provenance = {"critic": args.critic_culture, "seed": args.seed, "extractor": "critic"}
    try:
        stacked = stack_cultures(images, ids, extract)
    except ValueError as err:  # images the extractor cannot take (too small, wrong channels)
        raise UserError(f"{where}: {err}") from err

    bad = non_finite_rows(stacked)
    if bad.any():
        # A critic that gives NaN for some images has diverged; any distance built on it would be meaningless.
        cultures_hit = sorted(set(stacked["culture"][bad]))
        raise UserError(f"{where}: non-finite features for {int(bad.sum())} images (cultures {', '.join(cultures_hit)})")

    io.write_npz(args.out, **stacked, **{k: np.asarray(v) for k, v in provenance.items()})
    log.info(
        "%s: %d images x %d features from %d cultures -> %s",
        args.critic or "reference", len(stacked["ids"]), stacked["features"].shape[1], len(images), args.out,
    )
    return 0
