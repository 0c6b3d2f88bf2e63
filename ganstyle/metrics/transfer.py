"""Transfer measures of translated images (numpy in, numbers out; no I/O, no TensorFlow).

Per image, in grey levels or reference-feature units, each averaged with a
percentile bootstrap interval over images: cycle error, identity error and
transfer effort in pixels; effort in the reference feature space and KID of
translated (and untranslated) images against the target culture; the target
critic's AUC of real target images against translated (and untranslated) ones.
The ``train-translator`` stage (``ganstyle.stages.transfer``) computes its metrics.tsv from these.
"""

from __future__ import annotations

import numpy as np


def bootstrap_mean(values, n_boot: int, seed: int, ci: float = 0.95) -> tuple[float, float, float]:
    """Mean of per-image values and its percentile bootstrap interval (images resampled)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("bootstrap_mean needs at least one value")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, (n_boot, values.size))].mean(axis=1)
    low, high = np.quantile(means, [(1 - ci) / 2, (1 + ci) / 2])
    return float(values.mean()), float(low), float(high)


def grey_level_differences(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per image, the mean absolute pixel difference of two uint8 image sets, in grey levels (0-255)."""
    if x.shape != y.shape:
        raise ValueError(f"image sets differ in shape: {x.shape} vs {y.shape}")
    difference = np.abs(x.astype(np.int16) - y.astype(np.int16))
    return difference.reshape(len(x), -1).mean(axis=1)


def reference_changes(before: np.ndarray, after: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Per image, the RMS over features of (after - before) / scale."""
    change = (np.asarray(after, np.float64) - np.asarray(before, np.float64)) / scale
    return np.sqrt(np.mean(change**2, axis=1))


def pooled_scale(*feature_sets: np.ndarray) -> np.ndarray:
    """Per-feature standard deviation over the union of the sets; constant features get 1."""
    std = np.concatenate(feature_sets).std(axis=0)
    return np.where(std > 0, std, 1.0)


def feature_measures(f_source, f_translated, f_target, scale, n_boot: int, seed: int, f_before=None) -> dict:
    """effort_reference (from ``f_before``, default the source, to the translation), kid and kid_untranslated
    from reference features."""
    from ganstyle.metrics.distances import kid_bootstrap

    before = f_source if f_before is None else f_before
    return {
        "effort_reference": bootstrap_mean(reference_changes(before, f_translated, scale), n_boot, seed),
        "kid": kid_bootstrap(f_translated, f_target, n_boot=n_boot, seed=seed),
        "kid_untranslated": kid_bootstrap(f_source, f_target, n_boot=n_boot, seed=seed),
    }


def critic_measures(target_logits, translated_logits, source_logits, n_boot: int, seed: int) -> dict:
    """AUC of the target critic, real target images (positives) vs translated / untranslated source images."""
    from ganstyle.metrics.classification import roc_auc_bootstrap

    return {
        "critic_auc": roc_auc_bootstrap(target_logits, translated_logits, n_boot=n_boot, seed=seed),
        "critic_auc_untranslated": roc_auc_bootstrap(target_logits, source_logits, n_boot=n_boot, seed=seed),
    }
