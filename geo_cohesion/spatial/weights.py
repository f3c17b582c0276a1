"""Spatial weights: queen or rook contiguity from libpysal, islands reported and attached to
their nearest neighbour."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
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
    """

    w: lpw.W
    ids: list[str]
    kind: str
    islands: list[str] = field(default_factory=list)
    fallback: str = "none"


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
    islands = [str(i) for i in w.islands]
    fallback = "none"
    if islands and attach_islands:
        centroids = frame.geometry.centroid
        points = gpd.GeoDataFrame(geometry=centroids, crs=frame.crs)
        knn = lpw.KNN.from_dataframe(points, k=1, ids=ids, use_index=False, **_SILENT)
        w = lpw.attach_islands(w, knn, **_SILENT)
        fallback = "nearest neighbour attached"
    w.transform = "r"
    return SpatialWeights(w, ids, kind, islands, fallback)


def _subset(sw: SpatialWeights, keep: Sequence[str]) -> SpatialWeights:
    """Weights restricted to ``keep`` (districts with a value), islands re-attached if needed."""
    wanted = set(keep)
    keep = [i for i in sw.ids if i in wanted]
    if len(keep) == len(sw.ids):
        return sw
    sub = lpw.w_subset(sw.w, keep, **_SILENT)
    sub.transform = "r"
    extra = [str(i) for i in sub.islands if str(i) not in sw.islands]
    return SpatialWeights(sub, keep, sw.kind, sw.islands + extra, sw.fallback)

