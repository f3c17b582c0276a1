"""The pipeline's default small-area path (random group effects) on inputs other than the demo:
group columns holding numbers, score tables off the 0-100 scale (robustness sweep of issue #14)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import SMALL_GROUPS, write_small_city

from geo_cohesion.cli import main
from geo_cohesion.project.config import load_project
from geo_cohesion.project.inputs import resolve_groups, structural_indicators
from geo_cohesion.project.small_area import candidate_covariates


def test_numeric_group_column_is_not_a_model_covariate(tmp_path):
    """Group codes 1, 2, 3 in the structural table were a covariate candidate (and got selected)."""
    config = write_small_city(tmp_path)
    structural = pd.read_csv(tmp_path / "strukturdaten.csv", dtype={"bezirk": str})
    code = {d: k for k, members in enumerate(SMALL_GROUPS.values(), start=1) for d in members}
    structural["sozialraum"] = structural["bezirk"].map(code)
    structural.to_csv(tmp_path / "strukturdaten.csv", index=False)
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    del settings["cities"][0]["groups"]
    settings["cities"][0]["group_column"] = "sozialraum"
    config.write_text(yaml.safe_dump(settings, allow_unicode=True, sort_keys=False), encoding="utf-8")
    project = load_project(config)
    city = resolve_groups(project.cities[0], project)
    assert sorted(city.groups) == ["1", "2", "3"]
    covariates, _ = candidate_covariates(city, structural, None)
    assert list(covariates.columns) == ["migration_share_pct", "unemployment_pct", "sgb2_share_pct"]
    # named explicitly, the user gets what they asked for
    named, _ = candidate_covariates(city, structural, ["sozialraum"])
    np.testing.assert_array_equal(named["sozialraum"], structural["sozialraum"])
    # nor a structural indicator (maps, association with the scores)
    registry, _ = structural_indicators(city, structural)
    assert "sozialraum" not in registry.columns and "unemployment_pct" in registry.columns


def test_score_table_off_the_scale_is_one_error_and_writes_nothing(tmp_path, capsys):
    ids = [f"{i:02d}" for i in range(1, 9)]
    scores = pd.DataFrame({"district_id": ids, "variable": "index", "estimate": [61.0] * 7 + [140.0],
                           "se": 2.0, "n": 40})
    scores.to_csv(tmp_path / "scores.csv", index=False)
    config = {"title": "T", "note": "synthetische Testdaten", "seed": 1, "maps": {"figures": False},
              "cities": [{"name": "Scorestadt", "scores": {"path": "scores.csv"},
                          "groups": {"A": ids[:4], "B": ids[4:]}}]}
    (tmp_path / "project.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    assert main(["run", str(tmp_path / "project.yaml"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err
    assert "scores.csv, line 9, column 'estimate'" in err and "estimate 140 of district '08' (index)" in err
    assert not (tmp_path / "out" / "tables").exists()


@pytest.mark.slow
def test_group_without_respondents_runs_and_maps_it_without_data(tmp_path, capsys):
    """A whole group without respondents: its districts are merged for the weighting and modelled
    (synthetic + group effects elsewhere); the group map stopped the run with "'Nord' from the
    boundaries not found in the score table"."""
    config = write_small_city(tmp_path / "inputs")
    survey = pd.read_csv(tmp_path / "inputs" / "befragung.csv", dtype={"bezirk": str})
    survey[~survey["bezirk"].isin(SMALL_GROUPS["Nord"])].to_csv(tmp_path / "inputs" / "befragung.csv", index=False)
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert "Traceback" not in capsys.readouterr().err
    tables = tmp_path / "out" / "tables"
    districts = pd.read_csv(tables / "district_estimates.csv", dtype={"district_id": str})
    nord = districts[districts["district_id"].isin(SMALL_GROUPS["Nord"])]
    assert (nord["estimator"] == "synthetic").all() and (nord["n"] == 0).all()
    published = districts[~districts["suppressed"]]
    assert np.isfinite(published["estimate"]).all() and (published["mse"] > 0).all()
    assert set(pd.read_csv(tables / "group_estimates.csv")["group"]) == {"Mitte", "Süd"}
    assert (tmp_path / "out" / "musterstadt_gruppen.html").exists()


def test_row_order_of_a_score_table_does_not_change_the_bootstrap_mse(tmp_path):
    """The per-score bootstrap seed followed the scores' order in the table and the draws the
    structural table's district order: reordered rows changed the MSEs by up to 29 %."""
    from geo_cohesion.project.run import run_city

    rng = np.random.default_rng(1)
    ids = [f"{i:02d}" for i in range(1, 13)]
    n = rng.integers(8, 60, 12)
    scores = pd.concat([pd.DataFrame({"district_id": ids, "variable": v, "estimate": np.round(rng.normal(60, 4, 12), 2),
                                      "se": np.round(12 / np.sqrt(n), 3), "n": n}) for v in ("index", "verbundenheit")])
    structural = pd.DataFrame({"district_id": ids, "name": [f"Bezirk {d}" for d in ids],
                               "arbeitslos": np.round(rng.normal(8, 2, 12), 2)})
    tables = []
    for order, rows in (("given", slice(None)), ("reversed", slice(None, None, -1))):
        folder = tmp_path / order
        folder.mkdir()
        scores.iloc[rows].to_csv(folder / "scores.csv", index=False)
        structural.iloc[rows].to_csv(folder / "struktur.csv", index=False)
        config = {"title": "T", "note": "synthetische Testdaten", "seed": 1, "maps": {"figures": False},
                  "cities": [{"name": "Scorestadt", "scores": {"path": "scores.csv"},
                              "structural": {"path": "struktur.csv", "district_column": "district_id",
                                             "name_column": "name"},
                              "groups": {"A": ids[:4], "B": ids[4:8], "C": ids[8:]}}]}
        (folder / "project.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        project = load_project(folder / "project.yaml")
        result = run_city(project.cities[0], project)
        assert (result.models["mse_method"] == "bootstrap").all()
        tables.append(result.district_estimates.sort_values(["district_id", "variable"]).reset_index(drop=True))
    pd.testing.assert_series_equal(tables[0]["mse"], tables[1]["mse"], rtol=1e-9)
    pd.testing.assert_series_equal(tables[0]["estimate"], tables[1]["estimate"], rtol=1e-9)
