"""Stage ``cluster``: hierarchical clustering of every distance matrix, its bootstrap
stability, and 2-D MDS maps with bootstrap spread.

Input is ``results/similarity/distances.npz`` (point matrices and the bootstrap
replicate matrices of the similarity stage, which resample each culture's
held-out images).  Average linkage is applied to every measure; Ward only to
measures that are squared Hilbert-space distances (KID = MMD^2), on their
square root, where Ward's variance criterion is defined.
"""

from __future__ import annotations

import argparse
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import cophenet, fcluster, linkage
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.distance import squareform

from ganstyle import io
from ganstyle.config import add_settings_arguments, section
from ganstyle.errors import UserError
from ganstyle.io import files

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- trees


def clean_distance(matrix: np.ndarray, name: str = "distance matrix") -> np.ndarray:
    """A valid distance matrix: square, finite, symmetric (averaged), non-negative, zero diagonal."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{name}: not square, shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    if (matrix < 0).any():
        raise ValueError(f"{name}: negative distances")
    matrix = (matrix + matrix.T) / 2.0
    np.fill_diagonal(matrix, 0.0)
    return matrix


def linkage_input(distance: np.ndarray, method: str) -> np.ndarray:
    """The matrix a method clusters: the distance itself, or its square root for Ward."""
    return np.sqrt(distance) if method == "ward" else distance


def cluster_tree(distance: np.ndarray, method: str) -> np.ndarray:
    """scipy linkage matrix Z of a (K, K) distance matrix (``method`` 'average' or 'ward')."""
    return linkage(squareform(linkage_input(distance, method), checks=False), method=method)


def cophenetic_correlation(tree: np.ndarray, distance: np.ndarray, method: str) -> float:
    """Pearson correlation of the tree's cophenetic distances with the distances it clustered."""
    condensed = squareform(linkage_input(distance, method), checks=False)
    if np.ptp(condensed) == 0:
        return float("nan")  # all distances equal: any tree fits, the correlation is undefined
    return float(cophenet(tree, condensed)[0])


def flat_clusters(tree: np.ndarray, k: int) -> np.ndarray:
    """Cluster labels 0..k'-1 of the tree cut into at most ``k`` clusters, numbered by first appearance."""
    raw = fcluster(tree, k, criterion="maxclust")
    _, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inverse]


def silhouette_table(tree: np.ndarray, distance: np.ndarray, method: str, max_clusters: int) -> pd.DataFrame:
    """Silhouette of the cut at each k in 2..min(max_clusters, K-1): columns k, n_clusters, silhouette.

    ``n_clusters`` can fall short of ``k`` when merge heights tie; the silhouette
    is then NaN for that k.
    """
    from sklearn.metrics import silhouette_score

    clustered = linkage_input(distance, method)
    rows = []
    for k in range(2, min(max_clusters, len(distance) - 1) + 1):
        labels = flat_clusters(tree, k)
        n_clusters = len(np.unique(labels))
        score = silhouette_score(clustered, labels, metric="precomputed") if n_clusters == k else np.nan
        rows.append({"k": k, "n_clusters": n_clusters, "silhouette": float(score)})
    return pd.DataFrame(rows, columns=["k", "n_clusters", "silhouette"])


def choose_k(silhouettes: pd.DataFrame) -> tuple[int, float]:
    """k with the highest silhouette (the smallest such k on ties); (0, NaN) when none is defined."""
    valid = silhouettes.dropna(subset=["silhouette"])
    if valid.empty:
        return 0, float("nan")
    best = valid.loc[valid["silhouette"] == valid["silhouette"].max()].iloc[0]
    return int(best["k"]), float(best["silhouette"])


def node_leaf_sets(tree: np.ndarray) -> list[frozenset[int]]:
    """Leaves under each merge of a linkage matrix, in merge order (node K + i is merge i)."""
    n = len(tree) + 1
    members: list[frozenset[int]] = [frozenset([i]) for i in range(n)]
    for left, right, *_ in tree:
        members.append(members[int(left)] | members[int(right)])
    return members[n:]


def node_support(tree: np.ndarray, replicate_trees: Sequence[np.ndarray]) -> np.ndarray:
    """Share of replicate trees containing each merge's exact leaf set (bootstrap clade support)."""
    if not replicate_trees:
        return np.full(len(tree), np.nan)
    reference = node_leaf_sets(tree)
    counts = np.zeros(len(reference))
    for replicate in replicate_trees:
        found = set(node_leaf_sets(replicate))
        counts += [leaves in found for leaves in reference]
    return counts / len(replicate_trees)


def co_clustering(label_sets: Sequence[np.ndarray]) -> np.ndarray:
    """(K, K) share of label vectors in which two cultures share a cluster (consensus matrix)."""
    labels = np.asarray(label_sets)
    return (labels[:, :, None] == labels[:, None, :]).mean(axis=0)


# --------------------------------------------------------------------------- MDS


