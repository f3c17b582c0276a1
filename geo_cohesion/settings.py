"""Typed, validated settings: the one schema of a project file.

Every section of a project file is a frozen pydantic model here; :mod:`geo_cohesion.project.config`
turns a YAML file into these models, and the command line validates its overrides with the same
models (:func:`override`). Unknown keys, wrong types and values out of range are errors, never a
silent default, and every :class:`pydantic.ValidationError` becomes **one**
:class:`~geo_cohesion.errors.InputError` naming the key as a path (``cities[0].weighting.bounds``),
what is wrong and how to fix it.

The allowed values of choices used further down the pipeline (p-value adjustments, contiguity
rules, classification schemes, figure formats, estimators) are defined here, once; the modules
that implement them import these tuples.

The reference page of every key, ``docs/config.md``, is generated from this module::

    python -m geo_cohesion.settings --markdown > docs/config.md
"""
from __future__ import annotations

import argparse
import io
import sys
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from geo_cohesion.keys import MAX_SLUG_CHARS, SAFE_SLUG, slugify
from geo_cohesion.settings_text import reference_page

# the allowed values and the error type, defined once in settings_types, are part of this module's API
from geo_cohesion.settings_types import (  # the allowed values (X as X) are re-exported
    ADJUSTMENTS as ADJUSTMENTS,
    CONTIGUITIES as CONTIGUITIES,
    DECIMAL_MARKS as DECIMAL_MARKS,
    DEFAULT_FIGURE_FORMATS,
    DIRECTIONS as DIRECTIONS,
    ESTIMATORS as ESTIMATORS,
    FIGURE_FORMATS as FIGURE_FORMATS,
    MODEL_MSES as MODEL_MSES,
    ROLES as ROLES,
    SCHEMA_VERSIONS,
    SCHEMES as SCHEMES,
    SEED_LIMIT,
    THOUSANDS_SEPARATORS as THOUSANDS_SEPARATORS,
    YAML_MAX_DEPTH,
    Adjustment,
    Contiguity,
    DecimalMark,
    Direction,
    Estimator,
    FigureFormat,
    Float,
    Int,
    ModelMse,
    Role,
    Scheme,
    Settings,
    SettingsError as SettingsError,
    TableSpec,
    Text,
    ThousandsSeparator,
    WeightingMethod,
    WmsFormat,
    check_value as check_value,
    custom_error,
    decimal_key,
    merge_nested,
    setting,
    thousands_key,
    validate_section as validate_section,
)

# ---------------------------------------------------------------------------------------------
# City sections


class SurveySpec(TableSpec):
    """Survey microdata: one row per respondent with district, age group, gender and item answers."""

    path: Text = setting("The survey table (CSV or XLSX), relative to the project file.", example="befragung.csv",
                      min_length=1)
    district_column: Text = setting("Column with the district id.", "district_id")
    age_column: Text = setting("Column with the age group (a raking margin).", "age_group")
    gender_column: Text = setting("Column with the gender (a raking margin).", "gender")
    weight_column: Text | None = setting("Column with design weights; equal weights when empty.", None)
    strata_column: Text | None = setting("Column with the sampling stratum (e.g. boost districts); one stratum "
                                      "when empty.", None)
    codebook: Text | None = setting("Own codebook CSV (columns as the built-in codebook); the built-in Radar "
                                 "codebook when empty.", None)
    min_valid_share: Float = setting("Share of a dimension's items that must be valid for the dimension score.",
                                  0.5, example="0.5", gt=0, le=1)
    decimal: DecimalMark | None = decimal_key()
    thousands: ThousandsSeparator | None = thousands_key()


class ScoresSpec(TableSpec):
    """Already weighted district scores, for users without microdata (instead of survey + population)."""

    path: Text = setting("The score table (CSV or XLSX), relative to the project file.", example="scores.csv",
                      min_length=1)
    district_column: Text = setting("Column with the district id.", "district_id")
    variable_column: Text = setting("Column with the variable slug (index, dimensions, domains).", "variable")
    estimate_column: Text = setting("Column with the estimate (0-100).", "estimate")
    se_column: Text | None = setting("Column with the standard error; none when empty.", "se")
    n_column: Text | None = setting("Column with the number of respondents; none when empty.", "n")
    decimal: DecimalMark | None = decimal_key()
    thousands: ThousandsSeparator | None = thousands_key()


