"""Image figures: example images of every culture (``corpus``), one culture's real vs generated
images and training curves (``training``), and held-out images translated into every culture (``translations``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ganstyle.errors import UserError
from ganstyle.figures import style
from ganstyle.figures.family import Family, Option, Output
from ganstyle.figures.shared import Display, display_of_missing, read_table, with_display, write_figure
from ganstyle.io.files import Translations, load_samples, load_translations
from ganstyle.io.images import image_grid

# --------------------------------------------------------------------------- tiles


def pick_evenly(n_total: int, n: int) -> np.ndarray:
    """Up to ``n`` indices spread evenly over ``range(n_total)``: a deterministic, unbiased choice."""
    if n_total <= 0 or n <= 0:
        return np.zeros(0, dtype=int)
    return np.unique(np.linspace(0, n_total - 1, min(n, n_total)).round().astype(int))


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
    return with_display(table, display, "culture", "")


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
        _show_image(ax, image_grid(shown[culture], columns, gap=4, fill=GAP_GREY), frame=True)
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


def draw_corpus(args, settings: dict, display: Display, registry: pd.DataFrame) -> None:
    from ganstyle.stages.corpus import load_corpus

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
    write_figure(plot_corpus_examples(table, shown, display.palette), args.out, table, settings)


CORPUS = Family(
    "corpus", "example training images of every culture", draw=draw_corpus,
    options=(Option("--cultures", "culture names, one per --corpora file", nargs="+"), Option("--corpora", "results/corpus/{culture}/images.npz", nargs="+")),
    outputs=(Output("corpus/examples", "corpus_examples.rst", "Corpus", "Figures"),),
)  # fmt: skip


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
        _show_image(ax, image_grid(images[rows["index"].to_numpy()], grid, gap=3, fill=GAP_GREY), frame=True)
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


def draw_training(args, settings: dict, display: Display, registry: pd.DataFrame) -> None:
    from ganstyle.stages.corpus import load_corpus

    real, real_ids = load_corpus(args.corpus, split="train")
    generated = load_samples(args.samples).images
    if generated.shape[1:] != real.shape[1:]:
        raise UserError(f"{args.samples}: generated images are {generated.shape[1:]}, the corpus {args.corpus} has {real.shape[1:]}")
    label = display.label(args.culture)
    samples = sample_grid_data(real_ids, len(generated), settings["sample_grid"], args.sample_seed)
    write_figure(
        plot_sample_grids(samples, real, generated, label), args.out_samples, samples.assign(culture=args.culture)[["culture", *samples.columns]], settings
    )

    if len(args.histories) != len(args.seeds):
        raise UserError("--histories and --seeds must list the same number of entries")
    histories = {seed: read_table(path, HISTORY_COLUMNS, "training history") for seed, path in zip(args.seeds, args.histories)}
    curves = training_curves_data(histories, args.culture)
    write_figure(plot_training_curves(curves, label), args.out_curves, curves, settings)


TRAINING = Family(
    "training", "one culture: real vs generated samples, training curves", draw=draw_training,
    options=(
        Option("--culture"), Option("--corpus", "results/corpus/{culture}/images.npz"),
        Option("--samples", "results/gan/{culture}/seed{seed}/samples.npz (first seed)"), Option("--sample-seed", "the GAN seed of --samples", type=int),
        Option("--histories", "history.tsv of every seed", nargs="+"), Option("--seeds", "the seed of each --histories file", type=int, nargs="+"),
    ),
    outputs=(
        Output("training/{culture}_samples", "training_samples.rst", "Training", "Real vs generated", flag="--out-samples"),
        Output("training/{culture}_curves", "training_curves.rst", "Training", "Training curves", flag="--out-curves"),
    ),
)  # fmt: skip


# --------------------------------------------------------------------------- translations


def translations_data(translations: Translations, display: Display, order: Sequence[str], per_culture: int) -> pd.DataFrame:
    """One row per shown source image and target culture: which held-out image (its row in
    ``translations.npz``), its culture, the target culture and the image's cycle error there."""
    rows = []
    for source in order:
        k = list(translations.cultures).index(source)
        picked = np.flatnonzero(translations.source_culture == k)[:per_culture]
        for index in picked:
            for target in order:
                t = list(translations.cultures).index(target)
                rows.append(
                    {
                        "source": source,
                        "image": str(translations.source_ids[index]),
                        "row": int(index),
                        "target": target,
                        "cycle_error": float(translations.cycle_error[t, index]),
                    }
                )
    table = pd.DataFrame(rows, columns=["source", "image", "row", "target", "cycle_error"])
    return with_display(with_display(table, display, "source", "_source"), display, "target", "_target")


def plot_translations(table: pd.DataFrame, translations: Translations, display: Display) -> object:
    """Rows: held-out images; first column: the image; then its translation into each culture
    (on the diagonal: its reconstruction as its own culture)."""
    import matplotlib.pyplot as plt

    targets = list(dict.fromkeys(table["target"]))
    images = list(dict.fromkeys(zip(table["source"], table["row"])))
    culture_index = {c: i for i, c in enumerate(translations.cultures)}
    width = style.DOUBLE_COLUMN
    left, top, gap = 0.8, 0.95, 0.03  # top: the rotated culture names, below the title
    cell = (width - left - 0.05) / (len(targets) + 1) - gap
    height = top + len(images) * (cell + gap) + 0.05
    fig = plt.figure(figsize=(width, min(style.MAX_HEIGHT, height)))
    height = fig.get_size_inches()[1]
    cell = min(cell, (height - top - 0.05) / len(images) - gap)
    for r, (source, index) in enumerate(images):
        y0 = height - top - (r + 1) * (cell + gap) + gap
        shown = [translations.sources[index]] + [translations.translated[culture_index[t], index] for t in targets]
        for c, image in enumerate(shown):
            x0 = left + c * (cell + gap) + (0.08 if c else 0.0)
            ax = fig.add_axes([x0 / width, y0 / height, cell / width, cell / height])
            _show_image(ax, image, frame=c > 0 and targets[c - 1] == source)
            if r == 0:
                fig.text((x0 + cell / 2) / width, (height - top + 0.04) / height, "source" if c == 0 else display.label(targets[c - 1]),
                         ha="center", va="bottom", rotation=90 if c else 0, fontsize="small")  # fmt: skip
        if r == 0 or images[r - 1][0] != source:
            fig.text((left - 0.06) / width, (y0 + cell / 2) / height, display.label(source), ha="right", va="center", color=display.colour(source))
    fig.suptitle("Held-out images translated into every culture (framed: reconstruction as its own culture)", y=0.995)
    return fig


def draw_translations(args, settings: dict, display: Display, registry: pd.DataFrame) -> None:
    translations = load_translations(args.translations)
    order = [c for c in display.info.index if c in set(translations.cultures)]
    table = translations_data(translations, display_of_missing(display, order), order, args.per_culture)
    write_figure(plot_translations(table, translations, display_of_missing(display, order)), args.out, table, settings)


TRANSLATIONS = Family(
    "translations", "held-out images of every culture translated into every culture", draw=draw_translations, only_with="translators",
    options=(
        Option("--translations", "results/transfer/seed{seed}/translations.npz of the first GAN seed"),
        Option("--per-culture", "held-out images shown per culture", type=int, default=1),
    ),
    outputs=(Output("transfer/translations", "transfer_translations.rst", "Transfer"),),
)  # fmt: skip
