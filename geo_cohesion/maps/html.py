"""Interactive HTML map (folium/Leaflet): one file per city, all layers switchable.

The district geometry is embedded **once** as GeoJSON; every layer (index, domains, dimensions,
deviations, structural indicators) is a small array of values and colours that restyles the same
Leaflet layer. Coordinates are simplified with ``shapely.coverage_simplify`` (which keeps shared
borders shared) and rounded identically on both sides of every border, so neighbouring districts
never open gaps. All user text reaches the page as script-safe JSON
(:func:`geo_cohesion.io.htmlsafe.script_json`) and is inserted with ``textContent``.
"""
from __future__ import annotations

import math
from pathlib import Path

import folium
import numpy as np
import shapely
from branca.element import Element, MacroElement
from jinja2 import Template

from geo_cohesion.maps.classify import NO_DATA_COLOUR
from geo_cohesion.io.htmlsafe import escape_html, script_json
from geo_cohesion.maps.layers import CityMap, MapLayer
from geo_cohesion.io.write import write_text

LEAFLET_JS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"
LEAFLET_CSS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css"
KIND_TITLES = {"cohesion": "Zusammenhalt", "deviation": "Abweichung vom Stadtwert", "structural": "Strukturdaten",
               "bivariate": "Zusammenhalt und Benachteiligung", "cluster": "Räumliche Cluster"}


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


def _layer_payload(layer: MapLayer) -> dict:
    cls = layer.classification
    legend = [{"colour": c, "label": lab} for c, lab in zip(cls.colours, cls.labels)]
    colours = [cls.colour_of(int(i)) for i in cls.class_index]
    return {
        "key": layer.variable, "label": layer.label, "kind": layer.kind, "unit": layer.unit,
        "values": [_number(v) for v in layer.values],
        "ci_low": [_number(v) for v in layer.ci_low], "ci_high": [_number(v) for v in layer.ci_high],
        "n": [None if not math.isfinite(v) else int(v) for v in layer.n],
        "suppressed": [bool(s) for s in layer.suppressed],
        "rank": [None if not math.isfinite(v) else int(v) for v in layer.rank],
        "n_ranked": int(np.isfinite(layer.values).sum()),
        "colours": colours, "legend": legend,
    }


def map_payload(city_map: CityMap, tolerance_m: float = 5.0) -> dict:
    """Everything the page script needs, as plain data (geometry once, values per layer)."""
    names = city_map.boundaries["district_name"].astype(str).tolist()
    groups = []
    for kind in KIND_TITLES:
        keys = [layer.variable for layer in city_map.layers if layer.kind == kind]
        if keys:
            groups.append({"title": KIND_TITLES[kind], "keys": keys})
    return {
        "city": city_map.city, "title": city_map.title or f"{city_map.city}: Sozialer Zusammenhalt",
        "notes": [n for n in [city_map.source, *city_map.notes] if n],
        "names": names, "min_n": city_map.min_n, "no_data": NO_DATA_COLOUR, "ci_label": city_map.ci_label,
        "groups": groups, "layers": [_layer_payload(layer) for layer in city_map.layers],
        "geojson": geometry_geojson(city_map, tolerance_m),
    }


