"""Stage ``ingest``: one culture's image files -> clean, fixed-size, de-duplicated images.

Every file under the culture's folder (recursively, links to folders not
followed) or listed for it in the metadata table is read, decoded and
normalised (``ganstyle.io.images``); files that cannot be used go to
rejects.tsv with a reason, and the stage goes on.  A training image that is
nearly one flat value (a blank scan, or a centre crop that landed on empty
background) is dropped as ``low_information`` (``ingest.min_std``).  Exact
duplicates (same pixels) and near duplicates (perceptual hashes within
``ingest.near_duplicate_bits`` and thumbnails within
``ingest.near_duplicate_difference``) are kept once: the largest image, then the
smallest id, then the first path in byte order - never the order in which the
file system lists them.

Outputs in --out: images.npz (``images`` uint8 NHWC, ``ids``), manifest.tsv
(one row per kept image) and rejects.tsv (``source, reason, detail``).

Stage ``metadata-report`` (with a museum-export table, config key ``metadata``):
every row of the table used for a culture or dropped with a reason
(``ganstyle.config.metadata``), as metadata_report.tsv, and the study's registry.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import hashlib
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from ganstyle import io
from ganstyle.config import REPO_ROOT, add_settings_arguments, load_config, section
from ganstyle.config.metadata import summary as report_summary
from ganstyle.config.registry import REGISTRY_COLUMNS, CultureSource, Study, load_study
from ganstyle.errors import UserError
from ganstyle.io.hashing import content_hash, near_duplicates, perceptual_hash, phash_hex, pixel_hash, thumbnail, thumbnail_difference, thumbnail_hex
from ganstyle.io.images import Rejected, decode_image, normalise, read_source

log = logging.getLogger("ganstyle.stages.ingest")

MANIFEST_COLUMNS = [
    "id", "source", "sha256", "phash", "thumbnail", "width", "height", "mode", "frames",
    "format", "orientation", "icc", "source_id", "patch",
]  # fmt: skip
REJECT_COLUMNS = ["source", "reason", "detail"]


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One decoded source image, before de-duplication."""

    source: str  # readable path, for tables
    path_key: bytes  # the path's bytes: last tie-break between identical images
    source_id: str  # pixel hash of the upright, converted source image
    sha256: str  # hash of the file's bytes
    phash: int
    thumbnail: np.ndarray  # 8 x 8 grey, the pixel-level check of near duplicates
    width: int
    height: int
    mode: str
    format: str
    frames: int
    orientation: int
    icc: str
    images: np.ndarray  # (K, R, R, C) training images made from it
    patches: tuple[int, ...] = (0,)  # index of each training image among the patches cut (flat ones are dropped)


def display_path(path: str | os.PathLike) -> str:
    """A path as readable text: relative to the repository when inside it; bytes that
    are not UTF-8 as \\xNN; control characters (tabs, newlines) escaped the same way."""
    path = os.path.abspath(path)
    root = str(REPO_ROOT)
    if os.path.commonpath([path, root]) == root:
        path = os.path.relpath(path, root)
    text = os.fsencode(path).decode("utf-8", errors="backslashreplace")
    return "".join(f"\\x{ord(c):02x}" if ord(c) < 32 or 127 <= ord(c) < 160 or c in "\u2028\u2029" else c for c in text)


def list_files(source: CultureSource) -> tuple[list[Path], list[dict]]:
    """The culture's candidate files in byte order of their paths, and folders that could not be listed."""
    problems = []
    if source.files is not None:
        files = set(source.files)
    else:
        files = set()

        def unlisted(err: OSError):
            problems.append({"source": display_path(err.filename), "reason": "unreadable", "detail": f"folder cannot be listed: {err.strerror}"})

        for folder, subfolders, names in os.walk(source.root, onerror=unlisted):
            files.update(Path(folder, name) for name in names)
            # links to folders are not walked into, but are checked (and reported) like files
            files.update(Path(folder, name) for name in subfolders if os.path.islink(os.path.join(folder, name)))
    return sorted(files, key=os.fsencode), problems


