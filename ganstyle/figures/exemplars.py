"""The images behind the numbers: each culture's most and least typical held-out images by its critic
(``typical``), and, for close or chosen pairs of cultures a and b, the images of b that a's critic
finds most a-like and the reverse (``bridges``).  Scores come from the typicality stage
(``results/images/typicality.tsv``: a critic's logit, averaged over snapshots and seeds); bridges are
ranked by its ``contrast`` (a's critic's score minus b's), since the raw score of a's critic ranks b's
images much as b's own critic does (see ``ganstyle.stages.typicality``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ganstyle.errors import UserError
from ganstyle.figures import style
from ganstyle.figures.family import Family, Option, Output
from ganstyle.figures.images import GAP_GREY, _show_image
from ganstyle.figures.shared import Display, display_of_missing, distance_measures, heldout_images, primary_measure_of_run, read_table, write_figure
from ganstyle.io.files import load_typicality

TILE_GAP = 3  # pixels between images of a strip
PANEL_GAP = 3  # images' widths between the typical and the atypical strip
BRIDGE_PAIRS_KEY = "figures.bridges_pairs"
BRIDGE_MEASURE_KEY = "figures.bridges_measure"


def strip(images: np.ndarray, columns: int) -> np.ndarray:
    """Images side by side with grey gaps, padded with white to ``columns`` places (short cultures keep the grid)."""
    from ganstyle.io.images import image_grid

    side, channels = images.shape[1], images.shape[3]
    padded = np.concatenate([images, np.full((columns - len(images), side, side, channels), 255, np.uint8)]) if len(images) < columns else images
    return image_grid(padded, columns, gap=TILE_GAP, fill=GAP_GREY)


def _row_label(ax, text: str, colour: str | None) -> None:
    import matplotlib.pyplot as plt

    ax.text(-0.02, 0.5, text, transform=ax.transAxes, ha="right", va="center", linespacing=1.15)
    if colour:
        ax.add_patch(plt.Rectangle((-0.012, 0.05), 0.006, 0.9, transform=ax.transAxes, color=colour, clip_on=False))


# --------------------------------------------------------------------------- typical and atypical


def typical_data(typicality: pd.DataFrame, order: Sequence[str], display: Display, n: int) -> pd.DataFrame:
    """Per culture, the ``n`` held-out images its own critic scores highest (``kind`` typical, by rank) and
    the ``n`` it scores lowest (atypical, the least typical last); fewer than ``2 n`` images are split in halves."""
    own = typicality[typicality["critic"] == typicality["culture"]]
    frames = []
    for culture in order:
        rows = own[own["culture"] == culture].sort_values("rank")
        if rows.empty:
            continue
        n_typical = min(n, (len(rows) + 1) // 2)
        n_atypical = min(n, len(rows) - n_typical)
        typical = rows.head(n_typical).assign(kind="typical", position=np.arange(n_typical))
        atypical = rows.tail(n_atypical).assign(kind="atypical", position=np.arange(n - n_atypical, n))
        frames += [typical, atypical]
    if not frames:
        raise UserError("the typicality table has no image scored by its own culture's critic (re-run typicality)")
    table = pd.concat(frames, ignore_index=True)
    table["label"] = [display.label(c) for c in table["culture"]]
    table["group"] = [display.group(c) for c in table["culture"]]
    columns = ["culture", "label", "group", "kind", "position", "rank", "n_images", "score", "score_sd", "id", "source", "space", "critic"]
    return table[columns]


def plot_typical(table: pd.DataFrame, images: np.ndarray, palette: dict[str, str], n: int) -> object:
    """One row per culture: its ``n`` most typical held-out images, then its ``n`` least typical.

    ``images`` holds the images of ``table``'s rows, in row order.
    """
    import matplotlib.pyplot as plt

    cultures = list(dict.fromkeys(table["culture"]))
    side, channels = images.shape[1], images.shape[3]
    spacer = np.full((side, PANEL_GAP * side, channels), 255, np.uint8)
    rows = {}
    for culture in cultures:
        halves = []
        for kind in ("typical", "atypical"):
            chosen = table[(table["culture"] == culture) & (table["kind"] == kind)]
            shown = np.full((n, side, side, channels), 255, np.uint8)
            shown[chosen["position"].to_numpy()] = images[chosen.index.to_numpy()]
            halves.append(strip(shown, n))
        rows[culture] = np.concatenate([halves[0], spacer, halves[1]], axis=1)
    width = style.DOUBLE_COLUMN
    left = 1.05  # inches for the labels
    strip_width = width - left - 0.1
    row_height = strip_width * side / rows[cultures[0]].shape[1] * 1.12
    height = 0.35 + row_height * len(cultures)
    fig, axes = plt.subplots(len(cultures), 1, figsize=(width, height), squeeze=False)
    fig.subplots_adjust(left=left / width, right=1 - 0.1 / width, top=1 - 0.3 / height, bottom=0.05 / height, hspace=0.12)
    first = table.drop_duplicates("culture").set_index("culture")
    for ax, culture in zip(axes[:, 0], cultures):
        _show_image(ax, rows[culture])
        _row_label(ax, f"{first.loc[culture, 'label']}\n{first.loc[culture, 'n_images']} images", palette.get(first.loc[culture, "group"]))
    half = (n * side + (n - 1) * TILE_GAP) / rows[cultures[0]].shape[1]
    top = axes[0, 0]
    top.text(half / 2, 1.08, "most typical (rank 1, 2, …)", transform=top.transAxes, ha="center", va="bottom", fontweight="bold")
    top.text(1 - half / 2, 1.08, "least typical (…, last)", transform=top.transAxes, ha="center", va="bottom", fontweight="bold")
    return fig


def draw_typical(args, settings: dict, display: Display, registry: pd.DataFrame) -> None:
    typicality = load_typicality(args.typicality)
    order = [c for c in display.info.index if c in set(typicality["culture"])] + sorted(set(typicality["culture"]) - set(display.info.index))
    display = display_of_missing(display, order)
    n = settings["typical_images"]
    table = typical_data(typicality, order, display, n)
    images = heldout_images(args.corpora, table["id"])
    write_figure(plot_typical(table, images, display.palette, n), args.out, table, settings)


TYPICAL = Family(
    "typical", "each culture's most and least typical held-out images by its critic", draw=draw_typical,
    options=(Option("--typicality", result="images/typicality.tsv"), Option("--corpora", "results/corpus/{culture}/images.npz of every culture", nargs="+")),
    outputs=(Output("images/typical", "images_typical_figure.rst", "Images", "Figures"),),
)  # fmt: skip


# --------------------------------------------------------------------------- bridges


def parse_bridge_pairs(names: Sequence[str], cultures: Sequence[str]) -> list[tuple[str, str]]:
    """The configured pairs ``a__b`` as (a, b); UserError naming the config key for a pair that names a
    culture the registry lacks, or one culture twice.  (Culture ids may hold '_': the split that names
    two known cultures is taken.)"""
    known = set(cultures)
    pairs = []
    for name in names:
        readings = [(name[:i], name[i + 2 :]) for i in range(1, len(name) - 2) if name[i : i + 2] == "__"]
        valid = [(a, b) for a, b in readings if a in known and b in known]
        if not readings:
            raise UserError(f"config key '{BRIDGE_PAIRS_KEY}': '{name}' is not of the form a__b")
        if not valid:
            unknown = sorted({part for pair in readings for part in pair} - known)
            raise UserError(
                f"config key '{BRIDGE_PAIRS_KEY}': pair '{name}' names unknown culture(s) {', '.join(unknown)}; the registry has {', '.join(cultures)}"
            )
        if len(valid) > 1 or valid[0][0] == valid[0][1]:
            raise UserError(f"config key '{BRIDGE_PAIRS_KEY}': pair '{name}' must name two different cultures in one way")
        pairs.append(valid[0])
    return pairs


def closest_pairs(matrix: pd.DataFrame, n: int) -> list[tuple[str, str, float]]:
    """The ``n`` closest pairs of cultures of a square distance matrix (both directions averaged), closest
    first, each pair in the matrix's order."""
    values = matrix.to_numpy(dtype=float)
    symmetric = (values + values.T) / 2
    cultures = list(matrix.index)
    pairs = [(symmetric[i, j], i, j) for i in range(len(cultures)) for j in range(i + 1, len(cultures)) if np.isfinite(symmetric[i, j])]
    return [(cultures[i], cultures[j], float(d)) for d, i, j in sorted(pairs)[:n]]


