"""Spatial statistics (geo_cohesion.spatial.autocorrelation) against esda and hand-built cases."""
from __future__ import annotations

import esda
import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from geo_cohesion.spatial.autocorrelation import LOW_POWER_NOTE, global_moran, local_moran
from geo_cohesion.spatial.weights import contiguity_weights


def grid(n: int = 5, extra_island: bool = False) -> gpd.GeoDataFrame:
    cells = [box(c * 100, r * 100, (c + 1) * 100, (r + 1) * 100) for r in range(n) for c in range(n)]
    ids = [f"{i:03d}" for i in range(len(cells))]
    if extra_island:
        cells.append(box(2000, 0, 2100, 100))
        ids.append("island")
    return gpd.GeoDataFrame({"district_id": ids}, geometry=cells, crs="EPSG:25832")


def test_queen_and_rook_neighbours_on_a_grid():
    queen = contiguity_weights(grid(3), "queen")
    rook = contiguity_weights(grid(3), "rook")
    assert queen.w.cardinalities["004"] == 8 and rook.w.cardinalities["004"] == 4
    assert queen.w.cardinalities["000"] == 3 and rook.w.cardinalities["000"] == 2


def test_islands_are_reported_and_attached_to_the_nearest_neighbour():
    sw = contiguity_weights(grid(3, extra_island=True))
    assert sw.islands == ["island"] and sw.fallback == "nearest neighbour attached"
    assert "island" in sw.w.neighbors and list(map(str, sw.w.neighbors["island"])) == ["002"]
    detached = contiguity_weights(grid(3, extra_island=True), attach_islands=False)
    assert detached.w.cardinalities["island"] == 0


def test_global_moran_equals_esda_with_the_same_seed():
    gdf = grid(6)
    values = gdf.geometry.centroid.x.to_numpy() / 100 + np.random.default_rng(0).normal(0, 1, len(gdf))
    sw = contiguity_weights(gdf)
    ours = global_moran(values, sw, permutations=499, seed=7)
    np.random.seed(7)
    ref = esda.Moran(values, sw.w, permutations=499)
    assert ours["moran_i"] == pytest.approx(ref.I) and ours["p_value"] == pytest.approx(ref.p_sim)
    assert ours["moran_i"] > 0.5 and ours["n_districts"] == 36 and ours["note"] == ""
    assert global_moran(values, sw, seed=7) == global_moran(values, sw, seed=7)


def test_checkerboard_is_negative_and_gradient_gives_hh_ll_clusters():
    gdf = grid(6)
    r, c = np.divmod(np.arange(36), 6)
    checker = ((r + c) % 2).astype(float)
    sw = contiguity_weights(gdf, "rook")
    assert global_moran(checker, sw, seed=1)["moran_i"] == pytest.approx(-1.0)
    gradient = c.astype(float) * 10 + r * 0.1
    lisa = local_moran(gradient, contiguity_weights(gdf), seed=3, permutations=999)
    clusters = dict(zip(lisa["district_id"], lisa["cluster"]))
    assert clusters["000"] in ("LL", "nicht signifikant") and clusters["005"] in ("HH", "nicht signifikant")
    assert {"HH", "LL"} <= set(lisa["cluster"])
    assert (lisa["q_value"] >= lisa["p_value"] - 1e-12).all()


def test_few_districts_get_a_low_power_note_not_a_verdict():
    gdf = grid(3)
    values = np.arange(9, dtype=float)
    sw = contiguity_weights(gdf)
    assert global_moran(values, sw, seed=0)["note"] == LOW_POWER_NOTE
    assert (local_moran(values, sw, seed=0)["cluster"] == LOW_POWER_NOTE).all()


def test_missing_values_are_left_out_with_their_links():
    gdf = grid(4)
    values = np.arange(16, dtype=float)
    values[5] = np.nan
    sw = contiguity_weights(gdf)
    result = global_moran(values, sw, seed=0)
    assert result["n_districts"] == 15
    lisa = local_moran(values, sw, seed=0)
    assert lisa.loc[5, "cluster"] == "keine Daten" and np.isnan(lisa.loc[5, "local_i"])


# --------------------------------------------------------------------------- no global side effects


def _islands_and_gaps():
    """A 4 x 4 grid plus an island, with one missing value (so weights are subset as well)."""
    gdf = grid(4, extra_island=True)
    values = np.r_[np.arange(16, dtype=float), 3.0]
    values[5] = np.nan
    return gdf, values


