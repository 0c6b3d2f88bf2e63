import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ganstyle.config import REPO_ROOT, section
from ganstyle.errors import UserError
from ganstyle.stages import transfer

CULTURES = ["latin", "greek", "old_norse", "old", "norse_x"]

TINY = {
    "steps": 4,
    "batch_size": 2,
    "g_width": 2,
    "d_width": 2,
    "pool_size": 4,
    "checkpoint_every": 2,
    "log_every": 2,
    "grid_images": 3,
    "n_boot": 20,
    "pairs": [],
}


# ---------------------------------------------------------------- pairs


def test_all_means_every_pair_once_in_order():
    pairs, skipped = transfer.parse_pairs("all", ["c", "a", "b"])
    assert pairs == [("a", "b"), ("a", "c"), ("b", "c")] and skipped == []


def test_listed_pairs_are_split_at_the_double_underscore_between_known_cultures():
    pairs, _ = transfer.parse_pairs(["greek__latin", "norse_x__old_norse", "old__old_norse"], CULTURES)
    assert pairs == [("greek", "latin"), ("norse_x", "old_norse"), ("old", "old_norse")]
    assert transfer.parse_pairs([], CULTURES) == ([], [])


def test_pairs_naming_cultures_outside_the_registry_are_skipped_with_one_warning_line():
    """A user's own registry with config.yaml's demo pairs still runs."""
    pairs, skipped = transfer.parse_pairs(["greek__latin", "greek__klingon", "arabic__hebrew"], CULTURES)
    assert pairs == [("greek", "latin")] and skipped == ["greek__klingon", "arabic__hebrew"]
    line = transfer.skipped_pairs_warning(skipped, CULTURES)
    assert "\n" not in line and "transfer.pairs" in line and "greek__klingon, arabic__hebrew" in line


@pytest.mark.parametrize(
    "pairs,message",
    [
        (["latin__greek"], "write pair 'latin__greek' as 'greek__latin'"),
        (["latin__latin"], "with itself"),
        (["greek__latin", "greek__latin"], "listed twice"),
        (["greeklatin"], "not of the form a__b"),
        ("some", "expected 'all' or a list"),
    ],
)
def test_bad_pairs_name_the_config_key(pairs, message):
    with pytest.raises(UserError, match="transfer.pairs") as err:
        transfer.parse_pairs(pairs, CULTURES)
    assert err.match(message)


def test_ambiguous_pair_names_are_refused():
    with pytest.raises(UserError, match="can be read as"):
        transfer.parse_pairs(["a__b__c"], ["a", "b__c", "a__b", "c"])


def test_demo_pairs_cover_each_demo_family_within_and_across():
    # the schema default is [] (any registry); config.yaml lists the demo pairs
    registry = pd.read_csv(REPO_ROOT / "data" / "cultures.tsv", sep="\t")
    family = dict(zip(registry["culture"], registry["group"]))
    pairs, skipped = transfer.parse_pairs(section("transfer", config_path=str(REPO_ROOT / "config.yaml"))["pairs"], list(family))
    assert skipped == []
    for group in set(family.values()):
        involved = [(family[a], family[b]) for a, b in pairs if group in (family[a], family[b])]
        assert any(fa == fb for fa, fb in involved), f"no within-family pair for {group}"
        assert any(fa != fb for fa, fb in involved), f"no across-family pair for {group}"


def test_metrics_rows_become_the_long_table():
    measures = {name: (float(i), i - 0.5, i + 0.5) for i, name in enumerate(transfer.MEASURES)}
    wide = pd.DataFrame([transfer.metrics_row("a", "b", measures, n_source=3), transfer.metrics_row("b", "a", measures)])
    long = transfer.metrics_long(wide)
    assert list(long.columns) == transfer.LONG_COLUMNS
    assert len(long) == 2 * len(transfer.MEASURES)
    row = long[(long.source == "b") & (long.measure == "kid")].iloc[0]
    i = transfer.MEASURES.index("kid")
    assert (row.target, row.value, row.ci_low, row.ci_high) == ("a", i, i - 0.5, i + 0.5)


