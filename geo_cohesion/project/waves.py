"""Survey waves: an earlier wave's district estimates and the change to the city's main survey.

A city's ``waves`` (project file) are earlier survey waves, each given as microdata with its
population table (weighted and estimated exactly as the main survey) or as already weighted
district scores. :func:`city_changes` compares each earlier wave with the main survey using the
**design-based** (direct) estimates of both, not the small-area model values: the waves are
independent samples, so the variance of a change is the sum of the two variances
(:func:`geo_cohesion.stats.change.change_between_waves`, Welch-Satterthwaite df, adjusted across
the districts of each score with the project's ``compare.adjust``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from geo_cohesion.errors import InputError
from geo_cohesion.io.tables import read_table
from geo_cohesion.keys import align_keys
from geo_cohesion.project.config import CityConfig, ProjectConfig
from geo_cohesion.project.inputs import read_structural, read_survey_design, score_variables, structural_indicators
from geo_cohesion.radar.codebook import load_radar
from geo_cohesion.settings import WaveSpec
from geo_cohesion.stats.change import change_between_waves
from geo_cohesion.survey.estimates import estimates_from_table

#: Columns of ``tables/change_<city>.csv``, in order (the first eight are named in issue #15).
CHANGE_COLUMNS = ["district_id", "variable", "estimate_from", "estimate_to", "change", "se", "p_value",
                  "significant", "wave_from", "wave_to", "df", "ci_low", "ci_high", "p_adjusted", "n_from", "n_to",
                  "few_respondents"]
#: Wave name of the main survey when neither ``wave_label`` nor ``survey_period`` is set.
CURRENT_WAVE = "aktuell"


def current_wave_label(city: CityConfig, project: ProjectConfig) -> str:
    """Name of the city's main survey wave: ``wave_label``, else the survey period's start year, else
    :data:`CURRENT_WAVE`."""
    if city.wave_label:
        return city.wave_label
    return project.survey_period[:4] if project.survey_period else CURRENT_WAVE


def direct_estimates(district_estimates: pd.DataFrame) -> pd.DataFrame:
    """The design-based estimates of a city result: ``district_id, variable, estimate, se, n, df``.

    Model-based rows carry the direct values they started from in ``direct_estimate``/``direct_se``.
    """
    frame = district_estimates.copy()
    if "direct_estimate" in frame.columns:
        frame["estimate"], frame["se"] = frame["direct_estimate"], frame["direct_se"]
    keep = ["district_id", "variable", "estimate", "se"] + [c for c in ("n", "df") if c in frame.columns]
    out = frame[keep].copy()
    out["district_id"] = out["district_id"].astype(str)
    return out


def wave_estimates(city: CityConfig, wave: WaveSpec, project: ProjectConfig, districts, boundaries=None
                   ) -> pd.DataFrame:
    """Design-based district estimates of one earlier wave, ids in the spelling of ``districts``.

    Microdata are read, scored, raked (the city's ``weighting`` margins) and estimated like the main
    survey; a score table is taken as it is.
    """
    level, min_n = project.estimates.level, project.estimates.min_n
    if wave.survey is not None:
        wave_city = city.model_copy(update={"survey": wave.survey, "population": wave.population})
        design = read_survey_design(wave_city, project, boundaries)
        variables = [f"score__{v}" for v in load_radar().variables]
        est = design.domain_means(variables, wave.survey.district_column, level=level, min_n=min_n)
        est = est.rename(columns={wave.survey.district_column: "district_id"})
        est["variable"] = est["variable"].str.removeprefix("score__")
        source = wave.survey.path
    else:
        spec = wave.scores
        table = read_table(project.resolve(spec.path), text_columns=[spec.district_column], decimal=spec.decimal,
                           thousands=spec.thousands)
        est = estimates_from_table(table, spec.district_column, spec.variable_column, spec.estimate_column,
                                   spec.se_column, spec.n_column, level=level, min_n=min_n,
                                   variables=score_variables())
        source = spec.path
    est = direct_estimates(est)
    current = city.survey.path if city.survey is not None else city.scores.path
    est["district_id"] = align_keys(est["district_id"], districts, Path(source).name, Path(current).name,
                                    allow_missing=True)
    known = pd.Series(districts).astype(str)
    if len(est) and not est["district_id"].isin(known).any():
        ids = est["district_id"].drop_duplicates()
        raise InputError(f"none of the districts of wave '{wave.label}' ({', '.join(ids[:4])}"
                         f"{', …' if len(ids) > 4 else ''}) is a district of {Path(current).name} "
                         f"({', '.join(known[:4])}{', …' if len(known) > 4 else ''})", str(source),
                         "write the wave's districts with the ids of the main survey (the same codes, not names)")
    return est


def _check_labels(city: CityConfig, to_label: str) -> None:
    """Every earlier wave needs its own label, other than the main survey's (tables and maps are keyed by it)."""
    labels = [wave.label for wave in city.waves]
    for pos, label in enumerate(labels):
        if label == to_label:
            raise InputError(f"wave '{label}' has the name of the main survey's wave",
                             hint="give the earlier wave another 'label', or set the city's 'wave_label'")
        if label in labels[:pos]:
            raise InputError(f"two of the city's 'waves' are labelled '{label}'",
                             hint="give every wave its own 'label' (e.g. its survey year)")


def check_waves(city: CityConfig, project: ProjectConfig, districts, boundaries=None) -> None:
    """Read and validate every earlier wave as :func:`city_changes` does (for ``geo-cohesion check``)."""
    _check_labels(city, current_wave_label(city, project))
    for wave in city.waves:
        wave_estimates(city, wave, project, districts, boundaries)
        wave_structural(city, wave, project, districts)


def wave_structural(city: CityConfig, wave: WaveSpec, project: ProjectConfig, districts) -> pd.DataFrame | None:
    """The structural table of a wave's year (``district_id`` plus numeric indicators), or None."""
    if wave.structural is None:
        return None
    wave_city = city.model_copy(update={"structural": wave.structural})
    _, table = structural_indicators(wave_city, read_structural(wave_city, project))
    if table is None:
        return None
    table = table.rename(columns={wave.structural.district_column: "district_id"})
    table["district_id"] = align_keys(table["district_id"], districts, Path(wave.structural.path).name,
                                      "the estimates", allow_missing=True)
    return table


def city_changes(city: CityConfig, project: ProjectConfig, district_estimates: pd.DataFrame,
                 boundaries=None) -> tuple[pd.DataFrame | None, dict[str, pd.DataFrame]]:
    """Changes from every earlier wave to the main survey, and the earlier structural tables.

    Returns
    -------
    change : DataFrame or None
        :data:`CHANGE_COLUMNS`, one row per earlier wave, district and score (None without waves).
        ``few_respondents``: either wave has fewer than ``estimates.min_n`` respondents in the
        district (the change is still tested; its t reference has few df).
        ``.attrs["note"]`` states the method, ``.attrs["warnings"]`` the earlier waves' districts that are
        no district of the main survey (no change for them).
    structural : dict
        Wave label -> that year's structural table (waves with ``structural`` only).
    """
    if not city.waves:
        return None, {}
    districts = district_estimates["district_id"].astype(str).unique()
    current = direct_estimates(district_estimates)
    to_label = current_wave_label(city, project)
    frames, structural, warnings = [], {}, []
    _check_labels(city, to_label)
    for wave in city.waves:
        earlier = wave_estimates(city, wave, project, districts, boundaries)
        unmatched = sorted(set(earlier["district_id"].astype(str)) - set(districts))
        if unmatched:  # a district re-cut since, or a typo: said, not silently dropped
            source = Path(wave.survey.path if wave.survey is not None else wave.scores.path).name
            warnings.append(f"wave '{wave.label}': district(s) {', '.join(unmatched[:5])}"
                            f"{' …' if len(unmatched) > 5 else ''} of {source} are no district of the main survey, "
                            "so no change is computed for them (check the ids if they are the same areas)")
        change = change_between_waves(earlier, current, level=project.estimates.level, alpha=project.compare.alpha,
                                      adjust=project.compare.adjust)
        change = change[change["district_id"].isin(districts)].copy()
        change["wave_from"], change["wave_to"] = wave.label, to_label
        for side in ("from", "to"):
            if f"n_{side}" not in change.columns:
                change[f"n_{side}"] = np.nan
        few = (change[["n_from", "n_to"]] < project.estimates.min_n).any(axis=1)
        change["few_respondents"] = few.astype(bool)
        frames.append(change[CHANGE_COLUMNS])
        table = wave_structural(city, wave, project, districts)
        if table is not None:
            structural[wave.label] = table
    out = pd.concat(frames, ignore_index=True)
    out.attrs["warnings"] = warnings
    out.attrs["note"] = ("independent samples: se = sqrt(se_from^2 + se_to^2) of the design-based estimates; "
                         f"Welch-Satterthwaite t; {project.compare.adjust} adjustment across the districts of "
                         "each score and wave")
    return out, structural
