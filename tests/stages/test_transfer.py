"""Stages train-translator (one translator per joint-GAN seed, every pair of cultures) and transfer-distances."""

import json

import numpy as np
import pandas as pd
import pytest
from gan_settings import make_corpus

from ganstyle import io
from ganstyle.errors import UserError
from ganstyle.io import files
from ganstyle.io.files import TRANSLATOR_RUN
from ganstyle.stages import transfer

CULTURES = ["dots", "bars", "blobs"]
TINY = {"steps": 4, "batch_size": 4, "width": 4, "checkpoint_every": 2, "log_every": 2, "n_boot": 20}


# ---------------------------------------------------------------- tables


def _measures(offset=0.0):
    return {name: (float(i) + offset, i - 0.5 + offset, i + 0.5 + offset) for i, name in enumerate(transfer.MEASURES)}


def test_metrics_rows_become_the_long_table():
    wide = pd.DataFrame([transfer.metrics_row("a", "b", _measures(), n_source=3), transfer.metrics_row("b", "a", _measures())])
    long = transfer.metrics_long(wide)
    assert list(long.columns) == transfer.LONG_COLUMNS and len(long) == 2 * len(transfer.MEASURES)
    row = long[(long.source == "b") & (long.measure == "kid")].iloc[0]
    i = transfer.MEASURES.index("kid")
    assert (row.target, row.value, row.ci_low, row.ci_high) == ("a", i, i - 0.5, i + 0.5)


def test_transfer_distances_average_the_seeds_and_check_their_inputs(tmp_path):
    paths = []
    for seed, offset in ((0, 0.0), (1, 1.0)):
        paths.append(tmp_path / f"seed{seed}.tsv")
        io.write_tsv(paths[-1], pd.DataFrame([transfer.metrics_row("a", "b", _measures(offset)), transfer.metrics_row("b", "a", _measures(offset))]))
    out = tmp_path / "distances.tsv"
    assert transfer.main(["--metrics", *map(str, paths), "--out", str(out)], stage="transfer-distances") == 0
    table = io.read_tsv(out)
    assert len(table) == 2 * len(transfer.MEASURES)
    i = transfer.MEASURES.index("effort_pixels")
    row = table[(table.source == "a") & (table.measure == "effort_pixels")].iloc[0]
    assert (row.value, row.ci_low, row.ci_high) == (i + 0.5, i, i + 1.0)  # the two seeds' mean
    twice = tmp_path / "twice.tsv"
    io.write_tsv(twice, pd.DataFrame([transfer.metrics_row("a", "b", _measures()), transfer.metrics_row("a", "b", _measures())]))
    with pytest.raises(UserError, match="appears twice"):
        transfer.main(["--metrics", str(twice), "--out", str(out)], stage="transfer-distances")
    with pytest.raises(UserError, match="not found"):
        transfer.main(["--metrics", str(tmp_path / "missing.tsv"), "--out", str(out)], stage="transfer-distances")
    bad = tmp_path / "bad.tsv"
    io.write_tsv(bad, pd.DataFrame({"source": ["a"], "target": ["b"]}))
    with pytest.raises(UserError, match="missing column"):
        transfer.main(["--metrics", str(bad), "--out", str(out)], stage="transfer-distances")


# ---------------------------------------------------------------- the stage, end to end


@pytest.fixture(scope="module")
def translator_inputs(tmp_path_factory):
    """Three tiny corpora, an (untrained) joint generator of the three cultures and a critic per culture."""
    import keras
    from gan_settings import tiny_recipe

    from ganstyle.models import networks

    root = tmp_path_factory.mktemp("translator")
    corpora = [make_corpus(root / c / "images.npz", n=16, seed=i, tone=200 + 15 * i) for i, c in enumerate(CULTURES)]
    recipe = tiny_recipe()
    keras.utils.set_random_seed(0)
    generator, _ = networks.build_models(recipe, 32, 1, n_classes=len(CULTURES))
    io.save_keras(generator, root / "generator.keras")
    critics = []
    for i, culture in enumerate(CULTURES):
        keras.utils.set_random_seed(10 + i)
        critics.append(root / f"critic_{culture}.keras")
        io.save_keras(networks.build_models(recipe, 32, 1)[1], critics[-1])
    return root, corpora, critics


