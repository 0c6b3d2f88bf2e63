"""Stage ``similarity``: culture x culture matrices with bootstrap intervals and noise floors.

Spaces
    *critic panel* (per GAN seed): every critic's penultimate features of all
    held-out images, each column standardised over the pooled images, the
    critics side by side, reduced by PCA to ``n_components`` dimensions.  Each
    critic block has the same total variance, so every critic weighs the same.
    *reference*: the non-GAN reference features, through the same
    standardise + PCA step (the baseline).

Measures (see ``MEASURES``; ``_critic`` / ``_reference`` name the space)
    critic AUC (per critic, from its logits), FD and KID (``ganstyle.metrics``),
    a cross-validated linear probe's confusion, transfer distances when given.

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
import logging
import re
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ganstyle import io
from ganstyle.config import add_settings_arguments, section
from ganstyle.errors import UserError
from ganstyle.metrics.classification import roc_auc
from ganstyle.metrics.distances import frechet_distance, kid, split_half_floor

log = logging.getLogger(__name__)

LONG_COLUMNS = ["culture_a", "culture_b", "measure", "value", "ci_low", "ci_high", "n_a", "n_b"]


@dataclass(frozen=True)
class Measure:
    name: str
    description: str
    distance: bool  # symmetric, zero diagonal, >= 0: clustered and Mantel-tested
    per_seed: bool = False  # computed from the critics of one GAN seed
    ward: bool = False  # the value is a squared Hilbert-space distance: Ward is valid on its square root
    bounds: tuple[float, float] = (-np.inf, np.inf)  # range of possible values


POSITIVE, UNIT = (0.0, np.inf), (0.0, 1.0)


def _space_measures(space: str, per_seed: bool) -> list[Measure]:
    where = "the joint critic-panel space" if space == "critic" else "the reference (non-GAN) space"
    return [
        Measure(f"fd_{space}", f"Fréchet distance in {where}", True, per_seed, bounds=POSITIVE),
        Measure(f"kid_{space}", f"KID (unbiased MMD^2, cubic kernel) in {where}; negative estimates clipped to 0", True, per_seed, ward=True, bounds=POSITIVE),
        Measure(f"fd_{space}_excess", f"fd_{space} minus the mean split-half floor of the two cultures", False, per_seed),
        Measure(f"fd_{space}_ratio", f"fd_{space} divided by the mean split-half floor of the two cultures", False, per_seed, bounds=POSITIVE),
        Measure(f"kid_{space}_excess", f"kid_{space} minus the mean split-half floor of the two cultures", False, per_seed),
        Measure(f"probe_confusion_{space}", f"share of a's images the cross-validated linear probe in {where} assigns to b (diagonal: recall)", False, per_seed, bounds=UNIT),
        Measure(f"probe_{space}", f"probe distance in {where}: 1 - 2 (C_ab + C_ba) / (C_aa + C_ab + C_ba + C_bb), 0 = confused like chance, 1 = never confused", True, per_seed, bounds=UNIT),
    ]


MEASURES: dict[str, Measure] = {
    m.name: m
    for m in [
        Measure("critic_auc", "ROC AUC of critic a: its logits on a's held-out images vs b's (0.5 = a's critic cannot tell b from a)", False, True, bounds=UNIT),
        Measure("critic_auc_sym", "mean of critic_auc(a, b) and critic_auc(b, a)", False, True, bounds=UNIT),
        Measure("critic_separability", "mean over the two critics of |2 AUC - 1| (0 = neither critic separates the pair, 1 = both perfectly)", True, True, bounds=UNIT),
        Measure("critic_separability_excess", "critic_separability minus the mean split-half floor of the two cultures", False, True),
        *_space_measures("critic", per_seed=True),
        *_space_measures("reference", per_seed=False),
    ]
}


def transfer_measure(name: str, symmetric: bool) -> Measure:
    name = re.sub(r"[^a-z0-9_]+", "_", str(name).lower()).strip("_")  # measure names become file names
    if symmetric:
        return Measure(f"transfer_{name}_sym", f"transfer '{name}', mean of both directions; interval = envelope of both", True)
    return Measure(f"transfer_{name}", f"transfer '{name}' from culture a (source) to b (target), as given", False)


# --------------------------------------------------------------------------- warnings


@contextmanager
def summarised_warnings(what: str):
    """Collect warnings raised inside (e.g. thousands of bootstrap replicates) and log each once, with a count."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for (category, message), count in Counter((w.category.__name__, str(w.message)) for w in caught).items():
        log.warning("%s: %d x %s: %s", what, count, category, message)


