"""Fay-Herriot model with random group effects (two-fold area-level model, issue #14).

Reference: R package ``metafor`` 3.8-1 (``rma.mv`` with known sampling variances and random
effects ``~ 1 | group/area``, REML), run by ``tests/reference/twofold/make_twofold_reference.R``
on ``sae``'s ``milk`` data (43 areas in 4 major areas); the MSE is checked by simulation from the
model.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo_cohesion.errors import InputError
from geo_cohesion.survey.sae import fay_herriot

REF = Path(__file__).resolve().parents[1] / "reference"


@pytest.fixture(scope="module")
def milk() -> pd.DataFrame:
    return pd.read_csv(REF / "sae" / "milk.csv")


@pytest.fixture(scope="module")
def metafor() -> pd.DataFrame:
    return pd.read_csv(REF / "twofold" / "twofold_reference.csv")


@pytest.mark.parametrize("case", ["intercept", "logn"])
def test_reproduces_metafor_rma_mv_on_milk(milk, metafor, case):
    covariates = None if case == "intercept" else pd.DataFrame({"logn": np.log(milk["ni"])})
    fit = fay_herriot(milk["yi"], milk["SD"] ** 2, covariates, groups=milk["MajorArea"])
    ref = metafor[metafor["case"] == case].reset_index(drop=True)
    # the restricted likelihood is flat near its maximum: variances agree to about 1e-7 relative
    assert fit.sigma2_v == pytest.approx(ref["sigma2_v"][0], rel=1e-5)
    assert fit.sigma2_u == pytest.approx(ref["sigma2_u"][0], rel=1e-5)
    assert fit.beta.iloc[0] == pytest.approx(ref["beta0"][0], rel=1e-6)
    if case == "logn":
        assert fit.beta.iloc[1] == pytest.approx(ref["beta1"][0], rel=1e-5)
    np.testing.assert_allclose(fit.estimate, ref["estimate"], rtol=0, atol=1e-6)
    assert fit.converged and fit.mse_method == "analytic"
    assert list(fit.group_effects.index) == [1, 2, 3, 4]


def test_groups_of_one_area_give_the_fay_herriot_fit(milk):
    """With every area its own group, v and u are one effect: the fit is Fay-Herriot's."""
    fh = fay_herriot(milk["yi"], milk["SD"] ** 2, None)
    two = fay_herriot(milk["yi"], milk["SD"] ** 2, None, groups=milk["SmallArea"])
    assert two.sigma2_v + two.sigma2_u == pytest.approx(fh.sigma2_u, rel=1e-5)
    np.testing.assert_allclose(two.estimate, fh.estimate, atol=1e-6)


def test_area_without_respondents_gets_its_group_effect(milk):
    direct = milk["yi"].to_numpy().copy()
    direct[5] = np.nan
    fit = fay_herriot(direct, milk["SD"] ** 2, None, groups=milk["MajorArea"])
    group = milk["MajorArea"][5]
    assert fit.estimate[5] == pytest.approx(fit.beta.iloc[0] + fit.group_effects[group], rel=1e-12)
    assert not fit.in_sample[5] and np.isfinite(fit.mse[5]) and fit.mse[5] > fit.sigma2_u
    # the note says so (it said "the synthetic regression estimate x'beta with MSE sigma2_u + ...")
    assert any("plus their group's predicted effect, x'beta + v_g" in note for note in fit.notes)


def test_bootstrap_mse_is_seeded(milk):
    args = (milk["yi"], milk["SD"] ** 2, None)
    a = fay_herriot(*args, groups=milk["MajorArea"], mse_bootstrap=10, seed=7)
    b = fay_herriot(*args, groups=milk["MajorArea"], mse_bootstrap=10, seed=7)
    c = fay_herriot(*args, groups=milk["MajorArea"], mse_bootstrap=10, seed=8)
    assert a.mse_method == "bootstrap"
    np.testing.assert_array_equal(a.mse, b.mse)
    assert not np.array_equal(a.mse, c.mse)
    np.testing.assert_array_equal(a.estimate, c.estimate)
    # the analytic MSE comes along: the same as the analytic fit's, whatever the bootstrap seed
    analytic = fay_herriot(*args, groups=milk["MajorArea"])
    np.testing.assert_allclose(a.mse_analytic, analytic.mse, rtol=1e-12)
    np.testing.assert_array_equal(analytic.mse_analytic, analytic.mse)
    plain = fay_herriot(*args)
    np.testing.assert_array_equal(plain.mse_analytic, plain.mse)


