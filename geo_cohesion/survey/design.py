"""Weight: design weights and raking (iterative proportional fitting) to population margins.

:class:`SurveyDesign` holds respondent data with design weights and optional strata (a stratified,
single-stage, with-replacement design). :meth:`SurveyDesign.rake` calibrates the weights to
one-way population margins (e.g. age group, gender, district) and returns a new design that
remembers the margins, so that :meth:`SurveyDesign.domain_means` can use calibration-aware
standard errors (see :mod:`geo_cohesion.survey.estimates`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from geo_cohesion.errors import InputError
from geo_cohesion.io.tables import row_ref, to_numeric_column
from geo_cohesion.survey.calibrate import (
    Calibration,
    CollapseReport,
    RakeDiagnostics,
    given_weight_diagnostics,
    prepare_margins,
    rake_weights,
)
from geo_cohesion.survey.domains import category_codes
from geo_cohesion.survey.estimates import domain_means


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
    collapsed : CollapseReport or None
        Margin categories without respondents that were merged before raking (set by
        :meth:`rake` when given).
    """

    data: pd.DataFrame
    weight: str | None = None
    strata: str | None = None
    weights: pd.Series = field(init=False)
    design_weights: pd.Series = field(init=False)
    calibration: Calibration | None = field(default=None, init=False)
    diagnostics: RakeDiagnostics | None = field(default=None, init=False)
    collapsed: CollapseReport | None = field(default=None, init=False)

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

    def _copy(self) -> SurveyDesign:
        out = SurveyDesign.__new__(SurveyDesign)
        out.__dict__.update(self.__dict__)
        return out

    def with_columns(self, **columns: Any) -> SurveyDesign:
        """The same design (weights, strata, calibration) with extra data columns, e.g. a grouping."""
        out = self._copy()
        data = self.data.assign(**columns)
        data.attrs = dict(self.data.attrs)
        out.data = data
        return out

    # ------------------------------------------------------------------ strata
    def strata_codes(self) -> tuple[np.ndarray, list[str]]:
        """Integer stratum code per respondent and the stratum labels."""
        if self.strata is None:
            return np.zeros(len(self.data), dtype=np.intp), ["(alle)"]
        return category_codes(self.data[self.strata])

    # ------------------------------------------------------------------ raking
    def as_given(self) -> SurveyDesign:
        """The design with its weights used as they are, not calibrated (``weighting.method: none``).

        Estimates are Hájek means with linearised SEs without a calibration term (as R survey's
        ``svydesign(weights=~w)`` with ``svymean``); :attr:`diagnostics` describe the weights
        (:func:`~geo_cohesion.survey.calibrate.given_weight_diagnostics`).
        """
        out = self._copy()
        out.weights = self.design_weights.rename("weight")
        out.calibration, out.collapsed = None, None
        diagnostics = given_weight_diagnostics(out.weights.to_numpy())
        if self.weight is None:   # nothing says the sample is self-weighting: say that it is treated as such
            unweighted = "the survey has no weight column and is not raked, so every respondent counts the same"
            diagnostics = replace(diagnostics, warnings=(*diagnostics.warnings, unweighted))
        out.diagnostics = diagnostics
        return out

    def rake(self, margins: Mapping[str, Mapping[Any, float]], max_iter: int = 1000, tol: float = 1e-10,
             bounds: Sequence[float] | None = None, collapsed: CollapseReport | None = None,
             sources: Mapping[str, str] | None = None) -> SurveyDesign:
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
        collapsed : CollapseReport, optional
            Categories without respondents already merged in ``margins`` (by
            :func:`~geo_cohesion.survey.calibrate.collapse_empty_categories`); recorded in
            ``collapsed`` and ``diagnostics.collapsed``.
        sources : mapping, optional
            ``{column: file}`` the margins come from, named when their totals disagree.

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
        cal = prepare_margins(self.data, margins, sources)
        w, diagnostics = rake_weights(self.design_weights.to_numpy(dtype=float), cal, max_iter, tol, bounds)
        out = self._copy()
        out.weights = pd.Series(w, index=self.data.index, name="weight")
        out.calibration = cal
        out.diagnostics = replace(diagnostics, collapsed=collapsed.describe()) if collapsed else diagnostics
        out.collapsed = collapsed
        return out

    # ------------------------------------------------------------------ estimates
    def domain_means(self, values: str | Sequence[str], by: str, level: float = 0.95,
                     min_n: int = 30, reference: str = "t") -> pd.DataFrame:
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
        reference : {"t", "normal"}
            Intervals from Student t with ``df`` degrees of freedom (default) or the normal.

        Returns
        -------
        DataFrame
            Columns ``<by>, variable, estimate, se, ci_low, ci_high, n, n_eff, suppressed, df``;
            ``df = n_d - H_d`` (respondents of the domain with a value minus their strata); ``se``
            and interval are NaN (never 0) with fewer than two values.

        See Also
        --------
        geo_cohesion.survey.estimates.domain_means : the computation and its reference.
        """


        return domain_means(self, values, by, level=level, min_n=min_n, reference=reference)

    def means(self, values: str | Sequence[str], level: float = 0.95, reference: str = "t") -> pd.DataFrame:
        """Weighted means over all respondents (e.g. city totals); columns as :meth:`domain_means`
        without ``<by>`` and ``suppressed``; ``df`` is the design df ``n - H`` (respondents with a
        value minus strata, as R ``degf()``)."""


        out = domain_means(self, values, None, level=level, min_n=0, reference=reference)
        return out.drop(columns=["suppressed"])


