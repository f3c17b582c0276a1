"""Read & validate district boundaries, and dissolve fine units into reporting areas.

Statistics offices publish boundaries as shapefiles (loose, in a folder or zipped), GeoPackages or
GeoJSON, with ids as text or numbers, DBFs in UTF-8 or Windows-1252 with or without ``.cpg``,
geographic or projected coordinates and now and then a self-intersecting polygon.
:func:`read_boundaries` turns all of these into one tidy table — ``district_id`` (text),
``district_name`` (text), ``geometry`` (valid polygons in a metric CRS) — or stops with one
:class:`~geo_cohesion.errors.InputError` that names the file and the fix.
:func:`aggregate_boundaries` dissolves fine units into the areas a survey reports on
(Berlin Planungsräume → Bezirksregionen, Rostock Ortsteile → Ortsbeiratsbereiche).

All files are read with pyogrio; zip archives are read in place through GDAL's ``/vsizip/``.
"""
from __future__ import annotations

import json
import re
import unicodedata
import warnings
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.geometry import shape

from geo_cohesion.errors import InputError
from geo_cohesion.io.tables import MOJIBAKE as _MOJIBAKE

__all__ = [
    "FORMATS",
    "metric_crs",
    "read_boundaries",
]

#: Supported file extensions and what they are.
FORMATS: dict[str, str] = {
    ".shp": "Shapefile",
    ".zip": "zipped Shapefile",
    ".gpkg": "GeoPackage",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
}
#: Columns of every boundary table this module returns.
COLUMNS: tuple[str, ...] = ("district_id", "district_name", "geometry")
#: Column names tried, in this order, when no ``name_column`` is given.
NAME_CANDIDATES: tuple[str, ...] = ("district_name", "name")
#: Encodings tried for a shapefile's DBF when GDAL's own choice gives broken umlauts.
DBF_ENCODINGS: tuple[str, ...] = ("utf-8", "cp1252", "latin1")
#: Rough bounding box of Germany (lon/lat) where the ETRS89 / UTM zones 32N and 33N apply.
GERMANY_LONLAT: tuple[float, float, float, float] = (5.5, 47.0, 15.5, 55.2)
#: "Metric" CRSs whose metres are not metres on the ground (Web Mercator: areas ×2.7 at 52° N).
PSEUDO_METRIC_EPSG: frozenset[int] = frozenset({3857, 3395, 900913})

_SIDECARS_REQUIRED: tuple[str, ...] = (".shx", ".dbf")
_POLYGONAL = {"Polygon", "MultiPolygon"}
_ID_HINT = "name the id column with id_column= / --id-column"
_FORMAT_HINT = "check that the file is complete and in a supported format"
#: What pyogrio raises when GDAL cannot open or read a file: its DataSourceError and DataLayerError
#: (with CRSError, FeatureError, GeometryError, FieldError below it), and OS errors.
_GDAL_ERRORS = (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError)
#: What shapely's ``shape()`` raises for a malformed GeoJSON geometry: a missing member (KeyError),
#: a non-object (AttributeError), wrong nesting or non-numbers (TypeError, ValueError, IndexError),
#: an unknown type or invalid coordinates (shapely.errors.ShapelyError).
_GEOJSON_GEOMETRY_ERRORS = (KeyError, AttributeError, TypeError, ValueError, IndexError, shapely.errors.ShapelyError)


class _GdalError(InputError):
    """GDAL could not open or read a file (a GeoJSON may still be readable without GDAL)."""


# ---------------------------------------------------------------------------------------------
# Locating the data: file, folder, zip, layer


def _sidecars(shp_name: str, names: Iterable[str]) -> dict[str, str]:
    """Sidecar files of a shapefile among ``names``, by lower-case extension (``".dbf"`` …)."""
    stem = PurePosixPath(shp_name).with_suffix("").as_posix().lower()
    found: dict[str, str] = {}
    for name in names:
        path = PurePosixPath(name)
        if path.with_suffix("").as_posix().lower() == stem:
            found.setdefault(path.suffix.lower(), name)
    return found


