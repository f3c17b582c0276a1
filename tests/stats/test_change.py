"""Change between survey waves: test values, multiple-testing adjustment and behaviour under the null."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from geo_cohesion.errors import InputError
from geo_cohesion.stats.change import change_between_waves
from geo_cohesion.stats.multiple_testing import adjust_p_values


def _wave(ids, estimates, ses, variable="trust", **extra) -> pd.DataFrame:
    return pd.DataFrame({"district_id": ids, "variable": variable, "estimate": estimates, "se": ses, **extra})


# --------------------------------------------------------------------------- single tests


def test_textbook_two_sample_z_test():
    """se = sqrt(0.03^2 + 0.04^2) = 0.05 (3-4-5); z = 0.098 / 0.05 = 1.96.

    Normal table: Phi(1.96) = 0.97500, so the two-sided p-value is 0.0500 and the 95% interval
    0.098 -+ 1.95996 * 0.05 just excludes 0.
    """
    result = change_between_waves(_wave(["1"], [0.50], [0.03]), _wave(["1"], [0.598], [0.04]), adjust="none")
    row = result.iloc[0]
    assert row["change"] == pytest.approx(0.098)
    assert row["se"] == pytest.approx(0.05)
    assert row["p_value"] == pytest.approx(0.05, abs=5e-5)
    assert row["p_value"] == pytest.approx(2 * stats.norm.sf(1.96), rel=1e-9)
    assert row["ci_low"] == pytest.approx(0.098 - 1.959964 * 0.05, abs=1e-7) and row["ci_low"] > 0
    assert row["ci_high"] == pytest.approx(0.098 + 1.959964 * 0.05, abs=1e-7)
    assert row["df"] == np.inf and bool(row["significant"])
    assert list(result.columns[:12]) == ["district_id", "variable", "estimate_from", "estimate_to", "change", "se",
                                         "df", "ci_low", "ci_high", "p_value", "p_adjusted", "significant"]


def test_welch_t_from_n_equals_scipy_welch_test():
    """With se = s / sqrt(n) and n given in both waves, the test is Welch's unequal-variance t-test."""
    m1, s1, n1, m2, s2, n2 = 3.1, 1.2, 9, 4.0, 0.7, 14
    result = change_between_waves(_wave(["7"], [m1], [s1 / np.sqrt(n1)], n=[n1]),
                                  _wave(["7"], [m2], [s2 / np.sqrt(n2)], n=[n2]), adjust="none")
    reference = stats.ttest_ind_from_stats(m2, s2, n2, m1, s1, n1, equal_var=False)
    row = result.iloc[0]
    assert row["change"] / row["se"] == pytest.approx(reference.statistic, rel=1e-12)
    assert row["p_value"] == pytest.approx(reference.pvalue, rel=1e-10)
    v1, v2 = s1 ** 2 / n1, s2 ** 2 / n2
    welch_df = (v1 + v2) ** 2 / (v1 ** 2 / (n1 - 1) + v2 ** 2 / (n2 - 1))
    assert row["df"] == pytest.approx(welch_df, rel=1e-12)
    assert (row["n_from"], row["n_to"]) == (n1, n2)
    half = row["ci_high"] - row["change"]
    assert half == pytest.approx(stats.t.ppf(0.975, welch_df) * row["se"], rel=1e-12)


def test_df_columns_options_and_zero_variance_wave():
    a = _wave(["1", "2"], [10.0, 10.0], [1.0, 0.0], df=[12.0, 5.0])
    b = _wave(["1", "2"], [13.0, 13.0], [2.0, 2.0], df=[30.0, 30.0])
    result = change_between_waves(a, b, adjust="none")
    # Satterthwaite: (1 + 4)^2 / (1/12 + 16/30); a wave with se = 0 drops out -> 30
    assert result["df"].tolist() == pytest.approx([25 / (1 / 12 + 16 / 30), 30.0])
    assert change_between_waves(a, b, df="normal")["df"].tolist() == [np.inf, np.inf]
    assert change_between_waves(a, b, df=8)["df"].tolist() == [8.0, 8.0]
    assert change_between_waves(a, b, df=[4, np.inf])["df"].tolist() == [4.0, np.inf]
    # a row without n falls back to the normal reference
    partial = change_between_waves(_wave(["1", "2"], [1.0, 1.0], [0.1, 0.1], n=[20, np.nan]),
                                   _wave(["1", "2"], [1.2, 1.2], [0.1, 0.1], n=[20, 25]))
    assert np.isfinite(partial["df"].iloc[0]) and partial["df"].iloc[1] == np.inf
    for bad in ("welch", 0, [1.0], [1.0, -2.0]):
        with pytest.raises(InputError):
            change_between_waves(a, b, df=bad)


