"""Interactive HTML map (folium/Leaflet): one file per city, all layers switchable.

The district geometry is embedded **once** as GeoJSON; every layer (index, domains, dimensions,
deviations, structural indicators) is a small array of values and colours that restyles the same
Leaflet layer. Coordinates are simplified with ``shapely.coverage_simplify`` (which keeps shared
borders shared) and rounded identically on both sides of every border, so neighbouring districts
never open gaps. All user text reaches the page as script-safe JSON
(:func:`geo_cohesion.io.htmlsafe.script_json`) and is inserted with ``textContent``.
"""
from __future__ import annotations

import base64
import math
import re
from importlib import resources
from pathlib import Path

import folium
import numpy as np
import shapely
from branca.element import Element, MacroElement
from jinja2 import Template

from geo_cohesion.io.htmlsafe import escape_html, script_json
from geo_cohesion.io.write import write_text
from geo_cohesion.labels import format_level, label
from geo_cohesion.maps.classify import NO_DATA_COLOUR
from geo_cohesion.maps.layers import CityMap, MapLayer
from geo_cohesion.maps.significance import significance_legend
from geo_cohesion.settings import Basemap
from geo_cohesion.stats.compare import rank_open

LEAFLET_JS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"
LEAFLET_CSS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css"
#: Layer kinds in the order of the layer panel; their titles are the catalogue's ``kind.<kind>``.
KINDS = ("cohesion", "deviation", "structural", "bivariate", "cluster", "need", "change")


class _LeafletOnlyMap(folium.Map):
    """A folium map that loads only Leaflet (no jQuery, Bootstrap or marker fonts)."""

    default_js = [("leaflet", LEAFLET_JS)]
    default_css = [("leaflet_css", LEAFLET_CSS)]


def _number(value: float, decimals: int = 1) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), decimals)


def geometry_geojson(city_map: CityMap, tolerance_m: float = 5.0, decimals: int = 6) -> dict:
    """District boundaries as a WGS84 GeoJSON FeatureCollection with shared borders kept shared.

    Parameters
    ----------
    city_map : CityMap
    tolerance_m : float
        Simplification tolerance in metres (coverage-preserving); 0 disables simplification.
    decimals : int
        Decimal places of longitude/latitude (6 ≈ 0.1 m).
    """
    gdf = city_map.boundaries
    geoms = np.asarray(gdf.geometry.values)
    if tolerance_m > 0 and gdf.crs is not None and gdf.crs.is_projected:
        geoms = shapely.coverage_simplify(geoms, tolerance_m)
    wgs = gdf.set_geometry(list(geoms), crs=gdf.crs).to_crs("EPSG:4326")
    rounded = shapely.transform(np.asarray(wgs.geometry.values), lambda xy: np.round(xy, decimals))
    features = []
    for i, geom in enumerate(rounded):
        features.append({"type": "Feature", "properties": {"i": i},
                         "geometry": shapely.geometry.mapping(geom)})
    return {"type": "FeatureCollection", "features": features}


def _significance(layer: MapLayer) -> list[int | None] | None:
    """+1 / -1 / 0 per district (None untested); None when the layer has no markers."""
    if layer.significance is None:
        return None
    return [None if not math.isfinite(v) else int(v) for v in layer.significance]


def _ranks(ranks: np.ndarray) -> list[int | None]:
    """Ranks as whole numbers, None where there is none."""
    return [None if not math.isfinite(v) else int(v) for v in ranks]


def _none_if_empty(texts: list[str | None]) -> list[str | None] | None:
    """``texts``, or None when no district has one."""
    return texts if any(t is not None for t in texts) else None


