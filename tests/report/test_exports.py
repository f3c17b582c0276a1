"""Exports of the demo run: German Excel CSVs and the workbook round-trip with the right numbers; the
GeoPackage holds every estimate and opens styled in QGIS (layer_styles with the HTML map's classes)."""
from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pyogrio
import pytest

from geo_cohesion.report.exports import read_output_table
from geo_cohesion.report.headers import COLUMNS, TABLES, TEXT_COLUMNS, header, table_title, variable_labels

CITIES = {"dortmund": "Dortmund", "lippstadt": "Lippstadt", "rostock": "Rostock", "dessau-rosslau": "Dessau-Roßlau"}


def machine_tables(demo_out) -> list:
    return sorted((demo_out / "tables").glob("*.csv"))


def test_every_table_has_a_german_excel_twin_with_the_same_numbers(demo_out):
    tables = machine_tables(demo_out)
    assert len(tables) >= 29 and any(p.name == "need_dortmund.csv" for p in tables)
    labels = variable_labels()
    for path in tables:
        twin = demo_out / "tables" / "excel_de" / path.name
        raw = twin.read_bytes()
        assert raw.startswith("\ufeff".encode()), twin
        machine = read_output_table(path)
        text_columns = {header(c): str for c in machine.columns if c in TEXT_COLUMNS}
        german = pd.read_csv(twin, sep=";", decimal=",", encoding="utf-8-sig", dtype=text_columns)
        assert list(german.columns) == [header(c) for c in machine.columns], path.name
        for column in machine.columns:
            mine, theirs = machine[column], german[header(column)]
            if pd.api.types.is_bool_dtype(mine):
                expected = mine.map(lambda v: "ja" if v else "nein", na_action="ignore")
                assert theirs.fillna("").tolist() == expected.fillna("").tolist(), (path.name, column)
            elif pd.api.types.is_numeric_dtype(mine):
                assert np.allclose(theirs.to_numpy(float), mine.to_numpy(float), equal_nan=True, rtol=0, atol=1e-12), \
                    (path.name, column)
            elif column in ("variable", "indicator"):
                assert theirs.tolist() == mine.map(lambda v: labels.get(v, v)).tolist()
            else:
                expected = mine.fillna("").astype(str).tolist()
                assert theirs.fillna("").astype(str).tolist() == expected, (path.name, column)
    head = (demo_out / "tables" / "excel_de" / "district_estimates.csv").read_text(encoding="utf-8-sig").splitlines()
    assert head[0].startswith("Stadt;Gebiets-ID;Gebiet;Merkmal;Schätzwert;Standardfehler;KI untere Grenze")
    assert ";nein;" in head[1] and "True" not in head[1] and re.search(r";\d+,\d+;", head[1])


def test_workbook_has_one_sheet_per_table_and_numbers_as_numbers(demo_out):
    workbook = pd.ExcelFile(demo_out / "tables" / "geo_cohesion.xlsx")
    tables = machine_tables(demo_out)
    assert workbook.sheet_names[0] == "Hinweise"
    assert len(workbook.sheet_names) == len(tables) + 1
    expected = {table_title(p.stem, CITIES) for p in tables}
    assert set(workbook.sheet_names[1:]) == expected
    sheet = pd.read_excel(workbook, "Vergleich Dortmund", dtype={"Gebiets-ID": str})
    machine = read_output_table(demo_out / "tables" / "comparison_dortmund.csv")
    assert sheet["Gebiets-ID"].tolist() == machine["district_id"].tolist()
    for column in ("estimate", "deviation", "p_adjusted", "rank_low"):
        assert sheet[header(column)].dtype.kind in "fi"
        assert np.allclose(sheet[header(column)].to_numpy(float), machine[column].to_numpy(float), equal_nan=True)
    assert set(sheet["signifikant"].dropna()) <= {"ja", "nein"}
    notes = pd.read_excel(workbook, "Hinweise")
    assert list(notes.columns) == ["Tabellenblatt", "Spalte", "Einheit", "Erläuterung"]
    assert "synthetische Demodaten" in notes["Erläuterung"].tolist()
    assert ((notes["Spalte"] == COLUMNS["estimate"].header) & (notes["Einheit"] == "Punkte (0–100)")).any()
    assert (notes["Erläuterung"] == TABLES["district_estimates"][1]).any()


