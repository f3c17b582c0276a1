"""Change of district estimates between two survey waves, with tests adjusted for multiplicity.

The two waves are treated as **independent samples** (fresh cross-sections): the variance of a
change is the sum of the two variances, ``se(change)^2 = se_from^2 + se_to^2``. For a panel (the
same respondents in both waves) the covariance term ``-2 cov`` is missing and this SE is then
usually too large (conservative for positively correlated answers).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from geo_cohesion.errors import InputError
from geo_cohesion.settings import ADJUSTMENTS
from geo_cohesion.stats.multiple_testing import adjust_p_values

_REQUIRED = ("variable", "estimate", "se")


def _wave(table: pd.DataFrame, id_column: str, name: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"{name} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in (id_column, *_REQUIRED) if c not in table.columns]
    if missing:
        raise InputError(f"{name} lacks column(s) {missing}",
                         hint=f"expected a tidy table with {id_column}, variable, estimate, se (optionally n, df)")
    keep = [id_column, "variable", "estimate", "se"] + [c for c in ("n", "df") if c in table.columns]
    frame = table[keep].copy()
    if frame[[id_column, "variable"]].isna().any().any():
        raise InputError(f"{name} has rows without {id_column} or variable")
    duplicated = frame.duplicated([id_column, "variable"])
    if duplicated.any():
        first = frame.loc[duplicated, [id_column, "variable"]].iloc[0].tolist()
        raise InputError(f"{name} has more than one row for ({first[0]!s}, {first[1]!s})",
                         hint="one estimate per district and variable")
    for column in keep[2:]:
        raw = frame[column]
        values = pd.to_numeric(raw, errors="coerce")
        if (values.isna() & raw.notna()).any():
            raise InputError(f"{name} column {column!r} has values that are not numbers")
        frame[column] = values.astype(float)
    if (frame["se"] < 0).any():
        raise InputError(f"{name} has negative standard errors")
    if np.isinf(frame[keep[2:]].to_numpy()).any():
        raise InputError(f"{name} has infinite values", hint="leave unavailable values empty")
    return frame


def _satterthwaite(v1: np.ndarray, nu1: np.ndarray, v2: np.ndarray, nu2: np.ndarray) -> np.ndarray:
    """Welch-Satterthwaite df of ``v1 + v2``; a term with zero variance drops out; NaN if unknown."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.where(v1 > 0, v1 ** 2 / np.where(nu1 > 0, nu1, np.nan), 0.0)
        t2 = np.where(v2 > 0, v2 ** 2 / np.where(nu2 > 0, nu2, np.nan), 0.0)
        nu = (v1 + v2) ** 2 / (t1 + t2)
    return np.where(np.isfinite(nu) & (nu > 0), nu, np.nan)