def test_missing_se_or_wave_is_never_significant_and_not_in_the_family():
    a = _wave(["1", "2", "3", "4", "5"], [0.0] * 5, [0.01, 0.01, 0.01, np.nan, 0.0])
    b = pd.concat([_wave(["1", "2", "3", "4", "5"], [0.05, 0.001, 0.03, 9.0, 1.0], [0.01, 0.01, 0.01, 0.01, 0.0]),
                   _wave(["6"], [1.0], [0.01])], ignore_index=True)
    result = change_between_waves(a, b, adjust="holm")
    assert result["district_id"].tolist() == ["1", "2", "3", "4", "5", "6"]
    untested = result["district_id"].isin(["4", "5", "6"])
    assert result.loc[untested, ["p_value", "p_adjusted"]].isna().all().all()
    assert not result.loc[untested, "significant"].any()
    assert np.isnan(result.loc[result["district_id"] == "4", "se"]).all()  # missing SE stays missing
    assert "3 of 6 rows could not be tested" in result.attrs["note"]
    # Holm over the 3 testable rows only (m = 3)
    tested = result[~untested]
    np.testing.assert_allclose(tested["p_adjusted"], adjust_p_values(tested["p_value"], "holm"))
    assert tested["p_adjusted"].min() == pytest.approx(3 * tested["p_value"].min())


def test_adjustment_is_per_variable():
    ids = ["a", "b", "c"]
    a = pd.concat([_wave(ids, [0.0] * 3, [1.0] * 3, "trust"), _wave(ids[:2], [0.0] * 2, [1.0] * 2, "help")])
    b = pd.concat([_wave(ids, [2.0, 2.5, 0.5], [1.0] * 3, "trust"), _wave(ids[:2], [3.0, 0.1], [1.0] * 2, "help")])
    for method in ("holm", "fdr_bh"):
        result = change_between_waves(a, b, adjust=method)
        for _, group in result.groupby("variable"):
            np.testing.assert_allclose(group["p_adjusted"], adjust_p_values(group["p_value"], method))
        assert (result["significant"] == (result["p_adjusted"] < 0.05)).all()
    none = change_between_waves(a, b, adjust="none")
    np.testing.assert_array_equal(none["p_adjusted"], none["p_value"])


# --------------------------------------------------------------------------- p.adjust values


@pytest.mark.parametrize("p, holm, bh", [
    # m = 4, sorted p: 0.005, 0.01, 0.03, 0.04.
    # Holm: (4*0.005, 3*0.01, 2*0.03, 1*0.04) = (0.02, 0.03, 0.06, 0.04), running max -> 0.02, 0.03, 0.06, 0.06.
    # BH:   (4/1*0.005, 4/2*0.01, 4/3*0.03, 4/4*0.04) = (0.02, 0.02, 0.04, 0.04), running min from the top.
    ([0.01, 0.04, 0.03, 0.005], [0.03, 0.06, 0.06, 0.02], [0.02, 0.04, 0.04, 0.02]),
    # m = 3, sorted 0.2, 0.6, 0.9. Holm: (0.6, 1.2 -> 1, 0.9), running max -> 0.6, 1, 1.
    # BH: (3*0.2, 3/2*0.6, 0.9) = (0.6, 0.9, 0.9), running min from the top -> 0.6, 0.9, 0.9.
    ([0.9, 0.2, 0.6], [1.0, 0.6, 1.0], [0.9, 0.6, 0.9]),
    # NaN is not a test: the family is the 2 valid values. Holm (2*0.01, 1*0.02); BH (2*0.01, 0.02).
    ([0.02, np.nan, 0.01], [0.02, np.nan, 0.02], [0.02, np.nan, 0.02]),
])
def test_holm_and_bh_against_hand_derived_p_adjust_values(p, holm, bh):
    """Expected values derived by hand from the definitions R's ``p.adjust`` documents.

    R was not available to run; the formulas are those of R's ``p.adjust`` source:
    ``holm: pmin(1, cummax((n - i + 1) * p[o]))[ro]`` and
    ``BH: pmin(1, cummin(n / i * p[o]))[ro]`` (descending order for BH), ``n`` = non-NA count.
    """
    np.testing.assert_allclose(adjust_p_values(p, "holm"), holm, rtol=1e-12)
    np.testing.assert_allclose(adjust_p_values(p, "fdr_bh"), bh, rtol=1e-12)
    np.testing.assert_allclose(adjust_p_values(p, "none"), p)


