"""Estimate: weighted domain means with linearised standard errors, as tidy tables.

:func:`domain_means` runs the variance engine (:mod:`geo_cohesion.survey.linearise`) on a
:class:`~geo_cohesion.survey.design.SurveyDesign`; :func:`estimates_from_table` accepts already
weighted district scores from users without microdata.

Degrees of freedom
------------------
A linearised variance from few respondents is itself uncertain, so intervals and tests use a
Student t reference with the degrees of freedom of :func:`domain_degrees_of_freedom` (Korn &
Graubard 1999, *Analysis of Health Surveys*, sec. 5.2): for domain ``d`` and variable ``v``,
``df = n_dv - H_dv``, the respondents of the domain with a value minus the number of strata they
lie in (``n_dv - 1`` in an unstratified design or when a district is its own stratum), at least 1.
It never exceeds the design df ``n_v - H_v`` of the whole sample (R ``degf()`` of the design
restricted to respondents with a value), which is what the city value (all respondents as one
domain) gets. Raking uses up a few more degrees of freedom; that is ignored, as in R.

Missing, not zero
-----------------
A domain with fewer than two respondents with a value has no variance estimate: ``se``, ``df``
and the interval are NaN (one respondent gives a linearised variance of exactly 0, which is not
certainty). A domain without any respondent with a value also has no estimate.
"""
from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.stats import norm, t as student_t

from geo_cohesion.errors import InputError
from geo_cohesion.io.tables import NO, YES, row_ref, to_numeric_column
from geo_cohesion.keys import normalise_key
from geo_cohesion.survey.domains import category_codes, column_sums
from geo_cohesion.survey.linearise import linearised_domain_variance

if TYPE_CHECKING:
    from geo_cohesion.survey.design import SurveyDesign


ESTIMATE_COLUMNS = ["variable", "estimate", "se", "ci_low", "ci_high", "n", "n_eff", "suppressed", "df"]

#: Reference distributions of intervals and tests: Student t with the documented df, or normal.
REFERENCES = ("t", "normal")


def domain_degrees_of_freedom(observed: np.ndarray, domain: np.ndarray, n_domains: int,
                              strata: np.ndarray) -> np.ndarray:
    """Degrees of freedom of each domain's linearised variance (Korn & Graubard 1999, sec. 5.2).

    Parameters
    ----------
    observed : ndarray (n, V) of bool
        Whether respondent ``i`` has a value of variable ``v``.
    domain : ndarray (n,) of int
        Domain code ``0..n_domains-1`` per respondent.
    n_domains : int
        Number of domains.
    strata : ndarray (n,) of int
        Stratum code per respondent.

    Returns
    -------
    ndarray (n_domains, V)
        ``n_dv - H_dv`` (respondents of the domain with a value minus the strata they lie in), at
        least 1 and at most the design df ``n_v - H_v`` of all respondents with a value (if that
        is positive); NaN where the domain has fewer than two respondents with a value.
    """
    observed = np.asarray(observed, dtype=float).reshape(len(domain), -1)
    n_vars = observed.shape[1]
    n_strata = int(strata.max()) + 1 if strata.size else 1
    counts = column_sums(strata * n_domains + domain, observed, n_strata * n_domains)
    counts = counts.reshape(n_strata, n_domains, n_vars)
    n_d = counts.sum(axis=0)
    df = np.maximum(n_d - (counts > 0).sum(axis=0), 1.0)
    n_h = counts.sum(axis=1)                                   # (H, V): respondents with a value per stratum
    design_df = n_h.sum(axis=0) - (n_h > 0).sum(axis=0)        # (V,)
    df = np.where(design_df[None, :] >= 1, np.minimum(df, design_df[None, :]), df)
    return np.where(n_d >= 2, df, np.nan)


def quantile(level: float, df: np.ndarray | float, reference: str = "t") -> np.ndarray:
    """Two-sided quantile ``q`` with ``P(|T| <= q) = level``: Student t with ``df`` (``inf`` or
    ``reference="normal"`` gives the normal quantile; NaN df gives NaN)."""
    if reference not in REFERENCES:
        raise InputError(f"unknown reference distribution {reference!r}", hint="use 't' or 'normal'")
    df = np.asarray(df, dtype=float)
    if reference == "normal":
        return np.where(np.isnan(df), np.nan, norm.ppf(0.5 + level / 2.0))
    with np.errstate(invalid="ignore"):
        finite = student_t.ppf(0.5 + level / 2.0, np.where(df > 0, df, np.nan))
    quantile: np.ndarray = np.where(np.isinf(df), norm.ppf(0.5 + level / 2.0), finite)
    return quantile


