"""Score: survey items -> 0-100 item scores -> 9 dimensions -> 3 domains -> overall index.

Rules (Radar gesellschaftlicher Zusammenhalt):

* an answer ``x`` on a scale ``[lo, hi]`` becomes ``100 * (x - lo) / (hi - lo)``; reversed
  items become ``100`` minus that;
* missing codes ("weiß nicht", "keine Angabe") and empty cells are missing;
* a dimension is the mean of its valid item scores if at least ``Codebook.min_valid`` items
  are valid, else missing;
* a domain is the mean of its three dimensions (missing if any is missing);
* the index is the mean of the nine dimensions (missing if any is missing).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from geo_cohesion.errors import InputError
from geo_cohesion.io.tables import row_ref
from geo_cohesion.radar.codebook import MISSING_TEXTS, Codebook, load_radar


def _item_values(answers: pd.DataFrame, item) -> np.ndarray:
    """Numeric answers of one item with missing codes/texts as NaN; errors name bad cells."""
    column = answers[item.item]
    if pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(dtype=float)
    else:
        text = column.astype("string").str.strip()
        is_missing_text = text.str.lower().isin(MISSING_TEXTS) | (text == "")
        values = pd.to_numeric(text.where(~is_missing_text).str.replace(",", ".", regex=False),
                               errors="coerce").to_numpy(dtype=float)
        bad = np.isnan(values) & text.notna().to_numpy() & ~is_missing_text.fillna(False).to_numpy()
        if bad.any():
            example = column[bad].iloc[0]
            raise InputError(f"answer {example!r} to item '{item.item}' is not a number",
                             row_ref(answers, answers.index[bad], item.item),
                             "code answers as numbers; use the codebook's missing codes for "
                             "'weiß nicht'/'keine Angabe'")
    _refuse_labelled_missing_inside_scale(answers, item, values)
    if item.missing_codes:
        values = np.where(np.isin(values, list(item.missing_codes)), np.nan, values)
    outside = ~np.isnan(values) & ((values < item.scale_min) | (values > item.scale_max)
                                   | (values != np.round(values)))
    if outside.any():
        example = values[outside][0]
        codes = ", ".join(f"{c:g}" for c in sorted(item.missing_codes)) or "none"
        raise InputError(
            f"answer {example:g} to item '{item.item}' is outside its scale "
            f"{item.scale_min:g}–{item.scale_max:g} (missing codes: {codes})",
            row_ref(answers, answers.index[outside], item.item),
            "correct the answers or the item's scale/missing codes in the codebook")
    return values


def _refuse_labelled_missing_inside_scale(answers: pd.DataFrame, item, values: np.ndarray) -> None:
    """An SPSS value label says a code inside the item's scale means "weiß nicht"/"keine Angabe".

    Such a code would be scored as a valid answer (e.g. 5 = "weiß nicht" on an item the codebook
    gives a 1–5 scale, while the answers run 1–4); the codebook and the data disagree.
    """
    labels = (answers.attrs.get("value_labels") or {}).get(item.item) or {}
    for code, text in labels.items():
        if not isinstance(code, (int, float)) or not str(text).strip().lower().startswith(tuple(MISSING_TEXTS)):
            continue
        if item.scale_min <= code <= item.scale_max and code not in item.missing_codes and (values == code).any():
            raise InputError(
                f"code {code:g} of item '{item.item}' is labelled {str(text)!r} in the survey file, but lies inside "
                f"the item's scale {item.scale_min:g}–{item.scale_max:g}, so it would count as an answer",
                row_ref(answers, answers.index[values == code], item.item),
                "correct the item's scale_min/scale_max in the codebook, or declare the code as a missing value "
                "in the SPSS file")


def item_scores(answers: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Rescale every codebook item to 0-100 (reversed items flipped), NaN where missing.

    Parameters
    ----------
    answers : DataFrame
        One row per respondent with one column per codebook item.
    codebook : Codebook

    Returns
    -------
    DataFrame
        Same index, one float column per item.

    Raises
    ------
    InputError
        Codebook items missing from the data, non-numeric answers, answers outside the scale.
    """
    absent = [it.item for it in codebook.items if it.item not in answers.columns]
    if absent:
        source = answers.attrs.get("source", "survey data")
        raise InputError(f"codebook item(s) not found in the survey: {', '.join(absent[:10])}"
                         + (f" and {len(absent) - 10} more" if len(absent) > 10 else ""),
                         source, f"check the column names or the codebook ({codebook.source})")
    out = {}
    for item in codebook.items:
        values = _item_values(answers, item)
        scaled = 100.0 * (values - item.scale_min) / (item.scale_max - item.scale_min)
        out[item.item] = 100.0 - scaled if item.reversed else scaled
    return pd.DataFrame(out, index=answers.index)


def _mean_if_complete(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    values = frame[columns].to_numpy(dtype=float)
    return np.where(np.isnan(values).any(axis=1), np.nan, values.mean(axis=1) if values.size else np.nan)


def score_respondents(answers: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Compute the 13 Radar scores (index, 3 domains, 9 dimensions) per respondent.

    Parameters
    ----------
    answers : DataFrame
        Respondent rows with the codebook's item columns.
    codebook : Codebook

    Returns
    -------
    DataFrame
        Columns in :attr:`Radar.variables` order, 0-100, NaN where the rules leave a score missing.
    """
    radar = load_radar()
    items = item_scores(answers, codebook)
    scores = {}
    for dim in radar.dimensions:
        cols = [it.item for it in codebook.items_of(dim.slug)]
        block = items[cols].to_numpy(dtype=float)
        valid = (~np.isnan(block)).sum(axis=1)
        with np.errstate(invalid="ignore"):
            mean = np.nanmean(np.where(valid[:, None] > 0, block, 0.0), axis=1)
        scores[dim.slug] = np.where(valid >= codebook.min_valid(dim.slug), mean, np.nan)
    dims = pd.DataFrame(scores, index=answers.index)
    out = pd.DataFrame(index=answers.index)
    out[radar.index_slug] = _mean_if_complete(dims, [d.slug for d in radar.dimensions])
    for domain in radar.domains:
        out[domain] = _mean_if_complete(dims, radar.dimensions_of(domain))
    for dim in radar.dimensions:
        out[dim.slug] = dims[dim.slug]
    return out