def test_adjust_errors():
    with pytest.raises(InputError):
        adjust_p_values([0.1], "bonferroni")
    with pytest.raises(InputError):
        adjust_p_values([1.5], "holm")
    assert np.isnan(adjust_p_values([np.nan], "fdr_bh")).all()


# --------------------------------------------------------------------------- input errors


@pytest.mark.parametrize("b, kwargs, message", [
    (_wave(["1"], [1.0], [0.1]), {"adjust": "bonferroni"}, "adjust"),
    (_wave(["1"], [1.0], [0.1]), {"level": 95}, "level"),
    (_wave(["1"], [1.0], [0.1]), {"alpha": 0}, "alpha"),
    (_wave(["1", "1"], [1.0, 2.0], [0.1, 0.1]), {}, "more than one row"),
    (_wave(["1"], [1.0], [-0.1]), {}, "negative"),
    (_wave([1], [1.0], [0.1]), {}, "no .district, variable. in common"),
    (_wave(["1"], ["high"], [0.1]), {}, "not numbers"),
    (pd.DataFrame({"district_id": ["1"], "estimate": [1.0]}), {}, "lacks column"),
])
def test_bad_input(b, kwargs, message):
    with pytest.raises(InputError, match=message):
        change_between_waves(_wave(["1"], [1.0], [0.1]), b, **kwargs)


def test_zero_total_se_is_not_certainty():
    result = change_between_waves(_wave(["1"], [0.0], [0.0]), _wave(["1"], [1.0], [0.0]))
    assert np.isnan(result["p_value"].iloc[0]) and not result["significant"].iloc[0]


# --------------------------------------------------------------------------- under the null


def _null_waves(rng, replicates, n_from, n_to, sigma=1.0, known_se=False):
    """Sample means of two independent normal samples with the same mean, per replicate."""
    x1 = rng.normal(5.0, sigma, (replicates, n_from))
    x2 = rng.normal(5.0, sigma, (replicates, n_to))
    se1 = np.full(replicates, sigma / np.sqrt(n_from)) if known_se else x1.std(axis=1, ddof=1) / np.sqrt(n_from)
    se2 = np.full(replicates, sigma / np.sqrt(n_to)) if known_se else x2.std(axis=1, ddof=1) / np.sqrt(n_to)
    ids = [f"r{i:05d}" for i in range(replicates)]
    return (_wave(ids, x1.mean(axis=1), se1, n=n_from), _wave(ids, x2.mean(axis=1), se2, n=n_to))


@pytest.mark.slow
def test_rejection_rate_under_the_null_is_alpha():
    """2,000 replicates per setting; the rejection rate must lie in the central 99.9% binomial
    interval around alpha = 0.05 (each replicate is one district, adjust="none")."""
    replicates, alpha = 2000, 0.05
    low, high = stats.binom.interval(0.999, replicates, alpha)
    rng = np.random.default_rng(20240501)

    # known SEs: exact z-test with the normal reference
    a, b = _null_waves(rng, replicates, 50, 80, known_se=True)
    rate = change_between_waves(a, b, adjust="none", df="normal")["significant"].sum()
    assert low <= rate <= high

    # small samples with estimated SEs: Welch t from n is close to exact ...
    a, b = _null_waves(rng, replicates, 6, 9)
    rate = change_between_waves(a, b, adjust="none")["significant"].sum()
    assert low <= rate <= high
    # ... whereas the normal reference rejects too often for such small samples
    assert change_between_waves(a, b, adjust="none", df="normal")["significant"].sum() > high


@pytest.mark.slow
def test_holm_controls_the_family_wise_error_rate_under_the_null():
    """2,000 families of 10 districts: the share of families with any rejection stays <= alpha
    (within the binomial interval's upper end)."""
    families, districts, alpha = 2000, 10, 0.05
    rng = np.random.default_rng(7)
    a, b = _null_waves(rng, families * districts, 40, 40, known_se=True)
    family = np.repeat([f"v{i}" for i in range(families)], districts)
    a["variable"], b["variable"] = family, family
    result = change_between_waves(a, b, adjust="holm", df="normal")
    any_rejection = result.groupby("variable")["significant"].any().sum()
    assert any_rejection <= stats.binom.interval(0.999, families, alpha)[1]
    unadjusted = change_between_waves(a, b, adjust="none", df="normal").groupby("variable")["significant"].any()
    assert unadjusted.sum() > 4 * families * alpha  # about 1 - 0.95^10 = 40% without adjustment
