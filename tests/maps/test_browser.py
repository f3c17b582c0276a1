"""The interactive map in a real browser (headless Chromium driven by Selenium).

What a user sees is checked in the page itself, not in the HTML text: the page loads without a
single console error, switching layers restyles the districts with exactly the payload's colours
and swaps the legend, hovering a district shows its tooltip, a screenshot shows the map, and
hostile text (district names, titles, notes, layer names, city names) stays text: a hook
installed before any page script records every ``alert``/``confirm``/``prompt``, error event and
``window.__pwned`` assignment a payload could trigger.

Maps are rendered with ``offline=True`` (Leaflet inlined), so no network is needed. Without
chromium, chromedriver or selenium the tests skip with the reason; with ``CI=true`` they fail
instead, so CI cannot silently skip them (``.ci/run`` installs the browser).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from geo_cohesion.demo.shapes import build_schematic_boundaries, load_cities
from geo_cohesion.io.htmlsafe import escape_html
from geo_cohesion.maps.html import map_payload, render_html_map
from geo_cohesion.maps.layers import add_deviation_layers, add_need_class, add_rank_intervals, build_city_map
from geo_cohesion.maps.need_layers import add_need_layers
from geo_cohesion.stats.compare import rank_intervals

pytestmark = pytest.mark.browser
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROME_ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", "--window-size=1200,900", "--force-device-scale-factor=1")
SUPPRESSED = {2, 7}          # districts with too few respondents in every Radar layer
NO_DATA = 4                  # district without an estimate in the "soziale_netze" layer
HATCH_FILL = "url(#gc-hatch)"

#: Runs in every frame before any page script: records whatever a payload could execute.
HOOK = """
window.__xss = []; window.__errors = [];
(function () {
  function recorder(kind) {
    return function () { window.__xss.push(kind + ": " + Array.prototype.join.call(arguments, " ")); };
  }
  window.alert = recorder("alert"); window.confirm = recorder("confirm");
  window.prompt = recorder("prompt"); window.print = recorder("print");
  window.addEventListener("error", function (e) {
    window.__errors.push(String(e.message || (e.target && (e.target.outerHTML || e.target.tagName)) || e.type));
  }, true);
  window.addEventListener("unhandledrejection", function (e) { window.__errors.push("rejection: " + e.reason); });
})();
"""

#: Hostile text for every place user text reaches the page.
XSS = [
    '<script>alert("script")</script>',
    '</script><script>alert("breakout")</script>',
    '<img src=x onerror=alert("img")>',
    '<svg onload=alert("svg")>',
    '<svg><script>alert&#40;"svg-script"&#41;</script></svg>',
    'javascript:alert("js-url")',
    '<a href="javascript:alert(\'href\')">klick</a>',
    '"><img src=x onerror="window.__pwned=1">',
    "'><svg/onload=window.__pwned=1>",
    '" onmouseover="window.__pwned=1" x="',
    "`${alert('template')}`",
    "${window.__pwned=1}",
    'Nord\u2028</script>\u2029<script>alert("u2028")</script>',
    '&lt;script&gt;alert("entities")&lt;/script&gt; &amp; &#60;b&#62;fett&#60;/b&#62;',
    '<iframe srcdoc="<script>parent.alert(&quot;srcdoc&quot;)</script>"></iframe>',
    '<div style="background:url(javascript:alert(\'css\'))">x</div>',
    '<p style="width:expression(alert(\'expression\'))">IE</p>',
    '<!--<script>alert("comment")</script>-->',
    '"});alert("json");({"a":"',
    "'-alert('quote')-'",
    '{{ alert("jinja") }}{% raw %}',
    "{{ 7*7 }}{# jinja comment",
    "{{ cycler.__init__.__globals__.os.getcwd() }}",
    '<math><mtext><table><mglyph><style><img src=x onerror=alert("mxss")>',
    '<body onload=alert("body")>',
    '<object data="javascript:alert(\'object\')"></object>',
    '<input autofocus onfocus=alert("focus")>',
    '<details open ontoggle=alert("toggle")>',
    '<base href="javascript:alert(\'base\')//">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(\'meta\')">',
    '</title><script>alert("title")</script>',
    '</style><script>alert("style")</script>',
    ']]><script>alert("cdata")</script>',
    '\\u003cscript\\u003ealert("escaped")\\u003c/script\\u003e',
    '<<script>script>alert("nested")<</script>/script>',
]
#: Elements and attributes none of the payloads may create.
INJECTED = ("iframe, object, embed, base, meta[http-equiv]:not([http-equiv='content-type']), img, math, "
            "input:not([name='gc-layer']):not([name='gc-side']):not([name='gc-search']):not([name='gc-labels']), "
            "details:not(.gc-panel > details), "
            "a[href^='javascript'], "
            "body [onload], [onerror], [onmouseover], [onfocus], [ontoggle]")


# --------------------------------------------------------------------------- browser


def _unavailable(reason: str) -> None:
    """Skip locally; fail in CI, which must run these tests."""
    if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
        pytest.fail(f"{reason} (CI=true: browser tests must run; .ci/run installs chromium and chromium-driver)",
                    pytrace=False)
    pytest.skip(reason)


def _chromium() -> tuple[str, str]:
    browser = next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)
    driver = shutil.which("chromedriver")
    if browser is None:
        _unavailable("chromium not installed (apt-get install chromium)")
    if driver is None:
        _unavailable("chromedriver not installed (apt-get install chromium-driver)")
    return browser, driver


@pytest.fixture(scope="module")
def driver():
    """One headless Chromium for the whole module, with the XSS hook on every new document."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium not installed (pip install -e '.[test]')")
    browser, chromedriver = _chromium()
    profile = tempfile.mkdtemp(prefix="gc-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (*CHROME_ARGS, f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        drv.set_window_size(1200, 900)
        drv.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOOK})
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_problems(drv) -> list[str]:
    """Console errors and warnings since the last call (the log is drained by reading it)."""
    return [f"{e['level']}: {e['message']}" for e in drv.get_log("browser")
            if e["level"] in {"SEVERE", "WARNING"} and "favicon.ico" not in e["message"]]


