"""The joint conditional critic: settings, snapshots, and a tiny end-to-end training run."""

import json

import numpy as np
import pandas as pd
import pytest
import tensorflow  # noqa: F401  (a hard dependency: a broken install fails here)
from gan_settings import TINY, kill_and_resume, make_corpus, saved_weights

from ganstyle.config import section
from ganstyle.errors import UserError
from ganstyle.models.recipes import JointRecipe
from ganstyle.stages import joint


def test_joint_recipe_overrides_the_gan_section_only_where_set():
    gan = section("gan", json.dumps({**TINY, "learning_rate_g": 3e-4}))
    recipe = JointRecipe.from_sections(gan, section("joint", json.dumps({"steps": 7, "d_width": 6, "learning_rate_g": None})))
    assert recipe.steps == 7 and recipe.d_width == 6
    assert recipe.learning_rate_g == 3e-4  # null = as gan
    assert recipe.classification == 1.0 and recipe.loss == "hinge"  # the frozen joint recipe
    assert recipe.snapshots == 3 and recipe.architecture == "default" and recipe.rotation_head == 0.0
    no_head_rate = JointRecipe.from_sections(gan, section("joint", json.dumps({"feature_head_lr": None})))
    assert no_head_rate.feature_head_lr == no_head_rate.learning_rate_d  # null = the critic's own rate


def test_snapshot_steps_end_at_the_last_step():
    assert joint.snapshot_steps(1000, 200, 3) == [600, 800, 1000]
    assert joint.snapshot_steps(5, 4, 3) == [1, 5]
    assert joint.critic_file(800) == "critic_step000800.keras"


def _argv(tmp_path, corpora, cultures, name="run", gan=(), **joint_overrides):
    out, checkpoints = tmp_path / name / "out", tmp_path / name / "ckpt"
    settings = {"steps": 6, "batch_size": 4, "snapshots": 2, "snapshot_every": 2, **joint_overrides}
    return out, checkpoints, [
        "--settings", json.dumps({**TINY, "samples": 8, **dict(gan)}), "--joint", json.dumps(settings),
        "--cultures", *cultures, "--corpora", *map(str, corpora), "--seed", "0",
        "--out", str(out), "--checkpoints", str(checkpoints), "--threads", "1", "--no-progress",
    ]  # fmt: skip


def test_train_joint_writes_one_critic_per_snapshot_with_a_logit_per_culture(tmp_path):
    from ganstyle.models.critic import critic_outputs, load_critic

    cultures = ["dark", "light", "mid"]
    corpora = [make_corpus(tmp_path / c / "images.npz", seed=k, tone=tone) for k, (c, tone) in enumerate(zip(cultures, (200, 250, 225)))]
    out, checkpoints, argv = _argv(tmp_path, corpora, cultures)
    assert joint.main(argv) == 0
    for name in ("critic_step000004.keras", "critic_step000006.keras", "generator.keras", "samples.png", "samples.npz", "history.tsv", "sanity_kid.tsv"):
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["snapshot_steps"] == [4, 6] and metrics["cultures"] == cultures
    images = np.load(corpora[0])["images"][:5]
    features, logits = critic_outputs(load_critic(out / "critic_step000006.keras"), images)
    assert logits.shape == (5, 3) and features.shape[0] == 5 and np.isfinite(features).all()
    # the two snapshots are different critics
    early, _ = critic_outputs(load_critic(out / "critic_step000004.keras"), images)
    assert not np.allclose(early, features)
    with np.load(out / "samples.npz") as samples:
        assert sorted(set(samples["culture"])) == sorted(cultures)
    sanity = pd.read_csv(out / "sanity_kid.tsv", sep="\t")
    assert len(sanity) == len(cultures) ** 2
    # a second run restores the finished checkpoints and exports the same critic
    again = out.parent / "again"
    argv[argv.index("--out") + 1] = str(again)
    assert joint.main(argv) == 0
    again_features, _ = critic_outputs(load_critic(again / "critic_step000006.keras"), images)
    np.testing.assert_array_equal(features, again_features)


def test_train_joint_rejects_mismatched_or_single_cultures(tmp_path):
    corpus = make_corpus(tmp_path / "a" / "images.npz")
    other_size = make_corpus(tmp_path / "b" / "images.npz", size=16)
    with pytest.raises(UserError, match="at least 2 distinct cultures"):
        joint.main(_argv(tmp_path, [corpus], ["a"])[2])
    with pytest.raises(UserError, match="--cultures lists 2 names but --corpora 1"):
        joint.main(_argv(tmp_path, [corpus], ["a", "b"])[2])
    with pytest.raises(UserError, match="different shapes"):
        joint.main(_argv(tmp_path, [corpus, other_size], ["a", "b"])[2])


@pytest.mark.slow  # two trainings side by side and a third: about 70 s of CPU
def test_killed_joint_training_resumes_to_the_same_critics(tmp_path):
    """SIGKILL after the first checkpoint, start again: the same critics and generator as a run never interrupted."""
    cultures = ["dark", "light"]
    corpora = [make_corpus(tmp_path / c / "images.npz", seed=k, tone=tone) for k, (c, tone) in enumerate(zip(cultures, (200, 250)))]
    settings = {"steps": 160, "snapshot_every": 40, "gan": {"log_every": 20}}
    straight_out, _, straight_argv = _argv(tmp_path, corpora, cultures, "straight", **settings)
    killed_out, killed_ckpt, killed_argv = _argv(tmp_path, corpora, cultures, "killed", **settings)
    kill_and_resume("train-joint", straight_argv, killed_argv, killed_ckpt, killed_out / "metrics.json")
    for name in ("critic_step000120.keras", "critic_step000160.keras", "generator.keras"):
        for a, b in zip(saved_weights(straight_out / name), saved_weights(killed_out / name), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)
    history = [pd.read_csv(out / "history.tsv", sep="\t")[["step", "d_loss", "g_loss"]] for out in (straight_out, killed_out)]
    pd.testing.assert_frame_equal(*history)
