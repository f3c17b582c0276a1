"""A fast version of the design-based small-area simulation (benchmarks/sae_simulation.py): the
demo's Lippstadt (17 of 18 districts with fewer than 30 respondents), few replicates."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "sae_simulation.py"


def _load():
    spec = importlib.util.spec_from_file_location("sae_simulation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("sae_simulation", module)  # dataclasses look their module up there
    spec.loader.exec_module(sys.modules["sae_simulation"])
    return sys.modules["sae_simulation"]


@pytest.mark.slow
def test_fay_herriot_beats_direct_for_small_districts_with_honest_intervals():
    sim = _load()
    frame = sim.simulate(["Lippstadt"], replicates=12, seed=11)
    assert set(frame["estimator"]) == set(sim.ESTIMATORS)
    assert frame.loc[frame["estimator"] != "direct", "estimate"].notna().all()
    small = frame[frame["n"] < 30]
    rmse = small.groupby("estimator")["error"].apply(lambda e: float(np.sqrt(np.mean(e**2))))
    coverage = small.groupby("estimator")["covered"].mean()
    # the goal of issue #14: FH RMSE <= 0.8 x direct for n < 30 (measured: about 0.35)
    assert rmse["fay_herriot"] <= 0.8 * rmse["direct"], rmse.to_dict()
    assert rmse["spatial_fay_herriot"] <= 0.8 * rmse["direct"], rmse.to_dict()
    # 95 % intervals (17 districts x 2 scores x 12 correlated replicates; the 500-replicate run gives
    # 92-95 % for Lippstadt's small districts): honest, yet much narrower than the direct ones
    assert 0.78 <= coverage["fay_herriot"] <= 0.995, coverage.to_dict()
    halfwidth = small.groupby("estimator")["halfwidth"].mean()
    assert halfwidth["fay_herriot"] < 0.6 * halfwidth["direct"], halfwidth.to_dict()
    assert (frame["truth"].between(0, 100)).all()
    table = sim.summarise(frame)
    assert set(table["size_class"]) == {"n < 15", "15-29", ">= 60"}
    assert "RRMSE%" in sim.markdown(table) and "Lippstadt" in sim.by_city(frame)


def test_coverage_monte_carlo_halfwidth_treats_replicates_as_clusters():
    sim = _load()
    rng = np.random.default_rng(5)
    covered = rng.random(400) < 0.9
    one = pd.DataFrame({"city": "A", "replicate": np.arange(400), "covered": covered})
    p = covered.mean()
    # one interval per replicate: the textbook binomial SE (with the C / (C - 1) factor)
    assert sim.coverage_mc_halfwidth(one) == pytest.approx(100 * sim.Z95 * np.sqrt(p * (1 - p) / 399), rel=1e-12)
    # two perfectly correlated districts per replicate carry no more information than one
    twice = pd.concat([one, one], ignore_index=True)
    assert sim.coverage_mc_halfwidth(twice) == pytest.approx(sim.coverage_mc_halfwidth(one), rel=1e-12)
    # two independent districts per replicate: about 1/sqrt(2) of it
    other = one.assign(covered=rng.random(400) < 0.9)
    both = pd.concat([one, other], ignore_index=True)
    assert sim.coverage_mc_halfwidth(both) < 0.8 * sim.coverage_mc_halfwidth(one)
    assert np.isnan(sim.coverage_mc_halfwidth(one.iloc[:1]))


def test_variance_diagnosis_recovers_known_residual_and_group_variances():
    """benchmarks/sae_variance_diagnosis.true_variances on means built exactly from a line, group levels
    and district offsets: levels (2, -4, 2) are orthogonal to the line (group means of the covariate
    1.5, 5.5, 9.5) and the offsets to line and groups, so the residual variance is the offsets' sum of
    squares over 12 - 4 degrees of freedom and the group spread the mean square of the levels, 8."""
    _load()
    path = SCRIPT.with_name("sae_variance_diagnosis.py")
    spec = importlib.util.spec_from_file_location("sae_variance_diagnosis", path)
    diagnosis = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(diagnosis)
    ids = [f"{i:02d}" for i in range(12)]
    x = pd.DataFrame({"share": np.arange(12, dtype=float)}, index=ids)
    group = np.repeat([0, 1, 2], 4)
    dummies = pd.DataFrame({"group 1": (group == 1) * 1.0, "group 2": (group == 2) * 1.0}, index=ids)
    levels = np.array([2.0, -4.0, 2.0])
    offsets = np.tile([1.0, -1.0, -1.0, 1.0], 3)
    design = np.column_stack([np.ones(12), x["share"], dummies])
    offsets -= design @ np.linalg.lstsq(design, offsets, rcond=None)[0]  # exactly orthogonal to all columns
    truth = pd.Series(50 + 0.5 * x["share"].to_numpy() + levels[group] + offsets, index=ids)
    resid_var, group_var = diagnosis.true_variances(truth, x, dummies)
    assert resid_var == pytest.approx(float(offsets @ offsets) / (12 - 4), rel=1e-9)
    assert group_var == pytest.approx(8.0, rel=1e-9)


def test_double_bootstrap_experiment_starts_from_the_published_bootstrap_mse():
    """benchmarks/sae_double_bootstrap.py: its first level draws exactly what sae_twofold.bootstrap_mse
    draws (same MSE to the last bit), and the Hall-Maiti correction is 2 mse1 - mse2 or, where that
    could turn negative, mse1 exp((mse1 - mse2) / mse2) (positive, below mse1)."""
    from geo_cohesion.survey.sae_twofold import bootstrap_mse

    sys.path.insert(0, str(SCRIPT.parent))
    try:
        path = SCRIPT.with_name("sae_double_bootstrap.py")
        spec = importlib.util.spec_from_file_location("sae_double_bootstrap", path)
        experiment = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(experiment)
    finally:
        sys.path.remove(str(SCRIPT.parent))
    rng = np.random.default_rng(3)
    group = np.repeat([0, 1, 2, 3], 5)
    x = np.column_stack([np.ones(20), rng.normal(size=20)])
    psi = rng.uniform(2.0, 8.0, 20)
    in_sample = np.ones(20, dtype=bool)
    in_sample[[4, 13]] = False
    args = (psi, x, group, in_sample, 1.5, 0.8, np.array([60.0, 2.0]), 40, 7)
    mse1, mse2 = experiment.bootstrap_levels(*args)
    assert np.array_equal(mse1, bootstrap_mse(*args))
    corrected = experiment.hall_maiti(mse1, mse2)
    up = mse1 >= mse2
    assert up.any() and (~up).any()  # both branches (10 areas each with these draws)
    assert np.allclose(corrected[up], 2 * mse1[up] - mse2[up])
    assert ((corrected[~up] > 0) & (corrected[~up] < mse1[~up])).all()
