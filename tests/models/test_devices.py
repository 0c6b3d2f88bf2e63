import fcntl
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ganstyle.errors import UserError
from ganstyle.models import devices

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean(monkeypatch, tmp_path):
    """No GPU claimed, no CUDA/SLURM variables, locks in a private directory."""
    for name in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "SLURM_JOB_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(devices.LOCK_DIR_ENV, str(tmp_path / "locks"))
    monkeypatch.setattr(devices, "_claimed", None)
    yield tmp_path / "locks"
    devices.release_gpu()


def hold_lock(directory: Path, device: str) -> int:
    """Lock a GPU the way another job would: a separate open file description."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / f"gpu-{device}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def is_locked(path: Path) -> bool:
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@pytest.mark.parametrize(
    "value, expected",
    [(None, None), ("", []), ("-1", []), ("NoDevFiles", []), ("0", ["0"]), ("2, 3", ["2", "3"]), ("GPU-5d4e,1", ["GPU-5d4e", "1"])],
)
def test_parse_visible_devices(value, expected):
    assert devices.parse_visible_devices(value) == expected


def test_no_gpu_is_a_no_op(clean, monkeypatch):
    monkeypatch.setattr(devices, "detect_gpus", lambda: [])
    assert devices.claim_gpu() is None
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
    assert not clean.exists()


def test_workstation_claims_first_free_gpu_and_keeps_it(clean, monkeypatch):
    monkeypatch.setattr(devices, "detect_gpus", lambda: ["0", "1"])
    other_job = hold_lock(clean, "0")
    try:
        assert devices.claim_gpu() == "1"
    finally:
        os.close(other_job)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    assert os.environ["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert is_locked(clean / "gpu-1.lock")
    assert f"pid {os.getpid()}" in (clean / "gpu-1.lock").read_text()
    # GPU 0 is free now, but this process keeps the GPU it has
    assert devices.claim_gpu() == "1"
    devices.release_gpu()
    assert not is_locked(clean / "gpu-1.lock")


def test_user_pool_in_cuda_visible_devices(clean, monkeypatch):
    monkeypatch.setattr(devices, "detect_gpus", lambda: pytest.fail("must not look for GPUs"))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    other_job = hold_lock(clean, "2")
    try:
        assert devices.claim_gpu() == "3"
    finally:
        os.close(other_job)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    assert "CUDA_DEVICE_ORDER" not in os.environ  # the user's numbering is kept


def test_hidden_gpus_mean_cpu(clean, monkeypatch):
    monkeypatch.setattr(devices, "detect_gpus", lambda: ["0"])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert devices.claim_gpu() is None
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""


def test_slurm_allocation_of_one_gpu_is_used_as_it_is(clean, monkeypatch):
    monkeypatch.setattr(devices, "detect_gpus", lambda: pytest.fail("must not look for GPUs"))
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    # a workstation-style lock on "0" is not this job's business
    other_job = hold_lock(clean, "0")
    try:
        assert devices.claim_gpu(wait_seconds=0) == "0"
    finally:
        os.close(other_job)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    assert not (clean / "slurm-4242").exists()


def test_slurm_allocation_of_several_gpus_is_shared_out(clean, monkeypatch):
    """Snakemake run inside `salloc --gpus=2`: its jobs split the allocation's GPUs."""
    monkeypatch.setattr(devices, "detect_gpus", lambda: pytest.fail("must not look for GPUs"))
    monkeypatch.setenv("SLURM_JOB_ID", "4244")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    # another allocation on the same node also numbers its GPUs from 0: no conflict
    other_allocation = hold_lock(clean / "slurm-9999", "0")
    sibling_job = hold_lock(clean / "slurm-4244", "0")
    try:
        assert devices.claim_gpu(wait_seconds=0) == "1"
    finally:
        os.close(other_allocation)
        os.close(sibling_job)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    assert "CUDA_DEVICE_ORDER" not in os.environ  # SLURM's numbering is kept
    assert is_locked(clean / "slurm-4244" / "gpu-1.lock")


def test_slurm_job_without_gpus_runs_on_cpu(clean, monkeypatch):
    monkeypatch.setattr(devices, "detect_gpus", lambda: ["0", "1"])  # the node has GPUs, not ours
    monkeypatch.setenv("SLURM_JOB_ID", "4243")
    assert devices.claim_gpu() is None
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_all_busy_waits_then_fails(clean, monkeypatch):
    monkeypatch.setattr(devices, "detect_gpus", lambda: ["0"])
    other_job = hold_lock(clean, "0")
    try:
        started = time.monotonic()
        with pytest.raises(UserError, match=r"--resources gpu=N"):
            devices.claim_gpu(wait_seconds=0.3, poll_seconds=0.05)
        assert time.monotonic() - started >= 0.3
    finally:
        os.close(other_job)


def test_waits_for_a_gpu_to_be_released(clean, monkeypatch):
    monkeypatch.setattr(devices, "detect_gpus", lambda: ["0"])
    other_job = hold_lock(clean, "0")
    releaser = threading.Timer(0.3, os.close, args=(other_job,))
    releaser.start()
    try:
        assert devices.claim_gpu(poll_seconds=0.05) == "0"  # by default, waits as long as it takes
    finally:
        releaser.join()


