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

Measures (``MEASURES``, declared once from ``METRICS`` x spaces; ``<metric>_<space>``)
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
from ganstyle.features import CRITIC_SPACES
from ganstyle.metrics.classification import roc_auc
from ganstyle.metrics.distances import (
    crossnobis_matrix,
    frechet_distance,
    frechet_matrix,
    kid,
    kid_matrix,
    noise_whitener,
    polynomial_kernel,
    split_half_floor,
)

log = logging.getLogger(__name__)

LONG_COLUMNS = ["culture_a", "culture_b", "measure", "value", "ci_low", "ci_high", "n_a", "n_b"]


@dataclass(frozen=True)
class Space:
    name: str
    label: str  # in figures
    description: str
    role: str  # "gan": a trained critic; "control": its untrained network; "baseline": no GAN
    critics: str | None = None  # "panel": one critic per culture; "joint": one conditional critic; None: no critic


SPACES: dict[str, Space] = {
    s.name: s
    for s in [
        Space("reference", "reference features", "the non-GAN reference features", "baseline"),
        Space("critic", "critic panel", "the per-culture GAN critics side by side (critic panel)", "gan", "panel"),
        Space("critic_untrained", "untrained critic", "the per-culture critics' network before training (control)", "control", "panel"),
        Space("joint", "joint critic", "the joint critic of all cultures", "gan", "joint"),
        Space("joint_untrained", "untrained joint critic", "the joint critic's network before training (control)", "control", "joint"),
    ]
}
assert set(CRITIC_SPACES) == set(SPACES) - {"reference"}


@dataclass(frozen=True)
class Measure:
    name: str
    description: str
    distance: bool  # symmetric, zero diagonal, >= 0: clustered and Mantel-tested
    per_seed: bool = False  # computed from the critics of one GAN seed
    ward: bool = False  # the value is a squared Hilbert-space distance: Ward is valid on its square root
    bounds: tuple[float, float] = (-np.inf, np.inf)  # range of possible values
    space: str = ""  # the space it is computed in ("" for transfer measures)
    floor: bool = False  # has a split-half noise floor (floors.tsv)
    label: str = ""  # in figures


POSITIVE, UNIT = (0.0, np.inf), (0.0, 1.0)


@dataclass(frozen=True)
class Metric:
    """A measure template: ``name`` + ``_<space>`` for every space it applies to."""

    name: str
    label: str  # in figures, followed by the space's label
    description: str  # "{where}" is replaced by the space's description
    distance: bool
    applies: Callable[[Space], bool]
    ward: bool = False
    bounds: tuple[float, float] = (-np.inf, np.inf)
    floor: bool = False


def _every(space: Space) -> bool:
    return True


def _with_critics(space: Space) -> bool:
    return space.critics is not None


def _panel(space: Space) -> bool:
    return space.critics == "panel"


def _joint(space: Space) -> bool:
    return space.critics == "joint"


METRICS = [
    Metric("fd", "Fréchet distance", "Fréchet distance in {where} (first n_min // 4 components)", True, _every, bounds=POSITIVE, floor=True),
    Metric(
        "kid", "KID", "KID (unbiased MMD^2, cubic kernel) in {where}; negative estimates clipped to 0", True, _every, ward=True, bounds=POSITIVE, floor=True
    ),
    Metric(
        "crossnobis",
        "crossnobis distance",
        "cross-validated squared distance of culture means in {where}, per dimension, in units of the "
        "within-culture spread (crossnobis); negative estimates clipped to 0",
        True,
        _every,
        bounds=POSITIVE,
    ),
    Metric(
        "probe",
        "linear-probe distance",
        "probe distance in {where}: 1 - 2 (C_ab + C_ba) / (C_aa + C_ab + C_ba + C_bb) of a cross-validated linear "
        "probe's confusion C, 0 = confused like chance, 1 = never confused",
        True,
        _every,
        bounds=UNIT,
    ),
    Metric(
        "probe_confusion",
        "linear-probe confusion",
        "share of a's images the cross-validated linear probe in {where} assigns to b (diagonal: recall)",
        False,
        _every,
        bounds=UNIT,
    ),
    Metric("kid_median", "median KID over critics", "median over the critics of the KID in each critic's own space ({where})", True, _panel, bounds=POSITIVE),
    Metric(
        "crossnobis_median",
        "median crossnobis over critics",
        "median over the critics of the crossnobis distance in each critic's own space ({where})",
        True,
        _panel,
        bounds=POSITIVE,
    ),
    Metric(
        "logit_auc",
        "logit AUC",
        "ROC AUC of culture a's logit ({where}) on a's held-out images vs b's (0.5 = cannot tell b from a); asymmetric",
        False,
        _with_critics,
        bounds=UNIT,
    ),
    Metric(
        "separability",
        "separability",
        "mean over both directions of |2 logit_auc - 1| ({where}): 0 = neither logit separates the pair, 1 = both perfectly",
        True,
        _with_critics,
        bounds=UNIT,
    ),
    Metric(
        "embedding_cosine",
        "culture-embedding cosine",
        "cosine distance 1 - cos(e_a, e_b) of the culture embeddings of {where}",
        True,
        _joint,
        bounds=(0.0, 2.0),
    ),
    Metric(
        "cross_conditional",
        "cross-conditional score",
        "cross-conditional score of {where}: how much lower a's images score conditioned on b than on a "
        "(mean logit difference), averaged with b's; negative values clipped to 0",
        True,
        _joint,
        bounds=POSITIVE,
    ),
]


