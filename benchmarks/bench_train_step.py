"""Throughput of the models ganstyle trains, against the DCGAN-tutorial loop and the matmul ceilings.

    python benchmarks/bench_train_step.py [--config config.yaml] [--reps 9] [--rep-seconds 1.0] [--threads 2] [--quick]

One process, one run, five parts (about 6 minutes on 2 cores; ``--quick``: tiny models, 2 short
repetitions, to check that the script runs, not to measure):

1. Ceilings at the start: GFLOP/s of a 2048^2 matmul in float32 and in bfloat16.
2. Equal model size: the seed document's 64 px DCGAN (width 64, BCE, Adam 2e-4 / beta1 0.5,
   ``networks.seed_generator`` / ``seed_discriminator``) trained by the DCGAN tutorial's loop
   and by ganstyle's step, both float32, and ganstyle's step at mixed bfloat16.
3. The models the config trains, at its sizes: the per-culture GAN, the joint conditional GAN
   (one class per culture) and the translator (an encoder inverting the joint generator), each
   at float32 and at mixed bfloat16; beside them the DCGAN tutorial's loop around the per-culture
   GAN's networks (equal model size at the size the study trains, where per-step costs weigh most).
4. Roofline of the per-culture GAN at the precision its config trains in (``mixed_precision:
   auto``: bf16 on a CPU with native bf16): achieved GFLOP/s at 1x, 2x, 4x, 8x the config batch,
   at 2x and 4x the config widths, and at 4x the widths with 8x the batch; beside it a single
   convolution, the discriminator's largest layer at its shapes, forward and backward alone, at
   1x and 8x the batch.  The per-step cost that does not grow with the batch is the intercept of
   a line fitted to step time against batch.  It prints the largest fraction of the ceiling reached.
5. Ceilings at the end, the same way as part 1, so that drift over the run is visible.

Trustworthy references.  Every candidate of a part is built and warmed up (traced, then run until
its step time is known) before any is timed; then the part's candidates are timed interleaved
(A B C A B C ...), ``--reps`` repetitions of about ``--rep-seconds`` each, so that load from other
processes and clock changes hit all alike.  Every result is the median over repetitions with its
range [min-max].  A ``speed-up: N.NNx`` line is the ratio of two medians; beside it the range of
the ratios of the same repetition (a paired comparison).  Fractions of a ceiling use the median of
all ceiling repetitions, start and end.  All tables are printed at the end; repetitions print as
they run.

- reference: written as the TensorFlow DCGAN tutorial writes it: float32 images in [-1, 1]
  in a ``tf.data`` pipeline (from_tensor_slices, shuffle, batch; no prefetch), a Python
  ``for`` loop over the batches calling a ``@tf.function`` step that draws
  ``tf.random.normal`` noise and runs two GradientTapes, the discriminator called
  separately on real and fake batches, Keras BinaryCrossentropy(from_logits=True); no XLA.
- ganstyle: the training tasks (``gan.GANTask``, ``translator.TranslatorTask``) driven by
  ``ganstyle.models.training`` as the stages run them: uint8 batches from a prefetching,
  step-indexed ``tf.data`` pipeline, float conversion and augmentation in the step,
  checkpointable RNGs, many steps per ``tf.function`` call (a graph loop), the recipe's ``jit_compile``.

Achieved GFLOP/s counts nominal work: 2 x multiply-adds of convolutions and Dense layers
(``networks.forward_flops``); a backward pass to weights and inputs costs 2 x forward, one to
the inputs only 1 x forward.  Per real image of a GAN step (per-culture and joint):
3 x G forward (forward, backward) + 7 x D forward (real and fake forward, 2 x 2 backward for D's
loss, 1 backward to the fake input for G's loss), + 3 x D forward per rotated image with a rotation
head.  Per real image of a translator step: 3 x G forward (G on drawn codes, no gradient; G on the
real image's code, forward and backward to the code; G is frozen) + 6 x E forward (E on the
generated and on the real image, forward and backward each).  A single convolution: 3 x its
forward.  Augmentation, feature matching, batch norm, spectral norm, the heads and other
element-wise work are not counted, so GFLOP/s is a lower bound.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PRECISIONS = ("float32", "mixed_bfloat16")
# the target (#22): the default per-culture GAN at this fraction of its precision's matmul ceiling
TARGET_FRACTION = 0.40


# --------------------------------------------------------------------------- timing


@dataclasses.dataclass
class Bench:
    """One timed loop: ``run(steps) -> seconds``; images (or matmuls) and nominal FLOP per step."""

    name: str
    precision: str
    run: Callable[[int], float]
    images_per_step: int
    flops_per_step: float
    steps: int = 1  # per repetition, set by warm_up
    rates: list[float] = dataclasses.field(default_factory=list)  # images per second, one per repetition
    models: tuple = ()  # (generator, discriminator) of a GAN bench

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    def gflops(self, rate: float | None = None) -> float:
        return (self.rate if rate is None else rate) / self.images_per_step * self.flops_per_step / 1e9

    def gflops_text(self) -> str:
        return spread([self.gflops(r) for r in self.rates], "{:.1f}")


def spread(values: list[float], fmt: str = "{:.0f}") -> str:
    """``median [min-max]`` of repetitions."""
    return f"{fmt.format(statistics.median(values))} [{fmt.format(min(values))}-{fmt.format(max(values))}]"


def warm_up(bench: Bench, rep_seconds: float) -> None:
    """Trace and run a bench until its step time is known; size its repetition to ``rep_seconds``."""
    bench.run(2)
    probe = 2
    while (seconds := bench.run(probe)) < 0.2 * rep_seconds and probe < 1024:
        probe *= 4
    bench.steps = max(1, round(rep_seconds / (seconds / probe)))


def time_interleaved(benches: list[Bench], reps: int, rep_seconds: float) -> None:
    """Warm up every bench, then ``reps`` rounds of A B C ...: each bench's images/s of each round.

    All of a part's models are built before the first is warmed up: building one resets TensorFlow's
    kernel caches (``keras.utils.set_random_seed``), and a bench's next call would pay for that.
    """
    for bench in benches:
        with dtype_policy(bench.precision):
            warm_up(bench, rep_seconds)
    for rep in range(reps):
        for bench in benches:
            bench.rates.append(bench.steps * bench.images_per_step / bench.run(bench.steps))
        print(f"  rep {rep + 1}/{reps}: " + " | ".join(f"{b.name} {short(b.precision)} {b.rates[-1]:.0f}" for b in benches), flush=True)


@contextlib.contextmanager
def dtype_policy(policy: str):
    """A Keras dtype policy while inside (the stages set it before they build models, as the benches
    here do); the models and traced steps keep it."""
    import keras

    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


def short(precision: str) -> str:
    return "bf16" if precision == "mixed_bfloat16" else "fp32"


def speed_up(faster: Bench, slower: Bench, what: str, per_flop: bool = False) -> str:
    """The ratio of two medians of images/s (``per_flop``: of GFLOP/s, for models of unequal size)."""

    def value(bench, rate):
        return bench.gflops(rate) if per_flop else rate

    ratios = [value(faster, a) / value(slower, b) for a, b in zip(faster.rates, slower.rates)]
    ratio = value(faster, faster.rate) / value(slower, slower.rate)
    return f"speed-up: {ratio:.2f}x  {what} (same-repetition ratios {min(ratios):.2f}-{max(ratios):.2f})"


# --------------------------------------------------------------------------- the loops timed


def matmul_bench(tf, precision: str, size: int = 2048) -> Bench:
    """A square matmul in the precision's compute dtype: its GFLOP/s is the ceiling of that precision."""
    dtype = tf.bfloat16 if precision == "mixed_bfloat16" else tf.float32
    a = tf.cast(tf.random.normal([size, size], seed=1), dtype)
    b = tf.cast(tf.random.normal([size, size], seed=2), dtype)

    @tf.function
    def matmul(a, b):
        return tf.reduce_sum(tf.cast(tf.matmul(a, b), tf.float32))

    def run(steps: int) -> float:
        started = time.perf_counter()
        for _ in range(steps):
            matmul(a, b).numpy()
        return time.perf_counter() - started

    return Bench(f"matmul {size}^2", precision, run, 1, 2 * size**3)


