"""Distances between cultures read off critics' logits and a conditional critic's culture embeddings.

``logits`` are (N, K): column k is culture k's critic on every image, or a
conditional critic's logit for every image conditioned on culture k.  Index
sets select each culture's rows (bootstrap resamples repeat rows).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ganstyle.metrics.classification import roc_auc


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
