"""Tests for geo_cohesion.survey.sae (Fay-Herriot and spatial Fay-Herriot).

Reference values: R package sae 1.3 (CRAN) under R 4.2.2, computed by
tests/reference/sae/make_sae_reference.R and stored in tests/reference/sae/sae_reference.json
(fits at PRECISION = 1e-12, plus sae's default PRECISION = 1e-4 for iteration counts).
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from geo_cohesion.errors import InputError
from geo_cohesion.survey.sae import FayHerriotResult, fay_herriot, fh_benchmark

REF_DIR = Path(__file__).resolve().parents[1] / "reference" / "sae"
RTOL = 1e-8  # worst agreement with sae at the default tol=1e-8 is about 4e-9 (edge, ML)
RTOL_SAME_PATH = 1e-9  # tol=1e-4 reproduces sae's default-precision iterations


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ref() -> dict:
    """sae 1.3 reference values (tests/reference/sae/sae_reference.json)."""
    return json.loads((REF_DIR / "sae_reference.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def milk() -> pd.DataFrame:
    """sae's data(milk), exported as milk.csv."""
    return pd.read_csv(REF_DIR / "milk.csv")


@pytest.fixture(scope="module")
def milk_x(milk) -> pd.DataFrame:
    """Dummies of as.factor(MajorArea) without the first level (R's treatment contrasts)."""
    return pd.get_dummies(milk["MajorArea"], prefix="MajorArea", drop_first=True, dtype=float)


@pytest.fixture(scope="module")
def grapes() -> tuple[pd.DataFrame, np.ndarray]:
    """sae's data(grapes) and data(grapesprox)."""
    return pd.read_csv(REF_DIR / "grapes.csv"), pd.read_csv(REF_DIR / "grapesprox.csv").to_numpy()


@pytest.fixture(scope="module")
def edge() -> tuple[pd.DataFrame, np.ndarray]:
    """Edge fixture of make_sae_reference.R: 30 areas, raw (non-normalised) weights, one island."""
    return pd.read_csv(REF_DIR / "edge_data.csv"), pd.read_csv(REF_DIR / "edge_prox_raw.csv").to_numpy()


def close(actual, expected, rtol=RTOL, atol=0.0) -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float), rtol=rtol, atol=atol)


def check_against_r(res: FayHerriotResult, r: dict, rtol: float = RTOL) -> None:
    """Every quantity sae reports, for the sampled areas."""
    s = res.in_sample
    close(res.estimate[s], r["estimate"], rtol)
    close(res.mse[s], r["mse"], rtol)
    if r["sigma2_u"] == 0:
        assert res.sigma2_u == 0.0
    else:
        close(res.sigma2_u, r["sigma2_u"], rtol)
    close(res.beta.to_numpy(), r["beta"], rtol)
    close(res.beta_se.to_numpy(), r["beta_se"], rtol)
    close([res.loglik, res.aic, res.bic], [r["loglike"], r["AIC"], r["BIC"]], rtol)
    if "rho" in r:
        close(res.rho, r["rho"], rtol)
    assert res.converged


# --------------------------------------------------------------------------------------------
# non-spatial Fay-Herriot against sae
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["REML", "ML", "FH"])
def test_milk_matches_sae(method, ref, milk, milk_x):
    """R sae 1.3, data(milk): mseFH(yi ~ as.factor(MajorArea), SD^2, method=method, data=milk).

    EBLUP, MSE (Prasad-Rao / Datta-Lahiri / FH-moment), refvar, beta, std.error, loglike,
    AIC and BIC agree to 1e-8 relative.
    """
    res = fay_herriot(milk["yi"], milk["SD"] ** 2, milk_x, method=method)
    check_against_r(res, ref["milk"][method])
    assert list(res.beta.index) == ["(Intercept)", "MajorArea_2", "MajorArea_3", "MajorArea_4"]
    assert res.method == method and not res.spatial and np.isnan(res.rho) and not res.synthetic
    close(res.gamma, res.sigma2_u / (res.sigma2_u + milk["SD"] ** 2), 1e-14)


