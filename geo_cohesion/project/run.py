"""Run a city through the pipeline: read & validate -> score -> weight -> estimate -> tables.

:func:`run_city` is pure with respect to outputs (it returns DataFrames); :func:`run_project`
runs every city of a :class:`~geo_cohesion.project.config.ProjectConfig` and writes the tables
atomically. The demo and a user's own city take exactly this path.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from geo_cohesion.errors import InputError
from geo_cohesion.io.tables import read_table
from geo_cohesion.io.write import write_csv, write_text
from geo_cohesion.keys import align_keys
from geo_cohesion.project.config import CityConfig, ProjectConfig
from geo_cohesion.project.inputs import (
    align_structural,
    district_names,
    group_labels,
    read_city_boundaries,
    read_structural,
    read_survey_design,
)
from geo_cohesion.project.small_area import DIRECT_NOTE, direct_rows, model_district_estimates, reliability_note
from geo_cohesion.radar.codebook import load_radar
from geo_cohesion.survey.design import SurveyDesign
from geo_cohesion.survey.estimates import estimates_from_table

if TYPE_CHECKING:  # imported for annotations only: the map stage is loaded when needed
    import geopandas as gpd

    from geo_cohesion.maps.layers import CityMap
    from geo_cohesion.project.analysis import CityComparison

DISTRICT_COLUMNS = ["city", "district_id", "district_name", "variable", "estimate", "se", "ci_low", "ci_high",
                    "n", "n_eff", "suppressed", "estimator", "mse", "direct_estimate", "direct_se"]
CITY_COLUMNS = ["city", "variable", "estimate", "se", "ci_low", "ci_high", "n", "n_eff"]
GROUP_COLUMNS = ["city", "group", "variable", "estimate", "se", "ci_low", "ci_high", "n", "n_eff", "suppressed",
                 "estimator"]
#: Columns of ``tables/sae_models.csv`` (one row per city and score).
MODEL_COLUMNS = ["city", "variable", "requested", "method", "fit_method", "covariates", "sigma2_u", "rho", "beta",
                 "converged", "synthetic", "areas_in_sample", "areas_out_of_sample", "aic", "benchmark_factor",
                 "notes"]


@dataclass
class CityResult:
    """Everything computed for one city.

    Attributes
    ----------
    city : CityConfig
    district_estimates : DataFrame
        ``district_id, district_name, variable, estimate, se, ci_low, ci_high, n, n_eff, suppressed,
        estimator, mse, direct_estimate, direct_se, reason``: the published estimate of the
        configured estimator (see :func:`geo_cohesion.project.small_area.model_district_estimates`).
    city_estimates : DataFrame or None
        City-wide values (microdata only).
    group_estimates : DataFrame or None
        Estimates for the configured district groups, computed from the microdata.
    structural : DataFrame or None
        District structural indicators as read.
    diagnostics : dict
        Weighting diagnostics and counts.
    design : SurveyDesign or None
        The raked design with the ``score__*`` columns (microdata only), for comparisons.
    models : DataFrame or None
        One row per score describing the small-area model (``sae_models.csv``).
    estimator_note : str
        Which estimator produced the numbers (German), for maps and figures.
    """

    city: CityConfig
    district_estimates: pd.DataFrame
    city_estimates: pd.DataFrame | None = None
    group_estimates: pd.DataFrame | None = None
    structural: pd.DataFrame | None = None
    diagnostics: dict = field(default_factory=dict)
    design: SurveyDesign | None = None
    models: pd.DataFrame | None = None
    estimator_note: str = ""


def run_city(city: CityConfig, project: ProjectConfig, boundaries=None) -> CityResult:
    """Compute district (and city and group) estimates for one city.

    Parameters
    ----------
    city : CityConfig
    project : ProjectConfig
        Shared settings and the base folder for relative paths.
    boundaries : GeoDataFrame, optional
        The city's boundaries (for the spatial Fay-Herriot model); read from the configuration
        when needed and not given.

    Returns
    -------
    CityResult
    """
    if boundaries is None and project.estimates.estimator == "spatial_fay_herriot":
        boundaries = read_city_boundaries(city, project)
    radar = load_radar()
    level, min_n = project.estimates.level, project.estimates.min_n
    structural = read_structural(city, project)
    if city.survey is None:
        spec = city.scores
        table = read_table(project.resolve(spec.path), text_columns=[spec.district_column])
        districts = estimates_from_table(table, spec.district_column, spec.variable_column, spec.estimate_column,
                                         spec.se_column, spec.n_column, level=level, min_n=min_n)
        structural = align_structural(city, structural, districts["district_id"].unique(), spec.path)
        names = district_names(city, structural)
        districts.insert(1, "district_name", districts["district_id"].map(names).fillna(districts["district_id"]))
        districts["n_eff"] = districts["n_eff"].astype(float)
        districts, models, note = model_district_estimates(city, project, districts, structural,
                                                           boundaries=boundaries)
        return CityResult(city, districts, structural=structural, diagnostics={"source": "weighted scores"},
                          models=models, estimator_note=note)

    design = read_survey_design(city, project)
    spec = city.survey
    variables = [f"score__{v}" for v in radar.variables]
    district_col = spec.district_column
    structural = align_structural(city, structural, design.data[district_col].unique(), spec.path)
    names = district_names(city, structural)
    est = design.domain_means(variables, district_col, level=level, min_n=min_n)
    est = est.rename(columns={district_col: "district_id"})
    est["variable"] = est["variable"].str.removeprefix("score__")
    est.insert(1, "district_name", est["district_id"].map(names).fillna(est["district_id"]))
    city_est = design.means(variables, level=level)
    city_est["variable"] = city_est["variable"].str.removeprefix("score__")
    group_est = None
    if city.groups:
        labels = group_labels(city, design.data[district_col].astype(str)).fillna("(ohne Gruppe)")
        design_g = design.with_columns(__group__=labels)
        group_est = design_g.domain_means(variables, "__group__", level=level, min_n=min_n)
        group_est = group_est.rename(columns={"__group__": "group"})
        group_est["variable"] = group_est["variable"].str.removeprefix("score__")
        group_est = group_est[group_est["group"] != "(ohne Gruppe)"].reset_index(drop=True)
        group_est = direct_rows(group_est, project)
    est, models, note = model_district_estimates(city, project, est, structural, design=design,
                                                 city_estimates=city_est, boundaries=boundaries)
    diagnostics = {"n_respondents": len(design.data), **design.diagnostics.as_dict()}
    return CityResult(city, est, city_est, group_est, structural, diagnostics, design, models, note)


def _export_frame(frame: pd.DataFrame, columns: list[str], note: str | None) -> pd.DataFrame:
    """Order columns, blank suppressed numbers, round for humans, add the reason and data note."""
    out = frame[columns].copy()
    if "suppressed" in out.columns:
        hidden = out["suppressed"].astype(bool)
        out.loc[hidden, [c for c in ("estimate", "se", "ci_low", "ci_high", "mse") if c in out.columns]] = np.nan
    for col in [c for c in ("estimate", "se", "ci_low", "ci_high", "mse", "direct_estimate", "direct_se")
                if c in out.columns]:
        out[col] = out[col].astype(float).round(4)
    if "n_eff" in out.columns:
        out["n_eff"] = out["n_eff"].astype(float).round(1)
    reasons = frame["reason"].fillna("").astype(str) if "reason" in frame.columns else None
    if reasons is not None and reasons.ne("").any():
        out["note"] = [f"{r}; {note}" if r and note else (r or note or "") for r in reasons]
    elif note:
        out["note"] = note
    return out


def write_tables(results: list[CityResult], project: ProjectConfig, out_dir: Path) -> list[Path]:
    """Write the estimate tables of all cities (atomically) under ``out_dir/tables``.

    Files: ``district_estimates.csv``, ``city_estimates.csv``, ``group_estimates.csv``,
    ``weighting_diagnostics.csv`` (machine-readable: UTF-8, comma, decimal point) and the same
    tables for German Excel under ``tables/excel_de/`` (semicolon, decimal comma, BOM).
    Suppressed estimates (reliability rule, see README) are written as empty cells with
    ``suppressed=True`` and the reason in ``note``; ``sae_models.csv`` describes the small-area
    model of every city and score (when a model estimator is configured).
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
        for col in ("sigma2_u", "rho", "aic", "benchmark_factor"):
            table[col] = table[col].astype(float).round(6)
        outputs["sae_models.csv"] = table
    written = []
    for name, frame in outputs.items():
        if frame is None:
            continue
        written.append(write_csv(frame, tables / name))
        written.append(write_csv(frame, tables / "excel_de" / name, excel_de=True))
    return written


