"""Map figures: the MDS map of every distance measure with bootstrap ellipses (``mds``) and each
culture's nearest neighbours over its noise floor (``neighbours``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ganstyle.figures import style
from ganstyle.figures.family import Family, Option, Output
from ganstyle.figures.shared import Display, display_of_missing, distance_measures, read_culture_order, read_table, with_display, write_figure
from ganstyle.io.files import CLUSTERING, SIMILARITY
from ganstyle.metrics.measures import drawn_per_measure, measure_label

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- MDS


def ellipse_parameters(offsets: np.ndarray, coverage: float) -> tuple[float, float, float]:
    """(width, height, angle in degrees) of the normal-theory ellipse holding ``coverage`` of the offsets.

    ``offsets`` (B, 2) are replicate positions minus the point estimate, so the
    ellipse describes spread around the reported position (bias included).
    """
    from scipy.stats import chi2

    if len(offsets) < 3:
        return np.nan, np.nan, np.nan
    second_moment = offsets.T @ offsets / len(offsets)
    eigenvalues, eigenvectors = np.linalg.eigh(second_moment)
    scale = chi2.ppf(coverage, df=2)
    width, height = 2.0 * np.sqrt(np.maximum(eigenvalues[::-1], 0.0) * scale)
    angle = float(np.degrees(np.arctan2(eigenvectors[1, 1], eigenvectors[0, 1])))
    return float(width), float(height), angle


def mds_data(points: pd.DataFrame, replicates: pd.DataFrame, display: Display, coverage: float) -> pd.DataFrame:
    """One measure's MDS positions (mds.tsv rows) with the bootstrap ellipse of every culture."""
    table = points[["culture", "x", "y", "sd_x", "sd_y", "spread", "stress1"]].reset_index(drop=True).copy()
    shapes, counts = [], []
    for row in table.itertuples():
        cloud = replicates.loc[replicates["culture"] == row.culture, ["x", "y"]].to_numpy(dtype=np.float64)
        shapes.append(ellipse_parameters(cloud - [row.x, row.y], coverage) if len(cloud) else (np.nan,) * 3)
        counts.append(len(cloud))
    table[["ellipse_width", "ellipse_height", "ellipse_angle"]] = np.asarray(shapes, dtype=np.float64).reshape(len(table), 3)
    table["ellipse_coverage"] = coverage
    table["n_boot"] = counts
    table = with_display(table, display, "culture", "")
    return table[
        [
            "culture",
            "label",
            "group",
            "x",
            "y",
            "sd_x",
            "sd_y",
            "spread",
            "ellipse_width",
            "ellipse_height",
            "ellipse_angle",
            "ellipse_coverage",
            "n_boot",
            "stress1",
        ]
    ]