def _check_sidecars(shp_name: str, names: Iterable[str], source: str) -> bool:
    """Raise if ``.shx`` or ``.dbf`` is missing; return whether a ``.prj`` exists."""
    found = _sidecars(shp_name, names)
    missing = [ext for ext in _SIDECARS_REQUIRED if ext not in found]
    if missing:
        stem = PurePosixPath(shp_name).stem
        files = ", ".join(f"{stem}{ext}" for ext in missing)
        raise InputError(f"the shapefile is incomplete: {files} missing", source,
                         "copy all files of the shapefile (.shp, .shx, .dbf, .prj, .cpg) together")
    return ".prj" in found


def _is_unsafe_member(name: str) -> bool:
    """True for zip members with absolute paths or ``..`` parts ("zip slip")."""
    posix = name.replace("\\", "/")
    return posix.startswith("/") or bool(re.match(r"^[A-Za-z]:", posix)) or ".." in posix.split("/")


def _zip_members(path: Path, source: str) -> list[str]:
    """Names of the files in a zip archive; rejects unreadable archives and zip slip."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"not a readable zip archive ({exc})", source, "pack the archive again") from exc
    unsafe = [n for n in names if _is_unsafe_member(n)]
    if unsafe:
        raise InputError(
            f"the zip archive contains unsafe paths (absolute or with '..'): {', '.join(unsafe[:5])}",
            source, "pack the boundary files again with relative paths only")
    return [n for n in names if not n.endswith("/") and not n.startswith("__MACOSX/")]


def _single(candidates: Sequence[str], what: str, source: str) -> str:
    """The one candidate; an InputError if there are none or several."""
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise InputError(f"contains no {what}", source,
                         f"give the path of a boundary file ({', '.join(FORMATS)})")
    raise InputError(f"contains more than one {what}: {', '.join(sorted(candidates))}", source,
                     "give the path of the one file to use")


def _locate_in_zip(path: Path, source: str) -> tuple[str, bool, bool]:
    """GDAL path of the boundary file inside a zip; whether it is a shapefile; whether it has a .prj."""
    members = _zip_members(path, source)
    shapefiles = [n for n in members if n.lower().endswith(".shp")]
    if shapefiles:
        member = _single(shapefiles, "shapefile (.shp)", source)
        has_prj = _check_sidecars(member, members, f"{source}/{member}")
        return f"/vsizip/{path.resolve().as_posix()}/{member}", True, has_prj
    others = [n for n in members if PurePosixPath(n).suffix.lower() in (".gpkg", ".geojson", ".json")]
    member = _single(others, "boundary file", source)
    return f"/vsizip/{path.resolve().as_posix()}/{member}", False, True


def _locate(path: Path, source: str) -> tuple[str, bool, bool]:
    """Resolve the user's path to a GDAL path.

    Returns
    -------
    tuple
        ``(gdal_path, is_shapefile, has_prj)``.
    """
    if not path.exists():
        raise InputError("file not found", source, "check the path")
    if path.is_dir():
        shapefiles = sorted(p.name for p in path.iterdir() if p.suffix.lower() == ".shp")
        name = _single(shapefiles, "shapefile (.shp)", source)
        has_prj = _check_sidecars(name, [p.name for p in path.iterdir()], str(path / name))
        return str(path / name), True, has_prj
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"unknown file type '{path.suffix or '(none)'}'", source,
                         "use a Shapefile (.shp, a folder or a .zip), GeoPackage (.gpkg) "
                         "or GeoJSON (.geojson, .json)")
    if path.stat().st_size == 0:
        raise InputError("the file is empty", source, "export the boundaries again")
    if suffix == ".zip":
        return _locate_in_zip(path, source)
    if suffix == ".shp":
        has_prj = _check_sidecars(path.name, [p.name for p in path.parent.iterdir()], source)
        return str(path), True, has_prj
    return str(path), False, True


def _choose_layer(gdal_path: str, layer: str | None, source: str) -> str:
    """The layer to read: ``layer`` if it exists, else the only layer with geometries."""
    try:
        layers = pyogrio.list_layers(gdal_path)
    except _GDAL_ERRORS as exc:
        raise _GdalError(f"cannot be opened as boundary file ({exc})", source, _FORMAT_HINT) from exc
    names = [str(row[0]) for row in layers]
    if layer is not None:
        if layer not in names:
            raise InputError(f"has no layer '{layer}'; layers: {', '.join(names) or '(none)'}", source,
                             "choose one of these with layer= / --layer")
        return layer
    spatial = [str(row[0]) for row in layers if row[1] is not None] or names
    if len(spatial) != 1:
        raise InputError(f"has {len(spatial)} layers: {', '.join(spatial) or '(none)'}", source,
                         "choose one with layer= / --layer")
    return spatial[0]


# ---------------------------------------------------------------------------------------------
# Columns and text


def _find_column(fields: Sequence[str], wanted: str) -> str | None:
    """``wanted`` itself, or the one field equal to it ignoring case."""
    if wanted in fields:
        return wanted
    folded = [f for f in fields if f.lower() == wanted.lower()]
    return folded[0] if len(folded) == 1 else None


def _resolve_columns(fields: Sequence[str], id_column: str | None, name_column: str | None,
                     source: str) -> tuple[str, str]:
    """Id and name columns to read; the name falls back to the id column."""
    available = ", ".join(fields) or "(none)"
    id_col = _find_column(fields, id_column or "district_id")
    if id_col is None:
        what = f"no column '{id_column}'" if id_column else "no id column 'district_id'"
        raise InputError(f"{what}; available columns: {available}", source, _ID_HINT)
    if name_column is not None:
        name_col = _find_column(fields, name_column)
        if name_col is None:
            raise InputError(f"no column '{name_column}'; available columns: {available}", source,
                             "name the name column with name_column= / --name-column")
        return id_col, name_col
    for candidate in NAME_CANDIDATES:
        name_col = _find_column(fields, candidate)
        if name_col is not None:
            return id_col, name_col
    return id_col, id_col


def _is_missing(value: object) -> bool:
    """True for None, NaN, NA and NaT (False for lists and other non-scalars)."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _to_text(value: object) -> str | None:
    """One attribute value as stripped text; whole numbers without ``.0``; missing → None."""
    if _is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return unicodedata.normalize("NFC", str(value).strip())  # "ü" as u + combining mark (NFD) would not match


