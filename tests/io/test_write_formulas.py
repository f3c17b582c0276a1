"""Spreadsheet formula injection: every CSV and XLSX text cell is neutralised, numbers stay numbers."""
from __future__ import annotations

import pandas as pd
import pytest

from geo_cohesion.io.write import FORMULA_TRIGGERS, neutralise_formula, neutralise_frame, write_csv

ATTACK = '=HYPERLINK("http://x","y")'


@pytest.mark.parametrize("trigger", FORMULA_TRIGGERS)
def test_text_starting_with_a_trigger_gets_a_quote(trigger):
    assert neutralise_formula(f"{trigger}1+1") == f"'{trigger}1+1"


@pytest.mark.parametrize("value", [-2.5, -3, 0, 7.25, True, None, "Hörde", "a=b", " =x", "'=already"])
def test_numbers_and_harmless_text_are_unchanged(value):
    assert neutralise_formula(value) == value or (value is None and neutralise_formula(value) is None)


def test_frame_neutralises_text_cells_and_headers_but_not_numbers():
    frame = pd.DataFrame({"district_name": [ATTACK, "Hörde", None], "estimate": [-2.5, 60.0, float("nan")],
                          "-note": ["-minus", "+plus", "@at"]})
    out = neutralise_frame(frame)
    assert out["district_name"].tolist()[:2] == ["'" + ATTACK, "Hörde"] and pd.isna(out["district_name"].iloc[2])
    assert out["estimate"].dtype == float and out["estimate"].iloc[0] == -2.5
    assert list(out.columns) == ["district_name", "estimate", "'-note"]
    assert out["'-note"].tolist() == ["'-minus", "'+plus", "'@at"]
    assert frame["district_name"].iloc[0] == ATTACK  # the input is not modified


@pytest.mark.parametrize("excel_de", [False, True])
def test_csv_writer_neutralises_a_hyperlink_district_name(tmp_path, excel_de):
    frame = pd.DataFrame({"district_name": [ATTACK, "Süd"], "deviation": [-2.75, 1.5]})
    path = write_csv(frame, tmp_path / "t.csv", excel_de=excel_de)
    text = path.read_text(encoding="utf-8-sig")
    assert '"\'=HYPERLINK(""http://x"",""y"")"' in text
    assert "\n=" not in text and ",=" not in text and ";=" not in text
    back = pd.read_csv(path, sep=";" if excel_de else ",", decimal="," if excel_de else ".", encoding="utf-8-sig")
    assert back["deviation"].tolist() == [-2.75, 1.5]  # negative numbers are still numbers
    assert back["district_name"].iloc[0] == "'" + ATTACK
