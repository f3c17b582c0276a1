"""Experiment, not adopted: the bias-corrected (double) bootstrap MSE of the group model (issue #14).

    python benchmarks/sae_double_bootstrap.py --replicates 100 --cities Lippstadt Rostock

Runs ``benchmarks/sae_variance_diagnosis.py`` (same populations, samples and output) with the group
model's parametric bootstrap MSE replaced by Hall & Maiti's (2006) bias-corrected one, computed as a
fast double bootstrap: each of the 200 first-level replicates (drawn exactly as the pipeline draws
them, so the first level *is* the published MSE ``mse1``) gets one second-level replicate drawn
from its own refitted variances and coefficients; ``mse2`` is their mean squared error, and

    mse_bc = 2 mse1 - mse2                    if mse1 >= mse2,
    mse_bc = mse1 exp((mse1 - mse2) / mse2)   otherwise (never negative).

It removes the upward bias of a plug-in MSE whose variance estimate sits near 0 with an upward
skew (see the diagnosis in ``RESULTS.md``). Private helpers of ``sae_twofold`` are used on purpose:
this is a measurement of an alternative, not a second implementation.
"""
from __future__ import annotations

import sys

import numpy as np
import sae_variance_diagnosis

import geo_cohesion.survey.sae_twofold as T


def _draw(psi: np.ndarray, x: np.ndarray, group: np.ndarray, in_sample: np.ndarray, sigma2_v: np.ndarray,
          sigma2_u: np.ndarray, mean: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One replicate per entry of ``sigma2_v``/``sigma2_u``/rows of ``mean``: true values and direct
    estimates (B, m), drawn in the order ``sae_twofold.bootstrap_mse`` draws them."""
    n_groups, m = int(group.max()) + 1, group.size
    e_sd = np.sqrt(np.where(in_sample, psi, 0.0))
    thetas, ystars = np.empty((sigma2_v.size, m)), np.empty((sigma2_v.size, m))
    for b in range(sigma2_v.size):
        thetas[b] = (mean[b] + rng.normal(0.0, np.sqrt(sigma2_v[b]), n_groups)[group]
                     + rng.normal(0.0, np.sqrt(sigma2_u[b]), m))
        ystars[b] = np.where(in_sample, thetas[b] + rng.normal(0.0, 1.0, m) * e_sd, np.nan)
    return thetas, ystars


def _refit(ystars: np.ndarray, psi: np.ndarray, x: np.ndarray, group: np.ndarray, in_sample: np.ndarray,
           start: np.ndarray) -> tuple[dict, np.ndarray]:
    """REML refits of all replicates (scoring, then quasi-Newton for the stragglers) and their EBLUPs."""
    n_groups = int(group.max()) + 1
    ps, xs, ys = psi[in_sample], x[in_sample], ystars[:, in_sample]
    groups = T.Groups(group[in_sample], n_groups)
    variances, converged, _ = T._scoring(ys, ps, xs, groups, start, T._scale(ys, ps),
                                         max_iter=T.BOOTSTRAP_MAX_ITER, decrement_tol=T.BOOTSTRAP_DECREMENT)
    for b in np.flatnonzero(~converged):
        sv, su, _, _ = T._multistart(ys[b], ps, xs, groups, [tuple(variances[b]), tuple(start[b]),
                                                             (0.0, max(start[b].sum(), 1e-8))], variances[b], 0)
        variances[b] = sv, su
    return T._predict(ystars, psi, x, group, n_groups, in_sample, variances[:, 0], variances[:, 1]), variances


def bootstrap_levels(psi: np.ndarray, x: np.ndarray, group: np.ndarray, in_sample: np.ndarray, sigma2_v: float,
                     sigma2_u: float, beta: np.ndarray, replicates: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(mse1, mse2)``: the first-level bootstrap MSE (the draws of ``sae_twofold.bootstrap_mse``,
    hence its value) and the mean squared error of one second-level replicate per first-level one."""
    rng = np.random.default_rng(seed)
    sv, su = np.full(replicates, sigma2_v), np.full(replicates, sigma2_u)
    thetas, ystars = _draw(psi, x, group, in_sample, sv, su, np.tile(x @ beta, (replicates, 1)), rng)
    first, variances = _refit(ystars, psi, x, group, in_sample, np.column_stack([sv, su]))
    mse1 = np.mean((first["estimate"] - thetas) ** 2, axis=0)
    thetas2, ystars2 = _draw(psi, x, group, in_sample, variances[:, 0], variances[:, 1], first["beta"] @ x.T,
                             np.random.default_rng([seed, 1]))
    second, _ = _refit(ystars2, psi, x, group, in_sample, variances.copy())
    return mse1, np.mean((second["estimate"] - thetas2) ** 2, axis=0)


def hall_maiti(mse1: np.ndarray, mse2: np.ndarray) -> np.ndarray:
    """Bias-corrected MSE: ``2 mse1 - mse2`` where ``mse1 >= mse2``, else ``mse1 exp((mse1 - mse2) / mse2)``."""
    out: np.ndarray = np.where(mse1 >= mse2, 2.0 * mse1 - mse2,
                               mse1 * np.exp((mse1 - mse2) / np.maximum(mse2, 1e-300)))
    return out


def bc_mse(psi: np.ndarray, x: np.ndarray, group: np.ndarray, in_sample: np.ndarray, sigma2_v: float,
           sigma2_u: float, beta: np.ndarray, replicates: int, seed: int) -> np.ndarray:
    """Hall-Maiti bias-corrected bootstrap MSE (fast double bootstrap); same signature as
    ``sae_twofold.bootstrap_mse``."""
    return hall_maiti(*bootstrap_levels(psi, x, group, in_sample, sigma2_v, sigma2_u, beta, replicates, seed))


def main(argv: list[str] | None = None) -> int:
    T.bootstrap_mse = bc_mse  # only in this process
    return sae_variance_diagnosis.main(argv)


if __name__ == "__main__":
    sys.exit(main())
