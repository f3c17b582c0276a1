"""Small-area estimation inputs and outputs (geo_cohesion.survey.small_area): smoothed sampling
variances, covariate selection, one model per score with fallbacks, and the reliability rule."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo_cohesion.errors import InputError
from geo_cohesion.survey.design import SurveyDesign
from geo_cohesion.survey.reliability import unpublished_when
from geo_cohesion.survey.sae import fay_herriot
from geo_cohesion.survey.small_area import (
    MIN_AREAS,
    default_max_covariates,
    district_models,
    fit_area_model,
    gvf_sampling_variance,
    normal_halfwidth,
    pooled_within_variance,
    reliability,
    select_covariates,
    standardise,
)


# --------------------------------------------------------------------------------------------
# sampling variances
# --------------------------------------------------------------------------------------------
def test_pooled_within_variance_by_hand():
    y = np.array([1.0, 3.0, 10.0, 14.0, 12.0, np.nan])
    w = np.array([1.0, 1.0, 2.0, 1.0, 1.0, 5.0])
    d = np.array(["a", "a", "b", "b", "b", "b"])
    # a: mean 2, squared residuals 1, 1 (weights 1); b: weighted mean (20+14+12)/4 = 11.5,
    # residuals -1.5, 2.5, 0.5 with weights 2, 1, 1 -> 4.5 + 6.25 + 0.25 = 11
    expected = (2.0 + 11.0) / 6.0 * 5 / (5 - 2)
    assert pooled_within_variance(y, w, d) == pytest.approx(expected, rel=1e-12)
    # a respondent's row order and the labels' spelling do not matter
    order = np.array([4, 0, 3, 1, 2, 5])
    assert pooled_within_variance(y[order], w[order], d[order]) == pytest.approx(expected, rel=1e-12)


def test_pooled_within_variance_needs_two_respondents_somewhere():
    with pytest.raises(InputError, match="two respondents"):
        pooled_within_variance([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], ["a", "b", "c"])
    with pytest.raises(InputError, match="positive"):
        pooled_within_variance([1.0, 2.0], [1.0, 0.0], ["a", "a"])
    with pytest.raises(InputError, match="length"):
        pooled_within_variance([1.0, 2.0], [1.0], ["a", "a"])


def test_gvf_variance_is_positive_for_every_district_with_respondents_including_n1():
    psi = gvf_sampling_variance(64.0, [1.0, 4.0, 32.0, 0.0, np.nan])
    np.testing.assert_allclose(psi[:3], [64.0, 16.0, 2.0])
    assert np.isnan(psi[3:]).all()
    with pytest.raises(InputError):
        gvf_sampling_variance(0.0, [1.0])
    with pytest.raises(InputError):
        gvf_sampling_variance(np.nan, [1.0])
    with pytest.raises(InputError):
        gvf_sampling_variance(1.0, [-1.0])


def test_gvf_variance_from_a_survey_with_a_single_respondent_district():
    """The design-based SE of a one-respondent district is 0 (or undefined); the smoothed
    variance is the pooled within-district variance, and the model can use the district."""
    rng = np.random.default_rng(3)
    sizes = {"A": 40, "B": 30, "C": 1, "D": 12, "E": 25, "F": 8}
    frame = pd.DataFrame({"district": np.repeat(list(sizes), list(sizes.values()))})
    frame["y"] = 60 + rng.normal(0, 8, len(frame))
    frame["w"] = rng.uniform(0.5, 2.0, len(frame))
    est = SurveyDesign(frame, weight="w").domain_means("y", "district", min_n=0)
    assert not est.loc[est["district"] == "C", "se"].iloc[0] > 0
    s2 = pooled_within_variance(frame["y"], frame["w"], frame["district"])
    psi = gvf_sampling_variance(s2, est["n_eff"])
    assert (psi > 0).all() and psi[est["district"] == "C"][0] == pytest.approx(s2)
    assert 40 < s2 < 90  # close to the true 64
    fit = fay_herriot(est["estimate"], psi, None)
    assert np.isfinite(fit.estimate).all()


# --------------------------------------------------------------------------------------------
# covariates
# --------------------------------------------------------------------------------------------
def test_standardise_and_drop_constant_columns():
    raw = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "const": 7.0, "b": [10, 10, 20, 40]}, index=list("wxyz"))
    z, dropped = standardise(raw)
    assert dropped == ["const"] and list(z.columns) == ["a", "b"] and list(z.index) == list("wxyz")
    np.testing.assert_allclose(z.mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(z.std(ddof=0), 1.0)
    with pytest.raises(InputError, match="'a'"):
        standardise(raw.assign(a=[1.0, np.nan, 3.0, 4.0]))


def _fh_data(m=30, seed=1, sigma_u=1.0):
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"strong": rng.normal(size=m), "noise1": rng.normal(size=m), "noise2": rng.normal(size=m)})
    psi = rng.uniform(1.0, 4.0, m)
    theta = 60 + 4.0 * x["strong"].to_numpy() + rng.normal(0, sigma_u, m)
    y = theta + rng.normal(0, np.sqrt(psi))
    return y, psi, x, theta


def test_forward_selection_picks_the_informative_covariate_and_respects_the_cap():
    y, psi, x, _ = _fh_data()
    sel = select_covariates(y, psi, x)
    assert sel.names[0] == "strong" and sel.max_covariates == default_max_covariates(30) == 6
    assert list(sel.steps["step"]) == list(range(len(sel.names) + 1))
    assert sel.steps["aic"].is_monotonic_decreasing
    assert select_covariates(y, psi, x, max_covariates=0).names == ()
    # out-of-sample areas do not count towards the cap: 9 sampled areas allow one covariate
    y_out = y.copy()
    y_out[9:] = np.nan
    assert select_covariates(y_out, psi, x).max_covariates == 1
    with pytest.raises(InputError):
        select_covariates(y, psi, x, max_covariates=-1)


# --------------------------------------------------------------------------------------------
# one model per score
# --------------------------------------------------------------------------------------------
def test_fay_herriot_rows_and_synthetic_out_of_sample_areas():
    y, psi, x, _ = _fh_data()
    y[[3, 17]] = np.nan
    model = fit_area_model(y, psi * 1.1, psi, x[["strong"]], estimator="fay_herriot", variable="index")
    assert model.method == "fay_herriot" and model.fit is not None
    assert list(model.row_estimator[[3, 17]]) == ["synthetic", "synthetic"]
    assert (model.row_estimator[~np.isnan(y)] == "fay_herriot").all()
    assert np.isfinite(model.estimate).all() and (model.mse > 0).all()
    # out-of-sample MSE: sigma2_u + x'Var(beta)x, larger than sigma2_u
    assert (model.mse[[3, 17]] > model.fit.sigma2_u).all()
    summary = model.summary()
    assert summary["areas_out_of_sample"] == 2 and summary["covariates"] == "strong"
    assert "(Intercept)=" in summary["beta"] and "strong=" in summary["beta"]


def test_direct_estimator_and_too_few_areas_keep_direct_estimates():
    y, psi, x, _ = _fh_data(m=8)
    dvar = psi * 0.9
    direct = fit_area_model(y, dvar, psi, x, estimator="direct")
    assert direct.method == "direct" and (direct.row_estimator == "direct").all()
    np.testing.assert_array_equal(direct.estimate, y)
    np.testing.assert_array_equal(direct.mse, dvar)
    few = y.copy()
    few[MIN_AREAS - 1:] = np.nan
    model = fit_area_model(few, dvar, psi, None, estimator="fay_herriot")
    assert model.method == "direct" and "a model needs" in model.notes[0]
    assert np.isnan(model.estimate[MIN_AREAS - 1:]).all()
    with pytest.raises(InputError, match="unknown estimator"):
        fit_area_model(y, dvar, psi, None, estimator="eblup")


def test_spatial_model_without_weights_or_at_a_boundary_falls_back_to_fay_herriot():
    y, psi, x, _ = _fh_data(m=20, sigma_u=0.0)
    no_w = fit_area_model(y, psi, psi, x[["strong"]], estimator="spatial_fay_herriot")
    assert no_w.method == "fay_herriot" and "no district boundaries" in no_w.notes[0]
    # a chain of 20 areas; without area effects (sigma_u = 0) rho is not identified
    w = np.zeros((20, 20))
    for i in range(19):
        w[i, i + 1] = w[i + 1, i] = 1.0
    fallback = fit_area_model(y, psi, psi, x[["strong"]], estimator="spatial_fay_herriot", spatial_weights=w)
    spatial = fay_herriot(y, psi, x[["strong"]], spatial_weights=w)
    if spatial.converged and not spatial.synthetic and abs(spatial.rho) < 0.999 and (spatial.mse > 0).all():
        assert fallback.method == "spatial_fay_herriot"
    else:
        assert fallback.method == "fay_herriot" and "spatial model" in fallback.notes[0]
        assert (fallback.row_estimator == "fay_herriot").all()


def test_spatial_model_is_used_when_it_fits():
    rng = np.random.default_rng(8)
    m = 36
    w = np.zeros((m, m))
    for i in range(m):  # a 6 x 6 grid, rook contiguity
        r, c = divmod(i, 6)
        for rr, cc in ((r + 1, c), (r, c + 1)):
            if rr < 6 and cc < 6:
                w[i, rr * 6 + cc] = w[rr * 6 + cc, i] = 1.0
    ws = w / w.sum(axis=1, keepdims=True)
    u = np.linalg.solve(np.eye(m) - 0.8 * ws, rng.normal(0, 2.0, m))
    psi = np.full(m, 2.0)
    y = 60 + u + rng.normal(0, np.sqrt(psi))
    model = fit_area_model(y, psi, psi, None, estimator="spatial_fay_herriot", spatial_weights=w)
    assert model.method == "spatial_fay_herriot" and model.fit.spatial and model.fit.rho > 0
    assert (model.row_estimator == "spatial_fay_herriot").all()


def test_benchmarking_matches_the_city_value():
    y, psi, x, _ = _fh_data()
    pop = np.linspace(500, 5000, 30)
    target = float(np.sum(pop * y) / pop.sum()) + 0.7
    model = fit_area_model(y, psi, psi, x[["strong"]], estimator="fay_herriot", population=pop, target=target)
    assert np.sum(pop * model.estimate) / pop.sum() == pytest.approx(target, rel=1e-12)
    assert np.isfinite(model.benchmark_factor) and "benchmarked" in model.notes[-1]
    plain = fit_area_model(y, psi, psi, x[["strong"]], estimator="fay_herriot")
    np.testing.assert_allclose(model.estimate / plain.estimate, model.benchmark_factor)
    np.testing.assert_array_equal(model.mse, plain.mse)  # MSE not adjusted (documented)


def test_district_models_table_out_of_sample_rows_and_direct_where_as_precise():
    y, psi, x, _ = _fh_data(m=20, seed=5)
    ids = [f"D{i:02d}" for i in range(20)]
    n = np.r_[[400], np.full(19, 8)]
    n_eff = n * 0.9
    s2 = 60.0
    direct = pd.DataFrame({"district_id": ids, "variable": "index", "estimate": y, "se": np.sqrt(s2 / n_eff),
                           "n": n, "n_eff": n_eff})
    direct = direct.iloc[:-1]  # D19: no respondents, only in the structural table
    cov = x.set_axis(ids)
    res = district_models(direct, {"index": s2}, cov, estimator="fay_herriot", covariate_names=["strong"],
                          direct_min_n=30)
    t = res.table.set_index("district_id")
    assert list(t.index) == ids and res.covariates == ("strong",)
    assert t.loc["D19", "estimator"] == "synthetic" and np.isfinite(t.loc["D19", "estimate"])
    assert np.isnan(t.loc["D19", "direct_estimate"])
    # D00 (400 respondents) is more precise directly than through the model: it keeps its direct estimate
    assert t.loc["D00", "estimator"] == "direct" and t.loc["D00", "estimate"] == pytest.approx(y[0])
    assert t.loc["D00", "mse"] == pytest.approx(s2 / n_eff[0])
    assert (t.loc["D01":"D18", "estimator"] == "fay_herriot").all()
    np.testing.assert_allclose(t.loc["D01":"D18", "sampling_var"], s2 / n_eff[1:19])
    # without the rule the model estimate is published everywhere
    plain = district_models(direct, {"index": s2}, cov, estimator="fay_herriot", covariate_names=["strong"])
    assert plain.table.set_index("district_id").loc["D00", "estimator"] == "fay_herriot"
    with pytest.raises(InputError, match="no covariates"):
        district_models(direct.assign(district_id="X"), {"index": s2}, cov, estimator="fay_herriot")
    with pytest.raises(InputError, match="not among"):
        district_models(direct, {"index": s2}, cov, estimator="fay_herriot", covariate_names=["nope"])


def test_group_model_keeps_direct_only_where_both_its_mses_are_larger(monkeypatch):
    """With random group effects a district with n >= min_n switches to the model only where its
    sampling variance is above the larger of the bootstrap and the analytic MSE, so that a bootstrap
    MSE that is low by chance does not switch it. The fit's analytic MSE is replaced by one that puts
    a district's sampling variance between the two MSEs (the real ones rarely straddle it)."""
    import dataclasses

    import geo_cohesion.survey.small_area as small_area

    m, s2 = 24, 60.0
    y, _, x, _ = _fh_data(m=m, seed=1, sigma_u=1.0)
    ids = [f"D{i:02d}" for i in range(m)]
    groups = pd.Series([f"G{i % 3}" for i in range(m)], index=ids)
    n = np.round(np.linspace(8, 150, m))
    psi = s2 / n
    direct = pd.DataFrame({"district_id": ids, "variable": "index", "estimate": y, "se": np.sqrt(psi),
                           "n": n, "n_eff": n})

    def run(analytic_factor=None):
        real = small_area.fit_area_model

        def patched(*args, **kwargs):
            model = real(*args, **kwargs)
            assert model.fit.mse_method == "bootstrap"
            if analytic_factor is None:
                return model
            analytic = np.where(np.arange(m) == 10, psi * analytic_factor, model.fit.mse)
            return dataclasses.replace(model, fit=dataclasses.replace(model.fit, mse_analytic=analytic))

        monkeypatch.setattr(small_area, "fit_area_model", patched)
        return district_models(direct, {"index": s2}, x.set_axis(ids), estimator="fay_herriot",
                               covariate_names=["strong"], direct_min_n=30, groups=groups, mse_bootstrap=40,
                               seed=3).table

    plain = run()
    assert n[10] >= 30 and plain["estimator"].iloc[10] == "fay_herriot"  # bootstrap MSE below the variance
    assert plain["mse"].iloc[10] < psi[10]
    assert run(analytic_factor=1.01)["estimator"].iloc[10] == "direct"  # analytic MSE above it: stays direct
    assert run(analytic_factor=0.99)["estimator"].iloc[10] == "fay_herriot"


