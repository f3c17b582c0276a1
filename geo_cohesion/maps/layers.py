"""Join: estimates and structural indicators onto district boundaries, as map layers.

:func:`build_city_map` matches the keys of all three sources with the one normaliser
(:func:`geo_cohesion.keys.match_keys`), so "Innenstadt West" in a table finds "Innenstadt-West"
in a shapefile, and every unmatched district is reported with its closest candidates — unless
``allow_missing`` is set, in which case it shows as "keine Daten". The resulting
:class:`CityMap` is what the HTML map and the print figures render.

Structural layers come from the city's indicator registry
(:func:`geo_cohesion.radar.indicators.indicator_registry`): one layer per indicator except the
population, labelled with the indicator's label and unit. The indicator's direction chooses the
palette so that "bad" always looks the same (:data:`STRUCTURAL_PALETTES`): the dark red end of
ColorBrewer OrRd is the disadvantaged end — high values for ``higher_is_worse``, low values
(palette reversed) for ``higher_is_better`` — and ``neutral`` indicators (e.g. the share with a
migration background) get a palette without that connotation (Purples). All texts come from the
label catalogue (:mod:`geo_cohesion.labels`) in the map's language.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from geo_cohesion.errors import InputError
from geo_cohesion.io.tables import to_numeric_column
from geo_cohesion.keys import match_keys
from geo_cohesion.labels import DEFAULT_LANG, check_lang, format_level, label
from geo_cohesion.maps.classify import Classification, categorical, classify_values
from geo_cohesion.radar.codebook import load_radar
from geo_cohesion.radar.indicators import Indicator, IndicatorRegistry, describe_column, indicator_registry
from geo_cohesion.stats.need import MSS_STATUS_BREAKS
from geo_cohesion.survey.small_area import ESTIMATOR_LABELS, estimator_label

#: Key of a deviation layer: ``<variable>__deviation``;
#: of a bivariate layer: ``<cohesion>__x__<indicator>``.
DEVIATION_SUFFIX = "__deviation"
BIVARIATE_SEPARATOR = "__x__"

#: Palette of a structural layer by the indicator's direction: (ColorBrewer name, reversed). The
#: dark red end of OrRd always marks disadvantage; neutral indicators get a neutral hue.
STRUCTURAL_PALETTES: dict[str, tuple[str, bool]] = {
    "higher_is_worse": ("OrRd", False),
    "higher_is_better": ("OrRd", True),
    "neutral": ("Purples", False),
}


@dataclass
class MapLayer:
    """One switchable map layer (one variable), aligned to the rows of ``CityMap.boundaries``.

    Attributes
    ----------
    variable : str
        Stable slug (``index``, ``soziale_netze``, ``migration_share_pct`` ...).
    label : str
        Label shown to users (in the map's language).
    kind : str
        ``"cohesion"`` (Radar scores with CI and n), ``"structural"``, ``"deviation"``,
        ``"bivariate"`` or ``"cluster"``.
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
    indicator : Indicator, optional
        The structural indicator of a ``"structural"`` layer (direction, role).
    estimator : ndarray of object, optional
        Per district the slug of the estimator that produced the value (``direct``,
        ``fay_herriot``, ``spatial_fay_herriot``, ``synthetic``; None where unknown); shown as
        "Schätzer: …" with the German label of
        :data:`~geo_cohesion.survey.small_area.ESTIMATOR_LABELS`.
    reason : ndarray of object, optional
        Per district why the value is suppressed (German; None or "" where published).
    detail : ndarray of object, optional
        Per district further tooltip lines (text, lines separated by ``"\n"``; None where none),
        e.g. a need class's stability (:mod:`geo_cohesion.maps.need_layers`).
    significance : ndarray, optional
        Deviation layers: +1 / -1 where the district is significantly above / below the city
        value by the adjusted test of the comparison table, 0 where not, NaN where untested
        (:func:`geo_cohesion.maps.significance.add_significance`).
    significance_note : str
        Which test marked the districts ("Holm-Korrektur, α = 0,05"); "" without markers.
    rank_low, rank_high : ndarray, optional
        The rank interval of every district from the comparison table (NaN where the table has no
        rank); set together with ``rank`` and ``rank_count`` by :func:`add_rank_intervals`. None:
        the layer has no rank intervals and ``rank`` is the point rank of ``values``.
    rank_count : int
        Number of districts ranked in the comparison table (the N of "Rang r von N"); 0 without
        rank intervals.
    rank_note : str
        Where the ranks come from when it is not the layer's own values (e.g. "Rang nach den
        direkten Schätzungen (Vergleichstabelle)" on a map of model estimates); "" otherwise.
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
    indicator: Indicator | None = None
    estimator: np.ndarray | None = None
    reason: np.ndarray | None = None
    detail: np.ndarray | None = None
    significance: np.ndarray | None = None
    significance_note: str = ""
    rank_low: np.ndarray | None = None
    rank_high: np.ndarray | None = None
    rank_count: int = 0
    rank_note: str = ""

    def estimator_labels(self, lang: str = DEFAULT_LANG) -> list[str | None]:
        """Estimator label per district in ``lang`` (None where unknown)."""
        if self.estimator is None:
            return [None] * len(self.values)
        return [estimator_label(e, lang) if isinstance(e, str) and e else None for e in self.estimator]

    def estimator_summary(self, lang: str = DEFAULT_LANG) -> str:
        """``"Schätzer: Fay-Herriot (17 Gebiete), synthetisch (1 Gebiet)"`` over the districts with a
        published value; "" when the layer has no estimator information."""
        counts = estimator_counts([self], lang)
        if not counts:
            return ""
        return label("map.estimator", lang) + ": " + ", ".join(
            f"{lab} ({label('note.areas_one' if k == 1 else 'note.areas_many', lang, n=k)})"
            for lab, k in counts.items())


def estimator_counts(layers: Sequence[MapLayer], lang: str = DEFAULT_LANG) -> dict[str, int]:
    """``{estimator label: districts}`` over the published values of ``layers``, most frequent
    first (ties in the order of :data:`~geo_cohesion.survey.small_area.ESTIMATOR_LABELS`)."""
    order = {estimator_label(slug, lang): i for i, slug in enumerate(ESTIMATOR_LABELS)}
    counts: dict[str, int] = {}
    for layer in layers:
        for lab, v in zip(layer.estimator_labels(lang), layer.values):
            if lab and np.isfinite(v):
                counts[lab] = counts.get(lab, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], order.get(kv[0], len(order)))))


