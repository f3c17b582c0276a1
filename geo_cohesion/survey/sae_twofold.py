r"""Fay-Herriot model with random group effects (the two-fold area-level model).

.. math:: y_d = x_d'\beta + v_{g(d)} + u_d + e_d,\quad v_g \sim N(0, \sigma^2_v),\;
          u_d \sim N(0, \sigma^2_u),\; e_d \sim N(0, \psi_d)\ (\psi_d\ \text{known})

Districts of one reporting group (Stadtbezirk, Ortschaft, ...) share a regional effect
:math:`v_g` on top of their own effect :math:`u_d` (Torabi & Rao 2014, the area-level analogue of
the nested-error model). A small district is pulled towards its *group's* level rather than only
towards the regression, and a district without respondents gets :math:`x_d'\hat\beta + \hat v_g`.
With :math:`\sigma^2_v = 0` the model is the Fay-Herriot model.

* **Fit**: REML, both variances held non-negative: projected Fisher scoring (expected
  information in closed form, step halving on the likelihood), and for the main fit also bounded
  quasi-Newton (L-BFGS-B) from several starting points, keeping the best optimum. The bootstrap
  refits use scoring alone and fall back to the full search when it does not converge. V is
  block diagonal by group, :math:`V_g = D_g + \sigma^2_v 11'`, so every product with
  :math:`V^{-1}` and every trace is computed group by group (Sherman-Morrison) in O(m).
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
from scipy import optimize

from geo_cohesion.errors import InputError

#: Largest number of sampled areas for the analytic (dense) MSE.
ANALYTIC_MAX_AREAS = 3000
#: With the bootstrap MSE, the analytic one is computed alongside (for the pipeline's direct-or-model
#: choice) up to this many sampled areas; it costs about 0.5 s at 1,000 (O(m^2) memory and more).
ANALYTIC_WITH_BOOTSTRAP_MAX_AREAS = 1000
#: A bootstrap refit stops when a further scoring step would raise the restricted log-likelihood by
#: less than half of this: the variances are then within about 1e-5 standard errors of the optimum.
BOOTSTRAP_DECREMENT = 1e-10
#: Scoring iterations of a bootstrap refit before it is handed to the quasi-Newton search (most
#: converge in 5-30; slow ones still gain: with 30 the demo's refits took twice as long).
BOOTSTRAP_MAX_ITER = 100


class Groups:
    """Group membership of areas: integer codes 0..n-1, with sums over each group.

    Stands for the area-by-group indicator matrix Z without building it: ``sum(a)`` is Z'a and
    ``expand(b)`` is Z b, both O(m). Arrays of shape (m,) or batched (B, m) and (B, m, k) (one row
    per bootstrap replicate) are summed over the area axis.
    """

    def __init__(self, codes: np.ndarray, n_groups: int) -> None:
        self.codes = np.asarray(codes, dtype=np.intp)
        self.n = int(n_groups)

    def sum(self, a: np.ndarray) -> np.ndarray:
        """Z'a for a of shape (m,) -> (G,), (B, m) -> (B, G) or (B, m, k) -> (B, G, k)."""
        if a.ndim == 1:
            return np.bincount(self.codes, weights=a, minlength=self.n)
        if a.ndim == 3:
            return np.stack([self.sum(a[:, :, j]) for j in range(a.shape[2])], axis=2) if a.shape[2] \
                else np.zeros((a.shape[0], self.n, 0))
        rows = a.shape[0]
        flat = (self.codes[None, :] + self.n * np.arange(rows)[:, None]).ravel()
        return np.bincount(flat, weights=a.ravel(), minlength=rows * self.n).reshape(rows, self.n)

    def expand(self, b: np.ndarray) -> np.ndarray:
        """Z b: each area gets its group's value; b of shape (G,), (B, G) or (B, G, k)."""
        out: np.ndarray = b[self.codes] if b.ndim == 1 else b[:, self.codes]
        return out