def test_district_models_selects_covariates_on_the_index_for_all_scores():
    y, psi, x, _ = _fh_data(m=25, seed=2)
    ids = [f"D{i:02d}" for i in range(25)]
    rows = []
    for variable, shift in (("index", 0.0), ("identifikation", 20.0)):
        rows.append(pd.DataFrame({"district_id": ids, "variable": variable, "estimate": y + shift,
                                  "se": np.sqrt(psi), "n": 20, "n_eff": 20.0}))
    res = district_models(pd.concat(rows), None, x.set_axis(ids), estimator="fay_herriot")
    assert res.selection is not None and res.covariates == res.selection.names and "strong" in res.covariates
    assert list(res.models["variable"]) == ["index", "identifikation"]
    assert (res.models["covariates"] == ", ".join(res.covariates)).all()
    # without within-district variances the given SEs are the sampling variances
    np.testing.assert_allclose(res.table.loc[res.table["variable"] == "index", "sampling_var"], psi)


# --------------------------------------------------------------------------------------------
# reliability
# --------------------------------------------------------------------------------------------
def test_reliability_rule_and_reasons():
    estimate = [60.0, 61.0, 62.0, 63.0, np.nan, np.nan, 64.0]
    halfwidth = [2.0, 12.5, 3.0, 3.0, np.nan, np.nan, np.nan]
    kind = ["fay_herriot", "fay_herriot", "direct", "synthetic", "direct", "direct", "direct"]
    n = [5, 5, 12, 0, 0, np.nan, 40]
    suppressed, reasons = reliability(estimate, halfwidth, kind, n, max_halfwidth=10, min_n=30)
    assert suppressed.tolist() == [False, True, True, False, True, True, False]
    assert reasons[0] == "" and reasons[3] == "" and reasons[6] == ""
    assert reasons[1] == "zu unsicher: 95-%-Intervall ±12,5 Punkte, erlaubt ±10,0"
    assert reasons[2] == "zu wenige Befragte für eine direkte Schätzung (n = 12 < 30)"
    # n = 0 valid values: no respondents, or respondents who all skipped this score
    assert reasons[4] == "keine gültigen Antworten" and reasons[5] == "keine Schätzung"
    # without an interval rule only the direct-n rule remains; a model estimate from 5 respondents is fine
    suppressed, _ = reliability(estimate, halfwidth, kind, n, max_halfwidth=None, min_n=30)
    assert suppressed.tolist() == [False, False, True, False, True, True, False]
    with pytest.raises(InputError):
        reliability(estimate, halfwidth, kind, n, max_halfwidth=0, min_n=30)
    assert normal_halfwidth(4.0, 0.95) == pytest.approx(1.959963984540054 * 2.0)


