"""Benchmark: size and build time of the interactive map against GeoDataFrame.explore().

Run: ``python benchmarks/bench_maps.py``

Uses Berlin's 542 Planungsräume with the MSS 2021 indicators from ``../shared/data/berlin``
(official open data, read in place, never copied) plus 13 synthetic Radar layers; falls back to
the schematic Dortmund demo boundaries when the real data are absent. Baseline, measured in the
same run: one ``GeoDataFrame.explore(column=layer)`` map per layer (the way a folium user gets a
map per variable), total size and time. Goal (issue #3): our single file <= 0.1 x their total size.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from geo_cohesion.io.boundaries import read_boundaries
from geo_cohesion.io.tables import read_table
from geo_cohesion.maps.html import render_html_map
from geo_cohesion.maps.layers import build_city_map
from geo_cohesion.radar.codebook import load_radar

BERLIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "berlin"
MSS_LAYERS = ["S1", "S3", "S4", "D1", "D3", "D4", "KI_05", "KI_16"]


def load_case():
    if (BERLIN / "lor_planungsraeume_2021.shp").exists():
        gdf = read_boundaries(BERLIN / "lor_planungsraeume_2021.shp", id_column="PLR_ID", name_column="PLR_NAME")
        mss = read_table(BERLIN / "mss_2021.csv", text_columns=["PLR_ID"]).rename(columns={"PLR_ID": "district_id"})
        return "Berlin, 542 Planungsräume (real boundaries, MSS 2021)", gdf, mss[["district_id", *MSS_LAYERS]]
    from geo_cohesion.demo.shapes import build_schematic_boundaries, load_cities

    city = next(c for c in load_cities() if c["slug"] == "dortmund")
    gdf = build_schematic_boundaries(city)
    rng = np.random.default_rng(0)
    structural = pd.DataFrame({"district_id": gdf["district_id"],
                               **{k: rng.uniform(0, 30, len(gdf)) for k in MSS_LAYERS}})
    return "Dortmund schematic demo boundaries (shared data absent)", gdf, structural


def synthetic_estimates(ids: list[str]) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = [{"district_id": i, "variable": v, "estimate": rng.uniform(40, 80), "se": 2.0, "ci_low": 0.0, "ci_high": 1.0,
             "n": int(rng.integers(5, 80))} for i in ids for v in load_radar().variables]
    table = pd.DataFrame(rows)
    table["suppressed"] = table["n"] < 30
    return table


def main() -> None:
    label, gdf, structural = load_case()
    estimates = synthetic_estimates(gdf["district_id"].tolist())
    start = time.perf_counter()
    city_map = build_city_map("Benchmark", gdf, estimates, structural, structural_variables=MSS_LAYERS,
                              allow_missing=True, notes=["synthetische Radar-Werte"])
    ours = render_html_map(city_map)
    t_ours = time.perf_counter() - start
    exact = render_html_map(city_map, tolerance_m=0.0)
    layers = [layer.variable for layer in city_map.layers]
    wide = gdf.copy()
    for layer in city_map.layers:
        wide[layer.variable] = layer.values
    start = time.perf_counter()
    sizes = []
    with tempfile.TemporaryDirectory() as tmp:
        for variable in layers:
            fmap = wide[["district_name", variable, "geometry"]].explore(column=variable, tiles=None)
            path = Path(tmp) / f"{variable}.html"
            fmap.save(path)
            sizes.append(path.stat().st_size)
    t_explore = time.perf_counter() - start
    ours_size, exact_size, their_size = len(ours.encode()), len(exact.encode()), sum(sizes)
    print(f"case: {label}; {len(layers)} layers")
    print(f"geo-cohesion, one HTML, 5 m coverage simplification : {ours_size / 1e6:8.2f} MB  {t_ours:6.2f} s")
    print(f"geo-cohesion, one HTML, no simplification           : {exact_size / 1e6:8.2f} MB")
    print(f"baseline explore(), one HTML per layer (total)      : {their_size / 1e6:8.2f} MB  {t_explore:6.2f} s")
    print(f"size ratio ours / baseline: {ours_size / their_size:.3f} (goal <= 0.1); "
          f"unsimplified: {exact_size / their_size:.3f}")
    print(f"time ratio baseline / ours: {t_explore / t_ours:.1f}x")


if __name__ == "__main__":
    main()
