"""The reliability rule of published district estimates: which to suppress and why, and the
normal interval half-width it judges. Re-exported by :mod:`geo_cohesion.survey.small_area`."""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import norm

from geo_cohesion.errors import InputError
from geo_cohesion.labels import DEFAULT_LANG, format_level, label


def normal_halfwidth(mse: Any, level: float = 0.95) -> np.ndarray:
    """Half-width ``z * sqrt(mse)`` of a normal ``level`` interval."""
    if not 0 < level < 1:
        raise InputError(f"confidence level must be between 0 and 1, got {level}")
    halfwidth: np.ndarray = float(norm.ppf(0.5 + level / 2.0)) * np.sqrt(np.asarray(mse, dtype=float))
    return halfwidth


def _decimal(text: str, lang: str) -> str:
    """A formatted number with the language's decimal mark (German: comma)."""
    return text.replace(".", ",") if lang == "de" else text


def _points(value: float, lang: str = DEFAULT_LANG) -> str:
    return _decimal(f"{value:.1f}", lang)


def unpublished_when(level: float, min_n: int, max_halfwidth: float | None, lang: str = DEFAULT_LANG) -> str:
    """When a district value is not published, in words (for map notes, reports and the workbook):
    the rule of :func:`reliability` as "95-%-Intervall breiter als ±10 Punkte oder direkte Schätzung
    aus weniger als 30 Befragten" (``lang="de"``, the default). Model estimates of small districts
    are published unless their interval is too wide."""
    parts: list[str] = []
    if max_halfwidth is not None:
        parts.append(label("rule.too_wide", lang, level=format_level(level, lang),
                           width=_decimal(f"{max_halfwidth:g}", lang)))
    parts.append(label("rule.too_few", lang, min_n=min_n))
    return label("rule.or", lang).join(parts)


def reliability(estimate: Any, halfwidth: Any, row_estimator: Any, n: Any, *, max_halfwidth: float | None,
                min_n: int, level: float = 0.95, score_range: tuple[float, float] | None = None,
                lang: str = DEFAULT_LANG) -> tuple[np.ndarray, list[str]]:
    """Which published estimates to suppress, and why (for the ``note`` column and maps).

    Parameters
    ----------
    estimate, halfwidth : array-like, shape (k,)
        Published estimates and the half-widths of their intervals (NaN: unknown).
    row_estimator : array-like of str, shape (k,)
        Estimator of each row (:data:`geo_cohesion.survey.small_area.ROW_ESTIMATORS`).
    n : array-like, shape (k,)
        Respondents behind the row's direct estimate (NaN: unknown).
    max_halfwidth : float or None
        Suppress when the half-width exceeds this many points (None: no such rule).
    min_n : int
        Suppress a *direct* estimate from fewer respondents.
    level : float
        Confidence level, for the wording.
    score_range : (float, float), optional
        Range of the score (0-100 for the Radar scores). A model estimate outside it, possible
        where a district's indicators lie beyond those of the sampled districts (the regression
        extrapolates), is suppressed: no district can have such a value.
    lang : {"de", "en"}
        Language of the reasons (label catalogue ``reason.*``; German by default, as in the tables).

    Returns
    -------
    suppressed : numpy.ndarray of bool
    reasons : list of str
        Empty where published.
    """
    est = np.asarray(estimate, dtype=float).ravel()
    hw = np.asarray(halfwidth, dtype=float).ravel()
    kind = np.asarray(row_estimator, dtype=object).ravel()
    count = np.asarray(n, dtype=float).ravel()
    if not (est.size == hw.size == kind.size == count.size):
        raise InputError("estimate, halfwidth, row_estimator and n differ in length.")
    if max_halfwidth is not None and not max_halfwidth > 0:
        raise InputError(f"max_halfwidth must be positive, got {max_halfwidth!r}.")
    reasons: list[str] = []
    level_text = format_level(level, lang)
    for e, h, k, c in zip(est, hw, kind, count):
        if not np.isfinite(e):
            # n counts valid values: 0 also where the district's respondents all skipped this score
            reasons.append(label("reason.no_valid_answers" if c == 0 else "reason.no_estimate", lang))
        elif score_range is not None and not score_range[0] <= e <= score_range[1]:
            reasons.append(label("reason.out_of_scale", lang, value=_points(e, lang), low=f"{score_range[0]:g}",
                                 high=f"{score_range[1]:g}"))
        elif k == "direct" and np.isfinite(c) and c < min_n:
            reasons.append(label("reason.too_few_direct", lang, n=int(c), min_n=min_n))
        elif max_halfwidth is not None and np.isfinite(h) and h > max_halfwidth:
            reasons.append(label("reason.too_uncertain", lang, level=level_text, halfwidth=_points(h, lang),
                                 allowed=_points(max_halfwidth, lang)))
        else:
            reasons.append("")
    return np.array([bool(r) for r in reasons]), reasons
