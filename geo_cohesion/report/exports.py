"""Exports for the people who use the results: German Excel CSVs, one workbook, GeoPackage and GeoJSON.

* ``tables/excel_de/<table>.csv`` for **every** machine-readable table of the run: ``;``, decimal
  comma, UTF-8 with BOM, German headers, ``ja``/``nein``.
* ``tables/geo_cohesion.xlsx``: a sheet "Hinweise" (title, notes, units and the meaning of every
  column) and one sheet per table; numbers are numbers.
* ``tables/need_<city>.csv``: the need index per district (when there is one).
* ``gis/<city>.gpkg``: the districts with every estimate in wide form (one column per score and
  statistic), comparison, structural, need and change attributes, plus QGIS's ``layer_styles``
  table holding a graduated style of the index with exactly the classes and colours of the HTML
  map (:class:`geo_cohesion.maps.classify.Classification`), so the layer opens styled in QGIS;
  ``gis/<city>.geojson``: the same attributes in WGS 84 for the web.

Every CSV and workbook cell passes the one formula neutraliser
(:func:`geo_cohesion.io.write.neutralise_formula`).
"""
from __future__ import annotations

import datetime as dt
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from geo_cohesion.io.write import write_csv, write_geojson, write_gpkg
from geo_cohesion.io.xlsx import Sheet, write_xlsx
from geo_cohesion.maps.classify import Classification
from geo_cohesion.radar.codebook import load_radar
from geo_cohesion.report import text as t
from geo_cohesion.report.headers import (
    TEXT_COLUMNS,
    column_notes,
    german_table,
    header,
    table_description,
    table_title,
    variable_labels,
)
from geo_cohesion.report.model import CityReportInput, ReportSettings
from geo_cohesion.stats.change import latest_wave_changes
from geo_cohesion.survey.reliability import unpublished_when

WORKBOOK = "geo_cohesion.xlsx"
#: QGIS version the style is written for (older and newer QGIS 3 read it).
QGIS_VERSION = "3.22.0-Białowieża"
#: Statistics per score in the GeoPackage (wide), in column order.
WIDE_STATISTICS = ("estimate", "ci_low", "ci_high", "n")


# --------------------------------------------------------------------------- tables


def read_output_table(path: str | Path) -> pd.DataFrame:
    """Read a machine-readable output table back with the types it was written with.

    Text columns (:data:`geo_cohesion.report.headers.TEXT_COLUMNS`) stay text (ids keep their
    leading zeros); ``True``/``False`` columns become booleans (nullable where empty); columns
    that parse as numbers become numbers; anything else stays text.
    """
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    out = pd.DataFrame(index=raw.index)
    for column in raw.columns:
        values = raw[column]
        empty = values == ""
        if column in TEXT_COLUMNS:
            out[column] = values.where(~empty, None)
            continue
        present = set(values[~empty])
        if present and present <= {"True", "False"}:
            flags = values.map({"True": True, "False": False, "": None})
            out[column] = flags.astype(bool) if not empty.any() else flags.astype("boolean")
            continue
        numbers = pd.to_numeric(values.where(~empty, None), errors="coerce")
        if (numbers.notna() | empty).all():
            whole = numbers.dropna()
            if not empty.any() and len(whole) and (whole == whole.round()).all() and \
                    not values.str.contains(r"[.eE]", regex=True).any():
                numbers = numbers.astype("int64")
            out[column] = numbers
        else:
            out[column] = values.where(~empty, None)
    return out


def need_table(city: CityReportInput, note: str | None) -> pd.DataFrame | None:
    """The need index of a city as an output table (None without one)."""
    need = city.need
    if need is None:
        return None
    names = dict(zip(city.district_estimates["district_id"].astype(str),
                     city.district_estimates["district_name"].astype(str)))
    out = need.copy()
    out.insert(1, "district_name", out["district_id"].astype(str).map(names))
    for column in out.columns:
        if pd.api.types.is_float_dtype(out[column]):
            out[column] = out[column].round(6)
    if note:
        out["note"] = note
    return out


def write_excel_tables(tables: dict[str, pd.DataFrame], out_dir: Path) -> list[Path]:
    """``tables/excel_de/<stem>.csv`` for every table: German headers and labels, ``ja``/``nein``."""
    return [write_csv(german_table(frame), out_dir / "tables" / "excel_de" / f"{stem}.csv", excel_de=True)
            for stem, frame in tables.items()]


