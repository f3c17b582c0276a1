"""Synthetic demo data for the four study cities, generated from ``demo/assumptions.yaml``.

Everything here is SYNTHETIC ("synthetische Demodaten"): respondents, population margins and
structural indicators are simulated from the readable assumptions file, calibrated to the
published city results of the study. :func:`write_demo_inputs` writes the files a city's
statistics office would have (survey microdata, population by district x age x gender,
structural indicators) plus a project configuration; ``geo-cohesion demo`` then runs exactly the
pipeline a user's own city takes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from geo_cohesion.demo.assumptions import load_assumptions
from geo_cohesion.demo.shapes import build_schematic_boundaries
from geo_cohesion.io.write import write_csv, write_gpkg, write_text
from geo_cohesion.labels import label
from geo_cohesion.radar.codebook import load_codebook, load_radar
from geo_cohesion.radar.indicators import known_indicator
from geo_cohesion.settings import ProjectConfig, check_value

SYNTHETIC_NOTE = label("note.synthetic")
SCHEMATIC_NOTE = label("note.schematic")
#: The demo's structural columns; the project file declares them explicitly (label, unit,
#: direction, role from the known indicator catalogue), as a city's own project file would.
DEMO_INDICATORS = ("population_total", "migration_share_pct", "unemployment_pct", "sgb2_share_pct")


def declared_indicators() -> dict[str, dict]:
    """``structural.indicators`` of the demo's project file."""
    out = {}
    for column in DEMO_INDICATORS:
        known = known_indicator(column)
        assert known is not None, f"{column} is missing from radar/data/indicators.yaml"
        out[column] = {"label": known.label, "unit": known.unit, "direction": known.direction, "role": known.role}
    return out


def largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    """Integers proportional to ``weights`` that sum exactly to ``total`` (Hamilton's method)."""
    weights = np.asarray(weights, dtype=float)
    raw = weights / weights.sum() * total
    out = np.floor(raw).astype(int)
    short = total - out.sum()
    order = np.lexsort((np.arange(raw.size), -(raw - out)))  # ties broken by position: deterministic
    out[order[:short]] += 1
    return out


def district_populations(city: dict) -> np.ndarray:
    """Assumed district populations scaled to the city's published total (integers, exact sum)."""
    return largest_remainder(np.array([d["population"] for d in city["districts"]]), int(city["population_total"]))


def city_population(city: dict, assumptions: dict) -> pd.DataFrame:
    """Adult population by district x age group x gender (integers summing to the adult total).

    District totals are the assumed district populations scaled to the city's published total;
    the adult share, age shares (tilted younger where the migration share is high) and female
    shares come from the assumptions file.
    """
    districts = city["districts"]
    totals = district_populations(city)
    ages = assumptions["age_groups"]
    base_shares = np.array([city.get("age_shares", assumptions["age_shares_default"])[a] for a in ages])
    female = assumptions["female_share_by_age"]
    tilt = assumptions["young_tilt_per_10pct_migration"]
    rows = []
    for d, total in zip(districts, totals):
        adults = int(round(total * city.get("adult_share", assumptions["adult_share_default"])))
        shift = tilt * (d["migration_share_pct"] - city["migration_share_pct"]) / 10.0
        shares = base_shares.copy()
        shares[0] += shift
        shares[-1] -= shift
        shares = np.clip(shares, 0.02, None)
        cells = []
        for age, share in zip(ages, shares):
            cells += [(age, "weiblich", share * female[age]), (age, "männlich", share * (1 - female[age]))]
        counts = largest_remainder(np.array([c[2] for c in cells]), adults)
        rows += [{"district_id": d["id"], "age_group": a, "gender": g, "population": int(k)}
                 for (a, g, _), k in zip(cells, counts)]
    return pd.DataFrame(rows)