@pytest.mark.parametrize("method", ["REML", "ML", "FH"])
def test_milk_same_iterations_as_sae_at_its_default_precision(method, ref, milk, milk_x):
    """R sae 1.3, data(milk): mseFH(yi ~ as.factor(MajorArea), SD^2, method=method, data=milk)
    with sae's default PRECISION = 1e-4: tol=1e-4 takes the same Fisher-scoring path (start
    at median(SD^2), same update and stopping rule), so iterations, EBLUP and MSE coincide.
    """
    r = ref["milk"][method]["default_precision"]
    res = fay_herriot(milk["yi"], milk["SD"] ** 2, milk_x, method=method, tol=1e-4)
    assert res.iterations == r["iterations"]
    close(res.sigma2_u, r["sigma2_u"], RTOL_SAME_PATH)
    close(res.estimate, r["estimate"], RTOL_SAME_PATH)
    close(res.mse, r["mse"], RTOL_SAME_PATH)


@pytest.mark.parametrize("method", ["REML", "ML", "FH"])
def test_areas_without_direct_estimate(method, ref, milk, milk_x):
    """R sae 1.3, data(milk): mseFH(yi ~ as.factor(MajorArea), SD^2, method=method,
    data=milk[-c(5, 20, 38), ]) equals the fit with NaN direct estimates in those rows; the
    dropped areas get x'beta with MSE sigma2_u + x'Var(beta)x (>= sigma2_u).
    """
    r = ref["milk_subset"][method]
    out = np.array(ref["milk_subset"]["dropped_rows_1based"]) - 1
    y = milk["yi"].to_numpy().copy()
    y[out] = np.nan
    psi = (milk["SD"] ** 2).to_numpy().copy()
    psi[out] = np.nan  # allowed where direct is NaN
    res = fay_herriot(y, psi, milk_x, method=method)
    check_against_r(res, r)
    assert res.in_sample.sum() == len(milk) - 3 and not res.in_sample[out].any()

    x = np.column_stack([np.ones(len(milk)), milk_x.to_numpy()])
    beta = np.array(r["beta"])
    close(res.estimate[out], x[out] @ beta)
    keep = res.in_sample
    v = 1.0 / (r["sigma2_u"] + milk["SD"].to_numpy()[keep] ** 2)
    q = np.linalg.inv(x[keep].T @ (x[keep] * v[:, None]))
    close(res.mse[out], r["sigma2_u"] + np.einsum("ij,jk,ik->i", x[out], q, x[out]))
    assert (res.mse[out] >= res.sigma2_u).all()
    assert (res.gamma[out] == 0).all() and np.isnan(res.residuals[out]).all()
    assert any("without a direct estimate" in note for note in res.notes)


@pytest.mark.parametrize("method", ["REML", "ML", "FH"])
def test_boundary_gives_synthetic_estimate_and_note(method, ref, milk, milk_x):
    """R sae 1.3: mseFH(yi ~ as.factor(MajorArea), SD^2, method=method, data=milk) with yi
    replaced by OLS fit + 0.5*SD*N(0,1) (set.seed(1979)): refvar is truncated at 0, the EBLUP
    is the synthetic estimate X beta and the MSE is sae's g1+g2+2g3(-b g1') at 0.
    """
    r = ref["milk_boundary"][method]
    y = np.array(ref["milk_boundary"]["yi"])
    res = fay_herriot(y, milk["SD"] ** 2, milk_x, method=method)
    check_against_r(res, r, rtol=1e-10)
    assert res.sigma2_u == 0.0 and res.synthetic
    x = np.column_stack([np.ones(len(milk)), milk_x.to_numpy()])
    close(res.estimate, x @ res.beta.to_numpy(), 1e-13)
    assert (res.gamma == 0).all()
    assert "synthetic" in res.notes[0] and "0" in res.notes[0]


