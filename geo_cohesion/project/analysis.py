"""Compare / spatial stage of the pipeline: per-city comparison and spatial tables.

This module assembles the pure statistics of :mod:`geo_cohesion.stats.compare` and
:mod:`geo_cohesion.spatial.autocorrelation` for one :class:`~geo_cohesion.project.run.CityResult`, and adds the
matching map layers (deviation with significance, LISA clusters) to the city's map.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from geo_cohesion.labels import DEFAULT_LANG, LANGUAGES, label
from geo_cohesion.maps.classify import categorical
from geo_cohesion.maps.layers import CityMap, MapLayer
from geo_cohesion.project.config import ProjectConfig
from geo_cohesion.project.small_area import direct_view
from geo_cohesion.radar.codebook import load_radar
from geo_cohesion.radar.indicators import indicator_registry
from geo_cohesion.spatial.autocorrelation import global_moran, local_moran
from geo_cohesion.spatial.weights import contiguity_weights
from geo_cohesion.stats.association import structural_association
from geo_cohesion.stats.compare import deviations_from_city, rank_intervals, spread, variance_decomposition
from geo_cohesion.survey.design import SurveyDesign

COMPARISON_COLUMNS = ["district_id", "variable", "estimate", "deviation", "p_value", "significant", "rank",
                      "rank_low", "rank_high", "district_name", "city_value", "se", "p_adjusted", "n", "suppressed",
                      "df"]
SPATIAL_COLUMNS = ["variable", "moran_i", "p_value", "n_districts", "islands", "expected_i", "z_sim", "weights",
                   "island_fallback", "permutations", "note"]
LISA_COLUMNS = ["district_id", "variable", "local_i", "p_value", "q_value", "cluster", "quadrant"]
#: Colours of LISA clusters by code (ColorBrewer RdBu ends for HH/LL, light tones for the outliers,
#: grey for "not significant"); their legend labels are the catalogue's ``cluster.<code>``.
CLUSTER_COLOURS = {"HH": "#2166ac", "LL": "#b2182b", "HL": "#92c5de", "LH": "#f4a582", "ns": "#e5e5e5"}


@dataclass
class CityComparison:
    """Comparison and spatial tables of one city (all tidy DataFrames)."""

    comparison: pd.DataFrame
    group_comparison: pd.DataFrame | None
    spread: pd.DataFrame
    variance: pd.DataFrame
    association: pd.DataFrame | None
    spatial: pd.DataFrame | None
    lisa: pd.DataFrame | None
    notes: list[str] = field(default_factory=list)


def _score_columns(variables: list[str]) -> list[str]:
    return [f"score__{v}" for v in variables]


def _with_ranks(table: pd.DataFrame, project: ProjectConfig) -> pd.DataFrame:
    parts = []
    for _variable, group in table.groupby("variable", sort=False):
        group = group.reset_index(drop=True)
        estimate = group["estimate"].where(~group["suppressed"])
        # rank uncertainty of the district means (t with the district's df, as its interval);
        # the city value is common to all and cancels
        ranks = rank_intervals(estimate.to_numpy(), group["se_mean"].to_numpy(), project.estimates.level,
                               project.compare.rank_draws, seed=project.seed, df=group["df"].to_numpy())
        parts.append(pd.concat([group, ranks], axis=1))
    return pd.concat(parts, ignore_index=True)


def compare_design(design: SurveyDesign, by: str, project: ProjectConfig, names: dict[str, str]) -> pd.DataFrame:
    """Deviations, tests and rank intervals for every domain of ``by`` and every Radar variable."""
    variables = load_radar().variables
    columns = _score_columns(variables)
    settings = project.compare
    table = deviations_from_city(design, columns, by, settings.alpha, settings.adjust, project.estimates.min_n)
    table["variable"] = table["variable"].str.removeprefix("score__")
    table = table.rename(columns={by: "district_id"})
    table["district_name"] = table["district_id"].map(lambda d: names.get(d, d))
    table = _with_ranks(table, project)
    hidden = table["suppressed"]
    hidden_columns = ["estimate", "deviation", "se", "p_value", "p_adjusted", "rank", "rank_low", "rank_high"]
    table.loc[hidden, hidden_columns] = np.nan
    order = {v: i for i, v in enumerate(variables)}
    table = table.sort_values(["variable", "district_id"], key=lambda s: s.map(order) if s.name == "variable" else s,
                              kind="stable")
    return table[COMPARISON_COLUMNS].reset_index(drop=True)


def compare_city(result, project: ProjectConfig, boundaries=None, lang: str = DEFAULT_LANG) -> CityComparison | None:
    """All comparison and spatial tables of one city (None without microdata).

    Parameters
    ----------
    result : CityResult
    project : ProjectConfig
    boundaries : GeoDataFrame, optional
        District boundaries for the spatial statistics (skipped when None).
    lang : {"de", "en"}
        Language of notes and indicator labels in the tables.

    Raises
    ------
    InputError
        If ``compare.indicators`` lists a column that is not an indicator of the city.
    """
    design = result.design
    if design is None:
        return None
    city = result.city
    district_col = city.survey.district_column
    # tests, ranks, spread and spatial statistics use the direct (design-based) estimates: model
    # estimates borrow from the structural indicators and neighbours, so testing them would be circular
    estimates = direct_view(result.district_estimates, project.estimates.min_n)
    names = dict(zip(estimates["district_id"], estimates["district_name"]))
    comparison = compare_design(design, district_col, project, names)
    group_comparison = None
    if city.groups:
        from geo_cohesion.project.inputs import group_labels, unsampled_districts

        unsampled = unsampled_districts(city, design, result.structural)
        labels = group_labels(city, design.data[district_col].astype(str), unsampled).fillna("(ohne Gruppe)")
        grouped = compare_design(design.with_columns(__group__=labels), "__group__", project, {})
        group_comparison = grouped[grouped["district_id"] != "(ohne Gruppe)"].rename(
            columns={"district_id": "group"}).drop(columns=["district_name"]).reset_index(drop=True)
    variables = load_radar().variables
    variance = variance_decomposition(design, _score_columns(variables), district_col)
    variance["variable"] = variance["variable"].str.removeprefix("score__")
    association = None
    if result.structural is not None:
        spec = city.structural
        registry = getattr(result, "indicators", None)
        if registry is None:  # a CityResult built without the pipeline
            registry = indicator_registry(result.structural, spec.indicators, lang,
                                          exclude=[spec.district_column, spec.name_column])
        chosen = registry.select(project.compare.indicators, "compare.indicators")
        population = registry.population()
        structural = result.structural.rename(columns={spec.district_column: "district_id"})
        association = structural_association(estimates, structural, chosen,
                                             weights_column=population.column if population else None,
                                             level=project.estimates.level, lang=lang)
    spatial = lisa = None
    notes: list[str] = []
    if boundaries is not None and len(boundaries) >= 3:
        spatial, lisa, notes = spatial_tables(estimates, boundaries, project, lang)
    return CityComparison(comparison, group_comparison, spread(estimates), variance, association,
                          spatial, lisa, notes)


def spatial_tables(estimates: pd.DataFrame, boundaries, project: ProjectConfig, lang: str = DEFAULT_LANG):
    """Global Moran's I and LISA for every variable; returns (spatial, lisa, notes)."""
    settings = project.compare
    sw = contiguity_weights(boundaries, settings.contiguity)
    ids = sw.ids
    rows, lisa_parts = [], []
    for variable, group in estimates.groupby("variable", sort=False):
        values = group.set_index("district_id")["estimate"].where(~group.set_index("district_id")["suppressed"])
        aligned = values.reindex(ids).to_numpy(dtype=float)
        rows.append({"variable": variable, **global_moran(aligned, sw, settings.permutations, project.seed, lang)})
        local = local_moran(aligned, sw, settings.permutations, project.seed, settings.alpha, lang)
        local.insert(1, "variable", variable)
        lisa_parts.append(local)
    notes = []
    if sw.islands:
        notes.append(label("note.islands", lang, islands=", ".join(sw.islands), fallback=sw.fallback))
    return (pd.DataFrame(rows)[SPATIAL_COLUMNS], pd.concat(lisa_parts, ignore_index=True)[LISA_COLUMNS], notes)