def _tag(city: CityConfig, func, *args):
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
    boundaries: "gpd.GeoDataFrame | None"
    comparison: "CityComparison | None"
    maps: list = field(default_factory=list)


def analyse_city(result: CityResult, project: ProjectConfig, with_maps: bool = True,
                 boundaries=None) -> CityOutputs:
    """Read boundaries (unless given), compare districts, run spatial statistics and build the maps of one city."""
    from geo_cohesion.project.analysis import compare_city

    if boundaries is None:
        boundaries = read_city_boundaries(result.city, project)
    boundaries = align_boundary_districts(result, project, boundaries)
    comparison = compare_city(result, project, boundaries)
    maps = city_maps(result, project, boundaries, comparison) if with_maps and boundaries is not None else []
    return CityOutputs(result, boundaries, comparison, maps)


def run_project(project: ProjectConfig, out_dir: str | Path, maps: bool = True) -> list[CityResult]:
    """Run every city of the project and write tables, comparisons, maps and figures.

    All cities are computed, compared and mapped before anything is written, so a bad input in
    one city leaves the previous outputs of all cities untouched.

    Parameters
    ----------
    project : ProjectConfig
    out_dir : str or Path
    maps : bool
        Also write HTML maps and print figures (``geo-cohesion compare`` skips them).

    Returns
    -------
    list of CityResult
    """
    from geo_cohesion.project.analysis import write_comparison_figures, write_comparison_tables

    out_dir = Path(out_dir)
    # boundaries first: a broken boundary file stops the run before the estimation
    boundaries = [_tag(city, read_city_boundaries, city, project) for city in project.cities]
    results = [_tag(city, run_city, city, project, b) for city, b in zip(project.cities, boundaries)]
    outputs = [_tag(r.city, analyse_city, r, project, maps, b) for r, b in zip(results, boundaries)]
    write_tables(results, project, out_dir)
    write_comparison_tables(outputs, project, out_dir)
    if maps:
        write_maps([m for o in outputs for m in o.maps], project, out_dir)
        if project.maps.figures:
            write_comparison_figures(outputs, project, out_dir)
    meta = {"title": project.title, "note": project.note, "survey_period": project.survey_period,
            "seed": project.seed, "cities": [r.city.name for r in results],
            "estimates": {"level": project.estimates.level, "min_n": project.estimates.min_n,
                          "estimator": project.estimates.estimator, "covariates": project.estimates.covariates,
                          "benchmark": project.estimates.benchmark,
                          "max_ci_halfwidth": project.estimates.max_ci_halfwidth},
            "compare": {"alpha": project.compare.alpha, "adjust": project.compare.adjust,
                        "contiguity": project.compare.contiguity, "permutations": project.compare.permutations},
            "standard_errors": "Taylor linearisation, stratified with-replacement design; raked weights: "
                               "design-weighted GREG residuals on all raking margins (as R survey::calibrate)"}
    write_text(out_dir / "tables" / "metadata.json", json.dumps(meta, ensure_ascii=False, indent=2) + "\n")
    return results


