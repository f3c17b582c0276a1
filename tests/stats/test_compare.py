"""Within-city comparison (geo_cohesion.stats.compare) against independent references.

* Deviations and their SEs: R survey 4.1-1 ``svycontrast(svytotal(...), quote(yd/ind - yy/one))``
  (tests/reference/r_contrast_reference.R / .json) for a fixed-weight and a raked design.
* Holm and Benjamini-Hochberg: R 4.2.2 ``p.adjust`` on the p-values below.
* Correlation/regression: numpy/scipy closed forms.
* Rank intervals: analytic normal probabilities.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE, make_survey
from scipy import stats

from geo_cohesion.stats.association import structural_association, weighted_correlation, weighted_regression
from geo_cohesion.stats.compare import deviations_from_city, rank_intervals, spread, variance_decomposition
from geo_cohesion.stats.multiple_testing import benjamini_hochberg, holm
from geo_cohesion.survey.design import SurveyDesign

# R 4.2.2: p <- c(0.01, 0.04, 0.03, 0.005, 0.2, 0.04); p.adjust(p, "holm"); p.adjust(p, "BH")
P = [0.01, 0.04, 0.03, 0.005, 0.2, 0.04]
R_HOLM = [0.05, 0.12, 0.12, 0.03, 0.2, 0.12]
R_BH = [0.03, 0.048, 0.048, 0.03, 0.2, 0.048]


def test_holm_and_bh_match_r_p_adjust():
    np.testing.assert_allclose(holm(P), R_HOLM, rtol=1e-12)
    np.testing.assert_allclose(benjamini_hochberg(P), R_BH, rtol=1e-12)
    with_nan = holm([0.01, np.nan, 0.04])
    assert np.isnan(with_nan[1]) and with_nan[0] == pytest.approx(0.02)


@pytest.mark.parametrize("design_name", ["fixed", "calibrate"])
def test_deviation_from_city_matches_r_svycontrast(design_name, small_survey, small_margins):
    ref = json.loads((REFERENCE / "r_contrast_reference.json").read_text(encoding="utf-8"))
    design = SurveyDesign(small_survey, weight="design_weight", strata="stratum")
    if design_name == "calibrate":
        design = design.rake(small_margins, tol=1e-13)
    table = deviations_from_city(design, ["y1", "y3"], "district", min_n=0)
    normal = deviations_from_city(design, ["y1", "y3"], "district", min_n=0, reference="normal")
    rows = [r for r in ref["rows"] if r["design"] == design_name]
    assert len(rows) == 12
    for r in rows:
        pick = (table["district"] == r["district"]) & (table["variable"] == r["variable"])
        ours = table[pick].iloc[0]
        assert ours["deviation"] == pytest.approx(r["deviation"], rel=1e-8)
        assert ours["se"] == pytest.approx(r["se"], rel=1e-6)
        z = abs(r["deviation"] / r["se"])
        assert normal[pick].iloc[0]["p_value"] == pytest.approx(2 * stats.norm.sf(z), rel=1e-6)
        # t reference with the district's df: respondents of the district minus the strata they lie in
        rows_d = small_survey[small_survey["district"] == r["district"]]
        df = len(rows_d) - rows_d["stratum"].nunique()
        assert ours["df"] == df
        assert ours["p_value"] == pytest.approx(2 * stats.t.sf(z, df), rel=1e-6)


def test_deviation_se_smaller_than_naive_sum_because_district_is_part_of_city():
    frame, margins = make_survey(n=600, n_districts=3, seed=9)
    design = SurveyDesign(frame, weight="design_weight").rake(margins)
    dev = deviations_from_city(design, "y", "district", min_n=0)
    means = design.domain_means("y", "district")
    city = design.means("y")
    naive = np.sqrt(means["se"].to_numpy() ** 2 + city.loc[0, "se"] ** 2)
    assert (dev["se"].to_numpy() < naive).all()


def test_significance_flags_use_adjusted_p_and_skip_suppressed():
    frame, margins = make_survey(n=500, n_districts=5, seed=10)
    frame.loc[frame["district"] == "D00", "y"] += 25  # a clearly higher district
    design = SurveyDesign(frame, weight="design_weight")
    dev = deviations_from_city(design, "y", "district", adjust="holm", min_n=0)
    assert bool(dev.set_index("district").loc["D00", "significant"])
    assert (dev["p_adjusted"] >= dev["p_value"]).all()
    dev_suppressed = deviations_from_city(design, "y", "district", min_n=10_000)
    assert dev_suppressed["p_value"].isna().all() and not dev_suppressed["significant"].any()


def test_rank_intervals_by_analytic_probabilities():
    # A vs C: P(C > A) = Phi(-1/sqrt(2)) = 0.24 -> both may be first or second; B is surely third
    out = rank_intervals([60.0, 50.0, 59.0], [1.0, 1.0, 1.0], n_draws=20_000, seed=1)
    assert out["rank"].tolist() == [1, 3, 2]
    assert out.loc[0, ["rank_low", "rank_high"]].tolist() == [1, 2]
    assert out.loc[1, ["rank_low", "rank_high"]].tolist() == [3, 3]
    assert out.loc[2, ["rank_low", "rank_high"]].tolist() == [1, 2]
    wide = rank_intervals([50.0] * 5, [10.0] * 5, seed=2)
    assert (wide["rank_low"] == 1).all() and (wide["rank_high"] == 5).all()
    missing = rank_intervals([50.0, np.nan], [1.0, 1.0])
    assert np.isnan(missing.loc[1, "rank"])
    again = rank_intervals([60.0, 50.0, 59.0], [1, 1, 1], seed=5)
    assert rank_intervals([60.0, 50.0, 59.0], [1, 1, 1], seed=5).equals(again)


def test_spread_names_the_spanning_districts():
    table = pd.DataFrame({"district_id": ["a", "b", "c", "d"], "district_name": ["A", "B", "C", "D"],
                          "variable": "index", "estimate": [50.0, 62.0, 58.0, 99.0],
                          "suppressed": [False, False, False, True]})
    row = spread(table).iloc[0]
    assert (row["min"], row["max"], row["range"], row["lowest"], row["highest"]) == (50.0, 62.0, 12.0, "A", "B")


def test_variance_decomposition_by_hand():
    frame = pd.DataFrame({"g": ["a"] * 4 + ["b"] * 4, "y": [1.0, 3.0, 1.0, 3.0, 11.0, 13.0, 11.0, 13.0]})
    out = variance_decomposition(SurveyDesign(frame), "y", "g").iloc[0]
    # means 2 and 12, overall 7: between = 25, within = 1, total = 26
    assert out["between"] == pytest.approx(25.0) and out["within"] == pytest.approx(1.0)
    assert out["total"] == pytest.approx(26.0)
    assert 0 <= out["between_corrected"] < out["between"]
    # a score every respondent gave alike has no shares (was a divide-by-zero warning on the console)
    with np.errstate(all="raise"):
        flat = variance_decomposition(SurveyDesign(frame.assign(y=5.0)), "y", "g").iloc[0]
    assert flat["total"] == 0.0 and np.isnan(flat["share_between"]) and np.isnan(flat["share_between_corrected"])


def test_weighted_correlation_and_regression_against_closed_forms():
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 40, 25)
    y = 70 - 0.3 * x + rng.normal(0, 2, 25)
    corr = weighted_correlation(x, y)
    assert corr["r"] == pytest.approx(np.corrcoef(x, y)[0, 1])
    z = np.arctanh(corr["r"])
    assert corr["ci_low"] == pytest.approx(np.tanh(z - 1.959964 / np.sqrt(22)), rel=1e-6)
    reg = weighted_regression(x, y)
    ref = stats.linregress(x, y)
    assert reg["slope"] == pytest.approx(ref.slope) and reg["slope_se"] == pytest.approx(ref.stderr)
    w = rng.uniform(1, 5, 25)
    weighted = weighted_regression(x, y, w)
    assert weighted["slope"] == pytest.approx(np.polyfit(x, y, 1, w=np.sqrt(w))[0])
    assert weighted_correlation(x, y, w * 7)["r"] == pytest.approx(weighted_correlation(x, y, w)["r"])


def test_structural_association_says_when_few_districts():
    est = pd.DataFrame({"district_id": list("abcdefgh"), "variable": "index",
                        "estimate": [60, 58, 57, 55, 54, 52, 51, 49.0], "suppressed": False})
    structural = pd.DataFrame({"district_id": list("abcdefgh"), "sgb2_share_pct": [5, 8, 9, 12, 15, 16, 20, 24.0],
                               "population_total": [1000] * 8})
    out = structural_association(est, structural, ["sgb2_share_pct"]).iloc[0]
    assert out["r"] < -0.9 and out["slope"] < 0 and out["n_districts"] == 8
    assert "nur 8 Bezirke" in out["note"]
    assert out["r_ci_low"] < out["r"] < out["r_ci_high"]
    # the same correlation from ten times as many districts gives a much narrower interval
    many = weighted_correlation(np.tile(structural["sgb2_share_pct"], 10), np.tile(est["estimate"], 10))
    assert (many["ci_high"] - many["ci_low"]) < 0.5 * (out["r_ci_high"] - out["r_ci_low"])


def test_structural_association_without_r_says_so_not_that_the_interval_is_wide():
    """With 2 published districts there is no r and no interval: the note must not call it 'wide'."""
    est = pd.DataFrame({"district_id": list("abc"), "variable": "index", "estimate": [60, 58, 57.0],
                        "suppressed": [False, False, True]})
    structural = pd.DataFrame({"district_id": list("abc"), "sgb2_share_pct": [5, 8, 9.0]})
    out = structural_association(est, structural, ["sgb2_share_pct"], lang="en").iloc[0]
    assert np.isnan(out["r"]) and out["n_districts"] == 2
    assert out["note"] == "only 2 district(s) with a published value: no correlation computed"


@pytest.mark.parametrize("min_n", [0, 1, 2])
def test_one_respondent_district_is_never_significant(min_n):
    """A district with a single (extreme) respondent has no variance estimate: its SE, z, p and df
    are missing whatever min_n is, and it does not enter the Holm family of the others."""
    frame, margins = make_survey(n=400, n_districts=4, seed=12)
    frame.loc[frame["district"] == "D03", "district"] = "D02"
    frame.loc[0, ["district", "y"]] = ["D03", 100.0]
    dev = deviations_from_city(SurveyDesign(frame, weight="design_weight"), "y", "district", min_n=min_n)
    one = dev.set_index("district").loc["D03"]
    assert one["n"] == 1 and one["deviation"] > 40
    assert np.isnan(one["se"]) and np.isnan(one["se_mean"]) and np.isnan(one["z"]) and np.isnan(one["df"])
    assert np.isnan(one["p_value"]) and np.isnan(one["p_adjusted"]) and not one["significant"]
    others = dev[dev["district"] != "D03"]
    np.testing.assert_allclose(others["p_adjusted"], holm(others["p_value"]))


def test_deviation_test_uses_t_with_the_districts_df():
    frame, _ = make_survey(n=60, n_districts=4, seed=13)
    frame.loc[frame["district"] == "D00", "y"] += 15
    design = SurveyDesign(frame, weight="design_weight")
    t_ref = deviations_from_city(design, "y", "district", min_n=0)
    z_ref = deviations_from_city(design, "y", "district", min_n=0, reference="normal")
    counts = frame["district"].value_counts()
    assert t_ref.set_index("district")["df"].to_dict() == (counts - 1).to_dict()
    np.testing.assert_allclose(t_ref["p_value"], 2 * stats.t.sf(np.abs(t_ref["z"]), t_ref["df"]), rtol=1e-12)
    np.testing.assert_allclose(z_ref["p_value"], 2 * stats.norm.sf(np.abs(z_ref["z"])), rtol=1e-12)
    assert (t_ref["p_value"] > z_ref["p_value"]).all()


def test_rank_intervals_with_t_draws_and_missing_se():
    # t with 2 df has much heavier tails than the normal: the rank intervals widen
    normal = rank_intervals([60.0, 55.0, 50.0], [1.5, 1.5, 1.5], n_draws=20_000, seed=3)
    heavy = rank_intervals([60.0, 55.0, 50.0], [1.5, 1.5, 1.5], n_draws=20_000, seed=3, df=[2, 2, 2])
    assert normal["rank_high"].tolist() == [1, 2, 3] and heavy["rank_high"].tolist() == [2, 3, 3]
    # df = inf is the normal; a district without SE (one respondent) gets no rank and is not ranked against
    inf = rank_intervals([60.0, 55.0, 50.0], [1.5, 1.5, 1.5], n_draws=20_000, seed=3, df=[np.inf] * 3)
    assert inf[["rank_low", "rank_high"]].equals(normal[["rank_low", "rank_high"]])
    missing = rank_intervals([60.0, 99.0, 50.0], [1.0, np.nan, 1.0], df=[10, np.nan, 10])
    assert missing["rank"].tolist()[0::2] == [1, 2] and missing.loc[1].isna().all()


def test_association_without_usable_districts_keeps_its_columns():
    """Every district suppressed (a city below the reliability threshold): an empty table, not a crash."""
    estimates = pd.DataFrame({"district_id": ["1", "2"], "variable": "index", "estimate": [60.0, 61.0],
                              "suppressed": True})
    structural = pd.DataFrame({"district_id": ["1", "2"], "sgb2_share_pct": [5.0, 9.0]})
    out = structural_association(estimates, structural, ["sgb2_share_pct"])
    assert out.empty and {"variable", "indicator", "r"} <= set(out.columns)


def test_rank_open_means_an_interval_over_every_rank():
    from geo_cohesion.stats.compare import rank_open

    low = np.array([1.0, 1.0, 2.0, np.nan, 1.0])
    high = np.array([5.0, 4.0, 5.0, np.nan, 6.0])
    assert rank_open(low, high, 5).tolist() == [True, False, False, False, True]
    assert not rank_open([1.0, 1.0], [2.0, 2.0], 2).any()  # two districts: 1-2 is still a ranking
    assert bool(rank_open(1.0, 3.0, 3)) and not bool(rank_open(1.0, 2.0, 3))


def test_constant_indicator_has_no_correlation_and_no_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a 0/0 RuntimeWarning printed lines on every run's stderr
        corr = weighted_correlation([5.0, 5.0, 5.0, 5.0], [1.0, 3.0, 2.0, 4.0], [1.0, 2.0, 1.0, 1.0])
    assert np.isnan(corr["r"]) and np.isnan(corr["ci_low"]) and corr["n"] == 4
