"""Stages ``train-gan`` (one GAN per culture and seed) and ``gan-sanity``.

``train-gan`` trains a GAN on a culture's train split, saves the EMA
generator and the discriminator (the culture's critic, see
``ganstyle.critic``), a fixed-noise sample grid, generated samples, the
training history and offline quality metrics (KID and Fréchet distance to the
held-out images in the reference feature space, with bootstrap intervals, and
a memorisation check).  Training resumes from the newest full-state
checkpoint in ``--checkpoints``.

``gan-sanity`` checks that each generator imitates its own culture: the KID
of culture A's samples against every culture's held-out images, which should
be smallest for A's own.

TensorFlow is imported only inside functions, after ``devices.claim_gpu``
has picked this job's GPU.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ganstyle import io
from ganstyle.config import add_settings_arguments, section
from ganstyle.corpus import load_splits
from ganstyle.errors import UserError

log = logging.getLogger(__name__)

# What each architecture trains with when a setting is left at null.
RECIPES = {
    # small-data recipe, tuned on the demo corpus at 600 steps: the non-saturating
    # loss with Adam beta1 0.5 kept ~2x more sample diversity than hinge, a
    # discriminator twice as wide as the generator ~3x more than equal widths;
    # minibatch stddev and feature matching (weight 10) cut the held-out KID ~3x
    # on hebrew and greek, where the generators had collapsed to one pattern
    "default": {
        "loss": "bce",
        "feature_matching": 10.0,
        "minibatch_stddev": True,
        "augment": ["color", "translation", "cutout"],
        "ema_decay": 0.999,
        "learning_rate_g": 2e-4,
        "learning_rate_d": 2e-4,
        "beta1": 0.5,
        "beta2": 0.99,
        "latent_dim": 64,
        "g_width": 8,
        "d_width": 16,
        "max_width": 256,
    },
    # the seed document's DCGAN: BCE, Adam(2e-4, beta1 0.5), no augmentation, no EMA
    "seed": {
        "loss": "bce",
        "feature_matching": 0.0,
        "minibatch_stddev": False,
        "augment": [],
        "ema_decay": 0.0,
        "learning_rate_g": 2e-4,
        "learning_rate_d": 2e-4,
        "beta1": 0.5,
        "beta2": 0.999,
        "latent_dim": 100,
        "g_width": 64,
        "d_width": 64,
        "max_width": 512,
    },
}

# Settings that change the trained weights: a checkpoint written under other
# values of these is not resumed from.  (``steps`` is not among them: raising it
# continues a finished run.)
TRAINING_KEYS = (
    "architecture", "loss", "augment", "ema_decay", "learning_rate_g", "learning_rate_d", "beta1", "beta2",
    "latent_dim", "g_width", "d_width", "max_width", "batch_size", "r1_gamma", "jit_compile", "mixed_precision",
    "feature_matching", "minibatch_stddev",
)


def resolve_settings(settings: dict) -> dict:
    """The ``gan`` section with every null replaced by the architecture's recipe value."""
    recipe = RECIPES[settings["architecture"]]
    return {key: (recipe[key] if value is None and key in recipe else value) for key, value in {**recipe, **settings}.items()}


# ---------------------------------------------------------------- the training step


