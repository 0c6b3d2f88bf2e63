"""Throughput of ganstyle's GAN training step against a plain DCGAN-tutorial loop.

    python benchmarks/bench_train_step.py [--resolution 64] [--channels 1] [--batch 32] [--steps 30] [--reps 3] [--threads 2]

Both sides train the *same* model, the seed document's DCGAN
(``ganstyle.networks.seed_generator`` / ``seed_discriminator``), with the
seed's recipe (BCE, Adam 2e-4 / beta1 0.5), at the same batch size, in one
process, alternately (A B A B ...) so that load from other processes hits
both alike; the median over repetitions is reported.

- reference: written as the TensorFlow DCGAN tutorial writes it: float32
  images in [-1, 1] in a ``tf.data`` pipeline (from_tensor_slices, shuffle,
  batch; no prefetch), a Python ``for`` loop over the batches calling a
  ``@tf.function`` step that draws ``tf.random.normal`` noise and runs two
  GradientTapes, the discriminator called separately on real and fake
  batches, Keras BinaryCrossentropy(from_logits=True); no XLA.
- ganstyle: ``ganstyle.gan.GANTask`` driven by ``ganstyle.training`` as the
  train-gan stage runs it: uint8 batches from a prefetching, step-indexed
  ``tf.data`` pipeline, float conversion in the step, the discriminator
  called separately on real and fake batches (as in the reference),
  checkpointable RNGs, XLA-fused Adam and EMA updates, and many steps per
  ``tf.function`` call (a graph loop, no Python between steps).

Achieved GFLOP/s counts the same nominal work for both: 2 x multiply-adds of
convolutions and Dense layers, per real image 3 x G forward (forward,
backward to inputs and to weights) + 7 x D forward (2 images forward, 2 x 2
backward for D's loss, 1 backward through D on the fake image for G's loss),
set against a float32 matmul ceiling measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def matmul_ceiling(tf, size: int = 2048, reps: int = 10) -> float:
    """Best float32 GFLOP/s of a square matmul over ``reps`` runs."""
    a = tf.random.normal([size, size], seed=1)
    b = tf.random.normal([size, size], seed=2)
    matmul = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
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


def ganstyle_trainer(tf, task, images_uint8, batch_size, seed=0):
    """ganstyle's loop around the same models; returns run(steps) -> seconds."""
    from ganstyle import training

    runner = training.compile_runner(task, jit_compile=False)
    iterator = iter(training.step_batches(images_uint8, batch_size, seed, 0, 10**9))

    def run(steps: int) -> float:
        started = time.perf_counter()
        means = runner(iterator, tf.constant(steps, tf.int64))
        float(means["d_loss"])
        return time.perf_counter() - started

    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--width", type=int, default=64, help="seed DCGAN width (64 = the seed document's)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per repetition")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    from ganstyle import training

    training.configure_tensorflow(args.threads, seed=0, deterministic=False)
    import keras
    import numpy as np
    import tensorflow as tf

    from ganstyle import gan, networks

    settings = gan.resolve_settings({
        "architecture": "seed", "batch_size": args.batch, "g_width": args.width, "d_width": args.width,
        "r1_gamma": 0.0, "latent_dim": None, "max_width": None, "loss": None, "augment": None, "ema_decay": None,
        "learning_rate_g": None, "learning_rate_d": None, "beta1": None, "beta2": None,
    })
    rng = np.random.default_rng(0)
    n_images = 20 * args.batch  # whole batches, so the reference never sees a short one
    images_uint8 = rng.integers(0, 256, (n_images, args.resolution, args.resolution, args.channels), dtype=np.uint8)
    images_float = images_uint8.astype(np.float32) / 127.5 - 1.0

    def models():
        return networks.build_models(settings, args.resolution, args.channels)

    ref_g, ref_d = models()
    reference = reference_trainer(tf, keras, ref_g, ref_d, images_float, args.batch, settings["latent_dim"])
    our_g, our_d = models()
    ours = ganstyle_trainer(tf, gan.GANTask(our_g, our_d, settings, seed=0), images_uint8, args.batch)

    flops_g, flops_d = networks.forward_flops(our_g), networks.forward_flops(our_d)
    step_flops = args.batch * (3 * flops_g + 7 * flops_d)
    print(f"model: seed DCGAN {args.resolution}x{args.resolution}x{args.channels}, width {args.width}, batch {args.batch}, "
          f"G {our_g.count_params():,} params {flops_g / 1e6:.1f} MFLOP/img, D {our_d.count_params():,} params {flops_d / 1e6:.1f} MFLOP/img")
    print(f"threads {args.threads}, TensorFlow {tf.__version__}, nominal work {step_flops / 1e9:.2f} GFLOP per step")

    for run in (reference, ours):  # trace, build optimizer slots, warm caches
        run(3)
    ref_rates, our_rates = [], []
    for rep in range(args.reps):
        ref_rates.append(args.steps * args.batch / reference(args.steps))
        our_rates.append(args.steps * args.batch / ours(args.steps))
        print(f"  rep {rep + 1}: reference {ref_rates[-1]:7.1f} img/s   ganstyle {our_rates[-1]:7.1f} img/s")
    ceiling = matmul_ceiling(tf)
    ref_rate, our_rate = statistics.median(ref_rates), statistics.median(our_rates)
    our_gflops = our_rate / args.batch * step_flops / 1e9
    ref_gflops = ref_rate / args.batch * step_flops / 1e9
    print(f"reference (DCGAN tutorial loop): {ref_rate:8.1f} images/s  {ref_gflops:6.1f} GFLOP/s")
    print(f"ganstyle training step:          {our_rate:8.1f} images/s  {our_gflops:6.1f} GFLOP/s")
    print(f"speed-up: {our_rate / ref_rate:.2f}x")
    print(f"float32 matmul ceiling (2048^2, best of 10): {ceiling:.1f} GFLOP/s; ganstyle step at {our_gflops / ceiling:.1%} of it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
