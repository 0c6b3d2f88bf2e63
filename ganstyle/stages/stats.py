"""Stage ``stats``: do the measured distances agree with known groups, with geography,
with each other, and across GAN seeds?

- ARI and NMI between each clustering and the registry's ``group`` column, with a
  permutation p-value (group labels shuffled over cultures);
- PERMANOVA and PERMDISP (scikit-bio) on image-level features by culture, and by
  group with whole cultures permuted (images of one culture are not independent
  evidence about groups), plus by group on each culture x culture distance matrix;
- Mantel tests (scikit-bio) between every pair of distance matrices, geographic
  distance (haversine of registry ``lat``/``lon``) and user matrices;
- Mantel r between the matrices of different GAN seeds (stability);
- group recovery, every measure side by side with its controls: ARI at k =
  number of groups (average linkage) with its permutation p and its
  Benjamini-Hochberg q over the measures of the table, and the
  continuous endpoint, the probability that a within-group distance is smaller
  than an across-group one (``ganstyle.metrics.groups``), with a bootstrap
  interval and its range over seeds.
"""

from __future__ import annotations

import argparse
import json
import logging
import warnings
from collections.abc import Callable, Sequence
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from ganstyle import io
from ganstyle.config import add_settings_arguments, section
from ganstyle.errors import UserError
from ganstyle.io import files
from ganstyle.metrics.groups import agreement, agreement_p_value
from ganstyle.metrics.multiplicity import bh_q_values

log = logging.getLogger(__name__)

ARI_COLUMNS = ["measure", "method", "k_rule", "k", "n_cultures", "n_groups", "ari", "nmi", "p_value", "permutations"]
PERMANOVA_COLUMNS = ["level", "space", "factor", "permuted", "n_objects", "n_groups", "statistic", "p_value", "permutations"]
MANTEL_COLUMNS = ["matrix_a", "matrix_b", "method", "r", "p_value", "q_bh", "permutations", "n"]
SEED_COLUMNS = ["measure", "seed_a", "seed_b", "method", "r", "p_value", "permutations", "n"]
RECOVERY_COLUMNS = [
    "measure",
    "space",
    "role",
    "primary",
    "ari",
    "ari_p_value",
    "ari_q_bh",
    "k",
    "group_auc",
    "group_auc_ci_low",
    "group_auc_ci_high",
    "group_auc_seed_min",
    "group_auc_seed_max",
    "n_seeds",
    "seed_r_min",
    "seed_r_mean",
]


# --------------------------------------------------------------------------- agreement with groups


def agreement_table(assignments: pd.DataFrame, summary: pd.DataFrame, group_of: dict[str, str], permutations: int, seed: int) -> pd.DataFrame:
    """ARI/NMI of every (measure, method) at k = number of groups and at the silhouette-chosen k."""
    cultures = [c for c in assignments["culture"].unique() if c in group_of]
    groups = [group_of[c] for c in cultures]
    n_groups = len(set(groups))
    rows = []
    for (measure, method), chosen in summary.set_index(["measure", "method"])["chosen_k"].items():
        for rule, k in (("groups", n_groups), ("silhouette", int(chosen))):
            cut = assignments[(assignments["measure"] == measure) & (assignments["method"] == method) & (assignments["k"] == k)]
            if cut.empty:
                continue  # k outside the range the clustering stage cut at
            cluster_of = dict(zip(cut["culture"], cut["cluster"]))
            clusters = [cluster_of[c] for c in cultures]
            ari, nmi = agreement(clusters, groups)
            p = agreement_p_value(clusters, groups, permutations, seed)
            rows.append(
                {
                    "measure": measure,
                    "method": method,
                    "k_rule": rule,
                    "k": k,
                    "n_cultures": len(cultures),
                    "n_groups": n_groups,
                    "ari": ari,
                    "nmi": nmi,
                    "p_value": p,
                    "permutations": permutations,
                }
            )
    return pd.DataFrame(rows, columns=ARI_COLUMNS)


# --------------------------------------------------------------------------- PERMANOVA / PERMDISP


