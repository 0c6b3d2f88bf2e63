import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from ganstyle.errors import UserError
from ganstyle.models import devices, training


def _numbered_images(n):
    """Image i is filled with the value i, so a batch reveals which images it holds."""
    return np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 1), np.uint8)


def _ids(batch):
    return batch.numpy()[:, 0, 0, 0].tolist()


# ---------------------------------------------------------------- data order


def test_batches_are_a_pure_function_of_seed_and_step():
    images = _numbered_images(10)
    full = [_ids(b) for b in training.step_batches(images, 4, seed=3, start_step=0, end_step=8)]
    resumed = [_ids(b) for b in training.step_batches(images, 4, seed=3, start_step=5, end_step=8)]
    assert resumed == full[5:]
    other_seed = [_ids(b) for b in training.step_batches(images, 4, seed=4, start_step=0, end_step=8)]
    assert other_seed != full


def test_every_epoch_visits_every_image_once_in_a_new_order():
    images = _numbered_images(12)
    stream = sum((_ids(b) for b in training.step_batches(images, 4, seed=0, start_step=0, end_step=9)), [])
    epochs = [stream[i : i + 12] for i in range(0, 36, 12)]
    for epoch in epochs:
        assert sorted(epoch) == list(range(12))
    assert epochs[0] != epochs[1] != epochs[2]
    assert epochs[0] != list(range(12))  # shuffled


def test_batches_larger_than_the_corpus_still_work():
    images = _numbered_images(3)
    batches = [_ids(b) for b in training.step_batches(images, 7, seed=0, start_step=0, end_step=3)]
    assert all(len(b) == 7 for b in batches)
    stream = sum(batches, [])
    for start in range(0, 21, 3):
        assert sorted(stream[start : start + 3]) == [0, 1, 2]


def test_batches_stay_uint8():
    batch = next(iter(training.step_batches(_numbered_images(5), 2, 0, 0, 1)))
    assert batch.dtype == tf.uint8


# ---------------------------------------------------------------- EMA


def test_ema_update_and_decay_warmup():
    avg, cur = tf.Variable([0.0, 10.0]), tf.Variable([1.0, 0.0])
    training.ema_update([avg], [cur], 0.75)
    np.testing.assert_allclose(avg.numpy(), [0.25, 7.5])
    counter_avg, counter_cur = tf.Variable(1, dtype=tf.int64), tf.Variable(7, dtype=tf.int64)
    training.ema_update([counter_avg], [counter_cur], 0.75)
    assert int(counter_avg.numpy()) == 7  # integers are copied, not averaged
    assert float(training.ema_decay(0, 0.999)) == pytest.approx(0.1)
    assert float(training.ema_decay(10**7, 0.999)) == pytest.approx(0.999)
    assert float(training.ema_decay(5, 0.0)) == 0.0


# ---------------------------------------------------------------- a toy task for the loop


class ToyTask:
    """Linear regression on batch means plus RNG noise: exercises weights, optimizer slots and RNG state."""

    images_per_step = 4

    def __init__(self, seed=0):
        keras.utils.set_random_seed(seed)  # same initial weights, as configure_tensorflow gives a stage
        self.model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        self.optimizer = keras.optimizers.Adam(0.05)
        self.optimizer.build(self.model.trainable_variables)
        self.rng = tf.random.Generator.from_seed(seed, alg="philox")

    def variables(self):
        state = {f"model/{i}": v for i, v in enumerate(self.model.weights)}
        state.update({f"opt/{i}": v for i, v in enumerate(self.optimizer.variables)})
        state["rng"] = self.rng.state
        return state

    def train_step(self, batch):
        x = tf.reshape(tf.cast(batch[:, 0, 0, 0], tf.float32), [-1, 1]) / 10.0
        target = 3.0 * x + self.rng.normal(tf.shape(x))
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((self.model(x) - target) ** 2)
        variables = self.model.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        return {"loss": loss}


class CountingTask:
    """Each step adds one to a counter and reports the counter: n steps from 0 report 1 .. n."""

    images_per_step = 1

    def __init__(self):
        self.count = tf.Variable(0.0)

    def variables(self):
        return {"count": self.count}

    def train_step(self, batch):
        # the batch enters the result, so that each step really draws one from the iterator
        return {"count": self.count.assign_add(1.0) + 0.0 * tf.cast(batch[0, 0, 0, 0], tf.float32)}


