"""Charts of the reports (matplotlib): radar chart, locator map, interval plots, city comparison.

Every chart is drawn on a :class:`matplotlib.figure.Figure` (no pyplot) inside the print
figures' fixed style (:mod:`geo_cohesion.maps.figures`) and returned as SVG bytes by
:func:`svg_bytes`: text stays text (searchable in the PDF), fixed hash salt and no date, so the
same data give byte-identical images.
"""
from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch, Polygon

from geo_cohesion.maps.classify import format_number
from geo_cohesion.maps.figures import (
    INK,
    _clean_axes,
    _fit_extent,
    _geometry_path,
    _padded_extent,
    _style,
    draw_scale_bar,
)
from geo_cohesion.maps.layers import CityMap

#: Colours of the reports (ColorBrewer Blues/Greys; significance in PuOr ends, colour-blind safe).
DISTRICT_COLOUR = "#08519c"
BAND_COLOUR = "#9ecae1"
CITY_COLOUR = "#636363"
BELOW_COLOUR = "#e66101"
ABOVE_COLOUR = "#5e3c99"
NEUTRAL_COLOUR = "#969696"
LOCATOR_OTHER = "#e0e0e0"
#: Colours of the cities in cross-city charts (ColorBrewer Dark2).
CITY_PALETTE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")
#: Font of SVG text: DejaVu Sans (typst has it from matplotlib), then fallbacks for browsers.
FONT_STACK = b"font-family: 'DejaVu Sans', Verdana, Arial, sans-serif"
#: Line styles of the reference values (Germany, Länder).
REFERENCE_STYLES = ("-", (0, (4, 2)), (0, (1, 1.5)), (0, (4, 1.5, 1, 1.5)), (0, (2, 3)))


def svg_bytes(fig: Figure, close: bool = True) -> bytes:
    """The figure as reproducible SVG whose text stays text.

    Text is written as SVG text in DejaVu Sans (searchable in the PDF, where typst renders it with
    the same font), with Verdana/Arial/sans-serif as fallbacks for browsers without DejaVu Sans.

    Parameters
    ----------
    fig : Figure
    close : bool
        Free the figure's artists afterwards.
    """
    buffer = io.BytesIO()
    with _style(), matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "geo-cohesion-report"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, facecolor="white")
    if close:
        fig.clear()
    return buffer.getvalue().replace(b"font-family: 'DejaVu Sans'", FONT_STACK)


def plain(text: object) -> str:
    """User text shown literally by matplotlib (``$`` would start mathtext)."""
    return str(text).replace("$", r"\$")


def _wrap(label: str, width: int = 16) -> str:
    return "\n".join(textwrap.wrap(label, width, break_long_words=False)) or label


def _radial_limits(values: Sequence[float]) -> tuple[float, float]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return 0.0, 100.0
    low = max(0.0, math.floor((min(finite) - 5) / 10) * 10)
    high = min(100.0, math.ceil((max(finite) + 5) / 10) * 10)
    return low, max(high, low + 20)


