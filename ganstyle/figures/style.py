"""One look for every figure: fonts, journal column sizes, the group palette,
and saving a figure as PDF + PNG with the data it plots as a TSV beside it.

Every figure module calls ``apply()`` once before drawing and ``save()`` to write.
Group colours come from ``group_palette(registry)`` only, so a group has the same
colour in every figure of a run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ganstyle import io

# Journal column widths in inches (Nature, Science, PNAS, Elsevier all lie within ~5 %).
SINGLE_COLUMN = 3.5
DOUBLE_COLUMN = 7.0
MAX_HEIGHT = 9.0  # a full page minus the caption

BASE_FONT_PT = 7.0  # journals ask for 5-8 pt at print size
DEFAULT_DPI = 300
DEFAULT_FORMATS = ("pdf", "png")

# Okabe & Ito (2008): distinguishable with the common colour-vision deficiencies.
# Ordered so that the first groups get the strongest colours (yellow is weak on white).
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000"]
NO_GROUP = "(no group)"
NO_GROUP_COLOUR = "#9E9E9E"

# Sans-serif families in order of preference; the first one installed that has
# every character the figures print is used.
PREFERRED_FONTS = ["Arial", "Helvetica", "Liberation Sans", "Noto Sans", "DejaVu Sans"]
NEEDED_CHARACTERS = "0123456789.,-−×≤–—()%=éÉ"  # U+2212 minus: matplotlib's tick labels use it


def available_font(preferred: Sequence[str] = PREFERRED_FONTS, needed: str = NEEDED_CHARACTERS) -> str:
    """The first installed regular face of ``preferred`` with all ``needed`` glyphs (else DejaVu Sans,
    which ships with matplotlib)."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    for name in preferred:
        faces = [f for f in font_manager.fontManager.ttflist if f.name == name and f.style == "normal" and f.weight in (400, "normal", "regular")]
        for face in faces:
            try:
                font = FT2Font(face.fname)
            except (OSError, RuntimeError):
                continue
            if all(font.get_char_index(ord(ch)) for ch in needed):
                return name
    return "DejaVu Sans"


def rc_params(font_pt: float = BASE_FONT_PT, dpi: int = DEFAULT_DPI) -> dict:
    """matplotlib settings for print: small fonts, thin lines, embedded editable text."""
    family = available_font()
    small = font_pt - 1
    return {
        "font.family": "sans-serif",
        # DejaVu Sans after the chosen family: glyph fallback for labels in other scripts
        "font.sans-serif": [family, "DejaVu Sans"],
        "font.size": font_pt,
        "axes.titlesize": font_pt + 1,
        "axes.labelsize": font_pt,
        "xtick.labelsize": small,
        "ytick.labelsize": small,
        "legend.fontsize": small,
        "legend.title_fontsize": font_pt,
        "figure.titlesize": font_pt + 1,
        "axes.linewidth": 0.6,
        "lines.linewidth": 1.0,
        "lines.markersize": 3.5,
        "xtick.major.width": 0.6,
        "ytick.major.width": 0.6,
        "xtick.major.size": 2.5,
        "ytick.major.size": 2.5,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.frameon": False,
        "savefig.dpi": dpi,
        "figure.dpi": 100,
        # TrueType (Type 42) fonts: text stays text in Illustrator/Inkscape, and journals accept it
        "pdf.fonttype": 42,
        "ps.fonttype": 42,
        "svg.fonttype": "none",
        "svg.hashsalt": "ganstyle",  # fixed element ids: the same figure gives the same SVG bytes
        "image.interpolation": "nearest",
    }


