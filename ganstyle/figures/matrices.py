"""Matrix and tree figures: the clustered heatmap of every distance measure (``heatmaps``), the
directed critic AUC matrix (``critic-auc``) and the dendrogram of every clustering (``dendrograms``)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from ganstyle.errors import UserError
from ganstyle.figures import style
from ganstyle.figures.family import Family, Option, Output
from ganstyle.figures.shared import Display, display_of_missing, distance_measures, read_culture_order, read_table, with_display, write_figure
from ganstyle.io.files import CLUSTERING, SIMILARITY
from ganstyle.metrics.measures import drawn_per_measure, measure_label

log = logging.getLogger(__name__)

# The per-culture critics' asymmetric AUC matrix (its own figure), ordered by the tree of its symmetric form.
CRITIC_AUC_MEASURE, CRITIC_AUC_ORDER = "logit_auc_critic", "separability_critic"

# the options of the matrix families that name the culture order and the trees
DISTANCES = Option("--distances", "culture order", result=SIMILARITY.relative("distances"))
LINKAGE = Option("--linkage", result=CLUSTERING.relative("linkage"))

# --------------------------------------------------------------------------- trees


def tree_from_linkage(rows: pd.DataFrame) -> np.ndarray:
    """scipy linkage matrix from the clustering stage's linkage.tsv rows of one (measure, method)."""
    rows = rows.sort_values("node")
    return rows[["left", "right", "height", "size"]].to_numpy(dtype=np.float64)


def leaf_order(tree: np.ndarray) -> list[int]:
    """Leaf indices left to right as scipy (and seaborn) draw the tree."""
    from scipy.cluster.hierarchy import dendrogram

    return [int(i) for i in dendrogram(tree, no_plot=True)["leaves"]]


def linkage_rows(linkage: pd.DataFrame, measure: str, method: str) -> pd.DataFrame:
    return linkage[(linkage["measure"] == measure) & (linkage["method"] == method)]


def average_tree(linkage: pd.DataFrame, measure: str, similarity: pd.DataFrame, cultures: Sequence[str]) -> np.ndarray:
    """The clustering stage's average-linkage tree of ``measure``; recomputed the same way if it is absent."""
    from ganstyle.stages.clustering import clean_distance, cluster_tree

    rows = linkage_rows(linkage, measure, "average")
    if len(rows) == len(cultures) - 1:
        return tree_from_linkage(rows)
    log.warning("%s: no average-linkage tree in linkage.tsv; computing it from the matrix", measure)
    square = similarity[similarity["measure"] == measure].pivot(index="culture_a", columns="culture_b", values="value")
    return cluster_tree(clean_distance(square.loc[list(cultures), list(cultures)].to_numpy()), "average")


def check_linkage_cultures(rows: pd.DataFrame, cultures: Sequence[str], source: str) -> None:
    """The tree's leaf sets must name the cultures of ``cultures`` by index (same order as distances.npz)."""
    for row in rows.itertuples():
        leaves = sorted(_leaf_indices(rows, int(row.node), len(cultures)))
        expected = ",".join(cultures[i] for i in leaves)
        if expected != row.leaves:
            raise UserError(
                f"{source}: node {row.node} holds '{row.leaves}', but with the culture order of distances.npz it would be '{expected}' (re-run the cluster rule)"
            )


def _leaf_indices(rows: pd.DataFrame, node: int, n: int) -> list[int]:
    if node < n:
        return [node]
    row = rows[rows["node"] == node].iloc[0]
    return _leaf_indices(rows, int(row["left"]), n) + _leaf_indices(rows, int(row["right"]), n)


# --------------------------------------------------------------------------- heatmaps