# --------------------------------------------------------------------------------------------
# spatial Fay-Herriot against sae
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_grapes_spatial_matches_sae(method, ref, grapes):
    """R sae 1.3, data(grapes), data(grapesprox): mseSFH(grapehect ~ area + workdays - 1, var,
    grapesprox, method=method, data=grapes): spatial EBLUP, analytic MSE (Singh et al. g1..g4,
    ML bias term), refvar, spatialcorr, beta, std.error, loglike/AIC/BIC to 1e-8 relative.
    """
    data, prox = grapes
    res = fay_herriot(data["grapehect"], data["var"], data[["area", "workdays"]], intercept=False,
                      spatial_weights=prox, method=method)
    check_against_r(res, ref["grapes"][method])
    assert res.spatial and list(res.beta.index) == ["area", "workdays"]
    assert not any("row-standardised" in note for note in res.notes)  # grapesprox already is

    r = ref["grapes"][method]["default_precision"]
    res4 = fay_herriot(data["grapehect"], data["var"], data[["area", "workdays"]], intercept=False,
                       spatial_weights=prox, method=method, tol=1e-4)
    assert res4.iterations == r["iterations"]
    close([res4.sigma2_u, res4.rho], [r["sigma2_u"], r["rho"]], RTOL_SAME_PATH)
    close(res4.estimate, r["estimate"], RTOL_SAME_PATH)
    close(res4.mse, r["mse"], 1e-8)  # grapes' V is ill-conditioned (var 0.16..200): ~7e-11


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_edge_island_and_unnormalised_weights_match_sae(method, ref, edge):
    """R sae 1.3, edge fixture of make_sae_reference.R (30 areas, raw symmetric weights whose
    rows do not sum to 1, area 30 an island): mseSFH(y ~ x1, vardir, prox, method=method,
    data=edge) with prox = raw / rowSums(raw) (island row 0). We pass the *raw* matrix.
    """
    data, raw = edge
    assert (raw[-1] == 0).all() and not np.allclose(raw[:-1].sum(axis=1), 1)
    res = fay_herriot(data["y"], data["vardir"], data[["x1"]], spatial_weights=raw, method=method)
    check_against_r(res, ref["edge"][method])
    assert any("row-standardised" in note for note in res.notes)
    assert any("1 area(s) have no neighbours" in note for note in res.notes)
    # the island's effect is independent of the others: its weight is the plain FH shrinkage
    close(res.gamma[-1], res.sigma2_u / (res.sigma2_u + data["vardir"].iloc[-1]), 1e-10)
    assert ((res.gamma > 0) & (res.gamma < 1)).all()

    as_sparse = fay_herriot(data["y"], data["vardir"], data[["x1"]], spatial_weights=sparse.csr_matrix(raw),
                            method=method)
    close(as_sparse.estimate, res.estimate, 1e-12)
    close(as_sparse.mse, res.mse, 1e-12)

    r = ref["edge"][method]["default_precision"]
    res4 = fay_herriot(data["y"], data["vardir"], data[["x1"]], spatial_weights=raw, method=method, tol=1e-4)
    assert res4.iterations == r["iterations"]
    close(res4.estimate, r["estimate"], RTOL_SAME_PATH)
    close(res4.mse, r["mse"], RTOL_SAME_PATH)


def test_libpysal_weights_accepted(edge):
    """Same model as sae 1.3 mseSFH on a rook lattice: a libpysal W gives the same fit as its
    dense matrix."""
    libpysal = pytest.importorskip("libpysal")
    data, _ = edge
    w = libpysal.weights.lat2W(6, 5, rook=True)
    dense = w.sparse.toarray()
    a = fay_herriot(data["y"], data["vardir"], data[["x1"]], spatial_weights=w)
    b = fay_herriot(data["y"], data["vardir"], data[["x1"]], spatial_weights=dense)
    close(a.estimate, b.estimate, 1e-12)
    close(a.mse, b.mse, 1e-12)


