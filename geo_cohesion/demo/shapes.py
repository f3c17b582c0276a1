"""Schematic district boundaries for the four demo cities.

The demo of geo-cohesion needs district polygons to draw maps, but the study's cities publish
their official boundaries under their own licences and in their own formats. This module therefore
builds SCHEMATIC boundaries ("schematische Grenzen – nicht amtlich") from the approximate district
centres stated in ``geo_cohesion/demo/assumptions.yaml``:

1. project the centres (WGS84 lon/lat) to the city's metric CRS (ETRS89 / UTM);
2. build a city outline: the convex hull of the centres, buffered by
   :data:`OUTLINE_BUFFER_FACTOR` × the median nearest-neighbour distance between centres;
3. partition the outline by the Voronoi diagram of the centres;
4. node all cell borders and the outline in ONE line arrangement, snap it to a
   :data:`GRID_SIZE` grid and polygonize it, so that neighbouring districts share their borders
   exactly (identical vertices, no gaps, no overlaps; the union is the outline).

The result is deterministic: the same assumptions give the same coordinates, and
:func:`write_schematic_boundaries` writes byte-identical GeoPackages (the GeoPackage timestamp
``gpkg_contents.last_change`` is pinned with the GDAL option ``OGR_CURRENT_DATE`` by
:func:`geo_cohesion.io.write.write_gpkg`).

Rebuild the shipped files with ``python -m geo_cohesion.demo.shapes [OUT_DIR]``.
"""
from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
import yaml
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from geo_cohesion.errors import InputError
from geo_cohesion.io.write import FIXED_GPKG_DATE, write_gpkg
from geo_cohesion.labels import label

__all__ = [
    "ASSUMPTIONS_PATH",
    "DEFAULT_OUT_DIR",
    "FIXED_GPKG_DATE",
    "GRID_SIZE",
    "NOTE",
    "OUTLINE_BUFFER_FACTOR",
    "build_schematic_boundaries",
    "load_cities",
    "main",
    "write_schematic_boundaries",
]

#: Default assumptions file (the demo data's single source of district facts).
ASSUMPTIONS_PATH: Path = Path(__file__).resolve().parent / "assumptions.yaml"
#: Default output folder of ``python -m geo_cohesion.demo.shapes``: the repository's ``shapes/``.
DEFAULT_OUT_DIR: Path = Path(__file__).resolve().parents[1] / "shapes"
#: Label stored with every feature so it travels with the data.
NOTE: str = label("note.schematic")
#: Coordinate grid in metres; all output vertices lie on it.
GRID_SIZE: float = 0.1
#: Outline = convex hull of the centres buffered by this factor × median nearest-neighbour distance.
OUTLINE_BUFFER_FACTOR: float = 1.2
#: Segments per quarter circle of the outline's rounded corners.
OUTLINE_QUAD_SEGS: int = 8

COLUMNS: tuple[str, ...] = ("district_id", "district_name", "note", "geometry")


def load_cities(assumptions_path: Path | None = None) -> list[dict[str, Any]]:
    """Read the city entries of an assumptions file.

    Parameters
    ----------
    assumptions_path : pathlib.Path, optional
        YAML file with a top-level ``cities`` list. Defaults to the packaged demo assumptions.

    Returns
    -------
    list of dict
        One dict per city, in file order.

    Raises
    ------
    InputError
        If the file cannot be read or has no ``cities`` list.
    """
    if assumptions_path is None:
        from geo_cohesion.demo.assumptions import load_assumptions

        return load_assumptions()["cities"]
    path = Path(assumptions_path)
    try:
        with path.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror})", source=str(path)) from None
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML ({exc})", source=str(path)) from None
    cities = data.get("cities") if isinstance(data, Mapping) else None
    if not isinstance(cities, list) or not cities:
        raise InputError("no list 'cities' found", source=str(path), hint="the file needs a top-level 'cities' list")
    return cities


def _district_table(city: Mapping[str, Any]) -> tuple[list[str], list[str], np.ndarray]:
    """Validate a city's districts; return ids, names and an (n, 2) lon/lat array."""
    label = str(city.get("name", city.get("slug", "?")))
    districts = city.get("districts")
    if not isinstance(districts, list) or len(districts) < 2:
        raise InputError("at least two districts with a 'centre' are needed", source=label)
    ids: list[str] = []
    names: list[str] = []
    lonlat: list[tuple[float, float]] = []
    for d in districts:
        did, centre = d.get("id"), d.get("centre")
        if not isinstance(did, str):
            raise InputError(
                f"district id {did!r} is not text",
                source=label,
                hint="quote ids in the YAML file so that leading zeros are kept",
            )
        if not (isinstance(centre, (list, tuple)) and len(centre) == 2):
            raise InputError(f"district {did}: 'centre' must be [lon, lat]", source=label)
        ids.append(did)
        names.append(str(d.get("name", did)))
        lonlat.append((float(centre[0]), float(centre[1])))
    if len(set(ids)) != len(ids):
        raise InputError("district ids are not unique", source=label)
    xy = np.asarray(lonlat, dtype=float)
    if len(np.unique(xy, axis=0)) != len(xy):
        raise InputError("two districts have the same 'centre'", source=label)
    return ids, names, xy


def _project_centres(lonlat: np.ndarray, crs: CRS) -> np.ndarray:
    """Project WGS84 lon/lat pairs to ``crs``; return an (n, 2) array of x/y in metres."""
    transformer = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = transformer.transform(lonlat[:, 0], lonlat[:, 1])
    return np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])


def _median_nearest_neighbour(xy: np.ndarray) -> float:
    """Median distance from each point to its nearest other point."""
    diff = xy[:, None, :] - xy[None, :, :]
    dist = np.hypot(diff[..., 0], diff[..., 1])
    np.fill_diagonal(dist, np.inf)
    return float(np.median(dist.min(axis=1)))


