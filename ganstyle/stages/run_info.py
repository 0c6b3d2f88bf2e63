"""Stage ``run-info``: what a run ran on, so that a reader can tell why their numbers differ.

``results/run_info.json`` records the code (git commit, "dirty" when tracked files have
uncommitted changes; the package version outside a git checkout), the hash of the validated
config, the versions of Python, TensorFlow, Keras, numpy and oneDNN, the CPU model and its ISA
flags (and the ISA oneDNN dispatches to) or the GPUs and their driver, the thread counts, and the
precision policy each training stage used.  ``results/run_info.html`` shows the same as a table
in the Snakemake report.

The training stages record their precision, device, threads and TensorFlow version in their
``metrics.json`` (keys of :func:`ganstyle.models.training.run_environment`); they are collected
from there.  Where a stage records none (transfer), its policy is computed here exactly as the
stage computes it (:func:`ganstyle.models.training.configure_precision`), on this host.

TensorFlow facts come from a child process started with ``ONEDNN_VERBOSE=1`` that runs one
matrix product and one convolution: oneDNN then prints its version, the ISA it dispatches to and
its thread count.  TensorFlow's build info (``tf.sysconfig.get_build_info()``) has no oneDNN
version; where the probe prints none (oneDNN off, ``TF_ENABLE_ONEDNN_OPTS=0``), it is "unknown".
"""

from __future__ import annotations

import argparse
import hashlib
import html
import importlib.metadata
import json
import logging
import os
import platform
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ganstyle import io
from ganstyle.config import load_config, validate
from ganstyle.errors import UserError
from ganstyle.io.files import RUN_INFO
from ganstyle.models.devices import REPRODUCIBLE_ENV

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
# CPU flags that name instruction-set extensions the numerics can depend on (SIMD width, FMA, bf16/fp16, AMX)
ISA_FLAG = re.compile(r"^(sse\d?\w*|ssse3|avx\w*|fma\w*|f16c|amx\w*|vnni|\w*vnni\w*|bmi\d|adx|aes|vaes|pclmulqdq|vpclmulqdq|gfni|sha_ni)$")
# environment variables that change how many threads run or which kernels are picked
ENVIRONMENT_VARIABLES = (
    "OMP_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "TF_ENABLE_ONEDNN_OPTS",
    "ONEDNN_MAX_CPU_ISA",
    "ONEDNN_DEFAULT_FPMATH_MODE",
    "TF_DETERMINISTIC_OPS",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_NUM_THREADS",
    REPRODUCIBLE_ENV,
    "CUDA_VISIBLE_DEVICES",
)
# config sections whose stage trains, and the section holding their mixed_precision setting
PRECISION_SETTING = {"gan": "gan", "joint": "gan", "transfer": "transfer"}
PROBE_MARK = "ganstyle-run-info-probe:"


# --------------------------------------------------------------------------- pure functions


def config_hash(config: Mapping) -> str:
    """SHA-256 of the validated config as canonical JSON: equal settings give equal hashes, however written."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def code_state(commit: str | None, changed: str | None, version: str) -> dict:
    """The code's identity from ``git rev-parse HEAD`` and ``git status --porcelain`` output (None: no git checkout)."""
    if commit is None:
        return {"version": version, "commit": None, "tree": "not a git checkout"}
    return {"version": version, "commit": commit.strip(), "tree": "dirty" if changed and changed.strip() else "clean"}


def cpu_from_cpuinfo(cpuinfo: str) -> dict:
    """Model name and ISA flags of the first processor in /proc/cpuinfo ("unknown" where it says nothing)."""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    flags = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", cpuinfo, re.M)
    names = flags.group(1).split() if flags else []
    return {
        "model": model.group(1).strip() if model else UNKNOWN,
        "isa_flags": sorted(flag for flag in names if ISA_FLAG.match(flag)) if flags else UNKNOWN,
    }


def onednn_from_verbose(output: str) -> dict:
    """Version, dispatched ISA and thread count from oneDNN's ``ONEDNN_VERBOSE=1`` info lines."""
    version = re.search(r"^(?:onednn|dnnl)_verbose,(?:v\d+,)?info,oneDNN v(\S+)", output, re.M)
    isa = re.search(r"^(?:onednn|dnnl)_verbose,(?:v\d+,)?info,cpu,isa:(.+)$", output, re.M)
    threads = re.search(r"^(?:onednn|dnnl)_verbose,(?:v\d+,)?info,cpu,runtime:\w+,nthr:(\d+)", output, re.M)
    return {
        "version": version.group(1) if version else UNKNOWN,
        "isa": isa.group(1).strip() if isa else UNKNOWN,
        "threads": int(threads.group(1)) if threads else UNKNOWN,
    }


def training_jobs(metrics: Mapping[str, Mapping], keys: Sequence[str]) -> dict[str, dict]:
    """job -> the run-environment keys its metrics.json recorded ("unknown" for a key it lacks)."""
    return {job: {key: values.get(key, UNKNOWN) for key in keys} for job, values in sorted(metrics.items())}


