"""Print-ready static maps (PNG, PDF, SVG) of a :class:`~geo_cohesion.maps.layers.CityMap`.

The figures draw EXACTLY the classes and colours stored in each layer's
:class:`~geo_cohesion.maps.classify.Classification` (nothing is reclassified here), so a print map,
the HTML map and the tables always agree. Every figure carries the city map's source and notes
("synthetische Demodaten", "schematische Grenzen – nicht amtlich") in its footer.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot, no GUI, no global
figure registry) inside a fixed style context, so the user's ``matplotlibrc`` does not change
them. :func:`save_figure` writes every format atomically (temporary file + ``os.replace``) and
deterministically: the same input gives byte-identical PNG, PDF and SVG files.
"""
from __future__ import annotations

import contextlib
import math
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.style
import numpy as np
import shapely
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch, PathPatch, Polygon, Rectangle
from matplotlib.path import Path as MplPath

from geo_cohesion.io.write import atomic_path
from geo_cohesion.keys import MAX_SLUG_CHARS, SAFE_SLUG, slugify
from geo_cohesion.labels import format_level, has_label, label
from geo_cohesion.maps.annotate import draw_district_labels, draw_significance
from geo_cohesion.maps.classify import NO_DATA_COLOUR, format_number
from geo_cohesion.maps.encoding import save_format
from geo_cohesion.maps.layers import CityMap, MapLayer, estimator_counts
from geo_cohesion.radar.codebook import load_radar
from geo_cohesion.settings import DEFAULT_FIGURE_FORMATS

__all__ = ["A4_INCHES", "DEFAULT_FORMATS", "file_part", "plot_layer", "plot_small_multiples", "save_figure",
           "write_city_figures"]

#: A4 in inches (portrait width, height).
A4_INCHES: tuple[float, float] = (8.27, 11.69)
DEFAULT_FORMATS: tuple[str, ...] = DEFAULT_FIGURE_FORMATS  # png + pdf, as maps.figure_formats
#: zlib level of PNG files (rows unfiltered, maps/encoding.py): 1 is ~3x faster than 6, files ~35 % larger.
PNG_COMPRESS_LEVEL = 1
#: District outlines (thin, light, so class colours dominate).
OUTLINE_COLOUR = "#ffffff"
#: Hatch lines on districts without (publishable) data.
HATCH = "///"
HATCH_COLOUR = "#8c8c8c"
#: Frame and text colour of map furniture.
INK = "#333333"
#: Fixed style: matplotlib defaults plus our choices, independent of the user's matplotlibrc.
#: ``svg.fonttype = "none"`` keeps SVG text as searchable, editable text (Inkscape);
#: ``svg.hashsalt`` makes SVG element ids reproducible; TrueType (42) fonts keep PDF text editable;
#: ``text.parse_math = False`` renders every text literally.
STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "text.color": INK,
    "axes.edgecolor": "#bdbdbd",
    "hatch.linewidth": 0.6,
    "svg.fonttype": "none",
    "svg.hashsalt": "geo-cohesion",
    "pdf.fonttype": 42,
    "legend.frameon": False,
    "text.parse_math": False,  # user text ("$x$" in a district name) is shown as typed, never parsed
}
#: Metadata entries matplotlib would otherwise fill with a version or a timestamp.
_METADATA: dict[str, dict[str, None]] = {
    "png": {"Software": None},
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
    "svg": {"Date": None, "Creator": None},
}


@contextlib.contextmanager
def _style() -> Iterator[None]:
    """Matplotlib defaults + :data:`STYLE`; global rcParams are restored afterwards."""
    with matplotlib.style.context(["default", STYLE]):
        yield


# --------------------------------------------------------------------------- layout helpers


def _extent(city_map: CityMap) -> tuple[float, float, float, float]:
    """``minx, miny, maxx, maxy`` of the boundaries (metric CRS)."""
    minx, miny, maxx, maxy = (float(v) for v in city_map.boundaries.total_bounds)
    return minx, miny, maxx, maxy