def test_numpy_global_random_state_is_left_alone():
    gdf, values = _islands_and_gaps()
    np.random.seed(12345)
    before = np.random.get_state()
    sw = contiguity_weights(gdf)
    first = global_moran(values, sw, permutations=99, seed=4)
    lisa = local_moran(values, sw, permutations=99, seed=4)
    after = np.random.get_state()
    assert after[0] == before[0] and np.array_equal(after[1], before[1]) and after[2:] == before[2:]
    # still reproducible from the seed alone, whatever the global state is
    np.random.seed(999)
    assert global_moran(values, sw, permutations=99, seed=4) == first
    assert local_moran(values, sw, permutations=99, seed=4).equals(lisa)


def test_other_warnings_stay_visible_island_messages_do_not(monkeypatch, capsys):
    import warnings

    gdf, values = _islands_and_gaps()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sw = contiguity_weights(gdf)
        global_moran(values, sw, permutations=19, seed=1)
        local_moran(values, sw, permutations=19, seed=1)
    assert [str(w.message) for w in caught] == []        # libpysal's island warnings are reported as data
    assert capsys.readouterr().out == ""                  # ... and its island prints do not reach stdout
    assert sw.islands == ["island"]

    real_moran = esda.Moran

    def noisy_moran(*args, **kwargs):
        warnings.warn("a warning from inside esda", UserWarning, stacklevel=2)
        print("printed by esda")
        return real_moran(*args, **kwargs)

    monkeypatch.setattr(esda, "Moran", noisy_moran)
    with pytest.warns(UserWarning, match="a warning from inside esda"):
        global_moran(values, sw, permutations=19, seed=1)
    assert "printed by esda" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["queen", "rook"])
def test_districts_across_a_small_gap_or_overlap_are_neighbours(kind):
    """Boundaries with 10 cm gaps made every district an island, and overlapping polygons (simplified
    one by one, as Rostock's Ortsteile) lost their neighbours: libpysal needs shared vertices
    (robustness sweep 2)."""
    clean = contiguity_weights(grid(3), kind)
    gaps = grid(3)
    gaps["geometry"] = gaps.geometry.buffer(-0.05, join_style="mitre")  # 10 cm between all neighbours
    gapped = contiguity_weights(gaps, kind)
    assert gapped.islands == [] and gapped.fallback == "none"
    assert {k: sorted(v) for k, v in gapped.w.neighbors.items()} == {k: sorted(v) for k, v in clean.w.neighbors.items()}
    assert len(gapped.gap_neighbours) == (20 if kind == "queen" else 12)
    overlapping = grid(3)
    overlapping.loc[4, "geometry"] = overlapping.geometry.iloc[4].buffer(0.5, join_style="mitre")  # no shared vertex
    over = contiguity_weights(overlapping, kind)
    assert over.islands == [] and sorted(over.w.neighbors["004"]) == sorted(clean.w.neighbors["004"])


def test_a_real_gap_wider_than_the_tolerance_keeps_the_island():
    gdf = grid(3, extra_island=True)
    assert contiguity_weights(gdf).islands == ["island"]
    near = grid(2)
    near.loc[3, "geometry"] = near.geometry.iloc[3].buffer(-5, join_style="mitre")  # 5 m gap: not a neighbour
    sw = contiguity_weights(near, "queen", attach_islands=False)
    assert sw.islands == ["003"] and sw.gap_neighbours == []


def test_districts_meeting_at_a_corner_across_a_gap_are_queen_not_rook_neighbours():
    gdf = grid(2).iloc[[0, 3]].reset_index(drop=True)  # two cells touching at one corner
    gdf["geometry"] = gdf.geometry.buffer(-0.05, join_style="mitre")
    assert contiguity_weights(gdf, "queen", attach_islands=False).islands == []
    assert contiguity_weights(gdf, "rook", attach_islands=False).islands == ["000", "003"]


def test_the_gap_tolerance_is_metres_also_for_boundaries_in_degrees():
    """Called with boundaries in EPSG:4326, 1 m must not become 1 degree (every district a neighbour)."""
    gdf = grid(3)
    gdf["geometry"] = gdf.geometry.buffer(-0.05, join_style="mitre")  # 10 cm gaps
    far = grid(3)
    far["geometry"] = far.geometry.buffer(-5, join_style="mitre")  # 10 m gaps: no neighbours
    for frame, expected in ((gdf, contiguity_weights(gdf, "queen").w.neighbors), (far, None)):
        degrees = frame.to_crs("EPSG:4326")
        sw = contiguity_weights(degrees, "queen", attach_islands=False)
        if expected is None:
            assert sorted(sw.islands) == sorted(frame["district_id"]) and sw.gap_neighbours == []
        else:
            assert {k: sorted(v) for k, v in sw.w.neighbors.items()} == {k: sorted(v) for k, v in expected.items()}
