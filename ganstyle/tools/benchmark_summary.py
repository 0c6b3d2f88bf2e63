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

With ``--append-to docs/benchmarks.md`` it also appends one row to the run-time table there
(between its ``RUN_TIMES_BEGIN`` and ``RUN_TIMES_END`` markers): the date, the commit and machine
and precision from ``results/run_info.json``, the run's wall and user CPU time (``--wall``,
``--user-cpu``: measured around the whole run, e.g. by ``/usr/bin/time``, since the benchmark
files only know their own jobs), and the job wall seconds of the longest stages.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ganstyle import io
from ganstyle.errors import UserError

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


RUN_TIMES_BEGIN = "<!-- run times: rows appended by python -m ganstyle benchmark-summary --append-to -->"
RUN_TIMES_END = "<!-- end of run times -->"
STAGES_SHOWN = 6


def minutes(seconds: float) -> str:
    """``915.0`` -> ``15 min 15 s``."""
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60} s"


def machine_of(run_info: Mapping) -> str:
    """The GPUs, else the CPU model and the cores, as run_info.json records them."""
    hardware, threads = run_info.get("hardware", {}), run_info.get("threads", {})
    gpus = hardware.get("gpus") or []
    if gpus:
        return ", ".join(str(g.get("name", "GPU")) for g in gpus)
    return f"{hardware.get('cpu', {}).get('model', 'unknown CPU')}, {threads.get('cores', '?')} cores, no GPU"


def run_time_row(stages: pd.DataFrame, run_info: Mapping, wall_s: float, user_cpu_s: float, date: str) -> str:
    """One markdown row of the run-time table."""
    code = run_info.get("code", {})
    commit = (code.get("commit") or code.get("version") or "unknown")[:10] + (" (dirty)" if code.get("tree") == "dirty" else "")
    precision = ", ".join(sorted({str(v.get("policy")) for v in (run_info.get("precision") or {}).values()})) or "unknown"
    longest = stages.sort_values("wall_s", ascending=False).head(STAGES_SHOWN)
    per_stage = ", ".join(f"{row.stage} {row.wall_s:.0f}" for row in longest.itertuples())
    return f"| {date} | {commit} | {machine_of(run_info)} | {precision} | {minutes(wall_s)} | {user_cpu_s:.0f} s | {per_stage} |"


def append_row(text: str, row: str) -> str:
    """``text`` with ``row`` added as the last row of the table between the run-time markers."""
    if RUN_TIMES_BEGIN not in text or RUN_TIMES_END not in text:
        raise UserError(f"no run-time table: the markers {RUN_TIMES_BEGIN!r} and {RUN_TIMES_END!r} are missing")
    head, rest = text.split(RUN_TIMES_END, 1)
    return f"{head.rstrip()}\n{row}\n{RUN_TIMES_END}{rest}"


def main(argv: list[str] | None = None, stage: str = "benchmark-summary") -> int:
    parser = argparse.ArgumentParser(prog=f"python -m ganstyle {stage}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmarks", type=Path, required=True, help="results/benchmarks")
    parser.add_argument("--append-to", type=Path, help="docs/benchmarks.md: append this run's row to its run-time table")
    parser.add_argument("--run-info", type=Path, default=Path("results/run_info.json"), help="with --append-to: the run's run_info.json")
    parser.add_argument("--wall", type=float, help="with --append-to: the whole run's wall seconds")
    parser.add_argument("--user-cpu", type=float, help="with --append-to: the whole run's user CPU seconds")
    parser.add_argument("--date", default=datetime.date.today().isoformat(), help="with --append-to: the run's date (default today)")
    args = parser.parse_args(argv)
    if args.append_to and (args.wall is None or args.user_cpu is None):
        parser.error("--append-to needs --wall and --user-cpu (measured around the whole run)")
    jobs = read_benchmarks(args.benchmarks).sort_values("wall_s", ascending=False).reset_index(drop=True)
    stages = stage_summary(jobs)
    io.write_tsv(args.benchmarks / "jobs.tsv", jobs)
    io.write_tsv(args.benchmarks / "stages.tsv", stages)
    log.info("%d jobs, %.0f CPU-s in all; by stage:\n%s", len(jobs), stages["cpu_s"].sum(), stages.to_string(index=False))
    if args.append_to:
        try:
            run_info = json.loads(args.run_info.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise UserError(f"{args.run_info}: cannot read run information: {err}") from None
        row = run_time_row(stages, run_info, args.wall, args.user_cpu, args.date)
        try:
            io.write_text(args.append_to, append_row(args.append_to.read_text(encoding="utf-8"), row))
        except UserError as err:
            raise UserError(f"{args.append_to}: {err}") from None
        log.info("%s: appended %s", args.append_to, row)
    return 0
