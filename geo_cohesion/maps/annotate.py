"""District names and significance outlines on the print maps.

:func:`draw_district_labels` writes each district's name inside its polygon, where it fits at the
printed size, and thins names that would collide:

1. The anchor of a name is the centre of the polygon's largest inscribed circle (the point
   farthest from its border, ``shapely.maximum_inscribed_circle``), so a name never sits outside
   a concave district.
2. Districts are placed largest first. A name is drawn when its text box (estimated from the font
   size and the axes scale) lies inside the district (with a small tolerance) and clear of every
   name placed before; a name that does not fit on one line is tried on two lines.
3. A district whose name does not fit gets a number instead (where the number fits), and the
   numbers are explained in a key table under the map ("1 Hörde · 2 …"). Districts too small
   even for a number are left out; the footer says how many were named.

:func:`draw_significance` outlines in black the districts a deviation layer marks as
significantly above or below the city value (:mod:`geo_cohesion.maps.significance`, the same
adjusted test as the comparison table) and returns the legend entry naming the adjustment.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass

import numpy as np
import shapely
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.patches import Patch, PathPatch
from matplotlib.path import Path as MplPath

from geo_cohesion.labels import label
from geo_cohesion.maps.layers import CityMap, MapLayer
from geo_cohesion.maps.significance import significance_legend

#: Font size of district names on A4 print maps (points).
LABEL_FONTSIZE = 6.5
#: Average advance of a DejaVu Sans character in ems (widths are estimated, not measured, so
#: placement is fast and the same on every machine).
CHAR_EM = 0.6
#: Most numbered districts listed in the key table; beyond that small districts stay unnamed.
MAX_KEY_ROWS = 60
#: Outline of significantly deviating districts.
SIGNIFICANCE_COLOUR = "#000000"
SIGNIFICANCE_WIDTH = 1.6


@dataclass(frozen=True)
class PlacedLabels:
    """What :func:`draw_district_labels` drew.

    Attributes
    ----------
    named : list of int
        Rows of ``city_map.boundaries`` whose name is on the map.
    numbered : list of tuple of (int, int)
        ``(number, row)`` of districts shown with a number and listed in the key table.
    total : int
        Districts of the map.
    """

    named: list[int]
    numbered: list[tuple[int, int]]
    total: int

    def key_table(self, city_map: CityMap) -> str:
        """``"1 Hörde · 2 Aplerbeck …"``: the numbers on the map and their names."""
        names = city_map.boundaries["district_name"].astype(str).tolist()
        return " · ".join(f"{number} {names[row]}" for number, row in self.numbered)

    def footer_lines(self, city_map: CityMap, width: int = 150) -> list[str]:
        """Footer lines: the key table and, when not every district is named, how many are."""
        lines = []
        if self.numbered:
            lines.append(self.key_table(city_map))
        if len(self.named) < self.total:
            lines.append(label("figure.labels_thinned", city_map.lang, shown=len(self.named), total=self.total))
        return lines


def _box(x: float, y: float, width: float, height: float) -> shapely.Polygon:
    return shapely.box(x - width / 2, y - height / 2, x + width / 2, y + height / 2)


def _two_lines(name: str) -> str | None:
    """The name broken once at a space or hyphen near its middle (None if it has neither)."""
    cuts = [i for i, ch in enumerate(name) if ch in " -/"]
    if not cuts:
        return None
    cut = min(cuts, key=lambda i: abs(i - len(name) / 2))
    return name[: cut + 1].rstrip() + "\n" + name[cut + 1:].lstrip()


def draw_district_labels(ax: Axes, city_map: CityMap, fontsize: float = LABEL_FONTSIZE) -> PlacedLabels:
    """Write district names (or numbers) inside the districts of an already drawn map.

    Parameters
    ----------
    ax : Axes
        The map axes, with its final position and data limits (equal aspect).
    city_map : CityMap
        Boundaries in a metric CRS.
    fontsize : float
        Font size of the names in points.

    Returns
    -------
    PlacedLabels
        Which districts are named and which numbered (for the key table and the footer).
    """
    geoms = np.asarray(city_map.boundaries.geometry.values)
    names = city_map.boundaries["district_name"].astype(str).tolist()
    x0, x1 = ax.get_xlim()
    fig = ax.figure
    width_pt = ax.get_position().width * fig.get_figwidth() * 72
    unit = (x1 - x0) / width_pt  # metres per point
    em, line = fontsize * unit, 1.2 * fontsize * unit
    circles = shapely.maximum_inscribed_circle(geoms, tolerance=None) if len(geoms) else []
    anchors = [shapely.get_coordinates(c)[0] for c in circles]
    order = sorted(range(len(geoms)), key=lambda i: (-float(geoms[i].area), i))
    placed: list[shapely.Polygon] = []
    named: list[int] = []
    small: list[int] = []
    halo = [patheffects.withStroke(linewidth=1.8, foreground="white")]
    tolerance = 0.25 * line

    def fits(box: shapely.Polygon, i: int) -> bool:
        return geoms[i].buffer(tolerance).contains(box) and not any(box.intersects(p) for p in placed)

    for i in order:
        x, y = anchors[i]
        for text in (names[i], _two_lines(names[i])):
            if text is None:
                continue
            rows = text.split("\n")
            box = _box(x, y, max(len(r) for r in rows) * CHAR_EM * em, len(rows) * line)
            if fits(box, i):
                placed.append(box)
                named.append(i)
                ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, color="#222222",
                        linespacing=1.0, path_effects=halo, zorder=4, gid=f"district_label_{i}")
                break
        else:
            small.append(i)
    numbered: list[tuple[int, int]] = []
    if len(small) <= MAX_KEY_ROWS:
        for i in sorted(small, key=lambda i: names[i]):
            number = str(len(numbered) + 1)
            x, y = anchors[i]
            box = _box(x, y, len(number) * CHAR_EM * em, line)
            if fits(box, i):
                placed.append(box)
                numbered.append((len(numbered) + 1, i))
                ax.text(x, y, number, ha="center", va="center", fontsize=fontsize, fontweight="bold",
                        color="#222222", path_effects=halo, zorder=4, gid=f"district_number_{i}")
    return PlacedLabels(sorted(named), numbered, len(geoms))


def draw_significance(ax: Axes, city_map: CityMap, layer: MapLayer) -> tuple[Patch, str] | None:
    """Outline the districts that differ significantly from the city value.

    Returns
    -------
    (Patch, str) or None
        The legend handle and text naming the test (e.g. Holm-Korrektur, α = 0,05); None when
        the layer has no significance markers.
    """
    if layer.significance is None or not layer.significance_note:
        return None
    marked = np.flatnonzero(np.nan_to_num(np.asarray(layer.significance, dtype=float)) != 0)
    paths = []
    for i in marked:
        geom = city_map.boundaries.geometry.iloc[int(i)]
        rings = [MplPath(np.asarray(r.coords)[:, :2], closed=True)
                 for p in getattr(geom, "geoms", [geom]) for r in [p.exterior, *p.interiors]]
        paths.append(MplPath.make_compound_path(*rings))
    outlines = PatchCollection([PathPatch(p) for p in paths], facecolors="none", edgecolors=SIGNIFICANCE_COLOUR,
                               linewidths=SIGNIFICANCE_WIDTH, zorder=3)
    outlines.set_gid("significant")
    ax.add_collection(outlines, autolim=False)
    handle = Patch(facecolor="white", edgecolor=SIGNIFICANCE_COLOUR, linewidth=SIGNIFICANCE_WIDTH)
    return handle, textwrap.fill(significance_legend(layer.significance_note, city_map.lang), 40)
