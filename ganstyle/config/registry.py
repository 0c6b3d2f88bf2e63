"""The culture registry: which cultures exist and where their images are.

Two ways in, combinable: ``data/cultures.tsv`` (one row per culture, one
folder each) and an optional museum-export metadata table (one row per image)
named in config under ``metadata``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pandas as pd

from ganstyle.config import load_schema
from ganstyle.errors import UserError

OPTIONAL_COLUMNS = ["group", "lat", "lon", "source", "license"]


@dataclass(frozen=True)
class CultureSource:
    """Where one culture's images come from: a folder, or an explicit file list."""

    culture: str
    root: Path
    files: tuple[Path, ...] | None = None  # None: every file under root, recursively


def _read_table(path: Path, what: str) -> pd.DataFrame:
    if not path.exists():
        raise UserError(f"{what} not found: {path}")
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    try:
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, comment=None)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise UserError(f"{what} {path} cannot be parsed: {err}") from err


def _row_error(path: Path, index: int, row: dict, err: jsonschema.ValidationError) -> UserError:
    column = err.absolute_path[0] if err.absolute_path else None
    where = f"column '{column}'" if column else "row"
    # +2: one header line, and people count lines from 1.
    return UserError(f"{path} line {index + 2} ({row.get('culture', '?')!r}): {where}: {err.message}")


def _validate_rows(frame: pd.DataFrame, path: Path, schema_name: str) -> list[dict]:
    validator = jsonschema.Draft202012Validator(load_schema(schema_name))
    rows = []
    for index, record in enumerate(frame.to_dict("records")):
        row = {k: (None if v == "" else v) for k, v in record.items()}
        for key in ("lat", "lon"):
            if row.get(key) is not None:
                try:
                    row[key] = float(row[key])
                except ValueError:
                    pass  # the schema reports it as "not of type number"
        error = next(iter(sorted(validator.iter_errors(row), key=lambda e: list(e.absolute_path))), None)
        if error is not None:
            raise _row_error(path, index, row, error)
        rows.append(row)
    return rows


def resolve(path: str | Path, base: Path | None = None) -> Path:
    """Relative paths are taken from the working directory (the repository root
    when Snakemake runs the workflow there), or from ``base``."""
    path = Path(path)
    return path if path.is_absolute() else (base or Path.cwd()) / path


def load_registry(cultures_tsv: str | Path, metadata: dict | None = None, base: Path | None = None) -> pd.DataFrame:
    """Validated registry, one row per culture, columns culture, path, label, group, lat, lon, source, license.

    Raises UserError with one line naming the file, line and column on the first bad row.
    """
    cultures_tsv = resolve(cultures_tsv, base)
    frame = _read_table(cultures_tsv, "culture registry")
    missing = [c for c in ("culture", "path", "label") if c not in frame.columns]
    if missing:
        raise UserError(f"{cultures_tsv}: missing column(s) {', '.join(missing)}")
    rows = _validate_rows(frame, cultures_tsv, "cultures")
    if not rows:
        raise UserError(f"{cultures_tsv}: no cultures listed")
    registry = pd.DataFrame(rows)
    for column in OPTIONAL_COLUMNS:
        if column not in registry:
            registry[column] = None
    duplicated = registry["culture"][registry["culture"].duplicated()]
    if len(duplicated):
        raise UserError(f"{cultures_tsv}: culture '{duplicated.iloc[0]}' is listed twice")
    if metadata:
        extra = sorted(set(load_metadata(metadata, base)["culture"]) - set(registry["culture"]))
        meta_rows = pd.DataFrame({"culture": extra, "path": "", "label": extra})
        registry = pd.concat([registry, meta_rows], ignore_index=True)
    registry = registry.set_index("culture", drop=False)
    registry.index.name = None
    return registry[["culture", "path", "label", *OPTIONAL_COLUMNS]]


def load_metadata(metadata: dict, base: Path | None = None) -> pd.DataFrame:
    """Metadata table as columns image (absolute path) and culture."""
    path = resolve(metadata["path"], base)
    frame = _read_table(path, "metadata table")
    columns = {metadata.get("image_column", "image"): "image", metadata.get("culture_column", "culture"): "culture"}
    for column in columns:
        if column not in frame.columns:
            raise UserError(f"{path}: no column '{column}' (config key metadata.image_column / metadata.culture_column)")
    frame = frame.rename(columns=columns)[["image", "culture"]]
    _validate_rows(frame, path, "metadata")
    root = resolve(metadata["root"], base) if metadata.get("root") else path.parent
    frame["image"] = [str(resolve(p, root)) for p in frame["image"]]
    return frame


def culture_source(registry: pd.DataFrame, culture: str, metadata: dict | None = None, base: Path | None = None) -> CultureSource:
    """The folder and/or files that make up one culture's corpus."""
    if culture not in registry.index:
        raise UserError(f"culture '{culture}' is not in the registry")
    folder = registry.loc[culture, "path"]
    files = None
    if metadata:
        listed = load_metadata(metadata, base)
        listed = listed.loc[listed["culture"] == culture, "image"]
        if len(listed):
            files = tuple(Path(p) for p in listed)
    if folder:
        root = resolve(folder, base)
        if not root.is_dir():
            raise UserError(f"culture '{culture}': image folder not found: {root} (column 'path' of the registry)")
        if files is not None:
            # both: the folder's images and the listed ones
            files = tuple(sorted({*files, *(p for p in root.rglob("*") if p.is_file() or p.is_symlink())}))
        return CultureSource(culture, root, files)
    if files is None:
        raise UserError(f"culture '{culture}' has neither a folder (registry column 'path') nor rows in the metadata table")
    meta_root = resolve(metadata["root"], base) if metadata.get("root") else resolve(metadata["path"], base).parent
    return CultureSource(culture, meta_root, files)