def _outline(points: shapely.MultiPoint, spacing: float) -> shapely.Polygon:
    """Schematic city outline: buffered convex hull of the centres, snapped to the grid."""
    hull = shapely.convex_hull(points)
    outline = shapely.buffer(hull, OUTLINE_BUFFER_FACTOR * spacing, quad_segs=OUTLINE_QUAD_SEGS)
    return shapely.set_precision(outline, GRID_SIZE)


def build_schematic_boundaries(city: Mapping[str, Any]) -> gpd.GeoDataFrame:
    """Build schematic, gap- and overlap-free district polygons for one city.

    Parameters
    ----------
    city : dict
        One entry of ``cities`` in the assumptions file, with ``name``, ``crs`` (a metric CRS
        such as ``"EPSG:25832"``) and ``districts``, each with a text ``id``, a ``name`` and
        ``centre: [lon, lat]`` in WGS84.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``district_id``, ``district_name``, ``note`` (:data:`NOTE`) and ``geometry``
        (valid Polygon/MultiPolygon on a :data:`GRID_SIZE` m grid) in the city's CRS, one row
        per district, sorted by ``district_id``. Neighbours share borders exactly and the union
        of all districts is the schematic outline.

    Raises
    ------
    InputError
        If the city has fewer than two districts, duplicate ids or centres, non-text ids,
        or a CRS that is missing or not projected.

    Notes
    -----
    Each district is the Voronoi cell of its centre clipped to the outline, so every centre
    lies inside its own polygon. The shapes are schematic and NOT official boundaries.
    """
    label = str(city.get("name", city.get("slug", "?")))
    try:
        crs = CRS.from_user_input(city["crs"])
    except (KeyError, CRSError) as exc:
        raise InputError("missing or invalid 'crs'", source=label) from exc
    if not crs.is_projected:
        raise InputError(f"CRS {city['crs']} is not metric (projected)", source=label)

    ids, names, lonlat = _district_table(city)
    xy = _project_centres(lonlat, crs)
    centres = shapely.points(xy)
    outline = _outline(shapely.multipoints(centres), _median_nearest_neighbour(xy))

    # Voronoi cells reaching beyond the outline; their borders and the outline's ring are noded
    # into one arrangement, snapped to the grid and polygonized. Shared borders are thus one and
    # the same line work, so neighbours have identical vertices by construction.
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(centres), extend_to=outline))
    rings = [outline.exterior, *shapely.get_exterior_ring(cells)]
    noded = shapely.set_precision(shapely.union_all(shapely.multilinestrings(rings)), GRID_SIZE)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    probes = shapely.point_on_surface(faces)
    faces = faces[shapely.contains(outline, probes)]
    probes = probes[shapely.contains(outline, probes)]

    # Assign every face to the nearest centre (the defining property of a Voronoi cell).
    pxy = shapely.get_coordinates(probes)
    owner = np.argmin(np.hypot(pxy[:, None, 0] - xy[None, :, 0], pxy[:, None, 1] - xy[None, :, 1]), axis=1)
    geoms = []
    for i in range(len(ids)):
        parts = faces[owner == i]
        if len(parts) == 0:
            raise InputError(f"Bezirk {ids[i]}: keine Fläche erzeugt", source=label)
        # Faces of one district come from the same noded arrangement, so their union adds no
        # new vertices and keeps the borders shared with other districts unchanged.
        geom = parts[0] if len(parts) == 1 else shapely.union_all(parts)
        geoms.append(shapely.normalize(geom))

    gdf = gpd.GeoDataFrame(
        {"district_id": ids, "district_name": names, "note": [NOTE] * len(ids)},
        geometry=geoms,
        crs=crs,
    )
    gdf = gdf.sort_values("district_id", kind="stable").reset_index(drop=True)
    return gdf[list(COLUMNS)]


def write_schematic_boundaries(out_dir: Path, assumptions_path: Path | None = None) -> list[Path]:
    """Write ``<slug>.gpkg`` (layer ``<slug>``) with schematic boundaries for every city.

    Parameters
    ----------
    out_dir : pathlib.Path
        Target folder; created if missing. Existing files are replaced atomically.
    assumptions_path : pathlib.Path, optional
        Assumptions file; defaults to :data:`ASSUMPTIONS_PATH`.

    Returns
    -------
    list of pathlib.Path
        The written files, in the order of the assumptions file.

    Notes
    -----
    Output is byte-identical across runs: the GeoPackage timestamp is pinned to
    :data:`FIXED_GPKG_DATE` via GDAL's ``OGR_CURRENT_DATE``, and the geometry construction is
    deterministic.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for city in load_cities(assumptions_path):
        slug = city.get("slug")
        if not isinstance(slug, str) or not slug:
            raise InputError("Stadt ohne 'slug'", source=str(city.get("name", "?")))
        path = out_dir / f"{slug}.gpkg"
        write_gpkg(build_schematic_boundaries(city), path, layer=slug)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m geo_cohesion.demo.shapes [OUT_DIR]``.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; at most one (the output folder, default
        :data:`DEFAULT_OUT_DIR`).

    Returns
    -------
    int
        Exit code: 0 on success, 2 on an :class:`InputError` or bad usage.
    """
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print("Aufruf: python -m geo_cohesion.demo.shapes [AUSGABEORDNER]", file=sys.stderr)
        return 0 if args and args[0] in ("-h", "--help") else 2
    out_dir = Path(args[0]) if args else DEFAULT_OUT_DIR
    try:
        paths = write_schematic_boundaries(out_dir)
    except InputError as exc:
        print(f"Fehler: {exc}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