@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("area", [3, 29])  # an interior area and the island
def test_spatial_out_of_sample_is_limit_of_sae_formula(method, area, edge):
    """Extends sae 1.3 eblupSFH/mseSFH (edge fixture) to an area without a direct estimate: its
    prediction x'beta + G_is V^-1 r and MSE (g1+g2+2g3-g4, ML bias term) equal the limit of
    sae's in-sample formulas when that area's sampling variance goes to infinity.
    """
    data, raw = edge
    y = data["y"].to_numpy().copy()
    y[area] = np.nan
    res = fay_herriot(y, data["vardir"], data[["x1"]], spatial_weights=raw, method=method, tol=1e-12)
    psi = data["vardir"].to_numpy().copy()
    psi[area] = 1e9
    limit = fay_herriot(data["y"], psi, data[["x1"]], spatial_weights=raw, method=method, tol=1e-12)
    close(res.sigma2_u, limit.sigma2_u, 1e-7)
    close(res.estimate, limit.estimate, 1e-7)
    close(res.mse, limit.mse, 1e-7)
    assert res.mse[area] >= res.sigma2_u * 0.5 and res.gamma[area] == 0
    if area == 29:  # the island borrows nothing from neighbours: synthetic x'beta
        close(res.estimate[area], res.beta["(Intercept)"] + res.beta["x1"] * data["x1"][area], 1e-12)


# --------------------------------------------------------------------------------------------
# invariants
# --------------------------------------------------------------------------------------------
def simulate(m: int, sigma2_u: float, seed: int, spatial_rho: float | None = None):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(m, 2))
    psi = rng.uniform(0.5, 2.0, m)
    u = rng.normal(0.0, np.sqrt(sigma2_u), m)
    y = 1.0 + x @ np.array([2.0, -1.0]) + u + rng.normal(0.0, np.sqrt(psi))
    return y, psi, x


def test_huge_area_variance_gives_direct_estimates():
    """Fay & Herriot (1979) model as in sae 1.3 eblupFH: when sigma2_u >> psi the EBLUP is
    (almost) the direct estimate, gamma -> 1."""
    y, psi, x = simulate(60, 1e8, seed=1)
    res = fay_herriot(y, psi, x)
    assert res.sigma2_u > 1e7
    assert (res.gamma > 0.999999).all()
    close(res.estimate, y, rtol=1e-6)
    assert (res.mse <= psi * 1.0001).all()


def test_boundary_spatial_gives_synthetic_and_note():
    """Spatial Fay-Herriot (sae 1.3 eblupSFH model) on data without area effects: REML sigma2_u
    is truncated at 0 and the estimates are the synthetic X beta, reported in notes."""
    rng = np.random.default_rng(7)
    m = 40
    x = rng.normal(size=(m, 1))
    psi = np.full(m, 1.0)
    y = 1.0 + 2.0 * x[:, 0] + 0.3 * rng.normal(size=m)  # far less noise than psi
    w = np.zeros((m, m))
    idx = np.arange(m - 1)
    w[idx, idx + 1] = w[idx + 1, idx] = 1.0
    res = fay_herriot(y, psi, x, spatial_weights=w)
    assert res.sigma2_u == 0.0 and res.synthetic and res.converged
    close(res.estimate, res.beta.iloc[0] + res.beta.iloc[1] * x[:, 0], 1e-12)
    assert np.isfinite(res.mse).all() and (res.mse > 0).all()
    assert any("synthetic" in note for note in res.notes)


