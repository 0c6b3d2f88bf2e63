import json
import warnings

import keras
import numpy as np
import pandas as pd
import pytest
from gan_settings import TINY, kill_and_resume, make_corpus, saved_weights, start_stage

from ganstyle.errors import UserError
from ganstyle.io import files
from ganstyle.models.recipes import ARCHITECTURE_VALUES
from ganstyle.stages import gan

# ---------------------------------------------------------------- metrics and sanity (no TF)


def test_quality_metrics_kid_matches_an_independent_float64_computation():
    from ganstyle.metrics.reference import reference_features

    rng = np.random.default_rng(0)
    generated = rng.integers(0, 256, (12, 32, 32, 1), dtype=np.uint8)
    train = rng.integers(0, 256, (10, 32, 32, 1), dtype=np.uint8)
    heldout = rng.integers(0, 200, (9, 32, 32, 1), dtype=np.uint8)
    metrics = gan.quality_metrics(generated, train, heldout, n_boot=5, seed=0)
    x, y = reference_features(generated).astype(np.float64), reference_features(heldout).astype(np.float64)
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1.0) ** 3  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    m, n = len(x), len(y)
    mmd2 = (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kxy.mean()
    assert metrics["kid"]["value"] == pytest.approx(mmd2, rel=1e-5)
    assert metrics["kid"]["ci_low"] <= metrics["kid"]["ci_high"]
    assert metrics["memorisation_pixels"]["n_generated"] == 12
    assert metrics["n_heldout"] == 9


def test_memorised_training_images_are_flagged():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (20, 32, 32, 1), dtype=np.uint8)
    heldout = rng.integers(0, 256, (10, 32, 32, 1), dtype=np.uint8)
    copies = train[:10].copy()
    metrics = gan.quality_metrics(copies, train, heldout, n_boot=2, seed=0)
    assert metrics["memorisation_pixels"]["median_nn_generated_train"] == 0.0
    assert metrics["memorisation_pixels"]["frac_generated_below_heldout_p05"] == 1.0


def _sanity_argv(tmp_path, seeds: list[int], swap_seed: int | None = None) -> list[str]:
    """gan-sanity arguments for two cultures, light and dark, whose samples are held-out-like
    images of their own culture; for ``swap_seed`` each culture's samples are the other's."""
    corpora, samples = {}, []
    for i, (culture, tone) in enumerate({"light": 240, "dark": 60}.items()):
        corpora[culture] = make_corpus(tmp_path / "corpus" / culture / "images.npz", seed=i, tone=tone)
    for seed in seeds:
        for culture, other in (("light", "dark"), ("dark", "light")):
            source = other if seed == swap_seed else culture
            images = np.load(corpora[source])["images"][:12]
            samples.append(tmp_path / f"{culture}_seed{seed}_samples.npz")
            files.save_samples(samples[-1], files.Samples(images, np.zeros((len(images), 8), np.float32)))
    return [
        "--cultures",
        "light",
        "dark",
        "--seeds",
        *map(str, seeds),
        "--samples",
        *map(str, samples),
        "--corpus",
        *map(str, corpora.values()),
        "--out-long",
        str(tmp_path / "sanity_kid.tsv"),
        "--out-matrix",
        str(tmp_path / "sanity_kid_matrix.tsv"),
        "--settings",
        json.dumps({"sanity_n_boot": 5}),
    ]


def test_gan_sanity_stage_writes_long_and_square_tables(tmp_path):
    assert gan.main(_sanity_argv(tmp_path, [0]), stage="gan-sanity") == 0
    table = pd.read_csv(tmp_path / "sanity_kid.tsv", sep="\t")
    assert list(table.columns[:6]) == ["seed", "generator_culture", "heldout_culture", "kid", "ci_low", "ci_high"]
    assert table["own_is_smallest"].all()
    # the real-images control: each culture's training images against every held-out set
    own = table.generator_culture == table.heldout_culture
    assert (table.loc[own, "real_kid_minus_own"] == 0).all() and (table.loc[~own, "real_kid_minus_own"] > 0).all()
    assert np.isfinite(table["real_kid"]).all()
    matrix = pd.read_csv(tmp_path / "sanity_kid_matrix.tsv", sep="\t", index_col=[0, 1])
    assert list(matrix.index) == [(0, "light"), (0, "dark")] and list(matrix.columns) == ["light", "dark"]