class GANTask:
    """The GAN's state and its training step, for ``ganstyle.training.train``.

    One step: G(z) -> fake; DiffAugment on real and fake alike; one
    discriminator pass over the augmented fakes and one over the augmented
    reals; both players' losses from those logits (the generator's plus
    feature matching on D's penultimate features, the discriminator's plus
    the optional R1 penalty on the augmented reals); both players updated
    simultaneously with Adam; the EMA generator follows G.  ``variables()``
    is the full state: G, D, EMA G, both optimizers, the noise and
    augmentation RNGs.  (D's minibatch-stddev running mean is updated by both
    passes, so in inference it stands for a mix of real and generated batches.)
    """

    def __init__(self, generator, discriminator, settings: dict, seed: int):
        import keras
        import tensorflow as tf

        self.generator, self.discriminator = generator, discriminator
        self.settings = settings
        self.batch_size = int(settings["batch_size"])
        self.images_per_step = self.batch_size
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.ema_generator = keras.models.clone_model(generator)
        self.ema_generator.set_weights(generator.get_weights())

        def adam(lr):
            optimizer = keras.optimizers.Adam(lr, beta_1=settings["beta1"], beta_2=settings["beta2"])
            if keras.mixed_precision.global_policy().name == "mixed_float16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            return optimizer

        self.g_optimizer = adam(settings["learning_rate_g"])
        self.d_optimizer = adam(settings["learning_rate_d"])
        # slots exist before a checkpoint is restored into them
        self.g_optimizer.build(generator.trainable_variables)
        self.d_optimizer.build(discriminator.trainable_variables)
        # separate streams, so that switching augmentation off does not change the noise
        self.noise_rng = tf.random.Generator.from_seed(seed, alg="philox")
        self.augment_rng = tf.random.Generator.from_seed(seed + 1_000_003, alg="philox")
        self._apply_updates = tf.function(self._updates, jit_compile=True)

    def variables(self) -> dict:
        groups = {
            "generator": self.generator.weights,
            "discriminator": self.discriminator.weights,
            "ema_generator": self.ema_generator.weights,
            "g_optimizer": self.g_optimizer.variables,
            "d_optimizer": self.d_optimizer.variables,
        }
        state = {f"{group}/{i:04d}": v for group, variables in groups.items() for i, v in enumerate(variables)}
        state["rng/noise"] = self.noise_rng.state
        state["rng/augment"] = self.augment_rng.state
        return state

    def augment(self, images):
        from ganstyle.augment import diff_augment

        transforms = self.settings["augment"]
        return diff_augment(images, self.augment_rng, transforms) if transforms else images

    def _discriminate(self, images):
        logits, features = self.discriminator(self.augment(images), training=True)
        return _as_float32(logits), _as_float32(features)

    def train_step(self, real_uint8):
        import tensorflow as tf

        from ganstyle.losses import discriminator_loss, feature_matching, generator_loss, r1_penalty

        kind, r1_gamma = self.settings["loss"], float(self.settings["r1_gamma"])
        fm_weight = float(self.settings["feature_matching"])
        real = tf.cast(real_uint8, tf.float32) / 127.5 - 1.0
        noise = self.noise_rng.normal([tf.shape(real)[0], self.latent_dim])
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = tf.cast(self.generator(noise, training=True), tf.float32)
            # real and fake go through D separately: G's gradient then only flows
            # back through the fake half (a joint pass would also backpropagate
            # through the real half, ~10% more work)
            fake_logits, fake_features = self._discriminate(fake)
            if r1_gamma > 0:
                real_augmented = self.augment(real)
                with tf.GradientTape() as r1_tape:
                    r1_tape.watch(real_augmented)
                    real_logits, real_features = map(_as_float32, self.discriminator(real_augmented, training=True))
                    real_sum = tf.reduce_sum(real_logits)
                r1 = r1_penalty(r1_tape.gradient(real_sum, real_augmented))
            else:
                real_logits, real_features = self._discriminate(real)
                r1 = tf.constant(0.0)
            d_loss = discriminator_loss(kind, real_logits, fake_logits)
            g_loss = generator_loss(kind, fake_logits)
            matching = feature_matching(tf.stop_gradient(real_features), fake_features)
            d_scaled = self.d_optimizer.scale_loss(d_loss + 0.5 * r1_gamma * r1)
            g_scaled = self.g_optimizer.scale_loss(g_loss + fm_weight * matching)
        g_grads = g_tape.gradient(g_scaled, self.generator.trainable_variables)
        d_grads = d_tape.gradient(d_scaled, self.discriminator.trainable_variables)
        self._apply_updates(g_grads, d_grads)
        return {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_real": tf.reduce_mean(real_logits),
            "d_fake": tf.reduce_mean(fake_logits),
            "r1": r1,
            "feature_matching": matching,
        }

    def _updates(self, g_grads, d_grads):
        """Both Adam steps and the EMA: only element-wise work, which XLA fuses
        into a few loops (Keras runs ~15 small ops per variable otherwise)."""
        from ganstyle.training import ema_decay, ema_update

        self.d_optimizer.apply(d_grads, self.discriminator.trainable_variables)
        self.g_optimizer.apply(g_grads, self.generator.trainable_variables)
        decay = ema_decay(self.g_optimizer.iterations, self.settings["ema_decay"])
        ema_update(self.ema_generator.weights, self.generator.weights, decay)