def _layer_payload(layer: MapLayer, lang: str = "de") -> dict:
    cls = layer.classification
    legend = [{"colour": c, "label": lab} for c, lab in zip(cls.colours, cls.labels)]
    colours = [cls.colour_of(int(i)) for i in cls.class_index]
    return {
        "key": layer.variable, "label": layer.label, "kind": layer.kind, "unit": layer.unit,
        "values": [_number(v) for v in layer.values],
        "ci_low": [_number(v) for v in layer.ci_low], "ci_high": [_number(v) for v in layer.ci_high],
        "n": [None if not math.isfinite(v) else int(v) for v in layer.n],
        "suppressed": [bool(s) for s in layer.suppressed],
        "rank": _ranks(layer.rank),
        "n_ranked": layer.rank_count if layer.rank_low is not None else int(np.isfinite(layer.values).sum()),
        # the comparison table's rank intervals (null: the layer has none, the tooltip shows the point rank)
        "rank_low": _ranks(layer.rank_low) if layer.rank_low is not None else None,
        "rank_high": _ranks(layer.rank_high) if layer.rank_high is not None else None,
        # an interval over every rank: "Rang nicht erkennbar" instead of a point rank (stats.compare.rank_open)
        "rank_open": _none_if_empty([True if o else None for o in rank_open(layer.rank_low, layer.rank_high,
                                                                              layer.rank_count)])
        if layer.rank_low is not None and layer.rank_high is not None else None,
        "rank_note": layer.rank_note or None,
        "colours": colours, "legend": legend,
        # per-district texts; null instead of a list of nulls (10,000 districts: 1.4 MB per list)
        "estimator": _none_if_empty(layer.estimator_labels(lang)),
        "reason": _none_if_empty([r if isinstance(r, str) and r else None for r in layer.reason]
                                 if layer.reason is not None else []),
        "estimator_note": layer.estimator_summary(lang) or None,
        "detail": [d if isinstance(d, str) and d else None for d in layer.detail] if layer.detail is not None
        else None,
        "legend_notes": cls.legend_notes(lang),
        "significance": _significance(layer),
        "significance_note": layer.significance_note or None,
        "significance_legend": significance_legend(layer.significance_note, lang) if layer.significance_note else None,
    }


def label_points(city_map: CityMap, geojson: dict) -> tuple[list[list[float]], list[int]]:
    """Where the HTML map writes each district's name, and the order in which names are placed.

    Returns ``([lat, lon] per district, district indices largest first)``: a point inside each
    polygon (``point_on_surface``, in WGS84, 5 decimals) and the placement order by area, so that
    where names would collide the larger district keeps its name.
    """
    geoms = np.asarray([shapely.geometry.shape(f["geometry"]) for f in geojson["features"]])
    points = shapely.point_on_surface(geoms)
    xy = np.round(shapely.get_coordinates(points), 5)
    area = np.asarray(city_map.boundaries.geometry.area, dtype=float)
    order = sorted(range(len(geoms)), key=lambda i: (-area[i], i))
    return [[float(lat), float(lon)] for lon, lat in xy], order


def page_text(city_map: CityMap) -> dict[str, str]:
    """The words the page script writes (tooltips, legend, side view), in the map's language.

    ``rank`` keeps its ``{rank}`` and ``{n}`` placeholders and ``rank_interval`` its ``{rank}``,
    ``{low}``, ``{high}`` and ``{n}`` and ``rank_open`` (a rank interval over every rank) its ``{n}``
    (the level is filled here); the script fills them per district.
    """
    lang = city_map.lang
    level = format_level(city_map.level, lang)
    return {"no_data": label("note.no_data", lang), "no_respondents": label("note.no_respondents", lang),
            "not_published": label("note.not_published", lang), "estimator": label("map.estimator", lang),
            "too_few": label("note.too_few", lang, min_n=city_map.min_n),
            "value": label("map.value", lang), "respondents": label("map.respondents", lang),
            "rank": label("map.rank", lang), "side_view": label("map.side_view", lang),
            "rank_interval": label("map.rank_interval", lang, level=level, rank="{rank}", low="{low}", high="{high}",
                                   n="{n}"),
            "rank_none": label("map.rank_none", lang),
            "rank_open": label("map.rank_open", lang, level=level, n="{n}"),
            "side_second": label("map.side_second", lang), "district_key": label("map.district_key", lang),
            "search": label("map.search", lang), "search_none": label("map.search_none", lang),
            "labels_toggle": label("map.labels_toggle", lang),
            "significant_above": label("map.significant_above", lang),
            "significant_below": label("map.significant_below", lang),
            "not_significant": label("map.not_significant", lang)}


