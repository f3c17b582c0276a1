"""What pandas does not say about an Excel workbook: hidden sheets, duplicate headers, formulas.

pandas reads a workbook's first sheet even when it is hidden (the user sees another one),
renames a second column ``sn1`` to ``sn1.1`` (the duplicate is silently ignored), and reads a
formula cell whose result was never stored (a workbook written by a program and not saved in
Excel since) or an Excel error (``#DIV/0!``, ``#NV``) as an empty cell. :func:`sheet_to_read`
and :func:`check_sheet` turn these into a choice or a clear error before any value is used.
"""
from __future__ import annotations

from pathlib import Path

from geo_cohesion.errors import InputError

#: Cells listed in a message at most.
_SHOWN = 5


def _open(path: Path, data_only: bool):
    import openpyxl

    return openpyxl.load_workbook(path, read_only=True, data_only=data_only)


def sheet_to_read(path: Path, sheet: str | int | None) -> str | int:
    """The sheet pandas should read: ``sheet`` as given, else the first *visible* sheet.

    A hidden first sheet (an old version, a lookup table) is not what the user sees when the
    workbook opens, so it is skipped. Falls back to ``0`` when the workbook cannot be opened
    here (pandas then gives its own error).
    """
    if sheet is not None:
        return sheet
    try:
        book = _open(path, data_only=True)
    except Exception:
        return 0
    try:
        visible = [ws.title for ws in book.worksheets if ws.sheet_state == "visible"]
        return visible[0] if visible else 0
    finally:
        book.close()


def _cells(cells: list[str]) -> str:
    more = f" and {len(cells) - _SHOWN} more" if len(cells) > _SHOWN else ""
    return ", ".join(cells[:_SHOWN]) + more


def check_sheet(path: Path, sheet: str | int, scan_cells: bool = True) -> None:
    """Refuse duplicate header names, formulas without a stored result and Excel error cells.

    Parameters
    ----------
    path : Path
        The workbook.
    sheet : str or int
        The sheet that was read (name or 0-based position).
    scan_cells : bool
        Look at every cell (needed only when pandas read some cell as empty); else only the header.

    Raises
    ------
    InputError
        Naming the sheet, the cells and the fix.
    """
    values = _open(path, data_only=True)
    formulas = _open(path, data_only=False)
    try:
        ws_values = values[sheet] if isinstance(sheet, str) else values.worksheets[sheet]
        ws_formulas = formulas[ws_values.title]
        where = f"{path}, sheet {ws_values.title!r}"
        header: list[str] | None = None
        uncached: list[str] = []
        errors: list[str] = []
        for row_values, row_formulas in zip(ws_values.iter_rows(), ws_formulas.iter_rows()):
            if header is None:
                names = [str(c.value).strip() for c in row_values if c.value is not None and str(c.value).strip()]
                if names:
                    header = names
                    dupes = sorted({n for n in names if names.count(n) > 1})
                    if dupes:
                        raise InputError(f"duplicate column name(s): {', '.join(map(repr, dupes))}", where,
                                         "give every column its own name")
                    if not scan_cells:
                        break
            for cell, formula in zip(row_values, row_formulas):
                if cell.data_type == "e":
                    errors.append(f"{cell.coordinate} ({cell.value})")
                elif cell.value is None and formula.data_type == "f":
                    uncached.append(cell.coordinate)
    finally:
        values.close()
        formulas.close()
    if uncached:
        raise InputError(f"cell(s) {_cells(uncached)} hold formulas without a stored result", where,
                         "the workbook was written by a program and never calculated: open it in Excel or "
                         "LibreOffice and save it again, or write the values instead of formulas")
    if errors:
        raise InputError(f"cell(s) {_cells(errors)} hold Excel errors", where,
                         "correct the formulas, or leave cells without a value empty")