@pytest.mark.parametrize("kwargs, message", [
    ({"groups": [1] * 42 + [None]}, "has no group label"),
    ({"groups": [1] * 40}, "40 labels"),
    ({"groups": [1] * 43, "method": "ML"}, "REML only"),
    ({"groups": [1] * 43, "spatial_weights": np.eye(43)}, "cannot be combined"),
    ({"groups": [1] * 43, "mse_bootstrap": -1}, "non-negative integer"),
    ({"groups": [1] * 43}, "at least two groups"),
    ({"groups": [1, 2] * 21 + [1], "seed": None}, "seed must be a non-negative integer"),  # was a TypeError
    ({"groups": [1, 2] * 21 + [1], "seed": -1}, "seed must be a non-negative integer"),  # was a ValueError
    ({"groups": np.ones((43, 2))}, r"1-D sequence of 43\), got shape \(43, 2\)"),  # was used row by row
    ({"groups": "A" * 43}, "got a single text"),  # was split into 43 one-letter labels
])
def test_bad_group_input_is_one_clear_error(milk, kwargs, message):
    with pytest.raises(InputError, match=message):
        fay_herriot(milk["yi"], milk["SD"] ** 2, None, **kwargs)


def test_groups_series_must_match_the_areas_index(milk):
    """A groups Series in another order than ``direct`` was used by position: a silently wrong model."""
    direct = milk["yi"].set_axis(milk["SmallArea"])
    shuffled = milk["MajorArea"].set_axis(milk["SmallArea"]).iloc[::-1]
    with pytest.raises(InputError, match="groups and the other inputs have different indexes"):
        fay_herriot(direct, milk["SD"].set_axis(milk["SmallArea"]) ** 2, None, groups=shuffled)
    aligned = fay_herriot(direct, milk["SD"].set_axis(milk["SmallArea"]) ** 2, None, groups=shuffled.sort_index())
    plain = fay_herriot(milk["yi"], milk["SD"] ** 2, None, groups=milk["MajorArea"].to_numpy())
    np.testing.assert_allclose(aligned.estimate, plain.estimate, rtol=1e-12)


def test_labels_of_mixed_types_stay_distinct(milk):
    """1 and "1" are two groups: the fallback for labels that do not sort must not merge them as text."""
    codes = milk["MajorArea"].to_numpy()
    mixed = [int(c) if c <= 2 else str(c - 2) for c in codes]  # groups 1, 2, "1", "2"
    fit = fay_herriot(milk["yi"], milk["SD"] ** 2, None, groups=mixed)
    same = fay_herriot(milk["yi"], milk["SD"] ** 2, None, groups=codes)
    assert len(fit.group_effects) == 4
    np.testing.assert_allclose(fit.estimate, same.estimate, rtol=1e-10)


def test_tiny_sampling_variance_gives_no_log_of_zero():
    """sigma2_v s_g > 1e16 (a district with psi ~ 1e-18): 1 - c s cancelled to 0 and log|V| warned."""
    from geo_cohesion.survey.sae_twofold import Groups, _Blocks

    psi = np.array([1e-18, 4.0, 5.0, 6.0])
    blocks = _Blocks(np.array([2.0]), np.array([0.0]), psi, Groups(np.array([0, 0, 1, 1]), 2))
    with np.errstate(all="raise"):
        logdet = blocks.logdet()[0]
    v = np.diag(psi) + 2.0 * np.kron(np.eye(2), np.ones((2, 2)))
    assert logdet == pytest.approx(np.linalg.slogdet(v)[1], rel=1e-9)


def _design(rng, n_groups, per_group):
    """Group codes, one covariate and sampling variances of n_groups x per_group areas."""
    m = n_groups * per_group
    group = np.repeat(np.arange(n_groups), per_group)
    x = rng.normal(size=m)
    psi = rng.uniform(0.5, 3.0, m)
    return group, x, psi