def load(drv, path: Path) -> dict:
    """Open a map page, wait for its script, and return the page's payload (``geoCohesion.data``)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    drv.get_log("browser")  # drain messages of earlier pages
    drv.get(path.as_uri())
    try:
        WebDriverWait(drv, 15, poll_frequency=0.05).until(lambda d: d.execute_script("return !!window.geoCohesion"))
    except TimeoutException:
        pytest.fail(f"map script did not start: {console_problems(drv)}")
    return drv.execute_script("return window.geoCohesion.data")


def district_paths(drv) -> list:
    from selenium.webdriver.common.by import By

    return drv.find_elements(By.CSS_SELECTOR, "path.leaflet-interactive")


def fills(drv) -> list[str]:
    return [p.get_attribute("fill") for p in district_paths(drv)]


def expected_fills(layer: dict) -> list[str]:
    return [HATCH_FILL if s else c for c, s in zip(layer["colours"], layer["suppressed"])]


def select_layer(drv, key: str) -> None:
    """Click the layer's radio button like a user (opening its group first if it is folded)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    radio = drv.execute_script(
        "var inputs = document.querySelectorAll('.gc-panel input[name=\"gc-layer\"]');"
        "for (var k = 0; k < inputs.length; k++) { if (inputs[k].value === arguments[0]) { return inputs[k]; } }"
        "return null;", key)
    assert radio is not None, f"no radio button for layer {key!r}"
    group = radio.find_element(By.XPATH, "ancestor::details")
    if not group.get_property("open"):
        group.find_element(By.TAG_NAME, "summary").click()
    radio.click()
    WebDriverWait(drv, 5, poll_frequency=0.02).until(
        lambda d: d.execute_script("return document.querySelector('.gc-legend').getAttribute('data-layer')") == key)


#: A point inside district ``arguments[0]`` that is not covered by a control (viewport offsets
#: from the element's centre, as Selenium's move_to_element_with_offset wants them).
_INTERIOR_POINT = """
var path = document.querySelectorAll('path.leaflet-interactive')[arguments[0]];
var r = path.getBoundingClientRect(), hits = [];
for (var a = 1; a < 20; a++) { for (var b = 1; b < 20; b++) {
  var x = r.left + r.width * a / 20, y = r.top + r.height * b / 20;
  if (document.elementFromPoint(x, y) === path) { hits.push([x, y]); }
} }
if (!hits.length) { return null; }
var cx = hits.reduce(function (s, h) { return s + h[0]; }, 0) / hits.length;
var cy = hits.reduce(function (s, h) { return s + h[1]; }, 0) / hits.length;
hits.sort(function (p, q) { return Math.hypot(p[0] - cx, p[1] - cy) - Math.hypot(q[0] - cx, q[1] - cy); });
return [Math.round(hits[0][0] - (r.left + r.width / 2)), Math.round(hits[0][1] - (r.top + r.height / 2))];
"""


def hover(drv, i: int, name: str) -> str:
    """Move the mouse onto district ``i`` and return the tooltip's text once it shows ``name``."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait

    offset = drv.execute_script(_INTERIOR_POINT, i)
    assert offset is not None, f"district {i} is hidden behind the map controls"
    ActionChains(drv, duration=0).move_to_element_with_offset(district_paths(drv)[i], *offset).perform()
    WebDriverWait(drv, 5, poll_frequency=0.02).until(
        lambda d: d.execute_script(_TOOLTIP + "return t && t.querySelector('b').textContent;") == name,
        f"tooltip of district {i} does not show {name!r}")
    return drv.execute_script(_TOOLTIP + "return t.innerText;")


#: The open tooltip (a closed one fades out for 200 ms before Leaflet removes it).
_TOOLTIP = """
var open = Array.prototype.filter.call(document.querySelectorAll('.leaflet-tooltip'),
                                       function (e) { return e.style.opacity !== '0'; });
var t = open.length ? open[open.length - 1] : null;
"""


def decimal(value: float) -> str:
    return f"{value:.1f}".replace(".", ",")


# --------------------------------------------------------------------------- maps built in code

DORTMUND = next(c for c in load_cities() if c["slug"] == "dortmund")


def make_city_map(names=None, city="Dortmund", title="", notes=("synthetische Demodaten",), source="",
                  variables=("index", "soziale_netze"), structural=("unemployment_pct",), seed=0):
    """Schematic Dortmund with random estimates (some suppressed, one missing), structural and deviation layers."""
    boundaries = build_schematic_boundaries(DORTMUND)
    if names is not None:
        boundaries["district_name"] = list(names)
    rng = np.random.default_rng(seed)
    rows = []
    for variable in variables:
        for i, district in enumerate(boundaries["district_id"]):
            estimate = float(rng.uniform(40, 80))
            missing = variable == "soziale_netze" and i == NO_DATA
            rows.append({"district_id": district, "variable": variable,
                         "estimate": np.nan if missing else estimate, "ci_low": estimate - 4.2,
                         "ci_high": estimate + 3.9, "n": 12 if i in SUPPRESSED else int(rng.integers(30, 150)),
                         "suppressed": i in SUPPRESSED})
    table = pd.DataFrame({"district_id": boundaries["district_id"],
                          **{column: rng.uniform(3, 20, len(boundaries)) for column in structural}})
    city_map = build_city_map(city, boundaries, pd.DataFrame(rows), table, structural_variables=list(structural),
                              title=title, notes=notes, source=source)
    add_deviation_layers(city_map, {v: 60.0 for v in variables})
    return city_map


UNRANKED = 5                 # a published district the comparison table does not rank
NO_NEED = 9                  # a district without a need class


def add_tables(city_map, seed=0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A comparison table with rank intervals (of noisy "direct" estimates) and a need table, built
    in code, put on ``city_map`` as the pipeline does; returns ``(comparison, need)``."""
    rng = np.random.default_rng(seed)
    ids = city_map.boundaries["district_id"].astype(str).tolist()
    parts = []
    for layer in city_map.layers:
        if layer.kind != "cohesion":
            continue
        direct = layer.values + rng.normal(0, 3, len(ids))
        direct[UNRANKED] = np.nan
        ranks = rank_intervals(direct, np.full(len(ids), 2.5), 0.95, 300, seed=seed)
        parts.append(pd.concat([pd.DataFrame({"district_id": ids, "variable": layer.variable}), ranks], axis=1))
    comparison = pd.concat(parts, ignore_index=True)
    codes = pd.array([None if i == NO_NEED else 1 + i % 4 for i in range(len(ids))], dtype="Int64")
    need = pd.DataFrame({"district_id": ids, "need_score": rng.normal(0, 1, len(ids)), "need_class": codes,
                         "class_stability": rng.uniform(0.5, 1, len(ids))})
    need.attrs["class_breaks"] = [-1.0, 1.0, 1.5]
    add_rank_intervals(city_map, comparison)
    add_need_layers(city_map, need)
    add_need_class(city_map, need)
    return comparison, need