def euclidean_distance_matrix(features: np.ndarray):
    """skbio DistanceMatrix of Euclidean distances between rows (ids are row numbers)."""
    from scipy.spatial.distance import pdist, squareform
    from skbio import DistanceMatrix

    return DistanceMatrix(squareform(pdist(np.asarray(features, dtype=np.float64))), [str(i) for i in range(len(features))])


def unit_permutation_test(
    statistic: Callable[[np.ndarray], float], unit_of_row: np.ndarray, group_of_unit: dict, permutations: int, seed: int
) -> tuple[float, float]:
    """(statistic, p) where the permutations shuffle group labels over whole units (cultures), not rows.

    Rows of one unit keep one label, so the test asks whether *units* differ by
    group; p = (1 + #{permuted >= observed}) / (1 + permutations).
    """
    units = sorted(group_of_unit)
    labels = np.array([group_of_unit[u] for u in units])
    position = {u: i for i, u in enumerate(units)}
    row_unit = np.array([position[u] for u in unit_of_row])
    observed = statistic(labels[row_unit])
    if permutations == 0:
        return observed, float("nan")
    rng = np.random.default_rng(seed)
    hits = sum(statistic(rng.permutation(labels)[row_unit]) >= observed - 1e-12 for _ in range(permutations))
    return observed, (1 + hits) / (1 + permutations)


def image_level_tests(
    features: np.ndarray, cultures: np.ndarray, group_of: dict[str, str], space: str, permutations: int, seed: int
) -> tuple[list[dict], list[dict]]:
    """PERMANOVA and PERMDISP rows for one image-level feature space: by culture, and by group (cultures permuted)."""
    from skbio.stats.distance import permanova, permdisp
    from skbio.stats.ordination import pcoa

    dm = euclidean_distance_matrix(features)
    # Euclidean distances: the principal coordinates are the (centred) features themselves, all of them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ordination = pcoa(dm, dimensions=min(features.shape[1], len(features) - 1))
    cultures = np.asarray(cultures).astype(str)
    n_cultures = len(set(cultures))
    anova, disp = [], []
    base = {"level": "image", "space": space, "n_objects": len(features)}

    by_culture = {**base, "factor": "culture", "permuted": "images", "n_groups": n_cultures, "permutations": permutations}
    for rows, test, data in ((anova, permanova, dm), (disp, permdisp, ordination)):
        result = test(data, cultures, permutations=permutations, seed=seed)
        rows.append({**by_culture, "statistic": result["test statistic"], "p_value": result["p-value"]})

    with_group = np.isin(cultures, list(group_of))
    n_groups = len(set(group_of[c] for c in set(cultures[with_group]))) if with_group.any() else 0
    if n_groups >= 2 and n_groups < len(set(cultures[with_group])):
        sub_dm = dm.filter([str(i) for i in np.flatnonzero(with_group)]) if not with_group.all() else dm
        sub_ord = ordination if with_group.all() else pcoa(sub_dm, dimensions=min(features.shape[1], int(with_group.sum()) - 1))
        units = {c: group_of[c] for c in set(cultures[with_group])}

        def pseudo_f(labels):
            return float(permanova(sub_dm, labels, permutations=0)["test statistic"])

        def dispersion_f(labels):
            return float(permdisp(sub_ord, labels, permutations=0)["test statistic"])

        for fn, rows in ((pseudo_f, anova), (dispersion_f, disp)):
            statistic, p = unit_permutation_test(fn, cultures[with_group], units, permutations, seed)
            rows.append(
                {
                    **base,
                    "n_objects": int(with_group.sum()),
                    "factor": "group",
                    "permuted": "cultures",
                    "n_groups": n_groups,
                    "statistic": statistic,
                    "p_value": p,
                    "permutations": permutations,
                }
            )
    return anova, disp