def _as_float32(x):
    import tensorflow as tf

    return tf.cast(x, tf.float32)


# ---------------------------------------------------------------- sampling


def fixed_noise(count: int, latent_dim: int, seed: int) -> np.ndarray:
    """The same noise for the same (count, latent_dim, seed): samples are reproducible."""
    return np.random.default_rng([seed, 7919]).standard_normal((count, latent_dim)).astype(np.float32)


def generate_images(generator, noise: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """uint8 NHWC images from ``noise`` (inference mode: BN uses its running statistics)."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def forward(z):
        images = tf.cast(generator(z, training=False), tf.float32)
        return tf.cast(tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0, 255), tf.uint8)

    return np.concatenate([forward(tf.constant(noise[i : i + batch_size])).numpy() for i in range(0, len(noise), batch_size)])


def image_grid(images: np.ndarray, columns: int, gap: int = 2, fill: int = 255) -> np.ndarray:
    """Tile NHWC uint8 images row by row into one (H', W', C) image with ``gap`` pixels between."""
    n, h, w, c = images.shape
    rows = math.ceil(n / columns)
    grid = np.full((rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap, c), fill, np.uint8)
    for i, image in enumerate(images):
        r, k = divmod(i, columns)
        grid[r * (h + gap) : r * (h + gap) + h, k * (w + gap) : k * (w + gap) + w] = image
    return grid


def save_png(path, pixels: np.ndarray) -> None:
    from PIL import Image

    image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    with io.atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


# ---------------------------------------------------------------- quality metrics (no I/O)


def _flat(images):
    """Pixels as [0, 1] float rows, for nearest neighbours in pixel space."""
    return images.reshape(len(images), -1).astype(np.float64) / 255.0


def single_threaded_blas():
    """The bootstraps do thousands of small (~100 x 100) linear-algebra calls: one
    BLAS thread is faster, and on a loaded machine multi-threaded OpenBLAS is ~7x
    slower (its threads spin for cores other jobs hold)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def quality_metrics(generated: np.ndarray, train: np.ndarray, heldout: np.ndarray, n_boot: int, seed: int) -> dict:
    """KID and FD of generated vs held-out images in the reference feature space
    (bootstrap intervals), and memorisation in reference-feature and pixel space."""
    from ganstyle.metrics.distances import bootstrap, frechet_distance, kid, memorisation
    from ganstyle.metrics.reference import REFERENCE_VERSION, reference_features

    with warnings.catch_warnings(record=True) as caught, single_threaded_blas():
        warnings.simplefilter("always")
        f_gen, f_train, f_held = (reference_features(x) for x in (generated, train, heldout))
        kid_value = bootstrap(lambda a, b: kid(a, b, seed=seed), f_gen, f_held, n_boot=n_boot, seed=seed)
        # FD is biased upwards under resampling: the basic bootstrap corrects for that
        fd_value = bootstrap(frechet_distance, f_gen, f_held, n_boot=n_boot, seed=seed, method="basic")
        memorisation_reference = memorisation(f_gen, f_train, f_held)
        memorisation_pixels = memorisation(_flat(generated), _flat(train), _flat(heldout))
    notes = sorted({str(w.message) for w in caught})
    for note in notes:
        log.warning("%s", note)
    return {
        "reference_version": REFERENCE_VERSION,
        "reference_dim": int(f_gen.shape[1]),
        "kid": dict(zip(("value", "ci_low", "ci_high"), kid_value)),
        "fd": dict(zip(("value", "ci_low", "ci_high"), fd_value)),
        "kid_ci_method": "percentile bootstrap",
        "fd_ci_method": "basic bootstrap",
        "n_boot": n_boot,
        "n_generated": len(generated),
        "n_train": len(train),
        "n_heldout": len(heldout),
        "memorisation_reference": memorisation_reference,
        "memorisation_pixels": memorisation_pixels,
        "warnings": notes,
    }


def kid_matrix(samples: dict[str, np.ndarray], heldout: dict[str, np.ndarray], n_boot: int, seed: int) -> pd.DataFrame:
    """Long table: KID (bootstrap CI) of every generator's samples against every culture's held-out
    images, all as reference features ``{culture: (N, D)}``."""
    with single_threaded_blas():
        rows = _kid_rows(samples, heldout, n_boot, seed)
    table = pd.DataFrame(rows, columns=["generator_culture", "heldout_culture", "kid", "ci_low", "ci_high"])
    own = table[table.generator_culture == table.heldout_culture].set_index("generator_culture")["kid"]
    best = table.loc[table.groupby("generator_culture")["kid"].idxmin()].set_index("generator_culture")["heldout_culture"]
    table["own_is_smallest"] = table["generator_culture"].map(lambda c: best[c] == c)
    table["kid_minus_own"] = table["kid"] - table["generator_culture"].map(own)
    return table


def _kid_rows(samples, heldout, n_boot, seed):
    from ganstyle.metrics.distances import bootstrap, kid

    rows = []
    for generator_culture, generated in samples.items():
        for heldout_culture, real in heldout.items():
            value, low, high = bootstrap(lambda a, b: kid(a, b, seed=seed), generated, real, n_boot=n_boot, seed=seed)
            rows.append({"generator_culture": generator_culture, "heldout_culture": heldout_culture, "kid": value, "ci_low": low, "ci_high": high})
    return rows


# ---------------------------------------------------------------- stage train-gan


def _fingerprint(settings: dict, culture: str, seed: int, train_images: np.ndarray) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({k: settings[k] for k in TRAINING_KEYS}, sort_keys=True).encode())
    digest.update(f"{culture}\0{seed}\0{train_images.shape}".encode())
    digest.update(np.ascontiguousarray(train_images).tobytes())
    return digest.hexdigest()[:32]