def test_reliability_reasons_and_rule_in_english():
    """--lang en: the same verdicts, the reasons and the rule from the label catalogue, decimal points."""
    estimate, halfwidth = [61.0, 62.0, np.nan, 116.0], [12.5, 3.0, np.nan, 1.0]
    kind, n = ["fay_herriot", "direct", "direct", "synthetic"], [5, 12, 0, 0]
    rule = dict(max_halfwidth=10, min_n=30, level=0.9, score_range=(0.0, 100.0))
    german, reasons_de = reliability(estimate, halfwidth, kind, n, **rule)
    english, reasons = reliability(estimate, halfwidth, kind, n, **rule, lang="en")
    assert english.tolist() == german.tolist() == [True, True, True, True]
    assert reasons[0] == "too uncertain: 90 % interval ±12.5 points, allowed ±10.0"
    assert reasons_de[0] == "zu unsicher: 90-%-Intervall ±12,5 Punkte, erlaubt ±10,0"
    assert reasons[1] == "too few respondents for a direct estimate (n = 12 < 30)"
    assert reasons[2] == "no valid answers"
    assert reasons[3].startswith("model value 116.0 outside the scale 0–100")
    assert unpublished_when(0.95, 30, 7.5, "en") == ("95 % interval wider than ±7.5 points or direct estimate from "
                                                    "fewer than 30 respondents")
    assert unpublished_when(0.95, 30, 7.5) == ("95-%-Intervall breiter als ±7,5 Punkte oder direkte Schätzung aus "
                                              "weniger als 30 Befragten")