def bridge_list(closest: Sequence[tuple[str, str, float]], configured: Sequence[tuple[str, str]], matrix: pd.DataFrame) -> pd.DataFrame:
    """The pairs shown: the closest (``closest`` rank 1, 2, ...), then the configured ones not among them."""
    rows = [{"a": a, "b": b, "distance": d, "closest": k + 1, "configured": False} for k, (a, b, d) in enumerate(closest)]
    seen = {frozenset((a, b)): row for (a, b, _), row in zip(closest, rows)}
    for a, b in configured:
        if frozenset((a, b)) in seen:
            seen[frozenset((a, b))]["configured"] = True
            continue
        distance = (matrix.loc[a, b] + matrix.loc[b, a]) / 2 if a in matrix.index and b in matrix.index else np.nan
        rows.append({"a": a, "b": b, "distance": float(distance), "closest": 0, "configured": True})
        seen[frozenset((a, b))] = rows[-1]
    return pd.DataFrame(rows, columns=["a", "b", "distance", "closest", "configured"])


def bridges_data(typicality: pd.DataFrame, pairs: pd.DataFrame, display: Display, n: int) -> pd.DataFrame:
    """For every pair (a, b), the ``n`` held-out images of b that a's critic finds most a-like (``critic`` a,
    ``culture`` b; by ``contrast``: a's critic's score minus b's), and the ``n`` images of a most b-like."""
    frames = []
    for index, pair in pairs.iterrows():
        for row, (critic, culture) in enumerate([(pair["a"], pair["b"]), (pair["b"], pair["a"])]):
            scored = typicality[(typicality["critic"] == critic) & (typicality["culture"] == culture)]
            chosen = scored.sort_values(["contrast", "id"], ascending=[False, True], kind="stable").head(n)
            if chosen.empty:
                raise UserError(f"the typicality table has no images of '{culture}' scored by the critic of '{critic}' (re-run typicality)")
            frames.append(
                chosen.assign(
                    pair=index, row=2 * index + row, a=pair["a"], b=pair["b"], distance=pair["distance"], closest=pair["closest"],
                    configured=pair["configured"], position=np.arange(len(chosen)),
                )
            )  # fmt: skip
    table = pd.concat(frames, ignore_index=True)
    table["label_critic"] = [display.label(c) for c in table["critic"]]
    table["label_culture"] = [display.label(c) for c in table["culture"]]
    columns = ["pair", "row", "a", "b", "distance", "closest", "configured", "critic", "label_critic", "culture", "label_culture", "position", "rank"]
    return table[columns + ["n_images", "contrast", "score", "score_sd", "id", "source", "space"]]


