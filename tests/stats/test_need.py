"""Need index (MSS method), its class stability under sampling error, and weight sensitivity.

The key test reproduces the published Berlin MSS 2021 status and dynamics classes of every
Planungsraum from ``../shared/data/berlin/mss_2021.csv`` (read in place, never copied; marked
``real_data`` and skipped when absent). ``GEO_COHESION_SHARED_DATA`` may point elsewhere (e.g. from
a git worktree, whose ``../shared/data`` is not the project's; see tests/conftest.py).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA
from hypothesis import assume, given, settings, strategies as st

from geo_cohesion.errors import InputError
from geo_cohesion.stats.need import (
    class_stability,
    need_index,
    status_dynamics,
    weight_sensitivity,
)

MSS_CSV = SHARED_DATA / "berlin" / "mss_2021.csv"


def needs_mss(test):
    """Real data: marked ``real_data`` and skipped when the MSS table is absent."""
    skip = pytest.mark.skipif(not MSS_CSV.exists(), reason=f"MSS 2021 data not available: {MSS_CSV} "
                              "(set GEO_COHESION_SHARED_DATA)")
    return pytest.mark.real_data(skip(test))

STATUS = {"S1": 1, "S3": 1, "S4": 1}
DYNAMICS = {"D1": 1, "D3": 1, "D4": 1}


@pytest.fixture(scope="module")
def mss() -> pd.DataFrame:
    return pd.read_csv(MSS_CSV, dtype={"PLR_ID": str})


# --------------------------------------------------------------------------- MSS 2021


@needs_mss
@pytest.mark.parametrize("closed", ["left", "right"])
def test_mss_2021_status_classes_reproduced_for_every_planungsraum(mss, closed):
    result = need_index(mss, STATUS, id_column="PLR_ID", closed=closed)
    published = mss["SI_N"].astype("Int64")
    has_class = published.notna()
    assert has_class.sum() == 536
    # every Planungsraum with a published class gets exactly that class ...
    pd.testing.assert_series_equal(result["need_class"][has_class], published[has_class], check_names=False)
    # ... and the ones without published class (too few residents / outlier) are the excluded ones
    assert result["need_class"][~has_class].isna().all()
    assert sorted(result.attrs["excluded"]) == sorted(mss.loc[~has_class, "PLR_ID"])
    assert len(result.attrs["excluded"]) == 6 and "03300515" in result.attrs["note"]
    assert result["PLR_ID"].tolist() == mss["PLR_ID"].tolist()  # input order, ids as text
    scored = result["need_score"].dropna()
    assert scored.mean() == pytest.approx(0, abs=1e-12)
    assert scored.std(ddof=0) == pytest.approx(1, abs=1e-12)


@needs_mss
def test_mss_2021_dynamics_classes_reproduced_with_need_index_on_changes(mss):
    result = need_index(mss, DYNAMICS, id_column="PLR_ID", class_breaks=(-1.0, 1.0), class_labels=(1, 3, 5))
    published = mss["DI_N"].astype("Int64")
    has_class = published.notna()
    pd.testing.assert_series_equal(result["need_class"][has_class], published[has_class], check_names=False)
    assert result["need_class"][~has_class].isna().all()


@needs_mss
def test_mss_2021_combined_label_matches_published_text(mss):
    status = need_index(mss, STATUS, id_column="PLR_ID")["need_class"]
    dynamics = need_index(mss, DYNAMICS, id_column="PLR_ID", class_breaks=(-1.0, 1.0),
                          class_labels=(1, 3, 5))["need_class"]
    label = status_dynamics(status, dynamics)
    words_s = {"1": "hoch", "2": "mittel", "3": "niedrig", "4": "sehr niedrig"}
    words_d = {"1": "positiv", "3": "stabil", "5": "negativ"}
    expected = label.map(lambda v: pd.NA if pd.isna(v) else
                         f"Status {words_s[v.split('/')[0]]} , Dynamik {words_d[v.split('/')[1]]}")
    published = mss["SDI_V"]
    assert (expected.fillna("") == published.fillna("")).all()
    assert label.iloc[0] == "2/5"  # Stülerstraße: status mittel, dynamics negativ


@needs_mss
def test_mss_conventions_that_do_not_identify_and_those_that_do(mss):
    """What the published classes can and cannot tell apart (see the module docstring)."""
    published = mss["SI_N"].astype("Int64")
    has_class = published.notna()
    # ddof is not identified by the classes: the sample SD reproduces them too
    sample_sd = need_index(mss, STATUS, id_column="PLR_ID", ddof=1)["need_class"]
    assert (sample_sd[has_class] == published[has_class]).all()
    # rounding the index to two decimals before classifying is *not* what MSS does
    score = need_index(mss, STATUS, id_column="PLR_ID")["need_score"].to_numpy()
    rounded = np.searchsorted([-1.0, 1.0, 1.5], np.round(score, 2), side="right") + 1
    assert (rounded[has_class] != published[has_class].to_numpy()).sum() > 0
    # nothing sits on a threshold, so the boundary rule is not identified either
    assert np.nanmin(np.abs(score[:, None] - np.array([-1.0, 1.0, 1.5]))) > 1e-3


@needs_mss
def test_weight_sensitivity_on_mss(mss):
    result = weight_sensitivity(mss, STATUS, id_column="PLR_ID", joint_draws=300, seed=1)
    ok = result["need_class"].notna()
    r = result[ok]
    assert (r["rank_min"] <= r["need_rank"]).all() and (r["need_rank"] <= r["rank_max"]).all()
    assert (r["class_min"] <= r["need_class"]).all() and (r["need_class"] <= r["class_max"]).all()
    assert (r["flag_class_change"] == (r["class_min"] < r["class_max"])).all()
    assert ((r["class_changed_by"] != "") <= r["flag_class_change"]).all()
    assert 0 < r["flag_class_change"].sum() < len(r)  # some PLR near a threshold move, most do not
    assert result["flag_class_change"][~ok].isna().all()
    again = weight_sensitivity(mss, STATUS, id_column="PLR_ID", joint_draws=300, seed=1)
    pd.testing.assert_frame_equal(result, again)


# --------------------------------------------------------------------------- hand-computed


def _four() -> pd.DataFrame:
    # x: mean 5, deviations (-3,-1,1,3), population SD sqrt(5)  -> z_x = (-3,-1,1,3)/sqrt(5)
    # y: mean 25, deviations (-15,5,-5,15), population SD 5*sqrt(5) -> z_y = (-3,1,-1,3)/sqrt(5)
    return pd.DataFrame({"id": ["a", "b", "c", "d"], "x": [2.0, 4, 6, 8], "y": [10.0, 30, 20, 40]})


def test_hand_computed_scores_contributions_and_classes():
    result = need_index(_four(), {"x": 1, "y": 1}, id_column="id")
    # S = z_x + z_y = (-6,0,0,6)/sqrt(5); SD(S) = 3*sqrt(2)/sqrt(5); score = (-sqrt2, 0, 0, sqrt2)
    r2 = math.sqrt(2)
    np.testing.assert_allclose(result["need_score"], [-r2, 0, 0, r2], atol=1e-12)
    assert result["need_class"].tolist() == [1, 2, 2, 3]
    # contribution = z / SD(S): a: (-3/sqrt5)/(3 sqrt2/sqrt5) = -1/sqrt2; b: -+1/(3 sqrt2)
    np.testing.assert_allclose(result["contribution_x"], [-1 / r2, -1 / (3 * r2), 1 / (3 * r2), 1 / r2], atol=1e-12)
    np.testing.assert_allclose(result["contribution_y"], [-1 / r2, 1 / (3 * r2), -1 / (3 * r2), 1 / r2], atol=1e-12)
    np.testing.assert_allclose(result[["contribution_x", "contribution_y"]].sum(axis=1), result["need_score"],
                               atol=1e-12)
    assert result.attrs["excluded"] == [] and result.attrs["note"] == ""
    assert result.attrs["indicator_sd"] == pytest.approx({"x": math.sqrt(5), "y": 5 * math.sqrt(5)})


def test_negative_weight_means_higher_is_better():
    # S = z_x - z_y = (0,-2,2,0)/sqrt(5); SD(S) = sqrt(2)/sqrt(5); score = (0, -sqrt2, sqrt2, 0)
    result = need_index(_four(), {"x": 1, "y": -1}, id_column="id")
    r2 = math.sqrt(2)
    np.testing.assert_allclose(result["need_score"], [0, -r2, r2, 0], atol=1e-12)
    assert result["need_class"].tolist() == [2, 1, 3, 2]
    flipped = _four().assign(y=lambda t: -t["y"])
    np.testing.assert_allclose(need_index(flipped, {"x": 1, "y": 1}, id_column="id")["need_score"],
                               result["need_score"], atol=1e-12)


def test_missing_rows_are_excluded_reported_and_do_not_enter_the_standardisation():
    table = pd.concat([_four(), pd.DataFrame({"id": ["e", "f"], "x": [np.nan, 100.0], "y": [1000.0, np.nan]})],
                      ignore_index=True).iloc[[4, 0, 1, 2, 3, 5]]
    result = need_index(table, {"x": 1, "y": 1}, id_column="id")
    assert result["id"].tolist() == ["e", "a", "b", "c", "d", "f"]  # input order and index kept
    assert result.index.tolist() == table.index.tolist()
    assert result.attrs["excluded"] == ["e", "f"]
    assert "e (x)" in result.attrs["note"] and "f (y)" in result.attrs["note"]
    assert result.loc[result["id"].isin(["e", "f"]), ["need_score", "contribution_x"]].isna().all().all()
    assert result.loc[result["id"].isin(["e", "f"]), "need_class"].isna().all()
    assert result["need_class"].dtype == "Int64"
    alone = need_index(_four(), {"x": 1, "y": 1}, id_column="id")
    np.testing.assert_allclose(result["need_score"].iloc[1:5], alone["need_score"], atol=1e-12)


@pytest.mark.parametrize("closed, expected", [("left", [2, 3]), ("right", [1, 2])])
def test_scores_exactly_on_a_threshold(closed, expected):
    # two districts standardise to exactly -1 and +1 (population SD)
    table = pd.DataFrame({"id": ["lo", "hi"], "x": [0.0, 2.0]})
    result = need_index(table, {"x": 1}, id_column="id", closed=closed)
    assert result["need_score"].tolist() == [-1.0, 1.0]
    assert result["need_class"].tolist() == expected


@pytest.mark.parametrize("closed, expected", [("left", [1, 2, 2]), ("right", [1, 1, 2])])
def test_score_exactly_zero_on_a_single_break(closed, expected):
    table = pd.DataFrame({"id": ["a", "b", "c"], "x": [0.0, 1.0, 2.0]})
    result = need_index(table, {"x": 2.5}, id_column="id", class_breaks=(0.0,), closed=closed)
    assert result["need_score"].iloc[1] == 0.0
    assert result["need_class"].tolist() == expected


def test_outlier_reaches_the_top_class_and_labels():
    # x = (0,0,0,0,1): mean 0.2, population SD 0.4 -> z = (-0.5,-0.5,-0.5,-0.5, 2.0)
    table = pd.DataFrame({"id": list("abcde"), "x": [0.0, 0, 0, 0, 1]})
    result = need_index(table, {"x": 1}, id_column="id")
    np.testing.assert_allclose(result["need_score"], [-0.5] * 4 + [2.0], atol=1e-12)
    assert result["need_class"].tolist() == [2, 2, 2, 2, 4]
    coded = need_index(table, {"x": 1}, id_column="id", class_breaks=(-1.0, 1.0), class_labels=(1, 3, 5))
    assert coded["need_class"].tolist() == [3, 3, 3, 3, 5]


@pytest.mark.parametrize("change, message", [
    (lambda t: t.drop(columns="y"), "not in the table"),
    (lambda t: t.assign(id=["a", "a", "c", "d"]), "duplicate ids"),
    (lambda t: t.assign(y=5.0), "constant"),
    (lambda t: t.assign(y=["1", "2", "x", "4"]), "not numbers"),
    (lambda t: t.assign(y=[1.0, np.inf, 2, 3]), "infinite"),
    (lambda t: t.assign(x=[np.nan, np.nan, np.nan, 1.0]), "at least 2"),
])
def test_bad_input_is_an_input_error(change, message):
    with pytest.raises(InputError, match=message):
        need_index(change(_four()), {"x": 1, "y": 1}, id_column="id")


@pytest.mark.parametrize("kwargs, message", [
    ({"class_breaks": (1.0, -1.0)}, "strictly increasing"),
    ({"class_labels": (1, 2)}, "class_labels"),
    ({"closed": "both"}, "closed"),
    ({"ddof": 2}, "ddof"),
])
def test_bad_options_are_input_errors(kwargs, message):
    with pytest.raises(InputError, match=message):
        need_index(_four(), {"x": 1, "y": 1}, id_column="id", **kwargs)


def test_opposed_indicators_with_equal_weight_cannot_be_restandardised():
    table = _four().assign(y=lambda t: -t["x"])
    with pytest.raises(InputError, match="weighted sum"):
        need_index(table, {"x": 1, "y": 1}, id_column="id")


def test_status_dynamics_labels():
    assert status_dynamics(3, 5) == "3/5"
    assert status_dynamics(3.0, np.int64(1)) == "3/1"
    assert status_dynamics(pd.NA, 5) is None
    s = pd.Series(pd.array([1, None, 4], dtype="Int64"), index=[10, 11, 12])
    out = status_dynamics(s, [3, 3, 5])
    assert out.tolist()[0] == "1/3" and pd.isna(out.iloc[1]) and out.iloc[2] == "4/5"
    assert out.index.tolist() == [10, 11, 12]
    with pytest.raises(InputError):
        status_dynamics(2.5, 1)
    with pytest.raises(InputError):
        status_dynamics([1, 2], [1])


# --------------------------------------------------------------------------- properties


@st.composite
def _tables(draw):
    n = draw(st.integers(4, 12))
    k = draw(st.integers(1, 3))
    cols = [draw(st.lists(st.floats(0, 100, allow_nan=False), min_size=n, max_size=n)) for _ in range(k)]
    x = np.array(cols, dtype=float).T
    assume(np.all(x.std(axis=0) > 0.5))
    weights = draw(st.lists(st.floats(0.2, 3).flatmap(lambda w: st.sampled_from([w, -w])),
                            min_size=k, max_size=k))
    table = pd.DataFrame(x, columns=[f"i{j}" for j in range(k)]).assign(id=[f"d{i}" for i in range(n)])
    w = dict(zip(table.columns[:k], weights))
    assume(_sum_sd(table, w) > 1e-3)
    return table, w


def _sum_sd(table: pd.DataFrame, weights: dict) -> float:
    x = table[list(weights)].to_numpy(float)
    return float((((x - x.mean(0)) / x.std(0)) @ np.array(list(weights.values()))).std())


@settings(max_examples=60, deadline=None)
@given(_tables(), st.floats(0.1, 10), st.floats(-100, 100), st.data())
def test_score_is_invariant_to_positive_affine_rescaling(tw, scale, shift, data):
    table, weights = tw
    column = data.draw(st.sampled_from(sorted(weights)))
    base = need_index(table, weights, id_column="id")["need_score"]
    rescaled = table.assign(**{column: scale * table[column] + shift})
    np.testing.assert_allclose(need_index(rescaled, weights, id_column="id")["need_score"], base, atol=1e-8)
    # only relative weights matter
    doubled = {c: 2.5 * w for c, w in weights.items()}
    np.testing.assert_allclose(need_index(table, doubled, id_column="id")["need_score"], base, atol=1e-8)


@settings(max_examples=60, deadline=None)
@given(_tables(), st.data())
def test_flipping_a_weight_sign_equals_flipping_the_indicator(tw, data):
    table, weights = tw
    column = data.draw(st.sampled_from(sorted(weights)))
    flipped_weight = {**weights, column: -weights[column]}
    assume(_sum_sd(table, flipped_weight) > 1e-3)  # e.g. two equal columns: x - x is constant
    a = need_index(table, flipped_weight, id_column="id")["need_score"]
    b = need_index(table.assign(**{column: -table[column]}), weights, id_column="id")["need_score"]
    np.testing.assert_allclose(a, b, atol=1e-8)
    # flipping every weight flips the score
    all_flipped = {c: -w for c, w in weights.items()}
    np.testing.assert_allclose(need_index(table, all_flipped, id_column="id")["need_score"],
                               -need_index(table, weights, id_column="id")["need_score"], atol=1e-8)


# --------------------------------------------------------------------------- class stability


def _survey(n: int = 40, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = [f"{i:03d}" for i in range(n)]
    est = pd.DataFrame({"district": ids, "unemployment": rng.uniform(2, 15, n),
                        "trust": rng.uniform(30, 80, n), "poverty": rng.uniform(5, 50, n)})
    se = pd.DataFrame({"district": ids, "trust": rng.uniform(1, 6, n)})
    return est, se


WEIGHTS = {"unemployment": 1, "trust": -1, "poverty": 1}


@pytest.mark.parametrize("tiny", [0.0, 1e-9])
def test_stability_is_one_when_standard_errors_vanish(tiny):
    est, se = _survey()
    se["trust"] = tiny
    result = class_stability(est, se, WEIGHTS, id_column="district", draws=200)
    assert (result["class_stability"] == 1).all()
    assert not result["flag_unstable"].any()
    assert (result["modal_class"] == result["need_class"]).all()
    pd.testing.assert_frame_equal(result[["district", "need_score", "need_class"]],
                                  need_index(est, WEIGHTS, id_column="district")[["district", "need_score",
                                                                                  "need_class"]])


def test_huge_standard_errors_give_every_district_the_class_frequencies():
    n, draws = 200, 3000
    est, _ = _survey(n)
    se = est[["district"]].assign(unemployment=1e6, trust=1e6, poverty=1e6)
    result = class_stability(est, se, WEIGHTS, id_column="district", draws=draws, seed=11)
    probs = result[[f"prob_class_{c}" for c in (1, 2, 3, 4)]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-12)
    pooled = probs.mean(axis=0)
    # pure noise: the re-standardised sum is ~ N(0,1), so the class shares are those of the normal
    from scipy.stats import norm
    normal = np.diff(norm.cdf([-np.inf, -1.0, 1.0, 1.5, np.inf]))
    np.testing.assert_allclose(pooled, normal, atol=0.01)
    # and every district has (up to Monte Carlo error, 5 binomial SEs) the same probabilities
    mc_se = np.sqrt(normal * (1 - normal) / draws)
    assert np.all(np.abs(probs - pooled) < 5 * mc_se + 0.005)
    # the reported class is then stable only to the extent of its frequency
    assert result["flag_unstable"].all()


def test_seeded_reproducibility_and_register_indicators_fixed():
    est, se = _survey()
    a = class_stability(est, se, WEIGHTS, id_column="district", draws=500, seed=7)
    b = class_stability(est, se, WEIGHTS, id_column="district", draws=500, seed=7)
    c = class_stability(est, se, WEIGHTS, id_column="district", draws=500, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not a["class_stability"].equals(c["class_stability"])
    assert a.attrs["simulated"] == ["trust"] and a.attrs["fixed"] == ["unemployment", "poverty"]
    # moderate SEs: probabilities are proper, stability is the reported class's probability
    probs = a[[f"prob_class_{k}" for k in (1, 2, 3, 4)]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1)
    np.testing.assert_allclose(a["class_stability"], probs[np.arange(len(a)), a["need_class"].to_numpy() - 1])
    assert (a["flag_unstable"] == (a["class_stability"] < 0.8)).all()
    assert (a["need_score_low"] <= a["need_score_high"]).all()


def test_class_stability_missing_rows_and_errors():
    est, se = _survey(12)
    est.loc[3, "poverty"] = np.nan
    result = class_stability(est, se, WEIGHTS, id_column="district", draws=100)
    assert result.attrs["excluded"] == ["003"]
    assert pd.isna(result.loc[3, "flag_unstable"]) and np.isnan(result.loc[3, "class_stability"])
    bad = se.assign(trust=lambda t: t["trust"].where(t.index != 5))
    with pytest.raises(InputError, match="no standard error"):
        class_stability(est, bad, WEIGHTS, id_column="district")
    with pytest.raises(InputError, match="no standard-error column"):
        class_stability(est, se, WEIGHTS, id_column="district", fixed=["unemployment"])
    with pytest.raises(InputError, match="negative"):
        class_stability(est, se.assign(trust=-1.0), WEIGHTS, id_column="district")
    # explicitly fixing the survey indicator too: nothing is simulated
    fixed_all = class_stability(est, se, WEIGHTS, id_column="district", draws=50, fixed=list(WEIGHTS))
    assert (fixed_all["class_stability"].dropna() == 1).all()


# --------------------------------------------------------------------------- weight sensitivity


def test_weight_sensitivity_hand_computed():
    """Three districts, x = (0,1,2), y = (0,2,1), one break at 0.6.

    z_x = (-1,0,1)*c, z_y = (-1,1,0)*c (c = sqrt(3/2)). With weights (u, v) the sum is
    c*(-(u+v), v, u); its population SD is c*sqrt(((u+v)^2+u^2+v^2)/3). At (1,1) b and c score
    1/sqrt2 = 0.707 (class 2). b drops below 0.6 when x gets 1.5: 1/sqrt(9.5/3) = 0.562, or y gets
    0.5: 0.5/sqrt(3.5/3) = 0.463 (its minimum); its maximum is at (0.5, 1): 1/sqrt(3.5/3) = 0.926.
    c mirrors b. a stays at about -1.4 (class 1).
    """
    table = pd.DataFrame({"id": ["a", "b", "c"], "x": [0.0, 1, 2], "y": [0.0, 2, 1]})
    result = weight_sensitivity(table, {"x": 1, "y": 1}, id_column="id", class_breaks=(0.6,), steps=3,
                                joint_draws=0)
    assert result["need_class"].tolist() == [1, 2, 2]
    assert result["need_rank"].tolist() == [3, 1, 1]
    assert result["class_min"].tolist() == [1, 1, 1] and result["class_max"].tolist() == [1, 2, 2]
    assert result["flag_class_change"].tolist() == [False, True, True]
    assert result["class_changed_by"].tolist() == ["", "x, y", "x, y"]
    assert result["rank_min"].tolist() == [3, 1, 1] and result["rank_max"].tolist() == [3, 2, 2]
    np.testing.assert_allclose(result["need_score_min"].iloc[1:], math.sqrt(3 / 14), atol=1e-12)
    np.testing.assert_allclose(result["need_score_max"].iloc[1:], math.sqrt(6 / 7), atol=1e-12)
    assert result["share_joint_class_changed"].isna().all()
    assert len(result.attrs["scenarios"]) == 1 + 2 * 3


def test_weight_sensitivity_without_variation_changes_nothing():
    est, _ = _survey()
    result = weight_sensitivity(est, WEIGHTS, id_column="district", weight_range=(1, 1), joint_draws=50)
    assert not result["flag_class_change"].any()
    assert (result["rank_min"] == result["rank_max"]).all()
    assert (result["share_joint_class_changed"] == 0).all()
    with pytest.raises(InputError, match="weight_range"):
        weight_sensitivity(est, WEIGHTS, id_column="district", weight_range=(0, 1))


def test_vectorised_simulation_equals_recomputing_need_index_draw_by_draw():
    """The same normal draws fed through need_index one draw at a time give the same classes."""
    est, se = _survey(15)
    draws = 40
    result = class_stability(est, se, WEIGHTS, id_column="district", draws=draws, seed=5)
    rng = np.random.default_rng(5)
    noise = rng.standard_normal((draws, len(est), 1))  # one simulated indicator ("trust")
    counts = np.zeros((len(est), 4))
    for b in range(draws):
        drawn = est.assign(trust=est["trust"] + noise[b, :, 0] * se["trust"])
        classes = need_index(drawn, WEIGHTS, id_column="district")["need_class"].to_numpy(int)
        counts[np.arange(len(est)), classes - 1] += 1
    np.testing.assert_allclose(result[[f"prob_class_{k}" for k in (1, 2, 3, 4)]].to_numpy(), counts / draws)
