"""The judge stages: a culture classifier of real images, and its scores of generated and translated images."""

import json

import numpy as np
import pandas as pd
import pytest
from gan_settings import make_corpus

from ganstyle import io
from ganstyle.errors import UserError
from ganstyle.io import files
from ganstyle.io.files import JUDGE
from ganstyle.stages import judge

# ---------------------------------------------------------------- pure functions


def test_accuracy_and_confusion_tables_count_what_the_judge_says():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.1, 0.9]])
    labels = np.array([0, 0, 0, 1, 1])
    table = judge.accuracy_table(probabilities, labels, ["a", "b"])
    assert table["n"].tolist() == [3, 2]
    np.testing.assert_allclose(table["accuracy"], [2 / 3, 1.0])
    np.testing.assert_allclose(table["mean_probability"], [(0.9 + 0.2 + 0.6) / 3, 0.8])
    confusion = judge.confusion_table(probabilities, labels, ["a", "b"])
    np.testing.assert_allclose(confusion.to_numpy(), [[2 / 3, 1 / 3], [0.0, 1.0]])


def test_scores_are_put_beside_the_real_accuracy():
    real = pd.DataFrame({"culture": ["a", "b"], "accuracy": [0.8, 0.5]})
    scores = pd.DataFrame({"kind": "gan_samples", "seed": 0, "culture": ["b", "a"], "n": 10, "accuracy": [0.25, 0.4], "mean_probability": 0.3})
    scored = judge.relative_to_real(scores, real)
    np.testing.assert_allclose(scored["real_accuracy"], [0.5, 0.8])
    np.testing.assert_allclose(scored["ratio"], [0.5, 0.5])


def test_mean_pairwise_distance_of_points_on_a_line():
    assert judge.mean_pairwise_distance(np.array([[0.0], [1.0], [3.0]])) == pytest.approx((1 + 3 + 2) / 3)
    assert np.isnan(judge.mean_pairwise_distance(np.zeros((1, 2))))


# ---------------------------------------------------------------- the stages on a tiny corpus

SETTINGS = {"width": 4, "epochs": 3, "batch_size": 8, "learning_rate": 0.01, "shift": 1}


@pytest.fixture(scope="module")
def trained_judge(tmp_path_factory):
    """Two cultures a judge can tell apart (dark and light strokes) and the judge trained on them."""
    root = tmp_path_factory.mktemp("judge")
    corpora = [make_corpus(root / c / "images.npz", n=40, seed=i, tone=tone) for i, (c, tone) in enumerate([("dark", 90), ("light", 235)])]
    out = root / "judge"
    argv = [
        "--cultures",
        "dark",
        "light",
        "--corpora",
        *map(str, corpora),
        "--out",
        str(out),
        "--settings",
        json.dumps(SETTINGS),
        "--threads",
        "1",
        "--no-progress",
    ]
    assert judge.main(argv, stage="train-judge") == 0
    return root, corpora, out


def test_train_judge_writes_its_accuracy_on_held_out_real_images(trained_judge):
    _, _, out = trained_judge
    real = io.read_tsv(out / JUDGE["real"])
    assert real["culture"].tolist() == ["dark", "light"] and (real["accuracy"] >= 0.9).all()
    metrics = json.loads((out / JUDGE["metrics"]).read_text())
    assert metrics["chance"] == 0.5 and metrics["heldout_accuracy"] >= 0.9
    confusion = io.read_tsv(out / JUDGE["confusion"], index_col=0)
    np.testing.assert_allclose(confusion.sum(axis=1), 1.0)
    assert len(io.read_tsv(out / JUDGE["history"])) == SETTINGS["epochs"]


def test_judge_scores_gan_samples_as_their_culture(trained_judge, tmp_path):
    root, corpora, out = trained_judge
    # "samples" of each culture: its held-out images (a perfect generator), and for the light culture
    # also the dark culture's images (a generator of the wrong culture)
    from ganstyle.stages.corpus import load_corpus

    dark, light = (load_corpus(p, split="heldout")[0] for p in corpora)
    paths = []
    for name, images in [("dark0", dark), ("light0", light), ("light1", dark)]:
        paths.append(tmp_path / f"{name}.npz")
        files.save_samples(paths[-1], files.Samples(images, np.zeros((len(images), 2), np.float32)))
    argv = ["--kind", "gan_samples", "--judge", str(out / JUDGE["model"]), "--real", str(out / JUDGE["real"]), "--cultures", "dark", "light"]
    scored = tmp_path / "gan_samples.tsv"
    assert (
        judge.main(
            [*argv, "--seeds", "0", "1", "--inputs", str(paths[0]), str(paths[0]), str(paths[1]), str(paths[2]), "--out", str(scored)], stage="judge-score"
        )
        == 0
    )
    table = io.read_tsv(scored).set_index(["culture", "seed"])
    assert table.loc[("light", 0), "accuracy"] >= 0.9 and table.loc[("light", 1), "accuracy"] <= 0.1
    assert table.loc[("light", 1), "ratio"] == pytest.approx(table.loc[("light", 1), "accuracy"] / table.loc[("light", 1), "real_accuracy"])
    with pytest.raises(UserError, match="expected 4 samples files"):
        judge.main([*argv, "--seeds", "0", "1", "--inputs", str(paths[0]), "--out", str(scored)], stage="judge-score")
    with pytest.raises(UserError, match="knows 2 cultures"):
        judge.main(["--kind", "gan_samples", "--judge", str(out / JUDGE["model"]), "--real", str(out / JUDGE["real"]), "--cultures", "dark", "light", "x",
                    "--seeds", "0", "--inputs", *map(str, paths), "--out", str(scored)], stage="judge-score")  # fmt: skip


def test_judge_scores_joint_samples_with_their_diversity(trained_judge, tmp_path):
    root, corpora, out = trained_judge
    from ganstyle.stages.corpus import load_corpus

    dark, light = (load_corpus(p, split="heldout")[0] for p in corpora)
    # class "light": one image repeated (no diversity); class "dark": its real held-out images
    images = np.concatenate([dark, np.repeat(light[:1], len(dark), axis=0)])
    cultures = np.array(["dark"] * len(dark) + ["light"] * len(dark))
    samples = tmp_path / "joint.npz"
    files.save_samples(samples, files.Samples(images, np.zeros((len(images), 2), np.float32), cultures))
    scored = tmp_path / "joint_samples.tsv"
    argv = ["--kind", "joint_samples", "--judge", str(out / JUDGE["model"]), "--real", str(out / JUDGE["real"]), "--cultures", "dark", "light",
            "--seeds", "0", "--inputs", str(samples), "--corpora", *map(str, corpora), "--out", str(scored)]  # fmt: skip
    assert judge.main(argv, stage="judge-score") == 0
    table = io.read_tsv(scored).set_index("culture")
    assert table.loc["dark", "diversity_ratio"] == pytest.approx(1.0)
    assert table.loc["light", "diversity"] == pytest.approx(0.0) and table.loc["light", "diversity_ratio"] == pytest.approx(0.0)
