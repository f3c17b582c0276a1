"""Command line (geo_cohesion.cli): the output contract, exit codes, nothing half-written.

Most tests use the small one-city project (``small_project`` in conftest); only the four-city
check needs the full demo (slow)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
CITIES = ["Dortmund", "Lippstadt", "Rostock", "Dessau-Roßlau"]
SLUGS = ["index", "soziale_beziehungen", "verbundenheit", "gemeinwohlorientierung", "soziale_netze",
         "vertrauen_in_mitmenschen", "akzeptanz_von_diversitaet", "identifikation", "vertrauen_in_institutionen",
         "gerechtigkeitsempfinden", "solidaritaet_und_hilfsbereitschaft", "anerkennung_sozialer_regeln",
         "gesellschaftliche_teilhabe"]


def test_run_writes_contract_tables(small_project):
    district = small_project.table("district_estimates.csv")
    assert list(district.columns[:11]) == ["city", "district_id", "district_name", "variable", "estimate", "se",
                                           "ci_low", "ci_high", "n", "n_eff", "suppressed"]
    assert district["city"].unique().tolist() == ["Musterstadt"]
    assert set(district["variable"]) == set(SLUGS)
    city = small_project.table("city_estimates.csv")
    assert list(city.columns[:8]) == ["city", "variable", "estimate", "se", "ci_low", "ci_high", "n", "n_eff"]
    assert len(city) == 13
    # suppressed rows never carry a number
    assert list(district.columns[11:]) == ["df", "estimator", "mse", "direct_estimate", "direct_se", "rank", "rank_low",
                                          "rank_high", "note"]
    hidden = district[district["suppressed"]]
    assert hidden[["estimate", "se", "ci_low", "ci_high", "mse"]].isna().all().all()
    assert district.loc[~district["suppressed"], "estimate"].between(0, 100).all()
    assert (district["note"] == "synthetische Testdaten").all()
    assert district.loc[~district["suppressed"], ["estimate", "se", "ci_low", "ci_high"]].notna().all().all()
    excel = (small_project.out / "tables" / "excel_de" / "district_estimates.csv").read_bytes()
    assert excel.startswith("\ufeff".encode()) and b";" in excel.splitlines()[0]


def test_demo_writes_four_cities(demo_out):
    district = pd.read_csv(demo_out / "tables" / "district_estimates.csv", dtype={"district_id": str})
    assert district["city"].unique().tolist() == CITIES
    assert set(district["variable"]) == set(SLUGS)
    assert len(pd.read_csv(demo_out / "tables" / "city_estimates.csv")) == 4 * 13


def test_module_entry_point_prints_help():
    result = subprocess.run([sys.executable, "-m", "geo_cohesion.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "usage:" in result.stdout


@pytest.mark.parametrize("command", [["--help"], ["demo", "--help"], ["run", "--help"], ["compare", "--help"],
                                     ["map", "--help"]])
def test_help_on_every_subcommand(command, capsys):
    from geo_cohesion.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(command)
    assert exit_info.value.code == 0 and "usage:" in capsys.readouterr().out


def run_cli(*args):
    """The command in a fresh interpreter (as a user runs it), importing this checkout's package."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "geo_cohesion.cli", *args], capture_output=True, text=True, env=env)


@pytest.fixture
def cli(capsys):
    """The command in this process (``main(argv)``): same exit codes and messages, no interpreter start."""
    from geo_cohesion.cli import main

    def run(*args):
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, captured.out, captured.err)
    return run


def test_bad_config_exit_2_no_traceback_outputs_intact(tmp_path, small_project, cli):
    # the small project, with an answer outside the scale, run into a folder holding good results
    shutil.copytree(small_project.inputs, tmp_path / "inputs")
    survey = pd.read_csv(tmp_path / "inputs" / "befragung.csv", dtype=str)
    survey.loc[4, "vm2"] = "7"
    survey.to_csv(tmp_path / "inputs" / "befragung.csv", index=False)
    out = shutil.copytree(small_project.out / "tables", tmp_path / "out" / "tables").parent
    before = (out / "tables" / "district_estimates.csv").read_bytes()
    result = cli("run", tmp_path / "inputs" / "project.yaml", "--out", out)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "befragung.csv, line 6, column 'vm2'" in result.stderr and "outside its scale" in result.stderr
    assert (out / "tables" / "district_estimates.csv").read_bytes() == before
    assert not list((out / "tables").glob(".*"))  # no temporary leftovers


def test_unknown_config_key_is_exit_2(tmp_path, cli):
    config = tmp_path / "p.yaml"
    config.write_text("cities:\n  - name: X\n    survey: {path: s.csv}\n    population: {path: p.csv}\n"
                      "    colour: red\n", encoding="utf-8")
    result = cli("run", config)
    assert result.returncode == 2 and "unknown key(s) 'colour'" in result.stderr and "Traceback" not in result.stderr


