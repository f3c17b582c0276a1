"""Small-area estimation in the pipeline (geo_cohesion.project.small_area): the demo's small cities
get a published, model-based value for every district; tables, maps and figures say which
estimator produced each number; settings and fallbacks."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from geo_cohesion.errors import InputError
from geo_cohesion.project.config import load_project, project_from_dict
from geo_cohesion.project.run import DISTRICT_COLUMNS, MODEL_COLUMNS, run_city
from geo_cohesion.project.small_area import direct_view, model_district_estimates
from geo_cohesion.settings import override
from geo_cohesion.survey.small_area import ESTIMATOR_LABELS, ROW_ESTIMATORS

SMALL_CITIES = {"Lippstadt": "lippstadt", "Dessau-Roßlau": "dessau-rosslau"}
MODEL_ROWS = {"fay_herriot", "spatial_fay_herriot", "synthetic"}


def districts(demo_out) -> pd.DataFrame:
    return pd.read_csv(demo_out / "tables" / "district_estimates.csv", dtype={"district_id": str})


def payload(html: str) -> dict:
    return json.loads(re.search(r"var DATA = (\{.*?\});\n", html).group(1))


def without_respondents(result, district_id: str) -> pd.DataFrame:
    """The direct district rows of a run as input to the model, one district emptied (n = 0)."""
    direct = result.district_estimates.drop(columns=["estimator", "mse", "direct_estimate", "direct_se",
                                                     "direct_ci_low", "direct_ci_high", "reason"])
    empty = direct["district_id"] == district_id
    direct.loc[empty, ["estimate", "se", "ci_low", "ci_high"]] = np.nan
    direct.loc[empty, ["n", "n_eff"]] = 0
    return direct


@pytest.fixture(scope="module")
def lippstadt(demo_out):
    """(project, city) of the demo's Lippstadt with the project's default settings."""
    project = load_project(demo_out / "demo_inputs" / "project.yaml")
    return project, next(c for c in project.cities if c.name == "Lippstadt")


@pytest.fixture(scope="module")
def lippstadt_direct(lippstadt):
    project, city = lippstadt
    return run_city(city, override(project, {"estimates": {"estimator": "direct"}}))


# --------------------------------------------------------------------------------------------
# the demo (issue #14): every district of the small cities gets a number it can stand behind
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("city", list(SMALL_CITIES))
def test_small_demo_cities_publish_the_index_for_every_district(demo_out, city):
    table = districts(demo_out)
    index = table[(table["city"] == city) & (table["variable"] == "index")]
    assert len(index) == {"Lippstadt": 18, "Dessau-Roßlau": 25}[city]
    assert not index["suppressed"].any()
    assert index[["estimate", "se", "ci_low", "ci_high", "mse"]].notna().all().all()
    small = index[index["n"] < 30]
    assert len(small) >= {"Lippstadt": 17, "Dessau-Roßlau": 12}[city]
    assert set(small["estimator"]) <= MODEL_ROWS  # model-based where the direct estimate is too noisy
    # the model's intervals for small districts are much narrower than the direct ones
    assert (small["ci_high"] - small["ci_low"]).median() < 0.6 * 2 * 1.96 * small["direct_se"].median()


@pytest.mark.parametrize("city", list(SMALL_CITIES))
def test_small_demo_cities_maps_and_figures_name_the_estimator(demo_out, city):
    slug = SMALL_CITIES[city]
    data = payload((demo_out / f"{slug}.html").read_text(encoding="utf-8"))
    index = next(layer for layer in data["layers"] if layer["key"] == "index")
    assert not any(index["suppressed"]) and all(v is not None for v in index["values"])
    assert all(v is not None for v in index["ci_low"]) and all(v is not None for v in index["ci_high"])
    labels = {ESTIMATOR_LABELS[e] for e in ROW_ESTIMATORS}
    assert set(index["estimator"]) <= labels and "Fay-Herriot" in index["estimator"]
    assert index["estimator_note"].startswith("Schätzer: Fay-Herriot")
    assert any(n.startswith("Schätzer: Fay-Herriot") for n in data["notes"])
    assert any(n.startswith("Nicht veröffentlicht") for n in data["notes"])
    deviation = next(layer for layer in data["layers"] if layer["key"] == "index__deviation")
    assert deviation["estimator"] == index["estimator"]
    # the figure footer names the estimator (text checked in tests/maps/test_figures.py); the demo
    # writes the default formats
    figures = demo_out / "figures"
    assert (figures / f"{slug}_index.pdf").exists() and (figures / f"{slug}_index.png").exists()
    groups = payload((demo_out / f"{slug}_gruppen.html").read_text(encoding="utf-8"))
    assert set(groups["layers"][0]["estimator"]) == {"direkt"}


def test_district_table_columns_and_model_intervals(demo_out):
    table = districts(demo_out)
    assert list(table.columns) == [*DISTRICT_COLUMNS, "note"]
    assert set(table["estimator"]) <= set(ROW_ESTIMATORS)
    model = table[table["estimator"] != "direct"]
    np.testing.assert_allclose(model["se"], np.sqrt(model["mse"]), atol=2e-4)
    np.testing.assert_allclose(model["ci_high"] - model["estimate"], 1.959963984540054 * model["se"], atol=5e-4)
    direct = table[table["estimator"] == "direct"]
    np.testing.assert_allclose(direct["estimate"], direct["direct_estimate"])
    assert (direct["n"] >= 30).all()  # the direct estimate is kept only where it is precise enough
    # every published value has a rank among the city's published values, model estimates too
    shown = table[~table["suppressed"].astype(bool)]
    assert shown["rank"].notna().all() and table.loc[table["suppressed"].astype(bool), "rank"].isna().all()
    assert (shown["estimator"] != "direct").sum() > len(SMALL_CITIES) * 13
    assert ((shown["rank_low"] <= shown["rank"]) & (shown["rank"] <= shown["rank_high"])).all()
    excel = (demo_out / "tables" / "excel_de" / "district_estimates.csv").read_bytes().decode("utf-8-sig")
    assert excel.splitlines()[0].endswith("Schätzverfahren;mittlerer quadratischer Fehler;direkter Schätzwert;"
                                          "Standardfehler direkt;Rang;Rang von;Rang bis;Hinweis")


def test_sae_models_table(demo_out):
    models = pd.read_csv(demo_out / "tables" / "sae_models.csv")
    assert list(models.columns) == MODEL_COLUMNS
    assert models.groupby("city").size().to_dict() == {"Dortmund": 13, "Lippstadt": 13, "Rostock": 13,
                                                       "Dessau-Roßlau": 13}
    assert (models["requested"] == "fay_herriot").all()
    fitted = models[models["method"] != "direct"]
    # the demo cities have groups: random group effects (estimates.group_effects default) with the
    # bootstrap MSE, unless a fit falls back to the plain model (estimates.model_mse default prasad_rao)
    grouped = fitted["sigma2_v"].notna()
    assert grouped.any() and (fitted["mse_method"] == np.where(grouped, "bootstrap", "prasad_rao")).all()
    assert fitted["converged"].all() and (fitted["sigma2_u"] >= 0).all() and fitted["rho"].isna().all()
    assert fitted["beta"].str.startswith("(Intercept)=").all()
    # one covariate set per city (chosen on the index), at most one per five districts
    per_city = models.groupby("city")["covariates"].nunique(dropna=False)
    assert (per_city == 1).all()
    caps = {"Dortmund": 2, "Lippstadt": 3, "Rostock": 3, "Dessau-Roßlau": 5}
    for city, cov in models.groupby("city")["covariates"].first().fillna("").items():
        assert len([c for c in cov.split(", ") if c]) <= caps[city]


def test_direct_values_are_kept_next_to_the_model_values(demo_out, lippstadt_direct):
    table = districts(demo_out)
    ours = table[table["city"] == "Lippstadt"].set_index(["district_id", "variable"])
    direct = lippstadt_direct.district_estimates.set_index(["district_id", "variable"])
    np.testing.assert_allclose(ours["direct_estimate"], direct.loc[ours.index, "estimate"], atol=1e-4)
    np.testing.assert_allclose(ours["direct_se"], direct.loc[ours.index, "se"], atol=1e-4)


def test_direct_estimator_suppresses_small_districts_and_says_why(lippstadt_direct):
    est = lippstadt_direct.district_estimates
    index = est[est["variable"] == "index"]
    assert (index["estimator"] == "direct").all()
    assert index["suppressed"].sum() == 17 and (index.loc[index["suppressed"], "n"] < 30).all()
    reasons = index.loc[index["suppressed"], "reason"]
    assert reasons.str.startswith("zu wenige Befragte für eine direkte Schätzung (n = ").all()
    assert lippstadt_direct.models is None
    assert lippstadt_direct.estimator_note.startswith("Schätzer: direkt")


def test_interval_rule_suppresses_with_a_reason_in_the_note(lippstadt, tmp_path):
    from geo_cohesion.project.run import write_tables

    project, city = lippstadt
    project = override(project, {"estimates": {"max_ci_halfwidth": 1.5}})
    result = run_city(city, project)
    write_tables([result], project, tmp_path)
    est = result.district_estimates
    hidden = est[est["suppressed"]]
    assert not hidden.empty and hidden["reason"].str.startswith("zu unsicher: 95-%-Intervall ±").all()
    published = est[~est["suppressed"] & (est["estimator"] != "direct")]
    assert ((published["ci_high"] - published["ci_low"]) / 2 <= 1.5 + 1e-9).all()
    written = pd.read_csv(tmp_path / "tables" / "district_estimates.csv", dtype={"district_id": str})
    rows = written[written["suppressed"]]
    assert rows[["estimate", "se", "ci_low", "ci_high", "mse"]].isna().all().all()
    assert rows["note"].str.contains("zu unsicher").all() and rows["note"].str.endswith("synthetische Demodaten").all()


def test_district_without_respondents_gets_a_synthetic_estimate(lippstadt, lippstadt_direct):
    """A district of the structural table without respondents (n = 0, no direct estimate) is
    out of sample: it gets the regression prediction with its MSE and is published."""
    project, city = lippstadt
    res = lippstadt_direct
    direct = without_respondents(res, "15")
    out, models, note = model_district_estimates(city, project, direct, res.structural, design=res.design,
                                                 city_estimates=res.city_estimates)
    row = out[(out["district_id"] == "15") & (out["variable"] == "index")].iloc[0]
    assert row["estimator"] == "synthetic" and not row["suppressed"] and row["reason"] == ""
    assert np.isfinite(row["estimate"]) and row["mse"] > 0 and np.isnan(row["direct_estimate"])
    assert row["n"] == 0 and row["district_name"] == "Lohe"
    assert (models["areas_out_of_sample"] == 1).all()
    # a district only in the structural table (no row at all) is added the same way
    missing = direct[direct["district_id"] != "15"]
    out2, _, _ = model_district_estimates(city, project, missing, res.structural, design=res.design)
    assert (out2.loc[out2["district_id"] == "15", "estimator"] == "synthetic").all()
    assert len(out2) == len(out)


def test_spatial_estimator_uses_boundaries_or_says_why_not(lippstadt, lippstadt_direct, demo_out):
    from geo_cohesion.project.inputs import read_city_boundaries

    project, city = lippstadt
    res = lippstadt_direct
    direct = res.district_estimates.drop(columns=["estimator", "mse", "direct_estimate", "direct_se",
                                                  "direct_ci_low", "direct_ci_high", "reason"])
    project = override(project, {"estimates": {"estimator": "spatial_fay_herriot"}})
    no_b, models, _ = model_district_estimates(city, project, direct, res.structural, design=res.design)
    assert set(models["method"]) <= {"fay_herriot", "direct"}
    assert models["notes"].str.contains("no district boundaries").all()
    boundaries = read_city_boundaries(city, project)
    spatial, models, note = model_district_estimates(city, project, direct, res.structural, design=res.design,
                                                     boundaries=boundaries)
    assert set(models["method"]) <= {"spatial_fay_herriot", "fay_herriot", "direct"}
    fallback = models[models["method"] != "spatial_fay_herriot"]
    assert fallback["notes"].str.contains("spatial model|Fay-Herriot model").all()
    kept = models[models["method"] == "spatial_fay_herriot"]
    assert kept["rho"].notna().all()
    assert set(spatial["estimator"]) <= set(ROW_ESTIMATORS)


def test_comparison_and_association_use_the_direct_estimates(lippstadt_direct, demo_out):
    table = districts(demo_out)
    lipp = table[table["city"] == "Lippstadt"].assign(
        direct_ci_low=np.nan, direct_ci_high=np.nan, reason="")
    view = direct_view(lipp, 30)
    np.testing.assert_allclose(view["estimate"], lipp["direct_estimate"])
    assert (view["suppressed"] == (lipp["n"] < 30)).all()
    assert "estimator" not in view.columns
    association = pd.read_csv(demo_out / "tables" / "association_lippstadt.csv")
    assert (association.loc[association["variable"] == "index", "n_districts"] <= 1).all()  # one district n >= 30


def test_estimator_settings_are_validated(demo_out):
    import yaml

    raw = yaml.safe_load((demo_out / "demo_inputs" / "project.yaml").read_text(encoding="utf-8"))
    for bad, match in (({"estimator": "eblup"}, "estimates.estimator"),
                       ({"max_ci_halfwidth": 0}, "max_ci_halfwidth"),
                       ({"covariates": {"a": "b"}}, "estimates.covariates"),
                       ({"benchmark": "vielleicht"}, "benchmark")):
        with pytest.raises(InputError, match=match):
            project_from_dict({**raw, "estimates": {**raw["estimates"], **bad}}, base_dir=demo_out / "demo_inputs")
    project = project_from_dict({**raw, "estimates": {"covariates": ["nope"], "max_ci_halfwidth": None}},
                                base_dir=demo_out / "demo_inputs")
    assert project.estimates.max_ci_halfwidth is None and project.estimates.estimator == "fay_herriot"
    with pytest.raises(InputError, match="covariate\\(s\\) nope not found"):
        run_city(next(c for c in project.cities if c.name == "Lippstadt"), project)


def test_cli_estimator_option(demo_out, tmp_path):
    import yaml

    from geo_cohesion.cli import main

    raw = yaml.safe_load((demo_out / "demo_inputs" / "project.yaml").read_text(encoding="utf-8"))
    city = next(c for c in raw["cities"] if c["name"] == "Lippstadt")
    for key in ("survey", "population", "structural", "boundaries"):
        city[key]["path"] = str(demo_out / "demo_inputs" / city[key]["path"])
    city.pop("waves", None)  # the earlier wave's relative paths would point into tmp_path
    config = tmp_path / "project.yaml"
    config.write_text(yaml.safe_dump({**raw, "cities": [city]}, allow_unicode=True), encoding="utf-8")
    assert main(["compare", str(config), "--out", str(tmp_path / "out"), "--no-maps", "--estimator", "direct",
                 "--recompute"]) == 0
    table = pd.read_csv(tmp_path / "out" / "tables" / "district_estimates.csv", dtype={"district_id": str})
    assert (table["estimator"] == "direct").all() and table["suppressed"].sum() > 0
    assert not (tmp_path / "out" / "tables" / "sae_models.csv").exists()
    meta = json.loads((tmp_path / "out" / "tables" / "metadata.json").read_text(encoding="utf-8"))
    assert meta["estimates"]["estimator"] == "direct" and meta["estimates"]["max_ci_halfwidth"] == 10.0
    with pytest.raises(SystemExit) as exc:
        main(["run", str(config), "--estimator", "eblup"])
    assert exc.value.code == 2


def test_group_effects_model_borrows_from_the_city_groups(lippstadt, lippstadt_direct):
    """estimates.group_effects: the Fay-Herriot model gets random effects of the city's groups,
    its MSE comes from the seeded parametric bootstrap (same seed, same intervals), the note and
    sae_models.csv say so, and a district without respondents gets its group's level."""
    project, city = lippstadt
    res = lippstadt_direct
    direct = without_respondents(res, "15")
    grouped = override(project, {"estimates": {"group_effects": True, "group_mse_bootstrap": 40}})
    out, models, note = model_district_estimates(city, grouped, direct, res.structural, design=res.design)
    again, _, _ = model_district_estimates(city, grouped, direct, res.structural, design=res.design)
    pd.testing.assert_frame_equal(out, again)
    fitted = models[models["method"] == "fay_herriot"]
    assert not fitted.empty and fitted["sigma2_v"].notna().all() and (fitted["mse_method"] == "bootstrap").all()
    assert "Zufallseffekten der Gebietsgruppen" in note
    plain_project = override(project, {"estimates": {"group_effects": False}})
    _, plain_models, plain_note = model_district_estimates(city, plain_project, direct, res.structural,
                                                           design=res.design)
    assert plain_models["sigma2_v"].isna().all() and (plain_models["mse_method"] == "prasad_rao").all()
    assert "Zufallseffekten" not in plain_note
    row = out[(out["district_id"] == "15") & (out["variable"] == "index")].iloc[0]
    assert row["estimator"] == "synthetic" and np.isfinite(row["estimate"]) and row["mse"] > 0
    with pytest.raises(InputError, match="group_mse_bootstrap"):
        override(project, {"estimates": {"group_mse_bootstrap": 5}})
