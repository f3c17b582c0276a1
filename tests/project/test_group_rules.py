"""Groups from a column or a key prefix instead of listed ids (issue #17)."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import yaml
from conftest import SMALL_GROUPS, write_small_city

from geo_cohesion.errors import InputError
from geo_cohesion.project.config import load_project
from geo_cohesion.project.inputs import resolve_groups
from geo_cohesion.project.run import run_city

GROUP_OF = {d: g for g, members in SMALL_GROUPS.items() for d in members}


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("groups")
    write_small_city(folder)
    return folder


def _config(folder: Path, name: str, **city_keys) -> Path:
    config = yaml.safe_load((folder / "project.yaml").read_text(encoding="utf-8"))
    del config["cities"][0]["groups"]
    config["cities"][0].update(city_keys)
    path = folder / name
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _resolved(config: Path):
    project = load_project(config)
    return resolve_groups(project.cities[0], project), project


def test_group_column_in_the_structural_table(city):
    structural = pd.read_csv(city / "strukturdaten.csv", dtype={"bezirk": str})
    structural["sozialraum"] = structural["bezirk"].map(GROUP_OF)
    structural.to_csv(city / "struktur_gruppen.csv", index=False)
    config = yaml.safe_load((city / "project.yaml").read_text(encoding="utf-8"))
    resolved, project = _resolved(_config(city, "column.yaml", group_column="sozialraum", structural={
        **config["cities"][0]["structural"], "path": "struktur_gruppen.csv"}))
    assert {g: sorted(m) for g, m in resolved.groups.items()} == {g: sorted(m) for g, m in SMALL_GROUPS.items()}
    # the same group estimates as with the listed groups
    listed = load_project(city / "project.yaml")
    expected = run_city(listed.cities[0], listed).group_estimates
    got = run_city(resolved, project).group_estimates
    pd.testing.assert_frame_equal(got.sort_values(["group", "variable"]).reset_index(drop=True),
                                  expected.sort_values(["group", "variable"]).reset_index(drop=True))


def test_group_column_in_the_boundary_file(city):
    boundaries = gpd.read_file(city / "bezirke.gpkg", layer="bezirke")
    boundaries["stadtbezirk"] = boundaries["bez_id"].map(GROUP_OF)
    boundaries.to_file(city / "bezirke_gruppen.gpkg", layer="bezirke", driver="GPKG")
    resolved, _ = _resolved(_config(city, "boundary.yaml", group_column="stadtbezirk", boundaries={
        "path": "bezirke_gruppen.gpkg", "layer": "bezirke", "id_column": "bez_id", "name_column": "bez_name"}))
    assert {g: sorted(m) for g, m in resolved.groups.items()} == {g: sorted(m) for g, m in SMALL_GROUPS.items()}


def test_a_district_with_two_groups_is_named(city):
    population = pd.read_csv(city / "bevoelkerung.csv", dtype={"bezirk": str})
    population["sozialraum"] = population["bezirk"].map(GROUP_OF)
    population.loc[population.index[(population["bezirk"] == "05").to_numpy()][-1], "sozialraum"] = "Nord"
    population.to_csv(city / "bev_gruppen.csv", index=False)
    config = yaml.safe_load((city / "project.yaml").read_text(encoding="utf-8"))
    path = _config(city, "twice.yaml", group_column="sozialraum",
                   population={**config["cities"][0]["population"], "path": "bev_gruppen.csv"})
    with pytest.raises(InputError, match="district '05' has two groups in column 'sozialraum'") as info:
        _resolved(path)
    assert "bev_gruppen.csv" in str(info.value)


def test_unknown_group_column(city):
    with pytest.raises(InputError, match="group_column 'gibtsnicht' is in none") as info:
        _resolved(_config(city, "unknown.yaml", group_column="gibtsnicht"))
    assert "strukturdaten.csv" in str(info.value) and "bevoelkerung.csv" in str(info.value)


def test_group_key_prefix(city):
    resolved, _ = _resolved(_config(city, "prefix.yaml", group_key_prefix=1))
    expected = {"0": [f"{i:02d}" for i in range(1, 10)], "1": ["10", "11", "12"]}
    assert {g: sorted(m) for g, m in resolved.groups.items()} == expected
    with pytest.raises(InputError, match="longer than 2 characters"):
        _resolved(_config(city, "prefix2.yaml", group_key_prefix=2))


def test_only_one_way_to_give_groups(city):
    config = yaml.safe_load((city / "project.yaml").read_text(encoding="utf-8"))
    config["cities"][0]["group_key_prefix"] = 1
    path = city / "both.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    with pytest.raises(InputError, match="gives its groups twice"):
        load_project(path)