def test_debug_shows_traceback(tmp_path):
    result = run_cli("--debug", "run", str(tmp_path / "missing.yaml"))
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_compare_command_writes_tables_only(tmp_path, small_project, cli):
    result = cli("compare", small_project.config, "--out", tmp_path, "--no-maps", "--adjust", "fdr_bh", "--recompute")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "tables" / "comparison_musterstadt.csv").exists()
    assert not list(tmp_path.glob("*.html"))
    meta = (tmp_path / "tables" / "metadata.json").read_text(encoding="utf-8")
    assert '"adjust": "fdr_bh"' in meta


def test_map_command_needs_a_city_for_multi_city_tables(tmp_path, small_project, cli):
    district = small_project.table("district_estimates.csv")
    two_cities = pd.concat([district, district.assign(city="Anderstadt")])
    two_cities.to_csv(tmp_path / "scores.csv", index=False)
    args = [str(small_project.inputs / "bezirke.gpkg"), str(tmp_path / "scores.csv"),
            "--id-column", "bez_id", "--name-column", "bez_name", "--out", str(tmp_path / "m.html")]
    result = cli("map", *args)
    assert result.returncode == 2 and "choose one with --city" in result.stderr
    result = cli("map", *args, "--city", "Musterstadt", "--offline", "--note", "synthetische Testdaten")
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "m.html").read_text(encoding="utf-8")
    assert "Weißenfeld" in html and "synthetische Testdaten" in html
    assert "cdn.jsdelivr" not in html and '"basemap":null' in html  # self-contained, no base map by default
    # district_estimates.csv carries the run's ranks of the published values: the tooltips show them
    payload = json.loads(re.search(r"var DATA = (\{.*?\});\n", html).group(1))
    index = next(layer for layer in payload["layers"] if layer["key"] == "index")
    rows = district[district["variable"] == "index"].set_index("district_id").reindex(payload["keys"])
    assert index["rank_low"] == [None if pd.isna(v) else int(v) for v in rows["rank_low"]]
    assert index["rank_low"] != [None] * len(rows) and index["rank_note"] is not None
    result = cli("map", *args, "--city", "Musterstadt", "--basemap", "http://tiles.example/{z}/{x}/{y}.png",
                 "--basemap-attribution", "© Beispiel")
    assert result.returncode == 2 and "--basemap" in result.stderr and "https tile URL" in result.stderr
    assert "Traceback" not in result.stderr
    result = cli("map", *args, "--city", "Musterstadt", "--basemap", "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                 "--basemap-attribution", "© OpenStreetMap contributors")
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "m.html").read_text(encoding="utf-8")
    assert '"url":"https://tile.openstreetmap.org/{z}/{x}/{y}.png","attribution":"© OpenStreetMap contributors"' in html
    # a WMS (basemap.de) instead of tiles: its address and layer names
    wms = ("--basemap", "https://sgx.geodatenzentrum.de/wms_basemapde", "--basemap-attribution", "© basemap.de / BKG")
    result = cli("map", *args, "--city", "Musterstadt", *wms, "--basemap-wms-layers", "de_basemapde_web_raster_grau")
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "m.html").read_text(encoding="utf-8")
    assert '"wms":{"layers":"de_basemapde_web_raster_grau","format":"image/png"}' in html
    result = cli("map", *args, "--city", "Musterstadt", *wms)  # a WMS address without layers
    assert result.returncode == 2 and "--basemap" in result.stderr and "wms_layers" in result.stderr
    assert "Traceback" not in result.stderr


def test_summary_reports_suppressed_districts_and_weight_warnings(capsys):
    """A city whose districts are all below the reliability rule finishes and says so."""
    from pathlib import Path
    from types import SimpleNamespace

    from geo_cohesion.cli import _summary

    districts = pd.DataFrame({"district_id": ["1", "2"], "variable": "index", "suppressed": [True, True]})
    result = SimpleNamespace(city=SimpleNamespace(name="X", note=None), district_estimates=districts,
                             city_estimates=None, diagnostics={"warnings": "the weights vary very much"})
    _summary([result], Path("out"))
    out = capsys.readouterr().out
    assert "2 of 2 districts have no published index estimate" in out and "warning: the weights vary" in out


def test_public_api_names_of_the_issues():
    """The function-first API the issues name: geo_cohesion.fay_herriot, geo_cohesion.need_index, ..."""
    import geo_cohesion

    for name in ("fay_herriot", "FayHerriotResult", "need_index", "class_stability", "weight_sensitivity",
                 "change_between_waves", "SurveyDesign", "score_respondents", "load_codebook"):
        assert callable(getattr(geo_cohesion, name)), name