def values_matrix(design: SurveyDesign, values: Sequence[str]) -> np.ndarray:
    data = design.data
    missing = [v for v in values if v not in data.columns]
    if missing:
        raise InputError(f"variable(s) not in the survey: {', '.join(missing)}", data.attrs.get("source"))
    return np.column_stack([to_numeric_column(data, v, f"value of '{v}'") for v in values])


def domain_means(design: SurveyDesign, values: str | Sequence[str], by: str | None, level: float = 0.95,
                 min_n: int = 30, reference: str = "t") -> pd.DataFrame:
    """Weighted domain means with linearised standard errors for a :class:`SurveyDesign`.

    Parameters
    ----------
    design : SurveyDesign
    values : str or sequence of str
        Numeric columns of ``design.data``.
    by : str or None
        Domain column; None for one estimate over all respondents.
    level : float
        Confidence level; intervals are ``estimate ± q * se`` with ``q`` the Student t quantile
        with ``df`` degrees of freedom (see the module docstring).
    min_n : int
        Estimates from fewer than ``min_n`` respondents are flagged ``suppressed``.
    reference : {"t", "normal"}
        ``"normal"`` gives ``estimate ± z * se`` as R's ``confint`` does by default; ``df`` is
        reported either way.

    Returns
    -------
    DataFrame
        ``[<by>,] variable, estimate, se, ci_low, ci_high, n, n_eff, suppressed, df`` with domains
        in sorted order and variables in the given order. ``n_eff`` is Kish's effective sample size
        ``(sum w)^2 / sum w^2`` of the domain's respondents with a value; ``df`` the degrees of
        freedom of ``se`` (:func:`domain_degrees_of_freedom`). Domains with fewer than two
        respondents with a value have ``se``, ``df`` and interval NaN, never 0.
    """
    if not 0 < level < 1:
        raise InputError(f"confidence level must be between 0 and 1, got {level}")
    values = [values] if isinstance(values, str) else list(values)
    y = values_matrix(design, values)
    data = design.data
    if by is None:
        domain = np.zeros(len(data), dtype=np.intp)
        labels: list[str] = []
    else:
        if by not in data.columns:
            raise InputError(f"domain column '{by}' not found", data.attrs.get("source"))
        blank = data[by].isna()
        if blank.any():
            from geo_cohesion.io.tables import row_ref
            raise InputError(f"missing '{by}'", row_ref(data, data.index[blank], by),
                             "every respondent needs a district code")
        domain, labels = category_codes(data[by])
    n_domains = max(len(labels), 1)
    strata, _ = design.strata_codes()
    cal = design.calibration
    result = linearised_domain_variance(
        y, design.weights.to_numpy(dtype=float), domain, n_domains, strata,
        design.design_weights.to_numpy(dtype=float), cal.codes if cal is not None else ())
    df = domain_degrees_of_freedom(~np.isnan(y), domain, n_domains, strata)
    se = np.where(np.isnan(df), np.nan, np.sqrt(result["var"]))   # fewer than 2 values: missing, not 0
    q = quantile(level, df, reference)
    with np.errstate(invalid="ignore", divide="ignore"):
        n_eff = result["sum_w"] ** 2 / result["sum_w2"]
    frame = pd.DataFrame({
        "variable": np.tile(values, n_domains),
        "estimate": result["mean"].ravel(),
        "se": se.ravel(),
        "n": result["n"].ravel().astype(int),
        "n_eff": np.nan_to_num(n_eff.ravel()),
        "df": df.ravel(),
    })
    frame["ci_low"] = frame["estimate"] - q.ravel() * frame["se"]
    frame["ci_high"] = frame["estimate"] + q.ravel() * frame["se"]
    frame["suppressed"] = frame["n"] < min_n
    if by is not None:
        frame.insert(0, by, np.repeat(labels, len(values)))
        return frame[[by, *ESTIMATE_COLUMNS]]
    return frame[ESTIMATE_COLUMNS]


