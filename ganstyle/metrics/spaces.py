"""Feature spaces of the similarity stage: standardised feature blocks side by side, reduced by PCA."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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
