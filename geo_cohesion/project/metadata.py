"""What a run writes into ``tables/metadata.json``: its settings, methods and indicator registries."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from geo_cohesion.project.config import ProjectConfig
from geo_cohesion.radar.indicators import IndicatorRegistry

if TYPE_CHECKING:
    from geo_cohesion.project.run import CityResult


def run_metadata(project: ProjectConfig, results: list[CityResult]) -> dict[str, Any]:
    """The content of ``tables/metadata.json``: project settings, methods in words, the cities' registries.

    Parameters
    ----------
    project : ProjectConfig
    results : list of CityResult
        The cities of the run (their indicator registries are recorded).
    """
    return {"title": project.title, "note": project.note, "survey_period": project.survey_period,
            "seed": project.seed, "cities": [r.city.name for r in results],
            "estimates": {"level": project.estimates.level, "min_n": project.estimates.min_n,
                          "merge_small": project.estimates.merge_small, "merge_min_n": project.estimates.merge_min_n,
                          "estimator": project.estimates.estimator, "covariates": project.estimates.covariates,
                          "benchmark": project.estimates.benchmark,
                          "max_ci_halfwidth": project.estimates.max_ci_halfwidth},
            "compare": {"alpha": project.compare.alpha, "adjust": project.compare.adjust,
                        "contiguity": project.compare.contiguity, "permutations": project.compare.permutations},
            "weighting": {c.name: f"raking to {', '.join(c.weighting.margins)}" if c.weighting.method == "raking"
                          else "the survey's weights as given (method none)" for c in project.cities if c.weighting},
            "standard_errors": "Taylor linearisation, stratified with-replacement design; raked weights: design-"
                               "weighted GREG residuals on all raking margins (as R survey::calibrate); weights as "
                               "given: no calibration term (as R survey::svydesign)",
            "intervals_and_tests": "Student t; df = respondents of the district with a value minus the strata they "
                                   "lie in (Korn & Graubard), city: respondents minus strata; SE missing (not 0) "
                                   "with fewer than two respondents",
            "districts_without_respondents": "raking: merged into the neighbouring district (else the district of the "
                                             "same group) with the fewest respondents (weighting_diagnostics.csv, "
                                             "collapsed); weights as given: those of the structural table",
            "structural_indicators": {r.city.name: _registry_record(r.indicators) for r in results
                                      if r.indicators is not None}}


def _registry_record(registry: IndicatorRegistry) -> dict:
    """The registry for ``metadata.json``: every indicator and every note."""
    return {"indicators": [{"column": i.column, "label": i.label, "unit": i.unit, "direction": i.direction,
                            "role": i.role, "origin": i.origin} for i in registry],
            "notes": list(registry.notes)}
