"""Districts with population but no respondents (geo_cohesion.project.inputs / run).

Built on the demo's Dessau-Roßlau inputs (25 districts, schematic boundaries, 4 groups) with the
respondents of some districts removed. Expected partners are worked out by hand from the
boundaries (queen contiguity, checked independently with shapely) and the respondent counts:

* 10 (Innere Stadt, neighbours 11 Innere 32 resp., 14 Äußere 44, 18 Äußere 7, 19 Äußere 7):
  with groups -> 11 (the neighbour in its own group), without groups -> 18 (fewest; 18 < 19 in
  text order), groups but no boundaries -> 05 (fewest respondents in Innere Stadt: 30).
* 23, 24, 25 empty (Roßlau; 25's only neighbours are 23 and 24): 23 -> 22, 24 -> 22 and then
  25 -> 22 through 23.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from geo_cohesion.errors import InputError

CITY = "Dessau-Roßlau"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from geo_cohesion.demo.synthetic import write_demo_inputs

    folder = tmp_path_factory.mktemp("dessau")
    config = write_demo_inputs(folder)
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    city = next(c for c in raw["cities"] if c["name"] == CITY)
    return folder, raw, city


def project(inputs, tmp_path, empty=(), one_respondent=(), boundaries=True, groups=True, **settings):
    """Dessau-Roßlau alone, without the respondents of ``empty`` districts."""
    from geo_cohesion.project.config import project_from_dict

    folder, raw, city = inputs
    city = json.loads(json.dumps(city))
    survey = pd.read_csv(folder / city["survey"]["path"], dtype=str)
    survey = survey[~survey["district_id"].isin(empty)]
    for district in one_respondent:   # one respondent left, in another stratum (no lonely stratum)
        rows = survey.index[survey["district_id"] == district]
        survey = survey.drop(rows[1:])
        survey.loc[rows[0], "stratum"] = "01"
    survey.to_csv(tmp_path / "survey.csv", index=False)
    city["survey"]["path"] = str(tmp_path / "survey.csv")
    for key in ("population", "structural", "boundaries"):
        city[key]["path"] = str(folder / city[key]["path"])
    if not boundaries:
        city.pop("boundaries")
    if not groups:
        city.pop("groups")
    extra = {k: v for k, v in raw.items() if k != "cities"}
    for section, values in settings.items():
        extra[section] = {**extra.get(section, {}), **values}
    return project_from_dict({**extra, "cities": [city]}, base_dir=folder)


def run(project):
    from geo_cohesion.project.run import run_city

    return run_city(project.cities[0], project)


def test_schematic_neighbours_of_the_cases_by_shapely(inputs):
    """The expected partners in the module docstring rest on these neighbourhoods."""
    import geopandas as gpd

    folder, _, city = inputs
    gdf = gpd.read_file(folder / city["boundaries"]["path"]).set_index("district_id")

    def neighbours(d):
        return sorted(i for i in gdf.index if i != d and gdf.geometry[d].intersects(gdf.geometry[i]))

    assert neighbours("10") == ["11", "14", "18", "19"]
    assert neighbours("25") == ["23", "24"]
    assert neighbours("23") == ["16", "22", "24", "25"]


@pytest.mark.parametrize("boundaries, groups, partner", [(True, True, "11"), (True, False, "18"), (False, True, "05")])
def test_empty_district_is_merged_and_listed(inputs, tmp_path, boundaries, groups, partner):
    # the direct path (the default Fay-Herriot estimator gives the district its synthetic value)
    proj = project(inputs, tmp_path, empty=["10"], boundaries=boundaries, groups=groups,
                   estimates={"estimator": "direct"})
    result = run(proj)
    assert result.design.collapsed.merged == {"10": partner}
    assert result.diagnostics["collapsed"] == f"10→{partner}"
    rows = result.district_estimates[result.district_estimates["district_id"] == "10"]
    assert len(rows) == 13 and rows["estimate"].isna().all() and rows["se"].isna().all()
    assert (rows["n"] == 0).all() and rows["suppressed"].all()
    assert (rows["note"] == "keine Befragten").all()   # the direct estimator gives it no (model) value
    assert rows["district_name"].iloc[0] != "10"            # its name from the structural table
    # the weights represent the whole city: the empty district's population sits with its partner
    population = pd.read_csv(inputs[0] / inputs[2]["population"]["path"], dtype={"district_id": str})
    by_district = population.groupby("district_id")["population"].sum()
    weights = result.design.weights.groupby(result.design.data["district_id"]).sum()
    assert weights.sum() == pytest.approx(by_district.sum(), rel=1e-9)
    assert weights[partner] == pytest.approx(by_district[partner] + by_district["10"], rel=1e-8)
    # ... and the city value is the population-weighted mean of the direct district estimates
    est = result.district_estimates.query("variable == 'index' and n > 0").set_index("district_id")
    valid = result.design.data["score__index"].notna()
    shares = result.design.weights[valid].groupby(result.design.data["district_id"][valid]).sum()
    city = result.city_estimates.set_index("variable").loc["index", "estimate"]
    assert city == pytest.approx(np.average(est["estimate"], weights=shares.reindex(est.index)), rel=1e-12)
    if groups:
        assert set(result.group_estimates["group"]) == {"Kernstadt", "Innere Stadt", "Äußere Stadt mit Ortschaften",
                                                         "Roßlau"}


def test_chained_empty_districts(inputs, tmp_path):
    result = run(project(inputs, tmp_path, empty=["23", "24", "25"]))
    report = result.design.collapsed
    assert report.merged == {"23": "22", "24": "22", "25": "22"}
    assert report.via["25"] == "23"
    assert result.diagnostics["collapsed"] == "23→22; 24→22; 25→22 (über 23)"
    assert set(result.district_estimates["district_id"]) >= {"23", "24", "25"}


def test_without_boundaries_and_groups_the_error_stays_with_a_hint(inputs, tmp_path):
    with pytest.raises(InputError, match=r"'10' \(no boundaries, in no group\) from population_dessau-rosslau.csv "
                                         r"have population but no respondents in survey.csv") as info:
        run(project(inputs, tmp_path, empty=["10"], boundaries=False, groups=False))
    assert "boundaries" in info.value.hint and "groups" in info.value.hint


def test_a_whole_group_without_respondents_and_no_boundaries_is_an_error(inputs, tmp_path):
    with pytest.raises(InputError, match=r"'22' \(no boundaries, no group member with respondents\), '23' "):
        run(project(inputs, tmp_path, empty=["22", "23", "24", "25"], boundaries=False))


def test_tables_diagnostics_and_map_show_the_empty_district(inputs, tmp_path):
    """The whole pipeline with an empty district and, with min_n = 0, a one-respondent district
    whose SE is missing: tables, weighting diagnostics and the HTML map are written."""
    from geo_cohesion.project.run import run_project

    proj = project(inputs, tmp_path, empty=["10"], one_respondent=["13"], estimates={"min_n": 0, "estimator": "direct"},
                   maps={"figures": True, "figure_formats": ["png"], "figure_variables": ["index"]},
                   compare={"permutations": 99, "rank_draws": 500})
    out = tmp_path / "out"
    run_project(proj, out)
    tables = out / "tables"
    districts = pd.read_csv(tables / "district_estimates.csv", dtype={"district_id": str})
    empty = districts[districts["district_id"] == "10"]
    assert len(empty) == 13 and empty["estimate"].isna().all() and (empty["n"] == 0).all()
    # direct estimator: no model value, so the note does not promise one (and says "keine Befragten" once)
    assert (empty["note"] == "keine Befragten; synthetische Demodaten").all()
    assert empty["note"].str.endswith("synthetische Demodaten").all()
    assert districts.loc[districts["district_id"] != "10", "note"].str.endswith("synthetische Demodaten").all()
    one = districts[(districts["district_id"] == "13") & (districts["variable"] == "index")].iloc[0]
    assert one["n"] == 1 and not one["suppressed"] and np.isfinite(one["estimate"])
    assert np.isnan(one["se"]) and np.isnan(one["ci_low"]) and np.isnan(one["df"])
    assert "df" in districts.columns and (districts.loc[districts["n"] >= 2, "df"] >= 1).all()
    diagnostics = pd.read_csv(tables / "weighting_diagnostics.csv")
    assert diagnostics.loc[0, "collapsed"] == "10→11"
    comparison = pd.read_csv(tables / "comparison_dessau-rosslau.csv", dtype={"district_id": str})
    row = comparison[(comparison["district_id"] == "13") & (comparison["variable"] == "index")].iloc[0]
    assert np.isnan(row["p_value"]) and not row["significant"] and np.isnan(row["rank"])
    assert (comparison["df"].dropna() >= 1).all()
    meta = json.loads((tables / "metadata.json").read_text(encoding="utf-8"))
    assert "Student t" in meta["intervals_and_tests"]
    html = (out / "dessau-rosslau.html").read_text(encoding="utf-8")
    assert "keine Befragten" in html
    payload = _payload(html)
    i = payload["names"].index(empty["district_name"].iloc[0])
    index = next(layer for layer in payload["layers"] if layer["key"] == "index")
    assert index["n"][i] == 0 and index["suppressed"][i] and index["values"][i] is None
    assert not (index.get("reason") or [None] * (i + 1))[i]  # no reason: the map says "keine Befragten"
    j = payload["names"].index(one["district_name"])
    assert index["values"][j] is not None and index["ci_low"][j] is None and index["n"][j] == 1
    assert (out / "figures" / "dessau-rosslau_index.png").exists()
    # the one-respondent district's index has no SE: the need index keeps it, without class stability
    need = pd.read_csv(tables / "need_dessau-rosslau.csv", dtype={"district_id": str})
    row = need[need["district_id"] == "13"].iloc[0]
    assert np.isfinite(row["need_score"]) and np.isnan(row["class_stability"])
    scored = need[need["need_score"].notna() & (need["district_id"] != "13")]
    assert len(scored) == 23 and scored["class_stability"].notna().all()  # all but 13 and the empty 10
    assert need.loc[need["district_id"] == "10", "need_score"].isna().all()


def _payload(html: str) -> dict:
    """The data object the page script receives (``var DATA = {...};``)."""
    start = html.index("var DATA = ") + len("var DATA = ")
    return json.JSONDecoder().raw_decode(html[start:])[0]


def test_check_accepts_what_run_accepts_for_an_empty_district(inputs, tmp_path):
    """`geo-cohesion check` rejected the empty district's row of the structural table and its boundary
    ("'10' from ... not found in survey.csv") although `run` estimates it from them."""
    from geo_cohesion.project.check import check_project

    report = check_project(project(inputs, tmp_path, empty=["10"]))[0]
    assert report.districts == 24 and report.boundaries == 25
    assert "1 district(s) without respondents (10): merged for the weighting" in report.summary()
