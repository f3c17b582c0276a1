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
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonDict
from pydantic_core import PydanticCustomError, PydanticKnownError

from geo_cohesion.errors import InputError
from geo_cohesion.keys import MAX_SLUG_CHARS, SAFE_SLUG, slugify
from geo_cohesion.settings_text import (
    default_text,
    describe_error,
    expected_text,
    is_model,
    location_name,
    md_cell,
    model_sections,
    unknown_keys_text,
)

# ---------------------------------------------------------------------------------------------
# Allowed values (one place; the implementing modules import them)

#: Versions of the project-file schema this geo-cohesion reads.
SCHEMA_VERSIONS = (1,)
# (the values are written once, in the Literal types; the tuples are their arguments)
Adjustment = Literal["holm", "fdr_bh", "none"]
Contiguity = Literal["queen", "rook"]
Scheme = Literal["quantiles", "natural_breaks", "equal_interval", "fixed", "user"]
FigureFormat = Literal["png", "pdf", "svg"]
Estimator = Literal["direct", "fay_herriot", "spatial_fay_herriot"]
Direction = Literal["higher_is_worse", "higher_is_better", "neutral"]
Role = Literal["deprivation", "population", "context"]
DecimalMark = Literal[".", ","]
ThousandsSeparator = Literal["", ".", ",", " "]

#: Multiple-testing adjustments across districts (:mod:`geo_cohesion.stats.multiple_testing`).
ADJUSTMENTS: tuple[str, ...] = typing.get_args(Adjustment)
#: Contiguity rules for spatial weights (:mod:`geo_cohesion.spatial.weights`).
CONTIGUITIES: tuple[str, ...] = typing.get_args(Contiguity)
#: Map classification schemes (:mod:`geo_cohesion.maps.classify`).
SCHEMES: tuple[str, ...] = typing.get_args(Scheme)
#: Formats of the print figures.
FIGURE_FORMATS: tuple[str, ...] = typing.get_args(FigureFormat)
#: District estimators.
ESTIMATORS: tuple[str, ...] = typing.get_args(Estimator)
#: Direction of a structural indicator.
DIRECTIONS: tuple[str, ...] = typing.get_args(Direction)
#: Role of a structural indicator.
ROLES: tuple[str, ...] = typing.get_args(Role)
#: Decimal marks and thousands separators a CSV table may declare (``""``: no thousands separator).
DECIMAL_MARKS: tuple[str, ...] = typing.get_args(DecimalMark)
THOUSANDS_SEPARATORS: tuple[str, ...] = typing.get_args(ThousandsSeparator)
#: Seeds are unsigned 32-bit integers (``0 <= seed < SEED_LIMIT``).
SEED_LIMIT = 2**32
#: Deepest nesting a project file may have (the YAML loader refuses deeper files).
YAML_MAX_DEPTH = 20

# ---------------------------------------------------------------------------------------------
# Value types. A YAML file gives every plain scalar as text (see project.config); numbers and
# true/false are parsed where the field is numeric or boolean. Python callers may give numbers.


def _float_not_bool(value: Any) -> Any:
    """Numbers are numbers: ``true`` is not 1."""
    if isinstance(value, bool):
        raise PydanticKnownError("float_type")
    return value


def _int_not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticKnownError("int_type")
    return value


def _whole_number_as_text(value: Any) -> Any:
    """An id given as a Python integer (``20``) is the text ``"20"``; floats and booleans are not text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


Int = Annotated[int, BeforeValidator(_int_not_bool)]
Float = Annotated[float, BeforeValidator(_float_not_bool)]
Text = Annotated[str, BeforeValidator(_whole_number_as_text)]


def _custom(kind: str, message: str, hint: str, **context: Any) -> PydanticCustomError:
    """A validation error with its own message and a hint for the user."""
    return PydanticCustomError(kind, message, {"hint": hint, **context})


def _key(description: str, default: Any = ..., *, example: str | None = None, hint: str | None = None,
         **constraints: Any) -> Any:
    """A documented key: ``description`` goes to docs/config.md, ``example``/``hint`` into messages."""
    extra: JsonDict = {k: v for k, v in (("example", example), ("hint", hint)) if v is not None}
    factory = constraints.pop("default_factory", None)
    if factory is not None:
        return Field(default_factory=factory, description=description, json_schema_extra=extra or None, **constraints)
    return Field(default, description=description, json_schema_extra=extra or None, **constraints)


class Settings(BaseModel):
    """Base of all settings sections: frozen, unknown keys are errors, no NaN or infinity."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, validate_default=False)


