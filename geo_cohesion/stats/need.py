"""A composite need index over city districts, built the way Berlin's *Monitoring Soziale
Stadtentwicklung* (MSS) builds its status and dynamics indices, with its uncertainty.

Method (MSS 2021)
-----------------
1. Every index indicator is z-standardised across the districts that have values for all
   indicators: ``z_ij = (x_ij - mean_j) / sd_j``.
2. The weighted z-values are summed: ``S_i = sum_j w_j * z_ij`` (MSS: equal weights 1).
3. The sum is standardised again across the same districts: ``need_score_i = (S_i - mean(S)) / sd(S)``.
4. Classes are cut at fixed standard-deviation thresholds of the re-standardised sum
   (MSS status index: -1, +1 and +1.5 SD, four classes).

Conventions that reproduce the published MSS 2021 classes of all 536 Planungsräume with values
(``tests/stats/test_need.py``; the data are ``../shared/data/berlin/mss_2021.csv``):

* unweighted means and standard deviations over Planungsräume (not population-weighted:
  population weighting misclassifies 33 Planungsräume);
* only Planungsräume with values enter the standardisation (the 6 without values get no class);
* population standard deviation, ``ddof=0``. The classes alone do not identify it (the ``ddof``
  of step 1 cancels in step 3, and no Planungsraum lies within 0.001 SD of a threshold), but the
  Senate's published table of z-values (MSS 2021 Tabellen, "3. Index-Indikatoren nach Status und
  Dynamik - standardisierte Anteilswerte (z-Werte)", checked once outside the test suite because
  it is not in ``../shared/data``) agrees with ``ddof=0`` to its two printed decimals for all
  1,608 status z-values, 536 status sums and 536 status-index values (dynamics: all but two
  values that lie within 3e-6 of a rounding midpoint, explained by the five-decimal inputs);
  ``ddof=1`` disagrees in 121 status z-values, 111 sums and 40 index values;
* no rounding: the published sums are sums of unrounded z-values (sums of z-values rounded to
  two decimals disagree with 182 of the 536 published status sums), and the unrounded index is
  classified (classifying the index rounded to two decimals misclassifies one or two
  Planungsräume, depending on the boundary rule);
* the boundary rule (does a value exactly at a threshold belong to the lower or the upper class?)
  is not identified by the published data and we did not find it stated in the MSS material at
  hand; it is the parameter ``closed`` (default ``"left"``: a tie goes to the class with higher
  need). Both choices reproduce all 536 classes.

The MSS *dynamics* index is built the same way from the changes of the status indicators
(``D1``, ``D3``, ``D4``) with thresholds at -1 and +1 SD and classes coded 1 (positive), 3
(stable), 5 (negative); :func:`need_index` does that when given the change columns, see its
docstring. :func:`status_dynamics` forms the combined "status/dynamics" label.

Uncertainty
-----------
* :func:`class_stability`: indicators that are survey estimates carry standard errors; the whole
  index (including both standardisations) is recomputed on draws from their sampling
  distribution, giving per district the probability of each class.
* :func:`weight_sensitivity`: how ranks and classes move when the weights change within a
  stated multiplicative range.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from geo_cohesion.errors import InputError

#: MSS 2021 status-index thresholds in standard deviations of the re-standardised sum.
MSS_STATUS_BREAKS: tuple[float, ...] = (-1.0, 1.0, 1.5)
#: MSS 2021 dynamics-index thresholds and class codes (1 positive, 3 stable, 5 negative).
MSS_DYNAMICS_BREAKS: tuple[float, ...] = (-1.0, 1.0)
MSS_DYNAMICS_LABELS: tuple[int, ...] = (1, 3, 5)

Closed = Literal["left", "right"]

# Upper bound on the number of floats held per chunk of simulation draws.
_CHUNK_FLOATS = 4_000_000


# --------------------------------------------------------------------------- helpers


def _check_breaks(class_breaks: Sequence[float] | np.ndarray, class_labels: Sequence[int] | np.ndarray | None,
                  closed: str) -> tuple[np.ndarray, np.ndarray]:
    breaks = np.asarray(class_breaks, dtype=float).ravel()
    if breaks.size == 0 or not np.all(np.isfinite(breaks)) or np.any(np.diff(breaks) <= 0):
        raise InputError(f"class_breaks must be finite and strictly increasing, got {tuple(class_breaks)!r}",
                         hint="e.g. (-1.0, 1.0, 1.5) for the MSS status index")
    if closed not in ("left", "right"):
        raise InputError(f"closed must be 'left' or 'right', got {closed!r}")
    if class_labels is None:
        labels = np.arange(1, breaks.size + 2)
    else:
        labels = np.asarray(class_labels)
        if labels.shape != (breaks.size + 1,) or not np.issubdtype(labels.dtype, np.integer) \
                or np.any(np.diff(labels) <= 0):
            raise InputError(f"class_labels must be {breaks.size + 1} increasing integers "
                             f"(one per class, lowest need first), got {class_labels!r}")
    return breaks, labels


def _check_ddof(ddof: int) -> int:
    if ddof not in (0, 1):
        raise InputError(f"ddof must be 0 (population SD, MSS) or 1 (sample SD), got {ddof!r}")
    return int(ddof)


def _class_index(score: np.ndarray, breaks: np.ndarray, closed: str) -> np.ndarray:
    """0-based class positions; with ``closed="left"`` a score equal to a break goes up."""
    return np.searchsorted(breaks, score, side="right" if closed == "left" else "left")


def _numeric_column(table: pd.DataFrame, column: str, ids: pd.Series, what: str) -> np.ndarray:
    raw = table[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.any():
        examples = ", ".join(f"{i!s}: {v!r}" for i, v in zip(ids[bad].head(3), raw[bad].head(3)))
        raise InputError(f"{what} column {column!r} has values that are not numbers ({examples})",
                         hint="use a decimal point and leave missing values empty")
    array: np.ndarray = values.to_numpy(dtype=float)
    if np.isinf(array).any():
        raise InputError(f"{what} column {column!r} has infinite values",
                         hint="leave the value empty if it is not available")
    return array


def _prepare(table: pd.DataFrame, indicators: Mapping[str, float], id_column: str,
             ddof: int) -> dict[str, Any]:
    """Validate input and return ids, the indicator matrix, weights and the complete-row mask."""
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(table).__name__}")
    if not isinstance(indicators, Mapping) or len(indicators) == 0:
        raise InputError("indicators must be a non-empty mapping {column: weight}",
                         hint="e.g. {'S1': 1, 'S3': 1, 'S4': 1}")
    names = [str(c) for c in indicators]
    missing = [c for c in [id_column, *names] if c not in table.columns]
    if missing:
        raise InputError(f"column(s) {missing} not in the table",
                         hint=f"available: {list(map(str, table.columns))}")
    try:
        weights = np.array([float(indicators[c]) for c in indicators])
    except (TypeError, ValueError) as err:
        raise InputError(f"indicator weights must be numbers, got {dict(indicators)!r}") from err
    if not np.all(np.isfinite(weights)) or np.all(weights == 0):
        raise InputError(f"indicator weights must be finite and not all zero, got {dict(indicators)!r}")
    ids = table[id_column]
    if ids.isna().any():
        raise InputError(f"id column {id_column!r} has {int(ids.isna().sum())} missing value(s)")
    if ids.duplicated().any():
        dup = ids[ids.duplicated()].unique()[:5].tolist()
        raise InputError(f"id column {id_column!r} has duplicate ids: {dup}",
                         hint="one row per district")
    values = np.column_stack([_numeric_column(table, c, ids, "indicator") for c in names]) \
        if len(table) else np.empty((0, len(names)))
    complete = ~np.isnan(values).any(axis=1)
    n = int(complete.sum())
    if n < 2 or n <= ddof:
        raise InputError(f"only {n} district(s) have values for all indicators; at least 2 are needed "
                         "to standardise")
    return {"ids": ids, "names": names, "weights": weights, "values": values, "complete": complete}


def _standardise(values: np.ndarray, weights: np.ndarray, ddof: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Both MSS standardisations over the district axis (-2 for ``values``, -1 for sums).

    ``values`` has shape ``(..., n, k)``. Returns ``(score, weighted_z / sd(S), mean, sd, sd(S))``.
    """
    mean = values.mean(axis=-2, keepdims=True)
    sd = values.std(axis=-2, ddof=ddof, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):  # degenerate SDs are reported by the caller
        weighted = (values - mean) / sd * weights
        total = weighted.sum(axis=-1)
        sd_total = total.std(axis=-1, ddof=ddof, keepdims=True)
        score = (total - total.mean(axis=-1, keepdims=True)) / sd_total
        return score, weighted / sd_total[..., None], mean, sd, sd_total


