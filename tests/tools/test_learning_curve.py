import json

import numpy as np
import pandas as pd
import pytest
from gan_settings import TINY, make_corpus

from ganstyle.errors import UserError
from ganstyle.stages import judge
from ganstyle.tools import learning_curve

# ---------------------------------------------------------------- pure parts


@pytest.mark.parametrize("at", [[], [0, 4], [4, 4], [8, 4]])
def test_step_counts_must_be_positive_and_increasing(at):
    with pytest.raises(UserError, match="--at"):
        learning_curve.checked_budgets(at)


def test_nearest_culture_is_the_smallest_kid():
    assert learning_curve.nearest({"a": 0.3, "b": 0.1, "c": 0.2}) == "b"


def test_summary_counts_own_nearest_and_averages_per_step_count():
    table = pd.DataFrame(
        {
            "steps": [4, 4, 8, 8],
            "ratio": [0.0, 1.0, 0.5, 0.7],
            "own_is_nearest": [True, False, True, True],
            "diversity": [0.2, 0.4, 0.8, 1.0],
        }
    )
    result = learning_curve.summary(table)
    assert result["steps"].tolist() == [4, 8]
    assert result["gans"].tolist() == [2, 2]
    assert result["mean_ratio"].tolist() == pytest.approx([0.5, 0.6])
    assert result["own_is_nearest"].tolist() == [1, 2]
    assert result["mean_diversity"].tolist() == pytest.approx([0.3, 0.9])


# ---------------------------------------------------------------- the tool, end to end


@pytest.fixture(scope="module")
def dev_run(tmp_path_factory):
    """Two cultures (dark and light strokes), their corpora and a judge trained on them."""
    root = tmp_path_factory.mktemp("curve")
    cultures = ["dark", "light"]
    corpora = [make_corpus(root / "corpus" / c / "images.npz", n=40, seed=i, tone=t) for i, (c, t) in enumerate(zip(cultures, [90, 235]))]
    judge_settings = json.dumps({"width": 4, "epochs": 3, "batch_size": 8, "learning_rate": 0.01, "shift": 1})
    argv = [
        "--cultures",
        *cultures,
        "--corpora",
        *map(str, corpora),
        "--out",
        str(root / "judge"),
        "--settings",
        judge_settings,
        "--threads",
        "1",
        "--no-progress",
    ]
    assert judge.main(argv, stage="train-judge") == 0
    return root, cultures


def test_curve_scores_every_gan_at_every_step_count(dev_run):
    root, cultures = dev_run
    out = root / "curve.tsv"
    argv = [
        "--corpus-dir",
        str(root / "corpus"),
        "--cultures",
        *cultures,
        "--train",
        "light",
        "--judge",
        str(root / "judge" / "judge.keras"),
        "--at",
        "2",
        "4",
        "--seeds",
        "0",
        "1",
        "--out",
        str(out),
        "--settings",
        json.dumps(TINY),
        "--threads",
        "1",
    ]
    assert learning_curve.main(argv) == 0
    table = pd.read_csv(out, sep="\t")
    assert table.columns.tolist() == learning_curve.COLUMNS
    assert list(zip(table.seed, table.steps)) == [(0, 2), (0, 4), (1, 2), (1, 4)]
    assert (table.culture == "light").all()
    assert (table.images == table.steps * TINY["batch_size"]).all()
    # training time accumulates along one run
    assert (table.groupby("seed").train_s.diff().dropna() >= 0).all()
    assert table.judge_accuracy.between(0, 1).all()
    assert (table.real_accuracy > 0.5).all()  # the judge tells the real cultures apart
    assert np.allclose(table.ratio, table.judge_accuracy / table.real_accuracy)
    assert set(table.nearest_culture) <= set(cultures)
    assert (table.own_is_nearest == (table.nearest_culture == "light")).all()
    assert (table.diversity > 0).all()


