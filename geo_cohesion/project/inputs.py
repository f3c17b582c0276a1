"""Inputs of one city: read and validate the survey, population, structural and boundary files
named in the project configuration, align their district keys, score and rake the survey.

Districts with population but without respondents are merged into a partner district for the
raking (:func:`district_partners` chooses the candidates,
:func:`~geo_cohesion.survey.calibrate.collapse_empty_categories` applies the rule).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from geo_cohesion.errors import InputError
from geo_cohesion.io.tables import read_table, row_ref, to_numeric_column
from geo_cohesion.keys import align_keys, match_keys, normalise_key
from geo_cohesion.labels import DEFAULT_LANG, label
from geo_cohesion.project.config import CityConfig, ProjectConfig
from geo_cohesion.radar.codebook import load_codebook, load_radar
from geo_cohesion.radar.indicators import IndicatorRegistry, indicator_registry, indicator_table
from geo_cohesion.radar.scoring import score_respondents
from geo_cohesion.survey.calibrate import CollapseReport, collapse_empty_categories
from geo_cohesion.survey.design import SurveyDesign

_STRUCTURAL_HINT = "use the same district ids in both files: one row per surveyed district in the structural table"


#: Largest population count of one cell (more than the world's population: a broken file; 1e300 overflowed
#: the weighting).
MAX_POPULATION = 1e10


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
    bad = ~np.isfinite(counts) | (counts < 0) | (counts > MAX_POPULATION)
    if bad.any():
        raise InputError(f"population counts must be numbers from 0 to {MAX_POPULATION:,.0f} "
                         f"(found {counts[bad][0]:g})", row_ref(population, population.index[bad], count_col),
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


@dataclass
class PopulationMargins:
    """The raking margins of one city as read from its population table(s).

    Attributes
    ----------
    margins : dict
        ``{survey column: {category: population total}}``.
    sources : dict
        ``{survey column: file name(s) the margin comes from}``, for messages.
    district_table : DataFrame
        The table the district margin comes from (the one table, or the first margin table with
        a district column); its ``attrs['source']`` names the file.
    """

    margins: dict[str, dict[str, float]]
    sources: dict[str, str]
    district_table: pd.DataFrame


def read_population_margins(city: CityConfig, project: ProjectConfig, column_map: dict[str, str]
                            ) -> PopulationMargins:
    """Read the city's population as one cross-table (``population.path``) or as separate margin
    tables (``population.margin_tables``) and turn it into one-way margins.

    A margin table gives every margin whose population column it has (a table by age group x
    gender gives both). A margin given by two tables must have the same total in every category
    (e.g. the residents of a district in a district x age table and in a table of district
    totals); otherwise an InputError names both files and the first categories that differ. That
    all margins sum to the same total is checked with the files named when raking
    (:func:`~geo_cohesion.survey.calibrate.prepare_margins`).

    Parameters
    ----------
    city, project
        The city's settings and the project (for relative paths).
    column_map : dict
        ``{survey column: population column}`` plus ``"__population__"``: the count column.
    """
    pop_spec = city.population
    categories = [c for k, c in column_map.items() if k != "__population__"]
    if pop_spec.margin_tables is None:
        population = read_table(project.resolve(pop_spec.path), required=[pop_spec.district_column,
                                                                          column_map["__population__"]],
                                text_columns=categories, decimal=pop_spec.decimal, thousands=pop_spec.thousands)
        name = Path(pop_spec.path).name
        margins = population_margins(population, column_map)
        return PopulationMargins(margins, dict.fromkeys(margins, name), population)
    found: dict[str, list[tuple[str, dict[str, float]]]] = {}
    district_table = None
    for spec in pop_spec.margin_tables:
        count_col = spec.population_column or column_map["__population__"]
        table = read_table(project.resolve(spec.path), required=[count_col], text_columns=categories,
                           decimal=spec.decimal, thousands=spec.thousands)
        name = Path(spec.path).name
        present = {k: c for k, c in column_map.items() if k != "__population__" and c in table.columns}
        if not present:
            raise InputError(f"margin table {name} has none of the margin columns "
                             f"({', '.join(repr(c) for c in categories)})", table.attrs.get("source"),
                             "name its category columns as in the population section (district_column, age_column, "
                             "gender_column), or remove it from margin_tables")
        for margin, values in population_margins(table, {"__population__": count_col, **present}).items():
            found.setdefault(margin, []).append((name, values))
        if pop_spec.district_column in table.columns and district_table is None:
            district_table = table
    missing = [m for m in column_map if m != "__population__" and m not in found]
    if missing:
        files = ", ".join(Path(t.path).name for t in pop_spec.margin_tables)
        raise InputError(f"no margin table has the column(s) {', '.join(repr(column_map[m]) for m in missing)} "
                         f"for the margin(s) {', '.join(missing)} (tables: {files})",
                         hint="add a margin table with this column, or remove the margin from 'weighting.margins'")
    margins, sources = {}, {}
    for margin, given in found.items():
        first_name, first = given[0]
        for other_name, other in given[1:]:
            _check_same_margin(margin, first_name, first, other_name, other)
        margins[margin] = first
        sources[margin] = " and ".join(dict.fromkeys(n for n, _ in given))
    return PopulationMargins(margins, sources, district_table if district_table is not None else table)


def _check_same_margin(margin: str, name_a: str, a: dict[str, float], name_b: str, b: dict[str, float]) -> None:
    """Two margin tables that both give ``margin`` must agree in every category (keys matched normalised)."""
    key_a = {normalise_key(k): (k, v) for k, v in a.items()}
    key_b = {normalise_key(k): (k, v) for k, v in b.items()}
    scale = max(sum(a.values()), sum(b.values()), 1.0)
    differ = []
    for key in sorted(set(key_a) | set(key_b)):
        shown = (key_a.get(key) or key_b[key])[0]
        va, vb = key_a.get(key, (shown, 0.0))[1], key_b.get(key, (shown, 0.0))[1]
        if abs(va - vb) > 1e-6 * scale:
            differ.append(f"{shown!r}: {va:,.0f} vs {vb:,.0f}")
    if differ:
        more = f" and {len(differ) - 5} more" if len(differ) > 5 else ""
        raise InputError(f"the margin '{margin}' differs between {name_a} and {name_b} ({'; '.join(differ[:5])}{more}; "
                         f"totals {sum(a.values()):,.0f} vs {sum(b.values()):,.0f})",
                         hint="both tables must count the same population (same date and definition); correct one "
                              "of them, or give this margin in one table only")


def score_variables() -> dict[str, str]:
    """The names a score table (``scores``) may give its variables: each Radar slug and its German
    and English label (``"Soziale Beziehungen"``) -> the slug; matched with the key normaliser."""
    names: dict[str, str] = {}
    for slug in load_radar().variables:
        names[slug] = slug
        for lang in ("de", "en"):
            names.setdefault(label(f"radar.{slug}", lang), slug)
    return names


def read_structural(city: CityConfig, project: ProjectConfig) -> pd.DataFrame | None:
    if city.structural is None:
        return None
    spec = city.structural
    # the default name column may be absent (ids are shown then); one the project file names must exist
    named = [spec.name_column] if spec.name_column and "name_column" in spec.model_fields_set else []
    table = read_table(project.resolve(spec.path), required=[spec.district_column, *named],
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
    structural table. The city's ``group_column`` is no indicator (group codes 1, 2, 3 are labels)
    unless declared in ``structural.indicators``.
    """
    if structural is None:
        return None, None
    spec = city.structural
    group = None if city.group_column in (spec.indicators or {}) else city.group_column
    registry = indicator_registry(structural, spec.indicators, lang,
                                  exclude=[spec.district_column, spec.name_column, group])
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
    With ``weighting.method: none`` the survey's weights are used as they are
    (:meth:`SurveyDesign.as_given`) and no population table is read.
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
    as_given = city.weighting.method == "none"   # the survey's weights as they are: no population table read
    read = None if as_given else read_population_margins(city, project, population_column_map(city))
    if read is not None:
        _label_categories(survey, read.margins, [c for c in (spec.age_column, spec.gender_column,
                                                             spec.district_column) if c in read.margins])
    codebook = load_codebook(project.resolve(spec.codebook) if spec.codebook else None, spec.min_valid_share)
    scores = score_respondents(survey, codebook)
    data = pd.concat([survey, scores.add_prefix("score__")], axis=1)
    data.attrs = survey.attrs
    design = SurveyDesign(data, weight=spec.weight_column, strata=spec.strata_column)
    if read is None:
        return design.as_given()
    margins, population = read.margins, read.district_table

    pop_name = read.sources.get(spec.district_column, Path(str(population.attrs.get("source", "population"))).name)
    survey_name = Path(spec.path).name
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
                            collapsed=collapsed, sources=read.sources)
    except InputError as exc:
        # problems of the margins themselves (totals, bounds) come from the population table
        exc.source = exc.source or population.attrs.get("source")
        raise
    return raked


