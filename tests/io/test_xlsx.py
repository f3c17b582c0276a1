"""The workbook writer: numbers as numbers, ja/nein, neutralised text, frozen header, fixed dates."""
from __future__ import annotations

import datetime as dt
import io
import zipfile

import numpy as np
import openpyxl
import pandas as pd
import pytest

from geo_cohesion.io.write import FIXED_DATE
from geo_cohesion.io.xlsx import Sheet, cell_value, sheet_names, workbook_bytes, write_xlsx

ATTACK = '=HYPERLINK("http://x","y")'


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"Gebiets-ID": ["010", "020"], "Gebiet": [ATTACK, "Hörde"],
                         "Schätzwert": [66.2988, np.nan], "Abweichung": [-2.7, 1.0], "Befragte": [71, 12],
                         "signifikant": [True, False], "Hinweis": ["-1 Punkt", "x\x01y"]})


def test_workbook_round_trips_numbers_and_keeps_text_text(tmp_path):
    path = write_xlsx([Sheet("Gebietswerte", _frame()), Sheet("Leer", pd.DataFrame({"a": []}))],
                      tmp_path / "w.xlsx", title="Test")
    back = pd.read_excel(path, sheet_name="Gebietswerte", dtype={"Gebiets-ID": str})
    assert back["Gebiets-ID"].tolist() == ["010", "020"]
    assert back["Schätzwert"].iloc[0] == 66.2988 and pd.isna(back["Schätzwert"].iloc[1])
    assert back["Abweichung"].tolist() == [-2.7, 1.0]
    assert back["Befragte"].dtype.kind == "i"
    assert back["signifikant"].tolist() == ["ja", "nein"]
    assert back["Gebiet"].iloc[0] == "'" + ATTACK
    assert back["Hinweis"].tolist() == ["'-1 Punkt", "xy"]  # control characters dropped, minus neutralised
    ws = openpyxl.load_workbook(path)["Gebietswerte"]
    assert ws.freeze_panes == "A2"
    assert ws["B2"].data_type == "s" and ws["C2"].data_type == "n" and ws["D2"].value == -2.7
    assert ws.auto_filter.ref == "A1:G3"
    assert ws.column_dimensions["B"].width > ws.column_dimensions["A"].width
    assert ws["A1"].font.bold


def test_same_tables_give_identical_bytes_with_fixed_dates():
    first = workbook_bytes([Sheet("A", _frame())])
    second = workbook_bytes([Sheet("A", _frame())])
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert {info.date_time for info in archive.infolist()} == {(2017, 5, 23, 0, 0, 0)}
        core = archive.read("docProps/core.xml").decode()
    assert core.count("2017-05-23T00:00:00Z") == 2  # created and modified
    other = workbook_bytes([Sheet("A", _frame())], created=dt.datetime(2020, 1, 2, tzinfo=dt.timezone.utc))
    assert other != first
    assert FIXED_DATE.year == 2017


def test_sheet_names_are_valid_and_unique():
    names = sheet_names(["Vergleich Dessau-Roßlau: [x]/y?", "a" * 40, "a" * 40, "A" * 40, ""])
    assert names[0] == "Vergleich Dessau-Roßlau xy"
    assert all(len(n) <= 31 for n in names)
    assert len({n.casefold() for n in names}) == len(names)
    assert names[-1] == "Tabelle"


def test_cell_values():
    assert cell_value(np.int64(3)) == 3 and isinstance(cell_value(np.int64(3)), int)
    assert cell_value(np.float64(-1.5)) == -1.5
    assert cell_value(float("inf")) is None and cell_value(pd.NA) is None
    assert cell_value(np.bool_(True)) == "ja"
    assert cell_value("+49 231") == "'+49 231"


@pytest.mark.slow
def test_number_formats_and_a_large_sheet_are_streamed(tmp_path):
    """The workbook is written in write-only mode: number formats stay on numeric cells, and a
    sheet of 60,000 rows needs memory for its values, not for a cell object each."""
    import tracemalloc

    frame = pd.DataFrame({"district_id": [f"D{i:05d}" for i in range(60_000)], "estimate": np.linspace(0, 100, 60_000),
                          "note": ["x"] * 60_000})
    tracemalloc.start()
    data = workbook_bytes([Sheet("vergleich", frame, number_formats={"estimate": "0.00"})])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 150 * 2**20, f"{peak / 2**20:.0f} MB"
    ws = openpyxl.load_workbook(io.BytesIO(data), read_only=True)["vergleich"]
    rows = list(ws.iter_rows(min_row=1, max_row=3))
    assert rows[1][1].number_format == "0.00" and rows[1][0].number_format == "General"
    assert rows[2][0].value == "D00001"