def _text_column(series: pd.Series) -> pd.Series:
    """A column as text (object dtype, None for missing)."""
    return pd.Series([_to_text(v) for v in series], index=series.index, dtype=object)


def _mojibake_count(frame: pd.DataFrame, columns: Iterable[str]) -> int:
    """Number of text values that look wrongly decoded."""
    count = 0
    for col in dict.fromkeys(columns):
        values = frame[col]
        if pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
            count += sum(bool(_MOJIBAKE.search(v)) for v in values if isinstance(v, str))
    return count


# ---------------------------------------------------------------------------------------------
# Reading


def _read_layer(gdal_path: str, layer: str, columns: list[str], source: str,
                encoding: str | None = None) -> gpd.GeoDataFrame:
    """Read the given columns of one layer with pyogrio; GDAL errors become InputError."""
    try:
        with warnings.catch_warnings():  # NaN coordinates warn in shapely; _check_coordinates reports them
            warnings.simplefilter("ignore", RuntimeWarning)
            return pyogrio.read_dataframe(gdal_path, layer=layer, columns=columns, encoding=encoding,
                                          on_invalid="ignore")
    except UnicodeDecodeError:
        raise
    except _GDAL_ERRORS as exc:
        raise _GdalError(f"cannot read layer '{layer}' ({exc})", source, _FORMAT_HINT) from exc


