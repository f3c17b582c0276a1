"""Reading tables: number formats decided per column, Excel and SPSS input, no global side effects."""
from __future__ import annotations

import csv
import importlib

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, strategies as st

from geo_cohesion.errors import InputError
from geo_cohesion.io import tables
from geo_cohesion.io.tables import infer_number_format, read_table, to_numeric_column


def _write(tmp_path, text: str, name: str = "t.csv", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def test_thousands_separator_next_to_small_numbers_is_ambiguous(tmp_path):
    """German Excel writes 2069 as '2.069' next to '987': 2.069 or 2069? Never guessed."""
    path = _write(tmp_path, "bezirk;einwohner\n01;2.069\n02;987\n03;1.204\n")
    with pytest.raises(InputError) as err:
        read_table(path, text_columns=["bezirk"])
    text = str(err.value)
    assert "einwohner" in text and "'2.069'" in text and "thousands" in text and str(path) in text


def test_declared_german_format_resolves_the_ambiguity(tmp_path):
    path = _write(tmp_path, "bezirk;einwohner\n01;2.069\n02;987\n03;1.204\n")
    table = read_table(path, text_columns=["bezirk"], decimal=",", thousands=".")
    assert table["einwohner"].tolist() == [2069.0, 987.0, 1204.0]
    assert table["bezirk"].tolist() == ["01", "02", "03"]


@pytest.mark.parametrize("cells, expected", [
    (["1.234,5", "12,5"], [1234.5, 12.5]),           # German with grouping
    (["1,234.5", "3.5"], [1234.5, 3.5]),             # English with grouping
    (["0,5", "1,25"], [0.5, 1.25]),                  # decimal comma
    (["0.5", "1.25", "-2"], [0.5, 1.25, -2.0]),      # decimal point
    (["1 234,5", "7"], [1234.5, 7.0]),               # space grouping
    (["1e-3", "2"], [0.001, 2.0]),
    (["1.438", "0.518", "1.119"], [1.438, 0.518, 1.119]),  # 0.518 cannot be grouped: all decimals
    (["0,125", "1,500"], [0.125, 1.5]),              # the same with a decimal comma
    (["-0.250", "2.000"], [-0.25, 2.0]),
])
def test_unambiguous_formats_are_read(cells, expected):
    name, numbers = infer_number_format(pd.Series(cells))
    assert name not in (None, "ambiguous")
    np.testing.assert_allclose(numbers, expected)


@pytest.mark.parametrize("cells", [["12.500", "3.000"], ["1,234", "5,678"]])
def test_grouping_or_decimal_is_ambiguous(cells):
    assert infer_number_format(pd.Series(cells))[0] == "ambiguous"


def test_comma_separated_file_with_decimal_points(tmp_path):
    path = _write(tmp_path, "id,share\n1,12.5\n2,3.25\n")
    table = read_table(path, text_columns=["id"])
    assert table["share"].tolist() == [12.5, 3.25]
    assert table.attrs["number_formats"] == {"share": "1234.5"}


def test_text_cell_in_number_column_is_reported_not_dropped(tmp_path):
    """'k.A.' keeps the column as text; converting it names the line and the cell."""
    path = _write(tmp_path, "bezirk;sgb2\n01;12,5\n02;k.A.\n03;7,25\n")
    table = read_table(path, text_columns=["bezirk"])
    with pytest.raises(InputError) as err:
        to_numeric_column(table, "sgb2", "SGB II share")
    assert "'k.A.'" in str(err.value) and "line 3" in str(err.value)


@given(st.lists(st.floats(min_value=-1e7, max_value=1e7, allow_nan=False).map(lambda v: round(v, 2)),
                min_size=1, max_size=20))
def test_german_excel_roundtrip(values):
    """Whatever the numbers, a declared German format reads back exactly what was written."""
    def german(v: float) -> str:
        return f"{v:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
    cells = pd.Series([german(v) for v in values])
    name, numbers = infer_number_format(cells, decimal=",", thousands=".")
    assert name == "1.234,5"
    np.testing.assert_allclose(numbers, values)


def test_reading_leaves_the_csv_field_limit_alone(tmp_path):
    before = csv.field_size_limit()
    read_table(_write(tmp_path, "a,b\n1,2\n"))
    assert csv.field_size_limit() == before


def test_excel_ids_stay_text_and_whole_numbers_lose_the_decimal(tmp_path):
    pytest.importorskip("openpyxl")
    path = tmp_path / "pop.xlsx"
    pd.DataFrame({"bezirk": ["011001", "7"], "code": [7.0, 12.0], "einwohner": [2069, 987]}).to_excel(path, index=False)
    table = read_table(path, required=["einwohner"], text_columns=["bezirk", "code"])
    assert table["bezirk"].tolist() == ["011001", "7"]
    assert table["code"].tolist() == ["7", "12"]
    assert table["einwohner"].tolist() == [2069, 987]


def test_broken_excel_file_is_a_clear_error(tmp_path):
    path = _write(tmp_path, "not a workbook", "x.xlsx")
    with pytest.raises(InputError, match="cannot read the Excel file"):
        read_table(path)


def test_old_xls_is_refused_with_a_fix(tmp_path):
    path = _write(tmp_path, "x", "x.xls")
    with pytest.raises(InputError, match=r"\.xlsx"):
        read_table(path)


def test_spss_user_missing_values_are_missing_and_labels_kept(tmp_path):
    pyreadstat = pytest.importorskip("pyreadstat")
    frame = pd.DataFrame({"bezirk": [1.0, 2.0, 12.0], "sn1": [3.0, 8.0, 1.0]})
    path = tmp_path / "befragung.sav"
    pyreadstat.write_sav(frame, str(path), variable_value_labels={"sn1": {1.0: "trifft zu", 8.0: "weiß nicht"}},
                         missing_ranges={"sn1": [8.0]}, column_labels=["Bezirk", "Nachbarn helfen"])
    table = read_table(path, text_columns=["bezirk"])
    assert table["bezirk"].tolist() == ["1", "2", "12"]
    assert np.isnan(table["sn1"].iloc[1]) and table["sn1"].iloc[0] == 3.0
    assert table.attrs["value_labels"]["sn1"][8.0] == "weiß nicht"
    assert table.attrs["column_labels"]["sn1"] == "Nachbarn helfen"


def test_broken_spss_file_is_a_clear_error(tmp_path):
    pytest.importorskip("pyreadstat")
    with pytest.raises(InputError, match="cannot read the SPSS file"):
        read_table(_write(tmp_path, "garbage", "x.sav"))


@pytest.fixture
def small_csv_limit():
    """The csv module's field size limit set to a known small value, restored afterwards."""
    original = csv.field_size_limit(1000)
    yield 1000
    csv.field_size_limit(original)


def test_import_does_not_change_the_csv_field_size_limit(small_csv_limit):
    importlib.reload(tables)   # runs the module's top-level code again
    assert csv.field_size_limit() == small_csv_limit


def test_large_field_is_read_and_the_limit_restored(tmp_path, small_csv_limit):
    path = tmp_path / "survey.csv"
    answer = "x" * 200_000    # a free-text answer larger than the csv module's default limit (128 KB)
    path.write_text(f"district_id;comment;value\n01;{answer};1,5\n02;kurz;2\n", encoding="utf-8")
    table = read_table(path, text_columns=["district_id"])
    assert table["comment"].str.len().tolist() == [200_000, 4] and table["value"].tolist() == [1.5, 2.0]
    assert csv.field_size_limit() == small_csv_limit
    bad = tmp_path / "bad.csv"
    bad.write_text('district_id,name\n01,"Nord\n02,Süd,extra\n', encoding="utf-8")
    with pytest.raises(InputError):
        read_table(bad)
    assert csv.field_size_limit() == small_csv_limit   # restored on errors, too


def test_numbers_with_a_percent_sign_are_read_as_percentages(tmp_path):
    """`9,1 %` in every cell (German office exports) made a known indicator a text column that was
    dropped without a note (robustness sweep 2)."""
    path = tmp_path / "struktur.csv"
    path.write_text("bezirk;arbeitslose_pct;quote;gemischt;text\n01;9,1 %;12 %;9.1 %;ab 5 %\n"
                    "02;10,25 %;7%;10,5 %;x\n03;;8\u00a0%;3 %;y\n", encoding="utf-8")
    table = read_table(path, text_columns=["bezirk"])
    assert table["arbeitslose_pct"].tolist()[:2] == [9.1, 10.25] and np.isnan(table["arbeitslose_pct"].iloc[2])
    assert table["quote"].tolist() == [12.0, 7.0, 8.0]
    assert table.attrs["number_formats"]["arbeitslose_pct"] == "1234,5 %"
    assert table["gemischt"].tolist() == ["9.1 %", "10,5 %", "3 %"]  # point and comma: no one format, stays text
    assert table["text"].tolist() == ["ab 5 %", "x", "y"]


def test_columns_on_another_sheet_of_the_workbook_are_named(tmp_path):
    """A workbook whose first sheet holds notes said only "missing column(s): bezirk, einwohner; the
    file has: Hinweis" (robustness sweep 2); now it names the sheet that has them."""
    path = tmp_path / "bevoelkerung.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"Hinweis": ["Quelle: Statistikstelle"]}).to_excel(writer, sheet_name="Hinweise", index=False)
        pd.DataFrame({"bezirk": ["01"], "einwohner": [1200]}).to_excel(writer, sheet_name="Daten", index=False)
    with pytest.raises(InputError, match=r"bevoelkerung.xlsx: missing column\(s\) bezirk, einwohner on the first "
                                         r"sheet 'Hinweise'; sheet\(s\) 'Daten' have them – .*move the sheet"):
        read_table(path, required=["bezirk", "einwohner"])
    with pytest.raises(InputError, match=r"missing column\(s\): stadtteil"):  # on no sheet: the usual message
        read_table(path, required=["stadtteil"])


def test_excel_numbers_stored_as_text_follow_the_csv_rules(tmp_path):
    """Population counts typed as text in Excel ('1.234', German thousands) were read as 1.234
    residents by pandas and the weights went wrong without a message (robustness sweep 2)."""
    path = tmp_path / "bevoelkerung.xlsx"
    pd.DataFrame({"bezirk": ["01", "02", "03"], "einwohner": ["1.234", "2.069", "987"],
                  "quote": ["9,5", 7.25, None], "anmerkung": ["k.A.", 3, None],
                  "anzahl": [1200, 1300, None]}).to_excel(path, index=False)
    with pytest.raises(InputError, match=r"bevoelkerung.xlsx, lines 2, 3, 4, column 'einwohner': numbers stored as "
                                         r"text in column 'einwohner' can be read in more than one way"):
        read_table(path, text_columns=["bezirk"])
    pd.DataFrame({"bezirk": ["01", "02"], "einwohner": ["1.234.567", "2.069"], "quote": ["9,5", 7.25],
                  "anmerkung": ["k.A.", 3], "anzahl": [1200, 1300]}).to_excel(path, index=False)
    table = read_table(path, text_columns=["bezirk"])
    assert table["einwohner"].tolist() == [1234567.0, 2069.0]  # one reading only: thousands separators
    assert table["quote"].tolist() == [9.5, 7.25]  # a decimal comma next to a number cell
    assert table["anmerkung"].tolist() == ["k.A.", 3]  # text stays text for the consumer to report
    assert table["anzahl"].dtype.kind == "i" and table["bezirk"].tolist() == ["01", "02"]


def test_to_numeric_column_refuses_text_that_reads_two_ways():
    """An SPSS string column (or any table not from read_table's CSV path) with '1.234' next to '987'."""
    table = pd.DataFrame({"einwohner": ["1.234", "987", None]})
    with pytest.raises(InputError, match=r"population cells stored as text can be read in more than one way"):
        to_numeric_column(table, "einwohner", "population")
    np.testing.assert_array_equal(to_numeric_column(pd.DataFrame({"x": ["1,5", "2.5", ""]}), "x"), [1.5, 2.5, np.nan])


def test_excel_text_na_is_a_value_as_in_csv(tmp_path):
    """A district coded `NA` in an Excel survey was read as missing ("respondents without a district
    code", robustness sweep 2); as in CSVs, only empty cells are missing."""
    path = tmp_path / "befragung.xlsx"
    pd.DataFrame({"bezirk": ["NA", "02", None], "anteil": [1.5, None, 2.0]}).to_excel(path, index=False)
    table = read_table(path, text_columns=["bezirk"])
    assert table["bezirk"].tolist()[:2] == ["NA", "02"] and pd.isna(table["bezirk"].iloc[2])
    assert table["anteil"].iloc[0] == 1.5 and np.isnan(table["anteil"].iloc[1])


@pytest.mark.parametrize("text", [
    "a;b\r\n1,5;\r\n4;\r\n",            # an empty column
    "\ufeffa;b;\r\n1,5;2;\r\n4;5;\r\n",  # BOM, CRLF and a separator at every line's end (German Excel)
    "a,b,\n1.5,2\n4,5\n",               # a separator at the header's end only
    "a,,b\n1.5,,2\n4,,5\n",             # an unnamed empty column in the middle
])
def test_empty_and_trailing_columns_are_read(tmp_path, text):
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode("utf-8"))
    table = read_table(path)
    assert table["a"].tolist() == [1.5, 4.0]
    assert [c for c in table.columns if not c.startswith("Unnamed")] == ["a", "b"]
    assert table["b"].isna().all() or table["b"].tolist() == [2.0, 5.0]


