"""Covariates of the district models: z-standardisation and forward selection by AIC.

Candidates are a city's numeric structural indicators, z-standardised over all its districts
(constant columns dropped). Unless the user names them, they are chosen once per city on the
overall index: forward selection from the intercept-only model, adding the indicator that lowers
the AIC of the ML Fay-Herriot fit most, at most :func:`default_max_covariates` of them. Re-exported
by :mod:`geo_cohesion.survey.small_area`, which fits the models.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from geo_cohesion.errors import InputError
from geo_cohesion.survey.sae import fay_herriot

#: Fisher-scoring iterations of the non-spatial model (sae's default); if they do not settle, ``fay_herriot``
#: solves the same equation by bracketing, so the answer is the one sae would converge to.
FH_MAX_ITER = 100


def standardise(covariates: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """z-standardise covariate columns over all areas; drop constant columns.

    Parameters
    ----------
    covariates : pandas.DataFrame
        Numeric columns, one row per area (no missing values).

    Returns
    -------
    standardised : pandas.DataFrame
        ``(x - mean) / sd`` (population sd) of every non-constant column, same index.
    dropped : list of str
        Constant columns (they carry no information beyond the intercept).

    Raises
    ------
    InputError
        A non-numeric or missing value.
    """
    out, dropped = {}, []
    for col in covariates.columns:
        x = pd.to_numeric(covariates[col], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(x).all():
            raise InputError(f"covariate {col!r} is missing or not numeric for some area.",
                             hint="covariates are needed for every district, also for those without respondents")
        sd = float(np.std(x))
        if not sd > 1e-12 * max(1.0, float(np.abs(x).max())):
            dropped.append(str(col))
            continue
        out[str(col)] = (x - x.mean()) / sd
    return pd.DataFrame(out, index=covariates.index), dropped


@dataclass(frozen=True)
class CovariateSelection:
    """Result of :func:`select_covariates`.

    Attributes
    ----------
    names : tuple of str
        Selected covariates in the order they were added.
    steps : pandas.DataFrame
        ``step, added, aic`` of the forward selection (step 0: intercept only).
    max_covariates : int
        The cap that applied.
    """

    names: tuple[str, ...]
    steps: pd.DataFrame
    max_covariates: int


def default_max_covariates(n_areas: int) -> int:
    """At most one covariate per five sampled areas: ``floor(n_areas / 5)``."""
    return max(0, int(n_areas) // 5)


def select_covariates(direct: Any, sampling_var: Any, candidates: pd.DataFrame,
                      max_covariates: int | None = None) -> CovariateSelection:
    """Forward selection of covariates by AIC of an ML Fay-Herriot fit.

    Parameters
    ----------
    direct, sampling_var : array-like, shape (m,)
        Direct estimates (NaN = no respondents) and their sampling variances, e.g. of the index.
    candidates : pandas.DataFrame, shape (m, p)
        Candidate covariates (standardised), known for every area.
    max_covariates : int, optional
        Cap on the number selected; default ``floor(m_s / 5)`` for ``m_s`` areas with a direct
        estimate (:func:`default_max_covariates`).

    Returns
    -------
    CovariateSelection

    Notes
    -----
    Starting from the intercept-only model, the candidate that lowers the AIC most is added
    while the AIC decreases and the cap is not reached. Candidates that make the design
    collinear are skipped. AIC uses the ML log-likelihood, so models with different regressors
    are comparable.
    """
    y = np.asarray(direct, dtype=float).ravel()
    psi = np.asarray(sampling_var, dtype=float).ravel()
    n_s = int(np.isfinite(y).sum())
    cap = default_max_covariates(n_s) if max_covariates is None else int(max_covariates)
    if cap < 0:
        raise InputError(f"max_covariates must not be negative, got {max_covariates!r}.")

    def aic(names: list[str]) -> float:
        try:
            res = fay_herriot(y, psi, candidates[names] if names else None, method="ML", max_iter=FH_MAX_ITER)
        except (InputError, np.linalg.LinAlgError):
            return np.inf
        return res.aic if res.converged else np.inf

    chosen: list[str] = []
    best = aic(chosen)
    steps = [{"step": 0, "added": "", "aic": best}]
    remaining = [str(c) for c in candidates.columns]
    while remaining and len(chosen) < cap:
        scores = {c: aic([*chosen, c]) for c in remaining}
        pick = min(remaining, key=lambda c: (scores[c], remaining.index(c)))
        if not scores[pick] < best:
            break
        chosen.append(pick)
        remaining.remove(pick)
        best = scores[pick]
        steps.append({"step": len(chosen), "added": pick, "aic": best})
    return CovariateSelection(tuple(chosen), pd.DataFrame(steps), cap)
