"""Read & validate: tables from files, with clear messages for everything that can go wrong.

German offices export CSV with ``;`` and decimal commas, sometimes in cp1252, sometimes with a
byte-order mark. :func:`read_table` accepts all of these and reports problems by file, row and
column.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from .errors import InputError

#: Largest table file accepted (bytes); larger files are almost certainly a wrong path.
MAX_TABLE_BYTES = 2 * 1024**3
_ENCODINGS = ("utf-8-sig", "cp1252")


def _decode(raw: bytes, path: Path) -> str:
    for enc in _ENCODINGS:
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise InputError("cannot decode the file as UTF-8 or Windows-1252 (cp1252)", str(path),
                     "save it as UTF-8 CSV")


def _sniff_delimiter(text: str) -> str:
    head = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(head, delimiters=";,\t|").delimiter
    except csv.Error:
        counts = {d: head.count(d) for d in ";,\t"}
        return max(counts, key=counts.get) if any(counts.values()) else ","


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
        Missing or empty file, undecodable text, ragged rows, missing required columns.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", str(path), "check the path")
    if path.is_dir():
        raise InputError("is a folder, not a table file", str(path))
    size = path.stat().st_size
    if size == 0:
        raise InputError("the file is empty", str(path), "export the table again")
    if size > MAX_TABLE_BYTES:
        raise InputError(f"the file is too large ({size / 1e9:.1f} GB)", str(path))
    text_columns = list(text_columns)
    converters = {c: str for c in text_columns}
    if path.suffix.lower() in {".xlsx", ".xlsm", ".xls"}:
        try:
            table = pd.read_excel(path, dtype=dtype, converters=converters or None)
        except ImportError:
            raise InputError("reading Excel files needs the 'openpyxl' package", str(path),
                             "pip install openpyxl, or save the sheet as CSV") from None
        except Exception as exc:  # noqa: BLE001 - any parser failure is a user file problem
            raise InputError(f"cannot read the Excel file ({exc})", str(path)) from None
    else:
        text = _decode(path.read_bytes(), path)
        if not text.strip():
            raise InputError("the file contains no data", str(path))
        sep = _sniff_delimiter(text)
        decimal = "," if sep == ";" else "."
        try:
            table = pd.read_csv(io.StringIO(text), sep=sep, decimal=decimal, dtype=dtype,
                                converters=converters or None, skipinitialspace=True,
                                keep_default_na=True, na_values=[""])
        except pd.errors.ParserError as exc:
            raise InputError(f"the rows do not all have the same number of fields ({exc})", str(path),
                             "check for unquoted separators inside values") from None
        except pd.errors.EmptyDataError:
            raise InputError("the file contains no data", str(path)) from None
        except ValueError as exc:
            raise InputError(f"cannot read the table ({exc})", str(path)) from None
    table.columns = [str(c).strip() for c in table.columns]
    dupes = sorted({c for c in table.columns if list(table.columns).count(c) > 1})
    if dupes:
        raise InputError(f"duplicate column name(s): {', '.join(dupes)}", str(path), "rename them")
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise InputError(f"missing column(s): {', '.join(missing)}", str(path),
                         f"the file has: {', '.join(map(str, table.columns[:30]))}")
    if table.empty:
        raise InputError("the table has a header but no rows", str(path))
    table = table.reset_index(drop=True)
    table.attrs["source"] = str(path)
    return table


def row_ref(table: pd.DataFrame, rows: Iterable, column: str | None = None, limit: int = 5) -> str:
    """Describe where rows are: ``"survey.csv, rows 3, 17 (column 'sn1')"``.

    Row numbers are file lines (header = line 1) when the table came from :func:`read_table`,
    index labels otherwise.
    """
    rows = list(rows)
    source = table.attrs.get("source")
    if source is not None and isinstance(table.index, pd.RangeIndex):
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