class MarginTableSpec(TableSpec):
    """One population margin table, e.g. residents per district, or age group x gender for the whole city."""

    path: Text = setting("The margin table (CSV, XLSX or SAV), relative to the project file.",
                      example="einwohner_bezirke.csv", min_length=1)
    population_column: Text | None = setting("Column with the number of residents; empty: the population "
                                          "section's population_column.", None)
    decimal: DecimalMark | None = decimal_key()
    thousands: ThousandsSeparator | None = thousands_key()


class PopulationSpec(TableSpec):
    """Population for the weighting: one table by district x age group x gender (long format, ``path``), or
    separate margin tables (``margin_tables``), e.g. residents per district and age group x gender for the city."""

    path: Text | None = setting("The population table (CSV, XLSX or SAV), relative to the project file; or "
                             "give margin_tables instead.", None, example="bevoelkerung.csv", min_length=1)
    margin_tables: tuple[MarginTableSpec, ...] | None = setting(
        "Separate margin tables instead of one cross-table: each table gives the margins whose columns it has "
        "(district_column, age_column, gender_column); margins given by two tables must agree.", None,
        example="[{path: einwohner_bezirke.csv}, {path: alter_geschlecht.csv}]", min_length=1)
    district_column: Text = setting("Column with the district id.", "district_id")
    age_column: Text = setting("Column with the age group (same categories as the survey).", "age_group")
    gender_column: Text = setting("Column with the gender (same categories as the survey).", "gender")
    population_column: Text = setting("Column with the number of residents.", "population")
    decimal: DecimalMark | None = decimal_key()
    thousands: ThousandsSeparator | None = thousands_key()

    @model_validator(mode="after")
    def _one_source(self) -> PopulationSpec:
        if (self.path is None) == (self.margin_tables is None):
            raise custom_error("population_source", "give the population either as one table ('path') or as "
                          "'margin_tables', not both and not neither",
                          "e.g. 'path: bevoelkerung.csv', or 'margin_tables: [{path: einwohner_bezirke.csv}, "
                          "{path: alter_geschlecht.csv}]'")
        return self


class IndicatorSpec(Settings):
    """How a structural indicator is labelled and read (the indicator registry of one column)."""

    label: Text | None = setting("Label shown on maps and in tables, e.g. 'SGB-II-Quote'; empty: the known "
                              "catalogue's label, else the column name.", None, example="SGB-II-Quote")
    unit: Text | None = setting("Unit shown after values, e.g. '%'; empty: the known catalogue's unit, else none.",
                             None)
    direction: Direction | None = setting("Whether higher values mean more need (higher_is_worse), less need "
                                       "(higher_is_better) or neither (neutral); empty: higher_is_worse for a "
                                       "deprivation indicator, else the known catalogue's, else neutral.", None)
    role: Role | None = setting("What the indicator stands for in analyses: deprivation, population or context; "
                             "none when empty.", None)


class StructuralSpec(TableSpec):
    """District structural indicators: one row per district."""

    path: Text = setting("The table of structural indicators (CSV or XLSX), relative to the project file.",
                      example="strukturdaten.csv", min_length=1)
    district_column: Text = setting("Column with the district id.", "district_id")
    name_column: Text | None = setting("Column with the district name (used in tables and maps).", "district_name")
    indicators: dict[Text, IndicatorSpec] | None = setting(
        "Optional registry of the indicator columns: column -> {label, unit, direction, role}.", None)
    decimal: DecimalMark | None = decimal_key()
    thousands: ThousandsSeparator | None = thousands_key()


