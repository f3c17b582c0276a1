"""Calibrate: raking (iterative proportional fitting) of weights to one-way population margins.

Pure functions on arrays: :func:`prepare_margins` checks the margins against the respondents and
codes them; :func:`rake_weights` runs IPF with optional bounds on the g-weights.
:meth:`geo_cohesion.survey.design.SurveyDesign.rake` wraps both. :func:`collapse_empty_categories`
merges margin categories that have population but no respondents (e.g. a small district nobody
in the sample lives in) into a partner category before raking.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from geo_cohesion.errors import InputError
from geo_cohesion.io.tables import row_ref
from geo_cohesion.keys import normalise_key
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
    collapsed : str
        Margin categories without respondents merged into a partner before raking
        (``"A→B; C→B (über A)"``, see :class:`CollapseReport`); empty if none.
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
    collapsed: str = ""

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


@dataclass(frozen=True)
class CollapseReport:
    """Margin categories without respondents and the categories they were merged into.

    Attributes
    ----------
    merged : dict
        ``{empty category: category with respondents}``: the population of the empty category is
        added to that category's total, whose respondents then represent both.
    via : dict
        ``{empty category: chosen partner}``; differs from ``merged`` when the partner had no
        respondents itself and was merged first (a chain ``A → B → C``).
    unresolved : tuple
        Empty categories without any partner leading to respondents (only with ``strict=False``;
        they stay in the totals, so raking still fails on them).
    """

    merged: dict[str, str] = field(default_factory=dict)
    via: dict[str, str] = field(default_factory=dict)
    unresolved: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.merged)

    def pairs(self) -> list[str]:
        """``["A→B", "C→B (über A)", ...]`` in the order the categories were merged."""
        return [f"{e}→{t}" + (f" (über {self.via[e]})" if self.via.get(e, t) != t else "")
                for e, t in self.merged.items()]

    def describe(self) -> str:
        """One line for tables: the pairs joined by ``"; "`` (empty if nothing was merged)."""
        return "; ".join(self.pairs())


def collapse_empty_categories(totals: Mapping[Any, float], observed_counts: Mapping[Any, int],
                              partners: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]],
                              strict: bool = True) -> tuple[dict[str, float], CollapseReport]:
    """Merge margin categories that have population but no respondents into a partner category.

    Raking cannot give weight to a category nobody in the sample belongs to; in a city with
    districts of a few hundred inhabitants that is the normal case, not an error. The rule:

    1. An empty category is merged into the candidate partner with the **fewest respondents**
       (ties: the first in text order). Candidates are the partners that have respondents, or
       that are empty themselves but already merged (then the population goes to the category
       *they* were merged into: chains ``A → B → C`` when all of A's partners are empty).
    2. Merging proceeds in rounds, like a breadth-first search: in each round every still empty
       category that has a candidate is merged, so an empty category next to a category with
       respondents is always merged directly, never through another empty one.
    3. ``partners`` may be a list of partner mappings tried in order (e.g. neighbours in the same
       district group, then all neighbours, then the group): a later mapping is used only for
       categories the earlier ones cannot resolve, and after every merge the first mapping is
       tried again.

    The total population is unchanged; categories with respondents or without population pass
    through unchanged.

    Parameters
    ----------
    totals : mapping
        ``{category: population total}`` of one margin.
    observed_counts : mapping
        ``{category: respondents}``; missing categories have none.
    partners : mapping or sequence of mappings
        ``{category: candidate partner categories}``, e.g. the districts sharing a boundary
        (chosen by the caller, see :func:`geo_cohesion.project.inputs.district_partners`).
    strict : bool
        Raise if an empty category cannot be merged; with False, report it in
        ``report.unresolved`` instead (for callers that explain it in their own words).

    Returns
    -------
    totals : dict
        The margin without the empty categories, their population added to their partners.
    report : CollapseReport

    Raises
    ------
    InputError
        An empty category with no partner that has (or leads to) respondents.

    Examples
    --------
    >>> totals, report = collapse_empty_categories({"a": 100, "b": 50, "c": 20}, {"a": 9, "b": 3},
    ...                                            {"c": ["a", "b"]})
    >>> totals, report.describe()
    ({'a': 100.0, 'b': 70.0}, 'c→b')
    """
    tiers = [partners] if isinstance(partners, Mapping) else list(partners)
    counts = {str(k): int(v) for k, v in observed_counts.items() if v}
    out = {str(k): float(v) for k, v in totals.items()}
    empty = [k for k, v in out.items() if _positive(v) and counts.get(k, 0) == 0]
    target = {k: k for k in out if counts.get(k, 0) > 0}
    merged: dict[str, str] = {}
    via: dict[str, str] = {}
    pending = sorted(empty)
    tier = 0
    while pending and tier < len(tiers):
        chosen: dict[str, str] = {}
        for category in pending:
            candidates = {str(p) for p in tiers[tier].get(category, ())} - {category}
            candidates = sorted(c for c in candidates if c in target)
            if candidates:
                chosen[category] = min(candidates, key=lambda c: (counts[target[c]], c))
        if not chosen:
            tier += 1
            continue
        for category, partner in chosen.items():      # all of one round at once (breadth-first)
            target[category] = target[partner]
            merged[category] = target[partner]
            via[category] = partner
        pending = [c for c in pending if c not in chosen]
        tier = 0
    if pending and strict:
        shown = ", ".join(repr(c) for c in pending[:10]) + (" …" if len(pending) > 10 else "")
        raise InputError(f"margin categor{'y' if len(pending) == 1 else 'ies'} {shown} "
                         f"{'has' if len(pending) == 1 else 'have'} population but no respondents, "
                         "and no partner category with respondents to merge into",
                         hint="name partners for them (neighbouring districts or a district group), merge them "
                              "with a neighbouring category in both files, or remove them from the margins")
    for category, partner in merged.items():
        out[partner] += out.pop(category)
    return out, CollapseReport(merged, via, tuple(pending))


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


def given_weight_diagnostics(weights: np.ndarray) -> RakeDiagnostics:
    """Diagnostics of weights used as they are, without raking (``weighting.method: none``).

    Parameters
    ----------
    weights : ndarray (n,)
        The survey's weights (e.g. final weights of the survey institute).

    Returns
    -------
    RakeDiagnostics
        No iterations, ``converged`` True, no margin error (NaN), g-weights of 1; the weight range,
        Kish's design effect and effective sample size, and a warning when the design effect
        exceeds :data:`MAX_PLAUSIBLE_DEFF`.
    """
    w = np.asarray(weights, dtype=float)
    deff = kish_deff(w)
    warnings: tuple[str, ...] = ()
    if deff > MAX_PLAUSIBLE_DEFF:
        warnings = (f"the survey's weights vary very much (design effect {deff:.1f}, effective sample "
                    f"{w.size / deff:.0f} of {w.size}): check that the weight column was read correctly",)
    return RakeDiagnostics(0, True, float("nan"), float(w.min()), float(w.max()), 1.0, 1.0, deff, w.size / deff,
                           warnings=warnings)


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


def prepare_margins(data: pd.DataFrame, margins: Mapping[str, Mapping[Any, float]],
                    sources: Mapping[str, str] | None = None) -> Calibration:
    """Check one-way population margins against the respondents and code them.

    Parameters
    ----------
    data : DataFrame
        Respondent rows with the margin columns.
    margins : mapping
        ``{column: {category: population total}}``.
    sources : mapping, optional
        ``{column: file}`` the margins were read from (e.g. separate margin tables); named in the
        message when the totals disagree.

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
            look_alike = {normalise_key(k): k for k in pop}.get(normalise_key(not_in_pop[0]))
            if look_alike is not None:
                raise InputError(f"survey category {not_in_pop[0]!r} of '{column}' has no population total; "
                                 f"the population writes it {look_alike!r} (another case, dash or spacing)",
                                 row_ref(data, rows, column), "write the category the same way in both files")
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
                             source, "collapse it with a neighbouring category (collapse_empty_categories) "
                             "or remove it from the margins")
        total_all = sum(float(v) for v in pop.values() if _positive(v))
        sums[column] = total_all
        columns.append(column)
        codes_all.append(codes)
        cats_all.append(tuple(categories))
        totals_all.append(np.asarray(totals))
    values = list(sums.values())
    if max(values) - min(values) > 1e-6 * max(values):
        sources = sources or {}
        detail = ", ".join(f"{c}" + (f" in {sources[c]}" if c in sources else "") + f": {v:,.0f}"
                           for c, v in sums.items())
        files = sorted(set(sources.values()))
        where = f"check the tables {' and '.join(files)}" if len(files) > 1 else "check the population table"
        raise InputError(f"margin totals disagree ({detail})",
                         hint=f"every margin must sum to the same population total; {where} (same date and "
                              "definition of the population)")
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
