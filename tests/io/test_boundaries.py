"""Tests for geo_cohesion.io.boundaries: read & validate boundaries, dissolve them into areas.

All test files are built in code from shapely boxes; the real Berlin and Rostock boundaries are
read from ``../shared/data`` or ``GEO_COHESION_SHARED_DATA`` (never copied into the repository),
marked ``real_data`` and skipped when absent.
"""
from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
import yaml
from conftest import SHARED_DATA

from geo_cohesion.demo.shapes import ASSUMPTIONS_PATH
from geo_cohesion.errors import InputError
from geo_cohesion.io.boundaries import metric_crs, read_boundaries
from geo_cohesion.io.tables import read_table
from geo_cohesion.io.write import write_gpkg
from geo_cohesion.keys import match_keys, normalise_key
from geo_cohesion.spatial.regions import aggregate_boundaries

BERLIN = SHARED_DATA / "berlin"
ROSTOCK = SHARED_DATA / "rostock"

#: Lower-left corners (metres) of test grids: Dortmund (UTM 32N) and Berlin (UTM 33N).
DORTMUND_XY = (395_000.0, 5_705_000.0)
BERLIN_XY = (390_000.0, 5_820_000.0)

IDS = ["01", "02", "03", "10"]
NAMES = ["Hörde", "Süd", "Groß-Straße", "Mengede"]


def _grid(ids: list[str] = IDS, names: list[str] = NAMES, crs: str = "EPSG:25832",
          origin: tuple[float, float] = DORTMUND_XY, size: float = 1000.0) -> gpd.GeoDataFrame:
    """A row of square districts with columns ID, NAME (shapefile-safe names)."""
    x0, y0 = origin
    boxes = [shapely.box(x0 + i * size, y0, x0 + (i + 1) * size, y0 + size) for i in range(len(ids))]
    return gpd.GeoDataFrame({"ID": ids, "NAME": names}, geometry=boxes, crs=crs)