@pytest.mark.slow
def test_mse_matches_the_simulated_error_of_the_eblup():
    """Analytic g1+g2+2g3 and the bootstrap MSE against the Monte Carlo MSE of the EBLUP under
    the model (25 groups of 4 areas, 220 samples; bootstrap in 15 of them): the area-averaged ratios lie within 12 %."""
    rng = np.random.default_rng(20261125)
    sigma2_v, sigma2_u = 1.0, 0.8
    group, x, psi = _design(rng, 25, 4)
    beta = np.array([50.0, 2.0])
    squared, analytic, boot = [], [], []
    for r in range(220):
        theta = beta[0] + beta[1] * x + rng.normal(0, np.sqrt(sigma2_v), 25)[group] \
            + rng.normal(0, np.sqrt(sigma2_u), x.size)
        y = theta + rng.normal(0, np.sqrt(psi))
        fit = fay_herriot(y, psi, pd.DataFrame({"x": x}), groups=group,
                          mse_bootstrap=40 if r < 15 else 0, seed=r)
        squared.append((fit.estimate - theta) ** 2)
        (boot if r < 15 else analytic).append(fit.mse)
    true_mse = np.mean(squared, axis=0)
    assert np.mean(analytic) / np.mean(true_mse) == pytest.approx(1.0, abs=0.12)
    assert np.mean(boot) / np.mean(true_mse) == pytest.approx(1.0, abs=0.12)


def test_fisher_information_equals_the_dense_trace_formula():
    """The O(m) REML information equals tr(P V_k P V_l) / 2 computed with dense matrices."""
    from geo_cohesion.survey.sae_twofold import Groups, _Blocks, _gls, information

    rng = np.random.default_rng(3)
    m, n_groups = 40, 7
    group = rng.integers(0, n_groups, m)
    x = np.column_stack([np.ones(m), rng.normal(size=m)])
    psi = rng.uniform(1, 3, m)
    blocks = _Blocks(np.array([0.8]), np.array([1.1]), psi, Groups(group, n_groups))
    vx, q, _, _ = _gls(blocks, np.zeros((1, m)), x)
    z = np.zeros((m, n_groups))
    z[np.arange(m), group] = 1.0
    j = z @ z.T
    vinv = np.linalg.inv(0.8 * j + np.diag(1.1 + psi))
    p = vinv - vinv @ x @ np.linalg.inv(x.T @ vinv @ x) @ x.T @ vinv
    dense = 0.5 * np.array([[np.trace(p @ j @ p @ j), np.trace(p @ j @ p)], [np.trace(p @ p @ j), np.trace(p @ p)]])
    np.testing.assert_allclose(information(blocks, vx, q)[0], dense, rtol=1e-10)


def test_scoring_finds_the_optimum_of_the_multistart_search():
    """The bootstrap's fast path (projected Fisher scoring from one start) reaches the same REML
    optimum as scoring plus L-BFGS-B from several starts, on 60 random few-group data sets."""
    from geo_cohesion.survey.sae_twofold import Groups, _objective, estimate_variances

    rng = np.random.default_rng(5)
    for _ in range(60):
        m, n_groups = int(rng.integers(12, 40)), int(rng.integers(2, 6))
        group = rng.integers(0, n_groups, m)
        group[:n_groups] = np.arange(n_groups)
        x = np.column_stack([np.ones(m), rng.normal(size=m)])
        psi = rng.uniform(1, 8, m)
        y = (x @ [60.0, 1.0] + rng.normal(0, rng.uniform(0, 2), n_groups)[group]
             + rng.normal(0, rng.uniform(0, 2), m) + rng.normal(0, np.sqrt(psi)))
        groups, starts = Groups(group, n_groups), [(0.5, 0.5), (0.0, 1.0), (1.0, 0.0)]
        fast = estimate_variances(y, psi, x, groups, starts, thorough=False)
        full = estimate_variances(y, psi, x, groups, starts, thorough=True)
        f_fast = _objective(np.array(fast[:2]), y, psi, x, groups)[0]
        f_full = _objective(np.array(full[:2]), y, psi, x, groups)[0]
        assert f_fast <= f_full + 1e-8 * max(1.0, abs(f_full))


