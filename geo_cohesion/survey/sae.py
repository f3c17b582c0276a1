r"""Area-level small-area estimation: the Fay-Herriot model and its spatial (SAR) extension.

Model
-----
For each area :math:`i = 1..m` a survey gives a direct estimate :math:`y_i` of the area
quantity :math:`\theta_i` with a known sampling variance :math:`\psi_i`. The Fay-Herriot model
(Fay & Herriot 1979) links the areas through covariates :math:`x_i`:

.. math::

    y_i = \theta_i + e_i, \qquad \theta_i = x_i'\beta + u_i, \qquad
    e_i \sim N(0, \psi_i), \quad u_i \sim N(0, \sigma^2_u),

all independent. The best linear unbiased predictor of :math:`\theta_i` is a weighted mean of
the direct estimate and the regression ("synthetic") estimate,
:math:`\tilde\theta_i = \gamma_i y_i + (1-\gamma_i) x_i'\tilde\beta` with shrinkage factor
:math:`\gamma_i = \sigma^2_u / (\sigma^2_u + \psi_i)`. Plugging in an estimate of
:math:`\sigma^2_u` gives the EBLUP. :math:`\sigma^2_u` is estimated by REML or ML (Fisher
scoring) or by the Fay-Herriot moment method; negative solutions are truncated at 0, in which
case the EBLUP *is* the synthetic estimate (reported in ``notes``).

The MSE estimators are the second-order unbiased ones of Prasad & Rao (1990) and Datta & Lahiri
(2000): :math:`g_1 + g_2 + 2 g_3` for REML, with the bias term :math:`-b(\hat\sigma^2_u)
\nabla g_1` added for ML (Datta & Lahiri) and for the FH moment estimator (Datta, Rao & Smith
2005), exactly as computed by R package ``sae`` (``mseFH``; Molina & Marhuenda 2015).
They are unconditional: averaged over the area effects. ``mse_conditional`` adds the
area-specific estimator of Rivest & Belmonte (2000), unbiased for the MSE given the area
effects, and :func:`robust_mse` the larger of the two (see ``FayHerriotResult``).

Spatial Fay-Herriot
-------------------
With ``spatial_weights`` the area effects follow a simultaneous autoregressive process
:math:`u = \rho W u + \varepsilon`, :math:`\varepsilon \sim N(0, \sigma^2_u I)`, so
:math:`\mathrm{Var}(u) = G = \sigma^2_u [(I - \rho W)'(I - \rho W)]^{-1}` (Petrucci & Salvati
2006; Pratesi & Salvati 2008). :math:`(\sigma^2_u, \rho)` are estimated by REML or ML Fisher
scoring started at (median :math:`\psi`, 0.5), :math:`\rho` kept inside (-1, 1) by the same
rule as ``sae::eblupSFH`` (a step past ±1 is set to ±0.999). The spatial EBLUP is
:math:`X\hat\beta + \hat G \hat V^{-1}(y - X\hat\beta)` and its MSE the analytic estimator of
``sae::mseSFH`` (:math:`g_1 + g_2 + 2g_3 - g_4` of Singh, Shukla & Kundu 2005, minus the ML bias
term for ML). ``W`` is row-standardised here; areas without neighbours (zero rows) stay zero
rows, i.e. their effect is independent of all others.

Random group effects
--------------------
With ``groups`` (one label per area: the reporting group, e.g. Stadtbezirk) the two-fold model
:math:`\theta_i = x_i'\beta + v_{g(i)} + u_i` adds a random effect
:math:`v_g \sim N(0, \sigma^2_v)` shared by the areas of a group (Torabi & Rao 2014). Fit by REML
with both variances >= 0; MSE by parametric bootstrap (``mse_bootstrap`` replicates) or, with
``mse_bootstrap=0``, by the second-order approximation :math:`g_1+g_2+2g_3` (Das, Jiang & Rao 2004),
which overstates the error when there are few groups. See :mod:`geo_cohesion.survey.sae_twofold`.

Areas without a direct estimate
-------------------------------
An area whose direct estimate is NaN (no respondents) does not enter the fit. Without spatial
weights it gets the synthetic estimate :math:`x_i'\hat\beta` with MSE
:math:`\hat\sigma^2_u + x_i'\widehat{\mathrm{Var}}(\hat\beta)x_i` (the usual synthetic MSE; the
small term for the uncertainty of :math:`\hat\sigma^2_u` is ignored). With spatial weights the
SAR process is defined on *all* areas, so such an area borrows from its sampled neighbours: its
estimate is :math:`x_i'\hat\beta + \hat G_{i,s}\hat V^{-1}(y_s - X_s\hat\beta)` (BLUP of
:math:`u_i` given the in-sample residuals) and its MSE the same second-order expansion as for
sampled areas (:math:`g_1 + g_2 + g_3` plus the bias correction of :math:`g_1(\hat\theta)`,
derived for a general target :math:`x_i'\beta + u_i`; for sampled areas it reduces exactly to
``mseSFH``).

Differences from ``sae``
------------------------
Estimates and MSEs equal ``sae``'s to rounding error (see ``tests/reference/sae``); with
``tol=1e-4`` (sae's ``PRECISION`` default) even the iteration counts agree. The differences
are in edge cases only:

* ``sae`` lets the Fisher-scoring iterate of :math:`\sigma^2_u` become negative and truncates
  the limit at 0, which can take hundreds of iterations or fail on a singular matrix. Here a
  negative step stops at 0 when the score at 0 points downwards (the same answer), otherwise
  the step is halved.
* When non-spatial Fisher scoring does not settle within ``max_iter`` iterations (very unequal
  sampling variances make its steps overshoot back and forth), ``sae`` gives up; we solve the
  same one-dimensional score equation by bracketing (Brent's method) and add a note.
* If the spatial iteration ends at :math:`\rho = \pm 0.999`, ``sae`` reports :math:`\pm 1`
  and uses a singular SAR matrix. We keep :math:`\pm 0.999` and add a note.
* ``sae`` divides the change in :math:`\rho` by the signed previous value, so a negative
  :math:`\rho` never delays stopping. We use the absolute value.
* ``sae`` returns nothing when the iteration does not converge. Non-spatial fits then solve the
  score equation by bracketing (above). Spatial fits whose scoring does not converge, or stops
  at a boundary (:math:`\sigma^2_u = 0` or :math:`\rho = \pm 0.999`), maximise the *profile*
  likelihood :math:`\max_{\sigma^2_u \ge 0} l(\sigma^2_u, \rho)` over a grid of :math:`\rho`
  (step 0.01 in [-0.99, 0.99] plus ±0.999; bounded Brent for :math:`\sigma^2_u` at each
  :math:`\rho`, then for :math:`\rho` between the best grid point's neighbours) and restart
  scoring from that optimum to polish it; a note says so. With 12-25 areas the scoring fixed
  point is often repelling (the expected information is a poor stand-in for the observed one),
  so scoring fails even next to the maximum. A boundary maximum is reported as such. Where
  scoring converges to an interior point the profile is not used, so those results are
  ``sae``'s.
* At :math:`\hat\sigma^2_u = 0`, :math:`\rho` is not identified, and ``mseSFH``'s
  information matrix is singular. The spatial MSE then treats :math:`\rho` as fixed.
* ``mseSFH`` uses the REML information matrix in :math:`g_3` and in the ML bias term even for
  ML fits. We do the same, to reproduce it.
* :math:`g_1 = \psi_i(1-B_i)` is computed as
  :math:`\sigma^2_u\psi_i/(\sigma^2_u+\psi_i)`, which has no cancellation for large
  :math:`\psi_i`.

References
----------
Fay, R. E. & Herriot, R. A. (1979). Estimates of income for small places: an application of
James-Stein procedures to census data. *JASA* 74, 269-277.

Prasad, N. G. N. & Rao, J. N. K. (1990). The estimation of the mean squared error of
small-area estimators. *JASA* 85, 163-171.

Datta, G. S. & Lahiri, P. (2000). A unified measure of uncertainty of estimated best linear
unbiased predictors in small area estimation problems. *Statistica Sinica* 10, 613-627.

Petrucci, A. & Salvati, N. (2006). Small area estimation for spatial correlation in watershed
erosion assessment. *JABES* 11, 169-182.

Rivest, L.-P. & Belmonte, E. (2000). A conditional mean squared error of small area estimators.
*Survey Methodology* 26, 67-78.

Singh, B. B., Shukla, G. K. & Kundu, D. (2005). Spatio-temporal models in small area
estimation. *Survey Methodology* 31, 183-195.

Molina, I. & Marhuenda, Y. (2015). sae: An R package for small area estimation.
*The R Journal* 7(1), 81-98.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.stats import norm

from geo_cohesion.errors import InputError
from geo_cohesion.survey.sae_adjust import _vector, fh_benchmark as fh_benchmark, robust_mse as robust_mse
from geo_cohesion.survey.sae_fit import fit_fay_herriot, fit_spatial_fay_herriot
from geo_cohesion.survey.sae_twofold import ANALYTIC_MAX_AREAS, fit_two_fold

METHODS = ("REML", "ML", "FH")


# --------------------------------------------------------------------------------------------
# result
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FayHerriotResult:
    """Result of :func:`fay_herriot`.

    All per-area arrays have length ``m`` (every area passed in, in input order) and are
    read-only.

    Attributes
    ----------
    estimate : numpy.ndarray
        EBLUP of each area (synthetic or spatial prediction for areas without a direct
        estimate).
    mse : numpy.ndarray
        Estimated mean squared error of ``estimate`` (see the module docstring for the
        formulas).
    mse_conditional : numpy.ndarray
        Area-specific (conditional) MSE estimate of ``estimate`` given the area effects, the
        estimator of Rivest & Belmonte (2000): :math:`\\psi_i + 2\\psi_i\\,\\partial h_i/\\partial
        y_i + h_i^2` with :math:`h_i = \\hat\\theta_i - y_i` (Stein's lemma; unbiased for
        :math:`E[(\\hat\\theta_i-\\theta_i)^2\\mid\\theta]` under normal sampling errors with known
        :math:`\\psi_i`). It reflects the area's own residual - an area far from the regression gets
        a large value - but is very variable and can be negative; see
        :func:`robust_mse`. Non-spatial fits include the dependence of
        :math:`\\hat\\beta` and :math:`\\hat\\sigma^2_u` on :math:`y_i`; spatial fits treat
        :math:`(\\hat\\sigma^2_u, \\hat\\rho)` as fixed. Areas without a direct estimate: equal to ``mse``.
    sigma2_u : float
        Estimated variance of the area effects (``sae``'s ``refvar``); never negative.
    beta : pandas.Series
        Regression coefficients, labelled by covariate name (``"(Intercept)"`` first when
        ``intercept=True``).
    beta_se : pandas.Series
        Asymptotic standard errors of ``beta`` (square roots of the diagonal of
        :math:`(X'\\hat V^{-1}X)^{-1}`), same labels.
    gamma : numpy.ndarray
        Weight of the area's own direct estimate in its EBLUP. Non-spatial: the shrinkage factor
        :math:`\\hat\\sigma^2_u/(\\hat\\sigma^2_u+\\psi_i)`. Spatial: the analogue
        :math:`(\\hat G\\hat V^{-1})_{ii} = 1 - \\psi_i(\\hat V^{-1})_{ii}` (the spatial EBLUP
        also puts weight on the neighbours' direct estimates). 0 for areas without a direct
        estimate.
    rho : float
        Estimated spatial autoregression parameter; NaN for the non-spatial model.
    method : str
        ``"REML"``, ``"ML"`` or ``"FH"``.
    spatial : bool
        Whether the spatial (SAR) model was fitted.
    converged : bool
        Whether Fisher scoring met ``tol`` within ``max_iter`` iterations (a boundary solution
        :math:`\\hat\\sigma^2_u = 0` counts as converged), or, when it did not, whether the
        fallback (Brent on the score equation; spatial: the profile likelihood over
        :math:`\\rho`) found the maximum; ``notes`` says which.
    iterations : int
        Number of Fisher-scoring iterations.
    residuals : numpy.ndarray
        Standardised residuals :math:`(y_i - x_i'\\hat\\beta)/\\sqrt{\\hat V_{ii}}` with
        :math:`V_{ii} = \\sigma^2_u + \\psi_i` (spatial: :math:`G_{ii} + \\psi_i`); NaN for
        areas without a direct estimate.
    synthetic : bool
        True when :math:`\\hat\\sigma^2_u = 0` (boundary): every estimate is then the synthetic
        regression estimate.
    in_sample : numpy.ndarray
        Boolean, True where a direct estimate was given (the area entered the fit).
    loglik : float
        Gaussian log-likelihood (not the restricted one) at the estimates, over the sampled
        areas, as ``sae``'s ``goodness["loglike"]``.
    notes : tuple of str
        Plain-English remarks (boundary estimate, out-of-sample areas, islands, non-convergence).
    aic, bic : float
        ``-2 loglik + 2k`` and ``-2 loglik + k log(n)`` with ``k = p + 1`` (``p + 2`` spatial)
        and ``n`` sampled areas, as ``sae``.
    direct : numpy.ndarray
        The direct estimates as given (NaN = none).
    sampling_var : numpy.ndarray
        The sampling variances as given.
    areas : pandas.Index
        Area labels: the index of ``direct`` or ``covariates`` if given as pandas objects,
        else ``0..m-1``.
    sigma2_v : float
        Variance of the random group effects (model with ``groups``); NaN otherwise.
    group_effects : pandas.Series or None
        Predicted (BLUP) effect of every group, labelled by group (model with ``groups``).
    mse_method : str
        ``"analytic"`` or ``"bootstrap"`` (with ``groups`` and ``mse_bootstrap > 0``).
    mse_analytic : numpy.ndarray or None
        The analytic MSE: ``mse`` itself unless ``mse_method == "bootstrap"``; then the
        second-order approximation of the two-fold model, computed alongside (NaN beyond
        1,000 sampled areas, ``sae_twofold.ANALYTIC_WITH_BOOTSTRAP_MAX_AREAS``). The pipeline's
        direct-or-model choice uses the larger of the two MSEs, so that a noisy low bootstrap
        value does not switch a large district to the model.
    """

    estimate: np.ndarray
    mse: np.ndarray
    mse_conditional: np.ndarray
    sigma2_u: float
    beta: pd.Series
    beta_se: pd.Series
    gamma: np.ndarray
    rho: float
    method: str
    spatial: bool
    converged: bool
    iterations: int
    residuals: np.ndarray
    synthetic: bool
    in_sample: np.ndarray
    loglik: float
    notes: tuple[str, ...]
    aic: float
    bic: float
    direct: np.ndarray
    sampling_var: np.ndarray
    areas: pd.Index
    sigma2_v: float = float("nan")
    group_effects: pd.Series | None = None
    mse_method: str = "analytic"
    mse_analytic: np.ndarray | None = None

    def to_frame(self, level: float = 0.95) -> pd.DataFrame:
        """One row per area: direct estimate, EBLUP, MSE and a normal interval.

        Parameters
        ----------
        level : float, default 0.95
            Confidence level of ``ci_low``/``ci_high`` = ``estimate -/+ z * rmse`` with
            ``z`` the ``(1 + level)/2`` standard normal quantile.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``areas`` with columns ``direct, sampling_var, estimate, mse, rmse,
            ci_low, ci_high, gamma, residual, in_sample``.
        """
        level = float(level)
        if not 0.0 < level < 1.0:
            raise InputError(f"level must lie strictly between 0 and 1, got {level}.")
        z = float(norm.ppf(0.5 + level / 2.0))
        rmse = np.sqrt(self.mse)
        return pd.DataFrame(
            {
                "direct": self.direct,
                "sampling_var": self.sampling_var,
                "estimate": self.estimate,
                "mse": self.mse,
                "rmse": rmse,
                "ci_low": self.estimate - z * rmse,
                "ci_high": self.estimate + z * rmse,
                "gamma": self.gamma,
                "residual": self.residuals,
                "in_sample": self.in_sample,
            },
            index=self.areas.copy(),
        )


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------
def _label(areas: pd.Index, i: int) -> str:
    """Human-readable name of row ``i`` (0-based position plus label if it differs)."""
    lab = areas[i]
    return f"row {i}" if (isinstance(lab, (int, np.integer)) and lab == i) else f"row {i} (area {lab!r})"


def _prepare(
    direct: Any, sampling_var: Any, covariates: Any, intercept: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], pd.Index]:
    """Validate inputs; return y, psi, X (with intercept column), column names, area labels."""
    indexes = [
        (name, obj.index)
        for name, obj in (("direct", direct), ("sampling_var", sampling_var), ("covariates", covariates))
        if isinstance(obj, (pd.Series, pd.DataFrame))
    ]
    for name, idx in indexes[1:]:
        if not idx.equals(indexes[0][1]):
            raise InputError(
                f"{indexes[0][0]} and {name} have different indexes.",
                hint="align them (same areas in the same order) before calling fay_herriot",
            )
    y = _vector(direct, "direct")
    psi = _vector(sampling_var, "sampling_var")
    m = y.size
    areas = indexes[0][1] if indexes else pd.RangeIndex(m)
    if m == 0:
        raise InputError("direct is empty.")
    if psi.size != m:
        raise InputError(f"direct has {m} areas but sampling_var has {psi.size}.")

    # covariates
    if covariates is None:
        cov = np.empty((m, 0))
        names: list[str] = []
    elif isinstance(covariates, pd.DataFrame):
        names = [str(c) for c in covariates.columns]
        cols = []
        for c in covariates.columns:
            col = covariates[c]
            if pd.api.types.is_bool_dtype(col):
                col = col.astype(float)
            if not pd.api.types.is_numeric_dtype(col):
                raise InputError(
                    f"covariate column {c!r} is not numeric (dtype {col.dtype}).",
                    hint="encode categories as 0/1 indicator columns",
                )
            cols.append(col.to_numpy(dtype=float, na_value=np.nan))
        cov = np.column_stack(cols) if cols else np.empty((len(covariates), 0))
    else:
        try:
            cov = np.asarray(covariates, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InputError("covariates must be numeric.", hint=str(exc)) from None
        if cov.ndim == 1:
            cov = cov[:, None]
        if cov.ndim != 2:
            raise InputError(f"covariates must be a 2-D (m, p) array, got shape {cov.shape}.")
        if isinstance(covariates, pd.Series):
            names = [str(covariates.name) if covariates.name is not None else "x1"]
        else:
            names = [f"x{j + 1}" for j in range(cov.shape[1])]
    if cov.shape[0] != m:
        raise InputError(f"direct has {m} areas but covariates has {cov.shape[0]} rows.")
    if intercept:
        cov = np.column_stack([np.ones(m), cov])
        names = ["(Intercept)", *names]
    if cov.shape[1] == 0:
        raise InputError("The model has no covariates and no intercept.", hint="use intercept=True")
    bad = ~np.isfinite(cov)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise InputError(
            f"covariate {names[j]!r} is missing or not finite in {_label(areas, int(i))} "
            f"({int(bad.sum())} bad value(s) in total).",
            hint="covariates are needed for every area, also for areas without respondents",
        )

    # direct estimates and sampling variances
    if np.isinf(y).any():
        i = int(np.flatnonzero(np.isinf(y))[0])
        raise InputError(f"direct estimate is infinite in {_label(areas, i)}.")
    in_sample = ~np.isnan(y)
    if not in_sample.any():
        raise InputError("No area has a direct estimate (all values of direct are NaN).")
    bad_psi = in_sample & ~np.isfinite(psi)
    if bad_psi.any():
        i = int(np.flatnonzero(bad_psi)[0])
        raise InputError(
            f"sampling variance is missing or not finite in {_label(areas, i)}, which has a direct estimate.",
            hint="give a sampling variance for every area with a direct estimate",
        )
    nonpos = (np.isfinite(psi) & (psi < 0)) | (in_sample & (psi <= 0))
    if nonpos.any():
        i = int(np.flatnonzero(nonpos)[0])
        raise InputError(
            f"sampling variance must be positive, got {psi[i]!r} in {_label(areas, i)}.",
            hint="sampling variances are squared standard errors of the direct estimates",
        )

    n, p = int(in_sample.sum()), cov.shape[1]
    if n <= p:
        raise InputError(
            f"Only {n} area(s) have a direct estimate but the model has {p} regression coefficients.",
            hint="the fit needs more sampled areas than coefficients; use fewer covariates",
        )
    xs = cov[in_sample]
    rank = np.linalg.matrix_rank(xs)
    if rank < p:
        raise InputError(
            f"The covariates of the sampled areas are collinear (design matrix rank {rank} < {p} columns: "
            f"{', '.join(names)}).",
            hint="drop a redundant column (or use intercept=False if a constant column is included)",
        )
    return y, psi, cov, names, areas


def _weights(spatial_weights: Any, m: int) -> tuple[sparse.csr_matrix, list[str]]:
    """Row-standardised weights as CSR (islands stay zero rows) and notes."""
    obj = spatial_weights
    if hasattr(obj, "sparse") and hasattr(obj, "id_order"):  # libpysal.weights.W
        obj = obj.sparse
    if sparse.issparse(obj):
        w = obj.toarray().astype(float)
    else:
        try:
            w = np.array(obj, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InputError("spatial_weights must be a numeric matrix.", hint=str(exc)) from None
    if w.shape != (m, m):
        raise InputError(f"spatial_weights must be a {m} x {m} matrix (one row per area), got shape {w.shape}.")
    if not np.isfinite(w).all():
        raise InputError("spatial_weights contains missing or infinite values.")
    if (w < 0).any():
        raise InputError("spatial_weights must not be negative.")
    notes: list[str] = []
    rows = w.sum(axis=1)
    islands = rows == 0
    if not np.allclose(rows[~islands], 1.0, rtol=0, atol=1e-12):
        notes.append("The spatial weights were row-standardised (each row divided by its sum).")
    w[~islands] /= rows[~islands, None]
    if islands.any():
        notes.append(
            f"{int(islands.sum())} area(s) have no neighbours (zero rows in the spatial weights); "
            "their area effect is modelled as independent of all other areas."
        )
    return sparse.csr_matrix(w), notes


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def fay_herriot(
    direct: Any,
    sampling_var: Any,
    covariates: Any,
    *,
    method: str = "REML",
    intercept: bool = True,
    spatial_weights: Any = None,
    max_iter: int = 100,
    tol: float = 1e-8,
    groups: Any = None,
    mse_bootstrap: int = 0,
    seed: int = 0,
) -> FayHerriotResult:
    """Fit a (spatial) Fay-Herriot model and return EBLUPs with their MSE.

    Parameters
    ----------
    direct : array-like, shape (m,)
        Direct (survey) estimate per area. NaN marks an area without respondents: it does not
        enter the fit and gets the synthetic (non-spatial) or spatial prediction and its MSE.
    sampling_var : array-like, shape (m,)
        Sampling variance of each direct estimate (squared standard error), > 0 wherever
        ``direct`` is given; may be NaN where ``direct`` is NaN. Treated as known.
    covariates : array-like or pandas.DataFrame, shape (m, p)
        Area-level covariates, known for *every* area (no NaN). DataFrame column names label
        ``beta``; array columns are named ``x1..xp``. ``None`` means no covariates (needs
        ``intercept=True``).
    method : {"REML", "ML", "FH"}, default "REML"
        Estimator of the area-effect variance: restricted or full maximum likelihood (Fisher
        scoring), or the Fay-Herriot moment estimator (non-spatial only).
    intercept : bool, default True
        Prepend a constant column (labelled ``"(Intercept)"``).
    spatial_weights : array-like, scipy.sparse matrix or libpysal W, shape (m, m), optional
        Proximity / contiguity weights between areas in the order of ``direct`` (a libpysal W
        must have its ``id_order`` in that order). Given, the spatial Fay-Herriot model with
        SAR area effects is fitted (``method`` "REML" or "ML"). Weights are row-standardised
        here (as ``sae::eblupSFH`` expects); rows without neighbours (islands) stay zero.
        The spatial model uses dense m x m algebra, O(m^3) per iteration and a few dozen
        m x m matrices of memory: 300 areas take well under a second, 1,000 areas a few
        seconds (single-threaded BLAS); the practical limit is about 2,000-3,000 areas.
    max_iter : int, default 100
        Maximum number of Fisher-scoring iterations.
    tol : float, default 1e-8
        Convergence criterion: relative change of every variance parameter between two
        iterations (``sae``'s ``PRECISION``, whose default is 1e-4).
    groups : array-like, shape (m,), optional
        Group label of every area (no missing labels). Given, the two-fold model with random
        group effects is fitted (REML only, not with ``spatial_weights``); areas without a
        direct estimate get :math:`x_i'\\hat\\beta + \\hat v_g`.
    mse_bootstrap : int, default 0
        With ``groups``: parametric bootstrap replicates for the MSE (0 = analytic
        :math:`g_1+g_2+2g_3`, dense, limited to 3,000 sampled areas). 200 replicates take
        1-3 s for 25-2,000 areas (``benchmarks/bench_twofold.py``).
    seed : int, default 0
        Seed of the bootstrap draws (same seed, same MSE).

    Returns
    -------
    FayHerriotResult
        Estimates, MSEs, parameters and diagnostics; ``result.to_frame()`` gives a table.

    Raises
    ------
    InputError
        Mismatched lengths, non-positive or missing sampling variances for sampled areas,
        missing covariates, collinear covariates, too few sampled areas, invalid weights or
        an unknown method.

    Notes
    -----
    Non-spatial fits need O(m p^2) work per iteration and no m x m matrix, so 20,000 areas take
    a fraction of a second. Fisher scoring starts, like ``sae``, at the median sampling
    variance (and rho = 0.5). A negative variance estimate is truncated at 0; the estimator
    is then the synthetic regression estimator, which ``synthetic`` and ``notes`` report.
    """
    method = str(method).upper()
    if method not in METHODS:
        raise InputError(f"Unknown method {method!r}.", hint=f"use one of {', '.join(METHODS)}")
    spatial = spatial_weights is not None
    if spatial and method == "FH":
        raise InputError(
            "The Fay-Herriot moment method is not available for the spatial model.",
            hint='use method="REML" or method="ML" with spatial_weights',
        )
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise InputError(f"max_iter must be a positive integer, got {max_iter!r}.")
    if not (np.isfinite(tol) and tol > 0):
        raise InputError(f"tol must be a positive number, got {tol!r}.")

    y, psi, x, names, areas = _prepare(direct, sampling_var, covariates, intercept)
    in_sample = ~np.isnan(y)
    notes: list[str] = []
    labelled = any(isinstance(obj, (pd.Series, pd.DataFrame)) for obj in (direct, sampling_var, covariates))
    group_labels = None if groups is None else _group_codes(groups, areas if labelled else None, y.size,
                                                            spatial, method, mse_bootstrap, seed)
    if group_labels is not None:
        if not mse_bootstrap and int(in_sample.sum()) > ANALYTIC_MAX_AREAS:
            n_sampled = int(in_sample.sum())
            raise InputError(f"The analytic MSE of the model with random group effects is limited to "
                             f"{ANALYTIC_MAX_AREAS:,} areas with a direct estimate; there are {n_sampled:,}.",
                             hint="use mse_bootstrap (e.g. 200 replicates), which scales linearly")
        sampled_groups = np.unique(group_labels[1][in_sample]).size
        if sampled_groups < 2:
            raise InputError(f"Random group effects need areas with a direct estimate in at least two groups; "
                             f"there {'is' if sampled_groups == 1 else 'are'} {sampled_groups}.",
                             hint="with one group its effect is the intercept: fit the model without groups")
        n_s, p = int(in_sample.sum()), x.shape[1]
        if n_s - p < 2:  # one residual contrast identifies one variance, not two
            raise InputError(f"Random group effects need at least 2 more areas with a direct estimate than "
                             f"coefficients ({p}); there are {n_s}.", hint="use fewer covariates")
        start = fit_fay_herriot(y, psi, x, in_sample, "REML", int(max_iter), float(tol))["sigma2_u"]
        fit = fit_two_fold(y, psi, x, group_labels[1], in_sample, float(start), int(mse_bootstrap), int(seed))
        notes += _two_fold_notes(fit, int(mse_bootstrap))
    elif spatial:
        w, w_notes = _weights(spatial_weights, y.size)
        notes += w_notes
        fit = fit_spatial_fay_herriot(y, psi, x, in_sample, w, method, int(max_iter), float(tol))
    else:
        fit = fit_fay_herriot(y, psi, x, in_sample, method, int(max_iter), float(tol))
    notes += fit["notes"]

    synthetic = fit["sigma2_u"] == 0.0 and fit.get("sigma2_v", 0.0) == 0.0
    if synthetic:
        notes.insert(0, (
            f"The {method} estimate of the area-effect variance sigma2_u is at its lower bound 0 "
            "(truncated): the model finds no between-area variation beyond the covariates, so every "
            "estimate is the synthetic regression estimate and the direct estimates get no weight."
        ))
    if not fit["converged"] and group_labels is not None:
        notes.insert(0, "The REML optimiser did not converge; the results should not be used as they are.")
    elif not fit["converged"]:
        notes.insert(0, (
            f"Fisher scoring did not converge within {max_iter} iterations (tol={tol:g}); "
            "the results are at the last iterate and should not be used as they are."
        ))
    n_out = int((~in_sample).sum())
    if n_out:
        what = ("the regression prediction plus the spatial prediction of their area effect from sampled neighbours"
                if spatial else "the regression estimate plus their group's predicted effect, x'beta + v_g"
                if group_labels is not None else "the synthetic estimate x'beta with MSE sigma2_u + x'Var(beta)x")
        notes.append(f"{n_out} area(s) without a direct estimate did not enter the fit; they get {what}.")

    n = int(in_sample.sum())
    loglik, k = fit["loglik"], fit["k"]

    def frozen(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a)
        a.setflags(write=False)
        return a

    return FayHerriotResult(
        estimate=frozen(fit["estimate"]),
        mse=frozen(fit["mse"]),
        mse_conditional=frozen(fit["mse_conditional"]),
        sigma2_u=float(fit["sigma2_u"]),
        beta=pd.Series(fit["beta"], index=names, name="beta"),
        beta_se=pd.Series(np.sqrt(np.diag(fit["beta_cov"])), index=names, name="beta_se"),
        gamma=frozen(fit["gamma"]),
        rho=float(fit["rho"]),
        method=method,
        spatial=spatial,
        converged=bool(fit["converged"]),
        iterations=int(fit["iterations"]),
        residuals=frozen(fit["residuals"]),
        synthetic=bool(synthetic),
        in_sample=frozen(in_sample),
        loglik=float(loglik),
        notes=tuple(notes),
        aic=float(-2.0 * loglik + 2.0 * k),
        bic=float(-2.0 * loglik + k * np.log(n)),
        direct=frozen(y),
        sampling_var=frozen(psi),
        areas=areas,
        sigma2_v=float(fit.get("sigma2_v", np.nan)),
        group_effects=None if group_labels is None else pd.Series(
            fit["group_effects"], index=pd.Index(group_labels[0], name="group"), name="group_effect"),
        mse_method="bootstrap" if group_labels is not None and mse_bootstrap > 0 else "analytic",
        mse_analytic=frozen(fit.get("mse_analytic", fit["mse"])),
    )


def _group_codes(groups: Any, areas: pd.Index | None, m: int, spatial: bool, method: str, replicates: Any,
                 seed: Any) -> tuple[list[Any], np.ndarray]:
    """Check ``groups`` (and the options of the two-fold model); return the group labels and each area's code.

    Parameters
    ----------
    groups : array-like or pandas.Series, shape (m,)
        One label per area; a Series must have the index ``areas`` of the other (pandas) inputs.
    areas : pandas.Index or None
        Area labels of the pandas inputs; None when none was a pandas object.
    m : int
        Number of areas.
    spatial, method, replicates, seed
        ``fay_herriot``'s arguments (REML only, not spatial, non-negative integers).

    Returns
    -------
    labels : list
        The distinct group labels, sorted (mixed types by type name, then text: ``1`` and ``"1"`` stay two).
    codes : numpy.ndarray
        Each area's position in ``labels``.
    """
    if spatial:
        raise InputError("groups and spatial_weights cannot be combined.",
                         hint="fit either the model with random group effects or the spatial model")
    if method != "REML":
        raise InputError(f"The model with random group effects is fitted by REML only, not {method}.",
                         hint='use method="REML"')
    if isinstance(replicates, bool) or not isinstance(replicates, (int, np.integer)) or replicates < 0:
        raise InputError(f"mse_bootstrap must be a non-negative integer, got {replicates!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}.",
                         hint="the seed of the bootstrap draws, e.g. seed=0")
    if isinstance(groups, (str, bytes)) or np.ndim(groups) != 1:
        raise InputError(f"groups must be one label per area (a 1-D sequence of {m}), "
                         f"got {'a single text' if isinstance(groups, (str, bytes)) else f'shape {np.shape(groups)}'}.")
    if isinstance(groups, pd.Series) and areas is not None and not groups.index.equals(areas):
        raise InputError("groups and the other inputs have different indexes.",
                         hint="align them (same areas in the same order) before calling fay_herriot")
    labels = pd.Series(groups.to_numpy() if isinstance(groups, pd.Series) else list(groups), dtype=object)
    if labels.size != m:
        raise InputError(f"groups has {labels.size} labels but there are {m} areas.")
    missing = np.flatnonzero(labels.isna().to_numpy())
    if missing.size:
        raise InputError(f"groups: {_label(areas if areas is not None else pd.RangeIndex(m), int(missing[0]))} "
                         "has no group label.",
                         hint="give every area a group; an area of its own may form a group of one")
    try:
        codes, uniques = pd.factorize(labels, sort=True)
    except TypeError:  # labels of mixed types (e.g. 3 and "Nord") do not sort: by type, then text
        order = sorted(set(labels), key=lambda label: (type(label).__name__, str(label)))
        position = {label: k for k, label in enumerate(order)}
        return order, np.array([position[label] for label in labels], dtype=np.intp)
    return list(uniques), np.asarray(codes)


def _two_fold_notes(fit: dict[str, Any], replicates: int) -> list[str]:
    notes = [f"Random group effects over {len(fit['group_effects'])} groups: sigma2_v = {fit['sigma2_v']:.4g}, "
             f"sigma2_u = {fit['sigma2_u']:.4g}; MSE " + (f"by parametric bootstrap ({replicates} replicates)."
                                                        if replicates else "by the analytic g1 + g2 + 2 g3.")]
    if fit["sigma2_v"] == 0.0:
        notes.append("The REML estimate of the group-effect variance sigma2_v is at its lower bound 0: the groups "
                     "add nothing beyond the covariates, and the estimates are the Fay-Herriot ones.")
    return notes