# ---------------------------------------------------------------------------------------------
# City sections


def _decimal_key() -> Any:
    return _key("Decimal mark of the CSV's numbers: '.' or ','; decided per column from its values when empty "
                "(not used for .xlsx/.sav).", None, example='","')


def _thousands_key() -> Any:
    return _key("Thousands separator of the CSV's numbers: '.', ',', ' ' or '' (none); decided per column when "
                "empty. Set it when a column is reported as ambiguous (e.g. '2.069' next to '987').", None,
                example='"."')


class TableSpec(Settings):
    """Base of the table sections: the declared number format (``decimal``, ``thousands``) is consistent."""

    @model_validator(mode="after")
    def _distinct_marks(self) -> Any:
        decimal, thousands = getattr(self, "decimal", None), getattr(self, "thousands", None)
        if decimal is not None and decimal == thousands:
            raise _custom("same_marks", "decimal mark and thousands separator are both '{mark}'",
                          "German numbers: 'decimal: \",\"' with 'thousands: \".\"'; English: the other way "
                          "round; 'thousands: \"\"' for none", mark=decimal)
        return self


class SurveySpec(TableSpec):
    """Survey microdata: one row per respondent with district, age group, gender and item answers."""

    path: Text = _key("The survey table (CSV or XLSX), relative to the project file.", example="befragung.csv",
                      min_length=1)
    district_column: Text = _key("Column with the district id.", "district_id")
    age_column: Text = _key("Column with the age group (a raking margin).", "age_group")
    gender_column: Text = _key("Column with the gender (a raking margin).", "gender")
    weight_column: Text | None = _key("Column with design weights; equal weights when empty.", None)
    strata_column: Text | None = _key("Column with the sampling stratum (e.g. boost districts); one stratum "
                                      "when empty.", None)
    codebook: Text | None = _key("Own codebook CSV (columns as the built-in codebook); the built-in Radar "
                                 "codebook when empty.", None)
    min_valid_share: Float = _key("Share of a dimension's items that must be valid for the dimension score.",
                                  0.5, example="0.5", gt=0, le=1)
    decimal: DecimalMark | None = _decimal_key()
    thousands: ThousandsSeparator | None = _thousands_key()


class ScoresSpec(TableSpec):
    """Already weighted district scores, for users without microdata (instead of survey + population)."""

    path: Text = _key("The score table (CSV or XLSX), relative to the project file.", example="scores.csv",
                      min_length=1)
    district_column: Text = _key("Column with the district id.", "district_id")
    variable_column: Text = _key("Column with the variable slug (index, dimensions, domains).", "variable")
    estimate_column: Text = _key("Column with the estimate (0-100).", "estimate")
    se_column: Text | None = _key("Column with the standard error; none when empty.", "se")
    n_column: Text | None = _key("Column with the number of respondents; none when empty.", "n")
    decimal: DecimalMark | None = _decimal_key()
    thousands: ThousandsSeparator | None = _thousands_key()


class PopulationSpec(TableSpec):
    """Population by district x age group x gender (long format): the raking margins."""

    path: Text = _key("The population table (CSV or XLSX), relative to the project file.",
                      example="bevoelkerung.csv", min_length=1)
    district_column: Text = _key("Column with the district id.", "district_id")
    age_column: Text = _key("Column with the age group (same categories as the survey).", "age_group")
    gender_column: Text = _key("Column with the gender (same categories as the survey).", "gender")
    population_column: Text = _key("Column with the number of residents.", "population")
    decimal: DecimalMark | None = _decimal_key()
    thousands: ThousandsSeparator | None = _thousands_key()


