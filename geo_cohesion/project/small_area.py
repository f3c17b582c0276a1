"""Pipeline glue for small-area estimation: one city's direct district estimates, structural
indicators, population and boundaries -> published district estimates with their estimator,
MSE and reliability flag, plus one model summary per score.

The statistics are in :mod:`geo_cohesion.survey.small_area` (pure functions); this module only
collects their inputs from the city's files and settings.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from geo_cohesion.errors import InputError
from geo_cohesion.keys import align_keys
from geo_cohesion.labels import DEFAULT_LANG, label
from geo_cohesion.project.config import CityConfig, ProjectConfig
from geo_cohesion.radar.codebook import load_radar
from geo_cohesion.stats.compare import rank_intervals
from geo_cohesion.survey.design import SurveyDesign
from geo_cohesion.survey.reliability import unpublished_when
from geo_cohesion.survey.small_area import (
    district_models,
    estimator_label,
    normal_halfwidth,
    pooled_within_variance,
    reliability,
)

#: Structural columns that are counts of people, not indicators (never model covariates).
COUNT_COLUMNS = ("population_total",)
#: Columns added to the district estimates by :func:`model_district_estimates` (``direct_ci_low``
#: and ``direct_ci_high`` are kept internally for :func:`direct_view`, not exported).
SAE_COLUMNS = ["estimator", "mse", "direct_estimate", "direct_se", "direct_ci_low", "direct_ci_high"]


def candidate_covariates(city: CityConfig, structural: pd.DataFrame | None,
                         names: list[str] | None) -> tuple[pd.DataFrame | None, list[str]]:
    """Numeric structural indicators by district id (model covariate candidates) and notes.

    Every numeric column of the structural table except the district id, the name, population
    counts (:data:`COUNT_COLUMNS`) and the city's ``group_column`` (group codes such as 1, 2, 3
    are labels, not indicators). Columns with missing values are left out (with a note) unless
    named in ``names``, which is then an error.
    """
    if structural is None:
        if names:
            raise InputError(f"estimates.covariates names {', '.join(names)}, but city '{city.name}' has no "
                             "structural table", hint="add a 'structural:' section or remove 'covariates'")
        return None, []
    spec = city.structural
    table = structural.set_index(structural[spec.district_column].astype(str))
    skip = {spec.district_column, spec.name_column, *COUNT_COLUMNS, city.group_column}
    source = structural.attrs.get("source")
    notes = []
    if names is not None:
        absent = [c for c in names if c not in table.columns]
        if absent:
            raise InputError(f"covariate(s) {', '.join(absent)} not found in the structural table", source,
                             f"the table has: {', '.join(map(str, structural.columns))}")
        columns = list(names)
    else:
        columns = [c for c in table.columns if c not in skip and pd.api.types.is_numeric_dtype(table[c])
                   and not pd.api.types.is_bool_dtype(table[c])]
    out = {}
    for col in columns:
        values = pd.to_numeric(table[col], errors="coerce")
        if values.isna().any():
            if names is not None:
                bad = values.index[values.isna()][:5]
                raise InputError(f"covariate '{col}' is missing or not numeric for district(s) {', '.join(bad)}",
                                 source, "the model needs every covariate for every district")
            notes.append(f"indicator '{col}' has missing values and is not used in the model")
            continue
        out[col] = values.astype(float)
    return pd.DataFrame(out, index=table.index), notes


def district_population(design: SurveyDesign, district_column: str) -> pd.Series:
    """Population per district: the raking margin of the district column, else the sum of weights."""
    cal = design.calibration
    if cal is not None and district_column in cal.columns:
        k = cal.columns.index(district_column)
        return pd.Series(np.asarray(cal.totals[k], dtype=float), index=[str(c) for c in cal.categories[k]])
    data = design.data
    return design.weights.groupby(data[district_column].astype(str).to_numpy()).sum()


def contiguity_frame(boundaries, areas: list[str], kind: str) -> tuple[pd.DataFrame | None, str]:
    """Contiguity weights between ``areas`` (islands: zero rows) as a labelled DataFrame.

    Returns ``(None, reason)`` when the boundaries do not cover every area.
    """
    from geo_cohesion.spatial.weights import contiguity_weights

    if boundaries is None:
        return None, "no district boundaries"
    ids = align_keys(boundaries["district_id"], areas, "the boundaries", "the estimates", allow_missing=True)
    present = set(ids)
    lacking = [a for a in areas if a not in present]
    if lacking:
        return None, f"no boundaries for district(s) {', '.join(lacking[:5])}"
    subset = boundaries.assign(district_id=ids.to_numpy())
    subset = subset[subset["district_id"].isin(areas)].reset_index(drop=True)
    if len(subset) < 2:
        return None, "fewer than two districts with boundaries"
    sw = contiguity_weights(subset, kind, attach_islands=False)
    matrix, order = sw.w.full()
    return pd.DataFrame(matrix, index=[str(i) for i in order], columns=[str(i) for i in order]), ""


def _finish(table: pd.DataFrame, project: ProjectConfig, lang: str = DEFAULT_LANG) -> pd.DataFrame:
    """Interval, SE and reliability of the published estimate of every row (reasons in ``lang``), and
    (district tables) its rank interval among the published values (:func:`published_ranks`)."""
    settings = project.estimates
    z = float(norm.ppf(0.5 + settings.level / 2.0))
    model = table["estimator"] != "direct"
    rmse = np.sqrt(table["mse"].astype(float))
    table["se"] = table["se"].where(~model, rmse)
    table["ci_low"] = table["ci_low"].where(~model, table["estimate"] - z * rmse)
    table["ci_high"] = table["ci_high"].where(~model, table["estimate"] + z * rmse)
    halfwidth = np.where(model, normal_halfwidth(table["mse"], settings.level),
                         (table["ci_high"] - table["ci_low"]).to_numpy(dtype=float) / 2.0)
    suppressed, reasons = reliability(table["estimate"], halfwidth, table["estimator"],
                                      table["n"].astype(float), max_halfwidth=settings.max_ci_halfwidth,
                                      min_n=settings.min_n, level=settings.level, score_range=(0.0, 100.0),
                                      lang=lang)
    table["suppressed"] = suppressed
    table["reason"] = reasons
    # district tables: the ranks of the published values (the group maps rank by the comparison table)
    return published_ranks(table, project) if "district_id" in table.columns else table


def published_ranks(table: pd.DataFrame, project: ProjectConfig, id_column: str = "district_id") -> pd.DataFrame:
    """Ranks (1 = highest) with rank intervals of the *published* estimates, score by score.

    Every published (not suppressed) row enters with its own estimate and standard error and the
    reference distribution of its interval: a direct estimate with Student t on its ``df`` (normal
    where ``df`` is missing), a model estimate with ``sqrt(mse)`` and the normal; see
    :func:`geo_cohesion.stats.compare.rank_intervals` (``compare.rank_draws`` draws, the
    project's seed). The errors of model estimates are treated as independent; they share the
    estimated regression, which makes them positively correlated, so the intervals are if anything
    wide. The comparison table (``comparison_<city>.csv``) ranks the *direct* estimates only; these
    ranks are those of the values the maps show, so a district with a model estimate has one too.

    Returns
    -------
    DataFrame
        ``table`` with ``rank, rank_low, rank_high`` (NaN where not published).
    """
    out = table.copy()
    out["rank"], out["rank_low"], out["rank_high"] = np.nan, np.nan, np.nan
    shown = ~out["suppressed"].astype(bool) & out["estimate"].notna()
    for _variable, rows in out[shown].groupby("variable", sort=False):
        rows = rows.sort_values(id_column, key=lambda s: s.astype(str), kind="stable")
        df = None
        if "df" in rows.columns:  # a direct row without df has a normal interval (as a model row): normal
            direct_df = rows["df"].astype(float)
            df = np.where((rows["estimator"] == "direct") & direct_df.notna(), direct_df, np.inf)
        ranks = rank_intervals(rows["estimate"].to_numpy(dtype=float), rows["se"].to_numpy(dtype=float),
                               project.estimates.level, project.compare.rank_draws, seed=project.seed, df=df)
        out.loc[rows.index, ["rank", "rank_low", "rank_high"]] = ranks.to_numpy()
    return out


def direct_rows(estimates: pd.DataFrame, project: ProjectConfig, lang: str = DEFAULT_LANG) -> pd.DataFrame:
    """Direct estimates labelled as such, with the reliability rule applied (e.g. group estimates;
    reasons in ``lang``)."""
    table = estimates.copy()
    table["estimator"] = "direct"
    table["mse"] = table["se"].astype(float) ** 2
    table["direct_estimate"] = table["estimate"]
    table["direct_se"] = table["se"]
    table["direct_ci_low"], table["direct_ci_high"] = table["ci_low"], table["ci_high"]
    return _finish(table, project, lang)


def model_district_estimates(city: CityConfig, project: ProjectConfig, estimates: pd.DataFrame,
                             structural: pd.DataFrame | None, *, design: SurveyDesign | None = None,
                             city_estimates: pd.DataFrame | None = None,
                             boundaries=None, lang: str = DEFAULT_LANG
                             ) -> tuple[pd.DataFrame, pd.DataFrame | None, str]:
    """Published district estimates of one city with the configured estimator.

    Parameters
    ----------
    city : CityConfig
    project : ProjectConfig
        ``estimates.estimator``, ``covariates``, ``benchmark``, ``max_ci_halfwidth``, ``min_n``,
        ``level`` and ``compare.contiguity`` (for the spatial model) apply.
    estimates : DataFrame
        Direct district estimates ``district_id, district_name, variable, estimate, se, ci_low,
        ci_high, n, n_eff, ...`` (districts without respondents: NaN estimate, ``n = 0``).
    structural : DataFrame, optional
        The city's structural table with district ids in the estimates' spelling.
    design : SurveyDesign, optional
        The raked design (microdata): pooled within-district variances for the smoothed
        sampling variances, and district populations for benchmarking. Without it (weighted
        score tables) the given SEs are the sampling variances.
    city_estimates : DataFrame, optional
        Direct city values (benchmark targets).
    boundaries : GeoDataFrame, optional
        District boundaries (for ``spatial_fay_herriot``).
    lang : {"de", "en"}
        Language of the ``reason`` column and of the note (German by default).

    Returns
    -------
    estimates : DataFrame
        The input rows (plus rows for structural districts without any) with ``estimate, se,
        ci_low, ci_high`` of the row's estimator, ``estimator, mse, direct_estimate, direct_se``,
        ``suppressed`` by the reliability rule and ``reason`` (empty where published).
    models : DataFrame or None
        One row per score (``sae_models.csv``); None for the direct estimator.
    note : str
        Note for maps and figures: the estimator(s) used and the model's covariates.
        City-level remarks (fallbacks, left-out indicators) are added to every row of
        ``models["notes"]``.
    """
    settings = project.estimates
    estimator = settings.estimator
    if estimator == "direct":
        return direct_rows(estimates, project, lang), None, label("estimator.note_direct", lang)
    covariates, notes = candidate_covariates(city, structural, settings.covariates)
    frame = _canonical_order(estimates.assign(district_id=estimates["district_id"].astype(str)))
    covariates = covariates.sort_index(kind="stable") if covariates is not None else None
    within = None
    population = None
    if design is not None:
        district_col = city.survey.district_column
        data = design.data
        within = {}
        for variable in frame["variable"].unique():
            values = data[f"score__{variable}"].to_numpy(dtype=float)
            within[variable] = pooled_within_variance(values, design.weights.to_numpy(dtype=float),
                                                      data[district_col].astype(str).to_numpy())
        population = district_population(design, district_col)
    elif (frame["estimate"].notna() & ~(frame["se"].astype(float) > 0)).any():
        return direct_rows(estimates, project, lang), None, label(
            "estimator.note_no_se", lang, direct=label("estimator.note_direct", lang))
    areas = list(covariates.index) if covariates is not None else list(pd.unique(frame["district_id"]))
    weights = None
    if estimator == "spatial_fay_herriot":
        weights, why = contiguity_frame(boundaries, areas, project.compare.contiguity)
        if weights is None:
            notes.append(f"spatial model not possible ({why}): non-spatial Fay-Herriot model")
    groups = None
    if settings.group_effects and city.groups:
        from geo_cohesion.project.inputs import group_labels

        groups = group_labels(city, pd.Series(areas, index=areas, dtype=str))
    targets = None
    if settings.benchmark and city_estimates is not None and population is not None:
        targets = dict(zip(city_estimates["variable"], city_estimates["estimate"].astype(float)))
    try:
        result = district_models(frame, within, covariates, estimator=estimator,
                                 covariate_names=settings.covariates, spatial_weights=weights,
                                 population=population, targets=targets, direct_min_n=settings.min_n,
                                 mse_method=settings.model_mse, groups=groups,
                                 mse_bootstrap=settings.group_mse_bootstrap, seed=project.seed)
    except InputError as exc:
        exc.source = exc.source or (structural.attrs.get("source") if structural is not None else None)
        raise
    notes += list(result.notes)
    models = result.models.copy()
    if notes:
        models["notes"] = [" | ".join([*notes, n] if n else notes) for n in models["notes"]]
    model = result.table[["district_id", "variable", "estimate", "mse", "estimator", "direct_estimate", "direct_se"]]
    keep = [c for c in frame.columns if c not in ("estimate", *SAE_COLUMNS, "reason")]
    table = model.merge(frame[keep], on=["district_id", "variable"], how="left")
    table["direct_ci_low"], table["direct_ci_high"] = table["ci_low"], table["ci_high"]
    table["n"] = table["n"].fillna(0)
    table["n_eff"] = table["n_eff"].fillna(0.0)
    if "district_name" in table.columns:
        names = dict(zip(frame["district_id"], frame["district_name"]))
        if structural is not None and city.structural.name_column in structural.columns:
            spec = city.structural
            names = {**dict(zip(structural[spec.district_column].astype(str),
                                structural[spec.name_column].astype(str))), **names}
        table["district_name"] = table["district_id"].map(names).astype(object).fillna(table["district_id"])
    table = _finish(table, project, lang)
    used = [m for m in ("spatial_fay_herriot", "fay_herriot") if m in set(models["method"])]
    if used:
        note = label("estimator.note_model", lang, models=" / ".join(estimator_label(m, lang) for m in used),
                     grouped=label("estimator.grouped", lang) if models["sigma2_v"].notna().any() else "",
                     covariates=", ".join(result.covariates) if result.covariates
                     else label("estimator.no_covariates", lang), min_n=settings.min_n)
    else:
        note = label("estimator.note_no_model", lang, direct=label("estimator.note_direct", lang))
    order = {v: i for i, v in enumerate(pd.unique(frame["variable"]))}
    table = table.sort_values(["district_id", "variable"], key=lambda s: s.map(order) if s.name == "variable" else s,
                              kind="stable").reset_index(drop=True)
    return table, models, note


def _canonical_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by score (Radar order, other scores by name) and district id.

    The model's bootstrap MSE draws one seed per score from its position and the replicates'
    effects in district order; in this order (with the covariates sorted by district id) a score
    table whose rows come in another order gives the same MSEs. Microdata come in this order already.
    """
    radar = load_radar().variables
    present = set(frame["variable"])
    order = [v for v in radar if v in present] + sorted(present - set(radar))
    position = frame["variable"].map({v: i for i, v in enumerate(order)})
    return frame.assign(_order=position).sort_values(["_order", "district_id"], kind="stable").drop(columns="_order")


def reliability_note(project: ProjectConfig, lang: str = DEFAULT_LANG) -> str:
    """The reliability rule in words, for maps and figures."""
    settings = project.estimates
    return label("rule.unpublished", lang, rule=unpublished_when(settings.level, settings.min_n,
                                                                 settings.max_ci_halfwidth, lang))


def direct_view(estimates: pd.DataFrame, min_n: int) -> pd.DataFrame:
    """The direct (design-based) estimates of a modelled table, suppressed below ``min_n``.

    The comparison and spatial statistics (deviation tests, rank intervals, spread, Moran's I,
    LISA, structural association) work on the direct estimates: model estimates borrow strength
    from the structural indicators and from neighbours, so testing them against those would be
    circular.
    """
    if "direct_estimate" not in estimates.columns:
        return estimates
    out = estimates.copy()
    out["estimate"], out["se"] = out["direct_estimate"], out["direct_se"]
    out["ci_low"], out["ci_high"] = out["direct_ci_low"], out["direct_ci_high"]
    out["suppressed"] = out["estimate"].isna() | (out["n"].astype(float) < min_n)
    return out.drop(columns=[c for c in (*SAE_COLUMNS, "reason") if c in out.columns])
