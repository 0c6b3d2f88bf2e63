"""Figures of the stats stage: Mantel scatter plots (``mantel``), the ARI/NMI and PERMANOVA table
(``summary``), group recovery of every measure (``group-recovery``) and the agreement between GAN
seeds (``seed-stability``)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ganstyle.errors import UserError
from ganstyle.figures import style
from ganstyle.figures.family import Family, Option, Output
from ganstyle.figures.shared import Display, display_of_missing, distance_measures, read_distance_matrices, read_table, with_display, write_figure
from ganstyle.io.files import SIMILARITY, STATS
from ganstyle.metrics.measures import SPACES, drawn_per_measure, measure_label, reference_counterpart

# --------------------------------------------------------------------------- Mantel


def mantel_pairs(gan_measures: Sequence[str], matrices: dict[str, np.ndarray], baseline: str, others: Sequence[str]) -> list[tuple[str, str]]:
    """(GAN measure, comparison matrix) pairs to plot: each measure against its reference-space
    counterpart (``fd_critic`` -> ``fd_reference``) or ``baseline``, then against every matrix in ``others``."""
    pairs = []
    for measure in gan_measures:
        counterpart = reference_counterpart(measure)
        chosen = counterpart if counterpart != measure and counterpart in matrices else baseline
        if chosen in matrices and chosen != measure:
            pairs.append((measure, chosen))
        pairs += [(measure, other) for other in others if other in matrices]
    return pairs


def _mantel_row(mantel: pd.DataFrame, a: str, b: str) -> pd.Series | None:
    hit = mantel[((mantel["matrix_a"] == a) & (mantel["matrix_b"] == b)) | ((mantel["matrix_a"] == b) & (mantel["matrix_b"] == a))]
    return hit.iloc[0] if len(hit) else None


def mantel_data(
    pairs: Sequence[tuple[str, str]], matrices: dict[str, np.ndarray], mantel: pd.DataFrame, cultures: Sequence[str], display: Display
) -> pd.DataFrame:
    """Every culture pair's two distances for each plotted comparison, with the test's r and p.

    Pairs with an unknown distance (e.g. a culture without coordinates) are left out, as in the test.
    """
    rows = []
    upper = np.triu_indices(len(cultures), 1)
    for panel, (measure, other) in enumerate(pairs):
        test = _mantel_row(mantel, measure, other)
        x, y = matrices[other][upper], matrices[measure][upper]
        for i, j, xx, yy in zip(*upper, x, y):
            if not (np.isfinite(xx) and np.isfinite(yy)):
                continue
            rows.append({
                "panel": panel, "measure": measure, "comparison": other, "culture_a": cultures[i], "culture_b": cultures[j],
                "comparison_value": xx, "measure_value": yy,
                "method": test["method"] if test is not None else "", "r": test["r"] if test is not None else np.nan,
                "p_value": test["p_value"] if test is not None else np.nan, "permutations": test["permutations"] if test is not None else np.nan,
            })  # fmt: skip
    table = pd.DataFrame(
        rows,
        columns=["panel", "measure", "comparison", "culture_a", "culture_b", "comparison_value", "measure_value", "method", "r", "p_value", "permutations"],
    )
    table = with_display(with_display(table, display, "culture_a", "_a"), display, "culture_b", "_b")
    return table


def plot_mantel(table: pd.DataFrame, palette: dict[str, str]) -> object:
    """One scatter per (GAN measure, comparison): culture pairs, within-group pairs in their group's colour."""
    import matplotlib.pyplot as plt

    measures = list(dict.fromkeys(table["measure"]))
    per_measure = table.groupby("measure", sort=False)["comparison"].unique()
    columns = max(len(v) for v in per_measure)
    fig, axes = plt.subplots(
        len(measures),
        columns,
        figsize=style.figure_size("double" if columns > 1 else "single", 0.5 + 1.75 * len(measures)),
        squeeze=False,
        layout="constrained",
    )
    for r, measure in enumerate(measures):
        for c in range(columns):
            ax = axes[r, c]
            if c >= len(per_measure[measure]):
                ax.set_visible(False)
                continue
            other = per_measure[measure][c]
            rows = table[(table["measure"] == measure) & (table["comparison"] == other)]
            within = rows["group_a"] == rows["group_b"]
            # clip_on=False: points at 0 sit on the axis of a symlog plot, whole
            ax.scatter(
                rows.loc[~within, "comparison_value"],
                rows.loc[~within, "measure_value"],
                s=7,
                color="0.7",
                edgecolors="none",
                label="between groups",
                zorder=2,
                clip_on=False,
            )
            ax.scatter(
                rows.loc[within, "comparison_value"],
                rows.loc[within, "measure_value"],
                s=9,
                c=[palette[g] for g in rows.loc[within, "group_a"]],
                edgecolors="none",
                zorder=3,
                clip_on=False,
            )
            first = rows.iloc[0] if len(rows) else None
            if first is not None and np.isfinite(first["r"]):
                name = f"Mantel r ({first['method'].capitalize()})" if first["method"] else "Mantel r"
                text = f"{name} = {first['r']:.2f}, p = {style.format_p(first['p_value'])} ({int(first['permutations'])} permutations)"
            else:
                text = "Mantel test not run (see stats log)"
            ax.set_title(text, loc="left", fontsize=plt.rcParams["font.size"] - 0.5, pad=3)
            for axis, column in (("x", "comparison_value"), ("y", "measure_value")):
                # distances spanning orders of magnitude: log axes show the near pairs too
                scale, options = style.axis_scale(rows[column].to_numpy(dtype=np.float64))
                (ax.set_xscale if axis == "x" else ax.set_yscale)(scale, **options)
                if scale == "symlog":  # non-negative values: no negative decades in the margin
                    (ax.set_xlim if axis == "x" else ax.set_ylim)(0.0, None)
            ax.set_xlabel(measure_label(other))
            ax.set_ylabel(measure_label(measure))
    from matplotlib.lines import Line2D

    groups = [g for g in dict.fromkeys(table["group_a"]) if g != style.NO_GROUP]
    handles = style.group_legend_handles(palette, groups, marker="o")
    for handle in handles:
        handle.set_label(f"within {handle.get_label()}")
    handles.append(Line2D([], [], linestyle="none", marker="o", markersize=5, markerfacecolor="0.7", markeredgecolor="none", label="between groups"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(5, len(handles)), handletextpad=0.2, columnspacing=1.0)
    return fig


def draw_mantel(args, settings: dict, display: Display, registry: pd.DataFrame) -> None:
    from ganstyle.stages.stats import geographic_matrix, read_external_matrix

    cultures, matrices = read_distance_matrices(args.distances)
    display = display_of_missing(display, cultures)
    mantel = read_table(args.mantel, ["matrix_a", "matrix_b", "method", "r", "p_value", "permutations"], "Mantel table")
    measures = read_table(args.measures, ["measure", "distance", "per_seed"], "measure list")
    gan = [
        m
        for m in filter(drawn_per_measure, distance_measures(args.measures))
        if m in matrices and (_true(measures.set_index("measure").loc[m, "per_seed"]) or m.startswith("transfer_"))
    ]
    known = [c for c in cultures if c in registry.index]
    others = []
    if len(known) == len(cultures):
        geo = geographic_matrix(registry, cultures)
        if geo is not None:
            matrices["geographic_km"] = geo
            others.append("geographic_km")
    for entry in args.external:
        name, _, path = entry.partition("=")
        matrices[name] = read_external_matrix(path, cultures, f"stats.external_matrices '{name}'")
        others.append(name)
    pairs = mantel_pairs(gan, matrices, settings["baseline_measure"], others)
    if not pairs:
        raise UserError(f"{args.measures}: no GAN distance measure with a comparison matrix to plot")
    table = mantel_data(pairs, matrices, mantel, cultures, display)
    write_figure(plot_mantel(table, display.palette), args.out, table, settings)


def _true(value) -> bool:
    return str(value).strip().lower() in ("true", "1")


MANTEL = Family(
    "mantel", "Mantel scatter plots: GAN distances against baseline, geography, user matrices", draw=draw_mantel,
    options=(
        Option("--distances", result=SIMILARITY.relative("distances")), Option("--measures", result=SIMILARITY.relative("measures")), Option("--mantel", result=STATS.relative("mantel")),
        Option("--external", "name=path of user matrices (config key stats.external_matrices)", nargs="*", default=()),
    ),
    outputs=(Output("mantel", "stats_mantel_figure.rst", "Statistical tests", "Figures"),),
)  # fmt: skip


# --------------------------------------------------------------------------- summary table


SUMMARY_COLUMNS = [
    "table",
    "measure",
    "method",
    "k",
    "ari",
    "nmi",
    "ari_p_value",
    "level",
    "space",
    "factor",
    "permuted",
    "n_objects",
    "n_groups",
    "pseudo_f",
    "permanova_p_value",
    "permutations",
]


def summary_data(ari: pd.DataFrame, permanova: pd.DataFrame) -> pd.DataFrame:
    """Rows of the summary table: agreement with the groups per (measure, linkage) at k = number of
    groups with the culture-level PERMANOVA of that measure; then the image-level PERMANOVA tests."""
    agreement = ari[ari["k_rule"] == "groups"]
    by_space = permanova[permanova["level"] == "culture"].set_index("space")
    rows = []
    for row in agreement.itertuples():
        test = by_space.loc[row.measure] if row.measure in by_space.index else None
        rows.append({
            "table": "agreement", "measure": row.measure, "method": row.method, "k": row.k, "ari": row.ari, "nmi": row.nmi, "ari_p_value": row.p_value,
            "level": "culture", "space": row.measure, "factor": "group", "permuted": "cultures",
            "n_objects": test["n_objects"] if test is not None else np.nan, "n_groups": row.n_groups,
            "pseudo_f": test["statistic"] if test is not None else np.nan, "permanova_p_value": test["p_value"] if test is not None else np.nan,
            "permutations": row.permutations,
        })  # fmt: skip
    for row in permanova[permanova["level"] == "image"].itertuples():
        rows.append({
            "table": "permanova", "level": "image", "space": row.space, "factor": row.factor, "permuted": row.permuted,
            "n_objects": row.n_objects, "n_groups": row.n_groups, "pseudo_f": row.statistic, "permanova_p_value": row.p_value, "permutations": row.permutations,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _number(value, decimals: int = 2) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{decimals}f}"


def _space_label(space: str) -> str:
    """Label of an image-level space of image_features.npz (``joint_seed0`` -> 'joint critic, seed 0')."""
    match = re.fullmatch(r"(\w+?)_seed(\d+)", space)
    if match and match[1] in SPACES:
        return f"{SPACES[match[1]].label}, seed {match[2]}"
    return SPACES[space].label if space in SPACES else measure_label(space)


def plot_summary_table(table: pd.DataFrame) -> object:
    """Two tables: (a) agreement of each clustering with the groups and PERMANOVA on the measure;
    (b) PERMANOVA on image-level features by culture and by group."""
    import matplotlib.pyplot as plt

    agreement = table[table["table"] == "agreement"]
    images = table[table["table"] == "permanova"]
    cells_a = [
        [
            measure_label(r.measure),
            r.method,
            f"{int(r.k)}",
            _number(r.ari),
            _number(r.nmi),
            style.format_p(r.ari_p_value),
            _number(r.pseudo_f, 1),
            style.format_p(r.permanova_p_value),
        ]
        for r in agreement.itertuples()
    ]
    cells_b = [
        [
            _space_label(r.space),
            r.factor,
            f"{r.permuted}",
            f"{int(r.n_objects)}",
            f"{int(r.n_groups)}",
            _number(r.pseudo_f, 1),
            style.format_p(r.permanova_p_value),
        ]
        for r in images.itertuples()
    ]
    heights = [0.25 + 0.17 * (len(cells_a) + 1), 0.25 + 0.17 * (len(cells_b) + 1)]
    fig, axes = plt.subplots(2, 1, figsize=style.figure_size("double", sum(heights) + 0.2), height_ratios=heights, layout="constrained")
    heads_a = ["measure", "linkage", "k", "ARI", "NMI", "p (ARI)", "pseudo-F", "p (F)"]
    heads_b = ["feature space", "factor", "permuted", "n", "groups", "pseudo-F", "p"]
    for ax, cells, heads, widths, caption in (
        (
            axes[0],
            cells_a,
            heads_a,
            [0.38, 0.09, 0.05, 0.08, 0.08, 0.11, 0.10, 0.11],
            "a  clusters vs known groups (k = number of groups); PERMANOVA by group on the culture distances",
        ),
        (axes[1], cells_b, heads_b, [0.34, 0.11, 0.11, 0.08, 0.08, 0.14, 0.14], "b  PERMANOVA on image-level features"),
    ):
        ax.axis("off")
        ax.set_title(caption, loc="left", fontsize=plt.rcParams["font.size"])
        if not cells:
            ax.text(0.0, 0.5, "no tests (fewer than 2 groups, or no permutations)", transform=ax.transAxes)
            continue
        shown = ax.table(cellText=cells, colLabels=heads, colWidths=widths, loc="upper left", cellLoc="right", colLoc="right", edges="horizontal")
        shown.auto_set_font_size(False)
        shown.set_fontsize(plt.rcParams["font.size"] - 0.5)
        for (row, column), cell in shown.get_celld().items():
            cell.set_linewidth(0.8 if row == 0 else 0.3)
            cell.set_edgecolor("black" if row == 0 else "0.75")
            cell.set_height(1.0 / (len(cells) + 1))
            if column == 0:
                cell.set_text_props(ha="left")
                cell._loc = "left"
            if row == 0:
                cell.set_text_props(fontweight="bold")
    return fig


def draw_summary(args, settings: dict, display: Display, registry: pd.DataFrame) -> None:
    ari = read_table(args.ari_nmi, ["measure", "method", "k_rule", "k", "n_groups", "ari", "nmi", "p_value", "permutations"], "ARI/NMI table")
    permanova = read_table(
        args.permanova, ["level", "space", "factor", "permuted", "n_objects", "n_groups", "statistic", "p_value", "permutations"], "PERMANOVA table"
    )
    table = summary_data(ari, permanova)
    write_figure(plot_summary_table(table), args.out, table, settings)


SUMMARY = Family(
    "summary", "table of ARI/NMI per measure and PERMANOVA", draw=draw_summary,
    options=(Option("--ari-nmi", result=STATS.relative("ari_nmi")), Option("--permanova", result=STATS.relative("permanova"))),
    outputs=(Output("summary", "stats_summary_figure.rst", "Statistical tests", "Figures"),),
)  # fmt: skip


# --------------------------------------------------------------------------- group recovery and seed stability


ROLE_COLOURS = {"gan": "#0072B2", "control": "#9E9E9E", "baseline": "#D55E00", "transfer": "#009E73"}
ROLE_NAMES = {"gan": "GAN critic", "control": "untrained control", "baseline": "non-GAN baseline", "transfer": "transfer"}


def recovery_data(recovery: pd.DataFrame) -> pd.DataFrame:
    """Rows of the group-recovery figure: the primary measure first, then every other measure with its
    label, by space in the declared order."""
    order = {space: i for i, space in enumerate(SPACES)}
    table = recovery.copy()
    table["primary"] = table["primary"].astype(str).str.lower() == "true"
    table["label"] = [measure_label(m) + (" (primary)" if p else "") for m, p in zip(table["measure"], table["primary"])]
    table["space_order"] = [-1 if p else order.get(s, len(order)) for s, p in zip(table["space"].fillna(""), table["primary"])]
    return table.sort_values(["space_order", "measure"], kind="stable").drop(columns="space_order").reset_index(drop=True)


def plot_group_recovery(table: pd.DataFrame) -> object:
    """Two panels sharing the measures: within-vs-across AUC with bootstrap interval and seed range,
    and ARI at k = number of groups; colour = GAN critic, untrained control or baseline."""
    import matplotlib.pyplot as plt

    n = len(table)
    fig, (ax_auc, ax_ari) = plt.subplots(
        1, 2, sharey=True, width_ratios=[3, 1.3], layout="constrained", figsize=style.figure_size("double", min(style.MAX_HEIGHT, 0.9 + 0.13 * n))
    )
    y = np.arange(n)[::-1]
    colours = [ROLE_COLOURS.get(r, "0.3") for r in table["role"]]
    low, high = table["group_auc_ci_low"].to_numpy(float), table["group_auc_ci_high"].to_numpy(float)
    auc = table["group_auc"].to_numpy(float)
    has_ci = np.isfinite(low) & np.isfinite(high)
    ax_auc.hlines(y[has_ci], low[has_ci], high[has_ci], colors=np.asarray(colours, dtype=object)[has_ci], linewidth=1.2)
    seed_low, seed_high = table["group_auc_seed_min"].to_numpy(float), table["group_auc_seed_max"].to_numpy(float)
    seeds = np.isfinite(seed_low) & (table["n_seeds"].to_numpy(float) > 1)
    ax_auc.scatter(seed_low[seeds], y[seeds], marker="|", s=25, color="0.2", linewidths=0.8, zorder=3)
    ax_auc.scatter(seed_high[seeds], y[seeds], marker="|", s=25, color="0.2", linewidths=0.8, zorder=3)
    primary = table["primary"].to_numpy(bool)
    ax_auc.scatter(auc[~primary], y[~primary], c=[c for c, p in zip(colours, primary) if not p], s=14, zorder=4)
    # the primary measure stands apart: a larger star, and its row shaded across both panels
    ax_auc.scatter(auc[primary], y[primary], c=[c for c, p in zip(colours, primary) if p], s=70, marker="*", edgecolors="black", linewidths=0.5, zorder=5)
    for ax in (ax_auc, ax_ari):
        for yi in y[primary]:
            ax.axhspan(yi - 0.5, yi + 0.5, color="0.92", zorder=0)
    ax_auc.axvline(0.5, color="0.6", linestyle=":", linewidth=0.8)
    best_baseline = table.loc[table["role"] == "baseline", "group_auc"].max()
    if np.isfinite(best_baseline):
        ax_auc.axvline(best_baseline, color=ROLE_COLOURS["baseline"], linestyle="--", linewidth=0.7)
    ax_auc.set_yticks(y, table["label"])
    for tick, is_primary in zip(ax_auc.get_yticklabels(), primary):
        tick.set_fontweight("bold" if is_primary else "normal")
    ax_auc.set_xlabel("P(within-group distance < across-group distance)")
    ax_auc.set_xlim(min(0.3, np.nanmin(np.r_[auc, low]) - 0.02), 1.0)
    ax_ari.barh(y, table["ari"].fillna(0.0), color=colours, height=0.6)
    ax_ari.axvline(0.0, color="0.4", linewidth=0.6)
    ax_ari.set_xlabel("ARI at k = groups")
    ax_ari.set_xlim(min(-0.2, float(np.nanmin(table["ari"].to_numpy(float), initial=0.0))), 1.05)
    for yi, (ari, p) in zip(y, zip(table["ari"], table["ari_p_value"])):
        if np.isfinite(ari):
            ax_ari.text(max(ari, 0.0) + 0.03, yi, f"p = {style.format_p(p)}", va="center", fontsize="x-small")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", linestyle="-", color=ROLE_COLOURS[r], label=ROLE_NAMES[r]) for r in dict.fromkeys(table["role"]) if r in ROLE_COLOURS]
    handles.append(Line2D([], [], marker="|", linestyle="none", color="0.2", label="range over seeds"))
    if primary.any():
        handles.insert(0, Line2D([], [], marker="*", markersize=9, markeredgecolor="black", linestyle="none", color="0.6", label="primary measure"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles))
    fig.suptitle("Recovery of the known groups: every measure beside its untrained control and the baseline")
    return fig


def draw_group_recovery(args, settings: dict, display: Display, registry: pd.DataFrame) -> None:
    from ganstyle.stages.stats import RECOVERY_COLUMNS

    recovery = read_table(
        args.group_recovery,
        RECOVERY_COLUMNS,
        "group-recovery table",
    )
    if recovery.empty:
        raise UserError(f"{args.group_recovery}: no rows (the registry needs a 'group' column with at least 2 groups)")
    table = recovery_data(recovery)
    write_figure(plot_group_recovery(table), args.out, table, settings)


GROUP_RECOVERY = Family(
    "group-recovery", "group recovery (within-vs-across AUC, ARI) of every measure, controls and baseline", draw=draw_group_recovery,
    only_with="known groups",
    options=(Option("--group-recovery", result=STATS.relative("group_recovery")),),
    outputs=(Output("group_recovery", "stats_group_recovery_figure.rst", "Statistical tests", "Figures"),),
)  # fmt: skip


def plot_seed_stability(table: pd.DataFrame) -> object:
    """Mantel r between the distance matrices of every pair of seeds, per measure."""
    import matplotlib.pyplot as plt

    measures = list(dict.fromkeys(table["measure"]))
    fig, ax = plt.subplots(figsize=style.figure_size("double", min(style.MAX_HEIGHT, 0.8 + 0.13 * len(measures))), layout="constrained")
    y = {m: i for i, m in enumerate(measures[::-1])}
    colours = [ROLE_COLOURS.get(r, "0.3") for r in table["role"]]
    ax.scatter(table["r"], [y[m] for m in table["measure"]], c=colours, s=12)
    ax.axvline(0.9, color="0.5", linestyle="--", linewidth=0.7)
    ax.set_yticks(list(y.values()), [measure_label(m) for m in y])
    ax.set_xlabel("Mantel r between seeds (one dot per pair of seeds)")
    from matplotlib.lines import Line2D

    ax.legend(
        handles=[
            Line2D([], [], marker="o", linestyle="none", color=ROLE_COLOURS[r], label=ROLE_NAMES[r]) for r in dict.fromkeys(table["role"]) if r in ROLE_COLOURS
        ],
        loc="lower left",
        fontsize="small",
    )
    ax.set_xlim(min(-0.1, float(table["r"].min()) - 0.05), 1.02)
    fig.suptitle("Stability of every per-seed measure across GAN seeds")
    return fig


def draw_seed_stability(args, settings: dict, display: Display, registry: pd.DataFrame) -> None:
    stability = read_table(args.seed_stability, ["measure", "seed_a", "seed_b", "r"], "seed-stability table")
    roles = read_table(args.measures, ["measure", "role"], "measure list").set_index("measure")["role"]
    if stability.empty:
        raise UserError(f"{args.seed_stability}: no rows (config key gan.seeds needs at least 2 seeds)")
    table = stability.assign(role=stability["measure"].map(roles), label=stability["measure"].map(measure_label))
    write_figure(plot_seed_stability(table), args.out, table, settings)


SEED_STABILITY = Family(
    "seed-stability", "Mantel r between GAN seeds of every per-seed measure", draw=draw_seed_stability, only_with="several GAN seeds",
    options=(Option("--seed-stability", result=STATS.relative("seed_stability")), Option("--measures", result=SIMILARITY.relative("measures"))),
    outputs=(Output("seed_stability", "stats_seed_stability_figure.rst", "Statistical tests", "Figures"),),
)  # fmt: skip
