"""Read & validate: tables from files, with clear messages for everything that can go wrong.

German offices export CSV with ``;`` and decimal commas, sometimes in cp1252, sometimes with a
byte-order mark. :func:`read_table` accepts all of these and reports problems by file, row and
column.
"""
from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from geo_cohesion.errors import InputError

#: Largest table file accepted (bytes); larger files are almost certainly a wrong path.
MAX_TABLE_BYTES = 2 * 1024**3
#: Longest id, name or category label accepted (characters); longer ones come from broken quoting.
MAX_LABEL_CHARS = 1000
_ENCODINGS = ("utf-8-sig", "cp1252")
_ROW_HINT = ("check for separators inside unquoted values, unclosed quotes, title lines above the "
             "header, or a line break inside a value")

#: Largest CSV field accepted while checking rows: a single field may be large (free-text answers),
#: and the csv module's default limit is 128 KB.
MAX_FIELD_CHARS = 2**31 - 1


@contextlib.contextmanager
def _csv_field_size_limit(limit: int) -> Iterator[None]:
    """Raise the csv module's field size limit (process-wide state) for one read, then restore it."""
    previous = csv.field_size_limit()
    csv.field_size_limit(max(previous, limit))
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _line_of(raw: bytes, offset: int) -> int:
    """1-based line number of byte ``offset``."""
    return raw.count(b"\n", 0, offset) + 1


def _first_utf8_line(raw: bytes) -> int | None:
    """First line with non-ASCII text that is valid UTF-8 (None if there is none)."""
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.isascii():
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                continue
            return number
    return None


def _decode(raw: bytes, path: Path) -> str:
    """Text of a table file: UTF-8 (with or without BOM), else Windows-1252; errors name the line."""
    if b"\x00" in raw:
        line = _line_of(raw, raw.index(b"\x00"))
        raise InputError("the file contains binary data (NUL bytes), not text", f"{path}, line {line}",
                         "save the table as CSV (UTF-8); Excel workbooks must end in .xlsx")
    try:
        return raw.decode(_ENCODINGS[0])
    except UnicodeDecodeError as exc:
        bad_line, bad_byte = _line_of(raw, exc.start), raw[exc.start]
    utf8_line = _first_utf8_line(raw)
    try:
        text = raw.decode(_ENCODINGS[1])
    except UnicodeDecodeError as exc:
        bad_line, bad_byte, text = _line_of(raw, exc.start), raw[exc.start], None
    if text is None:
        raise InputError(f"byte 0x{bad_byte:02x} is not text in UTF-8 or Windows-1252 (cp1252)",
                         f"{path}, line {bad_line}", "correct this line and save the file as UTF-8 CSV")
    if utf8_line is not None:
        raise InputError(f"the file mixes encodings: line {utf8_line} is UTF-8, line {bad_line} is not",
                         f"{path}, line {bad_line}",
                         "open it in an editor and save it again in one encoding (UTF-8 CSV)")
    return text


def _check_fields(text: str, sep: str, path: Path) -> tuple[int, list[int]]:
    """Check the header and the number of fields in every row.

    Returns the number of header fields and each data row's first line.

    Blank lines are skipped (as pandas does). A row may have extra *empty* trailing fields (a
    separator at the end of every line); any other difference in the number of fields is an
    error that names the line, and so are duplicate column names.
    """
    reader = csv.reader(io.StringIO(text, newline=None), delimiter=sep, skipinitialspace=True)
    header: list[str] | None = None
    lines: list[int] = []
    previous = 0
    try:
        for row in reader:
            start, previous = previous + 1, reader.line_num
            if not row or row == [""]:
                continue
            if header is None:
                header = [c.strip() for c in row]
                dupes = sorted({c for c in header if header.count(c) > 1})
                if dupes:
                    raise InputError(f"duplicate column name(s): {', '.join(map(repr, dupes))}",
                                     f"{path}, line {start}", "give every column its own name")
                continue
            if len(row) < len(header) or any(f.strip() for f in row[len(header):]):
                raise InputError(f"the row has {len(row)} fields, but the header has {len(header)}",
                                 f"{path}, line {start}", _ROW_HINT)
            lines.append(start)
    except csv.Error as exc:
        raise InputError(f"cannot split the line into fields ({exc})",
                         f"{path}, line {reader.line_num}", _ROW_HINT) from None
    return len(header or ()), lines