def conv_bench(tf, layer, batch: int, precision: str) -> Bench:
    """One convolution layer's shapes alone: forward, then backward to its input and kernel, an SGD
    update of the kernel (so no step repeats the last), in a graph loop."""
    from ganstyle.models import networks

    dtype = tf.bfloat16 if precision == "mixed_bfloat16" else tf.float32
    _, h, w, cin = layer.input.shape
    x = tf.cast(tf.random.normal([batch, h, w, cin], seed=1), dtype)
    kernel0 = tf.cast(0.05 * tf.random.normal([*layer.kernel_size, cin, layer.filters], seed=2), dtype)
    dy = tf.cast(tf.random.normal([batch, *layer.output.shape[1:]], seed=3), dtype)

    @tf.function
    def steps(n):
        kernel, checksum = kernel0, tf.zeros((), tf.float32)
        for _ in tf.range(n):
            with tf.GradientTape() as tape:
                tape.watch([x, kernel])
                y = tf.nn.conv2d(x, kernel, strides=layer.strides, padding=layer.padding.upper())
            dx, dk = tape.gradient(y, [x, kernel], output_gradients=dy)
            kernel = kernel - tf.cast(1e-6, dtype) * dk
            checksum += tf.cast(dx[0, 0, 0, 0], tf.float32)
        return checksum + tf.cast(tf.reduce_sum(kernel), tf.float32)

    def run(n: int) -> float:
        started = time.perf_counter()
        steps(tf.constant(n)).numpy()
        return time.perf_counter() - started

    shape = f"{h}x{w}x{cin} -> {layer.output.shape[1]}x{layer.output.shape[2]}x{layer.filters}, k{layer.kernel_size[0]} s{layer.strides[0]}"
    return Bench(f"one conv {shape}, batch {batch}", precision, run, batch, 3 * batch * networks.layer_flops(layer))


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


