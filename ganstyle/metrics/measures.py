"""The measure registry: every culture x culture measure, declared once, with the function that computes it.

A *space* is where images are described (``SPACES``: the non-GAN reference
features, the per-culture critic panel, the joint critic, and the untrained
controls of both).  A *metric* is a way to compare cultures inside a space,
declared with :func:`metric` on the function that computes it.  Every metric
applies to some spaces; ``<metric>_<space>`` is then a *measure*
(``MEASURES``), and metrics with a split-half floor add floor-relative forms
``<metric>_<space>_excess`` (and ``_ratio``).  The similarity stage computes
every measure of every space through :func:`space_estimates`; clustering, stats,
figures and the report read ``measures.tsv``, which is written from
``MEASURES``.

Adding a measure: write its compute function here, under ``@metric(...)``.
Nothing else needs to know its name.

A compute function takes a :class:`SpaceContext` (one snapshot of one space:
its embedded features ``x``, logits, embeddings, culture index sets and the
bootstrap resamples, with shared work cached) and returns an :class:`Estimate`:
the (K, K) matrix on the observed images and its (B, K, K) bootstrap replicates.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ganstyle.errors import UserError
from ganstyle.metrics.classification import confusion_rates, probe_distance, probe_predictions
from ganstyle.metrics.critics import critic_auc_matrix, cross_conditional, embedding_cosine, symmetrised_separability
from ganstyle.metrics.distances import frechet_distance, kid, polynomial_kernel
from ganstyle.metrics.matrices import crossnobis_matrix, frechet_matrix, kid_matrix, noise_whitener
from ganstyle.metrics.resampling import culture_floors, relative_to_floor
from ganstyle.metrics.spaces import joint_space

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- spaces


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


def _every(space: Space) -> bool:
    return True


def _with_critics(space: Space) -> bool:
    return space.critics is not None


def _panel(space: Space) -> bool:
    return space.critics == "panel"


def _joint(space: Space) -> bool:
    return space.critics == "joint"


# --------------------------------------------------------------------------- what a compute function gets


@dataclass
class Estimate:
    """A (K, K) point estimate and its (B, K, K) bootstrap replicates (None when there are none)."""

    value: np.ndarray
    replicates: np.ndarray | None = None

    def mapped(self, fn: Callable[[np.ndarray], np.ndarray]) -> Estimate:
        """``fn`` applied to the estimate and to every replicate (a measure derived from another)."""
        return Estimate(fn(self.value), None if self.replicates is None else np.stack([fn(r) for r in self.replicates]))


@dataclass
class SpaceData:
    """What one snapshot of one space gives the measures."""

    blocks: list[np.ndarray]  # feature blocks (N, F_b): one per critic of a panel, else one
    logits: np.ndarray | None = None  # (N, K): column k is culture k's critic, or the logit conditioned on culture k
    embeddings: np.ndarray | None = None  # (K, E) culture embeddings of a joint critic


class SpaceContext:
    """One snapshot of one space, embedded, with the work several metrics share computed once, on first use."""

    def __init__(self, data: SpaceData, space: Space, labels_index: np.ndarray, groups, resamples, settings: dict):
        self.data, self.space, self.labels_index = data, space, labels_index
        self.groups, self.resamples, self.settings = groups, resamples, settings
        self.x, self.explained = joint_space(data.blocks, settings["n_components"])
        self._estimates: dict[str, Estimate] = {}

    def estimate(self, metric_name: str) -> Estimate:
        """The estimate of one metric in this space (computed once)."""
        if metric_name not in self._estimates:
            self._estimates[metric_name] = METRICS[metric_name].compute(self)
        return self._estimates[metric_name]

    def over_sets(self, fn: Callable[[Sequence[np.ndarray]], np.ndarray]) -> Estimate:
        """``fn(index sets) -> (K, K)`` on the observed culture sets and on every bootstrap replicate."""
        value = fn(self.groups)
        return Estimate(value, np.stack([fn(r) for r in self.resamples]) if self.resamples else None)

    @cached_property
    def fd_dimensions(self) -> int:
        """Components the Fréchet distance uses: at most a quarter of the smallest culture's images."""
        return int(max(1, min(self.x.shape[1], min(len(g) for g in self.groups) // 4)))

    @cached_property
    def kernel(self) -> np.ndarray:
        return polynomial_kernel(self.x, self.x)

    @cached_property
    def whitened(self) -> np.ndarray:
        return self.x @ noise_whitener(self.x, self.labels_index)

    @cached_property
    def per_critic(self) -> list[SpaceContext]:
        """Each critic of a panel in its own space."""
        return [SpaceContext(SpaceData([block]), self.space, self.labels_index, self.groups, self.resamples, self.settings) for block in self.data.blocks]


# --------------------------------------------------------------------------- the registry

POSITIVE, UNIT = (0.0, np.inf), (0.0, 1.0)
FLOOR_FORMS = ("excess", "ratio")


@dataclass(frozen=True)
class Metric:
    """A measure template: ``name`` + ``_<space>`` for every space it applies to."""

    name: str
    label: str  # in figures, followed by the space's label
    description: str  # "{where}" is replaced by the space's description
    distance: bool  # symmetric, zero diagonal, >= 0: clustered and Mantel-tested
    applies: Callable[[Space], bool]
    ward: bool  # the value is a squared Hilbert-space distance: Ward is valid on its square root
    bounds: tuple[float, float]  # range of possible values
    compute: Callable[[SpaceContext], Estimate]
    # split-half noise floor: ctx -> (pair function, the features it takes); None: no floor
    floor: Callable[[SpaceContext], tuple[Callable[[np.ndarray, np.ndarray], float], np.ndarray]] | None = None
    floor_forms: tuple[str, ...] = ()  # measures relative to the floor (FLOOR_FORMS)


# in declaration order, which is the order of every table's rows
METRICS: dict[str, Metric] = {}


def metric(
    name: str,
    label: str,
    *,
    description: str | None = None,
    distance: bool,
    applies: Callable[[Space], bool] = _every,
    ward: bool = False,
    bounds: tuple[float, float] = (-np.inf, np.inf),
    floor=None,
    floor_forms: tuple[str, ...] = (),
):
    """Declare the decorated function as the compute function of metric ``name``; its docstring
    (or ``description``) describes the measure, with ``{where}`` for the space's description."""
    assert name not in METRICS, name
    assert set(floor_forms) <= set(FLOOR_FORMS) and (floor is not None or not floor_forms), name

    def register(compute: Callable[[SpaceContext], Estimate]) -> Callable[[SpaceContext], Estimate]:
        text = description or " ".join(compute.__doc__.split())
        METRICS[name] = Metric(name, label, text, distance, applies, ward, bounds, compute, floor, floor_forms)
        return compute

    return register


def kid_distance(x: np.ndarray, y: np.ndarray) -> float:
    """KID clipped at 0: the unbiased estimate is negative only by sampling noise."""
    return max(kid(x, y), 0.0)


# ---- from features


@metric(
    "fd",
    "Fréchet distance",
    distance=True,
    bounds=POSITIVE,
    floor=lambda ctx: (frechet_distance, ctx.x[:, : ctx.fd_dimensions]),
    floor_forms=("excess", "ratio"),
)
def fd(ctx: SpaceContext) -> Estimate:
    """Fréchet distance in {where} (first n_min // 4 components)"""
    x = ctx.x[:, : ctx.fd_dimensions]
    return ctx.over_sets(lambda sets: frechet_matrix(x, sets))


@metric("kid", "KID", distance=True, ward=True, bounds=POSITIVE, floor=lambda ctx: (kid_distance, ctx.x), floor_forms=("excess",))
def kid_(ctx: SpaceContext) -> Estimate:
    """KID (unbiased MMD^2, cubic kernel) in {where}; negative estimates clipped to 0"""
    return ctx.over_sets(lambda sets: np.maximum(kid_matrix(ctx.kernel, sets), 0.0))


@metric("crossnobis", "crossnobis distance", distance=True, bounds=POSITIVE)
def crossnobis(ctx: SpaceContext) -> Estimate:
    """cross-validated squared distance of culture means in {where}, per dimension, in units of the within-culture
    spread (crossnobis); negative estimates clipped to 0
    """
    folds, seed = ctx.settings["crossnobis_folds"], ctx.settings["seed"]
    return ctx.over_sets(lambda sets: np.maximum(crossnobis_matrix(ctx.whitened, sets, folds, seed), 0.0))


@metric("probe_confusion", "linear-probe confusion", distance=False, bounds=UNIT)
def probe_confusion(ctx: SpaceContext) -> Estimate:
    """share of a's images the cross-validated linear probe in {where} assigns to b (diagonal: recall)"""
    s = ctx.settings
    predicted = probe_predictions(ctx.x, ctx.labels_index, s["probe_folds"], s["probe_c"], s["seed"])
    return ctx.over_sets(lambda sets: confusion_rates(ctx.labels_index, predicted, sets))


@metric("probe", "linear-probe distance", distance=True, bounds=UNIT)
def probe(ctx: SpaceContext) -> Estimate:
    """probe distance in {where}: 1 - 2 (C_ab + C_ba) / (C_aa + C_ab + C_ba + C_bb) of a cross-validated
    linear probe's confusion C, 0 = confused like chance, 1 = never confused
    """
    return ctx.estimate("probe_confusion").mapped(probe_distance)


# ---- the critic panel: each critic in its own space


def _median_over_critics(metric_name: str) -> Callable[[SpaceContext], Estimate]:
    def compute(ctx: SpaceContext) -> Estimate:
        per_critic = [c.estimate(metric_name) for c in ctx.per_critic]
        return Estimate(
            np.median([p.value for p in per_critic], axis=0),
            None if not ctx.resamples else np.median([p.replicates for p in per_critic], axis=0),
        )

    return compute


# a culture's own critic may see the others through artefacts of its own training: the median is robust to one odd critic
for _name, _label in (("kid", "KID"), ("crossnobis", "crossnobis")):
    metric(
        f"{_name}_median",
        f"median {_label} over critics",
        description=f"median over the critics of the {_label if _name == 'kid' else 'crossnobis distance'} in each critic's own space ({{where}})",
        distance=True,
        applies=_panel,
        bounds=POSITIVE,
    )(_median_over_critics(_name))


# ---- from critics' logits and the joint critic's embeddings


@metric("logit_auc", "logit AUC", distance=False, applies=_with_critics, bounds=UNIT)
def logit_auc(ctx: SpaceContext) -> Estimate:
    """ROC AUC of culture a's logit ({where}) on a's held-out images vs b's (0.5 = cannot tell b from a); asymmetric"""
    columns = [ctx.data.logits[:, k] for k in range(ctx.data.logits.shape[1])]
    return ctx.over_sets(lambda sets: critic_auc_matrix(columns, sets))


@metric("separability", "separability", distance=True, applies=_with_critics, bounds=UNIT)
def separability(ctx: SpaceContext) -> Estimate:
    """mean over both directions of |2 logit_auc - 1| ({where}): 0 = neither logit separates the pair, 1 =
    both perfectly
    """
    return ctx.estimate("logit_auc").mapped(symmetrised_separability)


@metric("cross_conditional", "cross-conditional score", distance=True, applies=_joint, bounds=POSITIVE)
def cross_conditional_score(ctx: SpaceContext) -> Estimate:
    """cross-conditional score of {where}: how much lower a's images score conditioned on b than on a (mean
    logit difference), averaged with b's; negative values clipped to 0
    """
    return ctx.over_sets(lambda sets: cross_conditional(ctx.data.logits, sets))


@metric("embedding_cosine", "culture-embedding cosine", distance=True, applies=_joint, bounds=(0.0, 2.0))
def embedding_cosine_distance(ctx: SpaceContext) -> Estimate:
    """cosine distance 1 - cos(e_a, e_b) of the culture embeddings of {where}"""
    return Estimate(embedding_cosine(ctx.data.embeddings))  # no images involved: no replicates


# --------------------------------------------------------------------------- measures


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


def _floor_form(m: Metric, space: Space, form: str) -> Measure:
    base = f"{m.name}_{space.name}"
    if form == "excess":
        description, label, bounds = f"{base} minus the mean split-half floor of the two cultures", f"{m.label}, {space.label} minus floor", (-np.inf, np.inf)
    else:
        description, label, bounds = f"{base} divided by the mean split-half floor of the two cultures", f"{m.label}, {space.label} / floor", POSITIVE
    return Measure(f"{base}_{form}", description, False, space.critics is not None, bounds=bounds, space=space.name, label=label)


def space_measures(space: Space) -> list[Measure]:
    """The measures of one space, in table order: every metric that applies, then the floor-relative forms."""
    per_seed = space.critics is not None
    metrics = [m for m in METRICS.values() if m.applies(space)]
    measures = [
        Measure(
            f"{m.name}_{space.name}",
            m.description.format(where=space.description),
            m.distance,
            per_seed,
            m.ward,
            m.bounds,
            space.name,
            m.floor is not None,
            f"{m.label}, {space.label}",
        )
        for m in metrics
    ]
    return measures + [_floor_form(m, space, form) for m in metrics for form in m.floor_forms]


MEASURES: dict[str, Measure] = {m.name: m for space in SPACES.values() for m in space_measures(space)}


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


def measure_label(name: str) -> str:
    """Readable name of a measure or comparison matrix (``fd_critic`` -> 'Fréchet distance, critic panel')."""
    if name == "geographic_km":
        return "geographic distance (km)"
    if name in MEASURES:
        return MEASURES[name].label
    if name.startswith("transfer_"):
        rest = name[len("transfer_") :]
        both = rest.endswith("_sym")
        return transfer_measure(rest[:-4] if both else rest, both).label
    return name.replace("_", " ")


def drawn_per_measure(name: str) -> bool:
    """Whether a measure gets its own heatmap, dendrogram, MDS map, neighbour and Mantel panels: every
    measure but the untrained controls, which are reported beside the others in the group-recovery
    table and figure."""
    return name not in MEASURES or not MEASURES[name].space or SPACES[MEASURES[name].space].role != "control"


def reference_counterpart(measure: str) -> str:
    """The same metric in the reference space (``kid_joint`` -> ``kid_reference``; a median over
    critics ``kid_median_critic`` -> ``kid_reference``), or the measure itself."""
    space = MEASURES[measure].space if measure in MEASURES else ""
    if not space or not measure.endswith(f"_{space}"):
        return measure
    return measure[: -len(space)].replace("_median_", "_") + "reference"


def untrained_counterpart(measure: str) -> str | None:
    """The same measure on the untrained network of its critics (``cross_conditional_joint`` ->
    ``cross_conditional_joint_untrained``, ``fd_critic_excess`` -> ``fd_critic_untrained_excess``), or None
    for a measure without one (baseline, controls, transfer, names not in the registry)."""
    info = MEASURES.get(measure)
    space = SPACES.get(info.space) if info is not None else None
    if space is None or space.role != "gan":
        return None
    # the control of a trained space is the untrained network of the same critics (panel or joint)
    at = measure.rfind(f"_{space.name}")
    for control in (s.name for s in SPACES.values() if s.role == "control" and s.critics == space.critics):
        candidate = f"{measure[:at]}_{control}{measure[at + len(space.name) + 1 :]}"
        if candidate in MEASURES:
            return candidate
    return None


PRIMARY_KEY = "similarity.primary_measure"


def primary_measure(name: str, key: str = PRIMARY_KEY) -> Measure:
    """The study's primary measure: a distance of a trained GAN space, named in the config before any
    evaluation so that "the best of 14 GAN measures" is not the result; UserError naming ``key`` otherwise."""
    gan = sorted(m for m, info in MEASURES.items() if info.distance and info.space and SPACES[info.space].role == "gan")
    info = MEASURES.get(name)
    if info is None or name not in gan:
        what = "no measure" if info is None else "not a distance of a trained GAN critic"
        raise UserError(f"config key '{key}': '{name}' is {what} (GAN measures: {', '.join(gan)})")
    return info


# --------------------------------------------------------------------------- computing a space


@contextmanager
def summarised_warnings(what: str):
    """Collect warnings raised inside (e.g. thousands of bootstrap replicates) and log each once, with a count."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for (category, message), count in Counter((w.category.__name__, str(w.message)) for w in caught).items():
        log.warning("%s: %d x %s: %s", what, count, category, message)


def space_estimates(
    data: SpaceData, space: Space, labels_index: np.ndarray, groups, resamples, settings: dict, names: Sequence[str]
) -> tuple[dict[str, Estimate], dict[str, np.ndarray], np.ndarray, float]:
    """Every measure of one space (one snapshot): (estimates by measure name, floors by measure (K, 3),
    the embedded features, their explained variance)."""
    ctx = SpaceContext(data, space, labels_index, groups, resamples, settings)
    estimates: dict[str, Estimate] = {}
    floors: dict[str, np.ndarray] = {}
    metrics = [m for m in METRICS.values() if m.applies(space)]
    with summarised_warnings(f"{space.name} measures"):
        for m in metrics:
            estimates[f"{m.name}_{space.name}"] = ctx.estimate(m.name)
            if m.floor is not None:
                pair_fn, features = m.floor(ctx)
                floors[f"{m.name}_{space.name}"] = culture_floors(
                    features, groups, pair_fn, settings["split_half_reps"], settings["seed"], settings["ci"], names
                )
    for m in metrics:
        name = f"{m.name}_{space.name}"
        replicates = estimates[name].replicates
        relative = dict(zip(FLOOR_FORMS, relative_to_floor(estimates[name].value, floors[name][:, 0]))) if m.floor_forms else {}
        relative_reps = dict(zip(FLOOR_FORMS, relative_to_floor(replicates, floors[name][:, 0]))) if m.floor_forms and replicates is not None else {}
        for form in m.floor_forms:
            estimates[f"{name}_{form}"] = Estimate(relative[form], relative_reps.get(form))
    assert list(estimates) == [m.name for m in space_measures(space)]  # computed exactly as declared
    return estimates, floors, ctx.x, ctx.explained
