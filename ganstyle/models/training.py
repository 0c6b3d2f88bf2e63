"""Reusable training machinery for the GANs, the joint critic and the translator.

The loop knows nothing about GANs.  A model-specific *task* object provides

- ``variables() -> dict[str, variable]``: the complete training state
  (weights, optimizer slots and iteration counters, EMA weights, RNG states);
  everything in it is checkpointed and restored;
- ``train_step(batch) -> dict[str, scalar tensor]``: one optimisation step
  (traced into a ``tf.function``, optionally XLA-compiled);
- ``images_per_step``: how many training images one step consumes (for images/s).

``train(task, make_dataset, ...)`` runs the steps, writes full-state
checkpoints every N steps, resumes from the newest one, keeps a history of
averaged metrics and shows a tqdm bar on stderr.  Several steps run inside one
``tf.function`` call between two log points, so Python is not on the per-step path.

Preemption: on SIGTERM (what SLURM sends before it kills a preempted or
timed-out job) the loop finishes the steps it is running, writes a checkpoint
and raises :class:`Interrupted` (exit status 143), so that the requeued or
retried job resumes from there.

Determinism: ``configure_tensorflow`` seeds everything and turns on op
determinism; the data order is a pure function of (seed, step) (see
``step_batches``) and all randomness inside a step comes from
``tf.random.Generator`` objects that are part of ``variables()``, so a run
killed and resumed from a checkpoint ends with the same weights as an
uninterrupted one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import tensorflow as tf

from ganstyle import io
from ganstyle.errors import UserError
from ganstyle.models.tracing import graph_function

log = logging.getLogger(__name__)

# ckpt-<step>.npz on the schedule; ckpt-<step>-interrupted.npz written on SIGTERM between two of them
CHECKPOINT_PATTERN = re.compile(r"^ckpt-(\d{9})(-interrupted)?\.npz$")
# checkpoint_every: null gives about this many checkpoints per run
CHECKPOINTS_PER_RUN = 4


# ---------------------------------------------------------------- runtime set-up


def configure_tensorflow(threads: int | None, seed: int, deterministic: bool = True) -> None:
    """Thread pools, global seeds and op determinism; call before any TF op runs.

    ``threads`` sizes TensorFlow's intra-op pool (the one that runs a
    convolution on several cores); the inter-op pool gets at most 2 threads
    because a GAN step is a chain of big ops with little to run side by side.
    """
    import keras

    from ganstyle.models.devices import reproducible_mode

    if reproducible_mode() == "strict":
        # summation order must not depend on the cores a host has (devices.STRICT_ENVIRONMENT)
        threads, deterministic = 1, True
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(min(2, int(threads)))
        except RuntimeError:
            # the runtime is already initialised (e.g. several trainings in one test
            # process); the pools keep their first size
            log.debug("TensorFlow thread pools already initialised; --threads ignored")
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def gpu_available() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def onednn_isa_has_bf16(max_isa: str | None) -> bool:
    """Whether oneDNN may use bf16 instructions under ``ONEDNN_MAX_CPU_ISA`` = ``max_isa`` (None: no cap)."""
    name = (max_isa or "ALL").upper()
    return name == "ALL" or name.startswith("AVX10") or any(part in name for part in ("BF16", "FP16", "AMX"))


def cpu_has_native_bf16(cpuinfo: str | None = None, max_isa: str | None = None) -> bool:
    """Whether the CPU computes bfloat16 natively (AVX512_BF16 or AMX-BF16 in /proc/cpuinfo's flags) and
    oneDNN is not capped below it (``ONEDNN_MAX_CPU_ISA``, read from the environment when both are None):
    capped at AVX2, say, oneDNN cannot build the bf16 products TensorFlow asks for and the job aborts."""
    if cpuinfo is None and max_isa is None:
        max_isa = os.environ.get("ONEDNN_MAX_CPU_ISA")
    if not onednn_isa_has_bf16(max_isa):
        return False
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def precision_policy(setting, gpu: bool, native_bf16: bool, gpu_bf16: bool = False) -> str:
    """Keras dtype policy for ``mixed_precision`` = auto | true | false.

    auto: mixed precision where the hardware has it (mixed_bfloat16 on a CPU with
    native bf16, mixed_float16 on a GPU, mixed_bfloat16 on one that computes
    bf16), else float32.  true: mixed even where bf16 is only emulated.
    """
    if setting is False or setting == "false":
        return "float32"
    if gpu:
        return "mixed_bfloat16" if gpu_bf16 else "mixed_float16"
    if setting is True or setting == "true" or native_bf16:
        return "mixed_bfloat16"
    return "float32"


def _gpu_has_bf16() -> bool:
    try:
        details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
    except (IndexError, ValueError, RuntimeError):
        return False
    return tuple(details.get("compute_capability") or (0, 0)) >= (8, 0)


def configure_precision(setting="auto") -> str:
    """Set the Keras dtype policy for ``mixed_precision`` (see :func:`precision_policy`); returns its name.

    Layers compute in the policy's dtype with float32 weights; the networks keep
    logits, critic features and generated images float32, and losses, metrics
    and the EMA are computed in float32.  ``reproducible: strict`` overrides the
    setting with float32: bf16 kernels exist on some CPUs only.
    """
    import keras

    from ganstyle.models.devices import reproducible_mode

    if reproducible_mode() == "strict":
        setting = False
    gpu = gpu_available()
    policy = precision_policy(setting, gpu, cpu_has_native_bf16(), _gpu_has_bf16() if gpu else False)
    keras.mixed_precision.set_global_policy(policy)
    return policy


def run_environment(precision: str, threads: int | None) -> dict:
    """Where a training ran, for metrics.json: precision policy, device, threads, TensorFlow version, reproducible mode."""
    from ganstyle.models.devices import reproducible_mode

    strict = reproducible_mode() == "strict"
    return {
        "precision": precision,
        "device": "GPU" if gpu_available() else "CPU",
        "threads": 1 if strict else threads,
        "tensorflow": tf.__version__,
        "reproducible": "strict" if strict else "default",
    }


# ---------------------------------------------------------------- data


def step_batches(images: np.ndarray, batch_size: int, seed: int, start_step: int, end_step: int, labels: np.ndarray | None = None) -> tf.data.Dataset:
    """Batches ``start_step .. end_step - 1`` of an endless shuffled stream of ``images``
    (with ``labels``: of ``(images, int32 labels)`` pairs).

    The stream visits every image once per epoch in an order that is a
    stateless permutation of (seed, epoch), so batch ``k`` is a pure function
    of (images, batch_size, seed, k): a resumed run sees the same batches as
    an uninterrupted one without any iterator state in the checkpoint.
    Batches stay uint8 (4x less memory traffic); the step converts to float.
    """
    count = len(images)
    if count == 0:
        raise ValueError("no training images")
    data = tf.constant(images)
    label_data = None if labels is None else tf.constant(np.asarray(labels, np.int32))
    max_index = tf.constant(count - 1, tf.int64)

    def shuffled_index(position):
        epoch = position // count
        seed_pair = tf.stack([tf.constant(seed, tf.int64), epoch])
        return tf.random.experimental.index_shuffle(position % count, seed_pair, max_index)

    dataset = (
        tf.data.Dataset.range(start_step * batch_size, end_step * batch_size)
        .map(shuffled_index)
        .batch(batch_size)
        .map(lambda index: tf.gather(data, index) if label_data is None else (tf.gather(data, index), tf.gather(label_data, index)))
        .prefetch(2)
    )
    return dataset.with_options(pipeline_options())


def pipeline_options():
    """Deterministic order, and no tf.data autotuning: a step's batch is cheap next to the step, and
    the autotuning thread could hold up the end of a run: destroying a finished iterator waited for its
    next wake-up, up to 20 s, in one of every two processes when two trained side by side on 2 cores."""
    options = tf.data.Options()
    options.deterministic = True
    options.autotune.enabled = False
    return options


# ---------------------------------------------------------------- EMA


def ema_decay(step, decay: float, warmup: float = 10.0):
    """Decay that ramps up as (1 + t) / (warmup + t) so early, random weights are forgotten."""
    step = tf.cast(step, tf.float32)
    return tf.minimum(tf.constant(decay, tf.float32), (1.0 + step) / (warmup + step))


def ema_update(averaged: list, current: list, decay) -> None:
    """averaged <- decay * averaged + (1 - decay) * current, variable by variable."""
    for avg, cur in zip(averaged, current, strict=True):
        dtype = tf.as_dtype(avg.dtype)
        if dtype.is_floating:
            avg.assign(avg + (1.0 - tf.cast(decay, dtype)) * (tf.cast(cur, dtype) - avg))
        else:
            avg.assign(cur)


# ---------------------------------------------------------------- checkpoints


def _checkpoint_step(path: Path) -> int:
    return int(CHECKPOINT_PATTERN.match(path.name).group(1))


def _interrupted(path: Path) -> bool:
    return CHECKPOINT_PATTERN.match(path.name).group(2) is not None


class Checkpointer:
    """Full-state checkpoints as single ``.npz`` files written atomically.

    One file per saved step (``ckpt-000001000.npz``) holds every variable of
    the task by name, the loop's own state (history rows, elapsed time) and a
    fingerprint of everything that defines the run.  A checkpoint whose
    fingerprint differs (changed settings or data) is not resumed from.
    ``keep`` counts scheduled checkpoints only: one written on SIGTERM
    (``ckpt-000000730-interrupted.npz``) is dropped at the next save, so it
    never pushes out a scheduled one that a stage restores later (the joint
    critic's snapshots).
    """

    def __init__(self, directory: str | os.PathLike, variables: dict, fingerprint: str, keep: int = 1):
        from ganstyle.models.devices import reproducible_mode

        self.directory = Path(directory)
        self.variables = variables
        # a strict run must not resume from a state trained with other kernels or precision
        self.fingerprint = fingerprint + ("/strict" if reproducible_mode() == "strict" else "")
        self.keep = keep

    def paths(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted((p for p in self.directory.iterdir() if CHECKPOINT_PATTERN.match(p.name)), key=_checkpoint_step)

    def save(self, step: int, loop_state: dict, interrupted: bool = False) -> Path:
        arrays = {f"var/{name}": np.asarray(v.numpy()) for name, v in self.variables.items()}
        meta = {"step": int(step), "fingerprint": self.fingerprint, **loop_state}
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        path = self.directory / f"ckpt-{step:09d}{'-interrupted' if interrupted else ''}.npz"
        io.write_npz(path, **arrays)
        # keep the newest ``keep`` scheduled states of this timeline (all ``keep`` beside an
        # interrupted one); checkpoints past ``step`` belong to an earlier, longer run and are dropped too
        earlier = [p for p in self.paths() if _checkpoint_step(p) < step and not _interrupted(p)]
        kept = {path, *earlier[max(0, len(earlier) - (self.keep - (0 if interrupted else 1))) :]}
        for old in self.paths():
            if old not in kept:
                old.unlink(missing_ok=True)
        return path

    def restore(self, max_step: int | None = None, exact: bool = False) -> dict | None:
        """Assign the newest matching checkpoint's values (at most ``max_step``; with ``exact``, only
        ``max_step`` itself); return its loop state or None."""
        for path in reversed(self.paths()):
            if max_step is not None and _checkpoint_step(path) > max_step:
                continue  # a longer run's state: not on the way to max_step
            if exact and _checkpoint_step(path) != max_step:
                continue
            try:
                with np.load(path) as stored:
                    meta = json.loads(stored["meta"].tobytes().decode())
                    if meta.get("fingerprint") != self.fingerprint:
                        log.warning("%s was written with other settings or data; not resuming from it", path)
                        continue
                    values = {name: stored[f"var/{name}"] for name in self.variables}
            except KeyError as err:
                raise UserError(f"{path}: checkpoint lacks variable {err}; delete {self.directory} to start over") from err
            except (OSError, ValueError) as err:
                log.warning("%s is unreadable (%s); trying an older checkpoint", path, err)
                continue
            for name, variable in self.variables.items():
                if tuple(values[name].shape) != tuple(variable.shape):
                    raise UserError(f"{path}: variable {name} has shape {values[name].shape}, the model has {tuple(variable.shape)}")
                variable.assign(values[name])
            log.info("%s %s (step %d)", "restored" if exact else "resumed from", path, meta["step"])
            return meta
        if exact:
            raise UserError(f"{self.directory}: no checkpoint of step {max_step} with these settings")
        return None


# ---------------------------------------------------------------- the loop


class TrainingTask(Protocol):
    images_per_step: int

    def variables(self) -> dict: ...

    def train_step(self, batch) -> dict: ...


def compile_runner(task: TrainingTask, jit_compile: bool = False):
    """A tf.function that runs ``n`` steps from an iterator and returns the metric means.

    The step itself may be XLA-compiled; the loop around it is a graph
    ``while`` so there is no Python between steps.
    """
    step_fn = graph_function(task.train_step, jit_compile=jit_compile)
    sums: dict[str, tf.Variable] = {}

    @graph_function
    def run(iterator, n):
        metrics = step_fn(next(iterator))
        if not sums:  # first trace: one accumulator per metric
            for key in metrics:
                sums[key] = tf.Variable(tf.zeros((), tf.float32), trainable=False, name=f"sum_{key}")
        for key, value in metrics.items():
            sums[key].assign(tf.cast(value, tf.float32))

        def one_more_step(i):
            # the accumulators are updated before the counter moves on, so the loop cannot run ahead of them
            updates = [sums[key].assign_add(tf.cast(value, tf.float32)) for key, value in step_fn(next(iterator)).items()]
            with tf.control_dependencies(updates):
                return (i + 1,)

        done = tf.while_loop(lambda i: i < n - 1, one_more_step, (tf.constant(0, n.dtype),))
        with tf.control_dependencies(done):
            return {key: total.read_value() / tf.cast(n, tf.float32) for key, total in sums.items()}

    return run


class Interrupted(SystemExit):
    """Raised by :func:`train` after SIGTERM, once the state is checkpointed.

    A ``SystemExit`` with status 143 (128 + SIGTERM, what a shell reports for a job killed by
    SIGTERM): it passes every ``except Exception``, ends ``python -m ganstyle`` without a
    traceback, and Snakemake and SLURM see a failed job that they run again (``retries``, ``--requeue``).
    """

    def __init__(self, step: int):
        super().__init__(128 + signal.SIGTERM)
        self.step = step


@contextlib.contextmanager
def sigterm_requested() -> Iterator[list[int]]:
    """While inside: SIGTERM does not kill the process but is noted in the yielded list.

    The caller checks the list at safe points.  Only the main thread can install a
    handler; elsewhere SIGTERM keeps its previous meaning.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)