class RadarChart:
    """Spider chart of the 9 dimensions: a district with its intervals against the city value.

    The web, labels and city line are drawn once (per city); :meth:`svg` then draws one district
    after the other into the same figure, which is several times faster than a new figure each.
    Drawn in plain Cartesian axes (a web of 9-gons), which renders much faster than a polar
    projection.

    Parameters
    ----------
    labels : sequence of str
        Axis labels (dimension names), clockwise from the top.
    city : sequence of float
        City value per axis (NaN where unknown).
    city_label : str
        Legend entry of the city line.
    level_label : str
        Legend entry of the interval band (``"95-%-KI"``).
    limits : (float, float)
        Inner and outer value of the radial scale (the same for all districts of a city, so
        their charts compare); see :func:`radial_limits`.
    """

    def __init__(self, labels: Sequence[str], city: Sequence[float], city_label: str, level_label: str,
                 limits: tuple[float, float]) -> None:
        self.k = len(labels)
        self.r0, self.r1 = limits
        angle = np.pi / 2 - np.linspace(0, 2 * np.pi, self.k, endpoint=False)  # clockwise from the top
        self._ux, self._uy = np.cos(angle), np.sin(angle)
        city = np.asarray(city, dtype=float)
        with _style():
            self.figure = fig = Figure(figsize=(3.8, 3.7))
            ax = self._ax = fig.add_axes((0.2, 0.16, 0.6, 0.66))
            ax.set_xlim(-1.02, 1.02)
            ax.set_ylim(-1.02, 1.02)
            ax.set_aspect("equal")
            ax.set_axis_off()
            for tick in np.arange(math.ceil(self.r0 / 10) * 10, self.r1 + 0.01, 10):
                ax.plot(*self._xy(np.full(self.k, tick)), color="#d9d9d9", linewidth=0.6, zorder=0)
                ax.text(0.02, (tick - self.r0) / (self.r1 - self.r0) + 0.01, f"{tick:g}", fontsize=5.5,
                        color="#8c8c8c", zorder=0)
            for x, y in zip(self._ux, self._uy):
                ax.plot([0, x], [0, y], color="#d9d9d9", linewidth=0.6, zorder=0)
            for x, y, label in zip(self._ux, self._uy, labels):
                ha = "center" if abs(x) < 0.2 else ("left" if x > 0 else "right")
                va = "bottom" if y > 0.5 else ("top" if y < -0.5 else "center")
                ax.text(1.07 * x, 1.07 * y, _wrap(label, 15), fontsize=6.5, ha=ha, va=va, linespacing=1.05,
                        clip_on=False)
            if np.isfinite(city).all():
                ax.plot(*self._xy(city), color=CITY_COLOUR, linewidth=1.1, linestyle="--", zorder=2)
            self._band = Polygon(np.zeros((3, 2)), closed=True, facecolor=BAND_COLOUR, alpha=0.55, linewidth=0,
                                 zorder=1)
            ax.add_patch(self._band)
            self._ticks = [ax.plot([], [], color=BAND_COLOUR, linewidth=4, solid_capstyle="butt", zorder=1)[0]
                           for _ in range(self.k)]
            self._line = ax.plot([], [], color=DISTRICT_COLOUR, linewidth=1.5, zorder=3)[0]
            self._markers = [ax.plot([], [], marker="o", markersize=5, markeredgewidth=1.2, linestyle="none",
                                     zorder=4)[0] for _ in range(self.k)]
            handles = [
                Line2D([], [], color=DISTRICT_COLOUR, linewidth=1.5, marker="o", markerfacecolor="white",
                       markersize=4, label="Gebiet"),
                Patch(facecolor=BAND_COLOUR, alpha=0.55, label=level_label),
                Line2D([], [], color=CITY_COLOUR, linestyle="--", linewidth=1.1,
                       label=plain(_truncate(city_label, 32))),
                Line2D([], [], color=BELOW_COLOUR, marker="o", markersize=4, linestyle="none",
                       label="signifikant darunter"),
                Line2D([], [], color=ABOVE_COLOUR, marker="o", markersize=4, linestyle="none",
                       label="signifikant darüber")]
            fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=6, frameon=False,
                       bbox_to_anchor=(0.5, 0.0), handlelength=1.6, columnspacing=1.0, labelspacing=0.25)
            self._title = fig.text(0.99, 0.99, "", fontsize=7, fontweight="bold", ha="right", va="top")
            fig.text(0.01, 0.99, f"Skala {self.r0:g}–{self.r1:g} Punkte (Mitte = {self.r0:g})", fontsize=5.5,
                     color="#737373", va="top")

    def _xy(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        radius = (np.clip(values, self.r0, self.r1) - self.r0) / (self.r1 - self.r0)
        return np.r_[radius * self._ux, radius[:1] * self._ux[:1]], np.r_[radius * self._uy, radius[:1] * self._uy[:1]]

    def draw(self, value: Sequence[float], low: Sequence[float], high: Sequence[float], direction: Sequence[int],
             label: str) -> Figure:
        """Draw one district (replacing the previous one) and return the figure.

        Parameters
        ----------
        value, low, high : sequence of float
            District estimate and interval per axis (NaN where suppressed).
        direction : sequence of int
            Per axis: -1 significantly below the city value, +1 above, 0 not significant or untested.
        label : str
            District name (top right of the chart).
        """
        value, low, high = (np.asarray(x, dtype=float) for x in (value, low, high))
        ok = np.isfinite(low) & np.isfinite(high)
        if ok.all():
            lx, ly = self._xy(low)
            hx, hy = self._xy(high)
            self._band.set_xy(np.column_stack([np.r_[hx, lx[::-1]], np.r_[hy, ly[::-1]]]))
            self._band.set_visible(True)
        else:
            self._band.set_visible(False)
        for tick, x, y, lo, hi, good in zip(self._ticks, self._ux, self._uy, low, high, ok):
            if good and not ok.all():
                a, b = ((lo - self.r0) / (self.r1 - self.r0), (hi - self.r0) / (self.r1 - self.r0))
                tick.set_data([a * x, b * x], [a * y, b * y])
            else:
                tick.set_data([], [])
        if np.isfinite(value).all():
            self._line.set_data(*self._xy(value))
        else:
            self._line.set_data([], [])
        px, py = self._xy(value)
        for marker, x, y, v, d in zip(self._markers, px, py, value, direction):
            if not math.isfinite(v):
                marker.set_data([], [])
                continue
            colour = BELOW_COLOUR if d < 0 else ABOVE_COLOUR if d > 0 else DISTRICT_COLOUR
            marker.set_data([x], [y])
            marker.set_color(colour)
            marker.set_markerfacecolor(colour if d else "white")
        self._title.set_text(plain(_truncate(label, 40)))
        return self.figure

    def svg(self, value: Sequence[float], low: Sequence[float], high: Sequence[float], direction: Sequence[int],
            label: str) -> bytes:
        """:meth:`draw` one district and return the chart as SVG (:func:`svg_bytes`)."""
        return svg_bytes(self.draw(value, low, high, direction, label), close=False)

    def close(self) -> None:
        """Free the figure."""
        self.figure.clear()


def radar_chart(labels: Sequence[str], value: Sequence[float], low: Sequence[float], high: Sequence[float],
                city: Sequence[float], direction: Sequence[int], district_label: str, city_label: str,
                level_label: str = "95-%-KI", limits: tuple[float, float] | None = None) -> Figure:
    """One spider chart (see :class:`RadarChart`); ``limits`` default to round values around the data."""
    limits = limits or _radial_limits([*value, *low, *high, *city])
    chart = RadarChart(labels, city, city_label, level_label, limits)
    return chart.draw(value, low, high, direction, district_label)


def radial_limits(values: Sequence[float]) -> tuple[float, float]:
    """Round inner and outer values of a radar scale around ``values`` (public for shared city limits)."""
    return _radial_limits(values)


@dataclass
class LocatorMap:
    """A city map drawn once; :meth:`svg` highlights one district per call (fast for many profiles).

    Parameters
    ----------
    city_map : CityMap
        Boundaries (metric CRS) of the city.
    size : float
        Width and height in inches.
    """

    city_map: CityMap
    size: float = 2.6

    def __post_init__(self) -> None:
        self._ids = self.city_map.boundaries["district_id"].astype(str).tolist()
        with _style():
            self._fig = Figure(figsize=(self.size, self.size))
            ax = self._fig.add_axes((0.02, 0.02, 0.96, 0.96))
            paths = [_geometry_path(g) for g in self.city_map.boundaries.geometry]
            self._patches = PatchCollection([PathPatch(p) for p in paths], facecolors=LOCATOR_OTHER,
                                            edgecolors="white", linewidths=0.6, zorder=1)
            ax.add_collection(self._patches, autolim=False)
            _fit_extent(ax, self.city_map)
            _clean_axes(ax)
            draw_scale_bar(ax, fontsize=6, extent=_padded_extent(self.city_map))

    def svg(self, district_id: str) -> bytes:
        """SVG of the city with ``district_id`` highlighted (all others light grey)."""
        colours = [DISTRICT_COLOUR if d == str(district_id) else LOCATOR_OTHER for d in self._ids]
        self._patches.set_facecolors(colours)
        return svg_bytes(self._fig, close=False)

    def close(self) -> None:
        """Free the figure."""
        self._fig.clear()


def interval_chart(names: Sequence[str], value: Sequence[float], low: Sequence[float], high: Sequence[float],
                   reference: float | None, direction: Sequence[int], reference_label: str, unit: str = "Punkte",
                   title: str = "") -> Figure:
    """Districts sorted by value, each with its interval, against a reference line (the city value).

    Parameters
    ----------
    names : sequence of str
    value, low, high : sequence of float
        Estimate and interval per district (NaN: left out).
    reference : float, optional
        Vertical reference line (city value).
    direction : sequence of int
        -1/0/+1: significantly below / not significant / above (colours).
    reference_label : str
    unit : str
        x-axis unit.
    title : str
    """
    rows = [(n, v, lo, hi, d) for n, v, lo, hi, d in zip(names, value, low, high, direction)
            if v is not None and math.isfinite(v)]
    rows.sort(key=lambda r: r[1])
    height = max(2.2, 0.6 + 0.2 * len(rows))
    with _style():
        fig = Figure(figsize=(7.0, height))
        ax = fig.add_axes((0.3, 0.55 / height + 0.02, 0.66, 1 - (0.95 / height)))
        y = np.arange(len(rows))
        for i, (_, v, lo, hi, d) in enumerate(rows):
            colour = BELOW_COLOUR if d < 0 else ABOVE_COLOUR if d > 0 else NEUTRAL_COLOUR
            if math.isfinite(lo) and math.isfinite(hi):
                ax.plot([lo, hi], [i, i], color=colour, linewidth=1.6, alpha=0.6)
            ax.plot([v], [i], marker="o", color=colour, markersize=4.5)
        ax.set_yticks(y, [plain(_truncate(r[0], 38)) for r in rows], fontsize=7)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        if reference is not None and math.isfinite(reference):
            ax.axvline(reference, color=CITY_COLOUR, linestyle="--", linewidth=1)
        ax.set_xlabel(unit, fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: format_number(x, 0)))
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="x", color="#eeeeee", linewidth=0.6)
        handles = [Line2D([], [], color=CITY_COLOUR, linestyle="--", label=plain(reference_label)),
                   Patch(color=BELOW_COLOUR, label="signifikant darunter"),
                   Patch(color=NEUTRAL_COLOUR, label="nicht signifikant"),
                   Patch(color=ABOVE_COLOUR, label="signifikant darüber")]
        fig.legend(handles=handles, loc="upper right", ncol=4, fontsize=6.5, frameon=False,
                   bbox_to_anchor=(0.98, 1.0))
        if title:
            fig.text(0.02, 1 - 0.12 / height, plain(title), fontsize=9, fontweight="bold", va="top")
    return fig


