"""End to end: the whole workflow through the snakemake CLI on a tiny config.

Three demo cultures in two groups (60 images each), a few GAN, judge and
translator steps (registry not in alphabetical order), small
bootstrap and permutation counts: every stage runs for real, on
real images, just briefly.  Also checks that nothing under the input folders
is written, that the report builds, and which jobs a changed input plans:
a run up to the leakage checkpoint, then a dry run (the full reruns are
``-m slow``).
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from met_export import build_met_export, met_metadata
from PIL import Image

from ganstyle.config import validate
from ganstyle.io.files import METADATA
from ganstyle.stages import run_info

REPO = Path(__file__).resolve().parents[1]
CULTURES = {"latin": "european", "greek": "european", "arabic": "semitic"}


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


# every stage for real, briefly
TINY = {
    "gan": {"steps": 20, "batch_size": 8, "checkpoint_every": 10, "log_every": 10, "samples": 24, "grid": 4, "n_boot": 5, "seeds": [0, 1]},
    "joint": {"steps": 20, "batch_size": 8, "snapshots": 2, "snapshot_every": 10},
    "transfer": {"steps": 6, "batch_size": 4, "width": 4, "checkpoint_every": 3, "log_every": 3, "n_boot": 5},
    "judge": {"width": 4, "epochs": 2},
    "similarity": {"n_components": 4, "n_boot": 5, "split_half_reps": 3, "probe_folds": 2},
    "stats": {"permutations": 19},
    "figures": {"formats": ["png"], "dpi": 72},
    "map": {"layout": "tsne"},  # UMAP's just-in-time compilation costs more than the map; tests/stages/test_map.py runs UMAP
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("workflow")
    images = work / "images"
    rows = []
    for culture, group in CULTURES.items():
        folder = images / culture
        folder.mkdir(parents=True)
        for png in sorted((REPO / "data" / "demo" / culture).glob("*.png"))[:60]:
            shutil.copy(png, folder / png.name)
        rows.append({"culture": culture, "path": str(folder), "label": culture.title(), "group": group, "lat": 40.0 + len(rows), "lon": 10.0 * len(rows)})
    pd.DataFrame(rows).to_csv(work / "cultures.tsv", sep="\t", index=False)
    config = {
        "cultures": "cultures.tsv",  # relative to the working directory: a copy of it uses its own registry
        "ingest": {"resolution": 32, "min_images": 20, "heldout_fraction": 0.3},
        **TINY,
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    before = tree_digest(images)
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work), "--configfile", str(work / "config.yaml"), "--cores", "2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return work, before, images


def test_every_stage_writes_its_outputs(tiny_run):
    work, _, _ = tiny_run
    results = work / "results"
    for culture in CULTURES:
        assert (results / "corpus" / culture / "images.npz").stat().st_size > 0
        assert (results / "gan" / culture / "seed0" / "discriminator.keras").stat().st_size > 0
        for seed in (0, 1):
            assert (results / "gan" / culture / f"seed{seed}" / "discriminator.keras").stat().st_size > 0
    for space in ("critic", "critic_untrained", "joint", "joint_untrained"):
        for seed in (0, 1):
            assert (results / "features" / space / f"seed{seed}.npz").stat().st_size > 0
    for step in (10, 20):
        assert (results / "joint" / "seed0" / f"critic_step{step:06d}.keras").stat().st_size > 0
    for seed in (0, 1):
        assert (results / "transfer" / f"seed{seed}" / "translations.npz").stat().st_size > 0
    distances = pd.read_csv(results / "transfer" / "transfer_distances.tsv", sep="\t")
    assert set(distances["source"]) == set(CULTURES) and len(distances[["source", "target"]].drop_duplicates()) == 6  # every direction
    for kind in ("real", "gan_samples", "joint_samples", "translations"):
        assert len(pd.read_csv(results / "judge" / f"{kind}.tsv", sep="\t")) > 0, kind
    assert (results / "figures" / "judge.png").stat().st_size > 0
    assert (results / "figures" / "images" / "interpolations.png").stat().st_size > 0
    interpolations = pd.read_csv(results / "images" / "interpolations.tsv", sep="\t")
    assert interpolations["p_b"].between(0, 1).all() and set(interpolations["step"]) == set(range(8))
    assert (results / "figures" / "transfer" / "translations.png").stat().st_size > 0
    similarity = pd.read_csv(results / "similarity" / "similarity.tsv", sep="\t")
    assert any(measure.startswith("transfer_") for measure in similarity["measure"])  # every pair ran: a distance matrix
    assert {"logit_auc_critic", "fd_critic", "kid_reference", "cross_conditional_joint", "kid_joint_untrained"} <= set(similarity["measure"])
    assert set(similarity["culture_a"]) == set(CULTURES)
    assert (results / "clustering" / "summary.tsv").exists()
    ari = pd.read_csv(results / "stats" / "ari_nmi.tsv", sep="\t")
    assert ari["ari"].between(-1, 1).all()
    recovery = pd.read_csv(results / "stats" / "group_recovery.tsv", sep="\t")
    assert {"gan", "control", "baseline"} <= set(recovery["role"]) and recovery["group_auc"].between(0, 1).all()
    assert len(pd.read_csv(results / "stats" / "seed_stability.tsv", sep="\t")) > 0
    assert recovery["ari_q_bh"].notna().any() and (recovery["ari_q_bh"] >= recovery["ari_p_value"] - 1e-12).all()
    methods = (results / "methods.md").read_text(encoding="utf-8")
    assert "for 20 steps of 8 images" in methods and "## References" in methods and "2 seed(s)" in methods
    assert (results / "figures" / "group_recovery.png").stat().st_size > 0
    assert (results / "figures" / "seed_stability.png").stat().st_size > 0
    typicality = pd.read_csv(results / "images" / "typicality.tsv", sep="\t")
    heldout = similarity[similarity["measure"] == "kid_reference"].drop_duplicates("culture_a")["n_a"].sum()
    assert len(typicality) == 3 * heldout  # every held-out image under each of the 3 cultures' critics
    assert (results / "map" / "index.html").exists() and (results / "map" / "atlas-000.js").stat().st_size > 0
    assert (results / "figures" / "images" / "typical.png").stat().st_size > 0 and (results / "figures" / "images" / "bridges.png").stat().st_size > 0
    assert pd.read_csv(results / "benchmarks" / "gan" / "latin.tsv", sep="\t")["s"].iloc[0] > 0
    pngs = list((results / "figures").rglob("*.png"))
    assert pngs and all(p.stat().st_size > 0 for p in pngs)
    assert (work / "logs" / "gan" / "latin.log").exists()
    # provenance: what the run ran on, and the precision its trainings recorded
    info = json.loads((results / "run_info.json").read_text())
    recorded = {json.loads((results / "gan" / c / f"seed{s}" / "metrics.json").read_text())["precision"] for c in CULTURES for s in (0, 1)}
    assert info["precision"]["gan"]["policy"] == ", ".join(sorted(recorded)) and info["precision"]["gan"]["source"].startswith("recorded by its 6 job(s)")
    assert set(info["training_jobs"]) == {f"gan/{c}/seed{s}" for c in CULTURES for s in (0, 1)} | {"joint/seed0", "joint/seed1"}
    assert info["config_sha256"] == run_info.config_hash(validate(yaml.safe_load((work / "config.yaml").read_text())))
    assert info["code"]["tree"] in {"clean", "dirty", "not a git checkout"} and info["versions"]["tensorflow"] != "unknown"
    assert (results / "run_info.html").read_text().count("<tr>") > 20


def test_inputs_are_never_written(tiny_run):
    _, before, images = tiny_run
    assert tree_digest(images) == before


def snakemake(work: Path, *options: str, timeout: int = 900) -> str:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "--directory",
            str(work),
            "--configfile",
            str(work / "config.yaml"),
            "--cores",
            "2",
            *options,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout + result.stderr


def test_a_finished_run_has_nothing_left_to_do(tiny_run):
    work, _, _ = tiny_run
    output = snakemake(work, "-n")
    assert "Nothing to be done" in output, output[-4000:]


def planned_jobs(output: str) -> dict[str, list[str]]:
    """rule -> the wildcards of every job a snakemake run or dry run lists (in the order listed)."""
    jobs = {}
    for block in re.split(r"\n(?=(?:local)?(?:rule|checkpoint) \w+:\n)", "\n" + output):
        header = re.match(r"(?:local)?(?:rule|checkpoint) (\w+):\n", block)
        if header:
            wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
            jobs.setdefault(header.group(1), []).append(wildcards.group(1) if wildcards else "")
    return jobs


def with_a_new_culture(tiny_run, copy: Path) -> Path:
    """A copy of the tiny run's folder whose registry (relative to it) gains cyrillic; returns the copy."""
    work, _, _ = tiny_run
    shutil.copytree(work, copy, symlinks=True)  # copy2 keeps mtimes: the copy is as up to date as the run
    folder = copy / "extra" / "cyrillic"
    folder.mkdir(parents=True)
    for png in sorted((REPO / "data" / "demo" / "cyrillic").glob("*.png"))[:60]:
        shutil.copy(png, folder / png.name)
    registry = pd.read_csv(copy / "cultures.tsv", sep="\t")
    registry.loc[len(registry)] = {"culture": "cyrillic", "path": str(folder), "label": "Cyrillic", "group": "european", "lat": 55.0, "lon": 37.0}
    registry.to_csv(copy / "cultures.tsv", sep="\t", index=False)
    return copy


