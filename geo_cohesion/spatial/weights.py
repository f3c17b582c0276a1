"""Spatial weights: queen or rook contiguity from libpysal, islands reported and attached to
their nearest neighbour.

libpysal's contiguity needs shared vertices. Real boundary files often have none where districts
meet: polygons simplified one by one (Rostock's Ortsteile overlap their neighbours by metres),
digitised separately (gaps of centimetres), or a vertex of one district lying on an edge of the
other. Such neighbours would become islands, or silently lose a neighbour. Districts whose
boundaries come within :data:`CONTIGUITY_TOLERANCE_M` are therefore neighbours too (rook: along
more than :data:`ROOK_MIN_SHARED_M` of boundary); :attr:`SpatialWeights.gap_neighbours` lists the
pairs found this way."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import shapely
from libpysal import weights as lpw

from geo_cohesion.errors import InputError
from geo_cohesion.settings import CONTIGUITIES


@dataclass
class SpatialWeights:
    """Row-standardisable contiguity weights with what was done to islands.

    Attributes
    ----------
    w : libpysal.weights.W
        Weights keyed by district id.
    ids : list of str
        District ids in the order of the values passed to the statistics.
    kind : str
        ``"queen"`` or ``"rook"``.
    islands : list of str
        Districts that had no contiguous neighbour.
    fallback : str
        What was done with islands (``"nearest neighbour attached"`` or ``"none"``).
    gap_neighbours : list of (str, str)
        Neighbours without a shared vertex (across a gap or an overlap of at most
        :data:`CONTIGUITY_TOLERANCE_M`), added to libpysal's contiguity.
    """

    w: lpw.W
    ids: list[str]
    kind: str
    islands: list[str] = field(default_factory=list)
    fallback: str = "none"
    gap_neighbours: list[tuple[str, str]] = field(default_factory=list)


#: Districts whose boundaries come this close (metres; boundaries are in a metric CRS) are neighbours.
CONTIGUITY_TOLERANCE_M = 1.0
#: Rook neighbours found within the tolerance must share more than this length of boundary (metres),
#: so that districts meeting at a corner stay queen-only neighbours.
ROOK_MIN_SHARED_M = 10.0


#: Passed to every libpysal ``W`` we build: libpysal warns about disconnected components and
#: *prints* "is an island" lines when row-standardising. Islands are reported in our results
#: (``SpatialWeights.islands``, the ``islands`` column and a map note) instead. This switches off
#: only those libpysal messages; every other warning stays visible.
_SILENT = {"silence_warnings": True}


def contiguity_weights(boundaries: gpd.GeoDataFrame, kind: str = "queen",
                       attach_islands: bool = True) -> SpatialWeights:
    """Queen or rook contiguity weights from district polygons.

    Parameters
    ----------
    boundaries : GeoDataFrame
        ``district_id`` and polygon geometry (metric CRS).
    kind : {"queen", "rook"}
    attach_islands : bool
        Give every island its nearest neighbour (by centroid) as a neighbour, symmetrically
        (libpysal ``attach_islands``); otherwise islands keep no neighbours.

    Returns
    -------
    SpatialWeights
    """
    if kind not in CONTIGUITIES:
        raise InputError(f"unknown contiguity {kind!r}", hint="use 'queen' or 'rook'")
    if len(boundaries) < 2:
        raise InputError("spatial statistics need at least two districts")
    ids = boundaries["district_id"].astype(str).tolist()
    frame = boundaries.reset_index(drop=True)
    builder = lpw.Queen if kind == "queen" else lpw.Rook
    w = builder.from_dataframe(frame, ids=ids, use_index=False, **_SILENT)
    w, gap_neighbours = _with_near_neighbours(w, frame, ids, kind)
    islands = [str(i) for i in w.islands]
    fallback = "none"
    if islands and attach_islands:
        centroids = frame.geometry.centroid
        points = gpd.GeoDataFrame(geometry=centroids, crs=frame.crs)
        knn = lpw.KNN.from_dataframe(points, k=1, ids=ids, use_index=False, **_SILENT)
        w = lpw.attach_islands(w, knn, **_SILENT)
        fallback = "nearest neighbour attached"
    w.transform = "r"
    return SpatialWeights(w, ids, kind, islands, fallback, gap_neighbours)


def _with_near_neighbours(w: lpw.W, frame: gpd.GeoDataFrame, ids: list[str], kind: str
                          ) -> tuple[lpw.W, list[tuple[str, str]]]:
    """``w`` plus the districts within :data:`CONTIGUITY_TOLERANCE_M` that share no vertex (measured
    in metres: boundaries in degrees are projected to their UTM zone for it)."""
    if frame.crs is not None and not frame.crs.is_projected:
        frame = frame.to_crs(frame.estimate_utm_crs())
    geoms = frame.geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=CONTIGUITY_TOLERANCE_M)
    neighbours = {key: set(values) for key, values in w.neighbors.items()}
    added = []
    for a, b in sorted({(int(i), int(j)) for i, j in zip(left, right) if i < j}):
        if ids[b] in neighbours[ids[a]]:
            continue
        if kind == "rook":
            shared = geoms[a].boundary.intersection(geoms[b].buffer(CONTIGUITY_TOLERANCE_M)).length
            if shared <= ROOK_MIN_SHARED_M:
                continue
        neighbours[ids[a]].add(ids[b])
        neighbours[ids[b]].add(ids[a])
        added.append((ids[a], ids[b]))
    if not added:
        return w, []
    return lpw.W({key: sorted(neighbours[key]) for key in ids}, id_order=ids, **_SILENT), added


def _subset(sw: SpatialWeights, keep: Sequence[str]) -> SpatialWeights:
    """Weights restricted to ``keep`` (districts with a value), islands re-attached if needed."""
    wanted = set(keep)
    keep = [i for i in sw.ids if i in wanted]
    if len(keep) == len(sw.ids):
        return sw
    sub = lpw.w_subset(sw.w, keep, **_SILENT)
    sub.transform = "r"
    extra = [str(i) for i in sub.islands if str(i) not in sw.islands]
    return SpatialWeights(sub, keep, sw.kind, sw.islands + extra, sw.fallback, sw.gap_neighbours)