def test_mse_method_changes_intervals_not_estimates():
    """model_mse 'robust': the MSE of model rows is max(Prasad-Rao, conditional) of the fit;
    'prasad_rao' the fit's mse. Estimates and the direct-or-model choice are the same."""
    y, psi, x, _ = _fh_data(m=25, seed=4)
    y[0] += 12.0  # a district far from its regression prediction
    pr = fit_area_model(y, psi, psi, x[["strong"]], estimator="fay_herriot", mse_method="prasad_rao")
    rob = fit_area_model(y, psi, psi, x[["strong"]], estimator="fay_herriot", mse_method="robust")
    np.testing.assert_array_equal(pr.estimate, rob.estimate)
    np.testing.assert_array_equal(pr.mse, pr.fit.mse)
    np.testing.assert_array_equal(rob.mse, np.maximum(rob.fit.mse, rob.fit.mse_conditional))
    assert rob.mse[0] > 2 * pr.mse[0]  # the outlying district gets a wider interval
    assert rob.summary()["mse_method"] == "robust" and pr.summary()["mse_method"] == "prasad_rao"
    with pytest.raises(InputError, match="unknown mse_method"):
        fit_area_model(y, psi, psi, x, estimator="fay_herriot", mse_method="bootstrap")
    direct = pd.DataFrame({"district_id": [f"d{i}" for i in range(25)], "variable": "index", "estimate": y,
                           "se": np.sqrt(psi), "n": np.where(np.arange(25) < 5, 200, 10), "n_eff": 10.0})
    cov = x.set_axis([f"d{i}" for i in range(25)])[["strong"]]
    tables = {m: district_models(direct, None, cov, estimator="fay_herriot", covariate_names=["strong"],
                                 direct_min_n=30, mse_method=m).table for m in ("prasad_rao", "robust")}
    np.testing.assert_array_equal(tables["prasad_rao"]["estimator"], tables["robust"]["estimator"])
    np.testing.assert_array_equal(tables["prasad_rao"]["estimate"], tables["robust"]["estimate"])
    assert (tables["robust"]["mse"] >= tables["prasad_rao"]["mse"] - 1e-12).all()


