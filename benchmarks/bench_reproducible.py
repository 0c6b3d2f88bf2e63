"""Cost of ``reproducible: strict``: the demo's GAN step and the reference-feature metrics, default vs strict.

    python benchmarks/bench_reproducible.py [--config config.yaml] [--steps 20] [--reps 3] [--threads 1]

The modes differ in how numpy and TensorFlow load (``ganstyle.models.devices.STRICT_ENVIRONMENT``),
so each measurement runs in a child process of its own, started as ``python -m ganstyle`` starts a
stage; the modes alternate (default strict default strict ...) so that load from other processes
hits both alike, and the median over repetitions is reported.  Default mode trains at the config's
``gan.mixed_precision`` (bf16 on a CPU with AVX512_BF16) with ``--threads`` threads, as the rule does;
strict at float32, one thread, AVX kernels; "default float32" is the default mode with
``mixed_precision: false``, to tell the share of bf16 from that of the pinned kernels.  Lines
``ratio strict/default: N.NNx`` give time ratios (above 1: strict is slower).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MARK = "bench-reproducible:"


def child(config: str | None, steps: int, threads: int, float32: bool) -> dict:
    """Seconds per GAN step (demo recipe, random 64 px images) and for the reference metrics of 500 images."""
    from ganstyle.models import devices

    devices.apply_reproducible_mode()  # before numpy and TensorFlow, as the CLI does
    import numpy as np

    from ganstyle.config import load_config
    from ganstyle.metrics.distances import frechet_distance, kid
    from ganstyle.metrics.reference import reference_features
    from ganstyle.models import training
    from ganstyle.models.gan import GANTask, initial_models
    from ganstyle.models.recipes import GANRecipe

    settings = load_config(config)
    recipe = GANRecipe.from_section({**settings["gan"], **({"mixed_precision": False} if float32 else {})})
    resolution = settings["ingest"]["resolution"]
    training.configure_tensorflow(threads, 0, deterministic=recipe.deterministic)
    precision = training.configure_precision(recipe.mixed_precision)
    images = np.random.default_rng(0).integers(0, 256, (256, resolution, resolution, 1), dtype=np.uint8)
    generator, discriminator = initial_models(recipe, resolution, 1, 0)
    task = GANTask(generator, discriminator, recipe, 0)
    run = training.compile_runner(task, recipe.jit_compile)
    iterator = iter(training.step_batches(images, recipe.batch_size, 0, 0, 3 * steps + 2))
    run(iterator, training.tf.constant(2, training.tf.int64))  # trace and warm up
    started = time.perf_counter()
    run(iterator, training.tf.constant(steps, training.tf.int64))
    step_seconds = (time.perf_counter() - started) / steps
    started = time.perf_counter()
    features = reference_features(np.concatenate([images, images[::-1]])[:500])
    frechet_distance(features[:250], features[250:]), kid(features[:250], features[250:], seed=0)
    metrics_seconds = time.perf_counter() - started
    return {"precision": precision, "step_s": step_seconds, "metrics_s": metrics_seconds}


# name -> (reproducible mode, float32 in default mode)
MODES = {"default": ("default", False), "default float32": ("default", True), "strict": ("strict", False)}


def measure(name: str, args) -> dict:
    mode, float32 = MODES[name]
    env = {**os.environ, "GANSTYLE_REPRODUCIBLE": mode, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, __file__, "--child", "--steps", str(args.steps), "--threads", str(args.threads)]
    argv += (["--config", args.config] if args.config else []) + (["--float32"] if float32 else [])
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    return json.loads(next(line for line in result.stdout.splitlines() if line.startswith(MARK)).removeprefix(MARK))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=None, help="config whose gan recipe and resolution to use (default: ./config.yaml)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="threads of default mode (the train_gan rule's: 1)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--float32", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(MARK + json.dumps(child(args.config, args.steps, args.threads, args.float32)), flush=True)
        return
    runs: dict[str, list[dict]] = {name: [] for name in MODES}
    for rep in range(args.reps):
        for mode in runs:
            runs[mode].append(measure(mode, args))
            print(f"rep {rep + 1} {mode}: {runs[mode][-1]}", flush=True)
    for key, what in (("step_s", "GAN training step"), ("metrics_s", "reference features, FD and KID of 500 images")):
        median = {name: statistics.median(r[key] for r in runs[name]) for name in MODES}
        for name in ("default", "default float32"):
            ratio = median["strict"] / median[name]
            print(f"{what}: {name} {median[name]:.4f} s ({runs[name][0]['precision']}), strict {median['strict']:.4f} s; ratio strict/{name}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
