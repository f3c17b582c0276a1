"""``init`` infers a project file from a folder of inputs; ``check`` validates with run's messages."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml

from geo_cohesion.cli import main
from geo_cohesion.demo.synthetic import write_demo_inputs
from geo_cohesion.project.scaffold import inspect_folder


@pytest.fixture(scope="module")
def demo_inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo_inputs")
    write_demo_inputs(folder)
    return folder


@pytest.fixture()
def own_city(demo_inputs, tmp_path):
    """The demo's Lippstadt files copied to a new folder, as a user with their own city would have them."""
    folder = tmp_path / "meine_stadt"
    folder.mkdir()
    for path in demo_inputs.glob("*lippstadt*"):
        shutil.copy(path, folder / path.name)
    return folder


def test_inspect_recognises_roles_and_columns(own_city):
    (city,) = inspect_folder(own_city)
    assert city.key == "lippstadt"
    assert city.survey.columns == {"district_column": "district_id", "age_column": "age_group",
                                   "gender_column": "gender", "weight_column": "design_weight",
                                   "strata_column": "stratum"}
    assert city.population.columns["population_column"] == "population"
    assert city.population.columns["age_column"] == "age_group"
    assert city.structural.columns == {"district_column": "district_id", "name_column": "district_name"}
    assert city.boundaries.id_column == "district_id" and city.boundaries.name_column == "district_name"


def test_inspect_groups_files_of_several_cities(demo_inputs):
    keys = [c.key for c in inspect_folder(demo_inputs)]
    assert keys == ["dessau-rosslau", "dortmund", "lippstadt", "rostock"]


def test_inspect_finds_renamed_columns_by_content(own_city):
    """German column names and an id column whose name says nothing are still found."""
    survey = pd.read_csv(own_city / "survey_lippstadt.csv", dtype=str)
    survey = survey.rename(columns={"district_id": "wohnbezirk", "age_group": "altersgruppe",
                                    "gender": "geschlecht", "design_weight": "gewicht"})
    survey.to_csv(own_city / "survey_lippstadt.csv", index=False)
    structural = pd.read_csv(own_city / "structural_lippstadt.csv", dtype=str).rename(
        columns={"district_id": "schluessel"})
    structural.to_csv(own_city / "structural_lippstadt.csv", index=False)
    (city,) = inspect_folder(own_city)
    assert city.survey.columns["district_column"] == "wohnbezirk"
    assert city.survey.columns["age_column"] == "altersgruppe"
    assert city.structural.columns["district_column"] == "schluessel"   # matched by its values


@pytest.mark.slow
def test_init_check_run_gives_the_demo_tables(own_city, demo_inputs, tmp_path, capsys):
    """A new user's path: init, fill the TODOs, check, run -> the demo's numbers for that city."""
    assert main(["init", str(own_city)]) == 0
    project_file = own_city / "project.yaml"
    text = project_file.read_text(encoding="utf-8")
    assert "TODO" in text
    config = yaml.safe_load(text)
    assert config["cities"][0]["name"] == "Lippstadt"
    assert main(["check", str(project_file)]) == 0
    assert "18 districts" in capsys.readouterr().out
    assert main(["run", str(project_file), "--out", str(tmp_path / "mine")]) == 0

    demo = yaml.safe_load((demo_inputs / "project.yaml").read_text(encoding="utf-8"))
    demo["cities"] = [c for c in demo["cities"] if c["name"] == "Lippstadt"]
    for city in demo["cities"]:
        city.pop("waves", None)  # the earlier wave is not part of this comparison
        for key in ("groups", "group_column", "group_key_prefix"):  # init writes no groups; with them the
            city.pop(key, None)  # model would get random group effects (estimates.group_effects)
        for section in ("survey", "population", "structural", "boundaries"):
            city[section]["path"] = str(demo_inputs / city[section]["path"])
    (tmp_path / "demo.yaml").write_text(yaml.safe_dump(demo, allow_unicode=True), encoding="utf-8")
    assert main(["run", str(tmp_path / "demo.yaml"), "--out", str(tmp_path / "demo")]) == 0

    columns = ["district_id", "variable", "estimate", "se", "ci_low", "ci_high", "n", "n_eff"]
    mine = pd.read_csv(tmp_path / "mine" / "tables" / "district_estimates.csv", dtype={"district_id": str})
    theirs = pd.read_csv(tmp_path / "demo" / "tables" / "district_estimates.csv", dtype={"district_id": str})
    pd.testing.assert_frame_equal(mine[columns], theirs[columns])


def test_check_reports_the_same_error_as_run(own_city, tmp_path, capsys):
    assert main(["init", str(own_city)]) == 0
    population = pd.read_csv(own_city / "population_lippstadt.csv", dtype=str)
    population.loc[population["district_id"] == "02", "district_id"] = "99"
    population.to_csv(own_city / "population_lippstadt.csv", index=False)
    project_file = str(own_city / "project.yaml")
    assert main(["check", project_file]) == 2
    check_error = capsys.readouterr().err
    assert main(["run", project_file, "--out", str(tmp_path / "out")]) == 2
    run_error = capsys.readouterr().err
    assert check_error == run_error and "'99'" in check_error
    assert not (tmp_path / "out" / "tables").exists()


def test_init_refuses_to_overwrite_and_names_the_fix(own_city, capsys):
    assert main(["init", str(own_city)]) == 0
    assert main(["init", str(own_city)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["init", str(own_city), "--force"]) == 0


def test_init_on_a_folder_without_tables(tmp_path, capsys):
    assert main(["init", str(tmp_path)]) == 2
    assert "no table files" in capsys.readouterr().err