@pytest.fixture(scope="module")
def plain_map(tmp_path_factory):
    """An ordinary map page and its payload."""
    city_map = make_city_map(source="Radar gesellschaftlicher Zusammenhalt (synthetisch)")
    path = tmp_path_factory.mktemp("browser") / "dortmund.html"
    path.write_text(render_html_map(city_map, offline=True), encoding="utf-8")
    return path, city_map


def test_page_loads_without_console_errors(driver, plain_map):
    path, city_map = plain_map
    data = load(driver, path)
    assert console_problems(driver) == []
    assert driver.execute_script("return window.__errors") == []
    assert len(district_paths(driver)) == len(city_map.boundaries) == len(data["names"])
    assert driver.execute_script("return window.geoCohesion.active()") == "index"
    assert driver.find_element("css selector", ".gc-legend").get_attribute("data-layer") == "index"
    assert fills(driver) == expected_fills(data["layers"][0])
    assert driver.title == data["title"] == "Dortmund: Sozialer Zusammenhalt"


def test_switching_layers_restyles_districts_and_legend(driver, plain_map):
    from selenium.webdriver.common.by import By

    data = load(driver, plain_map[0])
    layers = {layer["key"]: layer for layer in data["layers"]}
    assert list(layers) == ["index", "soziale_netze", "unemployment_pct", "index__deviation",
                            "soziale_netze__deviation"]
    before = fills(driver)
    for key in ["unemployment_pct", "index__deviation", "soziale_netze", "index"]:
        layer = layers[key]
        select_layer(driver, key)
        after = fills(driver)
        assert after == expected_fills(layer), key
        assert after != before, f"switching to {key} did not change the fill colours"
        assert driver.execute_script("return window.geoCohesion.active()") == key
        legend = driver.find_element(By.CSS_SELECTOR, ".gc-legend")
        assert legend.get_attribute("data-layer") == key
        heading = legend.find_element(By.TAG_NAME, "h4").text
        assert heading == layer["label"] + (f" ({layer['unit']})" if layer["unit"] else "")
        rows = legend.find_elements(By.CSS_SELECTOR, ":scope > div")
        assert [r.text for r in rows[:len(layer["legend"])]] == [item["label"] for item in layer["legend"]]
        swatches = [r.find_element(By.CSS_SELECTOR, ".gc-swatch").value_of_css_property("background-color")
                    for r in rows[:len(layer["legend"])]]
        assert swatches == [_css_rgb(item["colour"]) for item in layer["legend"]]
        extra = [r.text for r in rows[len(layer["legend"]):]]
        assert ("zu wenige Befragte (n < 30)" in extra) == any(layer["suppressed"])
        assert ("keine Daten" in extra) == (key in {"soziale_netze", "soziale_netze__deviation"})
        before = after
    assert console_problems(driver) == []


def _css_rgb(colour: str) -> str:
    r, g, b = (int(colour[k:k + 2], 16) for k in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, 1)"


def test_hover_shows_the_tooltip(driver, plain_map):
    data = load(driver, plain_map[0])
    index = data["layers"][0]
    shown = next(i for i in range(len(data["names"])) if not index["suppressed"][i])
    # the plain move_to_element a user would do, on a district whose centre is free
    from selenium.webdriver.common.action_chains import ActionChains
    ActionChains(driver).move_to_element(district_paths(driver)[shown]).perform()
    text = hover(driver, shown, data["names"][shown])
    assert data["names"][shown] in text
    assert f"Wert: {decimal(index['values'][shown])} Punkte" in text
    assert (f"95-%-Konfidenzintervall: {decimal(index['ci_low'][shown])} – {decimal(index['ci_high'][shown])}"
            in text)
    assert f"n = {index['n'][shown]}" in text
    assert f"Rang {index['rank'][shown]} von {len(data['names']) - len(SUPPRESSED)} in der Stadt" in text
    assert f"Wert: {index['values'][shown]:.1f} " not in text  # no decimal point

    hidden = min(SUPPRESSED)
    text = hover(driver, hidden, data["names"][hidden])
    assert "zu wenige Befragte (n < 30)" in text and "n = 12" in text
    assert "Wert" not in text and "Rang" not in text and "Konfidenzintervall" not in text

    select_layer(driver, "soziale_netze")
    text = hover(driver, NO_DATA, data["names"][NO_DATA])
    assert "Soziale Netze" in text and "keine Daten" in text and "Wert" not in text

    select_layer(driver, "index__deviation")
    deviation = next(layer for layer in data["layers"] if layer["key"] == "index__deviation")
    text = hover(driver, shown, data["names"][shown])
    assert "Abweichung vom Stadtwert" in text and f"Wert: {decimal(deviation['values'][shown])} Punkte" in text
    assert console_problems(driver) == []


