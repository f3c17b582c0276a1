"""Estimate: weighted domain means with linearised standard errors, as tidy tables.

:func:`domain_means` runs the variance engine (:mod:`geo_cohesion.survey.linearise`) on a
:class:`~geo_cohesion.survey.design.SurveyDesign`; :func:`estimates_from_table` accepts already
weighted district scores from users without microdata.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.stats import norm

from geo_cohesion.errors import InputError
from geo_cohesion.io.tables import row_ref, to_numeric_column
from geo_cohesion.survey.domains import category_codes
from geo_cohesion.survey.linearise import linearised_domain_variance

if TYPE_CHECKING:
    from geo_cohesion.survey.design import SurveyDesign


ESTIMATE_COLUMNS = ["variable", "estimate", "se", "ci_low", "ci_high", "n", "n_eff", "suppressed"]


def values_matrix(design: SurveyDesign, values: Sequence[str]) -> np.ndarray:
    data = design.data
    missing = [v for v in values if v not in data.columns]
    if missing:
        raise InputError(f"variable(s) not in the survey: {', '.join(missing)}", data.attrs.get("source"))
    return np.column_stack([to_numeric_column(data, v, f"value of '{v}'") for v in values])


def domain_means(design: SurveyDesign, values: str | Sequence[str], by: str | None, level: float = 0.95,
                 min_n: int = 30) -> pd.DataFrame:
    """Weighted domain means with linearised standard errors for a :class:`SurveyDesign`.

    Parameters
    ----------
    design : SurveyDesign
    values : str or sequence of str
        Numeric columns of ``design.data``.
    by : str or None
        Domain column; None for one estimate over all respondents.
    level : float
        Confidence level; intervals are ``estimate ± z * se`` (normal quantile, as R's ``confint``).
    min_n : int
        Estimates from fewer than ``min_n`` respondents are flagged ``suppressed``.

    Returns
    -------
    DataFrame
        ``[<by>,] variable, estimate, se, ci_low, ci_high, n, n_eff, suppressed`` with domains in
        sorted order and variables in the given order. ``n_eff`` is Kish's effective sample size
        ``(sum w)^2 / sum w^2`` of the domain's respondents with a value.
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
    z = norm.ppf(0.5 + level / 2.0)
    se = np.sqrt(result["var"])
    with np.errstate(invalid="ignore", divide="ignore"):
        n_eff = result["sum_w"] ** 2 / result["sum_w2"]
    frame = pd.DataFrame({
        "variable": np.tile(values, n_domains),
        "estimate": result["mean"].ravel(),
        "se": se.ravel(),
        "n": result["n"].ravel().astype(int),
        "n_eff": np.nan_to_num(n_eff.ravel()),
    })
    frame["ci_low"] = frame["estimate"] - z * frame["se"]
    frame["ci_high"] = frame["estimate"] + z * frame["se"]
    frame["suppressed"] = frame["n"] < min_n
    if by is not None:
        frame.insert(0, by, np.repeat(labels, len(values)))
        return frame[[by, *ESTIMATE_COLUMNS]]
    return frame[ESTIMATE_COLUMNS]


def estimates_from_table(table: pd.DataFrame, district_column: str, variable_column: str = "variable",
                         estimate_column: str = "estimate", se_column: str | None = "se",
                         n_column: str | None = "n", level: float = 0.95, min_n: int = 30) -> pd.DataFrame:
    """Accept already weighted district scores (no microdata) in the standard tidy layout.

    Parameters
    ----------
    table : DataFrame
        One row per district and variable with an estimate and optionally ``se`` and ``n``.
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

    Returns
    -------
    DataFrame
        ``district_id, variable, estimate, se, ci_low, ci_high, n, n_eff, suppressed``.
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
    out["estimate"] = to_numeric_column(table, estimate_column, "estimate")
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
    z = norm.ppf(0.5 + level / 2.0)
    out["ci_low"] = (to_numeric_column(table, "ci_low", "ci_low") if "ci_low" in table.columns
                     else out["estimate"] - z * out["se"])
    out["ci_high"] = (to_numeric_column(table, "ci_high", "ci_high") if "ci_high" in table.columns
                      else out["estimate"] + z * out["se"])
    has_n = n_column is not None and n_column in table.columns
    out["n"] = to_numeric_column(table, n_column, "n") if has_n and n_column is not None else np.nan
    out["n_eff"] = to_numeric_column(table, "n_eff", "n_eff") if "n_eff" in table.columns else out["n"]
    flagged = table["suppressed"].astype(str).str.lower().isin({"true", "1", "ja", "yes"}) \
        if "suppressed" in table.columns else pd.Series(False, index=table.index)
    out["suppressed"] = flagged.to_numpy() | (out["n"].to_numpy() < min_n if has_n else False)
    return out.reset_index(drop=True)
