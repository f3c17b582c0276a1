"""The one label catalogue (geo_cohesion.labels): complete in German and English, used everywhere."""
from __future__ import annotations

import ast
import json
import re
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import yaml
from shapely.geometry import box

from geo_cohesion.errors import InputError
from geo_cohesion.labels import LANGUAGES, format_level, label, labels, placeholders
from geo_cohesion.radar.codebook import load_radar

PACKAGE = Path(__file__).resolve().parents[1] / "geo_cohesion"
#: Modules whose user-facing words must come from the catalogue.
CONSUMERS = ["maps/layers.py", "maps/figures.py", "maps/html.py", "project/analysis.py", "project/run.py",
             "spatial/autocorrelation.py", "stats/association.py", "demo/synthetic.py", "demo/shapes.py"]


def test_every_key_exists_in_german_and_english_with_the_same_placeholders():
    german, english = labels("de"), labels("en")
    assert set(LANGUAGES) == {"de", "en"}
    assert german.keys() == english.keys() and len(german) > 50
    for key in german:
        assert german[key].strip() and english[key].strip(), key
        assert placeholders(german[key]) == placeholders(english[key]), key


def test_german_is_the_default_and_placeholders_are_filled():
    assert label("note.synthetic") == "synthetische Demodaten"
    assert label("note.schematic") == "schematische Grenzen – nicht amtlich"
    assert label("note.too_few", min_n=30) == "zu wenige Befragte (n < 30)"
    assert label("note.too_few", "en", min_n=25) == "too few respondents (n < 25)"
    assert label("note.no_data") == "keine Daten" and label("note.no_data", "en") == "no data"
    assert [label(f"class.{c}") for c in ("low", "mid", "high")] == ["niedrig", "mittel", "hoch"]
    assert label("cluster.HH") == "HH" and label("cluster.ns") == "nicht signifikant"
    assert format_level(0.95) == "95" and format_level(0.995) == "99,5" and format_level(0.995, "en") == "99.5"


def test_unknown_language_is_an_input_error_and_unknown_key_a_key_error():
    with pytest.raises(InputError, match="unknown language 'fr'") as info:
        label("note.no_data", "fr")
    assert "de, en" in info.value.hint
    with pytest.raises(InputError):
        labels("fr")
    with pytest.raises(KeyError, match="no label 'note.gibt_es_nicht'"):
        label("note.gibt_es_nicht")


def test_radar_labels_live_only_in_the_catalogue():
    """radar.yaml holds the structure (slugs); the labels are the catalogue's radar.<slug> keys."""
    raw = resources.files("geo_cohesion").joinpath("radar/data/radar.yaml").read_text(encoding="utf-8")
    assert "label" not in yaml.safe_load(raw)["index"]
    assert "Soziale Netze" not in raw and "Gesamtindex" not in raw
    radar = load_radar()
    for slug in radar.variables:
        assert radar.labels[slug] == label(f"radar.{slug}")
        assert radar.labels_in("en")[slug] == label(f"radar.{slug}", "en")
    assert radar.labels_in("en")["index"] == "Overall cohesion index"


def test_catalogue_ships_as_package_data():
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert '"labels.yaml"' in pyproject