def _derived(space: Space, per_seed: bool) -> list[Measure]:
    """Floor-relative forms of the FD and KID of a space."""
    return [
        Measure(
            f"fd_{space.name}_excess",
            f"fd_{space.name} minus the mean split-half floor of the two cultures",
            False,
            per_seed,
            space=space.name,
            label=f"Fréchet distance, {space.label} minus floor",
        ),
        Measure(
            f"fd_{space.name}_ratio",
            f"fd_{space.name} divided by the mean split-half floor of the two cultures",
            False,
            per_seed,
            bounds=POSITIVE,
            space=space.name,
            label=f"Fréchet distance, {space.label} / floor",
        ),
        Measure(
            f"kid_{space.name}_excess",
            f"kid_{space.name} minus the mean split-half floor of the two cultures",
            False,
            per_seed,
            space=space.name,
            label=f"KID, {space.label} minus floor",
        ),
    ]


def _measures() -> dict[str, Measure]:
    measures = {}
    for space in SPACES.values():
        per_seed = space.critics is not None
        for metric in METRICS:
            if metric.applies(space):
                name = f"{metric.name}_{space.name}"
                measures[name] = Measure(
                    name,
                    metric.description.format(where=space.description),
                    metric.distance,
                    per_seed,
                    metric.ward,
                    metric.bounds,
                    space.name,
                    metric.floor,
                    f"{metric.label}, {space.label}",
                )
        measures.update({m.name: m for m in _derived(space, per_seed)})
    return measures


MEASURES: dict[str, Measure] = _measures()


def transfer_measure(name: str, symmetric: bool) -> Measure:
    name = re.sub(r"[^a-z0-9_]+", "_", str(name).lower()).strip("_")  # measure names become file names
    if symmetric:
        return Measure(
            f"transfer_{name}_sym",
            f"transfer '{name}', mean of both directions; interval = envelope of both",
            True,
            label=f"transfer {name.replace('_', ' ')}, both directions",
        )
    return Measure(f"transfer_{name}", f"transfer '{name}' from culture a (source) to b (target), as given", False, label=f"transfer {name.replace('_', ' ')}")


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


# --------------------------------------------------------------------------- estimates of one space


@dataclass
class Estimate:
    """A (K, K) point estimate and its (B, K, K) bootstrap replicates (None when there are none)."""

    value: np.ndarray
    replicates: np.ndarray | None = None


@dataclass
class SpaceData:
    """What one snapshot of one space gives the measures."""

    blocks: list[np.ndarray]  # feature blocks (N, F_b): one per critic of a panel, else one
    logits: np.ndarray | None = None  # (N, K): column k is culture k's critic, or the logit conditioned on culture k
    embeddings: np.ndarray | None = None  # (K, E) culture embeddings of a joint critic


def _over_sets(fn: Callable[[Sequence[np.ndarray]], np.ndarray], groups, resamples) -> Estimate:
    """``fn(index sets) -> (K, K)`` on the observed sets and on every bootstrap replicate."""
    value = fn(groups)
    return Estimate(value, np.stack([fn(r) for r in resamples]) if resamples else None)


def feature_estimates(x: np.ndarray, labels_index: np.ndarray, groups, resamples, settings: dict) -> dict[str, Estimate]:
    """FD, KID and crossnobis matrices of one embedded space (keys: metric names)."""
    d_fd = fd_dimensions(x, groups)
    kernel = polynomial_kernel(x, x)
    white = x @ noise_whitener(x, labels_index)
    folds, seed = settings["crossnobis_folds"], settings["seed"]
    return {
        "fd": _over_sets(lambda sets: frechet_matrix(x[:, :d_fd], sets), groups, resamples),
        "kid": _over_sets(lambda sets: np.maximum(kid_matrix(kernel, sets), 0.0), groups, resamples),
        "crossnobis": _over_sets(lambda sets: np.maximum(crossnobis_matrix(white, sets, folds, seed), 0.0), groups, resamples),
    }


