"""Tables as users hand them over: the culture registry, museum exports, mapping files.

- CSV, TSV or ``;``-separated: told apart by the header line (the most frequent of tab, comma and
  semicolon outside quotes), never by the file name;
- a byte-order mark is skipped and says the encoding (UTF-8, UTF-16); otherwise the encoding is the
  one given (UTF-8 by default; ``cp1252``, ``latin-1`` ... by name);
- quoted fields may hold the delimiter, doubled quotes and newlines (RFC 4180);
- every cell is text, as written: ``0012`` stays ``0012``, ``NA`` stays ``NA``, a blank cell is ``''``.

Large exports (The Met's is 500k rows, 300 MB) are read with pyarrow's multi-threaded CSV reader,
only the columns asked for.  Errors name the file, the line and, where there is one, the column;
the slower line-by-line scans that find them run only when something is wrong.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from ganstyle.errors import UserError

DELIMITERS = {"\t": "TSV", ",": "CSV", ";": "semicolon-separated"}
# a byte-order mark settles the encoding of what follows it
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_HEADER_BYTES = 1 << 20  # a header line longer than this is not a table we know


@dataclass(frozen=True)
class Header:
    """What the start of a table file says about it."""

    path: Path
    columns: tuple[str, ...]  # names with surrounding spaces stripped
    raw_columns: tuple[str, ...]  # names as written
    delimiter: str
    encoding: str  # Python codec of the text after the byte-order mark
    bom: int = 0  # length of the byte-order mark, 0 if none

    def describe(self) -> str:
        """E.g. 'CSV, utf-8 with BOM'."""
        return f"{DELIMITERS[self.delimiter]}, {self.encoding}{' with BOM' if self.bom else ''}"

    def require(self, columns: dict[str, str]) -> None:
        """Raise a UserError naming the file, line 1 and what asked for it, for the first column the header lacks.

        ``columns``: column -> what asked for it (e.g. "config key 'metadata.culture_column'").
        """
        for column, asked_by in columns.items():
            if column not in self.columns:
                near = [c for c in self.columns if c.casefold() == column.casefold()]
                hint = f"; did you mean {near[0]!r}?" if near else f"; its columns are {', '.join(map(repr, self.columns[:60]))}"
                raise UserError(f"{self.path} line 1: no column {column!r} ({asked_by}){hint}")
            if self.columns.count(column) > 1:
                raise UserError(f"{self.path} line 1: column {column!r} appears {self.columns.count(column)} times ({asked_by})")

    def text_codec(self) -> str:
        """The Python codec that reads the whole file as text, skipping its byte-order mark."""
        if self.encoding == "utf-8":
            return "utf-8-sig"
        return "utf-16" if self.bom else self.encoding  # the only other marks are UTF-16's


@dataclass
class Table:
    """The columns asked for of a table file, as text, one row per record."""

    header: Header
    frame: pd.DataFrame
    _lines: list[int] | None = field(default=None, repr=False)

    @property
    def path(self) -> Path:
        return self.header.path

    def line(self, record: int) -> int:
        """The line of the file on which record ``record`` (0 = first after the header) starts.

        Quoted newlines make it differ from ``record + 2``; found by a scan of the file, so
        meant for error messages only.
        """
        if self._lines is None:
            self._lines = record_lines(self.header)
        return self._lines[record]


def _codec(encoding: str, path: Path, key: str | None) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        where = f"config key '{key}'" if key else str(path)
        raise UserError(f"{where}: unknown text encoding {encoding!r} (e.g. utf-8, cp1252, latin-1)") from None


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            count += 1
    return count


def _decode_error(path: Path, data: bytes, codec: str, err: UnicodeDecodeError, offset: int, header: Header | None) -> UserError:
    """A decoding error as 'file line L[, column C]: byte 0x.. cannot be decoded as <codec>'.

    ``data`` is the file after its byte-order mark (``offset`` bytes), ``err`` from decoding it.
    """
    prefix = data[: err.start].decode(codec, errors="replace")
    line = prefix.count("\n") + 1
    where = f"line {line}"
    if header is not None and line > 1:
        *_, last = csv.reader(io.StringIO(prefix, newline=""), delimiter=header.delimiter)
        index = 0 if prefix.endswith(("\n", "\r")) else len(last) - 1
        if 0 <= index < len(header.columns):
            where += f", column {header.columns[index]!r}"
    byte = data[err.start : err.start + 1].hex()
    return UserError(
        f"{path} {where}: byte 0x{byte} (file offset {offset + err.start}) cannot be decoded as {codec} "
        "(give the table's encoding, e.g. metadata.encoding: cp1252 or latin-1, or save it as UTF-8)"
    )


def read_header(path: str | Path, what: str, encoding: str = "utf-8", encoding_key: str | None = None) -> Header:
    """The header of a table file: its columns, delimiter and encoding (a byte-order mark overrides ``encoding``)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} not found: {path}")
    encoding = _codec(encoding, path, encoding_key)
    with open(path, "rb") as handle:
        start = handle.read(_HEADER_BYTES)
    bom = 0
    for mark, name in _BOMS:
        if start.startswith(mark):
            bom, encoding = len(mark), name
            break
    data = start[bom:]
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(data, final=len(start) < _HEADER_BYTES)
    except UnicodeDecodeError as err:
        text = data[: err.start].decode(encoding)
        if "\n" not in text:
            raise _decode_error(path, data, encoding, err, bom, None) from None
        # a bad byte further down: read_table names it with its column, if it is in a column it reads
    if not text.strip():
        raise UserError(f"{what} {path} is empty: no header line")
    first_line = text.splitlines()[0]
    counts = {d: _count_outside_quotes(first_line, d) for d in DELIMITERS}
    delimiter = max(DELIMITERS, key=lambda d: counts[d])  # ties: tab first, then comma
    if counts[delimiter] == 0:
        delimiter = "," if path.suffix.lower() == ".csv" else "\t"  # one column: either will do
    raw = tuple(next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)))
    return Header(path, tuple(c.strip() for c in raw), raw, delimiter, encoding, bom)


