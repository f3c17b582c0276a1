"""Regions: dissolve district boundaries into groups (Sozialräume, Stadtbezirke), and merge
districts with too few respondents into contiguous reporting areas (max-p regions, PySAL spopt)."""
from __future__ import annotations

import contextlib
import inspect
import zlib
from collections.abc import Iterator, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_cohesion.errors import InputError
from geo_cohesion.io.boundaries import _polygonal, _to_text
from geo_cohesion.keys import suggestions
from geo_cohesion.spatial.weights import _SILENT, CONTIGUITIES, contiguity_weights


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


#: Partition label of districts that are in no user group (merged among themselves).
NO_GROUP = "(ohne Gruppe)"
#: Merged areas with more members than this are named "A + B + C + k weitere".
MAX_NAMES_IN_AREA_NAME = 3
#: Iterations of spopt's max-p heuristic: construction tries (spopt's default; the most areas win) and
#: simulated-annealing runs per best solution (spopt: 10). Annealing only makes areas more compact and
#: runs for every construction that reaches the most areas (in a city of 10-20 districts, most of the
#: 99): one run each takes a tenth of the time, and on Berlin's Planungsräume the areas' spread was
#: within 3 % of ten runs.
MAXP_CONSTRUCTION_ITERATIONS = 99
MAXP_SA_ITERATIONS = 1


def _respondent_counts(respondents: Mapping[str, float] | pd.Series, ids: list[str], source: str | None) -> np.ndarray:
    """Respondents per district aligned to ``ids`` (0 where a district has none)."""
    counts = pd.Series(dict(respondents.items()) if not isinstance(respondents, pd.Series) else respondents,
                       dtype=object)
    counts.index = [_to_text(k) or "" for k in counts.index]
    if counts.index.duplicated().any():
        twice = sorted(set(counts.index[counts.index.duplicated()]))
        raise InputError(f"respondent counts given twice for district(s) {', '.join(map(repr, twice[:10]))}",
                         source, "give one count per district")
    unknown = [k for k in counts.index if k not in set(ids)]
    if unknown:
        shown = []
        for key in unknown[:10]:
            close = suggestions(key, ids)
            shown.append(repr(key) + (f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""))
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise InputError(f"respondents in {len(unknown)} district(s) that are not in the boundaries: "
                         f"{', '.join(shown)}{more}", source,
                         "use the district ids of the boundaries for the respondent counts")
    values = pd.to_numeric(counts, errors="coerce").astype(float)
    bad = values[~np.isfinite(values.to_numpy()) | (values.to_numpy() < 0)]
    if len(bad):
        raise InputError(f"respondent counts must be numbers >= 0; district {bad.index[0]!r} has "
                         f"{counts[bad.index[0]]!r}", source, "count the respondents of every district (0 if none)")
    return values.reindex(ids).fillna(0.0).to_numpy(dtype=float)


def _partitions(groups: Mapping[str, str] | pd.Series | None, ids: list[str], source: str | None) -> list[str]:
    """Group label of every district (:data:`NO_GROUP` where unmapped); ``""`` for all without groups."""
    if groups is None:
        return [""] * len(ids)
    lookup = _mapping_dict(groups)
    unknown = [k for k in lookup if k not in set(ids)]
    if unknown:
        raise InputError(f"group member(s) {', '.join(map(repr, sorted(unknown)[:10]))} are not districts "
                         "of the boundaries", source, "list district ids as they appear in the boundaries")
    return [lookup.get(i) or NO_GROUP for i in ids]


