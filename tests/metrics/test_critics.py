"""Distances from critics' logits and culture embeddings."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from ganstyle.metrics.critics import critic_auc_matrix, cross_conditional, embedding_cosine, symmetrised_separability


def test_critic_auc_matrix_matches_sklearn():
    rng = np.random.default_rng(1)
    groups = [np.arange(0, 30), np.arange(30, 70), np.arange(70, 90)]
    logits = [rng.normal(size=90) + 2.0 * np.isin(np.arange(90), g) for g in groups]
    auc = critic_auc_matrix(logits, groups)
    for a in range(3):
        assert auc[a, a] == 0.5
        for b in range(3):
            if a != b:
                rows = np.concatenate([groups[a], groups[b]])
                truth = np.r_[np.ones(len(groups[a])), np.zeros(len(groups[b]))]
                assert auc[a, b] == pytest.approx(roc_auc_score(truth, logits[a][rows]))


def test_separability_is_symmetric_and_counts_inverted_critics():
    auc = np.array([[0.5, 0.9, 0.1], [0.7, 0.5, 0.5], [0.1, 0.5, 0.5]])
    sep = symmetrised_separability(auc)
    np.testing.assert_allclose(sep, sep.T)
    assert sep[0, 1] == pytest.approx((0.8 + 0.4) / 2)
    assert sep[0, 2] == pytest.approx(0.8)  # both critics invert: still separated
    assert sep[1, 2] == 0 and np.all(np.diag(sep) == 0)


def test_cross_conditional_is_the_drop_in_logit_under_the_other_culture():
    logits = np.array([[3.0, 1.0], [2.0, 0.0], [0.0, 4.0]])  # rows: images; columns: conditioned on culture 0, 1
    score = cross_conditional(logits, [np.array([0, 1]), np.array([2])])
    # culture 0's images drop by 2 when read as culture 1; culture 1's by 4 when read as culture 0
    assert score[0, 1] == pytest.approx(3.0) and score[1, 0] == pytest.approx(3.0) and score[0, 0] == 0.0


def test_embedding_cosine():
    distance = embedding_cosine(np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]]))
    assert distance[0, 1] == pytest.approx(0.0) and distance[0, 2] == pytest.approx(1.0)