@dataclass
class CityMap:
    """Boundaries of one city plus its layers and the notes every map must show.

    ``lang`` is the language of every text the HTML map and the figures add; ``indicators`` the
    registry the structural layers came from; ``messages`` what the analyst should know but the
    map does not show (e.g. columns without a declared label); ``need_class`` per district the
    need class of the need table ("Bedarfsklasse 3 von 4", None where the district has none),
    shown in the tooltip of every layer (:func:`add_need_class`), None without a need index.
    """

    city: str
    boundaries: gpd.GeoDataFrame
    layers: list[MapLayer]
    title: str = ""
    notes: list[str] = field(default_factory=list)
    source: str = ""
    min_n: int = 30
    level: float = 0.95
    lang: str = DEFAULT_LANG
    indicators: IndicatorRegistry | None = None
    messages: list[str] = field(default_factory=list)
    estimator_note: str = ""
    suppressed_label: str = ""
    need_class: list[str | None] | None = None

    @property
    def suppressed_text(self) -> str:
        """Short legend text of suppressed districts: ``suppressed_label`` or, by default,
        ``"zu wenige Befragte (n < 30)"``."""
        return self.suppressed_label or label("note.too_few", self.lang, min_n=self.min_n)

    @property
    def ci_label(self) -> str:
        """Label of the confidence intervals, e.g. ``"95-%-Konfidenzintervall"``."""
        return label("ci.label", self.lang, level=format_level(self.level, self.lang))

    @property
    def ci_label_plural(self) -> str:
        """Plural of :attr:`ci_label` (``"95-%-Konfidenzintervalle"``)."""
        return label("ci.label_plural", self.lang, level=format_level(self.level, self.lang))

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