def _check_point_standardisation(names: list[str], sd: np.ndarray, sd_total: float) -> None:
    constant = [c for c, s in zip(names, np.ravel(sd)) if not s > 0]
    if constant:
        raise InputError(f"indicator(s) {constant} are constant across the districts with values; "
                         "they cannot be z-standardised", hint="drop them from the indicators")
    if not sd_total > 1e-12:
        raise InputError("the weighted sum of z-values is constant across the districts, so it cannot "
                         "be standardised again (e.g. two perfectly opposed indicators with equal weight)")


def _exclusion_note(ids: pd.Series, values: np.ndarray, names: list[str], complete: np.ndarray) -> str:
    if complete.all():
        return ""
    parts = []
    for i in np.flatnonzero(~complete):
        lacking = [c for c, v in zip(names, values[i]) if np.isnan(v)]
        parts.append(f"{ids.iloc[i]!s} ({', '.join(lacking)})")
    return (f"{len(parts)} of {len(complete)} districts lack a value for at least one indicator; they "
            f"have no need score or class and do not enter the standardisation: {'; '.join(parts)}")


# --------------------------------------------------------------------------- need index


def need_index(table: pd.DataFrame, indicators: Mapping[str, float], *, id_column: str,
               class_breaks: Sequence[float] | np.ndarray = MSS_STATUS_BREAKS, ddof: int = 0,
               closed: Closed = "left", class_labels: Sequence[int] | np.ndarray | None = None) -> pd.DataFrame:
    """Composite need index with MSS-style double standardisation and SD-threshold classes.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per district with ``id_column`` and the indicator columns.
    indicators : mapping of str to float
        Indicator column -> weight. A positive weight means "higher value = more need" (e.g.
        unemployment %), a negative weight "higher value = less need" (e.g. a cohesion score).
        Only the ratios of the weights matter: multiplying all weights by ``c > 0`` leaves the
        result unchanged. MSS: equal weights 1.
    id_column : str
        District id column (read ids as text to keep leading zeros).
    class_breaks : sequence of float, default ``(-1.0, 1.0, 1.5)``
        Thresholds on ``need_score`` (in SDs), strictly increasing. ``len(class_breaks) + 1``
        classes; class 1 is the lowest need. The default is the MSS status index: class 1
        "hoch" (below -1 SD), 2 "mittel", 3 "niedrig" (+1 to +1.5 SD), 4 "sehr niedrig".
    ddof : {0, 1}, default 0
        Delta degrees of freedom of both standard deviations. 0 (population SD) is what MSS 2021
        uses (see the module docstring). The first standardisation's ``ddof`` cancels in the
        second, so it only changes the reported contributions' scale, not the score.
    closed : {"left", "right"}, default "left"
        Which side of a class interval is closed. ``"left"``: classes ``[b_(i-1), b_i)``, a score
        exactly at a threshold goes to the class with *higher* need; ``"right"``: ``(b_(i-1), b_i]``,
        it goes to the lower-need class. The MSS 2021 data do not identify this (no Planungsraum
        lies at a threshold) and both reproduce them.
    class_labels : sequence of int, optional
        Codes of the classes from lowest to highest need (default ``1 .. len(class_breaks)+1``);
        MSS dynamics uses ``(1, 3, 5)``.

    Returns
    -------
    pandas.DataFrame
        One row per input row, in input order and with the input's index: ``id_column``,
        ``need_score`` (float, in SDs of the re-standardised sum; mean 0 and SD 1 over the scored
        districts), ``need_class`` (nullable ``Int64``) and one ``contribution_<indicator>`` column
        per indicator. Districts lacking any indicator value have ``NaN``/``<NA>`` throughout.

        Contributions: with ``S_i = sum_j w_j z_ij`` and ``sd_S`` its SD over the scored
        districts, ``contribution_j = w_j z_ij / sd_S``, so
        ``sum_j contribution_j = need_score + mean(S) / sd_S``. Because every ``z_j`` has mean 0
        over the same districts, ``mean(S) = 0`` and the contributions add up to ``need_score``
        (exactly in exact arithmetic, to about 1e-15 in floating point).

        ``.attrs``: ``"excluded"`` (list of ids without a score), ``"note"`` (a plain sentence
        naming them and their missing indicators; ``""`` if none), and for traceability
        ``"weights"``, ``"indicator_mean"``, ``"indicator_sd"``, ``"sum_sd"``, ``"class_breaks"``,
        ``"class_labels"``, ``"closed"``, ``"ddof"``.

    Raises
    ------
    InputError
        Missing or non-numeric columns, duplicate or missing ids, bad weights or breaks, fewer than
        two complete districts, or an indicator (or the weighted sum) that is constant.

    Notes
    -----
    Rows with a missing indicator do not enter either standardisation; the other districts are
    standardised among themselves (as MSS does with Planungsräume below 300 residents).

    *Dynamics index.* MSS builds its dynamics index in exactly the same way from the changes of
    the status indicators (percentage points between two dates). No separate function is needed::

        need_index(mss, {"D1": 1, "D3": 1, "D4": 1}, id_column="PLR_ID",
                   class_breaks=(-1.0, 1.0), class_labels=(1, 3, 5))

    gives the MSS 2021 dynamics classes (1 positive, 3 stable, 5 negative); the test reproduces
    them for all 536 Planungsräume. Combine with :func:`status_dynamics`.

    Examples
    --------
    >>> t = pd.DataFrame({"id": ["a", "b", "c", "d"], "x": [2, 4, 6, 8], "y": [10, 30, 20, 40]})
    >>> need_index(t, {"x": 1, "y": 1}, id_column="id")["need_class"].tolist()
    [1, 2, 2, 3]
    """
    ddof = _check_ddof(ddof)
    breaks, labels = _check_breaks(class_breaks, class_labels, closed)
    prep = _prepare(table, indicators, id_column, ddof)
    names, weights, values, complete = prep["names"], prep["weights"], prep["values"], prep["complete"]

    score_c, contrib_c, mean, sd, sd_total = _standardise(values[complete], weights, ddof)
    _check_point_standardisation(names, sd, float(sd_total[0]))

    n = len(table)
    score = np.full(n, np.nan)
    score[complete] = score_c
    classes = pd.array([pd.NA] * n, dtype="Int64")
    classes[complete] = labels[_class_index(score_c, breaks, closed)]

    out = pd.DataFrame({id_column: table[id_column].array, "need_score": score,
                        "need_class": classes}, index=table.index)
    for j, name in enumerate(names):
        column = np.full(n, np.nan)
        column[complete] = contrib_c[:, j]
        out[f"contribution_{name}"] = column

    excluded = prep["ids"][~complete].tolist()
    out.attrs.update({
        "excluded": excluded,
        "note": _exclusion_note(prep["ids"], values, names, complete),
        "weights": dict(zip(names, weights.tolist())),
        "indicator_mean": dict(zip(names, np.ravel(mean).tolist())),
        "indicator_sd": dict(zip(names, np.ravel(sd).tolist())),
        "sum_sd": float(sd_total[0]),
        "class_breaks": breaks.tolist(),
        "class_labels": labels.tolist(),
        "closed": closed,
        "ddof": ddof,
    })
    return out


