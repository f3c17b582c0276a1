"""Tooltips: the comparison table's rank intervals and the need table's class, district by district.

The map does not rank again: :func:`geo_cohesion.maps.layers.add_rank_intervals` copies ``rank,
rank_low, rank_high`` of the comparison table onto the score layers, and
:func:`geo_cohesion.maps.layers.add_need_class` the need table's class onto the map. The tables
here are built in code in a different row order and with a different key spelling than the
boundaries' row order, so a join by position instead of by key fails the tests.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas import GeoDataFrame

from geo_cohesion.labels import label
from geo_cohesion.maps.html import map_payload
from geo_cohesion.maps.layers import (
    add_bivariate_layer,
    add_deviation_layers,
    add_need_class,
    add_rank_intervals,
    build_city_map,
)
from geo_cohesion.maps.need_layers import add_need_layers
from geo_cohesion.stats.compare import rank_intervals

IDS = [f"{k:03d}" for k in range(1, 10)]
NAMES = ["Nordheim", "Hörde-Nord", "<script>alert(1)</script>", "St. Georg", "Mitte", "Altstadt", "Weißenfeld",
         "Süd-Ost", "Heide"]
VARIABLES = ("index", "soziale_beziehungen")
HIDDEN = "004"                 # too few respondents: no direct estimate, no rank in the table
MODEL_ONLY = "007"             # the model publishes a value the comparison table does not rank


def _boundaries() -> GeoDataFrame:
    boxes = [shapely.box(390_000 + 1000 * (k % 3), 5_700_000 - 1000 * (k // 3),
                         391_000 + 1000 * (k % 3), 5_701_000 - 1000 * (k // 3)) for k in range(len(IDS))]
    return GeoDataFrame({"district_id": IDS, "district_name": NAMES}, geometry=boxes, crs="EPSG:25832")


def _estimates(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for variable in VARIABLES:
        for district in IDS:
            value = float(rng.uniform(40, 80))
            rows.append({"district_id": district, "variable": variable, "estimate": value, "ci_low": value - 3,
                         "ci_high": value + 3, "n": 12 if district == HIDDEN else int(rng.integers(30, 90)),
                         "suppressed": district == HIDDEN, "estimator": "fay_herriot"})
    return pd.DataFrame(rows)


def _comparison(estimates: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """A comparison table as :func:`geo_cohesion.project.analysis.compare_design` writes it (direct
    estimates: different values from the map's model estimates), rows shuffled."""
    parts = []
    for _, group in estimates.groupby("variable", sort=False):
        group = group.reset_index(drop=True)
        direct = group["estimate"] + rng.normal(0, 4, len(group))
        direct[group["district_id"].isin([HIDDEN, MODEL_ONLY])] = np.nan
        ranks = rank_intervals(direct.to_numpy(), np.full(len(group), 3.0), 0.95, 400, seed=5)
        parts.append(pd.concat([group[["district_id", "variable"]], ranks], axis=1))
    table = pd.concat(parts, ignore_index=True)
    return table.sample(frac=1.0, random_state=2).reset_index(drop=True)


def _need_table() -> pd.DataFrame:
    codes = [1, 2, 2, 3, pd.NA, 4, 2, 1, 3]
    table = pd.DataFrame({"district_id": IDS, "need_score": np.linspace(-1.6, 1.9, len(IDS)),
                          "need_class": pd.array(codes, dtype="Int64"),
                          "class_stability": np.linspace(0.5, 1.0, len(IDS))})
    table = table.iloc[::-1].reset_index(drop=True)  # other row order than the boundaries
    table.attrs["class_breaks"] = [-1.0, 1.0, 1.5]
    return table


@pytest.fixture(scope="module")
def ranked():
    rng = np.random.default_rng(11)
    estimates = _estimates(rng)
    structural = pd.DataFrame({"district_id": IDS, "sgb2_share_pct": rng.uniform(5, 25, len(IDS))})
    city_map = build_city_map("Musterstadt", _boundaries(), estimates, structural)
    add_deviation_layers(city_map, {v: 60.0 for v in VARIABLES})
    add_bivariate_layer(city_map, deprivation="sgb2_share_pct")
    comparison = _comparison(estimates, rng)
    need = _need_table()
    marked = add_rank_intervals(city_map, comparison)
    add_need_layers(city_map, need)
    add_need_class(city_map, need)
    return city_map, comparison, need, marked


def _table_value(comparison: pd.DataFrame, variable: str, district: str, column: str):
    row = comparison[(comparison["variable"] == variable) & (comparison["district_id"] == district)]
    assert len(row) == 1
    value = row[column].iloc[0]
    return None if pd.isna(value) else int(value)


def test_tooltip_ranks_are_the_comparison_tables_district_by_district(ranked):
    city_map, comparison, _, marked = ranked
    payload = map_payload(city_map)
    layers = {layer["key"]: layer for layer in payload["layers"]}
    scored = {"index": "index", "soziale_beziehungen": "soziale_beziehungen", "index__deviation": "index",
              "soziale_beziehungen__deviation": "soziale_beziehungen", "index__x__sgb2_share_pct": "index"}
    assert marked == len(scored)
    for key, variable in scored.items():
        layer = layers[key]
        for i, district in enumerate(payload["keys"]):
            for column, shown in (("rank", layer["rank"]), ("rank_low", layer["rank_low"]),
                                  ("rank_high", layer["rank_high"])):
                assert shown[i] == _table_value(comparison, variable, district, column), (key, district, column)
        ranked_in_table = comparison[comparison["variable"] == variable]["rank"].notna().sum()
        assert layer["n_ranked"] == ranked_in_table == len(IDS) - 2
        assert layer["rank_note"] == label("map.rank_basis")  # model values, ranks of the direct estimates
    i = IDS.index(MODEL_ONLY)
    assert layers["index"]["values"][i] is not None and layers["index"]["rank"][i] is None  # shown as "Rang: –"
    # the table ranks the direct estimates, not the map's values: the ranks are not recomputed
    own = pd.Series(city_map.layer("index").values).rank(ascending=False, method="min")
    assert [None if np.isnan(r) else int(r) for r in own] != layers["index"]["rank"]
    # layers of other kinds keep no rank interval
    for key in ("sgb2_share_pct", "need_class"):
        assert layers[key]["rank_low"] is None and layers[key]["rank_high"] is None
        assert layers[key]["rank_note"] is None


def test_rank_interval_words_come_from_the_catalogue(ranked):
    city_map = ranked[0]
    text = map_payload(city_map)["text"]
    assert text["rank_interval"] == "Rang {rank} (95-%-Rangintervall {low}–{high}) von {n}"
    assert text["rank_none"] == "Rang: – (nicht im Rangvergleich)"
    city_map.lang = "en"
    try:
        assert map_payload(city_map)["text"]["rank_interval"] == "Rank {rank} (95 % rank interval {low}–{high}) of {n}"
    finally:
        city_map.lang = "de"


def test_tooltip_need_class_is_the_need_tables_district_by_district(ranked):
    city_map, _, need, _ = ranked
    payload = map_payload(city_map)
    by_key = need.set_index("district_id")["need_class"]
    for district, shown in zip(payload["keys"], payload["need_class"]):
        code = by_key[district]
        assert shown == (None if pd.isna(code) else f"Bedarfsklasse {int(code)} von 4"), district
    # the same words as the need layer's own tooltip line (the page shows it once)
    detail = {layer["key"]: layer["detail"] for layer in payload["layers"]}["need_class"]
    for shown, lines in zip(payload["need_class"], detail):
        assert (lines is None) == (shown is None)
        if lines is not None:
            assert lines.split("\n")[0] == shown


def test_without_tables_the_map_keeps_its_point_ranks():
    rng = np.random.default_rng(11)
    city_map = build_city_map("Musterstadt", _boundaries(), _estimates(rng))
    add_need_class(city_map, None)
    payload = map_payload(city_map)
    index = payload["layers"][0]
    assert payload["need_class"] is None
    assert index["rank_low"] is None and index["rank_note"] is None
    assert index["n_ranked"] == len(IDS) - 1  # the point rank of the shown values, as before
    # a comparison table without the variable leaves the layer alone
    assert add_rank_intervals(city_map, pd.DataFrame({"district_id": IDS, "variable": "other", "rank": 1.0,
                                                      "rank_low": 1.0, "rank_high": 2.0})) == 0


def test_direct_estimates_get_no_rank_note():
    rng = np.random.default_rng(11)
    estimates = _estimates(rng).assign(estimator="direct")
    city_map = build_city_map("Musterstadt", _boundaries(), estimates)
    add_rank_intervals(city_map, _comparison(estimates, rng))
    assert all(layer["rank_note"] is None for layer in map_payload(city_map)["layers"])


def test_published_ranks_say_so_where_the_map_shows_model_estimates():
    """basis="published": the ranks of the values the map shows (district_estimates.csv), with that note."""
    rng = np.random.default_rng(11)
    estimates = _estimates(rng)
    published = estimates.assign(rank=np.nan, rank_low=np.nan, rank_high=np.nan)
    for _variable, rows in published.groupby("variable"):
        shown = rows[~rows["suppressed"]]
        ranks = rank_intervals(shown["estimate"], np.full(len(shown), 1.5), 0.95, 400, seed=5)
        published.loc[shown.index, ["rank", "rank_low", "rank_high"]] = ranks.to_numpy()
    city_map = build_city_map("Musterstadt", _boundaries(), estimates)
    assert add_rank_intervals(city_map, published, basis="published") == len(VARIABLES)
    layer = map_payload(city_map)["layers"][0]
    assert layer["rank_note"] == label("map.rank_published")
    i = IDS.index(MODEL_ONLY)
    assert layer["rank"][i] is not None  # the model value is ranked among the published ones
    # the point ranks are those of the shown values
    own = pd.Series(city_map.layer("index").values).rank(ascending=False, method="min")
    assert [None if np.isnan(r) else int(r) for r in own] == layer["rank"]
    with pytest.raises(ValueError, match="basis"):
        add_rank_intervals(city_map, published, basis="model")


def test_rank_table_keys_are_matched_like_the_estimates():
    """A rank table with ids without leading zeros ("7" for "007") still reaches its districts."""
    rng = np.random.default_rng(11)
    estimates = _estimates(rng)
    city_map = build_city_map("Musterstadt", _boundaries(), estimates)
    table = _comparison(estimates, rng)
    spelled = table.assign(district_id=table["district_id"].str.lstrip("0"))
    add_rank_intervals(city_map, spelled)
    layer = city_map.layer("index")
    expected = table[table["variable"] == "index"].set_index("district_id")["rank_low"].reindex(IDS)
    np.testing.assert_array_equal(layer.rank_low, expected.to_numpy(dtype=float))
    assert np.isfinite(layer.rank_low).sum() == len(IDS) - 2


def test_the_payload_marks_intervals_over_every_rank_once_for_the_browser():
    """The rule "interval over every rank" is computed in Python (stats.compare.rank_open), not in map.js."""
    rng = np.random.default_rng(3)
    estimates = _estimates(rng)
    shown = [d for d in IDS if d != HIDDEN]

    def payload(low: np.ndarray, high: np.ndarray) -> dict:
        city_map = build_city_map("Musterstadt", _boundaries(), estimates)
        table = pd.DataFrame({"district_id": shown, "variable": "index", "rank": low, "rank_low": low,
                              "rank_high": high})
        add_rank_intervals(city_map, table, basis="published")
        return next(layer for layer in map_payload(city_map)["layers"] if layer["key"] == "index")

    every = payload(np.ones(len(shown)), np.full(len(shown), float(len(shown))))
    assert every["n_ranked"] == len(shown)
    assert every["rank_open"] == [None if d == HIDDEN else True for d in map_payload(
        build_city_map("Musterstadt", _boundaries(), estimates))["keys"]]
    points = np.arange(1.0, len(shown) + 1)
    assert payload(points, points)["rank_open"] is None
