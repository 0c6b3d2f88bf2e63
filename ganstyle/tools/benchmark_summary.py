"""Where the run's time went: per-job and per-stage summaries of Snakemake's benchmark files.

Every rule writes ``results/benchmarks/<stage>/<job>.tsv`` (Snakemake's ``benchmark:``
directive: wall seconds ``s``, ``cpu_time``, ``max_rss`` in MB, ...).  After a successful
run the workflow's ``onsuccess`` handler calls this stage, which writes

- ``results/benchmarks/jobs.tsv``: one row per job (stage, job, wall_s, cpu_s, max_rss_mb),
  longest first;
- ``results/benchmarks/stages.tsv``: per stage the number of jobs, summed wall and CPU
  seconds, the longest job and the share of all CPU seconds.

Summed wall seconds exceed the run's wall time where jobs ran in parallel; the CPU
seconds are what a budget on a given number of cores is made of.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from ganstyle import io

log = logging.getLogger(__name__)

JOB_COLUMNS = ["stage", "job", "wall_s", "cpu_s", "max_rss_mb"]
SUMMARY_FILES = ("jobs.tsv", "stages.tsv")


def read_benchmarks(folder: Path) -> pd.DataFrame:
    """One row per benchmark file under ``folder`` (the summaries themselves excluded); a file
    that cannot be read is skipped with a warning naming it."""
    rows = []
    for path in sorted(folder.rglob("*.tsv")):
        if path.parent == folder and path.name in SUMMARY_FILES:
            continue
        try:
            table = pd.read_csv(path, sep="\t")
            last = table.iloc[-1]  # repeated benchmarks (benchmark repeats) append rows
            rows.append(
                {
                    "stage": path.relative_to(folder).parts[0] if path.parent != folder else "",
                    "job": str(path.relative_to(folder).with_suffix("")),
                    "wall_s": float(last["s"]),
                    "cpu_s": float(last.get("cpu_time", float("nan"))),
                    "max_rss_mb": float(last.get("max_rss", float("nan"))),
                }
            )
        except (pd.errors.ParserError, pd.errors.EmptyDataError, KeyError, IndexError, ValueError) as err:
            log.warning("%s: not a Snakemake benchmark file (%s); skipped", path, err)
    return pd.DataFrame(rows, columns=JOB_COLUMNS)


def stage_summary(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per stage: jobs, summed wall and CPU seconds, longest job, share of all CPU seconds."""
    grouped = jobs.groupby("stage", sort=False)
    table = pd.DataFrame(
        {
            "jobs": grouped.size(),
            "wall_s": grouped["wall_s"].sum(),
            "cpu_s": grouped["cpu_s"].sum(),
            "longest_job_s": grouped["wall_s"].max(),
            "max_rss_mb": grouped["max_rss_mb"].max(),
        }
    ).reset_index()
    total = table["cpu_s"].sum()
    table["cpu_share"] = table["cpu_s"] / total if total > 0 else float("nan")
    return table.sort_values("cpu_s", ascending=False).reset_index(drop=True)


def main(argv: list[str] | None = None, stage: str = "benchmark-summary") -> int:
    parser = argparse.ArgumentParser(prog=f"python -m ganstyle {stage}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmarks", type=Path, required=True, help="results/benchmarks")
    args = parser.parse_args(argv)
    jobs = read_benchmarks(args.benchmarks).sort_values("wall_s", ascending=False).reset_index(drop=True)
    stages = stage_summary(jobs)
    io.write_tsv(args.benchmarks / "jobs.tsv", jobs)
    io.write_tsv(args.benchmarks / "stages.tsv", stages)
    log.info("%d jobs, %.0f CPU-s in all; by stage:\n%s", len(jobs), stages["cpu_s"].sum(), stages.to_string(index=False))
    return 0
