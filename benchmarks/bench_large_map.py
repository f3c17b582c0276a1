"""Benchmark: a 10,000-district HTML map (size, build time, time to usable in headless Chromium).

Run: ``python benchmarks/bench_large_map.py [--districts 10000] [--no-browser]``

Synthetic city: Voronoi cells of N random points in a 30 km x 30 km square (EPSG:25832), so
every border is shared like in real district files; 13 Radar layers with intervals and n, 2
structural layers and 13 deviation layers. Measured in the same run:

* build + render time and size of the self-contained HTML (coverage simplification 5 m), and the
  same without simplification (the baseline of the simplification);
* with Chromium (Selenium) available, for the page as written (canvas from
  ``CANVAS_MIN_DISTRICTS`` districts) and for the same page with one SVG path per district (the
  baseline): time until the districts are painted, to switch a layer, to run a search and to place
  the district names, each up to the next painted frame.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_cohesion.maps import html as html_module
from geo_cohesion.maps.html import render_html_map
from geo_cohesion.maps.layers import add_deviation_layers, build_city_map
from geo_cohesion.radar.codebook import load_radar


def synthetic_city(n: int, seed: int = 0) -> tuple[gpd.GeoDataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    side = 30_000.0
    points = shapely.multipoints(rng.uniform(0, side, (n, 2)) + [350_000, 5_700_000])
    frame = shapely.box(350_000, 5_700_000, 350_000 + side, 5_700_000 + side)
    cells = shapely.get_parts(shapely.voronoi_polygons(points, extend_to=frame))
    cells = shapely.intersection(cells, frame)
    ids = [f"{i:05d}" for i in range(len(cells))]
    gdf = gpd.GeoDataFrame({"district_id": ids, "district_name": [f"Gebiet {i}" for i in ids]}, geometry=cells,
                           crs="EPSG:25832")
    radar = load_radar()
    est = pd.DataFrame({"district_id": np.repeat(ids, len(radar.variables)),
                        "variable": np.tile(radar.variables, len(ids))})
    est["estimate"] = rng.uniform(40, 80, len(est))
    est["ci_low"], est["ci_high"] = est["estimate"] - 4, est["estimate"] + 4
    est["n"] = rng.integers(5, 120, len(est))
    est["suppressed"] = est["n"] < 30
    structural = pd.DataFrame({"district_id": ids, "unemployment_pct": rng.uniform(2, 20, len(ids)),
                               "sgb2_share_pct": rng.uniform(2, 30, len(ids))})
    return gdf, est, structural


#: Runs ``arguments[0]`` (a statement) and answers the seconds until the browser has painted the
#: result: two animation frames later (the canvas renderer draws on the next frame, SVG is
#: painted then too), so both renderers are timed to the same point.
_TIMED = """
var done = arguments[arguments.length - 1], t = performance.now();
var answer = (new Function(arguments[0]))();
requestAnimationFrame(function () { requestAnimationFrame(function () {
  done([(performance.now() - t) / 1000, answer === undefined ? null : answer]); }); });
"""


def browser_timings(path: Path) -> dict[str, float] | None:
    """Seconds until the page is painted, a layer switched, a search answered, names placed."""
    browser = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if browser is None or shutil.which("chromedriver") is None:
        return None
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        return None
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
                f"--user-data-dir={tempfile.mkdtemp(prefix='gc-bench-')}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_script_timeout(300)
    try:
        start = time.perf_counter()
        driver.get(path.as_uri())
        WebDriverWait(driver, 300, poll_frequency=0.05).until(lambda d: d.execute_script(
            "return !!window.geoCohesion"))
        driver.execute_async_script(_TIMED, "return null;")  # until the districts are painted
        timings = {"load": time.perf_counter() - start}
        for name, script in (
                ("switch layer", "window.geoCohesion.setLayer(window.geoCohesion.data.layers[3].key);"),
                ("search", "window.geoCohesion.search('Gebiet 0999');"),
                ("zoom to a search hit", "window.geoCohesion.showDistrict(4711);"),
                ("district names on", "return window.geoCohesion.labels(true);")):
            seconds, answer = driver.execute_async_script(_TIMED, script)
            timings[name] = float(seconds)
            if name == "district names on":
                timings["names placed"] = float(answer)
        timings["canvas"] = float(driver.execute_script("return window.geoCohesion.data.canvas ? 1 : 0"))
        return timings
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--districts", type=int, default=10_000)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    gdf, est, structural = synthetic_city(args.districts)
    start = time.perf_counter()
    city_map = build_city_map("Großstadt", gdf, est, structural, notes=["synthetische Werte"])
    add_deviation_layers(city_map, {v: 60.0 for v in load_radar().variables})
    t_build = time.perf_counter() - start
    start = time.perf_counter()
    html = render_html_map(city_map)
    t_render = time.perf_counter() - start
    start = time.perf_counter()
    exact = render_html_map(city_map, tolerance_m=0.0)
    t_exact = time.perf_counter() - start
    size, exact_size = len(html.encode()), len(exact.encode())
    print(f"case: {len(gdf)} synthetic Voronoi districts, {len(city_map.layers)} layers")
    print(f"build layers (join, classify)                  : {t_build:7.2f} s")
    print(f"render HTML, 5 m coverage simplification       : {t_render:7.2f} s  {size / 1e6:7.2f} MB")
    print(f"render HTML, no simplification (baseline)      : {t_exact:7.2f} s  {exact_size / 1e6:7.2f} MB  "
          f"size ratio simplified/unsimplified {size / exact_size:.2f}")
    if not args.no_browser:
        # the baseline: the same page with one SVG path per district (the renderer below the threshold)
        default_threshold = html_module.CANVAS_MIN_DISTRICTS
        html_module.CANVAS_MIN_DISTRICTS = 10**9
        svg_page = render_html_map(city_map)
        html_module.CANVAS_MIN_DISTRICTS = default_threshold
        for renderer, page in (("SVG paths (baseline)", svg_page), ("page as written", html)):
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "large.html"
                path.write_text(page, encoding="utf-8")
                timings = browser_timings(path)
            if timings is None:
                print("browser: chromium/chromedriver/selenium not available, skipped")
                break
            names = int(timings.pop("names placed"))
            canvas = "canvas" if timings.pop("canvas") else "SVG"
            shown = ", ".join(f"{k} {v:.2f} s" for k, v in timings.items())
            print(f"headless Chromium, {renderer} ({canvas}): {shown}; {names} names placed at the full-city view")


if __name__ == "__main__":
    main()