def matrix_data(similarity: pd.DataFrame, measure: str, cultures: Sequence[str], order: Sequence[int], display: Display) -> pd.DataFrame:
    """Long rows of one measure (value and interval per ordered pair), with each cell's plotted row and column.

    ``order`` lists culture indices top to bottom / left to right.
    """
    rows = similarity[similarity["measure"] == measure]
    if rows.empty:
        raise ValueError(f"no rows of measure '{measure}'")
    position = {cultures[i]: p for p, i in enumerate(order)}
    table = rows[rows["culture_a"].isin(position) & rows["culture_b"].isin(position)][["culture_a", "culture_b", "value", "ci_low", "ci_high"]].copy()
    table.insert(2, "row", table["culture_a"].map(position))
    table.insert(3, "column", table["culture_b"].map(position))
    table = with_display(with_display(table, display, "culture_a", "_a"), display, "culture_b", "_b")
    return table.sort_values(["row", "column"], ignore_index=True)


def _square(table: pd.DataFrame) -> pd.DataFrame:
    """The value matrix in plotted order, labels as index and columns."""
    matrix = table.pivot(index="row", columns="column", values="value").sort_index().sort_index(axis=1)
    labels = table.drop_duplicates("row").set_index("row")["label_a"].sort_index()
    matrix.index = labels.to_numpy()
    matrix.columns = table.drop_duplicates("column").set_index("column")["label_b"].sort_index().to_numpy()
    return matrix


def cell_annotations(values: np.ndarray, decimals: int | None) -> np.ndarray:
    """Text of every cell: ``decimals`` fixed, or (None) two significant digits per cell."""
    if decimals is not None:
        return np.vectorize(lambda v: "" if not np.isfinite(v) else f"{v:.{decimals}f}", otypes=[object])(values)
    return np.vectorize(style.format_significant, otypes=[object])(values)


@contextmanager
def _without_trial_draws():
    """seaborn 0.13's clustermap draws the whole figure after each of its five panels, only to rotate
    tick labels that overlap; ``plot_matrix`` sets every rotation itself and draws once to place the
    colour bar, so those draws were 5 of each heatmap's 8 (measured: the tiny test run's 25 heatmaps took
    10.1 s -> 6.1 s, with byte-identical PNG and PDF files).  Patched for the one call; a seaborn
    without the helper fails here, loudly."""
    from unittest import mock

    with mock.patch("seaborn.matrix._draw_figure", lambda figure: None):
        yield