def plot_mds(table: pd.DataFrame, title: str, palette: dict[str, str]) -> object:
    """Cultures as points coloured by group, bootstrap ellipses, labels placed clear of each other."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Ellipse

    many = len(table) > 15  # more cultures than a single column can label legibly
    half = np.nan_to_num(table[["ellipse_width", "ellipse_height"]].max(axis=1).to_numpy() / 2.0)
    low = np.array([(table["x"] - half).min(), (table["y"] - half).min()])
    high = np.array([(table["x"] + half).max(), (table["y"] + half).max()])
    extent = np.maximum(high - low, 0.3 * (high - low).max()) + 1e-12
    margin = np.array([0.14, 0.1]) * extent  # labels need more room sideways
    low, high = low - margin, high + margin
    width = style.DOUBLE_COLUMN if many else style.SINGLE_COLUMN
    # equal axis scales: the height follows the shape of the map (plus title, labels and legend)
    height = float(np.clip((width - 0.6) * (high[1] - low[1]) / (high[0] - low[0]) + 1.1, 2.4, style.MAX_HEIGHT))
    fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
    for row in table.itertuples():
        colour = palette[row.group]
        if np.isfinite(row.ellipse_width):
            ax.add_patch(
                Ellipse((row.x, row.y), row.ellipse_width, row.ellipse_height, angle=row.ellipse_angle, facecolor=colour, edgecolor=colour, alpha=0.18, lw=0.5)
            )
    ax.scatter(table["x"], table["y"], c=[palette[g] for g in table["group"]], s=14, edgecolors="white", linewidths=0.4, zorder=3)
    ax.set_xlim(low[0], high[0])  # the view holds every ellipse, with a margin for labels
    ax.set_ylim(low[1], high[1])
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("MDS dimension 1")
    ax.set_ylabel("MDS dimension 2")
    stress = table["stress1"].iloc[0]
    ax.set_title(title)
    ax.text(0.99, 0.01, f"stress-1 = {stress:.3f}", transform=ax.transAxes, ha="right", va="bottom", fontsize=plt.rcParams["font.size"] - 1, color="0.3")
    label_size = plt.rcParams["font.size"] - (1.5 if len(table) > 25 else 1.0)
    style.place_labels(ax, table["x"].to_numpy(), table["y"].to_numpy(), list(table["label"]), fontsize=label_size)
    groups = list(dict.fromkeys(table["group"]))
    fig.legend(
        handles=style.group_legend_handles(palette, groups, marker="o"),
        loc="outside lower center",
        ncol=min(4, len(groups)),
        handletextpad=0.2,
        columnspacing=1.0,
    )
    return fig


def draw_mds(args, settings: dict, display: Display, registry: pd.DataFrame) -> None:
    points = read_table(args.mds, ["measure", "culture", "x", "y", "sd_x", "sd_y", "spread", "stress1"], "MDS table")
    replicates = read_table(args.mds_bootstrap, ["measure", "replicate", "culture", "x", "y"], "MDS bootstrap table")
    display = display_of_missing(display, list(points["culture"].unique()))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for measure, rows in points.groupby("measure", sort=False):
        if not drawn_per_measure(measure):
            continue
        table = mds_data(rows, replicates[replicates["measure"] == measure], display, settings["ellipse_coverage"])
        write_figure(plot_mds(table, measure_label(measure), display.palette), out / measure, table, settings)


MDS = Family(
    "mds", "MDS map with bootstrap ellipses of every distance measure", draw=draw_mds,
    options=(Option("--mds", result=CLUSTERING.relative("mds")), Option("--mds-bootstrap", result=CLUSTERING.relative("mds_bootstrap"))),
    outputs=(Output("mds", "clustering_mds.rst", "Clustering", "MDS maps", pattern="{measure}.png"),),
)  # fmt: skip


# --------------------------------------------------------------------------- nearest neighbours


def mean_floors(floors: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Split-half floor (value, ci_low, ci_high) of each culture for ``measure``, averaged over GAN seeds.

    Seed-averaged distances are compared with seed-averaged floors, as the
    similarity stage does for its ``_excess`` measures.
    """
    rows = floors[floors["measure"] == measure]
    return rows.groupby("culture", sort=False)[["value", "ci_low", "ci_high"]].mean()


def neighbour_data(similarity: pd.DataFrame, measure: str, cultures: Sequence[str], floors: pd.DataFrame | None, display: Display, n: int) -> pd.DataFrame:
    """Each culture's ``n`` nearest other cultures by ``measure`` with intervals, and its own noise floor."""
    rows = similarity[(similarity["measure"] == measure) & (similarity["culture_a"] != similarity["culture_b"])]
    if rows.empty:
        raise ValueError(f"no rows of measure '{measure}'")
    out = []
    for culture in cultures:
        nearest = rows[rows["culture_a"] == culture].sort_values("value", kind="stable").head(n)  # ties: matrix order
        floor = floors.loc[culture] if floors is not None and culture in floors.index else pd.Series({"value": np.nan, "ci_low": np.nan, "ci_high": np.nan})
        for rank, row in enumerate(nearest.itertuples(), start=1):
            out.append(
                {
                    "culture": culture,
                    "rank": rank,
                    "neighbour": row.culture_b,
                    "value": row.value,
                    "ci_low": row.ci_low,
                    "ci_high": row.ci_high,
                    "floor": floor["value"],
                    "floor_low": floor["ci_low"],
                    "floor_high": floor["ci_high"],
                }
            )
    table = pd.DataFrame(out, columns=["culture", "rank", "neighbour", "value", "ci_low", "ci_high", "floor", "floor_low", "floor_high"])
    table = with_display(with_display(table, display, "culture", ""), display, "neighbour", "_neighbour")
    return table[
        [
            "culture",
            "label",
            "group",
            "rank",
            "neighbour",
            "label_neighbour",
            "group_neighbour",
            "value",
            "ci_low",
            "ci_high",
            "floor",
            "floor_low",
            "floor_high",
        ]
    ]