def read_table(header: Header, columns: list[str] | None = None) -> Table:
    """The ``columns`` (default: all) of the file ``header`` describes, every cell as text."""
    wanted = list(dict.fromkeys(columns if columns is not None else header.columns))
    include = [header.raw_columns[header.columns.index(c)] for c in wanted]
    # pyarrow skips a UTF-8 mark itself; a UTF-16 one is skipped by Python's utf-16 codec
    arrow_encoding = "utf8" if header.encoding == "utf-8" else header.text_codec()
    try:
        table = pa_csv.read_csv(
            header.path,
            read_options=pa_csv.ReadOptions(encoding=arrow_encoding),
            parse_options=pa_csv.ParseOptions(delimiter=header.delimiter, newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                include_columns=include,
                column_types=dict.fromkeys(include, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as err:
        short = re.search(r"Expected (\d+) columns, got (\d+)", str(err))
        if short is None or int(short[2]) >= int(short[1]):
            raise diagnose(header, err) from None
        return Table(header, _read_leniently(header, wanted, include, err))
    frame = pd.DataFrame({name: table.column(raw).to_pandas() for name, raw in zip(wanted, include)}, columns=wanted)
    return Table(header, frame)


def _read_leniently(header: Header, wanted: list[str], include: list[str], err: Exception) -> pd.DataFrame:
    """The slower reader that takes rows with missing trailing fields (blank cells), as hand-written tables have them."""
    try:
        frame = pd.read_csv(
            header.path,
            sep=header.delimiter,
            encoding=header.text_codec(),
            dtype=str,
            keep_default_na=False,
            usecols=include,
            skip_blank_lines=True,
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError):
        raise diagnose(header, err) from None
    return frame[include].fillna("").set_axis(wanted, axis=1)


def diagnose(header: Header, err: Exception) -> UserError:
    """Why pyarrow could not read the file, as 'file line L[, column C]: ...' (a scan of the whole file)."""
    data = header.path.read_bytes()[header.bom :]
    try:
        text = data.decode(header.encoding)
    except UnicodeDecodeError as decode_err:
        return _decode_error(header.path, data, header.encoding, decode_err, header.bom, header)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=header.delimiter)
    previous_end = 0
    for record in reader:
        start, previous_end = previous_end + 1, reader.line_num
        if record and len(record) != len(header.columns):
            return UserError(
                f"{header.path} line {start}: {len(record)} fields where the header has {len(header.columns)} "
                f"(an unclosed quote, or the {DELIMITERS[header.delimiter]} delimiter inside an unquoted field?)"
            )
    return UserError(f"{header.path}: cannot be read as {header.describe()}: {err}")


def record_lines(header: Header) -> list[int]:
    """The line on which each record after the header starts (quoted fields may span lines; blank lines are no records)."""
    with open(header.path, encoding=header.text_codec(), errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter=header.delimiter)
        next(reader, None)
        lines, previous_end = [], reader.line_num
        for record in reader:
            if record:
                lines.append(previous_end + 1)
            previous_end = reader.line_num
    return lines
