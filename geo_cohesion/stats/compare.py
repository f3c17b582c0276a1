"""Compare within a city: deviations from the city value, rank uncertainty, spread, variance shares
and the association of cohesion with structural indicators.

Everything here is a pure function on a :class:`~geo_cohesion.survey.design.SurveyDesign` or on
estimate tables.

* :func:`deviations_from_city`: district minus city with a design-based t-test whose variance
  includes the covariance between a district and the city it belongs to (checked against R
  ``svycontrast`` in the tests), and Holm or Benjamini-Hochberg control across the districts
  of a city. The reference is Student t with the district's degrees of freedom
  (:func:`~geo_cohesion.survey.estimates.domain_degrees_of_freedom`): with the normal reference
  Holm's family-wise error exceeds alpha for small districts (``benchmarks/fwer_simulation.py``).
* :func:`rank_intervals`: simulation intervals for ranks (Goldstein & Spiegelhalter 1996).
* :func:`spread` and :func:`variance_decomposition`: how different districts are, with the
  sampling noise of district means removed before comparing with differences between cities.
* :func:`structural_association`: weighted correlation and regression across districts, with
  intervals that are honest about the small number of districts.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from geo_cohesion.errors import InputError
from geo_cohesion.stats.multiple_testing import adjust_p_values
from geo_cohesion.survey.design import SurveyDesign
from geo_cohesion.survey.domains import category_codes
from geo_cohesion.survey.estimates import REFERENCES, domain_degrees_of_freedom, values_matrix
from geo_cohesion.survey.linearise import linearised_domain_variance


def deviations_from_city(design: SurveyDesign, values: str | Sequence[str], by: str, alpha: float = 0.05,
                         adjust: str = "holm", min_n: int = 30, reference: str = "t") -> pd.DataFrame:
    """Deviation of every domain (district, group) from the overall (city) value, with a test.

    Parameters
    ----------
    design : SurveyDesign
        One city's (raked) design.
    values : str or sequence of str
        Score columns.
    by : str
        Domain column.
    alpha : float
        Significance level after adjustment.
    adjust : {"holm", "fdr_bh", "none"}
        Multiple-testing control across the domains of each variable. Suppressed domains are not
        tested (they never count as significant and do not enter the family).
    min_n : int
        Suppression threshold.
    reference : {"t", "normal"}
        Reference distribution of ``z = deviation / se``: Student t with the domain's degrees
        of freedom ``df = n_d - H_d`` (respondents of the domain with a value minus their
        strata; the district's df bounds that of the difference, because a small district's
        variance dominates it), or the standard normal (as R ``svycontrast``).

    Returns
    -------
    DataFrame
        ``<by>, variable, estimate, city_value, deviation, se, se_mean, z, p_value, p_adjusted,
        significant, n, suppressed, df``. ``se`` is the standard error of the deviation,
        ``se_mean`` that of the domain mean itself, ``z`` the test statistic. A domain with fewer
        than two respondents with a value has ``se``, ``se_mean``, ``z``, ``p_value`` and ``df``
        NaN and is never significant, whatever ``min_n`` is.
    """
    if reference not in REFERENCES:
        raise InputError(f"unknown reference distribution {reference!r}", hint="use 't' or 'normal'")
    values = [values] if isinstance(values, str) else list(values)
    y = values_matrix(design, values)
    domain, labels = category_codes(design.data[by])
    strata, _ = design.strata_codes()
    cal = design.calibration
    res = linearised_domain_variance(y, design.weights.to_numpy(dtype=float), domain, len(labels), strata,
                                     design.design_weights.to_numpy(dtype=float),
                                     cal.codes if cal is not None else (), contrast=True)
    deviation = res["mean"] - res["overall"][None, :]
    df = domain_degrees_of_freedom(~np.isnan(y), domain, len(labels), strata)
    se = np.where(np.isnan(df), np.nan, np.sqrt(res["var_contrast"]))   # < 2 values: no variance, no test
    suppressed = res["n"] < min_n
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, deviation / se, np.nan)
    p = 2.0 * (stats.norm.sf(np.abs(z)) if reference == "normal" else stats.t.sf(np.abs(z), df))
    p = np.where(suppressed, np.nan, p)
    p_adj = np.column_stack([adjust_p_values(p[:, v], adjust) for v in range(len(values))])
    frame = pd.DataFrame({
        by: np.repeat(labels, len(values)),
        "variable": np.tile(values, len(labels)),
        "estimate": res["mean"].ravel(),
        "city_value": np.tile(res["overall"], len(labels)),
        "deviation": deviation.ravel(),
        "se": se.ravel(),
        "se_mean": np.where(np.isnan(df), np.nan, np.sqrt(res["var"])).ravel(),
        "z": z.ravel(),
        "p_value": p.ravel(),
        "p_adjusted": p_adj.ravel(),
        "n": res["n"].ravel().astype(int),
        "suppressed": suppressed.ravel(),
        "df": df.ravel(),
    })
    frame["significant"] = (frame["p_adjusted"] < alpha).fillna(False) & ~frame["suppressed"]
    return frame


#: Cells (draws x districts) simulated at once by :func:`rank_intervals` (~80 MB of float64).
RANK_CHUNK_CELLS = 10_000_000
_QUANTILE_COLUMNS = 2_000


def _simulated_ranks(est: np.ndarray, sd: np.ndarray, nu: np.ndarray | None, n_draws: int, seed: int) -> np.ndarray:
    """Rank (1 = highest) of every district in every draw, ``(n_draws, districts)`` in the smallest integer type.

    The draws are simulated in row chunks of about :data:`RANK_CHUNK_CELLS` cells, so memory is
    bounded by the rank table (2 bytes per cell up to 65,535 districts) plus one chunk. The random
    stream is the one of a single ``(n_draws, districts)`` draw (normals for every cell, then
    Student t for the districts with finite ``df``), so the ranks do not depend on the chunk size.
    """
    size = est.size
    normals = np.random.default_rng(seed)
    chunk = max(1, min(n_draws, RANK_CHUNK_CELLS // max(size, 1)))
    finite = np.isfinite(nu) if nu is not None else np.zeros(size, dtype=bool)
    t_draws = None
    if finite.any():  # the t draws follow all normals in the stream: skip past them once
        t_draws = np.random.default_rng(seed)
        for first in range(0, n_draws, chunk):
            t_draws.standard_normal((min(chunk, n_draws - first), size))
    ranks = np.empty((n_draws, size), dtype=np.min_scalar_type(size))
    positions = np.arange(1, size + 1, dtype=ranks.dtype)
    for first in range(0, n_draws, chunk):
        rows = min(chunk, n_draws - first)
        if nu is None:
            draws = normals.normal(est, sd, size=(rows, size))
        else:
            noise = normals.standard_normal((rows, size))
            if t_draws is not None:
                noise[:, finite] = t_draws.standard_t(nu[finite], size=(rows, int(finite.sum())))
            draws = est + sd * noise
        order = (-draws).argsort(axis=1, kind="stable")
        np.put_along_axis(ranks[first:first + rows], order, np.broadcast_to(positions, order.shape), axis=1)
    return ranks


def rank_intervals(estimates: Sequence[float], se: Sequence[float], level: float = 0.95, n_draws: int = 10_000,
                   seed: int = 0, df: Sequence[float] | None = None) -> pd.DataFrame:
    """Ranks (1 = highest) with simulation intervals.

    Draws every estimate independently from ``estimate + se * T`` ``n_draws`` times, ranks each
    draw, and reports the ``(1-level)/2`` and ``(1+level)/2`` quantiles of each district's rank.
    ``T`` is standard normal, or Student t with the district's ``df`` when ``df`` is given (the
    same reference as the district's confidence interval; ``inf`` = normal). Districts with a
    missing estimate, a missing SE or (when ``df`` is given) missing df get no rank and do not
    enter the ranking of the others.

    Returns
    -------
    DataFrame
        ``rank, rank_low, rank_high`` aligned to the input order (float, NaN where no rank).
    """
    est = np.asarray(estimates, dtype=float)
    sd = np.asarray(se, dtype=float)
    ok = ~np.isnan(est) & ~np.isnan(sd)
    if df is not None:
        nu = np.asarray(df, dtype=float)
        ok &= ~np.isnan(nu) & (nu > 0)
    valid = np.flatnonzero(ok)
    out = pd.DataFrame({"rank": np.nan, "rank_low": np.nan, "rank_high": np.nan}, index=range(est.size))
    if valid.size == 0:
        return out
    ranks = _simulated_ranks(est[valid], sd[valid], None if df is None else nu[valid], n_draws, seed)
    tail = (1.0 - level) / 2.0
    out.loc[valid, "rank"] = pd.Series(est[valid]).rank(ascending=False, method="min").to_numpy()
    low, high = np.empty(valid.size), np.empty(valid.size)
    for first in range(0, valid.size, _QUANTILE_COLUMNS):  # column blocks: no float copy of all ranks
        block = ranks[:, first:first + _QUANTILE_COLUMNS]
        low[first:first + block.shape[1]] = np.quantile(block, tail, axis=0, method="inverted_cdf")
        high[first:first + block.shape[1]] = np.quantile(block, 1.0 - tail, axis=0, method="inverted_cdf")
    out.loc[valid, "rank_low"] = low
    out.loc[valid, "rank_high"] = high
    return out


def rank_open(rank_low: ArrayLike, rank_high: ArrayLike, n_ranked: int) -> np.ndarray:
    """Whether a rank interval covers every rank 1..``n_ranked`` (of more than two districts).

    Then the data are compatible with any rank (e.g. model estimates that all equal the city's
    regression value), and a point rank would only name the first of equals: maps and profiles
    say "Rang nicht erkennbar" instead. False where an interval is missing.

    Parameters
    ----------
    rank_low, rank_high : array-like of float
        Rank intervals (:func:`rank_intervals`), NaN where none.
    n_ranked : int
        Districts in the ranking.

    Returns
    -------
    ndarray of bool
    """
    low, high = np.asarray(rank_low, dtype=float), np.asarray(rank_high, dtype=float)
    with np.errstate(invalid="ignore"):
        out: np.ndarray = (low <= 1) & (high >= n_ranked) & (n_ranked > 2)
    return out


def spread(estimates: pd.DataFrame, by: str = "district_id", name_column: str | None = "district_name") -> pd.DataFrame:
    """Range of the (non-suppressed) domain estimates per variable and the domains that span it.

    Returns
    -------
    DataFrame
        ``variable, min, max, range, lowest, highest, n_districts``.
    """
    rows = []
    usable = estimates[~estimates.get("suppressed", False).astype(bool)] if "suppressed" in estimates else estimates
    for variable, group in usable.dropna(subset=["estimate"]).groupby("variable", sort=False):
        lo = group.loc[group["estimate"].idxmin()]
        hi = group.loc[group["estimate"].idxmax()]
        label = name_column if name_column and name_column in group else by
        rows.append({"variable": variable, "min": lo["estimate"], "max": hi["estimate"],
                     "range": hi["estimate"] - lo["estimate"], "lowest": lo[label], "highest": hi[label],
                     "n_districts": len(group)})
    return pd.DataFrame(rows)


def variance_decomposition(design: SurveyDesign, values: str | Sequence[str], by: str) -> pd.DataFrame:
    """Split the weighted variance of each score into between- and within-domain parts.

    ``total = between + within`` with ``between = sum_g P_g (ybar_g - ybar)^2`` and ``P_g`` the
    weighted domain shares. Because estimated domain means scatter by sampling error alone,
    ``between_corrected`` subtracts each domain's sampling variance of ``ybar_g - ybar``
    (method of moments; floored at 0).

    Returns
    -------
    DataFrame
        ``variable, total, between, between_corrected, within, share_between, share_between_corrected``;
        the shares are NaN for a score without any variation (``total`` 0).
    """
    values = [values] if isinstance(values, str) else list(values)
    y = values_matrix(design, values)
    domain, labels = category_codes(design.data[by])
    strata, _ = design.strata_codes()
    cal = design.calibration
    w = design.weights.to_numpy(dtype=float)
    res = linearised_domain_variance(y, w, domain, len(labels), strata, design.design_weights.to_numpy(dtype=float),
                                     cal.codes if cal is not None else (), contrast=True)
    rows = []
    for v, name in enumerate(values):
        obs = ~np.isnan(y[:, v])
        total = np.average((y[obs, v] - res["overall"][v]) ** 2, weights=w[obs])
        share = res["sum_w"][:, v] / res["sum_w"][:, v].sum()
        dev2 = (res["mean"][:, v] - res["overall"][v]) ** 2
        ok = ~np.isnan(dev2)
        between = float(np.sum(share[ok] * dev2[ok]))
        corrected = max(0.0, float(np.sum(share[ok] * (dev2[ok] - res["var_contrast"][ok, v]))))
        scale = total if total > 0 else np.nan  # every respondent alike: no shares (was a divide-by-zero warning)
        rows.append({"variable": name, "total": total, "between": between, "between_corrected": corrected,
                     "within": total - between, "share_between": between / scale,
                     "share_between_corrected": corrected / scale})
    return pd.DataFrame(rows)