# --------------------------------------------------------------------------------------------
# edge cases of the pipeline's default path (random group effects), from the robustness sweep
# --------------------------------------------------------------------------------------------
def _grouped_direct(m: int = 12, seed: int = 2) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    ids = [f"d{i:02d}" for i in range(m)]
    n = rng.integers(8, 60, m)
    direct = pd.DataFrame({"district_id": ids, "variable": "index", "estimate": 60 + rng.normal(0, 4, m),
                           "se": 12 / np.sqrt(n), "n": n, "n_eff": 0.8 * n})
    return direct, pd.Series(np.repeat(["Nord", "Mitte", "Süd"], m // 3), index=ids)


def test_no_variation_within_districts_keeps_the_direct_estimates():
    """A score every respondent of a district answered alike: pooled within variance 0 stopped the run
    (gvf InputError); rounding noise (~1e-28) gave a 'did not converge' fit with MSEs of 1e-29."""
    direct, groups = _grouped_direct()
    for s2 in (0.0, 1e-27):
        res = district_models(direct.assign(se=0.0), {"index": s2}, None, estimator="fay_herriot", groups=groups)
        assert (res.table["estimator"] == "direct").all()
        np.testing.assert_array_equal(res.table["estimate"], direct["estimate"])
        assert "no variation within districts" in res.models["notes"][0] and res.models["method"][0] == "direct"
    res = district_models(direct, {"index": 150.0}, None, estimator="fay_herriot", groups=groups)
    assert (res.table["estimator"] == "fay_herriot").all()  # a real within variance is modelled


def test_direct_estimate_with_zero_se_is_not_kept_as_exact():
    """A large district whose respondents all gave the same value has a design SE of 0: it was published
    as direct with MSE 0 (an interval of width 0); it gets the model estimate instead."""
    direct, groups = _grouped_direct()
    direct.loc[3, ["n", "n_eff", "se"]] = [200, 160, 0.0]
    direct.loc[4, ["n", "n_eff"]] = [200, 160]
    res = district_models(direct, {"index": 150.0}, None, estimator="fay_herriot", groups=groups,
                          direct_min_n=30, mse_bootstrap=20)
    row = res.table.set_index("district_id")
    assert row.loc["d03", "estimator"] == "fay_herriot" and row.loc["d03", "mse"] > 0
    assert row.loc["d04", "estimator"] == "direct"  # a precise district with a positive SE keeps its value
    assert (res.table["mse"] > 0).all()


def test_named_constant_covariate_is_named_as_constant():
    """It said 'not among the usable structural indicators - usable: none'."""
    direct, _ = _grouped_direct()
    cov = pd.DataFrame({"konst": 5.0, "x": np.arange(12.0)}, index=direct["district_id"])
    with pytest.raises(InputError, match="konst have the same value in every district") as info:
        district_models(direct, None, cov, estimator="fay_herriot", covariate_names=["konst"])
    assert "remove them from estimates.covariates" in str(info.value)


def test_model_estimate_outside_the_score_range_is_suppressed():
    """The regression extrapolates for a district whose indicators lie beyond the sampled ones (116 points
    in the sweep); such a value is suppressed with the reason, inside the range nothing changes."""
    suppressed, reasons = reliability([116.0, -0.5, 99.0, 100.0], [1.0, 1.0, 1.0, 1.0],
                                      ["synthetic", "fay_herriot", "fay_herriot", "direct"], [0, 5, 5, 40],
                                      max_halfwidth=10, min_n=30, score_range=(0.0, 100.0))
    assert suppressed.tolist() == [True, True, False, False]
    assert reasons[0] == "Modellwert 116,0 außerhalb der Skala 0–100 (Strukturindikatoren weit außerhalb der " \
                         "befragten Gebiete)"
    assert reliability([116.0], [1.0], ["synthetic"], [0], max_halfwidth=10, min_n=30)[0].tolist() == [False]