def notes_sheet(tables: dict[str, pd.DataFrame], city_slugs: dict[str, str], settings: ReportSettings) -> pd.DataFrame:
    """The "Hinweise" sheet: general notes, then every table and column with unit and meaning."""
    rows = [("alle", "Titel", "", settings.title)]
    if settings.note:
        rows.append(("alle", "Hinweis", "", settings.note))
    if settings.survey_period:
        rows.append(("alle", "Erhebungszeitraum", "", t.period(settings.survey_period)))
    rows += [("alle", "Konfidenzniveau", "", f"{t.level_percent(settings.level)} %"),
             ("alle", "Veröffentlichungsregel", "",
              f"Nicht ausgewiesen (leere Zellen): "
              f"{unpublished_when(settings.level, settings.min_n, settings.max_ci_halfwidth)}."),
             ("alle", "Tests", "", t.significance_note(settings.alpha, settings.adjust, settings.level)),
             ("alle", "Zahlen", "", "Zahlen sind Zahlenzellen (in den CSV-Dateien für Excel mit Dezimalkomma); "
                                    "ja/nein statt wahr/falsch."),
             ("alle", "Gebiets-ID", "", "In den CSV-Dateien für Excel kann Excel führende Nullen der Gebiets-ID "
                                        "entfernen; diese Arbeitsmappe speichert die IDs als Text.")]
    for stem, frame in tables.items():
        sheet = table_title(stem, city_slugs)
        rows.append((sheet, "(Tabelle)", "", table_description(stem, city_slugs) or stem))
        rows += [(sheet, h, unit, text) for h, unit, text in column_notes(frame)]
    return pd.DataFrame(rows, columns=["Tabellenblatt", "Spalte", "Einheit", "Erläuterung"])


def write_workbook(tables: dict[str, pd.DataFrame], city_slugs: dict[str, str], settings: ReportSettings,
                   path: Path) -> Path:
    """``tables/geo_cohesion.xlsx``: "Hinweise" plus one sheet per table (German headers)."""
    sheets = [Sheet("Hinweise", notes_sheet(tables, city_slugs, settings))]
    sheets += [Sheet(table_title(stem, city_slugs), german_table(frame)) for stem, frame in tables.items()]
    return write_xlsx(sheets, path, title=settings.title, created=settings.created)


# --------------------------------------------------------------------------- GIS


