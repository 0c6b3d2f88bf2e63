"""Throughput of the models ganstyle trains, against the DCGAN-tutorial loop and the matmul ceilings.

    python benchmarks/bench_train_step.py [--config config.yaml] [--steps 20] [--reps 3] [--threads 2]

One process, one run, four parts:

1. Ceilings: the best float32 and bfloat16 GFLOP/s of a 2048^2 matmul on this machine.
2. Equal model size: the seed document's 64 px DCGAN (width 64, BCE, Adam 2e-4 / beta1 0.5,
   ``ganstyle.models.networks.seed_generator`` / ``seed_discriminator``) trained by the DCGAN
   tutorial's loop and by ganstyle's step, both float32, and ganstyle's step at bf16.
3. The models the demo trains, at the sizes config.yaml gives them: the per-culture GAN,
   the joint conditional critic (one class per registry culture) and the CycleGAN, each at
   float32 and at mixed bfloat16, against the ceiling of its precision.
4. Where the time of a small model goes: the same step at 1x and 4x the batch, and the
   per-step cost that does not grow with the batch (kernel launches, optimizer updates,
   Python-free but op-bound graph work).

Models are timed alternately (A B A B ...) so that load from other processes hits all
alike; the median over repetitions is reported.  Lines ``speed-up: N.NNx`` give the ratios.

- reference: written as the TensorFlow DCGAN tutorial writes it: float32 images in [-1, 1]
  in a ``tf.data`` pipeline (from_tensor_slices, shuffle, batch; no prefetch), a Python
  ``for`` loop over the batches calling a ``@tf.function`` step that draws
  ``tf.random.normal`` noise and runs two GradientTapes, the discriminator called
  separately on real and fake batches, Keras BinaryCrossentropy(from_logits=True); no XLA.
- ganstyle: the training tasks (``gan.GANTask``, ``cyclegan.CycleGANTask``) driven by
  ``ganstyle.models.training`` as the stages run them: uint8 batches from a prefetching,
  step-indexed ``tf.data`` pipeline, float conversion and augmentation in the step,
  checkpointable RNGs, and many steps per ``tf.function`` call (a graph loop).

Achieved GFLOP/s counts nominal work, 2 x multiply-adds of convolutions and Dense layers
(``networks.forward_flops``), backward = 2 x forward: per real image of a GAN step
3 x G forward + 7 x D forward (2 images forward, 2 x 2 backward for D's loss, 1 backward
through D on the fake for G's loss); per image pair of a CycleGAN step 18 x G forward
(6 generator passes: translations, round trips, identities) + 16 x D forward (6 forward,
4 x 2 backward for D's losses, 2 backward to the inputs for G's).  Augmentation, feature
matching, spectral norm and element-wise work are not counted, so GFLOP/s is a lower bound.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def matmul_ceiling(tf, dtype: str = "float32", size: int = 2048, reps: int = 10) -> float:
    """Best GFLOP/s of a square ``dtype`` matmul over ``reps`` runs."""
    a = tf.cast(tf.random.normal([size, size], seed=1), dtype)
    b = tf.cast(tf.random.normal([size, size], seed=2), dtype)

    @tf.function
    def matmul(a, b):
        return tf.reduce_sum(tf.cast(tf.matmul(a, b), tf.float32))

    matmul(a, b).numpy()
    best = 0.0
    for _ in range(reps):
        started = time.perf_counter()
        matmul(a, b).numpy()
        best = max(best, 2 * size**3 / (time.perf_counter() - started) / 1e9)
    return best


def reference_trainer(tf, keras, generator, discriminator, images_float, batch_size, latent_dim):
    """The DCGAN tutorial's loop around the seed's models; returns run(steps) -> seconds."""
    cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)

    def discriminator_loss(real_output, fake_output):
        real_loss = cross_entropy(tf.ones_like(real_output), real_output)
        fake_loss = cross_entropy(tf.zeros_like(fake_output), fake_output)
        return real_loss + fake_loss

    def generator_loss(fake_output):
        return cross_entropy(tf.ones_like(fake_output), fake_output)

    generator_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)
    discriminator_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)

    @tf.function
    def train_step(images):
        noise = tf.random.normal([batch_size, latent_dim])
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            generated_images = generator(noise, training=True)
            real_output = discriminator(images, training=True)[0]
            fake_output = discriminator(generated_images, training=True)[0]
            gen_loss = generator_loss(fake_output)
            disc_loss = discriminator_loss(real_output, fake_output)
        gradients_of_generator = gen_tape.gradient(gen_loss, generator.trainable_variables)
        gradients_of_discriminator = disc_tape.gradient(disc_loss, discriminator.trainable_variables)
        generator_optimizer.apply_gradients(zip(gradients_of_generator, generator.trainable_variables))
        discriminator_optimizer.apply_gradients(zip(gradients_of_discriminator, discriminator.trainable_variables))
        return gen_loss, disc_loss

    dataset = tf.data.Dataset.from_tensor_slices(images_float).shuffle(len(images_float)).batch(batch_size)

    def run(steps: int) -> float:
        started, done = time.perf_counter(), 0
        while done < steps:
            for image_batch in dataset:
                losses = train_step(image_batch)
                done += 1
                if done == steps:
                    break
        float(losses[0])  # wait for the last step
        return time.perf_counter() - started

    return run


def ganstyle_trainer(tf, task, dataset):
    """ganstyle's loop around a training task and its step-indexed dataset; returns run(steps) -> seconds."""
    from ganstyle.models import training

    runner = training.compile_runner(task, jit_compile=False)
    iterator = iter(dataset)

    def run(steps: int) -> float:
        started = time.perf_counter()
        means = runner(iterator, tf.constant(steps, tf.int64))
        float(next(iter(means.values())))  # wait for the last step
        return time.perf_counter() - started

    return run