def _write_shp(gdf: gpd.GeoDataFrame, path: Path, **kwargs) -> Path:
    """Write a shapefile without the noise of pyogrio's warnings."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pyogrio.write_dataframe(gdf, path, **kwargs)
    return path


def _sidecar(path: Path, ext: str) -> Path:
    return path.with_suffix(ext)


@pytest.fixture
def shp(tmp_path: Path) -> Path:
    """A UTF-8 shapefile (with .cpg) of four districts in EPSG:25832."""
    return _write_shp(_grid(), tmp_path / "bezirke.shp")


def _raises(match: str, *args, **kwargs) -> InputError:
    """Call read_boundaries, assert it raises InputError whose text contains ``match``."""
    with pytest.raises(InputError) as info:
        read_boundaries(*args, **kwargs)
    assert match in str(info.value), str(info.value)
    return info.value


# ---------------------------------------------------------------------------------------------
# The good path


def test_read_shapefile(shp: Path) -> None:
    gdf = read_boundaries(shp, id_column="ID", name_column="NAME")
    assert list(gdf.columns) == ["district_id", "district_name", "geometry"]
    assert gdf["district_id"].tolist() == IDS  # sorted, leading zeros kept
    assert gdf["district_name"].tolist() == NAMES
    assert all(isinstance(v, str) for v in gdf["district_id"])
    assert gdf.crs.to_epsg() == 25832
    assert gdf.attrs == {"source": str(shp), "repairs": []}
    assert gdf.geometry.is_valid.all()


def test_sorted_by_id(tmp_path: Path) -> None:
    path = _write_shp(_grid(ids=["10", "02", "01", "03"]), tmp_path / "x.shp")
    gdf = read_boundaries(path, id_column="ID", name_column="NAME")
    assert gdf["district_id"].tolist() == ["01", "02", "03", "10"]
    assert gdf.set_index("district_id").loc["10", "district_name"] == "Hörde"


def test_default_columns_and_name_fallback(tmp_path: Path) -> None:
    gdf = _grid().rename(columns={"ID": "district_id", "NAME": "name"})
    gdf.to_file(tmp_path / "a.gpkg", engine="pyogrio")
    assert read_boundaries(tmp_path / "a.gpkg")["district_name"].tolist() == NAMES
    gdf.drop(columns="name").to_file(tmp_path / "b.gpkg", engine="pyogrio")
    assert read_boundaries(tmp_path / "b.gpkg")["district_name"].tolist() == IDS


def test_column_names_ignore_case(shp: Path) -> None:
    gdf = read_boundaries(shp, id_column="id", name_column="name")
    assert gdf["district_id"].tolist() == IDS


def test_blank_names_fall_back_to_id(tmp_path: Path) -> None:
    path = _write_shp(_grid(names=["Hörde", "", "Groß-Straße", "Mengede"]), tmp_path / "x.shp")
    assert read_boundaries(path, id_column="ID", name_column="NAME")["district_name"].tolist()[1] == "02"


def test_text_ids_keep_leading_zeros_numeric_ids_lose_dot_zero(tmp_path: Path) -> None:
    text = _grid(ids=["007", "010", "100", "001"])
    _write_shp(text, tmp_path / "text.shp")
    ids = read_boundaries(tmp_path / "text.shp", id_column="ID")["district_id"].tolist()
    assert ids == ["001", "007", "010", "100"]
    numeric = _grid().assign(ID=[7, 10, 100, 1])
    _write_shp(numeric, tmp_path / "int.shp")
    gdf = read_boundaries(tmp_path / "int.shp", id_column="ID")
    assert gdf["district_id"].tolist() == ["1", "10", "100", "7"]  # text, sorted as text
    assert any("stored as numbers" in n for n in gdf.attrs["repairs"])
    floats = _grid().assign(ID=[7.0, 10.0, 100.0, 1.0])
    floats.to_file(tmp_path / "float.gpkg", engine="pyogrio")
    ids = read_boundaries(tmp_path / "float.gpkg", id_column="ID")["district_id"].tolist()
    assert ids == ["1", "10", "100", "7"]


def test_huge_attribute_field(tmp_path: Path) -> None:
    gdf = _grid().assign(BESCHREIBUNG=["ä" * 5_000_000, "x", "", "y" * 100_000])
    gdf.to_file(tmp_path / "big.gpkg", engine="pyogrio")
    gdf.to_file(tmp_path / "big.geojson", engine="pyogrio")
    _write_shp(gdf.assign(BESCHREIBUNG=["ä" * 254, "x", "", "y" * 254]), tmp_path / "big.shp")
    for name in ("big.gpkg", "big.geojson", "big.shp"):
        out = read_boundaries(tmp_path / name, id_column="ID", name_column="NAME")
        assert out["district_name"].tolist() == NAMES, name


def test_crs_override_is_noted(shp: Path) -> None:
    gdf = read_boundaries(shp, id_column="ID", crs="EPSG:25833")
    assert gdf.crs.to_epsg() == 25833
    assert any("replaced by crs=EPSG:25833" in n for n in gdf.attrs["repairs"])


# ---------------------------------------------------------------------------------------------
# Formats: folder, zip, GeoPackage, GeoJSON


def test_folder_with_one_shapefile(shp: Path) -> None:
    (shp.parent / "readme.txt").write_text("Bezirke", encoding="utf-8")
    gdf = read_boundaries(shp.parent, id_column="ID")
    assert gdf["district_id"].tolist() == IDS


def test_folder_with_two_shapefiles(shp: Path) -> None:
    _write_shp(_grid(), shp.parent / "ortsteile.shp")
    _raises("contains more than one shapefile (.shp): bezirke.shp, ortsteile.shp", shp.parent, id_column="ID")


def test_folder_without_shapefile(tmp_path: Path) -> None:
    (tmp_path / "leer").mkdir()
    _raises("contains no shapefile", tmp_path / "leer")


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_zip_with_shapefile(shp: Path, tmp_path: Path) -> None:
    files = {f"daten/{p.name}": p.read_bytes() for p in shp.parent.glob("bezirke.*")}
    archive = _zip(tmp_path / "grenzen.zip", files)
    for p in shp.parent.glob("bezirke.*"):
        p.unlink()
    gdf = read_boundaries(archive, id_column="ID", name_column="NAME")
    assert gdf["district_name"].tolist() == NAMES
    assert gdf.attrs["source"] == str(archive)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grenzen.zip"]  # read in place, nothing extracted


@pytest.mark.parametrize("bad_name", ["../../evil.shp", "/etc/evil.shp", "a/../../evil.txt", "C:/evil.shp"])
def test_zip_slip_rejected(shp: Path, tmp_path: Path, bad_name: str) -> None:
    files = {p.name: p.read_bytes() for p in shp.parent.glob("bezirke.*")}
    files[bad_name] = b"x"
    archive = _zip(tmp_path / "evil.zip", files)
    err = _raises("unsafe paths", archive, id_column="ID")
    assert bad_name in str(err) and err.source == str(archive)


def test_zip_incomplete_shapefile(shp: Path, tmp_path: Path) -> None:
    files = {p.name: p.read_bytes() for p in shp.parent.glob("bezirke.*") if p.suffix != ".dbf"}
    _raises("bezirke.dbf missing", _zip(tmp_path / "x.zip", files), id_column="ID")


def test_bad_zip(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"not a zip archive")
    _raises("not a readable zip archive", tmp_path / "x.zip")


def test_gpkg_with_two_layers(tmp_path: Path) -> None:
    path = tmp_path / "grenzen.gpkg"
    _grid().to_file(path, layer="bezirke", engine="pyogrio")
    _grid(ids=["A", "B"], names=["a", "b"]).to_file(path, layer="ortsteile", engine="pyogrio")
    err = _raises("has 2 layers: bezirke, ortsteile", path, id_column="ID")
    assert "layer=" in str(err)
    assert read_boundaries(path, id_column="ID", layer="ortsteile")["district_id"].tolist() == ["A", "B"]
    assert read_boundaries(path, id_column="ID", layer="bezirke")["district_id"].tolist() == IDS
    _raises("has no layer 'gemeinden'; layers: bezirke, ortsteile", path, id_column="ID", layer="gemeinden")


@pytest.mark.parametrize("suffix", [".geojson", ".json"])
def test_geojson_east_of_12_degrees_goes_to_utm33(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"berlin{suffix}"
    lonlat = _grid(crs="EPSG:25833", origin=BERLIN_XY).to_crs("EPSG:4326")
    lonlat.to_file(path, driver="GeoJSON", engine="pyogrio")
    gdf = read_boundaries(path, id_column="ID", name_column="NAME")
    assert gdf.crs.to_epsg() == 25833
    assert gdf["district_name"].tolist() == NAMES
    np.testing.assert_allclose(gdf.area, 1e6, rtol=1e-6)  # back on the 1 km squares


def test_geojson_west_of_12_degrees_goes_to_utm32(tmp_path: Path) -> None:
    path = tmp_path / "dortmund.geojson"
    _grid().to_crs("EPSG:4326").to_file(path, driver="GeoJSON", engine="pyogrio")
    assert read_boundaries(path, id_column="ID").crs.to_epsg() == 25832


def test_metric_crs() -> None:
    assert metric_crs(_grid(crs="EPSG:3035", origin=(4_100_000, 3_100_000))).to_epsg() == 3035  # kept
    assert metric_crs(_grid()).to_epsg() == 25832
    paris = gpd.GeoDataFrame(geometry=[shapely.box(2.3, 48.8, 2.4, 48.9)], crs="EPSG:4326")
    assert metric_crs(paris).to_epsg() == 32631  # outside Germany: estimated UTM zone
    dresden = gpd.GeoDataFrame(geometry=[shapely.box(13.7, 51.0, 13.8, 51.1)], crs="EPSG:4326")
    assert metric_crs(dresden).to_epsg() == 25833
    web = _grid().to_crs("EPSG:3857")
    assert metric_crs(web).to_epsg() == 25832  # Web Mercator "metres" distort areas


def test_web_mercator_is_reprojected(tmp_path: Path) -> None:
    _grid().to_crs("EPSG:3857").to_file(tmp_path / "web.gpkg", engine="pyogrio")
    gdf = read_boundaries(tmp_path / "web.gpkg", id_column="ID")
    assert gdf.crs.to_epsg() == 25832
    np.testing.assert_allclose(gdf.area, 1e6, rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# DBF encodings


def _cp1252_shapefile(tmp_path: Path, with_cpg: bool, names: list[str]) -> Path:
    path = _write_shp(_grid(names=names), tmp_path / "cp.shp", encoding="cp1252")
    cpg = _sidecar(path, ".cpg")
    if with_cpg:
        cpg.write_text("CP1252", encoding="ascii")
    else:
        cpg.unlink(missing_ok=True)
    return path


# "€" and "„" exist in cp1252 but not in latin1: they expose a wrong guess even when umlauts survive.
CP1252_NAMES = ["Hörde", "Süd „Mitte“", "Groß-Straße", "Mengede €"]


@pytest.mark.parametrize("with_cpg", [True, False])
def test_cp1252_dbf(tmp_path: Path, with_cpg: bool) -> None:
    path = _cp1252_shapefile(tmp_path, with_cpg, CP1252_NAMES)
    assert _sidecar(path, ".cpg").exists() == with_cpg
    gdf = read_boundaries(path, id_column="ID", name_column="NAME")
    assert gdf["district_name"].tolist() == CP1252_NAMES
    assert any("cp1252" in n for n in gdf.attrs["repairs"]) == (not with_cpg)


def test_cp1252_dbf_without_cpg_umlauts_only(tmp_path: Path) -> None:
    path = _cp1252_shapefile(tmp_path, False, NAMES)
    assert read_boundaries(path, id_column="ID", name_column="NAME")["district_name"].tolist() == NAMES


def test_utf8_dbf_without_cpg(tmp_path: Path) -> None:
    """GDAL reads a DBF without .cpg as ISO-8859-1: UTF-8 umlauts come out as 'Ã¶'."""
    path = _write_shp(_grid(), tmp_path / "u.shp", encoding="utf-8")
    _sidecar(path, ".cpg").unlink()
    assert "Ã¶" in pyogrio.read_dataframe(path)["NAME"].iloc[0]  # the problem being solved
    gdf = read_boundaries(path, id_column="ID", name_column="NAME")
    assert gdf["district_name"].tolist() == NAMES
    assert any("utf-8" in n for n in gdf.attrs["repairs"])


# ---------------------------------------------------------------------------------------------
# Every error, one clear message


def test_missing_file(tmp_path: Path) -> None:
    err = _raises("file not found", tmp_path / "nix.shp")
    assert err.source == str(tmp_path / "nix.shp")


def test_unknown_extension(tmp_path: Path) -> None:
    (tmp_path / "bezirke.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    err = _raises("unknown file type '.csv'", tmp_path / "bezirke.csv")
    assert "GeoPackage" in err.hint


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "x.gpkg").write_bytes(b"")
    _raises("the file is empty", tmp_path / "x.gpkg")


@pytest.mark.filterwarnings("ignore:GPKG")
def test_corrupt_file(tmp_path: Path) -> None:
    (tmp_path / "x.geojson").write_text("{ this is not json", encoding="utf-8")
    _raises("cannot be read as GeoJSON", tmp_path / "x.geojson")
    (tmp_path / "x.gpkg").write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    _raises("cannot be opened as boundary file", tmp_path / "x.gpkg")


@pytest.mark.parametrize("ext", [".shx", ".dbf"])
def test_shapefile_missing_sidecar(shp: Path, ext: str) -> None:
    _sidecar(shp, ext).unlink()
    err = _raises(f"bezirke{ext} missing", shp, id_column="ID")
    assert err.source == str(shp) and ".shx, .dbf" in err.hint


def test_sidecars_found_case_insensitively(shp: Path) -> None:
    for ext in (".shx", ".dbf", ".prj"):
        _sidecar(shp, ext).rename(_sidecar(shp, ext.upper()))
    assert read_boundaries(shp, id_column="ID")["district_id"].tolist() == IDS


def test_no_prj_without_crs(shp: Path) -> None:
    _sidecar(shp, ".prj").unlink()
    message = "no coordinate reference system (.prj missing) – pass crs='EPSG:25832' (--crs)"
    err = _raises(message, shp, id_column="ID")
    assert err.source == str(shp)
    gdf = read_boundaries(shp, id_column="ID", crs="EPSG:25832")
    assert gdf.crs.to_epsg() == 25832 and gdf.attrs["repairs"] == []


@pytest.mark.filterwarnings("ignore:.crs. was not provided")
def test_gpkg_without_crs(tmp_path: Path) -> None:
    _grid().set_crs(None, allow_override=True).to_file(tmp_path / "x.gpkg", engine="pyogrio")
    _raises("no coordinate reference system (the file declares none", tmp_path / "x.gpkg", id_column="ID")
    assert read_boundaries(tmp_path / "x.gpkg", id_column="ID", crs=25832).crs.to_epsg() == 25832


def test_geojson_too_big_for_gdal_with_legacy_crs(tmp_path: Path) -> None:
    """GDAL rejects GeoJSON strings over 10 MB; the file is then read without GDAL."""
    path = tmp_path / "gross.geojson"
    _grid().assign(TEXT="x" * 10_500_000).to_file(path, driver="GeoJSON", engine="pyogrio")
    with pytest.raises(Exception, match="Too many characters"):
        pyogrio.read_dataframe(path)
    text = path.read_text(encoding="utf-8")
    assert '"crs"' in text  # a legacy CRS member (EPSG:25832), which the fallback honours
    gdf = read_boundaries(path, id_column="ID", name_column="NAME")
    assert gdf["district_name"].tolist() == NAMES and gdf.crs.to_epsg() == 25832
    np.testing.assert_allclose(gdf.area, 1e6)


@pytest.mark.parametrize("crs", ["EPSG:99999", "kein CRS"])
def test_invalid_crs_string(shp: Path, crs: str) -> None:
    _raises(f"unknown coordinate reference system '{crs}'", shp, id_column="ID", crs=crs)


def test_geographic_crs_for_metric_coordinates(shp: Path) -> None:
    _sidecar(shp, ".prj").unlink()
    _raises("is geographic (degrees)", shp, id_column="ID", crs="EPSG:4326")


def test_empty_layer(tmp_path: Path) -> None:
    _grid().iloc[:0].to_file(tmp_path / "leer.gpkg", layer="bezirke", engine="pyogrio")
    _raises("layer 'bezirke' has no features", tmp_path / "leer.gpkg", id_column="ID")


def test_missing_id_column(shp: Path) -> None:
    err = _raises("no id column 'district_id'; available columns: ID, NAME", shp)
    assert "id_column= / --id-column" in str(err)
    err = _raises("no column 'BEZ_ID'; available columns: ID, NAME", shp, id_column="BEZ_ID")
    assert "--id-column" in err.hint
    _raises("no column 'BEZ_NAME'", shp, id_column="ID", name_column="BEZ_NAME")


@pytest.mark.parametrize("geom, kind", [
    (shapely.Point(395_500, 5_705_500), "Point"),
    (shapely.LineString([(395_000, 5_705_000), (396_000, 5_706_000)]), "LineString"),
])
def test_non_polygons(tmp_path: Path, geom: shapely.Geometry, kind: str) -> None:
    gdf = _grid()
    gdf.loc[2, "geometry"] = geom
    gdf.to_file(tmp_path / "x.gpkg", engine="pyogrio")
    _raises(f"must be polygons, but district '03' is a {kind}", tmp_path / "x.gpkg", id_column="ID")


def test_points_layer(tmp_path: Path) -> None:
    gdf = _grid().set_geometry(_grid().centroid)
    _write_shp(gdf, tmp_path / "punkte.shp")
    err = _raises("district '01' is a Point (4 non-polygon features in total)", tmp_path / "punkte.shp",
                  id_column="ID")
    assert "not points or lines" in err.hint


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson"])
def test_null_and_empty_geometries(tmp_path: Path, suffix: str) -> None:
    gdf = _grid()
    gdf.loc[1, "geometry"] = None
    gdf.loc[3, "geometry"] = shapely.Polygon()
    gdf.to_file(tmp_path / f"x{suffix}", engine="pyogrio")
    _raises("district(s) '02', '10' have no geometry", tmp_path / f"x{suffix}", id_column="ID")


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e300])
def test_invalid_coordinates_are_an_input_error(tmp_path: Path, bad: float) -> None:
    x0, y0 = DORTMUND_XY
    gdf = _grid()
    gdf.loc[2, "geometry"] = shapely.Polygon([(x0, y0), (bad, y0), (x0 + 500, y0 + 500), (x0, y0)])
    gdf.to_file(tmp_path / "x.gpkg", engine="pyogrio")
    err = _raises("district(s) '03' have invalid coordinates", tmp_path / "x.gpkg", id_column="ID")
    assert "repair" in err.hint


def test_duplicate_ids(tmp_path: Path) -> None:
    path = _write_shp(_grid(ids=["01", "02", "01", "02"]), tmp_path / "x.shp")
    err = _raises("duplicate ids in column 'ID': '01', '02'", path, id_column="ID")
    assert "Dissolve" in err.hint


def test_blank_ids(tmp_path: Path) -> None:
    path = _write_shp(_grid(ids=["01", "", "03", "  "]), tmp_path / "x.shp")
    _raises("empty id in column 'ID' in feature(s) 2, 4 (counting from 1)", path, id_column="ID")
    gdf = _grid()
    gdf["ID"] = [1.0, np.nan, 3.0, 4.0]
    gdf.to_file(tmp_path / "x.gpkg", engine="pyogrio")
    _raises("feature(s) 2 (counting from 1)", tmp_path / "x.gpkg", id_column="ID")


def test_geometry_collection_with_an_area_keeps_the_area(tmp_path: Path) -> None:
    """A district stored as polygon + line (a GeometryCollection) was refused as 'not a polygon'
    (robustness sweep 2); its area is kept and the repair noted, as make_valid's are."""
    gdf = _grid()
    area = gdf.geometry.iloc[2]
    gdf.loc[2, "geometry"] = shapely.GeometryCollection([area, shapely.LineString(area.exterior.coords[:2])])
    gdf.loc[3, "geometry"] = shapely.GeometryCollection([gdf.geometry.iloc[3], gdf.geometry.iloc[3].centroid])
    gdf.to_file(tmp_path / "x.gpkg", engine="pyogrio")
    out = read_boundaries(tmp_path / "x.gpkg", id_column="ID", name_column="NAME").set_index("district_id")
    assert out.geometry["03"].equals(area) and out.geometry["10"].geom_type == "Polygon"
    assert any(n.startswith("district 03 (Groß-Straße): geometry collection") for n in out.attrs["repairs"])
    only_lines = _grid()
    only_lines.loc[0, "geometry"] = shapely.GeometryCollection([shapely.LineString(area.exterior.coords[:2])])
    only_lines.to_file(tmp_path / "y.gpkg", engine="pyogrio")
    _raises("district boundaries must be polygons, but district '01' is a GeometryCollection", tmp_path / "y.gpkg",
            id_column="ID")


