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


RUN_INFO = {
    "code": {"version": "0.1.0", "commit": "7d44a82e1f00aa", "tree": "clean"},
    "hardware": {"cpu": {"model": "AMD EPYC 9R14"}, "gpus": []},
    "threads": {"cores": 2},
    "precision": {"gan": {"policy": "mixed_bfloat16"}, "joint": {"policy": "mixed_bfloat16"}, "transfer": {"policy": "float32"}},
}


def test_a_run_appends_one_row_to_the_run_time_table(tmp_path):
    _write(tmp_path / "benchmarks" / "gan" / "latin.tsv", 400.0, 700.0)
    _write(tmp_path / "benchmarks" / "gan" / "greek.tsv", 208.4, 300.0)
    _write(tmp_path / "benchmarks" / "stats" / "stats.tsv", 87.0, 80.0)
    (tmp_path / "run_info.json").write_text(__import__("json").dumps(RUN_INFO))
    doc = tmp_path / "benchmarks.md"
    header = "| date | commit | machine | precision | wall | user CPU | job wall s per stage (longest) |\n|---|---|---|---|---|---|---|\n"
    doc.write_text(f"# Run time\n\n{runtime.RUN_TIMES_BEGIN}\n\n{header}| old | row |\n{runtime.RUN_TIMES_END}\n\nafter\n")
    argv = ["--benchmarks", str(tmp_path / "benchmarks"), "--append-to", str(doc), "--run-info", str(tmp_path / "run_info.json")]
    assert runtime.main([*argv, "--wall", "904.4", "--user-cpu", "1464.2", "--date", "2026-12-07"]) == 0
    row = "| 2026-12-07 | 7d44a82e1f | AMD EPYC 9R14, 2 cores, no GPU | float32, mixed_bfloat16 | 15 min 4 s | 1464 s | gan 608, stats 87 |"
    assert doc.read_text() == f"# Run time\n\n{runtime.RUN_TIMES_BEGIN}\n\n{header}| old | row |\n{row}\n{runtime.RUN_TIMES_END}\n\nafter\n"
    with pytest.raises(SystemExit):  # the run's own times are needed
        runtime.main(argv)
    doc.write_text("no table\n")
    with pytest.raises(runtime.UserError, match="benchmarks.md.*markers"):
        runtime.main([*argv, "--wall", "1", "--user-cpu", "1"])
