"""Classes and colours for maps: one place for classification, palettes and legend labels.

Classification is delegated to mapclassify; this module only chooses the classifier, handles
missing and suppressed values, and pairs classes with colour-blind-safe ColorBrewer palettes.
The HTML map and the print figures both call :func:`classify_values`, so they always show the
same classes in the same colours.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import mapclassify
import numpy as np

from geo_cohesion.errors import InputError
from geo_cohesion.labels import DEFAULT_LANG, label
from geo_cohesion.settings import SCHEMES

#: ColorBrewer sequential palettes (colour-blind safe), 3 to 7 classes (colorbrewer2.org, Brewer 2003).
SEQUENTIAL = {
    "YlGnBu": {3: ["#edf8b1", "#7fcdbb", "#2c7fb8"],
               4: ["#ffffcc", "#a1dab4", "#41b6c4", "#225ea8"],
               5: ["#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494"],
               6: ["#ffffcc", "#c7e9b4", "#7fcdbb", "#41b6c4", "#2c7fb8", "#253494"],
               7: ["#ffffcc", "#c7e9b4", "#7fcdbb", "#41b6c4", "#1d91c0", "#225ea8", "#0c2c84"]},
    "OrRd": {3: ["#fee8c8", "#fdbb84", "#e34a33"],
             4: ["#fef0d9", "#fdcc8a", "#fc8d59", "#d7301f"],
             5: ["#fef0d9", "#fdcc8a", "#fc8d59", "#e34a33", "#b30000"],
             6: ["#fef0d9", "#fdd49e", "#fdbb84", "#fc8d59", "#e34a33", "#b30000"],
             7: ["#fef0d9", "#fdd49e", "#fdbb84", "#fc8d59", "#ef6548", "#d7301f", "#990000"]},
    "Purples": {3: ["#efedf5", "#bcbddc", "#756bb1"],
                4: ["#f2f0f7", "#cbc9e2", "#9e9ac8", "#6a51a3"],
                5: ["#f2f0f7", "#cbc9e2", "#9e9ac8", "#756bb1", "#54278f"],
                6: ["#f2f0f7", "#dadaeb", "#bcbddc", "#9e9ac8", "#756bb1", "#54278f"],
                7: ["#f2f0f7", "#dadaeb", "#bcbddc", "#9e9ac8", "#807dba", "#6a51a3", "#4a1486"]},
}
#: ColorBrewer diverging palettes (colour-blind safe), odd class counts centred on the middle class.
DIVERGING = {
    "PuOr": {3: ["#f1a340", "#f7f7f7", "#998ec3"],
             5: ["#e66101", "#fdb863", "#f7f7f7", "#b2abd2", "#5e3c99"],
             7: ["#b35806", "#f1a340", "#fee0b6", "#f7f7f7", "#d8daeb", "#998ec3", "#542788"]},
    "RdBu": {3: ["#ef8a62", "#f7f7f7", "#67a9cf"],
             5: ["#ca0020", "#f4a582", "#f7f7f7", "#92c5de", "#0571b0"],
             7: ["#b2182b", "#ef8a62", "#fddbc7", "#f7f7f7", "#d1e5f0", "#67a9cf", "#2166ac"]},
}
#: Colour for districts without data and for suppressed estimates.
NO_DATA_COLOUR = "#d9d9d9"
#: Fixed bands on the 0-100 Radar scale.
FIXED_BANDS = (40.0, 50.0, 60.0, 70.0, 80.0, 100.0)


@dataclass(frozen=True)
class Classification:
    """Classes of one map layer.

    Attributes
    ----------
    bins : tuple of float
        Upper bounds of the classes (mapclassify convention).
    lower : float
        Lower bound of the first class (minimum of the data, or 0 for fixed bands).
    class_index : ndarray of int
        Class per value; -1 for missing/suppressed.
    colours : tuple of str
        Hex colour per class.
    labels : tuple of str
        Legend label per class ("50,0 – 55,3", German decimal comma; one number, "64,4", for a
        class that holds a single value).
    scheme : str
    requested : int
        Classes asked for (``k``) by a data-driven scheme; fewer ``bins`` mean the classes
        collapsed on too few distinct values (see :meth:`legend_notes`). 0 for fixed, user,
        diverging and categorical classes.
    """

    bins: tuple[float, ...]
    lower: float
    class_index: np.ndarray
    colours: tuple[str, ...]
    labels: tuple[str, ...]
    scheme: str
    requested: int = 0

    @property
    def collapsed(self) -> bool:
        """True when fewer classes were possible than requested."""
        return 0 < len(self.bins) < self.requested

    def legend_notes(self, lang: str = DEFAULT_LANG) -> list[str]:
        """Plain sentences under the legend: collapsed classes ("nur 2 statt 5 Klassen: zu wenige
        verschiedene Werte") and mostly missing values ("nur 3 von 20 Gebieten mit Wert")."""
        notes = []
        if self.collapsed:
            notes.append(label("legend.collapsed", lang, classes=len(self.bins), requested=self.requested))
        shown, total = int((self.class_index >= 0).sum()), int(self.class_index.size)
        if total and shown * 2 < total:
            notes.append(label("legend.mostly_missing", lang, shown=shown, total=total))
        return notes

    def colour_of(self, i: int) -> str:
        """Colour for a class index (the no-data grey for -1)."""
        return NO_DATA_COLOUR if i < 0 else self.colours[i]


def format_number(value: float, decimals: int = 1) -> str:
    """German number format: decimal comma, no thousands separator for small numbers."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\u2009").replace(".", ",").replace("\u2009", ".")


def _palette(name: str, k: int, diverging: bool) -> list[str]:
    table = DIVERGING if diverging else SEQUENTIAL
    if name not in table:
        raise InputError(f"unknown palette {name!r}", hint=f"choose one of {', '.join(table)}")
    sizes = sorted(table[name])
    size = min((s for s in sizes if s >= k), default=sizes[-1])
    colours = table[name][size]
    if size == k:
        return list(colours)
    pick = np.round(np.linspace(0, size - 1, k)).astype(int)
    return [colours[i] for i in pick]


def classify_values(values: Sequence[float], scheme: str = "quantiles", k: int = 5,
                    breaks: Sequence[float] | None = None, palette: str | None = None,
                    diverging: bool = False, decimals: int = 1, reverse: bool = False) -> Classification:
    """Classify map values and assign colours.

    Parameters
    ----------
    values : sequence of float
        One value per district; NaN for missing or suppressed (shown grey).
    scheme : {"quantiles", "natural_breaks", "equal_interval", "fixed", "user"}
        mapclassify Quantiles, FisherJenks, EqualInterval; ``fixed`` = bands on the 0-100 scale
        (:data:`FIXED_BANDS`); ``user`` = ``breaks`` (upper bounds).
    k : int
        Number of classes (ignored for ``fixed``/``user``); reduced when there are fewer distinct values.
    breaks : sequence of float, optional
        Upper class bounds for ``scheme="user"``.
    palette : str, optional
        ColorBrewer name; ``YlGnBu`` (sequential) or ``PuOr`` (diverging) by default.
    diverging : bool
        Symmetric classes around 0 with a diverging palette (for deviations from the city value).
    decimals : int
        Decimals in legend labels.
    reverse : bool
        Reverse the palette (the darkest colour on the lowest class), e.g. for indicators
        where lower values are worse.

    Returns
    -------
    Classification
    """
    values = np.asarray(values, dtype=float)
    valid = ~np.isnan(values)
    data = values[valid]
    if scheme not in SCHEMES:
        raise InputError(f"unknown classification scheme {scheme!r}", hint=f"choose one of {', '.join(SCHEMES)}")
    if data.size == 0:
        return Classification((), 0.0, np.full(values.size, -1), (), (), scheme)
    if diverging:
        k = k if k % 2 == 1 else k + 1
        k = min(k, 7)
        reach = float(np.max(np.abs(data))) or 1.0
        edges = np.linspace(-reach, reach, k + 1)
        classifier = mapclassify.UserDefined(data, bins=list(edges[1:]))
        lower = float(edges[0])
    elif scheme == "fixed":
        bands = list(FIXED_BANDS[:-1]) + [max(FIXED_BANDS[-1], float(data.max()))]
        classifier = mapclassify.UserDefined(data, bins=bands)
        lower = 0.0
    elif scheme == "user":
        if not breaks:
            raise InputError("scheme 'user' needs breaks", hint="give upper class bounds, e.g. 50,60,70,100")
        bounds = sorted(float(b) for b in breaks)
        if bounds[-1] < data.max():
            bounds.append(float(data.max()))
        classifier = mapclassify.UserDefined(data, bins=bounds)
        lower = float(min(data.min(), bounds[0]))
    else:
        distinct = np.unique(data).size
        k_eff = max(1, min(k, distinct))
        if k_eff == 1:
            classifier = mapclassify.UserDefined(data, bins=[float(data.max())])
        else:
            cls = {"quantiles": mapclassify.Quantiles, "natural_breaks": mapclassify.FisherJenks,
                   "equal_interval": mapclassify.EqualInterval}[scheme]
            with warnings.catch_warnings():  # ties: fewer classes than asked (the legend says so, below);
                warnings.filterwarnings("ignore", message="Not enough unique values", category=UserWarning)
                # FisherJenks without numba is exact, only slower (districts are few)
                warnings.filterwarnings("ignore", message="Numba not installed", category=UserWarning)
                classifier = cls(data, k=k_eff)
        lower = float(data.min())
    bins = tuple(float(b) for b in classifier.bins)
    classes = np.asarray(classifier.yb, dtype=int)
    requested = 0
    if not diverging and scheme in ("quantiles", "natural_breaks", "equal_interval"):
        requested = k
        if scheme != "equal_interval":  # ties leave data-driven classes empty: drop them
            used = np.unique(classes)
            if used.size < len(bins):
                bins = tuple(bins[i] for i in used)
                classes = np.searchsorted(used, classes)
    index = np.full(values.size, -1, dtype=int)
    index[valid] = classes
    colours = _palette(palette or ("PuOr" if diverging else "YlGnBu"), len(bins), diverging)
    if reverse:
        colours = colours[::-1]
    edges = [lower, *bins]
    labels = tuple(_range_label(lo, hi, decimals) for lo, hi in zip(edges[:-1], edges[1:]))
    return Classification(bins, lower, index, tuple(colours), labels, "diverging" if diverging else scheme,
                          requested)


def _range_label(low: float, high: float, decimals: int) -> str:
    """``"50,0 – 55,3"``, or one number when both ends print the same (no "64,4 – 64,4")."""
    low_text, high_text = format_number(low, decimals), format_number(high, decimals)
    return low_text if low_text == high_text else f"{low_text} – {high_text}"


def categorical(class_index: Sequence[int], labels: Sequence[str], colours: Sequence[str],
                scheme: str = "categorical") -> Classification:
    """A classification of categories (LISA clusters, bivariate classes): index -1 = no data."""
    if len(labels) != len(colours):
        raise ValueError("one colour per label")
    return Classification(tuple(float(i) for i in range(len(labels))), 0.0, np.asarray(class_index, dtype=int),
                          tuple(colours), tuple(labels), scheme)