def precision_used(jobs: Mapping[str, Mapping], computed: Mapping[str, str]) -> dict[str, dict]:
    """Per training stage: the policy its jobs recorded, else the one computed on this host.

    ``jobs`` are keyed ``<stage>/...`` (``gan/latin/seed0``); jobs of one stage that used different
    policies (a mixed cluster) are all listed.
    """
    summary = {}
    for stage, policy in computed.items():
        recorded = sorted({str(job["precision"]) for name, job in jobs.items() if name.split("/", 1)[0] == stage and job.get("precision", UNKNOWN) != UNKNOWN})
        if recorded:
            count = sum(1 for name in jobs if name.split("/", 1)[0] == stage)
            summary[stage] = {"policy": ", ".join(recorded), "source": f"recorded by its {count} job(s) in metrics.json"}
        else:
            summary[stage] = {"policy": policy, "source": "computed on this host as the stage computes it (no metrics.json of the stage records one)"}
    return summary


def flatten(record: Mapping, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, value as text) rows of a nested record; lists are joined with spaces."""
    rows = []
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows += flatten(value, f"{name}.")
        elif isinstance(value, list | tuple):
            rows.append((name, " ".join(map(str, value)) if value else "none"))
        else:
            rows.append((name, "" if value is None else str(value)))
    return rows


def run_info_html(info: Mapping) -> str:
    """A self-contained HTML table of ``info`` (no scripts, no links), for the Snakemake report."""
    rows = "\n".join(f"<tr><th>{html.escape(key)}</th><td>{html.escape(value)}</td></tr>" for key, value in flatten(info))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>run information</title>\n'
        "<style>body{font-family:sans-serif;font-size:13px}th{text-align:left;padding-right:1em;vertical-align:top}"
        "td{font-family:monospace;word-break:break-all}tr:nth-child(even){background:#f3f3f3}</style></head>\n"
        f"<body><h1>What this run ran on</h1>\n<table>\n{rows}\n</table></body></html>\n"
    )


def build_run_info(
    *,
    config: Mapping,
    code: Mapping,
    probe: Mapping,
    cpuinfo: str,
    gpus: Sequence[Mapping],
    jobs: Mapping[str, Mapping],
    cores: int | None,
    available_cores: int | None,
    environment: Mapping[str, str | None],
) -> dict:
    """The content of run_info.json from what the I/O functions gathered."""
    onednn = onednn_from_verbose(probe.get("verbose", ""))
    return {
        "code": dict(code),
        "config_sha256": config_hash(config),
        # strict: the same bytes on any x86-64 host; default: the digits depend on the CPU (docs/method.md)
        "reproducible": config["reproducible"],
        "versions": {
            "python": platform.python_version(),
            "tensorflow": probe.get("tensorflow", UNKNOWN),
            "keras": probe.get("keras", UNKNOWN),
            "numpy": np.__version__,
            "onednn": onednn["version"],
        },
        "hardware": {
            "cpu": {**cpu_from_cpuinfo(cpuinfo), "onednn_isa": onednn["isa"]},
            "gpus": list(gpus),
        },
        "threads": {
            "cores": cores if cores is not None else UNKNOWN,
            "available_to_this_job": available_cores if available_cores is not None else UNKNOWN,
            "onednn_default_pool": onednn["threads"],
            "environment": {name: value for name, value in environment.items() if value is not None} or "none set",
            "training_jobs": {job: values.get("threads", UNKNOWN) for job, values in jobs.items()},
        },
        "precision": precision_used(jobs, probe.get("precision", {})),
        "training_jobs": dict(jobs),
    }


# --------------------------------------------------------------------------- I/O


def _git(root: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def read_code_state() -> dict:
    """git commit and tree state of the imported ganstyle package, or its installed version."""
    import ganstyle

    root = Path(ganstyle.__file__).resolve().parents[1]
    try:
        version = importlib.metadata.version("ganstyle")
    except importlib.metadata.PackageNotFoundError:
        version = UNKNOWN
    commit = _git(root, "rev-parse", "HEAD")
    # tracked files only: results/, logs/ and a user's own data are not the code
    changed = _git(root, "status", "--porcelain", "--untracked-files=no") if commit else None
    return code_state(commit, changed, version)


def probe_tensorflow(policies: Mapping[str, object]) -> None:
    """In the child process: versions, GPUs and precision policies as one marked JSON line on stdout.

    One matrix product and one convolution make oneDNN print its info lines (``ONEDNN_VERBOSE=1``).
    """
    import keras
    import tensorflow as tf

    from ganstyle.models import training

    a = tf.ones([16, 16])
    tf.matmul(a, a).numpy()
    tf.nn.conv2d(tf.ones([1, 8, 8, 4]), tf.ones([3, 3, 4, 4]), 1, "SAME").numpy()
    gpus = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        gpus.append({"name": details.get("device_name", device.name), "compute_capability": details.get("compute_capability")})
    precision = {stage: training.configure_precision(setting) for stage, setting in policies.items()}
    facts = {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "gpus": gpus,
        "precision": precision,
        "environment_keys": list(training.run_environment("float32", None)),
    }
    sys.stdout.flush()
    print(PROBE_MARK + json.dumps(facts), flush=True)


def run_probe(config: Mapping) -> dict:
    """Start :func:`probe_tensorflow` in a child process with ``ONEDNN_VERBOSE=1``; its facts and verbose output."""
    policies = {stage: config[section]["mixed_precision"] for stage, section in PRECISION_SETTING.items()}
    code = f"import json; from ganstyle.stages.run_info import probe_tensorflow; probe_tensorflow(json.loads({json.dumps(policies)!r}))"
    result = subprocess.run([sys.executable, "-c", code], env={**os.environ, "ONEDNN_VERBOSE": "1"}, capture_output=True, text=True, timeout=600)
    lines = [line for line in result.stdout.splitlines() if line.startswith(PROBE_MARK)]
    if result.returncode != 0 or not lines:
        raise UserError(f"the TensorFlow probe failed (exit {result.returncode}): {result.stderr.strip().splitlines()[-1:] or result.stdout[-500:]}")
    return {**json.loads(lines[-1].removeprefix(PROBE_MARK)), "verbose": result.stdout}


def gpu_drivers() -> list[dict]:
    """name and driver version of every GPU nvidia-smi lists (none without nvidia-smi)."""
    try:
        result = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if result.returncode != 0:
        return []
    return [dict(zip(("name", "driver"), (part.strip() for part in line.split(",", 1)))) for line in result.stdout.splitlines() if line.strip()]


def read_training_metrics(paths: Sequence[Path], results: Path) -> dict[str, dict]:
    """job (metrics.json's folder below ``results``, e.g. gan/latin/seed0) -> its metrics."""
    metrics = {}
    for path in paths:
        path = Path(path)
        try:
            values = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise UserError(f"{path}: cannot read the training's metrics ({err})") from err
        try:
            job = path.parent.relative_to(results).as_posix()
        except ValueError:
            job = path.parent.as_posix()
        metrics[job] = values
    return metrics


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return f"model name : {platform.processor() or UNKNOWN}\n"


def gather(config: Mapping, metrics_paths: Sequence[Path], results: Path) -> dict:
    probe = run_probe(config)
    gpus = probe.get("gpus", [])
    drivers = gpu_drivers()
    for gpu, driver in zip(gpus, drivers):
        gpu["driver"] = driver.get("driver", UNKNOWN)
    jobs = training_jobs(read_training_metrics(metrics_paths, results), probe["environment_keys"])
    return build_run_info(
        config=config,
        code=read_code_state(),
        probe=probe,
        cpuinfo=_cpuinfo(),
        gpus=gpus or drivers,
        jobs=jobs,
        cores=os.cpu_count(),
        available_cores=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        environment={name: os.environ.get(name) for name in ENVIRONMENT_VARIABLES},
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ganstyle run-info", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config-json", help="the whole validated config as JSON (as Snakemake passes it)")
    source.add_argument("--config", dest="config_path", help="read the config from this YAML instead (default: ./config.yaml, else the schema defaults)")
    parser.add_argument("--training-metrics", nargs="*", default=[], help="metrics.json of every training job (their precision, device, threads)")
    parser.add_argument("--out-json", default=f"results/{RUN_INFO['json']}")
    parser.add_argument("--out-html", default=f"results/{RUN_INFO['html']}")
    return parser


def main(argv: list[str] | None = None, stage: str = "run-info") -> int:
    args = build_parser().parse_args(argv)
    if args.config_json:
        try:
            config = validate(json.loads(args.config_json), source="--config-json")
        except json.JSONDecodeError as err:
            raise UserError(f"--config-json is not valid JSON: {err}") from err
    else:
        config = load_config(args.config_path)
    # jobs are named by their folder below the results folder, the one run_info.json goes to (gan/latin/seed0)
    info = gather(config, [Path(p) for p in args.training_metrics], Path(args.out_json).parent)
    io.write_json(args.out_json, info)
    io.write_text(args.out_html, run_info_html(info))
    versions, cpu = info["versions"], info["hardware"]["cpu"]
    log.info("code %s (%s); config %s", info["code"]["commit"] or info["code"]["version"], info["code"]["tree"], info["config_sha256"][:12])
    log.info(
        "TensorFlow %s, Keras %s, numpy %s, oneDNN %s; CPU %s, oneDNN ISA %s",
        versions["tensorflow"],
        versions["keras"],
        versions["numpy"],
        versions["onednn"],
        cpu["model"],
        cpu["onednn_isa"],
    )
    log.info("precision: %s", {stage: entry["policy"] for stage, entry in info["precision"].items()})
    return 0
