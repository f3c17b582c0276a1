"""Regions: dissolve district boundaries into groups (Sozialräume, Stadtbezirke)."""
from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_cohesion.errors import InputError
from geo_cohesion.io.boundaries import _polygonal, _to_text
from geo_cohesion.keys import suggestions


def _mapping_dict(mapping: Mapping[str, str] | pd.Series) -> dict[str, str | None]:
    """A fine id → area id dict with text keys and values (None for missing areas)."""
    items = mapping.items()
    return {_to_text(k) or "": _to_text(v) or None for k, v in items}


def _union(geoms: np.ndarray) -> shapely.Geometry:
    """Union of polygons; fast coverage union when the parts form a clean coverage."""
    if len(geoms) == 1:
        return geoms[0]
    if hasattr(shapely, "coverage_union_all"):
        # Only correct for a clean coverage (no overlaps, matching edges); on anything else GEOS
        # raises or returns an invalid or too small result, and the general union takes over.
        try:
            merged = shapely.coverage_union_all(geoms)
        except shapely.errors.GEOSException:
            merged = None
        total = float(shapely.area(geoms).sum())
        if merged is not None and merged.is_valid and abs(merged.area - total) <= 1e-9 * max(total, 1.0):
            return merged
    return shapely.union_all(geoms)


def aggregate_boundaries(gdf: gpd.GeoDataFrame, mapping: Mapping[str, str] | pd.Series,
                         names: Mapping[str, str] | None = None) -> gpd.GeoDataFrame:
    """Dissolve fine units into reporting areas.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Fine units as returned by :func:`read_boundaries` (``district_id``, ``geometry``).
    mapping : mapping or pandas.Series
        Fine ``district_id`` → area id (a Series: index → values). Every fine unit must be
        mapped; entries for ids not in ``gdf`` are ignored.
    names : mapping, optional
        Area id → area name; areas without a name are named by their id.

    Returns
    -------
    geopandas.GeoDataFrame
        ``district_id`` (area id), ``district_name`` and ``geometry`` (valid Polygon or
        MultiPolygon, the union of the area's units) in the CRS of ``gdf``, sorted by id;
        ``attrs`` carries ``source`` and ``repairs`` of ``gdf``.

    Raises
    ------
    InputError
        If ``gdf`` lacks the columns or rows, or some fine units are not mapped (listed, with
        the closest mapping keys as suggestions).
    """
    source = gdf.attrs.get("source")
    if "district_id" not in gdf or not isinstance(gdf, gpd.GeoDataFrame) or len(gdf) == 0:
        raise InputError("no boundaries to aggregate (need a GeoDataFrame with 'district_id' and geometry)",
                         source, "read them with read_boundaries first")
    lookup = _mapping_dict(mapping)
    fine_ids = [str(i) for i in gdf["district_id"]]
    unmapped = [i for i in fine_ids if lookup.get(i) is None]
    if unmapped:
        shown = []
        for key in unmapped[:10]:
            close = suggestions(key, [k for k, v in lookup.items() if v is not None])
            hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            shown.append(repr(key) + hint)
        more = f" and {len(unmapped) - 10} more" if len(unmapped) > 10 else ""
        raise InputError(f"{len(unmapped)} district(s) not assigned to an area: {', '.join(shown)}{more}",
                         source, "add every district to the mapping from districts to areas")
    areas = np.asarray([lookup[i] for i in fine_ids], dtype=object)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    area_ids = sorted(set(areas))
    merged = [_union(geoms[areas == a]) for a in area_ids]
    merged = [g if g.is_valid else _polygonal(shapely.make_valid(g)) for g in merged]
    names = {str(k): str(v) for k, v in (names or {}).items()}
    out = gpd.GeoDataFrame({"district_id": area_ids, "district_name": [names.get(a, a) for a in area_ids]},
                           geometry=merged, crs=gdf.crs)
    out.attrs["source"] = source
    out.attrs["repairs"] = list(gdf.attrs.get("repairs", []))
    return out