_SCRIPT = Template("""
{% macro header(this, kwargs) %}
<style>
.gc-panel, .gc-legend, .gc-title, .gc-notes { background: rgba(255,255,255,0.93); padding: 6px 9px;
  border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,0.35); font: 13px/1.35 "Helvetica Neue", Arial, sans-serif; }
.gc-panel { max-height: 70vh; overflow-y: auto; min-width: 230px; }
.gc-legend h4 { margin: 4px 0 3px; font-size: 13px; }
.gc-panel summary { font-weight: bold; margin: 4px 0 2px; cursor: pointer; }
.gc-panel label { display: block; cursor: pointer; white-space: nowrap; }
.gc-legend .gc-swatch { display: inline-block; width: 18px; height: 12px; margin-right: 6px; vertical-align: middle;
  border: 1px solid #999; }
.gc-title { font-size: 16px; font-weight: bold; }
.gc-notes { font-size: 11px; color: #333; max-width: 60vw; }
.gc-tip b { font-size: 13px; }
.gc-side { position: absolute; top: 0; bottom: 0; right: 0; width: 50%; border-left: 3px solid #ffffff; background: #dddddd; }
.gc-side-select { max-width: 240px; margin: 2px 0 4px 18px; }
</style>
{% endmacro %}
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var DATA = <GC-DATA>;
  var byKey = Object.create(null);  // layer keys are user text ("__proto__" too): no prototype
  DATA.layers.forEach(function (l) { byKey[l.key] = l; });
  var active = DATA.layers[0].key;
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = text; }
    if (cls) { e.className = cls; }
    return e;
  }
  function fmt(v) { return v === null ? null : v.toFixed(1).replace(".", ","); }
  function styleOf(key) {
    return function (feature) {
      var l = byKey[key], i = feature.properties.i;
      var fill = l.suppressed[i] ? "url(#gc-hatch)" : l.colours[i];
      return {color: "#ffffff", weight: 1.2, opacity: 1, fillColor: fill, fillOpacity: 0.85};
    };
  }
  function styleFor(feature) { return styleOf(active)(feature); }
  function tooltipFor(i, key) {
    var l = byKey[key === undefined ? active : key], box = el("div", null, "gc-tip");
    box.appendChild(el("b", DATA.names[i]));
    box.appendChild(el("div", l.label));
    if (l.suppressed[i]) {
      box.appendChild(el("div", "zu wenige Befragte (n < " + DATA.min_n + ")"));
      if (l.n[i] !== null) { box.appendChild(el("div", "n = " + l.n[i])); }
      return box;
    }
    if (l.values[i] === null) { box.appendChild(el("div", "keine Daten")); return box; }
    box.appendChild(el("div", "Wert: " + fmt(l.values[i]) + (l.unit ? " " + l.unit : "")));
    if (l.ci_low[i] !== null && l.ci_high[i] !== null) {
      box.appendChild(el("div", DATA.ci_label + ": " + fmt(l.ci_low[i]) + " – " + fmt(l.ci_high[i])));
    }
    if (l.n[i] !== null) { box.appendChild(el("div", "Befragte: n = " + l.n[i])); }
    if (l.rank[i] !== null) { box.appendChild(el("div", "Rang " + l.rank[i] + " von " + l.n_ranked + " in der Stadt")); }
    return box;
  }
  var geo = L.geoJSON(DATA.geojson, {
    style: styleFor,
    onEachFeature: function (feature, layer) {
      layer.bindTooltip(function () { return tooltipFor(feature.properties.i); }, {sticky: true});
      layer.on("mouseover", function () { layer.setStyle({weight: 3, color: "#333333"}); });
      layer.on("mouseout", function () { geo.resetStyle(layer); });
    }
  }).addTo(map);
  map.fitBounds(geo.getBounds(), {padding: [10, 10]});
  L.control.scale({imperial: false, position: "bottomleft"}).addTo(map);
  function addHatch(m) {
    var svg = m.getPanes().overlayPane.querySelector("svg");
    if (!svg) { return; }
    var ns = "http://www.w3.org/2000/svg";
    var defs = document.createElementNS(ns, "defs");
    var pat = document.createElementNS(ns, "pattern");
    pat.setAttribute("id", "gc-hatch"); pat.setAttribute("patternUnits", "userSpaceOnUse");
    pat.setAttribute("width", "8"); pat.setAttribute("height", "8"); pat.setAttribute("patternTransform", "rotate(45)");
    var bg = document.createElementNS(ns, "rect");
    bg.setAttribute("width", "8"); bg.setAttribute("height", "8"); bg.setAttribute("fill", DATA.no_data);
    var line = document.createElementNS(ns, "line");
    line.setAttribute("x1", "0"); line.setAttribute("y1", "0"); line.setAttribute("x2", "0"); line.setAttribute("y2", "8");
    line.setAttribute("stroke", "#737373"); line.setAttribute("stroke-width", "3");
    pat.appendChild(bg); pat.appendChild(line); defs.appendChild(pat); svg.insertBefore(defs, svg.firstChild);
  }
  addHatch(map);
  var legendDiv;
  function fillLegend(div, key) {
    var l = byKey[key];
    while (div.firstChild) { div.removeChild(div.firstChild); }
    div.appendChild(el("h4", l.label + (l.unit ? " (" + l.unit + ")" : "")));
    l.legend.forEach(function (item) {
      var row = el("div"), sw = el("span", null, "gc-swatch");
      sw.style.background = item.colour; row.appendChild(sw); row.appendChild(document.createTextNode(item.label));
      div.appendChild(row);
    });
    var anyMissing = false, anySuppressed = false;
    l.values.forEach(function (v, i) { if (l.suppressed[i]) { anySuppressed = true; } else if (v === null) { anyMissing = true; } });
    if (anySuppressed) {
      var r1 = el("div"), s1 = el("span", null, "gc-swatch");
      s1.style.background = "repeating-linear-gradient(45deg, #737373 0 2px, " + DATA.no_data + " 2px 6px)";
      r1.appendChild(s1); r1.appendChild(document.createTextNode("zu wenige Befragte (n < " + DATA.min_n + ")"));
      div.appendChild(r1);
    }
    if (anyMissing) {
      var r2 = el("div"), s2 = el("span", null, "gc-swatch");
      s2.style.background = DATA.no_data; r2.appendChild(s2); r2.appendChild(document.createTextNode("keine Daten"));
      div.appendChild(r2);
    }
    div.setAttribute("data-layer", l.key);
  }
  function updateLegend() {
    fillLegend(legendDiv, active);
    fitPanel();
  }
  var panelDiv;
  function fitPanel() {  // the layer panel ends above the legend, so no layer is hidden behind it
    if (!panelDiv || !legendDiv) { return; }
    var room = legendDiv.getBoundingClientRect().top - panelDiv.getBoundingClientRect().top - 12 - 10;  // padding, gap
    panelDiv.style.maxHeight = Math.max(100, Math.min(0.7 * map.getSize().y, room)) + "px";
  }
  var legend = L.control({position: "bottomright"});
  legend.onAdd = function () { legendDiv = el("div", null, "gc-legend"); return legendDiv; };
  legend.addTo(map);
  var panel = L.control({position: "topright"});
  panel.onAdd = function () {
    var div = el("div", null, "gc-panel");
    DATA.groups.forEach(function (group, g) {
      var box = el("details"), summary = el("summary", group.title);
      box.open = g === 0; box.appendChild(summary); div.appendChild(box);
      group.keys.forEach(function (key) {
        var label = el("label"), input = el("input");
        input.type = "radio"; input.name = "gc-layer"; input.value = key; input.checked = key === active;
        input.addEventListener("change", function () {
          active = key; geo.setStyle(styleFor); updateLegend();
        });
        label.appendChild(input); label.appendChild(document.createTextNode(" " + byKey[key].label));
        box.appendChild(label);
      });
    });
    L.DomEvent.disableClickPropagation(div); L.DomEvent.disableScrollPropagation(div);
    panelDiv = div;
    return div;
  };
  panel.addTo(map);
  map.on("resize", fitPanel);
  // ---- side-by-side view: a second synchronised map on the right, sharing the same geometry
  var side = null;
  function defaultSideKey() {
    for (var i = 0; i < DATA.layers.length; i++) { if (DATA.layers[i].kind === "structural") { return DATA.layers[i].key; } }
    return DATA.layers[Math.min(1, DATA.layers.length - 1)].key;
  }
  function openSide(key) {
    if (side) { side.setLayer(key); return; }
    var container = map.getContainer();
    var div = el("div", null, "gc-side");
    div.id = "gc-side-map";
    container.style.width = "50%";
    container.parentNode.appendChild(div);
    var right = L.map(div, {zoomControl: false, attributionControl: false, center: map.getCenter(), zoom: map.getZoom()});
    var sideKey = key;
    var geoR = L.geoJSON(DATA.geojson, {
      style: function (f) { return styleOf(sideKey)(f); },
      onEachFeature: function (feature, layer) {
        layer.bindTooltip(function () { return tooltipFor(feature.properties.i, sideKey); }, {sticky: true});
      }
    }).addTo(right);
    addHatch(right);
    var sideLegendDiv;
    var sideLegend = L.control({position: "bottomright"});
    sideLegend.onAdd = function () { sideLegendDiv = el("div", null, "gc-legend gc-side-legend"); return sideLegendDiv; };
    sideLegend.addTo(right);
    fillLegend(sideLegendDiv, sideKey);
    var syncing = false;
    function follow(a, b) {
      var handler = function () {
        if (syncing) { return; }
        syncing = true; b.setView(a.getCenter(), a.getZoom(), {animate: false}); syncing = false;
      };
      a.on("move", handler);
      return handler;
    }
    var mainFollower = follow(map, right);
    follow(right, map);
    map.invalidateSize({animate: false});
    right.setView(map.getCenter(), map.getZoom(), {animate: false});
    side = {map: right, layer: geoR, div: div, follower: mainFollower,
      setLayer: function (k) { sideKey = k; geoR.setStyle(function (f) { return styleOf(sideKey)(f); }); fillLegend(sideLegendDiv, sideKey); },
      active: function () { return sideKey; }};
    fitPanel();
  }
  function closeSide() {
    if (!side) { return; }
    map.off("move", side.follower);
    side.map.remove(); side.div.parentNode.removeChild(side.div); side = null;
    map.getContainer().style.width = "";
    map.invalidateSize({animate: false});
    fitPanel();
  }
  var sideBox = el("details"), sideSummary = el("summary", "Vergleichsansicht");
  sideBox.appendChild(sideSummary);
  var sideLabel = el("label"), sideCheck = el("input"), sideSelect = el("select");
  sideCheck.type = "checkbox"; sideCheck.name = "gc-side";
  sideLabel.appendChild(sideCheck); sideLabel.appendChild(document.createTextNode(" zweite Karte rechts:"));
  DATA.layers.forEach(function (l) {
    var option = el("option", l.label); option.value = l.key; sideSelect.appendChild(option);
  });
  sideSelect.name = "gc-side-layer"; sideSelect.value = defaultSideKey(); sideSelect.className = "gc-side-select";
  sideCheck.addEventListener("change", function () { if (sideCheck.checked) { openSide(sideSelect.value); } else { closeSide(); } });
  sideSelect.addEventListener("change", function () { if (side) { side.setLayer(sideSelect.value); } });
  sideBox.appendChild(sideLabel); sideBox.appendChild(sideSelect);
  panelDiv.appendChild(sideBox);
  var title = L.control({position: "topleft"});
  title.onAdd = function () { return el("div", DATA.title, "gc-title"); };
  title.addTo(map);
  var notes = L.control({position: "bottomleft"});
  notes.onAdd = function () {
    var div = el("div", null, "gc-notes");
    DATA.notes.forEach(function (n) { div.appendChild(el("div", n)); });
    return div;
  };
  notes.addTo(map);
  updateLegend();
  window.geoCohesion = {map: map, data: DATA, layer: geo,
    setLayer: function (key) {
      active = key; geo.setStyle(styleFor); updateLegend();
      document.querySelectorAll("input[name=gc-layer]").forEach(function (i) { i.checked = i.value === key; });
    },
    active: function () { return active; },
    openSide: function (key) { sideCheck.checked = true; sideSelect.value = key || defaultSideKey(); openSide(sideSelect.value); },
    closeSide: function () { sideCheck.checked = false; closeSide(); },
    side: function () { return side; }};
})();
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


def _inline_assets(html: str) -> str:
    """Replace the Leaflet CDN links by the files shipped with the ``xstatic-leaflet`` package."""
    try:
        import xstatic.pkg.leaflet as xs  # type: ignore[import-not-found]
    except ImportError as exc:  # pragma: no cover - dependency declared in pyproject
        raise RuntimeError("offline maps need the 'xstatic-leaflet' package") from exc
    base = Path(xs.BASE_DIR)
    js = (base / "leaflet.js").read_text(encoding="utf-8").replace("//# sourceMappingURL=leaflet.js.map", "")
    css = (base / "leaflet.css").read_text(encoding="utf-8")
    html = html.replace(f'<script src="{LEAFLET_JS}"></script>', f"<script>{js}</script>")
    return html.replace(f'<link rel="stylesheet" href="{LEAFLET_CSS}"/>', f"<style>{css}</style>")


def render_html_map(city_map: CityMap, tolerance_m: float = 5.0, offline: bool = False) -> str:
    """Render the interactive map of one city as a self-contained HTML string.

    Parameters
    ----------
    city_map : CityMap
    tolerance_m : float
        Coverage-preserving simplification tolerance in metres.
    offline : bool
        Inline Leaflet (from ``xstatic-leaflet``) so the page works without internet access;
        otherwise Leaflet is loaded from a CDN like any folium map.

    Returns
    -------
    str
        The HTML page. Identical inputs give identical text.
    """
    payload = map_payload(city_map, tolerance_m)
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


def write_html_map(city_map: CityMap, path: str | Path, tolerance_m: float = 5.0, offline: bool = False) -> Path:
    """Render and atomically write the city's HTML map."""
    return write_text(path, render_html_map(city_map, tolerance_m, offline))
