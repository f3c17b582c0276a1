"""Read & validate: tables from files, with clear messages for everything that can go wrong.

German offices export CSV with ``;`` and decimal commas, sometimes in cp1252, sometimes with a
byte-order mark. :func:`read_table` accepts all of these and reports problems by file, row and
column.
"""
from __future__ import annotations

import contextlib
import csv
import io
import re
import unicodedata
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from geo_cohesion.errors import InputError
from geo_cohesion.io.workbook import check_sheet, sheet_to_read

#: Largest table file accepted (bytes); larger files are almost certainly a wrong path.
MAX_TABLE_BYTES = 2 * 1024**3
#: Longest id, name or category label accepted (characters); longer ones come from broken quoting.
MAX_LABEL_CHARS = 1000
_ENCODINGS = ("utf-8-sig", "cp1252")
#: Text decoded in the wrong encoding: U+FFFD (undecodable byte), C1 control characters (cp1252 text
#: read as latin1) and the typical pairs of UTF-8 umlauts read as latin1/cp1252 ("Ã¤" for "ä",
#: "ÃŸ" for "ß", "â€" for "€").
MOJIBAKE = re.compile("[\ufffd\x80-\x9f]|Ã[\xa0-\xbf\u0178\u201e\u2013\u0153\u2019\u201c\u201d]|â€")
_ROW_HINT = ("check for separators inside unquoted values, unclosed quotes, title lines above the "
             "header, or a line break inside a value")


#: Spellings of yes and no in a table cell, compared lower-case and stripped (German Excel writes
#: WAHR/FALSCH); an empty cell is no. The one catalogue for every yes/no column (codebook,
#: score tables).
YES = frozenset({"yes", "ja", "true", "wahr", "1", "1.0", "y", "j", "x"})
NO = frozenset({"no", "nein", "false", "falsch", "0", "0.0", "n", ""})