def plot_neighbours(table: pd.DataFrame, title: str, axis_label: str, palette: dict[str, str]) -> object:
    """Small multiples, one per culture: nearest neighbours with intervals over the culture's noise floor band."""
    import matplotlib.pyplot as plt

    cultures = list(dict.fromkeys(table["culture"]))
    n = int(table["rank"].max())
    columns = 1 if len(cultures) <= 3 else (2 if len(cultures) <= 8 else 3)
    panel_rows = -(-len(cultures) // columns)
    width = "single" if columns == 1 else "double"
    fig, axes = plt.subplots(
        panel_rows, columns, figsize=style.figure_size(width, 0.55 + panel_rows * (0.32 + 0.13 * n)), sharex=True, squeeze=False, layout="constrained"
    )
    high = np.nanmax(table[["value", "ci_high", "floor_high"]].to_numpy(dtype=np.float64))
    low = np.nanmin(table[["value", "ci_low", "floor_low"]].to_numpy(dtype=np.float64))
    for ax, culture in zip(axes.ravel(), cultures):
        rows = table[table["culture"] == culture].sort_values("rank")
        first = rows.iloc[0]
        if np.isfinite(first["floor"]):
            ax.axvspan(first["floor_low"], first["floor_high"], color="0.88", lw=0, zorder=0)
            ax.axvline(first["floor"], color="0.55", lw=0.7, ls="--", zorder=1)
        y = rows["rank"].to_numpy()
        for row, yy in zip(rows.itertuples(), y):
            colour = palette[row.group_neighbour]
            ax.errorbar(
                row.value,
                yy,
                xerr=[[row.value - row.ci_low], [row.ci_high - row.value]] if np.isfinite(row.ci_low) else None,
                fmt="o",
                color=colour,
                ms=3.2,
                elinewidth=0.9,
                capsize=0,
                zorder=3,
            )
        ax.set_yticks(y, list(rows["label_neighbour"]))
        ax.set_ylim(n + 0.6, 0.4)
        ax.tick_params(axis="y", length=0)
        ax.set_title(first["label"], loc="left", fontsize=plt.rcParams["font.size"], pad=2, color="black")
        ax.spines["left"].set_visible(False)
    for ax in axes.ravel()[len(cultures) :]:
        ax.set_visible(False)
    scale, options = style.axis_scale(table[["value", "floor"]].to_numpy(dtype=np.float64).ravel())
    axes[0, 0].set_xscale(scale, **options)
    if scale == "log":
        lowest = np.nanmin(
            np.where(
                table[["value", "ci_low", "floor_low"]].to_numpy(dtype=np.float64) > 0,
                table[["value", "ci_low", "floor_low"]].to_numpy(dtype=np.float64),
                np.nan,
            )
        )
        axes[0, 0].set_xlim(lowest / 1.5, high * 1.5)  # intervals reaching 0 run off the left edge
    elif scale == "symlog":
        axes[0, 0].set_xlim(0.0, high * 1.5)  # symlog only for non-negative values: start at 0
    else:
        span = high - min(low, 0.0)
        axes[0, 0].set_xlim(min(low, 0.0) - 0.02 * span, high + 0.04 * span)
    for ax in axes[-1, :]:
        ax.set_xlabel(axis_label)
    for ax in axes[-2, :] if panel_rows > 1 else []:
        if not ax.get_visible():
            continue
        # a bottom-row panel is missing below this one: give it its own axis labels
        below = axes[-1, list(axes[-2, :]).index(ax)]
        if not below.get_visible():
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel(axis_label)
    from matplotlib.patches import Patch

    handles = style.group_legend_handles(palette, list(dict.fromkeys(table["group_neighbour"])), marker="o")
    if table["floor"].notna().any():
        handles.append(Patch(facecolor="0.88", edgecolor="0.55", linestyle="--", linewidth=0.7, label="split-half noise floor"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(5, len(handles)), handletextpad=0.3, columnspacing=1.0)
    fig.suptitle(title)
    return fig


def draw_neighbours(args, settings: dict, display: Display, registry: pd.DataFrame) -> None:
    similarity = read_table(args.similarity, ["culture_a", "culture_b", "measure", "value", "ci_low", "ci_high"], "similarity table")
    floors = read_table(args.floors, ["culture", "measure", "seed", "value", "ci_low", "ci_high"], "floors table")
    cultures = read_culture_order(args.distances)
    display = display_of_missing(display, cultures)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for measure in filter(drawn_per_measure, distance_measures(args.measures)):
        if not (similarity["measure"] == measure).any():
            continue
        floor = mean_floors(floors, measure) if (floors["measure"] == measure).any() else None
        table = neighbour_data(similarity, measure, cultures, floor, display, settings["neighbours"])
        title = f"Nearest cultures by {measure_label(measure)}"
        write_figure(plot_neighbours(table, title, measure_label(measure), display.palette), out / measure, table, settings)


NEIGHBOURS = Family(
    "neighbours", "forest plot of each culture's nearest neighbours", draw=draw_neighbours,
    options=(
        Option("--similarity", result=SIMILARITY.relative("table")), Option("--floors", result=SIMILARITY.relative("floors")),
        Option("--measures", result=SIMILARITY.relative("measures")), Option("--distances", "culture order", result=SIMILARITY.relative("distances")),
    ),
    outputs=(Output("neighbours", "similarity_neighbours.rst", "Similarity", "Nearest neighbours", pattern="{measure}.png"),),
)  # fmt: skip