def test_gan_sanity_checks_every_seed_on_its_own(tmp_path, caplog):
    # seed 1's generators draw the other culture: only its rows fail, seed 0's are as with seed 0 alone
    assert gan.main(_sanity_argv(tmp_path / "alone", [0]), stage="gan-sanity") == 0
    alone = pd.read_csv(tmp_path / "alone" / "sanity_kid.tsv", sep="\t")
    with caplog.at_level("INFO", logger="ganstyle.stages.gan"):
        assert gan.main(_sanity_argv(tmp_path, [0, 1], swap_seed=1), stage="gan-sanity") == 0
    table = pd.read_csv(tmp_path / "sanity_kid.tsv", sep="\t")
    assert table.groupby("seed")["own_is_smallest"].all().to_dict() == {0: True, 1: False}
    pd.testing.assert_frame_equal(table[table.seed == 0].reset_index(drop=True), alone)
    assert "seed 0: 2 of 2 generators closest to their own culture's held-out images (2 clearly" in caplog.text
    assert "seed 1: 0 of 2 generators closest" in caplog.text and "light (nearest dark by" in caplog.text
    matrix = pd.read_csv(tmp_path / "sanity_kid_matrix.tsv", sep="\t", index_col=[0, 1])
    assert list(matrix.index) == [(0, "light"), (0, "dark"), (1, "light"), (1, "dark")]


def test_gan_sanity_names_the_samples_it_is_missing(tmp_path):
    argv = _sanity_argv(tmp_path, [0, 1])
    del argv[argv.index("--corpus") - 1]  # one samples file too few
    with pytest.raises(UserError, match=r"one --samples per culture and seed \(2 x 2"):
        gan.main(argv, stage="gan-sanity")


# ---------------------------------------------------------------- the stage, end to end


def _train_argv(tmp_path, corpus, name, seeds=("0",), **overrides):
    """(output folder of the first seed, its checkpoint folder, argv)."""
    out, checkpoints = tmp_path / name / "out", tmp_path / name / "ckpt"
    return (
        out / f"seed{seeds[0]}",
        checkpoints / f"seed{seeds[0]}",
        [
            "--corpus",
            str(corpus),
            "--culture",
            "tiny",
            "--seeds",
            *seeds,
            "--out",
            str(out),
            "--checkpoints",
            str(checkpoints),
            "--settings",
            json.dumps({**TINY, **overrides}),
            "--threads",
            "1",
            "--no-progress",
        ],
    )


def test_train_gan_end_to_end_on_a_tiny_corpus(tmp_path):
    """Seed 1 alone, then seeds 0 and 1 in one process, where seed 1 comes second, after the reset."""
    corpus = make_corpus(tmp_path / "corpus" / "images.npz")
    out, checkpoints, argv = _train_argv(tmp_path, corpus, "run", seeds=("1",))
    assert gan.main(argv, stage="train-gan") == 0
    for name in ("generator.keras", "discriminator.keras", "samples.png", "samples.npz", "history.tsv", "metrics.json"):
        assert (out / name).is_file(), name
    history = pd.read_csv(out / "history.tsv", sep="\t")
    assert history["step"].tolist() == [2, 4, 6]
    assert {"d_loss", "g_loss", "d_real", "d_fake", "images_per_s", "elapsed_s"} <= set(history.columns)
    with np.load(out / "samples.npz") as samples:
        assert samples["images"].shape == (16, 32, 32, 1) and samples["images"].dtype == np.uint8
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("kid", "fd", "memorisation_reference", "memorisation_pixels", "reference_version", "steps", "train_seconds", "settings"):
        assert key in metrics, key
    assert metrics["steps"] == 6 and metrics["settings"]["loss"] == ARCHITECTURE_VALUES["default"]["loss"]
    # the critic API on the saved discriminator
    from ganstyle.models.critic import critic_outputs, load_critic

    features, logits = critic_outputs(load_critic(out / "discriminator.keras"), np.load(corpus)["images"][:3])
    assert features.shape[0] == 3 and logits.shape == (3, 1)
    # a finished run keeps its last checkpoint only
    assert [p.name for p in checkpoints.iterdir() if p.suffix == ".npz"] == ["ckpt-000000006.npz"]

    # both seeds in one process (one traced step, reset between seeds): seed 1, trained second, has the
    # weights of seed 1 trained alone, so the reset leaves nothing of seed 0 and the same seed gives the
    # same weights (op determinism on CPU); seed 0 has other weights; a new output folder retrains
    out_both, _, argv_both = _train_argv(tmp_path, corpus, "both", seeds=("0", "1"))
    assert gan.main(argv_both, stage="train-gan") == 0
    for name in ("generator.keras", "discriminator.keras"):
        for a, b in zip(saved_weights(out / name), saved_weights(out_both.parent / "seed1" / name), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)
    seed0, seed1 = (saved_weights(out_both.parent / seed / "generator.keras") for seed in ("seed0", "seed1"))
    assert any(not np.array_equal(a, b) for a, b in zip(seed0, seed1, strict=True))