def test_stacked_scoring_fits_every_data_set_as_if_alone():
    """The bootstrap refits many data sets at once: each gets the variances it gets on its own
    (the stacked arrays do not couple the data sets), including those that stop at a bound."""
    from geo_cohesion.survey.sae_twofold import BOOTSTRAP_DECREMENT, Groups, _objective_batch, _scale, _scoring

    rng = np.random.default_rng(11)
    m, n_groups = 30, 4
    group = np.repeat(np.arange(n_groups), [10, 8, 7, 5])
    x = np.column_stack([np.ones(m), rng.normal(size=m)])
    psi = rng.uniform(1, 6, m)
    ys = np.stack([x @ [55.0, 2.0] + rng.normal(0, s_v, n_groups)[group] + rng.normal(0, s_u, m)
                   + rng.normal(0, np.sqrt(psi)) for s_v, s_u in rng.uniform(0, 2, (25, 2))])
    groups, start = Groups(group, n_groups), np.tile([0.5, 1.0], (25, 1))
    together, conv_together, its_together = _scoring(ys, psi, x, groups, start, _scale(ys, psi))
    for b in range(25):
        alone, conv_alone, its_alone = _scoring(ys[b:b + 1], psi, x, groups, start[b:b + 1], _scale(ys[b:b + 1], psi))
        np.testing.assert_allclose(together[b], alone[0], rtol=1e-10, atol=1e-12)
        assert conv_together[b] == conv_alone[0] and its_together[b] == its_alone[0]
    assert (together == 0.0).any()  # some data sets end at the bound sigma2 = 0
    # the bootstrap's early stop: within the likelihood's precision of the strict optimum, never worse by more
    early, conv_early, its_early = _scoring(ys, psi, x, groups, start, _scale(ys, psi),
                                            decrement_tol=BOOTSTRAP_DECREMENT)
    strict_value = _objective_batch(together, ys, psi, x, groups)[0]
    early_value = _objective_batch(early, ys, psi, x, groups)[0]
    assert conv_early.all() and (its_early <= its_together).all()
    assert np.all(early_value - strict_value <= BOOTSTRAP_DECREMENT)


def test_g1_in_closed_form_equals_the_dense_subtraction():
    """g1 = (1 - gamma_d)^2 c_g + gamma_d psi_d (sampled) or c_g + sigma2_u (not sampled), against
    sigma2_v + sigma2_u - k_d'V^-1 k_d with V inverted densely, where V is well conditioned."""
    from geo_cohesion.survey.sae_twofold import analytic_mse

    rng = np.random.default_rng(3)
    m, n_groups = 20, 4
    group = np.repeat(np.arange(n_groups), 5)
    in_sample = rng.random(m) < 0.8
    in_sample[group == 3] = False  # a group without sampled areas: c_g = sigma2_v
    x, psi = np.column_stack([np.ones(m), rng.normal(size=m)]), rng.uniform(0.5, 5.0, m)
    sigma2_v, sigma2_u = 1.3, 0.7
    gs = group[in_sample]
    z_s, z_all = np.eye(n_groups)[gs], np.eye(n_groups)[group]
    vinv = np.linalg.inv(sigma2_v * z_s @ z_s.T + np.diag(sigma2_u + psi[in_sample]))
    own = np.eye(m)[:, in_sample]
    k = sigma2_v * z_all @ z_s.T + sigma2_u * own
    g1_dense = sigma2_v + sigma2_u - np.sum((k @ vinv) * k, axis=1)
    q = np.linalg.inv(x[in_sample].T @ vinv @ x[in_sample])
    zero_g3 = analytic_mse(x, group, in_sample, psi, sigma2_v, sigma2_u, q)  # g1 + g2 + 2 g3
    b = k @ vinv
    d = x - b @ x[in_sample]
    g2 = np.einsum("ij,jk,ik->i", d, q, d)
    assert np.all(zero_g3 - g1_dense - g2 >= -1e-12)  # 2 g3 >= 0: the rest is g1 + g2
    # g1 alone: an information so large that g3 vanishes is not available, so compare g1 directly
    from geo_cohesion.survey.sae_twofold import Groups, _Blocks

    blocks = _Blocks(np.array([sigma2_v]), np.array([sigma2_u]), psi[in_sample], Groups(gs, n_groups))
    c = blocks.c[0][group]
    shrink = np.zeros(m)
    shrink[in_sample] = psi[in_sample] * blocks.w[0]
    np.testing.assert_allclose(np.where(in_sample, shrink**2 * c + sigma2_u * shrink, c + sigma2_u), g1_dense,
                               rtol=1e-12, atol=1e-14)


