"""Calibrate: raking (iterative proportional fitting) of weights to one-way population margins.

Pure functions on arrays: :func:`prepare_margins` checks the margins against the respondents and
codes them; :func:`rake_weights` runs IPF with optional bounds on the g-weights.
:meth:`geo_cohesion.survey.design.SurveyDesign.rake` wraps both.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from geo_cohesion.errors import InputError
from geo_cohesion.io.tables import row_ref
from geo_cohesion.survey.domains import category_codes


@dataclass(frozen=True)
class RakeDiagnostics:
    """What raking did.

    Attributes
    ----------
    iterations : int
        Full IPF sweeps over all margins.
    converged : bool
        Whether every margin was met within ``tol`` (relative) and the weights within bounds.
    max_margin_error : float
        Largest relative deviation of a weighted margin total from its population total.
    weight_min, weight_max : float
        Range of the calibrated weights.
    g_min, g_max : float
        Range of the adjustment factors (calibrated / design weight).
    deff_kish : float
        Kish's design effect due to unequal weights, ``n * sum(w^2) / sum(w)^2``.
    n_eff : float
        Effective sample size ``n / deff_kish``.
    worst_margin : str
        The margin category with the largest error (for messages).
    warnings : tuple of str
        Plain-language warnings about the weights (see :func:`weight_warnings`).
    """

    iterations: int
    converged: bool
    max_margin_error: float
    weight_min: float
    weight_max: float
    g_min: float
    g_max: float
    deff_kish: float
    n_eff: float
    worst_margin: str = ""
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for tables and JSON (warnings joined with ``"; "``)."""
        out = dict(self.__dict__)
        out["warnings"] = "; ".join(self.warnings)
        return out


@dataclass(frozen=True)
class Calibration:
    """Margins a design was raked to: per margin, integer codes per respondent and totals."""

    columns: tuple[str, ...]
    codes: tuple[np.ndarray, ...]
    categories: tuple[tuple[str, ...], ...]
    totals: tuple[np.ndarray, ...]


def kish_deff(weights: np.ndarray) -> float:
    """Kish's design effect due to weighting, ``n * sum(w^2) / sum(w)^2``."""
    weights = np.asarray(weights, dtype=float)
    return float(weights.size * np.sum(weights**2) / np.sum(weights) ** 2)


#: Kish design effect above which the weights are reported as extreme.
MAX_PLAUSIBLE_DEFF = 3.0
#: Share of respondents with a g-weight at a bound above which the bounds are reported as binding.
MAX_SHARE_AT_BOUNDS = 0.05


def weight_warnings(design_weights: np.ndarray, weights: np.ndarray,
                    bounds: tuple[float, float] | None = None) -> tuple[str, ...]:
    """Warnings about calibrated weights that usually mean a problem with the inputs.

    Parameters
    ----------
    design_weights, weights : ndarray (n,)
        Weights before and after calibration.
    bounds : (low, high), optional
        The g-weight bounds used.

    Returns
    -------
    tuple of str
        A warning when Kish's design effect of the calibrated weights exceeds
        :data:`MAX_PLAUSIBLE_DEFF` (the population table and the sample disagree strongly:
        misread numbers, wrong categories, a margin from another year), and when more than
        :data:`MAX_SHARE_AT_BOUNDS` of the respondents have a g-weight at a bound.
    """
    d = np.asarray(design_weights, dtype=float)
    w = np.asarray(weights, dtype=float)
    out: list[str] = []
    deff = kish_deff(w)
    if deff > MAX_PLAUSIBLE_DEFF:
        out.append(f"the weights vary very much (design effect {deff:.1f}, effective sample {w.size / deff:.0f} "
                   f"of {w.size}): check that the population table's numbers were read correctly and that its "
                   "categories match the survey's")
    if bounds is not None:
        g = w / d
        at_bounds = np.isclose(g, bounds[0], rtol=1e-9) | np.isclose(g, bounds[1], rtol=1e-9)
        if at_bounds.mean() > MAX_SHARE_AT_BOUNDS:
            out.append(f"{100 * at_bounds.mean():.0f} % of the respondents have a weight at the bounds "
                       f"{bounds[0]:g}–{bounds[1]:g}: the sample differs strongly from the population table "
                       "(check its numbers) or the bounds are too narrow")
    return tuple(out)


def _positive(value: Any) -> bool:
    try:
        return float(value) > 0
    except (TypeError, ValueError):
        return False


def _margin_error(w: np.ndarray, cal: Calibration) -> tuple[float, str]:
    worst_err, worst = 0.0, ""
    for column, codes, cats, totals in zip(cal.columns, cal.codes, cal.categories, cal.totals):
        current = np.bincount(codes, weights=w, minlength=totals.size)
        rel = np.abs(current - totals) / totals
        k = int(np.argmax(rel))
        if rel[k] > worst_err or not worst:
            worst_err, worst = float(rel[k]), f"margin '{column}' category {cats[k]!r}"
    return worst_err, worst