# --------------------------------------------------------------------------- the models we train


@dataclass
class Bench:
    """One timed training loop: ``run(steps) -> seconds``, images per step, nominal FLOP per step."""

    name: str
    precision: str
    run: Callable[[int], float]
    images_per_step: int
    flops_per_step: float
    rates: list = field(default_factory=list)

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    @property
    def gflops(self) -> float:
        return self.rate / self.images_per_step * self.flops_per_step / 1e9


def with_policy(policy: str, build: Callable[[], Bench]) -> Bench:
    """Build a bench's models and trace its step under a Keras dtype policy (the stages set it
    before building models, as here); the traced graph keeps it."""
    import keras

    keras.mixed_precision.set_global_policy(policy)
    try:
        bench = build()
        bench.run(2)  # trace, optimizer slots, warm caches
        return bench
    finally:
        keras.mixed_precision.set_global_policy("float32")


def gan_bench(settings: dict, resolution: int, channels: int, n_classes: int, name: str, precision: str, batch: int | None = None) -> Bench:
    import numpy as np
    import tensorflow as tf

    from ganstyle.models import gan, networks, training

    settings = settings.replace(batch_size=batch or settings.batch_size)
    batch = settings.batch_size
    generator, discriminator = gan.initial_models(settings, resolution, channels, seed=0, n_classes=n_classes)
    task = gan.GANTask(generator, discriminator, settings, seed=0)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20 * batch, resolution, resolution, channels), dtype=np.uint8)
    labels = rng.integers(0, n_classes, len(images)).astype(np.int32) if n_classes > 1 else None
    dataset = training.step_batches(images, batch, 0, 0, 10**9, labels=labels)
    flops = batch * (3 * networks.forward_flops(generator) + 7 * networks.forward_flops(discriminator))
    return Bench(name, precision, ganstyle_trainer(tf, task, dataset), batch, flops)