# --------------------------------------------------------------------------- spaces


def standardise_columns(features: np.ndarray) -> np.ndarray:
    """z-score every column over all rows; constant columns (no information) are dropped."""
    features = np.asarray(features, dtype=np.float64)
    std = features.std(axis=0)
    keep = std > 1e-12 * max(1.0, float(np.abs(features).max(initial=0.0)))
    return (features[:, keep] - features[:, keep].mean(axis=0)) / std[keep]


def _compact_rows(block: np.ndarray) -> np.ndarray:
    """The same rows with the same inner products in at most N columns (wide critic features, e.g. 8192).

    U S of the thin SVD is a rotation of the rows' coordinates, so every distance
    and the PCA that follows are unchanged; it only saves memory and time.
    """
    if block.shape[1] <= block.shape[0]:
        return block
    u, s, _ = np.linalg.svd(block, full_matrices=False)
    return u * s


def joint_space(blocks: Sequence[np.ndarray], n_components: int) -> tuple[np.ndarray, float]:
    """Standardised blocks side by side, reduced by PCA and scaled to mean component variance 1:
    ((N, d) embedding, explained variance share).

    ``d = min(n_components, N - 1, columns)``.  Deterministic (full SVD).
    """
    from sklearn.decomposition import PCA

    panel = np.hstack([_compact_rows(standardise_columns(block)) for block in blocks])
    if panel.shape[1] == 0:
        raise ValueError("every feature column is constant: the space carries no information")
    d = int(min(n_components, panel.shape[0] - 1, panel.shape[1]))
    pca = PCA(n_components=d, svd_solver="full")
    embedding = pca.fit_transform(panel)
    # PCA's sign per component is arbitrary; fix it so re-runs and platforms agree.
    signs = np.sign(embedding[np.abs(embedding).argmax(axis=0), np.arange(d)])
    embedding = embedding * np.where(signs == 0, 1.0, signs)
    # One overall scale so that components have variance 1 on average: the KID kernel
    # (x.y / d + 1)^3 assumes features of that scale (12 standardised 256-wide critics
    # side by side otherwise give KIDs ~1e6, driven by the cubic term alone).
    # Distances change by one factor, so FD rankings, clusterings and Mantel r do not.
    total = float(embedding.var(axis=0).sum())
    if total > 0:
        embedding = embedding * np.sqrt(d / total)
    return embedding, float(pca.explained_variance_ratio_.sum())


# --------------------------------------------------------------------------- resampling


def culture_groups(labels: np.ndarray, cultures: Sequence[str]) -> list[np.ndarray]:
    """Row indices of each culture, in the order of ``cultures``."""
    labels = np.asarray(labels).astype(str)
    return [np.flatnonzero(labels == c) for c in cultures]


def bootstrap_resamples(groups: Sequence[np.ndarray], n_boot: int, seed: int) -> list[list[np.ndarray]]:
    """``n_boot`` replicates, each a with-replacement resample of every culture's rows (same sizes)."""
    rng = np.random.default_rng(seed)
    return [[group[rng.integers(0, len(group), len(group))] for group in groups] for _ in range(n_boot)]


