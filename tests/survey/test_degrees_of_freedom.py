"""Degrees of freedom of direct estimates and "missing, not zero" (geo_cohesion.survey.estimates).

References: Korn & Graubard (1999), sec. 5.2: domain df = respondents (PSUs) of the domain minus
the strata they lie in, counted by hand here; the Student t quantile from scipy; R ``degf()`` of a
stratified single-stage design is n - H.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import make_survey
from scipy import stats

from geo_cohesion.survey.design import SurveyDesign
from geo_cohesion.survey.estimates import domain_degrees_of_freedom


def stratified() -> pd.DataFrame:
    """Three strata; district A lies in strata s1 and s2, B in s2 only, C in s3 (2 respondents),
    D has one respondent; y has a missing value in A."""
    rows = ([("A", "s1")] * 6 + [("A", "s2")] * 4 + [("B", "s2")] * 5 + [("C", "s3")] * 2 + [("D", "s3")]
            + [("E", "s1"), ("E", "s3")])
    frame = pd.DataFrame(rows, columns=["district", "stratum"])
    rng = np.random.default_rng(5)
    frame["y"] = rng.uniform(0, 100, len(frame))
    frame.loc[0, "y"] = np.nan
    frame["w"] = 10.0
    return frame


def test_domain_df_is_respondents_with_a_value_minus_their_strata():
    frame = stratified()
    est = SurveyDesign(frame, weight="w", strata="stratum").domain_means("y", "district", min_n=0).set_index("district")
    # A: 9 values (one missing) in 2 strata; B: 5 in 1; C: 2 in 1; D: 1 value -> no df;
    # E: 2 values in 2 strata -> 0, floored at 1
    assert est["df"].to_dict() == pytest.approx({"A": 7, "B": 4, "C": 1, "D": np.nan, "E": 1}, nan_ok=True)
    q = stats.t.ppf(0.975, est.loc["A", "df"])
    assert est.loc["A", "ci_high"] - est.loc["A", "estimate"] == pytest.approx(q * est.loc["A", "se"], rel=1e-12)


def test_city_df_is_the_design_df_n_minus_h():
    frame = stratified()
    city = SurveyDesign(frame, weight="w", strata="stratum").means("y")
    assert city.loc[0, "df"] == (len(frame) - 1) - 3       # respondents with a value minus strata (R degf)
    q = stats.t.ppf(0.975, city.loc[0, "df"])
    assert city.loc[0, "ci_low"] == pytest.approx(city.loc[0, "estimate"] - q * city.loc[0, "se"], rel=1e-12)


def test_domain_df_never_exceeds_the_design_df():
    observed = np.ones((6, 1), dtype=bool)
    domain = np.zeros(6, dtype=np.intp)
    strata = np.array([0, 0, 1, 1, 2, 2])
    assert domain_degrees_of_freedom(observed, domain, 1, strata)[0, 0] == 3    # = n - H
    observed[[1, 3], 0] = False   # a stratum left with one value each: design df 4 - 3 = 1
    assert domain_degrees_of_freedom(observed, domain, 1, strata)[0, 0] == 1


@pytest.mark.parametrize("raked", [False, True])
def test_fewer_than_two_values_give_missing_not_zero(raked):
    frame, margins = make_survey(n=200, n_districts=4, seed=8)
    frame.loc[frame.index[1:], "district"] = frame["district"].iloc[1:].replace("D03", "D02")
    frame.loc[0, "district"] = "D03"                       # D03: one respondent
    frame.loc[frame["district"] == "D01", "z"] = np.nan     # D01: nobody answered z
    margins["district"].update({"D03": 500.0, "D02": margins["district"]["D02"] + margins["district"]["D03"] - 500})
    design = SurveyDesign(frame, weight="design_weight")
    if raked:
        design = design.rake(margins)
    est = design.domain_means(["y", "z"], "district", min_n=0).set_index(["district", "variable"])
    one = est.loc[("D03", "y")]
    assert one["n"] == 1 and one["estimate"] == pytest.approx(frame.loc[0, "y"])
    assert np.isnan(one["se"]) and np.isnan(one["ci_low"]) and np.isnan(one["ci_high"]) and np.isnan(one["df"])
    none = est.loc[("D01", "z")]
    assert none["n"] == 0 and np.isnan(none["estimate"]) and np.isnan(none["se"]) and np.isnan(none["ci_low"])
    others = est.drop(index=[("D03", "y"), ("D03", "z"), ("D01", "z")])
    assert (others["se"] > 0).all() and others["df"].notna().all()
    assert not (est["se"] == 0).any()


def test_normal_reference_is_still_available():
    frame, _ = make_survey(n=120, n_districts=3, seed=2)
    design = SurveyDesign(frame, weight="design_weight")
    t_ci = design.domain_means("y", "district")
    z_ci = design.domain_means("y", "district", reference="normal")
    pd.testing.assert_series_equal(t_ci["se"], z_ci["se"])
    pd.testing.assert_series_equal(t_ci["df"], z_ci["df"])
    np.testing.assert_allclose(z_ci["ci_high"] - z_ci["estimate"], stats.norm.ppf(0.975) * z_ci["se"], rtol=1e-12)
    assert ((t_ci["ci_high"] - t_ci["ci_low"]) > (z_ci["ci_high"] - z_ci["ci_low"])).all()
    with pytest.raises(Exception, match="unknown reference"):
        design.domain_means("y", "district", reference="cauchy")
