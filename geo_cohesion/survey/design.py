"""Weight: design weights and raking (iterative proportional fitting) to population margins.

:class:`SurveyDesign` holds respondent data with design weights and optional strata (a stratified,
single-stage, with-replacement design). :meth:`SurveyDesign.rake` calibrates the weights to
one-way population margins (e.g. age group, gender, district) and returns a new design that
remembers the margins, so that :meth:`SurveyDesign.domain_means` can use calibration-aware
standard errors (see :mod:`geo_cohesion.survey.estimates`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from geo_cohesion.errors import InputError
from geo_cohesion.io.tables import row_ref, to_numeric_column


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

    def as_dict(self) -> dict:
        """Plain dict for tables and JSON."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class Calibration:
    """Margins a design was raked to: per margin, integer codes per respondent and totals."""

    columns: tuple[str, ...]
    codes: tuple[np.ndarray, ...]
    categories: tuple[tuple, ...]
    totals: tuple[np.ndarray, ...]


def kish_deff(weights: np.ndarray) -> float:
    """Kish's design effect due to weighting, ``n * sum(w^2) / sum(w)^2``."""
    weights = np.asarray(weights, dtype=float)
    return float(weights.size * np.sum(weights**2) / np.sum(weights) ** 2)


def category_codes(values: pd.Series) -> tuple[np.ndarray, list]:
    """Integer codes (categories sorted as text) and the category list; one place for all coding."""
    codes, categories = pd.factorize(values.astype(str), sort=True)
    return codes.astype(np.intp), list(categories)