def _col(a: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``a`` of shape (B, n) broadcast against ``like`` of shape (B, m) or (B, m, k)."""
    return a if like.ndim == 2 else a[:, :, None]


class _Blocks:
    """Products with V^-1 for V = diag(d) + sigma2_v Z Z', d = sigma2_u + psi, for B variance pairs at once.

    Per group (Sherman-Morrison): V_g^-1 = W_g - c_g w_g w_g' with w = 1/d, s_g = sum of w over
    the group and c_g = sigma2_v / (1 + sigma2_v s_g). ``sigma2_v`` and ``sigma2_u`` have shape (B,);
    vectors are (B, m), matrices (B, m, k).
    """

    def __init__(self, sigma2_v: np.ndarray, sigma2_u: np.ndarray, psi: np.ndarray, groups: Groups) -> None:
        sigma2_v, sigma2_u = np.atleast_1d(sigma2_v)[:, None], np.atleast_1d(sigma2_u)[:, None]
        self.groups = groups
        self.w = 1.0 / (sigma2_u + psi[None, :])
        self.s = groups.sum(self.w)
        self.c = sigma2_v / (1.0 + sigma2_v * self.s)
        # 1 / (1 + sigma2_v s_g), not 1 - c_g s_g: that cancels to 0 when sigma2_v s_g > ~1e16 (a tiny psi)
        self.t = 1.0 / (1.0 + sigma2_v * self.s)
        self.log_t = -np.log1p(sigma2_v * self.s)

    def gsum(self, a: np.ndarray) -> np.ndarray:
        """Z'a: sums over the areas of each group."""
        return self.groups.sum(a)

    def solve(self, a: np.ndarray) -> np.ndarray:
        """V^-1 a for a of shape (B, m) or (B, m, k)."""
        w, c = _col(self.w, a), _col(self.c, a)
        wa = w * a
        out: np.ndarray = wa - w * self.groups.expand(c * self.gsum(wa))
        return out

    def solve_j(self, a: np.ndarray) -> np.ndarray:
        """V^-1 Z Z' a = t_g w_i (Z'a)_g."""
        out: np.ndarray = _col(self.w, a) * self.groups.expand(_col(self.t, a) * self.gsum(a))
        return out

    def logdet(self) -> np.ndarray:
        """log |V| = sum log d + sum_g log(1 + sigma2_v s_g), shape (B,)."""
        out: np.ndarray = -np.sum(np.log(self.w), axis=1) - np.sum(self.log_t, axis=1)
        return out


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a'b for each of B stacked matrices: (B, n, p), (B, n, q) -> (B, p, q)."""
    out: np.ndarray = np.einsum("bnp,bnq->bpq", a, b)
    return out


def _gls(blocks: _Blocks, y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """V^-1 X (B, m, p), Q = (X'V^-1X)^-1 (B, p, p), beta-hat (B, p) and P y (B, m) for y of shape (B, m)."""
    vx = blocks.solve(np.broadcast_to(x, (y.shape[0], *x.shape)))
    q = np.linalg.inv(np.einsum("mp,bmq->bpq", x, vx))
    vy = blocks.solve(y)
    beta = np.einsum("bpq,bq->bp", q, np.einsum("mp,bm->bp", x, vy))
    py = vy - np.einsum("bmp,bp->bm", vx, beta)
    return vx, q, beta, py


def _objective_batch(theta: np.ndarray, y: np.ndarray, psi: np.ndarray, x: np.ndarray, groups: Groups
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Negative restricted log-likelihood (without constants) and its gradient in (sigma2_v, sigma2_u),
    for B parameter pairs ``theta`` (B, 2) and data sets ``y`` (B, m): shapes (B,) and (B, 2).

    Gradient: d(-l_R)/d theta_k = (tr(P V_k) - y'P V_k P y) / 2 with V_v = ZZ', V_u = I.
    """
    blocks = _Blocks(theta[:, 0], theta[:, 1], psi, groups)
    vx, q, _, py = _gls(blocks, y, x)
    value = 0.5 * (blocks.logdet() - np.linalg.slogdet(q)[1] + np.sum(y * py, axis=1))
    gx = blocks.gsum(vx)
    tr_pzz = np.sum(blocks.t * blocks.s, axis=1) - np.sum(q * _cross(gx, gx), axis=(1, 2))
    tr_p = (np.sum(blocks.w, axis=1) - np.sum(blocks.c * blocks.gsum(blocks.w**2), axis=1)
            - np.sum(q * _cross(vx, vx), axis=(1, 2)))
    gz = blocks.gsum(py)
    grad = 0.5 * np.stack([tr_pzz - np.sum(gz**2, axis=1), tr_p - np.sum(py**2, axis=1)], axis=1)
    return value, grad


def _objective(theta: np.ndarray, y: np.ndarray, psi: np.ndarray, x: np.ndarray, groups: Groups
               ) -> tuple[float, np.ndarray]:
    """:func:`_objective_batch` for one parameter pair and one data set (the optimiser's interface)."""
    value, grad = _objective_batch(np.asarray(theta, dtype=float)[None, :], y[None, :], psi, x, groups)
    return float(value[0]), grad[0]


def information(blocks: _Blocks, vx: np.ndarray, q: np.ndarray) -> np.ndarray:
    """REML Fisher information I_kl = tr(P V_k P V_l) / 2 for (sigma2_v, sigma2_u), in O(m p^2); (B, 2, 2).

    With M = V^-1 (block diagonal), L = M X and P = M - L Q L':
    tr(PAPB) = tr(MAMB) - 2 tr(Q L'B M A L) + tr(Q L'AL Q L'BL) for A, B in {ZZ', I}, and per group
    tr(M ZZ' M ZZ') = sum (t s)^2, tr(M M ZZ') = sum t^2 sum w^2,
    tr(M M) = sum w^2 - 2 sum c sum w^3 + sum c^2 (sum w^2)^2 (t = 1 - c s).
    """
    w, s, c, t = blocks.w, blocks.s, blocks.c, blocks.t
    s2, s3 = blocks.gsum(w**2), blocks.gsum(w**3)
    tr_mjmj = np.sum((t * s) ** 2, axis=1)
    tr_mmj = np.sum(t**2 * s2, axis=1)
    tr_mm = np.sum(w**2, axis=1) - 2.0 * np.sum(c * s3, axis=1) + np.sum(c**2 * s2**2, axis=1)
    ml, mjl = blocks.solve(vx), blocks.solve_j(vx)  # M L and M ZZ' L
    gl = blocks.gsum(vx)  # Z'L
    q_l, q_jl = q @ _cross(vx, vx), q @ _cross(gl, gl)  # Q L'L and Q L'ZZ'L

    def trace(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.sum(a * np.swapaxes(b, 1, 2), axis=(1, 2))
        return out

    jj = tr_mjmj - 2.0 * trace(q, _cross(gl, blocks.gsum(mjl))) + trace(q_jl, q_jl)
    ji = tr_mmj - 2.0 * trace(q, _cross(mjl, vx)) + trace(q_jl, q_l)
    ii = tr_mm - 2.0 * trace(q, _cross(ml, vx)) + trace(q_l, q_l)
    return 0.5 * np.stack([np.stack([jj, ji], axis=1), np.stack([ji, ii], axis=1)], axis=1)


def _scoring(y: np.ndarray, psi: np.ndarray, x: np.ndarray, groups: Groups, start: np.ndarray, scale: np.ndarray,
             max_iter: int = 100, decrement_tol: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Projected Fisher scoring for the REML variances of B data sets ``y`` (B, m) at once, with
    step halving on the likelihood.

    Returns theta (B, 2), converged (B,) and iterations (B,); a data set has converged when its
    step is below 1e-10 relative and its projected gradient vanishes, or (``decrement_tol > 0``,
    the bootstrap refits) when the scoring decrement, about twice the log-likelihood a full step
    would gain, is below ``decrement_tol`` (the likelihood cannot tell the points apart any more);
    one whose step halving fails stops there, not converged.
    """
    theta = np.maximum(np.asarray(start, dtype=float), 0.0)
    value, grad = _objective_batch(theta, y, psi, x, groups)
    n_sets = y.shape[0]
    active, converged = np.ones(n_sets, dtype=bool), np.zeros(n_sets, dtype=bool)
    iterations = np.full(n_sets, max_iter)
    for k in range(1, max_iter + 1):
        idx = np.flatnonzero(active)
        if not idx.size:
            break
        th, ys, gr, val = theta[idx], y[idx], grad[idx], value[idx]
        blocks = _Blocks(th[:, 0], th[:, 1], psi, groups)
        vx, q, _, _ = _gls(blocks, ys, x)
        free = ~((th <= 0.0) & (gr > 0.0))  # at the bound 0 with the likelihood rising into it: fixed
        info = information(blocks, vx, q) * (free[:, :, None] & free[:, None, :])
        step = np.einsum("bij,bj->bi", np.linalg.pinv(info), -gr * free)  # least squares on the free part
        # at the optimum to the precision the bootstrap needs: further steps would gain < decrement_tol / 2
        flat = np.einsum("bi,bi->b", step, -gr * free) < decrement_tol
        converged[idx[flat]], active[idx[flat]], iterations[idx[flat]] = True, False, k
        idx, th, ys, gr, val, step = idx[~flat], th[~flat], ys[~flat], gr[~flat], val[~flat], step[~flat]
        new, new_val, new_grad = th.copy(), val.copy(), gr.copy()
        pending = np.ones(idx.size, dtype=bool)
        for _ in range(40):
            rows = np.flatnonzero(pending)
            if not rows.size:
                break
            cand = np.maximum(th[rows] + step[rows], 0.0)
            cand_val, cand_grad = _objective_batch(cand, ys[rows], psi, x, groups)
            ok = cand_val <= val[rows] + 1e-12 * np.maximum(1.0, np.abs(val[rows]))
            new[rows[ok]], new_val[rows[ok]], new_grad[rows[ok]] = cand[ok], cand_val[ok], cand_grad[ok]
            pending[rows[ok]] = False
            step[rows[~ok]] /= 2.0
        moved = np.max(np.abs(new - th), axis=1)
        projected = np.where(new <= 0.0, np.minimum(new_grad, 0.0), new_grad)
        done = ~pending & (moved <= 1e-10 * np.maximum(new.max(axis=1), scale[idx])) \
            & np.all(np.abs(projected) * scale[idx, None] <= 1e-6, axis=1)
        accepted = idx[~pending]
        theta[accepted], value[accepted], grad[accepted] = new[~pending], new_val[~pending], new_grad[~pending]
        converged[idx[done]] = True
        active[idx[done | pending]] = False
        iterations[idx[done | pending]] = k
    return theta, converged, iterations


def _scale(y: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """Scale of the variances of each data set (rows of ``y``) for the convergence tests."""
    out: np.ndarray = np.maximum(np.maximum(np.var(y, axis=-1), float(np.median(psi))), 1e-12)
    return out


def estimate_variances(y: np.ndarray, psi: np.ndarray, x: np.ndarray, groups: Groups,
                       starts: list[tuple[float, float]], *, thorough: bool = True) -> tuple[float, float, bool, int]:
    """REML estimates (sigma2_v, sigma2_u) >= 0.

    Projected Fisher scoring from the first start; with ``thorough`` (the main fit), or when
    scoring fails, also bounded quasi-Newton (L-BFGS-B) from every start, keeping the best
    optimum. Returns the two variances, whether the optimum was confirmed (projected gradient
    zero, or a further scoring step would gain less than :data:`BOOTSTRAP_DECREMENT` / 2 in the
    restricted log-likelihood), and the iterations of the run kept.
    """
    scale = float(_scale(y, psi))
    thetas, done, its = _scoring(y[None, :], psi, x, groups, np.asarray(starts[0], dtype=float)[None, :],
                                 np.array([scale]))
    theta, converged, iterations = thetas[0], bool(done[0]), int(its[0])
    if converged and not thorough:
        return float(theta[0]), float(theta[1]), True, iterations
    return _multistart(y, psi, x, groups, starts, theta, iterations)


def _multistart(y: np.ndarray, psi: np.ndarray, x: np.ndarray, groups: Groups, starts: list[tuple[float, float]],
                best: np.ndarray, iterations: int) -> tuple[float, float, bool, int]:
    """L-BFGS-B from every start; the best optimum, ``best`` included (see :func:`estimate_variances`)."""
    scale = float(_scale(y, psi))
    best_x, best_fun = best, _objective(best, y, psi, x, groups)[0]
    upper = 100.0 * scale + float(np.max(psi))
    for start in starts:
        res = optimize.minimize(_objective, np.clip(np.asarray(start, dtype=float), 0.0, upper),
                                args=(y, psi, x, groups), jac=True, method="L-BFGS-B",
                                bounds=[(0.0, upper), (0.0, upper)],
                                options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 500})
        if res.fun < best_fun - 1e-10 * max(1.0, abs(best_fun)):
            best_x, best_fun, iterations = res.x, float(res.fun), int(res.nit)
    # L-BFGS-B may stop with "abnormal termination" on a flat optimum; accept an optimum where the
    # projected gradient vanishes (free components ~0, components at the bound 0 pointing outwards).
    grad = _objective(best_x, y, psi, x, groups)[1]
    projected = np.where(best_x <= 0.0, np.minimum(grad, 0.0), grad)
    converged = bool(np.all(np.abs(projected) * np.maximum(best_x, scale) <= 1e-6)) \
        or _decrement(best_x, grad, y, psi, x, groups) < BOOTSTRAP_DECREMENT
    return float(best_x[0]), float(best_x[1]), converged, iterations


def _decrement(theta: np.ndarray, grad: np.ndarray, y: np.ndarray, psi: np.ndarray, x: np.ndarray,
               groups: Groups) -> float:
    """Scoring decrement g' I^-1 g on the free components at ``theta``: about twice the restricted
    log-likelihood a further scoring step would gain (scale-free, unlike the gradient test above,
    whose scale, the variance of y, includes the covariates' signal: with a strong regression or
    tiny sampling variances a gradient of 1e-9 at the optimum failed it)."""
    blocks = _Blocks(theta[:1], theta[1:], psi, groups)
    vx, q, _, _ = _gls(blocks, y[None, :], x)
    free = ~((theta <= 0.0) & (grad > 0.0))
    info = information(blocks, vx, q)[0] * np.outer(free, free)
    step = np.linalg.pinv(info) @ (-grad * free)
    return float(step @ (-grad * free))


def _predict(y: np.ndarray, psi: np.ndarray, x: np.ndarray, group: np.ndarray, n_groups: int,
             in_sample: np.ndarray, sigma2_v: np.ndarray, sigma2_u: np.ndarray) -> dict[str, Any]:
    """EBLUP for every area at given variances, for B data sets ``y`` (B, m) and variances (B,) at once."""
    sigma2_v, sigma2_u = np.atleast_1d(sigma2_v), np.atleast_1d(sigma2_u)
    blocks = _Blocks(sigma2_v, sigma2_u, psi[in_sample], Groups(group[in_sample], n_groups))
    vx, q, beta, py = _gls(blocks, y[:, in_sample], x[in_sample])
    v_hat = sigma2_v[:, None] * blocks.gsum(py)  # BLUP of every group effect (0 where a group has no sampled area)
    estimate = beta @ x.T + v_hat[:, group]
    estimate[:, in_sample] += sigma2_u[:, None] * py
    return {"estimate": estimate, "beta": beta, "beta_cov": q, "group_effects": v_hat, "blocks": blocks,
            "vx": vx, "py": py}


def analytic_mse(x: np.ndarray, group: np.ndarray, in_sample: np.ndarray, psi: np.ndarray,
                 sigma2_v: float, sigma2_u: float, q: np.ndarray) -> np.ndarray:
    """Prasad-Rao / Das-Jiang-Rao MSE g1 + g2 + 2 g3 (REML) of the EBLUP of x'beta + v_g + u_d.

    For every area d (sampled or not) with k_d = Cov(v_g(d) + u_d, random part of y_s) and
    b_d = V^-1 k_d: g1 = sigma2_v + sigma2_u - k_d'b_d, g2 = (x_d - X_s'b_d)'Q(x_d - X_s'b_d) and
    g3 = tr(J_d' V J_d I^-1) with J_d = d b_d / d theta and I the REML Fisher information
    I_kl = tr(P V_k P V_l) / 2.

    g1 is computed in its closed form, the posterior variance of v_g + u_d: with
    c_g = sigma2_v / (1 + sigma2_v s_g) the variance of v_g given the data (s_g the sum of
    1 / (sigma2_u + psi_i) over the group's sampled areas) and gamma_d = sigma2_u / (sigma2_u + psi_d),
    g1 = (1 - gamma_d)^2 c_g + gamma_d psi_d for a sampled area and c_g + sigma2_u otherwise. It equals
    the subtraction above but is never negative; the subtraction cancels to negative values when the
    sampling variances span many orders of magnitude (V ill-conditioned).
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
    zz = zs @ zs.T
    blocks = _Blocks(np.array([sigma2_v]), np.array([sigma2_u]), psi[in_sample], Groups(gs, n_groups))
    info_inv = np.linalg.pinv(information(blocks, blocks.solve(xs[None]), q[None])[0])
    own = np.zeros((group.size, gs.size))  # E: area d is sampled area s
    own[np.flatnonzero(in_sample), np.arange(gs.size)] = 1.0
    same = zall @ zs.T  # area d and sampled area s in one group
    k = sigma2_v * same + sigma2_u * own
    b = k @ vinv
    c = blocks.c[0][group]  # Var(v_g | y) of every area's group
    shrink = np.zeros(group.size)  # 1 - gamma_d = psi_d / (sigma2_u + psi_d) for sampled areas
    shrink[in_sample] = psi[in_sample] * blocks.w[0]
    g1 = np.where(in_sample, shrink**2 * c + sigma2_u * shrink, c + sigma2_u)
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
    bootstrap : parametric bootstrap replicates for the MSE; 0 = analytic MSE. The analytic MSE
        is returned as ``mse_analytic`` either way (with the bootstrap NaN beyond
        ``ANALYTIC_WITH_BOOTSTRAP_MAX_AREAS`` sampled areas).
    seed : seed of the bootstrap draws (same seed, same MSE).
    """
    n_groups = int(group.max()) + 1
    ys, ps, xs = y[in_sample], psi[in_sample], x[in_sample]
    starts = [(0.0, start_u), (start_u / 2.0, start_u / 2.0), (start_u, 0.0)]
    sv, su, converged, iterations = estimate_variances(ys, ps, xs, Groups(group[in_sample], n_groups), starts)
    predicted = _predict(y[None], psi, x, group, n_groups, in_sample, np.array([sv]), np.array([su]))
    blocks = predicted.pop("blocks")  # of one data set: index [0] below
    fit = {key: value[0] for key, value in predicted.items()}
    limit = ANALYTIC_WITH_BOOTSTRAP_MAX_AREAS if bootstrap > 0 else ANALYTIC_MAX_AREAS
    analytic = (analytic_mse(x, group, in_sample, psi, sv, su, fit["beta_cov"])
                if int(in_sample.sum()) <= limit else np.full(y.size, np.nan))
    notes = _unstable_analytic(analytic, ps, xs.shape[1], bootstrap)
    mse = bootstrap_mse(psi, x, group, in_sample, sv, su, fit["beta"], bootstrap, seed) if bootstrap > 0 else analytic
    r = ys - xs @ fit["beta"]
    loglik = -0.5 * (ys.size * np.log(2.0 * np.pi) + float(blocks.logdet()[0]) + float(r @ blocks.solve(r[None])[0]))
    m = y.size
    gamma = np.zeros(m)
    gamma[in_sample] = su * blocks.w[0]  # weight of the area's own residual beyond its group's
    resid = np.full(m, np.nan)
    resid[in_sample] = r / np.sqrt(sv + su + ps)
    return {"estimate": fit["estimate"], "mse": mse, "mse_conditional": mse.copy(), "mse_analytic": analytic,
            "sigma2_u": su,
            "sigma2_v": sv, "rho": np.nan, "beta": fit["beta"], "beta_cov": fit["beta_cov"],
            "group_effects": fit["group_effects"], "gamma": gamma, "residuals": resid, "loglik": float(loglik),
            "k": x.shape[1] + 2, "converged": converged, "iterations": iterations, "notes": notes}


def _unstable_analytic(analytic: np.ndarray, psi: np.ndarray, p: int, bootstrap: int) -> list[str]:
    """Check the analytic MSE (in place); notes.

    g1 >= 0 in closed form, but g2 and g3 are sums that cancel when the sampling variances span
    many orders of magnitude, and g3 is meaningless when the REML information is (nearly)
    singular (one or two residual degrees of freedom for two variances): the sum can then be
    negative. As the MSE (``bootstrap == 0``) that is an InputError; alongside the bootstrap the
    bad entries become NaN, so that only the bootstrap MSE is used, and a note says so.
    """
    bad = np.isinf(analytic) | (analytic <= 0.0)  # NaN: not computed (too many areas), not bad
    if not bad.any():
        return []
    why = (f"{int(bad.sum())} area(s) get a non-positive analytic MSE: it is numerically unstable here "
           f"(sampling variances from {psi.min():.3g} to {psi.max():.3g}; {psi.size} areas with a direct estimate "
           f"for {p} coefficients and 2 variances)")
    if bootstrap == 0:
        raise InputError(f"{why}.", hint="use the parametric bootstrap MSE (mse_bootstrap=200)")
    analytic[bad] = np.nan
    return [f"{why}; the bootstrap MSE alone is used for them."]


def bootstrap_mse(psi: np.ndarray, x: np.ndarray, group: np.ndarray, in_sample: np.ndarray, sigma2_v: float,
                  sigma2_u: float, beta: np.ndarray, replicates: int, seed: int) -> np.ndarray:
    """Parametric bootstrap MSE (Gonzalez-Manteiga et al. 2008) of the two-fold EBLUP.

    Each replicate draws v*_g ~ N(0, sigma2_v), u*_d ~ N(0, sigma2_u) and e*_d ~ N(0, psi_d),
    sets theta*_d = x_d'beta + v*_g + u*_d and y*_d = theta*_d + e*_d for the sampled areas,
    refits the variances (REML, started at the fitted values) and accumulates
    (theta-hat*_d - theta*_d)^2 for every area. The replicates are refitted together, in batches
    (projected Fisher scoring on stacked arrays); a replicate whose scoring has not converged after
    :data:`BOOTSTRAP_MAX_ITER` iterations is finished alone by the quasi-Newton search, started
    where scoring stopped, at the fitted values and at the Fay-Herriot split.
    """
    rng = np.random.default_rng(seed)
    n_groups = int(group.max()) + 1
    m = group.size
    xb = x @ beta
    e_sd = np.sqrt(np.where(in_sample, psi, 0.0))
    thetas, ystars = np.empty((replicates, m)), np.empty((replicates, m))
    for b in range(replicates):  # the draws of one replicate after another: the stream does not depend on batching
        thetas[b] = xb + rng.normal(0.0, np.sqrt(sigma2_v), n_groups)[group] + rng.normal(0.0, np.sqrt(sigma2_u), m)
        ystars[b] = np.where(in_sample, thetas[b] + rng.normal(0.0, 1.0, m) * e_sd, np.nan)
    ps, xs = psi[in_sample], x[in_sample]
    groups = Groups(group[in_sample], n_groups)
    batch = max(1, min(replicates, 2_000_000 // (m * (x.shape[1] + 2))))  # about 100 MB of stacked arrays
    total = np.zeros(m)
    start = sigma2_v + sigma2_u
    for first in range(0, replicates, batch):
        ys = ystars[first:first + batch][:, in_sample]
        variances, converged, _ = _scoring(ys, ps, xs, groups, np.tile([sigma2_v, sigma2_u], (ys.shape[0], 1)),
                                           _scale(ys, ps), max_iter=BOOTSTRAP_MAX_ITER,
                                           decrement_tol=BOOTSTRAP_DECREMENT)
        for b in np.flatnonzero(~converged):  # slow or stuck: quasi-Newton from where scoring stopped and two starts
            sv, su, _, _ = _multistart(ys[b], ps, xs, groups, [tuple(variances[b]), (sigma2_v, sigma2_u),
                                                               (0.0, max(start, 1e-8))], variances[b], 0)
            variances[b] = sv, su
        refit = _predict(ystars[first:first + batch], psi, x, group, n_groups, in_sample, variances[:, 0],
                         variances[:, 1])
        total += np.sum((refit["estimate"] - thetas[first:first + batch]) ** 2, axis=0)
    out: np.ndarray = total / replicates
    return out