def district_layer(city: CityReportInput) -> pd.DataFrame:
    """Districts with every estimate in wide form (GeoDataFrame in the boundaries' CRS).

    Columns: ``district_id, district_name``; per Radar variable ``<v>_estimate, <v>_ci_low,
    <v>_ci_high, <v>_n, <v>_suppressed`` (and ``<v>_estimator`` if estimated with several
    methods), ``<v>_deviation, <v>_significant`` (with a comparison), ``index_rank,
    index_rank_low, index_rank_high`` (of the published index, as on the map); the structural
    indicators; the need index (``need_score, need_class, class_stability ...``); ``<v>_change,
    <v>_change_significant`` (with a change table); ``note``.
    """
    import geopandas as gpd

    base = city.city_map.boundaries if city.city_map is not None else city.boundaries
    ids = pd.Series(base["district_id"].astype(str).to_numpy())
    columns: dict[str, object] = {
        "district_id": ids.to_numpy(),
        "district_name": base["district_name"].astype(str).to_numpy() if "district_name" in base else ids.to_numpy()}
    est = city.district_estimates
    variables = [v for v in load_radar().variables if v in set(est["variable"])]
    for v, rows in _by_variable(est, variables):
        hidden = rows["suppressed"].astype(bool) if "suppressed" in rows else pd.Series(False, index=rows.index)
        for stat in WIDE_STATISTICS:
            if stat in rows:
                values = rows[stat]
                if stat in ("estimate", "ci_low", "ci_high"):
                    values = values.astype(float).where(~hidden).round(4)
                columns[f"{v}_{stat}"] = ids.map(values).to_numpy()
        if "estimator" in rows:
            columns[f"{v}_estimator"] = ids.map(rows["estimator"]).to_numpy()
        columns[f"{v}_suppressed"] = ids.map(hidden).astype("boolean").to_numpy()
    if city.comparison is not None:
        for v, rows in _by_variable(city.comparison, variables):
            columns[f"{v}_deviation"] = ids.map(rows["deviation"].astype(float).round(6)).to_numpy()
            tested = rows["p_adjusted"].notna()
            columns[f"{v}_significant"] = ids.map(rows["significant"].astype(bool).where(tested)) \
                .astype("boolean").to_numpy()
    # the ranks of the published index (as on the map and in district_estimates.csv); without them
    # (tables from before) those of the comparison table
    ranked = est if "rank_low" in est.columns else city.comparison
    if ranked is not None:
        _, rows = next(_by_variable(ranked, [load_radar().index_slug], skip_empty=False))
        for stat in ("rank", "rank_low", "rank_high"):
            columns[f"index_{stat}"] = ids.map(rows[stat]).astype("Int64").to_numpy()
    if city.structural is not None:
        structural = city.structural.set_index(city.structural["district_id"].astype(str))
        for column in structural.columns:
            if (column in ("district_id", "district_name", "note") or column in columns
                    or not pd.api.types.is_numeric_dtype(structural[column])):
                continue  # text columns ('k.A.' cells) are not indicators: not exported as numbers
            values = structural[column].astype(float)
            if values.notna().any():
                columns[column] = ids.map(values).to_numpy()
    if city.need is not None:
        need = city.need.set_index(city.need["district_id"].astype(str))
        for column in need.columns:
            if column == "district_id" or column.startswith(("prob_class_", "value_")):
                continue
            values = ids.map(need[column].round(6) if pd.api.types.is_float_dtype(need[column]) else need[column])
            if column in ("need_class", "modal_class"):
                values = values.astype("Int64")
            elif column == "flag_unstable":
                values = values.astype("boolean")
            columns[column] = values.to_numpy()
    if city.change is not None and "district_id" in city.change.columns:
        for v, rows in _by_variable(latest_wave_changes(city.change), variables):
            columns[f"{v}_change"] = ids.map(rows["change"].astype(float).round(6)).to_numpy()
            columns[f"{v}_change_significant"] = ids.map(rows["significant"].astype(bool)).astype("boolean") \
                .to_numpy()
    if city.data_note:
        columns["note"] = np.full(len(ids), city.data_note, dtype=object)
    return gpd.GeoDataFrame(pd.DataFrame(columns), geometry=base.geometry.to_numpy(), crs=base.crs)


def _by_variable(table: pd.DataFrame, variables: list[str], skip_empty: bool = True
                 ) -> Iterator[tuple[str, pd.DataFrame]]:
    """``(variable, rows)`` of a long table (a row per district and variable), rows indexed by the
    district id as text; variables without rows are skipped unless ``skip_empty`` is False."""
    table = table.assign(district_id=table["district_id"].astype(str))
    for variable in variables:
        rows = table[table["variable"] == variable].set_index("district_id")
        if not (skip_empty and rows.empty):
            yield variable, rows


def field_alias(column: str) -> str:
    """German alias of a GeoPackage column (``index_ci_low`` -> ``Gesamtindex Zusammenhalt: KI untere Grenze``)."""
    labels = variable_labels()
    for v in sorted(load_radar().variables, key=len, reverse=True):
        if column.startswith(v + "_"):
            rest = column[len(v) + 1:]
            if rest.startswith("change"):
                what = "Veränderung" + (" signifikant" if rest.endswith("significant") else "")
            else:
                what = header(rest)
            return f"{labels[v]}: {what}"
    if column in labels:
        return labels[column]
    return header(column)


def _rgba(colour: str) -> str:
    colour = colour.lstrip("#")
    return ",".join(str(int(colour[i:i + 2], 16)) for i in (0, 2, 4)) + ",255"


def _bounds(classification: Classification, decimals: int = 4) -> list[tuple[float, float]]:
    """Class bounds on the scale of the exported values (rounded like them; the ends widened)."""
    edges = [classification.lower, *classification.bins]
    lows = [math.floor(edges[0] * 10**decimals) / 10**decimals] + [round(e, decimals) for e in edges[1:-1]]
    highs = [round(e, decimals) for e in edges[1:-1]] + [math.ceil(edges[-1] * 10**decimals) / 10**decimals]
    return list(zip(lows, highs))