def city_structural(city: dict) -> pd.DataFrame:
    """District structural indicators as stated in the assumptions (one row per district)."""
    districts = city["districts"]
    totals = district_populations(city)
    frame = pd.DataFrame({
        "district_id": [d["id"] for d in districts],
        "district_name": [d["name"] for d in districts],
        "population_total": totals,
        "migration_share_pct": [d["migration_share_pct"] for d in districts],
        "unemployment_pct": [d["unemployment_pct"] for d in districts],
        "sgb2_share_pct": [d["sgb2_share_pct"] for d in districts],
    })
    if "reporting_level" in city:
        frame[city["reporting_level"]["name"]] = [d[city["reporting_level"]["from"]] for d in districts]
    frame["note"] = SYNTHETIC_NOTE
    return frame


def allocate_sample(city: dict, adults: pd.Series) -> pd.Series:
    """Respondents per district: proportional base sample with a minimum, plus any boost."""
    sample = city["sample"]
    minimum = int(sample.get("min_per_district", 0))
    n_base = int(sample["base"])
    alloc = pd.Series(minimum, index=adults.index)
    alloc += largest_remainder(adults.to_numpy(), n_base - minimum * len(adults))
    if sample.get("boost"):
        boost_ids = list(sample["boost_districts"])
        alloc.loc[boost_ids] += largest_remainder(adults.loc[boost_ids].to_numpy(), int(sample["boost"]))
    return alloc


def _centred_effects(city: dict, assumptions: dict, population: pd.DataFrame, dims: list[str]) -> tuple:
    """District, age and gender effects per dimension, centred on the city's adult population."""
    districts = {d["id"]: d for d in city["districts"]}
    ages, genders = assumptions["age_groups"], assumptions["genders"]
    dist_eff = {i: np.array([d.get("effect", 0.0) + d.get("dimension_effects", {}).get(k, 0.0) for k in dims])
                for i, d in districts.items()}
    age_eff = {a: np.array([assumptions["age_effects"].get(a, {}).get(k, 0.0) for k in dims]) for a in ages}
    gen_eff = {g: np.array([assumptions["gender_effects"].get(g, {}).get(k, 0.0) for k in dims]) for g in genders}
    weights = population["population"].to_numpy(dtype=float)
    total = np.zeros(len(dims))
    for (did, age, gen), w in zip(population[["district_id", "age_group", "gender"]].itertuples(index=False), weights):
        total += w * (dist_eff[did] + age_eff[age] + gen_eff[gen])
    offset = total / weights.sum()
    return dist_eff, age_eff, gen_eff, offset


def simulate_answers(people: pd.DataFrame, city: dict, assumptions: dict, population: pd.DataFrame,
                     rng: np.random.Generator) -> pd.DataFrame:
    """Item answers of the given people under the demo's latent model (see the assumptions file).

    Parameters
    ----------
    people : DataFrame
        ``district_id, age_group, gender`` per person (respondents, or a whole synthetic
        population as in ``benchmarks/sae_simulation.py``).
    city : dict
        The city's entry of the assumptions.
    assumptions : dict
        The parsed assumptions file.
    population : DataFrame
        The city's adult population by district x age group x gender (:func:`city_population`),
        on which the effects are centred.
    rng : numpy.random.Generator

    Returns
    -------
    DataFrame
        One column per codebook item (answers on the item scale; 8 = "weiß nicht",
        9 = "keine Angabe"), same index as ``people``.
    """
    radar = load_radar()
    codebook = load_codebook()
    dims = [d.slug for d in radar.dimensions]
    targets = np.array([assumptions["city_targets"][city["name"]][k] for k in dims])
    dist_eff, age_eff, gen_eff, offset = _centred_effects(city, assumptions, population, dims)
    n = len(people)

    def per_person(column: str, table: dict) -> np.ndarray:  # look up each distinct key once
        codes, keys = pd.factorize(people[column])
        return np.stack([table[k] for k in keys])[codes] if n else np.empty((0, len(dims)))

    effects = (per_person("district_id", dist_eff) + per_person("age_group", age_eff)
               + per_person("gender", gen_eff) - offset)
    latent = (targets + effects + rng.normal(0.0, assumptions["person_effect_sd"], (n, 1))
              + rng.normal(0.0, assumptions["dimension_noise_sd"], (n, len(dims))))
    prob = np.clip(latent / 100.0, 0.005, 0.995)
    dont_know, refused = assumptions["item_nonresponse"]["dont_know"], assumptions["item_nonresponse"]["refused"]
    items = {}
    for item in codebook.items:
        steps = int(item.scale_max - item.scale_min)
        k = rng.binomial(steps, prob[:, dims.index(item.dimension)])
        answer = (item.scale_max - k) if item.reversed else (item.scale_min + k)
        u = rng.random(n)
        codes = sorted(item.missing_codes)
        answer = np.where(u < dont_know, codes[0], np.where(u < dont_know + refused, codes[-1], answer))
        items[item.item] = answer.astype(int)
    return pd.DataFrame(items, index=people.index)