class IndicatorSpec(Settings):
    """How a structural indicator is labelled and read (the indicator registry of one column)."""

    label: Text | None = _key("Label shown on maps and in tables, e.g. 'SGB-II-Quote'; empty: the known "
                              "catalogue's label, else the column name.", None, example="SGB-II-Quote")
    unit: Text | None = _key("Unit shown after values, e.g. '%'; empty: the known catalogue's unit, else none.",
                             None)
    direction: Direction | None = _key("Whether higher values mean more need (higher_is_worse), less need "
                                       "(higher_is_better) or neither (neutral); empty: higher_is_worse for a "
                                       "deprivation indicator, else the known catalogue's, else neutral.", None)
    role: Role | None = _key("What the indicator stands for in analyses: deprivation, population or context; "
                             "none when empty.", None)


class StructuralSpec(TableSpec):
    """District structural indicators: one row per district."""

    path: Text = _key("The table of structural indicators (CSV or XLSX), relative to the project file.",
                      example="strukturdaten.csv", min_length=1)
    district_column: Text = _key("Column with the district id.", "district_id")
    name_column: Text | None = _key("Column with the district name (used in tables and maps).", "district_name")
    indicators: dict[Text, IndicatorSpec] | None = _key(
        "Optional registry of the indicator columns: column -> {label, unit, direction, role}.", None)
    decimal: DecimalMark | None = _decimal_key()
    thousands: ThousandsSeparator | None = _thousands_key()


