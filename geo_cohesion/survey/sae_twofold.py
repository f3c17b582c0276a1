r"""Fay-Herriot model with random group effects (the two-fold area-level model).

.. math:: y_d = x_d'\beta + v_{g(d)} + u_d + e_d,\quad v_g \sim N(0, \sigma^2_v),\;
          u_d \sim N(0, \sigma^2_u),\; e_d \sim N(0, \psi_d)\ (\psi_d\ \text{known})

Districts of one reporting group (Stadtbezirk, Ortschaft, ...) share a regional effect
:math:`v_g` on top of their own effect :math:`u_d` (Torabi & Rao 2014, the area-level analogue of
the nested-error model). A small district is pulled towards its *group's* level rather than only
towards the regression, and a district without respondents gets :math:`x_d'\hat\beta + \hat v_g`.
With :math:`\sigma^2_v = 0` the model is the Fay-Herriot model.

* **Fit**: REML, both variances held non-negative (bounded quasi-Newton, L-BFGS-B, on the exact
  restricted log-likelihood and its analytic gradient, from several starting points; the best
  optimum is kept). V is block diagonal by group, :math:`V_g = D_g + \sigma^2_v 11'`, so every
  product with :math:`V^{-1}` is done group by group (Sherman-Morrison) in O(m).
* **MSE**: (a) the second-order approximation :math:`g_1 + g_2 + 2 g_3` of Prasad & Rao (1990)
  and Das, Jiang & Rao (2004) for REML in a general linear mixed model (dense algebra, up to
  :data:`ANALYTIC_MAX_AREAS` sampled areas), or (b) the parametric bootstrap of
  Gonzalez-Manteiga et al. (2008): areas, group effects and sampling errors are redrawn from the
  fitted model, the model is refitted, and the MSE is the mean squared difference between the
  refitted EBLUP and the redrawn true value. With few groups the asymptotic variance of
  :math:`\hat\sigma^2_v` behind :math:`g_3` is far too large (it ignores that the estimate is
  truncated at 0), and the analytic MSE overstates the error; the bootstrap sees the truncation.

Private numerics behind :func:`geo_cohesion.survey.sae.fay_herriot` (``groups=``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy import optimize, sparse

#: Largest number of sampled areas for the analytic (dense) MSE.
ANALYTIC_MAX_AREAS = 3000


class _Blocks:
    """Products with V^-1 for V = diag(d) + sigma2_v Z Z', d = sigma2_u + psi.

    V^-1 = W - Z diag(c) Z' W-weighted: V^-1 z = w z - w (Z c (Z'(w z))) with w = 1/d,
    s_g = sum of w over group g and c_g = sigma2_v / (1 + sigma2_v s_g).
    """

    def __init__(self, sigma2_v: float, sigma2_u: float, psi: np.ndarray, z: Any) -> None:
        self.z = z
        self.w = 1.0 / (sigma2_u + psi)
        self.s = np.asarray(z.T @ self.w).ravel()
        self.c = sigma2_v / (1.0 + sigma2_v * self.s)

    def gsum(self, a: np.ndarray) -> np.ndarray:
        """Z'a: sums over the areas of each group."""
        return np.asarray(self.z.T @ a)

    def solve(self, a: np.ndarray) -> np.ndarray:
        """V^-1 a for a of shape (m,) or (m, k)."""
        w = self.w if a.ndim == 1 else self.w[:, None]
        c = self.c if a.ndim == 1 else self.c[:, None]
        wa = w * a
        out: np.ndarray = wa - w * np.asarray(self.z @ (c * self.gsum(wa)))
        return out

    def logdet(self) -> float:
        """log |V| = sum log d + sum_g log(1 + sigma2_v s_g)."""
        return float(-np.sum(np.log(self.w)) - np.sum(np.log1p(-self.c * self.s)))


def indicator(group: np.ndarray, n_groups: int) -> Any:
    """Area-by-group indicator matrix Z (dense when small, sparse CSR otherwise)."""
    m = group.size
    if m * n_groups <= 4_000_000:
        z = np.zeros((m, n_groups))
        z[np.arange(m), group] = 1.0
        return z
    return sparse.csr_matrix((np.ones(m), (np.arange(m), group)), shape=(m, n_groups))


