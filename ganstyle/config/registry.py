"""The study's cultures: which exist, what they are called, and where their images are.

Two ways in, combinable: a culture registry (config key ``cultures``, e.g. ``data/cultures.tsv``:
one row per culture, with a folder of images, a label, and optionally a group and coordinates) and a
museum-export metadata table (config key ``metadata``: one row per image; see
:mod:`ganstyle.config.metadata`).  Either alone is a complete study.  A registry row without a folder
gives a table culture its label, group and coordinates.

The culture list is computed when Snakemake builds the DAG (``workflow/rules/common.smk``) and again,
identically, by the stages that need it: registry cultures in registry order, then the table's
others by id.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pandas as pd

from ganstyle.config import load_schema, validate
from ganstyle.config.metadata import Mapping, Selection, report, select_rows, summary
from ganstyle.errors import UserError
from ganstyle.io.tables import Table, read_header, read_table

log = logging.getLogger("ganstyle.config.registry")

REGISTRY_COLUMNS = ["culture", "path", "label", "group", "lat", "lon", "source", "license"]
OPTIONAL_COLUMNS = REGISTRY_COLUMNS[3:]


@dataclass(frozen=True)
class CultureSource:
    """Where one culture's images come from: a folder, or an explicit file list."""

    culture: str
    root: Path
    files: tuple[Path, ...] | None = None  # None: every file under root, recursively
    folder: bool = True  # root is the culture's own folder (else only the base of the table's image paths)


def resolve(path: str | Path, base: Path | None = None) -> Path:
    """Relative paths are taken from the working directory (the repository root
    when Snakemake runs the workflow there), or from ``base``."""
    path = Path(path)
    return path if path.is_absolute() else (base or Path.cwd()) / path


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value)) or str(value) == ""


def _row_error(table: Table, index: int, row: dict, err: jsonschema.ValidationError) -> UserError:
    column = err.absolute_path[0] if err.absolute_path else None
    where = f"column '{column}'" if column else "row"
    return UserError(f"{table.path} line {table.line(index)} ({row.get('culture', '?')!r}): {where}: {err.message}")


def _validate_rows(table: Table) -> list[dict]:
    validator = jsonschema.Draft202012Validator(load_schema("cultures"))
    rows = []
    for index, record in enumerate(table.frame.to_dict("records")):
        row = {k: (None if v == "" else v) for k, v in record.items()}
        for key in ("lat", "lon"):
            if row.get(key) is not None:
                try:
                    row[key] = float(row[key])
                except ValueError:
                    pass  # the schema reports it as "not of type number"
        error = next(iter(sorted(validator.iter_errors(row), key=lambda e: list(e.absolute_path))), None)
        if error is not None:
            raise _row_error(table, index, row, error)
        rows.append(row)
    return rows


def read_registry(cultures_tsv: str | Path, base: Path | None = None) -> pd.DataFrame:
    """A registry file, validated, one row per culture (indexed by culture); it may be empty.

    Raises UserError with one line naming the file, line and column on the first bad row.
    """
    path = resolve(cultures_tsv, base)
    header = read_header(path, "culture registry")
    header.require({"culture": "the culture id", "label": "its display name"})
    table = read_table(header)
    registry = pd.DataFrame(_validate_rows(table), columns=list(table.frame.columns))
    for column in ["path", *OPTIONAL_COLUMNS]:
        if column not in registry:
            registry[column] = None
    duplicated = registry["culture"][registry["culture"].duplicated()]
    if len(duplicated):
        raise UserError(f"{path}: culture '{duplicated.iloc[0]}' is listed twice")
    registry["path"] = registry["path"].fillna("")
    registry = registry.set_index("culture", drop=False)
    registry.index.name = None
    return registry[REGISTRY_COLUMNS]


def metadata_settings(metadata: dict) -> dict:
    """The config's ``metadata`` section checked against the schema, with its defaults."""
    return validate({"metadata": dict(metadata)}, source="metadata")["metadata"]


@dataclass(frozen=True)
class Study:
    """The cultures of a study and where each one's images are."""

    registry: pd.DataFrame  # one row per culture, in study order; columns REGISTRY_COLUMNS
    base: Path | None = None
    selection: Selection | None = None  # the metadata table's rows, each used or dropped with a reason

    @property
    def cultures(self) -> list[str]:
        return list(self.registry["culture"])

    def table_images(self, culture: str) -> tuple[Path, ...]:
        if self.selection is None:
            return ()
        return tuple(Path(p) for p in self.selection.images.get(culture, ()))

    def source(self, culture: str) -> CultureSource:
        """The folder and/or files that make up one culture's corpus."""
        if culture not in self.registry.index:
            dropped = self.selection is not None and culture in set(self.selection.culture[self.selection.reason == "below_min_images"])
            why = " (its rows in the metadata table are fewer than ingest.min_images)" if dropped else ""
            raise UserError(f"culture '{culture}' is not in the study{why}")
        folder = self.registry.loc[culture, "path"]
        files = self.table_images(culture) or None
        if folder:
            root = resolve(folder, self.base)
            if not root.is_dir():
                raise UserError(f"culture '{culture}': image folder not found: {root} (column 'path' of the registry)")
            if files is not None:
                # both: the folder's images and the listed ones
                files = tuple(sorted({*files, *(p for p in root.rglob("*") if p.is_file() or p.is_symlink())}))
            return CultureSource(culture, root, files)
        if files is None:
            raise UserError(f"culture '{culture}' has neither a folder (registry column 'path') nor rows in the metadata table")
        return CultureSource(culture, self.selection.root, files, folder=False)

    @functools.cached_property
    def metadata_report(self) -> pd.DataFrame | None:
        """What the metadata table gave (results/ingest/metadata_report.tsv); None without one."""
        return None if self.selection is None else report(self.selection, self.registry)

    def digest(self) -> str:
        """Changes when the study's cultures, labels, groups or any culture's table images change."""
        digest = hashlib.sha256(self.registry.to_csv(sep="\t").encode())
        if self.selection is not None:
            digest.update(self.metadata_report.to_csv(sep="\t").encode())
            for culture, files in sorted(self.selection.images.items()):
                digest.update(culture.encode() + b"\0" + "\0".join(files).encode())
        return digest.hexdigest()[:16]


