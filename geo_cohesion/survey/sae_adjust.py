"""Adjustments applied to fitted small-area estimates: the robust (larger of unconditional and
conditional) MSE and ratio benchmarking to a known overall mean. Re-exported by
:mod:`geo_cohesion.survey.sae`."""
from __future__ import annotations

from typing import Any

import numpy as np

from geo_cohesion.errors import InputError


def _vector(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric.", hint=str(exc)) from None
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise InputError(f"{name} must be one-dimensional, got shape {arr.shape}.")
    return arr.copy()


def robust_mse(mse: Any, mse_conditional: Any) -> np.ndarray:
    r"""The larger of the unconditional and the conditional MSE of each area.

    The Prasad-Rao MSE (``FayHerriotResult.mse``) is an average over the area effects: right on
    average, too small for an area that the covariates describe badly (its EBLUP is pulled
    towards a regression value that is off) and too large for the others. The conditional MSE
    (``FayHerriotResult.mse_conditional``, Rivest & Belmonte 2000) reflects the area's own
    residual but is very variable (it is often below the Prasad-Rao value and can be negative).
    Their maximum keeps the Prasad-Rao value as the floor and widens the interval of an area whose
    direct estimate is far from its model prediction; it is conservative (never below either).

    Parameters
    ----------
    mse, mse_conditional : array-like, shape (m,)

    Returns
    -------
    numpy.ndarray
        ``max(mse, mse_conditional)`` element-wise; NaN only where ``mse`` is NaN.
    """
    pr = _vector(mse, "mse")
    cond = _vector(mse_conditional, "mse_conditional")
    if pr.size != cond.size:
        raise InputError(f"mse has {pr.size} areas but mse_conditional has {cond.size}.")
    out: np.ndarray = np.where(np.isnan(cond) | np.isnan(pr), pr, np.maximum(pr, cond))
    return out


def fh_benchmark(estimate: Any, population: Any, target: float) -> np.ndarray:
    """Ratio-benchmark area estimates to a known overall mean.

    Multiplies every estimate by the same factor so that the population-weighted mean of the
    benchmarked estimates, ``sum(N_i * est_i) / sum(N_i)``, equals ``target`` (e.g. the direct
    estimate for the whole city, which is precise). This is ratio benchmarking; the MSEs are
    *not* adjusted for it.

    Parameters
    ----------
    estimate : array-like, shape (m,)
        Area estimates (e.g. ``FayHerriotResult.estimate``).
    population : array-like, shape (m,)
        Population sizes (or other non-negative weights) of the areas; not all zero.
    target : float
        The population-weighted mean the benchmarked estimates must have.

    Returns
    -------
    numpy.ndarray
        The benchmarked estimates.

    Raises
    ------
    InputError
        Mismatched lengths, negative or missing populations, missing estimates for areas with
        population, or a weighted mean of 0 (no ratio can fix that).
    """
    est = _vector(estimate, "estimate")
    pop = _vector(population, "population")
    if est.size != pop.size:
        raise InputError(f"estimate has {est.size} areas but population has {pop.size}.")
    if not np.isfinite(pop).all() or (pop < 0).any():
        raise InputError("population must be finite and not negative.")
    if pop.sum() <= 0:
        raise InputError("population sums to 0.")
    used = pop > 0
    if not np.isfinite(est[used]).all():
        raise InputError("estimate is missing or not finite for an area with population > 0.")
    target = float(target)
    if not np.isfinite(target):
        raise InputError(f"target must be a finite number, got {target!r}.")
    current = float(np.sum(pop[used] * est[used]) / pop.sum())
    if current == 0.0:
        raise InputError("The population-weighted mean of the estimates is 0; ratio benchmarking is impossible.")
    return est * (target / current)