def test_adding_a_culture_plans_only_its_chain_and_the_joint_critic(tiny_run, tmp_path):
    """Up to the leakage checkpoint for real (it decides which corpora change), then the plan of the rest."""
    copy = with_a_new_culture(tiny_run, tmp_path / "work")
    ran = planned_jobs(snakemake(copy, "--until", "leakage"))
    assert ran == {"ingest": ["culture=cyrillic"], "leakage": [""]}, ran
    plan = planned_jobs(snakemake(copy, "-n"))
    assert plan["corpus"] == ["culture=cyrillic"] and plan["train_gan"] == ["culture=cyrillic"], plan
    assert sorted(plan["train_joint"]) == ["seed=0", "seed=1"]  # the joint critic sees every culture
    assert sorted(plan["train_translator"]) == ["seed=0", "seed=1"]  # each translator inverts its joint generator
    assert "ingest" not in plan, plan
    assert all("cyrillic" in wildcards for wildcards in plan.get("leakage_rows", [])), plan


def test_an_edited_image_replans_only_its_cultures_chain(tiny_run, tmp_path):
    """An image of greek is changed in place (and restored afterwards): greek's ingest, corpus and GAN, the
    joint critic and its translators are planned again, nothing of latin's or arabic's own."""
    work, _, images = tiny_run
    copy = tmp_path / "work"
    shutil.copytree(work, copy, symlinks=True)
    edited = sorted((images / "greek").glob("*.png"))[5]
    original, stat = edited.read_bytes(), edited.stat()
    try:
        with Image.open(edited) as image:
            image.transpose(Image.Transpose.ROTATE_180).save(edited)
        ran = planned_jobs(snakemake(copy, "--until", "leakage"))
        assert ran == {"ingest": ["culture=greek"], "leakage": [""]}, ran
        plan = planned_jobs(snakemake(copy, "-n"))
    finally:
        edited.write_bytes(original)
        os.utime(edited, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert plan["corpus"] == ["culture=greek"] and plan["train_gan"] == ["culture=greek"], plan
    assert sorted(plan["train_joint"]) == ["seed=0", "seed=1"]
    assert sorted(plan["train_translator"]) == ["seed=0", "seed=1"], plan
    assert "ingest" not in plan


def test_the_report_builds(tiny_run, tmp_path):
    work, _, _ = tiny_run
    report = tmp_path / "report.zip"  # a zip: the report carries the image map's folder
    snakemake(work, "--report", str(report))
    with zipfile.ZipFile(report) as archive:
        names = archive.namelist()
        text = archive.read(next(n for n in names if n.endswith("/report.html"))).decode(errors="replace")
    assert len(text) > 100_000
    # files the report carries (their names also appear in the rules' code the report shows, so not the text)
    for entry in ("run_info.html", "run_info.json", "group_recovery.png", "group_recovery.tsv", "sanity_kid.tsv", "methods.md", "index.html"):
        assert any(n.endswith("/" + entry) for n in names), entry


@pytest.mark.slow
def test_adding_a_culture_trains_only_its_gan_and_the_joint_critic(tiny_run, tmp_path):
    copy = with_a_new_culture(tiny_run, tmp_path / "work")
    output = snakemake(copy)
    trained = sorted(set(re.findall(r"train-gan --corpus \S+ --culture (\w+)", output)))
    assert trained == ["cyrillic"], output[-4000:]
    # the joint critic sees every culture, so it is retrained (once per seed), and with it its translator
    assert len(re.findall(r"python -m ganstyle train-joint ", output)) == 2, output[-4000:]
    assert len(re.findall(r"python -m ganstyle train-translator ", output)) == 2, output[-4000:]
    assert "Nothing to be done" in snakemake(copy, "-n")


def test_a_users_own_registry_runs_with_the_demo_config(tmp_path):
    """A registry of the user's own plans a run with the demo's config.yaml as it is."""
    registry = tmp_path / "mine.tsv"
    rows = [{"culture": c, "path": str(REPO / "data" / "demo" / c), "label": c.title()} for c in ("latin", "arabic")]
    pd.DataFrame(rows).to_csv(registry, sep="\t", index=False)
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--configfile", str(REPO / "config.yaml")]
        + ["--config", f"cultures={registry}", "--cores", "1", "-n"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "train_gan" in output and "train_translator" in output and "train_judge" in output


# ---- a museum export alone: The Met's shape, no registry (issue #25)

MET_INGEST = {"resolution": 32, "min_images": 20, "heldout_fraction": 0.3}
MET_REPORT, MET_REGISTRY = METADATA.path("results", "report"), METADATA.path("results", "registry")


@pytest.fixture(scope="module")
def met_work(tmp_path_factory):
    """A study folder as a new user has it: MetObjects.csv, images/<Object ID>.jpg, a config with only a metadata section."""
    work = tmp_path_factory.mktemp("met")
    export = build_met_export(work)
    metadata = {**met_metadata(export), "path": "MetObjects.csv"}  # relative: read from the study folder
    (work / "config.yaml").write_text(yaml.safe_dump({"metadata": metadata, "ingest": MET_INGEST}))
    return work, export


def test_a_met_export_alone_gives_the_corpora_and_a_report_of_every_row(met_work):
    work, export = met_work
    before = tree_digest(export.images), export.table.read_bytes()
    corpora = [f"results/corpus/{culture}/images.npz" for culture in sorted(export.used)]
    snakemake(work, MET_REPORT, *corpora)
    assert (tree_digest(export.images), export.table.read_bytes()) == before  # inputs are never written

    report = pd.read_csv(work / MET_REPORT, sep="\t", keep_default_na=False)
    read = report.loc[report["kind"] == "read", "rows"].item()
    used = report[report["kind"] == "used"]
    dropped = report[report["kind"] == "dropped"]
    assert read == export.rows and used["rows"].sum() + dropped["rows"].sum() == read
    assert dict(zip(used["culture"], used["rows"])) == export.used
    assert dropped.groupby("reason")["rows"].sum().to_dict() == export.dropped
    assert dict(zip(used["culture"], used["label"])) == {c: export.labels[c] for c in export.used}
    log = (work / "logs" / "ingest" / "metadata_report.log").read_text()
    assert f"{export.rows} rows read, 180 used by 3 culture(s)" in log

    registry = pd.read_csv(work / MET_REGISTRY, sep="\t", keep_default_na=False)
    assert list(registry["culture"]) == ["greek_attic", "islamic_mamluk", "roman"]
    assert list(registry["label"]) == ["Greek, Attic", "Islamic (Mamluk)", "Roman"]
    for culture in export.used:
        with np.load(work / "results" / "corpus" / culture / "images.npz") as corpus:
            assert corpus["images"].shape == (60, 32, 32, 1)  # every used row's image, decoded
            assert set(corpus["split"]) == {"train", "heldout"}
    assert not (work / "results" / "ingest" / "chinese_qing_dynasty").exists()  # below min_images: never ingested
    assert "Nothing to be done" in snakemake(work, "-n", MET_REPORT, *corpora)


def test_an_image_that_appears_reruns_the_report_and_only_its_cultures_ingest(met_work, tmp_path):
    work, export = met_work
    copy = tmp_path / "work"
    shutil.copytree(work, copy, symlinks=True)
    corpora = [f"results/corpus/{culture}/images.npz" for culture in sorted(export.used)]
    snakemake(copy, MET_REPORT, *corpora)  # the fixture's run, if this test runs alone
    table = pd.read_csv(copy / "MetObjects.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    missing = report_example(copy, "image_missing")
    object_id = Path(missing).stem
    culture = table.loc[table["Object ID"] == object_id, "Culture"].item()
    assert culture == "Greek, Attic"
    shutil.copy(copy / "images" / sorted(p.name for p in (copy / "images").iterdir())[0], copy / "images" / f"{object_id}.jpg")
    output = snakemake(copy, "-n", MET_REPORT, *corpora)
    assert re.findall(r"ingest --culture (\w+)", output) == ["greek_attic"], output[-3000:]
    assert "metadata-report" in output


def report_example(work: Path, reason: str) -> str:
    report = pd.read_csv(work / MET_REPORT, sep="\t", keep_default_na=False)
    return report.loc[report["reason"] == reason, "detail"].item().removeprefix("no such file, e.g. ")


@pytest.mark.slow
def test_a_met_export_alone_runs_end_to_end(met_work, tmp_path):
    """The issue's "done when": the fixture through stats and figures with only a metadata section (and tiny settings)."""
    work, export = met_work
    copy = tmp_path / "work"
    shutil.copytree(work, copy, symlinks=True)
    config = yaml.safe_load((copy / "config.yaml").read_text())
    (copy / "config.yaml").write_text(yaml.safe_dump({**config, **TINY}))
    snakemake(copy, timeout=3000)
    results = copy / "results"
    assert pd.read_csv(results / "similarity" / "similarity.tsv", sep="\t")["culture_a"].nunique() == 3
    assert (results / "stats" / "summary.tsv").stat().st_size > 0
    assert (results / "figures" / "corpus" / "examples.png").stat().st_size > 0
    assert not (results / "figures" / "group_recovery.png").exists()  # no groups without a mapping: not asked for
    snakemake(copy, "--report", "report.zip")
    with zipfile.ZipFile(copy / "report.zip") as archive:
        assert any(n.endswith("metadata_report.tsv") for n in archive.namelist())
    assert "Nothing to be done" in snakemake(copy, "-n")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"figures": {"bridges_pairs": ["latin__klingon"]}}, "config key 'figures.bridges_pairs': pair 'latin__klingon' names unknown culture(s) klingon"),
        ({"map": {"space": "jiont"}}, "config key 'map.space': no feature space 'jiont'"),
        ({"joint": {"enabled": False}}, "config key 'similarity.primary_measure': 'cross_conditional_joint' needs the joint critic (joint.enabled is false)"),
        (
            {"joint": {"enabled": False}, "similarity": {"primary_measure": "separability_critic"}, "typicality": {"space": "joint"}},
            "config key 'typicality.space': the space 'joint' needs the joint critic (joint.enabled is false)",
        ),
    ],
)
def test_image_settings_the_run_cannot_honour_stop_it_naming_the_key(tmp_path, override, message):
    registry = tmp_path / "mine.tsv"
    pd.DataFrame([{"culture": c, "path": str(REPO / "data" / "demo" / c), "label": c.title()} for c in ("latin", "arabic")]).to_csv(
        registry, sep="\t", index=False
    )
    (tmp_path / "override.yaml").write_text(yaml.safe_dump({**override, "cultures": str(registry)}))
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path)]
        + ["--configfile", str(REPO / "config.yaml"), str(tmp_path / "override.yaml"), "--cores", "1", "-n"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0 and message in output, output[-4000:]