def train_gan(corpus_path: Path, culture: str, seed: int, out: Path, checkpoints: Path, settings: dict, threads: int | None, progress: bool = True) -> dict:
    """Train, save every output of one (culture, seed); return metrics.json's content."""
    from ganstyle import devices

    devices.claim_gpu()
    from ganstyle import networks, training

    started = time.perf_counter()
    settings = resolve_settings(settings)
    training.configure_tensorflow(threads, seed, deterministic=settings["deterministic"])
    precision = training.configure_precision(settings["mixed_precision"])
    train_images, heldout_images = load_splits(corpus_path, needs="a GAN", measures="metrics")
    resolution, channels = train_images.shape[1], train_images.shape[3]
    if train_images.shape[1] != train_images.shape[2] or resolution not in networks.RESOLUTIONS:
        raise UserError(f"{corpus_path}: images are {train_images.shape[1]}x{train_images.shape[2]}; a GAN needs square images of {networks.RESOLUTIONS}")
    log.info("%s seed %d: %d train / %d held-out images, %dx%dx%d, %s, precision %s",
             culture, seed, len(train_images), len(heldout_images), resolution, resolution, channels, settings["architecture"], precision)

    generator, discriminator = networks.build_models(settings, resolution, channels)
    task = GANTask(generator, discriminator, settings, seed)
    checkpointer = training.Checkpointer(checkpoints, task.variables(), _fingerprint(settings, culture, seed, train_images))
    batch_size = settings["batch_size"]
    history = training.train(
        task,
        lambda start, end: training.step_batches(train_images, batch_size, seed, start, end),
        total_steps=settings["steps"],
        checkpointer=checkpointer,
        checkpoint_every=settings["checkpoint_every"],
        log_every=settings["log_every"],
        jit_compile=settings["jit_compile"],
        progress=progress,
        description=f"{culture} seed{seed}",
    )
    train_seconds = float(history["elapsed_s"].iloc[-1]) if len(history) else 0.0

    out.mkdir(parents=True, exist_ok=True)
    io.save_keras(task.ema_generator, out / "generator.keras")
    io.save_keras(discriminator, out / "discriminator.keras")
    noise = fixed_noise(settings["samples"], task.latent_dim, seed)
    samples = generate_images(task.ema_generator, noise)
    grid = settings["grid"]
    save_png(out / "samples.png", image_grid(samples[: grid * grid], grid))
    io.write_npz(out / "samples.npz", images=samples, noise=noise)
    io.write_tsv(out / "history.tsv", history)

    log.info("saved models and %d samples; computing quality metrics", len(samples))
    metrics = quality_metrics(samples, train_images, heldout_images, settings["n_boot"], seed)
    import tensorflow as tf

    rates = history["images_per_s"].iloc[1:] if len(history) > 1 else history["images_per_s"]
    metrics.update({
        "culture": culture,
        "seed": seed,
        "steps": int(settings["steps"]),
        "train_seconds": train_seconds,
        "wall_seconds_this_run": time.perf_counter() - started,
        "images_per_s_median": float(rates.median()) if len(rates) else None,
        "settings": settings,
        "resolution": int(resolution),
        "channels": int(channels),
        "precision": precision,
        "device": "GPU" if training.gpu_available() else "CPU",
        "threads": threads,
        "tensorflow": tf.__version__,
    })
    io.write_json(out / "metrics.json", metrics)
    log.info("%s seed %d: KID %.4g [%.4g, %.4g], FD %.4g, %d steps in %.0f s",
             culture, seed, *metrics["kid"].values(), metrics["fd"]["value"], settings["steps"], train_seconds)
    return metrics


