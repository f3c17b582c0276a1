"""Project configuration: a YAML file describing one or more cities (files + settings).

The demo is such a file (written by :func:`geo_cohesion.demo.synthetic.write_demo_inputs`); a user's own
city uses the same format and the same pipeline. Unknown keys and wrong types are errors, so a
typo never silently falls back to a default.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from geo_cohesion.errors import InputError
from geo_cohesion.keys import MAX_SLUG_CHARS, SAFE_SLUG, slugify
from geo_cohesion.spatial.weights import CONTIGUITIES
from geo_cohesion.stats.multiple_testing import ADJUSTMENTS
from geo_cohesion.survey.small_area import ESTIMATORS


@dataclass
class SurveySpec:
    """Survey microdata file and its columns."""

    path: str
    district_column: str = "district_id"
    age_column: str = "age_group"
    gender_column: str = "gender"
    weight_column: str | None = None
    strata_column: str | None = None
    codebook: str | None = None
    min_valid_share: float = 0.5


@dataclass
class ScoresSpec:
    """Already weighted district scores (for users without microdata)."""

    path: str
    district_column: str = "district_id"
    variable_column: str = "variable"
    estimate_column: str = "estimate"
    se_column: str | None = "se"
    n_column: str | None = "n"


@dataclass
class PopulationSpec:
    """Population by district x age group x gender (long format) for the raking margins."""

    path: str
    district_column: str = "district_id"
    age_column: str = "age_group"
    gender_column: str = "gender"
    population_column: str = "population"


@dataclass
class StructuralSpec:
    """District structural indicators (one row per district)."""

    path: str
    district_column: str = "district_id"
    name_column: str | None = "district_name"


@dataclass
class WeightingSpec:
    """Raking settings: survey columns to rake on, optional bounds on g-weights."""

    margins: list[str] = field(default_factory=lambda: ["age_group", "gender", "district_id"])
    bounds: list[float] | None = None
    max_iter: int = 1000
    tol: float = 1e-10


@dataclass
class BoundariesSpec:
    """District boundary file."""

    path: str
    id_column: str | None = None
    name_column: str | None = None
    layer: str | None = None
    crs: str | None = None
    note: str | None = None


@dataclass
class CityConfig:
    """Everything geo-cohesion needs for one city."""

    name: str
    slug: str = ""
    survey: SurveySpec | None = None
    scores: ScoresSpec | None = None
    population: PopulationSpec | None = None
    structural: StructuralSpec | None = None
    weighting: WeightingSpec | None = None
    boundaries: BoundariesSpec | None = None
    groups: dict[str, list[str]] = field(default_factory=dict)
    note: str | None = None


@dataclass
class EstimateSpec:
    """Estimation settings shared by all cities.

    ``estimator`` chooses the district estimator (``direct``, ``fay_herriot`` or
    ``spatial_fay_herriot``; see README "Small-area estimation"); ``covariates`` names the
    structural indicators of the model (None: chosen by forward AIC, at most one per five
    districts); ``benchmark`` ratio-benchmarks model estimates to the direct city value;
    ``max_ci_halfwidth`` suppresses estimates whose interval half-width exceeds this many points
    (None: no such rule); ``min_n`` suppresses *direct* estimates from fewer respondents.
    """

    level: float = 0.95
    min_n: int = 30
    estimator: str = "fay_herriot"
    covariates: list[str] | None = None
    benchmark: bool = False
    max_ci_halfwidth: float | None = 10.0


@dataclass
class MapSpec:
    """Map settings shared by all cities."""

    scheme: str = "quantiles"
    k: int = 5
    breaks: list[float] | None = None
    offline: bool = False
    tolerance_m: float = 5.0
    allow_missing: bool = False
    figures: bool = True
    figure_formats: list[str] = field(default_factory=lambda: ["png", "pdf", "svg"])
    figure_variables: list[str] = field(default_factory=lambda: [
        "index", "soziale_beziehungen", "verbundenheit", "gemeinwohlorientierung",
        "migration_share_pct", "unemployment_pct", "sgb2_share_pct"])


@dataclass
class CompareSpec:
    """Settings of the within-city comparison and spatial statistics."""

    alpha: float = 0.05
    adjust: str = "holm"
    contiguity: str = "queen"
    permutations: int = 999
    rank_draws: int = 10_000
    indicators: list[str] = field(default_factory=lambda: ["migration_share_pct", "unemployment_pct", "sgb2_share_pct"])


@dataclass
class ProjectConfig:
    """A project: cities plus shared settings. ``base_dir`` resolves relative paths."""

    cities: list[CityConfig]
    title: str = "Radar gesellschaftlicher Zusammenhalt"
    note: str | None = None
    seed: int = 0
    survey_period: str | None = None
    estimates: EstimateSpec = field(default_factory=EstimateSpec)
    maps: MapSpec = field(default_factory=MapSpec)
    compare: CompareSpec = field(default_factory=CompareSpec)
    base_dir: Path = field(default_factory=Path.cwd)

    def resolve(self, path: str | Path) -> Path:
        """A config path relative to the config file's folder."""
        path = Path(path)
        return path if path.is_absolute() else self.base_dir / path