def patch_id(source_id: str, patch: int) -> str:
    return hashlib.sha256(f"{source_id}:patch{patch}".encode()).hexdigest()[:16]


def effective_min_side(settings: dict) -> int:
    # random patches are cut at native scale, so the image must hold one
    return max(settings["min_side"], settings["resolution"]) if settings["resize"] == "patches" else settings["min_side"]


def pixel_spread(images: np.ndarray) -> np.ndarray:
    """Per image of (K, H, W, C): the largest per-channel standard deviation, in grey levels."""
    return images.reshape(len(images), -1, images.shape[-1]).std(axis=1).max(axis=1)


def informative(images: np.ndarray, source: np.ndarray, settings: dict) -> np.ndarray:
    """Indices of the training images that are not nearly one flat value; raises Rejected if none is."""
    spread = pixel_spread(images)
    keep = np.flatnonzero(spread >= settings["min_std"])
    if len(keep) == 0:
        limit, whole = settings["min_std"], float(pixel_spread(source[None])[0])
        if whole < limit:
            detail = f"the image is nearly one flat value: pixel std {whole:.2f} < {limit} (ingest.min_std)"
        else:
            what = "every patch" if len(images) > 1 else f"the {settings['resize']} result"
            detail = f"{what} has pixel std {spread.max():.2f} < {limit} (ingest.min_std), the whole image {whole:.1f}"
            if settings["resize"] == "crop":
                detail += ": the centre square missed the content (try ingest.resize: pad)"
        raise Rejected("low_information", detail)
    return keep


def load_candidate(path: Path, root: Path, settings: dict, decoded_files: dict | None = None) -> Candidate:
    """Read, decode and normalise one file; raises Rejected.

    ``decoded_files`` (sha256 -> Candidate) saves decoding a byte-identical file twice.
    """
    data = read_source(path, root)
    sha256 = content_hash(data)
    if decoded_files is not None and sha256 in decoded_files:
        return dataclasses.replace(decoded_files[sha256], source=display_path(path), path_key=os.fsencode(path))
    decoded = decode_image(
        data,
        channels=settings["channels"],
        background=settings["background"],
        max_pixels=settings["max_pixels"],
        min_side=effective_min_side(settings),
    )
    source_id = pixel_hash(decoded.pixels)
    # patches: one generator per image, seeded by its id, so that adding or
    # removing other images never moves this image's patches
    rng = np.random.default_rng([settings["seed"], int(source_id, 16)])
    images = normalise(decoded.pixels, settings["resolution"], settings["resize"], settings["background"], settings["patches_per_image"], rng)
    keep = informative(images, decoded.pixels, settings)
    return Candidate(
        source=display_path(path),
        path_key=os.fsencode(path),
        source_id=source_id,
        sha256=sha256,
        phash=perceptual_hash(decoded.pixels),
        thumbnail=thumbnail(decoded.pixels),
        width=decoded.width,
        height=decoded.height,
        mode=decoded.mode,
        format=decoded.format,
        frames=decoded.frames,
        orientation=decoded.orientation,
        icc=decoded.icc,
        images=images[keep],
        patches=tuple(int(k) for k in keep),
    )


