"""Museum exports as they come: which rows of a metadata table are a study's images, and why the others are not.

A table such as The Met's ``MetObjects.csv`` has one row per object, a free-text grouping column
(``Culture``, ``Period``, ``Country``...) and often no image path at all, only an id the user saved
the image under.  Config key ``metadata`` says how to read it (workflow/schemas/config.schema.yaml);
:func:`select_rows` gives every row either a culture id and an image, or the reason it was
dropped, in this order:

``filtered``
    a value of a ``metadata.filters`` column is not one of the values listed for it;
``blank_culture``
    the grouping column is blank;
``multiple_cultures``
    the grouping cell, split on ``metadata.separator``, names more than one culture (an object
    of mixed or uncertain attribution is evidence for neither, and its image in two corpora would
    be dropped from both by the leakage check anyway);
``unmapped``
    a ``metadata.mapping`` file is given and does not list the value;
``blank_image``
    the image column, or a column of the image pattern, is blank;
``image_missing``
    no file at the image path;
``below_min_images``
    the culture has fewer than ``ingest.min_images`` rows left (cultures with a registry folder
    are exempt: their folder adds images).

So rows used plus rows dropped is rows read.  Free-text values become ids by :func:`slug`
(``Greek, Attic`` -> ``greek_attic``) and keep their text as label; two values with one slug are
an error, as is anything ambiguous in a mapping file.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ganstyle.config import load_schema
from ganstyle.errors import UserError
from ganstyle.io.tables import Header, Table, read_header, read_table

REASONS = ("filtered", "blank_culture", "multiple_cultures", "unmapped", "blank_image", "image_missing", "below_min_images")
CULTURE_ID = re.compile(load_schema("cultures")["properties"]["culture"]["pattern"])
MAX_ID_LENGTH = 60
REPORT_COLUMNS = ["kind", "reason", "culture", "label", "group", "rows", "detail"]
_USED = ""  # the reason of a row that is used


def clean_text(value: str) -> str:
    """A cell as compared and shown: surrounding space dropped, runs of white space as one space."""
    return " ".join(value.split())


def slug(text: str) -> str:
    """A culture id from free text: accents dropped, lowercase, every run of other characters one '_'.

    ``Greek, Attic`` -> ``greek_attic``; ``Chinese (Qing dynasty)`` -> ``chinese_qing_dynasty``.
    Text with no letter or digit of the Latin alphabet (``中国``) gets ``culture_`` and a hash of it.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    if not words:
        return "culture_" + hashlib.sha256(text.encode()).hexdigest()[:8]
    return words[:MAX_ID_LENGTH].rstrip("_")


def as_text(value) -> str:
    """A filter value from YAML as the table writes it: true -> 'True' (The Met's spelling), 1850 -> '1850'."""
    return str(value)


# --------------------------------------------------------------------------- image pattern

_PATTERN_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