def centre_replicates(value: np.ndarray, replicates: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """Shift every cell's replicates so that their median is the point estimate (then clip to ``bounds``).

    Resampling with replacement repeats images, which shrinks each culture's
    effective sample and biases FD upwards by far more than its sampling
    spread: plain percentile intervals of FD then lie entirely above the
    estimate.  The shift removes this location artefact of resampling and
    keeps the spread, so the interval describes sampling variability around
    the reported value.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells stay NaN
        shift = np.nanmedian(replicates, axis=0) - value
    return np.clip(replicates - np.where(np.isfinite(shift), shift, 0.0), *bounds)


def percentile_interval(replicates: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    """Element-wise percentile interval over the first axis, ignoring NaN replicates."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells stay NaN
        low, high = np.nanquantile(replicates, [(1 - ci) / 2, (1 + ci) / 2], axis=0)
    return low, high


# --------------------------------------------------------------------------- measures


def kid_distance(x: np.ndarray, y: np.ndarray) -> float:
    """KID clipped at 0: the unbiased estimate is negative only by sampling noise."""
    return max(kid(x, y), 0.0)


def pairwise_matrix(x: np.ndarray, groups: Sequence[np.ndarray], fn: Callable[[np.ndarray, np.ndarray], float]) -> np.ndarray:
    """Symmetric (K, K) matrix of ``fn`` between the rows of each pair of cultures; zero diagonal."""
    k = len(groups)
    matrix = np.zeros((k, k))
    for a in range(k):
        for b in range(a + 1, k):
            matrix[a, b] = matrix[b, a] = fn(x[groups[a]], x[groups[b]])
    return matrix


def critic_auc_matrix(logits_by_critic: Sequence[np.ndarray], groups: Sequence[np.ndarray]) -> np.ndarray:
    """(K, K) AUC: row a is culture a's critic, its logits on a's images (positives) vs b's; diagonal 0.5."""
    k = len(groups)
    matrix = np.full((k, k), 0.5)
    for a, logits in enumerate(logits_by_critic):
        for b in range(k):
            if a != b:
                matrix[a, b] = roc_auc(logits[groups[a]], logits[groups[b]])
    return matrix


def symmetrised_separability(auc: np.ndarray) -> np.ndarray:
    """Mean over both critics of |2 AUC - 1|.

    The absolute value: a critic that scores b's images systematically *above*
    its own culture's still tells the two apart.
    """
    directed = np.abs(2.0 * np.asarray(auc) - 1.0)
    separability = (directed + directed.T) / 2.0
    np.fill_diagonal(separability, 0.0)
    return separability


def probe_predictions(x: np.ndarray, labels: np.ndarray, folds: int, c: float, seed: int) -> np.ndarray:
    """Out-of-fold predictions of a multinomial logistic regression on ``x`` (stratified k-fold CV).

    Raises ValueError if a class has fewer than 2 rows.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    smallest = int(np.unique(labels, return_counts=True)[1].min())
    if smallest < 2:
        raise ValueError("a culture has fewer than 2 images: no cross-validated probe")
    if smallest < folds:
        warnings.warn(f"linear probe: smallest culture has {smallest} images, using {smallest} folds instead of {folds}", RuntimeWarning, stacklevel=2)
        folds = smallest
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return cross_val_predict(model, x, labels, cv=splitter)


def confusion_rates(true_index: np.ndarray, predicted_index: np.ndarray, groups: Sequence[np.ndarray]) -> np.ndarray:
    """(K, K): row a = share of culture a's rows (``groups[a]``, may repeat) predicted as each culture."""
    k = len(groups)
    rates = np.zeros((k, k))
    for a, rows in enumerate(groups):
        rates[a] = np.bincount(predicted_index[rows], minlength=k)[:k] / len(rows)
    return rates


def probe_distance(confusion: np.ndarray) -> np.ndarray:
    """Pairwise distance from a confusion matrix, restricted to each pair's 2 x 2 block.

    ``1 - 2 (C_ab + C_ba) / (C_aa + C_ab + C_ba + C_bb)``: 0 when the probe mixes
    a and b up as often as it gets them right, 1 when it never mixes them up.
    A pair the probe assigns entirely to other cultures gives no evidence of
    separation and is set to 0 with a warning.  Clipped to [0, 1].
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    mixed = confusion + confusion.T
    within = np.diag(confusion)[:, None] + np.diag(confusion)[None, :] + mixed
    empty = within <= 0
    np.fill_diagonal(empty, False)
    if empty.any():
        warnings.warn(f"linear probe: {int(empty.sum()) // 2} pair(s) never predicted as either culture; distance set to 0", RuntimeWarning, stacklevel=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        distance = np.where(empty, 0.0, 1.0 - 2.0 * mixed / np.where(empty, 1.0, within))
    distance = np.clip(distance, 0.0, 1.0)
    np.fill_diagonal(distance, 0.0)
    return distance


def culture_floors(
    x: np.ndarray, groups: Sequence[np.ndarray], fn: Callable, n_rep: int, seed: int, ci: float, names: Sequence[str] | None = None
) -> np.ndarray:
    """(K, 3) split-half floor (mean, low, high) of ``fn`` per culture; NaN for cultures with fewer than 4 rows."""
    floors = np.full((len(groups), 3), np.nan)
    for k, rows in enumerate(groups):
        if len(rows) < 4:
            name = names[k] if names is not None else f"#{k + 1}"
            warnings.warn(f"split-half floor needs at least 4 images, culture {name} has {len(rows)}: floor is NaN", RuntimeWarning, stacklevel=2)
            continue
        floors[k] = split_half_floor(fn, x[rows], n_rep=n_rep, seed=seed + k, ci=ci)
    return floors


def relative_to_floor(values: np.ndarray, floor_means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(excess, ratio) of a (..., K, K) array over the pair's mean floor; ratio NaN where the floor is <= 0."""
    pair_floor = (floor_means[:, None] + floor_means[None, :]) / 2.0
    excess = values - pair_floor
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(pair_floor > 0, values / np.where(pair_floor > 0, pair_floor, 1.0), np.nan)
    k = len(floor_means)
    excess[..., np.arange(k), np.arange(k)] = 0.0
    ratio[..., np.arange(k), np.arange(k)] = np.nan
    return excess, ratio


@dataclass
class Estimate:
    """A (K, K) point estimate and its (B, K, K) bootstrap replicates (None when there are none)."""

    value: np.ndarray
    replicates: np.ndarray | None = None


def space_estimates(
    x: np.ndarray,
    labels_index: np.ndarray,
    groups: Sequence[np.ndarray],
    resamples: Sequence[Sequence[np.ndarray]],
    space: str,
    settings: dict,
    names: Sequence[str] | None = None,
) -> tuple[dict[str, Estimate], dict[str, np.ndarray]]:
    """FD, KID and probe matrices (with replicates and floor-relative forms) in one embedded space.

    Returns (estimates by measure name, floors by base measure name (K, 3)).
    """
    seed, ci, n_rep = settings["seed"], settings["ci"], settings["split_half_reps"]
    estimates: dict[str, Estimate] = {}
    floors: dict[str, np.ndarray] = {}
    for metric, fn in (("fd", frechet_distance), ("kid", kid_distance)):
        name = f"{metric}_{space}"
        with summarised_warnings(f"{name} point estimate"):
            point = pairwise_matrix(x, groups, fn)
        with summarised_warnings(f"{name} bootstrap"):
            replicates = np.stack([pairwise_matrix(x, resample, fn) for resample in resamples]) if resamples else None
        with summarised_warnings(f"{name} split-half floor"):
            floors[name] = culture_floors(x, groups, fn, n_rep, seed, ci, names)
        estimates[name] = Estimate(point, replicates)
        excess, ratio = relative_to_floor(point, floors[name][:, 0])
        rep_excess, rep_ratio = relative_to_floor(replicates, floors[name][:, 0]) if replicates is not None else (None, None)
        estimates[f"{name}_excess"] = Estimate(excess, rep_excess)
        if metric == "fd":
            estimates[f"{name}_ratio"] = Estimate(ratio, rep_ratio)

    with summarised_warnings(f"probe_{space}"):
        predicted = probe_predictions(x, labels_index, settings["probe_folds"], settings["probe_c"], seed)
        confusion = confusion_rates(labels_index, predicted, groups)
        rep_confusion = np.stack([confusion_rates(labels_index, predicted, r) for r in resamples]) if resamples else None
        estimates[f"probe_confusion_{space}"] = Estimate(confusion, rep_confusion)
        estimates[f"probe_{space}"] = Estimate(
            probe_distance(confusion), np.stack([probe_distance(c) for c in rep_confusion]) if resamples else None
        )
    return estimates, floors


def critic_estimates(
    logits_by_critic: Sequence[np.ndarray],
    groups: Sequence[np.ndarray],
    resamples: Sequence[Sequence[np.ndarray]],
    settings: dict,
    names: Sequence[str] | None = None,
) -> tuple[dict[str, Estimate], dict[str, np.ndarray]]:
    """Critic AUC (directed and symmetrised) and separability, with the separability floor per culture."""
    auc = critic_auc_matrix(logits_by_critic, groups)
    rep_auc = np.stack([critic_auc_matrix(logits_by_critic, r) for r in resamples]) if resamples else None
    separability = symmetrised_separability(auc)
    rep_separability = np.stack([symmetrised_separability(a) for a in rep_auc]) if resamples else None

    def own_split_separability(half_a, half_b):
        return abs(2.0 * roc_auc(half_a, half_b) - 1.0)

    # critic k's logits on its own culture's images, split in halves
    names = names if names is not None else [f"#{k + 1}" for k in range(len(groups))]
    floors = np.full((len(groups), 3), np.nan)
    with summarised_warnings("critic_separability split-half floor"):
        for k, (logits, rows) in enumerate(zip(logits_by_critic, groups)):
            floors[k] = culture_floors(logits[:, None], [rows], own_split_separability, settings["split_half_reps"], settings["seed"] + k, settings["ci"], [names[k]])[0]
    excess, _ = relative_to_floor(separability, floors[:, 0])
    rep_excess = relative_to_floor(rep_separability, floors[:, 0])[0] if resamples else None
    estimates = {
        "critic_auc": Estimate(auc, rep_auc),
        "critic_auc_sym": Estimate((auc + auc.T) / 2, (rep_auc + rep_auc.transpose(0, 2, 1)) / 2 if resamples else None),
        "critic_separability": Estimate(separability, rep_separability),
        "critic_separability_excess": Estimate(excess, rep_excess),
    }
    return estimates, {"critic_separability": floors}


def mean_over_seeds(per_seed: Sequence[dict[str, Estimate]]) -> dict[str, Estimate]:
    """Seed-averaged estimates; replicate r of every seed used the same image resample, so they average too."""
    averaged = {}
    for name in per_seed[0]:
        values = np.mean([s[name].value for s in per_seed], axis=0)
        reps = [s[name].replicates for s in per_seed]
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
    features: np.ndarray
    culture: np.ndarray
    ids: np.ndarray
    logits: np.ndarray | None
    critic: str
    seed: int


def read_feature_file(path: str) -> FeatureFile:
    if not Path(path).exists():
        raise UserError(f"features not found: {path}")
    with np.load(path, allow_pickle=False) as data:
        missing = {"features", "culture", "ids"} - set(data.files)
        if missing:
            raise UserError(f"{path}: missing array(s) {', '.join(sorted(missing))} (re-run extract_features)")
        return FeatureFile(
            path=path,
            features=data["features"].astype(np.float64),
            culture=data["culture"].astype(str),
            ids=data["ids"].astype(str),
            logits=data["logits"].astype(np.float64) if "logits" in data.files else None,
            critic=str(data["critic"]) if "critic" in data.files else "",
            seed=int(data["seed"]) if "seed" in data.files else -1,
        )


def check_same_images(files: Sequence[FeatureFile], cultures: Sequence[str]) -> None:
    """Every feature file must describe the same held-out images in the same order."""
    first = files[0]
    unknown = sorted(set(first.culture) - set(cultures))
    if unknown:
        raise UserError(f"{first.path}: cultures not in --cultures: {', '.join(unknown)}")
    absent = [c for c in cultures if c not in set(first.culture)]
    if absent:
        raise UserError(f"{first.path}: no images of culture(s) {', '.join(absent)} (re-run extract_features)")
    for other in files[1:]:
        if not (np.array_equal(other.culture, first.culture) and np.array_equal(other.ids, first.ids)):
            raise UserError(f"{other.path} and {first.path} hold different held-out images (re-run extract_features)")


def critic_panels(files: Sequence[FeatureFile], cultures: Sequence[str]) -> dict[int, list[FeatureFile]]:
    """Critic files by seed, each panel ordered like ``cultures``; a missing critic is an error."""
    panels: dict[int, dict[str, FeatureFile]] = {}
    for f in files:
        if f.logits is None or not f.critic:
            raise UserError(f"{f.path}: not a critic feature file (no logits or critic name)")
        if f.critic in panels.setdefault(f.seed, {}):
            raise UserError(f"{f.path}: a second critic of culture '{f.critic}' seed {f.seed}")
        panels[f.seed][f.critic] = f
    ordered = {}
    for seed in sorted(panels):
        missing = [c for c in cultures if c not in panels[seed]]
        if missing:
            raise UserError(f"seed {seed}: no critic features for culture(s) {', '.join(missing)}")
        ordered[seed] = [panels[seed][c] for c in cultures]
    return ordered


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ganstyle similarity", description=__doc__.splitlines()[0])
    parser.add_argument("--cultures", nargs="+", required=True, help="culture names in matrix order")
    parser.add_argument("--critic-features", nargs="+", required=True, help="results/features/critic_{culture}/seed{seed}.npz files")
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


def analyse(reference: FeatureFile, panels: dict[int, list[FeatureFile]], cultures: Sequence[str], settings: dict) -> Analysis:
    """All matrices, replicates and floors of the reference space and of every seed's critic panel."""
    groups = culture_groups(reference.culture, cultures)
    position = {c: i for i, c in enumerate(cultures)}
    labels_index = np.array([position[c] for c in reference.culture])  # row -> index of its culture
    sizes = [len(g) for g in groups]
    resamples = bootstrap_resamples(groups, settings["n_boot"], settings["seed"])
    log.info("%d cultures, %s held-out images, %d bootstrap replicates", len(cultures), sizes, settings["n_boot"])
    spaces, embeddings, floor_rows = [], {}, []

    def record(space: str, seed: int | None, x: np.ndarray, n_input: int, explained: float, floors: dict[str, np.ndarray]) -> None:
        embeddings["reference" if seed is None else f"critic_seed{seed}"] = x.astype(np.float32)
        spaces.append({"space": space, "seed": seed, "n_images": len(x), "n_input_features": n_input, "n_components": x.shape[1], "explained_variance": explained})
        for name, values in floors.items():
            for culture, n, (mean, low, high) in zip(cultures, sizes, values):
                floor_rows.append({"culture": culture, "measure": name, "seed": seed, "value": mean, "ci_low": low, "ci_high": high, "n_half": n // 2})

    # the baseline
    x_ref, explained = joint_space([reference.features], settings["n_components"])
    estimates, floors = space_estimates(x_ref, labels_index, groups, resamples, "reference", settings, cultures)
    record("reference", None, x_ref, reference.features.shape[1], explained, floors)

    # the critic panel, one per seed
    per_seed = {}
    for seed, panel in panels.items():
        x_critic, explained = joint_space([f.features for f in panel], settings["n_components"])
        seed_estimates, seed_floors = space_estimates(x_critic, labels_index, groups, resamples, "critic", settings, cultures)
        auc_estimates, auc_floors = critic_estimates([f.logits for f in panel], groups, resamples, settings, cultures)
        seed_estimates.update(auc_estimates)
        record("critic", seed, x_critic, sum(f.features.shape[1] for f in panel), explained, {**seed_floors, **auc_floors})
        per_seed[seed] = seed_estimates
        log.info("seed %d: critic panel of %d critics done", seed, len(panel))
    estimates.update(mean_over_seeds(list(per_seed.values())))

    for name, estimate in estimates.items():
        if estimate.replicates is not None:
            estimate.replicates = centre_replicates(estimate.value, estimate.replicates, MEASURES[name].bounds)
    return Analysis(
        estimates=estimates,
        per_seed=per_seed,
        floors=pd.DataFrame(floor_rows, columns=["culture", "measure", "seed", "value", "ci_low", "ci_high", "n_half"]),
        spaces=pd.DataFrame(spaces),
        embeddings=embeddings,
    )


def main(argv: list[str] | None = None, stage: str = "similarity") -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = section("similarity", args.settings, args.config_path)
    cultures = list(args.cultures)
    if len(set(cultures)) != len(cultures):
        raise UserError("--cultures: a culture is listed twice")
    if len(cultures) < 2:
        raise UserError("--cultures: at least 2 cultures are needed for a similarity matrix")

    reference = read_feature_file(args.reference)
    critic_files = [read_feature_file(p) for p in args.critic_features]
    check_same_images([reference, *critic_files], cultures)
    panels = critic_panels(critic_files, cultures)
    sizes = [int((reference.culture == c).sum()) for c in cultures]
    too_small = [f"{c} ({n})" for c, n in zip(cultures, sizes) if n < 2]
    if too_small:
        raise UserError(f"{args.reference}: cultures with fewer than 2 held-out images: {', '.join(too_small)} (config keys ingest.heldout_fraction, ingest.min_images)")

    analysis = analyse(reference, panels, cultures, settings)
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

    out = Path(args.out)
    unknown_sizes = [np.nan] * len(cultures)  # transfer distances do not say how many images they used
    table = pd.concat(
        [
            long_rows(name, cultures, unknown_sizes if name.startswith("transfer_") else sizes, est.value, *intervals[name])
            for name, est in estimates.items()
        ],
        ignore_index=True,
    )[LONG_COLUMNS]
    io.write_tsv(out / "similarity.tsv", table)
    for name, est in estimates.items():
        io.write_tsv(out / "matrices" / f"{name}.tsv", square_frame(est.value, cultures), index=True)

    distance_names = [name for name in estimates if measures[name].distance]
    arrays = {"cultures": np.asarray(cultures), "measures": np.asarray(distance_names), "ward_ok": np.asarray([measures[n].ward for n in distance_names])}
    for name in distance_names:
        arrays[name] = estimates[name].value
        if estimates[name].replicates is not None:
            arrays[f"{name}__boot"] = estimates[name].replicates
    io.write_npz(out / "distances.npz", **arrays)

    seed_rows = [
        long_rows(name, cultures, sizes, est.value, est.value, est.value)[["culture_a", "culture_b", "measure", "value"]].assign(seed=seed)
        for seed, seed_estimates in analysis.per_seed.items()
        for name, est in seed_estimates.items()
        if measures[name].distance
    ]
    io.write_tsv(out / "per_seed.tsv", pd.concat(seed_rows, ignore_index=True)[["seed", "culture_a", "culture_b", "measure", "value"]])
    io.write_tsv(out / "floors.tsv", analysis.floors)
    io.write_tsv(out / "spaces.tsv", analysis.spaces)
    io.write_tsv(out / "measures.tsv", pd.DataFrame([{"measure": m.name, "distance": m.distance, "ward": m.ward, "per_seed": m.per_seed, "description": m.description} for m in measures.values()]))
    io.write_npz(out / "image_features.npz", culture=reference.culture, ids=reference.ids, **analysis.embeddings)
    log.info("wrote %d measures (%d distances) to %s", len(estimates), len(distance_names), out)
    return 0