def _check_labels(table: pd.DataFrame, columns: Iterable[str]) -> None:
    """Ids, names and categories must be short texts (very long ones come from broken quoting)."""
    for column in columns:
        if column not in table.columns or pd.api.types.is_numeric_dtype(table[column]):
            continue
        lengths = table[column].map(lambda v: len(v) if isinstance(v, str) else 0)
        long = lengths > MAX_LABEL_CHARS
        if long.any():
            raise InputError(f"a value in column '{column}' is {int(lengths[long].iloc[0]):,} characters long",
                             row_ref(table, table.index[long], column),
                             f"ids, names and categories may have at most {MAX_LABEL_CHARS} characters; "
                             "check the quoting of this line")


def _sniff_delimiter(text: str) -> str:
    head = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(head, delimiters=";,\t|").delimiter
    except csv.Error:
        counts = {d: head.count(d) for d in ";,\t"}
        return max(counts, key=counts.__getitem__) if any(counts.values()) else ","


def read_table(path: str | Path, dtype: type | dict | None = None,
               required: Iterable[str] = (), text_columns: Iterable[str] = ()) -> pd.DataFrame:
    """Read a CSV (or Excel) table with delimiter, decimal and encoding detection.

    Parameters
    ----------
    path : str or Path
        ``.csv``/``.txt``/``.tsv`` (``,`` ``;`` tab or ``|`` separated; UTF-8, UTF-8 with BOM or
        cp1252; decimal comma when ``;`` separated) or ``.xlsx``.
    dtype : type or dict, optional
        Passed to pandas (e.g. ``str`` to keep everything as text).
    required : iterable of str
        Columns that must exist.
    text_columns : iterable of str
        Columns always read as text (ids with leading zeros).

    Returns
    -------
    pandas.DataFrame
        With ``attrs['source']`` set to the path, and a RangeIndex (row ``i`` is file line ``i+2``).

    Raises
    ------
    InputError
        Missing or empty file, undecodable text, ragged rows, duplicate or missing required
        columns, ids/names (``text_columns``) longer than :data:`MAX_LABEL_CHARS`.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", str(path),
                         "check the path (relative paths start at the project file's folder)")
    if path.is_dir():
        raise InputError("is a folder, not a table file", str(path), "give the path of the table file (.csv or .xlsx)")
    size = path.stat().st_size
    if size == 0:
        raise InputError("the file is empty", str(path), "export the table again")
    if size > MAX_TABLE_BYTES:
        raise InputError(f"the file is too large ({size / 1e9:.1f} GB)", str(path),
                         f"tables are limited to {MAX_TABLE_BYTES / 1e9:.1f} GB; check the path")
    text_columns = list(text_columns)
    converters = {c: str for c in text_columns}
    lines: list[int] | None = None
    if path.suffix.lower() in {".xlsx", ".xlsm", ".xls"}:
        try:
            table = pd.read_excel(path, dtype=dtype, converters=converters or None)
        except ImportError:
            raise InputError("reading Excel files needs the 'openpyxl' package", str(path),
                             "pip install openpyxl, or save the sheet as CSV") from None
        # Broad on purpose: pandas hands the workbook to openpyxl (or xlrd/odfpy), which raise many
        # undocumented types for a damaged file (zipfile.BadZipFile, KeyError for a missing part,
        # XML parse errors, openpyxl's InvalidFileException, ValueError, ...). Each is a problem of
        # the user's file and is reported with its text.
        except Exception as exc:
            raise InputError(f"cannot read the Excel file ({exc})", str(path),
                             "check that it is an Excel workbook, or save the sheet as CSV") from None
    else:
        text = _decode(path.read_bytes(), path)
        if not text.strip():
            raise InputError("the file contains no data", str(path), "export the table again")
        sep = _sniff_delimiter(text)
        decimal = "," if sep == ";" else "."
        with _csv_field_size_limit(MAX_FIELD_CHARS):
            n_columns, lines = _check_fields(text, sep, path)
        try:  # usecols: empty trailing fields (a separator at the end of some lines) are dropped
            table = pd.read_csv(io.StringIO(text), sep=sep, decimal=decimal, dtype=dtype,
                                converters=converters or None, skipinitialspace=True,
                                keep_default_na=True, na_values=[""], index_col=False,
                                usecols=range(n_columns) if n_columns else None)
        except pd.errors.ParserError as exc:
            raise InputError(f"the rows do not all have the same number of fields ({' '.join(str(exc).split())})",
                             str(path), _ROW_HINT) from None
        except pd.errors.EmptyDataError:
            raise InputError("the file contains no data", str(path), "export the table again") from None
        except ValueError as exc:
            raise InputError(f"cannot read the table ({exc})", str(path),
                             "check the values of the column named in the message") from None
    table.columns = [str(c).strip() for c in table.columns]
    dupes = sorted({c for c in table.columns if list(table.columns).count(c) > 1})
    if dupes:
        raise InputError(f"duplicate column name(s): {', '.join(dupes)}", str(path), "give every column its own name")
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise InputError(f"missing column(s): {', '.join(missing)}", str(path),
                         f"name the right columns in the project file; the file has: "
                         f"{', '.join(map(str, table.columns[:30]))}")
    if table.empty:
        raise InputError("the table has a header but no rows", str(path), "export the table again with its data rows")
    table = table.reset_index(drop=True)
    table.attrs["source"] = str(path)
    if lines is not None and len(lines) == len(table) and lines != list(range(2, len(table) + 2)):
        # blank lines or line breaks inside values: remember each row's line for messages
        table.attrs["lines"] = tuple(lines)
    _check_labels(table, text_columns)
    return table


def row_ref(table: pd.DataFrame, rows: Iterable, column: str | None = None, limit: int = 5) -> str:
    """Describe where rows are: ``"survey.csv, rows 3, 17 (column 'sn1')"``.

    Row numbers are file lines (header = line 1) when the table came from :func:`read_table`,
    index labels otherwise.
    """
    rows = list(rows)
    source = table.attrs.get("source")
    if source is not None and isinstance(table.index, pd.RangeIndex):
        lines = table.attrs.get("lines")
        if lines is not None and len(lines) == len(table) and table.index.start == 0 and table.index.step == 1:
            labels = [str(lines[int(r)]) for r in rows[:limit]]
        else:
            labels = [str(int(r) + 2) for r in rows[:limit]]
        what = "line" if len(rows) == 1 else "lines"
    else:
        labels = [str(r) for r in rows[:limit]]
        what = "row" if len(rows) == 1 else "rows"
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    text = f"{what} {', '.join(labels)}{more}"
    if column is not None:
        text += f", column '{column}'"
    return f"{source}, {text}" if source else text


def to_numeric_column(table: pd.DataFrame, column: str, what: str = "value") -> np.ndarray:
    """Convert a column to float, raising InputError that names the bad rows.

    Accepts numbers, numeric strings and decimal commas; empty cells become NaN.
    """
    series = table[column]
    if pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=float)
    text = series.astype("string").str.strip().str.replace(",", ".", regex=False)
    values = pd.to_numeric(text, errors="coerce")
    bad = values.isna() & text.notna() & (text != "")
    if bad.any():
        example = series[bad].iloc[0]
        raise InputError(f"{what} {example!r} is not a number", row_ref(table, table.index[bad], column),
                         "use numbers only (decimal point or comma)")
    return values.to_numpy(dtype=float)
