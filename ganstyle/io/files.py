"""The files the stages hand each other: their names, and one typed save/load pair for each array file.

Names: each stage's outputs are declared once here (``StageFiles``); the
Snakemake rules (``workflow/rules/*.smk``) and the stages' ``main`` functions
both read them, so a file is renamed in one place.

Array files: the stage that writes one calls ``save_*``, every stage that reads
it calls ``load_*`` (and tests build their fixtures with the same writers).
A loader checks the arrays it needs and names the file and the rule to re-run
when one is missing.  Writes are atomic (:func:`ganstyle.io.write_npz`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ganstyle import io
from ganstyle.errors import UserError

# --------------------------------------------------------------------------- names


@dataclass(frozen=True)
class StageFiles:
    """The files one stage writes into its folder under ``results/``: key -> file (or folder) name."""

    folder: str
    names: Mapping[str, str]

    def __getitem__(self, key: str) -> str:
        return self.names[key]

    def relative(self, key: str, **wildcards) -> str:
        """``<folder>/<name>`` below ``results/`` (``folder`` may hold ``{wildcards}``, e.g. a culture and seed;
        an empty folder: ``results/`` itself)."""
        folder = self.folder.format(**wildcards)
        return f"{folder}/{self.names[key]}" if folder else self.names[key]

    def path(self, results: str | Path, key: str, **wildcards) -> str:
        """``results/<folder>/<name>``."""
        return f"{results}/{self.relative(key, **wildcards)}"


# one per-culture GAN run: results/gan/{culture}/seed{seed}/
GAN_RUN = StageFiles(
    "gan/{culture}/seed{seed}",
    {
        "generator": "generator.keras",
        "discriminator": "discriminator.keras",
        "samples_png": "samples.png",
        "samples": "samples.npz",
        "history": "history.tsv",
        "metrics": "metrics.json",
    },
)
# one joint-critic run: results/joint/seed{seed}/ (and its critic snapshots, ganstyle.stages.joint.critic_file)
JOINT_RUN = StageFiles(
    "joint/seed{seed}",
    {
        "generator": "generator.keras",
        "samples_png": "samples.png",
        "samples": "samples.npz",
        "sanity": "sanity_kid.tsv",
        "history": "history.tsv",
        "metrics": "metrics.json",
    },
)
# one CycleGAN pair: results/transfer/{a}__{b}/
TRANSFER_RUN = StageFiles(
    "transfer/{pair}",
    {
        "generator_ab": "G_ab.keras",
        "generator_ba": "G_ba.keras",
        "grid": "grid.png",
        "examples": "examples.npz",
        "history": "history.tsv",
        "metrics": "metrics.tsv",
    },
)
SIMILARITY = StageFiles(
    "similarity",
    {
        "table": "similarity.tsv",
        "matrices": "matrices",
        "distances": "distances.npz",
        "per_seed": "per_seed.tsv",
        "floors": "floors.tsv",
        "spaces": "spaces.tsv",
        "measures": "measures.tsv",
        "image_features": "image_features.npz",
    },
)
CLUSTERING = StageFiles(
    "clustering",
    {
        "summary": "summary.tsv",
        "linkage": "linkage.tsv",
        "silhouette": "silhouette.tsv",
        "assignments": "assignments.tsv",
        "consensus": "consensus",
        "mds": "mds.tsv",
        "mds_bootstrap": "mds_bootstrap.tsv",
    },
)
STATS = StageFiles(
    "stats",
    {
        "ari_nmi": "ari_nmi.tsv",
        "permanova": "permanova.tsv",
        "permdisp": "permdisp.tsv",
        "mantel": "mantel.tsv",
        "seed_stability": "seed_stability.tsv",
        "group_recovery": "group_recovery.tsv",
        "summary": "summary.tsv",
    },
)
# what the run ran on (stage run-info), in results/ itself
RUN_INFO = StageFiles("", {"json": "run_info.json", "html": "run_info.html"})


def _open(path: str | Path, what: str, rerun: str, needed: set[str]):
    """The arrays of an .npz file, after checking it exists and has ``needed`` (else a UserError naming the file)."""
    if not Path(path).is_file():
        raise UserError(f"{what} not found: {path} (run {rerun})")
    data = np.load(path, allow_pickle=False)
    missing = needed - set(data.files)
    if missing:
        data.close()
        raise UserError(f"{path}: missing array(s) {', '.join(sorted(missing))} (re-run {rerun})")
    return data


# --------------------------------------------------------------------------- features (extract_features -> similarity)


@dataclass
class ReferenceFeatures:
    """``results/features/reference.npz``: the non-GAN reference features of every culture's held-out images."""

    features: np.ndarray  # (N, F)
    culture: np.ndarray  # (N,) culture of each image
    ids: np.ndarray  # (N,) image ids
    extractor: str = ""  # reference extractor version


