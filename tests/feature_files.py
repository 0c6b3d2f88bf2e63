"""Feature files as the features stage writes them, with planted culture structure (shared by stage tests)."""

import numpy as np

from ganstyle.io import files


def write_feature_files(folder, cultures=("a", "b", "c", "d"), n=16, seeds=(0,), features=12, shift=1.5, centres=None):
    """reference.npz and every critic space's seed<seed>.npz under ``folder``; returns (cultures, critic paths, reference path).

    Images of culture c scatter around ``centres[c]`` (default: random, ``shift`` apart); every
    critic's logit for culture c is minus the squared distance to c's centre, plus noise.
    """
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    centres = centres or {c: shift * rng.normal(size=features) for c in cultures}
    features = len(next(iter(centres.values())))
    base = np.concatenate([centres[c] + rng.normal(size=(n, features)) for c in cultures])
    labels = np.repeat(list(cultures), n)
    ids = np.array([f"{i:016x}" for i in range(len(labels))])
    files.save_reference_features(folder / "reference.npz", files.ReferenceFeatures(base.astype(np.float32), labels, ids))
    logits = np.stack([-np.sum((base - centres[c]) ** 2, axis=1) for c in cultures], axis=1)
    paths = []
    for seed in seeds:
        for space in ("critic", "critic_untrained", "joint", "joint_untrained"):
            snapshots = 2 if space == "joint" else 1
            blocks = [6] * len(cultures) if space == "critic" else [6]
            feats = np.stack([np.tanh(base @ rng.normal(size=(features, sum(blocks))) / np.sqrt(features)) for _ in range(snapshots)])
            path = folder / space / f"seed{seed}.npz"
            files.save_critic_space(
                path,
                files.CriticSpaceFeatures(
                    space=space,
                    seed=seed,
                    culture=labels,
                    ids=ids,
                    logit_cultures=np.array(list(cultures)),
                    steps=np.arange(1, snapshots + 1),
                    features=feats.astype(np.float32),
                    blocks=np.array(blocks),
                    logits=np.stack([logits + rng.normal(size=logits.shape)] * snapshots).astype(np.float32),
                    embeddings=np.stack([np.stack([centres[c] for c in cultures])] * snapshots).astype(np.float32) if space.startswith("joint") else None,
                ),
            )
            paths.append(str(path))
    return list(cultures), paths, str(folder / "reference.npz")