def test_the_runner_takes_exactly_n_steps_and_returns_their_mean():
    task = CountingTask()
    run = training.compile_runner(task)
    iterator = iter(tf.data.Dataset.from_tensors(np.zeros((1, 1, 1, 1), np.uint8)).repeat())
    assert float(run(iterator, tf.constant(5, tf.int64))["count"]) == pytest.approx(3.0)  # mean of 1..5
    assert float(task.count.numpy()) == 5.0
    assert float(run(iterator, tf.constant(1, tf.int64))["count"]) == 6.0  # one step: its own value, same trace
    assert float(task.count.numpy()) == 6.0


def _run(tmp_path, total, seed=0, checkpoint_every=5, log_every=5, fingerprint="f"):
    task = ToyTask(seed)
    images = _numbered_images(10)
    checkpointer = training.Checkpointer(tmp_path, task.variables(), fingerprint)
    history = training.train(
        task,
        lambda a, b: training.step_batches(images, 4, seed, a, b),
        total,
        checkpointer,
        checkpoint_every=checkpoint_every,
        log_every=log_every,
        progress=False,
    )
    return task, history


def test_train_writes_history_and_checkpoints(tmp_path):
    task, history = _run(tmp_path, 12, checkpoint_every=5, log_every=4)
    # log rows at log points and at checkpoint points, and at the end
    assert history["step"].tolist() == [4, 5, 8, 10, 12]
    assert {"loss", "images_per_s", "elapsed_s"} <= set(history.columns)
    assert (history["images_per_s"] > 0).all()
    assert [p.name for p in training.Checkpointer(tmp_path, {}, "f").paths()] == ["ckpt-000000012.npz"]


def test_resumed_training_ends_with_identical_weights(tmp_path):
    straight, straight_history = _run(tmp_path / "a", 20)
    _run(tmp_path / "b", 10)  # "killed" after the checkpoint at step 10
    resumed, resumed_history = _run(tmp_path / "b", 20)
    for name, value in straight.variables().items():
        np.testing.assert_array_equal(np.asarray(value), np.asarray(resumed.variables()[name]), err_msg=name)
    assert resumed_history["step"].tolist() == straight_history["step"].tolist() == [5, 10, 15, 20]
    np.testing.assert_allclose(resumed_history["loss"], straight_history["loss"], rtol=1e-6)


def test_finished_run_is_not_trained_again(tmp_path):
    _run(tmp_path, 10)
    task, history = _run(tmp_path, 10)
    assert history["step"].tolist() == [5, 10]
    first = ToyTask()
    assert not np.allclose(np.asarray(task.model.weights[0]), np.asarray(first.model.weights[0]))  # restored


def test_raising_steps_continues_and_lowering_starts_over(tmp_path):
    longer = _run(tmp_path / "a", 20)[0]
    _run(tmp_path / "b", 10)
    continued = _run(tmp_path / "b", 20)[0]
    np.testing.assert_array_equal(np.asarray(longer.model.weights[0]), np.asarray(continued.model.weights[0]))
    shorter, history = _run(tmp_path / "b", 5)  # the step-20 state is past 5: start over
    assert history["step"].tolist() == [5]
    reference = _run(tmp_path / "c", 5)[0]
    np.testing.assert_array_equal(np.asarray(shorter.model.weights[0]), np.asarray(reference.model.weights[0]))


def test_checkpoint_with_other_fingerprint_is_not_resumed(tmp_path):
    _run(tmp_path, 10, fingerprint="old settings")
    task = ToyTask()
    checkpointer = training.Checkpointer(tmp_path, task.variables(), "new settings")
    assert checkpointer.restore() is None


def test_checkpoint_roundtrip_and_shape_mismatch(tmp_path):
    variables = {"a": tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3)), "b": tf.Variable(7, dtype=tf.int64)}
    checkpointer = training.Checkpointer(tmp_path, variables, "x")
    checkpointer.save(3, {"history": [{"step": 3}], "elapsed_s": 1.5})
    variables["a"].assign(tf.zeros((2, 3)))
    variables["b"].assign(0)
    state = checkpointer.restore()
    assert state["step"] == 3 and state["history"] == [{"step": 3}]
    np.testing.assert_array_equal(variables["a"].numpy(), np.arange(6).reshape(2, 3))
    assert int(variables["b"].numpy()) == 7
    other = training.Checkpointer(tmp_path, {"a": tf.Variable(tf.zeros((3, 2))), "b": tf.Variable(0, dtype=tf.int64)}, "x")
    with pytest.raises(UserError, match="shape"):
        other.restore()