def save_reference_features(path: str | Path, f: ReferenceFeatures) -> None:
    io.write_npz(path, features=f.features, culture=f.culture, ids=f.ids, extractor=np.asarray(str(f.extractor)))


def load_reference_features(path: str | Path) -> ReferenceFeatures:
    with _open(path, "features", "extract_features", {"features", "culture", "ids"}) as data:
        extractor = str(data["extractor"]) if "extractor" in data.files else ""
        return ReferenceFeatures(data["features"], data["culture"].astype(str), data["ids"].astype(str), extractor)


@dataclass
class CriticSpaceFeatures:
    """``results/features/<space>/seed<seed>.npz``: one critic space of one GAN seed (see :mod:`ganstyle.stages.features`)."""

    space: str
    seed: int
    culture: np.ndarray  # (N,) culture of each image
    ids: np.ndarray  # (N,)
    logit_cultures: np.ndarray  # (K,) the critic (or conditioning culture) of each logit column
    steps: np.ndarray  # (S,) training step of each snapshot
    features: np.ndarray  # (S, N, F) float32
    blocks: np.ndarray  # (B,) widths of the feature blocks side by side in ``features``
    logits: np.ndarray  # (S, N, K) float32
    embeddings: np.ndarray | None = None  # (S, K, E) culture embeddings (joint spaces)


CRITIC_SPACE_ARRAYS = ("culture", "ids", "space", "seed", "logit_cultures", "steps", "features", "blocks", "logits")


def save_critic_space(path: str | Path, f: CriticSpaceFeatures) -> None:
    arrays = {
        "culture": f.culture,
        "ids": f.ids,
        "space": np.asarray(f.space),
        "seed": np.asarray(f.seed),
        "logit_cultures": np.asarray(f.logit_cultures),
        "steps": np.asarray(f.steps),
        "features": f.features,
        "blocks": np.asarray(f.blocks),
        "logits": f.logits,
    }
    if f.embeddings is not None:
        arrays["embeddings"] = f.embeddings
    io.write_npz(path, **arrays)


def load_critic_space(path: str | Path) -> CriticSpaceFeatures:
    with _open(path, "features", "extract_features", set(CRITIC_SPACE_ARRAYS)) as data:
        return CriticSpaceFeatures(
            space=str(data["space"]),
            seed=int(data["seed"]),
            culture=data["culture"].astype(str),
            ids=data["ids"].astype(str),
            logit_cultures=data["logit_cultures"].astype(str),
            steps=data["steps"].astype(int),
            features=data["features"],
            blocks=data["blocks"].astype(int),
            logits=data["logits"],
            embeddings=data["embeddings"] if "embeddings" in data.files else None,
        )


# --------------------------------------------------------------------------- distances (similarity -> clustering, stats, figures)


@dataclass
class Distances:
    """``results/similarity/distances.npz``: every distance measure's matrix and its bootstrap replicates."""

    cultures: list[str]
    values: dict[str, np.ndarray]  # measure -> (K, K), in table order
    replicates: dict[str, np.ndarray | None] = field(default_factory=dict)  # measure -> (B, K, K) or None
    ward: dict[str, bool] = field(default_factory=dict)  # measure -> Ward linkage is valid on it