def change_between_waves(estimates_from: pd.DataFrame, estimates_to: pd.DataFrame, *,
                         id_column: str = "district_id", level: float = 0.95, alpha: float = 0.05,
                         adjust: str = "holm",
                         df: None | str | float | Sequence[float] | np.ndarray = None) -> pd.DataFrame:
    """Change of each district estimate between two waves, with a test and an interval.

    Parameters
    ----------
    estimates_from, estimates_to : pandas.DataFrame
        Tidy tables, one row per district and variable: ``id_column``, ``variable``, ``estimate``,
        ``se`` (standard error; empty if unknown), optionally ``n`` (respondents) and ``df``
        (degrees of freedom of that estimate's SE, e.g. design df). Ids must be spelled and typed
        the same in both waves.
    id_column : str, default "district_id"
    level : float, default 0.95
        Confidence level of ``ci_low``/``ci_high`` (per-comparison, not adjusted for multiplicity).
    alpha : float, default 0.05
        ``significant`` is ``p_adjusted < alpha``.
    adjust : {"holm", "fdr_bh", "none"}, default "holm"
        Multiple-testing adjustment across the districts of each variable (one family per
        variable); see :func:`adjust_p_values`.
    df : None, "normal", float or array-like, optional
        Reference distribution of ``change / se``:

        * ``None`` (default), per row: if both waves have a ``df`` column, Student t with the
          Welch-Satterthwaite combination ``nu = (v1 + v2)^2 / (v1^2/nu1 + v2^2/nu2)`` of
          ``v = se^2``; else if both waves have ``n``, the same with ``nu_w = n_w - 1`` (exactly
          Welch's unequal-variance t-test when ``se_w = s_w / sqrt(n_w)``); otherwise - and in
          rows where these values are missing or not positive (e.g. ``n = 1``) - the standard
          normal. A wave with
          ``se = 0`` drops out of the formula.
        * ``"normal"``: the standard normal for all rows.
        * a positive number: Student t with that df for all rows.
        * array-like: one df per output row (in output order; ``inf`` = normal).

    Returns
    -------
    pandas.DataFrame
        One row per (district, variable) found in either wave, in the order of ``estimates_from``
        followed by rows found only in ``estimates_to``. Columns: ``id_column``, ``variable``,
        ``estimate_from``, ``estimate_to``, ``change`` (to minus from), ``se`` (of the change,
        ``sqrt(se_from^2 + se_to^2)``), ``df`` (``inf`` = normal reference), ``ci_low``,
        ``ci_high``, ``p_value`` (two-sided), ``p_adjusted``, ``significant`` (bool), and
        ``n_from``/``n_to`` if either wave has ``n``. ``.attrs["note"]`` counts rows that could
        not be tested.

        A row is tested only if both estimates are present and the SE of the change is a
        positive number; otherwise its ``p_value``/``p_adjusted`` are ``NaN``, it is never
        ``significant`` and it is not counted in its variable's family. A total SE of exactly 0
        (two degenerate survey estimates) is not treated as certainty.

    Raises
    ------
    InputError
        Missing columns, non-numeric or negative SEs, duplicate rows, unknown ``adjust``, bad
        ``level``/``alpha``/``df``, or no common (district, variable) in the two waves.

    Examples
    --------
    >>> a = pd.DataFrame({"district_id": ["1"], "variable": ["trust"], "estimate": [0.50], "se": [0.03]})
    >>> b = pd.DataFrame({"district_id": ["1"], "variable": ["trust"], "estimate": [0.598], "se": [0.04]})
    >>> round(float(change_between_waves(a, b)["p_value"].iloc[0]), 4)  # z = 0.098 / 0.05 = 1.96
    0.05
    """
    if adjust not in ADJUSTMENTS:
        raise InputError(f"adjust must be one of {ADJUSTMENTS}, got {adjust!r}")
    if not 0 < level < 1:
        raise InputError(f"level must be between 0 and 1, got {level!r}")
    if not 0 < alpha < 1:
        raise InputError(f"alpha must be between 0 and 1, got {alpha!r}")
    first = _wave(estimates_from, id_column, "estimates_from")
    second = _wave(estimates_to, id_column, "estimates_to")
    keys = [id_column, "variable"]
    for key in keys:
        numeric = [pd.api.types.is_numeric_dtype(t[key]) for t in (first, second)]
        if len(first) and len(second) and numeric[0] != numeric[1]:
            raise InputError(f"{key!r} is {'numeric' if numeric[0] else 'text'} in estimates_from but "
                             f"{'numeric' if numeric[1] else 'text'} in estimates_to, so the waves have no "
                             "(district, variable) in common",
                             hint=f"read {key} as text in both waves (keeps leading zeros)")
    first_s = first.rename(columns={c: f"{c}_from" for c in first.columns if c not in keys})
    second_s = second.rename(columns={c: f"{c}_to" for c in second.columns if c not in keys})
    merged = first_s.merge(second_s, on=keys, how="left")
    in_first = pd.MultiIndex.from_frame(first[keys])
    only_to = second_s[~pd.MultiIndex.from_frame(second[keys]).isin(in_first)]
    if len(first) and len(second) and len(only_to) == len(second):
        raise InputError("the two waves have no (district, variable) in common",
                         hint=f"check that {id_column} is spelled and typed the same (read ids as text)")
    frame = pd.concat([merged, only_to], ignore_index=True)
    for column in ("estimate", "se", "n", "df"):
        for side in ("from", "to"):
            if f"{column}_{side}" not in frame.columns:
                frame[f"{column}_{side}"] = np.nan

    change = (frame["estimate_to"] - frame["estimate_from"]).to_numpy(float)
    v1 = frame["se_from"].to_numpy(float) ** 2
    v2 = frame["se_to"].to_numpy(float) ** 2
    se = np.sqrt(v1 + v2)
    testable = np.isfinite(change) & np.isfinite(se) & (se > 0)

    nu = _degrees_of_freedom(df, frame, first, second, v1, v2)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = np.where(testable, change / se, np.nan)
    p_value = np.where(testable, 2 * stats.t.sf(np.abs(statistic), nu), np.nan)
    quantile = stats.t.ppf(0.5 + level / 2, nu)
    ci_low = np.where(testable, change - quantile * se, np.nan)
    ci_high = np.where(testable, change + quantile * se, np.nan)

    p_adjusted = np.full(len(frame), np.nan)
    for rows in frame.groupby("variable", sort=False).indices.values():
        p_adjusted[rows] = adjust_p_values(p_value[rows], adjust)
    significant = testable & (np.nan_to_num(p_adjusted, nan=1.0) < alpha)

    out = pd.DataFrame({
        id_column: frame[id_column].to_numpy(),
        "variable": frame["variable"].to_numpy(),
        "estimate_from": frame["estimate_from"].to_numpy(float),
        "estimate_to": frame["estimate_to"].to_numpy(float),
        "change": change,
        "se": np.where(np.isfinite(se), se, np.nan),
        "df": nu,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "p_value": p_value,
        "p_adjusted": p_adjusted,
        "significant": significant.astype(bool),
    })
    if "n" in first.columns or "n" in second.columns:
        out["n_from"] = frame["n_from"].to_numpy(float)
        out["n_to"] = frame["n_to"].to_numpy(float)
    untested = int((~testable).sum())
    out.attrs["note"] = "" if untested == 0 else (
        f"{untested} of {len(out)} rows could not be tested (estimate missing in a wave, or no "
        "positive standard error); they are never significant and not counted in the adjustment")
    out.attrs.update({"adjust": adjust, "alpha": alpha, "level": level})
    return out