def add_comparison_layers(city_map: CityMap, comparison: CityComparison, variables: list[str] | None = None) -> None:
    """Add LISA cluster layers to a city map (deviation layers come from the estimates)."""
    if comparison.lisa is None:
        return
    ids = city_map.boundaries["district_id"].astype(str).tolist()
    codes = list(CLUSTER_COLOURS)
    # the table says "nicht signifikant" (or its English label); every other non-code value
    # (no data, too few districts for a verdict) is drawn as no data
    to_code = {c: c for c in codes if c != "ns"} | {label("cluster.ns", lang): "ns" for lang in LANGUAGES}
    lang = city_map.lang
    radar = load_radar()
    radar_labels = radar.labels_in(lang)
    wanted = variables or [radar.index_slug, *radar.domains]
    for variable in wanted:
        local = comparison.lisa[comparison.lisa["variable"] == variable].set_index("district_id")
        if local.empty:
            continue
        cluster = local["cluster"].reindex(ids)
        index = np.array([codes.index(to_code[c]) if c in to_code else -1 for c in cluster], dtype=int)
        used = sorted(set(index[index >= 0]))
        remap = {old: new for new, old in enumerate(used)}
        classification = categorical([remap.get(i, -1) for i in index],
                                     [label(f"cluster.{codes[i]}", lang) for i in used],
                                     [CLUSTER_COLOURS[codes[i]] for i in used])
        values = local["local_i"].reindex(ids).to_numpy(dtype=float)
        nan = np.full(len(ids), np.nan)
        city_map.layers.append(MapLayer(
            f"{variable}__cluster", label("layer.cluster", lang, label=radar_labels.get(variable, variable)),
            "cluster", values, nan, nan, nan, np.zeros(len(ids), dtype=bool), nan, classification,
            label("unit.local_moran", lang)))