def save_distances(path: str | Path, d: Distances) -> None:
    names = list(d.values)
    arrays = {"cultures": np.asarray(d.cultures), "measures": np.asarray(names), "ward_ok": np.asarray([bool(d.ward.get(n, False)) for n in names])}
    for name in names:
        arrays[name] = d.values[name]
        if d.replicates.get(name) is not None:
            arrays[f"{name}__boot"] = d.replicates[name]
    io.write_npz(path, **arrays)


def load_distances(path: str | Path) -> Distances:
    with _open(path, "distances", "similarity", {"cultures", "measures", "ward_ok"}) as data:
        names = [str(m) for m in data["measures"]]
        missing = [n for n in names if n not in data.files]
        if missing:
            raise UserError(f"{path}: missing matrices {', '.join(missing)} (re-run similarity)")
        return Distances(
            cultures=[str(c) for c in data["cultures"]],
            values={n: data[n] for n in names},
            replicates={n: data[f"{n}__boot"] if f"{n}__boot" in data.files else None for n in names},
            ward=dict(zip(names, (bool(w) for w in data["ward_ok"]))),
        )


# --------------------------------------------------------------------------- image-level features (similarity -> stats)


@dataclass
class ImageFeatures:
    """``results/similarity/image_features.npz``: each space's embedded held-out images (for PERMANOVA)."""

    culture: np.ndarray  # (N,)
    ids: np.ndarray  # (N,)
    spaces: dict[str, np.ndarray]  # space (with _seed<seed> for critic spaces) -> (N, d)


def save_image_features(path: str | Path, f: ImageFeatures) -> None:
    io.write_npz(path, culture=f.culture, ids=f.ids, **f.spaces)


def load_image_features(path: str | Path) -> ImageFeatures:
    with _open(path, "image features", "similarity", {"culture", "ids"}) as data:
        spaces = {name: data[name] for name in data.files if name not in ("culture", "ids")}
        return ImageFeatures(data["culture"].astype(str), data["ids"].astype(str), spaces)


# --------------------------------------------------------------------------- GAN samples (train_gan, train_joint -> gan_sanity, figures)


@dataclass
class Samples:
    """``samples.npz`` of a GAN run: generated uint8 images from fixed noise."""

    images: np.ndarray  # (N, H, W, C) uint8
    noise: np.ndarray  # (N, latent) the noise they came from
    culture: np.ndarray | None = None  # (N,) conditioning culture (joint critic only)


def save_samples(path: str | Path, s: Samples) -> None:
    extra = {} if s.culture is None else {"culture": s.culture}
    io.write_npz(path, images=s.images, **extra, noise=s.noise)


def load_samples(path: str | Path) -> Samples:
    with _open(path, "samples", "train_gan", {"images", "noise"}) as data:
        return Samples(data["images"], data["noise"], data["culture"].astype(str) if "culture" in data.files else None)


# --------------------------------------------------------------------------- transfer examples (train_transfer -> figures)

TRANSFER_EXAMPLE_ARRAYS = ("source_a", "a_to_b", "source_b", "b_to_a")


@dataclass
class TransferExamples:
    """``examples.npz`` of a CycleGAN pair: held-out images of both cultures and their translations (uint8)."""

    source_a: np.ndarray
    a_to_b: np.ndarray
    source_b: np.ndarray
    b_to_a: np.ndarray

    def __getitem__(self, key: str) -> np.ndarray:
        return getattr(self, key)


def save_transfer_examples(path: str | Path, e: TransferExamples) -> None:
    io.write_npz(path, **{key: e[key] for key in TRANSFER_EXAMPLE_ARRAYS})


def load_transfer_examples(path: str | Path) -> TransferExamples:
    with _open(path, "transfer examples", "train_transfer", set(TRANSFER_EXAMPLE_ARRAYS)) as data:
        return TransferExamples(*(data[key] for key in TRANSFER_EXAMPLE_ARRAYS))
