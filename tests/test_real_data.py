"""The whole map path on real official boundaries from ../shared/data or GEO_COHESION_SHARED_DATA
(read in place, never copied): Berlin's 542 Planungsräume with the MSS 2021 indicators, aggregated
to the 143 Bezirksregionen, and Rostock's 31 Ortsteile dissolved to the study's 19
Ortsbeiratsbereiche with the demo's estimates joined by district id. Skipped with a reason when
the folder is absent."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA

from geo_cohesion.demo.shapes import load_cities
from geo_cohesion.io.boundaries import read_boundaries
from geo_cohesion.io.tables import read_table
from geo_cohesion.keys import normalise_key
from geo_cohesion.maps.html import render_html_map
from geo_cohesion.maps.layers import build_city_map
from geo_cohesion.spatial.regions import aggregate_boundaries

BERLIN = SHARED_DATA / "berlin"
ROSTOCK = SHARED_DATA / "rostock"
pytestmark = pytest.mark.real_data
needs_berlin = pytest.mark.skipif(not (BERLIN / "lor_planungsraeume_2021.shp").exists(),
                                  reason=f"real Berlin boundaries not available in {BERLIN}")
needs_rostock = pytest.mark.skipif(not (ROSTOCK / "ortsteile.geojson").exists(),
                                   reason=f"real Rostock Ortsteile not available in {ROSTOCK}")


def payload(html: str) -> dict:
    return json.loads(re.search(r"var DATA = (\{.*?\});\n", html).group(1))


@pytest.fixture(scope="module")
def berlin():
    plr = read_boundaries(BERLIN / "lor_planungsraeume_2021.shp", id_column="PLR_ID", name_column="PLR_NAME")
    mss = read_table(BERLIN / "mss_2021.csv", text_columns=["PLR_ID"])
    return plr, mss


@needs_berlin
def test_berlin_planungsraeume_mss_map(berlin):
    plr, mss = berlin
    city_map = build_city_map("Berlin", plr, structural=mss, structural_id_column="PLR_ID",
                              structural_variables=["S1", "S3", "S4", "KI_05"], source="MSS 2021")
    html = render_html_map(city_map)
    data = payload(html)
    assert len(data["geojson"]["features"]) == 542 and html.count('"coordinates"') == 542
    assert "Stülerstraße" in data["names"]
    s1 = city_map.layer("S1")
    # ~6 Planungsräume have no MSS values (too few residents): shown as "keine Daten", not dropped
    missing = int(np.isnan(s1.values).sum())
    assert 0 < missing <= 10 and (s1.classification.class_index[np.isnan(s1.values)] == -1).all()
    joined = plr.merge(mss[["PLR_ID", "S1"]], left_on="district_id", right_on="PLR_ID")
    expected = joined.set_index("district_id")["S1"].reindex(plr["district_id"]).to_numpy(float)
    np.testing.assert_allclose(s1.values, expected, equal_nan=True)


@needs_berlin
def test_berlin_aggregated_to_bezirksregionen(berlin):
    plr, mss = berlin
    mapping = {pid: pid[:6] for pid in plr["district_id"]}
    bzr = aggregate_boundaries(plr, mapping)
    official = read_boundaries(BERLIN / "lor_bezirksregionen_2021.shp", id_column="BZR_ID", name_column="BZR_NAME")
    assert set(bzr["district_id"]) == set(official["district_id"]) and len(bzr) == 143
    # population-weighted unemployment per Bezirksregion from the Planungsräume
    table = mss.assign(bzr=mss["PLR_ID"].str[:6], S1=pd.to_numeric(mss["S1"]),
                       EW=pd.to_numeric(mss["EW"])).dropna(subset=["S1"])
    s1 = table.groupby("bzr").apply(lambda g: np.average(g["S1"], weights=g["EW"]), include_groups=False)
    structural = s1.rename("unemployment_pct").rename_axis("district_id").reset_index()
    city_map = build_city_map("Berlin", bzr.merge(official[["district_id", "district_name"]], on="district_id",
                                                  suffixes=("_x", "")).drop(columns="district_name_x"),
                              structural=structural, allow_missing=True)
    assert len(payload(render_html_map(city_map))["geojson"]["features"]) == 143
    assert city_map.layer("unemployment_pct").unit == "%"


@needs_rostock
def test_rostock_ortsteile_to_study_areas_with_demo_estimates(demo_out):
    rostock = next(c for c in load_cities() if c["slug"] == "rostock")
    ortsteile = read_boundaries(ROSTOCK / "ortsteile.geojson", id_column="name", name_column="name")
    by_name = {normalise_key(o): d["id"] for d in rostock["districts"] for o in d["ortsteile"]}
    mapping = {oid: by_name[normalise_key(oid)] for oid in ortsteile["district_id"]}
    names = {d["id"]: d["name"] for d in rostock["districts"]}
    areas = aggregate_boundaries(ortsteile, mapping, names=names)
    assert len(areas) == 19 and areas.crs.to_epsg() == 25833
    estimates = pd.read_csv(demo_out / "tables" / "district_estimates.csv", dtype={"district_id": str})
    estimates = estimates[estimates["city"] == "Rostock"]
    city_map = build_city_map("Rostock", areas, estimates, notes=["synthetische Demodaten"])
    index = city_map.layer("index")
    assert np.isfinite(index.values).sum() == (~estimates.loc[estimates["variable"] == "index", "suppressed"]).sum()
    html = render_html_map(city_map)
    assert "Seebad Warnemünde" in payload(html)["names"]