def ganstyle_trainer(tf, task, dataset, jit_compile: bool):
    """ganstyle's loop around a training task and its step-indexed dataset; returns run(steps) -> seconds."""
    from ganstyle.models import training

    runner = training.compile_runner(task, jit_compile=jit_compile)
    iterator = iter(dataset)

    def run(steps: int) -> float:
        started = time.perf_counter()
        means = runner(iterator, tf.constant(steps, tf.int64))
        float(next(iter(means.values())))  # wait for the last step
        return time.perf_counter() - started

    return run


def random_batches(resolution: int, channels: int, batch: int, n_classes: int = 1):
    """The stages' step-indexed dataset over random uint8 images (with culture labels if n_classes > 1)."""
    import numpy as np

    from ganstyle.models import training

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20 * batch, resolution, resolution, channels), dtype=np.uint8)
    labels = rng.integers(0, n_classes, len(images)).astype(np.int32) if n_classes > 1 else None
    return training.step_batches(images, batch, 0, 0, 10**9, labels=labels)


def gan_bench(recipe, resolution: int, channels: int, n_classes: int, name: str, precision: str) -> Bench:
    """A per-culture GAN (n_classes 1) or the joint GAN, as ``gan.GANTask`` trains it."""
    import tensorflow as tf

    from ganstyle.models import gan, networks

    generator, discriminator = gan.initial_models(recipe, resolution, channels, seed=0, n_classes=n_classes)
    task = gan.GANTask(generator, discriminator, recipe, seed=0)
    g, d = networks.forward_flops(generator), networks.forward_flops(discriminator)
    rotated = task.rotated_images if task.rotation_head is not None else 0
    flops = recipe.batch_size * (3 * g + 7 * d) + rotated * 3 * d
    run = ganstyle_trainer(tf, task, random_batches(resolution, channels, recipe.batch_size, n_classes), recipe.jit_compile)
    return Bench(name, precision, run, recipe.batch_size, flops, models=(generator, discriminator))