def plot_bridges(table: pd.DataFrame, images: np.ndarray, display: Display, measure_label: str, n: int) -> object:
    """Two rows per pair a, b: b's images most a-like by a's critic, a's images most b-like by b's."""
    import matplotlib.pyplot as plt

    rows = table.drop_duplicates("row").set_index("row").sort_index()
    side, channels = images.shape[1], images.shape[3]
    width = style.SINGLE_COLUMN * 1.45
    left = 1.35
    strip_width = width - left - 0.08
    row_height = strip_width * side / (n * side + (n - 1) * TILE_GAP) * 1.1
    pair_gap = 0.3
    height = 0.1 + len(rows) * row_height + rows["pair"].nunique() * pair_gap
    fig = plt.figure(figsize=(width, height))
    y = height - 0.05
    for row, info in rows.iterrows():
        if row % 2 == 0:
            y -= pair_gap
            why = f"closest pair {info['closest']}" if info["closest"] else "configured pair"
            distance = f"; {measure_label} = {info['distance']:.3g}" if np.isfinite(info["distance"]) else ""
            fig.text(
                0.05 / width,
                (y + 0.06) / height,
                f"{display.label(info['a'])} – {display.label(info['b'])}: {why}{distance}",
                ha="left",
                va="bottom",
                fontweight="bold",
            )
        y -= row_height
        ax = fig.add_axes([left / width, y / height, strip_width / width, row_height * 0.92 / height])
        chosen = table[table["row"] == row]
        shown = np.full((n, side, side, channels), 255, np.uint8)
        shown[chosen["position"].to_numpy()] = images[chosen.index.to_numpy()]
        _show_image(ax, strip(shown, n))
        _row_label(ax, f"{info['label_culture']} images\nmost {info['label_critic']}-like", display.colour(info["culture"]))
    return fig