def _fill_symbol(parent: ET.Element, name: str, colour: str) -> None:
    symbol = ET.SubElement(parent, "symbol", {"type": "fill", "name": name, "alpha": "1", "clip_to_extent": "1",
                                              "force_rhr": "0"})
    layer = ET.SubElement(symbol, "layer", {"class": "SimpleFill", "enabled": "1", "locked": "0", "pass": "0"})
    props = {"border_width_map_unit_scale": "3x:0,0,0,0,0,0", "color": _rgba(colour), "joinstyle": "bevel",
             "offset": "0,0", "offset_map_unit_scale": "3x:0,0,0,0,0,0", "offset_unit": "MM",
             "outline_color": "255,255,255,255", "outline_style": "solid", "outline_width": "0.26",
             "outline_width_unit": "MM", "style": "solid"}
    options = ET.SubElement(layer, "Option", {"type": "Map"})
    for key, value in props.items():  # QGIS >= 3.26 reads <Option>, older QGIS 3 reads <prop>
        ET.SubElement(options, "Option", {"name": key, "type": "QString", "value": value})
    for key, value in props.items():
        ET.SubElement(layer, "prop", {"k": key, "v": value})


def index_style_qml(classification: Classification, field: str, aliases: dict[str, str]) -> str:
    """QGIS style (QML) of a graduated renderer with the classes and colours of ``classification``.

    Parameters
    ----------
    classification : Classification
        The index layer's classification of the HTML map and the print figures.
    field : str
        Attribute to classify (``index_estimate``).
    aliases : dict
        Column -> German alias shown in QGIS's attribute table.

    Returns
    -------
    str
        QML text: ``renderer-v2 type="graduatedSymbol"`` with one range (lower, upper, label,
        colour) per class, plus field aliases. Districts without a value (suppressed) have no
        class and are not drawn, as in QGIS's graduated renderer generally.
    """
    root = ET.Element("qgis", {"version": QGIS_VERSION, "styleCategories": "Symbology|Fields"})
    renderer = ET.SubElement(root, "renderer-v2", {
        "type": "graduatedSymbol", "attr": field, "graduatedMethod": "GraduatedColor", "symbollevels": "0",
        "forceraster": "0", "enableorderby": "0", "referencescale": "-1"})
    ranges = ET.SubElement(renderer, "ranges")
    for i, ((low, high), label) in enumerate(zip(_bounds(classification), classification.labels)):
        ET.SubElement(ranges, "range", {"lower": repr(float(low)), "upper": repr(float(high)), "label": label,
                                        "symbol": str(i), "render": "true"})
    symbols = ET.SubElement(renderer, "symbols")
    for i, colour in enumerate(classification.colours):
        _fill_symbol(symbols, str(i), colour)
    source = ET.SubElement(renderer, "source-symbol")
    _fill_symbol(source, "0", classification.colours[len(classification.colours) // 2])
    method = {"quantiles": "Quantile", "natural_breaks": "Jenks", "equal_interval": "EqualInterval"}.get(
        classification.scheme, "Fixed")
    cm = ET.SubElement(renderer, "classificationMethod", {"id": method})
    ET.SubElement(cm, "symmetricMode", {"enabled": "0", "symmetrypoint": "0", "astride": "0"})
    ET.SubElement(cm, "labelFormat", {"format": "%1 – %2", "labelprecision": "1", "trimtrailingzeroes": "0"})
    ET.SubElement(renderer, "rotation")
    ET.SubElement(renderer, "sizescale")
    alias_root = ET.SubElement(root, "aliases")
    for i, (column, alias) in enumerate(aliases.items()):
        ET.SubElement(alias_root, "alias", {"field": column, "index": str(i), "name": alias})
    ET.SubElement(root, "layerGeometryType").text = "2"
    ET.indent(root, space=" ")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode") + "\n"


def index_style_sld(classification: Classification, field: str, layer_name: str) -> str:
    """The same classes as an OGC SLD 1.1 (for GIS other than QGIS)."""
    ns = {"": "http://www.opengis.net/sld", "ogc": "http://www.opengis.net/ogc", "se": "http://www.opengis.net/se"}
    sld = ET.Element("StyledLayerDescriptor", {"version": "1.1.0", "xmlns": ns[""], "xmlns:ogc": ns["ogc"],
                                               "xmlns:se": ns["se"]})
    named = ET.SubElement(sld, "NamedLayer")
    ET.SubElement(named, "se:Name").text = layer_name
    style = ET.SubElement(ET.SubElement(named, "UserStyle"), "se:FeatureTypeStyle")
    for (low, high), label, colour in zip(_bounds(classification), classification.labels, classification.colours):
        rule = ET.SubElement(style, "se:Rule")
        ET.SubElement(rule, "se:Name").text = label
        filt = ET.SubElement(ET.SubElement(rule, "ogc:Filter"), "ogc:And")
        for op, value in (("ogc:PropertyIsGreaterThanOrEqualTo", low), ("ogc:PropertyIsLessThanOrEqualTo", high)):
            cmp_ = ET.SubElement(filt, op)
            ET.SubElement(cmp_, "ogc:PropertyName").text = field
            ET.SubElement(cmp_, "ogc:Literal").text = repr(float(value))
        fill = ET.SubElement(ET.SubElement(ET.SubElement(rule, "se:PolygonSymbolizer"), "se:Fill"), "se:SvgParameter",
                             {"name": "fill"})
        fill.text = colour
    return ET.tostring(sld, encoding="unicode")


def layer_styles(city: CityReportInput, layer: pd.DataFrame, layer_name: str,
                 updated: dt.datetime) -> pd.DataFrame | None:
    """QGIS's ``layer_styles`` table with the index style as default (None without an index layer)."""
    if city.city_map is None:
        return None
    try:
        classification = city.city_map.layer(load_radar().index_slug).classification
    except KeyError:
        return None
    if not classification.colours:
        return None
    field = f"{load_radar().index_slug}_estimate"
    aliases = {c: field_alias(c) for c in layer.columns if c != "geometry"}
    utc = updated.astimezone(dt.timezone.utc) if updated.tzinfo else updated.replace(tzinfo=dt.timezone.utc)
    return pd.DataFrame({
        "f_table_catalog": [""], "f_table_schema": [""], "f_table_name": [layer_name],
        "f_geometry_column": ["geom"], "styleName": [layer_name],
        "styleQML": [index_style_qml(classification, field, aliases)],
        "styleSLD": [index_style_sld(classification, field, layer_name)], "useAsDefault": [True],
        "description": ["Zusammenhaltsindex – Klassen und Farben wie in der HTML-Karte (geo-cohesion)"],
        "owner": [""], "ui": [""], "update_time": pd.to_datetime([utc])})


def write_city_gis(city: CityReportInput, settings: ReportSettings, out_dir: Path) -> list[Path]:
    """``gis/<city>.gpkg`` (styled) and ``gis/<city>.geojson`` (WGS 84) of one city."""
    if city.city_map is None and city.boundaries is None:
        return []
    layer = district_layer(city)
    styles = layer_styles(city, layer, city.slug, settings.created)
    gis = out_dir / "gis"
    tables = {"layer_styles": styles} if styles is not None else None
    return [write_gpkg(layer, gis / f"{city.slug}.gpkg", layer=city.slug, attribute_tables=tables),
            write_geojson(layer, gis / f"{city.slug}.geojson")]


# --------------------------------------------------------------------------- all exports


def write_exports(cities: list[CityReportInput], settings: ReportSettings, out_dir: str | Path,
                  table_paths: list[Path]) -> list[Path]:
    """Write every export of a run (see the module docstring).

    Parameters
    ----------
    cities : list of CityReportInput
    settings : ReportSettings
    out_dir : str or Path
    table_paths : list of Path
        The machine-readable tables the run wrote (``tables/*.csv``).
    """
    out_dir = Path(out_dir)
    written: list[Path] = []
    tables = {Path(p).stem: read_output_table(p) for p in table_paths if Path(p).suffix == ".csv"}
    for city in cities:
        frame = need_table(city, city.data_note)
        if frame is not None:
            path = write_csv(frame, out_dir / "tables" / f"need_{city.slug}.csv")
            written.append(path)
            tables[path.stem] = read_output_table(path)
    slugs = {c.slug: c.name for c in cities}
    written += write_excel_tables(tables, out_dir)
    written.append(write_workbook(tables, slugs, settings, out_dir / "tables" / WORKBOOK))
    for city in cities:
        written += write_city_gis(city, settings, out_dir)
    return written

