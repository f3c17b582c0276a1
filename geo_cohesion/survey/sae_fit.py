"""Fitting the Fay-Herriot models: Fisher scoring for REML/ML, the Fay-Herriot moment estimator,
and the spatial (SAR) model with its EBLUP and MSE (as R ``sae`` ``eblupFH``/``mseFH`` and
``eblupSFH``/``mseSFH``). Private numerics behind :func:`geo_cohesion.survey.sae.fay_herriot`,
which validates the inputs and documents the model."""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy import linalg, optimize, sparse

#: A weights matrix: SciPy sparse (CSR) or dense.
Weights = Any

_RHO_BOUND = 0.999  # sae::eblupSFH sets a Fisher-scoring step past +-1 to +-0.999


# --------------------------------------------------------------------------------------------
# non-spatial Fay-Herriot: O(m p^2) per iteration, no m x m matrices
# --------------------------------------------------------------------------------------------
def _gls(a: float, y: np.ndarray, psi: np.ndarray, x: np.ndarray
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """GLS pieces for V = diag(a + psi): 1/V, Q = (X'V^-1 X)^-1, beta, residual y - X beta."""
    v = 1.0 / (a + psi)
    q = np.linalg.inv(x.T @ (x * v[:, None]))
    beta = q @ (x.T @ (v * y))
    return v, q, beta, y - x @ beta


def _fh_score(a: float, y: np.ndarray, psi: np.ndarray, x: np.ndarray, method: str) -> tuple[float, float]:
    """Score (or estimating function) and Fisher information for sigma2_u at ``a``."""
    n, p = x.shape
    v, q, _, r = _gls(a, y, psi, x)
    py = v * r  # P y
    if method == "FH":  # Fay-Herriot moment equation sum r^2/V - (n-p) = 0
        return float(np.sum(r * py) - (n - p)), float(v.sum())
    if method == "ML":
        return float(-0.5 * v.sum() + 0.5 * py @ py), float(0.5 * np.sum(v * v))
    qx2 = q @ (x.T @ (x * (v * v)[:, None]))  # Q X'V^-2 X
    tr_p = v.sum() - np.trace(qx2)
    tr_pp = np.sum(v * v) - 2.0 * np.trace(q @ (x.T @ (x * (v**3)[:, None]))) + np.sum(qx2 * qx2.T)
    return float(-0.5 * tr_p + 0.5 * py @ py), float(0.5 * tr_pp)


def _fit_fh(y: np.ndarray, psi: np.ndarray, x: np.ndarray, method: str, max_iter: int,
            tol: float) -> tuple[float, bool, int, bool]:
    """Fisher scoring for sigma2_u as sae::eblupFH; returns (sigma2_u, converged, iterations, boundary)."""
    a = float(np.median(psi))
    for k in range(1, max_iter + 1):
        s, f = _fh_score(a, y, psi, x, method)
        new = a + s / f
        if new < 0.0:
            # sae iterates on and truncates the limit at 0. Equivalent and safer: if the score at 0
            # points down, 0 is the (boundary) solution; otherwise halve towards it.
            if _fh_score(0.0, y, psi, x, method)[0] <= 0.0:
                return 0.0, True, k, True
            new = a / 2.0
        step = abs(new - a) / a
        a = new
        if step <= tol:
            return a, True, k, False
    return max(a, 0.0), False, max_iter, False


def _bracket_fh(y: np.ndarray, psi: np.ndarray, x: np.ndarray, method: str, tol: float) -> float | None:
    """Root of the sigma2_u score (estimating equation) by bracketing (Brent), or None.

    Used when Fisher scoring does not converge: with very unequal sampling variances (one large
    area among many small ones) its steps can overshoot back and forth for hundreds of
    iterations. The equation is one-dimensional, so a sign change brackets the solution.
    """
    def score(a: float) -> float:
        return _fh_score(a, y, psi, x, method)[0]

    if score(0.0) <= 0.0:
        return 0.0
    upper = 2.0 * max(float(np.median(psi)), float(np.var(y)), float(np.finfo(float).tiny))
    for _ in range(200):
        if score(upper) < 0.0:
            return float(optimize.brentq(score, 0.0, upper, xtol=1e-300, rtol=max(tol, 4 * np.finfo(float).eps),
                                         maxiter=500))
        upper *= 4.0
    return None


def _variance_slope(a: float, y: np.ndarray, psi: np.ndarray, x: np.ndarray, method: str) -> np.ndarray:
    """d sigma2_u-hat / d y_j for every area j: implicit derivative of the estimating equation
    s(A, y) = 0 that defines sigma2_u-hat (REML, ML score or Fay-Herriot moment equation).

    With P = V^-1 - V^-1 X Q X'V^-1: d s/dy = P^2 y (REML, ML) or 2 P y (FH), and the total
    derivative in A (beta-hat profiled) is tr(P^2)/2 - y'P^3 y (REML), sum(V^-2)/2 - y'P^3 y (ML)
    or -y'P^2 y (FH). At the boundary sigma2_u-hat = 0 the estimate is locally constant (0).
    """
    if a <= 0.0:
        return np.zeros_like(y)
    v, q, _, r = _gls(a, y, psi, x)

    def pmul(z: np.ndarray) -> np.ndarray:
        out: np.ndarray = v * z - v * (x @ (q @ (x.T @ (v * z))))
        return out

    py = v * r  # P y
    ppy = pmul(py)
    if method == "FH":
        ds_dy, ds_da = 2.0 * py, -float(py @ py)
    else:
        qx2 = q @ (x.T @ (x * (v * v)[:, None]))
        if method == "REML":
            tr_pp = np.sum(v * v) - 2.0 * np.trace(q @ (x.T @ (x * (v**3)[:, None]))) + np.sum(qx2 * qx2.T)
        else:
            tr_pp = float(np.sum(v * v))
        ds_dy, ds_da = ppy, 0.5 * float(tr_pp) - float(py @ ppy)
    if ds_da == 0.0:
        return np.zeros_like(y)
    slope: np.ndarray = -ds_dy / ds_da
    return slope


def conditional_mse(a: float, y: np.ndarray, psi: np.ndarray, x: np.ndarray, method: str) -> np.ndarray:
    r"""Area-specific (conditional) MSE of the EBLUP, Rivest & Belmonte (2000).

    For :math:`\hat\theta_i = y_i + h_i(y)` with :math:`h_i = -\hat B_i(y_i - x_i'\hat\beta)`
    and normal sampling errors with known :math:`\psi_i`, Stein's lemma gives the estimator
    :math:`\psi_i + 2\psi_i\,\partial h_i/\partial y_i + h_i^2`, unbiased for the MSE
    *given the area effects* :math:`E[(\hat\theta_i-\theta_i)^2\mid\theta]`. The derivative
    includes the dependence of :math:`\hat\beta` and :math:`\hat\sigma^2_u` on :math:`y_i`
    (:func:`_variance_slope`). It can be negative (it is unbiased, not positive).
    """
    v, q, beta, r = _gls(a, y, psi, x)
    b = psi * v
    lev = v * np.einsum("ij,jk,ik->i", x, q, x)  # d(x_i'beta)/dy_i at fixed sigma2_u
    slope = _variance_slope(a, y, psi, x, method)
    dbeta_da = -(q @ (x.T @ (v * v * r)))
    dh = -b * (1.0 - lev) + b * (v * r + x @ dbeta_da) * slope
    h = -b * r
    out: np.ndarray = psi + 2.0 * psi * dh + h * h
    return out


def fit_fay_herriot(y: np.ndarray, psi: np.ndarray, x: np.ndarray, in_sample: np.ndarray, method: str,
                       max_iter: int, tol: float) -> dict[str, Any]:
    ys, ps, xs = y[in_sample], psi[in_sample], x[in_sample]
    n, p = xs.shape
    a, converged, iterations, _ = _fit_fh(ys, ps, xs, method, max_iter, tol)
    notes: list[str] = []
    if not converged:
        root = _bracket_fh(ys, ps, xs, method, tol)
        if root is not None:
            a, converged = root, True
            notes.append(f"Fisher scoring did not settle within {max_iter} iterations; the {method} equation for "
                         "sigma2_u was solved by bracketing (Brent's method) instead.")
    v, q, beta, r = _gls(a, ys, ps, xs)

    # MSE of sae::mseFH (Prasad-Rao / Datta-Lahiri / Datta-Rao-Smith)
    b = ps * v  # psi/(A+psi)
    g1 = a * ps * v  # = psi (1 - b), written without cancellation for large psi
    g2 = b**2 * np.einsum("ij,jk,ik->i", xs, q, xs)
    sum_v2 = np.sum(v * v)
    if method == "FH":
        sum_v = v.sum()
        var_a = 2.0 * n / sum_v**2
        bias = 2.0 * (n * sum_v2 - sum_v**2) / sum_v**3
    else:
        var_a = 2.0 / sum_v2
        bias = 0.0 if method == "REML" else -np.trace(q @ (xs.T @ (xs * (v * v)[:, None]))) / sum_v2
    g3 = b**2 * var_a * v
    mse_s = g1 + g2 + 2.0 * g3 - bias * b**2

    m = y.size
    xb = x @ beta
    estimate, mse = xb.copy(), a + np.einsum("ij,jk,ik->i", x, q, x)  # out-of-sample: synthetic
    estimate[in_sample] = xb[in_sample] + a * v * r
    mse[in_sample] = mse_s
    mse_cond = mse.copy()  # out of sample: no own data, the synthetic MSE
    mse_cond[in_sample] = conditional_mse(a, ys, ps, xs, method)
    gamma, resid = np.zeros(m), np.full(m, np.nan)
    gamma[in_sample] = a * v
    resid[in_sample] = r * np.sqrt(v)
    loglik = -0.5 * float(np.sum(np.log(2.0 * np.pi / v) + r * r * v))
    return {
        "estimate": estimate, "mse": mse, "mse_conditional": mse_cond, "sigma2_u": a,
        "rho": np.nan, "beta": beta, "beta_cov": q,
        "gamma": gamma, "residuals": resid, "loglik": loglik, "k": p + 1, "converged": converged,
        "iterations": iterations, "notes": notes,
    }


# --------------------------------------------------------------------------------------------
# spatial Fay-Herriot (SAR area effects): dense, O(m^3) per iteration
# --------------------------------------------------------------------------------------------
#: Up to this many areas the spatial algebra uses dense weights: for small m the overhead of
#: sparse products dominates (a 20-area fit is about 10x faster dense); above, W stays sparse.
_DENSE_MAX_AREAS = 300


def _as_dense(a: Weights) -> np.ndarray:
    return a.toarray() if sparse.issparse(a) else np.asarray(a)


def _sar(w: Weights, rho: float) -> np.ndarray:
    """C = [(I - rho W)'(I - rho W)]^-1 over all areas (dense); ``w`` sparse or dense."""
    if sparse.issparse(w):
        a = sparse.identity(w.shape[0], format="csr") - rho * w
        return _spd_inv((a.T @ a).toarray())
    dense = np.eye(w.shape[0]) - rho * w
    return _spd_inv(dense.T @ dense)


def _cross(w: Weights) -> Weights:
    """W'W (CSR when W is sparse)."""
    wtw = w.T @ w
    return wtw.tocsr() if sparse.issparse(wtw) else wtw


def _spd_inv(v: np.ndarray) -> np.ndarray:
    inverse: np.ndarray
    try:
        inverse = linalg.cho_solve(linalg.cho_factor(v), np.eye(v.shape[0]))
    except linalg.LinAlgError:
        inverse = linalg.inv(v)
    return inverse


class _SpatialState:
    """All quantities of the spatial model at (sigma2, rho) needed by scoring and MSE."""

    def __init__(self, sigma2: float, rho: float, w: Weights, wtw: Weights, s_idx: np.ndarray,
                 y: np.ndarray, psi: np.ndarray, x: np.ndarray, full: bool = False) -> None:
        self.sigma2, self.rho = sigma2, rho
        all_in = s_idx.size == w.shape[0]
        c = _sar(w, rho)
        d_r = 2.0 * rho * wtw - w - w.T  # d[(I - rho W')(I - rho W)] / d rho (sparse or dense)
        if sparse.issparse(d_r):
            d_r = d_r.tocsr()

        def sub(mat: np.ndarray) -> np.ndarray:
            return mat if all_in else mat[np.ix_(s_idx, s_idx)]

        if full:  # everything over all areas (for prediction and MSE)
            self.c = c
            self.c_r = -(c @ (d_r @ c))  # dC/d rho
            self.c_rr = -2.0 * (self.c_r @ (d_r @ c) + c @ (wtw @ c))  # d2C/d rho2
            self.cs, self.crs = sub(c), sub(self.c_r)
        else:
            self.cs = sub(c)
            self.crs = -(c @ (d_r @ c)) if all_in else -(c[s_idx] @ (d_r @ c[:, s_idx]))
        self.vk = (self.cs, sigma2 * self.crs)  # dV/d sigma2, dV/d rho
        self.v = sigma2 * self.cs + np.diag(psi)
        self.vi = _spd_inv(self.v)
        vix = self.vi @ x
        self.q = np.linalg.inv(x.T @ vix)
        self.beta = self.q @ (vix.T @ y)
        self.r = y - x @ self.beta
        self.p = self.vi - vix @ self.q @ vix.T
        self.py = self.p @ y
        self.vix = vix

    def reml_info(self) -> np.ndarray:
        pv = [self.p @ vk for vk in self.vk]
        return np.array([[0.5 * np.sum(pv[k] * pv[j].T) for j in range(2)] for k in range(2)])

    def score_info(self, method: str) -> tuple[np.ndarray, np.ndarray]:
        quad = np.array([self.py @ vk @ self.py for vk in self.vk])
        left = [(self.p if method == "REML" else self.vi) @ vk for vk in self.vk]
        score = -0.5 * np.array([np.trace(lk) for lk in left]) + 0.5 * quad
        info = np.array([[0.5 * np.sum(left[k] * left[j].T) for j in range(2)] for k in range(2)])
        return score, info


def _fit_sfh(w: Weights, y: np.ndarray, psi: np.ndarray, x: np.ndarray, s_idx: np.ndarray, method: str,
             max_iter: int, tol: float, start: tuple[float, float] | None = None
             ) -> tuple[float, float, bool, int, bool]:
    """Fisher scoring for (sigma2_u, rho) as sae::eblupSFH (start: median psi, 0.5)."""
    wtw = _cross(w)
    theta = np.array([float(np.median(psi)), 0.5] if start is None else [start[0], start[1]])
    for k in range(1, max_iter + 1):
        state = _SpatialState(theta[0], theta[1], w, wtw, s_idx, y, psi, x)
        score, info = state.score_info(method)
        try:
            new = theta + np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            return max(theta[0], 0.0), theta[1], False, k, False
        if not np.isfinite(new).all():
            return max(theta[0], 0.0), theta[1], False, k, False
        if new[1] <= -1.0:
            new[1] = -_RHO_BOUND
        elif new[1] >= 1.0:
            new[1] = _RHO_BOUND
        if new[0] < 0.0:
            # As in the non-spatial case: stop at the boundary if the sigma2 score at 0 points down.
            at0 = _SpatialState(0.0, theta[1], w, wtw, s_idx, y, psi, x)
            if at0.score_info(method)[0][0] <= 0.0:
                return 0.0, theta[1], True, k, True
            new[0] = theta[0] / 2.0
        step = np.abs(new - theta) / np.maximum(np.abs(theta), np.finfo(float).tiny)
        theta = new
        if step.max() <= tol:
            return theta[0], theta[1], True, k, False
    return max(theta[0], 0.0), theta[1], False, max_iter, False


# --------------------------------------------------------------------------------------------
# profile likelihood over rho: the fallback when scoring fails or stops at a boundary
# --------------------------------------------------------------------------------------------
#: rho grid of the profile likelihood: step 0.01 inside (-1, 1) plus the bounds +-0.999
RHO_GRID = np.unique(np.concatenate([np.linspace(-0.99, 0.99, 199), [-_RHO_BOUND, _RHO_BOUND]]))


class _ProfileAtRho:
    """(Restricted) log-likelihood of sigma2_u at a fixed rho, O(n p^2) per evaluation.

    With C the SAR correlation of the sampled areas and Psi^-1/2 C Psi^-1/2 = U diag(lam) U',
    V = sigma2 C + Psi = Psi^1/2 U diag(1 + sigma2 lam) U' Psi^1/2: one eigen-decomposition per
    rho, then log|V|, X'V^-1 X and the GLS residual need only diagonal weights 1/(1 + sigma2 lam).
    """

    def __init__(self, c_ss: np.ndarray, y: np.ndarray, psi: np.ndarray, x: np.ndarray, method: str) -> None:
        s = 1.0 / np.sqrt(psi)
        lam, u = np.linalg.eigh(s[:, None] * c_ss * s[None, :])
        self.lam = np.clip(lam, 0.0, None)  # C is positive definite; clip rounding error
        self.yt, self.xt = u.T @ (s * y), u.T @ (s[:, None] * x)
        self.log_psi, self.reml = float(np.sum(np.log(psi))), method == "REML"
        self.n, self.p = x.shape

    def loglik(self, sigma2: float) -> float:
        d = 1.0 / (1.0 + max(sigma2, 0.0) * self.lam)
        xtx = self.xt.T @ (self.xt * d[:, None])
        beta = np.linalg.solve(xtx, self.xt.T @ (d * self.yt))
        r = self.yt - self.xt @ beta
        value = -0.5 * (self.log_psi - float(np.sum(np.log(d))) + float(r @ (d * r)))
        if self.reml:
            value -= 0.5 * float(np.linalg.slogdet(xtx)[1]) - 0.5 * self.p * np.log(2.0 * np.pi)
        return float(value - 0.5 * self.n * np.log(2.0 * np.pi))

    def maximise(self, upper: float) -> tuple[float, float]:
        """(sigma2_u, loglik) maximising over [0, upper] (bounded Brent; 0 if that is better)."""
        res = optimize.minimize_scalar(lambda a: -self.loglik(a), bounds=(0.0, upper), method="bounded",
                                       options={"xatol": 1e-10 * upper, "maxiter": 500})
        best, value = float(res.x), -float(res.fun)
        at0 = self.loglik(0.0)
        return (0.0, at0) if at0 >= value else (best, value)


def spatial_loglik(w: Weights, y: np.ndarray, psi: np.ndarray, x: np.ndarray, s_idx: np.ndarray, method: str,
                   sigma2: float, rho: float) -> float:
    """REML (or ML) log-likelihood of the spatial model at (sigma2_u, rho) over the sampled areas."""
    c = _sar(w, rho)
    c_ss = c if s_idx.size == w.shape[0] else c[np.ix_(s_idx, s_idx)]
    return _ProfileAtRho(c_ss, y, psi, x, method).loglik(sigma2)


def _sigma2_upper(y: np.ndarray, psi: np.ndarray) -> float:
    return 10.0 * max(float(np.var(y)), float(np.max(psi)), float(np.finfo(float).tiny))


def profile_rho(w: Weights, y: np.ndarray, psi: np.ndarray, x: np.ndarray, s_idx: np.ndarray, method: str
                ) -> tuple[float, float, float]:
    """Maximise the profile likelihood max_sigma2 l(sigma2_u, rho) over rho in [-0.999, 0.999].

    A grid (:data:`RHO_GRID`) finds the best region, bounded Brent refines rho between the grid
    neighbours of the best grid point. Returns (sigma2_u, rho, loglik); sigma2_u may be 0 (then
    the likelihood does not depend on rho) and rho may be at a bound (+-0.999).
    """
    upper = _sigma2_upper(y, psi)
    all_in = s_idx.size == w.shape[0]

    def at(rho: float) -> tuple[float, float]:
        c = _sar(w, rho)
        profile = _ProfileAtRho(c if all_in else c[np.ix_(s_idx, s_idx)], y, psi, x, method)
        sigma2, value = profile.maximise(upper)
        for widen in range(1, 21):  # the maximum sits at the upper end: widen the interval
            if sigma2 < 0.999 * upper:
                break
            sigma2, value = profile.maximise(upper * 10.0**widen)
        return sigma2, value

    values = [at(float(r)) for r in RHO_GRID]
    lik = np.array([v[1] for v in values])
    k = int(np.argmax(lik))
    sigma2, value, rho = values[k][0], float(lik[k]), float(RHO_GRID[k])
    if sigma2 == 0.0:
        return 0.0, rho, value
    lo, hi = RHO_GRID[max(k - 1, 0)], RHO_GRID[min(k + 1, RHO_GRID.size - 1)]
    res = optimize.minimize_scalar(lambda r: -at(float(r))[1], bounds=(float(lo), float(hi)), method="bounded",
                                   options={"xatol": 1e-9})
    if -float(res.fun) > value:
        rho = float(res.x)
        sigma2, value = at(rho)
    return sigma2, rho, value


def _fit_sfh_stable(w: Weights, y: np.ndarray, psi: np.ndarray, x: np.ndarray, s_idx: np.ndarray, method: str,
                    max_iter: int, tol: float) -> tuple[float, float, bool, int, bool, list[str]]:
    """Fisher scoring as sae::eblupSFH; when it fails or stops at a boundary, the profile likelihood.

    An interior solution of scoring is returned unchanged (so results equal ``sae`` wherever its
    scoring converges). Otherwise :func:`profile_rho` maximises the likelihood over a rho grid
    and scoring is restarted from there to polish; the polished point is kept when it converges
    to an interior point at least as likely, else the profile optimum. A boundary solution
    (sigma2_u = 0, or rho = +-0.999) is returned as such.
    """
    sigma2, rho, converged, iterations, boundary = _fit_sfh(w, y, psi, x, s_idx, method, max_iter, tol)
    if converged and not boundary and abs(rho) < _RHO_BOUND:
        return sigma2, rho, converged, iterations, boundary, []
    why = ("did not converge" if not converged else
           "stopped at sigma2_u = 0" if boundary else f"stopped at the bound rho = {rho:+.3f}")
    p_sigma2, p_rho, p_value = profile_rho(w, y, psi, x, s_idx, method)
    old = spatial_loglik(w, y, psi, x, s_idx, method, sigma2, rho) if converged else -np.inf
    if converged and old >= p_value - 1e-9 * max(1.0, abs(p_value)):
        return sigma2, rho, converged, iterations, boundary, []  # the profile confirms the boundary
    note = (f"Fisher scoring from the standard start {why}; (sigma2_u, rho) maximise the profile "
            f"{method} likelihood over a grid of rho in [-{_RHO_BOUND}, {_RHO_BOUND}]")
    if p_sigma2 == 0.0:
        return 0.0, p_rho, True, iterations, True, [note + " (maximum at sigma2_u = 0)."]
    if abs(p_rho) < _RHO_BOUND:
        s2, r2, ok, it2, bnd = _fit_sfh(w, y, psi, x, s_idx, method, max_iter, tol, start=(p_sigma2, p_rho))
        if ok and not bnd and abs(r2) < _RHO_BOUND:
            polished = spatial_loglik(w, y, psi, x, s_idx, method, s2, r2)
            if polished >= p_value - 1e-9 * max(1.0, abs(p_value)):
                return s2, r2, True, iterations + it2, False, [note + ", polished by Fisher scoring."]
    return p_sigma2, p_rho, True, iterations, False, [note + "."]


def fit_spatial_fay_herriot(y: np.ndarray, psi: np.ndarray, x: np.ndarray, in_sample: np.ndarray,
                         w: Weights, method: str, max_iter: int, tol: float) -> dict[str, Any]:
    s_idx = np.flatnonzero(in_sample)
    ys, ps, xs = y[s_idx], psi[s_idx], x[s_idx]
    n, p = xs.shape
    if w.shape[0] <= _DENSE_MAX_AREAS:
        w = _as_dense(w)
    wtw = _cross(w)
    sigma2, rho, converged, iterations, boundary, notes = _fit_sfh_stable(w, ys, ps, xs, s_idx, method, max_iter,
                                                                          tol)
    st = _SpatialState(sigma2, rho, w, wtw, s_idx, ys, ps, xs, full=True)

    # Derivatives of G = sigma2 * C over all areas (rows) and sampled areas (columns).
    g = sigma2 * st.c
    g_k = (st.c, sigma2 * st.c_r)  # dG/d sigma2, dG/d rho
    g_kl = {(0, 1): st.c_r, (1, 1): sigma2 * st.c_rr}  # d2G (d2G/d sigma2^2 = 0)
    gs = g[s_idx]  # n x m: Cov(u_s, u_all)
    bmat = st.vi @ gs  # column i: b_i = V^-1 G_{s,i}, the BLUP weights for area i
    estimate = x @ st.beta + bmat.T @ st.r

    g1 = np.diag(g) - np.sum(gs * bmat, axis=0)
    dx = x - bmat.T @ xs
    g2 = np.einsum("ij,jk,ik->i", dx, st.q, dx)

    info = st.reml_info()  # sae::mseSFH uses the REML information for both methods
    if sigma2 > 0.0:
        iinv = np.linalg.inv(info)
    else:  # rho is not identified when sigma2 = 0: treat it as fixed
        iinv = np.zeros((2, 2))
        iinv[0, 0] = 1.0 / info[0, 0]
    lk = [st.vi @ (g_k[k][s_idx] - st.vk[k] @ bmat) for k in range(2)]  # d b_i / d theta_k
    g3 = sum(iinv[k, j] * np.sum(lk[k] * (st.v @ lk[j]), axis=0) for k in range(2) for j in range(2))

    def d_g1_part(mat: np.ndarray) -> np.ndarray:
        """diag(M) - 2 M_{i,s} b_i + b_i' M_ss b_i for a derivative M of G."""
        part: np.ndarray = (np.diag(mat) - 2.0 * np.sum(mat[s_idx] * bmat, axis=0)
                            + np.sum(bmat * (mat[np.ix_(s_idx, s_idx)] @ bmat), axis=0))
        return part

    q01, q11 = d_g1_part(g_kl[(0, 1)]), d_g1_part(g_kl[(1, 1)])
    g4 = 0.5 * ((iinv[0, 1] + iinv[1, 0]) * q01 + iinv[1, 1] * q11)
    mse = g1 + g2 + 2.0 * g3 - g4
    if method == "ML":  # minus b_ML' grad g1 (bias of the ML estimator), as mseSFH
        qxv = st.q @ st.vix.T
        h = np.array([-np.trace(qxv @ st.vk[k] @ st.vix) for k in range(2)])
        b_ml = iinv @ h / 2.0
        mse = mse - (b_ml[0] * d_g1_part(g_k[0]) + b_ml[1] * d_g1_part(g_k[1]))

    m = y.size
    # Conditional MSE (Rivest & Belmonte 2000) of the sampled areas at fixed (sigma2_u, rho):
    # d theta-hat_s / d y = X_s Q X_s'V^-1 + G_ss P; the slope of (sigma2_u, rho) in y is ignored.
    dtheta = np.einsum("ij,jk,ik->i", xs, st.q, st.vix) + np.sum(gs[:, s_idx] * st.p, axis=0)
    h = estimate[s_idx] - ys
    mse_cond = mse.copy()
    mse_cond[s_idx] = ps + 2.0 * ps * (dtheta - 1.0) + h * h
    gamma, resid = np.zeros(m), np.full(m, np.nan)
    gamma[s_idx] = 1.0 - ps * np.diag(st.vi)
    resid[s_idx] = st.r / np.sqrt(np.diag(st.v))
    _, logdet = np.linalg.slogdet(st.v)
    loglik = -0.5 * float(n * np.log(2.0 * np.pi) + logdet + st.r @ st.vi @ st.r)
    if abs(rho) >= _RHO_BOUND and not boundary:
        notes.append(
            f"The spatial autocorrelation estimate is at the boundary (rho = {rho:+.3f}); "
            "estimates and MSEs near rho = +-1 are unstable."
        )
    if boundary:
        notes.append("With sigma2_u = 0 the spatial parameter rho is not identified; "
                     "the reported value is arbitrary.")
    return {
        "estimate": estimate, "mse": mse, "mse_conditional": mse_cond, "sigma2_u": sigma2,
        "rho": float(rho), "beta": st.beta,
        "beta_cov": st.q, "gamma": gamma, "residuals": resid, "loglik": loglik, "k": p + 2,
        "converged": converged, "iterations": iterations, "notes": notes,
    }