@contextlib.contextmanager
def _large_fields() -> Iterator[None]:
    """Allow large CSV fields (free-text answers) during one read; the default limit is 128 KB.

    The csv module's limit is process-wide: it is raised for the read and restored afterwards.
    """
    previous = csv.field_size_limit()
    csv.field_size_limit(max(previous, 2**31 - 1))
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
    """Text of a table file: UTF-8 (with or without BOM), UTF-16 with BOM (Excel's "Unicode text"), else
    Windows-1252; errors name the line."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise InputError("the file starts as UTF-16 text but is not", str(path),
                             "save the table as CSV (UTF-8)") from None
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


def legacy_encoding(path: str | Path) -> str | None:
    """``"Windows-1252"`` when a text table is not UTF-8 and :func:`read_table` reads it as Windows-1252
    (None for UTF-8, other formats and files that cannot be read): the decision to report."""
    path = Path(path)
    if path.suffix.lower() in EXCEL_SUFFIXES + SPSS_SUFFIXES or not path.is_file():
        return None
    try:
        raw = path.read_bytes()
        if raw[:2] not in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 declares itself
            raw.decode(_ENCODINGS[0])
    except UnicodeDecodeError:
        return "Windows-1252"
    except OSError:
        return None
    return None


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
                while len(header) > 1 and not header[-1]:  # a separator at the header's end: no column
                    header.pop()
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


def _compose_text(table: pd.DataFrame) -> None:
    """Write every text cell in composed form (NFC), in place.

    A Mac or a web form may store "ü" as "u" + combining diaeresis (NFD); both look alike but
    compare unequal, so "männlich" in the survey would miss "männlich" in the population table.
    """
    for column in table.select_dtypes(include=["object", "string"]).columns:
        values = table[column]
        codes, uniques = pd.factorize(values)
        composed = [unicodedata.normalize("NFC", v) if isinstance(v, str) else v for v in uniques]
        if any(a != b for a, b in zip(composed, uniques)):
            cells = pd.Series(np.asarray(composed, dtype=object)[codes], index=table.index, dtype=object)
            table[column] = cells.where(codes >= 0, values).astype(values.dtype)


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
        if not MOJIBAKE.search("\n".join(v for v in table[column] if isinstance(v, str))):
            continue  # one scan of the whole column; the rows are looked up only when something is found
        broken = table[column].map(lambda v: isinstance(v, str) and bool(MOJIBAKE.search(v)))
        if broken.any():
            value = str(table[column][broken].iloc[0])
            raise InputError(f"{value!r} in column '{column}' looks wrongly decoded{_repaired(value)}",
                             row_ref(table, table.index[broken], column),
                             "the text was converted between encodings twice; export the table again from the "
                             "original, or correct these values and save the file as UTF-8")


def _repaired(value: str) -> str:
    """``"; probably 'Hörde'"`` when ``value`` reads as UTF-8 bytes taken for Windows-1252."""
    try:
        return f"; probably {value.encode('cp1252').decode('utf-8')!r}"
    except UnicodeError:
        return ""


def _sniff_delimiter(text: str) -> str:
    head = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(head, delimiters=";,\t|").delimiter
    except csv.Error:
        counts = {d: head.count(d) for d in ";,\t"}
        return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


#: File endings read as spreadsheets and as SPSS files.
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
SPSS_SUFFIXES = (".sav", ".zsav")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError("file not found", str(path),
                         "check the path (relative paths start at the project file's folder)")
    if path.is_dir():
        raise InputError("is a folder, not a table file", str(path),
                         "give the path of the table file (.csv, .xlsx or .sav)")
    size = path.stat().st_size
    if size == 0:
        raise InputError("the file is empty", str(path), "export the table again")
    if size > MAX_TABLE_BYTES:
        raise InputError(f"the file is too large ({size / 1e9:.1f} GB)", str(path),
                         f"tables are limited to {MAX_TABLE_BYTES / 1e9:.1f} GB; check the path")
    if path.suffix.lower() == ".xls":
        raise InputError("old Excel files (.xls) are not read", str(path),
                         "save the sheet as .xlsx (Excel 2007 or later) or as CSV")


def _as_text(value: object) -> object:
    """A cell of an id/category column as text: whole numbers without ``.0``, empty stays missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _read_csv(path: Path, dtype: type | dict | None, text_columns: list[str], decimal: str | None,
              thousands: str | None) -> tuple[pd.DataFrame, list[int]]:
    text = _decode(path.read_bytes(), path)
    if not text.strip():
        raise InputError("the file contains no data", str(path), "export the table again")
    first, _, rest = text.partition("\n")
    declared = re.fullmatch(r"sep=(.)\s*", first)  # Excel's separator line: the file says which it is
    if declared:
        text, sep = "\n" + rest, declared.group(1)  # a blank line in its place keeps the line numbers
    else:
        sep = _sniff_delimiter(text)
    if decimal is not None and decimal == sep:
        raise InputError(f"the decimal mark {decimal!r} is also the column separator", str(path),
                         "check 'decimal' for this table in the project file")
    with _large_fields():
        n_columns, lines = _check_fields(text, sep, path)
    try:  # usecols: empty trailing fields (a separator at the end of some lines) are dropped
        table = pd.read_csv(io.StringIO(text), sep=sep, dtype=str if dtype is None else dtype,
                            skipinitialspace=True, keep_default_na=False, na_values=[""], index_col=False,
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
    if dtype is None:
        table = _number_columns(table, text_columns, path, decimal, thousands)
    return table, lines


def _read_excel(path: Path, dtype: type | dict | None, text_columns: list[str],
                sheet: str | int | None) -> pd.DataFrame:
    try:
        with warnings.catch_warnings():  # "converter and dtype both specified": the converter wins, as wanted
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            # dtype object: pandas would turn text cells such as '1.234' into 1.234 (see _excel_numbers);
            # as in CSVs, only empty cells are missing ('NA' is a district code, not a gap)
            sheet = sheet_to_read(path, sheet)
            table = pd.read_excel(path, sheet_name=sheet,
                                  dtype=object if dtype is None else dtype, keep_default_na=False, na_values=[""],
                                  converters={c: _as_text for c in text_columns} or None, engine="openpyxl")
    except ImportError:
        raise InputError("reading Excel files needs the 'openpyxl' package", str(path),
                         "pip install openpyxl, or save the sheet as CSV") from None
    except (ValueError, KeyError) as exc:
        raise InputError(f"cannot read the Excel file ({' '.join(str(exc).split())})", str(path),
                         "check that it is an .xlsx workbook and the sheet name, or save the sheet as CSV") from None
    except Exception as exc:
        raise InputError(f"cannot read the Excel file ({type(exc).__name__}: {exc})", str(path),
                         "check that it is an .xlsx workbook, or save the sheet as CSV") from None
    check_sheet(path, sheet, scan_cells=bool(table.isna().to_numpy().any()))
    if dtype is None:
        table = _excel_numbers(table, text_columns, path)
    for column in table.columns:  # text cells in number columns (e.g. 'k.A.') are left for the consumer
        if pd.api.types.is_object_dtype(table[column]) and str(column) not in text_columns:
            table[column] = table[column].map(lambda v: v.strip() if isinstance(v, str) else v)
    return table


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, float) and np.isnan(value))