def city_comparison_chart(labels: Sequence[str], cities: Sequence[str], value: np.ndarray, low: np.ndarray,
                          high: np.ndarray, references: Sequence[tuple[str, float]] = (),
                          highlight: str | None = None) -> Figure:
    """Index and dimensions per city as dots with intervals; reference values as lines on the index row.

    Parameters
    ----------
    labels : sequence of str
        Row labels (index first, then the dimensions).
    cities : sequence of str
    value, low, high : ndarray
        Shape ``(len(labels), len(cities))``.
    references : sequence of (str, float)
        Reference values of the index (Germany, Länder), drawn as short vertical lines on the first row.
    highlight : str, optional
        City drawn larger (the city of the report).
    """
    value, low, high = (np.asarray(a, dtype=float) for a in (value, low, high))
    rows, n_cities = value.shape
    with _style():
        bottom = 0.95 if references else 0.55
        fig = Figure(figsize=(7.2, bottom + 0.4 * rows + 0.45))
        height = fig.get_size_inches()[1]
        ax = fig.add_axes((0.3, bottom / height, 0.66, 1 - (bottom + 0.4) / height))
        offsets = (np.arange(n_cities) - (n_cities - 1) / 2) * min(0.16, 0.7 / max(n_cities, 1))
        for j, city in enumerate(cities):
            colour = CITY_PALETTE[j % len(CITY_PALETTE)]
            size = 5.5 if city == highlight else 4
            for i in range(rows):
                yy = rows - 1 - i + offsets[j]
                if math.isfinite(low[i, j]) and math.isfinite(high[i, j]):
                    ax.plot([low[i, j], high[i, j]], [yy, yy], color=colour, linewidth=1.2, alpha=0.7)
                if math.isfinite(value[i, j]):
                    ax.plot([value[i, j]], [yy], marker="o", markersize=size, color=colour,
                            markeredgecolor=INK if city == highlight else colour, markeredgewidth=0.8)
        ref_handles = []
        for k, (name, ref) in enumerate(references):
            style = REFERENCE_STYLES[k % len(REFERENCE_STYLES)]
            ax.plot([ref, ref], [rows - 1.45, rows - 0.55], color="#252525", linewidth=1.0, linestyle=style)
            ref_handles.append(Line2D([], [], color="#252525", linewidth=1.0, linestyle=style,
                                      label=f"{plain(_truncate(name, 26))} {format_number(ref, 2)}"))
        ax.set_yticks(np.arange(rows)[::-1], [_wrap(lab, 30) for lab in labels], fontsize=7)
        ax.set_ylim(-0.6, rows - 0.4)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_xlabel("Punkte (0–100)", fontsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="x", color="#eeeeee", linewidth=0.6)
        handles = [Line2D([], [], color=CITY_PALETTE[j % len(CITY_PALETTE)], marker="o", linewidth=1.2,
                          label=plain(c)) for j, c in enumerate(cities)]
        fig.legend(handles=handles, loc="upper center", ncol=min(4, n_cities), fontsize=7, frameon=False,
                   bbox_to_anchor=(0.6, 1.0))
        if ref_handles:
            fig.legend(handles=ref_handles, loc="lower center", ncol=min(4, len(ref_handles)), fontsize=6.5,
                       frameon=False, bbox_to_anchor=(0.55, 0.0), title="Referenzwerte Index (Radar 2017)",
                       title_fontsize=6.5, handlelength=2.4)
    return fig


def _truncate(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"
