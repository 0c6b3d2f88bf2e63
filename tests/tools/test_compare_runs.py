"""Tests of the run comparison (ganstyle.tools.compare_runs) on small synthetic group-recovery tables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ganstyle import cli
from ganstyle import io as gio
from ganstyle.errors import UserError
from ganstyle.metrics.measures import MEASURES, SPACES
from ganstyle.stages.stats import RECOVERY_COLUMNS
from ganstyle.tools import compare_runs


def _row(measure: str, auc: float, ari: float, ci: tuple[float, float] | None = None, r: float | None = None) -> dict:
    space = MEASURES[measure].space
    seeds = r is not None  # the baseline has no seeds
    return {
        "measure": measure,
        "space": space,
        "role": SPACES[space].role,
        "ari": ari,
        "ari_p_value": 0.01,
        "k": 4,
        "group_auc": auc,
        "group_auc_ci_low": ci[0] if ci else np.nan,
        "group_auc_ci_high": ci[1] if ci else np.nan,
        "group_auc_seed_min": auc - 0.01 if seeds else np.nan,
        "group_auc_seed_max": auc + 0.01 if seeds else np.nan,
        "n_seeds": 2 if seeds else 0,
        "seed_r_min": r if seeds else np.nan,
        "seed_r_mean": r if seeds else np.nan,
    }


def _table(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=RECOVERY_COLUMNS)


# demo-like: the GAN measure beats the best baseline (probe, not the first baseline listed) and its control
DEMO = _table(
    _row("fd_reference", 0.770, 0.49, (0.730, 0.815)),
    _row("probe_reference", 0.846, 0.75, (0.817, 0.879)),
    _row("cross_conditional_joint", 0.901, 0.75, (0.884, 0.921), r=0.96),
    _row("kid_joint", 0.824, 0.38, r=0.99),
    _row("cross_conditional_joint_untrained", 0.608, -0.0179, (0.528, 0.705), r=0.25),
)
# check-like: the best baseline is another measure, kid_joint is missing
CHECK = _table(
    _row("fd_reference", 0.622, 0.21),
    _row("crossnobis_reference", 0.741, 0.29),
    _row("cross_conditional_joint", 0.539, -0.05, r=0.93),
    _row("cross_conditional_joint_untrained", 0.460, 0.06, r=0.08),
)


def _by(comparison: pd.DataFrame, run: str, measure: str) -> pd.Series:
    hit = comparison[(comparison["run"] == run) & (comparison["measure"] == measure)]
    assert len(hit) == 1, (run, measure)
    return hit.iloc[0]


def test_differences_from_the_best_baseline_and_the_untrained_control():
    comparison = compare_runs.compare_runs({"demo": DEMO, "check": CHECK})
    assert list(comparison.columns) == compare_runs.COLUMNS
    row = _by(comparison, "demo", "cross_conditional_joint")
    assert row["best_baseline"] == "probe_reference"
    assert row["group_auc_minus_baseline"] == pytest.approx(0.901 - 0.846)
    assert row["ari_minus_baseline"] == pytest.approx(0.0)
    assert row["control"] == "cross_conditional_joint_untrained"
    assert row["group_auc_minus_control"] == pytest.approx(0.901 - 0.608)
    assert row["ari_minus_control"] == pytest.approx(0.75 + 0.0179)
    row = _by(comparison, "check", "cross_conditional_joint")
    assert row["best_baseline"] == "crossnobis_reference"
    assert row["group_auc_minus_baseline"] == pytest.approx(0.539 - 0.741)
    assert row["group_auc_minus_control"] == pytest.approx(0.539 - 0.460)
    # a control is compared with the baseline but has no control of its own; the baseline with neither
    control = _by(comparison, "demo", "cross_conditional_joint_untrained")
    assert control["group_auc_minus_baseline"] == pytest.approx(0.608 - 0.846)
    assert pd.isna(control["control"]) and pd.isna(control["group_auc_minus_control"])
    baseline = _by(comparison, "demo", "fd_reference")
    assert pd.isna(baseline["group_auc_minus_baseline"]) and pd.isna(baseline["control"])


def test_best_baseline_is_only_chosen_among_baselines():
    table = _table(
        _row("fd_reference", 0.70, 0.1),
        _row("kid_reference", 0.80, 0.2),
        _row("probe_reference", 0.80, 0.3),  # a tie: the first listed wins
        _row("kid_joint", 0.95, 0.9, r=0.9),  # higher, but not a baseline
    )
    assert compare_runs.best_baseline(table) == "kid_reference"
    assert compare_runs.best_baseline(table[table["role"] != "baseline"]) is None
    # without a baseline the differences are empty, not an error
    row = compare_runs.with_differences(table[table["role"] != "baseline"]).iloc[0]
    assert pd.isna(row["best_baseline"]) and pd.isna(row["group_auc_minus_baseline"])


def test_measures_missing_from_a_run_get_empty_cells():
    comparison = compare_runs.compare_runs({"demo": DEMO, "check": CHECK})
    assert len(comparison) == 2 * 6  # every measure of either run, for both runs
    missing = _by(comparison, "check", "kid_joint")
    assert missing["role"] == "gan" and missing["space"] == "joint"  # from the run that has it
    assert missing[["ari", "group_auc", "group_auc_minus_baseline", "group_auc_minus_control"]].isna().all()
    assert missing["best_baseline"] == "crossnobis_reference" and missing["control"] == "kid_joint_untrained"
    # the control is declared but neither run has it
    assert pd.isna(_by(comparison, "demo", "kid_joint")["group_auc_minus_control"])
    assert _by(comparison, "demo", "crossnobis_reference")[["group_auc", "ari"]].isna().all()


def test_selected_measures_keep_their_order_and_the_full_tables_baseline():
    comparison = compare_runs.compare_runs({"demo": DEMO, "check": CHECK}, ["cross_conditional_joint", "kid_joint"])
    assert list(comparison["measure"]) == ["cross_conditional_joint", "kid_joint"] * 2
    row = _by(comparison, "demo", "cross_conditional_joint")
    assert row["best_baseline"] == "probe_reference" and row["group_auc_minus_control"] == pytest.approx(0.901 - 0.608)
    with pytest.raises(UserError, match="--measures: kid_jiont in none of the runs"):
        compare_runs.compare_runs({"demo": DEMO}, ["kid_jiont"])


def test_markdown_groups_roles_and_formats_cells():
    text = compare_runs.markdown_table(compare_runs.compare_runs({"demo": DEMO, "check": CHECK}))
    lines = text.splitlines()
    assert lines[0] == "| measure | demo | check | mean over runs |" and lines[1] == "|---|---|---|---|"
    groups = [line for line in lines if line.startswith("| **")]
    assert groups == ["| **GAN critic** | | | |", "| **untrained control** | | | |", "| **non-GAN baseline** | | | |"]
    # pooled: mean AUC (0.901 + 0.539) / 2, mean gain over each run's best baseline ((0.901 - 0.846) + (0.539 - 0.741)) / 2
    assert "| cross-conditional score, joint critic | 0.901 [0.884, 0.921], ARI 0.75, r 0.96 | 0.539, ARI −0.05, r 0.93 | 0.720 (−0.073) |" in lines
    assert "| KID, joint critic | 0.824, ARI 0.38, r 0.99 |  | 0.824 (−0.022) [1 of 2 runs] |" in lines  # missing from the check run
    assert "| cross-conditional score, untrained joint critic | 0.608 [0.528, 0.705], ARI −0.02, r 0.25 | 0.460, ARI 0.06, r 0.08 | 0.534 (−0.259) |" in lines
    assert "| crossnobis distance, reference features |  | 0.741, ARI 0.29 | 0.741 [1 of 2 runs] |" in lines  # a baseline has no seeds, no gain
    order = [lines.index(line) for line in groups]
    assert order == sorted(order) and lines.index("| KID, joint critic | 0.824, ARI 0.38, r 0.99 |  | 0.824 (−0.022) [1 of 2 runs] |") < order[1]
    assert "Best baseline: demo: linear-probe distance, reference features; check: crossnobis distance, reference features." in text


def test_one_run_has_no_pooled_column():
    lines = compare_runs.markdown_table(compare_runs.compare_runs({"demo": DEMO})).splitlines()
    assert lines[0] == "| measure | demo |" and not any("mean over runs" in line for line in lines)


def test_number_format_has_no_negative_zero():
    assert compare_runs._number(-0.001, 2) == "0.00"
    assert compare_runs._number(-0.0179, 2) == "−0.02"
    assert compare_runs._number(0.9012, 3) == "0.901"


def _results(tmp_path, name: str, table: pd.DataFrame):
    folder = tmp_path / name
    gio.write_tsv(folder / "stats" / "group_recovery.tsv", table)
    return folder


def test_cli_writes_the_long_table_and_the_markdown(tmp_path):
    demo, check = _results(tmp_path, "demo", DEMO), _results(tmp_path, "check", CHECK)
    out, markdown = tmp_path / "out" / "compare.tsv", tmp_path / "out" / "compare.md"
    argv = ["compare-runs", "--run", f"demo={demo}", "--run", f"check={check}", "--out", str(out), "--markdown", str(markdown)]
    assert cli.main(argv) == 0
    written = gio.read_tsv(out)
    assert list(written.columns) == compare_runs.COLUMNS and len(written) == 12
    assert written.loc[(written["run"] == "check") & (written["measure"] == "kid_joint"), "group_auc"].isna().all()
    assert markdown.read_text(encoding="utf-8").startswith("| measure | demo | check |")
    assert sorted(p.name for p in out.parent.iterdir()) == ["compare.md", "compare.tsv"]  # no temporary files left
    assert "compare-runs" in cli.TOOLS and "compare-runs" not in cli.STAGES


@pytest.mark.parametrize(
    ("runs", "message"),
    [
        (["demo"], "--run 'demo': expected NAME=RESULTS_DIR"),
        (["=somewhere"], "expected NAME=RESULTS_DIR"),
        (["demo={demo}", "demo={check}"], "--run: name(s) used more than once: demo"),
        (["demo={demo}", "other={tmp}/nowhere"], "nowhere/stats/group_recovery.tsv not found (the stats stage writes it"),
        (["demo={demo}", "broken={broken}"], "broken/stats/group_recovery.tsv: missing column(s) seed_r_mean"),
    ],
)
def test_cli_errors_name_the_argument_or_file_and_write_nothing(tmp_path, capsys, runs, message):
    folders = {
        "demo": _results(tmp_path, "demo", DEMO),
        "check": _results(tmp_path, "check", CHECK),
        "broken": _results(tmp_path, "broken", CHECK.drop(columns="seed_r_mean")),
        "tmp": tmp_path,
    }
    argv = ["compare-runs", "--out", str(tmp_path / "out" / "compare.tsv")]
    for run in runs:
        argv += ["--run", run.format(**folders)]
    assert cli.main(argv) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_repeated_measure_in_one_file_is_a_user_error(tmp_path):
    folder = _results(tmp_path, "twice", pd.concat([DEMO, DEMO.iloc[[2]]]))
    with pytest.raises(UserError, match="twice/stats/group_recovery.tsv: measure.s. listed more than once: cross_conditional_joint"):
        compare_runs.read_run("twice", folder)


def test_tool_does_not_import_tensorflow():
    code = "import sys, ganstyle.tools.compare_runs; sys.exit('tensorflow' in sys.modules)"
    root = str(Path(compare_runs.__file__).parents[2])  # this checkout's package, not an installed one
    assert subprocess.run([sys.executable, "-c", code], check=False, env={**os.environ, "PYTHONPATH": root}).returncode == 0