def _is_number_or_blank(value: object) -> bool:
    numeric = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    return numeric or _is_blank(value)


def _excel_numbers(table: pd.DataFrame, text_columns: list[str], path: Path) -> pd.DataFrame:
    """Number cells as numbers; a column's numbers stored as text are read as in a CSV.

    Excel keeps numbers typed as text (``'1.234'``, a German thousands separator) as text cells;
    pandas would parse them with a decimal point. Here they are read with the CSV rules of
    :func:`infer_number_format`: a column whose text cells can be read in two ways is an error
    naming the cells; text that is no number (``k.A.``) stays text.
    """
    for column in table.columns:
        if str(column) in text_columns:
            continue
        values = table[column]
        is_text = values.map(lambda v: isinstance(v, str) and v.strip() != "").to_numpy(dtype=bool)
        if not is_text.any():
            table[column] = values.where(values.map(lambda v: not (isinstance(v, str) or v is None)),
                                         np.nan).infer_objects()
            continue
        cells = values[is_text].astype(str).str.strip()
        name, numbers = infer_number_format(cells)
        if name == "ambiguous":
            table.attrs["source"] = str(path)  # as read_table will set it: row_ref counts file lines
            raise _text_numbers_error(cells, f"numbers stored as text in column '{column}'",
                                      row_ref(table, table.index[is_text], str(column)))
        rest = values[~is_text]
        if name is not None and rest.map(_is_number_or_blank).all():
            column_values = np.array([np.nan if _is_blank(v) else float(v) for v in values.where(~is_text, None)])
            column_values[is_text] = numbers
            table[column] = column_values
    return table


def _read_spss(path: Path, text_columns: list[str]) -> pd.DataFrame:
    """An SPSS file: user-defined missing values become missing; value labels kept in ``attrs``."""
    try:
        import pyreadstat
    except ImportError:  # pragma: no cover - dependency declared in pyproject
        raise InputError("reading SPSS files needs the 'pyreadstat' package", str(path),
                         "pip install pyreadstat, or export the data as CSV") from None
    try:
        table, meta = pyreadstat.read_sav(str(path), user_missing=False, apply_value_formats=False)
    except pyreadstat.ReadstatError as exc:
        raise InputError(f"cannot read the SPSS file ({exc})", str(path),
                         "check that it is an SPSS .sav file, or export the data as CSV") from None
    for column in text_columns:
        if column in table.columns:
            table[column] = table[column].map(_as_text)
    table.attrs["value_labels"] = {  # composed (NFC) like every text cell (see _compose_text)
        column: {code: unicodedata.normalize("NFC", text) if isinstance(text, str) else text
                 for code, text in meta.variable_value_labels.get(column, {}).items()}
        for column in meta.variable_value_labels}
    table.attrs["column_labels"] = dict(zip(meta.column_names, meta.column_labels))
    return table


def _raise_if_on_other_sheet(path: Path, required: list[str], missing: list[str]) -> None:
    """The required columns are not on a workbook's first visible sheet: name the sheet(s) that have them."""
    try:
        headers = pd.read_excel(path, sheet_name=None, nrows=0, engine="openpyxl")
    except Exception:  # the first sheet was read; the usual message follows
        return
    names = list(headers)
    read = sheet_to_read(path, None)
    read = names[read] if isinstance(read, int) else read
    having = [name for name in names if name != read
              and all(c in [str(h).strip() for h in headers[name].columns] for c in required)]
    if having:
        raise InputError(f"missing column(s) {', '.join(missing)} on the first sheet {read!r}; sheet(s) "
                         f"{', '.join(repr(n) for n in having)} have them", str(path),
                         "the first sheet of a workbook is read: move the sheet with the data to the front, or save "
                         "it as CSV")


