"""Interactive HTML map (geo_cohesion.maps.html): geometry once, safe text, determinism."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo_cohesion.demo.shapes import build_schematic_boundaries, load_cities
from geo_cohesion.maps.html import _asset, geometry_geojson, map_payload, render_html_map
from geo_cohesion.maps.layers import add_deviation_layers, build_city_map
from geo_cohesion.radar.codebook import load_radar

HOSTILE = '</script><script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def city_map():
    city = next(c for c in load_cities() if c["slug"] == "dortmund")
    b = build_schematic_boundaries(city)
    b.loc[0, "district_name"] = HOSTILE
    rng = np.random.default_rng(0)
    rows = [{"district_id": i, "variable": v, "estimate": rng.uniform(40, 80), "ci_low": 1.0, "ci_high": 2.0,
             "n": int(rng.integers(10, 90))} for i in b["district_id"] for v in load_radar().variables]
    est = pd.DataFrame(rows)
    est["suppressed"] = est["n"] < 30
    structural = pd.DataFrame({"district_id": b["district_id"], "unemployment_pct": rng.uniform(5, 20, len(b))})
    cm = build_city_map("Dortmund", b, est, structural, notes=["synthetische Demodaten", HOSTILE], title=HOSTILE)
    add_deviation_layers(cm, {"index": 60.0})
    return cm


def embedded_payload(html: str) -> dict:
    match = re.search(r"var DATA = (\{.*?\});\n", html)
    return json.loads(match.group(1))


def test_geometry_is_embedded_once(city_map):
    html = render_html_map(city_map)
    assert html.count('"coordinates"') == len(city_map.boundaries)
    payload = embedded_payload(html)
    assert len(payload["layers"]) == 13 + 1 + 1
    assert all(len(layer["colours"]) == len(city_map.boundaries) for layer in payload["layers"])


def test_hostile_text_cannot_close_the_script(city_map):
    html = render_html_map(city_map)
    data_text = re.search(r"var DATA = (\{.*?\});\n", html).group(1)
    assert "<" not in data_text and ">" not in data_text
    payload = embedded_payload(html)
    assert payload["names"][0] == HOSTILE and payload["title"] == HOSTILE  # round-trips as plain text
    title = re.search(r"<title>(.*?)</title>", html).group(1)
    assert "<script>" not in title and "&lt;/script&gt;" in title
    # all text goes in with textContent (the page's own script; Leaflet, inlined by default, uses
    # innerHTML for its attribution control, which gets only escaped text)
    assert "innerHTML" not in _asset("map.js")


def test_render_is_deterministic(city_map):
    assert render_html_map(city_map) == render_html_map(city_map)


def test_simplified_rounded_geometry_keeps_shared_borders(city_map):
    collection = geometry_geojson(city_map, tolerance_m=50.0)
    geoms = [shapely.geometry.shape(f["geometry"]) for f in collection["features"]]
    assert all(g.is_valid and not g.is_empty for g in geoms)
    metric = gpd.GeoSeries(geoms, crs="EPSG:4326").to_crs("EPSG:25832")
    union = shapely.union_all(np.asarray(metric.values))
    assert union.geom_type == "Polygon" and len(union.interiors) == 0  # no gaps between districts
    assert abs(union.area - metric.area.sum()) / union.area < 1e-9      # no overlaps


def test_suppressed_districts_carry_no_number(city_map):
    payload = map_payload(city_map)
    for layer in payload["layers"]:
        for value, hidden in zip(layer["values"], layer["suppressed"]):
            assert not (hidden and value is not None)


def test_offline_map_inlines_leaflet(city_map):
    html = render_html_map(city_map, offline=True)
    assert "cdn.jsdelivr" not in html and "L.geoJSON" in html and "Leaflet" in html


class _Resources(HTMLParser):
    """Addresses an HTML page loads by itself: ``src``/``href`` of loading elements and CSS
    ``url()``/``@import`` in ``<style>`` (script text is code, checked in the browser tests)."""

    LOADING = {"script": "src", "link": "href", "img": "src", "iframe": "src", "source": "src", "embed": "src",
               "object": "data", "video": "src", "audio": "src", "image": "href", "use": "href"}

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in self.LOADING and attrs.get(self.LOADING[tag]):
            self.found.append(attrs[self.LOADING[tag]])
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.found += re.findall(r"""(?:url\(\s*["']?|@import\s+["'])([^"')\s]+)""", data)


def resource_references(html: str) -> list[str]:
    """Every address the page would load by itself."""
    parser = _Resources()
    parser.feed(html)
    return parser.found


def test_default_map_is_self_contained(city_map):
    """By default nothing is loaded from outside the file: no http(s) resource, no relative file
    (Leaflet's own images are data URIs), and no CDN."""
    html = render_html_map(city_map)
    refs = resource_references(html)
    assert refs, "the check must see the inlined data URIs"  # it does find references when present
    outside = [r for r in refs if not r.startswith(("data:", "#"))]
    assert outside == []
    assert resource_references('<img src="https://x.test/a.png"><style>a{b:url(c.png)}</style>') == [
        "https://x.test/a.png", "c.png"]  # the check itself sees outside references
    assert "cdn.jsdelivr" not in html and "<script src=" not in html and "<link " not in html
    cdn = render_html_map(city_map, offline=False)  # the option: Leaflet from the CDN
    assert [r for r in resource_references(cdn) if r.startswith("https://")] == [
        "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js",
        "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css"]


def test_estimator_and_reason_reach_the_page_as_plain_text():
    """Per-district estimator labels and suppression reasons travel in the payload JSON (script-safe)
    and are shown with textContent: tooltip "Schätzer: …", legend note, notes line."""
    city = next(c for c in load_cities() if c["slug"] == "lippstadt")
    b = build_schematic_boundaries(city)
    ids = b["district_id"].tolist()
    est = pd.DataFrame({"district_id": ids, "variable": "index", "estimate": np.linspace(55, 70, len(ids)),
                        "ci_low": 50.0, "ci_high": 75.0, "n": 10,
                        "estimator": ["fay_herriot"] * (len(ids) - 2) + ["synthetic", "direct"],
                        "suppressed": [False] * (len(ids) - 1) + [True],
                        "reason": [""] * (len(ids) - 1) + [HOSTILE]})
    cm = build_city_map("Lippstadt", b, est, estimator_note="Schätzer: Fay-Herriot " + HOSTILE,
                        suppressed_label="nicht veröffentlicht (zu unsicher)")
    html = render_html_map(cm)
    data_text = re.search(r"var DATA = (\{.*?\});\n", html).group(1)
    assert "<" not in data_text and ">" not in data_text
    data = embedded_payload(html)
    layer = data["layers"][0]
    assert layer["estimator"][:2] == ["Fay-Herriot", "Fay-Herriot"] and layer["estimator"][-2:] == ["synthetisch",
                                                                                                    "direkt"]
    assert layer["reason"][-1] == HOSTILE and layer["reason"][0] is None
    assert layer["estimator_note"] == f"Schätzer: Fay-Herriot ({len(ids) - 2} Gebiete), synthetisch (1 Gebiet)"
    assert data["suppressed_label"] == "nicht veröffentlicht (zu unsicher)"
    assert "Schätzer: Fay-Herriot " + HOSTILE in data["notes"]
    assert 'TEXT.estimator + ": " + l.estimator[i]' in html and "innerHTML" not in _asset("map.js")
    assert data["text"]["estimator"] == "Schätzer"
    # without estimator information nothing changes
    plain = build_city_map("Lippstadt", b, est.drop(columns=["estimator", "reason"]))
    data = map_payload(plain)
    assert data["layers"][0]["estimator_note"] is None and data["layers"][0]["estimator"] is None
    assert data["layers"][0]["reason"] is None  # no list of nulls (size of 10,000-district maps)
    assert data["suppressed_label"] == "zu wenige Befragte (n < 30)"


def test_keys_label_points_and_search_words_reach_the_page(city_map):
    payload = map_payload(city_map)
    assert payload["keys"] == city_map.boundaries["district_id"].astype(str).tolist()
    assert sorted(payload["label_order"]) == list(range(len(city_map.boundaries)))
    area = city_map.boundaries.geometry.area.to_numpy()
    assert area[payload["label_order"][0]] == area.max()  # largest district is named first
    wgs = city_map.boundaries.to_crs("EPSG:4326").geometry
    for (lat, lon), polygon in zip(payload["label_points"], wgs):
        assert polygon.buffer(1e-4).contains(shapely.Point(lon, lat))  # the name sits inside its district
    assert payload["text"]["district_key"] == "Gebietsschlüssel"
    assert payload["text"]["search"] == "Gebiet suchen (Name oder Schlüssel)"


def test_base_map_is_off_by_default_and_its_attribution_is_escaped(city_map):
    from geo_cohesion.settings import MapSpec

    assert MapSpec().basemap is None and map_payload(city_map)["basemap"] is None
    spec = MapSpec(basemap={"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                            "attribution": '© OpenStreetMap <img src=x onerror=alert(1)>'})
    html = render_html_map(city_map, basemap=spec.basemap)
    payload = embedded_payload(html)
    assert payload["basemap"] == {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                                  "attribution": "© OpenStreetMap &lt;img src=x onerror=alert(1)&gt;",
                                  "max_zoom": 19}
    assert resource_references(html) == resource_references(render_html_map(city_map))  # nothing else added


def test_wms_base_map_is_checked_and_passed_to_leaflet(city_map):
    from geo_cohesion.settings import MapSpec, SettingsError, validate_section

    spec = MapSpec(basemap={"url": "https://sgx.geodatenzentrum.de/wms_basemapde", "attribution": "© basemap.de / BKG",
                            "wms_layers": " de_basemapde_web_raster_grau, de_basemapde_web_raster_farbe "})
    payload = embedded_payload(render_html_map(city_map, basemap=spec.basemap))
    assert payload["basemap"]["wms"] == {"layers": "de_basemapde_web_raster_grau,de_basemapde_web_raster_farbe",
                                         "format": "image/png"}
    assert "wms" not in map_payload(city_map, basemap=MapSpec(basemap={
        "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "attribution": "© OSM"}).basemap)["basemap"]
    bad = [({"url": "https://x.example/{z}/{x}/{y}.png", "wms_layers": "a"}, "without tile placeholders"),
           ({"url": "https://x.example/wms?SERVICE=WMS", "wms_layers": "a"}, "without a query"),
           ({"url": "https://x.example/wms"}, "https tile URL with"),
           ({"url": "http://x.example/wms", "wms_layers": "a"}, "https"),
           ({"url": "https://x.example/wms", "wms_layers": "a, ,b"}, "layer names"),
           ({"url": "https://x.example/wms", "wms_layers": "a", "wms_format": "image/gif"}, "image/png")]
    for raw, message in bad:
        with pytest.raises(SettingsError, match=message):
            validate_section(MapSpec, {"basemap": {"attribution": "© x", **raw}})


def test_significance_reaches_the_deviation_layer_from_the_table(city_map):
    from geo_cohesion.maps.significance import add_significance

    ids = city_map.boundaries["district_id"].astype(str).tolist()
    significant = [i % 3 == 0 for i in range(len(ids))]
    table = pd.DataFrame({"district_id": ids, "variable": "index",
                          "deviation": [(-1) ** i * (i + 1.0) for i in range(len(ids))],
                          "p_adjusted": [np.nan if i == 1 else 0.5 for i in range(len(ids))],
                          "significant": significant})
    layer = city_map.layer("index__deviation")
    before = (layer.significance, layer.significance_note)
    try:
        assert add_significance(city_map, table, "fdr_bh", 0.1) == 1
        payload = next(p for p in map_payload(city_map)["layers"] if p["key"] == "index__deviation")
        expected = [None if i == 1 else ((-1) ** i if significant[i] else 0) for i in range(len(ids))]
        assert payload["significance"] == expected
        assert payload["significance_note"] == "Benjamini-Hochberg-Korrektur (FDR), α = 0,1"
        assert "Benjamini-Hochberg-Korrektur (FDR), α = 0,1" in payload["significance_legend"]
        assert all(p["significance"] is None for p in map_payload(city_map)["layers"] if p["kind"] != "deviation")
    finally:
        layer.significance, layer.significance_note = before
