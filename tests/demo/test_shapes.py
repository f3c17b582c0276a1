"""Tests for geo_cohesion.demo.shapes: schematic, gap- and overlap-free district boundaries."""
from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely
import yaml
from pyproj import CRS, Transformer

from geo_cohesion.demo.shapes import (
    NOTE,
    build_schematic_boundaries,
    load_cities,
    write_schematic_boundaries,
)
from geo_cohesion.errors import InputError

CITIES = load_cities()
CITY_IDS = [c["slug"] for c in CITIES]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def built() -> dict[str, gpd.GeoDataFrame]:
    """Boundaries of every demo city, built in memory from the assumptions file."""
    return {c["slug"]: build_schematic_boundaries(c) for c in CITIES}


@pytest.fixture
def tiny_assumptions(tmp_path: Path) -> Path:
    """A small assumptions file with two made-up cities, written in code."""
    data = {
        "cities": [
            {
                "name": "Teststadt",
                "slug": "teststadt",
                "crs": "EPSG:25832",
                "districts": [
                    {"id": "001", "name": "Mitte", "centre": [7.00, 51.50]},
                    {"id": "002", "name": "Nörd", "centre": [7.01, 51.53]},
                    {"id": "003", "name": "Süd", "centre": [6.99, 51.47]},
                    {"id": "004", "name": "Öst", "centre": [7.04, 51.50]},
                ],
            },
            {
                "name": "Zweidorf",
                "slug": "zweidorf",
                "crs": "EPSG:25833",
                "districts": [
                    {"id": "2", "name": "B", "centre": [12.10, 54.10]},
                    {"id": "1", "name": "A", "centre": [12.00, 54.10]},
                ],
            },
        ]
    }
    path = tmp_path / "assumptions.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("slug", CITY_IDS)
def test_rows_ids_columns_crs(built: dict[str, gpd.GeoDataFrame], slug: str) -> None:
    city = next(c for c in CITIES if c["slug"] == slug)
    gdf = built[slug]
    expected_ids = [d["id"] for d in city["districts"]]
    assert len(gdf) == len(city["districts"])
    assert gdf["district_id"].is_unique
    assert list(gdf["district_id"]) == sorted(expected_ids)
    assert dict(zip(gdf["district_id"], gdf["district_name"])) == {
        d["id"]: d["name"] for d in city["districts"]
    }
    assert list(gdf.columns) == ["district_id", "district_name", "note", "geometry"]
    assert (gdf["note"] == NOTE).all()
    assert gdf.crs == CRS.from_user_input(city["crs"])


@pytest.mark.parametrize("slug", CITY_IDS)
def test_geometries_valid_and_tiling(built: dict[str, gpd.GeoDataFrame], slug: str) -> None:
    geoms = built[slug].geometry.values
    assert shapely.is_valid(geoms).all()
    assert not shapely.is_empty(geoms).any()
    assert set(shapely.get_type_id(geoms)) <= {3, 6}  # Polygon, MultiPolygon
    # no overlaps
    for a, b in itertools.combinations(geoms, 2):
        assert shapely.area(shapely.intersection(a, b)) < 1e-6
    # no gaps: union area equals the sum of areas, and the union is one polygon without holes
    union = shapely.union_all(geoms)
    total = float(shapely.area(geoms).sum())
    assert abs(union.area - total) <= 1e-6 * total
    assert union.geom_type == "Polygon"
    assert len(union.interiors) == 0


@pytest.mark.parametrize("slug", CITY_IDS)
def test_centre_inside_own_polygon(built: dict[str, gpd.GeoDataFrame], slug: str) -> None:
    city = next(c for c in CITIES if c["slug"] == slug)
    gdf = built[slug].set_index("district_id")
    to_metric = Transformer.from_crs("EPSG:4326", city["crs"], always_xy=True)
    for d in city["districts"]:
        x, y = to_metric.transform(*d["centre"])
        assert gdf.loc[d["id"], "geometry"].contains(shapely.Point(x, y)), d["id"]


@pytest.mark.parametrize("slug", CITY_IDS)
def test_coordinates_on_grid(built: dict[str, gpd.GeoDataFrame], slug: str) -> None:
    coords = shapely.get_coordinates(built[slug].geometry.values) * 10.0
    assert abs(coords - coords.round()).max() < 1e-6


