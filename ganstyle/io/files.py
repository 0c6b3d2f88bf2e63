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
import pandas as pd

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


# what a museum-export table gave (rule metadata_report): results/ingest/; the registry is the study's
# cultures with their labels, groups and coordinates, which later stages read instead of config key cultures
METADATA = StageFiles("ingest", {"report": "metadata_report.tsv", "registry": "cultures.tsv"})
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
# one translator (of one joint-GAN seed): results/transfer/seed{seed}/
TRANSLATOR_RUN = StageFiles(
    "transfer/seed{seed}",
    {
        "encoder": "encoder.keras",
        "translations": "translations.npz",
        "history": "history.tsv",
        "metrics": "metrics.tsv",
    },
)
# the judge: a culture classifier of real images (results/judge/); judge-score writes <kind>.tsv beside
JUDGE = StageFiles(
    "judge",
    {
        "model": "judge.keras",
        "real": "real.tsv",
        "confusion": "confusion.tsv",
        "history": "history.tsv",
        "metrics": "metrics.json",
        "gan_samples": "gan_samples.tsv",
        "joint_samples": "joint_samples.tsv",
        "translations": "translations.tsv",
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
# the images behind the numbers: each held-out image's typicality under every critic (typicality -> map, figures)
IMAGES = StageFiles("images", {"typicality": "typicality.tsv", "interpolations": "interpolations.npz", "interpolations_table": "interpolations.tsv"})
# the interactive image map: one folder that opens from file:// (index.html, its scripts, embedded atlases)
MAP = StageFiles("map", {"index": "index.html"})
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
# the methods text written from the config, the measure registry and run_info (stage methods), in results/ itself
METHODS = StageFiles("", {"markdown": "methods.md"})


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


# --------------------------------------------------------------------------- typicality (typicality -> map, figures)

# one row per held-out image and critic: ``score`` is the critic's logit for its culture (joint critic:
# the logit conditioned on ``critic``; critic panel: ``critic``'s own critic), averaged over snapshots,
# then seeds; ``score_sd`` its standard deviation over seeds; ``rank`` 1 = the image of ``culture``
# that ``critic`` scores highest, of ``n_images``; ``contrast`` = ``score`` minus the image's score
# under its own culture's critic (how much more ``critic``-like than like its own culture)
TYPICALITY_COLUMNS = ("space", "critic", "culture", "id", "source", "score", "score_sd", "rank", "n_images", "contrast")
_TYPICALITY_TEXT = ("space", "critic", "culture", "id", "source")


def save_typicality(path: str | Path, table: pd.DataFrame) -> None:
    io.write_tsv(path, table[list(TYPICALITY_COLUMNS)])


def load_typicality(path: str | Path) -> pd.DataFrame:
    """The typicality table; ids, names and cultures stay text (an id of digits is not a number, a file named NA is not missing)."""
    if not Path(path).is_file():
        raise UserError(f"typicality table not found: {path} (run typicality)")
    table = io.read_tsv(
        path, dtype=dict.fromkeys(_TYPICALITY_TEXT, str), keep_default_na=False, na_values=dict.fromkeys(("score", "score_sd", "contrast"), ["", "nan"])
    )
    missing = [c for c in TYPICALITY_COLUMNS if c not in table.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)} (re-run typicality)")
    return table


def seed_rows(files: list[CriticSpaceFeatures], paths: list[str]) -> list[np.ndarray]:
    """For each seed's file of one space, the rows that put its images in the first file's order;
    UserError naming the file when a seed holds other images or other critics."""
    first = files[0]
    order = {image: k for k, image in enumerate(first.ids)}
    rows = []
    for f, path in zip(files, paths):
        if len(f.ids) != len(first.ids) or set(f.ids) != set(order):
            raise UserError(f"{path}: holds other images than {paths[0]} (re-run extract_features)")
        if list(f.logit_cultures) != list(first.logit_cultures):
            raise UserError(f"{path}: critics {', '.join(f.logit_cultures)} differ from {paths[0]} ({', '.join(first.logit_cultures)})")
        rows.append(np.argsort([order[image] for image in f.ids], kind="stable"))
    return rows


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


# --------------------------------------------------------------------------- translations (train_translator -> judge, figures)


@dataclass
class Translations:
    """``translations.npz``: held-out images of every culture, each translated into every culture.

    ``translated[k, i]`` is source image ``i`` made to look like culture ``k`` (for its own culture:
    its reconstruction); ``cycle_error[k, i]`` the mean absolute grey-level difference between
    image ``i`` and its round trip through culture ``k`` and back.
    """

    cultures: np.ndarray  # (K,) culture names, the index of translated's first axis
    sources: np.ndarray  # (N, H, W, C) uint8 held-out images
    source_culture: np.ndarray  # (N,) int index into cultures
    source_ids: np.ndarray  # (N,) image ids
    translated: np.ndarray  # (K, N, H, W, C) uint8
    cycle_error: np.ndarray  # (K, N) float32, grey levels


TRANSLATION_ARRAYS = ("cultures", "sources", "source_culture", "source_ids", "translated", "cycle_error")


@dataclass
class Interpolations:
    """``interpolations.npz``: the joint generator's images along culture a -> b, for the pairs of the bridges figure.

    ``images[p, d, s]`` is pair ``p``'s noise draw ``d`` at step ``s`` (culture weights ``(1 - t) a + t b``).
    """

    images: np.ndarray  # (P, draws, steps, H, W, C) uint8
    a: np.ndarray  # (P,) culture ids
    b: np.ndarray  # (P,) culture ids


INTERPOLATION_ARRAYS = ("images", "a", "b")


def save_interpolations(path: str | Path, record: Interpolations) -> None:
    io.write_npz(path, **{key: getattr(record, key) for key in INTERPOLATION_ARRAYS})


def load_interpolations(path: str | Path) -> Interpolations:
    with _open(path, "interpolations", "interpolate", set(INTERPOLATION_ARRAYS)) as data:
        return Interpolations(data["images"], data["a"].astype(str), data["b"].astype(str))


def save_translations(path: str | Path, t: Translations) -> None:
    io.write_npz(path, **{key: getattr(t, key) for key in TRANSLATION_ARRAYS})


def load_translations(path: str | Path) -> Translations:
    with _open(path, "translations", "train_translator", set(TRANSLATION_ARRAYS)) as data:
        arrays = {key: data[key] for key in TRANSLATION_ARRAYS}
    arrays["cultures"] = arrays["cultures"].astype(str)
    arrays["source_ids"] = arrays["source_ids"].astype(str)
    return Translations(**arrays)
