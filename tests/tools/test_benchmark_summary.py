"""Benchmark summaries: per job and per stage, from files in Snakemake's benchmark format."""

import pandas as pd
import pytest

from ganstyle.tools import benchmark_summary as runtime

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _write(path, wall, cpu, rss=100.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{wall}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n")


def test_jobs_and_stages_sum_the_benchmark_files(tmp_path):
    _write(tmp_path / "gan" / "latin.tsv", 60.0, 110.0, 900.0)
    _write(tmp_path / "gan" / "greek.tsv", 50.0, 90.0)
    _write(tmp_path / "figures" / "mds.tsv", 5.0, 4.0)
    (tmp_path / "figures" / "broken.tsv").write_text("not\ta benchmark\n")
    assert runtime.main(["--benchmarks", str(tmp_path)]) == 0
    jobs = pd.read_csv(tmp_path / "jobs.tsv", sep="\t")
    assert list(jobs["job"]) == ["gan/latin", "gan/greek", "figures/mds"]  # longest first; the broken file skipped
    stages = pd.read_csv(tmp_path / "stages.tsv", sep="\t").set_index("stage")
    assert stages.loc["gan", "jobs"] == 2 and stages.loc["gan", "cpu_s"] == pytest.approx(200.0)
    assert stages.loc["gan", "longest_job_s"] == 60.0 and stages.loc["gan", "max_rss_mb"] == 900.0
    assert stages["cpu_share"].sum() == pytest.approx(1.0)
    # a second summary does not read the first one as a job
    assert runtime.main(["--benchmarks", str(tmp_path)]) == 0
    assert len(pd.read_csv(tmp_path / "jobs.tsv", sep="\t")) == 3
