"""Print figures: A4 size, 300 dpi, exact CityMap colours, notes on every figure, reproducible atomic files."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from PIL import Image

from geo_cohesion.demo.shapes import build_schematic_boundaries, load_cities
from geo_cohesion.maps import figures
from geo_cohesion.maps.classify import NO_DATA_COLOUR
from geo_cohesion.maps.figures import (
    nice_scale_length,
    plot_layer,
    plot_small_multiples,
    save_figure,
    write_city_figures,
)
from geo_cohesion.maps.layers import build_city_map
from geo_cohesion.radar.codebook import load_radar

NOTES = ["synthetische Demodaten", "schematische Grenzen – nicht amtlich"]
SUPPRESSED_DISTRICTS = {0, 5}
MISSING_DISTRICT = 3


def _city_map(name: str):
    city = next(c for c in load_cities() if c["name"] == name)
    boundaries = build_schematic_boundaries(city)
    rng = np.random.default_rng(7)
    rows = []
    for variable in load_radar().variables:
        for i, district in enumerate(boundaries["district_id"]):
            suppressed = i in SUPPRESSED_DISTRICTS
            rows.append({"district_id": district, "variable": variable,
                         "estimate": np.nan if i == MISSING_DISTRICT else float(rng.normal(62, 7)),
                         "n": 12 if suppressed else int(rng.integers(30, 150)), "suppressed": suppressed})
    structural = pd.DataFrame({"district_id": boundaries["district_id"],
                               "unemployment_pct": rng.uniform(3, 15, len(boundaries))})
    return build_city_map(name, boundaries, pd.DataFrame(rows), structural, notes=NOTES,
                          source="Radar gesellschaftlicher Zusammenhalt (synthetisch)")


@pytest.fixture(scope="module")
def lippstadt():
    """Landscape city (wider than tall): 13 Radar layers with NaN/suppressed + one structural layer."""
    return _city_map("Lippstadt")


@pytest.fixture(scope="module")
def rostock():
    """Portrait city (taller than wide)."""
    return _city_map("Rostock")


@pytest.fixture(scope="module")
def written(lippstadt, tmp_path_factory):
    """One file set, written twice into two folders."""
    paths = []
    for run in ("a", "b"):
        fig = plot_layer(lippstadt, "akzeptanz_von_diversitaet")
        paths.append(save_figure(fig, tmp_path_factory.mktemp(run) / "lippstadt_akzeptanz", ("png", "pdf", "svg"),
                                 close=True))
    return paths


def _collection(fig: Figure, gid: str):
    found = [c for ax in fig.axes for c in ax.collections if c.get_gid() == gid]
    assert len(found) == 1
    return found[0]


def test_files_written_in_all_formats(written):
    first, _ = written
    assert [p.suffix for p in first] == [".png", ".pdf", ".svg"]
    assert all(p.is_file() and p.stat().st_size > 1000 for p in first)
    assert first[1].read_bytes().startswith(b"%PDF")
    assert b"<svg" in first[2].read_bytes()[:2000]
    assert not [p for p in first[0].parent.iterdir() if p.name.startswith(".")]  # no temp files left


def test_png_is_300_dpi_landscape_a4(written):
    with Image.open(written[0][0]) as img:
        width, height = img.size
        dpi = img.info["dpi"]
    assert dpi == pytest.approx((300, 300), abs=0.5)
    assert width == pytest.approx(3507, rel=0.02) and height == pytest.approx(2481, rel=0.02)


def test_png_portrait_a4_for_tall_city(rostock, tmp_path):
    [png] = save_figure(plot_layer(rostock, "index"), tmp_path / "rostock_index", formats=("png",))
    with Image.open(png) as img:
        assert img.size[0] == pytest.approx(2481, rel=0.02) and img.size[1] == pytest.approx(3507, rel=0.02)


def test_writing_twice_is_byte_identical(written):
    first, second = written
    for a, b in zip(first, second):
        assert a.name == b.name
        assert a.read_bytes() == b.read_bytes(), a.suffix


def test_svg_keeps_notes_and_german_title_as_text(written, lippstadt):
    svg = written[0][2].read_text(encoding="utf-8")
    assert "Lippstadt: Akzeptanz von Diversität" in svg
    assert "synthetische Demodaten" in svg
    assert "schematische Grenzen – nicht amtlich" in svg
    assert lippstadt.source in svg
    assert f"keine Daten / zu wenige Befragte (n &lt; {lippstadt.min_n})" in svg
    assert re.search(r"\d+,\d – \d+,\d", svg)  # legend classes with decimal comma


def test_drawn_colours_are_the_classification_colours(lippstadt):
    for variable in ("index", "gerechtigkeitsempfinden", "unemployment_pct"):
        layer = lippstadt.layer(variable)
        cls = layer.classification
        fig = plot_layer(lippstadt, variable)
        no_data = (cls.class_index < 0) | layer.suppressed
        expected = [to_rgba(cls.colours[i]) for i in cls.class_index[~no_data]]
        np.testing.assert_allclose(_collection(fig, "classes").get_facecolors(), expected)
        grey = _collection(fig, "no_data")
        assert len(grey.get_paths()) == no_data.sum()
        if no_data.any():
            np.testing.assert_allclose(grey.get_facecolors(), [to_rgba(NO_DATA_COLOUR)] * int(no_data.sum()))
            assert grey.get_hatch() == "///"
        legend = next(lg for lg in fig.legends if lg.get_gid() == "legend")
        handles = [to_rgba(h.get_facecolor()) for h in legend.legend_handles]
        labels = [t.get_text() for t in legend.get_texts()]
        want = [to_rgba(c) for c in cls.colours] + ([to_rgba(NO_DATA_COLOUR)] if no_data.any() else [])
        np.testing.assert_allclose(handles, want)
        assert labels[: len(cls.labels)] == list(cls.labels)


def test_suppressed_and_missing_districts_are_grey(lippstadt):
    layer = lippstadt.layer("index")
    assert layer.suppressed[list(SUPPRESSED_DISTRICTS)].all()
    fig = plot_layer(lippstadt, "index")
    assert len(_collection(fig, "no_data").get_paths()) == len(SUPPRESSED_DISTRICTS) + 1
    legend = next(lg for lg in fig.legends if lg.get_gid() == "legend")
    assert legend.get_texts()[-1].get_text() == "keine Daten / zu wenige Befragte (n < 30)"


def test_no_grey_legend_entry_without_missing_values(lippstadt):
    fig = plot_layer(lippstadt, "unemployment_pct")
    legend = next(lg for lg in fig.legends if lg.get_gid() == "legend")
    assert all("keine Daten" not in t.get_text() for t in legend.get_texts())
    assert legend.get_title().get_text() == "Arbeitslosenquote (%)"


def test_layer_figure_has_title_notes_and_map_furniture(lippstadt):
    fig = plot_layer(lippstadt, "index")
    texts = {t.get_gid(): t.get_text() for t in fig.texts}
    assert texts["title"] == "Lippstadt: Gesamtindex Zusammenhalt"
    assert all(note in texts["footer"] for note in NOTES)
    [ax] = fig.axes
    assert not ax.get_xticks().size and not ax.get_yticks().size
    assert any(p.get_gid() == "north_arrow" for p in ax.patches)
    bar = [p for p in ax.patches if p.get_gid() == "scale_bar"]
    length = sum(p.get_width() for p in bar)
    assert length in {1000, 2000, 5000, 10000}
    minx, _, maxx, _ = lippstadt.boundaries.total_bounds
    assert (maxx - minx) / 7 <= length <= (maxx - minx) / 3
    assert any(t.get_text() == f"{length / 1000:.0f} km" for t in ax.texts)


def test_nice_scale_length():
    assert nice_scale_length(23_000) == 5000
    assert nice_scale_length(9_000) == 2000
    assert nice_scale_length(4_500) == 1000
    assert nice_scale_length(60_000) == 10000
    assert nice_scale_length(2_000) == 500


def test_plot_into_given_axes_keeps_notes(lippstadt):
    fig = Figure(figsize=(8, 6))
    ax = fig.add_axes((0.05, 0.1, 0.6, 0.8))
    assert plot_layer(lippstadt, "index", ax=ax) is fig
    footer = [t.get_text() for t in fig.texts if t.get_gid() == "footer"]
    assert len(footer) == 1 and all(note in footer[0] for note in NOTES)


def test_small_multiples_has_nine_panels(lippstadt):
    fig = plot_small_multiples(lippstadt)
    dims = [d.slug for d in load_radar().dimensions]
    assert len(fig.axes) == 9
    assert [ax.get_title(loc="left") for ax in fig.axes] == [lippstadt.layer(d).label for d in dims]
    assert tuple(fig.get_size_inches()) == pytest.approx(figures.A4_INCHES)
    texts = {t.get_gid(): t.get_text() for t in fig.texts}
    assert texts["title"] == "Lippstadt: Dimensionen des Zusammenhalts"
    assert all(note in texts["footer"] for note in NOTES)
    for ax, dim in zip(fig.axes, dims):  # each panel in its own classification colours
        cls = lippstadt.layer(dim).classification
        classes = [c for c in ax.collections if c.get_gid() == "classes"][0]
        valid = (cls.class_index >= 0) & ~lippstadt.layer(dim).suppressed
        np.testing.assert_allclose(classes.get_facecolors(), [to_rgba(cls.colours[i]) for i in cls.class_index[valid]])
    assert len([lg for lg in fig.legends if lg.get_gid().startswith("legend_")]) == 9


def test_save_failure_leaves_no_partial_file_and_keeps_old_files(lippstadt, tmp_path, monkeypatch):
    fig = plot_layer(lippstadt, "index")
    good = save_figure(fig, tmp_path / "karte", ("png", "pdf", "svg"), dpi=50)
    before = {p: p.read_bytes() for p in good}

    original = Figure.savefig

    def failing_savefig(self, fname, *args, **kwargs):
        if kwargs.get("format") == "svg":
            Path(fname).write_bytes(b"<svg half-written")
            raise OSError("disk full")
        return original(self, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", failing_savefig)
    with pytest.raises(OSError, match="disk full"):
        save_figure(plot_layer(lippstadt, "soziale_netze"), tmp_path / "karte", ("png", "pdf", "svg"), dpi=50)
    assert sorted(tmp_path.iterdir()) == sorted(good)  # no temp files, nothing new
    assert {p: p.read_bytes() for p in good} == before  # PNG and PDF were not replaced either


def test_save_into_unwritable_location_fails_cleanly(lippstadt, tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    with pytest.raises(OSError):
        save_figure(plot_layer(lippstadt, "index"), blocker / "karte", formats=("png",), dpi=50)
    assert blocker.read_text() == "x"
    assert sorted(tmp_path.iterdir()) == [blocker]


def test_unknown_format_is_rejected(lippstadt, tmp_path):
    with pytest.raises(ValueError, match="tiff"):
        save_figure(plot_layer(lippstadt, "index"), tmp_path / "karte", formats=("png", "tiff"))
    assert not list(tmp_path.iterdir())


def test_write_city_figures_names_and_no_warnings(lippstadt, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths = write_city_figures(lippstadt, tmp_path, ["index", "unemployment_pct"], formats=("png", "svg"), dpi=40)
    assert sorted(p.name for p in paths) == sorted(
        f"lippstadt_{stem}.{ext}" for stem in ("index", "unemployment_pct", "dimensionen") for ext in ("png", "svg"))
    assert sorted(tmp_path.iterdir()) == sorted(paths)
    for svg in (p for p in paths if p.suffix == ".svg"):  # the notes are on every figure
        text = svg.read_text(encoding="utf-8")
        assert all(note in text for note in NOTES)


def test_write_city_figures_defaults_to_all_layers(lippstadt, tmp_path, monkeypatch):
    saved = []
    def fake_save(fig, stem, formats, dpi, close):
        saved.append(Path(stem).name)
        return []

    monkeypatch.setattr(figures, "save_figure", fake_save)
    write_city_figures(lippstadt, tmp_path)
    assert saved == [f"lippstadt_{layer.variable}" for layer in lippstadt.layers] + ["lippstadt_dimensionen"]
    assert len(lippstadt.layers) == 14


def test_unknown_variable_fails_before_writing(lippstadt, tmp_path):
    with pytest.raises(KeyError):
        write_city_figures(lippstadt, tmp_path / "out", ["index", "gibt_es_nicht"])
    assert not (tmp_path / "out").exists()


def test_global_matplotlib_state_unchanged(lippstadt, tmp_path):
    import matplotlib

    before = dict(matplotlib.rcParams)
    save_figure(plot_layer(lippstadt, "index"), tmp_path / "karte", formats=("svg",))
    after = dict(matplotlib.rcParams)
    assert {k: v for k, v in after.items() if before.get(k) != v} == {}


def test_association_scatter_labels_every_shown_district(tmp_path):
    """plot_association: one labelled point per non-suppressed district, CI bars, r in the title."""
    import pandas as pd

    from geo_cohesion.demo.shapes import build_schematic_boundaries, load_cities
    from geo_cohesion.maps.figures import plot_association
    from geo_cohesion.maps.layers import build_city_map

    city = next(c for c in load_cities() if c["slug"] == "dortmund")
    b = build_schematic_boundaries(city)
    rng = np.random.default_rng(5)
    est = pd.DataFrame({"district_id": b["district_id"], "variable": "index", "estimate": rng.uniform(55, 70, len(b)),
                        "ci_low": 50.0, "ci_high": 75.0, "n": 60, "suppressed": False})
    est.loc[0, "suppressed"] = True
    structural = pd.DataFrame({"district_id": b["district_id"], "sgb2_share_pct": rng.uniform(5, 30, len(b))})
    cm = build_city_map("Dortmund", b, est, structural, notes=["synthetische Demodaten"])
    row = {"r": -0.5, "r_ci_low": -0.8, "r_ci_high": 0.1, "intercept": 68.0, "slope": -0.3, "n_districts": 11,
           "note": "nur 11 Bezirke: das Intervall ist breit, der Zusammenhang unsicher"}
    fig = plot_association(cm, "index", "sgb2_share_pct", row)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.texts]
    assert sorted(labels) == sorted(b["district_name"].iloc[1:])     # suppressed district left out
    texts = " ".join(t.get_text() for t in fig.texts)
    assert "r = -0,50" in texts and "nur 11 Bezirke" in texts and "synthetische Demodaten" in texts
    paths = save_figure(fig, tmp_path / "scatter", ("svg",), close=True)
    assert paths[0].exists()


def test_user_text_with_dollar_signs_is_printed_literally(tmp_path):
    """'$...$' in names, notes or titles is shown as typed; mathtext would crash or reformat it."""
    city = next(c for c in load_cities() if c["name"] == "Lippstadt")
    boundaries = build_schematic_boundaries(city)
    boundaries["district_name"] = [f"$\\frac{{{i}}}{{$ Bezirk ^_" for i in range(len(boundaries))]
    estimates = pd.DataFrame({"district_id": boundaries["district_id"], "variable": "index",
                              "estimate": np.linspace(50, 70, len(boundaries)), "n": 40, "suppressed": False})
    city_map = build_city_map("$Stadt$", boundaries, estimates, notes=["Preis: $5 und $6"],
                              title="$\\nosuchcommand{x}$", source="$x^2$")
    fig = plot_layer(city_map, "index")
    written = save_figure(fig, tmp_path / "dollar", formats=("svg", "png"), close=True)
    svg = written[0].read_text(encoding="utf-8")
    assert "$\\nosuchcommand{x}$" in svg and "Preis: $5 und $6" in svg


@pytest.mark.parametrize("level, label", [(0.9, "90-%-KI"), (0.95, "95-%-KI"), (0.995, "99,5-%-KI")])
def test_association_scatter_states_the_confidence_level(level, label):
    """The interval of r is printed with the project's confidence level, not always 95 %."""
    import geopandas as gpd
    from shapely.geometry import box

    from geo_cohesion.maps.figures import plot_association

    boxes = [box(i * 1000, 0, (i + 1) * 1000, 1000) for i in range(4)]
    b = gpd.GeoDataFrame({"district_id": list("abcd"), "district_name": list("ABCD")}, geometry=boxes,
                         crs="EPSG:25832")
    est = pd.DataFrame({"district_id": list("abcd"), "variable": "index", "estimate": [60.0, 62, 58, 65],
                        "ci_low": 55.0, "ci_high": 70.0, "n": 60, "suppressed": False})
    structural = pd.DataFrame({"district_id": list("abcd"), "sgb2_share_pct": [10.0, 8, 15, 5]})
    cm = build_city_map("X", b, est, structural, level=level)
    row = {"r": -0.9, "r_ci_low": -0.99, "r_ci_high": -0.2, "intercept": 68.0, "slope": -0.5, "n_districts": 4,
           "note": ""}
    fig = plot_association(cm, "index", "sgb2_share_pct", row)
    texts = " ".join(t.get_text() for t in fig.texts)
    assert f"({label} " in texts and (level == 0.95 or "95-%" not in texts)