_SECTIONS = {"survey": SurveySpec, "scores": ScoresSpec, "population": PopulationSpec,
             "structural": StructuralSpec, "weighting": WeightingSpec, "boundaries": BoundariesSpec}


_PROJECT_SECTIONS = {"estimates": EstimateSpec, "maps": MapSpec, "compare": CompareSpec}


_TYPE_WORDS = (("str", "text"), ("bool", "true or false"), ("int", "a whole number"), ("float", "a number"),
               ("list", "a list, e.g. [a, b]"), ("dict", "a mapping (key: value)"))


def _type_word(annotation: str) -> str:
    """What a value of ``annotation`` looks like, for messages."""
    words = [w for t, w in _TYPE_WORDS if annotation.startswith(t)]
    return (words[0] if words else annotation) + (" or empty" if "None" in annotation else "")


def _type_ok(value: Any, annotation: str) -> bool:
    if value is None:
        return "None" in annotation
    if annotation.startswith("str"):
        return isinstance(value, str)
    if annotation.startswith("bool"):
        return isinstance(value, bool)
    if annotation.startswith("int"):
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation.startswith("float"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation.startswith("list"):
        return isinstance(value, list)
    if annotation.startswith("dict"):
        return isinstance(value, dict)
    return True


def _build(cls, raw: Any, where: str):
    if not isinstance(raw, dict):
        raise InputError(f"'{where}' must be a mapping (key: value), got {type(raw).__name__}",
                         hint="write it as 'key: value' lines indented below its name (see README 'Your own city')")
    known = {f.name: f for f in fields(cls) if f.init}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise InputError(f"unknown key(s) {', '.join(repr(k) for k in unknown)} in '{where}'",
                         hint=f"allowed: {', '.join(sorted(known))}")
    kwargs = {}
    for key, value in raw.items():
        if key in _SECTIONS and cls is CityConfig:
            kwargs[key] = None if value is None else _build(_SECTIONS[key], value, f"{where}.{key}")
            continue
        if key in _PROJECT_SECTIONS and cls is ProjectConfig:
            kwargs[key] = _build(_PROJECT_SECTIONS[key], value, f"{where}.{key}")
            continue
        if key == "cities":
            kwargs[key] = value
            continue
        annotation = str(known[key].type)
        if not _type_ok(value, annotation):
            raise InputError(f"'{where}.{key}' has the wrong type ({type(value).__name__}: {value!r:.60}); "
                             f"expected {annotation}", hint=f"write {key} as {_type_word(annotation)}")
        kwargs[key] = value
    return cls(**kwargs)


def validate_estimates(spec: EstimateSpec) -> None:
    """Check the small-area settings (also after CLI overrides)."""
    if spec.estimator not in ESTIMATORS:
        raise InputError(f"estimates.estimator must be one of {', '.join(ESTIMATORS)}, got {spec.estimator!r}",
                         hint="e.g. 'estimator: fay_herriot' (see README 'Small-area estimation')")
    if spec.max_ci_halfwidth is not None and not spec.max_ci_halfwidth > 0:
        raise InputError(f"estimates.max_ci_halfwidth must be a positive number of points, got {spec.max_ci_halfwidth}",
                         hint="e.g. 'max_ci_halfwidth: 10', or leave it empty for no interval rule")
    if spec.covariates is not None and not all(isinstance(c, str) and c.strip() for c in spec.covariates):
        raise InputError(f"estimates.covariates must be a list of column names, got {spec.covariates!r}",
                         hint="e.g. 'covariates: [sgb2_share_pct]', or leave it empty to choose them by AIC")


def load_project(path: str | Path) -> ProjectConfig:
    """Read and validate a project YAML file.

    Raises
    ------
    InputError
        Missing file, invalid YAML, unknown keys, wrong types, a city with neither survey nor scores.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError("is a folder, not a configuration file", str(path), "give the path of the project YAML file")
    if not path.is_file():
        raise InputError("configuration file not found", str(path), "check the path of the project YAML file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError("the configuration file is not UTF-8 text", str(path), "save it as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark is not None else str(path)
        what = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise InputError(f"not valid YAML: {what}", where,
                         "check the indentation (spaces, not tabs), colons and closing brackets or quotes "
                         "at or just before this line") from None
    try:
        return project_from_dict(raw, base_dir=path.parent)
    except InputError as exc:
        exc.source = exc.source or str(path)
        raise


def project_from_dict(raw: Any, base_dir: Path | None = None) -> ProjectConfig:
    """Build a :class:`ProjectConfig` from parsed YAML (see :func:`load_project`)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("cities"), list) or not raw["cities"]:
        raise InputError("the configuration needs a non-empty list 'cities'",
                         hint="list each city under 'cities:' as '- name: ...' with its files "
                              "(see README 'Your own city')")
    cities = []
    for i, city_raw in enumerate(raw["cities"]):
        city = _build(CityConfig, city_raw, f"cities[{i}]")
        if not city.name or not city.name.strip():
            raise InputError(f"cities[{i}] needs a name", hint="add 'name: <city name>'")
        if city.slug and not (SAFE_SLUG.fullmatch(city.slug) and len(city.slug) <= MAX_SLUG_CHARS):
            raise InputError(f"city '{city.name}': slug {city.slug!r} is not a safe file name",
                             hint=f"use only letters, digits, '-' and '_' (at most {MAX_SLUG_CHARS} characters), "
                                  f"e.g. 'slug: {slugify(city.slug)}', or leave the slug out")
        city.slug = city.slug or slugify(city.name)
        if city.survey is None and city.scores is None:
            raise InputError(f"city '{city.name}' needs 'survey' (microdata) or 'scores' (weighted district scores)",
                             hint="add one of these sections to the city")
        if city.survey is not None and city.population is None:
            raise InputError(f"city '{city.name}' has survey microdata but no 'population' table for weighting",
                             hint="add a 'population:' section with the table of population by district, "
                                  "age group and gender")
        if city.survey is not None and city.weighting is None:
            city.weighting = WeightingSpec()
        bounds = city.weighting.bounds if city.weighting is not None else None
        if bounds is not None and not (len(bounds) == 2 and all(_type_ok(b, "float") for b in bounds)
                                       and 0 <= bounds[0] < 1 < bounds[1]):
            raise InputError(f"cities[{i}].weighting.bounds must be [low, high] with 0 <= low < 1 < high, "
                             f"got {bounds!r}", hint="e.g. 'bounds: [0.3, 3.0]', or leave the bounds out")
        cities.append(city)
    slugs = [c.slug for c in cities]
    if len(set(slugs)) != len(slugs):
        twice = sorted({s for s in slugs if slugs.count(s) > 1})
        raise InputError(f"two cities have the same name/slug ({', '.join(twice)})",
                         hint="give each city a unique 'slug'")
    project = _build(ProjectConfig, {**raw, "cities": cities}, "project")
    project.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
    if not 0 < project.estimates.level < 1:
        raise InputError(f"estimates.level must be between 0 and 1, got {project.estimates.level}",
                         hint="write the confidence level as a share, e.g. 'level: 0.95'")
    if project.estimates.min_n < 0:
        raise InputError(f"estimates.min_n must not be negative, got {project.estimates.min_n}",
                         hint="write the suppression threshold as a count, e.g. 'min_n: 30'")
    validate_estimates(project.estimates)
    if not 0 < project.compare.alpha < 1:
        raise InputError(f"compare.alpha must be between 0 and 1, got {project.compare.alpha}",
                         hint="write the significance level as a share, e.g. 'alpha: 0.05'")
    if project.compare.adjust not in ADJUSTMENTS:
        raise InputError(f"compare.adjust must be holm, fdr_bh or none, got {project.compare.adjust!r}",
                         hint="write one of these")
    if project.compare.contiguity not in CONTIGUITIES:
        raise InputError(f"compare.contiguity must be queen or rook, got {project.compare.contiguity!r}",
                         hint="write one of these")
    return project