def _read_shapefile_text(gdal_path: str, layer: str, columns: list[str], source: str,
                         notes: list[str]) -> gpd.GeoDataFrame:
    """Read a shapefile; retry other DBF encodings if umlauts come out broken.

    GDAL honours a ``.cpg`` file; without one it decodes the DBF as ISO-8859-1, which turns UTF-8
    umlauts into "Ã¤" and Windows-1252 characters such as "€" or "„" into control characters.
    """
    frame = _read_layer(gdal_path, layer, columns, source)
    problems = _mojibake_count(frame, columns)
    if problems == 0:
        return frame
    best, best_problems, best_encoding = frame, problems, None
    for encoding in DBF_ENCODINGS:
        try:
            candidate = _read_layer(gdal_path, layer, columns, source, encoding=encoding)
        except UnicodeDecodeError:
            continue
        candidate_problems = _mojibake_count(candidate, columns)
        if candidate_problems < best_problems:
            best, best_problems, best_encoding = candidate, candidate_problems, encoding
        if candidate_problems == 0:
            break
    if best_encoding is not None:
        notes.append(f"DBF text decoded as {best_encoding} (the file declares no or a wrong encoding; "
                     f"add a .cpg file containing '{best_encoding.upper()}' to make this explicit)")
    if best_problems:
        notes.append(f"{best_problems} text values may still contain wrongly decoded characters")
    return best


def _read_with_gdal(gdal_path: str, layer: str | None, is_shapefile: bool, id_column: str | None,
                    name_column: str | None, source: str,
                    notes: list[str]) -> tuple[gpd.GeoDataFrame, str, str, str]:
    """Read id, name and geometry of one layer with pyogrio.

    Returns
    -------
    tuple
        ``(frame, id column, name column, layer name)``.
    """
    layer = _choose_layer(gdal_path, layer, source)
    try:
        info = pyogrio.read_info(gdal_path, layer=layer)
    except _GDAL_ERRORS as exc:
        raise _GdalError(f"cannot read layer '{layer}' ({exc})", source, _FORMAT_HINT) from exc
    id_col, name_col = _resolve_columns([str(f) for f in info["fields"]], id_column, name_column, source)
    columns = list(dict.fromkeys([id_col, name_col]))
    if is_shapefile:
        return _read_shapefile_text(gdal_path, layer, columns, source, notes), id_col, name_col, layer
    return _read_layer(gdal_path, layer, columns, source), id_col, name_col, layer


def _geojson_geometry(geometry: object, number: int, source: str) -> shapely.Geometry | None:
    """A GeoJSON geometry object as shapely geometry (None for null)."""
    if geometry is None:
        return None
    try:
        return shape(geometry)
    except _GEOJSON_GEOMETRY_ERRORS as exc:
        raise InputError(f"feature {number}: unreadable geometry ({exc})", source, _FORMAT_HINT) from exc