def culture_level_tests(
    distance: np.ndarray, cultures: Sequence[str], group_of: dict[str, str], name: str, permutations: int, seed: int
) -> tuple[dict, dict] | None:
    """PERMANOVA and PERMDISP by group on one culture x culture distance matrix (cultures are the objects)."""
    from skbio import DistanceMatrix
    from skbio.stats.distance import permanova, permdisp

    keep = [i for i, c in enumerate(cultures) if c in group_of]
    labels = [group_of[cultures[i]] for i in keep]
    if len(set(labels)) < 2 or len(set(labels)) == len(labels):
        return None
    dm = DistanceMatrix(distance[np.ix_(keep, keep)], [cultures[i] for i in keep])
    base = {
        "level": "culture",
        "space": name,
        "factor": "group",
        "permuted": "cultures",
        "n_objects": len(keep),
        "n_groups": len(set(labels)),
        "permutations": permutations,
    }
    anova = permanova(dm, labels, permutations=permutations, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # non-Euclidean measures: negative eigenvalues are expected
        disp = permdisp(dm, labels, permutations=permutations, seed=seed, dimensions=len(keep), warn_neg_eigval=False)
    return (
        {**base, "statistic": anova["test statistic"], "p_value": anova["p-value"]},
        {**base, "statistic": disp["test statistic"], "p_value": disp["p-value"]},
    )


# --------------------------------------------------------------------------- Mantel


def mantel_test(x: np.ndarray, y: np.ndarray, method: str, permutations: int, seed: int) -> tuple[float, float, int]:
    """(r, p, n) of a Mantel test between two distance matrices over the same cultures (scikit-bio)."""
    from skbio.stats.distance import mantel

    r, p, n = mantel(x, y, method=method, permutations=permutations, seed=seed)
    return float(r), float(p), int(n)


def known_rows(matrix: np.ndarray) -> np.ndarray:
    """Cultures among which every distance is known (e.g. those with coordinates in a geographic matrix).

    Drops the culture with the most unknown distances until none is left.
    """
    keep = np.ones(len(matrix), dtype=bool)
    while keep.any():
        unknown = (~np.isfinite(matrix[np.ix_(keep, keep)])).sum(axis=1)
        if unknown.max() == 0:
            break
        keep[np.flatnonzero(keep)[unknown.argmax()]] = False
    return keep


def mantel_table(matrices: dict[str, np.ndarray], method: str, permutations: int, seed: int) -> pd.DataFrame:
    """Mantel test between every pair of matrices, on the cultures both know; BH q-values over the table."""
    rows = []
    for a, b in combinations(matrices, 2):
        keep = known_rows(matrices[a]) & known_rows(matrices[b])
        if keep.sum() < 3:
            log.warning("Mantel %s vs %s: only %d cultures known to both, skipped", a, b, int(keep.sum()))
            continue
        x, y = (matrices[m][np.ix_(keep, keep)] for m in (a, b))
        if np.ptp(x[np.triu_indices(len(x), 1)]) == 0 or np.ptp(y[np.triu_indices(len(y), 1)]) == 0:
            log.warning("Mantel %s vs %s: a matrix is constant, correlation undefined, skipped", a, b)
            continue
        r, p, n = mantel_test(x, y, method, permutations, seed)
        rows.append({"matrix_a": a, "matrix_b": b, "method": method, "r": r, "p_value": p, "permutations": permutations, "n": n})
    table = pd.DataFrame(rows, columns=MANTEL_COLUMNS)
    table["q_bh"] = bh_q_values(table["p_value"].to_numpy(dtype=np.float64))
    return table


def seed_matrices(per_seed: pd.DataFrame, cultures: Sequence[str]) -> dict[str, dict[int, np.ndarray]]:
    """Square matrices from the long per-seed table: measure -> seed -> (K, K)."""
    out: dict[str, dict[int, np.ndarray]] = {}
    for (measure, seed), rows in per_seed.groupby(["measure", "seed"], sort=True):
        square = rows.pivot(index="culture_a", columns="culture_b", values="value").reindex(index=cultures, columns=cultures)
        out.setdefault(str(measure), {})[int(seed)] = square.to_numpy(dtype=np.float64)
    return out


def seed_stability_table(matrices: dict[str, dict[int, np.ndarray]], method: str, permutations: int, seed: int) -> pd.DataFrame:
    """Mantel r between the matrices of every pair of GAN seeds, per measure."""
    rows = []
    for measure, by_seed in matrices.items():
        for a, b in combinations(sorted(by_seed), 2):
            r, p, n = mantel_test(by_seed[a], by_seed[b], method, permutations, seed)
            rows.append({"measure": measure, "seed_a": a, "seed_b": b, "method": method, "r": r, "p_value": p, "permutations": permutations, "n": n})
    return pd.DataFrame(rows, columns=SEED_COLUMNS)


# --------------------------------------------------------------------------- one line per measure


def _mantel_r(mantel: pd.DataFrame, a: str, b: str) -> float:
    hit = mantel[((mantel["matrix_a"] == a) & (mantel["matrix_b"] == b)) | ((mantel["matrix_a"] == b) & (mantel["matrix_b"] == a))]
    return float(hit["r"].iloc[0]) if len(hit) else float("nan")


def measure_summary(measures: Sequence[str], ari: pd.DataFrame, mantel: pd.DataFrame, stability: pd.DataFrame) -> pd.DataFrame:
    """Per distance measure: agreement with the groups (average linkage cut at the number of groups),
    Mantel r with the reference baseline and with geography, and the lowest Mantel r between seeds."""
    at_groups = ari[(ari["method"] == "average") & (ari["k_rule"] == "groups")].set_index("measure")
    rows = []
    for m in measures:
        found = m in at_groups.index
        seeds = stability.loc[stability["measure"] == m, "r"]
        rows.append(
            {
                "measure": m,
                "ari_groups": at_groups.loc[m, "ari"] if found else np.nan,
                "nmi_groups": at_groups.loc[m, "nmi"] if found else np.nan,
                "ari_p_value": at_groups.loc[m, "p_value"] if found else np.nan,
                "r_fd_reference": _mantel_r(mantel, m, "fd_reference"),
                "r_kid_reference": _mantel_r(mantel, m, "kid_reference"),
                "r_geographic_km": _mantel_r(mantel, m, "geographic_km"),
                "seed_r_min": float(seeds.min()) if len(seeds) else np.nan,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- group recovery


def group_recovery_table(
    distances: dict[str, np.ndarray],
    replicates: dict[str, np.ndarray | None],
    seed_matrices_by_measure: dict[str, dict[int, np.ndarray]],
    cultures: Sequence[str],
    group_of: dict[str, str],
    ari: pd.DataFrame,
    stability: pd.DataFrame,
    roles: pd.DataFrame,
    ci: float,
) -> pd.DataFrame:
    """One row per distance measure: how well it recovers the known groups (see the module docstring).

    ``roles``: measures.tsv of the similarity stage (columns measure, space, role),
    so that every GAN measure stands next to its untrained control and the baseline.
    """
    from ganstyle.metrics.groups import within_across_auc, within_across_auc_replicates

    groups = [group_of.get(c) for c in cultures]
    at_groups = ari[(ari["method"] == "average") & (ari["k_rule"] == "groups")].set_index("measure")
    info = roles.set_index("measure")
    rows = []
    for name, matrix in distances.items():
        low = high = np.nan
        if replicates.get(name) is not None:
            values = within_across_auc_replicates(replicates[name], groups)
            values = values[np.isfinite(values)]
            if values.size:
                low, high = np.quantile(values, [(1 - ci) / 2, (1 + ci) / 2])
        by_seed = [within_across_auc(m, groups) for m in seed_matrices_by_measure.get(name, {}).values()]
        seed_r = stability.loc[stability["measure"] == name, "r"]
        rows.append(
            {
                "measure": name,
                "space": info.loc[name, "space"] if name in info.index else "",
                "role": info.loc[name, "role"] if name in info.index else "",
                "primary": bool(info.loc[name, "primary"]) if name in info.index and "primary" in info else False,
                "ari": at_groups.loc[name, "ari"] if name in at_groups.index else np.nan,
                "ari_p_value": at_groups.loc[name, "p_value"] if name in at_groups.index else np.nan,
                "k": at_groups.loc[name, "k"] if name in at_groups.index else np.nan,
                "group_auc": within_across_auc(matrix, groups),
                "group_auc_ci_low": low,
                "group_auc_ci_high": high,
                "group_auc_seed_min": min(by_seed) if by_seed else np.nan,
                "group_auc_seed_max": max(by_seed) if by_seed else np.nan,
                "n_seeds": len(by_seed),
                "seed_r_min": float(seed_r.min()) if len(seed_r) else np.nan,
                "seed_r_mean": float(seed_r.mean()) if len(seed_r) else np.nan,
            }
        )
    table = pd.DataFrame(rows, columns=RECOVERY_COLUMNS)
    # one family of tests: every measure of the table (GAN, controls, baselines) asks the same question
    table["ari_q_bh"] = bh_q_values(table["ari_p_value"].to_numpy(dtype=np.float64))
    return table


# --------------------------------------------------------------------------- external matrices


def geographic_matrix(registry: pd.DataFrame, cultures: Sequence[str]) -> np.ndarray | None:
    """Great-circle km between cultures (NaN rows for cultures without coordinates); None if fewer than 3 are known."""
    from ganstyle.metrics.geo import haversine_matrix

    lat = pd.to_numeric(registry.loc[list(cultures), "lat"], errors="coerce").to_numpy(dtype=np.float64)
    lon = pd.to_numeric(registry.loc[list(cultures), "lon"], errors="coerce").to_numpy(dtype=np.float64)
    known = np.isfinite(lat) & np.isfinite(lon)
    if known.sum() < 3:
        return None
    if not known.all():
        log.warning("registry: no lat/lon for %s; geographic Mantel tests leave them out", ", ".join(np.asarray(cultures)[~known]))
    return haversine_matrix(lat, lon)


def read_external_matrix(path: str | Path, cultures: Sequence[str], key: str) -> np.ndarray:
    """A user's square culture x culture TSV, reordered to ``cultures``; extra cultures are ignored."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{key}: file not found: {path}")
    try:
        frame = pd.read_csv(path, sep="\t", index_col=0)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise UserError(f"{path} ({key}): cannot be parsed: {err}") from err
    frame.index, frame.columns = frame.index.astype(str), frame.columns.astype(str)
    missing = [c for c in cultures if c not in frame.index or c not in frame.columns]
    if missing:
        raise UserError(f"{path} ({key}): no row/column for culture(s) {', '.join(missing)}")
    try:
        matrix = frame.loc[list(cultures), list(cultures)].to_numpy(dtype=np.float64)
    except ValueError as err:
        raise UserError(f"{path} ({key}): non-numeric value: {err}") from err
    if not np.isfinite(matrix).all():
        raise UserError(f"{path} ({key}): empty, NaN or infinite values")
    if not np.allclose(matrix, matrix.T, rtol=1e-6, atol=1e-9):
        raise UserError(f"{path} ({key}): not symmetric")
    if (matrix < 0).any() or not np.allclose(np.diag(matrix), 0.0):
        raise UserError(f"{path} ({key}): distances must be >= 0 with a zero diagonal")
    return (matrix + matrix.T) / 2.0


# --------------------------------------------------------------------------- I/O


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ganstyle stats", description=__doc__.splitlines()[0])
    parser.add_argument("--distances", required=True, help="results/similarity/distances.npz")
    parser.add_argument("--per-seed", required=True, help="results/similarity/per_seed.tsv")
    parser.add_argument("--image-features", required=True, help="results/similarity/image_features.npz")
    parser.add_argument("--assignments", required=True, help="results/clustering/assignments.tsv")
    parser.add_argument("--cluster-summary", required=True, help="results/clustering/summary.tsv")
    parser.add_argument("--measures", required=True, help="results/similarity/measures.tsv (space and role of every measure)")
    parser.add_argument("--ci", type=float, default=0.95, help="coverage of the group-AUC bootstrap interval")
    parser.add_argument("--cultures-file", required=True, help="culture registry (config key 'cultures')")
    parser.add_argument("--metadata", default="null", help="config key 'metadata' as JSON")
    parser.add_argument("--out", required=True, help="output folder (results/stats)")
    add_settings_arguments(parser, "stats")
    return parser


def main(argv: list[str] | None = None, stage: str = "stats") -> int:
    from ganstyle.config.registry import load_registry
    from ganstyle.stages.clustering import read_distances

    args = build_parser().parse_args(argv)
    settings = section("stats", args.settings, args.config_path)
    permutations, seed, method = settings["permutations"], settings["seed"], settings["mantel_method"]
    out = Path(args.out)

    cultures, distances, replicates, _ = read_distances(args.distances)
    registry = load_registry(args.cultures_file, json.loads(args.metadata))
    unknown = [c for c in cultures if c not in registry.index]
    if unknown:
        raise UserError(f"{args.distances}: culture(s) {', '.join(unknown)} not in the registry {args.cultures_file}")
    group_of = {c: str(registry.loc[c, "group"]) for c in cultures if registry.loc[c, "group"] not in (None, "") and not pd.isna(registry.loc[c, "group"])}
    has_groups = len(set(group_of.values())) >= 2
    if not has_groups:
        log.warning("registry: fewer than 2 groups in column 'group'; ARI/NMI and group tests are skipped")
    elif len(group_of) < len(cultures):
        log.warning("registry: no group for %s; they are left out of group comparisons", ", ".join(c for c in cultures if c not in group_of))

    # agreement of clusters with groups
    ari = pd.DataFrame(columns=ARI_COLUMNS)
    if has_groups:
        ari = agreement_table(io.read_tsv(args.assignments), io.read_tsv(args.cluster_summary), group_of, permutations, seed)
    io.write_tsv(out / files.STATS["ari_nmi"], ari)

    # PERMANOVA / PERMDISP
    anova_rows, disp_rows = [], []
    image_features = files.load_image_features(args.image_features)
    image_cultures = image_features.culture
    spaces = {name: features.astype(np.float64) for name, features in image_features.spaces.items()}
    for space, features in spaces.items():
        anova, disp = image_level_tests(features, image_cultures, group_of if has_groups else {}, space, permutations, seed)
        anova_rows += anova
        disp_rows += disp
        log.info("image-level PERMANOVA/PERMDISP in %s done", space)
    if has_groups:
        for name, matrix in distances.items():
            tests = culture_level_tests(matrix, cultures, group_of, name, permutations, seed)
            if tests:
                anova_rows.append(tests[0])
                disp_rows.append(tests[1])
    io.write_tsv(out / files.STATS["permanova"], pd.DataFrame(anova_rows, columns=PERMANOVA_COLUMNS))
    io.write_tsv(out / files.STATS["permdisp"], pd.DataFrame(disp_rows, columns=PERMANOVA_COLUMNS))

    # Mantel tests: measures, geography, user matrices
    matrices = dict(distances)
    geo = geographic_matrix(registry, cultures)
    if geo is not None:
        matrices["geographic_km"] = geo
    for entry in settings["external_matrices"]:
        if entry["name"] in matrices:
            raise UserError(f"config key stats.external_matrices: name '{entry['name']}' is already used by a measure")
        matrices[entry["name"]] = read_external_matrix(entry["path"], cultures, f"stats.external_matrices '{entry['name']}'")
    mantel = mantel_table(matrices, method, permutations, seed)
    io.write_tsv(out / files.STATS["mantel"], mantel)

    # stability across GAN seeds
    per_seed = seed_matrices(io.read_tsv(args.per_seed), cultures)
    stability = seed_stability_table(per_seed, method, permutations, seed)
    if stability.empty:
        log.info("one GAN seed: seed_stability.tsv has no rows (config key gan.seeds)")
    io.write_tsv(out / files.STATS["seed_stability"], stability)
    recovery = pd.DataFrame(columns=RECOVERY_COLUMNS)
    if has_groups:
        recovery = group_recovery_table(distances, replicates, per_seed, cultures, group_of, ari, stability, io.read_tsv(args.measures), args.ci)
    io.write_tsv(out / files.STATS["group_recovery"], recovery)
    io.write_tsv(out / files.STATS["summary"], measure_summary(list(distances), ari, mantel, stability))
    log.info("stats -> %s", out)
    return 0