def status_dynamics(need_class: int | Sequence[int] | pd.Series,
                    dynamics_class: int | Sequence[int] | pd.Series) -> str | None | pd.Series:
    """Combined MSS "status/dynamics" cell label such as ``"3/5"``.

    Parameters
    ----------
    need_class, dynamics_class : int, or array-like / pandas.Series of int
        Status (need) class and dynamics class, e.g. ``need_index(...)["need_class"]`` and the
        dynamics index's classes (MSS codes 1/3/5). Missing values are allowed.

    Returns
    -------
    str or None, or pandas.Series
        For two scalars the label ``f"{need}/{dynamics}"`` (``None`` if either is missing);
        otherwise a Series of labels (``<NA>`` where either is missing), with the index of
        ``need_class`` if it is a Series. MSS 2021: status "mittel" (2) with dynamics "negativ"
        (5) is ``"2/5"``.

    Raises
    ------
    InputError
        Values that are not whole numbers, or arrays of different lengths.
    """
    if np.ndim(need_class) == 0 and np.ndim(dynamics_class) == 0:
        if pd.isna(need_class) or pd.isna(dynamics_class):
            return None
        return f"{_whole(need_class)}/{_whole(dynamics_class)}"
    index = need_class.index if isinstance(need_class, pd.Series) else None
    status = pd.Series(np.asarray(need_class, dtype=object))
    dynamics = pd.Series(np.asarray(dynamics_class, dtype=object))
    if len(status) != len(dynamics):
        raise InputError(f"need_class and dynamics_class differ in length ({len(status)} vs {len(dynamics)})")
    labels = [None if pd.isna(s) or pd.isna(d) else f"{_whole(s)}/{_whole(d)}"
              for s, d in zip(status, dynamics)]
    out = pd.Series(labels, dtype="string")
    if index is not None:
        out.index = index
    return out