def test_sampling_variances_over_16_orders_of_magnitude_give_a_positive_mse():
    """psi from 1e-9 to 1e7: the dense subtraction for g1 cancelled to -0.0046 (a negative MSE)."""
    rng = np.random.default_rng(0)
    group = np.repeat(np.arange(6), 5)
    psi = 10.0 ** rng.uniform(-9, 7, 30)
    x = rng.normal(size=(30, 1))
    y = 60 + 2 * x[:, 0] + rng.normal(0, 20, 6)[group] + rng.normal(0, np.sqrt(psi))
    fit = fay_herriot(y, psi, x, groups=group)
    assert np.all(np.isfinite(fit.mse)) and np.all(fit.mse > 0)


def test_two_variances_need_two_residual_degrees_of_freedom():
    """4 sampled areas, 3 coefficients: one residual contrast cannot separate sigma2_v from sigma2_u
    (the REML information is singular); the analytic MSE was -3e16 or +1e16."""
    rng = np.random.default_rng(5)
    x, psi = rng.normal(size=(5, 2)), rng.uniform(1.0, 80.0, 5)
    y = 60 + x @ [1.0, -1.0] + rng.normal(0, 4, 5)
    y[4] = np.nan
    for replicates in (0, 20):
        with pytest.raises(InputError, match=r"at least 2 more areas with a direct estimate than coefficients \(3\)"):
            fay_herriot(y, psi, x, groups=[0, 0, 1, 1, 1], mse_bootstrap=replicates)


def test_unstable_analytic_mse_is_named_or_left_to_the_bootstrap():
    """Sampling variances from 1e-7 to 1e7 with two covariates: g2 + 2 g3 cancel to a negative MSE for
    some areas. Analytic: one InputError naming the fix; with the bootstrap those analytic values are
    NaN (the bootstrap MSE alone is used) and a note says why."""
    rng = np.random.default_rng(53)
    group = np.repeat(np.arange(5), 3)
    x, psi = rng.normal(size=(15, 2)), 10.0 ** rng.uniform(-7, 7, 15)
    y = 60 + x @ [1.0, -1.0] + rng.normal(0, 4, 5)[group] + rng.normal(0, np.sqrt(psi))
    with pytest.raises(InputError, match="non-positive analytic MSE") as info:
        fay_herriot(y, psi, x, groups=group)
    assert "mse_bootstrap=200" in str(info.value)
    boot = fay_herriot(y, psi, x, groups=group, mse_bootstrap=20)
    assert np.all(np.isfinite(boot.mse)) and np.all(boot.mse > 0)
    assert np.isnan(boot.mse_analytic).any() and np.all(np.isnan(boot.mse_analytic) | (boot.mse_analytic > 0))
    assert any("the bootstrap MSE alone is used" in note for note in boot.notes)


def test_strong_regression_does_not_fail_the_convergence_test():
    """REML variances do not change when X b is added to y. With a slope of 300 the old gradient test
    (scaled by the variance of y) called 6 of these 10 optima 'not converged', and the pipeline fell
    back to the model without group effects; the scoring decrement is scale-free."""
    for seed in range(10):
        rng = np.random.default_rng(seed)
        group = np.repeat(np.arange(6), 5)
        x, psi = rng.normal(size=(30, 1)), rng.uniform(0.5, 5.0, 30)
        y = 60 + rng.normal(0, 1.5, 6)[group] + rng.normal(0, 1.0, 30) + rng.normal(0, np.sqrt(psi))
        flat = fay_herriot(y, psi, x, groups=group)
        steep = fay_herriot(y + 300 * x[:, 0], psi, x, groups=group)
        assert flat.converged and steep.converged
        assert steep.sigma2_v == pytest.approx(flat.sigma2_v, rel=1e-4, abs=1e-8)
        assert steep.sigma2_u == pytest.approx(flat.sigma2_u, rel=1e-4, abs=1e-8)