@dataclass(frozen=True)
class ImagePattern:
    """An image path with column names in braces, e.g. ``images/{Object ID}.jpg`` (``{{``, ``}}``: literal braces)."""

    text: str
    parts: tuple[tuple[str, bool], ...]  # (literal text, False) or (column, True)

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(part for part, is_column in self.parts if is_column))

    @classmethod
    def parse(cls, text: str, key: str) -> ImagePattern:
        parts, literal, position = [], "", 0
        for match in _PATTERN_TOKEN.finditer(text):
            literal += text[position : match.start()]
            token = match.group(0)
            if token in ("{{", "}}"):
                literal += token[0]
            elif token in ("{", "}"):
                raise UserError(
                    f"config key '{key}': {text!r} has an unmatched {token!r} at character {match.start() + 1} (write {token * 2} for a literal one)"
                )
            else:
                column = match.group(1).strip()
                if not column:
                    raise UserError(f"config key '{key}': {text!r} has empty braces at character {match.start() + 1}; put a column name in them")
                if literal:
                    parts.append((literal, False))
                parts.append((column, True))
                literal = ""
            position = match.end()
        literal += text[position:]
        if literal:
            parts.append((literal, False))
        if not any(is_column for _, is_column in parts):
            raise UserError(f"config key '{key}': {text!r} names no column in braces, so every row would have the same image (e.g. images/{{Object ID}}.jpg)")
        return cls(text, tuple(parts))

    def render(self, frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        """Each row's path, and whether a column it needs is blank."""
        paths = pd.Series("", index=frame.index, dtype=object)
        blank = pd.Series(False, index=frame.index)
        for part, is_column in self.parts:
            if is_column:
                values = frame[part].str.strip()
                blank |= values == ""
                paths = paths + values.astype(object)
            else:
                paths = paths + part
        return paths, blank


# --------------------------------------------------------------------------- mapping file


@dataclass
class Mapping:
    """A mapping file: raw value -> culture id, and each culture's label and group where given."""

    path: Path
    culture: dict[str, str] = field(default_factory=dict)  # clean value -> culture id
    label: dict[str, str] = field(default_factory=dict)  # culture id -> label
    group: dict[str, str] = field(default_factory=dict)  # culture id -> group
    line: dict[str, int] = field(default_factory=dict)  # culture id -> first line that names it


def read_mapping(path: Path) -> Mapping:
    """Read and check a mapping file (columns value, culture, and optionally label, group)."""
    header = read_header(path, "culture mapping (config key metadata.mapping)")
    header.require({"value": "the raw value of the grouping column", "culture": "the culture id it becomes"})
    table = read_table(header, [c for c in ("value", "culture", "label", "group") if c in header.columns])
    mapping = Mapping(path)
    value_line: dict[str, int] = {}
    given: dict[tuple[str, str], tuple[str, int]] = {}  # (column, culture) -> (value, line)
    for record, row in enumerate(table.frame.to_dict("records")):
        line = table.line(record)
        value, culture = clean_text(row["value"]), row["culture"].strip()
        if not value:
            raise UserError(f"{path} line {line}, column 'value': blank (every row maps one value of the grouping column)")
        if not CULTURE_ID.match(culture):
            raise UserError(f"{path} line {line}, column 'culture': {culture!r} is not an id (lowercase letters, digits, '_')")
        if value in mapping.culture and mapping.culture[value] != culture:
            raise UserError(
                f"{path} lines {value_line[value]} and {line}, column 'value': {value!r} is mapped to both {mapping.culture[value]!r} and {culture!r}"
            )
        mapping.culture[value] = culture
        value_line.setdefault(value, line)
        mapping.line.setdefault(culture, line)
        for column in ("label", "group"):
            text = clean_text(row.get(column, ""))
            if not text:
                continue
            earlier = given.setdefault((column, culture), (text, line))
            if earlier[0] != text:
                raise UserError(f"{path} lines {earlier[1]} and {line}, column {column!r}: culture {culture!r} has both {earlier[0]!r} and {text!r}")
            getattr(mapping, column)[culture] = text
    return mapping


# --------------------------------------------------------------------------- the selection


@dataclass
class Selection:
    """Every row of a metadata table: its culture and image, or why it was dropped."""

    header: Header
    settings: dict
    root: Path  # base of relative image paths
    culture: np.ndarray  # (rows,) culture id of a used row, '' otherwise
    image: np.ndarray  # (rows,) absolute image path of a used row, '' otherwise
    reason: np.ndarray  # (rows,) '' for a used row, else one of REASONS
    detail: np.ndarray  # (rows,) which filter, for 'filtered' rows
    labels: dict[str, str]  # culture id -> label (text of the table or mapping)
    groups: dict[str, str]  # culture id -> group (from the mapping)
    values: dict[str, list[str]]  # culture id -> the raw values that gave it, most rows first
    examples: dict[str, str]  # reason -> the first value or path it was dropped for
    unmapped: Counter  # unmapped value -> rows

    @property
    def rows(self) -> int:
        return len(self.reason)

    def used(self) -> pd.Series:
        """Rows used per culture."""
        cultures = self.culture[self.reason == _USED]
        return pd.Series(cultures).value_counts().sort_index()

    @functools.cached_property
    def images(self) -> dict[str, tuple[str, ...]]:
        """Each culture's image files (absolute paths), in path order, each once."""
        used = self.reason == _USED
        frame = pd.DataFrame({"culture": self.culture[used], "image": self.image[used]}).drop_duplicates().sort_values(["culture", "image"])
        return {culture: tuple(group) for culture, group in frame.groupby("culture", sort=True)["image"]}


def _filter_mask(cells: pd.Series, values: list[str], separator: str | None) -> np.ndarray:
    """Rows whose cell, or one of its parts split on ``separator``, is one of ``values``."""
    wanted = {clean_text(v) for v in values}
    unique = cells.unique()
    keep = {cell for cell in unique if clean_text(cell) in wanted or (separator and any(clean_text(p) in wanted for p in cell.split(separator)))}
    return cells.isin(keep).to_numpy()


def _cell_cultures(cells, separator: str | None, mapping: Mapping | None) -> dict[str, tuple[str, str]]:
    """Each distinct grouping cell -> (reason or '', its one value: mapped id, or clean text without a mapping)."""
    outcome = {}
    for cell in cells:
        parts = list(dict.fromkeys(p for p in (clean_text(x) for x in (cell.split(separator) if separator else [cell])) if p))
        if not parts:
            outcome[cell] = ("blank_culture", "")
        elif mapping is None:
            outcome[cell] = ("multiple_cultures", cell) if len(parts) > 1 else (_USED, parts[0])
        else:
            # an unmapped part counts as a culture of its own: "Greek|Egyptian" with only Greek mapped is not only Greek
            names = list(dict.fromkeys(mapping.culture.get(p, f"\0{p}") for p in parts))
            if all(name.startswith("\0") for name in names):
                outcome[cell] = ("unmapped", cell)
            elif len(names) > 1:
                outcome[cell] = ("multiple_cultures", cell)
            else:
                outcome[cell] = (_USED, names[0])
    return outcome


def _slug_ids(values: pd.Series, table: Table, column: str) -> dict[str, str]:
    """Free-text value -> its slug; two values with one slug are an error naming both and their first lines."""
    ids: dict[str, str] = {}
    by_id: dict[str, str] = {}
    for value in values.unique():
        culture = slug(value)
        if culture in by_id:
            first, second = (values == by_id[culture]).to_numpy().argmax(), (values == value).to_numpy().argmax()
            raise UserError(
                f"{table.path} lines {table.line(int(values.index[first]))} and {table.line(int(values.index[second]))}, column {column!r}: "
                f"{by_id[culture]!r} and {value!r} both become the culture id {culture!r}; "
                "list both in a mapping file (config key metadata.mapping) to merge or tell them apart"
            )
        by_id[culture] = value
        ids[value] = culture
    return ids


def absolute(paths: np.ndarray, root: Path) -> np.ndarray:
    """Paths relative to ``root`` made absolute (absolute ones kept)."""
    prefix = os.path.join(root, "")
    return np.array([p if p.startswith(os.sep) else prefix + p for p in paths], dtype=object)


def existing(paths: np.ndarray) -> np.ndarray:
    """Whether there is a directory entry at each path (a broken link counts: ingest rejects it with a reason).

    Images usually share a few folders: each is listed once, which is much faster than a stat per
    path; paths spread over many folders are looked up one by one.
    """
    folders, _, names = (np.array(part, dtype=object) for part in zip(*(p.rpartition(os.sep) for p in paths))) if len(paths) else ([], [], [])
    found = np.zeros(len(paths), dtype=bool)
    codes, distinct = pd.factorize(np.asarray(folders, dtype=object))
    if len(distinct) * 4 > len(paths):
        for index, path in enumerate(paths):
            try:
                found[index] = os.path.lexists(path)
            except (ValueError, OSError):  # a NUL byte, a name too long
                pass
        return found
    for code, folder in enumerate(distinct):
        try:
            listed = set(os.listdir(folder or os.sep))
        except (ValueError, OSError):  # no such folder, or not one
            continue
        in_folder = np.flatnonzero(codes == code)
        found[in_folder] = [name in listed for name in names[in_folder]]
    return found


def select_rows(
    settings: dict, path: Path, mapping_path: Path | None, root: Path, min_images: int | None = None, folder_cultures: frozenset[str] = frozenset()
) -> tuple[Selection, Mapping | None]:
    """Read the table at ``path`` as ``settings`` (the config's ``metadata`` section, with defaults) say, and decide every row.

    ``mapping_path``, ``root``: ``metadata.mapping`` and ``metadata.root`` resolved.
    """
    header = read_header(path, "metadata table (config key metadata.path)", settings["encoding"], "metadata.encoding")
    column = settings["culture_column"]
    if settings.get("image"):
        pattern = ImagePattern.parse(settings["image"], "metadata.image")
        image_key = "metadata.image"
    else:
        pattern = ImagePattern(f"{{{settings['image_column']}}}", ((settings["image_column"], True),))
        image_key = "metadata.image_column"
    filters = {name: [as_text(v) for v in (values if isinstance(values, list) else [values])] for name, values in settings["filters"].items()}
    needed = {column: "config key 'metadata.culture_column'"}
    needed.update({name: f"config key '{image_key}'" for name in pattern.columns})
    needed.update({name: f"config key 'metadata.filters.{name}'" for name in filters})
    header.require(needed)
    table = read_table(header, list(needed))
    frame = table.frame
    mapping = read_mapping(mapping_path) if mapping_path is not None else None
    separator = settings["separator"]

    rows = len(frame)
    reason = np.full(rows, _USED, dtype=object)
    detail = np.full(rows, "", dtype=object)
    examples: dict[str, str] = {}

    def drop(mask: np.ndarray, why: str, what: pd.Series | np.ndarray | None = None) -> None:
        new = mask & (reason == _USED)
        if new.any():
            reason[new] = why
            if what is not None and why not in examples:
                examples[why] = str(np.asarray(what)[new.argmax()])

    for name, values in filters.items():
        dropped = ~_filter_mask(frame[name], values, separator) & (reason == _USED)
        reason[dropped], detail[dropped] = "filtered", name

    # decided once per distinct cell: an export has far fewer cultures than rows
    codes, distinct = pd.factorize(frame[column])
    outcome = _cell_cultures(distinct, separator, mapping)
    cell_reason = np.array([outcome[c][0] for c in distinct], dtype=object)[codes]
    cell_value = np.array([outcome[c][1] for c in distinct], dtype=object)[codes]
    for why in ("blank_culture", "multiple_cultures", "unmapped"):
        drop(cell_reason == why, why, cell_value)
    unmapped = Counter(cell_value[reason == "unmapped"])

    candidates = reason == _USED
    if mapping is None:
        ids = _slug_ids(pd.Series(cell_value[candidates], index=np.flatnonzero(candidates)), table, column)
        culture = np.array([ids.get(outcome[c][1], "") for c in distinct], dtype=object)[codes]
    else:
        culture = cell_value.copy()
    culture[~candidates] = ""

    paths, blank = pattern.render(frame)
    drop(blank.to_numpy(), "blank_image", paths)
    candidates = np.flatnonzero(reason == _USED)
    image = np.full(rows, "", dtype=object)
    image[candidates] = absolute(paths.to_numpy()[candidates], root)
    missing = np.zeros(rows, dtype=bool)
    missing[candidates[~existing(image[candidates])]] = True
    drop(missing, "image_missing", image)

    if min_images is not None:
        counts = Counter(culture[reason == _USED])
        small = {c for c, n in counts.items() if n < min_images and c not in folder_cultures}
        drop(pd.Series(culture).isin(small).to_numpy(), "below_min_images")  # hashed: np.isin on text compares every pair

    culture[reason != _USED] = np.where(reason[reason != _USED] == "below_min_images", culture[reason != _USED], "")
    image[reason != _USED] = ""
    # the cells that gave each culture, most rows first
    kept = (reason == _USED) | (reason == "below_min_images")
    pairs = pd.DataFrame({"culture": culture[kept], "code": codes[kept]}).value_counts().reset_index()
    values: dict[str, list[str]] = {}
    for name, code in pairs.sort_values(["count", "code"], ascending=[False, True])[["culture", "code"]].itertuples(index=False):
        values.setdefault(name, []).append(clean_text(distinct[code]))
    if mapping is None:
        labels = {ids[value]: value for value in ids}  # one value per id: slugs that collide are an error
        groups = {}
    else:
        labels = {name: mapping.label.get(name) or next(v for v, c in mapping.culture.items() if c == name) for name in values}
        groups = {name: mapping.group[name] for name in values if name in mapping.group}
    selection = Selection(header, settings, root, culture, image, reason, detail, labels, groups, values, examples, unmapped)
    return selection, mapping


# --------------------------------------------------------------------------- what was used


def report(selection: Selection, registry: pd.DataFrame) -> pd.DataFrame:
    """The metadata report: rows read; rows used per culture (in the order of ``registry``, the study's, whose
    labels and groups it shows) with the values that gave it; rows dropped per reason (per filter column, per
    culture below min_images)."""
    settings, header = selection.settings, selection.header
    labels = {**selection.labels, **dict(zip(registry.index, registry["label"].astype(str)))}
    groups = {**selection.groups, **{c: str(g) for c, g in zip(registry.index, registry["group"]) if not _missing(g)}}
    order = list(registry.index)
    rows = [{"kind": "read", "reason": "", "culture": "", "label": "", "group": "", "rows": selection.rows, "detail": f"{header.path} ({header.describe()})"}]
    used = selection.used().to_dict()
    for culture in [c for c in order if c in used]:
        shown = selection.values[culture]
        values = "; ".join(shown[:5]) + (f"; ... ({len(shown)} values)" if len(shown) > 5 else "")
        rows.append(
            {"kind": "used", "culture": culture, "label": labels[culture], "group": groups.get(culture, ""), "rows": int(used[culture]), "detail": values}
        )
    column = settings["culture_column"]
    for reason in REASONS:
        chosen = selection.reason == reason
        if not chosen.any():
            continue
        if reason == "filtered":
            for name, values in settings["filters"].items():
                n = int((chosen & (selection.detail == name)).sum())
                if n:
                    listed = ", ".join(repr(as_text(v)) for v in (values if isinstance(values, list) else [values]))
                    rows.append({"kind": "dropped", "reason": reason, "rows": n, "detail": f"column {name!r} holds none of {listed}"})
        elif reason == "below_min_images":
            small = pd.Series(selection.culture[chosen]).value_counts()
            for culture in sorted(small.index):
                rows.append(
                    {
                        "kind": "dropped",
                        "reason": reason,
                        "culture": culture,
                        "label": labels.get(culture, culture),
                        "group": groups.get(culture, ""),
                        "rows": int(small[culture]),
                        "detail": "fewer rows with images than ingest.min_images",
                    }
                )
        else:
            rows.append({"kind": "dropped", "reason": reason, "rows": int(chosen.sum()), "detail": _drop_detail(selection, reason, column)})
    return pd.DataFrame(rows, columns=REPORT_COLUMNS).fillna("")


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value) == ""