def test_trailing_header_separator_with_a_value_below_is_a_row_error(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,\n1,2,3\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 2"):
        read_table(path)


def _workbook(path, rows, hidden_first=None):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    if hidden_first is not None:
        sheet.title = "alt"
        for row in hidden_first:
            sheet.append(row)
        sheet.sheet_state = "hidden"
        sheet = book.create_sheet("daten")
        book.active = 1
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_formulas_without_stored_results_are_an_error_not_empty(tmp_path):
    """openpyxl-written formulas have no cached value; pandas read them as empty cells."""
    path = _workbook(tmp_path / "t.xlsx", [["bezirk", "einwohner"], ["101", 100], ["102", "=B2*2"]])
    with pytest.raises(InputError, match=r"B3 hold formulas without a stored result.*save it again"):
        read_table(path, text_columns=["bezirk"])


def test_excel_error_cells_are_an_error_not_empty(tmp_path):
    path = _workbook(tmp_path / "t.xlsx", [["bezirk", "quote"], ["101", "#DIV/0!"], ["102", 3]])
    with pytest.raises(InputError, match=r"B2 \(#DIV/0!\) hold Excel errors"):
        read_table(path, text_columns=["bezirk"])


def test_duplicate_excel_header_is_an_error_not_renamed(tmp_path):
    path = _workbook(tmp_path / "t.xlsx", [["bezirk", "sn1", "sn1"], ["101", 1, 2]])
    with pytest.raises(InputError, match="duplicate column name.*'sn1'"):
        read_table(path, text_columns=["bezirk"])


def test_hidden_first_sheet_is_skipped(tmp_path):
    path = _workbook(tmp_path / "t.xlsx", [["bezirk", "einwohner"], ["101", 5]],
                     hidden_first=[["bezirk", "einwohner"], ["999", 1]])
    table = read_table(path, text_columns=["bezirk"])
    assert table["bezirk"].tolist() == ["101"] and table["einwohner"].tolist() == [5]
    assert read_table(path, text_columns=["bezirk"], sheet=0)["bezirk"].tolist() == ["999"]


def test_empty_excel_cells_are_still_missing(tmp_path):
    path = _workbook(tmp_path / "t.xlsx", [["bezirk", "x"], ["101", 1], ["102", None]])
    assert read_table(path, text_columns=["bezirk"])["x"].isna().tolist() == [False, True]


def test_decomposed_umlauts_are_read_composed(tmp_path):
    """'ü' written as u + combining diaeresis (NFD, macOS) reads as 'ü' (NFC) in cells and headers."""
    import unicodedata

    path = tmp_path / "nfd.csv"
    path.write_text(unicodedata.normalize("NFD", "bezirk;Größe;name\n101;3;Süd\n102;4;\n"), encoding="utf-8")
    table = read_table(path, text_columns=["bezirk"])
    assert list(table.columns) == ["bezirk", "Größe", "name"]
    assert table["name"].iloc[0] == "Süd" and pd.isna(table["name"].iloc[1])
    assert table["Größe"].tolist() == [3, 4]


def test_legacy_encoding_names_the_decision(tmp_path):
    assert tables.legacy_encoding(_write(tmp_path, "a;b\nmännlich;1\n", "cp.csv", "cp1252")) == "Windows-1252"
    assert tables.legacy_encoding(_write(tmp_path, "a;b\nmännlich;1\n", "utf.csv")) is None
    assert tables.legacy_encoding(_write(tmp_path, "\ufeffa;b\nmännlich;1\n", "bom.csv")) is None


def test_spss_value_labels_are_read_composed(tmp_path):
    """District names as value labels typed on a Mac (NFD) match the population's 'Hörde' (NFC)."""
    import unicodedata

    pyreadstat = pytest.importorskip("pyreadstat")
    path = tmp_path / "nfd.sav"
    pyreadstat.write_sav(pd.DataFrame({"bezirk": [1.0, 2.0]}), str(path),
                         variable_value_labels={"bezirk": {1.0: unicodedata.normalize("NFD", "Hörde"), 2.0: "Süd"}})
    assert read_table(path, text_columns=["bezirk"]).attrs["value_labels"]["bezirk"] == {1.0: "Hörde", 2.0: "Süd"}


def test_excel_separator_line_is_obeyed(tmp_path):
    """Excel writes and reads a first line 'sep=;' that names the separator; messages keep the file's lines."""
    table = read_table(_write(tmp_path, "sep=;\nbezirk;einwohner\n01;1200\n02;980\n"), text_columns=["bezirk"])
    assert list(table.columns) == ["bezirk", "einwohner"] and table["einwohner"].tolist() == [1200, 980]
    with pytest.raises(InputError, match="line 4"):
        read_table(_write(tmp_path, "sep=,\r\nbezirk,einwohner\r\n01,1200\r\n02,980,7\r\n", "b.csv"))


def test_excel_unicode_text_is_read(tmp_path):
    """Excel's 'Unicode-Text (*.txt)': UTF-16 with byte-order mark, tab separated (it has NUL bytes, but is text)."""
    path = tmp_path / "bevoelkerung.txt"
    path.write_bytes("bezirk\tgeschlecht\teinwohner\r\n01\tmännlich\t1200\r\n02\tweiblich\t980\r\n".encode("utf-16"))
    table = read_table(path, text_columns=["bezirk"])
    assert table["geschlecht"].tolist() == ["männlich", "weiblich"] and table["einwohner"].tolist() == [1200, 980]
    assert tables.legacy_encoding(path) is None  # declared by its byte-order mark: no note
