"""Weighting (geo_cohesion.survey.design) against R survey 4.1-1 and hand checks.

Reference values: tests/reference/r_survey_reference.json, produced by
tests/reference/r_survey_reference.R (R 4.2.2, survey 4.1.1) on tests/reference/survey_small.csv.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import make_survey

from geo_cohesion.errors import InputError
from geo_cohesion.survey.calibrate import kish_deff
from geo_cohesion.survey.design import SurveyDesign


def design(small_survey):
    return SurveyDesign(small_survey, weight="design_weight", strata="stratum")


def test_raked_weights_match_r_rake_and_calibrate(small_survey, small_margins, r_reference):
    raked = design(small_survey).rake(small_margins, tol=1e-13)
    ours = raked.weights.to_numpy()
    for name in ("rake", "calibrate"):  # R: rake(..., epsilon=1e-12) and calibrate(calfun="raking")
        theirs = np.array(r_reference[name]["weights"])
        np.testing.assert_allclose(ours, theirs, rtol=1e-8)


def test_bounded_raking_matches_r_bounded_calibrate(small_survey, small_margins, r_reference):
    ref = r_reference["calibrate_bounded"]  # calibrate(calfun="raking", bounds=c(0.5, 2))
    bounded = design(small_survey).rake(small_margins, tol=1e-13, bounds=tuple(ref["bounds"]))
    np.testing.assert_allclose(bounded.weights.to_numpy(), np.array(ref["weights"]), rtol=1e-8)
    g = bounded.weights / bounded.design_weights
    assert g.min() >= ref["bounds"][0] - 1e-12 and g.max() <= ref["bounds"][1] + 1e-12


def test_kish_deff_matches_r(small_survey, small_margins, r_reference):
    raked = design(small_survey).rake(small_margins, tol=1e-13)
    assert raked.diagnostics.deff_kish == pytest.approx(r_reference["kish"]["deff"], rel=1e-8)
    assert raked.diagnostics.n_eff == pytest.approx(r_reference["kish"]["n_eff"], rel=1e-8)
    assert kish_deff(np.ones(10)) == 1.0


def test_raking_reproduces_every_margin_and_reports_diagnostics():
    frame, margins = make_survey(seed=4)
    raked = SurveyDesign(frame, weight="design_weight").rake(margins)
    for column, totals in margins.items():
        sums = raked.weights.groupby(frame[column]).sum()
        for category, total in totals.items():
            assert sums[category] == pytest.approx(total, rel=1e-9)
    diag = raked.diagnostics
    assert diag.converged and diag.max_margin_error < 1e-10 and diag.iterations >= 2
    assert diag.weight_min == pytest.approx(raked.weights.min())
    assert diag.deff_kish >= 1.0 and diag.n_eff == pytest.approx(len(frame) / diag.deff_kish)
    # the original design is unchanged
    assert raked.design_weights.equals(SurveyDesign(frame, weight="design_weight").weights.rename("design_weight"))


def test_unreachable_bounds_give_a_clear_report():
    frame, margins = make_survey(seed=5)
    margins["gender"] = {"w": 90_000, "m": 10_000}  # far from the sample's 50:50
    with pytest.raises(InputError, match=r"bounds 0\.8–1\.25 make the margins unreachable.*margin"):
        SurveyDesign(frame, weight="design_weight").rake(margins, bounds=(0.8, 1.25), max_iter=200)


@pytest.mark.parametrize("change, message", [
    (lambda m: m["age_group"].update({"90+": 5000.0}) or m["age_group"].update({"18-34": 25000.0}),
     "'90\\+' of 'age_group' has population 5000 but no respondents"),
    (lambda m: m["gender"].update({"w": 60_000.0}), "margin totals disagree"),
    (lambda m: m["district"].pop("D01"), "survey category 'D01' of 'district' has no population total"),
    (lambda m: m["age_group"].update({"18–34": m["age_group"].pop("18-34")}),
     "'18-34' of 'age_group' has no population total; the population writes it '18–34'"),
    (lambda m: m["gender"].update({"w": 0}), "must be positive"),
    (lambda m: m.update({"bildung": {"a": 1}}), "margin column 'bildung' not found"),
])
def test_margin_errors(change, message):
    frame, margins = make_survey(seed=6)
    change(margins)
    with pytest.raises(InputError, match=message):
        SurveyDesign(frame, weight="design_weight").rake(margins)


@pytest.mark.parametrize("bad", [0.0, -3.0, np.nan, "abc"])
def test_non_positive_or_non_numeric_weights(bad):
    frame, _ = make_survey(n=20, seed=7)
    frame = frame.astype({"design_weight": object})
    frame.loc[5, "design_weight"] = bad
    with pytest.raises(InputError, match="design_weight|not a number"):
        SurveyDesign(frame, weight="design_weight")


def test_missing_margin_value_names_rows():
    frame, margins = make_survey(n=50, seed=8)
    frame.loc[[3, 9], "gender"] = np.nan
    with pytest.raises(InputError, match="rows 3, 9, column 'gender'"):
        SurveyDesign(frame, weight="design_weight").rake(margins)


def test_extreme_weights_are_reported_with_the_likely_cause():
    """A population margin read 1000x too small for one district gives a huge design effect: warned."""
    from geo_cohesion.survey.calibrate import weight_warnings

    frame, margins = make_survey(n=400, n_districts=5, seed=3)
    ok = SurveyDesign(frame, weight="design_weight").rake(margins)
    assert ok.diagnostics.warnings == ()
    skewed = {k: dict(v) for k, v in margins.items()}
    total = sum(skewed["district"].values())
    skewed["district"] = {k: (0.96 * total if k == "D00" else 0.01 * total) for k in skewed["district"]}
    raked = SurveyDesign(frame, weight="design_weight").rake(skewed)
    assert raked.diagnostics.deff_kish > 3
    assert "population table" in raked.diagnostics.warnings[0]
    assert "population table" in raked.diagnostics.as_dict()["warnings"]
    d = np.ones(100)
    assert "at the bounds" in weight_warnings(d, np.r_[np.full(10, 3.0), np.ones(90)], (0.5, 3.0))[0]
    assert weight_warnings(d, np.r_[np.full(2, 3.0), np.ones(98)], (0.5, 3.0)) == ()


def test_no_weight_column_is_said_to_be_unweighted(small_survey):
    """Weights used as given (``weighting.method: none``): no calibration; no weight column is said to be unweighted."""
    weighted = SurveyDesign(small_survey, weight="design_weight").as_given()
    assert weighted.diagnostics.warnings == () and weighted.calibration is None
    unweighted = SurveyDesign(small_survey).as_given()
    assert any("every respondent counts the same" in w for w in unweighted.diagnostics.warnings)
    assert unweighted.diagnostics.deff_kish == pytest.approx(1.0)
