"""Joining estimates and structural data onto boundaries (geo_cohesion.maps.layers, geo_cohesion.keys)."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from geo_cohesion.errors import InputError
from geo_cohesion.keys import match_keys, normalise_key
from geo_cohesion.maps.layers import add_deviation_layers, build_city_map


def boundaries(names=("Innenstadt-West", "Hörde", "Sankt Georg", "Eving")) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"district_id": [f"{i + 1:02d}" for i in range(len(names))], "district_name": list(names)},
                            geometry=[box(i * 1000, 0, (i + 1) * 1000, 1000) for i in range(len(names))],
                            crs="EPSG:25832")


@pytest.mark.parametrize("a, b", [("Innenstadt West", "Innenstadt-West"), ("Hoerde", "Hörde"),
                                  ("St. Georg", "Sankt Georg"), ("STRASSE", "Straße"), ("007", "7"),
                                  ("  Dessau-Roßlau ", "dessau rosslau"),
                                  ("Dierkow-Ost/Dierkow-West", "Dierkow Ost Dierkow West")])
def test_normalise_key_variants(a, b):
    assert normalise_key(a) == normalise_key(b)


def test_unmatched_keys_list_closest_candidates():
    with pytest.raises(InputError) as info:
        match_keys(["Innenstadt Wst", "Hörde"], ["Innenstadt-West", "Hörde", "Eving"], "scores.csv", "bezirke.shp")
    text = str(info.value)
    assert "'Innenstadt Wst' from scores.csv not found in bezirke.shp; did you mean 'Innenstadt-West'?" in text
    assert "'Eving' from bezirke.shp not found in scores.csv" in text


def test_allow_missing_shows_keine_daten():
    scores = pd.DataFrame({"district_id": ["01", "02"], "variable": "index", "estimate": [60.0, 55.0]})
    city_map = build_city_map("X", boundaries(), scores, allow_missing=True)
    layer = city_map.layer("index")
    assert layer.values[:2].tolist() == [60.0, 55.0] and np.isnan(layer.values[2:]).all()
    assert (layer.classification.class_index[2:] == -1).all()
    with pytest.raises(InputError, match="not found"):
        build_city_map("X", boundaries(), scores)


def test_scores_join_by_name_variants_and_suppression():
    scores = pd.DataFrame({"district_id": ["innenstadt west", "Hoerde", "St. Georg", "EVING"], "variable": "index",
                           "estimate": [60.0, 55.0, 50.0, 45.0], "suppressed": [False, False, True, False],
                           "n": [100, 80, 12, 60]})
    b = boundaries()
    b["district_id"] = b["district_name"]
    city_map = build_city_map("X", b, scores)
    layer = city_map.layer("index")
    assert np.isnan(layer.values[2]) and layer.suppressed[2] and layer.n[2] == 12
    assert layer.rank.tolist()[:2] == [1.0, 2.0] and layer.rank[3] == 3.0


def test_structural_layers_and_deviation():
    scores = pd.DataFrame({"district_id": ["01", "02", "03", "04"], "variable": "index",
                           "estimate": [60.0, 55.0, 50.0, 45.0]})
    structural = pd.DataFrame({"district_id": ["1", "2", "3", "4"], "migration_share_pct": [10, 20, 30, 40],
                               "sgb2_share_pct": [5, 6, 7, 8]})
    city_map = build_city_map("X", boundaries(), scores, structural)
    assert [layer.variable for layer in city_map.layers] == ["index", "migration_share_pct", "sgb2_share_pct"]
    assert city_map.layer("migration_share_pct").unit == "%"
    add_deviation_layers(city_map, {"index": 52.5})
    dev = city_map.layer("index__deviation")
    assert dev.values.tolist() == [7.5, 2.5, -2.5, -7.5] and dev.kind == "deviation"
    # diverging classes are symmetric around 0
    assert dev.classification.lower == -dev.classification.bins[-1]


def test_bivariate_layer_crosses_cohesion_and_deprivation_tertiles():
    from geo_cohesion.maps.layers import BIVARIATE_COLOURS, add_bivariate_layer

    names = [f"D{i}" for i in range(9)]
    b = boundaries(tuple(names))
    cohesion = [70, 69, 68, 60, 59, 58, 50, 49, 48.0]      # high, high, high, mid ..., low
    deprivation = [2, 10, 20, 3, 11, 21, 4, 12, 22.0]      # low, mid, high within each cohesion tertile
    scores = pd.DataFrame({"district_id": b["district_id"], "variable": "index", "estimate": cohesion})
    structural = pd.DataFrame({"district_id": b["district_id"], "sgb2_share_pct": deprivation})
    city_map = build_city_map("X", b, scores, structural)
    layer = add_bivariate_layer(city_map)
    colours = [layer.classification.colour_of(int(i)) for i in layer.classification.class_index]
    assert colours[0] == BIVARIATE_COLOURS[2][0]   # high cohesion, low deprivation
    assert colours[8] == BIVARIATE_COLOURS[0][2]   # low cohesion, high deprivation: the funding case
    assert colours[4] == BIVARIATE_COLOURS[1][1]
    assert len(set(colours)) == 9 and len(layer.classification.labels) == 9
    assert add_bivariate_layer(city_map, deprivation="not_there") is None


def test_structural_layers_come_from_the_registry_and_direction_drives_the_palette():
    from geo_cohesion.maps.classify import SEQUENTIAL
    from geo_cohesion.maps.layers import STRUCTURAL_PALETTES
    from geo_cohesion.radar.indicators import indicator_registry

    b = boundaries(tuple(f"D{i}" for i in range(5)))
    structural = pd.DataFrame({"district_id": b["district_id"], "einwohner": [100, 200, 300, 400, 500],
                               "arbeitslose_pct": [1, 2, 3, 4, 5.0], "wahlbeteiligung_pct": [70, 60, 55, 50, 40.0],
                               "kita_quote": [5, 4, 3, 2, 1.0]})
    registry = indicator_registry(structural, {"wahlbeteiligung_pct": {"label": "Wahlbeteiligung", "unit": "%",
                                                                       "direction": "higher_is_better"}},
                                  exclude=["district_id"])
    city_map = build_city_map("X", b, structural=structural, indicators=registry)
    assert [layer.variable for layer in city_map.layers] == ["arbeitslose_pct", "wahlbeteiligung_pct", "kita_quote"]
    worse, better, neutral = (city_map.layer(v) for v in ("arbeitslose_pct", "wahlbeteiligung_pct", "kita_quote"))
    assert (worse.label, worse.unit) == ("Anteil Arbeitsloser", "%") and better.label == "Wahlbeteiligung"
    darkest_red = SEQUENTIAL["OrRd"][5][-1]
    # "bad" is the same dark red: the highest unemployment and the LOWEST turnout
    assert worse.classification.colour_of(int(worse.classification.class_index[4])) == darkest_red
    assert better.classification.colour_of(int(better.classification.class_index[4])) == darkest_red
    assert better.classification.colours == tuple(reversed(worse.classification.colours))
    assert neutral.classification.colours == tuple(SEQUENTIAL[STRUCTURAL_PALETTES["neutral"][0]][5])
    assert (neutral.label, neutral.unit) == ("kita_quote", "")
    assert any("kita_quote" in m for m in city_map.messages)
    # no deprivation indicator: no bivariate layer, and the messages say how to declare one
    from geo_cohesion.maps.layers import add_bivariate_layer

    assert add_bivariate_layer(city_map) is None
    assert any("role: deprivation" in m for m in city_map.messages)
    with pytest.raises(InputError, match="higher is better"):  # an axis that would be upside down
        add_bivariate_layer(city_map, cohesion="arbeitslose_pct", deprivation="wahlbeteiligung_pct")


def test_explicit_structural_variables_must_exist():
    structural = pd.DataFrame({"district_id": ["01", "02", "03", "04"], "sgb2_share_pct": [5, 6, 7, 8]})
    with pytest.raises(InputError, match="'sgb2_quote' not found") as info:
        build_city_map("X", boundaries(), structural=structural, structural_variables=["sgb2_quote"])
    assert "sgb2_share_pct" in info.value.hint


@pytest.mark.parametrize("marker", ["k.A.", "-", "n/a"])
def test_text_marker_in_a_structural_column_is_reported_not_read_as_missing(tmp_path, marker):
    """The map layer converts with the one conversion path (to_numeric_column): the error names the
    file, line and column instead of a silent NaN."""
    from geo_cohesion.io.tables import read_table

    path = tmp_path / "struktur.csv"
    path.write_text(f"bezirk;sgb2\n01;12,5\n02;{marker}\n03;7,25\n04;9\n", encoding="utf-8")
    structural = read_table(path, text_columns=["bezirk"])
    with pytest.raises(InputError) as info:
        build_city_map("X", boundaries(), None, structural, "bezirk", structural_variables=["sgb2"])
    text = str(info.value)
    assert "struktur.csv" in text and "line 3" in text and "'sgb2'" in text and repr(marker) in text
