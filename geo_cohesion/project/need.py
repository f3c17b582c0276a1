"""The need index of a city as the project configures it, with dynamics and priority areas.

* **Which indicators.** ``need.indicators`` names structural columns and score slugs with a
  positive weight; the *direction* comes from the indicator registry (``structural.indicators``
  or the known catalogue; Radar scores: higher is better), so a weight never has to carry a sign.
  Without the setting the index is derived from the registry: every indicator with a direction
  that is neither the population nor context, plus the cohesion index.
* **Status.** :func:`geo_cohesion.report.need.default_need` (MSS method, class stability by
  simulation of the survey components) at ``need.class_breaks``; a weight sensitivity analysis
  (each weight x0.5 .. x1.5) flags districts whose class depends on the weighting.
* **Dynamics.** With an earlier wave the same index is built from the changes of its indicators
  (scores: the design-based change to the latest earlier wave; structural indicators: the change
  since that wave's structural table) at ``need.dynamics_breaks`` with the MSS codes 1 (positive),
  3 (stable), 5 (negative); ``status_dynamics`` is the MSS cell, e.g. ``"3/5"``.
* **Priority areas.** Districts in the classes (or status/dynamics cells) named in
  ``need.priority`` (default: the classes above +1 SD), grouped into contiguous clusters
  (:func:`priority_areas`, dissolved with :func:`geo_cohesion.spatial.regions.aggregate_boundaries`).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from geo_cohesion.errors import InputError
from geo_cohesion.radar.codebook import load_radar
from geo_cohesion.radar.indicators import IndicatorRegistry
from geo_cohesion.report.need import default_need
from geo_cohesion.settings import NeedSpec
from geo_cohesion.stats.change import latest_wave_changes
from geo_cohesion.stats.need import MSS_DYNAMICS_LABELS, need_index, status_dynamics, weight_sensitivity

#: Columns of ``gis/priority_<city>.gpkg`` / ``.geojson`` besides the geometry.
PRIORITY_COLUMNS = ["area_id", "area_name", "members", "n_districts", "need_score_max", "need_class_max",
                    "class_stability_min"]
#: The sign of a weight by the registry's direction.
SIGN = {"higher_is_worse": 1.0, "higher_is_better": -1.0}


def need_weights(spec: NeedSpec, registry: IndicatorRegistry | None, variables: Sequence[str] | None = None
                 ) -> dict[str, float]:
    """Indicator -> signed weight (+: more is more need) of a city's need index.

    Parameters
    ----------
    spec : NeedSpec
    registry : IndicatorRegistry, optional
        The city's structural indicators (label, direction, role).
    variables : sequence of str, optional
        Score slugs (higher is better); the Radar variables by default.

    Raises
    ------
    InputError
        An indicator that is neither a structural indicator nor a score, or one whose direction
        is neutral (naming the fix: declare its direction under ``structural.indicators``).
    """
    variables = list(load_radar().variables if variables is None else variables)
    indicators = list(registry) if registry is not None else []
    if spec.indicators is None:
        chosen = {i.column: 1.0 for i in indicators if i.role not in ("population", "context") and i.direction in SIGN}
        return {**{c: SIGN[registry[c].direction] for c in chosen}, "index": -1.0}  # type: ignore[index]
    weights = {}
    for name, weight in spec.indicators.items():
        if name in variables:
            weights[name] = -float(weight)
            continue
        found = registry.get(name) if registry is not None else None
        if found is None:
            available = ", ".join([*(i.column for i in indicators), *variables])
            raise InputError(f"need.indicators: unknown indicator {name!r}",
                             hint=f"use a structural indicator column or a score slug: {available}")
        if found.direction not in SIGN:
            raise InputError(f"need.indicators: {name!r} has no direction (neutral), so it cannot add need",
                             hint=f"declare 'direction: higher_is_worse' or 'higher_is_better' for {name} under "
                                  "structural.indicators, or leave it out of the need index")
        weights[name] = SIGN[found.direction] * float(weight)
    return weights


def priority_classes(spec: NeedSpec) -> list[str]:
    """Need classes (``"4"``) and status/dynamics cells (``"3/5"``) of priority areas."""
    if spec.priority is not None:
        return list(spec.priority)
    breaks = list(spec.class_breaks)
    high = [str(k + 2) for k, b in enumerate(breaks) if b >= 1.0]
    return high or [str(len(breaks) + 1)]


def dynamics_table(weights: dict[str, float], change: pd.DataFrame | None, structural: pd.DataFrame | None,
                   structural_before: pd.DataFrame | None, breaks: Sequence[float], wave: str | None = None
                   ) -> pd.DataFrame | None:
    """The dynamics index: :func:`need_index` of the indicators' changes (MSS codes 1/3/5).

    Returns ``district_id, dynamics_score, dynamics_class`` (None when no indicator has a change
    with variation); ``.attrs["indicators"]`` the weights used.
    """
    if change is None or change.empty:
        return None
    rows = latest_wave_changes(change) if wave is None else change[change["wave_from"].astype(str) == wave]
    wave = wave or str(rows["wave_from"].iloc[-1])
    table = pd.DataFrame({"district_id": pd.unique(rows["district_id"].astype(str))})
    used = {}
    for name, weight in weights.items():
        values = rows[rows["variable"] == name]
        if len(values):
            table[name] = table["district_id"].map(values.set_index(values["district_id"].astype(str))["change"])
        elif structural is not None and structural_before is not None and name in structural_before.columns:
            now = pd.Series(structural[name].to_numpy(float), index=structural["district_id"].astype(str))
            before = pd.Series(structural_before[name].to_numpy(float),
                               index=structural_before["district_id"].astype(str))
            table[name] = table["district_id"].map(now - before.reindex(now.index))
        else:
            continue
        if table[name].nunique() > 1:
            used[name] = weight
    if not used or table[list(used)].notna().all(axis=1).sum() < 3:
        return None
    index = need_index(table, used, id_column="district_id", class_breaks=breaks, class_labels=MSS_DYNAMICS_LABELS)
    out = index.rename(columns={"need_score": "dynamics_score", "need_class": "dynamics_class"})
    out = out[["district_id", "dynamics_score", "dynamics_class"]]
    out.attrs.update({"indicators": used, "wave_from": wave})
    return out


def city_need(district_estimates: pd.DataFrame, structural: pd.DataFrame | None, registry: IndicatorRegistry | None,
              spec: NeedSpec, seed: int, change: pd.DataFrame | None = None,
              structural_before: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame | None:
    """Need index, class stability, weight sensitivity, dynamics and priority flag of one city.

    Parameters
    ----------
    district_estimates : DataFrame
        The published district estimates (``district_id, variable, estimate, se, suppressed``).
    structural : DataFrame, optional
        ``district_id`` plus the indicator columns.
    registry : IndicatorRegistry, optional
    spec : NeedSpec
    seed : int
    change : DataFrame, optional
        :func:`geo_cohesion.project.waves.city_changes` output.
    structural_before : dict, optional
        Wave label -> that year's structural table.

    Returns
    -------
    DataFrame or None
        ``district_id, need_score, need_class, class_stability`` and the further columns of
        :func:`default_need`, ``flag_weighting`` (the class changes for some weight within x0.5 ..
        x1.5), with a change table ``dynamics_score, dynamics_class, status_dynamics``, and
        ``priority``. None when the data carry no index (fewer than 2 indicators or 4 districts).
    """
    weights = need_weights(spec, registry)
    if structural is None:
        structural = pd.DataFrame({"district_id": pd.unique(district_estimates["district_id"].astype(str))})
    need = default_need(district_estimates, structural, seed=seed, indicators=weights, draws=spec.draws,
                        class_breaks=spec.class_breaks, strict=spec.indicators is not None)
    if need is None:
        return None
    used = need.attrs["indicators"]
    values = need[["district_id", *(f"value_{c}" for c in used)]].rename(columns=lambda c: c.removeprefix("value_"))
    try:
        sensitivity = weight_sensitivity(values, used, id_column="district_id", class_breaks=spec.class_breaks,
                                         seed=seed)
        need["flag_weighting"] = sensitivity["flag_class_change"].to_numpy()
    except InputError:
        need["flag_weighting"] = pd.array([pd.NA] * len(need), dtype="boolean")
    before = (structural_before or {}).get(str(change["wave_from"].iloc[-1])) if change is not None and len(change) \
        else None
    dynamics = dynamics_table(used, change, structural, before, spec.dynamics_breaks)
    attrs = dict(need.attrs)
    if dynamics is not None:
        need = need.merge(dynamics, on="district_id", how="left")
        need["status_dynamics"] = status_dynamics(need["need_class"], need["dynamics_class"]).to_numpy()
        attrs.update({"dynamics_indicators": dynamics.attrs["indicators"], "wave_from": dynamics.attrs["wave_from"]})
    wanted = priority_classes(spec)
    cells = need["need_class"].astype("string").fillna("")
    hit = cells.isin(wanted)
    if "status_dynamics" in need.columns:
        hit |= need["status_dynamics"].astype("string").fillna("").isin(wanted)
    need["priority"] = hit.to_numpy(bool)
    need.attrs = {**attrs, "priority": wanted, "class_breaks": list(spec.class_breaks)}
    return need


def check_need(spec: NeedSpec, registry: IndicatorRegistry | None, structural: pd.DataFrame | None,
               structural_id: str | None, districts: Sequence[str]) -> None:
    """Compute the need index of the user's ``need.indicators`` as :func:`city_need` does, with stand-in
    score values (distinct per district), so ``check`` reports what ``run`` would (for ``geo-cohesion check``)."""
    if spec.indicators is None:
        return
    weights = need_weights(spec, registry)
    if structural is not None and structural_id is not None:
        structural = structural.rename(columns={structural_id: "district_id"})
    else:
        structural = pd.DataFrame({"district_id": list(districts)})
    ids = structural["district_id"].astype(str)
    scores = [c for c in weights if c in load_radar().variables]
    stand_in = pd.DataFrame([{"district_id": d, "variable": v, "estimate": float(k), "se": 1.0, "suppressed": False}
                             for k, d in enumerate(ids) for v in scores],
                            columns=["district_id", "variable", "estimate", "se", "suppressed"])
    default_need(stand_in, structural, indicators=weights, draws=100, class_breaks=spec.class_breaks, strict=True)


def priority_areas(need: pd.DataFrame, boundaries, contiguity: str = "queen"):
    """Contiguous clusters of priority districts with dissolved boundaries.

    Parameters
    ----------
    need : DataFrame
        :func:`city_need` output (``district_id``, ``priority``, ``need_score``, ``need_class``,
        ``class_stability``).
    boundaries : GeoDataFrame
        ``district_id, district_name, geometry``.
    contiguity : {"queen", "rook"}

    Returns
    -------
    (GeoDataFrame or None, Series)
        The areas (:data:`PRIORITY_COLUMNS` + geometry; None without priority districts) and
        district id -> area id (``P1``, ``P2``, ... by descending highest need score).
    """
    from geo_cohesion.spatial.regions import aggregate_boundaries
    from geo_cohesion.spatial.weights import contiguity_weights

    ids = need.loc[need["priority"].astype(bool), "district_id"].astype(str).tolist()
    chosen = boundaries[boundaries["district_id"].astype(str).isin(ids)].copy()
    if chosen.empty:
        return None, pd.Series(dtype="string")
    chosen["district_id"] = chosen["district_id"].astype(str)
    labels = _components(chosen, contiguity, contiguity_weights)
    score = need.set_index(need["district_id"].astype(str))["need_score"].astype(float)
    order = sorted(set(labels.values()), key=lambda g: (-max(score.get(d, np.nan) for d, k in labels.items()
                                                              if k == g), g))
    rename = {g: f"P{k + 1}" for k, g in enumerate(order)}
    mapping = pd.Series({d: rename[g] for d, g in labels.items()}, dtype="string")
    names = dict(zip(chosen["district_id"], chosen["district_name"].astype(str)))
    members = {a: sorted(mapping.index[mapping == a].tolist()) for a in rename.values()}
    areas = aggregate_boundaries(chosen[["district_id", "district_name", "geometry"]], mapping,
                                 names={a: ", ".join(names[d] for d in m) for a, m in members.items()})
    areas = areas.rename(columns={"district_id": "area_id", "district_name": "area_name"})
    rows = need.set_index(need["district_id"].astype(str))
    areas.insert(2, "members", areas["area_id"].map(lambda a: ";".join(members[a])))
    areas.insert(3, "n_districts", areas["area_id"].map(lambda a: len(members[a])).astype(int))
    for column, source, how in (("need_score_max", "need_score", "max"), ("need_class_max", "need_class", "max"),
                                ("class_stability_min", "class_stability", "min")):
        if source in rows.columns:
            values = pd.to_numeric(rows[source], errors="coerce")
            areas.insert(len(areas.columns) - 1, column,
                         areas["area_id"].map(lambda a, v=values, h=how: getattr(v.loc[members[a]], h)()))
    return areas, mapping


def _components(chosen, contiguity: str, contiguity_weights) -> dict[str, int]:
    """District id -> index of its contiguous cluster among the chosen districts (no islands attached)."""
    ids = chosen["district_id"].tolist()
    if len(ids) == 1:
        return {ids[0]: 0}
    weights = contiguity_weights(chosen.reset_index(drop=True), contiguity, attach_islands=False)
    neighbours = {str(k): [str(v) for v in vs] for k, vs in weights.w.neighbors.items()}
    labels: dict[str, int] = {}
    for start in ids:
        if start in labels:
            continue
        group, stack = len(set(labels.values())), [start]
        while stack:
            node = stack.pop()
            if node in labels:
                continue
            labels[node] = group
            stack.extend(n for n in neighbours.get(node, []) if n not in labels)
    return labels


def status_dynamics_matrix(need: pd.DataFrame) -> pd.DataFrame | None:
    """Districts per status (need) class x dynamics class: ``need_class, dynamics_1, dynamics_3, dynamics_5``."""
    if "dynamics_class" not in need.columns:
        return None
    classes = [int(c) for c in need.attrs.get("class_labels") or range(1, len(need.attrs["class_breaks"]) + 2)]
    rows = []
    for status in classes:
        row = {"need_class": status}
        for dynamics in MSS_DYNAMICS_LABELS:
            row[f"dynamics_{dynamics}"] = int(((need["need_class"] == status) & (need["dynamics_class"] == dynamics))
                                             .fillna(False).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def write_need_outputs(outputs: list, project, out_dir) -> list:
    """Write ``tables/change_<city>.csv``, ``tables/status_dynamics_<city>.csv`` and the priority
    areas ``gis/priority_<city>.gpkg`` / ``.geojson`` of every city (the need table itself is
    written with the exports). Returns the CSV paths (their German copies follow)."""
    from pathlib import Path

    from geo_cohesion.io.write import write_csv, write_geojson, write_gpkg
    from geo_cohesion.project.analysis import _rounded

    out_dir = Path(out_dir)
    tables = []
    for out in outputs:
        result = out.result
        city = result.city
        note = city.note or project.note
        if result.change is not None:
            tables.append(write_csv(_rounded(result.change, note), out_dir / "tables" / f"change_{city.slug}.csv"))
        matrix = status_dynamics_matrix(result.need) if result.need is not None else None
        if matrix is not None:
            tables.append(write_csv(matrix, out_dir / "tables" / f"status_dynamics_{city.slug}.csv"))
        if getattr(out, "priority", None) is not None:
            areas = _rounded(out.priority, note)
            write_gpkg(areas, out_dir / "gis" / f"priority_{city.slug}.gpkg", layer="priority_areas")
            write_geojson(areas, out_dir / "gis" / f"priority_{city.slug}.geojson")
    return tables