# ---------------------------------------------------------------- stage gan-sanity


def gan_sanity(samples_paths: list[Path], corpus_paths: list[Path], cultures: list[str], out_long: Path, out_matrix: Path, n_boot: int, seed: int) -> pd.DataFrame:
    from ganstyle.corpus import load_corpus
    from ganstyle.metrics.reference import reference_features

    if not (len(samples_paths) == len(corpus_paths) == len(cultures)):
        raise UserError("gan-sanity: give one --samples and one --corpus per --cultures entry, in the same order")
    samples, heldout = {}, {}
    for culture, samples_path, corpus_path in zip(cultures, samples_paths, corpus_paths):
        if not Path(samples_path).is_file():
            raise UserError(f"samples not found: {samples_path}")
        with np.load(samples_path) as stored:
            generated = stored["images"]
        with single_threaded_blas():
            samples[culture] = reference_features(generated)
            heldout[culture] = reference_features(load_corpus(corpus_path, split="heldout")[0])
    table = kid_matrix(samples, heldout, n_boot, seed)
    io.write_tsv(out_long, table)
    matrix = table.pivot(index="generator_culture", columns="heldout_culture", values="kid").loc[cultures, cultures]
    io.write_tsv(out_matrix, matrix, index=True)
    failed = sorted(set(table.loc[~table.own_is_smallest, "generator_culture"]))
    if failed:
        log.warning("gan-sanity: the KID of these generators is not smallest on their own culture: %s", ", ".join(failed))
    else:
        log.info("gan-sanity: every generator is closest to its own culture's held-out images")
    return table


# ---------------------------------------------------------------- CLI


def _parser(stage: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m ganstyle {stage}", description=__doc__.split("\n\n")[0])
    add_settings_arguments(parser, "gan")
    parser.add_argument("--threads", type=int, default=None, help="TensorFlow intra-op threads (the rule's threads)")
    if stage == "train-gan":
        parser.add_argument("--corpus", type=Path, required=True, help="results/corpus/{culture}/images.npz")
        parser.add_argument("--culture", required=True)
        parser.add_argument("--seed", type=int, required=True)
        parser.add_argument("--out", type=Path, required=True, help="output folder, results/gan/{culture}/seed{seed}")
        parser.add_argument("--checkpoints", type=Path, required=True, help="checkpoint folder (kept between runs)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    else:
        parser.add_argument("--cultures", nargs="+", required=True)
        parser.add_argument("--samples", type=Path, nargs="+", required=True, help="samples.npz of each culture's first seed")
        parser.add_argument("--corpus", type=Path, nargs="+", required=True, help="images.npz of each culture's corpus")
        parser.add_argument("--out-long", type=Path, required=True)
        parser.add_argument("--out-matrix", type=Path, required=True)
    return parser


def main(argv: list[str] | None = None, stage: str = "train-gan") -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = _parser(stage).parse_args(argv)
    settings = section("gan", args.settings, args.config_path)
    if stage == "train-gan":
        train_gan(args.corpus, args.culture, args.seed, args.out, args.checkpoints, settings, args.threads, progress=not args.no_progress)
    elif stage == "gan-sanity":
        gan_sanity(args.samples, args.corpus, args.cultures, args.out_long, args.out_matrix, settings["sanity_n_boot"], settings["seeds"][0])
    else:
        raise UserError(f"ganstyle.gan has no stage {stage!r}")
    return 0