def test_user_column_names_are_labelled_and_safe_file_names(lippstadt, tmp_path):
    """A structural column such as "Anteil SGB II/XII %" is labelled from its declaration in the
    figures and becomes a slug in the file name, never a path."""
    from geo_cohesion.maps.figures import file_part, plot_association
    from geo_cohesion.radar.indicators import indicator_registry

    assert file_part("sgb2_share_pct") == "sgb2_share_pct" and file_part("index__deviation") == "index__deviation"
    assert file_part("Anteil SGB II/XII %") == "anteil-sgb-ii-xii" and file_part("../../etc") == "etc"
    b = lippstadt.boundaries
    structural = pd.DataFrame({"district_id": b["district_id"],
                               "Anteil SGB II/XII %": np.linspace(1, 12, len(b))})
    registry = indicator_registry(structural, {"Anteil SGB II/XII %": {"label": "Transferbezug", "unit": "%"}},
                                  exclude=["district_id"])
    est = pd.DataFrame({"district_id": b["district_id"], "variable": "index", "estimate": np.linspace(70, 55, len(b)),
                        "n": 50, "suppressed": False})
    city_map = build_city_map("Lippstadt", b, est, structural, indicators=registry, notes=NOTES)
    paths = write_city_figures(city_map, tmp_path, ["Anteil SGB II/XII %"], formats=("svg",), dpi=30)
    assert [p.name for p in paths] == ["lippstadt_anteil-sgb-ii-xii.svg"]
    assert "Lippstadt: Transferbezug" in paths[0].read_text(encoding="utf-8")
    fig = plot_association(city_map, "index", "Anteil SGB II/XII %")
    assert fig.axes[0].get_xlabel() == "Transferbezug (%)"
    assert "Lippstadt: Gesamtindex Zusammenhalt und Transferbezug" in [t.get_text() for t in fig.texts]