def read_table(path: str | Path, dtype: type | dict | None = None,
               required: Iterable[str] = (), text_columns: Iterable[str] = (), *,
               decimal: str | None = None, thousands: str | None = None,
               sheet: str | int | None = None) -> pd.DataFrame:
    """Read a CSV, Excel (.xlsx) or SPSS (.sav) table with clear errors for everything that can go wrong.

    Parameters
    ----------
    path : str or Path
        ``.csv``/``.txt``/``.tsv`` (``,`` ``;`` tab or ``|`` separated; UTF-8, UTF-8 with BOM or
        cp1252), ``.xlsx`` (first visible sheet unless ``sheet``; formulas without a stored
        result, Excel error cells and duplicate headers are errors) or ``.sav``/``.zsav`` (SPSS;
        user-defined missing values are read as missing, value labels are kept in
        ``attrs['value_labels']``).
    dtype : type or dict, optional
        Passed to pandas (e.g. ``str`` to keep everything as text, which also skips the number
        format detection).
    required : iterable of str
        Columns that must exist.
    text_columns : iterable of str
        Columns always read as text (ids with leading zeros; whole numbers from Excel or SPSS
        become ``"7"``, not ``"7.0"``).
    decimal, thousands : str, optional
        The CSV's number format. By default it is decided per column from all its values
        (:func:`infer_number_format`): ``1234,5``, ``1.234,5``, ``1,234.5``, ``1 234,5`` … are
        all read (also with a percent sign after every number: ``9,1 %`` is 9.1), and a column
        whose numbers can be read in two ways (``2.069`` next to
        ``987``) is an error that names the column and asks for these settings. ``thousands=""``
        declares that there are no thousands separators.
    sheet : str or int, optional
        Excel sheet name or 0-based position.

    Returns
    -------
    pandas.DataFrame
        With ``attrs['source']`` set to the path, ``attrs['number_formats']`` (CSV: the format
        chosen for each numeric column) and a RangeIndex (row ``i`` is file line ``i+2``).

    Raises
    ------
    InputError
        Missing or empty file, undecodable text, ragged rows, ambiguous numbers, duplicate or
        missing required columns, ids/names (``text_columns``) longer than :data:`MAX_LABEL_CHARS`.
    """
    path = Path(path)
    _check_file(path)
    text_columns = list(text_columns)
    lines: list[int] | None = None
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        table = _read_excel(path, dtype, text_columns, sheet)
    elif suffix in SPSS_SUFFIXES:
        table = _read_spss(path, text_columns)
    else:
        table, lines = _read_csv(path, dtype, text_columns, decimal, thousands)
    table.columns = [unicodedata.normalize("NFC", str(c).strip()) for c in table.columns]
    dupes = sorted({c for c in table.columns if list(table.columns).count(c) > 1})
    if dupes:
        raise InputError(f"duplicate column name(s): {', '.join(dupes)}", str(path), "give every column its own name")
    _compose_text(table)
    missing = [c for c in required if c not in table.columns]
    if missing and suffix in EXCEL_SUFFIXES and sheet is None:
        _raise_if_on_other_sheet(path, list(required), missing)
    if missing:
        by_lower = {c.strip().lower(): c for c in table.columns}
        alike = [f"{by_lower[c.strip().lower()]!r} for {c!r}" for c in missing if c.strip().lower() in by_lower]
        raise InputError(f"missing column(s): {', '.join(missing)}"
                         + (f"; the file has {', '.join(alike)} (another case or spacing)" if alike else ""), str(path),
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


# ---------------------------------------------------------------------------- number formats
#: Number formats a text column may be written in: (name, decimal mark, thousands separator).
#: ``None`` as thousands separator means "no grouping".
NUMBER_FORMATS: tuple[tuple[str, str, str | None], ...] = (
    ("1234.5", ".", None),
    ("1234,5", ",", None),
    ("1.234,5", ",", "."),
    ("1,234.5", ".", ","),
    ("1 234,5", ",", " "),
    ("1 234.5", ".", " "),
)
_SIGN = r"[+-]?"
_EXPONENT = r"(?:[eE][+-]?\d+)?"


def _number_pattern(decimal: str, thousands: str | None) -> re.Pattern[str]:
    """Strict pattern of one number format; thousands groups must have exactly three digits and the
    first group no leading zero (``0.518`` is a decimal, never 518)."""
    dec = re.escape(decimal)
    if thousands is None:
        body = rf"(?:\d+(?:{dec}\d*)?|{dec}\d+){_EXPONENT}"
    else:
        sep = "[ \u00a0\u202f]" if thousands == " " else re.escape(thousands)
        body = rf"(?:[1-9]\d{{0,2}}(?:{sep}\d{{3}})+|\d+)(?:{dec}\d+)?"
    return re.compile(rf"{_SIGN}{body}")


_PATTERNS = {name: _number_pattern(dec, th) for name, dec, th in NUMBER_FORMATS}


def _parse(text: pd.Series, decimal: str, thousands: str | None) -> np.ndarray:
    """Numbers of strings already known to match the format."""
    if thousands is not None:
        text = text.str.replace("[ \u00a0\u202f]" if thousands == " " else re.escape(thousands), "", regex=True)
    if decimal != ".":
        text = text.str.replace(decimal, ".", regex=False)
    return pd.to_numeric(text).to_numpy(dtype=float)


def infer_number_format(values: pd.Series, decimal: str | None = None,
                        thousands: str | None = None) -> tuple[str | None, np.ndarray | None]:
    """Decide how a column of text cells is written as numbers, from all its values.

    Parameters
    ----------
    values : Series of str
        Non-empty cells (stripped).
    decimal, thousands : str, optional
        The file's declared decimal mark and thousands separator (``thousands=""`` means none);
        given, only that format is tried.

    Returns
    -------
    format : str or None
        The name of the one format that reads every cell (see :data:`NUMBER_FORMATS`), ``None``
        if no format reads them all (a text column), or ``"ambiguous"`` when several formats
        read every cell but give different numbers (e.g. ``2.069`` next to ``987``: 2.069 or
        2069?).
    numbers : ndarray or None
        The parsed numbers for a unique format.
    """
    candidates = [(n, d, t) for n, d, t in NUMBER_FORMATS
                  if (decimal is None or d == decimal) and (thousands is None or (t or "") == thousands)]
    # every distinct text is matched and parsed once (a survey column of 100k answers has a handful)
    codes, uniques = pd.factorize(values)
    distinct = pd.Series(np.asarray(uniques, dtype=object)).astype(str)
    # without any mark or separator every format that reads the cells reads the same numbers
    plain = not distinct.str.contains(r"[.,\s\u00a0\u202f]").any()
    results: dict[str, np.ndarray] = {}
    for name, dec, th in candidates:
        if distinct.str.fullmatch(_PATTERNS[name]).all():
            results[name] = _parse(distinct, dec, th)
            if plain:
                break
    if not results:
        return None, None
    first_name, first = next(iter(results.items()))
    if all(np.array_equal(first, other) for other in results.values()):
        return first_name, first[codes]
    return "ambiguous", None


#: A cell ending in a percent sign ("9,1 %", "9.1%"): read as the number before it (9.1).
_PERCENT = re.compile(r".*\d[ \u00a0\u202f]?%")
_PERCENT_SIGN = r"[ \u00a0\u202f]?%$"


def _number_columns(table: pd.DataFrame, skip: Iterable[str], path: Path, decimal: str | None,
                    thousands: str | None) -> pd.DataFrame:
    """Convert every text column that is unambiguously numeric; stop on an ambiguous one."""
    skip = set(skip)
    formats: dict[str, str] = {}
    for column in table.columns:
        if column in skip or pd.api.types.is_numeric_dtype(table[column]):
            continue
        # strip and test each distinct cell once, then map back to the rows
        codes, uniques = pd.factorize(table[column])
        stripped = pd.Series(np.asarray(uniques, dtype=object)).astype("string").str.strip()
        filled = (stripped.notna() & (stripped != "")).to_numpy()
        if not filled.any():  # an empty column (also the one a separator at every line's end makes)
            table[column] = np.nan
            continue
        present = (codes >= 0) & filled[np.maximum(codes, 0)]  # not all False: every distinct cell has a row
        distinct = stripped[filled].astype(str)  # in order of first appearance
        cells = pd.Series(stripped.to_numpy(dtype=object)[codes[present]]).astype(str)
        name, numbers = infer_number_format(cells, decimal, thousands)
        if name is None and cells.str.fullmatch(_PERCENT).all():  # "9,1 %": a percentage, read as 9.1
            distinct = distinct.str.replace(_PERCENT_SIGN, "", regex=True)
            name, numbers = infer_number_format(cells.str.replace(_PERCENT_SIGN, "", regex=True), decimal, thousands)
            name = name if name in (None, "ambiguous") else f"{name} %"
        if name == "ambiguous":
            examples = ", ".join(repr(v) for v in pd.unique(distinct)[:4])
            readings = [n for n, _, _ in NUMBER_FORMATS if distinct.str.fullmatch(_PATTERNS[n]).all()]
            raise InputError(f"the numbers in column '{column}' can be read in more than one way ({examples}: "
                             f"formats {' or '.join(readings)})", str(path),
                             "declare the table's format in the project file (e.g. 'decimal: \",\"' and "
                             "'thousands: \".\"' under this table), or export the column again without thousands "
                             "separators (in Excel: number format "
                             "without '1000er-Trennzeichen'), or save the table as .xlsx, whose numbers are "
                             "unambiguous")
        if name is not None:
            column_values = np.full(len(table), np.nan)
            column_values[present] = numbers
            table[column] = column_values
            formats[column] = name
    table.attrs["number_formats"] = formats
    return table


def row_ref(table: pd.DataFrame, rows: Iterable, column: str | None = None, limit: int = 5) -> str:
    """Describe where rows are: ``"survey.csv, rows 3, 17 (column 'sn1')"``.

    Row numbers are file lines (header = line 1) when the table came from :func:`read_table`
    (SPSS files: case numbers, from 1), index labels otherwise.
    """
    rows = list(rows)
    source = table.attrs.get("source")
    if source is not None and isinstance(table.index, pd.RangeIndex):
        lines = table.attrs.get("lines")
        spss = str(source).lower().endswith(SPSS_SUFFIXES)  # no header line: row 0 is case 1
        if lines is not None and len(lines) == len(table) and table.index.start == 0 and table.index.step == 1:
            labels = [str(lines[int(r)]) for r in rows[:limit]]
        else:
            labels = [str(int(r) + (1 if spss else 2)) for r in rows[:limit]]
        what = ("case" if spss else "line") + ("" if len(rows) == 1 else "s")
    else:
        labels = [str(r) for r in rows[:limit]]
        what = "row" if len(rows) == 1 else "rows"
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    text = f"{what} {', '.join(labels)}{more}"
    if column is not None:
        text += f", column '{column}'"
    return f"{source}, {text}" if source else text


def _text_numbers_error(cells: pd.Series, what: str, where: str) -> InputError:
    """The error for numbers stored as text (``cells``, described by ``what``) that can be read in two
    ways (``1.234``: 1.234 or 1234?)."""
    examples = ", ".join(repr(v) for v in pd.unique(cells)[:4])
    return InputError(f"{what} can be read in more than one way ({examples}: decimal point or "
                      "thousands separator?)", where,
                      "store these cells as numbers (in Excel: Daten → Text in Spalten), or write them without "
                      "thousands separators")


def to_numeric_column(table: pd.DataFrame, column: str, what: str = "value") -> np.ndarray:
    """Convert a column to float, raising InputError that names the bad rows.

    Accepts numbers, numeric strings and decimal commas; empty cells become NaN. Text cells (an
    Excel column stored as text) are read like a CSV column (:func:`infer_number_format`): text
    that can be read in two ways (``1.234``: 1.234 or 1234?) is an error, never a guess.
    """
    series = table[column]
    if pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=float)
    stripped = series.astype("string").str.strip()
    cells = stripped[stripped.notna() & (stripped != "") & series.map(lambda v: isinstance(v, str)).to_numpy()]
    if len(cells) and infer_number_format(cells.astype(str))[0] == "ambiguous":
        raise _text_numbers_error(cells, f"{what} cells stored as text", row_ref(table, cells.index, column))
    text = stripped.str.replace(",", ".", regex=False)
    values = pd.to_numeric(text, errors="coerce")
    bad = values.isna() & text.notna() & (text != "")
    if bad.any():
        example = series[bad].iloc[0]
        raise InputError(f"{what} {example!r} is not a number", row_ref(table, table.index[bad], column),
                         "use numbers only (decimal point or comma)")
    return values.to_numpy(dtype=float)