def combined_decomposition(outputs: list) -> pd.DataFrame:
    """Between-city versus between-district (within city) variance across all cities.

    The cities are independent samples. For each score: ``between_cities = sum_c P_c (ybar_c -
    ybar)^2`` with ``P_c`` the cities' population shares, corrected for sampling noise with each
    city's calibrated variance ``V_c``: ``Var(ybar_c - ybar) = (1-P_c)^2 V_c + sum_{c' != c}
    P_c'^2 V_c'``. ``between_districts_within_cities`` is the population-weighted mean of the
    cities' corrected between-district variances (:func:`variance_decomposition`), and
    ``within_districts`` the rest of the pooled total variance.

    Returns
    -------
    DataFrame
        ``variable, between_cities, between_districts_within_cities, within_districts,
        districts_exceed_cities`` (True where districts differ more than cities, the study's claim).
    """
    usable = [o for o in outputs if o.result.design is not None and o.comparison is not None]
    if len(usable) < 2:
        return pd.DataFrame()
    variables = load_radar().variables
    population = np.array([o.result.design.weights.sum() for o in usable])
    share = population / population.sum()
    rows = []
    for variable in variables:
        city = [o.result.city_estimates.set_index("variable").loc[variable] for o in usable]
        means = np.array([c["estimate"] for c in city])
        var = np.array([c["se"] for c in city]) ** 2
        overall = float(np.sum(share * means))
        noise = (1 - share) ** 2 * var + (np.sum(share**2 * var) - share**2 * var)
        between_cities = max(0.0, float(np.sum(share * ((means - overall) ** 2 - noise))))
        within_city = float(sum(p * o.comparison.variance.set_index("variable").loc[variable, "between_corrected"]
                                for p, o in zip(share, usable)))
        values = np.concatenate([o.result.design.data[f"score__{variable}"].to_numpy(float) for o in usable])
        weights = np.concatenate([o.result.design.weights.to_numpy(float) for o in usable])
        ok = ~np.isnan(values)
        total = float(np.average((values[ok] - np.average(values[ok], weights=weights[ok])) ** 2, weights=weights[ok]))
        rows.append({"variable": variable, "between_cities": between_cities,
                     "between_districts_within_cities": within_city,
                     "within_districts": total - between_cities - within_city})
    out = pd.DataFrame(rows)
    out["districts_exceed_cities"] = out["between_districts_within_cities"] > out["between_cities"]
    return out