@dataclass
class SurveyDesign:
    """A stratified single-stage survey design with (possibly calibrated) weights.

    Parameters
    ----------
    data : DataFrame
        Respondent rows.
    weight : str, optional
        Column with design weights (inverse inclusion probabilities). Equal weights when None.
    strata : str, optional
        Column with sampling strata. One stratum when None.

    Attributes
    ----------
    weights : Series
        Current (design or calibrated) weights aligned to ``data.index``.
    design_weights : Series
        The weights before calibration.
    calibration : Calibration or None
        Set by :meth:`rake`.
    diagnostics : RakeDiagnostics or None
        Set by :meth:`rake`.
    """

    data: pd.DataFrame
    weight: str | None = None
    strata: str | None = None
    weights: pd.Series = field(init=False)
    design_weights: pd.Series = field(init=False)
    calibration: Calibration | None = field(default=None, init=False)
    diagnostics: RakeDiagnostics | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if len(self.data) == 0:
            raise InputError("the survey has no respondents", self.data.attrs.get("source"),
                             "give a survey table with one row per respondent")
        if self.weight is None:
            values = np.ones(len(self.data))
        else:
            if self.weight not in self.data.columns:
                raise InputError(f"weight column '{self.weight}' not found", self.data.attrs.get("source"),
                                 "name an existing column or leave the weight out")
            values = to_numeric_column(self.data, self.weight, "weight")
            bad = ~np.isfinite(values) | (values <= 0)
            if bad.any():
                raise InputError("weights must be positive numbers",
                                 row_ref(self.data, self.data.index[bad], self.weight),
                                 "fix or remove these respondents' weights")
        if self.strata is not None:
            if self.strata not in self.data.columns:
                raise InputError(f"strata column '{self.strata}' not found", self.data.attrs.get("source"),
                                 "name an existing column or leave the strata out")
            blank = self.data[self.strata].isna()
            if blank.any():
                raise InputError("stratum is empty", row_ref(self.data, self.data.index[blank], self.strata),
                                 "fill in every respondent's stratum")
            strata, labels = self.strata_codes()
            lonely = np.flatnonzero(np.bincount(strata, minlength=len(labels)) == 1)
            if lonely.size:
                names = ", ".join(repr(str(labels[i])) for i in lonely[:5]) + (" …" if lonely.size > 5 else "")
                raise InputError(f"{lonely.size} stratum/strata ({names}) contain a single respondent",
                                 row_ref(self.data, self.data.index[np.isin(strata, lonely)], self.strata),
                                 "a variance needs at least two respondents per stratum: merge small strata")
        self.design_weights = pd.Series(values, index=self.data.index, name="design_weight")
        self.weights = self.design_weights.rename("weight")

    def _copy(self) -> "SurveyDesign":
        out = SurveyDesign.__new__(SurveyDesign)
        out.__dict__.update(self.__dict__)
        return out

    def with_columns(self, **columns) -> "SurveyDesign":
        """The same design (weights, strata, calibration) with extra data columns, e.g. a grouping."""
        out = self._copy()
        data = self.data.assign(**columns)
        data.attrs = dict(self.data.attrs)
        out.data = data
        return out

    # ------------------------------------------------------------------ strata
    def strata_codes(self) -> tuple[np.ndarray, list]:
        """Integer stratum code per respondent and the stratum labels."""
        if self.strata is None:
            return np.zeros(len(self.data), dtype=np.intp), ["(alle)"]
        return category_codes(self.data[self.strata])

    # ------------------------------------------------------------------ raking
    def _prepare_margins(self, margins: Mapping[str, Mapping]) -> Calibration:
        source = self.data.attrs.get("source", "survey data")
        if not margins:
            raise InputError("no margins given for raking", hint="list the survey columns to rake on, e.g. "
                             "'margins: [age_group, gender, district_id]'")
        columns, codes_all, cats_all, totals_all, sums = [], [], [], [], {}
        for column, table in margins.items():
            if column not in self.data.columns:
                raise InputError(f"margin column '{column}' not found in the survey", source,
                                 "rake only on columns the survey has")
            blank = self.data[column].isna()
            if blank.any():
                raise InputError(f"respondents without a value for margin '{column}'",
                                 row_ref(self.data, self.data.index[blank], column),
                                 "fill in the value or drop these respondents")
            codes, categories = category_codes(self.data[column])
            pop = {str(k): v for k, v in table.items()}
            not_in_pop = [c for c in categories if c not in pop]
            if not_in_pop:
                rows = self.data.index[self.data[column].astype(str).isin(not_in_pop)]
                raise InputError(f"survey category {not_in_pop[0]!r} of '{column}' has no population total",
                                 row_ref(self.data, rows, column),
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

    def rake(self, margins: Mapping[str, Mapping], max_iter: int = 1000, tol: float = 1e-10,
             bounds: Sequence[float] | None = None) -> "SurveyDesign":
        """Rake the weights to one-way population margins.

        Parameters
        ----------
        margins : mapping
            ``{column: {category: population total}}``; every margin must sum to the same total.
        max_iter : int
            Maximum IPF sweeps.
        tol : float
            Convergence: largest relative margin error.
        bounds : (low, high), optional
            Bounds on the adjustment factor ``g = calibrated / design weight`` (trimming inside the
            iteration). If the bounds make the margins unreachable, an InputError explains which
            margin fails.

        Returns
        -------
        SurveyDesign
            A new design with calibrated ``weights``, ``calibration`` and ``diagnostics`` set.

        Raises
        ------
        InputError
            Missing columns, categories without population or without respondents, non-positive
            totals, disagreeing totals, unreachable margins.
        """
        cal = self._prepare_margins(margins)
        d = self.design_weights.to_numpy(dtype=float)
        low = high = None
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
        for iterations in range(1, max_iter + 1):
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
                hint="widen the bounds, collapse sparse categories, or rake without bounds")
        if not converged:
            raise InputError(f"raking did not converge in {max_iter} iterations ({worst} off by {100 * error:.2g} %)",
                             hint="increase max_iter or collapse sparse categories")
        out = self._copy()
        out.weights = pd.Series(w, index=self.data.index, name="weight")
        out.calibration = cal
        g = w / d
        deff = kish_deff(w)
        out.diagnostics = RakeDiagnostics(iterations, converged, float(error), float(w.min()), float(w.max()),
                                          float(g.min()), float(g.max()), deff, len(w) / deff, worst)
        return out

    # ------------------------------------------------------------------ estimates
    def domain_means(self, values: str | Sequence[str], by: str, level: float = 0.95,
                     min_n: int = 30) -> pd.DataFrame:
        """Weighted means of ``values`` within each category of ``by``, with linearised SEs.

        Parameters
        ----------
        values : str or sequence of str
            Numeric columns (NaN = missing; each variable uses its own available cases).
        by : str
            Domain column (e.g. ``district_id``).
        level : float
            Confidence level of ``ci_low``/``ci_high``.
        min_n : int
            Estimates with fewer respondents are flagged ``suppressed``.

        Returns
        -------
        DataFrame
            Columns ``<by>, variable, estimate, se, ci_low, ci_high, n, n_eff, suppressed``.

        See Also
        --------
        geo_cohesion.survey.estimates.domain_means : the computation and its reference.
        """
        from geo_cohesion.survey.estimates import domain_means

        return domain_means(self, values, by, level=level, min_n=min_n)

    def means(self, values: str | Sequence[str], level: float = 0.95) -> pd.DataFrame:
        """Weighted means over all respondents (e.g. city totals); columns as :meth:`domain_means`
        without ``<by>`` and ``suppressed``."""
        from geo_cohesion.survey.estimates import domain_means

        out = domain_means(self, values, None, level=level, min_n=0)
        return out.drop(columns=["suppressed"])


def _positive(value) -> bool:
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
