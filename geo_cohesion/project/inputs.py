"""Inputs of one city: read and validate the survey, population, structural and boundary files
named in the project configuration, align their district keys, score and rake the survey.

Districts with population but without respondents are merged into a partner district for the
raking (:func:`district_partners` chooses the candidates,
:func:`~geo_cohesion.survey.calibrate.collapse_empty_categories` applies the rule).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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
from geo_cohesion.survey.calibrate import CollapseReport, collapse_empty_categories
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
                       text_columns=[c for c in (spec.district_column, spec.name_column) if c],
                       decimal=spec.decimal, thousands=spec.thousands)
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


def district_partners(districts: Sequence[str], boundaries=None, groups: Mapping[str, Sequence] | None = None,
                      contiguity: str = "queen") -> list[dict[str, list[str]]]:
    """Candidate partners of each district for merging districts without respondents.

    Returns the partner mappings in the order
    :func:`~geo_cohesion.survey.calibrate.collapse_empty_categories` tries them:

    1. neighbours in the same group: districts sharing a boundary (``contiguity``; an island's
       nearest district) that belong to the same configured group, so that group totals stay
       right;
    2. all neighbours;
    3. the other districts of the same group (when there are no boundaries, or the district is
       not in them, or all its neighbours lack respondents).

    Without boundaries and groups the list is empty and an empty district stays an error.

    Parameters
    ----------
    districts : sequence of str
        District ids in the spelling the partners should use (e.g. the population table's).
    boundaries : GeoDataFrame, optional
        With a ``district_id`` column (any spelling: matched with the key normaliser).
    groups : mapping, optional
        ``{group: [district, ...]}`` as in the project file.
    contiguity : {"queen", "rook"}

    Returns
    -------
    list of dict
        ``{district: [partner, ...]}`` mappings.
    """
    by_key = {normalise_key(d): str(d) for d in districts}
    neighbours: dict[str, list[str]] = {}
    if boundaries is not None and len(boundaries) >= 2:
        from geo_cohesion.spatial.weights import contiguity_weights

        sw = contiguity_weights(boundaries, contiguity)
        for district, adjacent in sw.w.neighbors.items():
            own = by_key.get(normalise_key(district))
            if own is not None:
                neighbours[own] = [by_key[k] for k in map(normalise_key, adjacent) if k in by_key]
    group_of: dict[str, str] = {}
    for group, members in (groups or {}).items():
        for member in members:
            own = by_key.get(normalise_key(member))
            if own is not None:
                group_of[own] = group
    members_of: dict[str, list[str]] = {}
    for district, group in group_of.items():
        members_of.setdefault(group, []).append(district)
    same_group = {d: [p for p in members_of[g] if p != d] for d, g in group_of.items()}
    tiers = []
    if neighbours and group_of:
        tiers.append({d: [p for p in ns if d in group_of and group_of.get(p) == group_of[d]]
                      for d, ns in neighbours.items()})
    if neighbours:
        tiers.append(neighbours)
    if same_group:
        tiers.append(same_group)
    return tiers


def read_survey_design(city: CityConfig, project: ProjectConfig, boundaries=None) -> SurveyDesign:
    """Read, score and rake the survey of one city; the raked design carries ``score__*`` columns.

    Districts with population but no respondents are merged into a partner district for the
    raking (see :func:`district_partners`); the raked design's ``collapsed`` report lists them.
    ``boundaries`` (as read by :func:`read_city_boundaries`) are read from the configuration
    when needed and not given.
    """
    spec = city.survey
    survey = read_table(project.resolve(spec.path), required=[spec.district_column],
                        text_columns=[c for c in (spec.district_column, spec.strata_column, spec.age_column,
                                                  spec.gender_column) if c],
                        decimal=spec.decimal, thousands=spec.thousands)
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
                            text_columns=[pop_spec.district_column, pop_spec.age_column, pop_spec.gender_column],
                            decimal=pop_spec.decimal, thousands=pop_spec.thousands)
    column_map = {"__population__": pop_spec.population_column}
    for margin in city.weighting.margins:
        column_map[margin] = {spec.district_column: pop_spec.district_column, spec.age_column: pop_spec.age_column,
                              spec.gender_column: pop_spec.gender_column}.get(margin, margin)
    margins = population_margins(population, column_map)
    pop_name, survey_name = Path(pop_spec.path).name, Path(spec.path).name
    collapsed = None
    if spec.district_column in margins:
        # district keys may be spelled differently ("7" vs "007"); a surveyed district without population is
        # an error, a district with population but no respondents is merged into a partner
        populated = {k: v for k, v in margins[spec.district_column].items() if v > 0}
        empty = {normalise_key(k): k for k, v in margins[spec.district_column].items() if not v > 0}
        sampled = [d for d in survey[spec.district_column].unique() if normalise_key(d) in empty]
        if sampled:
            raise InputError(f"district(s) {', '.join(repr(empty[normalise_key(d)]) for d in sampled[:10])} have "
                             f"population 0 in {pop_name} but respondents in {survey_name}",
                             population.attrs.get("source"),
                             "correct the population of these districts, or remove their respondents")
        survey_ids = survey[spec.district_column].unique()
        mapping = match_keys(populated, survey_ids, pop_name, survey_name, allow_missing=True)
        if len(set(mapping.values())) < len(survey_ids):   # a surveyed district without population: error
            match_keys(populated, survey_ids, pop_name, survey_name,
                       hint="use the same district ids in both files")
        if len(mapping) < len(populated):
            populated, collapsed = _collapse_unsampled(city, project, populated, mapping,
                                                       survey[spec.district_column], boundaries, population)
        margins[spec.district_column] = {mapping[k]: v for k, v in populated.items()}
    bounds = tuple(city.weighting.bounds) if city.weighting.bounds else None
    try:
        raked = design.rake(margins, max_iter=city.weighting.max_iter, tol=city.weighting.tol, bounds=bounds,
                            collapsed=collapsed)
    except InputError as exc:
        # problems of the margins themselves (totals, bounds) come from the population table
        exc.source = exc.source or population.attrs.get("source")
        raise
    return raked


def _collapse_unsampled(city: CityConfig, project: ProjectConfig, populated: dict, mapping: dict,
                        survey_districts: pd.Series, boundaries, population: pd.DataFrame
                        ) -> tuple[dict, CollapseReport]:
    """Merge districts with population but no respondents into partners (population spelling in,
    population spelling out; the report in the survey's spelling where a district has one)."""
    pop_name, survey_name = Path(city.population.path).name, Path(city.survey.path).name
    counts_by_id = survey_districts.value_counts()
    counts = {k: int(counts_by_id[s]) for k, s in mapping.items()}
    if boundaries is None and city.boundaries is not None:
        boundaries = read_city_boundaries(city, project)
    partners = district_partners(list(populated), boundaries, city.groups, project.compare.contiguity)
    totals, report = collapse_empty_categories(populated, counts, partners, strict=False)
    if report.unresolved:
        in_boundaries = set() if boundaries is None else {normalise_key(d) for d in boundaries["district_id"]}
        in_groups = {normalise_key(m) for members in city.groups.values() for m in members}

        def why(key: str) -> str:
            where = []
            if boundaries is None:
                where.append("no boundaries")
            elif normalise_key(key) not in in_boundaries:
                where.append(f"not in {Path(city.boundaries.path).name}")
            else:
                where.append("no neighbour with respondents")
            where.append("in no group" if normalise_key(key) not in in_groups else "no group member with respondents")
            return f"{key!r} ({', '.join(where)})"

        listed = ", ".join(why(k) for k in report.unresolved[:10])
        more = f" and {len(report.unresolved) - 10} more" if len(report.unresolved) > 10 else ""
        raise InputError(f"district(s) {listed}{more} from {pop_name} have population but no respondents in "
                         f"{survey_name}, and no partner to merge them into for the weighting",
                         population.attrs.get("source"),
                         "check the district ids; a district without respondents is merged into its neighbour with "
                         "the fewest respondents when the city's 'boundaries' contain it, else into the district "
                         "with the fewest respondents of its group ('groups'); or merge it with a neighbouring "
                         "district in both files")
    return totals, CollapseReport({e: mapping.get(t, t) for e, t in report.merged.items()},
                                  {e: mapping.get(v, v) for e, v in report.via.items()})


def group_labels(city: CityConfig, district_ids: pd.Series, extra_districts: Iterable[str] = ()) -> pd.Series:
    """Group name per respondent (NaN where a district is in no group).

    Group members are matched to the survey's district ids with the one key normaliser, so
    ``1`` finds ``"01"`` and ``"Hoerde"`` finds ``"Hörde"``. ``extra_districts`` are districts
    without respondents (merged for the weighting) that may be group members too.
    """
    by_key = {normalise_key(d): d for d in [*extra_districts, *pd.unique(district_ids)]}
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
        raise InputError(f"groups: member(s) {', '.join(repr(m) for m in sorted(unknown))} are not districts of "
                         f"{city.name}", hint="list district ids as they appear in the survey, as typed (quotes are "
                         "not needed: 010 stays '010')")
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


