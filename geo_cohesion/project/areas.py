"""Reporting areas above the districts: user groups and merged small districts.

Both are estimated from the microdata by one path (:func:`area_estimates`: a label per
respondent, then :meth:`SurveyDesign.domain_means`), never by averaging district numbers.
Merged areas (``estimates.merge_small``) come from
:func:`geo_cohesion.spatial.regions.merge_small_districts`: contiguous areas of districts, each
with at least ``estimates.merge_min_n`` respondents, inside the city's groups if it has any.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from geo_cohesion.errors import InputError
from geo_cohesion.project.config import ProjectConfig
from geo_cohesion.project.inputs import group_labels
from geo_cohesion.radar.codebook import load_radar
from geo_cohesion.survey.design import SurveyDesign

if TYPE_CHECKING:
    import geopandas as gpd

    from geo_cohesion.maps.layers import CityMap

MERGED_COLUMNS = ["city", "area_id", "area_name", "members", "variable", "estimate", "se", "ci_low", "ci_high", "n",
                  "n_eff", "suppressed"]
MAPPING_COLUMNS = ["district_id", "district_name", "area_id", "area_name", "group", "respondents",
                   "area_respondents"]
#: Label of respondents whose district is not on the map (``maps.allow_missing``); not reported.
OFF_MAP = "(ohne Gebiet)"


def area_estimates(design: SurveyDesign, labels: pd.Series, variables: list[str], column: str, *,
                   level: float, min_n: int, drop: str | None = None) -> pd.DataFrame:
    """Domain estimates for areas given by a label per respondent.

    Parameters
    ----------
    design : SurveyDesign
        The raked design with ``score__*`` columns.
    labels : pandas.Series
        Area label of every respondent (aligned to ``design.data``).
    variables : list of str
        ``score__*`` columns to estimate.
    column : str
        Name of the area column in the result (``"group"``, ``"area_id"``).
    level, min_n :
        Confidence level and suppression threshold (see :meth:`SurveyDesign.domain_means`).
    drop : str, optional
        A label whose rows are left out of the result (respondents outside every area); they
        stay in the design, so the variance estimate uses all respondents.

    Returns
    -------
    pandas.DataFrame
        ``<column>, variable, estimate, se, ci_low, ci_high, n, n_eff, suppressed`` with the
        ``score__`` prefix removed from ``variable``.
    """
    est = design.with_columns(__group__=labels).domain_means(variables, "__group__", level=level, min_n=min_n)
    est = est.rename(columns={"__group__": column})
    est["variable"] = est["variable"].str.removeprefix("score__")
    if drop is not None:
        est = est[est[column] != drop]
    return est.reset_index(drop=True)


@dataclass
class MergedAreas:
    """Districts of one city merged into areas with enough respondents, and their estimates.

    Attributes
    ----------
    mapping : pandas.DataFrame
        One row per district on the map: ``district_id, district_name, area_id, area_name,
        group, respondents, area_respondents`` (respondents with a valid index; see
        :func:`~geo_cohesion.spatial.regions.merge_small_districts`).
    estimates : pandas.DataFrame
        ``area_id, area_name, members, variable, estimate, se, ci_low, ci_high, n, n_eff,
        suppressed``; ``members`` lists the district names ("; "-joined).
    boundaries : geopandas.GeoDataFrame
        The dissolved areas: ``district_id`` (area id), ``district_name`` (area name), geometry.
    comparison : pandas.DataFrame or None
        Deviation of each area from the city value (as ``comparison_groups``), if computed.
    min_n : int
        The minimum number of respondents per area.
    notes : list of str
        What was done beyond plain merging (German, shown on the map).
    """

    mapping: pd.DataFrame
    estimates: pd.DataFrame
    boundaries: gpd.GeoDataFrame
    comparison: pd.DataFrame | None
    min_n: int
    notes: list[str] = field(default_factory=list)


def merge_city(result, project: ProjectConfig, boundaries) -> MergedAreas | None:
    """Merge the small districts of one city and estimate the merged areas from the microdata.

    Parameters
    ----------
    result : CityResult
        The city's estimates and raked design.
    project : ProjectConfig
        ``estimates.merge_small`` switches merging on (None is returned otherwise),
        ``estimates.merge_min_n`` is the minimum per area, ``seed`` seeds the heuristic and
        ``compare.contiguity`` says which districts are neighbours.
    boundaries : GeoDataFrame or None
        District boundaries with ids in the spelling of the survey.

    Raises
    ------
    InputError
        Merging is switched on but the city has no microdata or no boundaries.
    """
    from geo_cohesion.project.analysis import compare_design
    from geo_cohesion.spatial.regions import aggregate_boundaries, merge_small_districts

    settings = project.estimates
    if not settings.merge_small:
        return None
    city = result.city
    if result.design is None:
        raise InputError("merging small districts (estimates.merge_small) needs survey microdata, "
                         "but this city has only weighted scores",
                         hint="give the city's 'survey' and 'population', or set 'merge_small: false'")
    if boundaries is None:
        raise InputError("merging small districts (estimates.merge_small) needs the district boundaries",
                         hint="add a 'boundaries' section to the city, or set 'merge_small: false'")
    design = result.design
    districts = design.data[city.survey.district_column].astype(str)
    on_map = boundaries["district_id"].astype(str)
    # respondents with a valid index: every merged area can report its index (dimensions with more
    # missing answers may still fall below estimates.min_n and are suppressed as usual)
    counts = districts[design.data[f"score__{load_radar().index_slug}"].notna()].value_counts()
    off_map = sorted(set(districts) - set(on_map))
    notes = []
    if off_map:
        notes.append(f"Befragte aus Bezirken ohne Grenzen ({', '.join(off_map[:10])}) gehören zu keinem Gebiet")
    groups = None
    if city.groups:
        groups = pd.Series(group_labels(city, on_map).to_numpy(), index=on_map.to_numpy()).dropna()
    mapping = merge_small_districts(boundaries, counts.drop(off_map, errors="ignore"), settings.merge_min_n,
                                    groups=groups, seed=project.seed, contiguity=project.compare.contiguity)
    notes = mapping.attrs.get("notes", []) + notes
    area_of = dict(zip(mapping["district_id"], mapping["area_id"]))
    names = dict(zip(mapping["area_id"], mapping["area_name"]))
    members = mapping.groupby("area_id", sort=False)["district_name"].agg("; ".join).to_dict()
    labels = districts.map(area_of).fillna(OFF_MAP)
    variables = [f"score__{v}" for v in load_radar().variables]
    est = area_estimates(design, labels, variables, "area_id", level=settings.level, min_n=settings.min_n,
                         drop=OFF_MAP)
    est.insert(1, "area_name", est["area_id"].map(names))
    est.insert(2, "members", est["area_id"].map(members))
    comparison = compare_design(design.with_columns(__area__=labels), "__area__", project, names)
    comparison = comparison[comparison["district_id"] != OFF_MAP].rename(
        columns={"district_id": "area_id", "district_name": "area_name"}).reset_index(drop=True)
    dissolved = aggregate_boundaries(boundaries, mapping.set_index("district_id")["area_id"], names)
    return MergedAreas(mapping, est, dissolved, comparison, settings.merge_min_n, notes)


def merged_map(city: str, merged: MergedAreas, city_values: dict[str, float] | None, **common) -> CityMap:
    """The map of the merged areas (``<city>_zusammengefasst.html``), built like the group map."""
    from geo_cohesion.maps.layers import add_deviation_layers, build_city_map

    estimates = merged.estimates.rename(columns={"area_id": "district_id"})
    common = {**common, "notes": [*common.get("notes", []), *merged.notes]}
    city_map = build_city_map(city, merged.boundaries, estimates, None,
                              title=f"{city}: Sozialer Zusammenhalt nach zusammengefassten Gebieten "
                                    f"(mindestens {merged.min_n} Befragte)", **common)
    if city_values:
        add_deviation_layers(city_map, city_values)
    return city_map