def _is_landscape(city_map: CityMap) -> bool:
    """True when the city is wider than tall."""
    minx, miny, maxx, maxy = _extent(city_map)
    return (maxx - minx) > (maxy - miny)


def paper_size(city_map: CityMap) -> tuple[float, float]:
    """A4 figure size in inches: landscape when the city is wider than tall, else portrait.

    Parameters
    ----------
    city_map : CityMap

    Returns
    -------
    tuple of float
        ``(width, height)`` in inches.
    """
    width, height = A4_INCHES
    return (height, width) if _is_landscape(city_map) else (width, height)


def nice_scale_length(map_width_m: float) -> float:
    """A round scale-bar length (1, 2, 5 × 10^k m) close to a fifth of the map width.

    Parameters
    ----------
    map_width_m : float
        Width of the mapped area in metres.

    Returns
    -------
    float
        Length in metres, between about 1/7 and 1/3 of ``map_width_m`` (closest to 1/4.5 in
        log scale).
    """
    if not map_width_m > 0:
        raise ValueError("map width must be positive")
    target = map_width_m / 4.5
    exponent = math.floor(math.log10(target))
    candidates = [m * 10.0 ** e for e in (exponent - 1, exponent, exponent + 1) for m in (1, 2, 5)]
    return min(candidates, key=lambda c: abs(math.log(c / target)))


def _km_text(metres: float) -> str:
    """``"2,5"`` for 2500 m (decimal comma, no needless decimals)."""
    km = metres / 1000.0
    decimals = 0 if float(km).is_integer() else max(1, -math.floor(math.log10(km - math.floor(km))))
    return format_number(km, decimals)


def _padded_extent(city_map: CityMap, pad: float = 0.04,
                   bottom_band: float = 0.14) -> tuple[float, float, float, float]:
    """City extent plus a margin and a free band below the districts (for scale bar and arrow)."""
    minx, miny, maxx, maxy = _extent(city_map)
    w, h = maxx - minx, maxy - miny
    margin = pad * max(w, h)
    return minx - margin, miny - margin - bottom_band * h, maxx + margin, maxy + margin


def _fit_extent(ax: Axes, city_map: CityMap) -> None:
    """Set equal-aspect limits that show the whole city and fill the axes box exactly.

    A band below the districts (:func:`_padded_extent`) is kept free for the scale bar and the
    north arrow, so they never cover a district.
    """
    x0, y0, x1, y1 = _padded_extent(city_map)
    fig_w, fig_h = ax.figure.get_size_inches()
    box = ax.get_position()
    box_aspect = (box.height * fig_h) / (box.width * fig_w)
    data_w, data_h = x1 - x0, y1 - y0
    if data_h / data_w > box_aspect:
        grow = (data_h / box_aspect - data_w) / 2
        x0, x1 = x0 - grow, x1 + grow
    else:
        grow = (data_w * box_aspect - data_h) / 2
        y0, y1 = y0 - grow, y1 + grow
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal", adjustable="box", anchor="C")


