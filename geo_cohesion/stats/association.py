"""Association of district scores with structural indicators: population-weighted correlation
(Fisher-z interval) and weighted regression across the districts of a city."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from geo_cohesion.labels import DEFAULT_LANG, label
from geo_cohesion.radar.indicators import Indicator, describe_column

#: Below this many districts the association note says that the interval is wide.
FEW_DISTRICTS = 20


def weighted_correlation(x: Sequence[float], y: Sequence[float], weights: Sequence[float] | None = None,
                         level: float = 0.95) -> dict[str, float]:
    """Weighted Pearson correlation with a Fisher-z interval based on the number of units.

    Returns
    -------
    dict
        ``r, ci_low, ci_high, n`` (NaN interval when n < 4).
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, float)
    ok = ~(np.isnan(x) | np.isnan(y) | np.isnan(w))
    x, y, w = x[ok], y[ok], w[ok]
    n = x.size
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:  # a constant has no correlation (and no 0/0 warning)
        return {"r": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n": n}
    mx, my = np.average(x, weights=w), np.average(y, weights=w)
    cov = np.average((x - mx) * (y - my), weights=w)
    r = cov / np.sqrt(np.average((x - mx) ** 2, weights=w) * np.average((y - my) ** 2, weights=w))
    if n < 4 or abs(r) >= 1:
        return {"r": float(r), "ci_low": np.nan, "ci_high": np.nan, "n": n}
    zcrit = stats.norm.ppf(0.5 + level / 2.0)
    fz = np.arctanh(r)
    half = zcrit / np.sqrt(n - 3)
    return {"r": float(r), "ci_low": float(np.tanh(fz - half)), "ci_high": float(np.tanh(fz + half)), "n": n}


def weighted_regression(x: Sequence[float], y: Sequence[float], weights: Sequence[float] | None = None,
                        level: float = 0.95) -> dict[str, float]:
    """Weighted least squares ``y = a + b x`` across districts with a t interval for the slope.

    Returns
    -------
    dict
        ``intercept, slope, slope_se, slope_ci_low, slope_ci_high, n``.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, float)
    ok = ~(np.isnan(x) | np.isnan(y) | np.isnan(w))
    x, y, w = x[ok], y[ok], w[ok]
    n = x.size
    nan = {"intercept": np.nan, "slope": np.nan, "slope_se": np.nan, "slope_ci_low": np.nan,
           "slope_ci_high": np.nan, "n": n}
    if n < 3 or np.ptp(x) == 0:
        return nan
    w = w / w.mean()  # scale-free: only relative district weights matter
    design = np.column_stack([np.ones(n), x])
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(design * sw[:, None], y * sw, rcond=None)
    resid = (y - design @ coef) * sw
    sigma2 = resid @ resid / (n - 2)
    cov = sigma2 * np.linalg.inv((design * w[:, None]).T @ design)
    se = float(np.sqrt(cov[1, 1]))
    t = stats.t.ppf(0.5 + level / 2.0, n - 2)
    return {"intercept": float(coef[0]), "slope": float(coef[1]), "slope_se": se,
            "slope_ci_low": float(coef[1] - t * se), "slope_ci_high": float(coef[1] + t * se), "n": n}


#: Columns of :func:`structural_association` (also when no district can be used).
ASSOCIATION_COLUMNS = ["variable", "indicator", "indicator_label", "r", "r_ci_low", "r_ci_high", "intercept",
                       "slope", "slope_se", "slope_ci_low", "slope_ci_high", "n_districts", "note"]


def structural_association(estimates: pd.DataFrame, structural: pd.DataFrame, indicators: Sequence[str | Indicator],
                           weights_column: str | None = "population_total", level: float = 0.95,
                           lang: str = DEFAULT_LANG) -> pd.DataFrame:
    """Correlation and regression of every cohesion variable on every structural indicator.

    Parameters
    ----------
    estimates : DataFrame
        Tidy district estimates (``district_id, variable, estimate, suppressed``).
    structural : DataFrame
        One row per district with ``district_id`` and the indicator columns.
    indicators : sequence of str or Indicator
        Indicator columns, or indicators of the city's registry (their labels go into
        ``indicator_label``); a plain column name is labelled from the known catalogue.
    weights_column : str, optional
        District weights (population); unweighted if None or absent.
    level : float
    lang : {"de", "en"}
        Language of labels and notes.

    Returns
    -------
    DataFrame
        ``variable, indicator, indicator_label, r, r_ci_low, r_ci_high, intercept, slope,
        slope_se, slope_ci_low, slope_ci_high, n_districts, note``. ``note`` says plainly when few
        districts make the intervals wide.
    """
    described = [i if isinstance(i, Indicator) else describe_column(i, lang) for i in indicators]
    columns = [i.column for i in described]
    labels = {i.column: i.label for i in described}
    usable = estimates[~estimates["suppressed"].astype(bool)] if "suppressed" in estimates else estimates
    keep = [c for c in (*columns, weights_column) if c and c in structural.columns]
    table = structural.assign(district_id=structural["district_id"].astype(str)).set_index("district_id")[keep]
    rows = []
    for variable, group in usable.groupby("variable", sort=False):
        joined = group.assign(district_id=group["district_id"].astype(str)).join(table, on="district_id", how="inner")
        w = joined[weights_column].to_numpy(float) if weights_column and weights_column in joined else None
        for indicator in columns:
            if indicator not in joined:
                continue
            x = pd.to_numeric(joined[indicator], errors="coerce").to_numpy(float)
            yv = joined["estimate"].to_numpy(float)
            corr = weighted_correlation(x, yv, w, level)
            reg = weighted_regression(x, yv, w, level)
            n = corr["n"]
            note = label("note.few_districts", lang, n=n) if n < FEW_DISTRICTS else ""
            if not np.isfinite(corr["r"]):  # too few districts (or no spread) for any r: no interval to call wide
                note = label("note.no_correlation", lang, n=n)
            rows.append({"variable": variable, "indicator": indicator, "indicator_label": labels[indicator],
                         "r": corr["r"], "r_ci_low": corr["ci_low"],
                         "r_ci_high": corr["ci_high"], "intercept": reg["intercept"], "slope": reg["slope"],
                         "slope_se": reg["slope_se"],
                         "slope_ci_low": reg["slope_ci_low"], "slope_ci_high": reg["slope_ci_high"],
                         "n_districts": n, "note": note})
    return pd.DataFrame(rows, columns=ASSOCIATION_COLUMNS)