def unsampled_districts(city: CityConfig, design: SurveyDesign, structural: pd.DataFrame | None) -> list[str]:
    """Districts without respondents, listed with missing direct estimates and given model values.

    With raking, the population table lists them (merged into a partner for the weighting:
    ``design.collapsed``). With the weights as given (``weighting.method: none``) no population
    table is read, so the structural table lists them, in its spelling (none without one).
    """
    if design.collapsed:
        return list(design.collapsed.merged)
    if design.calibration is not None or structural is None or city.structural is None:
        return []
    return _not_surveyed(structural[city.structural.district_column], design.data[city.survey.district_column])


def _not_surveyed(listed: Iterable, surveyed: Iterable) -> list[str]:
    """The ``listed`` districts (e.g. the structural table's) that are none of the ``surveyed``, as district keys."""
    keys = {normalise_key(str(d)) for d in surveyed}
    return [str(d) for d in listed if normalise_key(str(d)) not in keys]


def _label_categories(survey: pd.DataFrame, margins: Mapping[str, Mapping[str, float]], columns: Sequence[str]
                      ) -> None:
    """Replace the codes of an SPSS category column (age group, gender, district: ``1``, ``2``) by their
    value labels (``"männlich"``, ``"Altstadt"``) when the population table uses the labels: when
    every labelled value is a population category (compared as district keys; the labels win over codes
    that would also match, e.g. code 1 labelled "03" next to a district "01")."""
    value_labels = survey.attrs.get("value_labels") or {}
    for column in columns:
        labels = value_labels.get(column)
        if not labels:
            continue
        categories = {normalise_key(c) for c in margins[column]}
        by_code = {(str(int(k)) if isinstance(k, float) and k.is_integer() else str(k).strip()): str(v).strip()
                   for k, v in labels.items()}
        relabelled = survey[column].map(lambda v, m=by_code: m.get(str(v), v), na_action="ignore")
        if {normalise_key(c) for c in relabelled.dropna().astype(str)} <= categories:
            survey[column] = relabelled


