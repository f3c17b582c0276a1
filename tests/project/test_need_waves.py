"""Need index from the project file, survey waves, dynamics, status x dynamics and priority areas (issue #15).

One small city (tests/conftest.py ``write_small_city``) with an earlier wave (same design, another
seed) and that year's structural table runs once through ``run_project``; the outputs are checked
against independent recomputations (need_index on the exported estimates, the change formula,
connected components of the priority districts computed with shapely).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import SMALL_IDS, SMALL_SLUG, write_small_city
from scipy import stats

from geo_cohesion.errors import InputError
from geo_cohesion.project.config import load_project
from geo_cohesion.project.need import city_need, need_weights, priority_classes
from geo_cohesion.radar.indicators import indicator_registry
from geo_cohesion.settings import NeedSpec, validate_project
from geo_cohesion.stats.need import need_index

WAVE = "2023"


def _with_wave(folder: Path, **need) -> Path:
    """The small city with an earlier microdata wave (and its structural table) in ``folder``."""
    config = write_small_city(folder)
    write_small_city(folder / "w1", seed=4)
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    city = raw["cities"][0]
    city["waves"] = [{"label": WAVE, "survey": {**city["survey"], "path": "w1/befragung.csv"},
                      "population": {**city["population"], "path": "w1/bevoelkerung.csv"},
                      "structural": {**city["structural"], "path": "w1/strukturdaten.csv"}}]
    raw["maps"] = {"figures": True, "figure_formats": ["svg"], "figure_variables": ["need_class", "status_dynamics"]}
    if need:
        raw["need"] = need
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return config


@pytest.fixture(scope="module")
def wave_run(tmp_path_factory):
    from geo_cohesion.project.run import run_project

    root = tmp_path_factory.mktemp("waves")
    config = _with_wave(root / "inputs")
    results = run_project(load_project(config), root / "out", reports=False)
    return root / "inputs", root / "out", results[0]


def _table(out: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(out / "tables" / name, dtype={"district_id": str, "wave_from": str, "wave_to": str})


# ------------------------------------------------------------------ indicators through the registry


def _registry():
    table = pd.DataFrame({"id": ["a", "b"], "population_total": [1, 2], "migration_share_pct": [1.0, 2.0],
                          "unemployment_pct": [1.0, 2.0], "sgb2_share_pct": [1.0, 2.0], "green_pct": [1.0, 2.0],
                          "income": [1.0, 2.0]})
    return indicator_registry(table, {"income": {"direction": "higher_is_better"}}, exclude=["id"])


def test_default_index_comes_from_the_registry_roles_and_directions():
    weights = need_weights(NeedSpec(), _registry())
    # population (role) and migration share (context) and an undeclared neutral column stay out;
    # income is higher_is_better -> negative; the cohesion index is always in, negatively
    assert weights == {"unemployment_pct": 1.0, "sgb2_share_pct": 1.0, "income": -1.0, "index": -1.0}


def test_configured_weights_take_their_sign_from_the_registry():
    spec = NeedSpec(indicators={"income": 2.0, "sgb2_share_pct": 0.5, "vertrauen_in_institutionen": 1.5})
    assert need_weights(spec, _registry()) == {"income": -2.0, "sgb2_share_pct": 0.5,
                                                "vertrauen_in_institutionen": -1.5}


def test_unknown_indicator_is_a_readable_error_listing_the_choices():
    with pytest.raises(InputError) as err:
        need_weights(NeedSpec(indicators={"sgb_2": 1.0}), _registry())
    assert "sgb_2" in err.value.message and "sgb2_share_pct" in err.value.hint and "index" in err.value.hint


def test_neutral_indicator_asks_for_a_direction():
    with pytest.raises(InputError) as err:
        need_weights(NeedSpec(indicators={"migration_share_pct": 1.0, "index": 1.0}), _registry())
    assert "neutral" in err.value.message and "structural.indicators" in err.value.hint


@pytest.mark.parametrize("need", [{"indicators": {"index": -1}}, {"indicators": {}}, {"draws": 10},
                                  {"dynamics_breaks": [-1, 0, 1]}])
def test_bad_need_settings_are_one_input_error(need):
    with pytest.raises(InputError) as err:
        validate_project({"need": need, "cities": [{"name": "A", "scores": {"path": "s.csv"}}]})
    assert "need." in err.value.message


def test_wave_needs_survey_with_population_or_scores():
    city = {"name": "A", "scores": {"path": "s.csv"}, "waves": [{"label": "2015", "survey": {"path": "x.csv"}}]}
    with pytest.raises(InputError) as err:
        validate_project({"cities": [city]})
    assert "2015" in err.value.message and "population" in err.value.message


def test_priority_classes_default_to_the_classes_above_one_sd():
    assert priority_classes(NeedSpec()) == ["3", "4"]
    assert priority_classes(NeedSpec(class_breaks=(-1.0, 0.5))) == ["3"]
    assert priority_classes(NeedSpec(priority=("2/5",))) == ["2/5"]


def test_city_need_without_enough_indicators_is_none():
    estimates = pd.DataFrame({"district_id": list("abcde"), "variable": "index", "estimate": [50, 60, 55, 52, 58.0],
                              "se": 1.0, "suppressed": False})
    assert city_need(estimates, None, None, NeedSpec(), seed=0) is None


def _need_inputs(unemployment, sgb2):
    ids = list("abcde")
    estimates = pd.DataFrame({"district_id": ids, "variable": "index", "estimate": [50, 60, 55, 52, 58.0],
                              "se": 1.0, "suppressed": False})
    structural = pd.DataFrame({"district_id": ids, "unemployment_pct": unemployment, "sgb2_share_pct": sgb2})
    return estimates, structural, indicator_registry(structural, {}, exclude=["district_id"])


@pytest.mark.parametrize("indicators, unemployment, sgb2, message", [
    ({"sgb2_share_pct": 1}, [5, 6, 7, 8, 9.0], [1, 2, 3, 4, 5.0], "at least 2 indicators.*usable: sgb2_share_pct"),
    ({"unemployment_pct": 1, "sgb2_share_pct": 1}, [5.0] * 5, [1, 2, 3, 4, 5.0], "unemployment_pct.*constant"),
    ({"unemployment_pct": 1, "sgb2_share_pct": 1}, [5, 6, np.nan, np.nan, 9.0], [1, 2, 3, 4, 5.0],
     r"only 3 district\(s\).*without: c, d"),
])
def test_chosen_need_indicators_that_carry_no_index_are_an_error(indicators, unemployment, sgb2, message):
    """The need index the user asked for was silently left out (no table, no note)."""
    estimates, structural, registry = _need_inputs(unemployment, sgb2)
    with pytest.raises(InputError, match=f"need.indicators: .*{message}"):
        city_need(estimates, structural, registry, NeedSpec(indicators=indicators), seed=0)
    city_need(estimates, structural, registry, NeedSpec(), seed=0)  # the default index: no error, left out at most


# ------------------------------------------------------------------ the pipeline


def test_need_table_reproduces_need_index_on_the_exported_inputs(wave_run):
    inputs, out, _ = wave_run
    need = _table(out, f"need_{SMALL_SLUG}.csv")
    assert list(need.columns[:2]) == ["district_id", "district_name"]
    for column in ("need_score", "need_class", "class_stability", "contribution_index", "flag_weighting",
                   "dynamics_score", "dynamics_class", "status_dynamics", "priority", "priority_area"):
        assert column in need.columns
    estimates = _table(out, "district_estimates.csv")
    index = estimates[estimates["variable"] == "index"].set_index("district_id")["estimate"]
    structural = pd.read_csv(inputs / "strukturdaten.csv", dtype={"bezirk": str}).set_index("bezirk")
    table = pd.DataFrame({"district_id": SMALL_IDS, "index": index.reindex(SMALL_IDS).to_numpy(),
                          "unemployment_pct": structural.loc[SMALL_IDS, "unemployment_pct"].to_numpy(),
                          "sgb2_share_pct": structural.loc[SMALL_IDS, "sgb2_share_pct"].to_numpy()})
    # default index from the registry: the two deprivation-direction indicators and the cohesion index
    expected = need_index(table, {"unemployment_pct": 1, "sgb2_share_pct": 1, "index": -1}, id_column="district_id")
    got = need.set_index("district_id").loc[SMALL_IDS]
    np.testing.assert_allclose(got["need_score"], expected["need_score"], atol=1e-3)
    assert got["need_class"].tolist() == expected["need_class"].tolist()
    assert ((got["class_stability"] > 0) & (got["class_stability"] <= 1)).all()


def test_change_table_is_the_independent_samples_test(wave_run):
    _, out, _ = wave_run
    change = _table(out, f"change_{SMALL_SLUG}.csv")
    assert list(change.columns[:8]) == ["district_id", "variable", "estimate_from", "estimate_to", "change", "se",
                                        "p_value", "significant"]
    assert set(change["wave_from"]) == {WAVE} and set(change["wave_to"]) == {"2025"}
    assert len(change) == 12 * 13
    estimates = _table(out, "district_estimates.csv").set_index(["district_id", "variable"])
    joined = change.set_index(["district_id", "variable"])
    # the later wave enters with its design-based (direct) estimate, not the model value
    np.testing.assert_allclose(joined["estimate_to"], estimates.loc[joined.index, "direct_estimate"], atol=1e-4)
    np.testing.assert_allclose(change["change"], change["estimate_to"] - change["estimate_from"], atol=2e-6)
    se_to = estimates.loc[joined.index, "direct_se"].to_numpy()
    se_from = np.sqrt(change["se"].to_numpy() ** 2 - se_to ** 2)
    assert np.all(np.isfinite(se_from)) and np.all(se_from > 0.3)
    p = 2 * stats.t.sf(np.abs(change["change"] / change["se"]), change["df"])
    np.testing.assert_allclose(change["p_value"], p, atol=1e-5)
    for _, rows in change.groupby("variable"):   # Holm within each score: significant only if the adjusted p < .05
        assert (rows["significant"] == (rows["p_adjusted"] < 0.05)).all()
        assert (rows["p_adjusted"] >= rows["p_value"] - 1e-9).all()


def test_dynamics_class_is_need_index_of_the_changes(wave_run):
    inputs, out, _ = wave_run
    need = _table(out, f"need_{SMALL_SLUG}.csv").set_index("district_id").loc[SMALL_IDS]
    change = _table(out, f"change_{SMALL_SLUG}.csv")
    index = change[change["variable"] == "index"].set_index("district_id")["change"]
    now = pd.read_csv(inputs / "strukturdaten.csv", dtype={"bezirk": str}).set_index("bezirk")
    before = pd.read_csv(inputs / "w1" / "strukturdaten.csv", dtype={"bezirk": str}).set_index("bezirk")
    table = pd.DataFrame({"district_id": SMALL_IDS, "index": index.reindex(SMALL_IDS).to_numpy()})
    for column in ("unemployment_pct", "sgb2_share_pct"):
        table[column] = (now[column] - before[column]).loc[SMALL_IDS].to_numpy()
    expected = need_index(table, {"unemployment_pct": 1, "sgb2_share_pct": 1, "index": -1}, id_column="district_id",
                          class_breaks=(-1.0, 1.0), class_labels=(1, 3, 5))
    np.testing.assert_allclose(need["dynamics_score"], expected["need_score"], atol=1e-4)
    assert need["dynamics_class"].tolist() == expected["need_class"].tolist()
    assert need["status_dynamics"].tolist() == [f"{s}/{d}" for s, d in zip(need["need_class"],
                                                                          need["dynamics_class"])]
    matrix = _table(out, f"status_dynamics_{SMALL_SLUG}.csv").set_index("need_class")
    assert int(matrix.to_numpy().sum()) == 12
    assert int(matrix.loc[int(need["need_class"].iloc[0]), f"dynamics_{int(need['dynamics_class'].iloc[0])}"]) >= 1


def test_priority_areas_are_the_contiguous_clusters_of_high_need(wave_run):
    inputs, out, _ = wave_run
    need = _table(out, f"need_{SMALL_SLUG}.csv")
    assert (need["priority"] == need["need_class"].isin([3, 4])).all()
    chosen = need.loc[need["priority"], "district_id"].tolist()
    assert chosen, "the small city has a district above +1 SD"
    areas = gpd.read_file(out / "gis" / f"priority_{SMALL_SLUG}.gpkg")
    boundaries = gpd.read_file(inputs / "bezirke.gpkg").set_index("bez_id")
    # independent components: districts sharing a border or corner (queen)
    groups: list[set[str]] = []
    for district in chosen:
        touching = [g for g in groups if any(boundaries.geometry[district].touches(boundaries.geometry[o])
                                             for o in g)]
        merged = {district}.union(*touching)
        groups = [g for g in groups if g not in touching] + [merged]
    assert sorted(sorted(g) for g in groups) == sorted(sorted(m.split(";")) for m in areas["members"])
    for _, area in areas.iterrows():
        members = area["members"].split(";")
        assert area.geometry.area == pytest.approx(boundaries.geometry[members].area.sum(), rel=1e-6)
        assert need.set_index("district_id").loc[members, "priority_area"].eq(area["area_id"]).all()
    geojson = json.loads((out / "gis" / f"priority_{SMALL_SLUG}.geojson").read_text(encoding="utf-8"))
    assert len(geojson["features"]) == len(areas)


def test_map_has_need_layers_with_class_stability_in_the_tooltip(wave_run):
    _, out, result = wave_run
    html = (out / f"{SMALL_SLUG}.html").read_text(encoding="utf-8")
    payload = json.loads(re.search(r"var DATA = (\{.*?\});\n", html, re.S).group(1))
    layers = {layer["key"]: layer for layer in payload["layers"]}
    for key in ("need_class", "dynamics_class", "status_dynamics", "index__change"):
        assert key in layers
    need = result.need.set_index("district_id")
    names = payload["names"]
    assert len(names) == 12
    detail = layers["need_class"]["detail"]
    stability = need["class_stability"].reindex(SMALL_IDS)
    for text, p in zip(detail, stability):
        assert f"Klassenstabilität: {int(round(100 * p))} %" in text
    assert {g["title"] for g in payload["groups"]} >= {"Bedarf und Dynamik", "Veränderung seit der früheren Welle"}
    assert (out / "figures" / f"{SMALL_SLUG}_need_class.svg").exists()
    assert (out / "figures" / f"{SMALL_SLUG}_status_dynamics.svg").exists()


def test_a_configured_unknown_indicator_stops_check_and_run_naming_the_city(tmp_path):
    from geo_cohesion.project.check import check_project
    from geo_cohesion.project.run import run_project

    config = _with_wave(tmp_path / "inputs", indicators={"arbeitslose": 1.0, "index": 1.0})
    with pytest.raises(InputError) as checked:
        check_project(load_project(config))
    with pytest.raises(InputError) as err:
        run_project(load_project(config), tmp_path / "out", maps=False, reports=False)
    assert "Musterstadt" in err.value.message and "arbeitslose" in err.value.message
    assert checked.value.message == err.value.message
    assert not (tmp_path / "out" / "tables").exists()


def test_a_wave_of_weighted_scores_gives_changes(wave_run, tmp_path):
    from geo_cohesion.project.run import run_city

    inputs, out, _ = wave_run
    estimates = _table(out, "district_estimates.csv")
    earlier = estimates[["district_id", "variable", "direct_estimate", "direct_se", "n"]].rename(
        columns={"direct_estimate": "estimate", "direct_se": "se"})
    earlier["estimate"] -= 2.0
    earlier.to_csv(inputs / "scores_before.csv", index=False)
    raw = yaml.safe_load((inputs / "project.yaml").read_text(encoding="utf-8"))
    raw["cities"][0]["waves"] = [{"label": "2021", "scores": {"path": "scores_before.csv"}}]
    raw["cities"][0]["wave_label"] = "heute"
    project = validate_project(raw, inputs)
    result = run_city(project.cities[0], project)
    change = result.change
    assert set(change["wave_to"]) == {"heute"}
    np.testing.assert_allclose(change["change"], 2.0, atol=1e-3)
    np.testing.assert_allclose(change["se"], np.sqrt(2) * change.merge(
        earlier.assign(district_id=earlier["district_id"].astype(str)), on=["district_id", "variable"])["se_y"],
        rtol=1e-3)

    # a wave district that is no district of the main survey (re-cut since, or a typo) is said, not dropped silently
    first = earlier["district_id"].astype(str) == str(earlier["district_id"].iloc[0])
    extra = earlier[first].assign(district_id="9999")
    pd.concat([earlier, extra]).to_csv(inputs / "scores_before.csv", index=False)
    result = run_city(project.cities[0], project)
    assert "9999" not in set(result.change["district_id"])
    assert "wave '2021': district(s) 9999 of scores_before.csv are no district of the main survey" in \
        result.diagnostics["warnings"]


def test_chosen_need_index_with_suppressed_scores_is_left_out_not_an_error():
    """Suppressed score estimates (not the user's structural data) leave the index out as before."""
    estimates, structural, registry = _need_inputs([5, 6, 7, 8, 9.0], [1, 2, 4, 3, 5.0])
    estimates.loc[1:2, "suppressed"] = True
    spec = NeedSpec(indicators={"unemployment_pct": 1, "sgb2_share_pct": 1, "index": 1})
    assert city_need(estimates, structural, registry, spec, seed=0) is None
    estimates["suppressed"] = False
    assert len(city_need(estimates, structural, registry, spec, seed=0)) == 5


def test_two_earlier_waves_show_the_change_since_the_latest(wave_run, tmp_path):
    """Two earlier waves crashed the GIS export (a district's change was looked up in both waves'
    rows: traceback) and the profile's sentence used the oldest wave while the maps use the latest."""
    import geopandas as gpd

    from geo_cohesion.project.run import run_project
    from geo_cohesion.report.profile import _index_change
    from geo_cohesion.stats.change import latest_wave_changes

    inputs, out, _ = wave_run
    estimates = _table(out, "district_estimates.csv")
    earlier = estimates[["district_id", "variable", "direct_estimate", "direct_se", "n"]].rename(
        columns={"direct_estimate": "estimate", "direct_se": "se"})
    raw = yaml.safe_load((inputs / "project.yaml").read_text(encoding="utf-8"))
    waves = []
    for label, shift in (("2015", 5.0), ("2019", 2.0)):
        earlier.assign(estimate=earlier["estimate"] - shift).to_csv(inputs / f"scores_{label}.csv", index=False)
        waves.append({"label": label, "scores": {"path": f"scores_{label}.csv"}})
    raw["cities"][0]["waves"] = waves
    raw["maps"] = {"figures": False}
    project = validate_project(raw, inputs)
    result = run_project(project, tmp_path / "out", reports=False)[0]
    assert set(result.change["wave_from"]) == {"2015", "2019"}
    latest = latest_wave_changes(result.change)
    assert set(latest["wave_from"]) == {"2019"}
    np.testing.assert_allclose(latest["change"], 2.0, atol=1e-3)
    layer = gpd.read_file(tmp_path / "out" / "gis" / f"{SMALL_SLUG}.gpkg", layer=SMALL_SLUG)
    np.testing.assert_allclose(layer["index_change"].dropna(), 2.0, atol=1e-3)

    class City:  # the profile's view of the city: only the change table is used
        change = result.change

    assert "früheren Befragung (2019)" in _index_change(City(), SMALL_IDS[0])