# ---------------------------------------------------------------------------------------------
# Overlaps


def test_overlapping_districts_are_an_error(tmp_path: Path) -> None:
    """A district buffered by 300 m (or two levels of districts in one layer) was read and became an
    island of the contiguity weights (robustness sweep 2)."""
    gdf = _grid()
    gdf.loc[1, "geometry"] = gdf.geometry.iloc[1].buffer(300, join_style="mitre")
    gdf.to_file(tmp_path / "x.gpkg", engine="pyogrio")
    with pytest.raises(InputError, match=r"districts '0\d' and '0\d' overlap \([\d,]+ m², 30% of the smaller one\)"):
        read_boundaries(tmp_path / "x.gpkg", id_column="ID")
    err = _raises("every place must belong to one district", tmp_path / "x.gpkg", id_column="ID")
    assert "'02'" in err.message and "one level of districts" in err.hint


def test_slight_overlaps_of_simplified_polygons_are_accepted(tmp_path: Path) -> None:
    gdf = _grid()
    gdf.loc[1, "geometry"] = gdf.geometry.iloc[1].buffer(2, join_style="mitre")  # 2 m over its neighbours' edges
    gdf.to_file(tmp_path / "x.gpkg", engine="pyogrio")
    assert len(read_boundaries(tmp_path / "x.gpkg", id_column="ID")) == len(gdf)