def population_column_map(city: CityConfig) -> dict[str, str]:
    """``{survey margin column: population column}`` plus ``"__population__"`` (the count column)."""
    spec, pop_spec = city.survey, city.population
    column_map = {"__population__": pop_spec.population_column}
    for margin in city.weighting.margins:
        column_map[margin] = {spec.district_column: pop_spec.district_column, spec.age_column: pop_spec.age_column,
                              spec.gender_column: pop_spec.gender_column}.get(margin, margin)
    return column_map


def _collapse_unsampled(city: CityConfig, project: ProjectConfig, populated: dict, mapping: dict,
                        survey_districts: pd.Series, boundaries, population: pd.DataFrame
                        ) -> tuple[dict, CollapseReport]:
    """Merge districts with population but no respondents into partners (population spelling in,
    population spelling out; the report in the survey's spelling where a district has one)."""
    pop_name = Path(str(population.attrs.get("source", "population"))).name
    survey_name = Path(city.survey.path).name
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




def resolve_groups(city: CityConfig, project: ProjectConfig) -> CityConfig:
    """The city with its groups listed id by id, from ``group_column`` or ``group_key_prefix``.

    A city with listed ``groups`` (or none) is returned unchanged. The districts are those with
    population (the district margin of the population table, ids as written there), or the
    districts of the score table.

    * ``group_key_prefix: N``: a district's group is the first N characters of its id.
    * ``group_column: col``: a district's group is its value in ``col`` of the structural table,
      the boundary file's attributes or the population table(s), the first that has the column;
      districts without a value belong to no group. Whole numbers name their group without a
      decimal part (a column 1, 2, 3 read as floats gives groups "1", "2", "3").

    Raises
    ------
    InputError
        The column is in none of these tables; a district has two different groups in it; a
        district id is not longer than the prefix.
    """
    if city.group_column is None and city.group_key_prefix is None:
        return city
    districts = _district_ids(city, project)
    groups: dict[str, list[str]] = {}
    if city.group_key_prefix is not None:
        n = city.group_key_prefix
        short = [d for d in districts if len(d) <= n]
        if short:
            raise InputError(f"group_key_prefix: {n} needs district ids longer than {n} characters, but "
                             f"{', '.join(repr(d) for d in short[:5])} {'is' if len(short) == 1 else 'are'} not",
                             hint="give the number of leading characters that name the group (e.g. 6 for Berlin's "
                                  "BZR_ID in an 8-digit PLR_ID), or list the groups under 'groups'; ids must keep "
                                  "their leading zeros")
        for district in districts:
            groups.setdefault(district[:n], []).append(district)
        return city.model_copy(update={"groups": {g: tuple(m) for g, m in sorted(groups.items())}})
    column = city.group_column
    tables = _group_tables(city, project)
    found = next(((t, c) for t, c in tables if column in t.columns), None)
    if found is None:
        names = ", ".join(Path(str(t.attrs.get("source", "?"))).name for t, _ in tables)
        raise InputError(f"group_column '{column}' is in none of the city's tables ({names})",
                         hint="name a column of the structural table, the boundary file or the population table "
                              "that holds each district's group, or list the groups under 'groups'")
    table, id_column = found
    group_of: dict[str, str] = {}
    for district, value in zip(table[id_column], table[column]):
        if pd.isna(district) or pd.isna(value) or not str(value).strip():
            continue
        # a numeric column is read as float: group 1 is "1", not "1.0"
        key = normalise_key(str(district))
        value = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value).strip()
        if group_of.setdefault(key, value) != value:
            raise InputError(f"district {str(district)!r} has two groups in column '{column}' "
                             f"({group_of[key]!r} and {value!r})", table.attrs.get("source"),
                             "give every district one group")
    for district in districts:
        group = group_of.get(normalise_key(district))
        if group is not None:
            groups.setdefault(group, []).append(district)
    if not groups:
        raise InputError(f"group_column '{column}' matches no district of {city.name}", table.attrs.get("source"),
                         f"the table's '{id_column}' must hold the same district ids as the survey")
    return city.model_copy(update={"groups": {g: tuple(m) for g, m in sorted(groups.items())}})