def _argv(root, corpora, critics, out, checkpoints, **overrides):
    return [
        "--generator", str(root / "generator.keras"), "--cultures", *CULTURES, "--corpora", *map(str, corpora), "--critics", *map(str, critics),
        "--seed", "0", "--out", str(out), "--checkpoints", str(checkpoints), "--settings", json.dumps({**TINY, **overrides}), "--threads", "1", "--no-progress",
    ]  # fmt: skip


def test_train_translator_translates_every_held_out_image_into_every_culture(tmp_path, translator_inputs):
    from sklearn.metrics import roc_auc_score

    from ganstyle.models.critic import critic_outputs, load_critic
    from ganstyle.stages.corpus import load_corpus

    root, corpora, critics = translator_inputs
    out, checkpoints = tmp_path / "out", tmp_path / "ckpt"
    assert transfer.main(_argv(root, corpora, critics, out, checkpoints), stage="train-translator") == 0
    for key in TRANSLATOR_RUN.names:
        assert (out / TRANSLATOR_RUN[key]).is_file(), key
    heldout = {c: load_corpus(p, split="heldout")[0] for c, p in zip(CULTURES, corpora)}
    n = sum(len(x) for x in heldout.values())
    translations = files.load_translations(out / TRANSLATOR_RUN["translations"])
    assert translations.cultures.tolist() == CULTURES
    assert translations.translated.shape == (3, n, 32, 32, 1) and translations.translated.dtype == np.uint8
    assert translations.cycle_error.shape == (3, n) and (translations.cycle_error >= 0).all()
    np.testing.assert_array_equal(translations.sources, np.concatenate([heldout[c] for c in CULTURES]))

    metrics = io.read_tsv(out / TRANSLATOR_RUN["metrics"])
    assert sorted(zip(metrics.source, metrics.target)) == sorted((a, b) for a in CULTURES for b in CULTURES if a != b)
    for name in transfer.MEASURES:
        assert metrics[name].notna().all(), name
        assert (metrics[f"{name}_ci_low"] <= metrics[f"{name}_ci_high"]).all(), name
    # the target critic's AUC, recomputed with scikit-learn from the same images
    row = metrics[(metrics.source == "dots") & (metrics.target == "bars")].iloc[0]
    critic = load_critic(critics[1])
    real = critic_outputs(critic, heldout["bars"])[1][:, 0]
    moved = critic_outputs(critic, translations.translated[1][translations.source_culture == 0])[1][:, 0]
    labels = np.r_[np.ones(len(real)), np.zeros(len(moved))]
    assert row.critic_auc == pytest.approx(roc_auc_score(labels, np.r_[real, moved]), abs=1e-9)
    # effort: the change from an image's reconstruction as its own culture to its translation
    own = translations.translated[0][translations.source_culture == 0].astype(float)
    assert row.effort_pixels == pytest.approx(np.abs(translations.translated[1][translations.source_culture == 0] - own).mean(), rel=1e-6)

    history = io.read_tsv(out / TRANSLATOR_RUN["history"])
    assert history["step"].tolist() == [2, 4] and {"reconstruction", "latent"} <= set(history.columns)
    assert [p.name for p in checkpoints.glob("ckpt-*.npz")] == ["ckpt-000000004.npz"]


def test_train_translator_refuses_bad_inputs(tmp_path, translator_inputs):
    root, corpora, critics = translator_inputs
    argv = _argv(root, corpora, critics, tmp_path / "out", tmp_path / "ckpt")
    with pytest.raises(UserError, match="one critic per culture"):
        transfer.main(_argv(root, corpora, critics[:2], tmp_path / "o", tmp_path / "c"), stage="train-translator")
    two = ["--generator", str(root / "generator.keras"), "--cultures", *CULTURES[:2], "--corpora", *map(str, corpora[:2]), "--critics", *map(str, critics[:2]),
           "--seed", "0", "--out", str(tmp_path / "o"), "--checkpoints", str(tmp_path / "c"), "--settings", json.dumps(TINY)]  # fmt: skip
    with pytest.raises(UserError, match="not a conditional generator of the 2 cultures"):
        transfer.main(two, stage="train-translator")
    missing = [*argv]
    missing[missing.index("--generator") + 1] = str(tmp_path / "none.keras")
    with pytest.raises(UserError, match="joint generator model not found"):
        transfer.main(missing, stage="train-translator")