def test_a_district_in_the_hole_of_another_is_no_overlap(tmp_path: Path) -> None:
    gdf = _grid()
    outer = gdf.geometry.iloc[0]
    inner = shapely.box(*outer.buffer(-300).bounds)
    gdf.loc[0, "geometry"] = outer.difference(inner)
    gdf.loc[len(gdf)] = {**gdf.iloc[1].drop("geometry").to_dict(), "ID": "99", "geometry": inner}
    gdf.to_file(tmp_path / "x.gpkg", engine="pyogrio")
    assert "99" in set(read_boundaries(tmp_path / "x.gpkg", id_column="ID")["district_id"])


# ---------------------------------------------------------------------------------------------
# Repairs


def test_bow_tie_is_repaired(tmp_path: Path) -> None:
    gdf = _grid()
    x0, y0 = gdf.geometry.iloc[1].bounds[:2]  # drawn on district 02's own square (not over 01: an overlap)
    bow_tie = shapely.Polygon([(x0, y0), (x0 + 1000, y0 + 1000), (x0 + 1000, y0), (x0, y0 + 1000)])
    assert not bow_tie.is_valid
    gdf.loc[1, "geometry"] = bow_tie
    gdf.to_file(tmp_path / "x.gpkg", engine="pyogrio")
    out = read_boundaries(tmp_path / "x.gpkg", id_column="ID", name_column="NAME")
    assert out.geometry.is_valid.all()
    fixed = out.set_index("district_id").geometry["02"]
    assert fixed.geom_type == "MultiPolygon" and fixed.area == pytest.approx(500_000)
    assert len(out.attrs["repairs"]) == 1
    note = out.attrs["repairs"][0]
    assert note.startswith("district 02 (Süd): invalid geometry (Self-intersection") and "make_valid" in note


