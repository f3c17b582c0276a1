"""Command line (geo_cohesion.cli): the demo contract, exit codes, nothing half-written."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pandas as pd
import pytest
import yaml

CITIES = ["Dortmund", "Lippstadt", "Rostock", "Dessau-Roßlau"]
SLUGS = ["index", "soziale_beziehungen", "verbundenheit", "gemeinwohlorientierung", "soziale_netze",
         "vertrauen_in_mitmenschen", "akzeptanz_von_diversitaet", "identifikation", "vertrauen_in_institutionen",
         "gerechtigkeitsempfinden", "solidaritaet_und_hilfsbereitschaft", "anerkennung_sozialer_regeln",
         "gesellschaftliche_teilhabe"]


def test_demo_writes_contract_tables(demo_out):
    district = pd.read_csv(demo_out / "tables" / "district_estimates.csv", dtype={"district_id": str})
    assert list(district.columns[:11]) == ["city", "district_id", "district_name", "variable", "estimate", "se",
                                           "ci_low", "ci_high", "n", "n_eff", "suppressed"]
    assert district["city"].unique().tolist() == CITIES
    assert set(district["variable"]) == set(SLUGS)
    city = pd.read_csv(demo_out / "tables" / "city_estimates.csv")
    assert list(city.columns[:8]) == ["city", "variable", "estimate", "se", "ci_low", "ci_high", "n", "n_eff"]
    assert len(city) == 4 * 13
    assert list(district.columns[11:]) == ["estimator", "mse", "direct_estimate", "direct_se", "note"]
    # suppressed rows never carry a number (with the default Fay-Herriot estimator the demo has none)
    hidden = district[district["suppressed"]]
    assert hidden[["estimate", "se", "ci_low", "ci_high", "mse"]].isna().all().all()
    assert district.loc[~district["suppressed"], "estimate"].between(0, 100).all()
    assert district.loc[~district["suppressed"], ["estimate", "se", "ci_low", "ci_high"]].notna().all().all()
    excel = (demo_out / "tables" / "excel_de" / "district_estimates.csv").read_bytes()
    assert excel.startswith("\ufeff".encode()) and b";" in excel.splitlines()[0]


@pytest.mark.parametrize("command", [["--help"], ["demo", "--help"], ["run", "--help"]])
def test_help_on_every_subcommand(command):
    result = subprocess.run([sys.executable, "-m", "geo_cohesion.cli", *command], capture_output=True, text=True)
    assert result.returncode == 0 and "usage:" in result.stdout


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "geo_cohesion.cli", *args], capture_output=True, text=True)


def test_bad_config_exit_2_no_traceback_outputs_intact(tmp_path, demo_out):
    # a project whose survey has an answer outside the scale
    inputs = demo_out / "demo_inputs"
    project = yaml.safe_load((inputs / "project.yaml").read_text(encoding="utf-8"))
    survey = pd.read_csv(inputs / "survey_lippstadt.csv", dtype=str)
    survey.loc[4, "vm2"] = "7"
    survey.to_csv(tmp_path / "survey_lippstadt.csv", index=False)
    for city in project["cities"]:
        for key in ("survey", "population", "structural", "boundaries"):
            if city["slug"] == "lippstadt" and key == "survey":
                city[key]["path"] = str(tmp_path / "survey_lippstadt.csv")
            else:
                city[key]["path"] = str(inputs / city[key]["path"])
    config = tmp_path / "project.yaml"
    config.write_text(yaml.safe_dump(project, allow_unicode=True), encoding="utf-8")
    before = (demo_out / "tables" / "district_estimates.csv").read_bytes()
    result = run_cli("run", str(config), "--out", str(demo_out))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "survey_lippstadt.csv, line 6, column 'vm2'" in result.stderr and "outside its scale" in result.stderr
    assert (demo_out / "tables" / "district_estimates.csv").read_bytes() == before
    assert not list((demo_out / "tables").glob(".*"))  # no temporary leftovers


def test_unknown_config_key_is_exit_2(tmp_path):
    config = tmp_path / "p.yaml"
    config.write_text("cities:\n  - name: X\n    survey: {path: s.csv}\n    population: {path: p.csv}\n    colour: red\n",
                      encoding="utf-8")
    result = run_cli("run", str(config))
    assert result.returncode == 2 and "unknown key(s) 'colour'" in result.stderr and "Traceback" not in result.stderr


def test_debug_shows_traceback(tmp_path):
    result = run_cli("--debug", "run", str(tmp_path / "missing.yaml"))
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_compare_command_writes_tables_only(tmp_path, demo_out):
    result = run_cli("compare", str(demo_out / "demo_inputs" / "project.yaml"), "--out", str(tmp_path),
                     "--no-maps", "--adjust", "fdr_bh")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "tables" / "comparison_rostock.csv").exists()
    assert not list(tmp_path.glob("*.html"))
    meta = (tmp_path / "tables" / "metadata.json").read_text(encoding="utf-8")
    assert '"adjust": "fdr_bh"' in meta


def test_map_command_needs_a_city_for_multi_city_tables(tmp_path, demo_out):
    args = [str(demo_out / "demo_inputs" / "boundaries_rostock.gpkg"), str(demo_out / "tables" / "district_estimates.csv"),
            "--id-column", "district_id", "--out", str(tmp_path / "r.html")]
    result = run_cli("map", *args)
    assert result.returncode == 2 and "choose one with --city" in result.stderr
    result = run_cli("map", *args, "--city", "Rostock", "--offline", "--note", "synthetische Demodaten")
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Seebad Warnemünde" in html and "synthetische Demodaten" in html
    index = json.loads(re.search(r"var DATA = (\{.*?\});\n", html).group(1))["layers"][0]
    assert "Fay-Herriot" in index["estimator"]  # the table's estimator column reaches the tooltips