def translator_bench(joint_recipe, recipe, resolution: int, channels: int, n_classes: int, precision: str) -> Bench:
    """The translator's encoder on a (freshly built) joint generator of the config's size."""
    import tensorflow as tf

    from ganstyle.models import gan, networks
    from ganstyle.models.translator import TranslatorTask, build_encoder

    generator, _ = gan.initial_models(joint_recipe, resolution, channels, seed=0, n_classes=n_classes)
    encoder = build_encoder(resolution, channels, joint_recipe.latent_dim, recipe.width)
    task = TranslatorTask(encoder, generator, recipe, n_classes, seed=0)
    flops = recipe.batch_size * (3 * networks.forward_flops(generator) + 6 * networks.forward_flops(encoder))
    run = ganstyle_trainer(tf, task, random_batches(resolution, channels, recipe.batch_size, n_classes), recipe.jit_compile)
    return Bench("translator", precision, run, recipe.batch_size, flops)


def built_under(policy: str, build: Callable[[], Bench]) -> Bench:
    with dtype_policy(policy):
        return build()


# --------------------------------------------------------------------------- the config's models


@dataclasses.dataclass
class Demo:
    """The sizes a config trains its models at."""

    gan: object  # GANRecipe
    joint: object  # JointRecipe
    translator: object  # TranslatorRecipe
    resolution: int
    channels: int
    n_cultures: int
    gan_precision: str  # what mixed_precision resolves to on this machine


def demo_settings(config_path: str, quick: bool) -> Demo:
    from ganstyle.config import load_config
    from ganstyle.config.registry import load_registry
    from ganstyle.models import training
    from ganstyle.models.recipes import GANRecipe, JointRecipe
    from ganstyle.models.translator import TranslatorRecipe

    config = load_config(config_path)
    n_cultures = len(load_registry(config["cultures"], config.get("metadata"), min_images=config["ingest"]["min_images"]))
    gan = GANRecipe.from_section(config["gan"])
    joint = JointRecipe.from_sections(config["gan"], config["joint"])
    translator = TranslatorRecipe.from_section(config["transfer"])
    resolution = config["ingest"]["resolution"]
    if quick:
        gan, joint, resolution = gan.replace(batch_size=8), joint.replace(batch_size=8, g_width=4, d_width=4), 32
        translator = dataclasses.replace(translator, batch_size=8, width=4)
    policy = training.precision_policy(gan.mixed_precision, training.gpu_available(), training.cpu_has_native_bf16())
    return Demo(gan, joint, translator, resolution, config["ingest"]["channels"], n_cultures, policy)


# --------------------------------------------------------------------------- report


class Report:
    """Tables printed once the end ceilings are known; speed-up lines collected in order."""

    def __init__(self):
        self.sections: list[tuple[str, list[Bench], Callable[[], list[str]]]] = []
        self.ceilings: dict[str, float] = {}

    def add(self, title: str, benches: list[Bench], notes: Callable[[], list[str]]) -> None:
        """A part's table; ``notes()`` gives the lines below it once the ceilings are known."""
        self.sections.append((title, benches, notes))

    def fraction(self, bench: Bench, rate: float | None = None) -> float:
        return bench.gflops(rate) / self.ceilings[bench.precision]

    def line(self, bench: Bench) -> str:
        fractions = [self.fraction(bench, r) for r in bench.rates]
        return (
            f"  {bench.name:<44} {short(bench.precision)}  {spread(bench.rates):>18} img/s  "
            f"{bench.gflops_text():>20} GFLOP/s  {spread([100 * f for f in fractions], '{:.1f}'):>18} % of ceiling"
        )

    def print(self) -> None:
        for title, benches, notes in self.sections:
            print(f"\n{title}")
            for bench in benches:
                print(self.line(bench))
            for note in notes():
                print(note)