def deduplicate(candidates: list[Candidate], max_bits: int, max_difference: float) -> tuple[list[int], list[tuple[int, str, str]]]:
    """Keep each image once: indices kept, and (index, reason, detail) of the others.

    Candidates are visited from the most to the least preferred (largest pixel
    count, then smallest id, then path bytes); one is dropped if it has the id
    of a kept one (duplicate) or its perceptual hash is within ``max_bits`` of
    a kept one's and its thumbnail within ``max_difference`` grey levels
    (near_duplicate; the closest is named).  The result does not
    depend on the order of ``candidates``.
    """
    order = sorted(range(len(candidates)), key=lambda k: (-candidates[k].width * candidates[k].height, candidates[k].source_id, candidates[k].path_key))
    rank = {k: position for position, k in enumerate(order)}
    neighbours = collections.defaultdict(list)
    for i, j, d in zip(*near_duplicates([c.phash for c in candidates], [c.thumbnail for c in candidates], max_bits, max_difference)):
        neighbours[int(i)].append((int(d), int(j)))
        neighbours[int(j)].append((int(d), int(i)))
    kept, dropped, kept_by_id, is_kept = [], [], {}, set()
    for k in order:
        candidate = candidates[k]
        twin = kept_by_id.get(candidate.source_id)
        if twin is not None:
            same = "identical file" if candidates[twin].sha256 == candidate.sha256 else "same pixels"
            dropped.append((k, "duplicate", f"{same} as {candidates[twin].source}"))
            continue
        close = [(d, rank[other], other) for d, other in neighbours[k] if other in is_kept]
        if close:
            d, _, other = min(close)
            difference = float(thumbnail_difference(candidate.thumbnail, candidates[other].thumbnail))
            dropped.append((k, "near_duplicate", f"perceptual hash {d} bit(s) and {difference:.1f} grey levels from {candidates[other].source}"))
            continue
        kept.append(k)
        is_kept.add(k)
        kept_by_id[candidate.source_id] = k
    return kept, dropped


def ingest_culture(source: CultureSource, settings: dict, progress: bool = True) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """All of one culture's files -> (images (N, R, R, C) uint8, manifest, rejects)."""
    files, rejects = list_files(source)
    candidates, decoded_files = [], {}
    for path in tqdm(files, desc=f"ingest {source.culture}", unit="file", disable=not progress, file=sys.stderr, mininterval=2.0):
        try:
            candidate = load_candidate(path, source.root, settings, decoded_files)
        except Rejected as rejected:
            rejects.append({"source": display_path(path), "reason": rejected.reason, "detail": rejected.detail})
            continue
        except Exception as err:  # one strange file must not stop the culture
            log.exception("unexpected error on %s", display_path(path))
            rejects.append({"source": display_path(path), "reason": "corrupt", "detail": f"{type(err).__name__}: {err}"})
            continue
        candidates.append(candidate)
        decoded_files[candidate.sha256] = candidate

    kept, dropped = deduplicate(candidates, settings["near_duplicate_bits"], settings["near_duplicate_difference"])
    rejects += [{"source": candidates[k].source, "reason": reason, "detail": detail} for k, reason, detail in dropped]

    kept = sorted(kept, key=lambda k: candidates[k].source_id)  # a stable order that ignores file names
    rows, images = [], []
    for k in kept:
        candidate = candidates[k]
        fields = {name: getattr(candidate, name) for name in MANIFEST_COLUMNS if hasattr(candidate, name)}
        fields["phash"], fields["thumbnail"] = phash_hex(candidate.phash), thumbnail_hex(candidate.thumbnail)
        for patch, image in zip(candidate.patches, candidate.images, strict=True):
            image_id = candidate.source_id if settings["resize"] != "patches" else patch_id(candidate.source_id, patch)
            rows.append({**fields, "id": image_id, "patch": patch})
            images.append(image)
    resolution, channels = settings["resolution"], settings["channels"]
    stacked = np.stack(images) if images else np.zeros((0, resolution, resolution, channels), dtype=np.uint8)
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    rejects = pd.DataFrame(rejects, columns=REJECT_COLUMNS).sort_values(["source", "reason"], kind="stable", ignore_index=True)
    return stacked, manifest, rejects


def summary(culture: str, manifest: pd.DataFrame, rejects: pd.DataFrame) -> str:
    """One line: kept images and rejected files by reason."""
    by_reason = rejects["reason"].value_counts().sort_index()
    reasons = ", ".join(f"{reason} {count}" for reason, count in by_reason.items()) or "none"
    sources = manifest["source_id"].nunique()
    kept = f"{sources} images kept" + (f" ({len(manifest)} patches)" if len(manifest) != sources else "")
    return f"{culture}: {kept}, {len(rejects)} rejected ({reasons})"


