"""Per-table ``decimal``/``thousands`` keys of the project file (settings -> io.tables.read_table)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo_cohesion.errors import InputError
from geo_cohesion.project.config import load_project
from geo_cohesion.project.inputs import population_margins, read_structural
from geo_cohesion.project.run import run_scores_city
from geo_cohesion.settings import DECIMAL_MARKS, THOUSANDS_SEPARATORS

#: German Excel export: thousands separators in some cells only (2.069 next to 987).
STRUCTURAL = "bezirk;name;einwohner;quote\n01;Nord;2.069;12,5\n02;Süd;987;7,25\n03;Ost;1.234;3\n"


def _project(tmp_path: Path, table_keys: str, section: str = "structural") -> Path:
    (tmp_path / "strukturdaten.csv").write_text(STRUCTURAL, encoding="utf-8")
    (tmp_path / "scores.csv").write_text("district_id;variable;estimate;se;n\n01;index;61,5;2,1;1.204\n"
                                         "02;index;58;1,9;987\n03;index;63,25;2;1.010\n", encoding="utf-8")
    structural = ("    structural: {path: strukturdaten.csv, district_column: bezirk, name_column: name"
                  + (f", {table_keys}" if section == "structural" else "") + "}\n")
    scores = "    scores: {path: scores.csv" + (f", {table_keys}" if section == "scores" else "") + "}\n"
    path = tmp_path / "project.yaml"
    path.write_text("cities:\n  - name: Teststadt\n" + scores + structural, encoding="utf-8")
    return path


def test_declared_german_format_reads_the_thousands_separator(tmp_path):
    project = load_project(_project(tmp_path, 'decimal: ",", thousands: "."'))
    table = read_structural(project.cities[0], project)
    assert table["einwohner"].tolist() == [2069.0, 987.0, 1234.0]
    assert table["quote"].tolist() == [12.5, 7.25, 3.0]


def test_without_the_keys_the_column_is_ambiguous_and_the_hint_names_them(tmp_path):
    project = load_project(_project(tmp_path, ""))
    with pytest.raises(InputError) as info:
        read_structural(project.cities[0], project)
    text = str(info.value)
    assert "strukturdaten.csv" in text and "einwohner" in text and "'2.069'" in text
    assert "thousands" in text and "decimal" in text


def test_declared_english_format_reads_the_same_file_otherwise(tmp_path):
    """The declared format is used, not guessed: '2.069' with decimal '.' is 2.069; '12,5' is then text."""
    project = load_project(_project(tmp_path, 'decimal: ".", thousands: ""'))
    table = read_structural(project.cities[0], project)
    assert np.isclose(table["einwohner"].iloc[0], 2.069) and not pd.api.types.is_numeric_dtype(table["quote"])


def test_scores_table_keys_are_used(tmp_path):
    project = load_project(_project(tmp_path, 'decimal: ",", thousands: "."', section="scores"))
    city = project.cities[0]
    # the structural table (no keys) is ambiguous, so take the scores path alone
    city = city.model_copy(update={"structural": None})
    result = run_scores_city(city, project, None)
    est = result.district_estimates.set_index("district_id")
    assert est.loc["01", "estimate"] == 61.5 and est.loc["01", "n"] == 1204


def test_population_keys_reach_the_margins(tmp_path):
    """A population table with '2.069' next to '987': read as 2069 with the German format declared."""
    (tmp_path / "p.csv").write_text("bezirk;alter;geschlecht;einwohner\n01;18-34;w;2.069\n02;18-34;w;987\n",
                                    encoding="utf-8")
    from geo_cohesion.io.tables import read_table

    table = read_table(tmp_path / "p.csv", text_columns=["bezirk", "alter", "geschlecht"], decimal=",",
                       thousands=".")
    margins = population_margins(table, {"__population__": "einwohner", "bezirk": "bezirk"})
    assert margins["bezirk"] == {"01": 2069.0, "02": 987.0}


@pytest.mark.parametrize("keys, fragment", [
    ('decimal: ",", thousands: ","', "both ','"),
    ('decimal: ";"', "decimal"),
    ("thousands: x", "thousands"),
])
def test_bad_number_format_keys_are_one_clear_error(tmp_path, keys, fragment):
    with pytest.raises(InputError) as info:
        load_project(_project(tmp_path, keys))
    text = str(info.value)
    assert fragment in text and "project.yaml, line" in text and "structural" in text


def test_allowed_marks():
    assert DECIMAL_MARKS == (".", ",") and THOUSANDS_SEPARATORS == ("", ".", ",", " ")
