"""Comparison and spatial outputs (geo_cohesion.project.analysis): the table contracts on the small
one-city project, and the seed's qualitative findings reproduced from the full (synthetic) demo (slow)."""
from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from geo_cohesion.labels import label

CITIES = ["dortmund", "lippstadt", "rostock", "dessau-rosslau"]


def table(demo_out, name):
    return pd.read_csv(demo_out / "tables" / name, dtype={"district_id": str})


def test_comparison_spatial_and_lisa_tables_follow_the_contract(small_project):
    comp = small_project.table("comparison_musterstadt.csv")
    assert list(comp.columns[:9]) == ["district_id", "variable", "estimate", "deviation", "p_value", "significant",
                                      "rank", "rank_low", "rank_high"]
    spatial = small_project.table("spatial_musterstadt.csv")
    assert list(spatial.columns[:5]) == ["variable", "moran_i", "p_value", "n_districts", "islands"]
    lisa = small_project.table("lisa_musterstadt.csv")
    assert list(lisa.columns[:6]) == ["district_id", "variable", "local_i", "p_value", "q_value", "cluster"]
    shown = comp.dropna(subset=["rank"])
    assert ((shown["rank_low"] <= shown["rank"]) & (shown["rank"] <= shown["rank_high"])).all()
    assert comp["suppressed"].any()
    assert not comp.loc[comp["suppressed"], ["estimate", "deviation", "p_value"]].notna().any().any()
    assert (comp["note"].str.contains("synthetische Testdaten")).all()
    groups = small_project.table("comparison_groups_musterstadt.csv")
    assert set(groups["group"]) == {"Nord", "Mitte", "Süd"}


@pytest.mark.parametrize("slug", CITIES)
def test_demo_comparison_tables_exist_for_every_city(demo_out, slug):
    for name in (f"comparison_{slug}.csv", f"spatial_{slug}.csv", f"lisa_{slug}.csv"):
        assert not table(demo_out, name).empty


def test_small_city_gradient_is_found(small_project):
    """The small city's cohesion falls from north-west to south-east: Moran's I is positive and
    cohesion goes down with deprivation (the association table carries the few-districts note)."""
    spatial = small_project.table("spatial_musterstadt.csv").set_index("variable")
    assert spatial.loc["index", "moran_i"] > 0 and spatial.loc["index", "n_districts"] == 11
    assoc = small_project.table("association_musterstadt.csv")
    row = assoc[(assoc["variable"] == "index") & (assoc["indicator"] == "sgb2_share_pct")].iloc[0]
    assert row["r"] < 0 and row["r_ci_low"] < row["r"] < row["r_ci_high"]
    assert "nur 11 Bezirke" in row["note"]


def index_rows(demo_out, slug):
    comp = table(demo_out, f"comparison_{slug}.csv")
    return comp[comp["variable"] == "index"].set_index("district_name")


def test_dortmund_north_significantly_below_the_city(demo_out):
    rows = index_rows(demo_out, "dortmund")
    for name in ("Eving", "Scharnhorst"):          # seed: the northern Stadtbezirke are significantly lower
        assert rows.loc[name, "deviation"] < 0 and rows.loc[name, "significant"]
    for name in ("Hörde", "Aplerbeck"):            # seed: highest cohesion
        assert rows.loc[name, "deviation"] > 0 and rows.loc[name, "significant"]


def test_rostock_large_estates_lowest_and_stadtmitte_highest(demo_out):
    rows = index_rows(demo_out, "rostock").dropna(subset=["estimate"])
    estates = {"Lichtenhagen", "Groß Klein", "Lütten Klein", "Evershagen", "Schmarl", "Dierkow-Neu", "Toitenwinkel"}
    lowest_three = set(rows.sort_values("estimate").index[:3])
    assert lowest_three <= estates
    assert rows["estimate"].idxmax() == "Stadtmitte"


