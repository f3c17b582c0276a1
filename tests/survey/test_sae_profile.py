"""Stable spatial Fay-Herriot fit for few areas: the profile likelihood over rho
(geo_cohesion.survey.sae_fit.profile_rho), used when Fisher scoring (as R sae 1.3 eblupSFH)
fails or stops at a boundary."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo_cohesion.survey import sae_fit
from geo_cohesion.survey.sae import fay_herriot

REF_DIR = Path(__file__).resolve().parents[1] / "reference" / "sae"
_BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "sfh_stability.py"


def _benchmark_module():
    """The SAR lattice and sample generator of ``benchmarks/sfh_stability.py`` (one copy for both)."""
    spec = importlib.util.spec_from_file_location("sfh_stability", _BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_SFH = _benchmark_module()
rook_lattice, sar_sample = _SFH.rook_lattice, _SFH.sample


def reml_brute(y: np.ndarray, psi: np.ndarray, x: np.ndarray, w: np.ndarray, sigma2: float, rho: float) -> float:
    """Restricted log-likelihood (up to a constant) straight from V = sigma2 [(I-rho W)'(I-rho W)]^-1 + Psi."""
    a = np.eye(w.shape[0]) - rho * w
    v = sigma2 * np.linalg.inv(a.T @ a) + np.diag(psi)
    vi = np.linalg.inv(v)
    xvx = x.T @ vi @ x
    p = vi - vi @ x @ np.linalg.solve(xvx, x.T @ vi)
    return float(-0.5 * (np.linalg.slogdet(v)[1] + np.linalg.slogdet(xvx)[1] + y @ p @ y))


def grapes() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
    ref = json.loads((REF_DIR / "sae_reference.json").read_text(encoding="utf-8"))["grapes"]["REML"]
    data = pd.read_csv(REF_DIR / "grapes.csv")
    w = pd.read_csv(REF_DIR / "grapesprox.csv").to_numpy()
    return data["grapehect"].to_numpy(), data["var"].to_numpy(), data[["area", "workdays"]].to_numpy(), w, ref


def test_profile_agrees_with_sae_grapes():
    """R sae 1.3 mseSFH(grapehect ~ area + workdays - 1, var, grapesprox, method="REML"): at sae's
    spatialcorr the profile likelihood is maximised by sae's refvar, and sae's spatialcorr is the
    maximum of the profile over rho; the fit itself (scoring converges, profile unused) is sae's."""
    y, psi, x, w, ref = grapes()
    s_idx = np.arange(y.size)

    def profile(rho: float) -> tuple[float, float]:
        c = sae_fit._sar(w, rho)
        return sae_fit._ProfileAtRho(c, y, psi, x, "REML").maximise(sae_fit._sigma2_upper(y, psi))

    sigma2, top = profile(ref["rho"])
    np.testing.assert_allclose(sigma2, ref["sigma2_u"], rtol=1e-6)
    assert profile(ref["rho"] - 1e-3)[1] < top and profile(ref["rho"] + 1e-3)[1] < top
    np.testing.assert_allclose(top, sae_fit.spatial_loglik(w, y, psi, x, s_idx, "REML", ref["sigma2_u"], ref["rho"]),
                               rtol=1e-12)
    res = fay_herriot(y, psi, x, intercept=False, spatial_weights=w)
    np.testing.assert_allclose([res.sigma2_u, res.rho], [ref["sigma2_u"], ref["rho"]], rtol=1e-8)
    np.testing.assert_allclose(res.mse, ref["mse"], rtol=1e-8)
    assert not any("profile" in note for note in res.notes)


@pytest.mark.slow
def test_profile_fit_reproduces_sae_grapes():
    """R sae 1.3 mseSFH on grapes (274 areas) with scoring cut off after 2 iterations: the
    profile-likelihood fit alone finds sae's refvar, spatialcorr and MSE."""
    y, psi, x, w, ref = grapes()
    res = fay_herriot(y, psi, x, intercept=False, spatial_weights=w, max_iter=2)
    assert any("profile REML likelihood" in note for note in res.notes)
    np.testing.assert_allclose([res.sigma2_u, res.rho], [ref["sigma2_u"], ref["rho"]], rtol=1e-5)
    np.testing.assert_allclose(res.mse, ref["mse"], rtol=1e-5)


@pytest.mark.parametrize("seed", [58, 14, 27])
def test_profile_finds_the_reml_maximum_where_scoring_fails(seed):
    """20 areas (4 x 5 rook lattice), data drawn from the SAR model: Fisher scoring as sae 1.3
    eblupSFH (start median psi, 0.5) does not converge in 100 iterations. The fit maximises the
    profile REML likelihood instead: its (sigma2_u, rho) beats every point of a brute-force grid
    of the restricted likelihood (computed from V directly), lies within one cell of the grid's
    best point, and the REML score there is zero."""
    w = rook_lattice(4, 5)
    y, psi, x = sar_sample(seed, w)
    s_idx = np.arange(y.size)
    assert not sae_fit._fit_sfh(w, y, psi, x, s_idx, "REML", 100, 1e-8)[2]  # scoring fails

    res = fay_herriot(y, psi, x[:, 1:], spatial_weights=w)
    assert res.converged and res.sigma2_u > 0 and abs(res.rho) < 0.999
    assert any("profile REML likelihood" in note for note in res.notes)

    rhos = np.linspace(-0.99, 0.99, 100)
    sigmas = np.linspace(0.0, 2.0, 81)
    grid = np.array([[reml_brute(y, psi, x, w, s, r) for r in rhos] for s in sigmas])
    i, j = np.unravel_index(np.argmax(grid), grid.shape)
    fitted = reml_brute(y, psi, x, w, res.sigma2_u, res.rho)
    assert fitted >= grid.max() - 1e-10
    assert abs(res.rho - rhos[j]) <= rhos[1] - rhos[0] and abs(res.sigma2_u - sigmas[i]) <= sigmas[1] - sigmas[0]
    score, _ = sae_fit._SpatialState(res.sigma2_u, res.rho, w, w.T @ w, s_idx, y, psi, x).score_info("REML")
    assert np.abs(score).max() < 1e-5


def test_profile_keeps_an_honest_boundary():
    """No area effects at all (y on the regression line plus less noise than psi): the profile
    maximum is sigma2_u = 0 too, reported as the synthetic boundary solution (sae 1.3 model)."""
    w = rook_lattice(3, 5)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(15, 1))
    psi = np.full(15, 2.0)
    y = 1.0 + x[:, 0] + 0.2 * rng.normal(size=15)
    sigma2, _, _ = sae_fit.profile_rho(w, y, psi, np.column_stack([np.ones(15), x]), np.arange(15), "REML")
    res = fay_herriot(y, psi, x, spatial_weights=w)
    assert sigma2 == 0.0 and res.sigma2_u == 0.0 and res.synthetic and res.converged