def _district_ids(city: CityConfig, project: ProjectConfig) -> list[str]:
    """Districts with population (population spelling), or the score table's districts; with the weights as
    given, the survey's and those of the structural table without respondents (:func:`unsampled_districts`)."""
    if city.survey is None or city.weighting.method == "none":
        spec = city.scores if city.survey is None else city.survey
        table = read_table(project.resolve(spec.path), required=[spec.district_column],
                           text_columns=[spec.district_column], decimal=spec.decimal, thousands=spec.thousands)
        ids = [str(d).strip() for d in pd.unique(table[spec.district_column].dropna())]
        structural = read_structural(city, project) if city.survey is not None else None
        if structural is not None:
            ids += _not_surveyed(structural[city.structural.district_column], ids)
        return ids
    pop_spec = city.population
    column_map = {"__population__": pop_spec.population_column, "district": pop_spec.district_column}
    district = read_population_margins(city, project, column_map).margins["district"]
    return [str(d) for d, v in district.items() if v > 0]


def _group_tables(city: CityConfig, project: ProjectConfig) -> list[tuple[pd.DataFrame, str]]:
    """``[(table, district id column)]`` where ``group_column`` may be: structural, boundaries, population."""
    tables = []
    if city.structural is not None:
        tables.append((read_structural(city, project), city.structural.district_column))
    if city.boundaries is not None and city.boundaries.id_column:
        import pyogrio

        path = project.resolve(city.boundaries.path)
        try:
            attributes = pyogrio.read_dataframe(path, layer=city.boundaries.layer, read_geometry=False)
        except Exception:  # unreadable here: read_boundaries gives the real message
            attributes = None
        if attributes is not None and city.boundaries.id_column in attributes.columns:
            attributes.attrs["source"] = str(path)
            tables.append((attributes, city.boundaries.id_column))
    if city.population is not None:
        pop_spec = city.population
        specs = [pop_spec] if pop_spec.path else list(pop_spec.margin_tables)
        for spec in specs:
            table = read_table(project.resolve(spec.path), text_columns=[pop_spec.district_column],
                               decimal=spec.decimal, thousands=spec.thousands)
            if pop_spec.district_column in table.columns:
                tables.append((table, pop_spec.district_column))
    return tables