def test_dessau_rosslau_stadtgliederungen_as_in_the_study(demo_out):
    groups = table(demo_out, "comparison_groups_dessau-rosslau.csv")
    index = groups[groups["variable"] == "index"].set_index("group")["estimate"]
    # seed: higher in the Äußere Stadt and the Innere Stadt than in the Kernstadt and Roßlau
    assert min(index["Äußere Stadt mit Ortschaften"], index["Innere Stadt"]) > max(index["Kernstadt"], index["Roßlau"])


def test_districts_differ_more_than_cities_for_the_index(demo_out):
    headline = table(demo_out, "between_vs_within.csv").set_index("variable")
    assert headline.loc["index", "districts_exceed_cities"]
    # ... but not for Soziale Netze, the one dimension with a clear east-west gap between cities (seed)
    assert headline.loc["soziale_netze", "between_cities"] > headline.loc["index", "between_cities"]


def test_variance_shares_and_spread_tables(demo_out):
    variance = table(demo_out, "variance_decomposition.csv")
    assert variance["share_between"].between(0, 1).all()
    assert (variance["share_between_corrected"] <= variance["share_between"] + 1e-12).all()
    spread = table(demo_out, "spread.csv")
    dortmund = spread[(spread["city"] == "Dortmund") & (spread["variable"] == "index")].iloc[0]
    assert dortmund["lowest"] in {"Eving", "Scharnhorst", "Innenstadt-Nord", "Mengede"}


def test_association_with_deprivation_is_negative_with_an_honest_note(demo_out):
    assoc = table(demo_out, "association_dortmund.csv")
    row = assoc[(assoc["variable"] == "index") & (assoc["indicator"] == "sgb2_share_pct")].iloc[0]
    assert row["r"] < 0 and row["r_ci_low"] < row["r"] < row["r_ci_high"]
    assert "nur 12 Bezirke" in row["note"]


def test_html_map_has_deviation_and_cluster_layers(small_project):
    out = small_project.out
    html = (out / "musterstadt.html").read_text(encoding="utf-8")
    payload = json.loads(re.search(r"var DATA = (\{.*?\});\n", html).group(1))
    kinds = {layer["kind"] for layer in payload["layers"]}
    assert {"cohesion", "deviation", "structural", "cluster"} <= kinds
    assert "synthetische Testdaten" in payload["notes"]
    assert (out / "musterstadt_gruppen.html").exists()
    assert (out / "figures" / "musterstadt_index.svg").exists()
    assert (out / "figures" / "musterstadt_dimensionen.svg").exists()
    assert not list((out / "figures").glob("*.png"))  # maps.figure_formats is honoured


def _payload(path):
    return json.loads(re.search(r"var DATA = (\{.*?\});\n", path.read_text(encoding="utf-8")).group(1))


def _same_ranks(payload, comparison, id_column="district_id"):
    """Every score layer's tooltip ranks equal the table's, district by district; returns the layers
    checked."""
    checked = []
    for layer in payload["layers"]:
        if layer["kind"] not in {"cohesion", "deviation", "bivariate"}:
            assert layer["rank_low"] is None, layer["key"]
            continue
        variable = layer["key"].removesuffix("__deviation").split("__x__")[0]
        rows = comparison[comparison["variable"] == variable].set_index(id_column)
        for column in ("rank", "rank_low", "rank_high"):
            expected = [None if pd.isna(v) else int(v) for v in rows[column].reindex(payload["keys"])]
            assert layer[column] == expected, (layer["key"], column)
        assert layer["n_ranked"] == rows["rank"].notna().sum()
        checked.append(layer["key"])
    return checked


