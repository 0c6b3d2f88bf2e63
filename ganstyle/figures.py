"""Stage ``figures``: publication figures, each as PDF + PNG with the data it plots as a TSV beside it.

``python -m ganstyle figures <family> [options]`` draws one family:

=============  =====================================================  ==========================================
family         reads                                                  writes
=============  =====================================================  ==========================================
corpus         results/corpus/*/images.npz                            ``{out}``: example images of every culture
training       one culture's corpus, samples.npz, history.tsv         ``{out-samples}``: real vs generated;
                                                                      ``{out-curves}``: losses, critic outputs
transfer       results/transfer/{a}__{b}/grid.png                     ``{out}``: source x target translation grid
heatmaps       similarity.tsv, measures.tsv, distances.npz,           ``{out}/{measure}``: clustered heatmap of
               clustering/linkage.tsv                                 every distance measure
critic-auc     similarity.tsv, distances.npz, clustering/linkage.tsv  ``{out}``: the asymmetric critic AUC matrix
dendrograms    clustering/linkage.tsv, distances.npz                  ``{out}/{measure}__{method}``: tree, support
mds            clustering/mds.tsv, mds_bootstrap.tsv                  ``{out}/{measure}``: map, bootstrap ellipses
neighbours     similarity.tsv, floors.tsv, measures.tsv               ``{out}/{measure}``: nearest-neighbour forest
mantel         distances.npz, stats/mantel.tsv, measures.tsv          ``{out}``: Mantel scatter plots
summary        stats/ari_nmi.tsv, stats/permanova.tsv                 ``{out}``: ARI/NMI and PERMANOVA table
=============  =====================================================  ==========================================

``{out}`` is a path without suffix: ``{out}.pdf``, ``{out}.png`` (config
``figures.formats``) and ``{out}.tsv`` are written.  Culture names are the
registry's ``label``; group colours come from ``ganstyle.style.group_palette``.

Every family is a pure ``*_data`` function that builds the table to plot (it is
the TSV) and a pure ``plot_*`` function that draws exactly that table.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ganstyle import io, style
from ganstyle.config import add_settings_arguments, section
from ganstyle.errors import UserError

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- names


# The per-culture critics' asymmetric AUC matrix (its own figure), ordered by the tree of its symmetric form.
CRITIC_AUC_MEASURE, CRITIC_AUC_ORDER = "logit_auc_critic", "separability_critic"


def drawn_per_measure(name: str) -> bool:
    """Whether a measure gets its own heatmap, dendrogram, MDS map, neighbour and Mantel panels: every
    measure but the untrained controls, which are reported beside the others in the group-recovery
    table and figure."""
    from ganstyle.similarity import MEASURES, SPACES

    return name not in MEASURES or not MEASURES[name].space or SPACES[MEASURES[name].space].role != "control"


def measure_label(name: str) -> str:
    """Readable name of a measure or comparison matrix (``fd_critic`` -> 'Fréchet distance, critic panel'),
    as the similarity stage declares it."""
    from ganstyle.similarity import MEASURES, transfer_measure

    if name == "geographic_km":
        return "geographic distance (km)"
    if name in MEASURES:
        return MEASURES[name].label
    if name.startswith("transfer_"):
        rest = name[len("transfer_") :]
        both = rest.endswith("_sym")
        return transfer_measure(rest[:-4] if both else rest, both).label
    return name.replace("_", " ")


@dataclass(frozen=True)
class Display:
    """Display name, group and colour of every culture (index ``culture``), and the group palette."""

    info: pd.DataFrame  # columns label, group, colour
    palette: dict[str, str]

    def label(self, culture: str) -> str:
        return str(self.info.loc[culture, "label"])

    def group(self, culture: str) -> str:
        return str(self.info.loc[culture, "group"])

    def colour(self, culture: str) -> str:
        return str(self.info.loc[culture, "colour"])

    def labels(self, cultures: Sequence[str]) -> list[str]:
        return [self.label(c) for c in cultures]


def display_of(registry: pd.DataFrame, cultures: Sequence[str] | None = None) -> Display:
    """Labels and group colours from the registry (colours from all its groups, so every figure agrees).

    Cultures missing from the registry keep their id as label and have no group.
    """
    palette = style.group_palette(registry["group"])
    cultures = list(registry["culture"]) if cultures is None else list(cultures)
    rows = []
    for culture in cultures:
        known = culture in registry.index
        group = style.group_name(registry.loc[culture, "group"]) if known else style.NO_GROUP
        rows.append({"culture": culture, "label": str(registry.loc[culture, "label"]) if known else culture, "group": group})
    info = pd.DataFrame(rows, columns=["culture", "label", "group"]).set_index("culture")
    if (info["group"] == style.NO_GROUP).any():
        palette.setdefault(style.NO_GROUP, style.NO_GROUP_COLOUR)
    info["colour"] = info["group"].map(palette)
    return Display(info, palette)


def _with_display(frame: pd.DataFrame, display: Display, column: str, suffix: str) -> pd.DataFrame:
    """Add label and group columns for the cultures in ``column``."""
    frame[f"label{suffix}"] = [display.label(c) for c in frame[column]]
    frame[f"group{suffix}"] = [display.group(c) for c in frame[column]]
    return frame


# --------------------------------------------------------------------------- images


def pick_evenly(n_total: int, n: int) -> np.ndarray:
    """Up to ``n`` indices spread evenly over ``range(n_total)``: a deterministic, unbiased choice."""
    if n_total <= 0 or n <= 0:
        return np.zeros(0, dtype=int)
    return np.unique(np.linspace(0, n_total - 1, min(n, n_total)).round().astype(int))


def tile(images: np.ndarray, columns: int, gap: int = 2, fill: int = 255) -> np.ndarray:
    """NHWC uint8 images row by row into one (H', W', C) image, ``gap`` pixels of ``fill`` between them."""
    n, h, w, c = images.shape
    rows = max(1, -(-n // columns))
    canvas = np.full((rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap, c), fill, np.uint8)
    for i, image in enumerate(images):
        r, k = divmod(i, columns)
        canvas[r * (h + gap) : r * (h + gap) + h, k * (w + gap) : k * (w + gap) + w] = image
    return canvas


GAP_GREY = 200  # between tiled images: visible against white backgrounds and dark images alike


def _show_image(ax, pixels: np.ndarray, frame: bool = False) -> None:
    """uint8 (H, W, C) without axes; grey images on a fixed 0-255 scale (no contrast stretch).

    ``frame``: a thin grey border, so that tiles with white backgrounds keep their edges.
    """
    if pixels.shape[-1] == 1:
        ax.imshow(pixels[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(pixels, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(frame)
        spine.set_color(str(GAP_GREY / 255))
        spine.set_linewidth(0.8)


# --------------------------------------------------------------------------- corpus


def corpus_examples_data(splits: dict[str, np.ndarray], ids: dict[str, np.ndarray], display: Display, n: int) -> pd.DataFrame:
    """Which training images each culture shows (evenly spread), with its train / held-out counts.

    ``splits[c]`` and ``ids[c]`` are the per-image split labels and ids of culture c's corpus.
    """
    rows = []
    for culture, split in splits.items():
        train = np.flatnonzero(split == "train")
        n_train, n_heldout = len(train), int((split == "heldout").sum())
        for column, index in enumerate(train[pick_evenly(len(train), n)]):
            rows.append(
                {
                    "culture": culture,
                    "column": column,
                    "index": int(index),
                    "id": str(ids[culture][index]),
                    "split": "train",
                    "n_train": n_train,
                    "n_heldout": n_heldout,
                }
            )
    table = pd.DataFrame(rows, columns=["culture", "column", "index", "id", "split", "n_train", "n_heldout"])
    return _with_display(table, display, "culture", "")


def plot_corpus_examples(table: pd.DataFrame, shown: dict[str, np.ndarray], palette: dict[str, str]) -> object:
    """One row per culture: its label, train / held-out counts, a group mark and example images.

    ``shown[c]`` holds culture c's images of ``table`` in column order.
    """
    import matplotlib.pyplot as plt

    cultures = list(dict.fromkeys(table["culture"]))
    columns = int(table["column"].max()) + 1 if len(table) else 1
    image_width = 2.45 / columns  # inches per image after the label margin of a single column
    fig_width, fig_height = style.figure_size("single", len(cultures) * image_width * 1.08 + 0.45)
    fig, axes = plt.subplots(len(cultures), 1, figsize=(fig_width, fig_height), squeeze=False)
    fig.subplots_adjust(left=0.3, right=0.99, top=0.99, bottom=0.35 / fig_height, hspace=0.08)
    for ax, culture in zip(axes[:, 0], cultures):
        rows = table[table["culture"] == culture].sort_values("column")
        _show_image(ax, tile(shown[culture], columns, gap=4, fill=GAP_GREY), frame=True)
        first = rows.iloc[0]
        ax.text(-0.045, 0.5, f"{first['label']}\n{first['n_train']} / {first['n_heldout']}", transform=ax.transAxes, ha="right", va="center", linespacing=1.2)
        ax.add_patch(plt.Rectangle((-0.03, 0.05), 0.012, 0.9, transform=ax.transAxes, color=palette[first["group"]], clip_on=False))
    axes[0, 0].text(
        -0.045, 1.04, "images: train / held-out", transform=axes[0, 0].transAxes, ha="right", va="bottom", fontsize=plt.rcParams["font.size"] - 1, color="0.3"
    )
    groups = list(dict.fromkeys(table["group"]))
    fig.legend(
        handles=style.group_legend_handles(palette, groups),
        loc="lower center",
        ncol=min(4, len(groups)),
        bbox_to_anchor=(0.5, 0.0),
        handletextpad=0.2,
        columnspacing=1.0,
    )
    return fig


# --------------------------------------------------------------------------- training


HISTORY_COLUMNS = ["step", "d_loss", "g_loss", "d_real", "d_fake"]


def sample_grid_data(real_ids: np.ndarray, n_generated: int, grid: int, seed: int) -> pd.DataFrame:
    """The real (training, evenly spread) and generated (the first, from fixed noise) images shown."""
    rows = []
    for panel, indices, ids in (
        ("real", pick_evenly(len(real_ids), grid * grid), real_ids),
        ("generated", np.arange(min(grid * grid, n_generated)), None),
    ):
        for position, index in enumerate(indices):
            row, column = divmod(position, grid)
            rows.append(
                {
                    "panel": panel,
                    "row": row,
                    "column": column,
                    "index": int(index),
                    "id": str(ids[index]) if ids is not None else "",
                    "seed": seed if panel == "generated" else -1,
                }
            )
    return pd.DataFrame(rows, columns=["panel", "row", "column", "index", "id", "seed"])


def plot_sample_grids(table: pd.DataFrame, real: np.ndarray, generated: np.ndarray, title: str) -> object:
    """Real training images (left) and generated images (right), the same number of each."""
    import matplotlib.pyplot as plt

    grid = int(table["column"].max()) + 1
    fig, axes = plt.subplots(1, 2, figsize=style.figure_size("single", 1.95), layout="constrained")
    seed = int(table.loc[table["panel"] == "generated", "seed"].iloc[0]) if (table["panel"] == "generated").any() else -1
    for ax, panel, images, heading in (
        (axes[0], "real", real, "real (training images)"),
        (axes[1], "generated", generated, f"generated (seed {seed})"),
    ):
        rows = table[table["panel"] == panel]
        _show_image(ax, tile(images[rows["index"].to_numpy()], grid, gap=3, fill=GAP_GREY), frame=True)
        ax.set_anchor("N")
        ax.set_title(heading, fontsize=plt.rcParams["font.size"])
    fig.suptitle(title)
    return fig


def training_curves_data(histories: dict[int, pd.DataFrame], culture: str) -> pd.DataFrame:
    """All seeds' training histories in one table (culture, seed, step, losses, mean critic logits)."""
    frames = []
    for seed, history in sorted(histories.items()):
        extra = [c for c in ("r1",) if c in history.columns]
        frames.append(history[HISTORY_COLUMNS + extra].assign(culture=culture, seed=seed))
    table = pd.concat(frames, ignore_index=True)
    return table[["culture", "seed"] + [c for c in table.columns if c not in ("culture", "seed")]]


