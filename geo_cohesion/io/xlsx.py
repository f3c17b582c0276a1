"""Write Excel workbooks (``.xlsx``): one sheet per table, numbers as numbers, reproducible bytes.

:func:`write_xlsx` takes tables that are ready to show (headers already in the reader's language)
and writes them with a bold, frozen header row, an autofilter, column widths that fit the content,
booleans as words (``ja``/``nein``) and missing values as empty cells. Text cells go through the
one formula neutraliser (:func:`geo_cohesion.io.write.neutralise_formula`), so a district called
``=HYPERLINK(...)`` stays text.

The same tables give byte-identical files: the workbook's creation and modification dates are
fixed (:data:`geo_cohesion.io.write.FIXED_DATE` unless given) and the zip entries carry a fixed
timestamp (openpyxl itself stamps "now" into both).
"""
from __future__ import annotations

import datetime as dt
import io
import math
import numbers
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo_cohesion.io.write import FIXED_DATE, neutralise_formula, write_bytes

#: Longest sheet name Excel accepts.
MAX_SHEET_CHARS = 31
#: Widest column (characters) set automatically.
MAX_COLUMN_CHARS = 60
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
#: Characters that are not allowed in XML 1.0 (openpyxl refuses them).
_ILLEGAL_XML = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")


@dataclass(frozen=True)
class Sheet:
    """One worksheet.

    Attributes
    ----------
    name : str
        Sheet name; made valid by :func:`sheet_names` (forbidden characters removed, at most 31
        characters, unique).
    frame : DataFrame
        The table; its column names become the header row.
    number_formats : dict of str to str, optional
        Excel number format per column (e.g. ``"0.0"``); other numbers use ``General``.
    """

    name: str
    frame: pd.DataFrame
    number_formats: dict[str, str] | None = None


def sheet_names(names: Sequence[str]) -> list[str]:
    """Valid, unique Excel sheet names for ``names`` (same order).

    Removes ``[ ] : * ? / \\``, trims to :data:`MAX_SHEET_CHARS` and makes duplicates unique
    (case-insensitively, as Excel compares) with a suffix `` (2)``, `` (3)`` ...
    """
    out: list[str] = []
    taken: set[str] = set()
    for name in names:
        base = _SHEET_FORBIDDEN.sub("", str(name)).strip().strip("'") or "Tabelle"
        candidate = base[:MAX_SHEET_CHARS]
        counter = 2
        while candidate.casefold() in taken:
            suffix = f" ({counter})"
            candidate = base[:MAX_SHEET_CHARS - len(suffix)] + suffix
            counter += 1
        taken.add(candidate.casefold())
        out.append(candidate)
    return out


