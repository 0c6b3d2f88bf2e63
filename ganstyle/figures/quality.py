"""Figures of the GANs' quality as the judge sees it (``judge``): per culture, how often the judge
(a classifier of real images) names the culture of real held-out images, of each culture's GAN
samples, of the joint generator's samples and of held-out images translated into it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ganstyle.figures import style
from ganstyle.figures.family import Family, Option, Output
from ganstyle.figures.shared import Display, display_of_missing, read_table, with_display, write_figure
from ganstyle.io.files import JUDGE

# what the judge was asked, in the order drawn, and how it is drawn
JUDGED = {
    "real": ("real held-out images", "black", "o"),
    "gan_samples": ("each culture's GAN samples", style.OKABE_ITO[0], "s"),
    "joint_samples": ("joint generator's samples", style.OKABE_ITO[2], "D"),
    "translations": ("held-out images translated into it", style.OKABE_ITO[1], "^"),
}
JUDGE_COLUMNS = ["kind", "seed", "culture", "accuracy", "real_accuracy", "ratio"]


def judge_data(real: pd.DataFrame, scores: dict[str, pd.DataFrame], display: Display, order: list[str]) -> pd.DataFrame:
    """One row per (kind, seed, culture): the share of images the judge names as the culture."""
    rows = [real.assign(kind="real", seed=-1, real_accuracy=real["accuracy"], ratio=1.0)[JUDGE_COLUMNS]]
    rows += [table[JUDGE_COLUMNS] for table in scores.values()]
    table = pd.concat(rows, ignore_index=True)
    table["position"] = table["culture"].map({c: i for i, c in enumerate(order)})
    return with_display(table, display, "culture", "").sort_values(["position", "kind", "seed"], kind="stable", ignore_index=True)


def summary_ratios(table: pd.DataFrame) -> dict[str, float]:
    """Per kind, the mean over cultures (and seeds) of the accuracy relative to real images."""
    judged = table[table["kind"] != "real"]
    return {kind: float(rows["ratio"].mean()) for kind, rows in judged.groupby("kind", sort=False)}


def plot_judge(table: pd.DataFrame, chance: float) -> object:
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    cultures = list(dict.fromkeys(table["label"]))
    kinds = [k for k in JUDGED if k in set(table["kind"])]
    fig, ax = plt.subplots(figsize=style.figure_size("single", min(style.MAX_HEIGHT, 0.9 + 0.2 * len(cultures))), layout="constrained")
    offsets = dict(zip(kinds, np.linspace(-0.27, 0.27, len(kinds)) if len(kinds) > 1 else [0.0]))
    y = {c: len(cultures) - 1 - i for i, c in enumerate(cultures)}
    for kind in kinds:
        rows = table[table["kind"] == kind]
        label, colour, marker = JUDGED[kind]
        ax.scatter(rows["accuracy"], [y[c] + offsets[kind] for c in rows["label"]], s=12, color=colour, marker=marker, linewidths=0, zorder=3)
    ax.axvline(chance, color="0.6", linestyle=":", linewidth=0.8)
    ax.set_yticks(list(y.values()), list(y))
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("share the judge names as the culture")
    ratios = summary_ratios(table)
    handles = [
        Line2D([], [], marker=JUDGED[k][2], color=JUDGED[k][1], linestyle="none", label=JUDGED[k][0] + (f" ({ratios[k]:.0%} of real)" if k in ratios else ""))
        for k in kinds
    ]
    handles.append(Line2D([], [], color="0.6", linestyle=":", label="chance"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.35 / len(cultures)), fontsize="small", frameon=False)
    fig.suptitle("What the judge (a classifier of real images) says")
    return fig


def draw_judge(args, settings: dict, display: Display, registry: pd.DataFrame) -> None:
    real = read_table(args.real, ["culture", "accuracy"], "judge's real held-out accuracy")
    scores = {kind: read_table(getattr(args, kind), JUDGE_COLUMNS, f"judge scores of {kind}") for kind in ("gan_samples", "joint_samples", "translations")}
    order = [c for c in display.info.index if c in set(real["culture"])]
    table = judge_data(real, scores, display_of_missing(display, order), order)
    write_figure(plot_judge(table, 1 / len(order)), args.out, table, settings)


JUDGE_FIGURE = Family(
    "judge", "share of real, generated and translated images the judge names as their culture", draw=draw_judge, only_with="judge of every kind",
    options=(
        Option("--real", result=JUDGE.relative("real")),
        Option("--gan-samples", result=JUDGE.relative("gan_samples")),
        Option("--joint-samples", result=JUDGE.relative("joint_samples")),
        Option("--translations", result=JUDGE.relative("translations")),
    ),
    outputs=(Output("judge", "training_judge.rst", "Training", "Judge"),),
)  # fmt: skip