def apply(font_pt: float = BASE_FONT_PT, dpi: int = DEFAULT_DPI) -> None:
    """Use the non-interactive backend and the print settings for all following figures."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update(rc_params(font_pt, dpi))


# --------------------------------------------------------------------------- colours


def group_palette(groups: Iterable) -> dict[str, str]:
    """Colour of each group, by order of first appearance (pass the registry's ``group`` column).

    Missing groups (None, NaN, "") map to ``NO_GROUP``.  More groups than the
    Okabe-Ito colours continue with evenly spaced HUSL hues.
    """
    import seaborn as sns

    ordered = list(dict.fromkeys(group_name(g) for g in groups))
    named = [g for g in ordered if g != NO_GROUP]
    colours = list(OKABE_ITO)
    if len(named) > len(colours):
        colours += sns.color_palette("husl", len(named) - len(colours)).as_hex()
    palette = dict(zip(named, colours))
    if NO_GROUP in ordered:
        palette[NO_GROUP] = NO_GROUP_COLOUR
    return palette


# categorical colours for one mark per culture (the image map): matplotlib's tab20, strong colours first
CULTURE_COLOURS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
]  # fmt: skip


def culture_palette(cultures: Iterable[str]) -> dict[str, str]:
    """A distinct colour for each culture, in the given order; beyond 20 cultures evenly spaced HUSL hues."""
    import seaborn as sns

    cultures = list(dict.fromkeys(cultures))
    colours = list(CULTURE_COLOURS)
    if len(cultures) > len(colours):
        colours += sns.color_palette("husl", len(cultures) - len(colours)).as_hex()
    return dict(zip(cultures, colours))


def group_name(group) -> str:
    """The group of a registry row as a string; ``NO_GROUP`` when absent."""
    if group is None or (isinstance(group, float) and np.isnan(group)) or str(group).strip() == "":
        return NO_GROUP
    return str(group)


def group_display(group: str) -> str:
    """Legend text of a group id: underscores become spaces."""
    return str(group).replace("_", " ")


def group_legend_handles(palette: dict[str, str], groups: Iterable[str] | None = None, marker: str = "s") -> list:
    """Legend handles of the groups in ``groups`` (default: all), in palette order."""
    from matplotlib.lines import Line2D

    shown = set(palette if groups is None else groups)
    return [
        Line2D([], [], linestyle="none", marker=marker, markersize=5, markerfacecolor=colour, markeredgecolor="none", label=group_display(group))
        for group, colour in palette.items()
        if group in shown
    ]


# --------------------------------------------------------------------------- sizes


def figure_size(width: str | float, height: float) -> tuple[float, float]:
    """(width, height) in inches; ``width`` 'single', 'double' or inches; height capped at ``MAX_HEIGHT``."""
    widths = {"single": SINGLE_COLUMN, "double": DOUBLE_COLUMN}
    w = widths[width] if isinstance(width, str) else float(width)
    return w, float(min(height, MAX_HEIGHT))


# --------------------------------------------------------------------------- numbers


def common_exponent(values: np.ndarray) -> int:
    """Power of ten to factor out of a table of numbers so that they print with few digits.

    0 when the largest magnitude lies in [0.01, 1000); otherwise its exponent
    in steps of 3 (engineering notation: 10^-3, 10^3, ...).
    """
    values = np.asarray(values, dtype=np.float64)
    finite = np.abs(values[np.isfinite(values)])
    largest = finite.max() if finite.size else 0.0
    if largest == 0 or 0.01 <= largest < 1000:
        return 0
    return int(3 * np.floor(np.log10(largest) / 3))


def format_significant(value: float, digits: int = 2) -> str:
    """``value`` with ``digits`` significant digits but never in e-notation, and no digits
    dropped left of the point (206 -> '206', 12.3 -> '12', 0.0123 -> '0.012'); '' for NaN."""
    if value is None or not np.isfinite(value):
        return ""
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - int(np.floor(np.log10(abs(value)))))
    return f"{value:.{decimals}f}"


def format_p(p: float) -> str:
    """p-value text: 'n/a' without a test; three decimals (a permutation p is at least 1/(n+1))."""
    if p is None or not np.isfinite(p):
        return "n/a"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


# --------------------------------------------------------------------------- labels


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


def place_labels(ax, x: Sequence[float], y: Sequence[float], texts: Sequence[str], fontsize: float | None = None, **text_kwargs) -> list:
    """Write ``texts`` next to points so that they overlap neither each other nor the points.

    Greedy: for each point (largest label first), try eight positions around it
    and keep the one that overlaps least with the labels placed so far and with
    all points; a leader line is drawn when the label sits further out.
    """
    fig = ax.figure
    fig.canvas.draw()  # label extents need a renderer
    renderer = fig.canvas.get_renderer()
    to_display = ax.transData.transform
    points = to_display(np.column_stack([x, y]))
    radius = 4.0  # px, keep-out around points
    point_boxes = np.column_stack([points - radius, points + radius])
    size = fontsize or ax.xaxis.label.get_size() - 1

    # candidate offsets in points: right, left, above, below, then the diagonals, then further out
    offsets = [(4, 0, "left", "center"), (-4, 0, "right", "center"), (0, 4, "center", "bottom"), (0, -4, "center", "top"),
               (3, 3, "left", "bottom"), (-3, 3, "right", "bottom"), (3, -3, "left", "top"), (-3, -3, "right", "top")]  # fmt: skip
    offsets += [(dx * k, dy * k, ha, va) for k in (3, 6) for dx, dy, ha, va in offsets[:8]]
    placed_boxes: list[np.ndarray] = []
    placed = [None] * len(texts)
    order = np.argsort([-len(t) for t in texts], kind="stable")
    axes_box = ax.get_window_extent(renderer)
    for i in order:
        best = None
        for dx, dy, ha, va in offsets:
            label = ax.annotate(texts[i], (x[i], y[i]), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va, fontsize=size, **text_kwargs)
            extent = label.get_window_extent(renderer)
            box = np.array([extent.x0, extent.y0, extent.x1, extent.y1])
            others = [b for j, b in enumerate(point_boxes) if j != i]
            cost = sum(_overlap(box, b) for b in placed_boxes) + sum(_overlap(box, b) for b in others)
            # leaving the axes clips the name: as bad as covering a label
            outside = (box[2] - box[0]) * (box[3] - box[1]) - _overlap(box, np.array([axes_box.x0, axes_box.y0, axes_box.x1, axes_box.y1]))
            cost += outside + 0.01 * (abs(dx) + abs(dy))  # prefer near positions on ties
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, label, box, (dx, dy))
            else:
                label.remove()
        _, label, box, (dx, dy) = best
        if abs(dx) + abs(dy) > 8:
            label.remove()
            label = ax.annotate(
                texts[i], (x[i], y[i]), xytext=(dx, dy), textcoords="offset points", ha=label.get_ha(), va=label.get_va(), fontsize=size,
                arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "0.4", "shrinkA": 0, "shrinkB": 2}, **text_kwargs,
            )  # fmt: skip
        placed_boxes.append(box)
        placed[i] = label
    return placed


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Area shared by two (x0, y0, x1, y1) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return float(w * h) if w > 0 and h > 0 else 0.0


# --------------------------------------------------------------------------- saving


def output_paths(stem: str | Path, formats: Sequence[str] = DEFAULT_FORMATS) -> dict[str, Path]:
    """The files one figure is written to: ``{stem}.{format}`` and ``{stem}.tsv``."""
    stem = Path(stem)
    return {**{fmt: stem.with_name(f"{stem.name}.{fmt}") for fmt in formats}, "tsv": stem.with_name(f"{stem.name}.tsv")}


def save(fig, stem: str | Path, data: pd.DataFrame, formats: Sequence[str] = DEFAULT_FORMATS, dpi: int = DEFAULT_DPI) -> dict[str, Path]:
    """Write ``fig`` in every format and ``data`` (what it plots) as TSV, atomically; close the figure.

    Metadata that changes on every run (creation date, software version) is left
    out, so re-drawing the same data gives the same files.
    """
    import matplotlib.pyplot as plt

    paths = output_paths(stem, formats)
    metadata = {"pdf": {"CreationDate": None, "Producer": None, "Creator": None}, "png": {"Software": None}, "svg": {"Date": None}}
    try:
        for fmt in formats:
            io.save_figure(fig, paths[fmt], dpi=dpi, bbox_inches="tight", pad_inches=0.03, metadata=metadata.get(fmt))
        io.write_tsv(paths["tsv"], data)
    finally:
        plt.close(fig)
    return paths