def test_permutation_of_areas_permutes_results(milk, milk_x, edge):
    """sae 1.3 eblupFH / eblupSFH models do not depend on the order of the areas."""
    rng = np.random.default_rng(3)
    perm = rng.permutation(len(milk))
    a = fay_herriot(milk["yi"], milk["SD"] ** 2, milk_x)
    b = fay_herriot(milk["yi"].to_numpy()[perm], milk["SD"].to_numpy()[perm] ** 2, milk_x.to_numpy()[perm])
    close(b.estimate, a.estimate[perm], 1e-12)
    close(b.mse, a.mse[perm], 1e-12)
    close(b.sigma2_u, a.sigma2_u, 1e-12)

    data, raw = edge
    perm = rng.permutation(len(data))
    a = fay_herriot(data["y"], data["vardir"], data[["x1"]], spatial_weights=raw)
    b = fay_herriot(data["y"].to_numpy()[perm], data["vardir"].to_numpy()[perm], data[["x1"]].to_numpy()[perm],
                    spatial_weights=raw[np.ix_(perm, perm)])
    close(b.estimate, a.estimate[perm], 1e-9)
    close(b.mse, a.mse[perm], 1e-9)
    close([b.sigma2_u, b.rho], [a.sigma2_u, a.rho], 1e-9)


def test_failed_scoring_is_rescued_by_the_profile_likelihood(edge):
    """sae 1.3 eblupSFH (edge fixture) needs 20 iterations at PRECISION=1e-4; with max_iter=2
    scoring cannot finish (sae would return no estimates). The fit then maximises the profile
    REML likelihood over rho and polishes it: the same solution as the full scoring fit, with a note."""
    data, raw = edge
    full = fay_herriot(data["y"], data["vardir"], data[["x1"]], spatial_weights=raw)
    res = fay_herriot(data["y"], data["vardir"], data[["x1"]], spatial_weights=raw, max_iter=2)
    assert res.converged
    assert any("profile REML likelihood" in note and "did not converge" in note for note in res.notes)
    close([res.sigma2_u, res.rho], [full.sigma2_u, full.rho], 1e-5)
    close(res.estimate, full.estimate, 1e-6)
    close(res.mse, full.mse, 1e-5)


def test_result_is_frozen_and_to_frame(milk, milk_x):
    """Result object of the sae 1.3 mseFH milk example: immutable, tidy table with intervals."""
    res = fay_herriot(milk["yi"], milk["SD"] ** 2, milk_x)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.sigma2_u = 1.0
    with pytest.raises(ValueError):
        res.estimate[0] = 0.0
    frame = res.to_frame(level=0.90)
    assert list(frame.columns) == ["direct", "sampling_var", "estimate", "mse", "rmse", "ci_low", "ci_high",
                                   "gamma", "residual", "in_sample"]
    assert frame.index.equals(milk.index)
    close(frame["ci_high"] - frame["estimate"], 1.6448536269514722 * np.sqrt(res.mse), 1e-12)
    close(res.residuals, (milk["yi"] - (res.estimate - res.gamma * milk["yi"]) / (1 - res.gamma))
          / np.sqrt(res.sigma2_u + milk["SD"] ** 2), 1e-10)
    with pytest.raises(InputError):
        res.to_frame(level=95)


def test_pandas_labels_are_kept(milk, milk_x):
    """Area labels of the sae 1.3 milk data flow from a pandas index to the result."""
    idx = pd.Index([f"area{i:02d}" for i in milk["SmallArea"]], name="area")
    res = fay_herriot(pd.Series(milk["yi"].to_numpy(), index=idx), pd.Series((milk["SD"] ** 2).to_numpy(), index=idx),
                      milk_x.set_axis(idx))
    assert res.areas.equals(idx) and res.to_frame().index.equals(idx)
    arr = fay_herriot(milk["yi"].to_numpy(), (milk["SD"] ** 2).to_numpy(), milk_x.to_numpy())
    assert list(arr.beta.index) == ["(Intercept)", "x1", "x2", "x3"]
    close(arr.estimate, res.estimate, 1e-15)