def basemap_payload(basemap: Basemap) -> dict:
    """What map.js needs to draw the base map: url, escaped attribution, max_zoom and, for a WMS,
    its layers and image format (Leaflet's ``L.tileLayer.wms``)."""
    out: dict = {"url": basemap.url, "attribution": escape_html(basemap.attribution), "max_zoom": basemap.max_zoom}
    if basemap.wms_layers is not None:
        out["wms"] = {"layers": basemap.wms_layers, "format": basemap.wms_format}
    return out


#: From this many districts the page draws them on one canvas instead of one SVG path each
#: (Leaflet's canvas renderer): no page element per district, faster search highlight and zoom,
#: about the same load time (``benchmarks/bench_large_map.py`` measures both); the hatch of
#: unpublished districts is then a canvas pattern.
CANVAS_MIN_DISTRICTS = 2000


def map_payload(city_map: CityMap, tolerance_m: float = 5.0, basemap: Basemap | None = None) -> dict:
    """Everything the page script needs, as plain data (geometry once, values per layer).

    ``basemap`` adds a tile layer under the districts; its attribution is escaped here (Leaflet
    shows attributions as HTML). ``canvas`` is true from :data:`CANVAS_MIN_DISTRICTS` districts.
    """
    names = city_map.boundaries["district_name"].astype(str).tolist()
    district_keys = city_map.boundaries["district_id"].astype(str).tolist()
    geojson = geometry_geojson(city_map, tolerance_m)
    points, order = label_points(city_map, geojson)
    groups = []
    for kind in KINDS:
        keys = [layer.variable for layer in city_map.layers if layer.kind == kind]
        if keys:
            groups.append({"title": label(f"kind.{kind}", city_map.lang), "keys": keys})
    return {
        "city": city_map.city, "title": city_map.title or label("map.title", city_map.lang, city=city_map.city),
        "lang": city_map.lang, "text": page_text(city_map),
        "notes": [n for n in [city_map.source, city_map.estimator_note, *city_map.notes] if n],
        "names": names, "keys": district_keys, "label_points": points, "label_order": order,
        # the need class of every district (need table), in every layer's tooltip; null without a need index
        "need_class": city_map.need_class,
        "basemap": None if basemap is None else basemap_payload(basemap),
        "canvas": len(names) >= CANVAS_MIN_DISTRICTS,
        "min_n": city_map.min_n, "no_data": NO_DATA_COLOUR, "ci_label": city_map.ci_label,
        "suppressed_label": city_map.suppressed_text,
        "groups": groups, "layers": [_layer_payload(layer, city_map.lang) for layer in city_map.layers],
        "geojson": geojson,
    }


def _asset(name: str) -> str:
    """Text of a packaged map asset (``maps/assets/``)."""
    return resources.files("geo_cohesion.maps").joinpath("assets", name).read_text(encoding="utf-8")


#: The page's own style and script are package data (``maps/assets/map.css``, ``map.js``); the
#: template only places them. ``__GC_MAP__`` in the script stands for the Leaflet map variable.
_SCRIPT = Template("""
{% macro header(this, kwargs) %}
<style>
{{ this.css }}</style>
{% endmacro %}
{% macro script(this, kwargs) %}
{{ this.js.replace("__GC_MAP__", this._parent.get_name()) }}
{% endmacro %}
""")


