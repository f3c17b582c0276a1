"""Population given as separate margin tables (issue #17): the same weights as the cross-table,
and disagreeing tables are one readable error naming the files and districts."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import write_small_city

from geo_cohesion.cli import main
from geo_cohesion.errors import InputError
from geo_cohesion.project.config import load_project
from geo_cohesion.project.inputs import read_survey_design


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Path:
    """The small city's inputs plus its population split into two margin tables."""
    folder = tmp_path_factory.mktemp("margins")
    write_small_city(folder)
    population = pd.read_csv(folder / "bevoelkerung.csv", dtype={"bezirk": str})
    population.groupby("bezirk", as_index=False)["einwohner"].sum().to_csv(folder / "bezirke_summen.csv", index=False)
    population.groupby(["altersgruppe", "geschlecht"], as_index=False)["einwohner"].sum() \
        .rename(columns={"einwohner": "anzahl"}).to_csv(folder / "alter_geschlecht.csv", index=False)
    population.groupby(["bezirk", "altersgruppe"], as_index=False)["einwohner"].sum() \
        .to_csv(folder / "bezirk_alter.csv", index=False)
    return folder


def _project(folder: Path, tables: list[dict], name: str = "margins.yaml"):
    config = yaml.safe_load((folder / "project.yaml").read_text(encoding="utf-8"))
    population = config["cities"][0]["population"]
    del population["path"]
    population["margin_tables"] = tables
    path = folder / name
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _design(config: Path):
    project = load_project(config)
    return read_survey_design(project.cities[0], project)


def test_margin_tables_give_the_weights_of_the_cross_table(city):
    full = _design(city / "project.yaml")
    split = _design(_project(city, [{"path": "bezirke_summen.csv"},
                                    {"path": "alter_geschlecht.csv", "population_column": "anzahl"}]))
    np.testing.assert_allclose(split.weights.to_numpy(), full.weights.to_numpy(), rtol=1e-9)
    # a table by district x age gives two margins; agreeing with the district totals is fine
    three = _design(_project(city, [{"path": "bezirk_alter.csv"}, {"path": "bezirke_summen.csv"},
                                    {"path": "alter_geschlecht.csv", "population_column": "anzahl"}], "three.yaml"))
    np.testing.assert_allclose(three.weights.to_numpy(), full.weights.to_numpy(), rtol=1e-9)


def test_disagreeing_totals_name_both_files(city):
    totals = pd.read_csv(city / "bezirke_summen.csv", dtype={"bezirk": str})
    totals.loc[0, "einwohner"] += 500
    totals.to_csv(city / "bezirke_mehr.csv", index=False)
    config = _project(city, [{"path": "bezirke_mehr.csv"},
                             {"path": "alter_geschlecht.csv", "population_column": "anzahl"}], "bad_total.yaml")
    with pytest.raises(InputError, match="margin totals disagree") as info:
        _design(config)
    text = str(info.value)
    assert "bezirke_mehr.csv" in text and "alter_geschlecht.csv" in text
    expected = int(totals["einwohner"].sum())
    assert f"{expected:,}" in text


def test_the_same_margin_in_two_tables_must_agree_per_district(city):
    totals = pd.read_csv(city / "bezirke_summen.csv", dtype={"bezirk": str})
    totals.loc[totals["bezirk"] == "07", "einwohner"] += 120
    totals.to_csv(city / "bezirke_anders.csv", index=False)
    config = _project(city, [{"path": "bezirk_alter.csv"}, {"path": "bezirke_anders.csv"},
                             {"path": "alter_geschlecht.csv", "population_column": "anzahl"}], "bad_district.yaml")
    with pytest.raises(InputError) as info:
        _design(config)
    text = str(info.value)
    assert "'bezirk' differs between bezirk_alter.csv and bezirke_anders.csv" in text
    assert "'07'" in text and "'01'" not in text


def test_a_margin_in_no_table_is_named(city):
    config = _project(city, [{"path": "bezirke_summen.csv"}], "no_age.yaml")
    with pytest.raises(InputError, match="no margin table has the column") as info:
        _design(config)
    assert "'altersgruppe'" in str(info.value) and "'geschlecht'" in str(info.value)


def test_path_and_margin_tables_exclude_each_other(city):
    config = yaml.safe_load((city / "project.yaml").read_text(encoding="utf-8"))
    config["cities"][0]["population"]["margin_tables"] = [{"path": "bezirke_summen.csv"}]
    path = city / "both.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    with pytest.raises(InputError, match="either as one table"):
        load_project(path)


def test_cli_check_reports_disagreeing_tables_once(city, capsys):
    config = _project(city, [{"path": "bezirke_mehr.csv" if (city / "bezirke_mehr.csv").exists()
                              else "bezirke_summen.csv"}, {"path": "alter_geschlecht.csv"}], "cli.yaml")
    # alter_geschlecht.csv counts in 'anzahl', not the population section's 'einwohner': a readable error
    assert main(["check", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err and "alter_geschlecht.csv" in err and "einwohner" in err