def test_collapsed_geometry_is_an_error(tmp_path: Path) -> None:
    x0, y0 = DORTMUND_XY
    flat = shapely.Polygon([(x0, y0), (x0 + 1000, y0), (x0 + 500, y0), (x0, y0)])  # no area
    gdf = _grid()
    gdf.loc[0, "geometry"] = flat
    gdf.to_file(tmp_path / "x.gpkg", engine="pyogrio")
    _raises("district(s) '01' have invalid geometries without any area", tmp_path / "x.gpkg", id_column="ID")


# ---------------------------------------------------------------------------------------------
# aggregate_boundaries


@pytest.fixture
def fine() -> gpd.GeoDataFrame:
    gdf = _grid(ids=["a1", "a2", "b1", "b2", "c1"], names=list("vwxyz"))
    return gdf.rename(columns={"ID": "district_id", "NAME": "district_name"}).assign(
        district_id=lambda d: d["district_id"].astype(str))


def test_aggregate(fine: gpd.GeoDataFrame) -> None:
    mapping = {"a1": "A", "a2": "A", "b1": "B", "b2": "B", "c1": "C", "zz": "Z"}  # extra keys ignored
    fine.attrs.update(source="fein.gpkg", repairs=["note"])
    out = aggregate_boundaries(fine, mapping, names={"A": "Nord", "B": "Süd"})
    assert list(out.columns) == ["district_id", "district_name", "geometry"]
    assert out["district_id"].tolist() == ["A", "B", "C"]
    assert out["district_name"].tolist() == ["Nord", "Süd", "C"]
    assert out.geometry.is_valid.all() and (out.geom_type == "Polygon").all()
    assert out.crs == fine.crs
    np.testing.assert_allclose(out.area, [2e6, 2e6, 1e6])
    assert out.area.sum() == pytest.approx(fine.area.sum())
    assert out.attrs == {"source": "fein.gpkg", "repairs": ["note"]}