def bad_cases():
    y, psi, x = simulate(20, 1.0, seed=2)
    psi_neg = psi.copy()
    psi_neg[4] = -0.1
    psi_zero = psi.copy()
    psi_zero[4] = 0.0
    psi_nan = psi.copy()
    psi_nan[4] = np.nan
    x_nan = x.copy()
    x_nan[6, 1] = np.nan
    x_sing = np.column_stack([x, x[:, 0] * 2])
    y_inf = y.copy()
    y_inf[0] = np.inf
    base = {"direct": y, "sampling_var": psi, "covariates": x}
    return {
        "length mismatch": ({**base, "direct": y[:-1]}, "19 areas"),
        "negative variance": ({**base, "sampling_var": psi_neg}, "positive"),
        "zero variance": ({**base, "sampling_var": psi_zero}, "positive"),
        "NaN variance": ({**base, "sampling_var": psi_nan}, "row 4"),
        "NaN covariate": ({**base, "covariates": x_nan}, "'x2'"),
        "singular design": ({**base, "covariates": x_sing}, "collinear"),
        "infinite direct": ({**base, "direct": y_inf}, "infinite"),
        "all NaN direct": ({**base, "direct": np.full(20, np.nan)}, "No area"),
        "too few areas": ({"direct": y[:3], "sampling_var": psi[:3], "covariates": x[:3]}, "coefficients"),
        "unknown method": ({**base, "method": "GLS"}, "method"),
        "FH spatial": ({**base, "method": "FH", "spatial_weights": np.ones((20, 20))}, "spatial"),
        "weights shape": ({**base, "spatial_weights": np.ones((19, 19))}, "20 x 20"),
        "negative weights": ({**base, "spatial_weights": -np.ones((20, 20))}, "negative"),
        "NaN weights": ({**base, "spatial_weights": np.full((20, 20), np.nan)}, "missing"),
        "text covariate": ({**base, "covariates": pd.DataFrame({"g": ["a"] * 20})}, "not numeric"),
        "max_iter": ({**base, "max_iter": 0}, "max_iter"),
        "tol": ({**base, "tol": -1.0}, "tol"),
    }


@pytest.mark.parametrize("case", list(bad_cases()))
def test_bad_input_raises_input_error(case):
    """Inputs sae 1.3 eblupFH/eblupSFH reject (or would fail on) raise a clear InputError."""
    kwargs, fragment = bad_cases()[case]
    with pytest.raises(InputError, match=fragment):
        fay_herriot(**kwargs)


def test_misaligned_pandas_inputs_raise(milk, milk_x):
    """Series/DataFrame inputs of the sae 1.3 milk example with different indexes are refused."""
    with pytest.raises(InputError, match="different indexes"):
        fay_herriot(milk["yi"], milk["SD"] ** 2, milk_x.iloc[::-1])


def test_non_spatial_is_linear_in_m():
    """Fay-Herriot (sae 1.3 eblupFH formulas) for 20,000 areas needs no m x m matrix: fast."""
    y, psi, x = simulate(20_000, 1.0, seed=5)
    y[::100] = np.nan
    start = time.perf_counter()
    for method in ("REML", "ML", "FH"):
        res = fay_herriot(y, psi, x, method=method)
        assert res.converged and abs(res.sigma2_u - 1.0) < 0.1
    assert time.perf_counter() - start < 5.0


def test_fh_benchmark():
    """Ratio benchmarking of EBLUPs (e.g. of sae 1.3 eblupFH) to a population-weighted target."""
    est = np.array([1.0, 2.0, 3.0, np.nan])
    pop = np.array([100.0, 300.0, 600.0, 0.0])
    out = fh_benchmark(est, pop, 3.0)
    close(np.sum(pop[:3] * out[:3]) / pop.sum(), 3.0, 1e-14)
    close(out[:3] / est[:3], np.full(3, 3.0 / 2.5), 1e-14)
    with pytest.raises(InputError):
        fh_benchmark(est[:3], pop, 3.0)
    with pytest.raises(InputError):
        fh_benchmark(np.array([1.0, -1.0]), np.array([1.0, 1.0]), 3.0)
    with pytest.raises(InputError):
        fh_benchmark(np.array([1.0, np.nan]), np.array([1.0, 1.0]), 3.0)