def test_workbook_and_gpkg_are_reproducible(demo_out, tmp_path):
    """The demo test compares CSV/HTML/GPKG of two runs; here: the workbook carries fixed dates."""
    import zipfile

    with zipfile.ZipFile(demo_out / "tables" / "geo_cohesion.xlsx") as archive:
        assert {i.date_time for i in archive.infolist()} == {(2017, 5, 23, 0, 0, 0)}
    con = sqlite3.connect(demo_out / "gis" / "dortmund.gpkg")
    try:
        assert {r[0] for r in con.execute("select last_change from gpkg_contents")} == {"2017-05-23T00:00:00Z"}
    finally:
        con.close()


def _map_payload(demo_out, slug: str) -> dict:
    html = (demo_out / f"{slug}.html").read_text(encoding="utf-8")
    return json.loads(re.search(r"var DATA = (\{.*?\});\n", html).group(1))


@pytest.mark.parametrize("slug", list(CITIES))
def test_geopackage_holds_every_estimate_in_wide_form(demo_out, slug):
    path = demo_out / "gis" / f"{slug}.gpkg"
    layers = dict(pyogrio.list_layers(path).tolist())
    assert set(layers) == {slug, "layer_styles"} and layers["layer_styles"] is None
    info = pyogrio.read_info(path, layer=slug)
    assert info["crs"] in ("EPSG:25832", "EPSG:25833")
    layer = pyogrio.read_dataframe(path, layer=slug)
    estimates = read_output_table(demo_out / "tables" / "district_estimates.csv")
    estimates = estimates[estimates["city"] == CITIES[slug]]
    assert sorted(layer["district_id"]) == sorted(estimates["district_id"].unique())
    for variable, rows in estimates.groupby("variable"):
        rows = rows.set_index("district_id").reindex(layer["district_id"])
        for stat in ("estimate", "ci_low", "ci_high", "n"):
            assert np.allclose(layer[f"{variable}_{stat}"].to_numpy(float), rows[stat].to_numpy(float),
                               equal_nan=True), (variable, stat)
        assert layer[f"{variable}_suppressed"].tolist() == rows["suppressed"].tolist()
    comparison = read_output_table(demo_out / "tables" / f"comparison_{slug}.csv")
    index = comparison[comparison["variable"] == "index"].set_index("district_id").reindex(layer["district_id"])
    assert np.allclose(layer["index_deviation"], index["deviation"], equal_nan=True)
    # the ranks of the published index, as on the map (district_estimates.csv), not the comparison's
    published = estimates[estimates["variable"] == "index"].set_index("district_id").reindex(layer["district_id"])
    for stat in ("rank", "rank_low", "rank_high"):
        assert np.array_equal(layer[f"index_{stat}"].to_numpy(float), published[stat].to_numpy(float),
                              equal_nan=True), stat
    assert layer["index_rank"].notna().sum() == (~published["suppressed"].astype(bool)).sum()
    assert "sgb2_share_pct" in layer.columns and (layer["note"] == "synthetische Demodaten").all()
    if (demo_out / "tables" / f"need_{slug}.csv").exists():
        need = read_output_table(demo_out / "tables" / f"need_{slug}.csv").set_index("district_id")
        assert np.allclose(layer["need_score"], need["need_score"].reindex(layer["district_id"]), equal_nan=True)
        assert "class_stability" in layer.columns and "contribution_sgb2_share_pct" in layer.columns
    geojson = json.loads((demo_out / "gis" / f"{slug}.geojson").read_text(encoding="utf-8"))
    assert len(geojson["features"]) == len(layer)
    lon, lat = np.asarray(geojson["features"][0]["geometry"]["coordinates"][0]).T[:2]
    assert ((lon > 5) & (lon < 15) & (lat > 50) & (lat < 55)).all()  # WGS 84, Germany


