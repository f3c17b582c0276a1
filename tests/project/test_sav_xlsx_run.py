"""End to end (issue #17): an SPSS .sav survey and an .xlsx population table through a whole
`geo-cohesion run` give exactly the tables of the same data as CSV."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
import yaml
from conftest import write_small_city

from geo_cohesion.cli import main
from geo_cohesion.errors import InputError
from geo_cohesion.io.tables import read_table
from geo_cohesion.radar.codebook import load_codebook


def _write_sav(csv: Path, sav: Path) -> list[str]:
    """The survey as SPSS: ids as text, item answers as numbers with value labels and the
    "weiß nicht" code 9 declared as a user-defined missing value; returns the item columns."""
    survey = pd.read_csv(csv, dtype={"bezirk": str, "altersgruppe": str, "geschlecht": str})
    items = [item.item for item in load_codebook().items]
    for item in items:
        survey[item] = survey[item].astype(float)
    labels = {item: {1.0: "trifft gar nicht zu", 9.0: "weiß nicht"} for item in items}
    pyreadstat.write_sav(survey, str(sav), column_labels={"bezirk": "Stadtbezirk (Schlüssel)"},
                         variable_value_labels=labels, missing_ranges={item: [9.0] for item in items})
    return items


@pytest.mark.slow
def test_sav_survey_and_xlsx_population_give_the_csv_results(tmp_path, capsys):
    csv_config = write_small_city(tmp_path / "csv")
    spss = tmp_path / "spss"
    shutil.copytree(tmp_path / "csv", spss)
    items = _write_sav(spss / "befragung.csv", spss / "befragung.sav")
    population = pd.read_csv(spss / "bevoelkerung.csv", dtype={"bezirk": str})
    population.to_excel(spss / "bevoelkerung.xlsx", index=False, sheet_name="Einwohner")
    (spss / "befragung.csv").unlink()
    (spss / "bevoelkerung.csv").unlink()
    config = yaml.safe_load(csv_config.read_text(encoding="utf-8"))
    config["cities"][0]["survey"]["path"] = "befragung.sav"
    config["cities"][0]["population"]["path"] = "bevoelkerung.xlsx"
    (spss / "project.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")

    # the readers see what the test wrote: ids with their leading zeros, 9 as missing, labels kept
    sav = read_table(spss / "befragung.sav", text_columns=["bezirk"])
    assert sav["bezirk"].iloc[0] == "01" and not (sav[items] == 9).any().any()
    original = pd.read_csv(tmp_path / "csv" / "befragung.csv", dtype={"bezirk": str})
    assert int(sav[items].isna().sum().sum()) == int((original[items] == 9).sum().sum()) > 0
    assert sav.attrs["value_labels"]

    assert main(["run", str(csv_config), "--out", str(tmp_path / "out_csv"), "--quiet"]) == 0
    assert main(["run", str(spss / "project.yaml"), "--out", str(tmp_path / "out_spss"), "--quiet"]) == 0
    capsys.readouterr()
    tables = sorted(p.relative_to(tmp_path / "out_csv") for p in (tmp_path / "out_csv" / "tables").rglob("*.csv"))
    names = {p.name for p in tables}
    assert {"district_estimates.csv", "city_estimates.csv", "group_estimates.csv", "weighting_diagnostics.csv",
            "comparison_musterstadt.csv", "need_musterstadt.csv"} <= names
    for rel in tables:
        assert (tmp_path / "out_spss" / rel).read_bytes() == (tmp_path / "out_csv" / rel).read_bytes(), rel
    index = pd.read_csv(tmp_path / "out_spss" / "tables" / "city_estimates.csv").set_index("variable")
    assert np.isfinite(index.loc["index", "estimate"])
    assert 0.9 * len(original) < index.loc["index", "n"] <= len(original)  # respondents with a valid index



def test_sav_category_codes_take_their_value_labels_when_the_population_uses_labels(tmp_path):
    """An SPSS survey coded gender 1/2 and age 1/2/3 with value labels, next to a population table
    written in words, stopped with "survey category '1' has no population total" (robustness sweep 2).
    The labels are used when every labelled code then matches; the weights equal those of the CSV."""
    from conftest import SMALL_AGES, SMALL_GENDERS

    from geo_cohesion.project.config import load_project
    from geo_cohesion.project.inputs import read_survey_design

    csv_config = write_small_city(tmp_path)
    survey = pd.read_csv(tmp_path / "befragung.csv", dtype={"bezirk": str})
    age_codes = {a: float(i + 1) for i, a in enumerate(SMALL_AGES)}
    gender_codes = {g: float(i + 1) for i, g in enumerate(SMALL_GENDERS)}
    coded = survey.assign(altersgruppe=survey["altersgruppe"].map(age_codes),
                          geschlecht=survey["geschlecht"].map(gender_codes))
    labels = {"altersgruppe": {v: k for k, v in age_codes.items()},
              "geschlecht": {v: k for k, v in gender_codes.items()}}
    pyreadstat.write_sav(coded, str(tmp_path / "befragung.sav"), variable_value_labels=labels)
    config = yaml.safe_load(csv_config.read_text(encoding="utf-8"))
    config["cities"][0]["survey"]["path"] = "befragung.sav"
    (tmp_path / "sav.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")

    project = load_project(tmp_path / "sav.yaml")
    design = read_survey_design(project.cities[0], project)
    reference = load_project(csv_config)
    expected = read_survey_design(reference.cities[0], reference)
    assert design.data["geschlecht"].tolist() == survey["geschlecht"].tolist()
    np.testing.assert_allclose(design.weights, expected.weights, rtol=1e-12)

    # a code without a label that the population knows: no relabelling, the usual error names the code
    del labels["geschlecht"][2.0]
    pyreadstat.write_sav(coded, str(tmp_path / "befragung.sav"), variable_value_labels=labels)
    with pytest.raises(InputError, match="survey category '1' of 'geschlecht' has no population total"):
        read_survey_design(project.cities[0], project)


def test_sav_district_codes_take_their_value_labels_when_the_population_uses_them(tmp_path):
    """Districts coded 1, 2, … with value labels holding the population table's district ids stopped
    with "districts do not match" listing every district twice, or (ids 01, 02, …) were matched by
    their codes, not their labels (robustness sweep 3)."""
    from geo_cohesion.project.config import load_project
    from geo_cohesion.project.inputs import read_survey_design

    csv_config = write_small_city(tmp_path)
    survey = pd.read_csv(tmp_path / "befragung.csv", dtype={"bezirk": str})
    ids = sorted(survey["bezirk"].unique())
    codes = {d: float(len(ids) - i) for i, d in enumerate(ids)}  # code 1 is the last district: labels, not codes
    coded = survey.assign(bezirk=survey["bezirk"].map(codes))
    pyreadstat.write_sav(coded, str(tmp_path / "befragung.sav"),
                         variable_value_labels={"bezirk": {v: k for k, v in codes.items()}})
    config = yaml.safe_load(csv_config.read_text(encoding="utf-8"))
    config["cities"][0]["survey"]["path"] = "befragung.sav"
    (tmp_path / "sav.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")

    design = read_survey_design(load_project(tmp_path / "sav.yaml").cities[0], load_project(tmp_path / "sav.yaml"))
    reference = load_project(csv_config)
    expected = read_survey_design(reference.cities[0], reference)
    assert design.data["bezirk"].tolist() == survey["bezirk"].tolist()
    np.testing.assert_allclose(design.weights, expected.weights, rtol=1e-12)
