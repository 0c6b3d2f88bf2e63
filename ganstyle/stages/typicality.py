"""Stage ``typicality``: how typical of each culture every held-out image is, by that culture's critic.

An image's *typicality* under culture a's critic is the critic's logit for a: in the joint critic
(``joint``) the logit conditioned on a, in the critic panel (``critic``) the logit of a's own critic.
It is averaged over the exported snapshots of a seed, then over seeds.  Every held-out image is
scored by every culture's critic, so the table says both which images a culture's critic finds most
and least typical of it and which images of culture b it finds most a-like (the bridges).  Logits of
different critics of a panel are on different scales: compare scores under one critic only (the
``rank`` column does).

A critic's logit also says how real an image looks in general: on the demo an image's scores under
the different critics correlate (about 0.7 within a culture), so the images of b that a's critic
scores highest are mostly b's own most typical images.  ``contrast`` (the score under a's critic
minus the score under the image's own culture's critic) removes that shared part: the images of b
with the highest contrast under a are the ones a's critic finds more a-like than b's critic finds
them b-like, which the bridges figure shows.  For the joint critic it is the image's term of the
cross-conditional score.

Output (``ganstyle.io.files.TYPICALITY_COLUMNS``): one row per image and critic, ``space, critic,
culture, id, source, score, score_sd, rank, n_images, contrast``; ``source`` is the image's file as the corpus
manifest names it; ``rank`` 1 is the image of its culture the critic scores highest.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ganstyle import io
from ganstyle.config import add_settings_arguments, section
from ganstyle.errors import UserError
from ganstyle.io.files import CriticSpaceFeatures, load_critic_space, save_typicality, seed_rows
from ganstyle.metrics.measures import SPACES

log = logging.getLogger(__name__)

SPACE_KEY = "typicality.space"


def checked_space(space: str, key: str = SPACE_KEY, critics: bool = True) -> str:
    """``space`` if the study has such a feature space (with critics, whose logits score images, when
    ``critics``); UserError naming the config key ``key`` otherwise."""
    allowed = [name for name, s in SPACES.items() if s.critics is not None or not critics]
    which = "spaces with critics" if critics else "spaces"
    if space not in SPACES:
        raise UserError(f"config key '{key}': no feature space '{space}' ({which}: {', '.join(allowed)})")
    if space not in allowed:
        raise UserError(f"config key '{key}': the space '{space}' has no critic to score images ({which}: {', '.join(allowed)})")
    return space


@dataclass
class SeedScores:
    """Every seed's logits of the same images, averaged over snapshots: ``scores`` (seeds, N, K)."""

    space: str
    culture: np.ndarray  # (N,)
    ids: np.ndarray  # (N,)
    critics: np.ndarray  # (K,) the critic (or conditioning culture) of each column
    scores: np.ndarray  # (seeds, N, K)


def seed_scores(files: Sequence[CriticSpaceFeatures], paths: Sequence[str]) -> SeedScores:
    """Each seed's logits averaged over its snapshots, rows in the first file's image order."""
    first = files[0]
    per_seed = [f.logits[:, rows].astype(np.float64).mean(axis=0) for f, rows in zip(files, seed_rows(list(files), list(paths)))]
    return SeedScores(first.space, first.culture, first.ids, np.asarray(first.logit_cultures).astype(str), np.stack(per_seed))


def typicality_table(seeds: SeedScores, sources: Mapping[str, str]) -> pd.DataFrame:
    """The long table of every image's score under every critic (rows: critic, then the images in file order).

    ``sources``: image id -> file name.
    """
    score = seeds.scores.mean(axis=0)
    spread = seeds.scores.std(axis=0, ddof=1) if len(seeds.scores) > 1 else np.full_like(score, np.nan)
    column = {critic: k for k, critic in enumerate(seeds.critics)}
    own = np.array([score[i, column[c]] if c in column else np.nan for i, c in enumerate(seeds.culture)])
    counts = pd.Series(seeds.culture).value_counts()
    frames = []
    for k, critic in enumerate(seeds.critics):
        frame = pd.DataFrame(
            {
                "space": seeds.space,
                "critic": critic,
                "culture": seeds.culture,
                "id": seeds.ids,
                "source": [sources.get(image, "") for image in seeds.ids],
                "score": score[:, k],
                "score_sd": spread[:, k],
            }
        )
        # rank within the culture, highest score first; equal scores by id, so the order is fixed
        ordered = frame.sort_values(["culture", "score", "id"], ascending=[True, False, True], kind="stable")
        frame["rank"] = (ordered.groupby("culture").cumcount() + 1).reindex(frame.index)
        frame["n_images"] = frame["culture"].map(counts).to_numpy()
        frame["contrast"] = score[:, k] - own
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def read_sources(manifests: Sequence[str]) -> dict[str, str]:
    """Image id -> source file name, from the corpus manifests (names stay text: ``\\xNN`` escapes as written)."""
    sources: dict[str, str] = {}
    for path in manifests:
        try:
            manifest = io.read_tsv(path, dtype=str, keep_default_na=False, usecols=["id", "source"])
        except FileNotFoundError:
            raise UserError(f"corpus manifest not found: {path} (run corpus)") from None
        except ValueError as err:
            raise UserError(f"{path}: {err} (a corpus manifest has id and source columns)") from err
        sources.update(zip(manifest["id"], manifest["source"]))
    return sources


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ganstyle typicality", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--features", nargs="+", required=True, help="results/features/<space>/seed<seed>.npz of every seed of the space (config typicality.space)"
    )
    parser.add_argument("--manifests", nargs="+", required=True, help="results/corpus/{culture}/manifest.tsv of every culture (the images' file names)")
    parser.add_argument("--out", required=True, help="results/images/typicality.tsv")
    add_settings_arguments(parser, "typicality")
    return parser


def main(argv: list[str] | None = None, stage: str = "typicality") -> int:
    args = build_parser().parse_args(argv)
    settings = section("typicality", args.settings, args.config_path)
    space = checked_space(settings["space"])
    files = [load_critic_space(path) for path in args.features]
    for f, path in zip(files, args.features):
        if f.space != space:
            raise UserError(f"{path}: holds the space '{f.space}', config key '{SPACE_KEY}' is '{space}'")
    if len(files[0].ids) == 0:
        raise UserError(f"{args.features[0]}: no held-out images")
    table = typicality_table(seed_scores(files, args.features), read_sources(args.manifests))
    save_typicality(args.out, table)
    log.info("%s: %d images x %d critics from %d seed(s) -> %s", space, len(files[0].ids), len(files[0].logit_cultures), len(files), args.out)
    return 0