def test_unreadable_newest_checkpoint_falls_back_to_an_older_one(tmp_path):
    variables = {"a": tf.Variable(1.0)}
    checkpointer = training.Checkpointer(tmp_path, variables, "x", keep=2)
    checkpointer.save(1, {"history": [], "elapsed_s": 0.0})
    variables["a"].assign(2.0)
    checkpointer.save(2, {"history": [], "elapsed_s": 0.0})
    (tmp_path / "ckpt-000000002.npz").write_bytes(b"truncated")
    variables["a"].assign(5.0)
    assert checkpointer.restore()["step"] == 1
    assert float(variables["a"].numpy()) == 1.0


def test_checkpoint_meta_is_json(tmp_path):
    checkpointer = training.Checkpointer(tmp_path, {"a": tf.Variable(1.0)}, "fp")
    path = checkpointer.save(4, {"history": [], "elapsed_s": 0.0})
    with np.load(path) as stored:
        meta = json.loads(stored["meta"].tobytes().decode())
    assert meta["step"] == 4 and meta["fingerprint"] == "fp"


def test_precision_policy_follows_the_hardware():
    policy = training.precision_policy
    # auto: bf16 only where the CPU computes it natively; fp16 (or bf16 where supported) on a GPU
    assert policy("auto", gpu=False, native_bf16=False) == "float32"
    assert policy("auto", gpu=False, native_bf16=True) == "mixed_bfloat16"
    assert policy("auto", gpu=True, native_bf16=False) == "mixed_float16"
    assert policy("auto", gpu=True, native_bf16=False, gpu_bf16=True) == "mixed_bfloat16"
    # true forces mixed precision even where bf16 is emulated; false always float32
    assert policy(True, gpu=False, native_bf16=False) == "mixed_bfloat16"
    assert policy(False, gpu=True, native_bf16=True) == "float32"


def test_native_bf16_is_read_from_the_cpu_flags():
    assert training.cpu_has_native_bf16("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n")
    assert training.cpu_has_native_bf16("flags : fpu amx_bf16 amx_tile\n")
    assert not training.cpu_has_native_bf16("flags\t\t: fpu sse2 avx2 avx512f avx512bw\n")
    assert not training.cpu_has_native_bf16("")
    # oneDNN capped below bf16 (ONEDNN_MAX_CPU_ISA): no bf16, whatever the CPU has
    bf16_cpu = "flags\t\t: fpu avx2 avx512f avx512_bf16\n"
    assert not training.cpu_has_native_bf16(bf16_cpu, max_isa="AVX2")
    assert not training.cpu_has_native_bf16(bf16_cpu, max_isa="avx512_core")
    for capped_above in ("AVX512_CORE_BF16", "AVX512_CORE_AMX", "AVX10_1_512", "ALL"):
        assert training.cpu_has_native_bf16(bf16_cpu, max_isa=capped_above), capped_above


def test_configure_precision_sets_the_keras_policy():
    import keras

    try:
        assert training.configure_precision(False) == "float32" == keras.mixed_precision.global_policy().name
        assert training.configure_precision(True) == keras.mixed_precision.global_policy().name
        assert keras.mixed_precision.global_policy().name in ("mixed_bfloat16", "mixed_float16")
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_strict_mode_trains_float32_on_one_thread_and_resumes_only_strict_checkpoints(monkeypatch, tmp_path):
    import keras

    monkeypatch.setenv(devices.REPRODUCIBLE_ENV, "strict")
    try:
        assert training.configure_precision(True) == "float32" == keras.mixed_precision.global_policy().name
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert training.run_environment("float32", 2)["threads"] == 1
    assert training.run_environment("float32", 2)["reproducible"] == "strict"
    strict = training.Checkpointer(tmp_path, {}, "abc")
    monkeypatch.setenv(devices.REPRODUCIBLE_ENV, "default")
    assert training.Checkpointer(tmp_path, {}, "abc").fingerprint != strict.fingerprint
    default = training.run_environment("float32", 2)
    assert default["threads"] == 2 and default["reproducible"] == "default"
