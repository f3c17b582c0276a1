"""Domain and cell coding shared by calibration and variance estimation: integer codes per
respondent, combined cell ids and column sums by code (``np.bincount``)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def group_codes(*codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Combine non-negative integer code arrays into one group id per row.

    Groups are numbered in lexicographic order of the code tuples (deterministic, independent of
    row order). Returns ``(group id per row, index of the first row of each group)``.
    """
    combined = np.zeros(codes[0].shape[0], dtype=np.int64)
    radix = 1
    for code in reversed(codes):
        size = int(code.max()) + 1 if code.size else 1
        combined += code.astype(np.int64) * radix
        radix *= size
    if radix <= 4 * combined.size + 1_000_000:
        present = np.bincount(combined, minlength=radix) > 0
        ids = np.cumsum(present) - 1
        inverse = ids[combined]
    else:
        _, inverse = np.unique(combined, return_inverse=True)
    inverse = inverse.astype(np.intp)
    first = np.full(int(inverse.max()) + 1 if inverse.size else 0, combined.size, dtype=np.intp)
    np.minimum.at(first, inverse, np.arange(combined.size, dtype=np.intp))
    return inverse, first


def column_sums(codes: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Sum the rows of ``values`` (n, V) by integer ``codes`` into an array (size, V)."""
    values = values.reshape(values.shape[0], -1)
    return np.column_stack([np.bincount(codes, weights=values[:, v], minlength=size)
                            for v in range(values.shape[1])]) if values.shape[1] else np.empty((size, 0))


def category_codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes (categories sorted as text) and the category list; one place for all coding."""
    codes, categories = pd.factorize(values.astype(str), sort=True)
    return codes.astype(np.intp), list(categories)
