"""Stage ``corpus``: a culture's final training set, and how other stages load it.

From the ingested images, the ones shared with another culture (leakage.tsv)
are dropped and the rest split into ``train`` and ``heldout`` by a hash of
each source image's id: an image's split never depends on which other images
exist, so adding images never moves existing ones between the splits, and
all patches of one image fall in the same split.  A culture left with fewer
than ``ingest.min_images`` source images fails with a one-line message.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ganstyle import io
from ganstyle.config import add_settings_arguments, section
from ganstyle.errors import UserError

log = logging.getLogger("ganstyle.stages.corpus")

SPLITS = ("train", "heldout")
_SPLIT_SALT = b"ganstyle-split-v1:"  # changing it would reshuffle every split


# --- loading, and conversions for networks ----------------------------------------


def load_corpus(path: str | Path, split: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, H, W, C) and ids (N,) of a corpus (or ingest) images.npz, or of the folder holding it.

    ``split`` "train" or "heldout" selects that part (corpus files only).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "images.npz"
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")
    if not path.exists():
        raise UserError(f"{path}: corpus not found")
    with np.load(path, allow_pickle=False) as data:
        images, ids = data["images"], data["ids"]
        if split is None:
            return images, ids
        if "split" not in data:
            raise UserError(f"{path}: has no train/held-out split (an ingest file? use results/corpus/...)")
        chosen = data["split"] == split
    return images[chosen], ids[chosen]


# --- the split ----------------------------------------------------------------------


def heldout_score(source_id: str) -> float:
    """A number in [0, 1) fixed by the id alone: an image is held out when it is below the fraction."""
    digest = hashlib.sha256(_SPLIT_SALT + source_id.encode()).hexdigest()
    return int(digest[:13], 16) / 16**13


def assign_split(source_ids, heldout_fraction: float) -> np.ndarray:
    """'train' or 'heldout' for each id; independent of the other ids."""
    return np.array(["heldout" if heldout_score(s) < heldout_fraction else "train" for s in source_ids], dtype="<U7")


# --- the stage ----------------------------------------------------------------------


def read_leaks(leakage_tsv: str | Path | None, culture: str, leaked_ids: str = "") -> dict[str, str]:
    """Leaked source ids of one culture -> what they leak to (for rejects.tsv)."""
    leaks = {}
    if leakage_tsv is not None:
        path = Path(leakage_tsv)
        if not path.exists():
            raise UserError(f"{path}: leakage table not found (run the leakage stage first)")
        table = io.read_tsv(path, dtype=str, keep_default_na=False)
        missing = {"culture", "id", "other_culture", "other_source", "kind", "distance"} - set(table.columns)
        if missing:
            raise UserError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for row in table[table["culture"] == culture].itertuples():
            where = f"also in '{row.other_culture}' as {row.other_source} ({row.kind}"
            where += f", {row.distance} bit(s))" if row.kind == "near" else ")"
            leaks[row.id] = f"{leaks[row.id]}; {where}" if row.id in leaks else where
    for leaked in filter(None, (part.strip() for part in leaked_ids.split(","))):
        leaks.setdefault(leaked, "also in another culture (see leakage.tsv)")
    return leaks


def build_corpus(images: np.ndarray, manifest: pd.DataFrame, leaks: dict[str, str], heldout_fraction: float):
    """Drop leaked source images and split the rest.

    Returns (images, manifest with ``split``, rejects of the leaked ones).
    """
    leaked = manifest["source_id"].isin(list(leaks)).to_numpy()
    dropped = manifest.loc[leaked].drop_duplicates("source_id")
    rejects = pd.DataFrame({"source": dropped["source"], "reason": "leaked", "detail": [leaks[s] for s in dropped["source_id"]]})
    kept = manifest.loc[~leaked].reset_index(drop=True)
    kept["split"] = assign_split(kept["source_id"], heldout_fraction)
    return images[~leaked], kept, rejects.reset_index(drop=True)


def _read_ingested(folder: Path) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    paths = [folder / name for name in ("images.npz", "manifest.tsv", "rejects.tsv")]
    for path in paths:
        if not path.exists():
            raise UserError(f"{path}: not found (run the ingest stage first)")
    images, ids = load_corpus(paths[0])
    manifest = io.read_tsv(paths[1], dtype=str, keep_default_na=False)
    rejects = io.read_tsv(paths[2], dtype=str, keep_default_na=False)
    if "source_id" not in manifest.columns:
        manifest["source_id"] = manifest["id"]
    if len(ids) != len(manifest) or (ids != manifest["id"].to_numpy(dtype=str)).any():
        raise UserError(f"{folder}: images.npz and manifest.tsv do not match (re-run ingest)")
    return images, manifest, rejects


def check_size(culture: str, manifest: pd.DataFrame, settings: dict, rejects_hint: str) -> None:
    """Fail when too few images are left, or a split is empty."""
    count = manifest["source_id"].nunique()
    if count < settings["min_images"]:
        raise UserError(
            f"culture '{culture}': only {count} usable images, fewer than ingest.min_images = {settings['min_images']}; "
            f"see {rejects_hint} for the rejected files"
        )
    for split in SPLITS:
        if not (manifest["split"] == split).any():
            raise UserError(
                f"culture '{culture}': the {split} split is empty ({count} images, "
                f"ingest.heldout_fraction = {settings['heldout_fraction']}); add images or change the fraction"
            )


def main(argv: list[str] | None = None, stage: str = "corpus") -> int:
    parser = argparse.ArgumentParser(prog=f"ganstyle {stage}", description="Final training set of one culture: drop leaked images, split train/held-out.")
    parser.add_argument("--culture", required=True)
    parser.add_argument("--ingested", required=True, type=Path, help="the culture's ingest folder (images.npz, manifest.tsv, rejects.tsv)")
    parser.add_argument("--leaked", default="", help="comma-separated ids of this culture's leaked images")
    parser.add_argument("--leakage", type=Path, help="leakage.tsv: this culture's rows are leaked (with details for rejects.tsv)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    add_settings_arguments(parser, "ingest")
    args = parser.parse_args(argv)

    settings = section("ingest", args.settings, args.config_path)
    images, manifest, ingest_rejects = _read_ingested(args.ingested)
    leaks = read_leaks(args.leakage, args.culture, args.leaked)
    unknown = set(leaks) - set(manifest["source_id"])
    if unknown:
        log.warning("%s: %d leaked id(s) not in the manifest, ignored: %s", args.culture, len(unknown), ", ".join(sorted(unknown)[:5]))
    images, manifest, leak_rejects = build_corpus(images, manifest, leaks, settings["heldout_fraction"])
    hint = str(args.ingested / "rejects.tsv") + (" and leakage.tsv" if len(leak_rejects) else "")
    check_size(args.culture, manifest, settings, hint)

    rejects = pd.concat([ingest_rejects, leak_rejects], ignore_index=True).fillna("")
    io.write_npz(args.out / "images.npz", images=images, ids=manifest["id"].to_numpy(dtype=str), split=manifest["split"].to_numpy(dtype=str))
    io.write_tsv(args.out / "manifest.tsv", manifest)
    io.write_tsv(args.out / "rejects.tsv", rejects.sort_values(["source", "reason"], kind="stable", ignore_index=True))
    counts = manifest.drop_duplicates("source_id")["split"].value_counts()
    log.info(
        "corpus %s: %d train, %d held-out images (%d rows), %d dropped as leaked",
        args.culture, counts.get("train", 0), counts.get("heldout", 0), len(manifest), len(leak_rejects),
    )  # fmt: skip
    return 0


def load_splits(corpus_path, needs: str, measures: str) -> tuple[np.ndarray, np.ndarray]:
    """Train and held-out images of a corpus, with at least 2 of each.

    ``needs`` and ``measures`` name the model and the measures in the error
    message (e.g. "a GAN", "metrics").
    """
    corpus_path = Path(corpus_path)
    if not corpus_path.is_file():
        raise UserError(f"corpus not found: {corpus_path}")
    train, _ = load_corpus(corpus_path, split="train")
    heldout, _ = load_corpus(corpus_path, split="heldout")
    if len(train) < 2:
        raise UserError(f"{corpus_path}: only {len(train)} train image(s); {needs} needs more")
    if len(heldout) < 2:
        raise UserError(f"{corpus_path}: only {len(heldout)} held-out image(s); {measures} need at least 2")
    return train, heldout


def load_cultures(cultures: list[str], corpora: list, needs: str, measures: str) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(train images, their culture indices, held-out images by culture) of all cultures (``needs``, ``measures``: as :func:`load_splits`)."""
    if len(cultures) != len(corpora):
        raise UserError(f"--cultures lists {len(cultures)} names but --corpora {len(corpora)} files")
    train, labels, heldout = [], [], {}
    for index, (culture, path) in enumerate(zip(cultures, corpora)):
        culture_train, heldout[culture] = load_splits(path, needs=needs, measures=measures)
        train.append(culture_train)
        labels.append(np.full(len(culture_train), index, np.int32))
    shapes = {images.shape[1:] for images in train}
    if len(shapes) > 1:
        raise UserError(f"corpora have images of different shapes {sorted(shapes)}; re-run the corpus stage with one ingest.resolution")
    return np.concatenate(train), np.concatenate(labels), heldout