def test_tooltip_tells_no_respondents_from_no_valid_answers(driver, tmp_path):
    """n counts valid answers: n = 0 without a reason is a district without respondents ("keine
    Befragten"); n = 0 with the reliability rule's reason is one whose respondents all skipped the score."""
    boundaries = build_schematic_boundaries(DORTMUND)
    ids = boundaries["district_id"].tolist()
    rows = pd.DataFrame({"district_id": ids, "variable": "index", "estimate": np.linspace(50, 70, len(ids)),
                         "ci_low": np.linspace(46, 66, len(ids)), "ci_high": np.linspace(54, 74, len(ids)),
                         "n": 80, "suppressed": False, "reason": ""})
    rows.loc[[0, 1], ["estimate", "ci_low", "ci_high", "n", "suppressed"]] = [np.nan, np.nan, np.nan, 0, True]
    rows.loc[1, "reason"] = "keine gültigen Antworten"
    city_map = build_city_map("Dortmund", boundaries, rows, None, notes=("synthetische Demodaten",))
    path = tmp_path / "answers.html"
    path.write_text(render_html_map(city_map, offline=True), encoding="utf-8")
    data = load(driver, path)
    names = data["names"]
    empty = hover(driver, 0, names[0])
    assert "keine Befragten" in empty and "gültigen" not in empty
    skipped = hover(driver, 1, names[1])
    assert "nicht veröffentlicht: keine gültigen Antworten" in skipped and "n = 0" in skipped
    assert "keine Befragten" not in skipped
    assert console_problems(driver) == []


def test_tooltip_shows_the_tables_rank_interval_and_need_class(driver, tmp_path):
    """Rank and rank interval of the comparison table on the score layers ("–" where the table has
    none), the need table's class on every layer and only once on the need layer."""
    city_map = make_city_map()
    comparison, need = add_tables(city_map)
    path = tmp_path / "tables.html"
    path.write_text(render_html_map(city_map, offline=True), encoding="utf-8")
    data = load(driver, path)
    names, keys = data["names"], data["keys"]
    ranked = comparison.set_index(["variable", "district_id"])
    need_words = {k: None if pd.isna(c) else f"Bedarfsklasse {c} von 4" for k, c in zip(need["district_id"],
                                                                                          need["need_class"])}
    shown = [i for i in range(len(names)) if i not in SUPPRESSED | {UNRANKED, NO_NEED, NO_DATA}]
    for key, variable, i in (("index", "index", shown[0]), ("index__deviation", "index", shown[1]),
                             ("soziale_netze", "soziale_netze", shown[2])):
        select_layer(driver, key)
        text = hover(driver, i, names[i])
        row = ranked.loc[(variable, keys[i])]
        n = int(comparison.loc[comparison["variable"] == variable, "rank"].notna().sum())
        assert (f"Rang {row['rank']:.0f} (95-%-Rangintervall {row['rank_low']:.0f}–{row['rank_high']:.0f}) "
                f"von {n}") in text, key
        assert need_words[keys[i]] in text.split("\n")
    text = hover(driver, UNRANKED, names[UNRANKED])  # a value, but no rank in the table: no number
    assert "Wert: " in text and "Rang: – (nicht im Rangvergleich)" in text and "Rangintervall" not in text
    select_layer(driver, "unemployment_pct")  # other layers: the need class, their own point rank
    text = hover(driver, shown[3], names[shown[3]])
    assert need_words[keys[shown[3]]] in text and "Rangintervall" not in text and "in der Stadt" in text
    text = hover(driver, NO_NEED, names[NO_NEED])
    assert "Bedarfsklasse" not in text
    select_layer(driver, "need_class")
    text = hover(driver, shown[4], names[shown[4]])
    assert text.count(need_words[keys[shown[4]]]) == 1 and "Klassenstabilität" in text
    assert driver.execute_script("return window.__errors") == []
    assert console_problems(driver) == []


