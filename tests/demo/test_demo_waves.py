"""The demo's synthetic earlier wave (demo/assumptions.yaml ``earlier_wave``) and the need/change outputs."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from geo_cohesion.demo.assumptions import load_assumptions
from geo_cohesion.demo.synthetic import (
    SYNTHETIC_NOTE,
    city_population,
    earlier_wave_changes,
    earlier_wave_inputs,
    generate_city_survey,
)
from geo_cohesion.radar.codebook import load_codebook
from geo_cohesion.radar.scoring import score_respondents

SLUGS = ["dortmund", "lippstadt", "rostock", "dessau-rosslau"]


def test_earlier_wave_follows_the_stated_changes():
    """Dortmund: the district means of the generated waves differ by the assumed (centred) changes,
    within sampling error. Checked on plain respondent means of the index per district against the
    population-weighted centred changes; the model's person noise makes a district mean's SE about
    1.1 points, so the change's about 1.6."""
    assumptions = load_assumptions()
    city = assumptions["cities"][0]
    seed = assumptions["meta"]["seed"]
    population = city_population(city, assumptions)
    later = generate_city_survey(city, assumptions, population, np.random.default_rng([seed, 0]))
    earlier, structural, changes = earlier_wave_inputs(city, assumptions, population,
                                                       np.random.default_rng([seed, 0, 1]))
    assert changes == earlier_wave_changes(city, assumptions, np.random.default_rng([seed, 0, 1]))
    assert changes["020"] == -4.0 and changes["070"] == 3.0  # named in the assumptions
    codebook = load_codebook()
    means = {name: frame.assign(index=score_respondents(frame, codebook)["index"]).groupby("district_id")["index"]
             .mean() for name, frame in (("later", later), ("earlier", earlier))}
    observed = (means["later"] - means["earlier"]).reindex(list(changes))
    adults = population.groupby("district_id")["population"].sum().reindex(list(changes)).to_numpy(float)
    assumed = np.array(list(changes.values()))
    city_change = assumptions["earlier_wave"]["city_change"]["Dortmund"]
    expected = assumed - (adults * assumed).sum() / adults.sum() + city_change
    # unweighted respondent means also carry the age/gender mix; allow 3 SE of a change per district
    assert np.abs(observed.to_numpy() - expected).max() < 5.0
    assert np.corrcoef(observed.to_numpy(), expected)[0, 1] > 0.7
    # the structural table of the earlier year is labelled synthetic and lower by the stated change on average
    main = pd.DataFrame(city["districts"])
    assert (structural["note"] == SYNTHETIC_NOTE).all()
    drop = (main["sgb2_share_pct"] - structural["sgb2_share_pct"]).mean()
    assert drop == pytest.approx(assumptions["earlier_wave"]["structural_change"]["sgb2_share_pct"], abs=0.4)


@pytest.mark.slow
@pytest.mark.parametrize("slug", SLUGS)
def test_demo_writes_need_change_and_layers_for_every_city(demo_out, slug):
    need = pd.read_csv(demo_out / "tables" / f"need_{slug}.csv", dtype={"district_id": str})
    for column in ("need_score", "need_class", "class_stability", "dynamics_class", "status_dynamics", "priority"):
        assert column in need.columns
    assert need["need_class"].notna().all()
    change = pd.read_csv(demo_out / "tables" / f"change_{slug}.csv", dtype={"district_id": str, "wave_from": str,
                                                                            "wave_to": str})
    assert set(change["wave_from"]) == {"2015"} and set(change["wave_to"]) == {"2017"}
    assert set(change["district_id"]) == set(need["district_id"])
    assert (change["note"] == SYNTHETIC_NOTE).all()
    html = (demo_out / f"{slug}.html").read_text(encoding="utf-8")
    payload = json.loads(re.search(r"var DATA = (\{.*?\});\n", html, re.S).group(1))
    keys = {layer["key"] for layer in payload["layers"]}
    assert {"need_class", "dynamics_class", "status_dynamics", "index__change"} <= keys
    need_layer = next(layer for layer in payload["layers"] if layer["key"] == "need_class")
    assert all("Klassenstabilität" in d for d in need_layer["detail"] if d)
    for variable in ("need_class", "dynamics_class", "status_dynamics"):
        assert (demo_out / "figures" / f"{slug}_{variable}.png").exists()