def structural_layer(indicator: Indicator, values: np.ndarray, k: int = 5) -> MapLayer:
    """A structural layer: quantile classes in the palette of the indicator's direction."""
    palette, reverse = STRUCTURAL_PALETTES[indicator.direction]
    nan = np.full(values.size, np.nan)
    return MapLayer(indicator.column, indicator.label, "structural", values, nan, nan, nan,
                    np.zeros(values.size, dtype=bool), _rank(values),
                    classify_values(values, "quantiles", k, palette=palette, reverse=reverse), indicator.unit,
                    indicator)
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
                   level: float = 0.95, indicators: IndicatorRegistry | None = None,
                   lang: str = DEFAULT_LANG, estimator_note: str = "", suppressed_label: str = "") -> CityMap:
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
        Indicator columns to map; by default every indicator of the registry except the
        population (:meth:`~geo_cohesion.radar.indicators.IndicatorRegistry.for_maps`).
    allow_missing : bool
        Districts without data show as "keine Daten" instead of raising.
    scheme, k, breaks :
        Classification of the Radar layers (see :func:`geo_cohesion.maps.classify.classify_values`);
        structural layers use ``k`` quantile classes.
    title, notes, source : str
        Shown on every map ("synthetische Demodaten", "schematische Grenzen – nicht amtlich").
    min_n : int
        Suppression threshold, for the tooltip text.
    level : float
        Confidence level of ``ci_low``/``ci_high``, for labels.
    indicators : IndicatorRegistry, optional
        The city's indicator registry (labels, units, directions, roles of the structural
        columns); built from ``structural`` when None.
    lang : {"de", "en"}
        Language of the Radar labels and of every text the map and figures add.
    estimator_note : str
        Which estimator produced the values (e.g. "Schätzer: Fay-Herriot …"), on every map and
        figure. The per-district estimator comes from an ``estimator`` column of ``estimates``
        and the reason for suppression from a ``reason`` column, when present.
    suppressed_label : str
        Short legend text of suppressed districts (default "zu wenige Befragte (n < min_n)").

    Returns
    -------
    CityMap
        ``messages`` holds the registry's notes (columns without a label, no deprivation
        indicator ...).
    """
    check_lang(lang)
    ids = boundaries["district_id"].astype(str).tolist()
    radar = load_radar()
    layers: list[MapLayer] = []
    if estimates is not None:
        est = estimates.copy()
        est["district_id"] = est["district_id"].astype(str)
        mapping = match_keys(est["district_id"].unique(), ids, "the score table", "the boundaries", allow_missing)
        labels = radar.labels_in(lang)
        order = {v: i for i, v in enumerate(radar.variables)}
        variables = sorted(est["variable"].unique(), key=lambda v: (order.get(v, len(order)), v))
        points = label("unit.points", lang)
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
                _rank(values), classify_values(values, scheme, k, breaks), points,
                estimator=_aligned_text(rows, "estimator", mapping, ids),
                reason=_aligned_text(rows, "reason", mapping, ids)))
    registry = indicators
    if structural is not None:
        if structural_id_column not in structural.columns:
            raise InputError(f"district column '{structural_id_column}' not in the structural table",
                             structural.attrs.get("source"))
        if registry is None:
            registry = indicator_registry(structural, lang=lang, exclude=[structural_id_column])
        table = structural.copy()
        table.index = table[structural_id_column].astype(str)
        mapping = match_keys(table.index, ids, "the structural table", "the boundaries", allow_missing)
        if structural_variables is None:
            chosen = registry.for_maps()
        else:
            missing = [v for v in structural_variables if v not in table.columns]
            if missing:
                raise InputError(f"structural indicator(s) {', '.join(repr(v) for v in missing)} not found",
                                 structural.attrs.get("source"),
                                 f"the table has: {', '.join(map(str, table.columns[:40]))}")
            chosen = [registry.get(v) or describe_column(v, lang) for v in structural_variables]
        for indicator in chosen:
            # the one conversion path: a text cell ('k.A.', '-') is an error naming the file, line and column
            numeric = to_numeric_column(structural, indicator.column,
                                        f"indicator {indicator.column!r}:")
            values = _aligned(table.assign(**{indicator.column: numeric}), mapping, ids, indicator.column)
            layers.append(structural_layer(indicator, values, k))
    if not layers:
        raise InputError("nothing to map: give estimates and/or structural indicators")
    return CityMap(city, boundaries, layers, title=title, notes=list(notes), source=source, min_n=min_n, level=level,
                   lang=lang, indicators=registry, messages=list(registry.notes) if registry is not None else [],
                   estimator_note=estimator_note, suppressed_label=suppressed_label)


def add_deviation_layers(city_map: CityMap, city_values: dict[str, float],
                         variables: Sequence[str] | None = None) -> None:
    """Add layers "Abweichung vom Stadtwert" (district minus city value) with a diverging palette."""
    for layer in list(city_map.layers):
        if layer.kind != "cohesion" or (variables is not None and layer.variable not in variables):
            continue
        if layer.variable not in city_values:
            continue
        deviation = layer.values - city_values[layer.variable]
        city_map.layers.append(MapLayer(
            f"{layer.variable}{DEVIATION_SUFFIX}", label("layer.deviation", city_map.lang, label=layer.label),
            "deviation",
            deviation, layer.ci_low - city_values[layer.variable], layer.ci_high - city_values[layer.variable],
            layer.n, layer.suppressed, _rank(deviation), classify_values(deviation, diverging=True), layer.unit,
            estimator=layer.estimator, reason=layer.reason))


#: Bivariate 3 x 3 palette (Stevens' blue-red scheme, colour-blind friendly): rows = cohesion
#: tertile (low -> high), columns = deprivation tertile (low -> high).
BIVARIATE_COLOURS = (("#e8e8e8", "#e4acac", "#c85a5a"),
                     ("#b0d5df", "#ad9ea5", "#985356"),
                     ("#64acbe", "#627f8c", "#574249"))
#: Catalogue keys of the tertile words, low -> high.
TERTILE_KEYS = ("class.low", "class.mid", "class.high")


def _tertiles(values: np.ndarray) -> np.ndarray:
    """Tertile class 0/1/2 per value (quantile classes), -1 where missing or too few values."""
    ok = ~np.isnan(values)
    if ok.sum() < 3 or np.unique(values[ok]).size < 3:
        return np.full(values.size, -1, dtype=int)
    return classify_values(values, "quantiles", k=3).class_index


def add_bivariate_layer(city_map: CityMap, cohesion: str = "index", deprivation: str | None = None) -> MapLayer | None:
    """Add a bivariate 3 x 3 layer: cohesion tertile x deprivation tertile.

    Districts with low cohesion and high deprivation (red) are where "Sozialer Zusammenhalt"
    funding argues most strongly.

    Parameters
    ----------
    city_map : CityMap
    cohesion : str
        Cohesion layer (default the index).
    deprivation : str, optional
        Structural layer whose high values mean deprivation; by default the deprivation
        indicator of the city's registry (:meth:`~geo_cohesion.radar.indicators.IndicatorRegistry.deprivation`,
        declared with ``role: deprivation``).

    Returns
    -------
    MapLayer or None
        None if either layer is absent; without a deprivation indicator the registry's notes
        (``city_map.messages``) say why and how to declare one.

    Raises
    ------
    InputError
        If ``deprivation`` is an indicator whose high values are better (the axis would be upside down).
    """
    if deprivation is None:
        chosen = city_map.indicators.deprivation() if city_map.indicators is not None else None
        if chosen is None:
            return None
        deprivation = chosen.column
    names = {layer.variable: layer for layer in city_map.layers}
    if cohesion not in names or deprivation not in names:
        return None
    c_layer, d_layer = names[cohesion], names[deprivation]
    if d_layer.indicator is not None and d_layer.indicator.direction == "higher_is_better":
        raise InputError(f"'{deprivation}' is an indicator where higher is better; the bivariate map needs one "
                         "where a high value means more deprivation", hint="choose another deprivation indicator")
    lang = city_map.lang
    words = [label(key, lang) for key in TERTILE_KEYS]
    c_class, d_class = _tertiles(c_layer.values), _tertiles(d_layer.values)
    index = np.where((c_class >= 0) & (d_class >= 0), 3 * (2 - c_class) + d_class, -1)
    colours, labels = [], []
    for row in range(3):          # cohesion high -> low (legend top to bottom)
        for col in range(3):
            colours.append(BIVARIATE_COLOURS[2 - row][col])
            labels.append(label("legend.bivariate", lang, cohesion_class=words[2 - row], indicator=d_layer.label,
                                indicator_class=words[col]))
    classification = categorical(index, labels, colours, "bivariate")
    layer = MapLayer(f"{cohesion}{BIVARIATE_SEPARATOR}{deprivation}",
                     label("layer.bivariate", lang, cohesion=c_layer.label, indicator=d_layer.label), "bivariate",
                     c_layer.values, c_layer.ci_low, c_layer.ci_high, c_layer.n, c_layer.suppressed, c_layer.rank,
                     classification, c_layer.unit, estimator=c_layer.estimator, reason=c_layer.reason,
                     rank_low=c_layer.rank_low, rank_high=c_layer.rank_high, rank_count=c_layer.rank_count,
                     rank_note=c_layer.rank_note)
    city_map.layers.append(layer)
    return layer


#: Layer kinds whose tooltip ranks the districts by a Radar score: the score itself, its deviation
#: from the city value (the same order) and the bivariate layer (by its cohesion score).
RANKED_KINDS = ("cohesion", "deviation", "bivariate")


def ranked_variable(layer: MapLayer) -> str | None:
    """The Radar variable by which ``layer``'s tooltip ranks the districts (None for other kinds)."""
    if layer.kind == "cohesion":
        return layer.variable
    if layer.kind == "deviation":
        return layer.variable.removesuffix(DEVIATION_SUFFIX)
    if layer.kind == "bivariate":
        return layer.variable.split(BIVARIATE_SEPARATOR)[0]
    return None