def city_maps(result: CityResult, project: ProjectConfig, boundaries, comparison=None) -> list[tuple[str, "CityMap"]]:
    """The maps of one city: district level and, if groups are configured, group level.

    Returns ``[(file stem, CityMap), ...]``.
    """
    from geo_cohesion.maps.layers import add_bivariate_layer, add_deviation_layers, build_city_map
    from geo_cohesion.project.analysis import add_comparison_layers
    from geo_cohesion.spatial.regions import aggregate_boundaries

    city = result.city
    spec = city.boundaries
    notes = [n for n in (city.note or project.note, spec.note) if n]
    notes += [f"Hinweis zu den Grenzen: {r}" for r in boundaries.attrs.get("repairs", [])][:3]
    if comparison is not None:
        notes += comparison.notes
    source = project.title + (f", {project.survey_period}" if project.survey_period else "")
    settings = project.maps
    structural_id = city.structural.district_column if city.structural is not None else "district_id"
    notes.append(reliability_note(project))
    common = dict(scheme=settings.scheme, k=settings.k, breaks=settings.breaks, source=source, notes=notes,
                  min_n=project.estimates.min_n, level=project.estimates.level,
                  suppressed_label="nicht veröffentlicht (zu unsicher)")
    city_values = (dict(zip(result.city_estimates["variable"], result.city_estimates["estimate"]))
                   if result.city_estimates is not None else None)
    district_map = build_city_map(city.name, boundaries, result.district_estimates, result.structural, structural_id,
                                  allow_missing=settings.allow_missing, estimator_note=result.estimator_note,
                                  title=f"{city.name}: Sozialer Zusammenhalt nach Gebieten", **common)
    if city_values:
        add_deviation_layers(district_map, city_values)
    add_bivariate_layer(district_map, "index", "sgb2_share_pct")
    if comparison is not None:
        add_comparison_layers(district_map, comparison)
    maps = [(city.slug, district_map)]
    if city.groups and result.group_estimates is not None:
        mapping = {str(d): g for g, members in city.groups.items() for d in members}
        grouped = aggregate_boundaries(boundaries[boundaries["district_id"].isin(mapping)], mapping)
        group_est = result.group_estimates.rename(columns={"group": "district_id"})
        group_map = build_city_map(city.name, grouped, group_est, None, estimator_note=DIRECT_NOTE,
                                   title=f"{city.name}: Sozialer Zusammenhalt nach Gebietsgruppen", **common)
        if city_values:
            add_deviation_layers(group_map, city_values)
        maps.append((f"{city.slug}_gruppen", group_map))
    return maps


def write_maps(built: list[tuple[str, "CityMap"]], project: ProjectConfig, out_dir: Path) -> list[Path]:
    """Write HTML maps (``OUT/<stem>.html``) and print figures (``OUT/figures/``) atomically."""
    from geo_cohesion.maps.figures import write_city_figures
    from geo_cohesion.maps.html import write_html_map

    written = []
    settings = project.maps
    for stem, city_map in built:
        written.append(write_html_map(city_map, out_dir / f"{stem}.html", settings.tolerance_m, settings.offline))
        if settings.figures:
            variables = [v for v in settings.figure_variables if any(layer.variable == v for layer in city_map.layers)]
            written.extend(write_city_figures(city_map, out_dir / "figures", variables=variables,
                                              formats=tuple(settings.figure_formats), stem=stem))
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
             "'allow_missing: true' under 'maps' to show missing districts as 'keine Daten'")
    aligned.attrs = boundaries.attrs
    return aligned
