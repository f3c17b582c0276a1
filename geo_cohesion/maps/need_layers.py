"""Map layers of the need index: need class (status), dynamics, status × dynamics, and changes.

The layers are categorical (:func:`geo_cohesion.maps.classify.categorical`) so that the HTML map
and the print maps draw the published classes, not a new classification of the scores. Their
value is the score in standard deviations (need, dynamics) or the change in points; the tooltip's
extra lines (:attr:`geo_cohesion.maps.layers.MapLayer.detail`) give the class, its stability under
the simulated sampling error, whether the class depends on the weighting, and the priority area.
Colours: the need classes use ColorBrewer OrRd (dark red = most need, as the structural layers);
dynamics blue (positive) / grey (stable) / red (negative).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from geo_cohesion.labels import label
from geo_cohesion.maps.classify import SEQUENTIAL, categorical, classify_values
from geo_cohesion.maps.layers import CityMap, MapLayer, _rank
from geo_cohesion.stats.change import latest_wave_changes

#: Colours of the MSS dynamics classes 1 (positive), 3 (stable), 5 (negative).
DYNAMICS_COLOURS = {1: "#4393c3", 3: "#e0e0e0", 5: "#d6604d"}


def _number(value: float, decimals: int = 1) -> str:
    return f"{value:.{decimals}f}".replace(".", ",").replace("-", "−")


def _class_ranges(breaks: list[float], lang: str) -> list[str]:
    """``["unter −1,0", "−1,0 bis unter 1,0", ...]`` for the classes cut at ``breaks``."""
    out = [label("need.below", lang, b=_number(breaks[0]))]
    out += [label("need.between", lang, a=_number(a), b=_number(b)) for a, b in zip(breaks, breaks[1:])]
    return out + [label("need.above", lang, a=_number(breaks[-1]))]


def _need_colours(n: int) -> list[str]:
    table = SEQUENTIAL["OrRd"]
    size = min((s for s in sorted(table) if s >= n), default=max(table))
    colours = table[size]
    return [colours[i] for i in np.round(np.linspace(0, size - 1, n)).astype(int)]


def _mix(colour: str, other: str, share: float) -> str:
    a = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
    b = np.array([int(other[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
    rgb = np.round(a * (1 - share) + b * share).astype(int)
    return "#" + "".join(f"{v:02x}" for v in rgb)


def _aligned(need: pd.DataFrame, ids: list[str], column: str) -> pd.Series:
    table = need.set_index(need["district_id"].astype(str))
    return table[column].reindex(ids) if column in table.columns else pd.Series([pd.NA] * len(ids), index=ids)


def _categorical_layer(variable: str, text: str, codes: list, legend: dict, values: np.ndarray,
                       detail: list[str | None], unit: str) -> MapLayer:
    """A categorical layer from one code per district (None = no data) and ``{code: (label, colour)}``."""
    used = [c for c in legend if c in set(codes)]
    index = np.array([used.index(c) if c in used else -1 for c in codes], dtype=int)
    classification = categorical(index, [legend[c][0] for c in used], [legend[c][1] for c in used])
    nan = np.full(len(codes), np.nan)
    values = np.where(index >= 0, values, np.nan)
    return MapLayer(variable, text, "need", values, nan, nan, nan, np.zeros(len(codes), dtype=bool), _rank(values),
                    classification, unit, detail=np.array(detail, dtype=object))


def add_need_layers(city_map: CityMap, need: pd.DataFrame | None, change: pd.DataFrame | None = None) -> list[MapLayer]:
    """Add the need, dynamics and status × dynamics layers and the index change layer to ``city_map``.

    Parameters
    ----------
    city_map : CityMap
    need : DataFrame, optional
        :func:`geo_cohesion.project.need.city_need` output (``district_id, need_score, need_class,
        class_stability, flag_weighting``, optionally ``dynamics_score, dynamics_class,
        status_dynamics, priority_area``); ``.attrs["class_breaks"]``.
    change : DataFrame, optional
        ``tables/change_<city>.csv`` rows (:func:`geo_cohesion.project.waves.city_changes`).

    Returns
    -------
    list of MapLayer
        The layers added (none without a need table).
    """
    lang = city_map.lang
    ids = city_map.boundaries["district_id"].astype(str).tolist()
    added: list[MapLayer] = []
    if need is not None and len(need):
        breaks = list(need.attrs.get("class_breaks") or [-1.0, 1.0, 1.5])
        classes = list(range(1, len(breaks) + 2))
        words = _class_ranges(breaks, lang)
        colours = _need_colours(len(classes))
        status = _aligned(need, ids, "need_class")
        codes = [None if pd.isna(c) else int(c) for c in status]
        score = pd.to_numeric(_aligned(need, ids, "need_score"), errors="coerce").to_numpy(float)
        stability = pd.to_numeric(_aligned(need, ids, "class_stability"), errors="coerce")
        weighting = _aligned(need, ids, "flag_weighting")
        area = _aligned(need, ids, "priority_area")
        detail = []
        for k, p, w, a in zip(codes, stability, weighting, area):
            if k is None:
                detail.append(None)
                continue
            lines = [label("map.need_class", lang, k=k, n=len(classes))]
            if pd.notna(p):
                lines.append(label("map.class_stability", lang, p=int(round(100 * float(p)))))
            if pd.notna(w) and bool(w):
                lines.append(label("map.weighting_flag", lang))
            if pd.notna(a) and str(a):
                lines.append(label("map.priority", lang, area=str(a)))
            detail.append("\n".join(lines))
        legend = {k: (label("need.class", lang, k=k, range=w), c) for k, w, c in zip(classes, words, colours)}
        added.append(_categorical_layer("need_class", label("layer.need", lang), codes, legend, score, detail,
                                        label("unit.sd", lang)))
        if "dynamics_class" in need.columns:
            wave_to = str(change["wave_to"].iloc[0]) if change is not None and len(change) else ""
            waves = {"wave_from": need.attrs.get("wave_from", ""), "wave_to": wave_to}
            dyn = [None if pd.isna(c) else int(c) for c in _aligned(need, ids, "dynamics_class")]
            dyn_score = pd.to_numeric(_aligned(need, ids, "dynamics_score"), errors="coerce").to_numpy(float)
            d_legend = {c: (label("legend.dynamics", lang, code=c, word=label(f"dynamics.{c}", lang)), colour)
                        for c, colour in DYNAMICS_COLOURS.items()}
            d_detail = [None if c is None else label("map.dynamics_class", lang, word=label(f"dynamics.{c}", lang))
                        for c in dyn]
            added.append(_categorical_layer("dynamics_class", label("layer.dynamics", lang, **waves), dyn, d_legend,
                                            dyn_score, d_detail, label("unit.sd", lang)))
            cells = [None if s is None or d is None else f"{s}/{d}" for s, d in zip(codes, dyn)]
            shade = {1: ("#2166ac", 0.45), 3: ("#ffffff", 0.0), 5: ("#40004b", 0.35)}
            s_legend = {f"{s}/{d}": (label("legend.status_dynamics", lang, cell=f"{s}/{d}", status=s,
                                           word=label(f"dynamics.{d}", lang)), _mix(colours[s - 1], *shade[d]))
                        for s in classes for d in DYNAMICS_COLOURS}
            added.append(_categorical_layer("status_dynamics", label("layer.status_dynamics", lang), cells, s_legend,
                                            score, [a if c else None for a, c in zip(detail, cells)],
                                            label("unit.sd", lang)))
    if change is not None and len(change):
        added += _change_layers(city_map, change, ids)
    city_map.layers.extend(added)
    return added


def _change_layers(city_map: CityMap, change: pd.DataFrame, ids: list[str], variables=("index",)) -> list[MapLayer]:
    """Change of the index from the latest earlier wave, diverging classes, significance in the tooltip."""
    lang = city_map.lang
    rows = latest_wave_changes(change)
    latest = str(rows["wave_from"].iloc[-1])
    names = {layer.variable: layer.label for layer in city_map.layers}
    layers = []
    for variable in variables:
        table = rows[rows["variable"] == variable]
        table = table.set_index(table["district_id"].astype(str)).reindex(ids)
        if table["change"].isna().all():
            continue
        values = table["change"].to_numpy(float)
        waves = {"wave_from": latest, "wave_to": str(rows["wave_to"].iloc[0])}
        detail = []
        for a, b, sig in zip(table["estimate_from"], table["estimate_to"], table["significant"]):
            if pd.isna(a) or pd.isna(b):
                detail.append(None)
                continue
            words = label("map.change_significant" if bool(sig) else "map.change_not_significant", lang)
            detail.append(label("map.change_values", lang, a=_number(a), b=_number(b), **waves) + "\n" + words)
        n = np.minimum(table["n_from"].to_numpy(float), table["n_to"].to_numpy(float))
        layers.append(MapLayer(f"{variable}__change",
                               label("layer.change", lang, label=names.get(variable, variable), **waves), "change",
                               values, table["ci_low"].to_numpy(float), table["ci_high"].to_numpy(float), n,
                               np.zeros(len(ids), dtype=bool), _rank(values), classify_values(values, diverging=True),
                               label("unit.points", lang), detail=np.array(detail, dtype=object)))
    return layers