class WeightingSpec(Settings):
    """Raking: survey columns to rake on and optional bounds on the g-weights; or the survey's weights as given."""

    method: WeightingMethod = setting(
        "'raking': calibrate the weights to the population table's margins. 'none': use the survey's weights "
        "('weight_column') as they are, e.g. final weights the survey institute already calibrated; no "
        "population table is read, the SEs have no calibration term, and districts without respondents are those "
        "of the structural table (with model values).", "raking")
    margins: tuple[Text, ...] = setting("Survey columns whose population totals the weights reproduce.",
                                     default_factory=lambda: ("age_group", "gender", "district_id"),
                                     example="[age_group, gender, district_id]", min_length=1)
    bounds: tuple[Float, ...] | None = setting("Bounds [low, high] on the g-weights (raked / design weight), "
                                            "0 <= low < 1 < high; unbounded when empty.", None,
                                            example="[0.3, 3.0]")
    max_iter: Int = setting("Most raking iterations.", 1000, example="1000", ge=1)
    tol: Float = setting("Convergence tolerance of raking (largest relative margin error).", 1e-10,
                      example="1e-10", gt=0)

    @field_validator("bounds")
    @classmethod
    def _bounds_pair(cls, bounds: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if bounds is not None and not (len(bounds) == 2 and 0 <= bounds[0] < 1 < bounds[1]):
            shown = "[" + ", ".join(f"{b:g}" for b in bounds) + "]"
            raise custom_error("bounds", "must be [low, high] with 0 <= low < 1 < high, got {shown}",
                          "e.g. 'bounds: [0.3, 3.0]', or leave the bounds out", shown=shown)
        return bounds


class BoundariesSpec(Settings):
    """District boundary file (shapefile, also zipped, GeoPackage or GeoJSON)."""

    path: Text = setting("The boundary file, relative to the project file.", example="bezirke.gpkg", min_length=1)
    id_column: Text | None = setting("Column with the district id (as in the survey).", None)
    name_column: Text | None = setting("Column with the district name.", None)
    layer: Text | None = setting("Layer of a GeoPackage.", None)
    crs: Text | None = setting("CRS when the file has none (no .prj), e.g. 'EPSG:25832'.", None)
    note: Text | None = setting("Note shown on every map of the city, e.g. 'schematische Grenzen - nicht amtlich'.",
                             None)


class WaveSpec(Settings):
    """An earlier survey wave of the city, compared with its main survey in ``tables/change_<city>.csv``."""

    label: Text = setting("Name of the wave in tables and maps, e.g. '2015'.", example="2015", min_length=1)
    survey: SurveySpec | None = setting("Survey microdata of that wave (as the city's 'survey'); needs 'population' "
                                     "unless the city's weighting method is 'none'.", None)
    population: PopulationSpec | None = setting("Population table of that wave for its weighting.", None)
    scores: ScoresSpec | None = setting("Already weighted district scores of that wave, instead of survey.", None)
    structural: StructuralSpec | None = setting("Structural indicators of that wave's year (dynamics index).", None)

    @model_validator(mode="after")
    def _one_source(self) -> WaveSpec:
        if (self.survey is None) == (self.scores is None):
            raise custom_error("wave_data",
                               "wave '{label}' needs 'survey' with 'population', or 'scores' (one of them)",
                               "give the earlier survey as in the city's own sections", label=self.label)
        return self


class CityConfig(Settings):
    """Everything geo-cohesion needs for one city: its files and groupings.

    A city needs ``survey`` (with ``population``, unless its weights are used as given) or ``scores``.
    ``slug`` defaults to a file-name-safe form of ``name``; ``weighting`` defaults to raking on age
    group, gender and district when there is a survey.
    """

    name: Text = setting("City name as shown on maps and in tables.", example="Musterstadt")
    slug: Text = setting("File-name-safe short name for output files (letters, digits, '-', '_'); derived from "
                      "the name when empty.", "")
    survey: SurveySpec | None = setting("Survey microdata (see below); needs 'population' unless 'weighting' "
                                        "has method 'none'.", None)
    scores: ScoresSpec | None = setting("Already weighted district scores, instead of survey and population.", None)
    population: PopulationSpec | None = setting("Population table for the weighting (needed with 'survey' when "
                                                "raking).", None)
    structural: StructuralSpec | None = setting("Structural indicators per district.", None)
    weighting: WeightingSpec | None = setting("Raking settings; the defaults when there is a survey.", None)
    boundaries: BoundariesSpec | None = setting("District boundaries for maps and spatial statistics.", None)
    groups: dict[Text, tuple[Text, ...]] = setting(
        "District groups (e.g. Sozialräume): group name -> list of district ids, estimated from the microdata.",
        default_factory=dict, example='{Nord: ["01", "02"], Süd: ["03", "04"]}')
    group_column: Text | None = setting(
        "Instead of listing groups: a column holding each district's group, looked up in the structural table, "
        "the boundary file or the population table (the first that has it), e.g. 'stadtbezirk'.", None)
    group_key_prefix: Int | None = setting(
        "Instead of listing groups: the group is the first N characters of the district id (e.g. 6: Berlin's "
        "Bezirksregion BZR_ID from the Planungsraum PLR_ID).", None, example="6", ge=1)
    note: Text | None = setting("Note on every table row and map of this city (instead of the project note).", None)
    waves: tuple[WaveSpec, ...] = setting("Earlier survey waves, oldest first; changes to the main survey are "
                                       "tested per district.", default_factory=tuple)
    wave_label: Text | None = setting("Name of the main survey's wave in change tables; the survey period when "
                                   "empty.", None, example="2017")

    @model_validator(mode="before")
    @classmethod
    def _derived(cls, data: Any) -> Any:
        """Slug from the name and default weighting for a survey (the models are frozen afterwards)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        name = data.get("name")
        if not data.get("slug") and isinstance(name, (str, int)) and not isinstance(name, bool) and str(name).strip():
            data["slug"] = slugify(str(name))
        if data.get("survey") is not None and data.get("weighting") is None:
            data["weighting"] = {}
        return data

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, name: str) -> str:
        if not name.strip():
            raise custom_error("blank_name", "the city needs a name", "write 'name: <city name>'")
        return name

    @field_validator("slug")
    @classmethod
    def _safe_slug(cls, slug: str) -> str:
        if not (SAFE_SLUG.fullmatch(slug) and len(slug) <= MAX_SLUG_CHARS):
            raise custom_error("unsafe_slug", "slug '{slug}' is not a safe file name",
                          f"use only letters, digits, '-' and '_' (at most {MAX_SLUG_CHARS} characters), "
                          f"e.g. 'slug: {slugify(slug)}', or leave the slug out", slug=slug)
        return slug

    @model_validator(mode="after")
    def _one_grouping(self) -> CityConfig:
        given = [k for k, v in (("groups", self.groups), ("group_column", self.group_column),
                                ("group_key_prefix", self.group_key_prefix)) if v]
        if len(given) > 1:
            raise custom_error("two_groupings", "city '{name}' gives its groups twice ({given})",
                          "keep one of 'groups' (listed ids), 'group_column' or 'group_key_prefix'",
                          name=self.name, given=", ".join(given))
        return self

    @model_validator(mode="after")
    def _data_sections(self) -> CityConfig:
        if self.survey is None and self.scores is None:
            raise custom_error("no_data", "city '{name}' needs 'survey' (microdata) or 'scores' (weighted district "
                          "scores)", "add one of these sections to the city", name=self.name)
        if self.weighting is not None and self.weighting.method == "none":
            unused = [w.label for w in self.waves if w.population is not None]
            if self.population is not None or unused:
                raise custom_error("unused_population", "city '{name}' uses the survey's weights as given "
                                   "(weighting method 'none'), so its population table{waves} would not be used",
                                   "remove the 'population' section, or calibrate to it with 'weighting: {method: "
                                   "raking}'", name=self.name, waves=f" (waves {', '.join(unused)})" if unused else "")
            return self
        hint = ("add a 'population:' section with the table of population by district, age group and gender, or use "
                "the survey's weights as they are with 'weighting: {method: none}'")
        if self.survey is not None and self.population is None:
            raise custom_error("no_population", "city '{name}' has survey microdata but no 'population' table for "
                               "weighting", hint, name=self.name)
        for wave in self.waves:
            if wave.survey is not None and wave.population is None:
                raise custom_error("wave_data", "wave '{label}' of city '{name}' has survey microdata but no "
                                   "'population' table for weighting", hint, name=self.name, label=wave.label)
        return self


# ---------------------------------------------------------------------------------------------
# Project-wide sections


class EstimateSpec(Settings):
    """Estimation settings shared by all cities."""

    level: Float = setting("Confidence level of all intervals, as a share.", 0.95, example="0.95",
                        hint="write the confidence level as a share, e.g. 'level: 0.95'", gt=0, lt=1)
    min_n: Int = setting("Estimates from fewer respondents are suppressed (numbers left empty).", 30,
                      example="30", hint="write the suppression threshold as a count, e.g. 'min_n: 30'", ge=0)
    estimator: Estimator = setting("District estimator: direct survey estimates, or Fay-Herriot small-area "
                                "estimates (plain or spatial); see README 'Small-area estimation'.", "fay_herriot")
    covariates: tuple[Text, ...] | None = setting(
        "Structural indicators used as covariates of the small-area model; empty: chosen by forward AIC, "
        "at most one per five districts.", None, example="[sgb2_share_pct]")
    model_mse: ModelMse = setting(
        "MSE behind the intervals of model estimates: prasad_rao = the Prasad-Rao MSE (R sae), robust = the "
        "larger of it and the district's own conditional MSE (Rivest & Belmonte 2000); see README "
        "'Small-area estimation'.", "prasad_rao")
    group_effects: bool = setting(
        "Fay-Herriot with random effects of the city's groups (two-fold model, Torabi & Rao 2014) where the city has "
        "groups: a small district borrows its group's level; MSE by parametric bootstrap. false: the plain model. "
        "See README 'Small-area estimation'.", True)
    group_mse_bootstrap: Int = setting("Bootstrap replicates of the MSE with group_effects.", 200, example="200",
                                       ge=20, le=10000)
    benchmark: bool = setting("Ratio-benchmark model estimates so that their population-weighted mean equals the "
                           "direct city value.", False)
    max_ci_halfwidth: Float | None = setting(
        "Reliability rule: suppress any estimate whose interval half-width exceeds this many points "
        "(empty: no interval rule).", 10.0, example="10", gt=0)
    merge_small: bool = setting("Merge districts with fewer than merge_min_n respondents into larger areas before "
                             "estimating.", False)
    merge_min_n: Int = setting("Fewest respondents of a district when merge_small is on.", 30, example="30", ge=2)
    workers: Int = setting("Processes that compute the cities (reading, weighting, estimating, comparing) in "
                           "parallel: 0 = one per available CPU core (at most 4), 1 = one after another. The "
                           "results are identical either way.", 0, example="2", ge=0, le=64)


class Basemap(Settings):
    """A tile or WMS source drawn under the districts of the HTML maps (off unless configured)."""

    url: Text = setting("Tile URL with {z}, {x} and {y} (https), e.g. basemap.de "
                     "'https://sgx.geodatenzentrum.de/wmts_basemapde/tile/1.0.0/de_basemapde_web_raster_farbe/default/"
                     "GLOBAL_WEBMERCATOR/{z}/{y}/{x}.png' or OpenStreetMap "
                     "'https://tile.openstreetmap.org/{z}/{x}/{y}.png'; with wms_layers the https address of a "
                     "WMS instead, e.g. 'https://sgx.geodatenzentrum.de/wms_basemapde'.",
                     example="https://tile.openstreetmap.org/{z}/{x}/{y}.png")
    attribution: Text = setting("Attribution the tile provider requires, shown on the map (plain text).",
                             example="© OpenStreetMap contributors")
    max_zoom: Int = setting("Highest zoom level the source serves.", 19, example="19", ge=1, le=22)
    wms_layers: Text | None = setting("Layer name(s) of a WMS, comma-separated (e.g. basemap.de "
                                   "'de_basemapde_web_raster_grau'); empty: url is a tile URL.", None,
                                   example="de_basemapde_web_raster_grau")
    wms_format: WmsFormat = setting("Image format requested from the WMS.", "image/png")

    @field_validator("url")
    @classmethod
    def _https(cls, url: str) -> str:
        if not url.startswith("https://") or any(c.isspace() for c in url):
            raise custom_error("basemap_url", "must be an https tile URL (or, with wms_layers, an https WMS address), "
                               "got '{url}'",
                          "e.g. 'url: https://tile.openstreetmap.org/{z}/{x}/{y}.png'", url=url)
        return url

    @field_validator("wms_layers")
    @classmethod
    def _layers(cls, layers: str | None) -> str | None:
        if layers is None:
            return None
        names = [name.strip() for name in layers.split(",")]
        if not all(names) or any(any(c.isspace() for c in name) for name in names):
            raise custom_error("wms_layers", "must be WMS layer names separated by commas, got '{layers}'",
                          "e.g. 'wms_layers: de_basemapde_web_raster_grau'", layers=layers)
        return ",".join(names)

    @model_validator(mode="after")
    def _tile_or_wms(self) -> Basemap:
        placeholders = [p for p in ("{z}", "{x}", "{y}") if p in self.url]
        if self.wms_layers is None and len(placeholders) < 3:
            raise custom_error("tile_url", "url must be an https tile URL with {placeholders}, got '{url}'",
                          "e.g. 'url: https://tile.openstreetmap.org/{z}/{x}/{y}.png', or give wms_layers for "
                          "a WMS", url=self.url, placeholders="{z}, {x} and {y}")
        if self.wms_layers is not None and (placeholders or "?" in self.url):
            raise custom_error("wms_url", "with wms_layers, url must be the WMS address without tile placeholders "
                          "and without a query, got '{url}'",
                          "e.g. 'url: https://sgx.geodatenzentrum.de/wms_basemapde'", url=self.url)
        return self

    @field_validator("attribution")
    @classmethod
    def _attribution(cls, text: str) -> str:
        if not text.strip():
            raise custom_error("no_attribution", "must name the source of the tiles",
                          "write the attribution the provider requires, e.g. 'attribution: © OpenStreetMap "
                          "contributors'")
        return text.strip()


class MapSpec(Settings):
    """Map and figure settings shared by all cities."""

    scheme: Scheme = setting("Classification of map values: quantiles, natural_breaks (Fisher-Jenks), "
                          "equal_interval, fixed (bands on the 0-100 scale) or user (the breaks below).",
                          "quantiles")
    k: Int = setting("Number of classes (quantiles, natural_breaks, equal_interval).", 5, example="5", ge=2, le=9)
    breaks: tuple[Float, ...] | None = setting(
        "Upper class bounds for scheme 'user', strictly increasing.", None, example="[50, 60, 70, 100]",
        min_length=1)
    offline: bool = setting("Self-contained HTML maps: Leaflet and all assets inlined, so they work without internet "
                         "access and behind proxies that block CDNs; false loads Leaflet from a CDN (smaller files).",
                         True)
    basemap: Basemap | None = setting("Base map under the districts of the HTML maps: url, attribution (and "
                                   "max_zoom); empty (the default): no base map, so maps work offline.", None)
    tolerance_m: Float = setting("Simplification tolerance of the HTML map geometry in metres (0: none).", 5.0,
                              example="5", ge=0)
    allow_missing: bool = setting("Show districts without estimates as 'keine Daten' instead of stopping.", False)
    figures: bool = setting("Write print figures (A4) next to the HTML maps.", True)
    figure_formats: tuple[FigureFormat, ...] = setting(
        "Formats of the print figures: a non-empty list of png, pdf, svg (default png for office documents "
        "and pdf for print; add svg for editing in Inkscape or Illustrator).",
        default_factory=lambda: DEFAULT_FIGURE_FORMATS, example="[png, pdf, svg]", min_length=1)
    figure_workers: Int = setting("Processes that draw the print figures and write the reports in parallel: 0 = one "
                               "per available CPU core (at most 4), 1 = one after another. The files are identical "
                               "either way.",
                               0, example="2", ge=0, le=64)
    figure_variables: tuple[Text, ...] | None = setting(
        "Variables (score slugs or structural indicator columns) drawn as print figures; empty: the "
        "index, the 3 domains and every structural indicator. An unknown name is an error.", None,
        example="[index, sgb2_share_pct]")

    @field_validator("breaks")
    @classmethod
    def _increasing(cls, breaks: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if breaks is not None and any(b <= a for a, b in zip(breaks, breaks[1:])):
            shown = "[" + ", ".join(f"{b:g}" for b in breaks) + "]"
            raise custom_error("breaks_order", "must be strictly increasing numbers, got {shown}",
                          "list the upper class bounds from low to high, each once, e.g. 'breaks: [50, 60, 70, 100]'",
                          shown=shown)
        return breaks

    @field_validator("figure_formats")
    @classmethod
    def _each_once(cls, formats: tuple[str, ...]) -> tuple[str, ...]:
        twice = sorted({f for f in formats if formats.count(f) > 1})
        if twice:
            raise custom_error("formats_twice", "lists {twice} more than once", "name each format once, e.g. "
                          "'figure_formats: [png, pdf]'", twice=", ".join(twice))
        return formats

    @model_validator(mode="after")
    def _breaks_with_user(self) -> MapSpec:
        if self.scheme == "user" and self.breaks is None:
            raise custom_error("user_needs_breaks", "scheme 'user' needs breaks",
                          "give the upper class bounds, e.g. 'breaks: [50, 60, 70, 100]'")
        if self.scheme != "user" and self.breaks is not None:
            raise custom_error("breaks_unused", "breaks are only used with scheme 'user' (scheme is '{scheme}')",
                          "set the scheme to 'user' to use your breaks, or leave the breaks out", scheme=self.scheme)
        return self


class CompareSpec(Settings):
    """Within-city comparison and spatial statistics."""

    alpha: Float = setting("Significance level of the deviation tests and LISA clusters.", 0.05, example="0.05",
                        hint="write the significance level as a share, e.g. 'alpha: 0.05'", gt=0, lt=1)
    adjust: Adjustment = setting("Multiple-testing control across the districts of a city: holm, fdr_bh "
                              "(Benjamini-Hochberg) or none.", "holm")
    contiguity: Contiguity = setting("Neighbours for spatial statistics: queen (shared border or corner) or rook "
                                  "(shared border).", "queen")
    permutations: Int = setting("Permutations of Moran's I and LISA (at least 99).", 999, example="999", ge=99)
    rank_draws: Int = setting("Simulation draws of the rank intervals (at least 100).", 10_000, example="10000",
                           ge=100)
    indicators: tuple[Text, ...] | None = setting(
        "Structural indicator columns the scores are correlated with across districts; empty: every "
        "registered indicator except the population. An unknown name is an error.", None,
        example="[unemployment_pct, sgb2_share_pct]")


class NeedSpec(Settings):
    """The need index (MSS method: z-standardise, weighted sum, standardise again, classes at SD thresholds)."""

    indicators: dict[Text, Float] | None = setting(
        "Indicator -> weight (> 0): structural columns or score slugs; the direction comes from the indicator "
        "registry (scores: higher is better). Empty: every registered indicator with a direction that is not "
        "population or context, plus the index.", None, example="{sgb2_share_pct: 1, index: 1}")
    class_breaks: tuple[Float, ...] = setting("Class thresholds in SDs of the need score (class 1 = lowest need).",
                                           default_factory=lambda: (-1.0, 1.0, 1.5), min_length=1)
    dynamics_breaks: tuple[Float, ...] = setting("Thresholds of the dynamics classes 1 (positive), 3 (stable), "
                                              "5 (negative).", default_factory=lambda: (-1.0, 1.0), min_length=2,
                                              max_length=2)
    priority: tuple[Text, ...] | None = setting("Need classes ('4') or status/dynamics cells ('3/5') of priority "
                                             "areas; empty: classes above +1 SD.", None, example='["4", "3/5"]')
    draws: Int = setting("Simulation draws of the class stability.", 2000, example="2000", ge=100)

    @field_validator("indicators")
    @classmethod
    def _positive(cls, weights: dict[str, float] | None) -> dict[str, float] | None:
        if weights is not None and (not weights or any(w <= 0 for w in weights.values())):
            raise custom_error("need_weights", "needs at least one indicator, each with a weight > 0",
                          "the direction comes from structural.indicators; e.g. '{sgb2_share_pct: 1, index: 1}'")
        return weights


class ProjectConfig(Settings):
    """A project: cities plus shared settings.

    Relative paths in the file are relative to its folder, :attr:`base_dir` (not a key of the
    file; given when validating, see :func:`validate_project`).
    """

    cities: list[CityConfig] = setting("The cities, each with its files (see cities[] below).", min_length=1)
    schema_version: Int = setting("Version of the project-file schema; 1 when absent.", 1, example="1")
    title: Text = setting("Title on maps, figures and in metadata.json.", "Radar gesellschaftlicher Zusammenhalt")
    note: Text | None = setting("Note on every table row and map, e.g. 'synthetische Demodaten'.", None)
    seed: Int = setting("Random seed of the simulations (rank intervals, permutation tests).", 0, example="0",
                     ge=0, lt=SEED_LIMIT)
    survey_period: Text | None = setting("Survey period shown in the data source line of maps, e.g. "
                                      "'2017-03-27/2017-05-23'.", None)
    estimates: EstimateSpec = setting("Estimation settings.", default_factory=EstimateSpec)
    maps: MapSpec = setting("Map and figure settings.", default_factory=MapSpec)
    compare: CompareSpec = setting("Comparison and spatial statistics settings.", default_factory=CompareSpec)
    need: NeedSpec = setting("Need index, dynamics index and priority areas.", default_factory=NeedSpec)

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, version: int) -> int:
        if version not in SCHEMA_VERSIONS:
            supported = ", ".join(str(v) for v in SCHEMA_VERSIONS)
            raise custom_error("schema_version", "schema_version {version} is not supported (this geo-cohesion reads "
                          "schema_version {supported})", f"write 'schema_version: {SCHEMA_VERSIONS[-1]}' and check "
                          "the keys against docs/config.md, or update geo-cohesion", version=version,
                          supported=supported)
        return version

    @model_validator(mode="after")
    def _unique_slugs(self, info: ValidationInfo) -> ProjectConfig:
        slugs = [c.slug for c in self.cities]
        twice = sorted({s for s in slugs if slugs.count(s) > 1})
        if twice:
            raise custom_error("slugs_twice", "two cities have the same name/slug ({twice})",
                          "give each city a unique 'slug'", twice=", ".join(twice))
        base_dir = (info.context or {}).get("base_dir")
        self._base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        return self

    @property
    def base_dir(self) -> Path:
        """Folder that relative paths are resolved against (the project file's folder)."""
        return self._base_dir

    def resolve(self, path: str | Path) -> Path:
        """A config path relative to the config file's folder."""
        path = Path(path)
        return path if path.is_absolute() else self._base_dir / path


# ---------------------------------------------------------------------------------------------
# Validation with one readable error


def validate_project(raw: Any, base_dir: str | Path | None = None) -> ProjectConfig:
    """Validate a parsed project file.

    Parameters
    ----------
    raw : mapping
        The parsed project file (plain scalars may be text; numbers and true/false are parsed
        where a key is numeric or boolean).
    base_dir : str or Path, optional
        Folder relative paths are resolved against; the working directory when None.

    Returns
    -------
    ProjectConfig

    Raises
    ------
    SettingsError
        One message for the first problem (and how many more there are).
    """
    return validate_section(ProjectConfig, raw, context={"base_dir": base_dir})


def override(project: ProjectConfig, updates: Mapping[str, Any], names: Mapping[str, str] | None = None
             ) -> ProjectConfig:
    """A copy of ``project`` with ``updates`` (nested like the file) merged in and validated again.

    ``model_copy(update=...)`` does not validate; this does, with the same rules and messages as
    the file (``names`` maps keys to option names, e.g. ``{"compare.alpha": "--alpha"}``).

    Examples
    --------
    >>> override(project, {"compare": {"alpha": 0.1}})  # doctest: +SKIP
    """
    merged = merge_nested(project.model_dump(), updates)
    return validate_section(ProjectConfig, merged, names, context={"base_dir": project.base_dir})


# ---------------------------------------------------------------------------------------------
# docs/config.md


def markdown() -> str:
    """The reference page of every key of a project file (``docs/config.md``)."""
    return reference_page(ProjectConfig, YAML_MAX_DEPTH, SCHEMA_VERSIONS)


def main(argv: list[str] | None = None) -> int:
    """``python -m geo_cohesion.settings --markdown``: print the reference page of every key."""
    parser = argparse.ArgumentParser(prog="python -m geo_cohesion.settings", description=main.__doc__)
    parser.add_argument("--markdown", action="store_true", help="print docs/config.md")
    args = parser.parse_args(argv)
    if not args.markdown:
        parser.print_help()
        return 0
    typing.cast(io.TextIOWrapper, sys.stdout).reconfigure(encoding="utf-8")
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