def _check_output_folder(out: Path, source: CultureSource) -> None:
    out = out.resolve()
    inputs = [(REPO_ROOT / "data", "the data/ folder")]
    if source.folder:
        inputs.append((source.root, f"culture '{source.culture}''s image folder"))
    # a table's images may sit beside results/ under the table's folder: only their own folders are inputs
    inputs += [(folder, f"a folder of culture '{source.culture}''s images") for folder in sorted({path.parent for path in source.files or ()})]
    for protected, what in inputs:
        protected = protected.resolve()
        if out == protected or protected in out.parents:
            raise UserError(f"--out {out}: is inside {what}; inputs are never written")


def _parse_metadata(text: str | None) -> dict | None:
    if not text:
        return None
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"--metadata is not valid JSON: {err}") from None
    if metadata is not None and not (isinstance(metadata, dict) and "path" in metadata):
        raise UserError("--metadata: expected null or an object with at least 'path' (config key metadata)")
    return metadata


def _study_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cultures", help="culture registry TSV, or null for none (default: config key cultures)")
    parser.add_argument("--metadata", help="the config's metadata section as JSON, or null (default: config key metadata)")
    add_settings_arguments(parser, "ingest")


def _study(args: argparse.Namespace) -> tuple[dict, Study]:
    """The ingest settings and the study the arguments name (ingest.min_images leaves out small table cultures)."""
    settings = section("ingest", args.settings, args.config_path)
    config = load_config(args.config_path) if args.cultures is None or args.metadata is None else {}
    cultures = args.cultures if args.cultures is not None else config["cultures"]
    metadata = _parse_metadata(args.metadata) if args.metadata is not None else config["metadata"]
    return settings, load_study(None if cultures in (None, "", "null") else cultures, metadata, settings["min_images"])


def main(argv: list[str] | None = None, stage: str = "ingest") -> int:
    if stage == "metadata-report":
        return report_main(argv, stage)
    parser = argparse.ArgumentParser(prog=f"ganstyle {stage}", description="Decode, clean, de-duplicate and hash one culture's images.")
    parser.add_argument("--culture", required=True, help="culture id, as in the registry")
    parser.add_argument("--out", required=True, type=Path, help="output folder (images.npz, manifest.tsv, rejects.tsv)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    _study_arguments(parser)
    args = parser.parse_args(argv)

    settings, study = _study(args)
    source = study.source(args.culture)
    _check_output_folder(args.out, source)

    started = time.perf_counter()
    images, manifest, rejects = ingest_culture(source, settings, progress=not args.no_progress)
    io.write_npz(args.out / "images.npz", images=images, ids=manifest["id"].to_numpy(dtype=str))
    io.write_tsv(args.out / "manifest.tsv", manifest)
    io.write_tsv(args.out / "rejects.tsv", rejects)
    log.info("ingest %s in %.1f s", summary(args.culture, manifest, rejects), time.perf_counter() - started)
    return 0


def report_main(argv: list[str] | None = None, stage: str = "metadata-report") -> int:
    """What the metadata table gave, and the registry of the study it makes."""
    parser = argparse.ArgumentParser(
        prog=f"ganstyle {stage}",
        description="Rows of the metadata table read, used per culture and dropped per reason; the study's registry.",
    )
    parser.add_argument("--out-report", required=True, type=Path, help="metadata_report.tsv to write")
    parser.add_argument("--out-registry", required=True, type=Path, help="the study's registry (cultures.tsv) to write")
    _study_arguments(parser)
    args = parser.parse_args(argv)

    _, study = _study(args)
    if study.selection is None:
        raise UserError("--metadata: no metadata table is configured (config key metadata), so there is nothing to report")
    report = study.metadata_report
    io.write_tsv(args.out_report, report)
    io.write_tsv(args.out_registry, study.registry[REGISTRY_COLUMNS])
    log.info("metadata %s: %s", study.selection.header.path, report_summary(report))
    return 0