def test_figures_name_the_estimator_and_the_suppression_rule():
    city = next(c for c in load_cities() if c["name"] == "Lippstadt")
    boundaries = build_schematic_boundaries(city)
    ids = boundaries["district_id"].tolist()
    rows = [{"district_id": d, "variable": v, "estimate": 60.0 + i % 5, "n": 10, "suppressed": i == 0,
             "estimator": "direct" if i == 1 else ("synthetic" if i == 2 else "fay_herriot")}
            for v in load_radar().variables for i, d in enumerate(ids)]
    city_map = build_city_map("Lippstadt", boundaries, pd.DataFrame(rows), notes=NOTES,
                              estimator_note="Schätzer: Fay-Herriot-Modell je Gebiet",
                              suppressed_label="nicht veröffentlicht (zu unsicher)")
    fig = plot_layer(city_map, "index")
    footer = next(t.get_text() for t in fig.texts if t.get_gid() == "footer").replace("\n", " ")
    assert "Schätzer: Fay-Herriot-Modell je Gebiet" in footer
    assert f"Schätzer: Fay-Herriot ({len(ids) - 3} Gebiete), direkt (1 Gebiet), synthetisch (1 Gebiet)" in footer
    legend = next(lg for lg in fig.legends if lg.get_gid() == "legend")
    texts = [t.get_text() for t in legend.get_texts()]
    assert "keine Daten / nicht veröffentlicht (zu unsicher)" in texts
    # 5 values 60..64 with one suppressed leave 4 distinct values: the legend says so, under the classes
    assert texts[-1].replace("\n", " ") == "nur 4 statt 5 Klassen: zu wenige verschiedene Werte"
    multiples = plot_small_multiples(city_map)
    footer = next(t.get_text() for t in multiples.texts if t.get_gid() == "footer").replace("\n", " ")
    assert "Schätzer in den Karten: Fay-Herriot, direkt, synthetisch (je Gebiet" in footer


def test_default_formats_are_png_and_pdf(lippstadt, tmp_path):
    paths = save_figure(plot_layer(lippstadt, "index"), tmp_path / "karte", dpi=30, close=True)
    assert [p.suffix for p in paths] == [".png", ".pdf"]