def test_transfer_distances_stage_checks_its_inputs(tmp_path):
    measures = {name: (1.0, 0.5, 1.5) for name in transfer.MEASURES}
    good = tmp_path / "a__b.tsv"
    pd.DataFrame([transfer.metrics_row("a", "b", measures), transfer.metrics_row("b", "a", measures)]).to_csv(good, sep="\t", index=False)
    out = tmp_path / "distances.tsv"
    assert transfer.main(["--metrics", str(good), "--out", str(out)], stage="transfer-distances") == 0
    assert len(pd.read_csv(out, sep="\t")) == 2 * len(transfer.MEASURES)
    with pytest.raises(UserError, match="more than one"):
        transfer.main(["--metrics", str(good), str(good), "--out", str(out)], stage="transfer-distances")
    with pytest.raises(UserError, match="not found"):
        transfer.main(["--metrics", str(tmp_path / "missing.tsv"), "--out", str(out)], stage="transfer-distances")
    bad = tmp_path / "bad.tsv"
    pd.DataFrame({"source": ["a"], "target": ["b"]}).to_csv(bad, sep="\t", index=False)
    with pytest.raises(UserError, match="missing column"):
        transfer.main(["--metrics", str(bad), "--out", str(out)], stage="transfer-distances")


# ---------------------------------------------------------------- the stage, end to end


def make_corpus(path: Path, n=16, size=32, seed=0, stroke="vertical"):
    """Dark strokes on light ground; culture 'vertical' draws tall strokes, 'horizontal' wide ones."""
    rng = np.random.default_rng(seed)
    images = np.full((n, size, size, 1), 235, np.uint8)
    for image in images:
        for _ in range(3):
            y, x = rng.integers(2, size - 8, 2)
            long, short = rng.integers(4, 7), rng.integers(1, 3)
            h, w = (long, short) if stroke == "vertical" else (short, long)
            image[y : y + h, x : x + w] = rng.integers(0, 60)
    ids = np.array([f"{seed:04d}{i:012d}" for i in range(n)])
    split = np.where(np.arange(n) % 4 == 0, "heldout", "train")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, images=images, ids=ids, split=split)
    return path


def make_critic(path: Path, seed=0):
    import keras

    from ganstyle import io
    from ganstyle.models import networks

    keras.utils.set_random_seed(seed)
    io.save_keras(networks.default_discriminator(32, 1, width=4, max_width=8), path)
    return path


@pytest.fixture(scope="module")
def pair_inputs(tmp_path_factory):
    import tensorflow  # noqa: F401  (a hard dependency: a broken install fails here)

    root = tmp_path_factory.mktemp("pair")
    return {
        "corpus_a": make_corpus(root / "corpus" / "horiz" / "images.npz", seed=1, stroke="horizontal"),
        "corpus_b": make_corpus(root / "corpus" / "vert" / "images.npz", seed=2, stroke="vertical"),
        "critic_a": make_critic(root / "critic_horiz.keras", seed=1),
        "critic_b": make_critic(root / "critic_vert.keras", seed=2),
    }


def _argv(inputs, out, checkpoints, **overrides):
    return [
        "--culture-a",
        "horiz",
        "--culture-b",
        "vert",
        "--corpus-a",
        str(inputs["corpus_a"]),
        "--corpus-b",
        str(inputs["corpus_b"]),
        "--critic-a",
        str(inputs["critic_a"]),
        "--critic-b",
        str(inputs["critic_b"]),
        "--label-a",
        "Horizontal",
        "--out",
        str(out),
        "--checkpoints",
        str(checkpoints),
        "--settings",
        json.dumps({**TINY, **overrides}),
        "--threads",
        "1",
        "--no-progress",
    ]


