"""Merging small districts in the pipeline (estimates.merge_small): the demo's Lippstadt (18
Ortsteile, 377 respondents) through the CLI, merged estimates from the microdata, files and errors."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from geo_cohesion.cli import main
from geo_cohesion.errors import InputError
from geo_cohesion.project.areas import merge_city
from geo_cohesion.project.config import load_project, project_from_dict
from geo_cohesion.project.run import align_boundary_districts, read_city_boundaries, run_city, run_project
from geo_cohesion.settings import override


def lippstadt_project(folder: Path, **estimates) -> Path:
    """The demo inputs with Lippstadt only, ``estimates`` updated, PNG figures of the index only (faster)."""
    from geo_cohesion.demo.synthetic import write_demo_inputs

    path = write_demo_inputs(folder)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["cities"] = [c for c in raw["cities"] if c["slug"] == "lippstadt"]
    raw["estimates"].update(estimates)
    raw["maps"] = {"figure_formats": ["png"], "figure_variables": ["index"]}
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def merged_run(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("merge")
    config = lippstadt_project(folder / "inputs", merge_small=True, merge_min_n=30)
    assert main(["run", str(config), "--out", str(folder / "out")]) == 0
    return config, folder / "out"


def read(out: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(out / "tables" / name, dtype={"district_id": str, "area_id": str})


def test_the_cli_writes_merged_tables_maps_and_figures(merged_run):
    _, out = merged_run
    est = read(out, "merged_estimates.csv")
    assert list(est.columns) == ["city", "area_id", "area_name", "members", "variable", "estimate", "se", "ci_low",
                                 "ci_high", "n", "n_eff", "suppressed", "note"]
    assert (est["city"] == "Lippstadt").all() and (est["note"] == "synthetische Demodaten").all()
    mapping = read(out, "merged_areas_lippstadt.csv")
    assert list(mapping.columns[:4]) == ["district_id", "district_name", "area_id", "area_name"]
    assert len(mapping) == 18 and mapping["area_id"].nunique() < 18
    assert set(est["area_id"]) == set(mapping["area_id"])
    comparison = read(out, "comparison_merged_lippstadt.csv")
    assert set(comparison["area_id"]) == set(mapping["area_id"]) and "deviation" in comparison
    assert (out / "tables" / "excel_de" / "merged_estimates.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    html = (out / "lippstadt_zusammengefasst.html").read_text(encoding="utf-8")
    assert "zusammengefassten Gebieten" in html and "Bad Waldliesborn" in html
    assert (out / "figures" / "lippstadt_zusammengefasst_index.png").stat().st_size > 10_000
    meta = json.loads((out / "tables" / "metadata.json").read_text(encoding="utf-8"))
    assert meta["estimates"]["merge_small"] is True and meta["estimates"]["merge_min_n"] == 30


def test_every_merged_area_of_lippstadt_has_at_least_30_respondents(merged_run):
    config, out = merged_run
    mapping = read(out, "merged_areas_lippstadt.csv")
    survey = pd.read_csv(config.parent / "survey_lippstadt.csv", dtype={"district_id": str})
    counts = survey["district_id"].map(dict(zip(mapping["district_id"], mapping["area_id"]))).value_counts()
    assert counts.min() >= 30 and counts.sum() == len(survey) == 377
    assert (mapping["respondents"] < 30).sum() > 10  # most Ortsteile are too small on their own ...
    index = read(out, "merged_estimates.csv").query("variable == 'index'").set_index("area_id")
    assert (index["n"] >= 30).all() and not index["suppressed"].any()  # ... every merged area reports its index
    areas = mapping.groupby("area_id")
    assert (areas["area_respondents"].first() == index["n"].reindex(areas["area_respondents"].first().index)).all()
    assert (areas["respondents"].sum() == areas["area_respondents"].first()).all()
    # Lippstadt's groups are respected: no area mixes the western and eastern Ortsteile
    assert (areas["group"].nunique() == 1).all()
    # the Kernstadt (189 respondents) stays alone
    assert mapping.set_index("district_id").loc["01", "area_id"] == "01"


def test_merged_areas_are_dissolved_boundaries(merged_run):
    import geopandas as gpd

    _, out = merged_run
    mapping = read(out, "merged_areas_lippstadt.csv")
    areas = gpd.read_file(out / "tables" / "merged_areas_lippstadt.gpkg")
    assert sorted(areas["area_id"]) == sorted(mapping["area_id"].unique())
    assert list(areas.columns[:4]) == ["area_id", "area_name", "members", "respondents"]
    assert areas.geometry.is_valid.all() and (areas.geometry.geom_type == "Polygon").all()  # contiguous


def test_merged_outputs_are_byte_identical_on_a_second_run(merged_run, tmp_path):
    config, out = merged_run
    assert main(["compare", str(config), "--out", str(tmp_path), "--no-maps", "--recompute"]) == 0
    for name in ("merged_estimates.csv", "merged_areas_lippstadt.csv", "merged_areas_lippstadt.gpkg",
                 "comparison_merged_lippstadt.csv"):
        assert (tmp_path / "tables" / name).read_bytes() == (out / "tables" / name).read_bytes(), name


def test_merged_estimates_equal_domain_means_over_the_merged_labels(merged_run):
    config, _ = merged_run
    project = load_project(config)
    city = project.cities[0]
    result = run_city(city, project)
    boundaries = align_boundary_districts(result, project, read_city_boundaries(city, project))
    merged = merge_city(result, project, boundaries)
    labels = result.design.data["district_id"].map(dict(zip(merged.mapping["district_id"], merged.mapping["area_id"])))
    variables = [f"score__{v}" for v in ("index", "vertrauen_in_institutionen")]
    direct = result.design.with_columns(area=labels).domain_means(variables, "area", min_n=30)
    direct["variable"] = direct["variable"].str.removeprefix("score__")
    ours = merged.estimates.set_index(["area_id", "variable"])
    for row in direct.itertuples():
        got = ours.loc[(row.area, row.variable)]
        assert got["estimate"] == pytest.approx(row.estimate, rel=1e-12)
        assert got["se"] == pytest.approx(row.se, rel=1e-12) and got["n"] == row.n
    # and differs from the district estimates: an area is more than one of its districts
    assert len(set(direct["area"])) < result.district_estimates["district_id"].nunique()
    # switched off: nothing is merged
    assert merge_city(result, override(project, {"estimates": {"merge_small": False}}), boundaries) is None


def test_merging_needs_boundaries(tmp_path):
    config = lippstadt_project(tmp_path / "inputs", merge_small=True)
    project = load_project(config)
    city = project.cities[0].model_copy(update={"boundaries": None})  # settings are frozen
    project = project.model_copy(update={"cities": (city,)})
    with pytest.raises(InputError, match=r"\[Lippstadt\] merging small districts .* needs the district boundaries"):
        run_project(project, tmp_path / "out", maps=False)
    assert not (tmp_path / "out" / "tables").exists()


@pytest.mark.parametrize("estimates, message", [
    ({"merge_small": "ja"}, "estimates.merge_small must be true or false, got 'ja'"),
    ({"merge_min_n": 0}, "estimates.merge_min_n must be a whole number >= 2"),
    ({"merge_min_n": 2.5}, "estimates.merge_min_n must be a whole number >= 2, got 2.5"),
])
def test_bad_merge_settings_are_input_errors(estimates, message):
    raw = {"cities": [{"name": "X", "scores": {"path": "x.csv"}}], "estimates": estimates}
    with pytest.raises(InputError, match=message):
        project_from_dict(raw)


def test_merge_settings_default_to_off():
    project = project_from_dict({"cities": [{"name": "X", "scores": {"path": "x.csv"}}]})
    assert project.estimates.merge_small is False and project.estimates.merge_min_n == 30


def test_a_minimum_no_merge_reaches_is_noted_in_the_table(tmp_path):
    """With more respondents asked for than a group has, each group becomes one area, still published (it
    has more than min_n), and merged_estimates.csv says why (not only the merged map)."""
    from conftest import write_small_city

    config = write_small_city(tmp_path / "inputs")
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    raw["estimates"].update(merge_small=True, merge_min_n=100_000)
    config.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    run_project(load_project(config), tmp_path / "out", maps=False, reports=False)
    merged = read(tmp_path / "out", "merged_estimates.csv")
    assert merged["area_id"].nunique() == len(raw["cities"][0]["groups"])   # merged within its groups: one each
    assert merged["note"].str.contains("Befragte (weniger als 100000)", regex=False).all()