def _float64_frechet_distance(x, y):
    """FD as pytorch-fid writes it, in float64 with scipy's sqrtm; Tr((C_x C_y)^1/2) in the symmetric
    form Tr((C_x^1/2 C_y C_x^1/2)^1/2), which stays real for the singular covariances of a tiny run."""
    from scipy.linalg import LinAlgWarning, sqrtm

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LinAlgWarning)  # singular: fewer samples than features
        root_x = sqrtm(cov_x).real
        trace_sqrt = np.trace(sqrtm(root_x @ cov_y @ root_x)).real
    diff = x.mean(axis=0) - y.mean(axis=0)
    return diff @ diff + np.trace(cov_x) + np.trace(cov_y) - 2.0 * trace_sqrt


def test_metrics_fd_matches_an_independent_float64_computation(tmp_path):
    """metrics.json's FD: the reference features of the run's samples against the held-out images."""
    from ganstyle.metrics.reference import reference_features
    from ganstyle.stages.corpus import load_corpus

    corpus = make_corpus(tmp_path / "corpus" / "images.npz", n=48)
    out, _, argv = _train_argv(tmp_path, corpus, "run", steps=2, samples=24)
    assert gan.main(argv, stage="train-gan") == 0
    metrics = json.loads((out / "metrics.json").read_text())
    generated = files.load_samples(out / "samples.npz").images
    heldout = load_corpus(corpus, split="heldout")[0]
    expected = _float64_frechet_distance(reference_features(generated), reference_features(heldout))
    assert expected > 0.1
    assert metrics["fd"]["value"] == pytest.approx(expected, rel=1e-6)


def test_bf16_training_is_deterministic_and_keeps_float32_outputs(tmp_path):
    # mixed_precision true: bf16 compute (emulated on CPUs without AVX512_BF16), float32 weights and outputs
    from ganstyle.models.critic import critic_outputs, load_critic

    corpus = make_corpus(tmp_path / "images.npz")
    try:
        runs = []
        for name in ("bf16_a", "bf16_b"):
            out, _, argv = _train_argv(tmp_path, corpus, name, mixed_precision=True)
            assert gan.main(argv, stage="train-gan") == 0
            runs.append(out)
        assert json.loads((runs[0] / "metrics.json").read_text())["precision"] == "mixed_bfloat16"
        for name in ("generator.keras", "discriminator.keras"):
            for a, b in zip(saved_weights(runs[0] / name), saved_weights(runs[1] / name)):
                assert a.dtype == np.float32
                np.testing.assert_array_equal(a, b)
        features, logits = critic_outputs(load_critic(runs[0] / "discriminator.keras"), np.load(corpus)["images"][:3])
        assert features.dtype == np.float32 and logits.dtype == np.float32 and np.isfinite(features).all()
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_train_gan_rejects_a_corpus_without_heldout_images(tmp_path):
    from ganstyle.errors import UserError

    path = tmp_path / "images.npz"
    np.savez(path, images=np.zeros((8, 32, 32, 1), np.uint8), ids=np.arange(8).astype(str), split=np.array(["train"] * 8))
    _, _, argv = _train_argv(tmp_path, path, "bad")
    with pytest.raises(UserError, match="held-out"):
        gan.main(argv, stage="train-gan")