def cyclegan_bench(settings: dict, resolution: int, channels: int, precision: str) -> Bench:
    import numpy as np
    import tensorflow as tf

    from ganstyle.models import cyclegan, networks

    models = cyclegan.build_models(resolution, channels, settings["g_width"], settings["d_width"], settings["residual_blocks"])
    task = cyclegan.CycleGANTask(models, settings, seed=0)
    batch = int(settings["batch_size"])
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, (20 * batch, resolution, resolution, channels), dtype=np.uint8) for _ in range(2))
    dataset = cyclegan.pair_batches(a, b, batch, 0, 0, 10**9)
    generator, discriminator = models["G_ab"], models["D_a"]
    flops = batch * (18 * networks.forward_flops(generator) + 16 * networks.forward_flops(discriminator))
    return Bench("CycleGAN (transfer)", precision, ganstyle_trainer(tf, task, dataset), 2 * batch, flops)


def time_alternately(benches: list[Bench], steps: int, reps: int) -> None:
    for rep in range(reps):
        for bench in benches:
            bench.rates.append(steps * bench.images_per_step / bench.run(steps))
        print(f"  rep {rep + 1}: " + "   ".join(f"{b.name} {b.precision} {b.rates[-1]:.0f} img/s" for b in benches), flush=True)


def demo_settings(config_path: str) -> tuple[dict, dict, dict, int, int, int]:
    """(gan, joint, transfer) settings, resolution, channels and number of cultures of a config."""
    import pandas as pd

    from ganstyle.config import load_config
    from ganstyle.models import gan
    from ganstyle.stages import joint

    config = load_config(config_path)
    n_cultures = len(pd.read_csv(config["cultures"], sep="\t"))
    gan_settings = gan.resolve_settings(config["gan"])
    return (
        gan_settings,
        joint.joint_settings(config["gan"], config["joint"]),
        config["transfer"],
        config["ingest"]["resolution"],
        config["ingest"]["channels"],
        n_cultures,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="config.yaml", help="the config whose model sizes to measure")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per repetition")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    from ganstyle.models import training

    training.configure_tensorflow(args.threads, seed=0, deterministic=False)
    import keras
    import numpy as np
    import tensorflow as tf

    from ganstyle.config import section
    from ganstyle.models import networks
    from ganstyle.models.pixels import to_float
    from ganstyle.models.recipes import GANRecipe

    print(f"threads {args.threads}, TensorFlow {tf.__version__}, Keras {keras.__version__}, native bf16 (AVX512_BF16/AMX): {training.cpu_has_native_bf16()}")
    ceilings = {"float32": matmul_ceiling(tf, "float32"), "mixed_bfloat16": matmul_ceiling(tf, "bfloat16")}
    print(f"float32 matmul ceiling (2048^2, best of 10):  {ceilings['float32']:7.1f} GFLOP/s")
    print(f"bfloat16 matmul ceiling (2048^2, best of 10): {ceilings['mixed_bfloat16']:7.1f} GFLOP/s")
    print(f"speed-up: {ceilings['mixed_bfloat16'] / ceilings['float32']:.2f}x  bf16 over float32 matmul ceiling")

    # ---- 2. equal model size: the seed DCGAN, tutorial loop vs ganstyle's step
    resolution, width, batch = 64, 64, 32
    seed_settings = GANRecipe.from_section(section("gan", json.dumps({"architecture": "seed", "batch_size": batch, "g_width": width, "d_width": width})))
    rng = np.random.default_rng(0)
    images_uint8 = rng.integers(0, 256, (20 * batch, resolution, resolution, 1), dtype=np.uint8)
    ref_g, ref_d = networks.build_models(seed_settings, resolution, 1)
    step_flops = batch * (3 * networks.forward_flops(ref_g) + 7 * networks.forward_flops(ref_d))
    reference = Bench(
        "DCGAN tutorial loop",
        "float32",
        reference_trainer(tf, keras, ref_g, ref_d, to_float(images_uint8), batch, seed_settings.latent_dim),
        batch,
        step_flops,
    )
    reference.run(2)
    seeds = [reference] + [
        with_policy(policy, lambda p=policy: gan_bench(seed_settings, resolution, 1, 1, "ganstyle step, seed DCGAN", p))
        for policy in ("float32", "mixed_bfloat16")
    ]
    print(
        f"\n[equal model size] seed DCGAN {resolution}x{resolution}x1, width {width}, batch {batch}: "
        f"G {ref_g.count_params():,} params, D {ref_d.count_params():,} params, {step_flops / 1e9:.2f} GFLOP per step"
    )
    time_alternately(seeds, args.steps, args.reps)
    report(seeds, ceilings)
    for ours in seeds[1:]:
        print(f"speed-up: {ours.rate / reference.rate:.2f}x  ganstyle step ({ours.precision}) over the DCGAN tutorial loop, seed DCGAN")

    # ---- 3. the models the demo trains
    gan_settings, joint_settings, transfer_settings, res, channels, n_cultures = demo_settings(args.config)
    print(
        f"\n[demo models] {args.config}: {res}x{res}x{channels}, {n_cultures} cultures; per-culture GAN g/d width "
        f"{gan_settings.g_width}/{gan_settings.d_width} batch {gan_settings.batch_size}; joint critic "
        f"{joint_settings.g_width}/{joint_settings.d_width} batch {joint_settings.batch_size}; CycleGAN "
        f"{transfer_settings['g_width']}/{transfer_settings['d_width']} batch {transfer_settings['batch_size']}"
    )
    builders = {
        "per-culture GAN": lambda p: gan_bench(gan_settings, res, channels, 1, "per-culture GAN", p),
        "joint critic": lambda p: gan_bench(joint_settings, res, channels, n_cultures, "joint critic", p),
        "CycleGAN (transfer)": lambda p: cyclegan_bench(transfer_settings, res, channels, p),
    }
    demo = [with_policy(policy, lambda b=build, p=policy: b(p)) for build in builders.values() for policy in ("float32", "mixed_bfloat16")]
    time_alternately(demo, args.steps, args.reps)
    report(demo, ceilings)
    for fp32, bf16 in zip(demo[::2], demo[1::2]):
        print(f"speed-up: {bf16.rate / fp32.rate:.2f}x  {fp32.name}, mixed bf16 over float32")

    # ---- 4. where the time of a small model goes: fixed per-step cost vs batch
    print("\n[where the time goes] per-culture GAN and joint critic step time at 1x and 4x the batch (float32)")
    policy = "float32"
    for name, settings, classes in (("per-culture GAN", gan_settings, 1), ("joint critic", joint_settings, n_cultures)):
        small = with_policy(policy, lambda s=settings, c=classes, n=name: gan_bench(s, res, channels, c, n, policy))
        large = with_policy(policy, lambda s=settings, c=classes, n=name: gan_bench(s, res, channels, c, n, policy, batch=4 * s.batch_size))
        time_alternately([small, large], args.steps, args.reps)
        t_small, t_large = small.images_per_step / small.rate, large.images_per_step / large.rate
        fixed = max((4 * t_small - t_large) / 3, 0.0)
        print(
            f"{name}: {1e3 * t_small:.1f} ms/step at batch {small.images_per_step}, {1e3 * t_large:.1f} ms at {large.images_per_step}; "
            f"fixed per-step cost ~{1e3 * fixed:.1f} ms ({fixed / t_small:.0%} of a step at the config batch); "
            f"{small.gflops:.1f} vs {large.gflops:.1f} GFLOP/s"
        )
        print(f"speed-up: {large.rate / small.rate:.2f}x  {name}, images/s at 4x the batch")
    return 0


def report(benches: list[Bench], ceilings: dict[str, float]) -> None:
    for bench in benches:
        ceiling = ceilings[bench.precision]
        print(
            f"{bench.name:<28} {bench.precision:<15} {bench.rate:8.1f} images/s  {bench.gflops:6.1f} GFLOP/s  "
            f"{bench.gflops / ceiling:6.1%} of the {bench.precision.replace('mixed_', '')} ceiling"
        )


if __name__ == "__main__":
    sys.exit(main())
