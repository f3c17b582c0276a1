"""Run a city through the pipeline: read & validate -> score -> weight -> estimate -> tables.

:func:`run_city` is pure with respect to outputs (it returns DataFrames); :func:`run_project`
runs every city of a :class:`~geo_cohesion.project.config.ProjectConfig` and writes the tables
atomically. The demo and a user's own city take exactly this path.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from geo_cohesion.errors import InputError
from geo_cohesion.io.tables import read_table
from geo_cohesion.io.write import OutputRun, write_csv, write_text
from geo_cohesion.keys import align_keys
from geo_cohesion.labels import DEFAULT_LANG, label
from geo_cohesion.project import progress
from geo_cohesion.project.areas import MAPPING_COLUMNS, MERGED_COLUMNS, area_estimates, merge_city, merged_map
from geo_cohesion.project.config import CityConfig, ProjectConfig
from geo_cohesion.project.inputs import (
    align_structural,
    district_names,
    group_labels,
    read_city_boundaries,
    read_structural,
    read_survey_design,
    resolve_groups,
    score_variables,
    structural_indicators,
    unsampled_districts,
)
from geo_cohesion.project.metadata import run_metadata
from geo_cohesion.project.reuse import run_record
from geo_cohesion.project.small_area import direct_rows, model_district_estimates, reliability_note
from geo_cohesion.radar.codebook import load_radar
from geo_cohesion.radar.indicators import IndicatorRegistry
from geo_cohesion.report.model import REPORT_LANGUAGES
from geo_cohesion.survey.design import SurveyDesign
from geo_cohesion.survey.estimates import estimates_from_table

if TYPE_CHECKING:  # imported for annotations only: the map stage is loaded when needed
    import geopandas as gpd

    from geo_cohesion.maps.layers import CityMap
    from geo_cohesion.project.analysis import CityComparison
    from geo_cohesion.project.areas import MergedAreas

DISTRICT_COLUMNS = ["city", "district_id", "district_name", "variable", "estimate", "se", "ci_low", "ci_high",
                    "n", "n_eff", "suppressed", "df", "estimator", "mse", "direct_estimate", "direct_se",
                    "rank", "rank_low", "rank_high"]
CITY_COLUMNS = ["city", "variable", "estimate", "se", "ci_low", "ci_high", "n", "n_eff", "df"]
GROUP_COLUMNS = ["city", "group", "variable", "estimate", "se", "ci_low", "ci_high", "n", "n_eff", "suppressed", "df",
                 "estimator"]
#: Columns of ``tables/sae_models.csv`` (one row per city and score).
MODEL_COLUMNS = ["city", "variable", "requested", "method", "fit_method", "covariates", "sigma2_u", "rho", "sigma2_v",
                 "beta", "converged", "synthetic", "areas_in_sample", "areas_out_of_sample", "aic", "benchmark_factor",
                 "mse_method", "notes"]


@dataclass
class CityResult:
    """Everything computed for one city.

    Attributes
    ----------
    city : CityConfig
    district_estimates : DataFrame
        ``district_id, district_name, variable, estimate, se, ci_low, ci_high, n, n_eff, suppressed, df,
        estimator, mse, direct_estimate, direct_se, reason``: the published estimate of the configured
        estimator (see :func:`geo_cohesion.project.small_area.model_district_estimates`); where a
        district has no respondents, a ``note`` (label ``note.no_respondents_model``).
    city_estimates : DataFrame or None
        City-wide values (microdata only).
    group_estimates : DataFrame or None
        Estimates for the configured district groups, computed from the microdata.
    structural : DataFrame or None
        District structural indicators as read (indicator columns as numbers).
    diagnostics : dict
        Weighting diagnostics and counts.
    design : SurveyDesign or None
        The raked design with the ``score__*`` columns (microdata only), for comparisons.
    indicators : IndicatorRegistry or None
        What each structural column is (label, unit, direction, role), built once from the
        structural table and ``structural.indicators``; its ``notes`` say what had to be guessed.
    models : DataFrame or None
        One row per score describing the small-area model (``sae_models.csv``).
    estimator_note : str
        Which estimator produced the numbers (German), for maps and figures.
    change : DataFrame or None
        Change from each earlier wave (``waves``) to the main survey
        (:func:`geo_cohesion.project.waves.city_changes`); ``structural_before`` the earlier
        structural tables by wave.
    need : DataFrame or None
        Need index with class stability, dynamics and priority flag
        (:func:`geo_cohesion.project.need.city_need`), set by :func:`analyse_city`.
    """

    city: CityConfig
    district_estimates: pd.DataFrame
    city_estimates: pd.DataFrame | None = None
    group_estimates: pd.DataFrame | None = None
    structural: pd.DataFrame | None = None
    diagnostics: dict = field(default_factory=dict)
    design: SurveyDesign | None = None
    indicators: IndicatorRegistry | None = None
    models: pd.DataFrame | None = None
    estimator_note: str = ""
    change: pd.DataFrame | None = None
    structural_before: dict = field(default_factory=dict)
    need: pd.DataFrame | None = None


def run_city(city: CityConfig, project: ProjectConfig, boundaries=None, lang: str = DEFAULT_LANG) -> CityResult:
    """Compute district (and city and group) estimates for one city.

    Districts with population but no respondents are merged into a partner for the weighting
    (:func:`~geo_cohesion.project.inputs.read_survey_design`) and still listed in the district
    estimates: no direct estimate (NaN), ``n = 0``, ``suppressed`` and the note
    "keine Befragten – Wert aus Modell" (label ``note.no_respondents_model`` in ``lang``; "keine
    Befragten" where no model gives the district a value).

    Parameters
    ----------
    city : CityConfig
    project : ProjectConfig
        Shared settings and the base folder for relative paths.
    boundaries : GeoDataFrame, optional
        The city's boundaries (for the spatial Fay-Herriot model); read from the configuration
        when needed and not given.
    lang : {"de", "en"}
        Language of the indicator labels.

    Returns
    -------
    CityResult
    """
    if boundaries is None and project.estimates.estimator == "spatial_fay_herriot":
        boundaries = read_city_boundaries(city, project)
    radar = load_radar()
    level, min_n = project.estimates.level, project.estimates.min_n
    registry, structural = structural_indicators(city, read_structural(city, project), lang)
    if city.survey is None:
        return run_scores_city(city, project, structural, registry, boundaries, lang)

    design = read_survey_design(city, project, boundaries)
    spec = city.survey
    variables = [f"score__{v}" for v in radar.variables]
    district_col = spec.district_column
    unsampled = unsampled_districts(city, design, structural)
    structural = align_structural(city, structural, [*design.data[district_col].unique(), *unsampled], spec.path)
    names = district_names(city, structural)
    est = design.domain_means(variables, district_col, level=level, min_n=min_n)
    est = est.rename(columns={district_col: "district_id"})
    est["variable"] = est["variable"].str.removeprefix("score__")
    if unsampled:
        est = pd.concat([est, _unsampled_rows(unsampled, radar.variables, est.columns, lang)], ignore_index=True)
    est.insert(1, "district_name", est["district_id"].map(names).astype(object).fillna(est["district_id"]))
    city_est = design.means(variables, level=level)
    city_est["variable"] = city_est["variable"].str.removeprefix("score__")
    group_est = None
    if city.groups:
        labels = group_labels(city, design.data[district_col].astype(str), unsampled).fillna("(ohne Gruppe)")
        group_est = area_estimates(design, labels, variables, "group", level=level, min_n=min_n,
                                   drop="(ohne Gruppe)")
        group_est = direct_rows(group_est, project, lang)
    diagnostics = {"n_respondents": len(design.data), **design.diagnostics.as_dict()}
    est, models, note = model_district_estimates(city, project, est, structural, design=design,
                                                 city_estimates=city_est, boundaries=boundaries, lang=lang)
    # a district without respondents that got no model value either (direct estimator, no model): no promise
    if "note" in est.columns:
        no_value = est["note"].eq(label("note.no_respondents_model", lang)) & est["estimate"].isna()
        est["note"] = est["note"].mask(no_value, label("note.no_respondents", lang))
        if "reason" in est.columns:  # the note says why; "keine gültigen Antworten" is for districts with respondents
            est["reason"] = est["reason"].mask(no_value, "")
    result = CityResult(city, est, city_est, group_est, structural, diagnostics, design, registry, models, note)
    return with_changes(result, project, boundaries)


def with_changes(result: CityResult, project: ProjectConfig, boundaries=None) -> CityResult:
    """The result with the changes from the city's earlier ``waves`` (if any)."""
    from geo_cohesion.project.waves import city_changes

    result.change, result.structural_before = city_changes(result.city, project, result.district_estimates, boundaries)
    warnings = result.change.attrs.get("warnings", []) if result.change is not None else []
    if warnings:  # printed in the run's summary, like the weighting's warnings
        result.diagnostics["warnings"] = "; ".join(w for w in (result.diagnostics.get("warnings"), *warnings) if w)
    return result


def _unsampled_rows(districts: list[str], variables: list[str], columns, lang: str = DEFAULT_LANG) -> pd.DataFrame:
    """Rows of districts without respondents: no direct estimate, n = 0, suppressed, with a note."""
    rows = pd.DataFrame({"district_id": np.repeat(districts, len(variables)),
                         "variable": np.tile(variables, len(districts))})
    for column in columns:
        if column not in rows:
            rows[column] = np.nan
    rows["n"], rows["n_eff"], rows["suppressed"] = 0, 0.0, True
    rows["note"] = label("note.no_respondents_model", lang)
    return rows


def _export_frame(frame: pd.DataFrame, columns: list[str], note: str | None) -> pd.DataFrame:
    """Order columns, blank suppressed numbers, round for humans, add the data note (after a
    row's own ``note``, e.g. "keine Befragten")."""
    out = frame[columns].copy()
    if "suppressed" in out.columns:
        hidden = out["suppressed"].astype(bool)
        out.loc[hidden, [c for c in ("estimate", "se", "ci_low", "ci_high", "mse") if c in out.columns]] = np.nan
    for col in [c for c in ("estimate", "se", "ci_low", "ci_high", "mse", "direct_estimate", "direct_se")
                if c in out.columns]:
        out[col] = out[col].astype(float).round(4)
    if "n_eff" in out.columns:
        out["n_eff"] = out["n_eff"].astype(float).round(1)
    own = frame["note"].fillna("").astype(str) if "note" in frame.columns else pd.Series("", index=frame.index)
    reasons = frame["reason"].fillna("").astype(str) if "reason" in frame.columns else pd.Series("", index=frame.index)
    if note or own.ne("").any() or reasons.ne("").any():
        out["note"] = ["; ".join(t for t in (a, r, note) if t) for a, r in zip(own, reasons)]
    return out


def write_tables(results: list[CityResult], project: ProjectConfig, out_dir: Path) -> list[Path]:
    """Write the estimate tables of all cities (atomically) under ``out_dir/tables``.

    Files: ``district_estimates.csv``, ``city_estimates.csv``, ``group_estimates.csv``,
    ``weighting_diagnostics.csv`` (machine-readable: UTF-8, comma, decimal point); the versions for
    German Excel are written with all other tables by :func:`geo_cohesion.project.reporting.write_deliverables`.
    Suppressed estimates (n below ``min_n``) are written as empty cells with ``suppressed=True``.
    ``sae_models.csv`` describes the small-area model of every city and score (when a model estimator is
    configured); suppressed estimates carry the reason in ``note``.
    """
    tables = out_dir / "tables"
    order = {v: i for i, v in enumerate(load_radar().variables)}

    def collect(attr: str, columns: list[str]) -> pd.DataFrame | None:
        frames = []
        for res in results:
            frame = getattr(res, attr)
            if frame is None:
                continue
            frame = frame.assign(city=res.city.name)
            frames.append(_export_frame(frame, columns, res.city.note or project.note))
        if not frames:
            return None
        out = pd.concat(frames, ignore_index=True)
        return out.sort_values([c for c in columns if c in ("district_id", "group")] + ["variable"],
                               key=lambda s: s.map(order) if s.name == "variable" else s, kind="stable") \
            .sort_values("city", key=lambda s: s.map({r.city.name: i for i, r in enumerate(results)}), kind="stable") \
            .reset_index(drop=True)

    outputs = {"district_estimates.csv": collect("district_estimates", DISTRICT_COLUMNS),
               "city_estimates.csv": collect("city_estimates", CITY_COLUMNS),
               "group_estimates.csv": collect("group_estimates", GROUP_COLUMNS)}
    diag = [dict(city=r.city.name, **r.diagnostics) for r in results if r.diagnostics]
    if diag:
        outputs["weighting_diagnostics.csv"] = pd.DataFrame(diag)
    models = [r.models.assign(city=r.city.name) for r in results if r.models is not None]
    if models:
        table = pd.concat(models, ignore_index=True)[MODEL_COLUMNS]
        for col in ("sigma2_u", "rho", "sigma2_v", "aic", "benchmark_factor"):
            table[col] = table[col].astype(float).round(6)
        outputs["sae_models.csv"] = table
    written = []
    for name, frame in outputs.items():
        if frame is None:
            continue
        written.append(write_csv(frame, tables / name))
    return written


def write_merged_tables(outputs: list, project: ProjectConfig, out_dir: Path) -> list[Path]:
    """Write the merged areas of all cities under ``OUT/tables``.

    Files: ``merged_estimates.csv`` (all cities; also for German Excel under ``excel_de/``),
    and per city ``merged_areas_<city>.csv`` (district → area), ``merged_areas_<city>.gpkg``
    (the dissolved areas with their members and respondents) and ``comparison_merged_<city>.csv``.
    Suppressed estimates are written as empty cells.
    """
    from geo_cohesion.io.write import write_gpkg
    from geo_cohesion.project.analysis import _rounded

    tables = Path(out_dir) / "tables"
    written, frames = [], []
    for out in outputs:
        merged = getattr(out, "merged", None)
        if merged is None:
            continue
        city = out.result.city
        note = city.note or project.note
        # how the areas were formed (e.g. a minimum no merge reaches) travels with the numbers, not only on the map
        frames.append(_export_frame(merged.estimates.assign(city=city.name), MERGED_COLUMNS,
                                    "; ".join(n for n in (*merged.notes, note) if n)))
        written.append(write_csv(merged.mapping[MAPPING_COLUMNS], tables / f"merged_areas_{city.slug}.csv"))
        areas = merged.mapping.drop_duplicates("area_id").set_index("area_id")
        members = merged.mapping.groupby("area_id")["district_id"].agg(";".join)
        gdf = merged.boundaries.rename(columns={"district_id": "area_id", "district_name": "area_name"})
        gdf.insert(2, "members", gdf["area_id"].map(members))
        gdf.insert(3, "respondents", gdf["area_id"].map(areas["area_respondents"]).astype(float))
        written.append(write_gpkg(gdf, tables / f"merged_areas_{city.slug}.gpkg", layer="merged_areas"))
        if merged.comparison is not None:
            written.append(write_csv(_rounded(merged.comparison, note), tables / f"comparison_merged_{city.slug}.csv"))
    if frames:
        table = pd.concat(frames, ignore_index=True)
        written.append(write_csv(table, tables / "merged_estimates.csv"))  # German copy: write_deliverables
    return written


def run_scores_city(city: CityConfig, project: ProjectConfig, structural: pd.DataFrame | None,
                    registry: IndicatorRegistry | None = None, boundaries=None, lang: str = DEFAULT_LANG
                    ) -> CityResult:
    """A city given as already weighted district scores (``scores`` in the project file); notes and
    reasons in ``lang``."""
    spec = city.scores
    table = read_table(project.resolve(spec.path), text_columns=[spec.district_column], decimal=spec.decimal,
                       thousands=spec.thousands)
    districts = estimates_from_table(table, spec.district_column, spec.variable_column, spec.estimate_column,
                                     spec.se_column, spec.n_column, level=project.estimates.level,
                                     min_n=project.estimates.min_n, variables=score_variables())
    structural = align_structural(city, structural, districts["district_id"].unique(), spec.path)
    names = district_names(city, structural)
    ids = districts["district_id"]
    districts.insert(1, "district_name", ids.map(names).astype(object).fillna(ids))
    districts["n_eff"] = districts["n_eff"].astype(float)
    districts, models, note = model_district_estimates(city, project, districts, structural, boundaries=boundaries,
                                                       lang=lang)
    return with_changes(CityResult(city, districts, structural=structural, diagnostics={"source": "weighted scores"},
                                   indicators=registry, models=models, estimator_note=note), project, boundaries)


def tagged(city: CityConfig, func, *args):
    """Run ``func`` and prefix any InputError with the city's name."""
    try:
        return func(*args)
    except InputError as exc:
        exc.message = f"[{city.name}] {exc.message}"
        raise


@dataclass
class CityOutputs:
    """Everything written for one city besides the estimate tables."""

    result: CityResult
    boundaries: gpd.GeoDataFrame | None
    comparison: CityComparison | None
    maps: list = field(default_factory=list)
    merged: MergedAreas | None = None
    priority: gpd.GeoDataFrame | None = None


def analyse_city(result: CityResult, project: ProjectConfig, with_maps: bool = True,
                 boundaries=None, lang: str = DEFAULT_LANG) -> CityOutputs:
    """Read boundaries (unless given), compare districts, run spatial statistics and build the maps of one city."""
    from geo_cohesion.project.analysis import compare_city

    if boundaries is None:
        boundaries = read_city_boundaries(result.city, project)
    boundaries = align_boundary_districts(result, project, boundaries)
    comparison = compare_city(result, project, boundaries, lang)
    merged = merge_city(result, project, boundaries)
    priority = add_need(result, project, boundaries)
    maps = (city_maps(result, project, boundaries, comparison, merged, lang)
            if with_maps and boundaries is not None else [])
    return CityOutputs(result, boundaries, comparison, maps, merged, priority)


def add_need(result: CityResult, project: ProjectConfig, boundaries=None):
    """Set ``result.need`` (:func:`geo_cohesion.project.need.city_need`); return the dissolved priority
    areas (None without boundaries or priority districts)."""
    from geo_cohesion.project.need import city_need, priority_areas

    city, structural = result.city, result.structural
    if structural is not None and city.structural is not None:
        structural = structural.rename(columns={city.structural.district_column: "district_id"})
        structural["district_id"] = structural["district_id"].astype(str)
    result.need = city_need(result.district_estimates, structural, result.indicators, project.need, project.seed,
                            result.change, result.structural_before)
    if result.need is None or boundaries is None:
        return None
    areas, mapping = priority_areas(result.need, boundaries, project.compare.contiguity)
    result.need["priority_area"] = result.need["district_id"].astype(str).map(mapping).astype("string")
    return areas


def run_project(project: ProjectConfig, out_dir: str | Path, maps: bool = True,
                reports: bool = True, lang: str = DEFAULT_LANG) -> list[CityResult]:
    """Run every city of the project and write tables, comparisons, maps, figures, exports and reports.

    All cities are computed, compared and mapped before anything is written, so a bad input in
    one city leaves the previous outputs of all cities untouched.

    Parameters
    ----------
    project : ProjectConfig
    out_dir : str or Path
    maps : bool
        Also write HTML maps and print figures (``geo-cohesion compare`` skips them).
    reports : bool
        Also write the city reports and district profiles (``OUT/report/``); the exports (German
        CSVs, workbook, GeoPackage) are always written. Reports are German
        (:data:`~geo_cohesion.report.model.REPORT_LANGUAGES`): in another ``lang`` their inputs are
        computed a second time in German (same numbers), so no English label enters a German report.
    lang : {"de", "en"}
        Language of labels and notes on maps, figures and tables.

    Returns
    -------
    list of CityResult
        Each with its indicator registry; ``result.indicators.notes`` say which structural
        columns had no declared label and why a bivariate map is missing (also in
        ``tables/metadata.json``).
    """
    out_dir = Path(out_dir)
    # a complete run records what it was computed from: compare and report reuse it (project/reuse.py)
    record = run_record(project, lang) if maps and reports else None
    n_cities, german_again = len(project.cities), reports and lang not in REPORT_LANGUAGES
    progress.expect((5 if german_again else 3) * n_cities + 2 + (1 if maps else 0) + (1 if reports else 0))
    # boundaries first: a broken boundary file stops the run before the estimation
    boundaries, cities = [], []
    for city in project.cities:
        with progress.step(f"{city.name}: reading boundaries and groups"):
            boundaries.append(tagged(city, read_city_boundaries, city, project))
            cities.append(tagged(city, resolve_groups, city, project))
    results, outputs = compute_cities(cities, boundaries, project, maps, lang)
    report_outputs = compute_cities(cities, boundaries, project, False, REPORT_LANGUAGES[0])[1] if german_again \
        else outputs
    with OutputRun(out_dir, prune=maps, record=record) as run:  # all outputs of the run, or none of them
        _write_outputs(results, outputs, project, run.root, maps, reports, report_outputs)
    return results


#: The two computing stages of a city, as reported in the progress (format with the city's name).
_STAGES = ("{}: reading, weighting, estimating", "{}: comparison, spatial statistics")


def compute_cities(cities: list[CityConfig], boundaries: list, project: ProjectConfig, maps: bool = True,
                   lang: str = DEFAULT_LANG) -> tuple[list[CityResult], list[CityOutputs]]:
    """Estimate (:func:`run_city`) and analyse (:func:`analyse_city`) every city, in parallel
    processes where cores allow (``estimates.workers``).

    The cities do not depend on each other (every random draw is seeded from the project's seed,
    not from the order of the cities), so the results are the same in any number of processes.
    BLAS runs on one thread meanwhile.
    With a bad input in several cities, the error raised is the one a run one city after another
    meets first: the first city's in estimation, else the first city's in the analysis.

    Returns
    -------
    (list of CityResult, list of CityOutputs)
        In the order of ``cities``.
    """
    from threadpoolctl import threadpool_limits

    # one BLAS thread: the matrices are small or batched, and BLAS threads only contend with each
    # other and with the city processes (1.1-11x slower on 2 cores: benchmarks/bench_blas_threads.py)
    with threadpool_limits(limits=1, user_api="blas"):
        return _compute_cities(cities, boundaries, project, maps, lang)


def _compute_cities(cities: list[CityConfig], boundaries: list, project: ProjectConfig, maps: bool,
                    lang: str) -> tuple[list[CityResult], list[CityOutputs]]:
    from geo_cohesion.maps.parallel import fork_map

    stage_names = [_STAGES[0], _STAGES[1] + (", maps" if maps else "")]
    if len(cities) == 1 or project.estimates.workers == 1:
        results = []
        for city, b in zip(cities, boundaries):
            with progress.step(stage_names[0].format(city.name)):
                results.append(tagged(city, run_city, city, project, b, lang))
        outputs = []
        for r, b in zip(results, boundaries):
            with progress.step(stage_names[1].format(r.city.name)):
                outputs.append(tagged(r.city, analyse_city, r, project, maps, b, lang))
        return results, outputs

    def both_stages(index: int) -> tuple:
        city, b = cities[index], boundaries[index]
        with progress.muted():
            start = time.perf_counter()
            try:
                result = tagged(city, run_city, city, project, b, lang)
            except InputError as exc:
                return (0, exc), None, None
            middle = time.perf_counter()
            try:
                output = tagged(city, analyse_city, result, project, maps, b, lang)
            except InputError as exc:
                return (1, exc), None, None
        return None, (result, output), (middle - start, time.perf_counter() - middle)

    _preload_stage_modules(project)
    progress.describe(f"{len(cities)} cities: reading, weighting, estimating, comparing (in parallel)")
    sizes = [float(len(b)) if b is not None else 1.0 for b in boundaries]  # larger cities start first
    done = fork_map(both_stages, range(len(cities)), project.estimates.workers, costs=sizes)
    failed = [(error[0], i, error[1]) for i, (error, _, _) in enumerate(done) if error is not None]
    if failed:
        raise min(failed, key=lambda f: f[:2])[2]
    for stage in (0, 1):
        for city, (_, _, seconds) in zip(cities, done):
            progress.record(stage_names[stage].format(city.name), seconds[stage])
    return [d[1][0] for d in done], [d[1][1] for d in done]


def _preload_stage_modules(project: ProjectConfig) -> None:
    """Import what the city stages import lazily, here, before the city processes are forked: they
    inherit the modules instead of each importing them again (esda, libpysal, mapclassify and
    matplotlib take about 2.5 s of CPU per process; spopt, for merging, another 1.7 s)."""
    import geo_cohesion.maps.layers
    import geo_cohesion.maps.significance
    import geo_cohesion.project.analysis
    import geo_cohesion.spatial.autocorrelation
    import geo_cohesion.spatial.weights  # noqa: F401

    if project.estimates.merge_small:
        import spopt.region.maxp  # noqa: F401


def _write_outputs(results: list[CityResult], outputs: list[CityOutputs], project: ProjectConfig, out_dir: Path,
                   maps: bool, reports: bool, report_outputs: list[CityOutputs]) -> None:
    """Write every table, map, figure and the metadata of a run below ``out_dir`` (the reports from
    ``report_outputs``: ``outputs``, or the same cities computed in German)."""
    from geo_cohesion.project.analysis import write_comparison_figures, write_comparison_tables

    with progress.step("writing tables"):
        table_paths = write_tables(results, project, out_dir)
        table_paths += write_comparison_tables(outputs, project, out_dir)
        table_paths += write_merged_tables(outputs, project, out_dir)
        from geo_cohesion.project.need import write_need_outputs

        table_paths += write_need_outputs(outputs, project, out_dir)
    if maps:
        with progress.step("writing maps and figures"):
            write_maps([m for o in outputs for m in o.maps], project, out_dir)
            if project.maps.figures:
                write_comparison_figures(outputs, project, out_dir)
    write_text(out_dir / "tables" / "metadata.json",
               json.dumps(run_metadata(project, results), ensure_ascii=False, indent=2) + "\n")
    from geo_cohesion.project.reporting import write_deliverables

    write_deliverables(outputs, project, out_dir, table_paths, reports=reports, report_outputs=report_outputs)


def city_maps(result: CityResult, project: ProjectConfig, boundaries, comparison=None,
              merged: MergedAreas | None = None, lang: str = DEFAULT_LANG) -> list[tuple[str, CityMap]]:
    """The maps of one city: district level and, if configured, group level and merged areas.

    Returns ``[(file stem, CityMap), ...]``.

    Raises
    ------
    InputError
        If ``maps.figure_variables`` names a layer the city does not have.
    """
    from geo_cohesion.maps.layers import (
        add_bivariate_layer,
        add_deviation_layers,
        add_need_class,
        add_rank_intervals,
        build_city_map,
    )
    from geo_cohesion.maps.significance import add_significance
    from geo_cohesion.project.analysis import add_comparison_layers
    from geo_cohesion.spatial.regions import aggregate_boundaries

    city = result.city
    spec = city.boundaries
    notes = [n for n in (city.note or project.note, spec.note) if n]
    notes += [label("note.boundary_repair", lang, repair=r) for r in boundaries.attrs.get("repairs", [])][:3]
    if comparison is not None:
        notes += comparison.notes
    source = project.title + (f", {project.survey_period}" if project.survey_period else "")
    settings = project.maps
    structural_id = city.structural.district_column if city.structural is not None else "district_id"
    notes.append(reliability_note(project, lang))
    common = dict(scheme=settings.scheme, k=settings.k, breaks=settings.breaks, source=source, notes=notes,
                  min_n=project.estimates.min_n, level=project.estimates.level, lang=lang,
                  suppressed_label=label("note.unreliable", lang))
    city_values = (dict(zip(result.city_estimates["variable"], result.city_estimates["estimate"]))
                   if result.city_estimates is not None else None)
    district_map = build_city_map(city.name, boundaries, result.district_estimates, result.structural, structural_id,
                                  allow_missing=settings.allow_missing, indicators=result.indicators,
                                  estimator_note=result.estimator_note,
                                  title=label("map.title_districts", lang, city=city.name), **common)
    if city_values:
        add_deviation_layers(district_map, city_values)
    add_bivariate_layer(district_map)  # the registry's deprivation indicator; skipped (with a note) without one
    if comparison is not None:
        add_comparison_layers(district_map, comparison)
        add_significance(district_map, comparison.comparison, project.compare.adjust, project.compare.alpha)
    # the ranks of the values the map shows (district_estimates.csv), not recomputed: a district with a
    # model estimate has a rank too, where the comparison table ranks the direct estimates only
    add_rank_intervals(district_map, result.district_estimates, basis="published")
    from geo_cohesion.maps.need_layers import add_need_layers

    add_need_layers(district_map, result.need, result.change)
    add_need_class(district_map, result.need)  # the need table's class in every tooltip
    check_figure_variables(district_map, settings.figure_variables)
    maps = [(city.slug, district_map)]
    if city.groups and result.group_estimates is not None:
        mapping = {str(d): g for g, members in city.groups.items() for d in members}
        grouped = aggregate_boundaries(boundaries[boundaries["district_id"].isin(mapping)], mapping)
        group_est = result.group_estimates.rename(columns={"group": "district_id"})
        # a group without respondents has no estimate row: "keine Daten" (its members are in the district map)
        group_map = build_city_map(city.name, grouped, group_est, None, allow_missing=True,
                                   estimator_note=label("estimator.note_direct", lang),
                                   title=label("map.title_groups", lang, city=city.name), **common)
        if city_values:
            add_deviation_layers(group_map, city_values)
        if comparison is not None and comparison.group_comparison is not None:
            add_significance(group_map, comparison.group_comparison, project.compare.adjust, project.compare.alpha,
                             id_column="group")
            add_rank_intervals(group_map, comparison.group_comparison, id_column="group")
        maps.append((f"{city.slug}_gruppen", group_map))
    if merged is not None:
        maps.append((f"{city.slug}_zusammengefasst", merged_map(city.name, merged, city_values, **common)))
    return maps


def figure_variables(city_map: CityMap, requested: list[str] | None) -> list[str]:
    """Layers of ``city_map`` to print: ``requested`` where the map has them (a group map has no
    structural layers), or by default the index, the 3 domains, every structural layer and the need,
    dynamics and status × dynamics layers."""
    present = [layer.variable for layer in city_map.layers]
    if requested is not None:
        return [v for v in requested if v in present]
    radar = load_radar()
    default = [radar.index_slug, *radar.domains]
    return [v for v in default if v in present] + [layer.variable for layer in city_map.layers
                                                    if layer.kind in ("structural", "need")]


def check_figure_variables(city_map: CityMap, requested: list[str] | None) -> None:
    """Raise if ``maps.figure_variables`` names something that is neither a Radar variable nor a
    layer of the city's (district) map."""
    if requested is None:
        return
    available = list(dict.fromkeys([*load_radar().variables, *(layer.variable for layer in city_map.layers)]))
    unknown = [v for v in requested if v not in available]
    if unknown:
        raise InputError(f"maps.figure_variables: unknown variable(s) {', '.join(repr(v) for v in unknown)}",
                         hint=f"available: {', '.join(available)}; or leave the setting out for the index, the "
                              "domains and every structural indicator")


def write_maps(built: list[tuple[str, CityMap]], project: ProjectConfig, out_dir: Path) -> list[Path]:
    """Write HTML maps (``OUT/<stem>.html``) and print figures (``OUT/figures/``) atomically."""
    from geo_cohesion.maps.html import write_html_map
    from geo_cohesion.maps.parallel import FigureRequest, write_figures

    written = []
    settings = project.maps
    for stem, city_map in built:
        written.append(write_html_map(city_map, out_dir / f"{stem}.html", settings.tolerance_m, settings.offline,
                                      settings.basemap))
    if settings.figures:  # every city's figures at once, in parallel processes where cores allow
        requests = [FigureRequest(city_map, out_dir / "figures", figure_variables(city_map, settings.figure_variables),
                                  stem) for stem, city_map in built]
        written.extend(write_figures(requests, tuple(settings.figure_formats), workers=settings.figure_workers))
    return written


def align_boundary_districts(result: CityResult, project: ProjectConfig, boundaries):
    """Boundaries with district ids in the spelling of the estimates.

    The districts of the estimates and of the boundaries must match (unless ``maps.allow_missing``).
    """
    city = result.city
    if boundaries is None:
        return None
    data = city.survey if city.survey is not None else city.scores
    aligned = boundaries.copy()
    aligned["district_id"] = align_keys(
        boundaries["district_id"], result.district_estimates["district_id"].unique(),
        Path(city.boundaries.path).name, Path(data.path).name, allow_missing=project.maps.allow_missing,
        hint="use the same district ids in both files (see boundaries 'id_column'), or set "
             f"'allow_missing: true' under 'maps' to show missing districts as '{label('note.no_data')}'")
    aligned.attrs = boundaries.attrs
    return aligned