def _gls(blocks: _Blocks, y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """V^-1 X, Q = (X'V^-1X)^-1, beta-hat and P y."""
    vx = blocks.solve(x)
    q = np.linalg.inv(x.T @ vx)
    vy = blocks.solve(y)
    beta = q @ (x.T @ vy)
    py = vy - vx @ (q @ (x.T @ vy))
    return vx, q, beta, py


def _objective(theta: np.ndarray, y: np.ndarray, psi: np.ndarray, x: np.ndarray, z: Any) -> tuple[float, np.ndarray]:
    """Negative restricted log-likelihood (without constants) and its gradient in (sigma2_v, sigma2_u).

    Gradient: d(-l_R)/d theta_k = (tr(P V_k) - y'P V_k P y) / 2 with V_v = ZZ', V_u = I.
    """
    blocks = _Blocks(float(theta[0]), float(theta[1]), psi, z)
    vx, q, _, py = _gls(blocks, y, x)
    value = 0.5 * (blocks.logdet() + float(np.linalg.slogdet(x.T @ vx)[1]) + float(y @ py))
    t = 1.0 - blocks.c * blocks.s  # 1 / (1 + sigma2_v s_g)
    gx = blocks.gsum(vx)
    tr_pzz = float(np.sum(t * blocks.s)) - float(np.sum(q * (gx.T @ gx)))
    tr_p = float(np.sum(blocks.w) - np.sum(blocks.c * blocks.gsum(blocks.w**2))) - float(np.sum(q * (vx.T @ vx)))
    gz = blocks.gsum(py)
    grad = 0.5 * np.array([tr_pzz - float(gz @ gz), tr_p - float(py @ py)])
    return value, grad


def estimate_variances(y: np.ndarray, psi: np.ndarray, x: np.ndarray, z: Any,
                       starts: list[tuple[float, float]]) -> tuple[float, float, bool, int]:
    """REML estimates (sigma2_v, sigma2_u) >= 0, best of L-BFGS-B runs from ``starts``.

    Returns the two variances, whether the best run reported success, and its iterations.
    """
    scale = max(float(np.var(y)), float(np.median(psi)), 1e-12)
    upper = 100.0 * scale + float(np.max(psi))
    best = None
    for start in starts:
        res = optimize.minimize(_objective, np.clip(np.asarray(start, dtype=float), 0.0, upper),
                                args=(y, psi, x, z), jac=True, method="L-BFGS-B",
                                bounds=[(0.0, upper), (0.0, upper)],
                                options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 500})
        if best is None or res.fun < best.fun - 1e-10:
            best = res
    assert best is not None
    # L-BFGS-B may stop with "abnormal termination" on a flat optimum; accept it when the projected
    # gradient vanishes (free components ~0, components at the bound 0 pointing outwards).
    grad = _objective(best.x, y, psi, x, z)[1]
    projected = np.where(best.x <= 0.0, np.minimum(grad, 0.0), grad)
    converged = bool(best.success) or bool(np.all(np.abs(projected) * np.maximum(best.x, scale) <= 1e-6))
    return float(best.x[0]), float(best.x[1]), converged, int(best.nit)


def _predict(y: np.ndarray, psi: np.ndarray, x: np.ndarray, group: np.ndarray, n_groups: int,
             in_sample: np.ndarray, sigma2_v: float, sigma2_u: float) -> dict[str, Any]:
    """EBLUP for every area at given variances."""
    gs = group[in_sample]
    zs = indicator(gs, n_groups)
    blocks = _Blocks(sigma2_v, sigma2_u, psi[in_sample], zs)
    vx, q, beta, py = _gls(blocks, y[in_sample], x[in_sample])
    v_hat = sigma2_v * blocks.gsum(py)  # BLUP of every group effect (0 where a group has no sampled area)
    estimate = x @ beta + v_hat[group]
    estimate[in_sample] += sigma2_u * py
    return {"estimate": estimate, "beta": beta, "beta_cov": q, "group_effects": v_hat, "blocks": blocks,
            "vx": vx, "py": py}


def analytic_mse(x: np.ndarray, group: np.ndarray, in_sample: np.ndarray, psi: np.ndarray,
                 sigma2_v: float, sigma2_u: float, q: np.ndarray) -> np.ndarray:
    """Prasad-Rao / Das-Jiang-Rao MSE g1 + g2 + 2 g3 (REML) of the EBLUP of x'beta + v_g + u_d.

    For every area d (sampled or not) with k_d = Cov(v_g(d) + u_d, random part of y_s) and
    b_d = V^-1 k_d: g1 = sigma2_v + sigma2_u - k_d'b_d, g2 = (x_d - X_s'b_d)'Q(x_d - X_s'b_d) and
    g3 = tr(J_d' V J_d I^-1) with J_d = d b_d / d theta and I the REML Fisher information
    I_kl = tr(P V_k P V_l) / 2.
    """
    gs, xs = group[in_sample], x[in_sample]
    n_groups = int(group.max()) + 1
    zs = np.zeros((gs.size, n_groups))
    zs[np.arange(gs.size), gs] = 1.0
    zall = np.zeros((group.size, n_groups))
    zall[np.arange(group.size), group] = 1.0
    vmat = sigma2_v * (zs @ zs.T) + np.diag(sigma2_u + psi[in_sample])
    vinv = np.linalg.inv(vmat)
    vinv = 0.5 * (vinv + vinv.T)
    vx = vinv @ xs
    p_mat = vinv - vx @ q @ vx.T
    zz = zs @ zs.T
    pz = p_mat @ zz
    info = 0.5 * np.array([[np.sum(pz * pz.T), np.sum(pz * p_mat.T)],
                           [np.sum(pz * p_mat.T), np.sum(p_mat * p_mat.T)]])
    info_inv = np.linalg.pinv(info)
    own = np.zeros((group.size, gs.size))  # E: area d is sampled area s
    own[np.flatnonzero(in_sample), np.arange(gs.size)] = 1.0
    same = zall @ zs.T  # area d and sampled area s in one group
    k = sigma2_v * same + sigma2_u * own
    b = k @ vinv
    g1 = sigma2_v + sigma2_u - np.sum(b * k, axis=1)
    dvec = x - b @ xs
    g2 = np.einsum("ij,jk,ik->i", dvec, q, dvec)
    jv_v = same - b @ zz  # J_v V
    ju_v = own - b  # J_u V
    jv, ju = jv_v @ vinv, ju_v @ vinv
    g3 = (info_inv[0, 0] * np.sum(jv_v * jv, axis=1) + 2.0 * info_inv[0, 1] * np.sum(jv_v * ju, axis=1)
          + info_inv[1, 1] * np.sum(ju_v * ju, axis=1))
    out: np.ndarray = g1 + g2 + 2.0 * g3
    return out


