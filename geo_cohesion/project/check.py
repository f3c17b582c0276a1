"""Check a project without computing estimates: every file is read and validated, district keys
are matched across files and the survey is raked, with exactly the messages ``run`` gives."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pydantic import BaseModel

from geo_cohesion.errors import InputError
from geo_cohesion.io.tables import legacy_encoding
from geo_cohesion.project.config import ProjectConfig
from geo_cohesion.project.inputs import (
    align_structural,
    group_labels,
    read_city_boundaries,
    read_structural,
    read_survey_design,
    resolve_groups,
    structural_indicators,
    unsampled_districts,
)
from geo_cohesion.project.need import check_need, need_weights
from geo_cohesion.project.run import CityResult, align_boundary_districts, run_scores_city, tagged
from geo_cohesion.project.waves import check_waves


@dataclass
class CityCheck:
    """What the check found for one city.

    Attributes
    ----------
    city : str
    districts : int
        Districts with respondents (or with scores).
    respondents : int or None
    boundaries : int or None
        Polygons in the boundary file.
    diagnostics : dict
        Raking diagnostics (microdata only).
    notes : list of str
        Repaired geometries and other things worth knowing.
    """

    city: str
    districts: int
    respondents: int | None = None
    boundaries: int | None = None
    diagnostics: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the terminal."""
        parts = [f"{self.city}: {self.districts} districts"]
        if self.respondents is not None:
            deff = self.diagnostics.get("deff_kish")
            parts.append(f"{self.respondents} respondents" + (f", weighting design effect {deff:.2f}" if deff else ""))
        if self.boundaries is not None:
            parts.append(f"{self.boundaries} boundary polygons matched")
        return ", ".join(parts) + "".join(f"; {n}" for n in self.notes)


def _check_city(city, project: ProjectConfig) -> CityCheck:
    boundaries = read_city_boundaries(city, project)
    city = resolve_groups(city, project)
    structural = read_structural(city, project)
    registry = structural_indicators(city, structural)[0]
    need_weights(project.need, registry)  # need.indicators as run resolves them
    if registry is not None:
        registry.select(project.compare.indicators, "compare.indicators")  # as the comparison does
    if city.survey is None:
        result = run_scores_city(city, project, structural)
        report = CityCheck(city.name, result.district_estimates["district_id"].nunique())
    else:
        design = read_survey_design(city, project, boundaries)
        districts = design.data[city.survey.district_column].unique()
        unsampled = unsampled_districts(city, design, structural)  # districts without respondents
        if city.groups:  # members must be districts (with or without respondents), as run's group estimates
            group_labels(city, design.data[city.survey.district_column].astype(str), unsampled)
        # as run_city: a district without respondents may (and for its model value should) have structural data
        structural = align_structural(city, structural, [*districts, *unsampled], city.survey.path)
        result = CityResult(city, pd.DataFrame({"district_id": [*districts, *unsampled]}), structural=structural)
        report = CityCheck(city.name, len(districts), len(design.data), diagnostics=design.diagnostics.as_dict())
        if unsampled:
            report.notes.append(f"{len(unsampled)} district(s) without respondents ({', '.join(unsampled[:5])}): "
                                + ("merged for the weighting, " if design.collapsed else "") + "estimated by the model")
    district_ids = result.district_estimates["district_id"].astype(str).unique()
    check_need(project.need, registry, result.structural, city.structural.district_column if city.structural else None,
               district_ids)
    check_waves(city, project, district_ids, boundaries)
    if boundaries is not None:
        align_boundary_districts(result, project, boundaries)
        report.boundaries = len(boundaries)
        report.notes += [f"boundary repaired: {r}" for r in boundaries.attrs.get("repairs", [])][:5]
    return report


def check_project(project: ProjectConfig) -> list[CityCheck]:
    """Validate every input of every city as ``run`` would, without estimating.

    Raises
    ------
    InputError
        The first problem found, with the same message (and city prefix) as ``run``.
    """
    if not project.cities:  # pragma: no cover - the settings require at least one city
        raise InputError("the project has no cities")
    return [tagged(city, _check_city, city, project) for city in project.cities]


def _paths(spec: object) -> Iterator[str]:
    """Every table's ``path`` setting in a (nested) settings model (boundaries are no tables)."""
    if isinstance(spec, BaseModel):
        for name in type(spec).model_fields:
            if name == "boundaries":
                continue
            value = getattr(spec, name)
            if name == "path" and isinstance(value, (str, Path)):
                yield str(value)
            else:
                yield from _paths(value)
    elif isinstance(spec, (list, tuple)):
        for item in spec:
            yield from _paths(item)


def encoding_notes(project: ProjectConfig) -> list[str]:
    """One note per table of the project that is not UTF-8 and is read as Windows-1252 (``check`` and ``run``
    report this decision: umlauts come out right only if the file really is Windows-1252)."""
    notes = []
    for path in dict.fromkeys(_paths(project.cities)):
        encoding = legacy_encoding(project.resolve(path))
        if encoding:
            notes.append(f"{path}: not UTF-8, read as {encoding} (German Excel's 'CSV (Trennzeichen-getrennt)'); "
                         "check its umlauts in the results, or save it as 'CSV UTF-8'")
    return notes