def plot_matrix(
    table: pd.DataFrame,
    palette: dict[str, str],
    title: str,
    colour_label: str,
    annotate: bool,
    tree: np.ndarray | None = None,
    cmap: str = "rocket_r",
    center: float | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    decimals: int | None = None,
    row_title: str | None = None,
    column_title: str | None = None,
) -> object:
    """Heatmap of a ``matrix_data`` table with group colour bars; with ``tree`` a dendrogram on both sides.

    ``tree`` must be the tree whose ``leaf_order`` gave the table's rows and
    columns (``matrix_data(..., order=leaf_order(tree), ...)``).  The diagonal (a culture with itself) is left blank (grey).  Values are
    printed in the cells when ``annotate``; a common power of ten is moved to
    the colour bar label.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    square = _square(table)
    k = len(square)
    row_groups = list(table.drop_duplicates("row").sort_values("row")["group_a"])
    column_groups = list(table.drop_duplicates("column").sort_values("column")["group_b"])
    row_colours = [palette[g] for g in row_groups]
    column_colours = [palette[g] for g in column_groups]
    off_diagonal = ~np.eye(k, dtype=bool)
    exponent = style.common_exponent(square.to_numpy()[off_diagonal]) if decimals is None else 0
    shown = square / 10.0**exponent
    if exponent:
        colour_label = f"{colour_label} (×10$^{{{exponent}}}$)"
    labels = cell_annotations(shown.to_numpy(), decimals)

    side = float(np.clip(1.5 + (0.3 if annotate else 0.17) * k, style.SINGLE_COLUMN, style.DOUBLE_COLUMN))
    cell_pt = side * 0.72 / k * 72  # approximate cell size in points
    clustered = tree is not None
    if clustered:
        # seaborn reorders the matrix itself: hand it the original order and the tree
        original = np.argsort(leaf_order(tree))  # plotted position of each culture
        shown = shown.iloc[original, original]
        labels = labels[np.ix_(original, original)]
        row_colours = [row_colours[i] for i in original]
        column_colours = [column_colours[i] for i in original]
    with warnings.catch_warnings(), _without_trial_draws():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # seaborn 0.13 calls Colormap.set_bad
        grid = sns.clustermap(
            shown,
            row_linkage=tree,
            col_linkage=tree,
            row_cluster=clustered,
            col_cluster=clustered,
            row_colors=row_colours,
            col_colors=column_colours,
            mask=~off_diagonal,
            cmap=cmap,
            center=center,
            vmin=vmin if vmin is None else vmin / 10.0**exponent,
            vmax=vmax if vmax is None else vmax / 10.0**exponent,
            annot=labels if annotate else False,
            fmt="",
            annot_kws={"fontsize": float(np.clip(cell_pt * 0.3, 4.0, 6.5))},
            figsize=(side, side),
            dendrogram_ratio=0.12 if clustered else 0.01,
            colors_ratio=0.025,
            linewidths=0.0,
            xticklabels=True,
            yticklabels=True,
            cbar_pos=None,
            tree_kws={"linewidths": 0.6, "colors": "0.25"},
        )
    heat = grid.ax_heatmap
    heat.set_xlabel(column_title or "")
    heat.set_ylabel(row_title or "")
    heat.tick_params(axis="both", length=0, pad=1.5, labelsize=float(min(plt.rcParams["ytick.labelsize"], cell_pt * 0.75)))
    plt.setp(heat.get_xticklabels(), rotation=90)
    plt.setp(heat.get_yticklabels(), rotation=0)
    heat.set_facecolor("0.88")  # the masked diagonal: not a value
    if not clustered:
        grid.ax_row_dendrogram.set_visible(False)
        grid.ax_col_dendrogram.set_visible(False)
    for bar in (grid.ax_row_colors, grid.ax_col_colors):
        if bar is not None:
            bar.set_xticks([])
            bar.set_yticks([])
    # colour bar and group legend under the heatmap, where nothing else is drawn
    fig = grid.figure
    fig.canvas.draw()
    box = heat.get_position()
    labels_height = max(t.get_window_extent().height for t in heat.get_xticklabels()) / fig.bbox.height if k else 0.0
    bar_axes = fig.add_axes([box.x0, box.y0 - labels_height - 0.075 - (0.04 if column_title else 0.0), box.width * 0.45, 0.018])
    mappable = heat.collections[0]
    colour_bar = fig.colorbar(mappable, cax=bar_axes, orientation="horizontal")
    colour_bar.set_label(colour_label)
    colour_bar.outline.set_linewidth(0.4)
    groups = list(dict.fromkeys(row_groups))
    fig.legend(
        handles=style.group_legend_handles(palette, groups),
        loc="upper left",
        bbox_to_anchor=(box.x0 + box.width * 0.55, box.y0 - labels_height - 0.045 - (0.04 if column_title else 0.0)),
        ncol=1 if len(groups) <= 4 else 2,
        handletextpad=0.2,
        columnspacing=0.8,
        borderaxespad=0.0,
    )
    grid.figure.suptitle(title, y=1.0 + 0.02)
    return fig


def draw_heatmaps(args, settings: dict, display: Display, registry: pd.DataFrame) -> None:
    cultures = read_culture_order(args.distances)
    display = display_of_missing(display, cultures)
    similarity = read_table(args.similarity, ["culture_a", "culture_b", "measure", "value", "ci_low", "ci_high"], "similarity table")
    linkage = read_table(args.linkage, ["measure", "method", "node", "left", "right", "height", "size", "leaves"], "linkage table")
    annotate = len(cultures) <= settings["annotate_max_cultures"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for measure in filter(drawn_per_measure, distance_measures(args.measures)):
        if not (similarity["measure"] == measure).any():
            log.warning("%s: no rows in %s, skipped", measure, args.similarity)
            continue
        tree = average_tree(linkage, measure, similarity, cultures)
        check_linkage_cultures(linkage_rows(linkage, measure, "average"), cultures, f"{args.linkage} ({measure})")
        table = matrix_data(similarity, measure, cultures, leaf_order(tree), display)
        fig = plot_matrix(table, display.palette, measure_label(measure), measure_label(measure), annotate, tree=tree, vmin=0.0)
        write_figure(fig, out / measure, table, settings)
        log.info("heatmap of %s", measure)


def draw_critic_auc(args, settings: dict, display: Display, registry: pd.DataFrame) -> None:
    cultures = read_culture_order(args.distances)
    display = display_of_missing(display, cultures)
    similarity = read_table(args.similarity, ["culture_a", "culture_b", "measure", "value", "ci_low", "ci_high"], "similarity table")
    linkage = read_table(args.linkage, ["measure", "method", "node", "left", "right", "height", "size", "leaves"], "linkage table")
    if not (similarity["measure"] == CRITIC_AUC_MEASURE).any():
        raise UserError(f"{args.similarity}: no {CRITIC_AUC_MEASURE} rows")
    # order by the tree of the symmetric critic measure, so related critics sit together
    symmetric = (similarity["measure"] == CRITIC_AUC_ORDER).any()
    order = leaf_order(average_tree(linkage, CRITIC_AUC_ORDER, similarity, cultures)) if symmetric else list(range(len(cultures)))
    table = matrix_data(similarity, CRITIC_AUC_MEASURE, cultures, order, display)
    annotate = len(cultures) <= settings["annotate_max_cultures"]
    fig = plot_matrix(
        table, display.palette, "Critic AUC: critic of row culture, held-out images of column culture", "AUC (0.5 = cannot tell apart)", annotate,
        cmap="vlag", center=0.5, vmin=0.0, vmax=1.0, decimals=2, row_title="critic", column_title="held-out images",
    )  # fmt: skip
    write_figure(fig, args.out, table, settings)


HEATMAPS = Family(
    "heatmaps", "clustered heatmap of every distance measure", draw=draw_heatmaps,
    options=(Option("--similarity", result=SIMILARITY.relative("table")), Option("--measures", result=SIMILARITY.relative("measures")), DISTANCES, LINKAGE),
    outputs=(Output("heatmaps", "similarity_heatmap.rst", "Similarity", "Clustered heatmaps", pattern="{measure}.png"),),
)  # fmt: skip

CRITIC_AUC = Family(
    "critic-auc", "the asymmetric critic AUC matrix", draw=draw_critic_auc,
    options=(Option("--similarity", result=SIMILARITY.relative("table")), DISTANCES, LINKAGE),
    outputs=(Output("critic_auc", "similarity_critic_auc.rst", "Similarity", "Critic AUC"),),
)  # fmt: skip


# --------------------------------------------------------------------------- dendrograms


def dendrogram_data(rows: pd.DataFrame, cultures: Sequence[str], display: Display) -> pd.DataFrame:
    """Leaves and merges of one tree with the position each is drawn at.

    ``rows``: the linkage.tsv rows of one (measure, method).  ``position`` is the
    leaf axis coordinate (leaf rank r at 10 r + 5, merges midway between
    their children, as scipy draws them); ``height`` the merge height.
    """
    tree = tree_from_linkage(rows)
    n = len(cultures)
    position = np.zeros(2 * n - 1)
    for rank, leaf in enumerate(leaf_order(tree)):
        position[leaf] = 10.0 * rank + 5.0
    for i, (left, right, *_rest) in enumerate(tree):
        position[n + i] = (position[int(left)] + position[int(right)]) / 2.0
    leaves = pd.DataFrame(
        {"kind": "leaf", "node": np.arange(n), "culture": list(cultures), "height": 0.0, "size": 1, "support": np.nan, "position": position[:n]}
    )
    leaves = with_display(leaves, display, "culture", "")
    merges = rows.sort_values("node")[["node", "left", "right", "height", "size", "support", "leaves"]].assign(kind="merge")
    merges["position"] = position[merges["node"].to_numpy()]
    table = pd.concat([leaves, merges], ignore_index=True)
    columns = ["kind", "node", "culture", "label", "group", "left", "right", "height", "size", "support", "leaves", "position"]
    return table[columns]


def plot_dendrogram(table: pd.DataFrame, title: str, palette: dict[str, str], height_label: str) -> object:
    """Tree with leaves on the right, group marks, and the bootstrap support (%) of every inner merge."""
    import matplotlib.pyplot as plt
    from scipy.cluster.hierarchy import dendrogram

    leaves = table[table["kind"] == "leaf"].sort_values("node")
    merges = table[table["kind"] == "merge"]
    tree = tree_from_linkage(merges.astype({"left": int, "right": int, "size": int}))
    n = len(leaves)
    fig, ax = plt.subplots(figsize=style.figure_size("single", 0.6 + 0.2 * n), layout="constrained")
    drawn = dendrogram(
        tree, orientation="left", labels=list(leaves["label"]), ax=ax, link_color_func=lambda _: "0.25", leaf_font_size=plt.rcParams["ytick.labelsize"]
    )
    ax.yaxis.tick_right()
    ax.tick_params(axis="y", length=0, pad=9)
    ax.spines[["left", "top"]].set_visible(False)
    ax.spines["right"].set_visible(False)
    # dendrogram draws height increasing to the left for orientation 'left'
    ax.set_xlabel(height_label)
    top = float(merges["height"].max()) if len(merges) else 1.0
    # a gutter right of height 0: support labels of merges near 0 stay clear of the group marks
    ax.set_xlim(left=top * 1.04, right=-0.07 * top)
    by_rank = [leaves.iloc[i] for i in drawn["leaves"]]
    for rank, leaf in enumerate(by_rank):
        ax.plot([1.0], [10.0 * rank + 5.0], marker="s", markersize=4, color=palette[leaf["group"]], transform=ax.get_yaxis_transform(), clip_on=False)
    root = merges["node"].max()
    for merge in merges.itertuples():
        if merge.node == root or not np.isfinite(merge.support):
            continue  # the root holds every culture in every replicate: 100 % by construction
        ax.annotate(
            f"{100 * merge.support:.0f}",
            (merge.height, merge.position),
            xytext=(-1.5, 1.5),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=plt.rcParams["font.size"] - 1.5,
            color="0.15",
        )
    from matplotlib.lines import Line2D

    groups = list(dict.fromkeys(leaves["group"]))
    handles = style.group_legend_handles(palette, groups)
    if merges["support"].notna().any():
        handles.append(Line2D([], [], linestyle="none", marker="$87$", markersize=7, color="0.15", label="bootstrap support (%)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(3, len(handles)), handletextpad=0.3, columnspacing=1.0)
    ax.set_title(title)
    return fig


def draw_dendrograms(args, settings: dict, display: Display, registry: pd.DataFrame) -> None:
    cultures = read_culture_order(args.distances)
    display = display_of_missing(display, cultures)
    linkage = read_table(args.linkage, ["measure", "method", "node", "left", "right", "height", "size", "support", "leaves"], "linkage table")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for (measure, method), rows in linkage.groupby(["measure", "method"], sort=False):
        if not drawn_per_measure(measure):
            continue
        check_linkage_cultures(rows, cultures, f"{args.linkage} ({measure}, {method})")
        table = dendrogram_data(rows, cultures, display)
        height = f"Ward merge height (√ of {measure_label(measure)})" if method == "ward" else f"merge height ({measure_label(measure)})"
        fig = plot_dendrogram(table, f"{measure_label(measure)}, {method} linkage", display.palette, height)
        write_figure(fig, out / f"{measure}__{method}", table, settings)


DENDROGRAMS = Family(
    "dendrograms", "dendrogram with bootstrap support of every clustering", draw=draw_dendrograms,
    options=(LINKAGE, DISTANCES),
    outputs=(Output("dendrograms", "clustering_dendrogram.rst", "Clustering", "Dendrograms", pattern="{measure}__{method}.png"),),
)  # fmt: skip