def generate_city_survey(city: dict, assumptions: dict, population: pd.DataFrame,
                         rng: np.random.Generator) -> pd.DataFrame:
    """Simulate respondent microdata for one city (see the assumptions file for the model).

    Returns
    -------
    DataFrame
        ``resp_id, district_id, stratum, age_group, gender, design_weight`` and one column per
        codebook item (answers on the item scale; 8 = "weiß nicht", 9 = "keine Angabe").
    """
    adults = population.groupby("district_id", sort=False)["population"].sum()
    alloc = allocate_sample(city, adults)
    propensity = assumptions["response_propensity"]
    records = []
    for did, n_d in alloc.items():
        cells = population[population["district_id"] == did]
        prob = cells["population"].to_numpy(float) * np.array(
            [propensity[a][g] for a, g in zip(cells["age_group"], cells["gender"])])
        picks = rng.choice(len(cells), size=int(n_d), p=prob / prob.sum())
        weight = adults[did] / n_d
        for k in picks:
            records.append((did, cells["age_group"].iloc[k], cells["gender"].iloc[k], weight))
    frame = pd.DataFrame(records, columns=["district_id", "age_group", "gender", "design_weight"])
    n = len(frame)
    frame = pd.concat([frame, simulate_answers(frame, city, assumptions, population, rng)], axis=1)
    frame.insert(0, "resp_id", [f"{city['slug'][:3].upper()}{i + 1:05d}" for i in range(n)])
    frame.insert(2, "stratum", frame["district_id"])
    return frame


def earlier_wave_changes(city: dict, assumptions: dict, rng: np.random.Generator) -> dict[str, float]:
    """District -> assumed change of the latent cohesion from the earlier wave to the main wave (points).

    Drawn from ``Normal(0, district_change_sd)`` once per district, overridden by the named
    ``district_changes``; the city-wide ``city_change`` is added to the city targets, not here.
    """
    spec = assumptions["earlier_wave"]
    named = spec.get("district_changes", {}).get(city["name"], {})
    drawn = rng.normal(0.0, spec["district_change_sd"], len(city["districts"]))
    return {d["id"]: float(named.get(d["id"], x)) for d, x in zip(city["districts"], drawn)}