def plot_training_curves(table: pd.DataFrame, title: str) -> object:
    """Top: discriminator and generator loss; bottom: mean critic logit on real and on generated images.

    Colour = quantity, line style = GAN seed.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig, (losses, logits) = plt.subplots(2, 1, figsize=style.figure_size("single", 2.9), sharex=True, layout="constrained")
    colours = {"d_loss": style.OKABE_ITO[0], "g_loss": style.OKABE_ITO[1], "d_real": style.OKABE_ITO[2], "d_fake": style.OKABE_ITO[3]}
    names = {"d_loss": "discriminator", "g_loss": "generator", "d_real": "real images", "d_fake": "generated images"}
    dashes = ["-", "--", ":", "-."]
    seeds = sorted(table["seed"].unique())
    for ax, columns in ((losses, ("d_loss", "g_loss")), (logits, ("d_real", "d_fake"))):
        for k, seed in enumerate(seeds):
            rows = table[table["seed"] == seed]
            for column in columns:
                ax.plot(rows["step"], rows[column], dashes[k % len(dashes)], color=colours[column])
        handles = [Line2D([], [], color=colours[c], label=names[c]) for c in columns]
        if len(seeds) > 1:
            handles += [Line2D([], [], color="0.3", linestyle=dashes[k % len(dashes)], label=f"seed {seed}") for k, seed in enumerate(seeds)]
        ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), handlelength=1.8)
    logits.axhline(0.0, color="0.6", lw=0.5, zorder=0)
    losses.set_ylabel("loss")
    logits.set_ylabel("mean critic logit")
    logits.set_xlabel("training step")
    fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- transfer


TRANSFER_EXAMPLES = 3  # per cell: source images on top, their translations below


def transfer_grid_data(pairs: Sequence[tuple[str, str]], paths: Sequence[str], display: Display, order: Sequence[str]) -> pd.DataFrame:
    """One row per translation direction (both of every pair): its cell (row = source, column =
    target) and where its examples are (``examples.npz`` of the pair, ``source_a``/``a_to_b`` keys)."""
    involved = [c for c in order if any(c in pair for pair in pairs)]
    position = {c: i for i, c in enumerate(involved)}
    rows = []
    for (a, b), path in zip(pairs, paths):
        for source, target, source_key, translated_key in [(a, b, "source_a", "a_to_b"), (b, a, "source_b", "b_to_a")]:
            rows.append(
                {
                    "source": source,
                    "target": target,
                    "row": position[source],
                    "column": position[target],
                    "examples": str(path),
                    "source_key": source_key,
                    "translated_key": translated_key,
                }
            )
    table = pd.DataFrame(rows, columns=["source", "target", "row", "column", "examples", "source_key", "translated_key"])
    table = _with_display(_with_display(table, display, "source", "_source"), display, "target", "_target")
    return table.sort_values(["row", "column"], ignore_index=True)


def transfer_cell(examples: dict[str, np.ndarray], source_key: str, translated_key: str, count: int = TRANSFER_EXAMPLES) -> np.ndarray:
    """Source images (top row) over their translations (bottom row), as one image."""
    source, translated = examples[source_key][:count], examples[translated_key][:count]
    return tile(np.concatenate([source, translated]), len(source), gap=3, fill=GAP_GREY)


def plot_transfer_grid(table: pd.DataFrame, cells: dict[int, np.ndarray]) -> object:
    """K x K cells: in row source, column target, held-out source images over their translation."""
    import matplotlib.pyplot as plt

    names = {**dict(zip(table["row"], table["label_source"])), **dict(zip(table["column"], table["label_target"]))}
    k = max(names) + 1
    width = style.DOUBLE_COLUMN if k > 3 else style.SINGLE_COLUMN
    left, top, gap, right = 0.95, 0.45, 0.06, 0.05  # inches: row labels, column labels, between cells, margin
    cell_w = (width - left - right) / k - gap
    aspect = max((image.shape[0] / image.shape[1] for image in cells.values()), default=1.0)
    cell_h = cell_w * aspect
    height = top + k * (cell_h + gap) + 0.05
    fig = plt.figure(figsize=(width, height))
    for i in range(k):
        for j in range(k):
            x0, y0 = left + j * (cell_w + gap), height - top - (i + 1) * (cell_h + gap) + gap
            ax = fig.add_axes([x0 / width, y0 / height, cell_w / width, cell_h / height])
            ax.set_xticks([])
            ax.set_yticks([])
            ax.spines[:].set_visible(False)
            ax.set_facecolor("white" if i == j else "0.95")  # grey: pair not translated
            if i == j:
                ax.text(0.5, 0.5, "—", ha="center", va="center", color="0.6", transform=ax.transAxes)
            if j == 0:
                fig.text((x0 - 0.06) / width, (y0 + cell_h / 2) / height, names[i], ha="right", va="center")
            if i == 0:
                fig.text((x0 + cell_w / 2) / width, (height - top + 0.04) / height, names[j], ha="center", va="bottom")
            cell = table.index[(table["row"] == i) & (table["column"] == j)]
            if len(cell):
                _show_image(ax, cells[cell[0]], frame=True)
    fig.text(
        (left + (width - left) / 2) / width,
        (height - 0.02) / height,
        "target culture (each cell: held-out source images, their translation below)",
        ha="center",
        va="top",
        fontweight="bold",
    )
    fig.text(0.02 / width, (height - top) / 2 / height, "source culture", ha="left", va="center", rotation=90, fontweight="bold")
    return fig


# --------------------------------------------------------------------------- matrices


def tree_from_linkage(rows: pd.DataFrame) -> np.ndarray:
    """scipy linkage matrix from the clustering stage's linkage.tsv rows of one (measure, method)."""
    rows = rows.sort_values("node")
    return rows[["left", "right", "height", "size"]].to_numpy(dtype=np.float64)


