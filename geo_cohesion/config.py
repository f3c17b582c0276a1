"""Project configuration: a YAML file describing one or more cities (files + settings).

The demo is such a file (written by :func:`geo_cohesion.demo.write_demo_inputs`); a user's own
city uses the same format and the same pipeline. Unknown keys and wrong types are errors, so a
typo never silently falls back to a default.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError


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
    """Estimation settings shared by all cities."""

    level: float = 0.95
    min_n: int = 30


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


def slugify(name: str) -> str:
    """File-name-safe slug: ``"Dessau-Roßlau"`` -> ``"dessau-rosslau"``."""
    from .keys import normalise_key

    slug = re.sub(r"[^a-z0-9]+", "-", normalise_key(unicodedata.normalize("NFC", name))).strip("-")
    return slug or "stadt"


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
        raise InputError(f"'{where}' must be a mapping (key: value), got {type(raw).__name__}")
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
            raise InputError(f"'{where}.{key}' has the wrong type ({type(value).__name__}); expected {annotation}")
        kwargs[key] = value
    return cls(**kwargs)


def load_project(path: str | Path) -> ProjectConfig:
    """Read and validate a project YAML file.

    Raises
    ------
    InputError
        Missing file, invalid YAML, unknown keys, wrong types, a city with neither survey nor scores.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("configuration file not found", str(path))
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid YAML ({exc})", str(path)) from None
    try:
        return project_from_dict(raw, base_dir=path.parent)
    except InputError as exc:
        exc.source = exc.source or str(path)
        raise


def project_from_dict(raw: Any, base_dir: Path | None = None) -> ProjectConfig:
    """Build a :class:`ProjectConfig` from parsed YAML (see :func:`load_project`)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("cities"), list) or not raw["cities"]:
        raise InputError("the configuration needs a non-empty list 'cities'")
    cities = []
    for i, city_raw in enumerate(raw["cities"]):
        city = _build(CityConfig, city_raw, f"cities[{i}]")
        if not city.name:
            raise InputError(f"cities[{i}] needs a name")
        city.slug = city.slug or slugify(city.name)
        if city.survey is None and city.scores is None:
            raise InputError(f"city '{city.name}' needs 'survey' (microdata) or 'scores' (weighted district scores)")
        if city.survey is not None and city.population is None:
            raise InputError(f"city '{city.name}' has survey microdata but no 'population' table for weighting")
        if city.survey is not None and city.weighting is None:
            city.weighting = WeightingSpec()
        cities.append(city)
    slugs = [c.slug for c in cities]
    if len(set(slugs)) != len(slugs):
        raise InputError("two cities have the same name/slug", hint="give each city a unique 'slug'")
    project = _build(ProjectConfig, {**raw, "cities": cities}, "project")
    project.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
    if not 0 < project.estimates.level < 1:
        raise InputError(f"estimates.level must be between 0 and 1, got {project.estimates.level}")
    if not 0 < project.compare.alpha < 1:
        raise InputError(f"compare.alpha must be between 0 and 1, got {project.compare.alpha}")
    if project.compare.adjust not in ("holm", "fdr_bh", "none"):
        raise InputError(f"compare.adjust must be holm, fdr_bh or none, got {project.compare.adjust!r}")
    if project.compare.contiguity not in ("queen", "rook"):
        raise InputError(f"compare.contiguity must be queen or rook, got {project.compare.contiguity!r}")
    return project
