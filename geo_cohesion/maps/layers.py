"""Join: estimates and structural indicators onto district boundaries, as map layers.

:func:`build_city_map` matches the keys of all three sources with the one normaliser
(:func:`geo_cohesion.keys.match_keys`), so "Innenstadt West" in a table finds "Innenstadt-West"
in a shapefile, and every unmatched district is reported with its closest candidates — unless
``allow_missing`` is set, in which case it shows as "keine Daten". The resulting
:class:`CityMap` is what the HTML map and the print figures render.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from geo_cohesion.errors import InputError
from geo_cohesion.keys import match_keys
from geo_cohesion.maps.classify import Classification, categorical, classify_values
from geo_cohesion.radar.codebook import load_radar
from geo_cohesion.survey.small_area import ESTIMATOR_LABELS

#: German labels and units of the structural indicators geo-cohesion knows by name.
STRUCTURAL_LABELS = {
    "migration_share_pct": ("Anteil mit Migrationshintergrund", "%"),
    "unemployment_pct": ("Arbeitslosenquote", "%"),
    "sgb2_share_pct": ("SGB-II-Quote", "%"),
    "foreigners_pct": ("Ausländeranteil", "%"),
    "population_total": ("Einwohner", ""),
}


@dataclass
class MapLayer:
    """One switchable map layer (one variable), aligned to the rows of ``CityMap.boundaries``.

    Attributes
    ----------
    variable : str
        Stable slug (``index``, ``soziale_netze``, ``migration_share_pct`` ...).
    label : str
        German label shown to users.
    kind : str
        ``"cohesion"`` (Radar scores with CI and n), ``"structural"`` or ``"deviation"``.
    values : ndarray
        One value per district; NaN where missing or suppressed.
    ci_low, ci_high, n : ndarray
        Uncertainty per district (NaN where unknown).
    suppressed : ndarray of bool
        True where too few respondents: never shown as a number.
    rank : ndarray
        Rank in the city (1 = highest), NaN where no value.
    classification : Classification
    unit : str
        ``"Punkte"`` or ``"%"`` etc.
    estimator : ndarray of object, optional
        Per district the slug of the estimator that produced the value (``direct``,
        ``fay_herriot``, ``spatial_fay_herriot``, ``synthetic``; None where unknown); shown as
        "Schätzer: …" with the German label of
        :data:`~geo_cohesion.survey.small_area.ESTIMATOR_LABELS`.
    reason : ndarray of object, optional
        Per district why the value is suppressed (German; None or "" where published).
    """

    variable: str
    label: str
    kind: str
    values: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n: np.ndarray
    suppressed: np.ndarray
    rank: np.ndarray
    classification: Classification
    unit: str = "Punkte"
    estimator: np.ndarray | None = None
    reason: np.ndarray | None = None

    def estimator_labels(self) -> list[str | None]:
        """German estimator label per district (None where unknown)."""
        if self.estimator is None:
            return [None] * len(self.values)
        return [ESTIMATOR_LABELS.get(e, str(e)) if isinstance(e, str) and e else None for e in self.estimator]

    def estimator_summary(self) -> str:
        """``"Schätzer: Fay-Herriot (17 Gebiete), synthetisch (1 Gebiet)"`` over the districts with a
        published value; "" when the layer has no estimator information."""
        counts = estimator_counts([self])
        if not counts:
            return ""
        return "Schätzer: " + ", ".join(f"{lab} ({k} {'Gebiet' if k == 1 else 'Gebiete'})" for lab, k in counts.items())


def estimator_counts(layers: Sequence[MapLayer]) -> dict[str, int]:
    """``{German estimator label: districts}`` over the published values of ``layers``, most
    frequent first (ties in the order of :data:`~geo_cohesion.survey.small_area.ESTIMATOR_LABELS`)."""
    order = {lab: i for i, lab in enumerate(ESTIMATOR_LABELS.values())}
    counts: dict[str, int] = {}
    for layer in layers:
        for lab, v in zip(layer.estimator_labels(), layer.values):
            if lab and np.isfinite(v):
                counts[lab] = counts.get(lab, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], order.get(kv[0], len(order)))))


@dataclass
class CityMap:
    """Boundaries of one city plus its layers and the notes every map must show."""

    city: str
    boundaries: gpd.GeoDataFrame
    layers: list[MapLayer]
    title: str = ""
    notes: list[str] = field(default_factory=list)
    source: str = ""
    min_n: int = 30
    level: float = 0.95
    estimator_note: str = ""
    suppressed_label: str = ""

    @property
    def suppressed_text(self) -> str:
        """Short legend text of suppressed districts: ``suppressed_label`` or, by default,
        ``"zu wenige Befragte (n < 30)"``."""
        return self.suppressed_label or f"zu wenige Befragte (n < {self.min_n})"

    @property
    def ci_label(self) -> str:
        """German label of the confidence intervals, e.g. ``"95-%-Konfidenzintervall"``."""
        return f"{self.level * 100:g}-%-Konfidenzintervall".replace(".", ",")

    def layer(self, variable: str) -> MapLayer:
        """The layer of ``variable``."""
        for layer in self.layers:
            if layer.variable == variable:
                return layer
        raise KeyError(variable)


def _rank(values: np.ndarray) -> np.ndarray:
    ranks = pd.Series(values).rank(ascending=False, method="min").to_numpy()
    return ranks


def _aligned(table: pd.DataFrame, mapping: dict[str, str], ids: Sequence[str], column: str) -> np.ndarray:
    """Column of ``table`` (indexed by its own district keys) aligned to boundary ids via mapping."""
    inverse = {b: t for t, b in mapping.items()}
    lookup = table[column].to_dict()
    return np.array([lookup.get(inverse.get(i), np.nan) for i in ids], dtype=float)


def _aligned_text(rows: pd.DataFrame, column: str, mapping: dict[str, str], ids: Sequence[str]) -> np.ndarray | None:
    """Text column of ``rows`` aligned to boundary ids (None entries where missing); None if absent."""
    if column not in rows.columns:
        return None
    inverse = {b: t for t, b in mapping.items()}
    lookup = {k: (v if isinstance(v, str) and v else None) for k, v in rows[column].items()}
    return np.array([lookup.get(inverse.get(i)) for i in ids], dtype=object)


def build_city_map(city: str, boundaries: gpd.GeoDataFrame, estimates: pd.DataFrame | None = None,
                   structural: pd.DataFrame | None = None, structural_id_column: str = "district_id",
                   structural_variables: Sequence[str] | None = None, allow_missing: bool = False,
                   scheme: str = "quantiles", k: int = 5, breaks: Sequence[float] | None = None,
                   title: str = "", notes: Sequence[str] = (), source: str = "", min_n: int = 30,
                   level: float = 0.95, estimator_note: str = "", suppressed_label: str = "") -> CityMap:
    """Join estimates and structural data onto boundaries and classify every layer.

    Parameters
    ----------
    city : str
        City name (titles).
    boundaries : GeoDataFrame
        ``district_id, district_name, geometry`` (see :func:`geo_cohesion.io.boundaries.read_boundaries`).
    estimates : DataFrame, optional
        Tidy ``district_id, variable, estimate`` and optionally ``se, ci_low, ci_high, n, suppressed``.
    structural : DataFrame, optional
        One row per district with numeric indicator columns.
    structural_id_column : str
        District key column of ``structural``.
    structural_variables : sequence of str, optional
        Indicator columns to map; by default every known indicator present
        (:data:`STRUCTURAL_LABELS`) plus any other numeric column except ids.
    allow_missing : bool
        Districts without data show as "keine Daten" instead of raising.
    scheme, k, breaks :
        Classification (see :func:`geo_cohesion.maps.classify.classify_values`).
    title, notes, source : str
        Shown on every map ("synthetische Demodaten", "schematische Grenzen – nicht amtlich").
    min_n : int
        Suppression threshold, for the tooltip text.
    level : float
        Confidence level of ``ci_low``/``ci_high``, for labels.
    estimator_note : str
        Which estimator produced the values (e.g. "Schätzer: Fay-Herriot …"), on every map and
        figure. The per-district estimator comes from an ``estimator`` column of ``estimates``
        and the reason for suppression from a ``reason`` column, when present.
    suppressed_label : str
        Short legend text of suppressed districts (default "zu wenige Befragte (n < min_n)").

    Returns
    -------
    CityMap
    """
    ids = boundaries["district_id"].astype(str).tolist()
    radar = load_radar()
    layers: list[MapLayer] = []
    if estimates is not None:
        est = estimates.copy()
        est["district_id"] = est["district_id"].astype(str)
        mapping = match_keys(est["district_id"].unique(), ids, "the score table", "the boundaries", allow_missing)
        labels = radar.labels
        order = {v: i for i, v in enumerate(radar.variables)}
        variables = sorted(est["variable"].unique(), key=lambda v: (order.get(v, len(order)), v))
        for variable in variables:
            rows = est[est["variable"] == variable].set_index("district_id")
            suppressed = rows["suppressed"].astype(bool) if "suppressed" in rows else pd.Series(False, index=rows.index)
            value = rows["estimate"].astype(float).where(~suppressed)
            table = pd.DataFrame({
                "value": value,
                "ci_low": rows["ci_low"].astype(float).where(~suppressed) if "ci_low" in rows else np.nan,
                "ci_high": rows["ci_high"].astype(float).where(~suppressed) if "ci_high" in rows else np.nan,
                "n": rows["n"].astype(float) if "n" in rows else np.nan,
                "suppressed": suppressed.astype(float),
            })
            values = _aligned(table, mapping, ids, "value")
            layers.append(MapLayer(
                variable, labels.get(variable, variable), "cohesion", values,
                _aligned(table, mapping, ids, "ci_low"), _aligned(table, mapping, ids, "ci_high"),
                _aligned(table, mapping, ids, "n"), _aligned(table, mapping, ids, "suppressed") == 1,
                _rank(values), classify_values(values, scheme, k, breaks), "Punkte",
                _aligned_text(rows, "estimator", mapping, ids), _aligned_text(rows, "reason", mapping, ids)))
    if structural is not None:
        if structural_id_column not in structural.columns:
            raise InputError(f"district column '{structural_id_column}' not in the structural table",
                             structural.attrs.get("source"))
        table = structural.copy()
        table.index = table[structural_id_column].astype(str)
        mapping = match_keys(table.index, ids, "the structural table", "the boundaries", allow_missing)
        if structural_variables is None:
            structural_variables = [c for c in STRUCTURAL_LABELS if c in table.columns and c != "population_total"]
        for variable in structural_variables:
            if variable not in table.columns:
                raise InputError(f"structural indicator '{variable}' not found", structural.attrs.get("source"))
            values = _aligned(table.assign(**{variable: pd.to_numeric(table[variable], errors="coerce")}),
                              mapping, ids, variable)
            label, unit = STRUCTURAL_LABELS.get(variable, (variable, ""))
            nan = np.full(len(ids), np.nan)
            layers.append(MapLayer(variable, label, "structural", values, nan, nan, nan,
                                   np.zeros(len(ids), dtype=bool), _rank(values),
                                   classify_values(values, "quantiles", k, palette="OrRd"), unit))
    if not layers:
        raise InputError("nothing to map: give estimates and/or structural indicators")
    return CityMap(city, boundaries, layers, title=title, notes=list(notes), source=source, min_n=min_n, level=level,
                   estimator_note=estimator_note, suppressed_label=suppressed_label)


def add_deviation_layers(city_map: CityMap, city_values: dict[str, float], variables: Sequence[str] | None = None) -> None:
    """Add layers "Abweichung vom Stadtwert" (district minus city value) with a diverging palette."""
    for layer in list(city_map.layers):
        if layer.kind != "cohesion" or (variables is not None and layer.variable not in variables):
            continue
        if layer.variable not in city_values:
            continue
        deviation = layer.values - city_values[layer.variable]
        city_map.layers.append(MapLayer(
            f"{layer.variable}__deviation", f"{layer.label}: Abweichung vom Stadtwert", "deviation", deviation,
            layer.ci_low - city_values[layer.variable], layer.ci_high - city_values[layer.variable], layer.n,
            layer.suppressed, _rank(deviation), classify_values(deviation, diverging=True), "Punkte",
            layer.estimator, layer.reason))


#: Bivariate 3 x 3 palette (Stevens' blue-red scheme, colour-blind friendly): rows = cohesion
#: tertile (low -> high), columns = deprivation tertile (low -> high).
BIVARIATE_COLOURS = (("#e8e8e8", "#e4acac", "#c85a5a"),
                     ("#b0d5df", "#ad9ea5", "#985356"),
                     ("#64acbe", "#627f8c", "#574249"))
_TERTILE_LABELS = ("niedrig", "mittel", "hoch")


def _tertiles(values: np.ndarray) -> np.ndarray:
    """Tertile class 0/1/2 per value (quantile classes), -1 where missing or too few values."""
    ok = ~np.isnan(values)
    if ok.sum() < 3 or np.unique(values[ok]).size < 3:
        return np.full(values.size, -1, dtype=int)
    return classify_values(values, "quantiles", k=3).class_index


def add_bivariate_layer(city_map: CityMap, cohesion: str = "index", deprivation: str = "sgb2_share_pct") -> MapLayer | None:
    """Add a bivariate 3 x 3 layer: cohesion tertile x deprivation tertile.

    Districts with low cohesion and high deprivation (red) are where "Sozialer Zusammenhalt"
    funding argues most strongly. Returns the layer, or None if either variable is absent.
    """
    names = {layer.variable: layer for layer in city_map.layers}
    if cohesion not in names or deprivation not in names:
        return None
    c_layer, d_layer = names[cohesion], names[deprivation]
    c_class, d_class = _tertiles(c_layer.values), _tertiles(d_layer.values)
    index = np.where((c_class >= 0) & (d_class >= 0), 3 * (2 - c_class) + d_class, -1)
    colours, labels = [], []
    for row in range(3):          # cohesion high -> low (legend top to bottom)
        for col in range(3):
            colours.append(BIVARIATE_COLOURS[2 - row][col])
            labels.append(f"Zusammenhalt {_TERTILE_LABELS[2 - row]} · {d_layer.label} {_TERTILE_LABELS[col]}")
    classification = categorical(index, labels, colours, "bivariate")
    layer = MapLayer(f"{cohesion}__x__{deprivation}", f"{c_layer.label} × {d_layer.label}", "bivariate",
                     c_layer.values, c_layer.ci_low, c_layer.ci_high, c_layer.n, c_layer.suppressed, c_layer.rank,
                     classification, c_layer.unit, c_layer.estimator, c_layer.reason)
    city_map.layers.append(layer)
    return layer