def ceilings_part(tf, reps: int, rep_seconds: float) -> list[Bench]:
    benches = [matmul_bench(tf, precision) for precision in PRECISIONS]
    time_interleaved(benches, reps, rep_seconds)
    return benches


def equal_size_part(args, report: Report) -> None:
    """Part 2: the seed DCGAN, the tutorial loop against ganstyle's step."""
    from ganstyle.config import section
    from ganstyle.models.recipes import GANRecipe

    resolution, width, batch = (32, 16, 16) if args.quick else (64, 64, 32)
    recipe = GANRecipe.from_section(section("gan", json.dumps({"architecture": "seed", "batch_size": batch, "g_width": width, "d_width": width})))
    reference = tutorial_bench(recipe, resolution, 1, "DCGAN tutorial loop")
    ref_g, ref_d = reference.models
    title = (
        f"[2. equal model size] seed DCGAN {resolution}x{resolution}x1, width {width}, batch {batch}: G {ref_g.count_params():,} params, "
        f"D {ref_d.count_params():,} params, {reference.flops_per_step / 1e9:.2f} GFLOP per step"
    )
    print(f"\n{title}", flush=True)
    ours = [built_under(p, lambda p=p: gan_bench(recipe, resolution, 1, 1, "ganstyle step, seed DCGAN", p)) for p in PRECISIONS]
    time_interleaved([reference, *ours], args.reps, args.rep_seconds)
    notes = [speed_up(b, reference, f"ganstyle step ({b.precision}) over the DCGAN tutorial loop, seed DCGAN") for b in ours]
    report.add(title, [reference, *ours], lambda: notes)


def demo_part(args, demo: Demo, report: Report) -> Bench:
    """Part 3: the config's per-culture GAN, joint GAN and translator at both precisions; returns the
    per-culture GAN at the precision its config trains in."""
    res, ch, k = demo.resolution, demo.channels, demo.n_cultures
    gan_recipe, joint_recipe, translator_recipe = demo.gan, demo.joint, demo.translator
    builders = {
        "per-culture GAN": lambda p: gan_bench(gan_recipe, res, ch, 1, "per-culture GAN", p),
        "joint GAN": lambda p: gan_bench(joint_recipe, res, ch, k, "joint GAN", p),
        "translator": lambda p: translator_bench(joint_recipe, translator_recipe, res, ch, k, p),
    }
    title = (
        f"[3. the config's models] {args.config}: {res}x{res}x{ch}, {k} cultures; per-culture GAN g/d width "
        f"{gan_recipe.g_width}/{gan_recipe.d_width} batch {gan_recipe.batch_size}; joint GAN {joint_recipe.g_width}/{joint_recipe.d_width} "
        f"batch {joint_recipe.batch_size}; translator encoder width {translator_recipe.width} batch {translator_recipe.batch_size} "
        f"on the joint generator; jit_compile {gan_recipe.jit_compile}/{joint_recipe.jit_compile}/{translator_recipe.jit_compile}"
    )
    print(f"\n{title}", flush=True)
    benches = [built_under(p, lambda b=build, p=p: b(p)) for build in builders.values() for p in PRECISIONS]
    tutorial = tutorial_bench(gan_recipe, res, ch, "DCGAN tutorial loop, per-culture GAN")
    for bench in benches:
        print(f"  {bench.name} {short(bench.precision)}: {bench.flops_per_step / bench.images_per_step / 1e6:.1f} MFLOP per image-step", flush=True)
    time_interleaved([tutorial, *benches], args.reps, args.rep_seconds)
    notes = [speed_up(bf16, fp32, f"{fp32.name}, mixed bf16 over float32") for fp32, bf16 in zip(benches[::2], benches[1::2])]
    notes += [speed_up(b, tutorial, f"ganstyle step ({b.precision}) over the DCGAN tutorial loop, the config's per-culture GAN") for b in benches[:2]]
    report.add(title, [tutorial, *benches], lambda: notes)
    return benches[PRECISIONS.index(demo.gan_precision)]