def _clean_axes(ax: Axes) -> None:
    """No ticks, no tick labels, no frame (a map, not a chart)."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


# --------------------------------------------------------------------------- map drawing


def _geometry_path(geom: Any) -> MplPath:
    """One compound path per district (all parts, holes included)."""
    rings: list[MplPath] = []
    for polygon in shapely.get_parts(geom):
        if polygon.is_empty:
            continue
        for ring in (polygon.exterior, *polygon.interiors):
            rings.append(MplPath(np.asarray(ring.coords)[:, :2], closed=True))
    return MplPath.make_compound_path(*rings)


def _no_data_mask(layer: MapLayer) -> np.ndarray:
    """Districts drawn grey and hatched: no value, no class or suppressed."""
    index = np.asarray(layer.classification.class_index)
    return (index < 0) | np.asarray(layer.suppressed, dtype=bool) | np.isnan(np.asarray(layer.values, dtype=float))


def draw_districts(ax: Axes, city_map: CityMap, layer: MapLayer, linewidth: float = 0.5) -> dict[str, PatchCollection]:
    """Draw the districts of ``layer`` in its classification colours.

    Parameters
    ----------
    ax : Axes
    city_map : CityMap
    layer : MapLayer
        One of ``city_map.layers``; colours come from ``layer.classification`` unchanged.
    linewidth : float
        Width of the district outlines in points.

    Returns
    -------
    dict of str to PatchCollection
        ``"classes"``: districts with a class, in boundary row order, facecolour
        ``classification.colours[class_index]``; ``"no_data"``: missing or suppressed districts
        (grey :data:`~geo_cohesion.maps.classify.NO_DATA_COLOUR`, hatched); ``"outlines"``: all
        district borders. Each collection's gid is its key.
    """
    paths = [_geometry_path(g) for g in city_map.boundaries.geometry]
    colours = layer.classification.colours
    index = np.asarray(layer.classification.class_index)
    no_data = _no_data_mask(layer)
    has_class = np.flatnonzero(~no_data)
    missing = np.flatnonzero(no_data)
    classes = PatchCollection([PathPatch(paths[i]) for i in has_class],
                              facecolors=[colours[index[i]] for i in has_class], edgecolors="none",
                              linewidths=0, zorder=1)
    grey = PatchCollection([PathPatch(paths[i]) for i in missing], facecolors=[NO_DATA_COLOUR] * len(missing),
                           edgecolors=HATCH_COLOUR, linewidths=0, hatch=HATCH, zorder=1)
    outlines = PatchCollection([PathPatch(p) for p in paths], facecolors="none", edgecolors=OUTLINE_COLOUR,
                               linewidths=linewidth, zorder=2)
    out = {"classes": classes, "no_data": grey, "outlines": outlines}
    for gid, collection in out.items():
        collection.set_gid(gid)
        ax.add_collection(collection, autolim=False)
    return out


def draw_scale_bar(ax: Axes, fontsize: float = 8,
                   extent: tuple[float, float, float, float] | None = None) -> float:
    """Two-segment black/white scale bar at the lower left of a map in a metric CRS.

    Parameters
    ----------
    ax : Axes
        Map axes with final, equal-aspect limits in metres.
    fontsize : float
    extent : tuple of float, optional
        ``minx, miny, maxx, maxy`` of the mapped area; the bar is about a fifth of its width
        (:func:`nice_scale_length`) and starts at its left edge. Default: the axes limits.

    Returns
    -------
    float
        Length of the bar in metres.
    """
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    height = y1 - y0
    area_x0, area_x1 = (extent[0], extent[2]) if extent is not None else (x0, x1)
    length = nice_scale_length(area_x1 - area_x0)
    left = max(area_x0, x0 + 0.03 * (x1 - x0))
    bottom, bar_h = y0 + 0.035 * height, 0.012 * height
    half = length / 2
    for i, face in enumerate((INK, "white")):
        ax.add_patch(Rectangle((left + i * half, bottom), half, bar_h, facecolor=face, edgecolor=INK,
                               linewidth=0.6, zorder=5, gid="scale_bar"))
    label_y = bottom + bar_h + 0.008 * height
    for pos, text in ((0.0, "0"), (half, _km_text(half)), (length, f"{_km_text(length)} km")):
        ax.text(left + pos, label_y, text, ha="center", va="bottom", fontsize=fontsize, zorder=5)
    return length


def draw_north_arrow(ax: Axes, size: float = 0.07, fontsize: float = 10, right: float | None = None) -> None:
    """North arrow at the lower right (the metric CRS is north-up).

    Parameters
    ----------
    ax : Axes
    size : float
        Arrow height as a share of the axes height.
    fontsize : float
    right : float, optional
        x (data units) the arrow's right tip should not pass; default: the axes' right edge.
    """
    fig_w, fig_h = ax.figure.get_size_inches()
    box = ax.get_position()
    ratio = (box.height * fig_h) / (box.width * fig_w)  # axes units: keep the arrow's shape on paper
    half_w = 0.32 * size * ratio
    x0, x1 = ax.get_xlim()
    edge = 0.98 if right is None else min(0.98, (right - x0) / (x1 - x0))
    cx, base = edge - half_w, 0.035
    left = Polygon([(cx, base + 0.3 * size), (cx - half_w, base), (cx, base + size)], closed=True,
                   facecolor=INK, edgecolor=INK, linewidth=0.6, transform=ax.transAxes, zorder=5, gid="north_arrow")
    right_half = Polygon([(cx, base + 0.3 * size), (cx + half_w, base), (cx, base + size)], closed=True,
                         facecolor="white", edgecolor=INK, linewidth=0.6, transform=ax.transAxes, zorder=5)
    ax.add_patch(left)
    ax.add_patch(right_half)
    ax.text(cx, base + size + 0.01, "N", transform=ax.transAxes, ha="center", va="bottom",
            fontsize=fontsize, fontweight="bold", zorder=5)


def no_data_label(city_map: CityMap) -> str:
    """Legend text of the grey, hatched districts."""
    if city_map.suppressed_label:
        return f"{label('note.no_data', city_map.lang)} / {city_map.suppressed_text}"
    return label("legend.no_data_long", city_map.lang, min_n=city_map.min_n)


def legend_entries(city_map: CityMap, layer: MapLayer, short: bool = False) -> tuple[list[Patch], list[str]]:
    """Legend handles and labels: one per class, plus "keine Daten" when any district has none.

    Parameters
    ----------
    city_map : CityMap
    layer : MapLayer
    short : bool
        Short no-data label ("keine Daten / n < 30") for small panels.

    Returns
    -------
    handles : list of Patch
    labels : list of str
    """
    cls = layer.classification
    handles: list[Patch] = [Patch(facecolor=c, edgecolor="none") for c in cls.colours]
    labels = list(cls.labels)
    if _no_data_mask(layer).any():
        handles.append(Patch(facecolor=NO_DATA_COLOUR, edgecolor=HATCH_COLOUR, linewidth=0, hatch=HATCH))
        short_text = (label("note.not_published", city_map.lang) if city_map.suppressed_label
                      else label("legend.no_data_short", city_map.lang, min_n=city_map.min_n))
        labels.append(f"{label('note.no_data', city_map.lang)} / {short_text}" if city_map.suppressed_label and short
                      else (label("legend.no_data_short", city_map.lang, min_n=city_map.min_n) if short
                            else no_data_label(city_map)))
    return handles, labels


def legend_title(layer: MapLayer, width: int = 34) -> str:
    """``"Gesamtindex Zusammenhalt (Punkte)"``, wrapped so it never runs off the page."""
    text = f"{layer.label} ({layer.unit})" if layer.unit else layer.label
    return textwrap.fill(text, width)


def footer_text(city_map: CityMap, extra: Sequence[str] = (), width: int = 150) -> str:
    """Footer: source, every note of the city map, and ``extra`` lines, wrapped to ``width``."""
    parts = [label("figure.source", city_map.lang, source=city_map.source)] if city_map.source else []
    if city_map.estimator_note:
        parts.append(city_map.estimator_note)
    parts.extend(str(n) for n in city_map.notes)
    lines = [" · ".join(parts)] if parts else []
    lines.extend(extra)
    return "\n".join(textwrap.fill(line, width) for line in lines if line)


def _add_footer(fig: Figure, city_map: CityMap, extra: Sequence[str] = (), width: int = 150) -> None:
    """Small footer text at the bottom left of the figure (once per figure)."""
    if any(t.get_gid() == "footer" for t in fig.texts):
        return
    fig.text(0.03, 0.012, footer_text(city_map, extra, width), ha="left", va="bottom", fontsize=6.5,
             color="#555555", gid="footer", linespacing=1.4)


def _classification_note(layer: MapLayer, lang: str) -> str:
    name = layer.classification.scheme
    scheme = label(f"scheme.{name}", lang) if has_label(f"scheme.{name}") else name
    k = len(layer.classification.colours)
    return label("figure.classification_one" if k == 1 else "figure.classification_many", lang, scheme=scheme, k=k)


def _draw_map(ax: Axes, city_map: CityMap, layer: MapLayer, linewidth: float = 0.5,
              furniture: bool = True, scale_fontsize: float = 8, arrow_size: float = 0.07) -> None:
    """Districts, equal-aspect extent, clean axes and (optionally) scale bar + north arrow."""
    draw_districts(ax, city_map, layer, linewidth)
    _fit_extent(ax, city_map)
    _clean_axes(ax)
    if furniture:
        extent = _padded_extent(city_map)
        draw_scale_bar(ax, fontsize=scale_fontsize, extent=extent)
        draw_north_arrow(ax, size=arrow_size, fontsize=scale_fontsize + 2, right=extent[2])


# --------------------------------------------------------------------------- public API


def plot_layer(city_map: CityMap, variable: str, ax: Axes | None = None) -> Figure:
    """Choropleth of one layer, ready to print on A4.

    Parameters
    ----------
    city_map : CityMap
        Boundaries in a metric CRS plus classified layers.
    variable : str
        Layer slug (``index``, ``soziale_netze``, ``unemployment_pct`` ...).
    ax : Axes, optional
        Draw into this axes (legend inside the axes, footer on its figure). By default a new
        A4 figure is made: portrait, or landscape when the city is wider than tall.

    Returns
    -------
    Figure
        Title ``"{city}: {label}"``, districts in the layer's classification colours, grey
        hatched districts without (publishable) data, legend, scale bar in km, north arrow and
        a footer with the source and every note of ``city_map``.

    Raises
    ------
    KeyError
        If ``variable`` is not a layer of ``city_map``.
    """
    layer = city_map.layer(variable)
    with _style():
        if ax is not None:
            return _plot_into_axes(ax, city_map, layer)
        landscape = _is_landscape(city_map)
        fig = Figure(figsize=paper_size(city_map), dpi=100)
        title = f"{city_map.city}: {layer.label}"
        fig.text(0.04, 0.965, title, ha="left", va="top", fontsize=16, fontweight="bold", gid="title")
        if city_map.title:
            fig.text(0.04, 0.935 if not landscape else 0.92, city_map.title, ha="left", va="top", fontsize=10,
                     color="#555555", gid="subtitle")
        if landscape:
            map_rect, legend_anchor, wrap = (0.03, 0.08, 0.66, 0.80), (0.71, 0.86), 190
        else:
            map_rect, legend_anchor, wrap = (0.04, 0.25, 0.92, 0.66), (0.06, 0.235), 140
        ax = fig.add_axes(map_rect)
        _draw_map(ax, city_map, layer)
        placed = draw_district_labels(ax, city_map)
        handles, labels = legend_entries(city_map, layer)
        for handle, text in [m for m in [draw_significance(ax, city_map, layer)] if m] + [
                (Patch(facecolor="none", edgecolor="none"), textwrap.fill(n, 40))
                for n in layer.classification.legend_notes(city_map.lang)]:
            handles.append(handle)
            labels.append(text)
        legend = fig.legend(handles, labels, title=legend_title(layer), loc="upper left",
                            bbox_to_anchor=legend_anchor, fontsize=9, title_fontsize=10, handlelength=2.4,
                            handleheight=1.4, alignment="left", borderaxespad=0)
        legend.set_gid("legend")
        extra = [layer.estimator_summary(city_map.lang), _classification_note(layer, city_map.lang)]
        _add_footer(fig, city_map, [e for e in (*extra, *placed.footer_lines(city_map)) if e], wrap)
    return fig


def _plot_into_axes(ax: Axes, city_map: CityMap, layer: MapLayer) -> Figure:
    """:func:`plot_layer` into an existing axes."""
    _draw_map(ax, city_map, layer)
    ax.set_title(f"{city_map.city}: {layer.label}", fontsize=12, fontweight="bold", loc="left")
    handles, labels = legend_entries(city_map, layer)
    legend = ax.legend(handles, labels, title=legend_title(layer), loc="upper left", bbox_to_anchor=(1.01, 1.0),
                       fontsize=8, title_fontsize=9, alignment="left", borderaxespad=0)
    legend.set_gid("legend")
    _add_footer(ax.figure, city_map)
    return ax.figure


def dimension_variables(city_map: CityMap) -> list[str]:
    """Cohesion layers of the 9 Radar dimensions present in ``city_map``, in Radar order."""
    present = {layer.variable for layer in city_map.layers if layer.kind == "cohesion"}
    return [d.slug for d in load_radar().dimensions if d.slug in present]


def plot_small_multiples(city_map: CityMap, variables: Sequence[str] | None = None) -> Figure:
    """3 × 3 grid of maps (by default the 9 Radar dimensions) on one A4 portrait page.

    Parameters
    ----------
    city_map : CityMap
    variables : sequence of str, optional
        Up to 9 layer slugs; default :func:`dimension_variables`.

    Returns
    -------
    Figure
        Common title ``"{city}: Dimensionen des Zusammenhalts"``; each panel is titled with its
        layer label and has its own small legend in its own classification colours; the first
        panel has a scale bar and a north arrow; the footer carries the source and notes.

    Raises
    ------
    ValueError
        If there is no variable to show or more than 9.
    """
    variables = list(dimension_variables(city_map) if variables is None else variables)
    if not variables:
        raise ValueError(f"{city_map.city}: no Radar dimension layers to plot")
    if len(variables) > 9:
        raise ValueError(f"at most 9 panels, got {len(variables)}")
    layers = [city_map.layer(v) for v in variables]
    with _style():
        fig = Figure(figsize=A4_INCHES, dpi=100)
        lang = city_map.lang
        fig.text(0.04, 0.975, label("figure.dimensions_title", lang, city=city_map.city), ha="left", va="top",
                 fontsize=15, fontweight="bold", gid="title")
        unit = layers[0].unit
        sub = label("figure.own_classes", lang)
        if city_map.title:
            sub = f"{city_map.title} · {sub}"
        fig.text(0.04, 0.952, sub, ha="left", va="top", fontsize=7.5, color="#555555", gid="subtitle")
        col_w, left0, gap = 0.30, 0.035, 0.02
        top0, bottom0 = 0.93, 0.075
        title_h, legend_h = 0.022, 0.05
        x0, y0, x1, y1 = _padded_extent(city_map)
        fig_w, fig_h = A4_INCHES
        row_h = (top0 - bottom0) / 3
        # map height from the city's shape at full panel width, capped by the row height
        map_h = min(row_h - title_h - legend_h, col_w * fig_w * (y1 - y0) / (x1 - x0) / fig_h)
        for i, layer in enumerate(layers):
            row, col = divmod(i, 3)
            x = left0 + col * (col_w + gap)
            y_top = top0 - row * row_h - title_h
            ax = fig.add_axes((x, y_top - map_h, col_w, map_h))
            _draw_map(ax, city_map, layer, linewidth=0.3, furniture=(i == 0), scale_fontsize=5.5, arrow_size=0.16)
            ax.set_title(layer.label, fontsize=8.5, fontweight="bold", loc="left", pad=3)
            handles, labels = legend_entries(city_map, layer, short=True)
            legend = fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(x + 0.005, y_top - map_h - 0.004),
                                ncol=2, fontsize=6, handlelength=1.6, handleheight=1.0, columnspacing=0.8,
                                labelspacing=0.3, handletextpad=0.4, borderaxespad=0)
            legend.set_gid(f"legend_{layer.variable}")
        extra = [label("figure.values_hatched", lang, unit=unit, no_data=no_data_label(city_map)) if unit else
                 label("figure.hatched", lang, no_data=no_data_label(city_map)), _classification_note(layers[0], lang)]
        used = list(estimator_counts(layers, lang))
        if used:
            extra.insert(1, label("figure.estimators", lang, estimators=", ".join(used)))
        _add_footer(fig, city_map, extra, 140)
    return fig


def _formats(formats: Sequence[str]) -> list[str]:
    out = [f.lower().lstrip(".") for f in formats]
    unknown = sorted(set(out) - set(_METADATA))
    if unknown:
        raise ValueError(f"unsupported figure format(s) {unknown}; use png, pdf or svg")
    if len(set(out)) != len(out):
        raise ValueError("duplicate formats")
    return out


def _free(fig: Figure) -> None:
    """Release a figure's artists (and close it if pyplot manages it)."""
    if getattr(fig.canvas, "manager", None) is not None:
        import matplotlib.pyplot as plt  # only for figures pyplot already knows

        plt.close(fig)
    fig.clear()


