"""Multiple testing: Holm (family-wise error) and Benjamini-Hochberg (false discovery rate)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats

from geo_cohesion.errors import InputError


def holm(p_values: Sequence[float]) -> np.ndarray:
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


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate); NaN stays NaN.

    Uses :func:`scipy.stats.false_discovery_control`; same as R ``p.adjust(p, "BH")``.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = ~np.isnan(p)
    if valid.any():
        out[valid] = stats.false_discovery_control(p[valid], method="bh")
    return out


def adjust_p_values(p_values: Sequence[float], method: str) -> np.ndarray:
    """Adjust p-values with ``"holm"``, ``"fdr_bh"`` or ``"none"``."""
    if method == "holm":
        return holm(p_values)
    if method == "fdr_bh":
        return benjamini_hochberg(p_values)
    if method == "none":
        return np.asarray(p_values, dtype=float)
    raise InputError(f"unknown p-value adjustment {method!r}", hint=f"choose one of {', '.join(ADJUSTMENTS)}")


#: Multiple-testing adjustments across districts (see :mod:`geo_cohesion.stats.compare`).
ADJUSTMENTS = ("holm", "fdr_bh", "none")
