"""Stage ``leakage``: images that occur in more than one culture.

An image in two cultures' corpora would let a critic "recognise" the other
culture for the wrong reason, so such images are dropped from both (by the
corpus stage).  Two source images count as the same when they have the same
pixels ("exact": same id) or are near duplicates as within a culture
(``hashing.near_duplicates``: perceptual hashes within
``ingest.near_duplicate_bits`` and thumbnails within
``ingest.near_duplicate_difference``; "near").  Each shared pair gives two rows in
leakage.tsv, one from each side.
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
from ganstyle.io.hashing import as_hash_array, near_duplicates

log = logging.getLogger("ganstyle.stages.leakage")

LEAKAGE_COLUMNS = ["culture", "id", "source", "other_culture", "other_id", "other_source", "kind", "distance"]


def read_manifest(path: str | Path) -> pd.DataFrame:
    """An ingest manifest with every column as text (ids are hex, never numbers)."""
    path = Path(path)
    try:
        manifest = io.read_tsv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise UserError(f"{path}: manifest not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot be read as a manifest: {err}") from None
    missing = [column for column in ("id", "source", "phash", "thumbnail") if column not in manifest.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)} (written by an older ganstyle? re-run its ingest)")
    if "source_id" not in manifest.columns:
        manifest["source_id"] = manifest["id"]
    return manifest


def source_images(manifests: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per (culture, source image): patches of one image collapse to one row."""
    columns = ["source_id", "source", "phash", "thumbnail"]
    frames = [m[columns].drop_duplicates("source_id").assign(culture=c) for c, m in manifests.items()]
    if not frames:
        return pd.DataFrame(columns=["culture", *columns])
    return pd.concat(frames, ignore_index=True)[["culture", *columns]]


def find_leaks(manifests: dict[str, pd.DataFrame], max_bits: int, max_difference: float) -> pd.DataFrame:
    """Rows ``LEAKAGE_COLUMNS`` for every pair of source images from two different cultures
    with the same id (kind exact) or that are near duplicates (kind near; distance in hash bits)."""
    images = source_images(manifests)
    i, j, distance = near_duplicates(as_hash_array(images["phash"]), list(images["thumbnail"]), max_bits, max_difference)
    culture, ids, sources = (images[c].to_numpy() for c in ("culture", "source_id", "source"))
    between = culture[i] != culture[j]
    i, j, distance = i[between], j[between], distance[between]
    kind = np.where(ids[i] == ids[j], "exact", "near")
    rows = []
    for a, b in ((i, j), (j, i)):  # both directions: each culture sees its own rows
        rows.append(pd.DataFrame({
            "culture": culture[a], "id": ids[a], "source": sources[a],
            "other_culture": culture[b], "other_id": ids[b], "other_source": sources[b],
            "kind": kind, "distance": distance,
        }))  # fmt: skip
    leaks = pd.concat(rows, ignore_index=True)[LEAKAGE_COLUMNS]
    return leaks.sort_values(["culture", "id", "other_culture", "other_id"], kind="stable", ignore_index=True)


def describe(leaks: pd.DataFrame) -> str:
    if leaks.empty:
        return "no image occurs in two cultures"
    per_pair = leaks[leaks["culture"] < leaks["other_culture"]].groupby(["culture", "other_culture"]).size()
    pairs = ", ".join(f"{a}/{b} {n}" for (a, b), n in per_pair.items())
    shared = leaks.drop_duplicates(["culture", "id"])
    return f"{len(shared)} images dropped for occurring in two cultures ({pairs})"


def culture_rows(leaks: pd.DataFrame, culture: str) -> pd.DataFrame:
    """The rows of ``leaks`` about one culture's images."""
    return leaks.loc[leaks["culture"] == culture].reset_index(drop=True)


def rows_digest(leaks: pd.DataFrame, culture: str) -> str:
    """16 hex digits that change exactly when the culture's rows change (the workflow names
    the culture's rows file by it, so that only a change re-runs that culture's corpus)."""
    text = culture_rows(leaks, culture).to_csv(sep="\t", index=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def rows_main(argv: list[str] | None, stage: str) -> int:
    parser = argparse.ArgumentParser(prog=f"ganstyle {stage}", description="One culture's rows of leakage.tsv.")
    parser.add_argument("--leakage", required=True, type=Path, help="leakage.tsv of all cultures")
    parser.add_argument("--culture", required=True)
    parser.add_argument("--out", required=True, type=Path, help="TSV to write, same columns")
    args = parser.parse_args(argv)
    if not args.leakage.exists():
        raise UserError(f"{args.leakage}: leakage table not found (run the leakage stage first)")
    leaks = io.read_tsv(args.leakage, dtype=str, keep_default_na=False)
    if "culture" not in leaks.columns:
        raise UserError(f"{args.leakage}: missing column 'culture'")
    io.write_tsv(args.out, culture_rows(leaks, args.culture))
    return 0


def main(argv: list[str] | None = None, stage: str = "leakage") -> int:
    if stage == "leakage-rows":
        return rows_main(argv, stage)
    parser = argparse.ArgumentParser(prog=f"ganstyle {stage}", description="Find images shared between cultures (exact or near duplicates).")
    parser.add_argument("manifests", nargs="+", type=Path, help="results/ingest/<culture>/manifest.tsv of every culture")
    parser.add_argument("--out", required=True, type=Path, help="leakage.tsv to write")
    add_settings_arguments(parser, "ingest")
    args = parser.parse_args(argv)

    settings = section("ingest", args.settings, args.config_path)
    manifests = {}
    for path in args.manifests:
        culture = path.parent.name  # results/ingest/<culture>/manifest.tsv
        if culture in manifests:
            raise UserError(f"{path}: a second manifest for culture '{culture}'")
        manifests[culture] = read_manifest(path)
    leaks = find_leaks(manifests, settings["near_duplicate_bits"], settings["near_duplicate_difference"])
    io.write_tsv(args.out, leaks)
    log.info("leakage across %d cultures: %s", len(manifests), describe(leaks))
    return 0