def save_figure(fig: Figure, path_stem: Path, formats: Sequence[str] = DEFAULT_FORMATS, dpi: int = 300,
                close: bool = False) -> list[Path]:
    """Write ``fig`` in several formats, atomically and byte-reproducibly.

    Parameters
    ----------
    fig : Figure
    path_stem : Path
        Destination without extension; ``.png``/``.pdf``/``.svg`` is appended.
    formats : sequence of {"png", "pdf", "svg"}
    dpi : int
        Resolution of raster output (PNG; stored in its pHYs chunk).
    close : bool
        Free the figure after saving.

    Returns
    -------
    list of Path
        Written files, in ``formats`` order.

    Notes
    -----
    All formats are first rendered to temporary files in the destination folder and only then
    moved into place with ``os.replace`` (:func:`geo_cohesion.io.write.atomic_path`); if any format
    fails, no file is left half-written and existing files stay unchanged. Timestamps and
    software versions are left out of the metadata and SVG ids use a fixed hash salt, so the same
    figure gives byte-identical files.
    """
    stem = Path(path_stem)
    exts = _formats(formats)
    paths = [stem.with_name(f"{stem.name}.{ext}") for ext in exts]
    try:
        with _style(), contextlib.ExitStack() as stack:
            for ext, path in zip(exts, paths):
                tmp = stack.enter_context(atomic_path(path))
                save_format(fig, tmp, ext, dpi, _METADATA[ext], PNG_COMPRESS_LEVEL)
    finally:
        if close:
            _free(fig)
    return paths


