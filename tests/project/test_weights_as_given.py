"""``weighting: {method: none}``: the survey's weights used as they are, without a population table.

References: the weighted district means are recomputed here by hand from the survey file
(sum(w y) / sum(w) of the scored index); the SEs must equal those of an uncalibrated
:class:`SurveyDesign`, whose linearisation is checked against R survey's ``svydesign`` +
``svyby(svymean)`` in tests/survey/test_estimation.py (``r_reference["fixed"]``).
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import write_small_city

from geo_cohesion.errors import InputError
from geo_cohesion.project.config import load_project
from geo_cohesion.project.run import run_project
from geo_cohesion.radar.codebook import load_codebook
from geo_cohesion.radar.scoring import score_respondents
from geo_cohesion.survey.design import SurveyDesign


def _as_given_config(tmp_path, **weighting) -> tuple:
    config = write_small_city(tmp_path / "inputs")
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    city = raw["cities"][0]
    del city["population"]
    city["weighting"] = {"method": "none", **weighting}
    config.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return config, raw


def test_weights_as_given_need_no_population_and_are_not_calibrated(tmp_path):
    config, _ = _as_given_config(tmp_path)
    out = tmp_path / "out"
    results = run_project(load_project(config), out, maps=False, reports=True)
    districts = results[0].district_estimates
    index = districts[districts["variable"] == "index"].set_index("district_id")

    survey = pd.read_csv(tmp_path / "inputs" / "befragung.csv", dtype={"bezirk": str})
    scores = score_respondents(survey, load_codebook())
    frame = pd.DataFrame({"district": survey["bezirk"], "w": survey["designgewicht"], "y": scores["index"]}).dropna()
    by_hand = frame.assign(wy=frame["w"] * frame["y"]).groupby("district")[["wy", "w"]].sum()
    by_hand = by_hand["wy"] / by_hand["w"]
    direct = index[index["estimator"] == "direct"] if "estimator" in index else index
    assert len(direct) > 0
    np.testing.assert_allclose(direct["estimate"], by_hand[direct.index], rtol=1e-12)

    data = pd.concat([survey, scores.add_prefix("score__")], axis=1)
    reference = SurveyDesign(data, weight="designgewicht").domain_means("score__index", "bezirk").set_index("bezirk")
    np.testing.assert_allclose(direct["se"], reference.loc[direct.index, "se"], rtol=1e-10)

    diagnostics = pd.read_csv(out / "tables" / "weighting_diagnostics.csv")
    assert diagnostics.loc[0, "iterations"] == 0
    assert diagnostics.loc[0, "g_min"] == diagnostics.loc[0, "g_max"] == 1
    w = survey["designgewicht"].to_numpy()
    assert diagnostics.loc[0, "deff_kish"] == pytest.approx(len(w) * (w ** 2).sum() / w.sum() ** 2, rel=1e-9)
    meta = json.loads((out / "tables" / "metadata.json").read_text(encoding="utf-8"))
    assert "as given" in next(iter(meta["weighting"].values()))
    report = next((out / "report").glob("*.html")).read_text(encoding="utf-8")
    assert "ohne erneute Anpassung an die Bevölkerung" in report
    assert "per Raking" not in report


def test_raking_without_population_names_the_alternative(tmp_path):
    config, raw = _as_given_config(tmp_path)
    raw["cities"][0]["weighting"] = {"method": "raking"}
    config.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_project(config)
    assert "no 'population' table" in str(err.value) and "method: none" in str(err.value)


def test_a_population_table_that_would_not_be_used_is_an_error(tmp_path):
    config, raw = _as_given_config(tmp_path)
    raw["cities"][0]["population"] = {"path": "bevoelkerung.csv", "district_column": "bezirk",
                                      "age_column": "altersgruppe", "gender_column": "geschlecht",
                                      "population_column": "einwohner"}
    config.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_project(config)
    assert "would not be used" in str(err.value)



def test_a_district_without_respondents_comes_from_the_structural_table(tmp_path):
    config, _ = _as_given_config(tmp_path)
    survey_path = tmp_path / "inputs" / "befragung.csv"
    survey = pd.read_csv(survey_path, dtype={"bezirk": str})
    empty = sorted(survey["bezirk"].unique())[3]
    survey[survey["bezirk"] != empty].to_csv(survey_path, index=False)
    results = run_project(load_project(config), tmp_path / "out", maps=False, reports=False)
    districts = results[0].district_estimates
    row = districts[(districts["variable"] == "index") & (districts["district_id"] == empty)]
    assert len(row) == 1 and row["n"].iloc[0] == 0
    assert row["estimator"].iloc[0] == "synthetic" and np.isfinite(row["estimate"].iloc[0])
    assert row["ci_low"].iloc[0] < row["estimate"].iloc[0] < row["ci_high"].iloc[0]
