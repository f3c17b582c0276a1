"""From pipeline results to reports and exports: the glue between the project and the report stage.

:func:`report_inputs` turns each city's :class:`~geo_cohesion.project.run.CityOutputs` into the
plain data object the report stage takes (:class:`~geo_cohesion.report.model.CityReportInput`),
with the need index and changes the pipeline computed (:mod:`geo_cohesion.project.need`,
:mod:`geo_cohesion.project.waves`); :func:`write_deliverables` writes the exports (German CSVs, workbook, GeoPackage,
GeoJSON) and the reports.
"""
from __future__ import annotations

from pathlib import Path

from geo_cohesion.project.config import ProjectConfig
from geo_cohesion.report.model import CityReportInput, ReportSettings


def report_settings(project: ProjectConfig) -> ReportSettings:
    """The settings the reports state, from the project configuration."""
    return ReportSettings(title=project.title, note=project.note, survey_period=project.survey_period,
                          level=project.estimates.level, min_n=project.estimates.min_n,
                          max_ci_halfwidth=project.estimates.max_ci_halfwidth,
                          alpha=project.compare.alpha, adjust=project.compare.adjust,
                          contiguity=project.compare.contiguity, permutations=project.compare.permutations,
                          rank_draws=project.compare.rank_draws, seed=project.seed,
                          workers=project.maps.figure_workers)


def report_inputs(outputs: list, project: ProjectConfig) -> list[CityReportInput]:
    """One :class:`CityReportInput` per city of the run.

    Parameters
    ----------
    outputs : list of CityOutputs
        Results, boundaries, comparisons and maps of every city (:func:`geo_cohesion.project.run.analyse_city`).
    project : ProjectConfig
    """
    from geo_cohesion.project.run import city_maps
    cities = []
    for out in outputs:
        result, comparison = out.result, out.comparison
        city = result.city
        structural = None
        if result.structural is not None and city.structural is not None:
            structural = result.structural.rename(columns={city.structural.district_column: "district_id"})
            structural["district_id"] = structural["district_id"].astype(str)
        city_map = out.maps[0][1] if out.maps else None
        if city_map is None and out.boundaries is not None:
            city_map = city_maps(result, project, out.boundaries, comparison)[0][1]
        need = getattr(result, "need", None)
        notes = list(city_map.notes) if city_map is not None else [n for n in (city.note or project.note,) if n]
        weighting = {"method": city.weighting.method, "margins": list(city.weighting.margins),
                     "bounds": city.weighting.bounds} if city.weighting is not None else {}
        cities.append(CityReportInput(
            name=city.name, slug=city.slug, district_estimates=result.district_estimates,
            city_estimates=result.city_estimates, structural=structural,
            comparison=comparison.comparison if comparison is not None else None,
            spatial=comparison.spatial if comparison is not None else None,
            lisa=comparison.lisa if comparison is not None else None,
            association=comparison.association if comparison is not None else None,
            spread=comparison.spread if comparison is not None else None,
            variance=comparison.variance if comparison is not None else None,
            city_map=city_map, boundaries=out.boundaries, need=need, change=getattr(result, "change", None),
            diagnostics=dict(result.diagnostics), weighting=weighting, notes=notes,
            data_note=city.note or project.note))
    return cities


def write_deliverables(outputs: list, project: ProjectConfig, out_dir: str | Path, tables: list[Path],
                       reports: bool = True, report_outputs: list | None = None) -> list[Path]:
    """Write the exports (always) and the reports (if ``reports``) of a run.

    Parameters
    ----------
    outputs : list of CityOutputs
    project : ProjectConfig
    out_dir : str or Path
    tables : list of Path
        The machine-readable tables the run wrote (``tables/*.csv``): the German CSVs and the
        workbook hold exactly these.
    reports : bool
        Also write the city reports and district profiles.
    report_outputs : list of CityOutputs, optional
        What the reports are written from, when not ``outputs``: the same cities computed in German
        (the reports' language) for a run in another language.
    """
    from geo_cohesion.project import progress
    from geo_cohesion.report.build import write_reports
    from geo_cohesion.report.exports import write_exports

    settings = report_settings(project)
    cities = report_inputs(outputs, project)
    with progress.step("writing exports (German CSVs, workbook, GeoPackage)"):
        written = write_exports(cities, settings, out_dir, tables)
    if reports:
        with progress.step("writing city reports and district profiles (HTML, PDF)"):
            german = cities if report_outputs is None or report_outputs is outputs else \
                report_inputs(report_outputs, project)
            written += write_reports(german, settings, out_dir)
    return written