def test_hide_gpus(clean, monkeypatch):
    devices.hide_gpus()
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    devices.hide_gpus()  # SLURM's allocation decides
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"


def test_detect_gpus_reads_nvidia_smi(tmp_path, monkeypatch):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\nprintf '0\\n1\\n'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert devices.detect_gpus() == ["0", "1"]


CLAIM_AND_HOLD = """
import logging, sys
logging.basicConfig(level=logging.INFO)
from ganstyle.models.devices import claim_gpu
from ganstyle.errors import UserError
try:
    print(claim_gpu(wait_seconds=float(sys.argv[1]), poll_seconds=0.05), flush=True)
except UserError as err:
    print("busy:", err, flush=True)
    raise SystemExit(3)
sys.stdin.read()  # hold the GPU until told to finish
"""


def test_separate_processes_get_separate_gpus(tmp_path):
    """Real inter-process locking: what concurrent Snakemake jobs do."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "CUDA_"))}
    env.update(CUDA_VISIBLE_DEVICES="0,1", PYTHONPATH=str(REPO), **{devices.LOCK_DIR_ENV: str(tmp_path)})

    started = []

    def start(wait):
        process = subprocess.Popen(
            [sys.executable, "-c", CLAIM_AND_HOLD, str(wait)], env=env, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        started.append(process)
        return process

    try:
        first, second = start(0), start(0)
        claimed = {first.stdout.readline().strip(), second.stdout.readline().strip()}
        assert claimed == {"0", "1"}
        third = start(0.2)
        assert third.wait(timeout=30) == 3, third.stderr.read()
        third = start(30)
        first.stdin.close()  # first job ends: its GPU is free again
        assert first.wait(timeout=30) == 0
        assert third.stdout.readline().strip() in claimed
        third.stdin.close()
        assert third.wait(timeout=30) == 0
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
                process.wait()


TRAINING_JOB = """
import sys, time
from ganstyle.models.devices import claim_gpu
device = claim_gpu(wait_seconds=0)  # Snakemake's gpu budget must leave a GPU free
start = time.time()
time.sleep(1.5)
open(sys.argv[1], "w").write(f"{device} {start} {time.time()}\\n")
"""

TOY_WORKFLOW = """
rule all:
    input: expand("out/{i}.txt", i=range(4))

rule train_gan:
    output: "out/{i}.txt"
    shell: "python job.py {output}"
"""


def test_gpu_profile_gives_each_training_job_its_own_gpu(tmp_path):
    """Snakemake with workflow/profiles/gpu on a 2-GPU pool: concurrent jobs never share a GPU."""
    (tmp_path / "Snakefile").write_text(TOY_WORKFLOW)
    (tmp_path / "job.py").write_text(TRAINING_JOB)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "CUDA_"))}
    env.update(CUDA_VISIBLE_DEVICES="0,1", PYTHONPATH=str(REPO), **{devices.LOCK_DIR_ENV: str(tmp_path / "locks")})
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", str(REPO / "workflow" / "profiles" / "gpu"), "--resources", "gpu=2", "--cores", "4"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = [line.split() for line in (p.read_text() for p in sorted((tmp_path / "out").glob("*.txt")))]
    assert len(jobs) == 4 and {device for device, *_ in jobs} == {"0", "1"}
    for i, (device_a, start_a, end_a) in enumerate(jobs):
        for device_b, start_b, end_b in jobs[i + 1 :]:
            if float(start_a) < float(end_b) and float(start_b) < float(end_a):  # ran at the same time
                assert device_a != device_b, jobs


def test_reproducible_mode_comes_from_the_environment_and_rejects_unknown_values(monkeypatch):
    monkeypatch.delenv(devices.REPRODUCIBLE_ENV, raising=False)
    assert devices.reproducible_mode() == "default" == devices.apply_reproducible_mode()
    monkeypatch.setenv(devices.REPRODUCIBLE_ENV, "exact")
    with pytest.raises(UserError, match="GANSTYLE_REPRODUCIBLE.*'exact'.*reproducible"):
        devices.reproducible_mode()


def test_strict_mode_sets_its_environment_before_numpy_loads_or_refuses(monkeypatch):
    import numpy  # noqa: F401  (loaded in this process)

    monkeypatch.setenv(devices.REPRODUCIBLE_ENV, "strict")
    for name in devices.STRICT_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    # this process has numpy loaded already, with other kernels: too late
    with pytest.raises(UserError, match="before numpy"):
        devices.apply_reproducible_mode()
    # a fresh interpreter, as python -m ganstyle starts: the variables are set, numpy not yet loaded
    code = "from ganstyle.models import devices; import os, sys; devices.apply_reproducible_mode(); print(os.environ['ONEDNN_MAX_CPU_ISA'], 'numpy' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(REPO), devices.REPRODUCIBLE_ENV: "strict", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split() == ["AVX", "False"]