def write_comparison_tables(outputs: list, project: ProjectConfig, out_dir) -> list:
    """Write per-city comparison/spatial tables and the cross-city tables under ``OUT/tables``.

    Files: ``comparison_<city>.csv``, ``comparison_groups_<city>.csv``, ``association_<city>.csv``,
    ``spatial_<city>.csv``, ``lisa_<city>.csv``, and across cities ``spread.csv``,
    ``variance_decomposition.csv``, ``between_vs_within.csv``.
    """
    from pathlib import Path

    from geo_cohesion.io.write import write_csv

    tables = Path(out_dir) / "tables"
    written = []
    spreads, variances = [], []
    for out in outputs:
        comp = out.comparison
        if comp is None:
            continue
        slug = out.result.city.slug
        note = out.result.city.note or project.note
        per_city = {f"comparison_{slug}.csv": comp.comparison, f"comparison_groups_{slug}.csv": comp.group_comparison,
                    f"association_{slug}.csv": comp.association, f"spatial_{slug}.csv": comp.spatial,
                    f"lisa_{slug}.csv": comp.lisa}
        for name, frame in per_city.items():
            if frame is not None:
                written.append(write_csv(_rounded(frame, note), tables / name))
        spreads.append(comp.spread.assign(city=out.result.city.name))
        variances.append(comp.variance.assign(city=out.result.city.name))
    if spreads:
        written.append(write_csv(_rounded(_city_first(pd.concat(spreads, ignore_index=True)), project.note),
                                 tables / "spread.csv"))
        written.append(write_csv(_rounded(_city_first(pd.concat(variances, ignore_index=True)), project.note),
                                 tables / "variance_decomposition.csv"))
    combined = combined_decomposition(outputs)
    if not combined.empty:
        written.append(write_csv(_rounded(combined, project.note), tables / "between_vs_within.csv"))
    return written


def _city_first(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["city", *[c for c in frame.columns if c != "city"]]]


def _rounded(frame: pd.DataFrame, note: str | None, decimals: int = 6) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].round(decimals)
    if note:
        out["note"] = [f"{a}; {note}" if isinstance(a, str) and a else note for a in out["note"]] \
            if "note" in out.columns else note
    return out


def write_comparison_figures(outputs: list, project: ProjectConfig, out_dir) -> list:
    """Static figures of the comparison: LISA cluster map of the index and labelled scatter plots
    of the index against each indicator of the association table that is on the city's map
    (``OUT/figures/<city>_index_lisa.*``, ``<city>_index_vs_<indicator>.*``), in parallel processes
    where cores allow (``maps.figure_workers``)."""
    from pathlib import Path

    from geo_cohesion.maps.figures import file_part, plot_association, plot_layer
    from geo_cohesion.maps.parallel import FigureJob, render_jobs

    figures = Path(out_dir) / "figures"
    jobs = []
    for out in outputs:
        if out.comparison is None or not out.maps:
            continue
        stem, city_map = out.maps[0]
        variables = {layer.variable for layer in city_map.layers}
        if "index__cluster" in variables:
            jobs.append(FigureJob(plot_layer, (city_map, "index__cluster"), figures / f"{stem}_index_lisa"))
        association = out.comparison.association
        if association is None:
            continue
        direct_map = _direct_index_map(out, project, city_map)
        indicators = list(association["indicator"].unique()) if "indicator" in association else []
        for indicator in indicators:
            if "index" not in variables or indicator not in variables:
                continue
            row = association[(association["variable"] == "index") & (association["indicator"] == indicator)]
            jobs.append(FigureJob(plot_association, (direct_map, "index", indicator,
                                                     row.iloc[0].to_dict() if len(row) else None),
                                  figures / f"{stem}_index_vs_{file_part(indicator)}"))
    # drawn in parallel processes like the print maps (maps.figure_workers); the same files as serially
    return render_jobs(jobs, tuple(project.maps.figure_formats), workers=project.maps.figure_workers)


def _direct_index_map(out, project: ProjectConfig, city_map: CityMap) -> CityMap:
    """The city map with the direct (design-based) index and the structural layers.

    The association scatter plots the same direct estimates its correlation was computed from:
    model estimates are partly predicted from these very indicators, so plotting them would
    show a relation the model put there.
    """
    from geo_cohesion.maps.layers import build_city_map

    result = out.result
    if "direct_estimate" not in result.district_estimates.columns:
        return city_map
    estimates = direct_view(result.district_estimates, project.estimates.min_n)
    structural_id = result.city.structural.district_column if result.city.structural is not None else "district_id"
    return build_city_map(result.city.name, city_map.boundaries, estimates[estimates["variable"] == "index"],
                          result.structural, structural_id, allow_missing=project.maps.allow_missing,
                          title=city_map.title, notes=city_map.notes, source=city_map.source,
                          min_n=city_map.min_n, level=city_map.level, lang=city_map.lang,
                          indicators=city_map.indicators, suppressed_label=city_map.suppressed_label)