def leaf_order(tree: np.ndarray) -> list[int]:
    """Leaf indices left to right as scipy (and seaborn) draw the tree."""
    from scipy.cluster.hierarchy import dendrogram

    return [int(i) for i in dendrogram(tree, no_plot=True)["leaves"]]


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
    table = _with_display(_with_display(table, display, "culture_a", "_a"), display, "culture_b", "_b")
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
    with warnings.catch_warnings():
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
    leaves = _with_display(leaves, display, "culture", "")
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
    table = _with_display(table, display, "culture", "")
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
    table = _with_display(_with_display(table, display, "culture", ""), display, "neighbour", "_neighbour")
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


def axis_scale(values: np.ndarray, orders: float = 30.0) -> tuple[str, dict]:
    """Axis scale for ``values``: 'linear', or 'log' / 'symlog' (when some are 0) if the positive
    values span more than a factor ``orders``, so that near and far neighbours are both legible."""
    finite = values[np.isfinite(values)]
    positive = finite[finite > 0]
    if len(positive) == 0 or positive.max() / positive.min() < orders or (finite < 0).any():
        return "linear", {}
    if (finite > 0).all():
        return "log", {}
    # linscale 1: 0 and the first decade are as far apart as two decades, so their labels do not collide
    return "symlog", {"linthresh": float(10.0 ** np.floor(np.log10(positive.min()))), "linscale": 1.0}


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
    scale, options = axis_scale(table[["value", "floor"]].to_numpy(dtype=np.float64).ravel())
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


