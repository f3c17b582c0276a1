r"""Small-area estimation of district scores: smoothed sampling variances, covariates, one
(spatial) Fay-Herriot model per score, and the reliability rule for publishing an estimate.

The models themselves are in :mod:`geo_cohesion.survey.sae`; this module prepares their inputs
from survey estimates and turns their output into publishable district rows. Everything here is
a pure function of arrays and DataFrames (the pipeline glue is :mod:`geo_cohesion.project.small_area`).

Sampling variances (generalised variance function)
--------------------------------------------------
The design-based variance of a district mean from 3, 5 or 10 respondents is itself a noisy
estimate (and 0 or undefined for one respondent), but the Fay-Herriot model treats it as
*known*. We therefore smooth it with the simplest generalised variance function:

.. math::

    \psi_d = \frac{S^2_{\text{pooled}}\,\mathrm{deff}_d}{n_d} = \frac{S^2_{\text{pooled}}}{n_{\text{eff},d}},
    \qquad S^2_{\text{pooled}} = \frac{n}{n - D}\,
    \frac{\sum_i w_i (y_i - \bar y_{d(i)})^2}{\sum_i w_i},

with :math:`S^2_{\text{pooled}}` the weighted within-district variance of the score pooled
over all districts (``n`` respondents with a value in ``D`` districts),
:math:`\mathrm{deff}_d = n_d \sum w^2 / (\sum w)^2` Kish's design effect of the district's
weights and :math:`n_{\text{eff},d} = n_d / \mathrm{deff}_d`. It assumes a common
within-district variance (the usual GVF assumption); it ignores the small variance reduction
from raking, so it errs on the safe side. Every district with at least one respondent gets a positive
variance (one respondent: :math:`\psi_d = S^2_{\text{pooled}}`).

Covariates
----------
Candidates are the numeric structural indicators of the city, z-standardised over all
districts (constant columns are dropped). Unless the user names them, they are chosen once per
city by **forward selection by AIC** of the non-spatial Fay-Herriot model of the overall index
fitted by ML (AIC compares models with different regressors only under ML, not REML), starting
from the intercept-only model and adding the indicator that lowers the AIC most, at most
``floor(m / 5)`` indicators for ``m`` sampled districts (one regressor per five areas). The
selected set is then used for all 13 scores, so the dimensions of one district are estimated
from the same model structure.

Model or direct
---------------
Every district gets the model estimate (EBLUP; ``synthetic`` for districts without
respondents), except that :func:`district_models` can keep the direct estimate of a district with
at least ``min_n`` respondents whose smoothed sampling variance is not above the model MSE: the
model adds nothing there, and at :math:`\hat\sigma^2_u = 0` the Prasad-Rao term :math:`g_3` can
make the model MSE of a precise district larger than its direct variance. With random group
effects the model MSE of this comparison is the larger of the bootstrap and the analytic MSE: the
district switches to the model only when both say the model is more precise (a bootstrap MSE that is
low by chance would otherwise switch large districts whose interval then undercovers; measured in
``benchmarks/RESULTS.md``). A direct SE of 0 (all respondents of the district alike) is no precision:
such a district gets the model estimate. When a model cannot be fitted (too few districts, collinear
covariates, no convergence, no variation within districts) the direct estimates are kept; the spatial
model falls back to the non-spatial one (see :func:`fit_area_model`).

Reliability rule
----------------
A published estimate is suppressed when the half-width of its confidence interval exceeds
``max_halfwidth`` points, and a *direct* estimate also when fewer than ``min_n`` respondents gave
it (the design-based standard error of very few respondents is too unreliable to judge its own
precision). Model-based estimates are judged by their MSE alone. See :func:`reliability`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from geo_cohesion.errors import InputError
from geo_cohesion.labels import DEFAULT_LANG, label

#: Estimators a user can choose (``estimates.estimator``).
from geo_cohesion.settings import ESTIMATORS, MODEL_MSES
from geo_cohesion.survey.reliability import (
    normal_halfwidth as normal_halfwidth,
    reliability as reliability,
)
from geo_cohesion.survey.sae import FayHerriotResult, fay_herriot, fh_benchmark, robust_mse
from geo_cohesion.survey.sae_covariates import (
    FH_MAX_ITER as FH_MAX_ITER,
    CovariateSelection as CovariateSelection,
    default_max_covariates as default_max_covariates,
    select_covariates as select_covariates,
    standardise as standardise,
)

#: Per-row estimator slugs of ``district_estimates.csv``: the chosen one, a fallback, or
#: ``synthetic`` for districts without respondents (regression prediction, no own data).
ROW_ESTIMATORS = (*ESTIMATORS, "synthetic")
#: German labels of the row estimators (catalogue keys ``estimator.<slug>``), as in the reports;
#: :func:`estimator_label` gives them in another language.
ESTIMATOR_LABELS = {slug: label(f"estimator.{slug}") for slug in ("direct", "fay_herriot", "spatial_fay_herriot",
                                                                  "synthetic")}


def estimator_label(slug: str, lang: str = DEFAULT_LANG) -> str:
    """Label of a row estimator (:data:`ROW_ESTIMATORS`) in ``lang``; an unknown slug as it is."""
    return label(f"estimator.{slug}", lang) if slug in ESTIMATOR_LABELS else str(slug)
#: Fewest districts with respondents a model is fitted to; below, the direct estimates are kept.
MIN_AREAS = 5
SPATIAL_MAX_AREAS = 2500  #: above this many districts the dense spatial model gives way to plain FH
WITHIN_VAR_RTOL = 1e-12  #: pooled within variance <= this x (largest estimate)^2: none (rounding leaves ~1e-28)


# -------------------- sampling variances ---------------------------------------------------
def pooled_within_variance(values: Any, weights: Any, domain: Any) -> float:
    r"""Weighted within-domain variance of ``values``, pooled over all domains.

    Parameters
    ----------
    values : array-like, shape (n,)
        Respondent values; NaN = missing (left out).
    weights : array-like, shape (n,)
        Positive survey weights.
    domain : array-like, shape (n,)
        Domain (district) label of each respondent.

    Returns
    -------
    float
        :math:`\frac{n}{n-D}\sum_i w_i (y_i-\bar y_{d(i)})^2 / \sum_i w_i` over the ``n``
        respondents with a value in ``D`` domains (``\bar y_d`` the weighted domain mean).

    Raises
    ------
    InputError
        Mismatched lengths, non-positive weights, or no domain with two respondents.
    """
    y = np.asarray(values, dtype=float).ravel()
    w = np.asarray(weights, dtype=float).ravel()
    d = pd.Series(np.asarray(domain, dtype=object).ravel())
    if not (y.size == w.size == d.size):
        raise InputError(f"values ({y.size}), weights ({w.size}) and domain ({d.size}) differ in length.")
    if not (np.isfinite(w) & (w > 0)).all():
        raise InputError("weights must be positive numbers.")
    ok = ~np.isnan(y)
    codes, _ = pd.factorize(d[ok], sort=True)
    y, w = y[ok], w[ok]
    n, n_dom = y.size, int(codes.max()) + 1 if y.size else 0
    if n - n_dom < 1:
        raise InputError("The within-district variance needs at least one district with two respondents.",
                         hint="check that the survey has respondents with valid answers")
    sw = np.bincount(codes, weights=w, minlength=n_dom)
    mean = np.bincount(codes, weights=w * y, minlength=n_dom) / sw
    resid = y - mean[codes]
    return float(np.sum(w * resid**2) / np.sum(w) * n / (n - n_dom))


def gvf_sampling_variance(s2: float, n_eff: Any) -> np.ndarray:
    r"""Smoothed sampling variance of district means: :math:`\psi_d = S^2 / n_{\text{eff},d}`.

    Parameters
    ----------
    s2 : float
        Pooled within-district variance (:func:`pooled_within_variance`), > 0.
    n_eff : array-like, shape (m,)
        Kish effective sample size of each district (``(sum w)^2 / sum w^2``); 0 or NaN for
        districts without respondents.

    Returns
    -------
    numpy.ndarray
        ``s2 / n_eff``; NaN where ``n_eff`` is 0 or missing. A district with one respondent
        gets ``s2``.

    Raises
    ------
    InputError
        ``s2`` not positive and finite, or a negative ``n_eff``.
    """
    s2 = float(s2)
    if not (np.isfinite(s2) and s2 > 0):
        raise InputError(f"The pooled within-district variance must be positive, got {s2!r}.",
                         hint="a score without variation between respondents cannot be modelled")
    n_eff = np.asarray(n_eff, dtype=float).ravel()
    if (n_eff < 0).any():
        raise InputError("n_eff must not be negative.")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n_eff > 0, s2 / n_eff, np.nan)


# -------------------- model per score ------------------------------------------------------
@dataclass(frozen=True)
class AreaModel:
    """District estimates of one score from :func:`fit_area_model`.

    Attributes
    ----------
    variable : str
        The score (e.g. ``"index"``).
    requested : str
        The estimator asked for (one of :data:`ESTIMATORS`).
    method : str
        The estimator actually used (a fallback when the requested one could not be fitted).
    estimate, mse : numpy.ndarray
        Per area: the published estimate and its MSE (for direct rows the squared design-based
        standard error). NaN where there is no estimate.
    row_estimator : numpy.ndarray of str
        Per area: ``method``, or ``"synthetic"`` for areas without a direct estimate.
    fit : FayHerriotResult or None
        The model fit (None for direct estimates).
    covariates : tuple of str
        Covariates of the model.
    benchmark_factor : float
        Ratio applied by benchmarking (NaN when not benchmarked).
    mse_method : str
        MSE of model rows (:data:`MODEL_MSES`): ``"robust"`` (:func:`~geo_cohesion.survey.sae.robust_mse`)
        or ``"prasad_rao"`` (``fit.mse``); empty for direct estimates.
    notes : tuple of str
        Fallbacks, benchmarking and the model's own notes.
    """

    variable: str
    requested: str
    method: str
    estimate: np.ndarray
    mse: np.ndarray
    row_estimator: np.ndarray
    fit: FayHerriotResult | None = None
    covariates: tuple[str, ...] = ()
    benchmark_factor: float = np.nan
    notes: tuple[str, ...] = field(default_factory=tuple)
    mse_method: str = ""

    def summary(self) -> dict[str, Any]:
        """One row for ``sae_models.csv``: method, parameters, convergence and notes."""
        fit = self.fit
        beta = "" if fit is None else "; ".join(
            f"{name}={b:.4f} (se {s:.4f})" for name, b, s in zip(fit.beta.index, fit.beta, fit.beta_se))
        return {
            "variable": self.variable, "requested": self.requested, "method": self.method,
            "fit_method": "" if fit is None else fit.method,
            "covariates": ", ".join(self.covariates),
            "sigma2_u": np.nan if fit is None else fit.sigma2_u,
            "rho": np.nan if fit is None else fit.rho,
            "sigma2_v": np.nan if fit is None else fit.sigma2_v,
            "beta": beta,
            "converged": None if fit is None else fit.converged,
            "synthetic": None if fit is None else fit.synthetic,
            "areas_in_sample": int(np.isfinite(self.estimate).sum()) if fit is None else int(fit.in_sample.sum()),
            "areas_out_of_sample": int((self.row_estimator == "synthetic").sum()),
            "aic": np.nan if fit is None else fit.aic,
            "benchmark_factor": self.benchmark_factor, "mse_method": self.mse_method,
            "notes": " | ".join(self.notes),
        }


def _group_fit(y: np.ndarray, psi: np.ndarray, x: pd.DataFrame | None, groups: Any, replicates: int, seed: int,
               notes: list[str]) -> FayHerriotResult | None:
    """Fay-Herriot with random group effects, or None (with a note) when it cannot be used."""
    try:
        fit = fay_herriot(y, psi, x, groups=groups, mse_bootstrap=replicates, seed=seed)
    except (InputError, np.linalg.LinAlgError) as exc:
        why = exc.message if isinstance(exc, InputError) else "singular matrix"
        notes.append(f"model with group effects not fitted ({why}): Fay-Herriot without them")
        return None
    if not fit.converged:
        notes.append("model with group effects did not converge: Fay-Herriot without them")
        return None
    return fit


def _direct_model(variable: str, requested: str, direct: np.ndarray, direct_var: np.ndarray,
                  notes: list[str]) -> AreaModel:
    rows = np.full(direct.size, "direct", dtype=object)
    return AreaModel(variable, requested, "direct", direct.copy(), np.where(np.isfinite(direct), direct_var, np.nan),
                     rows, notes=tuple(notes))


def _spatial_problem(fit: FayHerriotResult) -> str:
    """Why a spatial fit is not usable ('' if it is): the SAR model is weakly identified with
    few areas, and a fit at a boundary has an unstable (or meaningless) MSE."""
    if not fit.converged:
        return "did not converge"
    if fit.synthetic:
        return "found no area effects (sigma2_u = 0, rho not identified)"
    if abs(fit.rho) >= 0.999:
        return f"ended at the boundary rho = {fit.rho:+.3f}"
    if not (np.isfinite(fit.mse).all() and (fit.mse > 0).all()):
        return "gave a non-positive MSE"
    return ""


def fit_area_model(direct: Any, direct_var: Any, sampling_var: Any, covariates: pd.DataFrame | None, *,
                   estimator: str, spatial_weights: Any = None, population: Any = None,
                   target: float | None = None, variable: str = "", method: str = "REML",
                   mse_method: str = "prasad_rao", groups: Any = None, mse_bootstrap: int = 0,
                   seed: int = 0) -> AreaModel:
    """District estimates of one score with the chosen estimator (and fallbacks).

    Parameters
    ----------
    direct : array-like, shape (m,)
        Direct (design-based) estimates; NaN for areas without respondents.
    direct_var : array-like, shape (m,)
        Design-based variances of ``direct`` (squared SEs): the MSE of direct rows.
    sampling_var : array-like, shape (m,)
        Sampling variances the model treats as known (smoothed, :func:`gvf_sampling_variance`).
    covariates : pandas.DataFrame or None
        Standardised covariates for all ``m`` areas (None: intercept only).
    estimator : {"direct", "fay_herriot", "spatial_fay_herriot"}
    spatial_weights : array-like, optional
        ``(m, m)`` contiguity weights (islands: zero rows) for ``"spatial_fay_herriot"``;
        without them the non-spatial model is fitted and a note says so.
    population : array-like, shape (m,), optional
        Population of the areas; with ``target`` the model estimates are ratio-benchmarked
        (:func:`geo_cohesion.survey.sae.fh_benchmark`) so that their population-weighted mean
        equals ``target`` (the direct city estimate). MSEs are not adjusted.
    target : float, optional
        Benchmark target (see ``population``).
    variable : str
        Name of the score, for notes.
    method : {"REML", "ML"}
        Variance-component estimator of the model.
    mse_method : {"prasad_rao", "robust"}
        MSE of the model rows: ``fit.mse`` or :func:`~geo_cohesion.survey.sae.robust_mse`.
    groups : array-like, shape (m,), optional
        Reporting group of every area: ``"fay_herriot"`` then fits random group effects
        (:func:`~geo_cohesion.survey.sae.fay_herriot` ``groups=``) with the MSE from
        ``mse_bootstrap`` parametric bootstrap replicates drawn with ``seed`` (``mse_method`` does
        not apply). Not used by the spatial model.
    mse_bootstrap, seed : int

    Returns
    -------
    AreaModel

    Notes
    -----
    Fallbacks, each recorded in ``notes``: the spatial model falls back to the non-spatial one
    when it cannot be fitted, does not converge, ends at a boundary (:math:`\\hat\\sigma^2_u = 0`,
    where :math:`\\rho` is not identified, or :math:`|\\hat\\rho| \\ge 0.999`) or gives a
    non-positive MSE; the non-spatial model falls back to the
    direct estimates when fewer than :data:`MIN_AREAS` areas have respondents, when it cannot be
    fitted, or when it does not converge.
    """
    if estimator not in ESTIMATORS:
        raise InputError(f"unknown estimator {estimator!r}", hint=f"use one of {', '.join(ESTIMATORS)}")
    if mse_method not in MODEL_MSES:
        raise InputError(f"unknown mse_method {mse_method!r}", hint=f"use one of {', '.join(MODEL_MSES)}")
    y = np.asarray(direct, dtype=float).ravel()
    dvar = np.asarray(direct_var, dtype=float).ravel()
    psi = np.asarray(sampling_var, dtype=float).ravel()
    if not (y.size == dvar.size == psi.size):
        raise InputError("direct, direct_var and sampling_var differ in length.")
    notes: list[str] = []
    if estimator == "direct":
        return _direct_model(variable, estimator, y, dvar, notes)
    n_s = int(np.isfinite(y).sum())
    if n_s < MIN_AREAS:
        notes.append(f"only {n_s} district(s) with respondents (a model needs {MIN_AREAS}): direct estimates kept")
        return _direct_model(variable, estimator, y, dvar, notes)
    names = tuple(covariates.columns) if covariates is not None and covariates.shape[1] else ()
    x = covariates if names else None
    fit = None
    used = estimator
    if estimator == "spatial_fay_herriot":
        if spatial_weights is None:
            notes.append("no district boundaries: non-spatial Fay-Herriot model fitted instead")
        elif y.size > SPATIAL_MAX_AREAS:
            notes.append(f"{y.size} districts (spatial model: at most {SPATIAL_MAX_AREAS}): non-spatial Fay-Herriot")
        else:
            try:
                fit = fay_herriot(y, psi, x, method=method, spatial_weights=spatial_weights)
            except InputError as exc:
                notes.append(f"spatial model not fitted ({exc.message}): non-spatial Fay-Herriot instead")
                fit = None
            except np.linalg.LinAlgError:  # singular information matrix at the solution
                notes.append("spatial model not fitted (singular information matrix): non-spatial Fay-Herriot instead")
                fit = None
            else:
                problem = _spatial_problem(fit)
                if problem:
                    notes.append(f"spatial model {problem}: non-spatial Fay-Herriot instead")
                    fit = None
        if fit is None:
            used = "fay_herriot"
    if fit is None and groups is not None and estimator == "fay_herriot":
        fit, mse_method = _group_fit(y, psi, x, groups, mse_bootstrap, seed, notes), "bootstrap"
        mse_method = mse_method if fit is not None else "prasad_rao"
    if fit is None:
        try:
            fit = fay_herriot(y, psi, x, method=method, max_iter=FH_MAX_ITER)
        except (InputError, np.linalg.LinAlgError) as exc:
            why = exc.message if isinstance(exc, InputError) else "singular matrix"
            notes.append(f"Fay-Herriot model not fitted ({why}): direct estimates kept")
            return _direct_model(variable, estimator, y, dvar, notes)
        if not fit.converged:
            notes.append("Fay-Herriot model did not converge: direct estimates kept")
            return _direct_model(variable, estimator, y, dvar, notes)
    notes.extend(fit.notes)
    estimate = np.array(fit.estimate, dtype=float)
    factor = np.nan
    if population is not None and target is not None and np.isfinite(target):
        benchmarked = fh_benchmark(estimate, population, target)
        factor = float(benchmarked[0] / estimate[0]) if estimate[0] != 0 else np.nan
        estimate = benchmarked
        notes.append(f"ratio-benchmarked to the direct city estimate (factor {factor:.5f}; MSE not adjusted)")
    rows = np.where(fit.in_sample, used, "synthetic").astype(object)
    mse = robust_mse(fit.mse, fit.mse_conditional) if mse_method == "robust" else np.array(fit.mse, dtype=float)
    return AreaModel(variable, estimator, used, estimate, mse, rows, fit, names, factor, tuple(notes), mse_method)


# -------------------- all scores of one city -----------------------------------------------
@dataclass(frozen=True)
class DistrictModels:
    """Result of :func:`district_models`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per district and score: ``district_id, variable, estimate, mse, estimator,
        direct_estimate, direct_se, sampling_var, gamma``. ``estimate``/``mse`` are those of
        ``estimator`` (the row estimator, see :data:`ROW_ESTIMATORS`).
    models : pandas.DataFrame
        One row per score (:meth:`AreaModel.summary`).
    selection : CovariateSelection or None
        The covariate selection (None when the covariates were given or there were none).
    covariates : tuple of str
        Covariates used in every model.
    notes : tuple of str
        City-level notes (dropped constant covariates, fallbacks of the selection).
    """

    table: pd.DataFrame
    models: pd.DataFrame
    selection: CovariateSelection | None
    covariates: tuple[str, ...]
    notes: tuple[str, ...]


def _square_weights(weights: Any, areas: pd.Index) -> np.ndarray:
    if isinstance(weights, pd.DataFrame):
        missing = areas.difference(weights.index).union(areas.difference(weights.columns))
        if len(missing):
            raise InputError(f"spatial weights lack district(s) {', '.join(map(str, missing[:5]))}")
        square: np.ndarray = weights.loc[areas, areas].to_numpy(dtype=float)
        return square
    w = np.asarray(weights, dtype=float)
    if w.shape != (len(areas), len(areas)):
        raise InputError(f"spatial weights must be {len(areas)} x {len(areas)}, got {w.shape}")
    return w


def district_models(direct: pd.DataFrame, within_var: dict[str, float] | None, covariates: pd.DataFrame | None, *,
                    estimator: str, covariate_names: list[str] | None = None, selection_variable: str = "index",
                    spatial_weights: Any = None, population: pd.Series | None = None,
                    targets: dict[str, float] | None = None, method: str = "REML",
                    direct_min_n: int | None = None, mse_method: str = "prasad_rao",
                    groups: pd.Series | None = None, mse_bootstrap: int = 200, seed: int = 0) -> DistrictModels:
    """Fit one small-area model per score for the districts of one city.

    Parameters
    ----------
    direct : pandas.DataFrame
        Direct estimates in tidy form: ``district_id, variable, estimate, se, n, n_eff`` (rows of
        districts without respondents have NaN ``estimate`` and ``n = 0`` or are absent).
    within_var : dict, optional
        Pooled within-district variance of each score (:func:`pooled_within_variance`); the
        model's sampling variances are then ``within_var / n_eff``
        (:func:`gvf_sampling_variance`). A score without an entry uses ``se**2`` as given.
    covariates : pandas.DataFrame, optional
        Raw numeric covariates indexed by district id, one row for *every* district of the city
        (also those without respondents, which then get the synthetic estimate). None: the
        districts of ``direct``, intercept-only model.
    estimator : {"direct", "fay_herriot", "spatial_fay_herriot"}
    covariate_names : list of str, optional
        Use exactly these covariates; None selects them (:func:`select_covariates` on
        ``selection_variable``).
    selection_variable : str
        Score whose model chooses the covariates (the overall index).
    spatial_weights : pandas.DataFrame or array-like, optional
        Contiguity weights between the districts (DataFrame indexed and labelled by district id,
        or an array in the order of ``covariates``' index).
    population : pandas.Series, optional
        Population per district id, for benchmarking.
    targets : dict, optional
        Direct city estimate per score; with ``population`` the model estimates are
        ratio-benchmarked to it.
    method : {"REML", "ML"}
    mse_method : {"prasad_rao", "robust"}
        MSE of the model rows (see :func:`fit_area_model`). It changes intervals only, never which
        estimate is published: the direct-or-model rule always compares with the Prasad-Rao MSE.
    groups : pandas.Series, optional
        Reporting group per district id (every district): random group effects in the
        non-spatial model (see :func:`fit_area_model`); a district without a group forms its own.
    mse_bootstrap, seed : int
        Bootstrap replicates of the MSE with ``groups``, and the seed (each score gets its own
        stream derived from it).
    direct_min_n : int, optional
        Keep the direct estimate of a district with at least this many respondents when it is at least as
        precise as the model estimate (:math:`\\psi_d` not above the model's Prasad-Rao MSE; at
        :math:`\\hat\\sigma^2_u = 0` that MSE can exceed the direct variance) and its design-based variance
        is positive. None: the model estimate everywhere.

    Returns
    -------
    DistrictModels
    """
    required = ["district_id", "variable", "estimate", "se", "n", "n_eff"]
    missing = [c for c in required if c not in direct.columns]
    if missing:
        raise InputError(f"direct estimates lack column(s) {', '.join(missing)}")
    frame = direct.assign(district_id=direct["district_id"].astype(str))
    notes: list[str] = []
    dropped: list[str] = []
    if covariates is not None:
        areas = pd.Index(covariates.index.astype(str), name="district_id")
        unknown = sorted(set(frame["district_id"]) - set(areas))
        if unknown:
            raise InputError(f"district(s) {', '.join(unknown[:5])} have estimates but no covariates",
                             hint="give every district a row in the structural table")
        raw = covariates.set_axis(areas)
        z, dropped = standardise(raw)
        if dropped:
            notes.append(f"constant covariate(s) left out: {', '.join(dropped)}")
    else:
        areas = pd.Index(pd.unique(frame["district_id"]), name="district_id")
        z = pd.DataFrame(index=areas)
    variables = list(pd.unique(frame["variable"]))
    if covariate_names is not None:
        constant = [c for c in covariate_names if c in dropped]
        if constant:
            raise InputError(f"covariate(s) {', '.join(constant)} have the same value in every district and say "
                             "nothing about where cohesion differs", hint="remove them from estimates.covariates")
        absent = [c for c in covariate_names if c not in z.columns]
        if absent:
            raise InputError(f"covariate(s) {', '.join(absent)} not among the usable structural indicators",
                             hint=f"usable: {', '.join(z.columns) or 'none'}")

    def inputs(variable: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
        rows = frame[frame["variable"] == variable].set_index("district_id").reindex(areas)
        y = rows["estimate"].to_numpy(dtype=float)
        se = rows["se"].to_numpy(dtype=float)
        n = rows["n"].to_numpy(dtype=float)
        y = np.where(np.nan_to_num(n, nan=1.0) > 0, y, np.nan)
        if within_var is not None and variable in within_var:
            if not within_var[variable] > WITHIN_VAR_RTOL * np.nanmax(np.abs(y), initial=1.0) ** 2:
                return y, se**2, np.full(y.size, np.nan), rows  # no variation within districts: see the loop
            psi = gvf_sampling_variance(within_var[variable], np.nan_to_num(rows["n_eff"].to_numpy(dtype=float)))
        else:
            psi = se**2
        y = np.where(np.isfinite(psi) & (psi > 0), y, np.nan)
        return y, se**2, psi, rows

    selection = None
    if estimator == "direct" or not z.shape[1]:
        names: tuple[str, ...] = ()
    elif covariate_names is not None:
        names = tuple(covariate_names)
    else:
        sel_var = selection_variable if selection_variable in variables else variables[0]
        y, _, psi, _ = inputs(sel_var)
        selection = select_covariates(y, psi, z)
        names = selection.names
    x = z[list(names)] if names else None

    w = None
    if estimator == "spatial_fay_herriot" and spatial_weights is not None:
        w = _square_weights(spatial_weights, areas)
    pop = None
    if population is not None and targets is not None:
        pop = population.rename(index=str).reindex(areas).fillna(0.0).to_numpy(dtype=float)

    labels = None
    if groups is not None:
        mapped = groups.rename(index=str).reindex(areas)
        labels = mapped.astype(object).where(mapped.notna(), "district:" + areas.to_series(index=areas))
    parts, summaries = [], []
    for position, variable in enumerate(variables):
        y, dvar, psi, rows = inputs(variable)
        target = None if pop is None or targets is None else targets.get(variable)
        if variable in (within_var or {}) and np.isfinite(y).any() and not np.isfinite(psi).any():  # see inputs
            model = _direct_model(variable, estimator, y, dvar, ["no variation within districts (all respondents of "
                                  "a district gave the same value): no model possible, direct estimates kept"])
        else:
            model = fit_area_model(y, dvar, psi, x, estimator=estimator, spatial_weights=w,
                                   population=pop if target is not None else None, target=target,
                                   variable=variable, method=method, mse_method=mse_method,
                                   groups=None if labels is None else labels.to_numpy(), mse_bootstrap=mse_bootstrap,
                                   seed=int(np.random.SeedSequence([seed, position]).generate_state(1)[0]))
        gamma = model.fit.gamma if model.fit is not None else np.where(np.isfinite(y), 1.0, np.nan)
        estimate, mse, kind = model.estimate.copy(), model.mse.copy(), model.row_estimator.copy()
        if direct_min_n is not None and model.fit is not None:
            n = rows["n"].to_numpy(dtype=float)
            # the fit's own MSE (Prasad-Rao), not model_mse; with groups the larger of bootstrap and analytic MSE
            analytic = model.fit.mse_analytic
            precise = psi <= (model.fit.mse if analytic is None else np.fmax(model.fit.mse, analytic))
            keep = np.isfinite(y) & (np.nan_to_num(n) >= direct_min_n) & precise & (dvar > 0)  # SE 0: no precision
            estimate[keep], mse[keep], kind[keep] = y[keep], dvar[keep], "direct"
        parts.append(pd.DataFrame({
            "district_id": areas, "variable": variable, "estimate": estimate, "mse": mse,
            "estimator": kind, "direct_estimate": rows["estimate"].to_numpy(dtype=float),
            "direct_se": np.sqrt(dvar), "sampling_var": psi, "gamma": gamma}))
        summaries.append(model.summary())
    return DistrictModels(pd.concat(parts, ignore_index=True), pd.DataFrame(summaries), selection, names,
                          tuple(notes))