def test_a_judge_of_other_cultures_is_refused(dev_run):
    root, cultures = dev_run
    argv = ["--corpus-dir", str(root / "corpus"), "--cultures", "light", "--judge", str(root / "judge" / "judge.keras")]
    argv += ["--at", "2", "--out", str(root / "x.tsv"), "--settings", json.dumps(TINY)]
    with pytest.raises(UserError, match="judge knows 2 cultures"):
        learning_curve.main(argv)
    assert not (root / "x.tsv").exists()


def test_training_an_unlisted_culture_is_refused(dev_run):
    root, cultures = dev_run
    argv = ["--corpus-dir", str(root / "corpus"), "--cultures", *cultures, "--train", "grey", "--judge", str(root / "judge" / "judge.keras")]
    argv += ["--at", "2", "--out", str(root / "y.tsv"), "--settings", json.dumps(TINY)]
    with pytest.raises(UserError, match="--train: grey"):
        learning_curve.main(argv)


@pytest.fixture(scope="module")
def three_cultures(tmp_path_factory):
    """Three cultures of three tones, two of them in one group, and a judge trained on them."""
    root = tmp_path_factory.mktemp("joint_curve")
    cultures = ["dark", "mid", "light"]
    corpora = [make_corpus(root / "corpus" / c / "images.npz", n=40, seed=i, tone=t) for i, (c, t) in enumerate(zip(cultures, [60, 150, 240]))]
    judge_settings = json.dumps({"width": 4, "epochs": 3, "batch_size": 8, "learning_rate": 0.01, "shift": 1})
    argv = ["--cultures", *cultures, "--corpora", *map(str, corpora), "--out", str(root / "judge"), "--settings", judge_settings]
    assert judge.main([*argv, "--threads", "1", "--no-progress"], stage="train-judge") == 0
    return root, cultures


def test_a_joint_curve_scores_each_culture_of_one_generator_per_seed_and_step_count(three_cultures):
    root, cultures = three_cultures
    out = root / "joint.tsv"
    argv = ["--corpus-dir", str(root / "corpus"), "--cultures", *cultures, "--judge", str(root / "judge" / "judge.keras"), "--joint"]
    argv += ["--at", "2", "4", "--seeds", "0", "--samples", "6", "--groups", "a", "a", "b", "--out", str(out), "--threads", "1"]
    joint = {"g_width": 4, "d_width": 4, "batch_size": 6, "mode_seeking": 0.1, "steps": 4, "snapshot_every": 2}
    assert learning_curve.main([*argv, "--settings", json.dumps(TINY), "--joint-settings", json.dumps(joint)]) == 0
    table = pd.read_csv(out, sep="\t")
    assert table.columns.tolist() == learning_curve.COLUMNS
    assert list(zip(table.steps, table.culture)) == [(s, c) for s in (2, 4) for c in cultures]
    assert (table.images == table.steps * joint["batch_size"]).all()
    # (a judge this small may not recognise every real culture: no ratio then)
    assert np.allclose(table.ratio, table.judge_accuracy / table.real_accuracy.where(table.real_accuracy > 0), equal_nan=True)
    assert (table.own_is_nearest == (table.nearest_culture == table.culture)).all()
    # one critic per step count: one AUC, over the one within-group pair against the two across
    auc = table.groupby("steps").cross_conditional_auc.agg(["nunique", "first"])
    assert (auc["nunique"] == 1).all() and auc["first"].isin([0.0, 0.5, 1.0]).all()
    summary = learning_curve.summary(table, joint=True)
    assert summary[["seed", "steps", "gans"]].values.tolist() == [[0, 2, 3], [0, 4, 3]]


def test_joint_groups_must_name_every_culture(three_cultures):
    root, cultures = three_cultures
    argv = ["--corpus-dir", str(root / "corpus"), "--cultures", *cultures, "--judge", str(root / "judge" / "judge.keras"), "--joint"]
    argv += ["--at", "2", "--groups", "a", "b", "--out", str(root / "z.tsv"), "--settings", json.dumps(TINY)]
    with pytest.raises(UserError, match="--groups lists 2 groups but --cultures 3"):
        learning_curve.main(argv)
    assert not (root / "z.tsv").exists()