def estimates_from_table(table: pd.DataFrame, district_column: str, variable_column: str = "variable",
                         estimate_column: str = "estimate", se_column: str | None = "se",
                         n_column: str | None = "n", level: float = 0.95, min_n: int = 30,
                         variables: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Accept already weighted district scores (no microdata) in the standard tidy layout.

    Parameters
    ----------
    table : DataFrame
        One row per district and variable with an estimate (0-100, the score scale; an empty
        cell is a district without an estimate) and optionally ``se`` and ``n``.
    district_column, variable_column, estimate_column : str
        Column names.
    se_column, n_column : str or None
        Optional columns; used when present. Missing ``se`` gives no interval; missing ``n``
        cannot be checked against ``min_n`` (``suppressed`` stays False unless a column
        ``suppressed`` says otherwise).
    level : float
        Confidence level for intervals computed from ``se``.
    min_n : int
        Suppression threshold when ``n`` is known.
    variables : mapping, optional
        The accepted variables: ``{spelling: variable}`` (e.g. each Radar slug and its German and
        English labels -> the slug). Given, every value of ``variable_column`` must match one
        spelling after :func:`~geo_cohesion.keys.normalise_key` (case, spaces, hyphens,
        underscores and umlauts do not matter) and is rewritten to its variable; any other value
        is an InputError naming the line and the closest variables. ``None`` accepts any name.

    Returns
    -------
    DataFrame
        ``district_id, variable, estimate, se, ci_low, ci_high, n, n_eff, suppressed, df``.
        ``df`` is taken from a column ``df`` if the table has one, else ``n - 1`` where ``n >= 2``
        is known (the rule of :func:`domain_degrees_of_freedom` for one stratum), else missing.
        Intervals not given in the table are ``estimate ± q * se`` with ``q`` the Student t
        quantile with ``df`` degrees of freedom (the normal quantile where ``df`` is missing).
    """
    for col in (district_column, variable_column, estimate_column):
        if col not in table.columns:
            raise InputError(f"column '{col}' not found in the score table", table.attrs.get("source"),
                             f"the table has: {', '.join(map(str, table.columns))}")

    out = pd.DataFrame({"district_id": table[district_column].astype(str).str.strip(),
                        "variable": table[variable_column].astype(str).str.strip()})
    blank = table[district_column].isna()
    if blank.any():
        raise InputError("missing district code", row_ref(table, table.index[blank], district_column))
    if variables is not None:
        out["variable"] = _known_variables(table, variable_column, variables)
    out["estimate"] = to_numeric_column(table, estimate_column, "estimate")
    outside = (out["estimate"] < 0) | (out["estimate"] > 100)
    if outside.any():
        first = out.loc[outside].iloc[0]
        raise InputError(f"estimate {first['estimate']:g} of district '{first['district_id']}' "
                         f"({first['variable']}) is outside the score range 0-100",
                         row_ref(table, table.index[outside.to_numpy()], estimate_column),
                         "the Radar scores run from 0 to 100; give the scores on that scale")
    has_se = se_column is not None and se_column in table.columns
    out["se"] = to_numeric_column(table, se_column, "standard error") if has_se and se_column is not None else np.nan
    if has_se and (out["se"] < 0).any():
        bad = table.index[(out["se"] < 0).to_numpy()]
        raise InputError("negative standard error", row_ref(table, bad, se_column))
    dupes = out.duplicated(["district_id", "variable"], keep=False)
    if dupes.any():
        raise InputError("district and variable appear more than once",
                         row_ref(table, table.index[dupes.to_numpy()], district_column),
                         "give one row per district and variable")
    se_given = out["se"].fillna(0.0).to_numpy(dtype=float)
    if has_se and not (np.isfinite(se_given) & (se_given <= 100)).all():
        bad = table.index[~(np.isfinite(se_given) & (se_given <= 100))]
        raise InputError("standard error that is not a finite number up to 100 (the width of the score range)",
                         row_ref(table, bad, se_column),
                         "give the standard error on the 0-100 score scale, or leave the cell empty when it is "
                         "not known")
    has_n = n_column is not None and n_column in table.columns
    out["n"] = to_numeric_column(table, n_column, "n") if has_n and n_column is not None else np.nan
    if has_n and n_column is not None:
        counts = out["n"].to_numpy(dtype=float)
        bad_n = ~np.isnan(counts) & ~(np.isfinite(counts) & (counts >= 0) & (counts == np.round(counts)))
        if bad_n.any():
            raise InputError(f"number of respondents {counts[bad_n][0]:g} is not a whole number >= 0",
                             row_ref(table, table.index[bad_n], n_column),
                             "give the number of respondents behind each estimate (0 or more), or leave the cell "
                             "empty when it is not known")
    if "df" in table.columns:
        out["df"] = to_numeric_column(table, "df", "degrees of freedom")
        if (out["df"] <= 0).any():
            raise InputError("degrees of freedom must be positive",
                             row_ref(table, table.index[(out["df"] <= 0).to_numpy()], "df"),
                             "leave the cell empty when they are not known")
    else:
        out["df"] = np.where(out["n"] >= 2, out["n"] - 1, np.nan)
    q = quantile(level, out["df"].fillna(np.inf).to_numpy())
    out["ci_low"] = (to_numeric_column(table, "ci_low", "ci_low") if "ci_low" in table.columns
                     else out["estimate"] - q * out["se"])
    out["ci_high"] = (to_numeric_column(table, "ci_high", "ci_high") if "ci_high" in table.columns
                      else out["estimate"] + q * out["se"])
    given = out[["ci_low", "estimate", "ci_high"]].to_numpy(dtype=float)
    outside_ci = (given[:, 0] > given[:, 1]) | (given[:, 1] > given[:, 2])  # NaN compares False
    if outside_ci.any():
        low, est, high = given[outside_ci][0]
        raise InputError(f"the interval {low:g}-{high:g} does not contain its estimate {est:g}",
                         row_ref(table, table.index[outside_ci], "ci_low"),
                         "give ci_low <= estimate <= ci_high (columns shifted?), or leave out ci_low and ci_high "
                         "to have them computed from se")
    out["n_eff"] = to_numeric_column(table, "n_eff", "n_eff") if "n_eff" in table.columns else out["n"]
    flagged = _flags(table, "suppressed") if "suppressed" in table.columns else pd.Series(False, index=table.index)
    out["suppressed"] = flagged.to_numpy() | (out["n"].to_numpy() < min_n if has_n else False)
    return out[["district_id", *ESTIMATE_COLUMNS]].reset_index(drop=True)


def _known_variables(table: pd.DataFrame, column: str, variables: Mapping[str, str]) -> pd.Series:
    """The score table's variable names rewritten to the accepted variables (see ``estimates_from_table``)."""
    by_key = {normalise_key(spelling): variable for spelling, variable in variables.items()}
    names = table[column].astype("string").str.strip()
    keys = names.fillna("").map(normalise_key)
    unknown = ~keys.isin(list(by_key)).to_numpy()
    if unknown.any():
        first = str(names[unknown].iloc[0]) if not pd.isna(names[unknown].iloc[0]) else ""
        close = difflib.get_close_matches(normalise_key(first), list(by_key), n=3, cutoff=0.5)
        guess = dict.fromkeys(by_key[c] for c in close)
        did_you_mean = f"; did you mean {' or '.join(repr(g) for g in guess)}?" if guess else ""
        known = ", ".join(dict.fromkeys(variables.values()))
        raise InputError(f"unknown variable {first!r}{did_you_mean}", row_ref(table, table.index[unknown], column),
                         f"name each row's score with one of: {known}")
    return keys.map(by_key).astype(str)


def _flags(table: pd.DataFrame, column: str) -> pd.Series:
    """A yes/no column as booleans; any other text is an InputError naming the line."""
    text = table[column].astype("string").fillna("").str.strip().str.lower()
    unknown = ~text.isin(YES | NO).to_numpy()
    if unknown.any():
        raise InputError(f"{table[column][unknown].iloc[0]!r} is not yes or no",
                         row_ref(table, table.index[unknown], column),
                         f"write one of {', '.join(sorted(YES - {'1.0'}))} or "
                         f"{', '.join(sorted(NO - {'', '0.0'}))} (or leave the cell empty for no)")
    return text.isin(YES)