def test_html_map_tooltips_carry_the_tables_rank_intervals_and_need_class(small_project):
    """The run's own tables: ``district_estimates.csv`` (rank intervals of the published values) and
    ``need_*.csv`` (need class); the group map's ranks are ``comparison_groups_*.csv``'s."""
    from geo_cohesion.radar.codebook import load_radar

    out = small_project.out
    payload = _payload(out / "musterstadt.html")
    published = small_project.table("district_estimates.csv")
    checked = _same_ranks(payload, published)
    variables = load_radar().variables
    assert set(variables) <= set(checked) and {f"{v}__deviation" for v in variables} <= set(checked)
    small = payload["keys"].index("12")  # 22 respondents: a model estimate, ranked among the published values
    layers = {layer["key"]: layer for layer in payload["layers"]}
    row = published[(published["district_id"] == "12") & (published["variable"] == "index")].iloc[0]
    assert row["estimator"] != "direct" and not row["suppressed"]
    assert layers["index"]["values"][small] is not None and layers["index"]["rank"][small] is not None
    assert layers["index"]["rank_note"] == label("map.rank_published")  # the map says what it ranks
    # the comparison table ranks the direct estimates only: district 12 is not in it
    comparison = small_project.table("comparison_musterstadt.csv")
    assert comparison[(comparison["district_id"] == "12") & (comparison["variable"] == "index")]["rank"].isna().all()
    # every published value is ranked, and the intervals contain the point rank
    shown = published[~published["suppressed"].astype(bool) & published["estimate"].notna()]
    assert shown["rank"].notna().all()
    assert ((shown["rank_low"] <= shown["rank"]) & (shown["rank"] <= shown["rank_high"])).all()
    assert payload["text"]["rank_interval"] == "Rang {rank} (95-%-Rangintervall {low}–{high}) von {n}"
    need = small_project.table("need_musterstadt.csv").set_index("district_id")["need_class"]
    expected = [None if pd.isna(k) else f"Bedarfsklasse {int(k)} von 4" for k in need.reindex(payload["keys"])]
    assert payload["need_class"] == expected and any(expected)
    groups = _payload(out / "musterstadt_gruppen.html")
    table = pd.read_csv(out / "tables" / "comparison_groups_musterstadt.csv", dtype={"group": str})
    assert _same_ranks(groups, table, "group") and groups["need_class"] is None  # the need index is per district


def test_demo_maps_and_figures(demo_out):
    html = (demo_out / "dortmund.html").read_text(encoding="utf-8")
    payload = json.loads(re.search(r"var DATA = (\{.*?\});\n", html).group(1))
    assert "synthetische Demodaten" in payload["notes"] and "schematische Grenzen – nicht amtlich" in payload["notes"]
    assert (demo_out / "dessau-rosslau_gruppen.html").exists()
    assert (demo_out / "figures" / "dortmund_index.pdf").exists()
    assert (demo_out / "figures" / "rostock_dimensionen.png").exists()
    assert not list((demo_out / "figures").glob("*.svg"))  # default formats: png and pdf


def test_structural_ids_spelled_differently_still_join_everywhere(small_project, tmp_path):
    """Structural ids without leading zeros ("7" for "07") and group members given as numbers
    are matched once by the key normaliser; the association then uses all 11 shown districts."""
    import yaml

    from geo_cohesion.project.analysis import compare_city
    from geo_cohesion.project.config import project_from_dict
    from geo_cohesion.project.run import run_city

    inputs = small_project.inputs
    raw = yaml.safe_load(small_project.config.read_text(encoding="utf-8"))
    city = raw["cities"][0]
    structural = pd.read_csv(inputs / "strukturdaten.csv", dtype={"bezirk": str})
    structural["bezirk"] = structural["bezirk"].str.lstrip("0")
    structural.to_csv(tmp_path / "structural.csv", index=False)
    city["structural"]["path"] = str(tmp_path / "structural.csv")
    city["groups"] = {"Nord": [1, 2, 3], "Süd": [10, 11]}
    project = project_from_dict(raw, base_dir=inputs)
    result = run_city(project.cities[0], project)
    assert result.district_estimates["district_name"].str.contains("Weißenfeld").any()  # names found despite "7"
    comparison = compare_city(result, project)
    row = comparison.association.query("variable == 'index' and indicator == 'sgb2_share_pct'").iloc[0]
    assert row["n_districts"] == 11
    assert set(result.group_estimates["group"]) == {"Nord", "Süd"}