def _declared_by_mapping(registry: pd.DataFrame, culture: str, mapping: Mapping) -> None:
    """A registry culture's label and group as the mapping file gives them: fills a blank group; a different value is an error."""
    for column, declared in (("label", mapping.label), ("group", mapping.group)):
        value, current = declared.get(culture), registry.loc[culture, column]
        if value is None:
            continue
        if _blank(current):
            registry.loc[culture, column] = value
        elif str(current) != value:
            raise UserError(
                f"culture '{culture}': {column} {str(current)!r} in the registry but {value!r} in {mapping.path} line {mapping.line[culture]}; give it in one place"
            )


def load_study(cultures: str | Path | None, metadata: dict | None = None, min_images: int | None = None, base: Path | None = None) -> Study:
    """The study's cultures from a registry, a metadata table, or both.

    ``min_images`` (config ``ingest.min_images``): table cultures with fewer rows with images are
    left out (and counted in the report); None keeps all.
    """
    if not cultures and not metadata:
        raise UserError("config keys 'cultures' and 'metadata' are both empty: name a culture registry, a metadata table, or both")
    registry = read_registry(cultures, base) if cultures else pd.DataFrame(columns=REGISTRY_COLUMNS)
    if not metadata:
        if registry.empty:
            raise UserError(f"{resolve(cultures, base)}: no cultures listed")
        without = registry.index[registry["path"] == ""]
        if len(without):
            raise UserError(f"{resolve(cultures, base)}: culture '{without[0]}' has no folder (column 'path') and no metadata table is configured")
        return Study(registry, base)

    settings = metadata_settings(metadata)
    folders = frozenset(registry.index[registry["path"] != ""])
    table = resolve(settings["path"], base)
    root = resolve(settings["root"], base) if settings["root"] else table.parent
    mapping_path = resolve(settings["mapping"], base) if settings["mapping"] else None
    selection, mapping = select_rows(settings, table, mapping_path, root, min_images, folders)
    used = selection.used()
    small = set(selection.culture[selection.reason == "below_min_images"])
    for culture in registry.index[registry["path"] == ""]:
        if culture in small:
            log.warning("culture '%s' of the registry is left out: its rows in the metadata table are fewer than ingest.min_images", culture)
        elif culture not in used.index:
            raise UserError(
                f"{resolve(cultures, base)}: culture '{culture}' has no folder (column 'path') and no row in the metadata table {selection.header.path}"
            )
    registry = registry[(registry["path"] != "") | registry.index.isin(used.index)].copy()
    if mapping is not None:
        for culture in registry.index.intersection(used.index):
            _declared_by_mapping(registry, culture, mapping)
    extra = sorted(set(used.index) - set(registry.index))
    table_only = pd.DataFrame(
        {"culture": extra, "path": "", "label": [selection.labels[c] for c in extra], "group": [selection.groups.get(c) for c in extra]},
        columns=REGISTRY_COLUMNS,
        index=extra,
    )
    registry = pd.concat([registry, table_only]) if len(registry) else table_only
    if registry.empty:
        raise UserError(f"metadata table {selection.header.path}: no culture is left ({summary(report(selection, registry))})")
    return Study(registry, base, selection)


def load_registry(cultures: str | Path | None, metadata: dict | None = None, base: Path | None = None, min_images: int | None = None) -> pd.DataFrame:
    """The cultures' labels, groups and coordinates, one row each (columns culture, path, label, group, lat, lon,
    source, license): the study's, or without ``metadata`` the registry as written (a registry written by the
    metadata report lists table cultures without a folder)."""
    if metadata:
        return load_study(cultures, metadata, min_images, base).registry
    if not cultures:
        raise UserError("no culture registry given (config key cultures)")
    registry = read_registry(cultures, base)
    if registry.empty:
        raise UserError(f"{resolve(cultures, base)}: no cultures listed")
    return registry


def culture_source(study: Study, culture: str) -> CultureSource:
    """The folder and/or files that make up one culture's corpus."""
    return study.source(culture)