def prepare_margins(data: pd.DataFrame, margins: Mapping[str, Mapping[Any, float]]) -> Calibration:
    """Check one-way population margins against the respondents and code them.

    Parameters
    ----------
    data : DataFrame
        Respondent rows with the margin columns.
    margins : mapping
        ``{column: {category: population total}}``.

    Returns
    -------
    Calibration

    Raises
    ------
    InputError
        Missing columns or values, categories without population or without respondents,
        non-positive or non-numeric totals, margins whose totals disagree.
    """
    source = data.attrs.get("source", "survey data")
    if not margins:
        raise InputError("no margins given for raking", hint="list the survey columns to rake on, e.g. "
                         "'margins: [age_group, gender, district_id]'")
    columns, codes_all, cats_all, totals_all, sums = [], [], [], [], {}
    for column, table in margins.items():
        if column not in data.columns:
            raise InputError(f"margin column '{column}' not found in the survey", source,
                             "rake only on columns the survey has")
        blank = data[column].isna()
        if blank.any():
            raise InputError(f"respondents without a value for margin '{column}'",
                             row_ref(data, data.index[blank], column),
                             "fill in the value or drop these respondents")
        codes, categories = category_codes(data[column])
        pop = {str(k): v for k, v in table.items()}
        not_in_pop = [c for c in categories if c not in pop]
        if not_in_pop:
            rows = data.index[data[column].astype(str).isin(not_in_pop)]
            raise InputError(f"survey category {not_in_pop[0]!r} of '{column}' has no population total",
                             row_ref(data, rows, column),
                             f"add it to the margins (known: {', '.join(sorted(pop)[:12])}) "
                             "or recode the respondents")
        totals = []
        for cat in categories:
            try:
                value = float(pop[cat])
            except (TypeError, ValueError):
                raise InputError(f"population total for {column} = {cat!r} is not a number: {pop[cat]!r}",
                                 hint="give population counts as numbers") from None
            if not np.isfinite(value) or value <= 0:
                raise InputError(f"population total for {column} = {cat!r} must be positive, got {pop[cat]!r}",
                                 hint="respondents cannot be weighted to an empty population cell")
            totals.append(value)
        empty = sorted(c for c, v in pop.items() if c not in categories and _positive(v))
        if empty:
            raise InputError(f"margin category {empty[0]!r} of '{column}' has population "
                             f"{float(pop[empty[0]]):g} but no respondents"
                             + (f" (also: {', '.join(empty[1:6])})" if len(empty) > 1 else ""),
                             source, "collapse it with a neighbouring category or remove it from the margins")
        total_all = sum(float(v) for v in pop.values() if _positive(v))
        sums[column] = total_all
        columns.append(column)
        codes_all.append(codes)
        cats_all.append(tuple(categories))
        totals_all.append(np.asarray(totals))
    values = list(sums.values())
    if max(values) - min(values) > 1e-6 * max(values):
        detail = ", ".join(f"{c}: {v:,.0f}" for c, v in sums.items())
        raise InputError(f"margin totals disagree ({detail})",
                         hint="every margin must sum to the same population total; check the population table")
    return Calibration(tuple(columns), tuple(codes_all), tuple(cats_all), tuple(totals_all))


def rake_weights(design_weights: np.ndarray, cal: Calibration, max_iter: int = 1000, tol: float = 1e-10,
                 bounds: Sequence[float] | None = None) -> tuple[np.ndarray, RakeDiagnostics]:
    """Iterative proportional fitting of ``design_weights`` to the margins of ``cal``.

    Parameters
    ----------
    design_weights : ndarray (n,)
        Positive weights before calibration.
    cal : Calibration
        Coded margins (:func:`prepare_margins`).
    max_iter : int
        Maximum IPF sweeps.
    tol : float
        Convergence: largest relative margin error.
    bounds : (low, high), optional
        Bounds on ``g = calibrated / design weight``, applied inside each sweep.

    Returns
    -------
    weights : ndarray (n,)
    diagnostics : RakeDiagnostics

    Raises
    ------
    InputError
        Invalid bounds, or margins not reached (with the worst margin named).
    """
    d = np.asarray(design_weights, dtype=float)
    low, high = 0.0, np.inf  # no bounds
    if bounds is not None:
        try:
            low, high = (float(b) for b in bounds)
        except (TypeError, ValueError):
            raise InputError(f"weight bounds must be two numbers [low, high], got {bounds!r}",
                             hint="e.g. 'bounds: [0.3, 3.0]', or leave the bounds out") from None
    if bounds is not None and not (0 <= low < 1 < high):
        raise InputError(f"weight bounds must satisfy 0 <= low < 1 < high, got {tuple(bounds)}",
                         hint="e.g. 'bounds: [0.3, 3.0]', or leave the bounds out")
    w = d.copy()
    iterations, error, worst = 0, np.inf, ""
    for iterations in range(1, max_iter + 1):  # noqa: B007 - the count is reported after the loop
        for codes, totals in zip(cal.codes, cal.totals):
            current = np.bincount(codes, weights=w, minlength=totals.size)
            w *= (totals / current)[codes]
            if bounds is not None:
                w = np.clip(w, low * d, high * d)
        error, worst = _margin_error(w, cal)
        if error < tol:
            break
    converged = error < tol
    if not converged and bounds is not None:
        raise InputError(
            f"the weight bounds {low:g}–{high:g} make the margins unreachable: after {iterations} "
            f"iterations {worst} is still off by {100 * error:.2f} %",
            hint="check the population table's numbers first (margins far from the sample cannot be reached), "
                 "then widen the bounds, collapse sparse categories, or rake without bounds")
    if not converged:
        raise InputError(f"raking did not converge in {max_iter} iterations ({worst} off by {100 * error:.2g} %)",
                         hint="increase max_iter or collapse sparse categories")
    g = w / d
    deff = kish_deff(w)
    warnings = weight_warnings(d, w, (low, high) if bounds is not None else None)
    return w, RakeDiagnostics(iterations, converged, float(error), float(w.min()), float(w.max()),
                              float(g.min()), float(g.max()), deff, len(w) / deff, worst, warnings)
