"""Feature spaces: standardised blocks side by side, PCA."""

import numpy as np
import pytest

from ganstyle.metrics.spaces import joint_space, standardise_columns


def test_standardise_drops_constant_columns_and_scales():
    x = np.column_stack([np.arange(6.0), np.full(6, 3.0), 10 * np.arange(6.0) ** 2])
    z = standardise_columns(x)
    assert z.shape == (6, 2)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1)


def test_joint_space_weighs_blocks_equally_and_is_deterministic():
    rng = np.random.default_rng(0)
    small, large = rng.normal(size=(50, 3)), 1000 * rng.normal(size=(50, 3))
    embedding, explained = joint_space([small, large], n_components=6)
    assert embedding.shape == (50, 6)
    assert explained == pytest.approx(1.0)
    # with all components kept, distances are those of the standardised panel: the scale of a block is gone
    panel = np.hstack([standardise_columns(small), standardise_columns(large)])
    d_embed = np.linalg.norm(embedding[:, None] - embedding[None], axis=-1)
    d_panel = np.linalg.norm(panel[:, None] - panel[None], axis=-1)
    # ... up to one overall scale, which gives the components variance 1 on average
    assert embedding.var(axis=0).mean() == pytest.approx(1.0)
    np.testing.assert_allclose(d_embed, d_panel * np.sqrt(6 / panel.var(axis=0).sum()), atol=1e-9)
    again, _ = joint_space([small, large], n_components=6)
    np.testing.assert_array_equal(embedding, again)


def test_joint_space_of_wide_blocks_equals_plain_pca():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(5)
    wide = rng.normal(size=(30, 8)) @ rng.normal(size=(8, 200)) + 0.1 * rng.normal(size=(30, 200))  # more columns than rows
    narrow = rng.normal(size=(30, 4))
    embedding, _ = joint_space([wide, narrow], n_components=5)
    panel = np.hstack([standardise_columns(wide), standardise_columns(narrow)])
    plain = PCA(n_components=5, svd_solver="full").fit_transform(panel)
    plain *= np.sqrt(5 / plain.var(axis=0).sum())
    np.testing.assert_allclose(np.abs(embedding), np.abs(plain), atol=1e-9)
