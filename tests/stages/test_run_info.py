import hashlib
import json
import os
import platform
import subprocess
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from ganstyle.config import validate
from ganstyle.errors import UserError
from ganstyle.models import training
from ganstyle.stages import run_info

REPO = Path(__file__).resolve().parents[2]

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9B14
flags\t\t: fpu vme de pse tsc msr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm avx2 bmi1 bmi2 avx512f avx512dq avx512_bf16 avx512_vnni amx_bf16 vaes
processor\t: 1
model name\t: AMD EPYC 9B14
flags\t\t: fpu sse
"""

# what TensorFlow 2.21's oneDNN printed on this project's machine, and an older oneDNN's format
VERBOSE = """onednn_verbose,v1,info,oneDNN v3.7.3 (commit N/A)
onednn_verbose,v1,info,cpu,runtime:threadpool,nthr:2
onednn_verbose,v1,info,cpu,isa:Intel AVX-512 with Intel DL Boost and bfloat16 support
onednn_verbose,v1,info,gpu,runtime:none
onednn_verbose,v1,primitive,exec,cpu,gemm_api,,undef,src_f32::blocked:ab:f0,,,64x64:64x64,116.894
"""
OLD_VERBOSE = """dnnl_verbose,info,oneDNN v2.7.3 (commit 6ffe5d24b3f3d7b54d3d6f61bc3b8c6c2f2bbd9b)
dnnl_verbose,info,cpu,runtime:OpenMP,nthr:8
dnnl_verbose,info,cpu,isa:Intel AVX2
"""


def test_config_hash_is_the_sha256_of_canonical_json_and_ignores_key_order():
    config = {"b": 1, "a": {"y": [1, 2], "x": None}}
    canonical = '{"a":{"x":null,"y":[1,2]},"b":1}'
    assert run_info.config_hash(config) == hashlib.sha256(canonical.encode()).hexdigest()
    assert run_info.config_hash({"a": {"x": None, "y": [1, 2]}, "b": 1}) == run_info.config_hash(config)
    assert run_info.config_hash({**config, "b": 2}) != run_info.config_hash(config)


def test_code_state_says_dirty_clean_or_not_a_checkout():
    assert run_info.code_state("abc123\n", "", "0.1.0") == {"version": "0.1.0", "commit": "abc123", "tree": "clean"}
    assert run_info.code_state("abc123\n", " M ganstyle/cli.py\n", "0.1.0")["tree"] == "dirty"
    assert run_info.code_state(None, None, "0.1.0") == {"version": "0.1.0", "commit": None, "tree": "not a git checkout"}


def test_cpu_model_and_isa_flags_from_cpuinfo():
    cpu = run_info.cpu_from_cpuinfo(CPUINFO)
    assert cpu["model"] == "AMD EPYC 9B14"
    assert cpu["isa_flags"] == sorted(
        [
            "sse",
            "sse2",
            "ssse3",
            "fma",
            "sse4_1",
            "sse4_2",
            "aes",
            "avx",
            "f16c",
            "avx2",
            "bmi1",
            "bmi2",
            "avx512f",
            "avx512dq",
            "avx512_bf16",
            "avx512_vnni",
            "amx_bf16",
            "vaes",
        ]
    )
    assert run_info.cpu_from_cpuinfo("") == {"model": "unknown", "isa_flags": "unknown"}


def test_onednn_version_isa_and_threads_from_its_verbose_lines():
    assert run_info.onednn_from_verbose(VERBOSE) == {"version": "3.7.3", "isa": "Intel AVX-512 with Intel DL Boost and bfloat16 support", "threads": 2}
    assert run_info.onednn_from_verbose(OLD_VERBOSE) == {"version": "2.7.3", "isa": "Intel AVX2", "threads": 8}
    assert run_info.onednn_from_verbose("no onednn here\n") == {"version": "unknown", "isa": "unknown", "threads": "unknown"}


def test_precision_is_what_the_jobs_recorded_else_what_this_host_computes():
    keys = ["precision", "device", "threads", "tensorflow"]
    metrics = {
        "gan/latin/seed0": {"precision": "mixed_bfloat16", "device": "CPU", "threads": 1, "tensorflow": "2.21.0", "kid": 0.1},
        "gan/greek/seed0": {"precision": "float32", "device": "CPU", "threads": 2, "tensorflow": "2.21.0"},
        "joint/seed0": {"device": "GPU"},
    }
    jobs = run_info.training_jobs(metrics, keys)
    assert list(jobs) == ["gan/greek/seed0", "gan/latin/seed0", "joint/seed0"]
    assert jobs["gan/latin/seed0"] == {"precision": "mixed_bfloat16", "device": "CPU", "threads": 1, "tensorflow": "2.21.0"}
    assert jobs["joint/seed0"] == {"precision": "unknown", "device": "GPU", "threads": "unknown", "tensorflow": "unknown"}
    used = run_info.precision_used(jobs, {"gan": "float32", "joint": "mixed_float16", "transfer": "mixed_bfloat16"})
    assert used["gan"] == {"policy": "float32, mixed_bfloat16", "source": "recorded by its 2 job(s) in metrics.json"}  # a mixed cluster
    assert used["joint"]["policy"] == "mixed_float16" and used["joint"]["source"].startswith("computed on this host")
    assert used["transfer"]["policy"] == "mixed_bfloat16" and used["transfer"]["source"].startswith("computed on this host")


def test_the_html_table_shows_every_field_escaped():
    info = {"code": {"commit": "abc", "tree": "dirty"}, "hardware": {"gpus": [], "cpu": {"isa_flags": ["avx2", "fma"]}}, "note": "<b>&"}
    page = run_info.run_info_html(info)
    for key, value in [
        ("code.commit", "abc"),
        ("code.tree", "dirty"),
        ("hardware.gpus", "none"),
        ("hardware.cpu.isa_flags", "avx2 fma"),
        ("note", "&lt;b&gt;&amp;"),
    ]:
        assert f"<tr><th>{key}</th><td>{value}</td></tr>" in page
    assert "<b>&" not in page and "<script" not in page and "http" not in page


def test_the_stage_records_this_machine_and_the_trainings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = validate({"gan": {"steps": 7}, "transfer": {"mixed_precision": False}})
    for job, precision in [("latin/seed0", "mixed_bfloat16"), ("greek/seed0", "mixed_bfloat16")]:
        folder = tmp_path / "results" / "gan" / job
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps({"precision": precision, "device": "CPU", "threads": 1, "tensorflow": tf.__version__, "kid": 0.5}))
    metrics = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("metrics.json"))
    status = run_info.main(
        ["--config-json", json.dumps(config), "--training-metrics", *metrics, "--out-json", "results/run_info.json", "--out-html", "results/run_info.html"]
    )
    assert status == 0
    info = json.loads((tmp_path / "results" / "run_info.json").read_text())

    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    if commit.returncode == 0:
        assert info["code"]["commit"] == commit.stdout.strip() and info["code"]["tree"] in {"clean", "dirty"}
    assert info["config_sha256"] == run_info.config_hash(config)
    assert info["reproducible"] == "default"
    versions = info["versions"]
    assert (versions["python"], versions["tensorflow"], versions["keras"], versions["numpy"]) == (
        platform.python_version(),
        tf.__version__,
        keras.__version__,
        np.__version__,
    )
    if platform.machine() in {"x86_64", "AMD64"} and os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0":
        assert versions["onednn"][0].isdigit() and versions["onednn"].count(".") == 2  # e.g. 3.7.3
        assert info["hardware"]["cpu"]["onednn_isa"] != "unknown"
    assert info["hardware"]["cpu"] == {**run_info.cpu_from_cpuinfo(Path("/proc/cpuinfo").read_text()), "onednn_isa": info["hardware"]["cpu"]["onednn_isa"]}
    assert info["threads"]["cores"] == os.cpu_count()
    assert info["threads"]["training_jobs"] == {"gan/greek/seed0": 1, "gan/latin/seed0": 1}
    # gan: what its jobs recorded; transfer (records none): computed the way the stage does, here float32 by config
    assert info["precision"]["gan"]["policy"] == "mixed_bfloat16"
    assert info["precision"]["transfer"]["policy"] == "float32"
    want_joint = training.precision_policy("auto", training.gpu_available(), training.cpu_has_native_bf16())
    assert info["precision"]["joint"]["policy"] == want_joint
    page = (tmp_path / "results" / "run_info.html").read_text()
    assert f"<tr><th>config_sha256</th><td>{info['config_sha256']}</td></tr>" in page
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["gan", "run_info.html", "run_info.json"]  # no temporary file left


def test_unreadable_training_metrics_name_the_file(tmp_path):
    bad = tmp_path / "gan" / "latin" / "seed0" / "metrics.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    with pytest.raises(UserError, match="metrics.json"):
        run_info.read_training_metrics([bad], tmp_path)


def test_the_keys_run_info_reads_are_the_ones_the_trainings_write():
    """run_info reads precision and threads from metrics.json, where training.run_environment puts them."""
    assert {"precision", "threads"} <= set(training.run_environment("float32", 1))