def fit_two_fold(y: np.ndarray, psi: np.ndarray, x: np.ndarray, group: np.ndarray, in_sample: np.ndarray,
                 start_u: float, bootstrap: int = 0, seed: int = 0) -> dict[str, Any]:
    """Fit the two-fold model on the sampled areas; EBLUP and MSE for every area.

    Parameters
    ----------
    y, psi, x : direct estimates (NaN where not sampled), sampling variances, design matrix.
    group : integer group code 0..G-1 of every area.
    in_sample : True where ``y`` is given.
    start_u : starting value for sigma2_u (e.g. the Fay-Herriot REML estimate).
    bootstrap : parametric bootstrap replicates for the MSE; 0 = analytic MSE.
    seed : seed of the bootstrap draws (same seed, same MSE).
    """
    n_groups = int(group.max()) + 1
    ys, ps, xs = y[in_sample], psi[in_sample], x[in_sample]
    zs = indicator(group[in_sample], n_groups)
    sv, su, converged, iterations = estimate_variances(
        ys, ps, xs, zs, [(0.0, start_u), (start_u / 2.0, start_u / 2.0), (start_u, 0.0)])
    fit = _predict(y, psi, x, group, n_groups, in_sample, sv, su)
    if bootstrap > 0:
        mse = bootstrap_mse(psi, x, group, in_sample, sv, su, fit["beta"], bootstrap, seed)
    else:
        mse = analytic_mse(x, group, in_sample, psi, sv, su, fit["beta_cov"])
    r = ys - xs @ fit["beta"]
    blocks = fit["blocks"]
    loglik = -0.5 * (ys.size * np.log(2.0 * np.pi) + blocks.logdet() + float(r @ blocks.solve(r)))
    m = y.size
    gamma = np.zeros(m)
    gamma[in_sample] = su * blocks.w  # weight of the area's own residual beyond its group's
    resid = np.full(m, np.nan)
    resid[in_sample] = r / np.sqrt(sv + su + ps)
    return {"estimate": fit["estimate"], "mse": mse, "mse_conditional": mse.copy(), "sigma2_u": su,
            "sigma2_v": sv, "rho": np.nan, "beta": fit["beta"], "beta_cov": fit["beta_cov"],
            "group_effects": fit["group_effects"], "gamma": gamma, "residuals": resid, "loglik": float(loglik),
            "k": x.shape[1] + 2, "converged": converged, "iterations": iterations, "notes": []}


def bootstrap_mse(psi: np.ndarray, x: np.ndarray, group: np.ndarray, in_sample: np.ndarray, sigma2_v: float,
                  sigma2_u: float, beta: np.ndarray, replicates: int, seed: int) -> np.ndarray:
    """Parametric bootstrap MSE (Gonzalez-Manteiga et al. 2008) of the two-fold EBLUP.

    Each replicate draws v*_g ~ N(0, sigma2_v), u*_d ~ N(0, sigma2_u) and e*_d ~ N(0, psi_d),
    sets theta*_d = x_d'beta + v*_g + u*_d and y*_d = theta*_d + e*_d for the sampled areas,
    refits the variances (REML, started at the fitted values and at the Fay-Herriot split) and
    accumulates (theta-hat*_d - theta*_d)^2 for every area.
    """
    rng = np.random.default_rng(seed)
    n_groups = int(group.max()) + 1
    m = group.size
    xb = x @ beta
    ps, xs = psi[in_sample], x[in_sample]
    zs = indicator(group[in_sample], n_groups)
    e_sd = np.sqrt(np.where(in_sample, psi, 0.0))
    total = np.zeros(m)
    start = sigma2_v + sigma2_u
    for _ in range(replicates):
        theta = xb + rng.normal(0.0, np.sqrt(sigma2_v), n_groups)[group] + rng.normal(0.0, np.sqrt(sigma2_u), m)
        ystar = np.where(in_sample, theta + rng.normal(0.0, 1.0, m) * e_sd, np.nan)
        sv, su, _, _ = estimate_variances(ystar[in_sample], ps, xs, zs,
                                          [(sigma2_v, sigma2_u), (0.0, max(start, 1e-8))])
        refit = _predict(ystar, psi, x, group, n_groups, in_sample, sv, su)
        total += (refit["estimate"] - theta) ** 2
    out: np.ndarray = total / replicates
    return out