def tutorial_bench(recipe, resolution: int, channels: int, name: str) -> Bench:
    """The DCGAN tutorial's loop (float32) around the networks of ``recipe``: the reference of equal model size."""
    import keras
    import numpy as np
    import tensorflow as tf

    from ganstyle.models import networks
    from ganstyle.models.pixels import to_float

    batch = recipe.batch_size
    generator, discriminator = networks.build_models(recipe, resolution, channels)
    flops = batch * (3 * networks.forward_flops(generator) + 7 * networks.forward_flops(discriminator))
    images = np.random.default_rng(0).integers(0, 256, (20 * batch, resolution, resolution, channels), dtype=np.uint8)
    run = reference_trainer(tf, keras, generator, discriminator, to_float(images), batch, recipe.latent_dim)
    return Bench(name, "float32", run, batch, flops, models=(generator, discriminator))


def roofline_part(args, demo: Demo, report: Report, config_gan: Bench) -> None:
    """Part 4: the per-culture GAN against batch and width, a single convolution, the fixed per-step cost."""
    import numpy as np
    import tensorflow as tf

    from ganstyle.models import networks

    base, precision, res, ch = demo.gan, demo.gan_precision, demo.resolution, demo.channels
    batches, widths = ((1, 2), ()) if args.quick else ((1, 2, 4, 8), (2, 4))
    settings = [(b, 1) for b in batches] + [(1, w) for w in widths] + ([(batches[-1], widths[-1])] if widths else [])

    def recipe(b, w):
        return base.replace(batch_size=b * base.batch_size, g_width=w * base.g_width, d_width=w * base.d_width)

    title = (
        f"[4. roofline] per-culture GAN at {short(precision)} (what gan.mixed_precision: {demo.gan.mixed_precision} trains in here), "
        f"config batch {base.batch_size}, widths {base.g_width}/{base.d_width}"
    )
    print(f"\n{title}", flush=True)
    gans = {}
    for b, w in settings:
        name = f"GAN batch {b * base.batch_size} ({b}x), width {w * base.g_width} ({w}x)"
        if (b, w) == (1, 1):  # part 3's bench, timed again beside the others
            gans[b, w] = dataclasses.replace(config_gan, name=name, rates=[])
        else:
            gans[b, w] = built_under(precision, lambda r=recipe(b, w), n=name: gan_bench(r, res, ch, 1, n, precision))
    largest = max(gans[1, 1].models[1].layers, key=networks.layer_flops)  # the discriminator's
    convs = [conv_bench(tf, largest, b * base.batch_size, precision) for b in (1, batches[-1])]
    for bench in gans.values():
        print(f"  {bench.name}: {bench.flops_per_step / bench.images_per_step / 1e6:.1f} MFLOP per image-step", flush=True)
    benches = [*gans.values(), *convs]
    time_interleaved(benches, args.reps, args.rep_seconds)

    # step time = fixed + per image x batch, fitted over the batch sweep at the config width
    sweep = [gans[b, 1] for b in batches]
    sizes = np.array([s.images_per_step for s in sweep], float)
    seconds = np.array([s.images_per_step / s.rate for s in sweep])
    per_image, fixed = np.polyfit(sizes, seconds, 1)
    at_config = seconds[0]
    best = max(gans.values(), key=lambda bench: bench.gflops())
    config_bench = gans[1, 1]

    def notes() -> list[str]:
        return [
            f"  fixed per-step cost (intercept of step time against batch {', '.join(str(int(s)) for s in sizes)}): {1e3 * max(fixed, 0.0):.1f} ms, "
            f"{max(fixed, 0.0) / at_config:.0%} of the {1e3 * at_config:.1f} ms step at the config batch; {1e6 * per_image:.0f} us per image",
            f"  the config's setting reaches {report.fraction(config_bench):.1%} of the {short(precision)} ceiling "
            f"(issue #22 target {TARGET_FRACTION:.0%}); the largest fraction reached: {report.fraction(best):.1%}, {best.name}",
            f"  a single convolution at the discriminator's largest layer alone: {report.fraction(convs[0]):.1%} of the ceiling at the config "
            f"batch, {report.fraction(convs[1]):.1%} at {batches[-1]}x",
            speed_up(gans[batches[-1], 1], config_bench, f"per-culture GAN images/s at {batches[-1]}x the batch over the config's"),
            speed_up(best, config_bench, f"per-culture GAN GFLOP/s, {best.name}, over the config's", per_flop=True),
        ]

    report.add(title, benches, notes)