#: Tooltip note of a layer with model estimates, by the table its ranks come from (label keys).
RANK_NOTES = {"comparison": "map.rank_basis", "published": "map.rank_published"}


def add_rank_intervals(city_map: CityMap, table: pd.DataFrame, id_column: str = "district_id",
                       basis: str = "comparison") -> int:
    """Give the score layers the ranks and rank intervals of a table.

    The table's ``rank, rank_low, rank_high`` (:func:`geo_cohesion.stats.compare.rank_intervals`)
    replace the layer's own point ranks, so that the tooltip says exactly what the table says:
    "Rang 3 (95-%-Rangintervall 1–6) von 11". Nothing is recomputed. Its district keys are
    matched to the boundaries' as the estimates' are (:func:`geo_cohesion.keys.match_keys`). A
    district the table does not rank (suppressed, no standard error) gets NaN and the tooltip says
    "Rang: –".

    Parameters
    ----------
    city_map : CityMap
        Its cohesion, deviation and bivariate layers (:data:`RANKED_KINDS`) are updated.
    table : DataFrame
        ``<id_column>, variable, rank, rank_low, rank_high``.
    id_column : str
        District (or group) key column of ``table``.
    basis : {"comparison", "published"}
        What the table ranks: ``"comparison"``, the direct estimates (``comparison_<city>.csv``);
        ``"published"``, the published estimates, model or direct, as the map shows them
        (``district_estimates.csv``, :func:`geo_cohesion.project.small_area.published_ranks`).
        Where a layer shows model estimates its ``rank_note`` says which (:data:`RANK_NOTES`).

    Returns
    -------
    int
        Number of layers given rank intervals.
    """
    if basis not in RANK_NOTES:
        raise ValueError(f"basis must be one of {', '.join(RANK_NOTES)}, not {basis!r}")
    ids = city_map.boundaries["district_id"].astype(str).tolist()
    note = label(RANK_NOTES[basis], city_map.lang)
    changed = 0
    for layer in city_map.layers:
        variable = ranked_variable(layer)
        if variable is None:
            continue
        rows = table[table["variable"] == variable]
        if rows.empty or "rank_low" not in rows.columns:
            continue
        keys = rows[id_column].astype(str)  # in the boundaries' spelling ("7" finds "07"), as the estimates
        spelling = match_keys(keys.unique(), ids, "the rank table", "the boundaries", allow_missing=True)
        rows = rows.set_index(keys.replace(spelling))
        if rows.index.duplicated().any():
            raise ValueError(f"rank table: more than one row per district for {variable!r}")
        layer.rank, layer.rank_low, layer.rank_high = (rows[c].reindex(ids).to_numpy(dtype=float)
                                                       for c in ("rank", "rank_low", "rank_high"))
        layer.rank_count = int(rows["rank"].notna().sum())
        model = layer.estimator is not None and any(isinstance(e, str) and e and e != "direct"
                                                    for e in layer.estimator)
        layer.rank_note = note if model else ""
        changed += 1
    return changed


def add_need_class(city_map: CityMap, need: pd.DataFrame | None) -> None:
    """Put every district's need class (the ``need_class`` column of the need table) in the tooltip
    of every layer, as "Bedarfsklasse 3 von 4" (the words of the need layer).

    ``need`` is :func:`geo_cohesion.project.need.city_need`'s table (``district_id, need_class``,
    ``attrs["class_breaks"]``); None or empty leaves the map without need classes.
    """
    if need is None or not len(need):
        return
    ids = city_map.boundaries["district_id"].astype(str).tolist()
    table = need.set_index(need["district_id"].astype(str))
    if table.index.duplicated().any():
        raise ValueError("need table: more than one row per district")
    classes = len(need.attrs.get("class_breaks") or MSS_STATUS_BREAKS) + 1
    codes = table["need_class"].reindex(ids)
    city_map.need_class = [None if pd.isna(k) else label("map.need_class", city_map.lang, k=int(k), n=classes)
                           for k in codes]
