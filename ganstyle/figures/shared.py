"""What every figure family shares: culture labels and colours, the readers of the
earlier stages' files, and writing a figure with the table it plots.

The readers of ``distances.npz`` (``read_culture_order``, ``read_distance_matrices``) live here only,
so that changing how that file is loaded is a change in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ganstyle import io
from ganstyle.errors import UserError
from ganstyle.figures import style
from ganstyle.io.files import load_distances

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- cultures


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


def display_of_missing(display: Display, cultures: Sequence[str]) -> Display:
    """``display`` extended by cultures it does not know (label = id, no group)."""
    unknown = [c for c in cultures if c not in display.info.index]
    if not unknown:
        return display
    extra = pd.DataFrame({"label": unknown, "group": style.NO_GROUP, "colour": style.NO_GROUP_COLOUR}, index=pd.Index(unknown, name="culture"))
    return Display(pd.concat([display.info, extra]), {**display.palette, style.NO_GROUP: style.NO_GROUP_COLOUR})


def with_display(frame: pd.DataFrame, display: Display, column: str, suffix: str) -> pd.DataFrame:
    """Add label and group columns for the cultures in ``column``."""
    frame[f"label{suffix}"] = [display.label(c) for c in frame[column]]
    frame[f"group{suffix}"] = [display.group(c) for c in frame[column]]
    return frame


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


def heldout_images(corpora: Sequence[str], ids: Sequence[str]) -> np.ndarray:
    """The held-out images ``ids`` (uint8 NHWC, in that order; an id may repeat) from the cultures' corpora;
    UserError naming an id no corpus holds."""
    from ganstyle.stages.corpus import load_corpus

    ids, repeated = np.unique(np.asarray(ids).astype(str), return_inverse=True)
    wanted = {image: k for k, image in enumerate(ids)}
    out, found = None, np.zeros(len(ids), bool)
    for path in corpora:
        images, corpus_ids = load_corpus(path, split="heldout")
        rows = [(k, wanted[image]) for k, image in enumerate(np.asarray(corpus_ids).astype(str)) if image in wanted]
        if not rows:
            continue
        if out is None:
            out = np.zeros((len(ids), *images.shape[1:]), np.uint8)
        elif images.shape[1:] != out.shape[1:]:
            raise UserError(f"{path}: images of shape {images.shape[1:]}, other corpora {out.shape[1:]}")
        targets = [t for _, t in rows]
        out[targets], found[targets] = images[[k for k, _ in rows]], True
    if not found.all():
        raise UserError(
            f"{int((~found).sum())} image(s) are no held-out image of {', '.join(map(str, corpora))} (e.g. {ids[~found][0]}): re-run extract_features"
        )
    return out[repeated]


def read_culture_order(distances: str | Path) -> list[str]:
    """Culture order of the matrices (the similarity stage's ``distances.npz``)."""
    return load_distances(distances).cultures


def read_distance_matrices(distances: str | Path) -> tuple[list[str], dict[str, np.ndarray]]:
    from ganstyle.stages.clustering import read_distances

    cultures, points, _, _ = read_distances(str(distances))
    return cultures, points


def distance_measures(measures_tsv: str | Path) -> list[str]:
    """Measures the similarity stage marked as distances (clustered, Mantel-tested)."""
    table = read_table(measures_tsv, ["measure", "distance"], "measure list")
    flags = table["distance"].astype(str).str.lower().isin(["true", "1"])
    return list(table.loc[flags, "measure"])


def primary_measure_of_run(measures_tsv: str | Path) -> str:
    """The measure the similarity stage marked primary (config similarity.primary_measure)."""
    table = read_table(measures_tsv, ["measure", "primary"], "measure list")
    marked = table.loc[table["primary"].astype(str).str.lower().isin(["true", "1"]), "measure"]
    if len(marked) != 1:
        raise UserError(f"{measures_tsv}: {len(marked)} measures marked primary, expected 1 (re-run similarity)")
    return str(marked.iloc[0])


# --------------------------------------------------------------------------- writing


def write_figure(fig, stem, table: pd.DataFrame, settings: dict) -> None:
    """``{stem}.pdf``/``.png`` (config ``figures.formats``) and ``{stem}.tsv``, the table the figure plots."""
    paths = style.save(fig, stem, table, settings["formats"], settings["dpi"])
    log.info("wrote %s", ", ".join(str(p) for p in paths.values()))
