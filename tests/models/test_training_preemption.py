"""SIGTERM in the training loop: what SLURM sends before it kills a preempted or timed-out job.

The loop must finish the steps it is running, write a checkpoint there, stop with exit status
143, and a rerun must resume from that checkpoint to the weights of an uninterrupted run.
"""

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from ganstyle.models import training


class CountingTask:
    """w += mean(batch) each step, so the final w sums every batch the run saw, in order."""

    images_per_step = 2

    def __init__(self):
        self.w = tf.Variable(0.0, dtype=tf.float64)
        self.steps = tf.Variable(0, dtype=tf.int64)

    def variables(self):
        return {"w": self.w, "steps": self.steps}

    def train_step(self, batch):
        self.w.assign(self.w * 0.5 + tf.reduce_mean(tf.cast(batch, tf.float64)))  # order matters
        self.steps.assign_add(1)
        return {"w": tf.cast(self.w, tf.float32)}


IMAGES = np.arange(7, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 1), np.uint8)


def batches(start, end):
    return training.step_batches(IMAGES, 2, 0, start, end)


def sigterm_after_chunks(task, chunks: int):
    """A runner that delivers SIGTERM to this process while its ``chunks``-th chunk runs."""
    run = training.compile_runner(task)
    calls = []

    def runner(iterator, n):
        calls.append(int(n))
        if len(calls) == chunks:
            signal.raise_signal(signal.SIGTERM)
        return run(iterator, n)

    return runner, calls


def previous_handler(signum, frame):
    raise AssertionError("SIGTERM reached the handler in place before train()")


@pytest.fixture(autouse=True)
def sigterm_outside_train():
    """SIGTERM outside train() fails the test instead of killing pytest."""
    before = signal.signal(signal.SIGTERM, previous_handler)
    yield
    signal.signal(signal.SIGTERM, before)


def train(task, directory, total=40, checkpoint_every=20, runner=None, keep=1):
    checkpointer = training.Checkpointer(directory, task.variables(), "f", keep=keep)
    return training.train(task, batches, total, checkpointer, checkpoint_every=checkpoint_every, log_every=5, progress=False, runner=runner)


def test_sigterm_checkpoints_the_running_chunk_and_the_rerun_resumes_to_the_same_weights(tmp_path):
    straight = CountingTask()
    straight_history = train(straight, tmp_path / "straight")

    task = CountingTask()
    runner, calls = sigterm_after_chunks(task, chunks=2)
    with pytest.raises(training.Interrupted) as stopped:
        train(task, tmp_path / "run", runner=runner)
    assert stopped.value.code == 128 + signal.SIGTERM and stopped.value.step == 10
    assert calls == [5, 5]  # the chunk that was running finished; no further one started
    assert int(task.steps.numpy()) == 10
    assert signal.getsignal(signal.SIGTERM) is previous_handler
    # off the checkpoint schedule (every 20): written because of the signal
    assert [p.name for p in training.Checkpointer(tmp_path / "run", {}, "f").paths()] == ["ckpt-000000010-interrupted.npz"]

    resumed = CountingTask()
    resumed_history = train(resumed, tmp_path / "run")
    assert int(resumed.steps.numpy()) == 40
    assert resumed.w.numpy() == straight.w.numpy()
    assert resumed_history["step"].tolist() == straight_history["step"].tolist()
    np.testing.assert_array_equal(resumed_history["w"], straight_history["w"])
    # the interrupted checkpoint is dropped once a scheduled one is written
    assert [p.name for p in training.Checkpointer(tmp_path / "run", {}, "f").paths()] == ["ckpt-000000040.npz"]


def test_an_interrupted_checkpoint_never_pushes_out_a_kept_scheduled_one(tmp_path):
    """The joint critic keeps one checkpoint per snapshot and restores each later."""
    task = CountingTask()
    runner, _ = sigterm_after_chunks(task, chunks=5)  # step 25: between the scheduled 20 and 30
    with pytest.raises(training.Interrupted):
        train(task, tmp_path, checkpoint_every=10, runner=runner, keep=3)
    names = [p.name for p in training.Checkpointer(tmp_path, {}, "f").paths()]
    assert names == ["ckpt-000000010.npz", "ckpt-000000020.npz", "ckpt-000000025-interrupted.npz"]
    train(CountingTask(), tmp_path, checkpoint_every=10, keep=3)
    names = [p.name for p in training.Checkpointer(tmp_path, {}, "f").paths()]
    assert names == ["ckpt-000000020.npz", "ckpt-000000030.npz", "ckpt-000000040.npz"]


def test_sigterm_on_a_scheduled_checkpoint_writes_no_second_one(tmp_path):
    task = CountingTask()
    runner, _ = sigterm_after_chunks(task, chunks=4)  # step 20: a scheduled checkpoint
    with pytest.raises(training.Interrupted):
        train(task, tmp_path, runner=runner)
    assert [p.name for p in training.Checkpointer(tmp_path, {}, "f").paths()] == ["ckpt-000000020.npz"]


@pytest.mark.slow  # a TensorFlow import in a child process: ~10 s; the SLURM test does the same for real
def test_a_process_sent_sigterm_exits_143_with_its_checkpoint(tmp_path):
    """The real thing: another process sends SIGTERM while the training runs its second chunk."""
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import test_training_preemption as here
        from ganstyle.models import training

        task = here.CountingTask()
        run = training.compile_runner(task)
        def runner(iterator, n):
            if task.steps.numpy() == 5:
                print("second chunk", flush=True)
                time.sleep(3)  # SIGTERM arrives while the chunk "runs"
            return run(iterator, n)
        training.train(task, here.batches, 40, training.Checkpointer({str(tmp_path)!r}, task.variables(), "f"),
                       checkpoint_every=20, log_every=5, progress=False, runner=runner)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "second chunk\n", child.stderr.read()
        child.send_signal(signal.SIGTERM)
        _, stderr = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 128 + signal.SIGTERM, stderr
    assert "SIGTERM received; stopped at step 10 of 40" in stderr
    assert [p.name for p in training.Checkpointer(tmp_path, {}, "f").paths()] == ["ckpt-000000010-interrupted.npz"]


@pytest.mark.parametrize(
    ("every", "steps", "log_every", "interval"),
    [
        (None, 300, 50, 100),  # the GAN demo: 3 checkpoints, on log points
        (None, 500, 25, 125),  # the transfer demo
        (None, 20, 10, 10),
        (None, 30, 50, 30),  # never more than the run
        (7, 300, 50, 7),  # an explicit interval is kept
    ],
)
def test_a_null_checkpoint_interval_is_tied_to_the_steps(every, steps, log_every, interval):
    assert training.checkpoint_interval(every, steps, log_every) == interval