def draw_bridges(args, settings: dict, display: Display, registry: pd.DataFrame) -> None:
    from ganstyle.metrics.measures import measure_label

    measure = settings["bridges_measure"] or primary_measure_of_run(args.measures)
    distances = distance_measures(args.measures)
    if measure not in distances:
        raise UserError(f"config key '{BRIDGE_MEASURE_KEY}': '{measure}' is not a distance measure of this run ({args.measures} lists {', '.join(distances)})")
    matrix_path = f"{args.matrices}/{measure}.tsv"
    matrix = read_matrix(matrix_path)
    typicality = load_typicality(args.typicality)
    cultures = list(dict.fromkeys([*display.info.index, *typicality["culture"]]))
    pairs = bridge_list(closest_pairs(matrix, settings["bridges_closest"]), parse_bridge_pairs(settings["bridges_pairs"], list(registry["culture"])), matrix)
    if pairs.empty:
        raise UserError(f"no pairs to show: config keys 'figures.bridges_closest' is 0 and '{BRIDGE_PAIRS_KEY}' is empty")
    display = display_of_missing(display, cultures)
    table = bridges_data(typicality, pairs, display, settings["bridges_images"])
    images = heldout_images(args.corpora, table["id"])
    write_figure(plot_bridges(table, images, display, measure_label(measure), settings["bridges_images"]), args.out, table, settings)


def read_matrix(path: str) -> pd.DataFrame:
    """A square culture x culture matrix (``results/similarity/matrices/<measure>.tsv``)."""
    table = read_table(path, [], "distance matrix")
    matrix = table.set_index(table.columns[0])
    if list(matrix.index) != list(matrix.columns):
        raise UserError(f"{path}: not a square culture x culture matrix (rows and columns differ)")
    return matrix


BRIDGES = Family(
    "bridges", "for close and chosen pairs of cultures, the images of one that the other's critic scores most like its own", draw=draw_bridges,
    only_with="bridge pairs",
    options=(
        Option("--typicality", result="images/typicality.tsv"), Option("--measures", result="similarity/measures.tsv"),
        Option("--matrices", "results/similarity/matrices (the measure is config figures.bridges_measure)"),
        Option("--corpora", "results/corpus/{culture}/images.npz of every culture", nargs="+"),
    ),
    outputs=(Output("images/bridges", "images_bridges_figure.rst", "Images", "Figures"),),
)  # fmt: skip


# --------------------------------------------------------------------------- interpolations


def interpolations_data(table: pd.DataFrame, display: Display) -> pd.DataFrame:
    """The interpolate stage's table with display labels and each pair's rise of p(b) (``ganstyle.stages.interpolation``)."""
    from ganstyle.stages.interpolation import rise_of_pairs

    rises = rise_of_pairs(table).set_index("pair")[["p_b_start", "p_b_end", "spearman_rho", "rises"]]
    data = table.join(rises, on="pair")
    data["label_a"] = [display.label(c) for c in data["a"]]
    data["label_b"] = [display.label(c) for c in data["b"]]
    return data


