"""Synthetic demo data (geo_cohesion.demo.synthetic): seed facts, determinism, calibration to the study."""
from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from geo_cohesion.demo.assumptions import load_assumptions
from geo_cohesion.demo.synthetic import city_population, write_demo_inputs
from geo_cohesion.project.config import load_project
from geo_cohesion.project.run import run_project
from geo_cohesion.radar.codebook import load_radar
from geo_cohesion.settings import override

# Published in the study (seed, section III.1 and Abbildung 2).
PUBLISHED_INDEX = {"Lippstadt": 64.07, "Rostock": 63.64, "Dortmund": 63.43, "Dessau-Roßlau": 59.77}
SAMPLE_SIZES = {"Dortmund": 975, "Lippstadt": 377, "Rostock": 800, "Dessau-Roßlau": 800}
POPULATION = {"Dortmund": 601_150, "Lippstadt": 72_797, "Rostock": 207_492, "Dessau-Roßlau": 82_940}
DISTRICT_COUNTS = {"Dortmund": 12, "Lippstadt": 18, "Rostock": 19, "Dessau-Roßlau": 25}


@pytest.fixture(scope="module")
def demo(demo_out):
    """(inputs folder, output folder, {city: CityResult}) of the shared demo run."""
    from geo_cohesion.project.run import run_city

    inputs = demo_out / "demo_inputs"
    project = load_project(inputs / "project.yaml")
    return inputs, demo_out, {c.name: run_city(c, project) for c in project.cities}


def test_assumptions_reproduce_published_city_index_and_seed_statements():
    a = load_assumptions()
    dims = [d.slug for d in load_radar().dimensions]
    targets = pd.DataFrame(a["city_targets"]).T[dims]
    for city, value in PUBLISHED_INDEX.items():
        assert targets.loc[city].mean() == pytest.approx(value, abs=0.005)
    # differences the study states explicitly (section III.1 (3) and III.2)
    assert targets["soziale_netze"].max() - targets["soziale_netze"].min() == pytest.approx(14.00)
    assert targets["gerechtigkeitsempfinden"].max() - targets["gerechtigkeitsempfinden"].min() == pytest.approx(10.96)
    spread = targets["akzeptanz_von_diversitaet"].max() - targets["akzeptanz_von_diversitaet"].min()
    assert spread == pytest.approx(8.43)
    assert (targets["identifikation"] > 80).all()
    ranks = targets.rank(ascending=False)
    assert (ranks.loc["Rostock"] == 1).sum() == 5
    assert (ranks.loc["Dessau-Roßlau"] == 4).sum() == 7


def test_population_sums_to_published_city_totals():
    a = load_assumptions()
    for city in a["cities"]:
        pop = city_population(city, a)
        adults = pop["population"].sum()
        assert adults == pytest.approx(POPULATION[city["name"]] * a["adult_share_default"], abs=len(city["districts"]))
        assert pop["district_id"].nunique() == DISTRICT_COUNTS[city["name"]]
        assert (pop["population"] > 0).all()


def test_sample_design_matches_the_study(demo):
    inputs, _, _ = demo
    for city in load_assumptions()["cities"]:
        survey = pd.read_csv(inputs / f"survey_{city['slug']}.csv", dtype={"district_id": str})
        assert len(survey) == SAMPLE_SIZES[city["name"]]
        assert survey["district_id"].nunique() == DISTRICT_COUNTS[city["name"]]
    dortmund = pd.read_csv(inputs / "survey_dortmund.csv", dtype={"district_id": str})
    weights = dortmund.groupby("district_id")["design_weight"].first()
    boost = ["060", "070", "080"]  # Brackel, Aplerbeck, Hörde: lower design weights (boost sample)
    assert weights[boost].max() < weights.drop(boost).min()