def reference_counterpart(measure: str) -> str:
    """The same metric in the reference space (``kid_joint`` -> ``kid_reference``; a median over
    critics ``kid_median_critic`` -> ``kid_reference``), or the measure itself."""
    from ganstyle.similarity import MEASURES

    space = MEASURES[measure].space if measure in MEASURES else ""
    if not space or not measure.endswith(f"_{space}"):
        return measure
    return measure[: -len(space)].replace("_median_", "_") + "reference"


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
    table = _with_display(_with_display(table, display, "culture_a", "_a"), display, "culture_b", "_b")
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
                scale, options = axis_scale(rows[column].to_numpy(dtype=np.float64))
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


# --------------------------------------------------------------------------- group recovery and seed stability

ROLE_COLOURS = {"gan": "#0072B2", "control": "#9E9E9E", "baseline": "#D55E00", "transfer": "#009E73"}
ROLE_NAMES = {"gan": "GAN critic", "control": "untrained control", "baseline": "non-GAN baseline", "transfer": "transfer"}


def recovery_data(recovery: pd.DataFrame) -> pd.DataFrame:
    """Rows of the group-recovery figure: every measure with its label, by space in the declared order."""
    from ganstyle.similarity import SPACES

    order = {space: i for i, space in enumerate(SPACES)}
    table = recovery.copy()
    table["label"] = [measure_label(m) for m in table["measure"]]
    table["space_order"] = [order.get(s, len(order)) for s in table["space"].fillna("")]
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
    ax_auc.scatter(auc, y, c=colours, s=14, zorder=4)
    ax_auc.axvline(0.5, color="0.6", linestyle=":", linewidth=0.8)
    best_baseline = table.loc[table["role"] == "baseline", "group_auc"].max()
    if np.isfinite(best_baseline):
        ax_auc.axvline(best_baseline, color=ROLE_COLOURS["baseline"], linestyle="--", linewidth=0.7)
    ax_auc.set_yticks(y, table["label"])
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
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles))
    fig.suptitle("Recovery of the known groups: every measure beside its untrained control and the baseline")
    return fig


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
    from ganstyle.similarity import SPACES

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