def checkpoint_interval(checkpoint_every: int | None, total_steps: int, log_every: int) -> int:
    """Steps between checkpoints: ``checkpoint_every``; ``None`` ties it to the run: about
    ``total_steps / CHECKPOINTS_PER_RUN``, rounded up to whole log intervals so that history rows
    stay on log points, and never more than ``total_steps``.
    """
    if checkpoint_every is not None:
        return checkpoint_every
    return min(total_steps, log_every * math.ceil(total_steps / (CHECKPOINTS_PER_RUN * log_every)))


def train(
    task: TrainingTask,
    make_dataset: Callable[[int, int], tf.data.Dataset],
    total_steps: int,
    checkpointer: Checkpointer | None = None,
    checkpoint_every: int | None = 0,
    log_every: int = 50,
    jit_compile: bool = False,
    progress: bool = True,
    description: str = "train",
    runner: Callable | None = None,
) -> pd.DataFrame:
    """Run ``task`` up to ``total_steps``, resuming from ``checkpointer`` if it has a state.

    ``make_dataset(start_step, end_step)`` returns the batches of those steps.
    ``checkpoint_every``: steps between checkpoints (0: none; ``None``: see
    :func:`checkpoint_interval`).
    ``runner``: a :func:`compile_runner` of ``task`` to reuse (its trace), else one is made.
    Returns the history: one row per ``log_every`` steps with the mean of each
    metric over those steps, ``images_per_s`` and cumulative ``elapsed_s``.

    With a ``checkpointer``, SIGTERM stops the loop after the steps it is running (at most
    ``log_every``): their checkpoint is written and :class:`Interrupted` raised.
    """
    from tqdm import tqdm

    start_step, rows, elapsed = 0, [], 0.0
    if checkpointer is not None:
        state = checkpointer.restore(max_step=total_steps)
        if state is not None:
            start_step, rows, elapsed = state["step"], state["history"], state["elapsed_s"]
    if start_step >= total_steps:
        return pd.DataFrame(rows)

    checkpoint_every = checkpoint_interval(checkpoint_every, total_steps, log_every)
    run = runner if runner is not None else compile_runner(task, jit_compile)
    iterator = iter(make_dataset(start_step, total_steps))
    bar = tqdm(total=total_steps, initial=start_step, desc=description, file=sys.stderr, unit="step", disable=not progress, dynamic_ncols=True, mininterval=1.0)
    step = saved = start_step  # saved: the newest checkpoint on disk
    # no checkpointer, nothing to save: SIGTERM keeps its meaning
    watch = sigterm_requested() if checkpointer is not None else contextlib.nullcontext([])
    with contextlib.closing(bar), watch as stop:
        while step < total_steps and not stop:
            # run to the next log point (checkpoints fall on log points too)
            boundary = min(total_steps, (step // log_every + 1) * log_every)
            if checkpoint_every:
                boundary = min(boundary, (step // checkpoint_every + 1) * checkpoint_every)
            n = boundary - step
            started = time.perf_counter()
            means = {k: float(v) for k, v in run(iterator, tf.constant(n, tf.int64)).items()}
            seconds = time.perf_counter() - started
            elapsed += seconds
            step = boundary
            images_per_s = n * task.images_per_step / seconds
            rows.append({"step": step, **means, "images_per_s": images_per_s, "elapsed_s": elapsed})
            bar.set_postfix({**{k: f"{v:.3f}" for k, v in means.items()}, "img/s": f"{images_per_s:.0f}"}, refresh=False)
            bar.update(n)
            if checkpointer is not None and checkpoint_every and (step % checkpoint_every == 0 or step == total_steps):
                checkpointer.save(step, {"history": rows, "elapsed_s": elapsed})
                saved = step
        if stop:
            # still inside: a second SIGTERM must not cut this save short
            if step > saved:
                checkpointer.save(step, {"history": rows, "elapsed_s": elapsed}, interrupted=True)
            log.warning("%s: SIGTERM received; stopped at step %d of %d, resumable from its checkpoint", description, step, total_steps)
            raise Interrupted(step)
    return pd.DataFrame(rows)


def train_recipe(
    task: TrainingTask,
    make_dataset: Callable[[int, int], tf.data.Dataset],
    recipe,
    checkpointer: Checkpointer,
    checkpoint_every: int,
    description: str,
    progress: bool = True,
    runner: Callable | None = None,
) -> pd.DataFrame:
    """:func:`train` as the training stages run it: ``steps``, ``log_every`` and ``jit_compile`` from their recipe."""
    return train(
        task,
        make_dataset,
        total_steps=recipe.steps,
        checkpointer=checkpointer,
        checkpoint_every=checkpoint_every,
        log_every=recipe.log_every,
        jit_compile=recipe.jit_compile,
        progress=progress,
        description=description,
        runner=runner,
    )
