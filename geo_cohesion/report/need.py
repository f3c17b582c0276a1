"""Need evidence for the reports when the pipeline supplies no need index of its own.

:func:`default_need` builds the need index the way Berlin's *Monitoring Soziale
Stadtentwicklung* does (:func:`geo_cohesion.stats.need.need_index`: z-standardise, sum, standardise
again, classes at -1, +1, +1.5 SD) from the deprivation indicators of the structural data and the
district's cohesion index (a low index adds need), and its class stability under the survey
error of the index (:func:`geo_cohesion.stats.need.class_stability`; the register indicators are
fixed). The reports say which indicators and weights were used.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from geo_cohesion.errors import InputError
from geo_cohesion.io.tables import to_numeric_column
from geo_cohesion.stats.need import MSS_STATUS_BREAKS, class_stability, need_index

#: Indicators of the default need index -> weight (+1: more is more need; -1: less is more need).
DEFAULT_INDICATORS: dict[str, float] = {"sgb2_share_pct": 1.0, "unemployment_pct": 1.0, "index": -1.0}
#: Simulation draws of the class stability.
DEFAULT_DRAWS = 2000


def default_need(district_estimates: pd.DataFrame, structural: pd.DataFrame | None, seed: int = 0,
                 indicators: dict[str, float] | None = None, draws: int = DEFAULT_DRAWS,
                 class_breaks: tuple[float, ...] | list[float] = MSS_STATUS_BREAKS, strict: bool = False
                 ) -> pd.DataFrame | None:
    """Need index with class stability per district, or None when the data cannot carry one.

    Parameters
    ----------
    district_estimates : DataFrame
        ``district_id, variable, estimate, se, suppressed``.
    structural : DataFrame, optional
        ``district_id`` plus indicator columns.
    seed : int
        Seed of the stability simulation.
    indicators : dict, optional
        Column -> signed weight; Radar variables (``index``) come from the estimates with their SE;
        default :data:`DEFAULT_INDICATORS` (the pipeline passes the weights it resolved through the
        indicator registry, :func:`geo_cohesion.project.need.need_weights`). Indicators missing
        from the data are left out.
    draws : int
        Simulation draws.
    class_breaks : sequence of float
        Class thresholds in SDs (default the MSS status breaks).
    strict : bool
        Raise an InputError saying why instead of returning None (indicators the user chose).

    Returns
    -------
    DataFrame or None
        :func:`~geo_cohesion.stats.need.class_stability` output keyed by ``district_id`` plus the
        ``contribution_*`` columns of :func:`~geo_cohesion.stats.need.need_index`;
        ``.attrs["indicators"]`` holds the weights used. None without structural data, with fewer
        than 2 usable indicators or fewer than 4 districts with all values.
    """
    if structural is None or "district_id" not in structural.columns:
        return None
    wanted = dict(indicators or DEFAULT_INDICATORS)
    estimates = district_estimates.copy()
    estimates["district_id"] = estimates["district_id"].astype(str)
    table = pd.DataFrame({"district_id": structural["district_id"].astype(str)})
    se_table = pd.DataFrame({"district_id": table["district_id"]})
    used: dict[str, float] = {}
    variables = set(estimates["variable"])
    for column, weight in wanted.items():
        if column in variables:
            rows = estimates[estimates["variable"] == column].set_index("district_id")
            hidden = rows["suppressed"].astype(bool) if "suppressed" in rows else False
            table[column] = table["district_id"].map(rows["estimate"].astype(float).where(~hidden))
            se_table[column] = table["district_id"].map(rows["se"].astype(float).where(~hidden)) \
                if "se" in rows else 0.0
            used[column] = weight
        elif column in structural.columns and pd.api.types.is_numeric_dtype(structural[column]):
            # text cells ('k.A.'): the indicator registry left the column out and its notes say why
            table[column] = to_numeric_column(structural, column, f"need indicator {column!r}:")
            used[column] = weight
    complete = table[list(used)].notna().all(axis=1)
    if len(used) < 2 or complete.sum() < 4:
        # strict: the user's structural data are at fault (suppressed scores leave the index out quietly)
        register = table[[c for c in used if c not in variables]].notna().all(axis=1)
        if strict and (len(used) < 2 or register.sum() < 4):
            _raise_unusable(used, table.loc[~register, "district_id"], int(register.sum()))
        return None
    simulated = [c for c in used if c in variables]
    try:
        point = need_index(table, used, id_column="district_id", class_breaks=class_breaks)
    except InputError as exc:  # e.g. a constant indicator
        if strict:
            raise InputError(f"need.indicators: {exc.message}", exc.source,
                             exc.hint or "choose other indicators under need.indicators") from None
        return None
    # a published score without SE (one valid answer, direct estimator with min_n below 2): the district
    # keeps its need score and class, but how stable that class is cannot be simulated
    no_se = np.zeros(len(table), dtype=bool)
    for column in simulated:
        lacking = table[column].notna() & se_table[column].isna()
        no_se |= lacking.to_numpy()
        se_table.loc[lacking, column] = 0.0
    result = class_stability(table, se_table[["district_id", *simulated]] if simulated else None, used,
                             id_column="district_id", draws=draws, seed=seed, class_breaks=class_breaks)
    _blank_stability(result, no_se & complete.to_numpy())
    for column in point.columns:
        if column.startswith("contribution_"):
            result[column] = point[column].to_numpy()
    for column in used:
        result[f"value_{column}"] = table[column].to_numpy()
    result.attrs["indicators"] = used
    result.attrs["simulated"] = simulated
    result.attrs["method"] = "MSS"
    return result.reset_index(drop=True)


def _blank_stability(result: pd.DataFrame, rows: np.ndarray) -> None:
    """Make the simulated columns of ``rows`` missing (their score has no SE) and list those districts in
    ``result.attrs["no_se"]``."""
    result.attrs["no_se"] = result.loc[rows, "district_id"].astype(str).tolist()
    if not rows.any():
        return
    for column in result.columns:
        if column.startswith("prob_class_") or column in ("class_stability", "need_score_sd", "need_score_low",
                                                           "need_score_high"):
            result.loc[rows, column] = np.nan
        elif column in ("flag_unstable", "modal_class"):
            result.loc[rows, column] = pd.NA


def _raise_unusable(used: dict[str, float], lacking: pd.Series, complete: int) -> None:
    """Why the chosen indicators carry no need index: fewer than 2, or fewer than 4 complete districts."""
    if len(used) < 2:
        raise InputError(f"need.indicators: a need index needs at least 2 indicators with values, usable: "
                         f"{', '.join(used) or 'none'}",
                         hint="add one, e.g. 'index: 1' (the cohesion index), or remove the 'need' section")
    raise InputError(f"need.indicators: only {complete} district(s) have values for all of {', '.join(used)}; "
                     f"at least 4 are needed (without: {', '.join(lacking.astype(str)[:5])}"
                     f"{' …' if len(lacking) > 5 else ''})",
                     hint="fill in the missing values in the structural table, or choose other indicators")


def need_classes(need: pd.DataFrame) -> list[int]:
    """Class codes of a need table (lowest need first)."""
    labels = need.attrs.get("class_labels")
    if labels:
        return [int(c) for c in labels]
    values = pd.to_numeric(need["need_class"], errors="coerce").dropna()
    return sorted({int(v) for v in values}) or [1]


def main_drivers(need: pd.DataFrame, district_id: str, top: int = 3) -> list[tuple[str, float]]:
    """The indicators that push a district's need score up most: ``[(indicator, contribution), ...]``."""
    row = need[need["district_id"].astype(str) == str(district_id)]
    if row.empty:
        return []
    return row_drivers(row.iloc[0], top)


def row_drivers(row: pd.Series, top: int = 3) -> list[tuple[str, float]]:
    """:func:`main_drivers` of one row of the need table (no search: linear over all districts)."""
    items = [(str(c).removeprefix("contribution_"), float(row[c])) for c in row.index
             if str(c).startswith("contribution_") and np.isfinite(row[c])]
    items.sort(key=lambda item: -item[1])
    return [item for item in items[:top] if item[1] > 0]