# --------------------------------------------------------------------------- reading inputs


def read_table(path: str | Path, columns: Sequence[str], what: str) -> pd.DataFrame:
    """A TSV with at least ``columns``; UserError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} not found: {path}")
    try:
        table = io.read_tsv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot be parsed: {err}") from err
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)} ({what})")
    return table


def read_culture_order(distances: str | Path) -> list[str]:
    """Culture order of the matrices (the similarity stage's ``distances.npz``)."""
    path = Path(distances)
    if not path.is_file():
        raise UserError(f"distances not found: {path}")
    with np.load(path, allow_pickle=False) as data:
        if "cultures" not in data.files:
            raise UserError(f"{path}: not a distances.npz of the similarity stage")
        return [str(c) for c in data["cultures"]]


def read_distance_matrices(distances: str | Path) -> tuple[list[str], dict[str, np.ndarray]]:
    from ganstyle.clustering import read_distances

    cultures, points, _, _ = read_distances(str(distances))
    return cultures, points


def distance_measures(measures_tsv: str | Path) -> list[str]:
    """Measures the similarity stage marked as distances (clustered, Mantel-tested)."""
    table = read_table(measures_tsv, ["measure", "distance"], "measure list")
    flags = table["distance"].astype(str).str.lower().isin(["true", "1"])
    return list(table.loc[flags, "measure"])


def linkage_rows(linkage: pd.DataFrame, measure: str, method: str) -> pd.DataFrame:
    return linkage[(linkage["measure"] == measure) & (linkage["method"] == method)]


def average_tree(linkage: pd.DataFrame, measure: str, similarity: pd.DataFrame, cultures: Sequence[str]) -> np.ndarray:
    """The clustering stage's average-linkage tree of ``measure``; recomputed the same way if it is absent."""
    from ganstyle.clustering import clean_distance, cluster_tree

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


# --------------------------------------------------------------------------- families (I/O)


def draw_corpus(args, settings: dict, display: Display) -> None:
    from ganstyle.corpus import load_corpus

    if len(args.cultures) != len(args.corpora):
        raise UserError("--cultures and --corpora must list the same number of entries")
    tables, shown = [], {}
    for culture, path in zip(args.cultures, args.corpora):
        images, ids = load_corpus(path)
        with np.load(path, allow_pickle=False) as data:
            if "split" not in data.files:
                raise UserError(f"{path}: has no train/held-out split (a results/corpus/ file is needed)")
            split = data["split"].astype(str)
        tables.append(corpus_examples_data({culture: split}, {culture: ids}, display, settings["examples"]))
        shown[culture] = images[tables[-1]["index"].to_numpy()]  # keep only the shown images in memory
    table = pd.concat(tables, ignore_index=True)
    _save(plot_corpus_examples(table, shown, display.palette), args.out, table, settings)


def draw_training(args, settings: dict, display: Display) -> None:
    from ganstyle.corpus import load_corpus

    real, real_ids = load_corpus(args.corpus, split="train")
    if not Path(args.samples).is_file():
        raise UserError(f"samples not found: {args.samples}")
    with np.load(args.samples, allow_pickle=False) as data:
        if "images" not in data.files:
            raise UserError(f"{args.samples}: no 'images' array (re-run train_gan)")
        generated = data["images"]
    if generated.shape[1:] != real.shape[1:]:
        raise UserError(f"{args.samples}: generated images are {generated.shape[1:]}, the corpus {args.corpus} has {real.shape[1:]}")
    label = display.label(args.culture)
    samples = sample_grid_data(real_ids, len(generated), settings["sample_grid"], args.sample_seed)
    _save(plot_sample_grids(samples, real, generated, label), args.out_samples, samples.assign(culture=args.culture)[["culture", *samples.columns]], settings)

    if len(args.histories) != len(args.seeds):
        raise UserError("--histories and --seeds must list the same number of entries")
    histories = {seed: read_table(path, HISTORY_COLUMNS, "training history") for seed, path in zip(args.seeds, args.histories)}
    curves = training_curves_data(histories, args.culture)
    _save(plot_training_curves(curves, label), args.out_curves, curves, settings)


def draw_transfer(args, settings: dict, display: Display) -> None:
    if len(args.pairs) != len(args.examples):
        raise UserError("--pairs and --examples must list the same number of entries")
    from ganstyle.transfer import split_pair

    pairs = [split_pair(pair, list(display.info.index)) for pair in args.pairs]
    order = [c for c in display.info.index if any(c in p for p in pairs)] + sorted({c for p in pairs for c in p} - set(display.info.index))
    table = transfer_grid_data(pairs, args.examples, display_of_missing(display, order), order)
    needed = set(table["source_key"]) | set(table["translated_key"])
    examples = {}
    for path in dict.fromkeys(table["examples"]):
        with np.load(path) as arrays:
            examples[path] = {key: arrays[key] for key in arrays.files}
        missing = needed - set(examples[path])
        if missing:
            raise UserError(f"{path}: missing array(s) {', '.join(sorted(missing))} (re-run train_transfer)")
    cells = {i: transfer_cell(examples[row.examples], row.source_key, row.translated_key) for i, row in table.iterrows()}
    _save(plot_transfer_grid(table, cells), args.out, table, settings)


def display_of_missing(display: Display, cultures: Sequence[str]) -> Display:
    """``display`` extended by cultures it does not know (label = id, no group)."""
    unknown = [c for c in cultures if c not in display.info.index]
    if not unknown:
        return display
    extra = pd.DataFrame({"label": unknown, "group": style.NO_GROUP, "colour": style.NO_GROUP_COLOUR}, index=pd.Index(unknown, name="culture"))
    return Display(pd.concat([display.info, extra]), {**display.palette, style.NO_GROUP: style.NO_GROUP_COLOUR})


def draw_heatmaps(args, settings: dict, display: Display) -> None:
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
        _save(fig, out / measure, table, settings)
        log.info("heatmap of %s", measure)


def draw_critic_auc(args, settings: dict, display: Display) -> None:
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
    _save(fig, args.out, table, settings)


def draw_dendrograms(args, settings: dict, display: Display) -> None:
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
        _save(fig, out / f"{measure}__{method}", table, settings)


def draw_mds(args, settings: dict, display: Display) -> None:
    points = read_table(args.mds, ["measure", "culture", "x", "y", "sd_x", "sd_y", "spread", "stress1"], "MDS table")
    replicates = read_table(args.mds_bootstrap, ["measure", "replicate", "culture", "x", "y"], "MDS bootstrap table")
    display = display_of_missing(display, list(points["culture"].unique()))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for measure, rows in points.groupby("measure", sort=False):
        if not drawn_per_measure(measure):
            continue
        table = mds_data(rows, replicates[replicates["measure"] == measure], display, settings["ellipse_coverage"])
        _save(plot_mds(table, measure_label(measure), display.palette), out / measure, table, settings)


def draw_neighbours(args, settings: dict, display: Display) -> None:
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
        _save(plot_neighbours(table, title, measure_label(measure), display.palette), out / measure, table, settings)


def draw_mantel(args, settings: dict, display: Display, registry: pd.DataFrame) -> None:
    from ganstyle.stats import geographic_matrix, read_external_matrix

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
    _save(plot_mantel(table, display.palette), args.out, table, settings)


def _true(value) -> bool:
    return str(value).strip().lower() in ("true", "1")


def draw_group_recovery(args, settings: dict, display: Display) -> None:
    from ganstyle.stats import RECOVERY_COLUMNS

    recovery = read_table(
        args.group_recovery,
        RECOVERY_COLUMNS,
        "group-recovery table",
    )
    if recovery.empty:
        raise UserError(f"{args.group_recovery}: no rows (the registry needs a 'group' column with at least 2 groups)")
    table = recovery_data(recovery)
    _save(plot_group_recovery(table), args.out, table, settings)


def draw_seed_stability(args, settings: dict, display: Display) -> None:
    stability = read_table(args.seed_stability, ["measure", "seed_a", "seed_b", "r"], "seed-stability table")
    roles = read_table(args.measures, ["measure", "role"], "measure list").set_index("measure")["role"]
    if stability.empty:
        raise UserError(f"{args.seed_stability}: no rows (config key gan.seeds needs at least 2 seeds)")
    table = stability.assign(role=stability["measure"].map(roles), label=stability["measure"].map(measure_label))
    _save(plot_seed_stability(table), args.out, table, settings)


def draw_summary(args, settings: dict, display: Display) -> None:
    ari = read_table(args.ari_nmi, ["measure", "method", "k_rule", "k", "n_groups", "ari", "nmi", "p_value", "permutations"], "ARI/NMI table")
    permanova = read_table(
        args.permanova, ["level", "space", "factor", "permuted", "n_objects", "n_groups", "statistic", "p_value", "permutations"], "PERMANOVA table"
    )
    table = summary_data(ari, permanova)
    _save(plot_summary_table(table), args.out, table, settings)


def _save(fig, stem, table: pd.DataFrame, settings: dict) -> None:
    paths = style.save(fig, stem, table, settings["formats"], settings["dpi"])
    log.info("wrote %s", ", ".join(str(p) for p in paths.values()))


# --------------------------------------------------------------------------- CLI


FAMILIES = {
    "corpus": draw_corpus,
    "training": draw_training,
    "transfer": draw_transfer,
    "heatmaps": draw_heatmaps,
    "critic-auc": draw_critic_auc,
    "dendrograms": draw_dendrograms,
    "mds": draw_mds,
    "neighbours": draw_neighbours,
    "mantel": draw_mantel,
    "summary": draw_summary,
    "group-recovery": draw_group_recovery,
    "seed-stability": draw_seed_stability,
}


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cultures-file", required=True, help="culture registry (config key 'cultures'): labels and groups")
    common.add_argument("--metadata", default="null", help="config key 'metadata' as JSON")
    add_settings_arguments(common, "figures")

    parser = argparse.ArgumentParser(prog="python -m ganstyle figures", description=__doc__.split("\n\n")[0])
    families = parser.add_subparsers(dest="family", required=True, metavar="family")

    def family(name: str, help: str, out_help: str = "output path without suffix") -> argparse.ArgumentParser:
        sub = families.add_parser(name, parents=[common], help=help, description=help)
        if out_help:
            sub.add_argument("--out", required=True, help=out_help)
        return sub

    sub = family("corpus", "example training images of every culture")
    sub.add_argument("--cultures", nargs="+", required=True, help="culture names, one per --corpora file")
    sub.add_argument("--corpora", nargs="+", required=True, help="results/corpus/{culture}/images.npz")

    sub = family("training", "one culture: real vs generated samples, training curves", out_help="")
    sub.add_argument("--culture", required=True)
    sub.add_argument("--corpus", required=True, help="results/corpus/{culture}/images.npz")
    sub.add_argument("--samples", required=True, help="results/gan/{culture}/seed{seed}/samples.npz (first seed)")
    sub.add_argument("--sample-seed", type=int, required=True, help="the GAN seed of --samples")
    sub.add_argument("--histories", nargs="+", required=True, help="history.tsv of every seed")
    sub.add_argument("--seeds", type=int, nargs="+", required=True, help="the seed of each --histories file")
    sub.add_argument("--out-samples", required=True, help="output path without suffix")
    sub.add_argument("--out-curves", required=True, help="output path without suffix")

    sub = family("transfer", "source x target grid of example translations")
    sub.add_argument("--pairs", nargs="+", required=True, help="a__b pairs (both directions are shown)")
    sub.add_argument("--examples", nargs="+", required=True, help="results/transfer/{pair}/examples.npz, one per pair")

    for name, help in (("heatmaps", "clustered heatmap of every distance measure"), ("critic-auc", "the asymmetric critic AUC matrix")):
        sub = family(name, help, "output folder" if name == "heatmaps" else "output path without suffix")
        sub.add_argument("--similarity", required=True, help="results/similarity/similarity.tsv")
        sub.add_argument("--distances", required=True, help="results/similarity/distances.npz (culture order)")
        sub.add_argument("--linkage", required=True, help="results/clustering/linkage.tsv")
        if name == "heatmaps":
            sub.add_argument("--measures", required=True, help="results/similarity/measures.tsv")

    sub = family("dendrograms", "dendrogram with bootstrap support of every clustering", "output folder")
    sub.add_argument("--linkage", required=True, help="results/clustering/linkage.tsv")
    sub.add_argument("--distances", required=True, help="results/similarity/distances.npz (culture order)")

    sub = family("mds", "MDS map with bootstrap ellipses of every distance measure", "output folder")
    sub.add_argument("--mds", required=True, help="results/clustering/mds.tsv")
    sub.add_argument("--mds-bootstrap", required=True, help="results/clustering/mds_bootstrap.tsv")

    sub = family("neighbours", "forest plot of each culture's nearest neighbours", "output folder")
    sub.add_argument("--similarity", required=True, help="results/similarity/similarity.tsv")
    sub.add_argument("--floors", required=True, help="results/similarity/floors.tsv")
    sub.add_argument("--measures", required=True, help="results/similarity/measures.tsv")
    sub.add_argument("--distances", required=True, help="results/similarity/distances.npz (culture order)")

    sub = family("mantel", "Mantel scatter plots: GAN distances against baseline, geography, user matrices")
    sub.add_argument("--distances", required=True, help="results/similarity/distances.npz")
    sub.add_argument("--measures", required=True, help="results/similarity/measures.tsv")
    sub.add_argument("--mantel", required=True, help="results/stats/mantel.tsv")
    sub.add_argument("--external", nargs="*", default=[], help="name=path of user matrices (config key stats.external_matrices)")

    sub = family("group-recovery", "group recovery (within-vs-across AUC, ARI) of every measure, controls and baseline")
    sub.add_argument("--group-recovery", required=True, help="results/stats/group_recovery.tsv")

    sub = family("seed-stability", "Mantel r between GAN seeds of every per-seed measure")
    sub.add_argument("--seed-stability", required=True, help="results/stats/seed_stability.tsv")
    sub.add_argument("--measures", required=True, help="results/similarity/measures.tsv")

    sub = family("summary", "table of ARI/NMI per measure and PERMANOVA")
    sub.add_argument("--ari-nmi", required=True, help="results/stats/ari_nmi.tsv")
    sub.add_argument("--permanova", required=True, help="results/stats/permanova.tsv")
    return parser


def main(argv: list[str] | None = None, stage: str = "figures") -> int:
    from ganstyle.registry import load_registry

    args = build_parser().parse_args(argv)
    for noisy in ("matplotlib", "fontTools"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = section("figures", args.settings, args.config_path)
    try:
        metadata = json.loads(args.metadata)
    except json.JSONDecodeError as err:
        raise UserError(f"--metadata is not valid JSON: {err}") from err
    registry = load_registry(args.cultures_file, metadata)
    style.apply(settings["font_size"], settings["dpi"])
    display = display_of(registry)
    if args.family == "mantel":
        draw_mantel(args, settings, display, registry)
    else:
        FAMILIES[args.family](args, settings, display)
    return 0