def test_killed_training_resumes_to_the_same_weights(tmp_path):
    """SIGKILL after a checkpoint, start again: same final weights as a run never interrupted."""
    corpus = make_corpus(tmp_path / "corpus" / "images.npz")
    settings = {"steps": 400, "checkpoint_every": 40, "log_every": 40}
    straight_out, _, straight_argv = _train_argv(tmp_path, corpus, "straight", **settings)
    killed_out, killed_ckpt, killed_argv = _train_argv(tmp_path, corpus, "killed", **settings)
    kill_and_resume("train-gan", straight_argv, killed_argv, killed_ckpt, killed_out / "generator.keras")
    for name in ("generator.keras", "discriminator.keras"):
        for a, b in zip(saved_weights(straight_out / name), saved_weights(killed_out / name)):
            np.testing.assert_array_equal(a, b, err_msg=name)
    straight_history = pd.read_csv(straight_out / "history.tsv", sep="\t")
    resumed_history = pd.read_csv(killed_out / "history.tsv", sep="\t")
    pd.testing.assert_frame_equal(straight_history[["step", "d_loss", "g_loss"]], resumed_history[["step", "d_loss", "g_loss"]])


def _isa_runs(tmp_path, corpus, mode: str) -> list:
    """The same training in two processes at once, oneDNN capped at AVX2 (an older CPU) and at this CPU's own ISA.

    float32 in both modes, so that only the ISA differs (auto is bf16 on a CPU with AVX512_BF16, float32
    under the AVX2 cap)."""
    runs = []
    for isa in ("AVX2", None):
        out, _, argv = _train_argv(tmp_path, corpus, f"{mode}_{isa}", steps=12, log_every=4, checkpoint_every=12, mixed_precision=False)
        env = {"GANSTYLE_REPRODUCIBLE": mode, **({"ONEDNN_MAX_CPU_ISA": isa} if isa else {})}
        runs.append((out, start_stage("train-gan", argv, env)))
    for _, process in runs:
        _, log = process.communicate(timeout=600)
        assert process.returncode == 0, log[-2000:]
    return [out for out, _ in runs]


@pytest.mark.slow  # four trainings in child processes, two at a time: about 60 s of CPU
def test_strict_mode_gives_the_same_bytes_under_another_cpu_isa(tmp_path):
    """reproducible: strict: oneDNN capped at AVX2 or not, the same weights, samples and metrics, bit for bit.
    Default mode under the same two settings trains other weights: what strict mode exists to remove."""
    corpus = make_corpus(tmp_path / "corpus" / "images.npz", n=48)
    older_cpu, this_cpu = _isa_runs(tmp_path, corpus, "strict")
    for name in ("generator.keras", "discriminator.keras"):
        for a, b in zip(saved_weights(older_cpu / name), saved_weights(this_cpu / name), strict=True):
            assert a.tobytes() == b.tobytes(), name
    assert files.load_samples(older_cpu / "samples.npz").images.tobytes() == files.load_samples(this_cpu / "samples.npz").images.tobytes()
    metrics = [json.loads((out / "metrics.json").read_text()) for out in (older_cpu, this_cpu)]
    assert metrics[0]["reproducible"] == "strict" and metrics[0]["precision"] == "float32" and metrics[0]["threads"] == 1
    for key in ("kid", "fd", "memorisation_reference"):
        assert metrics[0][key] == metrics[1][key], key
    history = [pd.read_csv(out / "history.tsv", sep="\t")[["d_loss", "g_loss"]] for out in (older_cpu, this_cpu)]
    pd.testing.assert_frame_equal(*history, check_exact=True)

    older_cpu, this_cpu = _isa_runs(tmp_path, corpus, "default")
    assert json.loads((this_cpu / "metrics.json").read_text())["reproducible"] == "default"
    assert any(a.tobytes() != b.tobytes() for a, b in zip(saved_weights(older_cpu / "generator.keras"), saved_weights(this_cpu / "generator.keras")))