def _code_strings(path: Path) -> list[str]:
    """String constants of a module that are not docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


@pytest.mark.parametrize("module", CONSUMERS)
def test_no_catalogue_text_is_written_out_in_code(module):
    """The German words of the catalogue appear in code only through label(...)."""
    pieces = set()
    for text in labels("de").values():
        for piece in re.split(r"\{[^}]*\}", text):
            piece = piece.strip(" :·(),.–-")
            if len(piece) >= 8:
                pieces.add(piece)
    found = [(piece, s) for s in _code_strings(PACKAGE / module) for piece in pieces if piece in s]
    assert not found, found


def test_map_js_has_no_german_words():
    js = (PACKAGE / "maps" / "assets" / "map.js").read_text(encoding="utf-8")
    for word in ("keine Daten", "zu wenige Befragte", "Wert:", "Befragte:", "Rang ", "Vergleichsansicht",
                 "zweite Karte"):
        assert word not in js, word


# --------------------------------------------------------------------------- lang through a map

def _city(lang: str):
    from geo_cohesion.maps.layers import add_bivariate_layer, add_deviation_layers, build_city_map

    ids = [f"{i:02d}" for i in range(1, 7)]
    b = gpd.GeoDataFrame({"district_id": ids, "district_name": [f"Bezirk {i}" for i in ids]},
                         geometry=[box(i * 1000, 0, (i + 1) * 1000, 1000) for i in range(6)], crs="EPSG:25832")
    est = pd.DataFrame({"district_id": ids, "variable": "index", "estimate": [60, 58, 55, 52, 50, 48.0],
                        "ci_low": [55, 53, 50, 47, 45, 43.0], "ci_high": [65, 63, 60, 57, 55, 53.0],
                        "n": [40, 20, 50, 45, 60, 35], "suppressed": [False, True, False, False, False, False]})
    structural = pd.DataFrame({"district_id": ids, "sgb2_share_pct": [3, 5, 8, 12, 15, 20.0],
                               "migration_share_pct": [10, 12, 20, 25, 30, 40.0]})
    city_map = build_city_map("Musterstadt", b, est, structural, notes=[label("note.synthetic", lang)], lang=lang)
    add_deviation_layers(city_map, {"index": 54.0})
    add_bivariate_layer(city_map)
    return city_map


def test_english_map_payload_and_figure():
    from geo_cohesion.maps.figures import footer_text, legend_entries, plot_layer
    from geo_cohesion.maps.html import map_payload

    city_map = _city("en")
    payload = json.loads(json.dumps(map_payload(city_map)))
    layers = {layer["key"]: layer for layer in payload["layers"]}
    assert layers["index"]["label"] == "Overall cohesion index" and layers["index"]["unit"] == "points"
    assert layers["sgb2_share_pct"]["label"] == "SGB II benefit rate"
    assert layers["index__deviation"]["label"] == "Overall cohesion index: deviation from the city value"
    assert layers["index__x__sgb2_share_pct"]["legend"][0]["label"] == "Cohesion high · SGB II benefit rate low"
    assert [g["title"] for g in payload["groups"]] == ["Cohesion", "Deviation from the city value",
                                                      "Structural data", "Cohesion and deprivation"]
    assert payload["title"] == "Musterstadt: social cohesion" and payload["lang"] == "en"
    assert payload["text"]["too_few"] == "too few respondents (n < 30)"
    assert payload["text"]["rank"] == "Rank {rank} of {n} in the city"
    assert city_map.ci_label == "95 % confidence interval"
    _, texts = legend_entries(city_map, city_map.layer("index"))
    assert texts[-1] == "no data / too few respondents (n < 30)"
    assert footer_text(city_map) == "synthetic demo data"
    fig = plot_layer(city_map, "index")
    words = " ".join(t.get_text() for t in fig.texts)
    assert "Classification: quantiles" in words and "Klassierung" not in words


def test_german_map_keeps_the_published_words():
    from geo_cohesion.maps.html import map_payload

    city_map = _city("de")
    payload = map_payload(city_map)
    layers = {layer["key"]: layer for layer in payload["layers"]}
    assert layers["index__deviation"]["label"] == "Gesamtindex Zusammenhalt: Abweichung vom Stadtwert"
    assert layers["index__x__sgb2_share_pct"]["label"] == "Gesamtindex Zusammenhalt × SGB-II-Quote"
    assert layers["index__x__sgb2_share_pct"]["legend"][-1]["label"] == \
        "Zusammenhalt niedrig · SGB-II-Quote hoch"
    assert payload["text"] == {"no_data": "keine Daten", "no_respondents": "keine Befragten",
                               "not_published": "nicht veröffentlicht", "estimator": "Schätzer",
                               "too_few": "zu wenige Befragte (n < 30)", "value": "Wert",
                               "respondents": "Befragte", "rank": "Rang {rank} von {n} in der Stadt",
                               "side_view": "Vergleichsansicht", "side_second": "zweite Karte rechts:",
                               "district_key": "Gebietsschlüssel", "search": "Gebiet suchen (Name oder Schlüssel)",
                               "search_none": "kein Gebiet gefunden", "labels_toggle": "Gebietsnamen zeigen",
                               "significant_above": "signifikant über dem Stadtwert",
                               "significant_below": "signifikant unter dem Stadtwert",
                               "not_significant": "kein signifikanter Unterschied zum Stadtwert",
                               "rank_interval": "Rang {rank} (95-%-Rangintervall {low}–{high}) von {n}",
                               "rank_none": "Rang: – (nicht im Rangvergleich)",
                               "rank_open": "Rang nicht erkennbar (95-%-Rangintervall 1–{n}: jeder Rang ist mit den "
                                            "Daten vereinbar)"}
    assert city_map.ci_label == "95-%-Konfidenzintervall"
    assert np.isnan(city_map.layer("index").values[1])


def test_unknown_map_language_is_an_input_error():
    with pytest.raises(InputError, match="unknown language"):
        _city("fr")