def plot_interpolations(data: pd.DataFrame, images: np.ndarray) -> object:
    """Per pair a -> b: one strip per noise draw from a (left) to b (right), the judge's p(b) under every image."""
    import matplotlib.pyplot as plt

    n_pairs, draws, steps, side = images.shape[0], images.shape[1], images.shape[2], images.shape[3]
    width = style.SINGLE_COLUMN * 1.45
    left = 0.55
    strip_width = width - left - 0.08
    row_height = strip_width * side / (steps * side + (steps - 1) * TILE_GAP) + 0.12  # room for the p(b) line
    header = 0.42
    height = 0.1 + n_pairs * (header + draws * row_height)
    fig = plt.figure(figsize=(width, height))
    y = height - 0.05
    pairs = data.drop_duplicates("pair").set_index("pair").sort_index()
    for p, pair in pairs.iterrows():
        y -= header
        why = f"closest pair {pair['closest']}" if pair["closest"] else "configured pair"
        verdict = "rises" if pair["rises"] else "does not rise"
        fig.text(0.05 / width, (y + 0.22) / height, f"{pair['label_a']} → {pair['label_b']} ({why})", ha="left", va="bottom", fontweight="bold")
        fig.text(
            0.05 / width, (y + 0.04) / height,
            f"judge's p({pair['label_b']}) {pair['p_b_start']:.2f} → {pair['p_b_end']:.2f}, Spearman ρ {pair['spearman_rho']:.2f}: {verdict}",
            ha="left", va="bottom", fontsize="small",
        )  # fmt: skip
        for draw in range(draws):
            y -= row_height
            ax = fig.add_axes([left / width, (y + 0.12) / height, strip_width / width, (row_height - 0.14) / height])
            _show_image(ax, strip(images[p, draw], steps))
            ax.text(-0.02, 0.5, f"noise {draw + 1}", transform=ax.transAxes, ha="right", va="center", fontsize="small")
            p_b = data[(data["pair"] == p) & (data["draw"] == draw)].sort_values("step")["p_b"].to_numpy()
            for step, value in enumerate(p_b):
                centre = (step * (side + TILE_GAP) + side / 2) / (steps * side + (steps - 1) * TILE_GAP)
                ax.text(centre, -0.04, f"{value:.2f}", transform=ax.transAxes, ha="center", va="top", fontsize="xx-small")
    return fig


def draw_interpolations(args, settings: dict, display: Display, registry: pd.DataFrame) -> None:
    from ganstyle.io.files import load_interpolations

    record = load_interpolations(args.interpolations)
    table = read_table(args.table, ["pair", "a", "b", "closest", "configured", "draw", "step", "weight_b", "p_a", "p_b", "judged"], "interpolation table")
    if table.empty:
        raise UserError(f"{args.table}: no rows (re-run interpolate)")
    n_pairs, draws, steps = record.images.shape[:3]
    if (table["pair"].nunique(), table["draw"].nunique(), table["step"].nunique()) != (n_pairs, draws, steps):
        raise UserError(f"{args.table} and {args.interpolations} disagree on pairs, draws or steps (re-run interpolate)")
    display = display_of_missing(display, list(dict.fromkeys([*record.a, *record.b])))
    data = interpolations_data(table, display)
    write_figure(plot_interpolations(data, record.images), args.out, data, settings)


INTERPOLATIONS = Family(
    "interpolations", "the joint generator moved from culture a to culture b with fixed noise, and the judge's p(b) along each strip",
    draw=draw_interpolations, only_with="interpolations",
    options=(Option("--interpolations", result="images/interpolations.npz"), Option("--table", result="images/interpolations.tsv")),
    outputs=(Output("images/interpolations", "images_interpolations_figure.rst", "Images", "Figures"),),
)  # fmt: skip