def _degrees_of_freedom(df: None | str | float | Sequence[float] | np.ndarray, frame: pd.DataFrame,
                        first: pd.DataFrame, second: pd.DataFrame, v1: np.ndarray, v2: np.ndarray) -> np.ndarray:
    rows = len(frame)
    if df is None:
        if "df" in first.columns and "df" in second.columns:
            nu1, nu2 = frame["df_from"].to_numpy(float), frame["df_to"].to_numpy(float)
        elif "n" in first.columns and "n" in second.columns:
            nu1, nu2 = frame["n_from"].to_numpy(float) - 1, frame["n_to"].to_numpy(float) - 1
        else:
            return np.full(rows, np.inf)
        nu = _satterthwaite(v1, nu1, v2, nu2)
        return np.where(np.isnan(nu), np.inf, nu)
    if isinstance(df, str):
        if df != "normal":
            raise InputError(f"df must be None, 'normal', a number or one value per row, got {df!r}")
        return np.full(rows, np.inf)
    nu = np.asarray(df, dtype=float)
    if nu.ndim == 0:
        nu = np.full(rows, float(nu))
    if nu.shape != (rows,):
        raise InputError(f"df has {nu.size} values but the result has {rows} rows")
    if np.any(np.isnan(nu) | (nu <= 0)):
        raise InputError("degrees of freedom must be positive numbers (inf for the normal reference)")
    return nu


def latest_wave_changes(change: pd.DataFrame) -> pd.DataFrame:
    """The rows of a change table that compare the most recent earlier wave with the main survey.

    A city with several earlier waves has one change per district, score and earlier wave (oldest
    first, as the waves are listed); maps, GIS layers, profiles and the dynamics index show the
    change since the latest one. A table without ``wave_from`` is returned as it is.
    """
    if "wave_from" not in change.columns or change.empty:
        return change
    return change[change["wave_from"].astype(str) == str(change["wave_from"].iloc[-1])]