def test_train_transfer_end_to_end_on_a_tiny_pair(tmp_path, pair_inputs):
    out, checkpoints = tmp_path / "out", tmp_path / "ckpt"
    assert transfer.main(_argv(pair_inputs, out, checkpoints), stage="train-transfer") == 0
    for name in ("G_ab.keras", "G_ba.keras", "grid.png", "metrics.tsv", "history.tsv", "examples.npz"):
        assert (out / name).is_file(), name
    with np.load(out / "examples.npz") as examples:
        assert examples["source_a"].shape == examples["a_to_b"].shape and examples["source_b"].shape == examples["b_to_a"].shape
        assert examples["a_to_b"].dtype == np.uint8
    metrics = pd.read_csv(out / "metrics.tsv", sep="\t")
    assert list(zip(metrics.source, metrics.target)) == [("horiz", "vert"), ("vert", "horiz")]
    assert (metrics[["n_source", "n_target"]] == 4).all().all()
    for name in transfer.MEASURES:
        assert metrics[name].notna().all(), name
        assert (metrics[f"{name}_ci_low"] <= metrics[f"{name}_ci_high"]).all(), name
    for name in ("critic_auc", "critic_auc_untranslated"):
        assert metrics[name].between(0, 1).all()
    history = pd.read_csv(out / "history.tsv", sep="\t")
    assert history["step"].tolist() == [2, 4]
    assert {"g_loss", "cycle", "identity", "d_a_loss", "d_b_loss"} <= set(history.columns)
    assert [p.name for p in checkpoints.glob("ckpt-*.npz")] == ["ckpt-000000004.npz"]
    from PIL import Image

    with Image.open(out / "grid.png") as grid:
        assert grid.width > 300 and grid.height > 300

    # the generators load on their own and translate held-out images
    import keras

    from ganstyle.models.cyclegan import translate

    generator = keras.saving.load_model(out / "G_ab.keras", compile=False)
    assert translate(generator, np.load(pair_inputs["corpus_a"])["images"][:2]).shape == (2, 32, 32, 1)

    long = tmp_path / "transfer_distances.tsv"
    assert transfer.main(["--metrics", str(out / "metrics.tsv"), "--out", str(long)], stage="transfer-distances") == 0
    table = pd.read_csv(long, sep="\t")
    assert list(table.columns) == transfer.LONG_COLUMNS and len(table) == 2 * len(transfer.MEASURES)


def test_train_transfer_refuses_bad_inputs(tmp_path, pair_inputs):
    argv = _argv(pair_inputs, tmp_path / "out", tmp_path / "ckpt")
    swapped = [*argv]
    swapped[1], swapped[3] = "vert", "horiz"
    with pytest.raises(UserError, match="a < b"):
        transfer.main(swapped, stage="train-transfer")
    with pytest.raises(UserError, match="transfer.pool_size"):
        transfer.main(_argv(pair_inputs, tmp_path / "out", tmp_path / "ckpt", pool_size=1), stage="train-transfer")
    missing = [*argv]
    missing[missing.index("--critic-b") + 1] = str(tmp_path / "none.keras")
    with pytest.raises(UserError, match="critic model not found"):
        transfer.main(missing, stage="train-transfer")


def _cli(argv):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "ganstyle", "train-transfer", *argv], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def _generator_weights(path):
    import keras

    import ganstyle.models.cyclegan  # noqa: F401  (registers the custom layers)

    return [np.asarray(w) for w in keras.saving.load_model(path, compile=False).weights]


@pytest.mark.slow
def test_killed_training_resumes_to_the_same_weights(tmp_path, pair_inputs):
    """SIGKILL after a checkpoint, start again: same generators and history as a run never interrupted."""
    settings = {"steps": 150, "checkpoint_every": 25, "log_every": 25}
    straight_out, killed_out, killed_ckpt = tmp_path / "straight", tmp_path / "killed", tmp_path / "killed_ckpt"
    straight = _cli(_argv(pair_inputs, straight_out, tmp_path / "straight_ckpt", **settings))
    victim = _cli(_argv(pair_inputs, killed_out, killed_ckpt, **settings))
    deadline = time.monotonic() + 180
    while not any(killed_ckpt.glob("ckpt-*.npz")):
        assert victim.poll() is None, "the run ended before writing a checkpoint: " + victim.stderr.read()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not (killed_out / "G_ab.keras").exists(), "the run finished before it was killed; raise steps"
    resumed = _cli(_argv(pair_inputs, killed_out, killed_ckpt, **settings))
    _, resumed_log = resumed.communicate(timeout=600)
    _, straight_log = straight.communicate(timeout=600)
    assert resumed.returncode == 0, resumed_log[-2000:]
    assert straight.returncode == 0, straight_log[-2000:]
    assert "resumed from" in resumed_log
    for name in ("G_ab.keras", "G_ba.keras"):
        for a, b in zip(_generator_weights(straight_out / name), _generator_weights(killed_out / name)):
            np.testing.assert_array_equal(a, b, err_msg=name)
    columns = ["step", "g_loss", "cycle", "d_a_loss", "d_b_loss"]
    pd.testing.assert_frame_equal(pd.read_csv(straight_out / "history.tsv", sep="\t")[columns], pd.read_csv(killed_out / "history.tsv", sep="\t")[columns])
    pd.testing.assert_frame_equal(
        pd.read_csv(straight_out / "metrics.tsv", sep="\t").drop(columns="train_seconds"),
        pd.read_csv(killed_out / "metrics.tsv", sep="\t").drop(columns="train_seconds"),
    )
