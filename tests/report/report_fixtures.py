"""Helpers of the report tests: a small city built in code (4 districts on a 2 x 2 grid), poppler tools."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pdf_tools import tool  # noqa: F401 - re-exported for the report tests

from geo_cohesion.maps.layers import build_city_map
from geo_cohesion.radar.codebook import load_radar
from geo_cohesion.report.model import CityReportInput

IDS = ["01", "02", "03", "04"]
HOSTILE = ['=HYPERLINK("http://x","y")', "#panic() *bold* ] $x$", "<script>alert(1)</script> Hörde",
           'Süd-Ost "\\" `@x` #set text(red)']


def make_city(names: list[str] | None = None, index: list[float] | None = None, significant: list[bool] | None = None,
              note: str | None = "synthetische Demodaten", comparison: bool = True, suppressed: int | None = None,
              name: str = "Teststadt") -> CityReportInput:
    """A city of 4 districts with all 13 Radar variables, a comparison table and structural data.

    ``index`` are the districts' index values (city value 60); ``significant`` the comparison
    table's verdicts for the index (and for every dimension of the first district).
    """
    names = names or ["Altstadt", "Hörde", "Süd-Ost", "Weißenburg"]
    index = index or [55.0, 58.0, 62.0, 65.0]
    significant = significant or [True, False, False, True]
    radar = load_radar()
    rows, comp = [], []
    for i, (d, n) in enumerate(zip(IDS, names)):
        for j, v in enumerate(radar.variables):
            est = index[i] + (j % 3) - 1.0 if v != radar.index_slug else index[i]
            hidden = suppressed == i
            low, high = (np.nan, np.nan) if hidden else (est - 2.94, est + 2.94)
            rows.append({"district_id": d, "district_name": n, "variable": v, "estimate": np.nan if hidden else est,
                         "se": 1.5, "ci_low": low, "ci_high": high, "n": 12 if hidden else 80 + i, "n_eff": 70.0,
                         "suppressed": hidden})
            sig = significant[i] if (v == radar.index_slug or i == 0) else False
            comp.append({"district_id": d, "variable": v, "estimate": est, "deviation": est - 60.0,
                         "p_value": 0.001 if sig else 0.4, "significant": sig and not hidden,
                         "rank": 4 - i, "rank_low": max(1, 3 - i), "rank_high": min(4, 5 - i),
                         "district_name": n, "city_value": 60.0, "se": 1.4,
                         "p_adjusted": np.nan if hidden else (0.004 if sig else 0.9), "n": 80, "suppressed": hidden})
    estimates = pd.DataFrame(rows)
    city_est = pd.DataFrame([{"variable": v, "estimate": 60.0, "se": 0.5, "ci_low": 59.0, "ci_high": 61.0, "n": 320,
                              "n_eff": 300.0} for v in radar.variables])
    boxes = [shapely.box(390_000 + (i % 2) * 1000, 5_705_000 + (i // 2) * 1000, 391_000 + (i % 2) * 1000,
                         5_706_000 + (i // 2) * 1000) for i in range(4)]
    boundaries = gpd.GeoDataFrame({"district_id": IDS, "district_name": names}, geometry=boxes, crs="EPSG:25832")
    structural = pd.DataFrame({"district_id": IDS, "population_total": [1000, 2000, 1500, 1200],
                               "sgb2_share_pct": [25.0, 14.0, 9.5, 6.0], "unemployment_pct": [14.0, 9.0, 7.0, 4.0]})
    city_map = build_city_map(name, boundaries, estimates, structural, notes=[note] if note else [])
    return CityReportInput(
        name=name, slug="teststadt", district_estimates=estimates, city_estimates=city_est if comparison else None,
        structural=structural, comparison=pd.DataFrame(comp) if comparison else None, city_map=city_map,
        boundaries=boundaries, diagnostics={"n_respondents": 330, "n_eff": 300.0, "deff_kish": 1.1},
        weighting={"margins": ["age_group", "gender", "district_id"], "bounds": None},
        notes=[note] if note else [], data_note=note)
