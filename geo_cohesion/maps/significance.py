"""Significance markers on the deviation layers, from the same adjusted test as the tables.

The comparison table (:func:`geo_cohesion.stats.compare.deviations_from_city`, written as
``comparison_<city>.csv``) tests every district against the city value and adjusts the p-values
across the districts (Holm or Benjamini-Hochberg, ``compare.adjust``). The maps do not test
again: :func:`add_significance` copies the table's verdict (``significant`` and the sign of
``deviation``) onto the deviation layers, so the map, its tooltips and the table always agree.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from geo_cohesion.labels import label
from geo_cohesion.maps.layers import DEVIATION_SUFFIX, CityMap


def format_alpha(alpha: float, lang: str) -> str:
    """``0,05`` (German) or ``0.05`` (English)."""
    text = f"{alpha:g}"
    return text.replace(".", ",") if lang == "de" else text


def significance_note(adjust: str, alpha: float, lang: str) -> str:
    """Which test marked the districts, e.g. ``"Holm-Korrektur, α = 0,05"``."""
    return label("map.significance_test", lang, adjustment=label(f"adjust.{adjust}", lang),
                 alpha=format_alpha(alpha, lang))


def significance_legend(note: str, lang: str) -> str:
    """Legend text of the markers (black outline), naming the test of ``note``."""
    return label("legend.significant", lang, test=note)


def add_significance(city_map: CityMap, comparison: pd.DataFrame, adjust: str, alpha: float,
                     id_column: str = "district_id") -> int:
    """Mark the districts that differ significantly from the city value on every deviation layer.

    Parameters
    ----------
    city_map : CityMap
        Its deviation layers (``<variable>__deviation``) get ``significance`` (+1 above, -1 below,
        0 not significant, NaN untested: suppressed or no respondents) and ``significance_note``
        (:func:`significance_note`).
    comparison : DataFrame
        The comparison table: ``<id_column>, variable, deviation, p_adjusted, significant``.
    adjust : {"holm", "fdr_bh", "none"}
        The adjustment the table used (``compare.adjust``), named in the legend.
    alpha : float
        The significance level the table used (``compare.alpha``).
    id_column : str
        District (or group) key column of ``comparison``.

    Returns
    -------
    int
        Number of layers marked.
    """
    ids = city_map.boundaries["district_id"].astype(str).tolist()
    note = significance_note(adjust, alpha, city_map.lang)
    marked = 0
    for layer in city_map.layers:
        if layer.kind != "deviation" or not layer.variable.endswith(DEVIATION_SUFFIX):
            continue
        rows = comparison[comparison["variable"] == layer.variable.removesuffix(DEVIATION_SUFFIX)]
        if rows.empty:
            continue
        rows = rows.set_index(rows[id_column].astype(str))
        tested = rows["p_adjusted"].reindex(ids).notna().to_numpy()
        significant = rows["significant"].reindex(ids).fillna(False).astype(bool).to_numpy()
        direction = np.sign(rows["deviation"].reindex(ids).to_numpy(dtype=float))
        layer.significance = np.where(tested, np.where(significant, direction, 0.0), np.nan)
        layer.significance_note = note
        marked += 1
    return marked