def file_part(variable: str) -> str:
    """A layer key as part of a file name: unchanged when it is a safe slug (``sgb2_share_pct``),
    else :func:`geo_cohesion.keys.slugify` of it (a user's column ``"Anteil SGB II %"`` ->
    ``"anteil-sgb-ii"``), so no column name can leave the output folder."""
    if SAFE_SLUG.fullmatch(variable) and len(variable) <= MAX_SLUG_CHARS:
        return variable
    return slugify(variable)


def write_city_figures(city_map: CityMap, out_dir: Path, variables: Sequence[str] | None = None,
                       formats: Sequence[str] = DEFAULT_FORMATS, dpi: int = 300, stem: str | None = None) -> list[Path]:
    """Write one map per layer plus the small multiples of the 9 dimensions.

    Parameters
    ----------
    city_map : CityMap
    out_dir : Path
        Target folder (created if missing).
    variables : sequence of str, optional
        Layers to map; default all layers of ``city_map``.
    formats : sequence of {"png", "pdf", "svg"}
    dpi : int
    stem : str, optional
        File name prefix; default the slug of the city name.

    Returns
    -------
    list of Path
        ``{slug}_{variable}.{ext}`` for every variable (through :func:`file_part`) and
        ``{slug}_dimensionen.{ext}`` (when the city map has Radar dimension layers), where
        ``slug`` is :func:`geo_cohesion.keys.slugify` of the city name.
    """
    out_dir = Path(out_dir)
    slug = stem or slugify(city_map.city)
    variables = [layer.variable for layer in city_map.layers] if variables is None else list(variables)
    for variable in variables:
        city_map.layer(variable)  # fail before writing anything
    written: list[Path] = []
    for variable in variables:
        fig = plot_layer(city_map, variable)
        written += save_figure(fig, out_dir / f"{slug}_{file_part(variable)}", formats, dpi, close=True)
    if dimension_variables(city_map):
        fig = plot_small_multiples(city_map)
        written += save_figure(fig, out_dir / f"{slug}_dimensionen", formats, dpi, close=True)
    return written