def test_aggregate_with_series_and_overlaps(fine: gpd.GeoDataFrame) -> None:
    fine.loc[1, "geometry"] = fine.geometry[1].buffer(10, join_style="mitre")  # not a clean coverage
    mapping = pd.Series(["A", "A", "A", "A", "A"], index=fine["district_id"])
    out = aggregate_boundaries(fine, mapping)
    assert len(out) == 1 and out.geometry.is_valid.all()
    assert out.area.iloc[0] == pytest.approx(shapely.union_all(fine.geometry.values).area)


def test_aggregate_unmapped(fine: gpd.GeoDataFrame) -> None:
    with pytest.raises(InputError) as info:
        aggregate_boundaries(fine, {"a1": "A", "a2": "A", "b-1": "B", "c1": None})
    text = str(info.value)
    assert "3 district(s) not assigned to an area: 'b1' (did you mean 'b-1'?)" in text
    assert "'b2'" in text and "'c1'" in text


# ---------------------------------------------------------------------------------------------
# output.write_gpkg


def test_write_gpkg_roundtrip_and_deterministic(fine: gpd.GeoDataFrame, tmp_path: Path) -> None:
    a = write_gpkg(fine, tmp_path / "a" / "gebiete.gpkg")
    b = write_gpkg(fine, tmp_path / "b" / "gebiete.gpkg")
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    assert pyogrio.list_layers(a)[:, 0].tolist() == ["gebiete"]  # not the temporary name
    assert sorted(p.name for p in a.parent.iterdir()) == ["gebiete.gpkg"]
    write_gpkg(fine, a, layer="bezirke")  # replaces the file
    back = read_boundaries(a, layer="bezirke")
    assert back["district_id"].tolist() == fine["district_id"].tolist()
    assert pyogrio.get_gdal_config_option("OGR_CURRENT_DATE") is None  # restored


