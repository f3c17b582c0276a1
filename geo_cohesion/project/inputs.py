"""Inputs of one city: read and validate the survey, population, structural and boundary files
named in the project configuration, align their district keys, score and rake the survey."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from geo_cohesion.errors import InputError
from geo_cohesion.io.tables import read_table, row_ref, to_numeric_column
from geo_cohesion.keys import align_keys, match_keys, normalise_key
from geo_cohesion.labels import DEFAULT_LANG
from geo_cohesion.project.config import CityConfig, ProjectConfig
from geo_cohesion.radar.codebook import load_codebook
from geo_cohesion.radar.indicators import IndicatorRegistry, indicator_registry, indicator_table
from geo_cohesion.radar.scoring import score_respondents
from geo_cohesion.survey.design import SurveyDesign

_STRUCTURAL_HINT = "use the same district ids in both files: one row per surveyed district in the structural table"


def population_margins(population: pd.DataFrame, columns: dict[str, str]) -> dict[str, dict[str, float]]:
    """One-way margins ``{survey column: {category: total}}`` from a long population table.

    Parameters
    ----------
    population : DataFrame
        Long table with a population count column and category columns.
    columns : dict
        ``{survey column: population column}``; the key ``"__population__"`` names the count column.
    """
    count_col = columns["__population__"]
    counts = to_numeric_column(population, count_col, "population")
    bad = ~np.isfinite(counts) | (counts < 0)
    if bad.any():
        raise InputError("population counts must be numbers >= 0",
                         row_ref(population, population.index[bad], count_col),
                         "correct these counts (0 for an empty cell)")
    margins = {}
    for survey_col, pop_col in columns.items():
        if survey_col == "__population__":
            continue
        if pop_col not in population.columns:
            raise InputError(f"column '{pop_col}' (for margin '{survey_col}') not found",
                             population.attrs.get("source"), "name it in the population section of the config")
        keys = population[pop_col].astype("string").str.strip()
        blank = (keys.isna() | (keys == "")).to_numpy(dtype=bool, na_value=True) & (counts > 0)
        if blank.any():
            raise InputError(f"population rows without a value in column '{pop_col}', so the margins do not "
                             "add up to the same total", row_ref(population, population.index[blank], pop_col),
                             "fill in the category or remove these rows")
        keys = keys.fillna("").astype(str)
        margins[survey_col] = pd.Series(counts, index=keys).groupby(level=0, sort=True).sum().to_dict()
    return margins


def read_structural(city: CityConfig, project: ProjectConfig) -> pd.DataFrame | None:
    if city.structural is None:
        return None
    spec = city.structural
    table = read_table(project.resolve(spec.path), required=[spec.district_column],
                       text_columns=[c for c in (spec.district_column, spec.name_column) if c])
    ids = table[spec.district_column]
    blank = ids.isna() | (ids.astype("string").str.strip() == "")
    if blank.any():
        raise InputError("empty district id", row_ref(table, table.index[blank], spec.district_column),
                         "give every row its district id, or remove the row")
    dupes = ids.duplicated(keep=False)
    if dupes.any():
        raise InputError(f"district id {ids[dupes].iloc[0]!r} appears more than once",
                         row_ref(table, table.index[dupes], spec.district_column),
                         "give one row per district")
    return table


def structural_indicators(city: CityConfig, structural: pd.DataFrame | None, lang: str = DEFAULT_LANG
                          ) -> tuple[IndicatorRegistry | None, pd.DataFrame | None]:
    """The city's indicator registry and its structural table with numeric indicator columns.

    Built once per city from the table as read and the project's ``structural.indicators``
    (see :func:`geo_cohesion.radar.indicators.indicator_registry`); ``(None, None)`` without a
    structural table.
    """
    if structural is None:
        return None, None
    spec = city.structural
    registry = indicator_registry(structural, spec.indicators, lang,
                                  exclude=[spec.district_column, spec.name_column])
    return registry, indicator_table(structural, registry)


def district_names(city: CityConfig, structural: pd.DataFrame | None) -> dict[str, str]:
    if structural is None or city.structural.name_column not in structural.columns:
        return {}
    spec = city.structural
    return {str(d): str(n).strip() for d, n in zip(structural[spec.district_column], structural[spec.name_column])
            if isinstance(n, str) and n.strip()}


def read_survey_design(city: CityConfig, project: ProjectConfig) -> SurveyDesign:
    """Read, score and rake the survey of one city; the raked design carries ``score__*`` columns."""
    spec = city.survey
    survey = read_table(project.resolve(spec.path), required=[spec.district_column],
                        text_columns=[c for c in (spec.district_column, spec.strata_column, spec.age_column,
                                                  spec.gender_column) if c])
    blank = survey[spec.district_column].isna() | (survey[spec.district_column].astype("string").str.strip() == "")
    if blank.any():
        raise InputError("respondents without a district code",
                         row_ref(survey, survey.index[blank], spec.district_column),
                         "fill in the district or remove these rows")
    survey[spec.district_column] = survey[spec.district_column].astype(str).str.strip()
    codebook = load_codebook(project.resolve(spec.codebook) if spec.codebook else None, spec.min_valid_share)
    scores = score_respondents(survey, codebook)
    data = pd.concat([survey, scores.add_prefix("score__")], axis=1)
    data.attrs = survey.attrs
    design = SurveyDesign(data, weight=spec.weight_column, strata=spec.strata_column)

    pop_spec = city.population
    population = read_table(project.resolve(pop_spec.path),
                            required=[pop_spec.district_column, pop_spec.population_column],
                            text_columns=[pop_spec.district_column, pop_spec.age_column, pop_spec.gender_column])
    column_map = {"__population__": pop_spec.population_column}
    for margin in city.weighting.margins:
        column_map[margin] = {spec.district_column: pop_spec.district_column, spec.age_column: pop_spec.age_column,
                              spec.gender_column: pop_spec.gender_column}.get(margin, margin)
    margins = population_margins(population, column_map)
    pop_name, survey_name = Path(pop_spec.path).name, Path(spec.path).name
    if spec.district_column in margins:
        # district keys may be spelled differently ("7" vs "007"); unmatched ones on either side are errors
        populated = {k: v for k, v in margins[spec.district_column].items() if v > 0}
        empty = {normalise_key(k): k for k, v in margins[spec.district_column].items() if not v > 0}
        sampled = [d for d in survey[spec.district_column].unique() if normalise_key(d) in empty]
        if sampled:
            raise InputError(f"district(s) {', '.join(repr(empty[normalise_key(d)]) for d in sampled[:10])} have "
                             f"population 0 in {pop_name} but respondents in {survey_name}",
                             population.attrs.get("source"),
                             "correct the population of these districts, or remove their respondents")
        mapping = match_keys(populated, survey[spec.district_column].unique(), pop_name, survey_name,
                             hint="use the same district ids in both files; every district with population "
                                  "needs respondents (merge small districts in both files)")
        margins[spec.district_column] = {mapping[k]: v for k, v in populated.items()}
    bounds = tuple(city.weighting.bounds) if city.weighting.bounds else None
    try:
        raked = design.rake(margins, max_iter=city.weighting.max_iter, tol=city.weighting.tol, bounds=bounds)
    except InputError as exc:
        # problems of the margins themselves (totals, bounds) come from the population table
        exc.source = exc.source or population.attrs.get("source")
        raise
    return raked


def group_labels(city: CityConfig, district_ids: pd.Series) -> pd.Series:
    """Group name per respondent (NaN where a district is in no group).

    Group members are matched to the survey's district ids with the one key normaliser, so
    ``1`` finds ``"01"`` and ``"Hoerde"`` finds ``"Hörde"``.
    """
    by_key = {normalise_key(d): d for d in pd.unique(district_ids)}
    lookup: dict[str, str] = {}
    unknown = []
    for group, members in city.groups.items():
        for member in members:
            district = by_key.get(normalise_key(member))
            if district is None:
                unknown.append(str(member))
                continue
            if district in lookup:
                raise InputError(f"district {member!r} is in two groups ('{lookup[district]}' and '{group}')",
                                 hint="each district may belong to one group of a grouping")
            lookup[district] = group
    if unknown:
        raise InputError(f"group member(s) {', '.join(sorted(unknown))} are not districts of {city.name}",
                         hint="list district ids as they appear in the survey")
    return district_ids.map(lookup)


def align_structural(city: CityConfig, structural: pd.DataFrame | None, district_ids, data_path: str):
    """Structural table with its district ids rewritten to the survey's (or score table's) spelling."""
    if structural is None:
        return None
    column = city.structural.district_column
    aligned = structural.copy()
    aligned[column] = align_keys(structural[column], district_ids, Path(city.structural.path).name,
                                 Path(data_path).name, hint=_STRUCTURAL_HINT)
    aligned.attrs = structural.attrs
    return aligned


def read_city_boundaries(city: CityConfig, project: ProjectConfig):
    """The city's boundaries (see :func:`geo_cohesion.io.boundaries.read_boundaries`), or None."""
    from geo_cohesion.io.boundaries import read_boundaries

    if city.boundaries is None:
        return None
    spec = city.boundaries
    return read_boundaries(project.resolve(spec.path), id_column=spec.id_column, name_column=spec.name_column,
                           crs=spec.crs, layer=spec.layer)