def _read_geojson_python(path: Path, id_column: str | None, name_column: str | None,
                         source: str) -> tuple[gpd.GeoDataFrame, str, str, str]:
    """Read a GeoJSON file with Python's json module (same result as :func:`_read_with_gdal`).

    GDAL's GeoJSON reader refuses string values longer than 10 MB ("Too many characters in
    number"); a description field that large must not make the boundaries unreadable.
    """
    try:
        data = json.loads(path.read_bytes())
    except (ValueError, OSError) as exc:
        raise InputError(f"cannot be read as GeoJSON ({exc})", source, _FORMAT_HINT) from exc
    if isinstance(data, Mapping) and data.get("type") == "Feature":
        data = {"type": "FeatureCollection", "features": [data]}
    features = data.get("features") if isinstance(data, Mapping) else None
    if not isinstance(features, list) or not all(isinstance(f, Mapping) for f in features):
        raise InputError("is not a GeoJSON FeatureCollection", source, _FORMAT_HINT)
    properties = [f.get("properties") or {} for f in features]
    fields = list(dict.fromkeys(k for p in properties for k in p))
    id_col, name_col = _resolve_columns(fields, id_column, name_column, source)
    crs = data.get("crs")  # pre-RFC 7946 GeoJSON: {"type": "name", "properties": {"name": ...}}
    legacy_crs = crs.get("properties", {}).get("name") if isinstance(crs, Mapping) else None
    frame = gpd.GeoDataFrame(
        {col: [p.get(col) for p in properties] for col in dict.fromkeys([id_col, name_col])},
        geometry=[_geojson_geometry(f.get("geometry"), i + 1, source) for i, f in enumerate(features)],
        crs=_parse_crs(legacy_crs, source) or "EPSG:4326")
    return frame, id_col, name_col, path.stem


def _parse_crs(crs: object, source: str) -> CRS | None:
    """The user's ``crs=`` as pyproj CRS; InputError if it is not a known CRS."""
    if crs is None:
        return None
    try:
        return CRS.from_user_input(crs)
    except CRSError as exc:
        raise InputError(f"unknown coordinate reference system {crs!r}", source,
                         "pass an EPSG code such as crs='EPSG:25832' (--crs)") from exc


# ---------------------------------------------------------------------------------------------
# Validation


def _row_list(positions: Iterable[int], limit: int = 10) -> str:
    """1-based feature numbers as text, shortened after ``limit``."""
    rows = [int(p) + 1 for p in positions]
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return ", ".join(str(r) for r in rows[:limit]) + more


def _id_list(ids: Iterable[str], limit: int = 10) -> str:
    """Quoted district ids, shortened after ``limit``."""
    ids = list(ids)
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(repr(i) for i in ids[:limit]) + more


def _check_ids(ids: pd.Series, id_col: str, source: str) -> None:
    """Raise for blank or duplicate ids."""
    blank = np.flatnonzero([v is None or v == "" for v in ids])
    if len(blank):
        raise InputError(f"empty id in column '{id_col}' in feature(s) {_row_list(blank)} (counting from 1)",
                         source, "give every district an id, or choose another id column (--id-column)")
    duplicated = ids[ids.duplicated(keep=False)].unique()
    if len(duplicated):
        raise InputError(f"duplicate ids in column '{id_col}': {_id_list(sorted(duplicated))}", source,
                         "every district needs its own id: dissolve parts of one district into one "
                         "feature (e.g. QGIS 'Dissolve'), or choose another id column (--id-column)")


def _check_geometries(geoms: np.ndarray, ids: pd.Series, source: str) -> None:
    """Raise for missing, empty or non-polygonal geometries."""
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        raise InputError(f"district(s) {_id_list(ids[missing])} have no geometry "
                         "(missing, empty or unreadable)", source,
                         "draw or repair these districts, or remove them from the file")
    _check_coordinates(geoms, ids, source)
    types = shapely.get_type_id(geoms)
    bad = np.flatnonzero(~np.isin(types, (3, 6)))  # 3 Polygon, 6 MultiPolygon
    if len(bad):
        first = bad[0]
        total = f" ({len(bad)} non-polygon features in total)" if len(bad) > 1 else ""
        raise InputError(
            f"district boundaries must be polygons, but district {ids.iloc[first]!r} is a "
            f"{geoms[first].geom_type}{total}",
            source, "use the layer with district areas, not points or lines")


#: Largest coordinate magnitude accepted in any CRS (metres or degrees): the earth's circumference is
#: 4e7 m, so anything beyond 1e8 is a broken file, not a place.
MAX_COORDINATE = 1e8