def fd_dimensions(x: np.ndarray, groups) -> int:
    """Components the Fréchet distance uses: at most a quarter of the smallest culture's images."""
    return int(max(1, min(x.shape[1], min(len(g) for g in groups) // 4)))


def probe_estimates(x: np.ndarray, labels_index: np.ndarray, groups, resamples, settings: dict) -> dict[str, Estimate]:
    predicted = probe_predictions(x, labels_index, settings["probe_folds"], settings["probe_c"], settings["seed"])
    confusion = _over_sets(lambda sets: confusion_rates(labels_index, predicted, sets), groups, resamples)
    distance = Estimate(probe_distance(confusion.value), None if confusion.replicates is None else np.stack([probe_distance(c) for c in confusion.replicates]))
    return {"probe_confusion": confusion, "probe": distance}


def logit_estimates(logits: np.ndarray, groups, resamples) -> dict[str, Estimate]:
    columns = [logits[:, k] for k in range(logits.shape[1])]
    auc = _over_sets(lambda sets: critic_auc_matrix(columns, sets), groups, resamples)
    separability = Estimate(
        symmetrised_separability(auc.value), None if auc.replicates is None else np.stack([symmetrised_separability(a) for a in auc.replicates])
    )
    return {"logit_auc": auc, "separability": separability}


def cross_conditional(logits: np.ndarray, sets) -> np.ndarray:
    """(K, K): mean over a's images of logit(x, a) - logit(x, b), averaged with b's; clipped to >= 0.

    The unconditional part psi(phi(x)) cancels: this is <e_a - e_b, phi> on a's
    images, i.e. how much less real they look to the critic as b than as a.
    """
    mean_logits = np.stack([logits[np.asarray(s)].mean(axis=0) for s in sets])  # [a, b]: a's images as b
    drop = np.diagonal(mean_logits)[:, None] - mean_logits
    score = np.maximum((drop + drop.T) / 2.0, 0.0)
    np.fill_diagonal(score, 0.0)
    return score


def embedding_cosine(embeddings: np.ndarray) -> np.ndarray:
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    distance = np.clip(1.0 - unit @ unit.T, 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    return distance


def space_estimates(
    data: SpaceData, space: Space, labels_index: np.ndarray, groups, resamples, settings: dict, names: Sequence[str]
) -> tuple[dict[str, Estimate], dict[str, np.ndarray], np.ndarray, float]:
    """Every measure of one space (one snapshot): (estimates by measure name, floors by measure (K, 3),
    the embedded features, their explained variance)."""
    x, explained = joint_space(data.blocks, settings["n_components"])
    by_metric: dict[str, Estimate] = {}
    floors = {}
    with summarised_warnings(f"{space.name} features"):
        by_metric.update(feature_estimates(x, labels_index, groups, resamples, settings))
        by_metric.update(probe_estimates(x, labels_index, groups, resamples, settings))
        d_fd = fd_dimensions(x, groups)
        for metric, fn, columns in (("fd", frechet_distance, d_fd), ("kid", kid_distance, x.shape[1])):
            floors[f"{metric}_{space.name}"] = culture_floors(x[:, :columns], groups, fn, settings["split_half_reps"], settings["seed"], settings["ci"], names)
    if space.critics == "panel":
        with summarised_warnings(f"{space.name} per-critic spaces"):
            per_critic = [
                feature_estimates(joint_space([block], settings["n_components"])[0], labels_index, groups, resamples, settings) for block in data.blocks
            ]
        for metric in ("kid", "crossnobis"):
            by_metric[f"{metric}_median"] = Estimate(
                np.median([p[metric].value for p in per_critic], axis=0),
                None if not resamples else np.median([p[metric].replicates for p in per_critic], axis=0),
            )
    if data.logits is not None:
        by_metric.update(logit_estimates(data.logits, groups, resamples))
    if space.critics == "joint":
        by_metric["cross_conditional"] = _over_sets(lambda sets: cross_conditional(data.logits, sets), groups, resamples)
        by_metric["embedding_cosine"] = Estimate(embedding_cosine(data.embeddings))  # no images involved: no replicates
    estimates = {f"{metric}_{space.name}": estimate for metric, estimate in by_metric.items()}
    for metric in ("fd", "kid"):
        name = f"{metric}_{space.name}"
        excess, ratio = relative_to_floor(estimates[name].value, floors[name][:, 0])
        replicates = estimates[name].replicates
        rep_excess, rep_ratio = relative_to_floor(replicates, floors[name][:, 0]) if replicates is not None else (None, None)
        estimates[f"{name}_excess"] = Estimate(excess, rep_excess)
        if metric == "fd":
            estimates[f"{name}_ratio"] = Estimate(ratio, rep_ratio)
    unknown = set(estimates) - set(MEASURES)
    assert not unknown, unknown  # every computed measure is declared in MEASURES
    return estimates, floors, x, explained


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


def _check_keys(path: str, data, keys: set[str]) -> None:
    missing = keys - set(data.files)
    if missing:
        raise UserError(f"{path}: missing array(s) {', '.join(sorted(missing))} (re-run extract_features)")


def read_reference(path: str) -> FeatureFile:
    if not Path(path).exists():
        raise UserError(f"features not found: {path}")
    with np.load(path, allow_pickle=False) as data:
        _check_keys(path, data, {"features", "culture", "ids"})
        return FeatureFile(path, "reference", -1, data["culture"].astype(str), data["ids"].astype(str), [SpaceData([data["features"].astype(np.float64)])], [0])


def read_critic_space(path: str, cultures: Sequence[str]) -> FeatureFile:
    """A critic-space file of the features stage, logit columns put in the order of ``cultures``."""
    if not Path(path).exists():
        raise UserError(f"features not found: {path}")
    with np.load(path, allow_pickle=False) as data:
        _check_keys(path, data, {"features", "blocks", "logits", "logit_cultures", "culture", "ids", "space", "seed", "steps"})
        space = str(data["space"])
        if space not in SPACES or SPACES[space].critics is None:
            raise UserError(f"{path}: unknown critic space '{space}' (expected one of {', '.join(CRITIC_SPACES)})")
        columns = list(data["logit_cultures"].astype(str))
        missing = [c for c in cultures if c not in columns]
        if missing:
            raise UserError(f"{path}: no critic (logit) for culture(s) {', '.join(missing)}")
        order = [columns.index(c) for c in cultures]
        edges = np.cumsum([0, *data["blocks"].astype(int)])
        snapshots = []
        for s in range(data["features"].shape[0]):
            features = data["features"][s].astype(np.float64)
            embeddings = data["embeddings"][s][order].astype(np.float64) if "embeddings" in data.files else None
            snapshots.append(SpaceData([features[:, a:b] for a, b in itertools.pairwise(edges)], data["logits"][s][:, order].astype(np.float64), embeddings))
        if SPACES[space].critics == "joint" and snapshots[0].embeddings is None:
            raise UserError(f"{path}: a joint critic's file needs 'embeddings' (re-run extract_features)")
        return FeatureFile(path, space, int(data["seed"]), data["culture"].astype(str), data["ids"].astype(str), snapshots, [int(s) for s in data["steps"]])


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


def by_space_and_seed(files: Sequence[FeatureFile]) -> dict[str, dict[int, FeatureFile]]:
    """Critic-space files by space and seed; every space must have the same seeds."""
    spaces: dict[str, dict[int, FeatureFile]] = {}
    for f in files:
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
    for space, files in critic_spaces.items():
        for seed, f in files.items():
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
    write_tables(Path(args.out), cultures, sizes, estimates, intervals, measures, analysis)
    return 0


def write_tables(out: Path, cultures, sizes, estimates, intervals, measures, analysis: Analysis) -> None:
    unknown_sizes = [np.nan] * len(cultures)  # transfer distances do not say how many images they used
    table = pd.concat(
        [long_rows(name, cultures, unknown_sizes if name.startswith("transfer_") else sizes, est.value, *intervals[name]) for name, est in estimates.items()],
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
    role = {name: SPACES[m.space].role if m.space else "transfer" for name, m in measures.items()}
    io.write_tsv(
        out / "measures.tsv",
        pd.DataFrame(
            [
                {
                    "measure": m.name,
                    "label": m.label,
                    "space": m.space,
                    "role": role[m.name],
                    "distance": m.distance,
                    "ward": m.ward,
                    "per_seed": m.per_seed,
                    "description": m.description,
                }
                for m in measures.values()
            ]
        ),
    )
    io.write_npz(out / "image_features.npz", culture=analysis.culture, ids=analysis.ids, **analysis.embeddings)
    log.info("wrote %d measures (%d distances) to %s", len(estimates), len(distance_names), out)
