"""Multiple testing: Holm (family-wise error) and Benjamini-Hochberg (false discovery rate)."""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from geo_cohesion.errors import InputError
from geo_cohesion.settings import ADJUSTMENTS


def holm(p_values: ArrayLike) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error rate); NaN stays NaN.

    Same as R ``p.adjust(p, "holm")``.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    if valid.size == 0:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    m = order.size
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def benjamini_hochberg(p_values: ArrayLike) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate); NaN stays NaN.

    Uses :func:`scipy.stats.false_discovery_control`; same as R ``p.adjust(p, "BH")``.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = ~np.isnan(p)
    if valid.any():
        out[valid] = stats.false_discovery_control(p[valid], method="bh")
    return out


def adjust_p_values(p_values: ArrayLike, method: str = "holm") -> np.ndarray:
    """Adjusted p-values for one family of tests; ``NaN`` is not a test and stays ``NaN``.

    Parameters
    ----------
    p_values : sequence of float
        Raw p-values in [0, 1]; the family size is the number of non-missing values.
    method : {"holm", "fdr_bh", "none"}
        Holm's step-down method (family-wise error rate, R ``p.adjust(p, "holm")``),
        Benjamini-Hochberg (false discovery rate, R ``p.adjust(p, "BH")``), or the raw values.

    Returns
    -------
    ndarray
        Adjusted p-values in the input order.
    """
    p = np.asarray(p_values, dtype=float)
    if np.any((p < 0) | (p > 1)):
        raise InputError("p-values must lie between 0 and 1")
    if method == "holm":
        return holm(p_values)
    if method == "fdr_bh":
        return benjamini_hochberg(p_values)
    if method == "none":
        return np.asarray(p_values, dtype=float)
    raise InputError(f"unknown p-value adjustment {method!r}", hint=f"choose one of {', '.join(ADJUSTMENTS)}")