def _check_coordinates(geoms: np.ndarray, ids: pd.Series, source: str) -> None:
    """Raise for coordinates that are NaN, infinite or absurdly large."""
    coords = shapely.get_coordinates(geoms)
    if not coords.size:
        return
    counts = shapely.get_num_coordinates(geoms)
    owner = np.repeat(np.arange(len(geoms)), counts)
    bad_point = ~np.isfinite(coords).all(axis=1) | (np.abs(coords) > MAX_COORDINATE).any(axis=1)
    if bad_point.any():
        districts = np.unique(owner[bad_point])
        example = coords[bad_point][0]
        raise InputError(f"district(s) {_id_list(ids.iloc[districts])} have invalid coordinates "
                         f"(e.g. {example[0]:g}, {example[1]:g}: not a number or far outside the earth)", source,
                         "repair these geometries (e.g. in QGIS) or export the layer again")


def _check_lonlat(gdf: gpd.GeoDataFrame, source: str) -> None:
    """Raise if a geographic CRS is claimed for coordinates that are not longitude/latitude."""
    minx, miny, maxx, maxy = gdf.total_bounds
    if minx < -180.5 or maxx > 360.5 or miny < -90.5 or maxy > 90.5:
        raise InputError(
            f"the coordinate reference system {gdf.crs.to_string()} is geographic (degrees), "
            f"but the coordinates reach {maxx:.0f}, {maxy:.0f}", source,
            "pass the CRS the coordinates are really in, e.g. crs='EPSG:25832' (--crs)")


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygonal part of a geometry (Polygon, MultiPolygon or empty Polygon)."""
    if geom.geom_type in _POLYGONAL:
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in _POLYGONAL]
    if not parts:
        return shapely.Polygon()
    polys = shapely.get_parts(np.asarray(parts, dtype=object))
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(list(polys))


def _collections_to_polygons(geoms: np.ndarray, ids: pd.Series, names: pd.Series, notes: list[str]) -> np.ndarray:
    """A GeometryCollection with polygons becomes its polygonal part, noted as a repair (as ``make_valid``)."""
    collections = np.flatnonzero(shapely.get_type_id(geoms) == 7)
    if not len(collections):
        return geoms
    geoms = geoms.copy()
    for i in collections:
        polygonal = _polygonal(geoms[i])
        if not polygonal.is_empty:
            notes.append(f"district {ids.iloc[i]} ({names.iloc[i]}): geometry collection; its parts that are "
                         "not areas were dropped")
            geoms[i] = polygonal
    return geoms


def _repair(geoms: np.ndarray, ids: pd.Series, names: pd.Series, source: str,
            notes: list[str]) -> np.ndarray:
    """Repair invalid geometries with ``make_valid``; keep polygonal parts; note every repair."""
    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    if not len(invalid):
        return geoms
    geoms = geoms.copy()
    collapsed = []
    for i in invalid:
        reason = shapely.is_valid_reason(geoms[i])
        fixed = shapely.make_valid(geoms[i])
        polygonal = _polygonal(fixed)
        if polygonal.is_empty:
            collapsed.append(ids.iloc[i])
            continue
        dropped = "; non-polygonal parts dropped" if polygonal.geom_type != fixed.geom_type else ""
        notes.append(f"district {ids.iloc[i]} ({names.iloc[i]}): invalid geometry ({reason}) repaired "
                     f"with make_valid{dropped}; area now {polygonal.area:,.0f} m²")
        geoms[i] = polygonal
    if collapsed:
        raise InputError(f"district(s) {_id_list(collapsed)} have invalid geometries without any area",
                         source, "redraw these districts")
    return geoms


#: Two districts may overlap by at most this share of the smaller one's area. Polygons simplified one
#: by one overlap a little (Rostock's Ortsteile: at most 0.08 %); more is not a district layer.
MAX_OVERLAP_SHARE = 0.01


def _check_overlaps(geoms: np.ndarray, ids: pd.Series, source: str) -> None:
    """Raise when two districts overlap by more than :data:`MAX_OVERLAP_SHARE` of the smaller one."""
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = left < right
    left, right = left[pairs], right[pairs]
    if not len(left):
        return
    overlap = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    share = overlap / np.maximum(np.minimum(shapely.area(geoms[left]), shapely.area(geoms[right])), 1e-12)
    bad = np.flatnonzero(share > MAX_OVERLAP_SHARE)
    if len(bad):
        worst = bad[np.argmax(share[bad])]
        more = f" ({len(bad)} overlapping pairs in total)" if len(bad) > 1 else ""
        raise InputError(f"districts {ids.iloc[left[worst]]!r} and {ids.iloc[right[worst]]!r} overlap "
                         f"({overlap[worst]:,.0f} m², {share[worst]:.0%} of the smaller one){more}: every place "
                         "must belong to one district", source,
                         "use a layer with one level of districts (not Bezirke and Ortsteile together, no buffers), "
                         "or repair the overlaps (e.g. QGIS: Vector → Topology Checker)")


# ---------------------------------------------------------------------------------------------
# CRS


def _is_metric(crs: CRS) -> bool:
    """Projected, in metres, and not a pseudo-metric world projection such as Web Mercator."""
    if not crs.is_projected or crs.to_epsg() in PSEUDO_METRIC_EPSG:
        return False
    units = {axis.unit_name.lower() for axis in crs.axis_info[:2]}
    return units <= {"metre", "meter"}


def metric_crs(gdf: gpd.GeoDataFrame) -> CRS:
    """Choose a metric CRS for boundaries.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Boundaries with a CRS.

    Returns
    -------
    pyproj.CRS
        The data's own CRS if it is projected in metres (Web Mercator and similar world
        projections excepted: their "metres" distort areas); otherwise, for data in Germany,
        ETRS89 / UTM 32N (EPSG:25832) if the centre lies west of 12° E, else ETRS89 / UTM 33N
        (EPSG:25833); elsewhere the UTM zone estimated by geopandas.

    Raises
    ------
    InputError
        If ``gdf`` has no CRS.
    """
    if gdf.crs is None:
        raise InputError("no coordinate reference system", gdf.attrs.get("source"),
                         "pass crs='EPSG:25832' (--crs)")
    if _is_metric(gdf.crs):
        return gdf.crs
    minx, miny, maxx, maxy = gdf.to_crs("EPSG:4326").total_bounds
    lon, lat = (minx + maxx) / 2, (miny + maxy) / 2
    west, south, east, north = GERMANY_LONLAT
    if west <= lon <= east and south <= lat <= north:
        return CRS.from_epsg(25832 if lon < 12.0 else 25833)
    return gdf.estimate_utm_crs()


def _assign_crs(gdf: gpd.GeoDataFrame, user_crs: CRS | None, has_prj: bool, source: str,
                notes: list[str]) -> gpd.GeoDataFrame:
    """Give ``gdf`` the file's CRS or the user's ``crs=``; raise if there is none."""
    if user_crs is None:
        if gdf.crs is None:
            why = "(.prj missing)" if not has_prj else "(the file declares none, or one GDAL cannot read)"
            raise InputError(f"no coordinate reference system {why}", source,
                             "pass crs='EPSG:25832' (--crs), or whichever system the coordinates are in")
        return gdf
    if gdf.crs is not None and not gdf.crs.equals(user_crs):
        notes.append(f"coordinate reference system of the file ({gdf.crs.to_string()}) replaced by "
                     f"crs={user_crs.to_string()}")
    return gdf.set_crs(user_crs, allow_override=True)


# ---------------------------------------------------------------------------------------------
# Public API


def read_boundaries(path: str | Path, id_column: str | None = None, name_column: str | None = None,
                    crs: str | int | CRS | None = None, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read district boundaries and validate them.

    Parameters
    ----------
    path : str or Path
        A shapefile (``.shp``, with ``.shx`` and ``.dbf`` next to it), a folder with exactly one
        shapefile, a ``.zip`` with one shapefile (read in place), a GeoPackage (``.gpkg``) or
        GeoJSON (``.geojson``/``.json``).
    id_column : str, optional
        Column with the district ids; default ``district_id``. Read as text: leading zeros are
        kept; ids stored as numbers are written without ``.0``.
    name_column : str, optional
        Column with the district names; default ``district_name`` or ``name`` if present,
        else the id.
    crs : str or pyproj.CRS, optional
        CRS of the coordinates, for files without one (a shapefile without ``.prj``); if the
        file has a different one, ``crs`` wins and a note says so.
    layer : str, optional
        Layer to read; needed when a GeoPackage has several.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``district_id``, ``district_name`` (text) and ``geometry`` (valid Polygon or
        MultiPolygon) in a metric CRS (see :func:`metric_crs`), sorted by ``district_id``.
        ``attrs["source"]`` is ``str(path)``; ``attrs["repairs"]`` lists notes on everything
        that was changed (repaired geometries, DBF encoding, replaced CRS, numeric ids).

    Raises
    ------
    InputError
        Missing file, unknown format, incomplete shapefile, unsafe zip, ambiguous layer, missing
        id column, no or unknown CRS, no features, blank or duplicate ids, missing, empty or
        non-polygon geometries, invalid geometries that have no area once repaired, districts
        that overlap by more than :data:`MAX_OVERLAP_SHARE` of the smaller one.
    """
    source = str(path)
    user_crs = _parse_crs(crs, source)
    gdal_path, is_shapefile, has_prj = _locate(Path(path), source)
    notes: list[str] = []
    try:
        raw, id_col, name_col, layer = _read_with_gdal(gdal_path, layer, is_shapefile, id_column,
                                                       name_column, source, notes)
    except _GdalError:
        if Path(gdal_path).suffix.lower() not in (".geojson", ".json") or gdal_path.startswith("/vsi"):
            raise
        raw, id_col, name_col, layer = _read_geojson_python(Path(gdal_path), id_column, name_column, source)
    if len(raw) == 0:
        raise InputError(f"layer '{layer}' has no features", source, "export the boundaries again")
    if not isinstance(raw, gpd.GeoDataFrame) or raw.geometry.name not in raw:
        raise InputError(f"layer '{layer}' has no geometries", source, "choose the layer with district areas")
    if pd.api.types.is_numeric_dtype(raw[id_col]):
        notes.append(f"ids in column '{id_col}' are stored as numbers and were converted to text "
                     "(leading zeros, if any, are lost in the file)")
    ids = _text_column(raw[id_col]).reset_index(drop=True)
    _check_ids(ids, id_col, source)
    names = _text_column(raw[name_col]).reset_index(drop=True)
    names = names.where(names.map(lambda v: bool(v)), ids)
    geoms = _collections_to_polygons(np.asarray(raw.geometry.values, dtype=object), ids, names, notes)
    _check_geometries(geoms, ids, source)

    gdf = gpd.GeoDataFrame({"district_id": ids, "district_name": names}, geometry=geoms, crs=raw.crs)
    gdf = _assign_crs(gdf, user_crs, has_prj, source, notes)
    if gdf.crs.is_geographic:
        _check_lonlat(gdf, source)
    target = metric_crs(gdf)
    if not gdf.crs.equals(target):
        gdf = gdf.to_crs(target)
    repaired = _repair(np.asarray(gdf.geometry.values, dtype=object), ids, names, source, notes)
    _check_overlaps(repaired, ids, source)
    gdf = gdf.set_geometry(gpd.GeoSeries(repaired, index=gdf.index, crs=gdf.crs))
    gdf = gdf.sort_values("district_id", kind="stable").reset_index(drop=True)[list(COLUMNS)]
    gdf.attrs["source"] = source
    gdf.attrs["repairs"] = notes
    return gdf


