"""Tool ``compare-runs``: the group-recovery tables of several finished runs side by side.

Each run is a results folder whose ``stats/group_recovery.tsv`` the stats stage wrote.  Putting runs
next to each other shows whether a measure's gain holds beyond one corpus (the bundled demo against
corpora rendered with ``render-scripts``) or which of two recipes does better on one corpus.

Per run, every measure is set against the run's *best baseline* (the role ``baseline`` measure with
the highest ``group_auc``) and, for a trained critic's measure, against the same measure on its
untrained network (``ganstyle.metrics.measures.untrained_counterpart``).  The pure part builds the tables
(``compare_runs``, ``markdown_table``); ``main`` parses, reads and writes.

Outputs: a long TSV (one row per run and measure: the run's group-recovery columns, ``best_baseline``,
``group_auc_minus_baseline``, ``ari_minus_baseline``, ``control``, ``group_auc_minus_control``,
``ari_minus_control``) and optionally a Markdown table, measure x run, grouped by role.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ganstyle import io as gio
from ganstyle.errors import UserError
from ganstyle.figures.shared import read_table
from ganstyle.figures.statistics import ROLE_NAMES
from ganstyle.io.files import STATS
from ganstyle.metrics.measures import measure_label, untrained_counterpart
from ganstyle.stages.stats import RECOVERY_COLUMNS

log = logging.getLogger(__name__)

DIFFERENCE_COLUMNS = [
    "best_baseline",
    "group_auc_minus_baseline",
    "ari_minus_baseline",
    "control",
    "group_auc_minus_control",
    "ari_minus_control",
]
COLUMNS = ["run", *RECOVERY_COLUMNS, *DIFFERENCE_COLUMNS]
POOLED = "mean over runs"  # the Markdown table's last column
ROLE_ORDER = ("gan", "control", "baseline")  # then any other role (transfer, unknown) in order of appearance


# --------------------------------------------------------------------------
# Tables (pure)


def best_baseline(table: pd.DataFrame) -> str | None:
    """The baseline measure with the highest ``group_auc`` (the first one on a tie), or None."""
    baselines = table[(table["role"] == "baseline") & table["group_auc"].notna()]
    return None if baselines.empty else str(baselines.loc[baselines["group_auc"].idxmax(), "measure"])


def with_differences(table: pd.DataFrame) -> pd.DataFrame:
    """One run's group-recovery table with every measure's gain over the run's best baseline and
    over its untrained control (NaN where there is none, or the run lacks it)."""
    table = table.reset_index(drop=True).copy()
    by_name = table.set_index("measure")
    best = best_baseline(table)
    learned = table["role"] != "baseline"  # the baseline is what the others are measured against
    table["best_baseline"] = best
    for column in ("group_auc", "ari"):
        reference = by_name.loc[best, column] if best is not None else np.nan
        table[f"{column}_minus_baseline"] = (table[column] - reference).where(learned)
    table["control"] = [untrained_counterpart(m) for m in table["measure"]]
    present = table["control"].where(table["control"].isin(by_name.index))
    for column in ("group_auc", "ari"):
        table[f"{column}_minus_control"] = table[column] - present.map(by_name[column]).astype(float)
    return table


def compare_runs(tables: Mapping[str, pd.DataFrame], measures: Sequence[str] | None = None) -> pd.DataFrame:
    """Long table: one row per run (in the order given) and measure.

    ``measures``: the measures to keep, in this order (default: every measure of any run, in order of
    first appearance).  Best baselines and controls are chosen from each run's full table, whatever is
    kept.  A measure a run lacks gets a row with empty values, its space and role taken from the runs
    that have it (so it lands in its role's group).
    """
    every = list(dict.fromkeys(m for table in tables.values() for m in table["measure"]))
    if measures:
        unknown = [m for m in measures if m not in every]
        if unknown:
            raise UserError(f"--measures: {', '.join(unknown)} in none of the runs (they have: {', '.join(every)})")
    chosen = list(dict.fromkeys(measures)) if measures else every
    known = pd.concat(list(tables.values())).drop_duplicates("measure").set_index("measure")
    rows = []
    for run, table in tables.items():
        full = with_differences(table).set_index("measure").reindex(chosen)
        for column in ("space", "role"):
            full[column] = full[column].fillna(known[column].reindex(chosen))
        full["best_baseline"] = best_baseline(table)
        full["control"] = [untrained_counterpart(m) for m in chosen]
        rows.append(full.reset_index().assign(run=run))
    return pd.concat(rows, ignore_index=True)[COLUMNS]


def _number(value: float, digits: int) -> str:
    """Fixed digits with a typographic minus, as in the docs' tables (no '−0.00')."""
    text = f"{value:.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text.replace("-", "−")


def recovery_cell(row: pd.Series) -> str:
    """'0.901 [0.884, 0.921], ARI 0.75, r 0.96': AUC [bootstrap interval], ARI at k = groups, mean seed r;
    empty for a measure the run lacks."""
    finite = {c: bool(np.isfinite(row[c])) for c in ("group_auc", "group_auc_ci_low", "group_auc_ci_high", "ari", "seed_r_mean")}
    if not finite["group_auc"] and not finite["ari"]:
        return ""
    text = _number(row["group_auc"], 3) if finite["group_auc"] else "n/a"
    if finite["group_auc_ci_low"] and finite["group_auc_ci_high"]:
        text += f" [{_number(row['group_auc_ci_low'], 3)}, {_number(row['group_auc_ci_high'], 3)}]"
    if finite["ari"]:
        text += f", ARI {_number(row['ari'], 2)}"
    if finite["seed_r_mean"]:
        text += f", r {_number(row['seed_r_mean'], 2)}"
    return text


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|")


def pooled_cells(comparison: pd.DataFrame) -> dict[str, str]:
    """Per measure, 'mean AUC (mean gain over each run's best baseline)' over the runs that have it,
    '[n of N runs]' when some lack it: whether a gain holds across corpora, not on one."""
    n_runs = comparison["run"].nunique()
    cells = {}
    for measure, rows in comparison.groupby("measure", sort=False):
        auc, gain = rows["group_auc"].dropna(), rows["group_auc_minus_baseline"].dropna()
        text = _number(auc.mean(), 3) if len(auc) else ""
        if len(gain):
            text += f" ({'+' if gain.mean() > 0 else ''}{_number(gain.mean(), 3)})"
        if 0 < len(auc) < n_runs:
            text += f" [{len(auc)} of {n_runs} runs]"
        cells[measure] = text
    return cells


def markdown_table(comparison: pd.DataFrame) -> str:
    """Measure x run, rows grouped by role (GAN critics, untrained controls, baselines, then others),
    with a pooled column when there are several runs, followed by a line naming each run's best baseline."""
    runs = list(dict.fromkeys(comparison["run"]))
    measures = list(dict.fromkeys(comparison["measure"]))
    cells = {(row["measure"], row["run"]): recovery_cell(row) for _, row in comparison.iterrows()}
    pooled = len(runs) > 1
    if pooled:
        cells.update({(measure, POOLED): text for measure, text in pooled_cells(comparison).items()})
    runs_shown = runs + ([POOLED] if pooled else [])
    role_of = comparison.drop_duplicates("measure").set_index("measure")["role"].fillna("")
    roles = list(ROLE_ORDER) + [r for r in dict.fromkeys(role_of[measures]) if r not in ROLE_ORDER]
    lines = ["| measure | " + " | ".join(map(_escape, runs_shown)) + " |", "|---" * (len(runs_shown) + 1) + "|"]
    for role in roles:
        members = [m for m in measures if role_of[m] == role]
        if members:
            lines.append(f"| **{ROLE_NAMES.get(role, role or 'no role')}** |" + " |" * len(runs_shown))
            lines += [f"| {_escape(measure_label(m))} | " + " | ".join(cells[m, run] for run in runs_shown) + " |" for m in members]
    best = comparison.drop_duplicates("run").set_index("run")["best_baseline"]
    named = [f"{_escape(run)}: {measure_label(best[run]) if isinstance(best[run], str) else 'none'}" for run in runs]
    lines += [
        "",
        f"Cells: within-vs-across-group AUC [bootstrap interval], ARI at k = number of groups, mean seed-to-seed Mantel r. Best baseline: {'; '.join(named)}.",
    ]
    if pooled:
        lines.append(f"{POOLED}: the AUC averaged over the runs, and in brackets the average gain over each run's best baseline.")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# I/O


def parse_run(text: str) -> tuple[str, Path]:
    """``NAME=RESULTS_DIR`` -> (name, folder)."""
    name, sep, folder = text.partition("=")
    if not sep or not name.strip() or not folder.strip():
        raise UserError(f"--run {text!r}: expected NAME=RESULTS_DIR (e.g. demo=results)")
    return name.strip(), Path(folder.strip())


def read_run(name: str, results: Path) -> pd.DataFrame:
    path = results / STATS.relative("group_recovery")
    if not path.is_file():
        raise UserError(f"--run {name}: {path} not found (the stats stage writes it: rule 'stats' of the workflow, or python -m ganstyle stats)")
    table = read_table(path, RECOVERY_COLUMNS, f"group-recovery table of run '{name}'; re-run the stats stage")
    repeated = table["measure"][table["measure"].duplicated()].unique()
    if len(repeated):
        raise UserError(f"{path}: measure(s) listed more than once: {', '.join(repeated)}")
    return table


def main(argv: list[str] | None = None, stage: str = "compare-runs") -> int:
    parser = argparse.ArgumentParser(prog=f"ganstyle {stage}", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--run", action="append", required=True, metavar="NAME=RESULTS_DIR", help="a finished run's results folder and its column name; repeat per run"
    )
    parser.add_argument("--out", required=True, help="long TSV: one row per run and measure, with differences from the best baseline and the control")
    parser.add_argument("--markdown", help="also write a measure x run Markdown table here")
    parser.add_argument("--measures", nargs="+", help="only these measures, in this order (default: all)")
    args = parser.parse_args(argv)
    runs = [parse_run(text) for text in args.run]
    names = [name for name, _ in runs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UserError(f"--run: name(s) used more than once: {', '.join(repeated)}")
    tables = {name: read_run(name, folder) for name, folder in runs}  # every run checked before anything is written
    comparison = compare_runs(tables, args.measures)
    gio.write_tsv(args.out, comparison)
    if args.markdown:
        gio.write_text(args.markdown, markdown_table(comparison))
    log.info("compared %d measures of %d runs: %s", comparison["measure"].nunique(), len(tables), args.out)
    return 0