@pytest.mark.parametrize("slug", list(CITIES))
def test_layer_styles_hold_the_html_maps_classes_and_colours(demo_out, slug):
    path = demo_out / "gis" / f"{slug}.gpkg"
    con = sqlite3.connect(path)
    try:
        columns = [r[1] for r in con.execute("pragma table_info(layer_styles)")]
        rows = con.execute("select f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName, "
                           "styleQML, styleSLD, useAsDefault, update_time from layer_styles").fetchall()
    finally:
        con.close()
    for needed in ("f_table_catalog", "f_table_schema", "f_table_name", "f_geometry_column", "styleName", "styleQML",
                   "styleSLD", "useAsDefault", "description", "owner", "ui", "update_time"):
        assert needed in columns
    assert len(rows) == 1
    catalog, schema, table, geometry, name, qml, sld, default, updated = rows[0]
    assert (table, geometry, name, default) == (slug, "geom", slug, 1)
    assert updated.startswith("2017-05-23")
    root = ET.fromstring(qml.split("\n", 1)[1])
    renderer = root.find("renderer-v2")
    assert renderer.get("type") == "graduatedSymbol" and renderer.get("attr") == "index_estimate"
    ranges = renderer.findall("ranges/range")
    symbols = {s.get("name"): s for s in renderer.findall("symbols/symbol")}
    colours = []
    for r in ranges:
        option = symbols[r.get("symbol")].find("layer/Option/Option[@name='color']")
        colours.append("#" + "".join(f"{int(c):02x}" for c in option.get("value").split(",")[:3]))
    payload = _map_payload(demo_out, slug)
    index = next(layer for layer in payload["layers"] if layer["key"] == "index")
    assert len(ranges) == len(index["legend"]) and colours == [e["colour"] for e in index["legend"]]
    assert [r.get("label") for r in ranges] == [e["label"] for e in index["legend"]]
    # every district gets the colour of the HTML map under QGIS's rule (first range with lower <= v <= upper)
    layer = pyogrio.read_dataframe(path, layer=slug).set_index("district_name")
    for name, colour in zip(payload["names"], index["colours"]):
        value = layer.loc[name, "index_estimate"]
        if pd.isna(value):
            continue
        hit = next(c for r, c in zip(ranges, colours) if float(r.get("lower")) <= value <= float(r.get("upper")))
        assert hit == colour, name
    assert root.find("aliases/alias[@field='index_estimate']").get("name") == "Gesamtindex Zusammenhalt: Schätzwert"
    assert ET.fromstring(sld).tag.endswith("StyledLayerDescriptor")


QGIS_PYTHON = shutil.which("python3", path="/usr/bin")


def _has_qgis() -> bool:
    if QGIS_PYTHON is None:
        return False
    return subprocess.run([QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _has_qgis(), reason="QGIS Python bindings not installed (apt-get install python3-qgis)")
def test_qgis_opens_the_geopackage_styled(demo_out):
    script = (
        "import os, sys\nos.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "from qgis.core import QgsApplication, QgsVectorLayer\n"
        "app = QgsApplication([], False); app.initQgis()\n"
        "vl = QgsVectorLayer(sys.argv[1] + '|layername=dortmund', 'dortmund', 'ogr')\n"
        "r = vl.renderer()\n"
        "print(vl.isValid(), r.type(), r.classAttribute(), len(r.ranges()), "
        "vl.attributeAlias(vl.fields().indexOf('index_estimate')), flush=True)\n"
        "os._exit(0)\n")  # QGIS may crash while shutting down; the answer is printed before
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | {"QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([QGIS_PYTHON, "-c", script, str(demo_out / "gis" / "dortmund.gpkg")], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.stdout.strip().splitlines()[-1] == \
        "True graduatedSymbol index_estimate 5 Gesamtindex Zusammenhalt: Schätzwert", result.stderr