def _drop_detail(selection: Selection, reason: str, column: str) -> str:
    settings, example = selection.settings, selection.examples.get(reason, "")
    if reason == "blank_culture":
        return f"column {column!r} is blank"
    if reason == "multiple_cultures":
        return f"column {column!r} names more than one culture (split on {settings['separator']!r}), e.g. {example!r}"
    if reason == "unmapped":
        top = ", ".join(f"{value!r} ({n})" for value, n in selection.unmapped.most_common(10))
        more = f" and {len(selection.unmapped) - 10} more values" if len(selection.unmapped) > 10 else ""
        return f"not in {settings['mapping']}: {top}{more}"
    if reason == "blank_image":
        return f"a column of the image path {settings.get('image') or '{' + settings['image_column'] + '}'} is blank"
    return f"no such file, e.g. {example}"


def summary(frame: pd.DataFrame) -> str:
    """The report as one log line."""
    read = int(frame.loc[frame["kind"] == "read", "rows"].sum())
    used = frame[frame["kind"] == "used"]
    dropped = frame[frame["kind"] == "dropped"].groupby("reason", sort=False)["rows"].sum()
    reasons = ", ".join(f"{reason} {int(n)}" for reason, n in dropped.items()) or "none"
    return f"{read} rows read, {int(used['rows'].sum())} used by {len(used)} culture(s); dropped: {reasons}"