# ---------------------------------------------------------------------------------------------
# Only file problems become InputError; a bug (any other exception) is not disguised as one


@pytest.mark.parametrize("reader", ["list_layers", "read_info", "read_dataframe"])
def test_gdal_errors_are_input_errors_other_exceptions_propagate(shp: Path, monkeypatch, reader: str) -> None:
    def gdal_fails(*args, **kwargs):
        raise pyogrio.errors.DataSourceError("GDAL cannot read this")

    def bug(*args, **kwargs):
        raise ZeroDivisionError("a bug, not a file problem")

    monkeypatch.setattr(pyogrio, reader, gdal_fails)
    _raises("GDAL cannot read this", shp, id_column="ID")
    monkeypatch.setattr(pyogrio, reader, bug)
    with pytest.raises(ZeroDivisionError):
        read_boundaries(shp, id_column="ID")


def test_malformed_geojson_geometries_are_input_errors_bugs_propagate(tmp_path: Path, monkeypatch) -> None:
    import geo_cohesion.io.boundaries as boundaries_module

    path = tmp_path / "kaputt.geojson"
    feature = {"type": "Feature", "properties": {"id": "a"}, "geometry": {"type": "Polygon", "coordinates": [[1, 2]]}}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8")
    def gdal_gives_up(*args, **kwargs):  # as for a GeoJSON too large for GDAL: the Python reader takes over
        raise pyogrio.errors.DataSourceError("too large for GDAL")

    monkeypatch.setattr(pyogrio, "list_layers", gdal_gives_up)
    _raises("feature 1: unreadable geometry", path, id_column="id")
    monkeypatch.setattr(boundaries_module, "shape", lambda geometry: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        read_boundaries(path, id_column="id")


# ---------------------------------------------------------------------------------------------
# Real data (../shared/data), skipped when absent


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real boundary data not available: {path} (set GEO_COHESION_SHARED_DATA)")
    return path


@pytest.fixture(scope="module")
def berlin_plr() -> gpd.GeoDataFrame:
    path = _need(BERLIN / "lor_planungsraeume_2021.shp")
    return read_boundaries(path, id_column="PLR_ID", name_column="PLR_NAME")


@pytest.mark.real_data
def test_berlin_planungsraeume(berlin_plr: gpd.GeoDataFrame) -> None:
    gdf = berlin_plr
    assert len(gdf) == 542
    assert gdf.crs.to_epsg() == 25833
    assert gdf["district_id"].str.fullmatch(r"\d{8}").all()
    assert gdf["district_id"].str.startswith("0").sum() > 0  # leading zeros kept (Bezirke 01–09)
    assert gdf["district_id"].is_monotonic_increasing
    text = "".join(gdf["district_name"])
    assert any(ch in text for ch in "äöüß") and "Ã" not in text and "\ufffd" not in text
    assert "Stülerstraße" in set(gdf["district_name"])
    assert gdf.geometry.is_valid.all() and gdf.attrs["repairs"] == []


@pytest.mark.real_data
def test_berlin_bezirksregionen_from_planungsraeume(berlin_plr: gpd.GeoDataFrame) -> None:
    bzr = read_boundaries(_need(BERLIN / "lor_bezirksregionen_2021.shp"), id_column="BZR_ID",
                          name_column="BZR_NAME")
    mapping = {plr: plr[:6] for plr in berlin_plr["district_id"]}
    agg = aggregate_boundaries(berlin_plr, mapping, names=dict(zip(bzr["district_id"], bzr["district_name"])))
    assert len(agg) == len(bzr) == 143
    assert set(agg["district_id"]) == set(bzr["district_id"])
    assert agg.geometry.is_valid.all()
    assert agg.area.sum() == pytest.approx(bzr.area.sum(), rel=1e-3)
    ratio = agg.set_index("district_id").area / bzr.set_index("district_id").area
    np.testing.assert_allclose(ratio, 1.0, rtol=1e-3)  # every region, not only the total


@pytest.mark.real_data
def test_berlin_mss_matches_boundaries(berlin_plr: gpd.GeoDataFrame) -> None:
    mss = read_table(_need(BERLIN / "mss_2021.csv"), text_columns=["PLR_ID"])
    assert mss["PLR_ID"].str.fullmatch(r"\d{8}").all()
    mapping = match_keys(mss["PLR_ID"], berlin_plr["district_id"], "mss_2021.csv",
                         "lor_planungsraeume_2021.shp", allow_missing=False)
    assert len(mapping) == 542 and all(k == v for k, v in mapping.items())  # identical text ids


@pytest.mark.real_data
def test_rostock_ortsteile_to_ortsbeiratsbereiche() -> None:
    gdf = read_boundaries(_need(ROSTOCK / "ortsteile.geojson"), id_column="name", name_column="name")
    assert len(gdf) == 31
    assert gdf.crs.to_epsg() == 25833  # EPSG:4326 in the file, Rostock lies east of 12° E
    assert "Seebad Warnemünde" in set(gdf["district_id"])
    rostock = next(c for c in yaml.safe_load(ASSUMPTIONS_PATH.read_text(encoding="utf-8"))["cities"]
                   if c["name"] == "Rostock")
    area_of = {normalise_key(o): d["id"] for d in rostock["districts"] for o in d["ortsteile"]}
    mapping = {name: area_of[normalise_key(name)] for name in gdf["district_id"]}
    assert len(mapping) == 31
    agg = aggregate_boundaries(gdf, mapping, names={d["id"]: d["name"] for d in rostock["districts"]})
    assert len(agg) == 19 and agg["district_id"].tolist() == [f"{i:02d}" for i in range(1, 20)]
    assert agg.geometry.is_valid.all()
    # The Ortsteile are simplified to about 10 m and overlap slightly (about 0.024 km² of 181 km²),
    # so the dissolved areas are a little smaller than the sum of their parts; their union is the same.
    assert agg.area.sum() == pytest.approx(gdf.area.sum(), rel=1e-4)
    assert agg.area.sum() < gdf.area.sum()
    assert shapely.union_all(agg.geometry.values).area == pytest.approx(
        shapely.union_all(gdf.geometry.values).area, rel=1e-9)
