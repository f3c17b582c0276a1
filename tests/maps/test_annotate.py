"""District names and significance outlines on print maps (geo_cohesion.maps.annotate)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from matplotlib.backends.backend_agg import FigureCanvasAgg

from geo_cohesion.demo.shapes import build_schematic_boundaries, load_cities
from geo_cohesion.maps.figures import plot_layer
from geo_cohesion.maps.layers import add_deviation_layers, build_city_map
from geo_cohesion.maps.significance import add_significance


@pytest.fixture(scope="module")
def dessau():
    city = next(c for c in load_cities() if c["slug"] == "dessau-rosslau")
    b = build_schematic_boundaries(city)
    rng = np.random.default_rng(3)
    est = pd.DataFrame({"district_id": b["district_id"], "variable": "index",
                        "estimate": rng.uniform(40, 80, len(b)), "n": 50, "suppressed": False})
    city_map = build_city_map(city["name"], b, est, notes=["synthetische Demodaten"])
    add_deviation_layers(city_map, {"index": 60.0})
    return city_map


def _rendered(fig, prefix):
    renderer = FigureCanvasAgg(fig).get_renderer()
    return [(t, t.get_window_extent(renderer)) for t in fig.axes[0].texts if (t.get_gid() or "").startswith(prefix)]


def test_names_sit_inside_their_districts_and_never_overlap(dessau):
    fig = plot_layer(dessau, "index")
    ax = fig.axes[0]
    labels = _rendered(fig, "district_")
    names = dessau.boundaries["district_name"].tolist()
    assert len(labels) >= len(names) // 2  # most districts are named at A4
    to_data = ax.transData.inverted()
    for text, box in labels:
        row = int(text.get_gid().rsplit("_", 1)[1])
        if text.get_gid().startswith("district_label_"):
            assert text.get_text().replace("\n", " ").replace("- ", "-") == names[row]
        corners = to_data.transform([[box.x0, box.y0], [box.x1, box.y1]])
        drawn = shapely.box(*corners[0], *corners[1])
        line = (corners[1][1] - corners[0][1]) / max(1, text.get_text().count("\n") + 1)
        # the measured text lies inside its own district (tolerance: a fraction of a line)
        assert dessau.boundaries.geometry.iloc[row].buffer(0.45 * line).contains(drawn), text.get_text()
    for a in range(len(labels)):
        for b in range(a + 1, len(labels)):
            assert not labels[a][1].overlaps(labels[b][1]), (labels[a][0].get_text(), labels[b][0].get_text())


def test_small_districts_are_numbered_and_listed_under_the_map(dessau):
    fig = plot_layer(dessau, "index")
    numbers = _rendered(fig, "district_number_")
    footer = next(t.get_text() for t in fig.texts if t.get_gid() == "footer").replace("\n", " ")
    names = dessau.boundaries["district_name"].tolist()
    named = len(_rendered(fig, "district_label_"))
    assert named + len(numbers) <= len(names)
    for text, _box in numbers:
        row = int(text.get_gid().rsplit("_", 1)[1])
        assert f"{text.get_text()} {names[row]}" in footer  # the key table names the number
    if named < len(names):
        assert f"Beschriftet: {named} von {len(names)} Gebieten" in footer
    assert numbers, "Dessau-Roßlau's small inner districts get numbers (the check can fail)"


def test_significant_districts_are_outlined_with_the_test_in_the_legend(dessau):
    layer = dessau.layer("index__deviation")
    ids = dessau.boundaries["district_id"].astype(str)
    table = pd.DataFrame({"district_id": ids, "variable": "index", "deviation": layer.values,
                          "p_adjusted": 0.01, "significant": np.abs(layer.values) > 10})
    try:
        add_significance(dessau, table, "holm", 0.05)
        fig = plot_layer(dessau, "index__deviation")
        outlined = [c for c in fig.axes[0].collections if c.get_gid() == "significant"]
        assert len(outlined) == 1 and len(outlined[0].get_paths()) == int((np.abs(layer.values) > 10).sum()) > 0
        legend = next(lg for lg in fig.legends if lg.get_gid() == "legend")
        texts = [t.get_text().replace("\n", " ") for t in legend.get_texts()]
        assert any("signifikant vom Stadtwert verschieden (Holm-Korrektur, α = 0,05" in t for t in texts)
        plain = plot_layer(dessau, "index")  # other layers carry no outline
        assert not [c for c in plain.axes[0].collections if c.get_gid() == "significant"]
    finally:
        layer.significance, layer.significance_note = None, ""