def mds_embedding(distance: np.ndarray, seed: int) -> np.ndarray:
    """Metric MDS (SMACOF) in 2-D, started from classical MDS: deterministic."""
    from sklearn.manifold import MDS

    if np.ptp(distance) == 0:
        return np.zeros((len(distance), 2))
    model = MDS(n_components=2, metric="precomputed", n_init=1, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        embedding = model.fit_transform(distance, init=classical_mds(distance))
    return embedding - embedding.mean(axis=0)


def classical_mds(distance: np.ndarray, n_components: int = 2) -> np.ndarray:
    """Torgerson's classical MDS, keeping only positive eigenvalues.

    Distances that break the triangle inequality (FD, KID, probe rates often
    do) give negative eigenvalues; clipping them, rather than taking their
    square root, keeps the start of SMACOF finite.
    """
    n = len(distance)
    centring = np.eye(n) - np.full((n, n), 1.0 / n)
    gram = -0.5 * centring @ (distance**2) @ centring
    values, vectors = np.linalg.eigh(gram)
    order = np.argsort(values)[::-1][:n_components]
    scale = np.sqrt(np.clip(values[order], 0.0, None))
    coords = vectors[:, order] * scale
    if coords.shape[1] < n_components:
        coords = np.pad(coords, ((0, 0), (0, n_components - coords.shape[1])))
    return coords


def kruskal_stress(embedding: np.ndarray, distance: np.ndarray) -> float:
    """Kruskal's stress-1 of an embedding: sqrt(sum (d_ij - delta_ij)^2 / sum delta_ij^2); < 0.1 is good."""
    fitted = np.sqrt(((embedding[:, None, :] - embedding[None, :, :]) ** 2).sum(-1))
    upper = np.triu_indices(len(distance), 1)
    total = float((distance[upper] ** 2).sum())
    return float(np.sqrt(((fitted[upper] - distance[upper]) ** 2).sum() / total)) if total > 0 else float("nan")


def align_to(embedding: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotate/reflect a centred embedding onto a centred target (orthogonal Procrustes, no scaling).

    No scaling: a replicate whose distances are all larger should look larger.
    """
    centred = embedding - embedding.mean(axis=0)
    rotation, _ = orthogonal_procrustes(centred, target - target.mean(axis=0))
    return centred @ rotation + target.mean(axis=0)


def mds_with_spread(distance: np.ndarray, replicates: np.ndarray | None, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Point embedding (K, 2) and the replicate embeddings aligned to it (B, K, 2) or None."""
    point = mds_embedding(distance, seed)
    if replicates is None:
        return point, None
    aligned = np.stack([align_to(mds_embedding(r, seed), point) for r in replicates])
    return point, aligned


# --------------------------------------------------------------------------- one measure


def cluster_measure(
    name: str,
    distance: np.ndarray,
    replicates: np.ndarray | None,
    method: str,
    cultures: Sequence[str],
    max_clusters: int,
) -> dict[str, pd.DataFrame | np.ndarray | dict]:
    """Everything the stage writes for one (measure, method): tables for summary, linkage, silhouettes,
    assignments, and the consensus matrix at the chosen k."""
    tree = cluster_tree(distance, method)
    silhouettes = silhouette_table(tree, distance, method, max_clusters)
    k, silhouette = choose_k(silhouettes)
    replicate_trees = [cluster_tree(r, method) for r in replicates] if replicates is not None else []
    support = node_support(tree, replicate_trees)
    n = len(cultures)
    leaves = node_leaf_sets(tree)
    linkage_rows = pd.DataFrame(
        {
            "node": np.arange(n, 2 * n - 1),
            "left": tree[:, 0].astype(int),
            "right": tree[:, 1].astype(int),
            "height": tree[:, 2],
            "size": tree[:, 3].astype(int),
            "support": support,
            "leaves": [",".join(cultures[i] for i in sorted(s)) for s in leaves],
        }
    )
    assignments = [pd.DataFrame({"k": kk, "culture": list(cultures), "cluster": flat_clusters(tree, kk)}) for kk in range(2, min(max_clusters, n - 1) + 1)]
    consensus = None
    if k and replicate_trees:
        consensus = co_clustering([flat_clusters(t, k) for t in replicate_trees])
    summary = {
        "measure": name,
        "method": method,
        "n_cultures": n,
        "cophenetic_r": cophenetic_correlation(tree, distance, method),
        "chosen_k": k,
        "silhouette": silhouette,
        "n_boot": len(replicate_trees),
        "mean_node_support": float(np.nanmean(support)) if replicate_trees else float("nan"),
    }
    return {
        "summary": summary,
        "linkage": linkage_rows.assign(measure=name, method=method),
        "silhouette": silhouettes.assign(measure=name, method=method),
        "assignments": pd.concat(assignments, ignore_index=True).assign(measure=name, method=method) if assignments else None,
        "consensus": consensus,
    }


# --------------------------------------------------------------------------- I/O


def read_distances(path: str) -> tuple[list[str], dict[str, np.ndarray], dict[str, np.ndarray | None], dict[str, bool]]:
    """(cultures, point matrices checked as distances, replicate matrices or None, ward allowed) by measure name."""
    distances = files.load_distances(path)
    points = {}
    for name, matrix in distances.values.items():
        try:
            points[name] = clean_distance(matrix, f"{path}: {name}")
        except ValueError as err:
            raise UserError(str(err)) from err
    return distances.cultures, points, distances.replicates, distances.ward


def _clean_replicates(name: str, replicates: np.ndarray | None) -> np.ndarray | None:
    if replicates is None or len(replicates) == 0:
        return None
    finite = np.isfinite(replicates).all(axis=(1, 2))
    if not finite.all():
        log.warning("%s: %d of %d bootstrap replicates contain NaN and are left out", name, int((~finite).sum()), len(finite))
    kept = np.clip(replicates[finite], 0.0, None)
    return np.stack([clean_distance(r) for r in kept]) if len(kept) else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ganstyle cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--distances", required=True, help="results/similarity/distances.npz")
    parser.add_argument("--out", required=True, help="output folder (results/clustering)")
    add_settings_arguments(parser, "clustering")
    return parser


def main(argv: list[str] | None = None, stage: str = "cluster") -> int:
    args = build_parser().parse_args(argv)
    settings = section("clustering", args.settings, args.config_path)
    cultures, points, replicates, ward_ok = read_distances(args.distances)
    if len(cultures) < 3:
        raise UserError(f"{args.distances}: {len(cultures)} cultures; clustering needs at least 3")
    out = Path(args.out)

    summaries, linkages, silhouettes, assignments, mds_rows, mds_replicate_rows = [], [], [], [], [], []
    for name, distance in points.items():
        reps = _clean_replicates(name, replicates[name])
        for method in settings["methods"]:
            if method == "ward" and not ward_ok[name]:
                continue  # Ward's criterion needs Euclidean (Hilbert) distances
            result = cluster_measure(name, distance, reps, method, cultures, settings["max_clusters"])
            summaries.append(result["summary"])
            linkages.append(result["linkage"])
            silhouettes.append(result["silhouette"])
            if result["assignments"] is not None:
                assignments.append(result["assignments"])
            if result["consensus"] is not None:
                frame = pd.DataFrame(result["consensus"], index=cultures, columns=cultures)
                frame.index.name = "culture"
                io.write_tsv(out / files.CLUSTERING["consensus"] / f"{name}__{method}.tsv", frame, index=True)
            log.info(
                "%s / %s: k=%s silhouette=%.3f cophenetic r=%.3f",
                name,
                method,
                result["summary"]["chosen_k"],
                result["summary"]["silhouette"],
                result["summary"]["cophenetic_r"],
            )

        point, aligned = mds_with_spread(distance, reps, settings["seed"])
        spread = np.sqrt(((aligned - point) ** 2).sum(-1).mean(0)) if aligned is not None else np.full(len(cultures), np.nan)
        sd = aligned.std(axis=0) if aligned is not None else np.full_like(point, np.nan)
        mds_rows.append(
            pd.DataFrame(
                {
                    "measure": name,
                    "culture": cultures,
                    "x": point[:, 0],
                    "y": point[:, 1],
                    "sd_x": sd[:, 0],
                    "sd_y": sd[:, 1],
                    "spread": spread,
                    "stress1": kruskal_stress(point, distance),
                }
            )
        )
        if aligned is not None:
            b, k = aligned.shape[:2]
            mds_replicate_rows.append(
                pd.DataFrame(
                    {
                        "measure": name,
                        "replicate": np.repeat(np.arange(b), k),
                        "culture": np.tile(cultures, b),
                        "x": aligned[..., 0].ravel(),
                        "y": aligned[..., 1].ravel(),
                    }
                )
            )

    first = ["measure", "method"]

    def ordered(frames, columns=None):
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns or first)
        return frame[first + [c for c in frame.columns if c not in first]]

    io.write_tsv(out / files.CLUSTERING["summary"], ordered([pd.DataFrame(summaries)]))
    io.write_tsv(out / files.CLUSTERING["linkage"], ordered(linkages))
    io.write_tsv(out / files.CLUSTERING["silhouette"], ordered(silhouettes))
    io.write_tsv(out / files.CLUSTERING["assignments"], ordered(assignments, first + ["k", "culture", "cluster"]))
    io.write_tsv(out / files.CLUSTERING["mds"], pd.concat(mds_rows, ignore_index=True))
    io.write_tsv(
        out / files.CLUSTERING["mds_bootstrap"],
        pd.concat(mds_replicate_rows, ignore_index=True) if mds_replicate_rows else pd.DataFrame(columns=["measure", "replicate", "culture", "x", "y"]),
    )
    (out / files.CLUSTERING["consensus"]).mkdir(parents=True, exist_ok=True)  # declared output, even with no bootstrap
    log.info("clustered %d measures -> %s", len(points), out)
    return 0