def test_write_demo_cities_byte_identical(tmp_path: Path) -> None:
    first = write_schematic_boundaries(tmp_path / "a")
    second = write_schematic_boundaries(tmp_path / "b")
    assert [p.name for p in first] == [f"{s}.gpkg" for s in CITY_IDS]
    assert [_sha256(p) for p in first] == [_sha256(p) for p in second]
    # rewriting in place (atomic replace) gives the same bytes and leaves no temp files
    again = write_schematic_boundaries(tmp_path / "a")
    assert [_sha256(p) for p in again] == [_sha256(p) for p in second]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(p.name for p in first)


def test_written_file_roundtrip(tiny_assumptions: Path, tmp_path: Path) -> None:
    paths = write_schematic_boundaries(tmp_path / "out", tiny_assumptions)
    assert [p.name for p in paths] == ["teststadt.gpkg", "zweidorf.gpkg"]
    assert [name for name, _ in pyogrio.list_layers(paths[0])] == ["teststadt"]
    gdf = gpd.read_file(paths[0], layer="teststadt", engine="pyogrio")
    assert list(gdf["district_id"]) == ["001", "002", "003", "004"]  # leading zeros kept
    assert list(gdf["district_name"]) == ["Mitte", "Nörd", "Süd", "Öst"]
    assert (gdf["note"] == NOTE).all()
    assert gdf.crs.to_epsg() == 25832
    two = gpd.read_file(paths[1], engine="pyogrio")
    assert list(two["district_id"]) == ["1", "2"]  # sorted by id
    assert shapely.union_all(two.geometry.values).geom_type == "Polygon"


def test_write_tiny_byte_identical(tiny_assumptions: Path, tmp_path: Path) -> None:
    a = write_schematic_boundaries(tmp_path / "a", tiny_assumptions)
    b = write_schematic_boundaries(tmp_path / "b", tiny_assumptions)
    assert [_sha256(p) for p in a] == [_sha256(p) for p in b]


def test_rejects_bad_input() -> None:
    good = {"name": "X", "slug": "x", "crs": "EPSG:25832"}
    one = [{"id": "1", "name": "A", "centre": [7.0, 51.0]}]
    with pytest.raises(InputError):
        build_schematic_boundaries({**good, "districts": one})
    with pytest.raises(InputError):
        build_schematic_boundaries({**good, "districts": one + [{"id": 2, "name": "B", "centre": [7.1, 51.0]}]})
    with pytest.raises(InputError):
        build_schematic_boundaries({**good, "districts": one + [{"id": "1", "name": "B", "centre": [7.1, 51.0]}]})
    with pytest.raises(InputError):
        build_schematic_boundaries(
            {**good, "crs": "EPSG:4326", "districts": one + [{"id": "2", "name": "B", "centre": [7.1, 51.0]}]}
        )


def test_bad_crs_is_an_input_error_other_exceptions_propagate(monkeypatch) -> None:
    import geo_cohesion.demo.shapes as shapes

    districts = [{"id": "1", "name": "A", "centre": [7.0, 51.0]}, {"id": "2", "name": "B", "centre": [7.1, 51.0]}]
    for city in ({"name": "X", "districts": districts}, {"name": "X", "crs": "EPSG:99999", "districts": districts}):
        with pytest.raises(InputError, match="missing or invalid 'crs'"):
            build_schematic_boundaries(city)
    monkeypatch.setattr(shapes.CRS, "from_user_input", lambda value: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        build_schematic_boundaries({"name": "X", "crs": "EPSG:25832", "districts": districts})


def test_shipped_shapes_are_what_the_generator_builds(tmp_path):
    """shapes/*.gpkg in the repository must be reproducible by `python -m geo_cohesion.demo.shapes`."""
    from geo_cohesion.demo.shapes import write_schematic_boundaries

    shipped = Path(__file__).resolve().parents[2] / "shapes"
    written = write_schematic_boundaries(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in shipped.glob("*.gpkg"))
    for path in written:
        assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256((shipped / path.name).read_bytes()).digest()
