"""Which GPU a training job uses.

Snakemake counts GPUs (``--resources gpu=N``) but never tells a job *which*
GPU to use, and TensorFlow by default takes every GPU it can see.  Training
stages therefore call :func:`claim_gpu` first thing, before TensorFlow is
imported.  The candidate GPUs are

* those listed in ``CUDA_VISIBLE_DEVICES`` when it is set: by SLURM for a job
  that asked for GPUs, or by the user (``CUDA_VISIBLE_DEVICES=2,3 snakemake ...``
  confines the workflow to GPUs 2 and 3);
* otherwise, on a workstation, every GPU ``nvidia-smi`` (or
  ``/proc/driver/nvidia/gpus``) reports; in a SLURM job, none (it got no GPU).

A SLURM job's one allocated GPU is simply used.  Otherwise one free candidate
is claimed by holding an exclusive ``fcntl.flock`` on ``<lock dir>/gpu-<id>.lock``
for the life of the process (the kernel drops the lock when the process ends,
however it ends), and ``CUDA_VISIBLE_DEVICES`` is set to it.  Without
candidates nothing changes and the job runs on the CPU.

The lock directory is ``$GANSTYLE_GPU_LOCK_DIR`` or ``<tmp>/ganstyle-gpu-locks``,
shared by all users of the machine so that two people's workflows do not train
on the same GPU.  In a SLURM allocation with several GPUs (Snakemake run inside
``salloc``) the locks live in a sub-directory per allocation, whose GPU numbers
are its own.

Stages that use TensorFlow on the CPU call :func:`hide_gpus` instead, so that
they do not reserve memory on the GPUs the training jobs claimed.

Numpy's linear algebra runs in :func:`single_threaded_blas` where it is many
small calls (bootstraps, reference features).

Reproducibility across hosts (config ``reproducible``; docs/method.md, "Reproducing the numbers"):
TensorFlow's matrix products and convolutions (oneDNN, also with ``TF_ENABLE_ONEDNN_OPTS=0``) and
numpy's (OpenBLAS) pick their kernels by the CPU's instruction set at run time, and a kernel of
another vector width or another number of threads sums in another order, so two hosts train to
other weights.  ``strict`` pins all of it (:data:`STRICT_ENVIRONMENT`); the variables are read once,
when the libraries load, so the CLI calls :func:`apply_reproducible_mode` before it imports a stage.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ganstyle.errors import UserError

log = logging.getLogger(__name__)

LOCK_DIR_ENV = "GANSTYLE_GPU_LOCK_DIR"
DEFAULT_LOCK_DIR = Path(tempfile.gettempdir()) / "ganstyle-gpu-locks"
# values of CUDA_VISIBLE_DEVICES that mean "no GPU" (SLURM writes NoDevFiles
# when a GPU GRES has no device file)
NO_DEVICE_VALUES = {"", "-1", "none", "nodevfiles"}

# config ``reproducible``, passed to every job by the workflow through this variable
REPRODUCIBLE_ENV = "GANSTYLE_REPRODUCIBLE"
REPRODUCIBLE_MODES = ("default", "strict")
# strict: the kernels of the oldest CPU TensorFlow's wheels run on (AVX, 2011), one thread, and no
# oneDNN graph rewrites; float32 (training.configure_precision) and op determinism (configure_tensorflow)
STRICT_ENVIRONMENT = {
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "ONEDNN_MAX_CPU_ISA": "AVX",  # the sgemm behind TensorFlow's MatMul and Conv2D, with or without the rewrites
    "OPENBLAS_CORETYPE": "Sandybridge",  # numpy's and scipy's OpenBLAS: reference features, FD, KID, similarities
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
}

# the GPU this process holds: (device id, open lock file descriptor)
_claimed: tuple[str, int] | None = None


def parse_visible_devices(value: str | None) -> list[str] | None:
    """Device ids listed in a ``CUDA_VISIBLE_DEVICES`` value.

    ``None`` when the variable is unset (no restriction), ``[]`` when it hides
    every GPU.
    """
    if value is None:
        return None
    if value.strip().lower() in NO_DEVICE_VALUES:
        return []
    return [item.strip() for item in value.split(",") if item.strip()]


def detect_gpus() -> list[str]:
    """Indices of the NVIDIA GPUs of this machine, in PCI bus order; [] if none."""
    if shutil.which("nvidia-smi"):
        try:
            listing = subprocess.run(
                ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            ).stdout
            return [line.strip() for line in listing.splitlines() if line.strip().isdigit()]
        except (OSError, subprocess.SubprocessError) as err:
            log.warning("nvidia-smi failed (%s); looking in /proc instead", err)
    # one directory per GPU, named by PCI bus id: sorted == PCI bus order
    proc = Path("/proc/driver/nvidia/gpus")
    if proc.is_dir():
        return [str(i) for i in range(len(list(proc.iterdir())))]
    return []


def lock_dir() -> Path:
    return Path(os.environ.get(LOCK_DIR_ENV) or DEFAULT_LOCK_DIR)


def _lock_file_name(device: str) -> str:
    return "gpu-" + re.sub(r"[^A-Za-z0-9_.-]", "_", device) + ".lock"


def _ensure_lock_dir(base: Path, sub: str | None = None) -> Path:
    """Create the lock directory (and its per-job sub-directory); return the one to lock in."""
    levels = [base] if sub is None else [base, base / sub]
    try:
        for level in levels:
            level.mkdir(parents=True, exist_ok=True)
            if level.stat().st_uid == os.geteuid():
                # world-writable with sticky bit, like /tmp: every user's jobs share the locks
                level.chmod(0o1777)
    except OSError as err:
        raise UserError(f"GPU lock directory {levels[-1]} (${LOCK_DIR_ENV}) cannot be used: {err}") from err
    return levels[-1]


def try_lock_gpu(device: str, directory: Path) -> int | None:
    """Take the exclusive lock of one GPU without waiting; its fd, or None if taken."""
    path = directory / _lock_file_name(device)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:
        fd = os.open(path, os.O_RDONLY)  # another user's lock file: flock works read-only
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return None
        raise
    try:  # who holds it, for people looking at the lock directory
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.ctime()}\n".encode())
    except OSError:
        pass
    return fd


def claim_gpu(wait_seconds: float | None = None, poll_seconds: float = 2.0) -> str | None:
    """Give this process one GPU; return its ``CUDA_VISIBLE_DEVICES`` value, or None for CPU.

    Call before TensorFlow is imported.  One free GPU among the candidates (see
    the module docstring) is locked for the rest of the process's life; inside a
    SLURM job only GPUs SLURM allocated are candidates.  If all are taken (more
    jobs run than there are GPUs: Snakemake was not told the GPU count with
    ``--resources gpu=N``), waits until one is free, or at most
    ``wait_seconds`` and then raises UserError.
    Calling it again in the same process returns the same GPU.
    """
    global _claimed
    if _claimed is not None:
        return _claimed[0]
    candidates = parse_visible_devices(os.environ.get("CUDA_VISIBLE_DEVICES"))
    slurm_job = os.environ.get("SLURM_JOB_ID")
    detected = candidates is None
    if detected:
        # inside a SLURM job only the allocated GPUs are ours, and SLURM lists them
        candidates = [] if slurm_job else detect_gpus()
    if not candidates:
        log.info("no GPU available: running on the CPU")
        return None
    if slurm_job and len(candidates) == 1:
        log.info("SLURM job %s: using its GPU %s", slurm_job, candidates[0])
        return candidates[0]  # allocated to this job alone: nothing to share, no lock

    # inside SLURM, GPU numbers are per allocation (cgroups may renumber them from 0)
    directory = _ensure_lock_dir(lock_dir(), f"slurm-{slurm_job}" if slurm_job else None)
    started = time.monotonic()
    next_warning = started
    while True:
        for device in candidates:
            fd = try_lock_gpu(device, directory)
            if fd is not None:
                _claimed = (device, fd)
                _set_visible_device(device, pci_order=detected)
                log.info("claimed GPU %s (lock %s)", device, directory / _lock_file_name(device))
                return device
        waited = time.monotonic() - started
        if wait_seconds is not None and waited >= wait_seconds:
            raise UserError(
                f"all GPUs ({','.join(candidates)}) stayed busy for {wait_seconds:.0f} s "
                f"(locks in {directory}): run with --resources gpu=N, N at most the number of GPUs"
            )
        if time.monotonic() >= next_warning:
            log.warning(
                "all GPUs (%s) are claimed by other jobs (locks in %s); waiting since %.0f s. Tell Snakemake the number of GPUs: --resources gpu=N",
                ",".join(candidates),
                directory,
                waited,
            )
            next_warning += 600
        time.sleep(poll_seconds)


def _set_visible_device(device: str, pci_order: bool) -> None:
    if "tensorflow" in sys.modules:
        log.warning("claim_gpu() called after TensorFlow was imported: it may ignore GPU %s", device)
    if pci_order:
        # nvidia-smi numbers GPUs in PCI bus order; CUDA by default does not
        os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    os.environ["CUDA_VISIBLE_DEVICES"] = device


def release_gpu() -> None:
    """Give the claimed GPU back before the process ends (it is released at exit anyway)."""
    global _claimed
    if _claimed is not None:
        os.close(_claimed[1])  # closing the only descriptor drops the flock
        _claimed = None


def hide_gpus() -> None:
    """For stages that run TensorFlow on the CPU: keep it off the GPUs training jobs claimed.

    Outside SLURM, sets ``CUDA_VISIBLE_DEVICES`` to empty; inside a SLURM job the
    allocation already decides.  Call before TensorFlow is imported.
    """
    if "SLURM_JOB_ID" not in os.environ and _claimed is None:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""


def single_threaded_blas():
    """The bootstraps do thousands of small (~100 x 100) linear-algebra calls: one
    BLAS thread is faster, and on a loaded machine multi-threaded OpenBLAS is ~7x
    slower (its threads spin for cores other jobs hold)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def reproducible_mode() -> str:
    """This process's ``reproducible`` mode: ``$GANSTYLE_REPRODUCIBLE``, else default."""
    mode = os.environ.get(REPRODUCIBLE_ENV) or "default"
    if mode not in REPRODUCIBLE_MODES:
        raise UserError(f"${REPRODUCIBLE_ENV} is {mode!r}; it must be one of {', '.join(REPRODUCIBLE_MODES)} (config key reproducible)")
    return mode


def apply_reproducible_mode() -> str:
    """In strict mode, set :data:`STRICT_ENVIRONMENT` (overriding the caller's values); returns the mode.

    Call before numpy or TensorFlow is imported: they read the variables when they load.
    """
    mode = reproducible_mode()
    if mode == "strict":
        loaded = sorted({"numpy", "tensorflow"} & set(sys.modules))
        if loaded and any(os.environ.get(name) != value for name, value in STRICT_ENVIRONMENT.items()):
            raise UserError(f"reproducible: strict must be set before {' and '.join(loaded)} is imported; run the stage as python -m ganstyle")
        os.environ.update(STRICT_ENVIRONMENT)
    return mode