def _components(neighbours: dict[int, list[int]], n: int) -> np.ndarray:
    """Connected component label of every unit (labels numbered by first unit)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rows = [i for i, js in neighbours.items() for _ in js]
    cols = [j for js in neighbours.values() for j in js]
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _connect_small_components(neighbours: dict[int, list[int]], centroids: np.ndarray, counts: np.ndarray,
                              min_n: float) -> list[tuple[int, int]]:
    """Link every component with fewer than ``min_n`` respondents to the nearest district outside it.

    Islands (single districts) were already attached by :func:`contiguity_weights`; this handles
    groups of districts cut off from the rest (e.g. two neighbouring districts across a river, or
    parts of a user group that do not touch). Adds symmetric links in place; returns them.
    """
    added: list[tuple[int, int]] = []
    while True:
        labels = _components(neighbours, len(counts))
        sums = np.bincount(labels, weights=counts)
        small = [c for c in range(len(sums)) if sums[c] < min_n]
        if not small or len(sums) == 1:
            return added
        inside = labels == small[0]
        inner, outer = np.flatnonzero(inside), np.flatnonzero(~inside)
        dist = np.hypot(*(centroids[inner][:, None, :] - centroids[outer][None, :, :]).transpose(2, 0, 1))
        ia, ib = np.unravel_index(np.argmin(dist), dist.shape)
        a, b = int(inner[ia]), int(outer[ib])
        neighbours[a] = sorted({*neighbours[a], b})
        neighbours[b] = sorted({*neighbours[b], a})
        added.append((a, b))


def _is_connected(members: list[int], neighbours: dict[int, list[int]]) -> bool:
    """Whether ``members`` form one connected piece of the neighbour graph."""
    if len(members) <= 1:
        return True
    wanted, seen, todo = set(members), {members[0]}, [members[0]]
    while todo:
        for j in neighbours[todo.pop()]:
            if j in wanted and j not in seen:
                seen.add(j)
                todo.append(j)
    return len(seen) == len(wanted)


def _pieces(members: list[int], neighbours: dict[int, list[int]]) -> list[list[int]]:
    """Connected pieces of ``members`` in the neighbour graph, each sorted, in order of first member."""
    left, pieces = set(members), []
    for start in sorted(members):
        if start not in left:
            continue
        piece, todo = {start}, [start]
        left.discard(start)
        while todo:
            for j in neighbours[todo.pop()]:
                if j in left:
                    left.discard(j)
                    piece.add(j)
                    todo.append(j)
        pieces.append(sorted(piece))
    return pieces


def _keep_large_alone(regions: list[list[int]], neighbours: dict[int, list[int]], counts: np.ndarray,
                      min_n: float, centroids: np.ndarray) -> list[list[int]]:
    """Give districts with ``min_n`` or more respondents their own area wherever possible.

    Max-p maximises the number of areas heuristically; a district that could be reported alone is
    often absorbed by a growing neighbour. For each such district in a merged area, the rest of
    the area falls into connected pieces: a piece with ``min_n`` respondents becomes an area of
    its own, a smaller one joins the nearest adjacent merged area (never a district that stands
    alone). This is done only when every piece finds a place. Every area stays connected and at
    ``min_n``, the number of areas never drops, and each step frees one more large district, so
    the loop ends.
    """
    regions = [sorted(r) for r in regions]
    changed = True
    while changed:
        changed = False
        region_of = {i: k for k, r in enumerate(regions) for i in r}
        for k, region in enumerate(regions):
            large = sorted((i for i in region if counts[i] >= min_n), key=lambda i: (-counts[i], i))
            for d in large if len(region) > 1 else []:
                plan: list[tuple[list[int], int | None]] = []
                for piece in _pieces([i for i in region if i != d], neighbours):
                    if counts[piece].sum() >= min_n:
                        plan.append((piece, None))
                        continue
                    receivers = sorted({region_of[j] for i in piece for j in neighbours[i]} - {k})
                    receivers = [r for r in receivers if len(regions[r]) > 1]
                    if not receivers:
                        break
                    gap = [np.min(np.hypot(*(centroids[piece][:, None, :] - centroids[regions[r]][None, :, :])
                                           .transpose(2, 0, 1))) for r in receivers]
                    plan.append((piece, receivers[int(np.argmin(gap))]))
                else:
                    regions[k] = [d]
                    for piece, receiver in plan:
                        if receiver is None:
                            regions.append(piece)
                        else:
                            regions[receiver] = sorted(regions[receiver] + piece)
                    changed = True
                    break
            if changed:
                break
    return sorted(regions)


def _pick_move_area(labels, region_lists, region_spatial_attrs, threshold_array, weight, distance_matrix,
                    threshold) -> list:
    """Drop-in for spopt's ``maxp._pick_move_area`` with the upstream fix of its endless loop.

    spopt 0.7.0's simulated annealing loops forever when every area that could leave its region
    has no neighbour in another region (e.g. a small district whose only neighbour is large).
    Upstream fixed this after 0.7.0 (pysal/spopt#506: a candidate needs a neighbour outside its
    region; #512: a donor may keep exactly the threshold). This is that fixed function, with
    the cheap neighbour test first and the connectivity test on the neighbour lists instead of
    sparse slices: the same candidates in the same order, many times faster.
    """
    potential = []
    for k, total in region_spatial_attrs.items():
        members = np.array(region_lists[k])
        lost = total - threshold_array[members]
        for pos in np.flatnonzero(lost >= threshold):
            left = np.delete(members, pos).tolist()
            if set(weight.neighbors[members[pos]]) - set(left) and _is_connected(left, weight.neighbors):
                potential.append(members[pos])
    return potential


@contextlib.contextmanager
def _fixed_spopt_maxp() -> Iterator[None]:
    """Use :func:`_pick_move_area` inside spopt's max-p for the duration of the block."""
    from spopt.region import maxp as spopt_maxp

    original = getattr(spopt_maxp, "_pick_move_area", None)
    expected = list(inspect.signature(_pick_move_area).parameters)
    if original is None or list(inspect.signature(original).parameters) != expected:
        yield  # a spopt whose internals changed: use it as it is
        return
    spopt_maxp._pick_move_area = _pick_move_area
    try:
        yield
    finally:
        spopt_maxp._pick_move_area = original


def _max_p(neighbours: dict[int, list[int]], centroids: np.ndarray, counts: np.ndarray, min_n: float,
           seed: list[int]) -> list[list[int]]:
    """spopt's max-p heuristic on a connected-enough graph, seeded; regions as lists of positions.

    spopt draws from numpy's global generator; it is seeded here and restored afterwards, so the
    same inputs and seed give the same regions. The attributes whose within-area spread the
    heuristic minimises are the district centroids (km): areas come out compact. Survey values
    are deliberately not used, so the areas do not depend on the outcomes they report.
    """
    from libpysal import weights as lpw
    from spopt.region.maxp import MaxPHeuristic

    n = len(counts)
    frame = pd.DataFrame({"x_km": centroids[:, 0] / 1000.0, "y_km": centroids[:, 1] / 1000.0, "n": counts})
    state = np.random.get_state()
    try:
        w = lpw.W({i: list(neighbours[i]) for i in range(n)}, id_order=list(range(n)), **_SILENT)
        np.random.seed(seed)
        model = MaxPHeuristic(frame, w, ["x_km", "y_km"], "n", min_n, top_n=2,
                              max_iterations_construction=MAXP_CONSTRUCTION_ITERATIONS,
                              max_iterations_sa=MAXP_SA_ITERATIONS, policy="keep")
        with _fixed_spopt_maxp():
            model.solve()
    finally:
        np.random.set_state(state)
    labels = np.asarray(model.labels_)
    return sorted(sorted(np.flatnonzero(labels == lab).tolist()) for lab in np.unique(labels))


def _regionalise(gdf: gpd.GeoDataFrame, counts: np.ndarray, min_n: float, kind: str, seed: list[int],
                 where: str) -> tuple[list[list[int]], list[str]]:
    """Max-p regions of one partition (the city or one group); positions within ``gdf``."""
    n = len(gdf)
    names = gdf["district_name"].tolist()
    total = float(counts.sum())
    if total < min_n:
        what = f"alle {n} Bezirke bilden ein Gebiet" if n > 1 else "das Gebiet bleibt unter der Mindestzahl"
        return [list(range(n))], [f"{where} hat nur {total:g} Befragte (weniger als {min_n:g}): {what}"]
    if n == 1 or bool((counts >= min_n).all()):
        return [[i] for i in range(n)], []
    sw = contiguity_weights(gdf, kind, attach_islands=True)
    position = {d: i for i, d in enumerate(sw.ids)}
    neighbours = {i: sorted(position[str(j)] for j in sw.w.neighbors[d]) for i, d in enumerate(sw.ids)}
    notes = []
    if sw.islands:
        notes.append(f"{where}: Bezirke ohne Nachbarn an den nächsten Bezirk angehängt: "
                     f"{', '.join(names[position[i]] for i in sw.islands)}")
    centroids = np.column_stack([gdf.geometry.centroid.x.to_numpy(), gdf.geometry.centroid.y.to_numpy()])
    links = _connect_small_components(neighbours, centroids, counts, min_n)
    if links:
        notes.append(f"{where}: nicht zusammenhängende Teile über den nächsten Bezirk verbunden: "
                     f"{', '.join(f'{names[a]} – {names[b]}' for a, b in links)}")
    regions = _max_p(neighbours, centroids, counts, min_n, seed)
    return _keep_large_alone(regions, neighbours, counts, min_n, centroids), notes


def _area_name(names: list[str]) -> str:
    """Readable German name of an area: "A", "A + B", "A + B + C + 2 weitere"."""
    if len(names) <= MAX_NAMES_IN_AREA_NAME + 1:
        return " + ".join(names)
    return " + ".join(names[:MAX_NAMES_IN_AREA_NAME]) + f" + {len(names) - MAX_NAMES_IN_AREA_NAME} weitere"


def merge_small_districts(boundaries: gpd.GeoDataFrame, respondents: Mapping[str, float] | pd.Series,
                          min_n: int, *, groups: Mapping[str, str] | pd.Series | None = None, seed: int = 0,
                          contiguity: str = "queen") -> pd.DataFrame:
    """Merge districts with too few respondents into contiguous reporting areas (max-p regions).

    Every area reaches ``min_n`` respondents, areas are contiguous (queen or rook), and the
    number of areas is maximised with PySAL spopt's max-p heuristic (Wei, Rey & Knaap 2020).
    Max-p alone often lets a growing area swallow a district that could be reported on its own;
    a final pass frees every district with ``min_n`` respondents wherever the rest of its area
    can stand alone or join a neighbouring merged area. Such a district then stays in a merged
    area only where a small neighbour has no other way to reach ``min_n`` (e.g. a small
    district whose only neighbour is large). On Berlin's 542 Planungsräume with 10,000
    simulated respondents, all 66 districts with 30 or more stay alone (max-p alone: 6), and
    there are more areas (236 instead of 230; ``benchmarks/bench_merge.py``).

    Parameters
    ----------
    boundaries : geopandas.GeoDataFrame
        ``district_id``, optionally ``district_name``, and polygons in a metric CRS (as returned
        by :func:`~geo_cohesion.io.boundaries.read_boundaries`).
    respondents : mapping or pandas.Series
        Respondents per district id (an index → count Series, e.g. ``value_counts()``).
        Districts missing here have no respondents and are merged too.
    min_n : int
        Minimum number of respondents per area (``estimates.merge_min_n``), at least 1.
    groups : mapping or pandas.Series, optional
        District id → group (e.g. Sozialraum). No area crosses a group boundary; districts in no
        group are merged among themselves (group ``"(ohne Gruppe)"``).
    seed : int
        Seed of the heuristic. The same boundaries, counts, groups and seed give the same areas,
        whatever the row order of the inputs.
    contiguity : {"queen", "rook"}
        Which districts count as neighbours. Districts without a neighbour (islands) are
        attached to their nearest district by centroid, as in
        :func:`~geo_cohesion.spatial.weights.contiguity_weights`; parts of a group that do not
        touch and have fewer than ``min_n`` respondents are linked to the nearest district of
        the rest of the group.

    Returns
    -------
    pandas.DataFrame
        One row per district in the order of ``boundaries``: ``district_id, district_name,
        group, area_id, area_name, respondents, area_respondents, area_size`` (counts are
        integers when all given counts are whole numbers). ``area_id`` is
        the district id for a district that stays alone and the ``"+"``-joined member ids
        (sorted) for a merged area, so the same set of districts always has the same id;
        ``area_name`` is the district name or ``"A + B"`` (more than four members:
        ``"A + B + C + 2 weitere"``). ``attrs["notes"]`` lists in German what was done beyond
        plain merging: a city or group with fewer than ``min_n`` respondents in total (it
        becomes one area and stays below ``min_n``), islands attached, parts linked.

    Raises
    ------
    InputError
        Boundaries without ``district_id`` or with duplicate ids, ``min_n`` below 1, negative
        or non-numeric counts, counts or group members for districts that are not in the
        boundaries, an unknown contiguity.

    Notes
    -----
    The heuristic minimises the spread of district centroids within areas, so areas are
    compact; survey values are not used, so the areas do not depend on the outcomes reported
    for them. spopt draws from numpy's global generator: it is seeded per group from ``seed``
    and the group's name, and restored afterwards. spopt 0.7.0's annealing step can loop
    forever; it runs with the upstream fix (see :func:`_pick_move_area`).
    """
    source = boundaries.attrs.get("source")
    if not isinstance(boundaries, gpd.GeoDataFrame) or "district_id" not in boundaries or len(boundaries) == 0:
        raise InputError("no boundaries to merge (need a GeoDataFrame with 'district_id' and geometry)", source,
                         "read them with read_boundaries first")
    if isinstance(min_n, bool) or not isinstance(min_n, (int, np.integer)) or min_n < 1:
        raise InputError(f"the minimum number of respondents per area must be a whole number >= 1, got {min_n!r}",
                         hint="e.g. 'merge_min_n: 30' under 'estimates'")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise InputError(f"seed must be a whole number between 0 and 2**32 - 1, got {seed!r}")
    if contiguity not in CONTIGUITIES:
        raise InputError(f"unknown contiguity {contiguity!r}", hint="use 'queen' or 'rook'")
    ids = [_to_text(i) or "" for i in boundaries["district_id"]]
    if len(set(ids)) != len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise InputError(f"district id(s) {', '.join(map(repr, twice[:10]))} appear more than once in the boundaries",
                         source, "give every district one row (dissolve duplicates first)")
    names = ([_to_text(v) or i for v, i in zip(boundaries["district_name"], ids)]
             if "district_name" in boundaries else list(ids))
    counts = _respondent_counts(respondents, ids, source)
    partition = _partitions(groups, ids, source)
    frame = gpd.GeoDataFrame({"district_id": ids, "district_name": names}, geometry=boundaries.geometry.values,
                             crs=boundaries.crs)
    area_of: dict[int, list[int]] = {}
    notes: list[str] = []
    for label in sorted(set(partition)):
        # sorted by id: the result does not depend on the row order of the boundaries
        members = sorted((i for i in range(len(ids)) if partition[i] == label), key=lambda i: ids[i])
        where = ("Die Stadt" if groups is None else "Die Bezirke ohne Gruppe" if label == NO_GROUP
                 else f"Gruppe '{label}'")
        sub = frame.iloc[members].reset_index(drop=True)
        part_seed = [int(seed), zlib.crc32(label.encode("utf-8"))]
        regions, part_notes = _regionalise(sub, counts[members], float(min_n), contiguity, part_seed, where)
        notes += part_notes
        for region in regions:
            area = sorted((members[i] for i in region), key=lambda i: ids[i])
            for i in area:
                area_of[i] = area
    rows = []
    for i in range(len(ids)):
        area = area_of[i]
        rows.append({"district_id": ids[i], "district_name": names[i],
                     "group": partition[i] if groups is not None else None,
                     "area_id": "+".join(ids[j] for j in area), "area_name": _area_name([names[j] for j in area]),
                     "respondents": counts[i], "area_respondents": float(counts[area].sum()), "area_size": len(area)})
    out = pd.DataFrame(rows)
    if np.all(counts == np.round(counts)):  # whole respondents (not weighted counts): write them as such
        out[["respondents", "area_respondents"]] = out[["respondents", "area_respondents"]].astype("int64")
    out.attrs["notes"] = notes
    return out