class WeightingSpec(Settings):
    """Raking: survey columns to rake on and optional bounds on the g-weights."""

    margins: tuple[Text, ...] = _key("Survey columns whose population totals the weights reproduce.",
                                     default_factory=lambda: ("age_group", "gender", "district_id"),
                                     example="[age_group, gender, district_id]", min_length=1)
    bounds: tuple[Float, ...] | None = _key("Bounds [low, high] on the g-weights (raked / design weight), "
                                            "0 <= low < 1 < high; unbounded when empty.", None,
                                            example="[0.3, 3.0]")
    max_iter: Int = _key("Most raking iterations.", 1000, example="1000", ge=1)
    tol: Float = _key("Convergence tolerance of raking (largest relative margin error).", 1e-10,
                      example="1e-10", gt=0)

    @field_validator("bounds")
    @classmethod
    def _bounds_pair(cls, bounds: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if bounds is not None and not (len(bounds) == 2 and 0 <= bounds[0] < 1 < bounds[1]):
            shown = "[" + ", ".join(f"{b:g}" for b in bounds) + "]"
            raise _custom("bounds", "must be [low, high] with 0 <= low < 1 < high, got {shown}",
                          "e.g. 'bounds: [0.3, 3.0]', or leave the bounds out", shown=shown)
        return bounds


class BoundariesSpec(Settings):
    """District boundary file (shapefile, also zipped, GeoPackage or GeoJSON)."""

    path: Text = _key("The boundary file, relative to the project file.", example="bezirke.gpkg", min_length=1)
    id_column: Text | None = _key("Column with the district id (as in the survey).", None)
    name_column: Text | None = _key("Column with the district name.", None)
    layer: Text | None = _key("Layer of a GeoPackage.", None)
    crs: Text | None = _key("CRS when the file has none (no .prj), e.g. 'EPSG:25832'.", None)
    note: Text | None = _key("Note shown on every map of the city, e.g. 'schematische Grenzen - nicht amtlich'.",
                             None)


class CityConfig(Settings):
    """Everything geo-cohesion needs for one city: its files and groupings.

    A city needs ``survey`` (with ``population``) or ``scores``. ``slug`` defaults to a file-name-safe
    form of ``name``; ``weighting`` defaults to raking on age group, gender and district when there
    is a survey.
    """

    name: Text = _key("City name as shown on maps and in tables.", example="Musterstadt")
    slug: Text = _key("File-name-safe short name for output files (letters, digits, '-', '_'); derived from "
                      "the name when empty.", "")
    survey: SurveySpec | None = _key("Survey microdata (see below); needs 'population'.", None)
    scores: ScoresSpec | None = _key("Already weighted district scores, instead of survey and population.", None)
    population: PopulationSpec | None = _key("Population table for the weighting (needed with 'survey').", None)
    structural: StructuralSpec | None = _key("Structural indicators per district.", None)
    weighting: WeightingSpec | None = _key("Raking settings; the defaults when there is a survey.", None)
    boundaries: BoundariesSpec | None = _key("District boundaries for maps and spatial statistics.", None)
    groups: dict[Text, tuple[Text, ...]] = _key(
        "District groups (e.g. Sozialräume): group name -> list of district ids, estimated from the microdata.",
        default_factory=dict, example='{Nord: ["01", "02"], Süd: ["03", "04"]}')
    note: Text | None = _key("Note on every table row and map of this city (instead of the project note).", None)

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
            raise _custom("blank_name", "the city needs a name", "write 'name: <city name>'")
        return name

    @field_validator("slug")
    @classmethod
    def _safe_slug(cls, slug: str) -> str:
        if not (SAFE_SLUG.fullmatch(slug) and len(slug) <= MAX_SLUG_CHARS):
            raise _custom("unsafe_slug", "slug '{slug}' is not a safe file name",
                          f"use only letters, digits, '-' and '_' (at most {MAX_SLUG_CHARS} characters), "
                          f"e.g. 'slug: {slugify(slug)}', or leave the slug out", slug=slug)
        return slug

    @model_validator(mode="after")
    def _data_sections(self) -> CityConfig:
        if self.survey is None and self.scores is None:
            raise _custom("no_data", "city '{name}' needs 'survey' (microdata) or 'scores' (weighted district "
                          "scores)", "add one of these sections to the city", name=self.name)
        if self.survey is not None and self.population is None:
            raise _custom("no_population", "city '{name}' has survey microdata but no 'population' table for "
                          "weighting", "add a 'population:' section with the table of population by district, "
                          "age group and gender", name=self.name)
        return self


# ---------------------------------------------------------------------------------------------
# Project-wide sections


class EstimateSpec(Settings):
    """Estimation settings shared by all cities."""

    level: Float = _key("Confidence level of all intervals, as a share.", 0.95, example="0.95",
                        hint="write the confidence level as a share, e.g. 'level: 0.95'", gt=0, lt=1)
    min_n: Int = _key("Estimates from fewer respondents are suppressed (numbers left empty).", 30,
                      example="30", hint="write the suppression threshold as a count, e.g. 'min_n: 30'", ge=0)
    estimator: Estimator = _key("District estimator: direct survey estimates, or Fay-Herriot small-area "
                                "estimates (plain or spatial); see README 'Small-area estimation'.", "fay_herriot")
    covariates: tuple[Text, ...] | None = _key(
        "Structural indicators used as covariates of the small-area model; empty: chosen by forward AIC, "
        "at most one per five districts.", None, example="[sgb2_share_pct]")
    benchmark: bool = _key("Ratio-benchmark model estimates so that their population-weighted mean equals the "
                           "direct city value.", False)
    max_ci_halfwidth: Float | None = _key(
        "Reliability rule: suppress any estimate whose interval half-width exceeds this many points "
        "(empty: no interval rule).", 10.0, example="10", gt=0)
    merge_small: bool = _key("Merge districts with fewer than merge_min_n respondents into larger areas before "
                             "estimating.", False)
    merge_min_n: Int = _key("Fewest respondents of a district when merge_small is on.", 30, example="30", ge=2)


class MapSpec(Settings):
    """Map and figure settings shared by all cities."""

    scheme: Scheme = _key("Classification of map values: quantiles, natural_breaks (Fisher-Jenks), "
                          "equal_interval, fixed (bands on the 0-100 scale) or user (the breaks below).",
                          "quantiles")
    k: Int = _key("Number of classes (quantiles, natural_breaks, equal_interval).", 5, example="5", ge=2, le=9)
    breaks: tuple[Float, ...] | None = _key(
        "Upper class bounds for scheme 'user', strictly increasing.", None, example="[50, 60, 70, 100]",
        min_length=1)
    offline: bool = _key("Inline Leaflet in the HTML maps so they work without internet access.", False)
    tolerance_m: Float = _key("Simplification tolerance of the HTML map geometry in metres (0: none).", 5.0,
                              example="5", ge=0)
    allow_missing: bool = _key("Show districts without estimates as 'keine Daten' instead of stopping.", False)
    figures: bool = _key("Write print figures (A4) next to the HTML maps.", True)
    figure_formats: tuple[FigureFormat, ...] = _key(
        "Formats of the print figures: a non-empty list of png, pdf, svg.",
        default_factory=lambda: FIGURE_FORMATS, example="[png, pdf]", min_length=1)
    figure_variables: tuple[Text, ...] | None = _key(
        "Variables (score slugs or structural indicator columns) drawn as print figures; empty: the "
        "index, the 3 domains and every structural indicator. An unknown name is an error.", None,
        example="[index, sgb2_share_pct]")

    @field_validator("breaks")
    @classmethod
    def _increasing(cls, breaks: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if breaks is not None and any(b <= a for a, b in zip(breaks, breaks[1:])):
            shown = "[" + ", ".join(f"{b:g}" for b in breaks) + "]"
            raise _custom("breaks_order", "must be strictly increasing numbers, got {shown}",
                          "list the upper class bounds from low to high, each once, e.g. 'breaks: [50, 60, 70, 100]'",
                          shown=shown)
        return breaks

    @field_validator("figure_formats")
    @classmethod
    def _each_once(cls, formats: tuple[str, ...]) -> tuple[str, ...]:
        twice = sorted({f for f in formats if formats.count(f) > 1})
        if twice:
            raise _custom("formats_twice", "lists {twice} more than once", "name each format once, e.g. "
                          "'figure_formats: [png, pdf]'", twice=", ".join(twice))
        return formats

    @model_validator(mode="after")
    def _breaks_with_user(self) -> MapSpec:
        if self.scheme == "user" and self.breaks is None:
            raise _custom("user_needs_breaks", "scheme 'user' needs breaks",
                          "give the upper class bounds, e.g. 'breaks: [50, 60, 70, 100]'")
        if self.scheme != "user" and self.breaks is not None:
            raise _custom("breaks_unused", "breaks are only used with scheme 'user' (scheme is '{scheme}')",
                          "set the scheme to 'user' to use your breaks, or leave the breaks out", scheme=self.scheme)
        return self


class CompareSpec(Settings):
    """Within-city comparison and spatial statistics."""

    alpha: Float = _key("Significance level of the deviation tests and LISA clusters.", 0.05, example="0.05",
                        hint="write the significance level as a share, e.g. 'alpha: 0.05'", gt=0, lt=1)
    adjust: Adjustment = _key("Multiple-testing control across the districts of a city: holm, fdr_bh "
                              "(Benjamini-Hochberg) or none.", "holm")
    contiguity: Contiguity = _key("Neighbours for spatial statistics: queen (shared border or corner) or rook "
                                  "(shared border).", "queen")
    permutations: Int = _key("Permutations of Moran's I and LISA (at least 99).", 999, example="999", ge=99)
    rank_draws: Int = _key("Simulation draws of the rank intervals (at least 100).", 10_000, example="10000",
                           ge=100)
    indicators: tuple[Text, ...] | None = _key(
        "Structural indicator columns the scores are correlated with across districts; empty: every "
        "registered indicator except the population. An unknown name is an error.", None,
        example="[unemployment_pct, sgb2_share_pct]")


class ProjectConfig(Settings):
    """A project: cities plus shared settings.

    Relative paths in the file are relative to its folder, :attr:`base_dir` (not a key of the
    file; given when validating, see :func:`validate_project`).
    """

    cities: list[CityConfig] = _key("The cities, each with its files (see cities[] below).", min_length=1)
    schema_version: Int = _key("Version of the project-file schema; 1 when absent.", 1, example="1")
    title: Text = _key("Title on maps, figures and in metadata.json.", "Radar gesellschaftlicher Zusammenhalt")
    note: Text | None = _key("Note on every table row and map, e.g. 'synthetische Demodaten'.", None)
    seed: Int = _key("Random seed of the simulations (rank intervals, permutation tests).", 0, example="0",
                     ge=0, lt=SEED_LIMIT)
    survey_period: Text | None = _key("Survey period shown in the data source line of maps, e.g. "
                                      "'2017-03-27/2017-05-23'.", None)
    estimates: EstimateSpec = _key("Estimation settings.", default_factory=EstimateSpec)
    maps: MapSpec = _key("Map and figure settings.", default_factory=MapSpec)
    compare: CompareSpec = _key("Comparison and spatial statistics settings.", default_factory=CompareSpec)

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, version: int) -> int:
        if version not in SCHEMA_VERSIONS:
            supported = ", ".join(str(v) for v in SCHEMA_VERSIONS)
            raise _custom("schema_version", "schema_version {version} is not supported (this geo-cohesion reads "
                          "schema_version {supported})", f"write 'schema_version: {SCHEMA_VERSIONS[-1]}' and check "
                          "the keys against docs/config.md, or update geo-cohesion", version=version,
                          supported=supported)
        return version

    @model_validator(mode="after")
    def _unique_slugs(self, info: ValidationInfo) -> ProjectConfig:
        slugs = [c.slug for c in self.cities]
        twice = sorted({s for s in slugs if slugs.count(s) > 1})
        if twice:
            raise _custom("slugs_twice", "two cities have the same name/slug ({twice})",
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


class SettingsError(InputError):
    """An :class:`InputError` from validating settings; ``location`` is the pydantic location of the
    first problem (``("cities", 0, "weighting", "bounds")``), for callers that know the file's lines."""

    def __init__(self, message: str, source: str | None = None, hint: str | None = None,
                 location: tuple = ()) -> None:
        self.location = tuple(location)
        super().__init__(message, source, hint)


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


def validate_section(model: type[Settings], raw: Any, names: Mapping[str, str] | None = None,
                     context: Mapping[str, Any] | None = None) -> Any:
    """Validate ``raw`` as ``model`` and turn a ValidationError into one :class:`SettingsError`.

    Parameters
    ----------
    model : type
        A settings model (e.g. :class:`MapSpec`).
    raw : mapping
        Its keys and values.
    names : mapping, optional
        How to call a key in messages, e.g. ``{"compare.alpha": "--alpha"}`` for command-line options.
    context : mapping, optional
        Validation context (``base_dir`` for :class:`ProjectConfig`).
    """
    try:
        return model.model_validate(raw, context=dict(context or {}))
    except ValidationError as exc:
        raise settings_error(exc, model, names) from None


def override(project: ProjectConfig, updates: Mapping[str, Any], names: Mapping[str, str] | None = None
             ) -> ProjectConfig:
    """A copy of ``project`` with ``updates`` (nested like the file) merged in and validated again.

    ``model_copy(update=...)`` does not validate; this does, with the same rules and messages as
    the file (``names`` maps keys to option names, e.g. ``{"compare.alpha": "--alpha"}``).

    Examples
    --------
    >>> override(project, {"compare": {"alpha": 0.1}})  # doctest: +SKIP
    """
    merged = _merge(project.model_dump(), updates)
    return validate_section(ProjectConfig, merged, names, context={"base_dir": project.base_dir})


def check_value(model: type[Settings], key: str, value: Any, name: str | None = None) -> Any:
    """``value`` validated as key ``key`` of ``model`` (its type and range), e.g. a command-line option.

    Examples
    --------
    >>> check_value(ProjectConfig, "seed", "7")
    7
    """
    field = model.model_fields[key]
    annotation: Any = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    adapter: TypeAdapter[Any] = TypeAdapter(
        annotation, config=None if is_model(field.annotation) else ConfigDict(allow_inf_nan=False))
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        raise settings_error(exc, model, {"": name or key}, prefix=(key,)) from None


def _merge(base: dict, updates: Mapping[str, Any]) -> dict:
    out = dict(base)
    for key, value in updates.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def settings_error(exc: ValidationError, model: type[BaseModel], names: Mapping[str, str] | None = None,
                   prefix: tuple = ()) -> SettingsError:
    """One readable :class:`SettingsError` for a pydantic ValidationError (never a pydantic dump)."""
    names = dict(names or {})
    errors: list[dict[str, Any]] = [dict(e, loc=prefix + tuple(e["loc"])) for e in exc.errors(include_url=False)]
    # a list whose items failed is also reported as too short: only the items are the problem
    errors = [e for e in errors if not (e["type"] == "too_short" and any(
        len(o["loc"]) > len(e["loc"]) and o["loc"][:len(e["loc"])] == e["loc"] for o in errors))] or errors
    first = errors[0]
    used = [first]
    if first["type"] == "extra_forbidden":
        parent = first["loc"][:-1]
        used = [e for e in errors if e["type"] == "extra_forbidden" and e["loc"][:-1] == parent]
        message, hint = unknown_keys_text(model, parent, [str(e["loc"][-1]) for e in used])
    else:
        message, hint = describe_error(first, model, names)
    rest = [e for e in errors if e not in used]
    if rest:
        paths = sorted({location_name(e["loc"], names) or "the file" for e in rest})
        message += (f" (and {len(rest)} more problem{'s' if len(rest) > 1 else ''}: "
                    f"{', '.join(paths[:5])}{', …' if len(paths) > 5 else ''})")
    return SettingsError(message, hint=hint, location=first["loc"])


# --- walking the schema -------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# docs/config.md


def markdown() -> str:
    """The reference page of every key of a project file (``docs/config.md``)."""
    lines = [
        "# Project file: every key",
        "",
        "<!-- generated by `python -m geo_cohesion.settings --markdown > docs/config.md`; do not edit -->",
        "",
        "A project file is YAML (UTF-8) and describes one or more cities: their files and the settings",
        "shared by all of them. Run it with `geo-cohesion run project.yaml --out results/`; see the README",
        "section 'Your own city' for a complete example. The schema is defined in",
        "`geo_cohesion/settings.py`; this page is generated from it.",
        "",
        "Rules for every key:",
        "",
        "* Unknown keys are errors (with the allowed keys), so a typo never falls back to a default.",
        "* Values are read **as typed**: ids, names and codes stay text (`010` stays `\"010\"`, `yes` and",
        "  `no` stay words); numbers and `true`/`false` are read only where a key expects them",
        "  (quoted numbers such as `\"0.95\"` work too). `~`, `null` or an empty value mean *empty*.",
        "* YAML anchors and aliases (`&name`, `*name`), duplicate keys and nesting deeper than",
        f"  {YAML_MAX_DEPTH} levels are refused.",
        "* Relative paths are relative to the folder of the project file.",
        f"* `schema_version` (optional, default 1) names the version of this schema; supported: "
        f"{', '.join(str(v) for v in SCHEMA_VERSIONS)}.",
        "* Command-line options that override a key (`geo-cohesion compare --alpha ...`) are checked",
        "  by the same rules.",
        "",
    ]
    for path, model in model_sections(ProjectConfig, ""):
        title = f"`{path}`" if path else "Top level"
        doc = (model.__doc__ or "").strip().split("\n\n")[0]
        lines += [f"## {title}", "", " ".join(doc.split()), "",
                  "| key | value | default | description |", "|---|---|---|---|"]
        for key, field in model.model_fields.items():
            expected = expected_text(field.annotation, list(field.metadata))
            lines.append(f"| `{key}` | {md_cell(expected)} | {md_cell(default_text(field))} | "
                         f"{md_cell(field.description or '')} |")
        lines.append("")
    return "\n".join(lines)


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