def test_screenshot_shows_the_map(driver, plain_map, tmp_path):
    from PIL import Image

    data = load(driver, plain_map[0])
    driver.execute_script("window.geoCohesion.map.invalidateSize(); return 1;")
    png = tmp_path / "dortmund.png"
    assert driver.save_screenshot(str(png))
    pixels = np.asarray(Image.open(png).convert("RGB")).astype(int)
    assert pixels.shape[:2] == (driver.execute_script("return window.innerHeight"),
                                driver.execute_script("return window.innerWidth"))
    h, w, _ = pixels.shape
    area = pixels[h // 6: 5 * h // 6, w // 4: 3 * w // 4]     # the middle, away from the controls
    flat = area.reshape(-1, 3)
    background = np.all(flat == 221, axis=1) | np.all(flat == 255, axis=1)   # Leaflet #ddd, white
    assert background.mean() < 0.8, "the map area is (almost) empty"
    assert len(np.unique(flat, axis=0)) > 20
    # every class colour of the visible districts is on screen (fill opacity 0.85 over #ddd)
    index = data["layers"][0]
    shown = {c for c, s in zip(index["colours"], index["suppressed"]) if not s}
    for colour in shown:
        rgb = np.array([int(colour[k:k + 2], 16) for k in (1, 3, 5)])
        blended = np.round(0.85 * rgb + 0.15 * 221)
        matches = np.all(np.abs(pixels.reshape(-1, 3) - blended) <= 3, axis=1).sum()
        assert matches > 500, f"district colour {colour} not visible in the screenshot ({png})"
    # the hatch of suppressed districts: grey stripes (#737373) are drawn
    assert np.all(np.abs(pixels.reshape(-1, 3) - 0x73) <= 3, axis=1).sum() > 200
    if os.environ.get("GC_SCREENSHOT_DIR"):  # to look at it: GC_SCREENSHOT_DIR=/some/dir pytest ...
        shutil.copy(png, Path(os.environ["GC_SCREENSHOT_DIR"]) / png.name)


# --------------------------------------------------------------------------- hostile text

def _xss_maps() -> list:
    """Three maps whose every user text is a payload (33 payloads, each used several times)."""
    def pick(k: int) -> str:
        return XSS[k % len(XSS)]

    specs = []
    for m in range(3):
        names = [pick(12 * m + i) for i in range(12)]
        specs.append(dict(
            names=names,
            city=pick(5 * m + 1) if m == 2 else "Dortmund",
            title="" if m == 2 else pick(7 * m + 28),          # m == 2: the title is built from the city
            notes=(pick(m + 14), pick(m + 17), "synthetische Demodaten"),
            source=pick(m + 20),
            variables=("index", pick(m + 3), pick(11 * m + 6)),
            structural=(pick(m + 9), pick(m + 30)),
            seed=m))
    return specs


@pytest.mark.parametrize("spec", _xss_maps(), ids=["names+title", "names+notes", "names+city"])
def test_hostile_text_stays_text(driver, spec, tmp_path):
    from selenium.webdriver.common.by import By

    city_map = make_city_map(**spec)
    add_tables(city_map, spec["seed"])  # rank intervals and need classes in the tooltips, too
    html = render_html_map(city_map, offline=True)
    path = tmp_path / "xss.html"
    path.write_text(html, encoding="utf-8")
    data = load(driver, path)
    expected = map_payload(city_map)
    assert data["names"] == spec["names"] and data["title"] == expected["title"]

    # switch through every layer (hovering one district each), then hover every district
    tooltip_label = _TOOLTIP + "return t.querySelector('.gc-tip div:not(.gc-key)').textContent;"
    for k, layer in enumerate(data["layers"]):
        select_layer(driver, layer["key"])
        assert fills(driver) == expected_fills(layer)
        assert driver.find_element(By.CSS_SELECTOR, ".gc-legend h4").get_property("textContent").startswith(
            layer["label"])
        i = k % len(data["names"])
        hover(driver, i, data["names"][i])
        assert driver.execute_script(tooltip_label) == layer["label"]
    for i, name in enumerate(data["names"]):
        hover(driver, i, name)  # the tooltip's <b> textContent IS the payload
        assert driver.execute_script(tooltip_label) == data["layers"][-1]["label"]
        assert driver.execute_script(_TOOLTIP + "return t.querySelector('.gc-key').textContent;") == \
            "Gebietsschlüssel: " + data["keys"][i]

    # the search box and the names on the map show hostile text as text, too
    driver.execute_script("var s = document.querySelector('input[name=gc-search]'); s.value = arguments[0];"
                          "s.dispatchEvent(new Event('input'));", spec["names"][1])
    results = driver.execute_script("return Array.prototype.map.call(document.querySelectorAll("
                                    "'.gc-search-results button'), function (b) { return [b.getAttribute('data-i'),"
                                    " b.textContent]; })")
    assert ["1", f"{spec['names'][1]} ({data['keys'][1]})"] in results
    assert driver.execute_script("return window.geoCohesion.labels(true)") >= 1
    shown = driver.execute_script("return Array.prototype.map.call(document.querySelectorAll('.gc-label span'),"
                                  " function (e) { return e.textContent; })")
    assert shown and set(shown) <= set(spec["names"])
    driver.execute_script("window.geoCohesion.labels(false)")

    # nothing ran, nothing was injected, every text is shown verbatim
    assert driver.execute_script("return window.__xss") == []
    assert driver.execute_script("return typeof window.__pwned") == "undefined"
    assert driver.execute_script("return window.__errors") == []
    assert driver.execute_script("return Array.prototype.map.call(document.querySelectorAll(arguments[0]),"
                                 " function (e) { return e.outerHTML; })", INJECTED) == []
    assert driver.execute_script("return document.scripts.length") == len(re.findall(r"<script\b", html))
    assert driver.execute_script("return document.title") == expected["title"]
    assert re.search(r"<title>(.*?)</title>", html, re.S).group(1) == escape_html(expected["title"])
    text = lambda selector: driver.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll(arguments[0]), function (e) {"
        " return e.textContent; });", selector)
    assert text(".gc-title") == [expected["title"]]
    assert text(".gc-notes > div") == expected["notes"]
    labels = {layer["key"]: layer["label"] for layer in data["layers"]}
    layer_labels = [" " + labels[key] for group in data["groups"] for key in group["keys"]]
    assert text(".gc-panel label") == [" Gebietsnamen zeigen"] + layer_labels + [" zweite Karte rechts:"]
    assert text(".gc-panel summary") == [group["title"] for group in data["groups"]] + ["Vergleichsansicht"]
    assert text(".gc-panel option") == [layer["label"] for layer in data["layers"]]  # side-view choices
    assert driver.execute_script("return window.geoCohesion.active()") == data["layers"][-1]["key"]
    assert console_problems(driver) == []


def test_layer_keys_that_are_javascript_property_names(driver, tmp_path):
    """Variables named like Object.prototype members still switch, and rank against the right count."""
    city_map = make_city_map(variables=("index", "__proto__", "constructor"), structural=("toString",))
    path = tmp_path / "keys.html"
    path.write_text(render_html_map(city_map, offline=True), encoding="utf-8")
    data = load(driver, path)
    i = next(k for k in range(len(data["names"])) if k not in SUPPRESSED)
    for layer in data["layers"]:
        select_layer(driver, layer["key"])
        assert fills(driver) == expected_fills(layer)
        text = hover(driver, i, data["names"][i])
        assert f"Rang {layer['rank'][i]} von {layer['n_ranked']} in der Stadt" in text, text
        assert layer["n_ranked"] == sum(v is not None for v in layer["values"])
    assert console_problems(driver) == [] and driver.execute_script("return window.__errors") == []


def test_template_syntax_in_user_text_is_not_evaluated():
    """No browser needed: branca re-parses rendered macros as jinja, so user text must never pass through it."""
    jinja = ["{{ 7*7 }}", "{{ cycler.__init__.__globals__.os.getcwd() }}", "{% raw %}", "{# x", "{%- if 1 %}"]
    names = jinja + [f"Bezirk {i}" for i in range(12 - len(jinja))]
    city_map = make_city_map(names=names, title="{{ 6*7 }} {% if 1 %}x{% endif %}", notes=("{{ 8*8 }}",),
                             structural=("{{ 9*9 }}",))
    html = render_html_map(city_map)
    payload = map_payload(city_map)
    assert payload["names"] == names
    data = json.loads(re.search(r"var DATA = (\{.*?\});\n", html).group(1))
    assert data == json.loads(json.dumps(payload))
    assert re.search(r"<title>(.*?)</title>", html).group(1) == escape_html(payload["title"])
    assert os.getcwd() not in html


@pytest.mark.parametrize("ci, outcome", [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_browser_fails_in_ci_and_skips_elsewhere(monkeypatch, ci, outcome):
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(outcome, match="chromium not installed"):
        _chromium()


# --------------------------------------------------------------------------- a real pipeline run


@pytest.fixture(scope="module")
def demo_maps(tmp_path_factory) -> list[Path]:
    """The demo's Dortmund, through `geo-cohesion run` with the demo's own inputs and `maps.offline`.

    A full `geo-cohesion demo` takes about a minute (four cities, figures); this runs the same
    generated inputs and pipeline for one city, without figures, in a few seconds.
    """
    from geo_cohesion.cli import main
    from geo_cohesion.demo.synthetic import write_demo_inputs

    root = tmp_path_factory.mktemp("demo-browser")
    project_path = write_demo_inputs(root / "inputs")
    project = yaml.safe_load(project_path.read_text(encoding="utf-8"))
    project["cities"] = [c for c in project["cities"] if c["slug"] == "dortmund"]
    project["maps"] = {"figures": False}  # self-contained by default
    project_path.write_text(yaml.safe_dump(project, allow_unicode=True, sort_keys=False), encoding="utf-8")
    assert main(["run", str(project_path), "--out", str(root / "out")]) == 0
    pages = sorted((root / "out").glob("*.html"))
    assert [p.name for p in pages] == ["dortmund.html", "dortmund_gruppen.html"]
    return pages


@pytest.mark.parametrize("page", ["dortmund.html", "dortmund_gruppen.html"])
def test_demo_map_works_in_the_browser(driver, demo_maps, page):
    path = next(p for p in demo_maps if p.name == page)
    html = path.read_text(encoding="utf-8")
    assert "cdn.jsdelivr" not in html  # self-contained by default: Leaflet inlined
    data = load(driver, path)
    # no request leaves the page: nothing but the file itself (and data URIs) was loaded
    loaded = driver.execute_script("return performance.getEntriesByType('resource').map(function (e) "
                                   "{ return e.name; })")
    assert [u for u in loaded if not u.startswith(("data:", "file:///" + str(path).lstrip("/")))] == []
    assert console_problems(driver) == []
    assert "synthetische Demodaten" in data["notes"]
    # the <title> is the escaped payload title, and the browser shows it as text
    raw_title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert raw_title == escape_html(data["title"]) and driver.title == data["title"]
    assert data["title"].startswith("Dortmund: Sozialer Zusammenhalt nach Gebiet")
    assert len(district_paths(driver)) == len(data["names"])
    for layer in data["layers"]:
        select_layer(driver, layer["key"])
        assert fills(driver) == expected_fills(layer), layer["key"]
    index = data["layers"][0]
    i = next(k for k, s in enumerate(index["suppressed"]) if not s)
    select_layer(driver, "index")
    text = hover(driver, i, data["names"][i])
    assert f"Wert: {decimal(index['values'][i])} Punkte" in text and "95-%-Konfidenzintervall" in text
    assert "n = " in text and "Rang" in text
    # rank and rank interval: the run's tables, for this district (the published values,
    # district_estimates.csv) or group (the group comparison table)
    grouped = page.endswith("_gruppen.html")
    table = pd.read_csv(path.parent / "tables" / ("comparison_groups_dortmund.csv" if grouped else
                                                  "district_estimates.csv"), dtype={"district_id": str, "group": str})
    rows = table[table["variable"] == "index"].set_index("group" if grouped else "district_id")
    row = rows.loc[data["keys"][i]]
    if pd.isna(row["rank"]):
        assert "Rang: – (nicht im Rangvergleich)" in text
    else:
        assert (f"Rang {row['rank']:.0f} (95-%-Rangintervall {row['rank_low']:.0f}–{row['rank_high']:.0f}) "
                f"von {rows['rank'].notna().sum()}") in text
    model = any(e not in (None, "direkt") for e in index["estimator"] or [])
    published = "Rang unter den veröffentlichten Werten, Modell- und direkte Schätzungen"
    assert (published in text) == (model and not grouped)
    assert ("Bedarfsklasse" in text) == (not grouped and data["need_class"][i] is not None)
    assert driver.execute_script("return window.__xss") == []
    assert driver.execute_script("return window.__errors") == []
    assert console_problems(driver) == []


def test_side_by_side_view_shows_a_second_synchronised_map(driver, plain_map):
    from selenium.webdriver.common.by import By

    data = load(driver, plain_map[0])
    structural = next(layer for layer in data["layers"] if layer["kind"] == "structural")
    driver.execute_script("window.geoCohesion.openSide(arguments[0])", structural["key"])
    right_fills = driver.execute_script(
        "return Array.from(document.querySelectorAll('#gc-side-map path.leaflet-interactive'))"
        ".map(function (p) { return p.getAttribute('fill'); })")
    assert right_fills == expected_fills(structural)          # the right map shows the chosen layer
    left_fills = driver.execute_script(
        "return Array.from(window.geoCohesion.map.getContainer().querySelectorAll('path.leaflet-interactive'))"
        ".map(function (p) { return p.getAttribute('fill'); })")
    assert left_fills == expected_fills(data["layers"][0])  # the left map keeps its own layer
    legend = driver.find_element(By.CSS_SELECTOR, "#gc-side-map .gc-legend")
    assert legend.get_attribute("data-layer") == structural["key"]
    zooms = driver.execute_script(
        "var g = window.geoCohesion; g.map.setZoom(g.map.getZoom() + 1, {animate: false});"
        "return [g.map.getZoom(), g.side().map.getZoom()];")
    assert zooms[0] == zooms[1]
    driver.execute_script("window.geoCohesion.closeSide()")
    assert driver.execute_script("return document.querySelectorAll('#gc-side-map').length") == 0
    assert console_problems(driver) == []


def test_deviation_markers_agree_with_the_comparison_table(driver, demo_maps):
    """The black outlines of a deviation layer are exactly the districts the comparison table
    (adjusted test) calls significant, and the tooltip says the table's verdict and its test."""
    path = next(p for p in demo_maps if p.name == "dortmund.html")
    table = pd.read_csv(path.parent / "tables" / "comparison_dortmund.csv", dtype={"district_id": str})
    data = load(driver, path)
    deviation = [layer for layer in data["layers"] if layer["kind"] == "deviation"]
    assert deviation and all(layer["significance"] is not None for layer in deviation)
    marked = 0
    for layer in deviation:
        rows = table[table["variable"] == layer["key"].removesuffix("__deviation")].set_index("district_id")
        expected = [None if pd.isna(rows.at[k, "p_adjusted"]) else
                    (int(np.sign(rows.at[k, "deviation"])) if str(rows.at[k, "significant"]) == "True" else 0)
                    for k in data["keys"]]
        assert layer["significance"] == expected, layer["key"]
        assert layer["significance_note"] == "Holm-Korrektur, α = 0,05"
        select_layer(driver, layer["key"])
        strokes = [p.get_attribute("stroke") for p in district_paths(driver)]
        assert [s == "#000000" for s in strokes] == [bool(v) for v in expected]
        legend = driver.find_element("css selector", ".gc-legend").get_property("textContent")
        assert "signifikant vom Stadtwert verschieden (Holm-Korrektur, α = 0,05" in legend
        marked += sum(bool(v) for v in expected)
        i = next(k for k, v in enumerate(expected) if v is not None)
        verdict = {1: "signifikant über dem Stadtwert", -1: "signifikant unter dem Stadtwert",
                   0: "kein signifikanter Unterschied zum Stadtwert"}[expected[i]]
        assert f"{verdict} (Holm-Korrektur, α = 0,05)" in hover(driver, i, data["names"][i])
    assert marked > 0  # the demo has significant districts: the check can fail
    assert console_problems(driver) == []


def test_search_finds_a_district_by_name_or_key_and_zooms_to_it(driver, plain_map):
    data = load(driver, plain_map[0])
    i = 7
    # by the official key, and by the name typed loosely (case, umlauts)
    assert driver.execute_script("return window.geoCohesion.search(arguments[0])", data["keys"][i])[0] == i
    loose = data["names"][i].upper().replace("Ä", "A").replace("Ö", "O").replace("Ü", "U")
    assert i in driver.execute_script("return window.geoCohesion.search(arguments[0])", loose)
    assert driver.execute_script("return window.geoCohesion.search('zzz-no-such-district')") == []
    zoom_before = driver.execute_script("return window.geoCohesion.map.getZoom()")
    driver.execute_script("var s = document.querySelector('input[name=gc-search]'); s.value = arguments[0];"
                          "s.dispatchEvent(new Event('input'));"
                          "s.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'}));", data["keys"][i])
    state = driver.execute_script(
        "var g = window.geoCohesion, m = g.map, b = null, k = arguments[0];"
        "g.layer.eachLayer(function (l) { if (l.feature.properties.i === k) { b = l.getBounds(); } });"
        "return {contains: m.getBounds().contains(b), zoom: m.getZoom(),"
        " tip: Array.prototype.map.call(document.querySelectorAll('.leaflet-tooltip'), function (t) {"
        " return t.textContent; })};", i)
    assert state["contains"] and state["zoom"] > zoom_before
    assert any(data["names"][i] in t and f"Gebietsschlüssel: {data['keys'][i]}" in t for t in state["tip"])
    driver.execute_script("var s = document.querySelector('input[name=gc-search]'); s.value = 'zzz-no-such';"
                          "s.dispatchEvent(new Event('input'));")
    assert driver.find_element("css selector", ".gc-search-none").text == "kein Gebiet gefunden"
    assert console_problems(driver) == []


def test_district_names_toggle_places_names_without_overlap(driver, plain_map):
    data = load(driver, plain_map[0])
    shown = driver.execute_script("return window.geoCohesion.labels(true)")
    assert 0 < shown <= len(data["names"])
    boxes = driver.execute_script("return Array.prototype.map.call(document.querySelectorAll('.gc-label span'),"
                                  " function (e) { var r = e.getBoundingClientRect();"
                                  " return [r.left, r.top, r.right, r.bottom, e.textContent]; })")
    assert {b[4] for b in boxes} <= set(data["names"]) and len(boxes) == shown
    for a in range(len(boxes)):
        for b in range(a + 1, len(boxes)):
            p, q = boxes[a], boxes[b]
            assert not (p[0] < q[2] - 1 and q[0] < p[2] - 1 and p[1] < q[3] - 1 and q[1] < p[3] - 1), (p, q)
    assert driver.execute_script("return window.geoCohesion.labels(false)") == 0
    assert driver.find_elements("css selector", ".gc-label") == []


def test_wms_base_map_requests_the_configured_layers(driver, tmp_path):
    """With a WMS base map Leaflet asks the WMS for the configured layers (GetMap tiles under the
    districts); the requests fail offline, the page still works."""
    from geo_cohesion.settings import MapSpec

    spec = MapSpec(basemap={"url": "https://sgx.geodatenzentrum.de/wms_basemapde", "attribution": "© basemap.de / BKG",
                            "wms_layers": "de_basemapde_web_raster_grau"})
    city_map = make_city_map()
    path = tmp_path / "wms.html"
    path.write_text(render_html_map(city_map, offline=True, basemap=spec.basemap), encoding="utf-8")
    load(driver, path)
    errors = driver.execute_script("return window.__errors")
    assert [e for e in errors if 'class="leaflet-tile"' not in str(e)] == []  # only the tiles that cannot load
    tiles = driver.execute_script("return Array.from(document.querySelectorAll('img.leaflet-tile')).map(i => i.src)")
    assert tiles and all(src.startswith("https://sgx.geodatenzentrum.de/wms_basemapde?") for src in tiles)
    assert all("request=GetMap" in src and "layers=de_basemapde_web_raster_grau" in src for src in tiles), tiles[:1]
    assert "basemap.de / BKG" in driver.find_element("css selector", ".leaflet-control-attribution").text
    assert len(district_paths(driver)) == len(city_map.boundaries)


#: Colour (r, g, b, a) of the canvas pixel at district ``arguments[0]``'s label point.
_CANVAS_PIXEL = """
var data = window.geoCohesion.data, map = window.geoCohesion.map;
var p = map.latLngToContainerPoint(L.latLng(data.label_points[arguments[0]][0], data.label_points[arguments[0]][1]));
var box = map.getContainer().getBoundingClientRect();
var canvas = map.getPanes().overlayPane.querySelector('canvas'), r = canvas.getBoundingClientRect();
var x = Math.round((box.left + p.x + arguments[1] - r.left) * canvas.width / r.width);
var y = Math.round((box.top + p.y + arguments[2] - r.top) * canvas.height / r.height);
return Array.prototype.slice.call(canvas.getContext('2d').getImageData(x, y, 1, 1).data);
"""


def test_many_districts_are_drawn_on_one_canvas(driver, tmp_path, monkeypatch):
    """From CANVAS_MIN_DISTRICTS districts (here lowered to 1) the page draws on a canvas: same
    colours, hatch as a pattern, tooltips on hover, layer switches repaint."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait

    from geo_cohesion.maps import html

    monkeypatch.setattr(html, "CANVAS_MIN_DISTRICTS", 1)
    city_map = make_city_map()
    path = tmp_path / "canvas.html"
    path.write_text(render_html_map(city_map, offline=True), encoding="utf-8")
    data = load(driver, path)
    assert data["canvas"] is True
    assert console_problems(driver) == [] and driver.execute_script("return window.__errors") == []
    assert district_paths(driver) == []  # no SVG path per district
    assert driver.execute_script("return !!window.geoCohesion.map.getPanes().overlayPane.querySelector('canvas')")
    index = data["layers"][0]
    shown = next(i for i in range(len(data["names"])) if not index["suppressed"][i])

    def pixel(i: int, dx: int = 0, dy: int = 0) -> tuple[int, ...]:
        return tuple(driver.execute_script(_CANVAS_PIXEL, i, dx, dy))

    # the district's fill colour (fill opacity 0.85 on a transparent canvas: the colour itself, alpha 217)
    expected = tuple(int(index["colours"][shown][k:k + 2], 16) for k in (1, 3, 5))
    assert all(abs(a - b) <= 2 for a, b in zip(pixel(shown)[:3], expected)), (pixel(shown), expected)
    # an unpublished district is hatched: its pixels are not all one colour
    hidden = min(SUPPRESSED)
    hatch = {pixel(hidden, dx, dy)[:3] for dx in range(-4, 5) for dy in range(-4, 5)}
    assert len(hatch) > 1, hatch
    # hover: the tooltip of the district under the mouse
    point = driver.execute_script(
        "var d = window.geoCohesion.data, m = window.geoCohesion.map;"
        "var p = m.latLngToContainerPoint(L.latLng(d.label_points[arguments[0]][0], d.label_points[arguments[0]][1]));"
        "var s = m.getSize(); return [Math.round(p.x - s.x / 2), Math.round(p.y - s.y / 2)];", shown)
    container = driver.find_element("css selector", ".leaflet-container")
    ActionChains(driver, duration=0).move_to_element_with_offset(container, *point).perform()
    WebDriverWait(driver, 5, poll_frequency=0.02).until(
        lambda d: d.execute_script(_TOOLTIP + "return t && t.querySelector('b').textContent;") == data["names"][shown])
    text = driver.execute_script(_TOOLTIP + "return t.innerText;")
    assert f"Wert: {decimal(index['values'][shown])} Punkte" in text
    # switching the layer repaints the canvas
    before = pixel(shown)
    select_layer(driver, "unemployment_pct")
    layer = next(layer for layer in data["layers"] if layer["key"] == "unemployment_pct")
    expected = tuple(int(layer["colours"][shown][k:k + 2], 16) for k in (1, 3, 5))
    WebDriverWait(driver, 5, poll_frequency=0.02).until(lambda d: pixel(shown) != before)
    assert all(abs(a - b) <= 2 for a, b in zip(pixel(shown)[:3], expected))
    # Chromium's hint about this test's own pixel reads (getImageData) is not the page's problem
    assert [p for p in console_problems(driver) if "willReadFrequently" not in p] == []


def test_a_rank_interval_over_every_rank_is_said_in_words(driver, tmp_path):
    """Equal model estimates (sigma2_u = 0): each district's rank interval spans the city; the
    tooltip says that no rank is recognisable instead of "Rang 1" for the first of equals."""
    city_map = make_city_map()
    layer = city_map.layer("index")
    ids = city_map.boundaries["district_id"].astype(str).tolist()
    shown = [i for i in range(len(ids)) if not layer.suppressed[i] and np.isfinite(layer.values[i])]
    table = pd.DataFrame({"district_id": [ids[i] for i in shown], "variable": "index", "rank": 1.0, "rank_low": 1.0,
                          "rank_high": float(len(shown))})
    add_rank_intervals(city_map, table, basis="published")
    path = tmp_path / "ties.html"
    path.write_text(render_html_map(city_map, offline=True), encoding="utf-8")
    data = load(driver, path)
    i = shown[0]
    text = hover(driver, i, data["names"][i])
    assert (f"Rang nicht erkennbar (95-%-Rangintervall 1–{len(shown)}: jeder Rang ist mit den Daten vereinbar)"
            in text)
    assert "Rang 1 " not in text
    assert console_problems(driver) == [] and driver.execute_script("return window.__errors") == []