# --------------------------------------------------------------------------------------------
# simulation
# --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_simulation_coverage_and_mse_gain():
    """Data from the Fay-Herriot model (m=40, known psi, sigma2_u=1), 500 replicates, REML with
    sae 1.3 mseFH's Prasad-Rao MSE: 95% intervals cover 92-98% overall and the EBLUP MSE is
    below the direct variance on average (estimated and empirical)."""
    rng = np.random.default_rng(20240611)
    m, reps, sigma2_u = 40, 500, 1.0
    x = rng.normal(size=(m, 1))
    psi = np.linspace(0.3, 3.0, m)
    hits, est_mse, sq_err = 0, np.zeros(m), np.zeros(m)
    for _ in range(reps):
        theta = 1.0 + 2.0 * x[:, 0] + rng.normal(0.0, np.sqrt(sigma2_u), m)
        y = theta + rng.normal(0.0, np.sqrt(psi))
        res = fay_herriot(y, psi, x)
        half = 1.959963984540054 * np.sqrt(res.mse)
        hits += int(np.sum(np.abs(res.estimate - theta) <= half))
        est_mse += res.mse / reps
        sq_err += (res.estimate - theta) ** 2 / reps
    coverage = hits / (m * reps)
    assert 0.92 <= coverage <= 0.98, coverage
    assert est_mse.mean() < psi.mean() and sq_err.mean() < psi.mean()
    assert (est_mse < psi).all()
    # the Prasad-Rao MSE is about unbiased for the empirical MSE on average
    assert abs(est_mse.mean() / sq_err.mean() - 1) < 0.1


def test_non_converging_fisher_scoring_is_solved_by_bracketing():
    """One precise area among many imprecise ones makes Fisher scoring overshoot back and forth;
    sae gives up after 100 iterations. The REML equation is then solved by Brent's method: the
    same root as a (much) longer Fisher-scoring run, with a note."""
    psi = np.array([1.85, 13.27, 27.01, 31.81, 20.24, 29.51, 27.12, 34.55, 62.68, 62.99, 45.71, 30.36, 24.3,
                    19.27, 79.97, 32.87, 97.03, 68.41])
    y = np.array([62.69, 59.16, 58.82, 64.73, 61.23, 62.68, 62.06, 66.5, 44.05, 51.82, 52.77, 59.58, 60.3, 59.55,
                  57.7, 53.79, 49.35, 44.11])
    patient = fay_herriot(y, psi, None, max_iter=1000)
    assert patient.converged and patient.iterations > 100 and not patient.notes
    res = fay_herriot(y, psi, None)
    assert res.converged and res.iterations == 100
    assert any("bracketing" in note for note in res.notes)
    close(res.sigma2_u, patient.sigma2_u, rtol=1e-7)
    close(res.estimate, patient.estimate, rtol=1e-9)
    close(res.mse, patient.mse, rtol=1e-7)