def cell_value(value: Any, true_false: tuple[str, str] = ("ja", "nein")) -> Any:
    """The value as an Excel cell holds it.

    Booleans become ``true_false`` words; missing and non-finite numbers become empty cells
    (``None``); numbers stay numbers (numpy scalars become Python numbers); text is cleaned of
    characters XML cannot hold and neutralised against formula injection; anything else is
    written as text.
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return true_false[0] if value else true_false[1]
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        return neutralise_formula(_ILLEGAL_XML.sub("", value))
    return neutralise_formula(_ILLEGAL_XML.sub("", str(value)))


def _width(values: Sequence[Any]) -> float:
    longest = 0
    for value in values:
        if value is None:
            continue
        text = f"{value:.4f}".rstrip("0") if isinstance(value, float) else str(value)
        longest = max(longest, max((len(line) for line in text.split("\n")), default=0))
    return float(min(MAX_COLUMN_CHARS, max(6, longest + 2)))


def _fill_sheet(ws, sheet: Sheet, true_false: tuple[str, str]) -> None:
    """Stream one table into a write-only sheet (memory: the cell values, not a cell object each).

    Column widths, the frozen header and the autofilter are set before the rows, as write-only
    sheets need.
    """
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    frame = sheet.frame
    header = [cell_value(str(c), true_false) for c in frame.columns]
    columns = [[cell_value(v, true_false) for v in frame[c].tolist()] for c in frame.columns]
    formats = sheet.number_formats or {}
    number_formats = [formats.get(str(column)) for column in frame.columns]
    for j in range(1, len(frame.columns) + 1):
        ws.column_dimensions[get_column_letter(j)].width = max(_width(columns[j - 1][:2000]),
                                                               min(_width([header[j - 1]]), 24.0))
    ws.freeze_panes = "A2"
    if len(frame.columns):
        ws.auto_filter.ref = f"A1:{get_column_letter(len(frame.columns))}{len(frame) + 1}"
    bold, fill, wrap = Font(bold=True), PatternFill("solid", fgColor="E7E7E7"), Alignment(wrap_text=True,
                                                                                          vertical="top")
    cells = []
    for value in header:
        cell = WriteOnlyCell(ws, value)
        cell.font, cell.fill, cell.alignment = bold, fill, wrap
        cells.append(cell)
    ws.append(cells)
    formatted = [j for j, f in enumerate(number_formats) if f]
    for row in zip(*columns) if columns else ():
        values = list(row)
        for j in formatted:
            if isinstance(values[j], (int, float)):
                cell = WriteOnlyCell(ws, values[j])
                cell.number_format = number_formats[j]
                values[j] = cell
        ws.append(values)


def _repack(data: bytes, stamp: dt.datetime) -> bytes:
    """The zip archive with every entry stamped ``stamp`` (openpyxl stamps "now")."""
    date_time = (max(stamp.year, 1980), stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.create_system = 3
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


def workbook_bytes(sheets: Sequence[Sheet], *, title: str = "", created: dt.datetime = FIXED_DATE,
                   true_false: tuple[str, str] = ("ja", "nein"), creator: str = "geo-cohesion") -> bytes:
    """The ``.xlsx`` file of ``sheets`` as bytes (see :func:`write_xlsx`)."""
    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    workbook = Workbook(write_only=True)  # streamed: a 20,000-district comparison sheet is 260,000 rows
    for name, sheet in zip(sheet_names([s.name for s in sheets]), sheets):
        _fill_sheet(workbook.create_sheet(name), sheet, true_false)
    naive = created.astimezone(dt.timezone.utc).replace(tzinfo=None) if created.tzinfo else created
    props = workbook.properties
    props.created = props.modified = naive
    props.creator = creator
    props.lastModifiedBy = creator
    props.title = _ILLEGAL_XML.sub("", title) or None
    buffer = io.BytesIO()
    archive = zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
    ExcelWriter(workbook, archive).save()  # closes the archive; unlike save_workbook, keeps our dates
    return _repack(buffer.getvalue(), naive)


def write_xlsx(sheets: Sequence[Sheet], path: str | Path, *, title: str = "", created: dt.datetime = FIXED_DATE,
               true_false: tuple[str, str] = ("ja", "nein"), creator: str = "geo-cohesion") -> Path:
    """Atomically write an Excel workbook with one sheet per table.

    Parameters
    ----------
    sheets : sequence of Sheet
        In workbook order.
    path : str or Path
        Destination ``.xlsx``.
    title : str
        Workbook title (document properties).
    created : datetime
        Creation and modification date in the document properties (and zip timestamps);
        fixed by default so the same tables give byte-identical files.
    true_false : (str, str)
        Words for booleans.
    creator : str
        Author in the document properties.

    Returns
    -------
    Path
        ``path``.

    Notes
    -----
    Header row bold and frozen, with an autofilter; numbers are numeric cells (``pandas.read_excel``
    gives them back as numbers), missing values empty cells, text cells neutralised against formula
    injection (:func:`geo_cohesion.io.write.neutralise_formula`).
    """
    return write_bytes(path, workbook_bytes(sheets, title=title, created=created, true_false=true_false,
                                            creator=creator))