# --------------------------------------------------------------------------- association scatter

#: Most districts labelled with their names in a scatter plot (more labels are an unreadable blot).
MAX_LABELLED_POINTS = 150


def plot_association(city_map: CityMap, variable: str, indicator: str, association: dict | None = None) -> Figure:
    """Labelled scatter plot of a cohesion layer against a structural indicator across districts.

    Each point is a district (labelled with its name) with its confidence interval as a
    vertical bar; suppressed districts are left out. The title carries the weighted correlation
    with its interval and, when there are few districts, a plain warning.

    Parameters
    ----------
    city_map : CityMap
        Must contain the cohesion layer ``variable`` and the structural layer ``indicator``.
    variable, indicator : str
    association : dict, optional
        A row of :func:`geo_cohesion.stats.compare.structural_association` (``r``, ``r_ci_low``,
        ``r_ci_high``, ``slope``, ``n_districts``, ``note``) to print on the figure; the
        (weighted) regression line ``intercept + slope * x`` is drawn.
    """
    y_layer, x_layer = city_map.layer(variable), city_map.layer(indicator)
    names = city_map.boundaries["district_name"].astype(str).to_numpy()
    ok = np.isfinite(y_layer.values) & np.isfinite(x_layer.values) & ~y_layer.suppressed
    with _style():
        fig = Figure(figsize=(A4_INCHES[1], A4_INCHES[0]))  # A4 landscape
        ax = fig.add_axes((0.08, 0.14, 0.88, 0.72))
        x, y = x_layer.values[ok], y_layer.values[ok]
        low, high = y_layer.ci_low[ok], y_layer.ci_high[ok]
        has_ci = np.isfinite(low) & np.isfinite(high)
        ax.errorbar(x[has_ci], y[has_ci], yerr=[y[has_ci] - low[has_ci], high[has_ci] - y[has_ci]], fmt="none",
                    ecolor="#9ecae1", elinewidth=1.2, capsize=2, zorder=1)
        ax.scatter(x, y, s=28, color="#08519c", zorder=2)
        for xi, yi, name in zip(x, y, names[ok]) if x.size <= MAX_LABELLED_POINTS else ():
            ax.annotate(name, (xi, yi), xytext=(4, 3), textcoords="offset points", fontsize=7, color=INK)
        if association is not None and np.isfinite(association.get("slope", np.nan)) and x.size >= 2:
            xs = np.linspace(x.min(), x.max(), 50)
            ax.plot(xs, association["intercept"] + association["slope"] * xs, color="#cb181d", linewidth=1,
                    linestyle="--", zorder=1)
        unit_x = f" ({x_layer.unit})" if x_layer.unit else ""
        ax.set_xlabel(f"{x_layer.label}{unit_x}")
        ax.set_ylabel(f"{y_layer.label} ({y_layer.unit})")
        ax.spines[["top", "right"]].set_visible(False)
        lang = city_map.lang
        fig.text(0.08, 0.95, label("figure.association_title", lang, city=city_map.city, score=y_layer.label,
                                   indicator=x_layer.label), fontsize=14, fontweight="bold", va="top")
        if association is not None:
            r_text = label("figure.correlation", lang, r=format_number(association["r"], 2),
                           level=format_level(city_map.level, lang), low=format_number(association["r_ci_low"], 2),
                           high=format_number(association["r_ci_high"], 2))
            r_text += f" – {association['note']}" if association.get("note") else \
                ", " + label("figure.n_districts", lang, n=association["n_districts"])
            fig.text(0.08, 0.905, r_text, fontsize=9, va="top", color="#555555")
        _add_footer(fig, city_map, [label("figure.association_footer", lang, min_n=city_map.min_n,
                                          ci=city_map.ci_label_plural)])
    return fig