# --------------------------------------------------------------------------------------------
# conditional (area-specific) MSE, Rivest & Belmonte (2000)
# --------------------------------------------------------------------------------------------
def _stein_case(m: int = 12, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fixed area means theta (one area 4 points off the regression), x and sampling variances."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(m, 1))
    psi = rng.uniform(1.0, 4.0, m)
    theta = 1.0 + x[:, 0] + rng.normal(0.0, 1.5, m)
    theta[0] += 4.0
    return x, psi, theta


@pytest.mark.parametrize("method", ["REML", "ML", "FH"])
def test_conditional_mse_is_steins_formula(method):
    """Textbook formula: mse_c = psi + 2 psi dh_i/dy_i + h_i^2 with h_i = EBLUP_i - y_i
    (Rivest & Belmonte 2000), the derivative taken here by central finite differences of
    complete refits (beta-hat and sigma2_u-hat move with y_i)."""
    x, psi, theta = _stein_case()
    y = theta + np.random.default_rng(11).normal(0.0, np.sqrt(psi))
    res = fay_herriot(y, psi, x, method=method, tol=1e-13)
    assert res.sigma2_u > 0
    h = res.estimate - y
    step = 1e-6
    dh = np.empty(y.size)
    for i in range(y.size):
        up, down = y.copy(), y.copy()
        up[i] += step
        down[i] -= step
        hi_up = fay_herriot(up, psi, x, method=method, tol=1e-13).estimate[i] - up[i]
        hi_down = fay_herriot(down, psi, x, method=method, tol=1e-13).estimate[i] - down[i]
        dh[i] = (hi_up - hi_down) / (2 * step)
    close(res.mse_conditional, psi + 2 * psi * dh + h**2, rtol=1e-6, atol=1e-7)
    assert res.mse_conditional.flags.writeable is False


def test_conditional_mse_is_unbiased_given_the_area_means():
    """Simulation with the area means held fixed: the average conditional MSE matches the
    empirical MSE of the EBLUP area by area (within 4 Monte Carlo SEs); the Prasad-Rao MSE
    does not for the area 4 points off the regression (it undershoots)."""
    x, psi, theta = _stein_case()
    rng = np.random.default_rng(5)
    sq, cond, pr = [], [], []
    for _ in range(800):
        res = fay_herriot(theta + rng.normal(0.0, np.sqrt(psi)), psi, x)
        sq.append((res.estimate - theta) ** 2)
        cond.append(res.mse_conditional)
        pr.append(res.mse)
    sq_a, cond_a, pr_a = np.array(sq), np.array(cond), np.array(pr)
    diff = cond_a - sq_a
    z = diff.mean(axis=0) / (diff.std(axis=0) / np.sqrt(len(diff)))
    assert np.abs(z).max() < 4.0
    assert pr_a[:, 0].mean() < 0.8 * sq_a[:, 0].mean()


def test_conditional_mse_spatial_and_out_of_sample(grapes):
    """Spatial fits: Stein's formula at fixed (sigma2_u, rho), derivative of
    X beta + G V^-1 (y - X beta) in y_i taken analytically; out-of-sample areas keep mse."""
    data, prox = grapes
    y = data["grapehect"].to_numpy().copy()
    x = data[["area", "workdays"]]
    res = fay_herriot(y, data["var"], x, spatial_weights=prox, intercept=False)
    w = prox / prox.sum(axis=1, keepdims=True)
    xm = x.to_numpy()
    a = np.eye(len(y)) - res.rho * w
    g = res.sigma2_u * np.linalg.inv(a.T @ a)
    vinv = np.linalg.inv(g + np.diag(data["var"]))
    q = np.linalg.inv(xm.T @ vinv @ xm)
    proj = xm @ q @ xm.T @ vinv
    jac = proj + g @ vinv @ (np.eye(len(y)) - proj)  # d EBLUP / d y
    h = res.estimate - y
    psi = data["var"].to_numpy()
    close(res.mse_conditional, psi + 2 * psi * (np.diag(jac) - 1) + h**2, rtol=1e-7, atol=1e-9)
    y[[0, 5]] = np.nan
    out = fay_herriot(y, data["var"], x, intercept=False)
    close(out.mse_conditional[[0, 5]], out.mse[[0, 5]], 0)


def test_robust_mse_is_the_larger_one():
    from geo_cohesion.survey.sae import robust_mse

    close(robust_mse([1.0, 2.0, 3.0, np.nan], [0.5, -1.0, 4.0, 1.0]), [1.0, 2.0, 4.0, np.nan])
    close(robust_mse([1.0], [np.nan]), [1.0])
    with pytest.raises(InputError):
        robust_mse([1.0, 2.0], [1.0])