def _whole(value: Any) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise InputError(f"class codes must be whole numbers, got {value!r}") from err
    if not number.is_integer():
        raise InputError(f"class codes must be whole numbers, got {value!r}")
    return int(number)


# --------------------------------------------------------------------------- uncertainty


def class_stability(estimates: pd.DataFrame, standard_errors: pd.DataFrame | None,
                    indicators: Mapping[str, float], *, id_column: str,
                    class_breaks: Sequence[float] = MSS_STATUS_BREAKS,
                    fixed: Iterable[str] | None = None, draws: int = 2000,
                    seed: int | np.random.Generator | None = 0, threshold: float = 0.8,
                    level: float = 0.95, ddof: int = 0, closed: Closed = "left",
                    class_labels: Sequence[int] | None = None) -> pd.DataFrame:
    """How stable each district's need class is under the sampling error of survey indicators.

    Indicators that are survey estimates are drawn from ``Normal(estimate, se)`` independently
    per district and indicator; register indicators are kept fixed. For every draw the *whole*
    index is recomputed with :func:`need_index`'s method - both standardisations use the drawn
    values, so a district's class can change because other districts moved - and classified.

    Parameters
    ----------
    estimates : pandas.DataFrame
        Point values, one row per district: ``id_column`` and every indicator column.
    standard_errors : pandas.DataFrame or None
        ``id_column`` and, for each simulated indicator, a column of the same name holding its
        standard error (or RMSE for model-based small-area estimates, which then also covers their
        bias). Matched to ``estimates`` by id. ``None`` = no simulated indicators.
    indicators : mapping of str to float
        Indicator column -> weight, as in :func:`need_index`.
    id_column : str
        District id column in both tables.
    class_breaks : sequence of float, default ``(-1.0, 1.0, 1.5)``
        As in :func:`need_index`.
    fixed : iterable of str, optional
        Indicators kept fixed (register data). Default: every indicator without a column in
        ``standard_errors``. If given, every other indicator must have a column there.
    draws : int, default 2000
        Number of simulated index recomputations. The Monte Carlo SE of a probability ``p`` is
        ``sqrt(p(1-p)/draws)`` (at most 0.011 for 2000 draws).
    seed : int, numpy.random.Generator or None, default 0
        Seed (or generator) for reproducible draws.
    threshold : float, default 0.8
        ``flag_unstable`` is set when ``class_stability < threshold``: at the default, the reported
        class is contradicted by more than one in five plausible samples.
    level : float, default 0.95
        Level of the central simulation interval of the need score.
    ddof, closed, class_labels
        As in :func:`need_index`.

    Returns
    -------
    pandas.DataFrame
        One row per row of ``estimates`` (same order and index): ``id_column``, ``need_score`` and
        ``need_class`` (the reported values, from the point estimates, identical to
        :func:`need_index`), ``prob_class_<label>`` for every class (shares of draws),
        ``class_stability`` (probability of the reported class), ``flag_unstable`` (nullable
        boolean), ``modal_class`` (the most frequent simulated class), ``need_score_sd``,
        ``need_score_low`` and ``need_score_high`` (central ``level`` interval of the simulated
        scores). Districts without all estimates are excluded as in :func:`need_index` (all
        ``NaN``/``<NA>``; ``.attrs["excluded"]``, ``.attrs["note"]``). ``.attrs`` also records
        ``draws``, ``seed``, ``threshold``, ``simulated`` and ``fixed``.

    Raises
    ------
    InputError
        As :func:`need_index`, and for negative or missing standard errors of a simulated
        indicator in a district that has its estimate, unknown ``fixed`` names, or bad
        ``draws``/``threshold``/``level``.

    Notes
    -----
    Draws are independent across districts and indicators (no covariance between the survey
    estimates of one district is used) and are not truncated (a drawn share may be negative;
    only standardised values enter the index). Work is vectorised over districts and over
    draws within chunks of about four million numbers.
    """
    ddof = _check_ddof(ddof)
    breaks, labels = _check_breaks(class_breaks, class_labels, closed)
    if not (isinstance(draws, (int, np.integer)) and draws >= 1):
        raise InputError(f"draws must be a positive integer, got {draws!r}")
    if not 0 < threshold <= 1:
        raise InputError(f"threshold must be in (0, 1], got {threshold!r}")
    if not 0 < level < 1:
        raise InputError(f"level must be between 0 and 1, got {level!r}")

    point = need_index(estimates, indicators, id_column=id_column, class_breaks=breaks,
                       ddof=ddof, closed=closed, class_labels=labels)
    prep = _prepare(estimates, indicators, id_column, ddof)
    names, weights, values, complete = prep["names"], prep["weights"], prep["values"], prep["complete"]
    simulated, fixed_names = _split_simulated(names, standard_errors, fixed, id_column)
    se = _standard_errors(standard_errors, simulated, names, prep["ids"], complete, id_column)

    x = values[complete]
    s = se[complete]
    n, k = x.shape
    n_classes = labels.size
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    counts = np.zeros((n, n_classes), dtype=np.int64)
    scores = np.empty((draws, n), dtype=np.float32)
    columns = np.flatnonzero(s.any(axis=0))  # indicators with some positive SE
    chunk = max(1, min(draws, _CHUNK_FLOATS // max(1, n * k)))
    for start in range(0, draws, chunk):
        b = min(chunk, draws - start)
        drawn = np.broadcast_to(x, (b, n, k)).copy()
        if columns.size:
            noise = rng.standard_normal((b, n, columns.size))
            drawn[:, :, columns] += noise * s[:, columns]
        score, _, _, _, _ = _standardise(drawn, weights, ddof)
        scores[start:start + b] = score
        positions = _class_index(score, breaks, closed)
        counts += (positions[..., None] == np.arange(n_classes)).sum(axis=0)

    probs = counts / draws
    reported = _class_index(point["need_score"].to_numpy()[complete], breaks, closed)
    stability = probs[np.arange(n), reported]
    tail = (1 - level) / 2
    low, high = np.quantile(scores, [tail, 1 - tail], axis=0)

    out = point[[id_column, "need_score", "need_class"]].copy()
    total = len(out)

    def _fill(values_c: np.ndarray) -> np.ndarray:
        full = np.full(total, np.nan)
        full[complete] = values_c
        return full

    for c, label in enumerate(labels):
        out[f"prob_class_{label}"] = _fill(probs[:, c])
    out["class_stability"] = _fill(stability)
    flag = pd.array([pd.NA] * total, dtype="boolean")
    flag[complete] = stability < threshold
    out["flag_unstable"] = flag
    modal = pd.array([pd.NA] * total, dtype="Int64")
    modal[complete] = labels[probs.argmax(axis=1)]
    out["modal_class"] = modal
    out["need_score_sd"] = _fill(scores.std(axis=0, dtype=np.float64))
    out["need_score_low"] = _fill(low)
    out["need_score_high"] = _fill(high)
    out.attrs.update(point.attrs)
    out.attrs.update({"draws": int(draws), "seed": seed if not isinstance(seed, np.random.Generator) else None,
                      "threshold": float(threshold), "level": float(level),
                      "simulated": simulated, "fixed": fixed_names})
    return out


def _split_simulated(names: list[str], standard_errors: pd.DataFrame | None,
                     fixed: Iterable[str] | None, id_column: str) -> tuple[list[str], list[str]]:
    if standard_errors is not None:
        if not isinstance(standard_errors, pd.DataFrame):
            raise InputError(f"standard_errors must be a DataFrame or None, got {type(standard_errors).__name__}")
        if id_column not in standard_errors.columns:
            raise InputError(f"standard_errors has no id column {id_column!r}")
    with_se = [] if standard_errors is None else [c for c in names if c in standard_errors.columns]
    if fixed is None:
        return with_se, [c for c in names if c not in with_se]
    fixed_names = [str(c) for c in ([fixed] if isinstance(fixed, str) else fixed)]
    unknown = [c for c in fixed_names if c not in names]
    if unknown:
        raise InputError(f"fixed names {unknown} are not indicators", hint=f"indicators: {names}")
    simulated = [c for c in names if c not in fixed_names]
    lacking = [c for c in simulated if c not in with_se]
    if lacking:
        raise InputError(f"no standard-error column for the survey indicator(s) {lacking}",
                         hint="add them to standard_errors or list them in fixed")
    return simulated, fixed_names


def _standard_errors(standard_errors: pd.DataFrame | None, simulated: list[str], names: list[str],
                     ids: pd.Series, complete: np.ndarray, id_column: str) -> np.ndarray:
    """``(n, k)`` matrix of SEs aligned with the estimates (0 for fixed indicators)."""
    se = np.zeros((len(ids), len(names)))
    if not simulated:
        return se
    table: pd.DataFrame = standard_errors  # not None once an indicator is simulated (_split_simulated)
    if table[id_column].duplicated().any():
        raise InputError(f"standard_errors has duplicate ids in {id_column!r}")
    position = pd.Index(table[id_column]).get_indexer(ids)
    for j, name in enumerate(names):
        if name not in simulated:
            continue
        column = _numeric_column(table, name, table[id_column], "standard-error")
        values = np.where(position >= 0, column[np.maximum(position, 0)], np.nan)
        if (values < 0).any():
            raise InputError(f"negative standard errors for {name!r}")
        lacking = complete & np.isnan(values)
        if lacking.any():
            raise InputError(f"no standard error for {name!r} in district(s) "
                             f"{ids[lacking].head(5).tolist()} that have an estimate",
                             hint="give the SE (0 if exact), or list the indicator in fixed; "
                                  "check that ids are spelled the same in both tables")
        se[:, j] = np.nan_to_num(values)
    return se


def weight_sensitivity(table: pd.DataFrame, indicators: Mapping[str, float], *, id_column: str,
                       weight_range: tuple[float, float] = (0.5, 1.5),
                       class_breaks: Sequence[float] = MSS_STATUS_BREAKS, steps: int = 5,
                       joint_draws: int = 1000, seed: int | np.random.Generator | None = 0,
                       ddof: int = 0, closed: Closed = "left",
                       class_labels: Sequence[int] | None = None) -> pd.DataFrame:
    """Ranges of ranks and classes when the indicator weights vary within a multiplicative range.

    Scenarios (all evaluated at once, vectorised):

    * *one at a time*: each weight ``w_j`` is multiplied by ``steps`` equally spaced factors in
      ``[low, high]`` (endpoints included) with the other weights at their stated values. A grid,
      not just the endpoints, because the re-standardisation makes a score non-monotone in a
      weight, so a class can change inside the range and change back;
    * *joint*: ``joint_draws`` random scenarios in which every weight is multiplied by its own
      factor drawn independently from ``Uniform(low, high)`` (seeded).

    The z-values do not depend on the weights; each scenario re-sums and re-standardises them.
    Factors are positive, so the direction (sign) of each indicator is kept. Multiplying all
    weights by the same factor changes nothing; only relative weights matter.

    Parameters
    ----------
    table, indicators, id_column, class_breaks, ddof, closed, class_labels
        As in :func:`need_index`.
    weight_range : (float, float), default (0.5, 1.5)
        Multiplicative range ``(low, high)`` with ``0 < low <= high``; (0.5, 1.5) lets each weight
        vary from half to one and a half times its stated value.
    steps : int, default 5
        Grid points per indicator in the one-at-a-time variation (at least 2).
    joint_draws : int, default 1000
        Number of joint random scenarios (0 to skip).
    seed : int, numpy.random.Generator or None, default 0
        Seed for the joint scenarios.

    Returns
    -------
    pandas.DataFrame
        One row per input row (same order and index): ``id_column``, ``need_score``, ``need_class``
        and ``need_rank`` at the stated weights (rank 1 = highest need; ties share the lowest
        rank), ``rank_min``/``rank_max``, ``class_min``/``class_max`` and
        ``need_score_min``/``need_score_max`` over all scenarios (including the stated weights),
        ``class_changed_by`` (indicators whose one-at-a-time variation alone changes the class,
        separated by ``", "``; ``""`` if none), ``share_joint_class_changed`` (share of joint
        scenarios with another class) and ``flag_class_change`` (nullable boolean: the class
        differs from the stated-weight class in at least one scenario). Excluded districts as in
        :func:`need_index`. ``.attrs["scenarios"]`` holds the weight multipliers as a list of rows
        (one per scenario: first the stated weights, then the one-at-a-time grid indicator by
        indicator, then the joint draws), with columns ``.attrs["scenario_columns"]``.
    """
    ddof = _check_ddof(ddof)
    breaks, labels = _check_breaks(class_breaks, class_labels, closed)
    try:
        low, high = (float(v) for v in weight_range)
    except (TypeError, ValueError) as err:
        raise InputError(f"weight_range must be two numbers (low, high), got {weight_range!r}") from err
    if not (0 < low <= high and np.isfinite(high)):
        raise InputError(f"weight_range must satisfy 0 < low <= high, got {weight_range!r}",
                         hint="factors multiply the weights; they must be positive to keep each direction")
    if not (isinstance(steps, (int, np.integer)) and steps >= 2):
        raise InputError(f"steps must be an integer >= 2, got {steps!r}")
    if not (isinstance(joint_draws, (int, np.integer)) and joint_draws >= 0):
        raise InputError(f"joint_draws must be a non-negative integer, got {joint_draws!r}")

    point = need_index(table, indicators, id_column=id_column, class_breaks=breaks, ddof=ddof,
                       closed=closed, class_labels=labels)
    prep = _prepare(table, indicators, id_column, ddof)
    names, weights, values, complete = prep["names"], prep["weights"], prep["values"], prep["complete"]
    k = len(names)

    grid = np.linspace(low, high, steps)
    one_at_a_time = np.ones((k * steps, k))
    owner = np.repeat(np.arange(k), steps)
    one_at_a_time[np.arange(k * steps), owner] = np.tile(grid, k)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    joint = rng.uniform(low, high, size=(joint_draws, k))
    multipliers = np.vstack([np.ones((1, k)), one_at_a_time, joint])

    x = values[complete]
    z = (x - x.mean(axis=0)) / x.std(axis=0, ddof=ddof)
    sums = z @ (multipliers * weights).T                      # (n, scenarios)
    sd = sums.std(axis=0, ddof=ddof)
    if not np.all(sd > 1e-12):
        raise InputError("for some weight scenario the weighted sum is constant across districts",
                         hint="narrow weight_range")
    scores = (sums - sums.mean(axis=0)) / sd
    positions = _class_index(scores, breaks, closed)
    classes = labels[positions]
    ranks = stats.rankdata(-scores, method="min", axis=0)

    base_class = classes[:, 0]
    changed = classes != base_class[:, None]
    oat = changed[:, 1:1 + k * steps].reshape(-1, k, steps).any(axis=2)
    changed_by = [", ".join(name for name, hit in zip(names, row) if hit) for row in oat]
    share_joint = changed[:, 1 + k * steps:].mean(axis=1) if joint_draws else np.full(len(x), np.nan)

    total = len(table)

    def _fill(values_c: np.ndarray, dtype: object = float) -> Any:
        if dtype == "Int64":
            full = pd.array([pd.NA] * total, dtype="Int64")
        elif dtype == "boolean":
            full = pd.array([pd.NA] * total, dtype="boolean")
        elif dtype == "string":
            full = pd.array([pd.NA] * total, dtype="string")
        else:
            full = np.full(total, np.nan)
        full[complete] = values_c
        return full

    out = point[[id_column, "need_score", "need_class"]].copy()
    out["need_rank"] = _fill(ranks[:, 0], "Int64")
    out["rank_min"] = _fill(ranks.min(axis=1), "Int64")
    out["rank_max"] = _fill(ranks.max(axis=1), "Int64")
    out["class_min"] = _fill(classes.min(axis=1), "Int64")
    out["class_max"] = _fill(classes.max(axis=1), "Int64")
    out["need_score_min"] = _fill(scores.min(axis=1))
    out["need_score_max"] = _fill(scores.max(axis=1))
    out["class_changed_by"] = _fill(np.array(changed_by, dtype=object), "string")
    out["share_joint_class_changed"] = _fill(share_joint)
    out["flag_class_change"] = _fill(changed.any(axis=1), "boolean")
    out.attrs.update(point.attrs)
    out.attrs.update({"weight_range": (low, high), "steps": int(steps), "joint_draws": int(joint_draws),
                      "scenarios": multipliers.tolist(), "scenario_columns": names})
    return out