def test_weighted_city_index_lands_near_published_values_and_order_holds(demo):
    _, _, results = demo
    computed = {}
    for city, res in results.items():
        row = res.city_estimates.set_index("variable").loc["index"]
        computed[city] = row["estimate"]
        assert abs(row["estimate"] - PUBLISHED_INDEX[city]) <= 1.5, city
    assert sorted(computed, key=computed.get, reverse=True) == ["Lippstadt", "Rostock", "Dortmund", "Dessau-Roßlau"]


def test_within_city_patterns_from_the_seed(demo):
    _, _, results = demo
    est = results["Dortmund"].district_estimates.set_index(["district_id", "variable"])["estimate"]
    north = ["020", "040", "050"]        # Innenstadt-Nord, Eving, Scharnhorst
    south = ["070", "080"]               # Aplerbeck, Hörde
    assert max(est[(d, "index")] for d in north) < min(est[(d, "index")] for d in south)
    rostock = results["Rostock"].district_estimates.set_index(["district_id", "variable"])["estimate"]
    assert rostock[("14", "index")] > rostock[("04", "index")]  # Stadtmitte above Groß Klein


def test_unweighted_and_weighted_differ_because_of_nonresponse(demo):
    inputs, _, results = demo
    survey = pd.read_csv(inputs / "survey_rostock.csv")
    young_share_sample = (survey["age_group"] == "18-34").mean()
    pop = pd.read_csv(inputs / "population_rostock.csv")
    young_share_pop = pop.loc[pop["age_group"] == "18-34", "population"].sum() / pop["population"].sum()
    assert young_share_sample < young_share_pop - 0.03  # young people answer less (assumed propensities)


def test_same_seed_gives_byte_identical_inputs_tables_and_maps(tmp_path, demo):
    """Figures are compared byte for byte in test_figures and test_parallel; here: inputs, tables,
    HTML maps and the reports (HTML and PDF), computed and written one after another here and by
    worker processes in the shared demo run (cities, reports)."""
    inputs, out, _ = demo
    again_in = tmp_path / "in"
    project = override(load_project(write_demo_inputs(again_in)), {"maps": {"figures": False, "figure_workers": 1},
                                                                     "estimates": {"workers": 1}})
    run_project(project, tmp_path / "out")

    def digest(folder):
        return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith(".")
                and "demo_inputs" not in p.relative_to(folder).parts
                and (p.suffix in {".csv", ".json", ".html", ".gpkg"}
                     or p.suffix == ".pdf" and p.relative_to(folder).parts[0] == "report")}

    assert digest(again_in) == digest(inputs)
    assert digest(tmp_path / "out") == digest(out)
    assert any(name.endswith(".html") for name in digest(out))
    assert sum(name.startswith("report/profiles/") and name.endswith(".pdf") for name in digest(out)) > 50
    other = tmp_path / "other"
    write_demo_inputs(other, seed=1)
    assert (other / "survey_dortmund.csv").read_bytes() != (inputs / "survey_dortmund.csv").read_bytes()


def test_every_demo_table_is_labelled_synthetic(demo):
    inputs, out, _ = demo
    for name in ("district_estimates.csv", "city_estimates.csv", "group_estimates.csv"):
        table = pd.read_csv(out / "tables" / name)
        assert (table["note"] == "synthetische Demodaten").all()
    assert "synthetische Demodaten" in (out / "tables" / "metadata.json").read_text(encoding="utf-8")
    structural = pd.read_csv(inputs / "structural_dortmund.csv", dtype={"district_id": str})
    assert (structural["note"] == "synthetische Demodaten").all()
    # seed facts are carried into the structural data
    by_name = structural.set_index("district_name")
    assert by_name.loc["Innenstadt-Nord", "migration_share_pct"] == 70.4
    assert by_name.loc["Aplerbeck", "migration_share_pct"] == 20.0
    lippstadt = pd.read_csv(inputs / "structural_lippstadt.csv").set_index("district_name")
    assert lippstadt.loc["Kernstadt", "sgb2_share_pct"] == 11.4