def ceilings_notes(report: Report, start: list[Bench], end: list[Bench]) -> list[str]:
    """Each precision's ceiling at the start and the end of the run; the median of both is the one used."""
    lines = []
    for first, last in zip(start, end):
        pooled = [first.gflops(r) for r in first.rates] + [last.gflops(r) for r in last.rates]
        report.ceilings[first.precision] = statistics.median(pooled)
        lines.append(
            f"  {short(first.precision)} ceiling: start {first.gflops_text()}, end {last.gflops_text()} GFLOP/s; "
            f"used: {report.ceilings[first.precision]:.1f} (median of all {len(pooled)}); end/start {last.gflops() / first.gflops():.2f}"
        )
    fp32, bf16 = end[0], end[1]
    lines.append(speed_up(bf16, fp32, "bf16 over float32 matmul ceiling, end"))
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="config.yaml", help="the config whose model sizes to measure")
    parser.add_argument("--reps", type=int, default=9, help="interleaved repetitions per part")
    parser.add_argument("--rep-seconds", type=float, default=1.0, help="about how long one repetition of one candidate runs")
    parser.add_argument("--threads", type=int, default=2, help="TensorFlow intra-op threads (0: leave TensorFlow's pools as they are)")
    parser.add_argument("--quick", action="store_true", help="tiny models, 2 short repetitions: checks that the script runs, measures nothing")
    args = parser.parse_args(argv)
    if args.quick:
        args.reps, args.rep_seconds = 2, 0.02

    from ganstyle.models import training

    training.configure_tensorflow(args.threads, seed=0, deterministic=False)
    import keras
    import tensorflow as tf

    started = time.perf_counter()
    print(
        f"threads {args.threads}, TensorFlow {tf.__version__}, Keras {keras.__version__}, native bf16 (AVX512_BF16/AMX): "
        f"{training.cpu_has_native_bf16()}; {args.reps} repetitions of ~{args.rep_seconds} s per candidate{' (--quick)' if args.quick else ''}"
    )
    demo = demo_settings(args.config, args.quick)
    report = Report()
    print("\n[1. ceilings, start]", flush=True)
    start = ceilings_part(tf, args.reps, args.rep_seconds)
    equal_size_part(args, report)
    config_gan = demo_part(args, demo, report)
    roofline_part(args, demo, report, config_gan)
    print("\n[5. ceilings, end]", flush=True)
    end = ceilings_part(tf, args.reps, args.rep_seconds)
    ceilings = ceilings_notes(report, start, end)
    print("\n==== results: median [min-max] over repetitions ====")
    print("\n[1. and 5. matmul ceilings, 2048^2]")
    print("\n".join(ceilings))
    report.print()
    print(f"\nwhole run {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
