"""Stage ``similarity``: culture x culture matrices with bootstrap intervals and noise floors.

Spaces (``SPACES``; files of the features stage)
    ``reference``: the non-GAN reference features (the baseline).
    ``critic``: the per-culture critics' features side by side (the *critic
    panel*), their logits.  ``joint``: the joint critic's shared features, its
    logits conditioned on each culture, its culture embeddings.  The controls
    ``critic_untrained`` and ``joint_untrained``: the same networks before
    training, through the same measures.  Features of a space go through the
    same steps everywhere: every column standardised over the pooled images,
    blocks side by side, PCA to ``n_components`` dimensions, scaled to mean
    component variance 1.

Measures (declared once, with their compute functions, in :mod:`ganstyle.metrics.measures`; ``<metric>_<space>``)
    from features: Fréchet distance (on the first ``n_min // 4`` components, so
    that every culture has at least four times as many images as dimensions),
    KID, a cross-validated (crossnobis) distance of culture means in units of
    the within-culture spread, a cross-validated linear probe's confusion;
    for the critic panel also the median over critics of the KID and the
    crossnobis distance in each critic's own space; from logits: critic
    separability (AUC of a culture's logit on its own images vs another's);
    for the joint critic also the cosine distance of culture embeddings and
    the cross-conditional score (how much less real a's images look
    conditioned on b than on a, both directions averaged).

Seeds and snapshots
    Critic spaces are computed per GAN seed and per exported snapshot;
    matrices are averaged over the snapshots of a seed, then over seeds.
    ``per_seed.tsv`` keeps each seed's matrices (for seed-to-seed stability).

Uncertainty
    One bootstrap serves every measure: replicate ``r`` resamples each culture's
    held-out images with replacement, the same resample in every space and seed,
    and recomputes whole matrices.  Percentile intervals come from these
    replicates, and the replicate matrices go on to the clustering stage
    (co-clustering, node support, MDS spread).  The split-half floor of a
    culture is the distance between two random disjoint halves of its images.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ganstyle import io
from ganstyle.config import add_settings_arguments, section
from ganstyle.errors import UserError
from ganstyle.io import files
from ganstyle.metrics.measures import MEASURES, PRIMARY_KEY, SPACES, Estimate, Measure, SpaceData, primary_measure, space_estimates, transfer_measure
from ganstyle.metrics.resampling import bootstrap_resamples, centre_replicates, culture_groups, percentile_interval
from ganstyle.stages.features import CRITIC_SPACES

log = logging.getLogger(__name__)

assert set(CRITIC_SPACES) == set(SPACES) - {"reference"}

LONG_COLUMNS = ["culture_a", "culture_b", "measure", "value", "ci_low", "ci_high", "n_a", "n_b"]


def mean_estimates(estimates: Sequence[dict[str, Estimate]]) -> dict[str, Estimate]:
    """Averaged estimates (over snapshots or seeds); replicate r of each used the same image resample, so they average too."""
    averaged = {}
    for name in estimates[0]:
        values = np.mean([s[name].value for s in estimates], axis=0)
        reps = [s[name].replicates for s in estimates]
        averaged[name] = Estimate(values, None if reps[0] is None else np.mean(reps, axis=0))
    return averaged


# --------------------------------------------------------------------------- transfer distances


def transfer_estimates(
    table: pd.DataFrame, cultures: Sequence[str], source: str
) -> tuple[dict[str, Estimate], dict[str, tuple[np.ndarray, np.ndarray]], dict[str, Measure]]:
    """Directed and symmetrised matrices of each transfer measure.

    Returns (point estimates, (ci_low, ci_high) matrices, measure descriptions),
    each by measure name.  A symmetrised measure is a distance only if it covers
    every pair and is non-negative.  Rows naming unknown cultures are ignored
    with a warning.
    """
    missing = {"source", "target", "measure", "value", "ci_low", "ci_high"} - set(table.columns)
    if missing:
        raise UserError(f"{source}: missing column(s) {', '.join(sorted(missing))}")
    index = {c: i for i, c in enumerate(cultures)}
    unknown = sorted((set(table["source"]) | set(table["target"])) - set(index))
    if unknown:
        log.warning("%s: ignoring rows of cultures not in the registry: %s", source, ", ".join(unknown))
    table = table[table["source"].isin(index) & table["target"].isin(index) & (table["source"] != table["target"])]
    k = len(cultures)
    estimates, intervals, measures = {}, {}, {}
    for name, rows in table.groupby("measure", sort=True):
        given = np.full((3, k, k), np.nan)  # value, low, high
        for row in rows.itertuples():
            given[:, index[row.source], index[row.target]] = (row.value, row.ci_low, row.ci_high)
        for i in range(3):
            np.fill_diagonal(given[i], np.nan)
        directed, symmetric = transfer_measure(name, False), transfer_measure(name, True)
        directed_name, sym_name = directed.name, symmetric.name
        measures[directed_name] = directed
        estimates[directed_name] = Estimate(given[0])
        intervals[directed_name] = (given[1], given[2])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # pairs with no direction stay NaN
            sym = np.nanmean(np.stack([given[0], given[0].T]), axis=0)
            low = np.fmin(given[1], given[1].T)
            high = np.fmax(given[2], given[2].T)
        off_diagonal = ~np.eye(k, dtype=bool)
        measures[sym_name] = Measure(sym_name, symmetric.description, distance=False)
        if np.isfinite(sym[off_diagonal]).all():
            if (sym[off_diagonal] < 0).any():
                log.warning("%s: measure '%s' has negative values; not used as a distance", source, name)
            else:
                measures[sym_name] = symmetric
        else:
            log.warning("%s: measure '%s' misses %d culture pair(s); not used as a distance", source, name, int((~np.isfinite(sym[off_diagonal])).sum()) // 2)
        np.fill_diagonal(sym, 0.0)
        np.fill_diagonal(low, 0.0)
        np.fill_diagonal(high, 0.0)
        estimates[sym_name] = Estimate(sym)
        intervals[sym_name] = (low, high)
    return estimates, intervals, measures


# --------------------------------------------------------------------------- tables


def long_rows(name: str, cultures: Sequence[str], sizes: Sequence[float], value: np.ndarray, low: np.ndarray, high: np.ndarray) -> pd.DataFrame:
    """Tidy rows of one (K, K) measure: every ordered pair, diagonal included."""
    k = len(cultures)
    a, b = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    return pd.DataFrame(
        {
            "culture_a": np.asarray(cultures)[a.ravel()],
            "culture_b": np.asarray(cultures)[b.ravel()],
            "measure": name,
            "value": value.ravel(),
            "ci_low": low.ravel(),
            "ci_high": high.ravel(),
            "n_a": np.asarray(sizes, dtype=float)[a.ravel()],
            "n_b": np.asarray(sizes, dtype=float)[b.ravel()],
        }
    )


def square_frame(matrix: np.ndarray, cultures: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame(matrix, index=list(cultures), columns=list(cultures))
    frame.index.name = "culture"
    return frame


# --------------------------------------------------------------------------- I/O


@dataclass
class FeatureFile:
    path: str
    space: str
    seed: int
    culture: np.ndarray
    ids: np.ndarray
    snapshots: list[SpaceData]
    steps: list[int]


def read_reference(path: str) -> FeatureFile:
    f = files.load_reference_features(path)
    return FeatureFile(path, "reference", -1, f.culture, f.ids, [SpaceData([f.features.astype(np.float64)])], [0])


def read_critic_space(path: str, cultures: Sequence[str]) -> FeatureFile:
    """A critic-space file of the features stage, logit columns put in the order of ``cultures``."""
    f = files.load_critic_space(path)
    if f.space not in SPACES or SPACES[f.space].critics is None:
        raise UserError(f"{path}: unknown critic space '{f.space}' (expected one of {', '.join(CRITIC_SPACES)})")
    columns = list(f.logit_cultures)
    missing = [c for c in cultures if c not in columns]
    if missing:
        raise UserError(f"{path}: no critic (logit) for culture(s) {', '.join(missing)}")
    if SPACES[f.space].critics == "joint" and f.embeddings is None:
        raise UserError(f"{path}: a joint critic's file needs 'embeddings' (re-run extract_features)")
    order = [columns.index(c) for c in cultures]
    edges = np.cumsum([0, *f.blocks])
    snapshots = []
    for s in range(f.features.shape[0]):
        features = f.features[s].astype(np.float64)
        embeddings = f.embeddings[s][order].astype(np.float64) if f.embeddings is not None else None
        snapshots.append(SpaceData([features[:, a:b] for a, b in itertools.pairwise(edges)], f.logits[s][:, order].astype(np.float64), embeddings))
    return FeatureFile(path, f.space, f.seed, f.culture, f.ids, snapshots, [int(step) for step in f.steps])


def check_same_images(feature_files: Sequence[FeatureFile], cultures: Sequence[str]) -> None:
    """Every feature file must describe the same held-out images in the same order."""
    first = feature_files[0]
    unknown = sorted(set(first.culture) - set(cultures))
    if unknown:
        raise UserError(f"{first.path}: cultures not in --cultures: {', '.join(unknown)}")
    absent = [c for c in cultures if c not in set(first.culture)]
    if absent:
        raise UserError(f"{first.path}: no images of culture(s) {', '.join(absent)} (re-run extract_features)")
    for other in feature_files[1:]:
        if not (np.array_equal(other.culture, first.culture) and np.array_equal(other.ids, first.ids)):
            raise UserError(f"{other.path} and {first.path} hold different held-out images (re-run extract_features)")


def by_space_and_seed(feature_files: Sequence[FeatureFile]) -> dict[str, dict[int, FeatureFile]]:
    """Critic-space files by space and seed; every space must have the same seeds."""
    spaces: dict[str, dict[int, FeatureFile]] = {}
    for f in feature_files:
        if f.seed in spaces.setdefault(f.space, {}):
            raise UserError(f"{f.path}: a second file of space '{f.space}' seed {f.seed}")
        spaces[f.space][f.seed] = f
    if "critic" not in spaces:
        raise UserError("no features of the per-culture critics (space 'critic') among --critic-features")
    seeds = sorted(spaces["critic"])
    for space, files_by_seed in spaces.items():
        if sorted(files_by_seed) != seeds:
            raise UserError(f"space '{space}' has seeds {sorted(files_by_seed)}, the critics have {seeds}")
    return {space: dict(sorted(spaces[space].items())) for space in SPACES if space in spaces}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ganstyle similarity", description=__doc__.splitlines()[0])
    parser.add_argument("--cultures", nargs="+", required=True, help="culture names in matrix order")
    parser.add_argument("--critic-features", nargs="+", required=True, help="results/features/<space>/seed<seed>.npz files")
    parser.add_argument("--reference", required=True, help="results/features/reference.npz")
    parser.add_argument("--transfer", nargs="*", default=[], help="results/transfer/transfer_distances.tsv (optional)")
    parser.add_argument("--out", required=True, help="output folder (results/similarity)")
    add_settings_arguments(parser, "similarity")
    return parser


@dataclass
class Analysis:
    """Everything the stage computes, before writing."""

    estimates: dict[str, Estimate]  # seed-averaged where per seed
    per_seed: dict[int, dict[str, Estimate]]
    floors: pd.DataFrame
    spaces: pd.DataFrame
    embeddings: dict[str, np.ndarray]
    culture: np.ndarray  # (N,) of the image-level embeddings
    ids: np.ndarray


def analyse(reference: FeatureFile, critic_spaces: dict[str, dict[int, FeatureFile]], cultures: Sequence[str], settings: dict) -> Analysis:
    """All matrices, replicates and floors of the reference space and of every critic space and seed."""
    groups = culture_groups(reference.culture, cultures)
    position = {c: i for i, c in enumerate(cultures)}
    labels_index = np.array([position[c] for c in reference.culture])  # row -> index of its culture
    sizes = [len(g) for g in groups]
    resamples = bootstrap_resamples(groups, settings["n_boot"], settings["seed"])
    log.info("%d cultures, %s held-out images, %d bootstrap replicates", len(cultures), sizes, settings["n_boot"])
    spaces, embeddings, floor_rows = [], {}, []

    def estimate(space: str, seed: int | None, f: FeatureFile) -> dict[str, Estimate]:
        per_snapshot = []
        for data, step in zip(f.snapshots, f.steps):
            values, floors, x, explained = space_estimates(data, SPACES[space], labels_index, groups, resamples, settings, cultures)
            per_snapshot.append(values)
            spaces.append(
                {
                    "space": space,
                    "seed": seed,
                    "step": step,
                    "n_images": len(x),
                    "n_input_features": sum(b.shape[1] for b in data.blocks),
                    "n_blocks": len(data.blocks),
                    "n_components": x.shape[1],
                    "explained_variance": explained,
                }
            )
            for name, rows in floors.items():
                for culture, n, (mean, low, high) in zip(cultures, sizes, rows):
                    floor_rows.append(
                        {"culture": culture, "measure": name, "seed": seed, "step": step, "value": mean, "ci_low": low, "ci_high": high, "n_half": n // 2}
                    )
        # image-level embeddings (for PERMANOVA) of the final snapshot of the first seed
        key = space if seed is None else f"{space}_seed{seed}"
        if seed is None or seed == min(critic_spaces[space]):
            embeddings[key] = x.astype(np.float32)
        log.info("%s%s: %d snapshot(s) done", space, "" if seed is None else f" seed {seed}", len(f.snapshots))
        return mean_estimates(per_snapshot)

    estimates = estimate("reference", None, reference)
    per_seed: dict[int, dict[str, Estimate]] = {}
    for space, by_seed in critic_spaces.items():
        for seed, f in by_seed.items():
            per_seed.setdefault(seed, {}).update(estimate(space, seed, f))
    estimates.update(mean_estimates(list(per_seed.values())))
    for name, est in estimates.items():
        if est.replicates is not None:
            est.replicates = centre_replicates(est.value, est.replicates, MEASURES[name].bounds)
    return Analysis(
        estimates=estimates,
        per_seed=per_seed,
        floors=pd.DataFrame(floor_rows, columns=["culture", "measure", "seed", "step", "value", "ci_low", "ci_high", "n_half"]),
        spaces=pd.DataFrame(spaces),
        embeddings=embeddings,
        culture=reference.culture,
        ids=reference.ids,
    )


def main(argv: list[str] | None = None, stage: str = "similarity") -> int:
    args = build_parser().parse_args(argv)
    settings = section("similarity", args.settings, args.config_path)
    cultures = list(args.cultures)
    if len(set(cultures)) != len(cultures):
        raise UserError("--cultures: a culture is listed twice")
    if len(cultures) < 2:
        raise UserError("--cultures: at least 2 cultures are needed for a similarity matrix")

    reference = read_reference(args.reference)
    critic_files = [read_critic_space(p, cultures) for p in args.critic_features]
    check_same_images([reference, *critic_files], cultures)
    critic_spaces = by_space_and_seed(critic_files)
    sizes = [int((reference.culture == c).sum()) for c in cultures]
    too_small = [f"{c} ({n})" for c, n in zip(cultures, sizes) if n < 2 * settings["crossnobis_folds"]]
    if too_small:
        raise UserError(
            f"{args.reference}: cultures with fewer than {2 * settings['crossnobis_folds']} held-out images: {', '.join(too_small)} "
            "(config keys ingest.heldout_fraction, ingest.min_images)"
        )

    analysis = analyse(reference, critic_spaces, cultures, settings)
    estimates = dict(analysis.estimates)
    measures = {name: MEASURES[name] for name in estimates}
    intervals = {
        name: percentile_interval(est.replicates, settings["ci"]) if est.replicates is not None else (np.full_like(est.value, np.nan),) * 2
        for name, est in estimates.items()
    }
    if args.transfer:
        path = args.transfer[0]
        if not Path(path).exists():
            raise UserError(f"transfer distances not found: {path}")
        transfer, transfer_intervals, transfer_measures = transfer_estimates(io.read_tsv(path), cultures, path)
        estimates.update(transfer)
        intervals.update(transfer_intervals)
        measures.update(transfer_measures)
    primary = primary_measure(settings["primary_measure"]).name
    if primary not in estimates:
        raise UserError(f"config key '{PRIMARY_KEY}': '{primary}' was not computed: no features of its space '{MEASURES[primary].space}' (--critic-features)")
    write_tables(Path(args.out), cultures, sizes, estimates, intervals, measures, analysis, primary)
    return 0


def write_tables(out: Path, cultures, sizes, estimates, intervals, measures, analysis: Analysis, primary: str) -> None:
    unknown_sizes = [np.nan] * len(cultures)  # transfer distances do not say how many images they used
    table = pd.concat(
        [long_rows(name, cultures, unknown_sizes if name.startswith("transfer_") else sizes, est.value, *intervals[name]) for name, est in estimates.items()],
        ignore_index=True,
    )[LONG_COLUMNS]
    io.write_tsv(out / files.SIMILARITY["table"], table)
    for name, est in estimates.items():
        io.write_tsv(out / files.SIMILARITY["matrices"] / f"{name}.tsv", square_frame(est.value, cultures), index=True)

    distance_names = [name for name in estimates if measures[name].distance]
    files.save_distances(
        out / files.SIMILARITY["distances"],
        files.Distances(
            list(cultures),
            {n: estimates[n].value for n in distance_names},
            {n: estimates[n].replicates for n in distance_names},
            {n: measures[n].ward for n in distance_names},
        ),
    )

    seed_rows = [
        long_rows(name, cultures, sizes, est.value, est.value, est.value)[["culture_a", "culture_b", "measure", "value"]].assign(seed=seed)
        for seed, seed_estimates in analysis.per_seed.items()
        for name, est in seed_estimates.items()
        if measures[name].distance
    ]
    io.write_tsv(out / files.SIMILARITY["per_seed"], pd.concat(seed_rows, ignore_index=True)[["seed", "culture_a", "culture_b", "measure", "value"]])
    io.write_tsv(out / files.SIMILARITY["floors"], analysis.floors)
    io.write_tsv(out / files.SIMILARITY["spaces"], analysis.spaces)
    role = {name: SPACES[m.space].role if m.space else "transfer" for name, m in measures.items()}
    io.write_tsv(
        out / files.SIMILARITY["measures"],
        pd.DataFrame(
            [
                {
                    "measure": m.name,
                    "label": m.label,
                    "space": m.space,
                    "role": role[m.name],
                    "primary": m.name == primary,
                    "distance": m.distance,
                    "ward": m.ward,
                    "per_seed": m.per_seed,
                    "description": m.description,
                }
                for m in measures.values()
            ]
        ),
    )
    files.save_image_features(out / files.SIMILARITY["image_features"], files.ImageFeatures(analysis.culture, analysis.ids, analysis.embeddings))
    log.info("wrote %d measures (%d distances) to %s", len(estimates), len(distance_names), out)