#: Stands for the payload in the rendered page until :func:`render_html_map` puts the JSON in. The
#: payload must not go through jinja: branca renders a macro's output and then parses it AGAIN as
#: a template (``Element(script(...))``), so ``{{ ... }}`` in a district name would be evaluated
#: as Python-backed template code. ``<`` cannot occur in the page outside this token: user text
#: appears only in the payload (``<`` escaped) and the escaped ``<title>``.
_DATA_TOKEN = "<GC-DATA>"


class _CohesionLayers(MacroElement):
    """The page script: one GeoJSON layer, layer switcher, legend, title and notes."""

    _template = _SCRIPT

    def __init__(self) -> None:
        super().__init__()
        self._name = "GeoCohesionLayers"
        self._id = "layers"
        self.css = _asset("map.css")
        self.js = _asset("map.js")


def _inline_assets(html: str) -> str:
    """Replace the Leaflet CDN links by the files shipped with the ``xstatic-leaflet`` package."""
    try:
        import xstatic.pkg.leaflet as xs  # type: ignore[import-not-found]
    except ImportError as exc:  # pragma: no cover - dependency declared in pyproject
        raise RuntimeError("offline maps need the 'xstatic-leaflet' package") from exc
    base = Path(xs.BASE_DIR)
    js = (base / "leaflet.js").read_text(encoding="utf-8").replace("//# sourceMappingURL=leaflet.js.map", "")
    css = (base / "leaflet.css").read_text(encoding="utf-8")
    # Leaflet's own images (layer switcher, default marker) as data URIs: no request leaves the page
    css = re.sub(r"url\((images/[\w.-]+\.png)\)",
                 lambda m: "url(data:image/png;base64,"
                           + base64.b64encode((base / m.group(1)).read_bytes()).decode("ascii") + ")", css)
    html = html.replace(f'<script src="{LEAFLET_JS}"></script>', f"<script>{js}</script>")
    return html.replace(f'<link rel="stylesheet" href="{LEAFLET_CSS}"/>', f"<style>{css}</style>")


def render_html_map(city_map: CityMap, tolerance_m: float = 5.0, offline: bool = True,
                    basemap: Basemap | None = None) -> str:
    """Render the interactive map of one city as a self-contained HTML string.

    Parameters
    ----------
    city_map : CityMap
    tolerance_m : float
        Coverage-preserving simplification tolerance in metres.
    offline : bool
        Inline Leaflet and its images (from ``xstatic-leaflet``) so the page is self-contained and
        works without internet access or behind a proxy that blocks CDNs (the default); False
        loads Leaflet from a CDN like any folium map (a smaller file).
    basemap : Basemap, optional
        A tile source drawn under the districts, with its attribution (``maps.basemap``); the
        only outside request of a self-contained page. None (the default): no base map.

    Returns
    -------
    str
        The HTML page. Identical inputs give identical text.
    """
    payload = map_payload(city_map, tolerance_m, basemap)
    fmap = _LeafletOnlyMap(location=[0, 0], zoom_start=12, tiles=None, control_scale=False, prefer_canvas=False)
    fmap._id = "geocohesion"
    fmap.get_root()._id = "page"
    title = Element("<title>{{ this.text }}</title>")  # the title is a value, never template source
    title.text = escape_html(payload["title"])
    fmap.get_root().header.add_child(title, name="title")
    fmap.get_root().header.add_child(Element('<meta charset="utf-8" />'), name="charset")
    fmap.add_child(_CohesionLayers(), name="layers")
    html = fmap.get_root().render()
    if html.count(_DATA_TOKEN) != 1:  # pragma: no cover - template invariant
        raise RuntimeError("map template: payload placeholder not found exactly once")
    html = html.replace(_DATA_TOKEN, script_json(payload))
    return _inline_assets(html) if offline else html


def write_html_map(city_map: CityMap, path: str | Path, tolerance_m: float = 5.0, offline: bool = True,
                   basemap: Basemap | None = None) -> Path:
    """Render and atomically write the city's HTML map."""
    return write_text(path, render_html_map(city_map, tolerance_m, offline, basemap))
