"""The cluster profiles, and the workflow on a real single-node SLURM.

``test_workflow_on_real_slurm`` (marker ``slurm``) runs tests/cluster/slurm_local.sh:
it starts SLURM on this machine, runs the workflow locally and through
workflow/profiles/slurm, and compares.  The default run leaves it out; selected
(``python -m pytest -m slurm tests/cluster``, as .ci/run does after the default
suite) it also installs SLURM's Debian packages, and is skipped, with the reason,
where it cannot (with ``GANSTYLE_SLURM_REQUIRED=1``, CI: fails).  The dry-run
tests of the profiles need no SLURM and are in the default run.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "cluster" / "slurm_local.sh"
PROFILES = REPO / "workflow" / "profiles"


def workflow_rules() -> dict[str, str]:
    """Every rule of workflow/rules/*.smk: name -> its text."""
    rules = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for match in re.finditer(r"^(?:rule|checkpoint) (\w+):\n((?:[ \t]+.*\n|[ \t]*\n)*)", smk.read_text(), re.M):
            rules[match.group(1)] = match.group(2)
    return rules


# read from the rules, not listed here, so that a new training rule cannot be forgotten
TRAINING_RULES = {rule for rule in workflow_rules() if rule.startswith("train_")}


def profile_gpu_rules(name: str) -> set[str]:
    """The rules a profile gives a GPU (set-resources with gpu), as slurm_local.sh reads them."""
    profile = yaml.safe_load((PROFILES / name / "config.yaml").read_text())
    return {rule for rule, resources in profile["set-resources"].items() if resources.get("gpu")}


def why_slurm_cannot_start() -> str | None:
    if not sys.platform.startswith("linux"):
        return "a local SLURM needs Linux"
    if os.geteuid() != 0:
        return "starting slurmctld/slurmd and installing Debian packages needs root"
    if not (shutil.which("slurmctld") or shutil.which("apt-get")):
        return "SLURM is not installed and there is no apt-get to install slurm-wlm"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')"
    return None


def skip_or_fail(reason: str):
    """Skip, or with GANSTYLE_SLURM_REQUIRED=1 (CI, .ci/run) fail: a cluster test CI does not run rots."""
    if os.environ.get("GANSTYLE_SLURM_REQUIRED") == "1":
        pytest.fail(f"GANSTYLE_SLURM_REQUIRED=1 but the SLURM test cannot run: {reason}")
    pytest.skip(reason)


@pytest.mark.slurm
def test_workflow_on_real_slurm(tmp_path, request):
    reason = why_slurm_cannot_start()
    if reason:
        skip_or_fail(reason)
    # installing system packages needs the test to be asked for by name (-m slurm)
    selected = re.search(r"(?<!not )\bslurm\b", request.config.getoption("markexpr") or "")
    env = {**os.environ, "GANSTYLE_SLURM_NO_INSTALL": "0" if selected else "1"}
    result = subprocess.run(["bash", str(SCRIPT)], cwd=REPO, capture_output=True, text=True, timeout=3 * 3600, env=env)
    output = result.stdout + result.stderr
    (tmp_path / "slurm_local.log").write_text(output)
    if result.returncode == 77:
        skip_or_fail(next(line for line in output.splitlines() if line.startswith("SKIP:")))
    print(output)  # the evidence (sacct table, comparison), shown with -rP or -s
    assert result.returncode == 0, output[-8000:]
    assert re.search(r"^\d+ +rule_\w+ +COMPLETED", output, re.M), "no COMPLETED SLURM job in the sacct table"
    assert "PASSED" in output


# ------------------------------------------------------------------ dry runs of the profiles


def tiny_project(root: Path, cultures=("latin", "greek", "arabic"), n_images=6) -> Path:
    """Folders of small PNGs and a config.yaml, enough for a dry run."""
    rng = np.random.default_rng(0)
    rows = ["culture\tpath\tlabel"]
    for culture in cultures:
        folder = root / "data" / culture
        folder.mkdir(parents=True)
        for i in range(n_images):
            Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8)).save(folder / f"{i}.png")
        rows.append(f"{culture}\t{folder}\t{culture.title()}")
    (root / "cultures.tsv").write_text("\n".join(rows) + "\n")
    config = {"cultures": str(root / "cultures.tsv")}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return root


def dry_run_resources(workdir: Path, *options: str) -> list[tuple[str, dict]]:
    """(rule, resources) of every job a dry run lists."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile", "config.yaml", "-n", *options],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    jobs = []
    for block in re.split(r"\n(?=(?:local)?(?:rule|checkpoint) \w+:\n)", result.stdout):
        header = re.match(r"(?:local)?(?:rule|checkpoint) (\w+):", block)
        if header:
            line = re.search(r"^\s+resources: (.*)$", block, re.M)
            resources = dict(item.split("=", 1) for item in line.group(1).split(", ")) if line else {}
            jobs.append((header.group(1), resources))
    assert jobs, result.stdout[-3000:]
    return jobs


def check_gpus_only_for_training(jobs):
    with_gpu = {rule for rule, resources in jobs if "gpu" in resources}
    assert with_gpu <= TRAINING_RULES, f"CPU rules ask for a GPU: {with_gpu - TRAINING_RULES}"
    for rule, resources in jobs:
        if rule in TRAINING_RULES:
            assert resources.get("gpu") == "1", (rule, resources)
    if not {rule for rule, _ in jobs} & TRAINING_RULES:
        pytest.skip("the workflow has no training rules yet: checked only that no other rule asks for a GPU")


def test_slurm_profile_gives_gpus_to_training_rules_only(tmp_path):
    import snakemake_executor_plugin_slurm  # noqa: F401  (in the test extra)

    jobs = dry_run_resources(tiny_project(tmp_path), "--profile", str(REPO / "workflow" / "profiles" / "slurm"))
    for rule, resources in jobs:
        if rule != "all":  # Snakemake runs the target rule itself
            assert resources.get("runtime") and resources.get("mem_mb"), (rule, resources)
    check_gpus_only_for_training(jobs)


def test_gpu_profile_gives_gpus_to_training_rules_only(tmp_path):
    jobs = dry_run_resources(tiny_project(tmp_path), "--profile", str(REPO / "workflow" / "profiles" / "gpu"))
    check_gpus_only_for_training(jobs)


def test_the_training_rules_are_the_rules_that_ask_for_a_gpu():
    assert {"train_gan", "train_joint", "train_translator", "train_judge"} <= TRAINING_RULES
    asking = {rule for rule, text in workflow_rules().items() if re.search(r"^\s+gpu=", text, re.M)}
    assert asking == TRAINING_RULES


def test_profiles_name_only_training_rules_and_rules_set_no_cluster_values():
    for name in ("slurm", "gpu", "paper"):
        profile = yaml.safe_load((PROFILES / name / "config.yaml").read_text())
        assert set(profile["set-resources"]) == TRAINING_RULES, name
        assert profile_gpu_rules(name) == TRAINING_RULES, name
    cluster_words = re.compile(r"\b(slurm_\w+|gpu_model|qos|constraint|cpus_per_gpu)\s*=")
    for rules in (REPO / "workflow" / "rules").glob("*.smk"):
        for number, line in enumerate(rules.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            assert not cluster_words.search(code), f"{rules.name}:{number}: cluster-specific value in a rule: {line.strip()}"