def earlier_wave_inputs(city: dict, assumptions: dict, population: pd.DataFrame,
                        rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """SYNTHETIC survey and structural table of the city's earlier wave (``earlier_wave`` assumptions).

    Returns
    -------
    survey, structural : DataFrame
        As :func:`generate_city_survey` and :func:`city_structural`, for the earlier year.
    changes : dict
        District -> assumed change of the latent cohesion (main minus earlier), for tests.
    """
    spec = assumptions["earlier_wave"]
    changes = earlier_wave_changes(city, assumptions, rng)
    earlier_city = {**city, "districts": [{**d, "effect": d.get("effect", 0.0) - changes[d["id"]]}
                                          for d in city["districts"]]}
    shift = float(spec["city_change"].get(city["name"], 0.0))
    earlier = {**assumptions, "city_targets": {
        **assumptions["city_targets"],
        city["name"]: {k: v - shift for k, v in assumptions["city_targets"][city["name"]].items()}}}
    survey = generate_city_survey(earlier_city, earlier, population, rng)
    structural = city_structural(city)
    for column, change in spec["structural_change"].items():
        noise = rng.normal(0.0, spec["structural_change_sd"], len(structural))
        structural[column] = np.clip(structural[column] - change - noise, 0.0, 100.0).round(1)
    return survey, structural, changes


def write_demo_inputs(out_dir: str | Path, seed: int | None = None) -> Path:
    """Write the synthetic input files for the four cities and a project configuration.

    Parameters
    ----------
    out_dir : str or Path
        Folder for the inputs (created if needed).
    seed : int, optional
        Random seed, ``0 <= seed < 2**32``; the assumptions' default when None. Same seed ->
        byte-identical files.

    Returns
    -------
    Path
        The project configuration (``project.yaml``) to run with :func:`geo_cohesion.project.run.run_project`.

    Raises
    ------
    InputError
        A seed out of range.
    """
    assumptions = load_assumptions()
    seed = check_value(ProjectConfig, "seed", assumptions["meta"]["seed"] if seed is None else seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cities_cfg = []
    for index, city in enumerate(assumptions["cities"]):
        rng = np.random.default_rng([seed, index])
        slug = city["slug"]
        population = city_population(city, assumptions)
        survey = generate_city_survey(city, assumptions, population, rng)
        write_csv(survey, out_dir / f"survey_{slug}.csv")
        write_csv(population, out_dir / f"population_{slug}.csv")
        write_csv(city_structural(city), out_dir / f"structural_{slug}.csv")
        write_gpkg(build_schematic_boundaries(city), out_dir / f"boundaries_{slug}.gpkg", layer=slug)
        wave = assumptions["earlier_wave"]
        survey_before, structural_before, _ = earlier_wave_inputs(city, assumptions, population,
                                                                  np.random.default_rng([seed, index, 1]))
        wave_dir = f"welle_{wave['label']}"  # a folder of its own: one survey per city in the main folder
        write_csv(survey_before, out_dir / wave_dir / f"survey_{slug}.csv")
        write_csv(structural_before, out_dir / wave_dir / f"structural_{slug}.csv")
        cfg = {
            "name": city["name"], "slug": slug,
            "survey": {"path": f"survey_{slug}.csv", "district_column": "district_id",
                       "weight_column": "design_weight", "strata_column": "stratum"},
            "population": {"path": f"population_{slug}.csv", "district_column": "district_id"},
            "structural": {"path": f"structural_{slug}.csv", "district_column": "district_id",
                           "name_column": "district_name", "indicators": declared_indicators()},
            "weighting": {"margins": ["age_group", "gender", "district_id"]},
            "boundaries": {"path": f"boundaries_{slug}.gpkg", "id_column": "district_id",
                           "name_column": "district_name", "note": SCHEMATIC_NOTE},
            "groups": city.get("groups", {}),
            "note": SYNTHETIC_NOTE,
            "waves": [{"label": wave["label"],
                       "survey": {"path": f"{wave_dir}/survey_{slug}.csv", "district_column": "district_id",
                                  "weight_column": "design_weight", "strata_column": "stratum"},
                       "population": {"path": f"population_{slug}.csv", "district_column": "district_id"},
                       "structural": {"path": f"{wave_dir}/structural_{slug}.csv",
                                      "district_column": "district_id", "name_column": "district_name",
                                      "indicators": declared_indicators()}}],
            "wave_label": wave["main_label"],
        }
        cities_cfg.append(cfg)
    project = {"title": assumptions["meta"]["survey_name"], "seed": seed,
               "survey_period": assumptions["meta"]["survey_period"], "note": SYNTHETIC_NOTE,
               "estimates": {"level": 0.95, "min_n": 30},
               "need": {"indicators": {"sgb2_share_pct": 1.0, "unemployment_pct": 1.0, "index": 1.0}},
               "cities": cities_cfg}
    path = out_dir / "project.yaml"
    write_text(path, f"# Generated by geo-cohesion demo: SYNTHETIC demo data ({SYNTHETIC_NOTE})\n"
               + yaml.safe_dump(project, allow_unicode=True, sort_keys=False))
    return path
