"""Shared fixtures: small data built in code, one small synthetic city run, and the full demo run.

Markers (registered in pyproject.toml): ``slow`` (the full four-city demo, the bad-input corpus,
simulations), ``browser`` (headless Chromium / pdftoppm), ``real_data`` (files in
``GEO_COHESION_SHARED_DATA``), ``quality`` (ruff, lint-imports, mypy). Every test that uses the
``demo_out`` fixture is marked ``slow`` automatically, so the fast loop
``python3 -m pytest -q -m "not slow and not browser"`` never builds the demo.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REFERENCE = Path(__file__).parent / "reference"
#: Real boundary and statistics files (Berlin LOR, MSS 2021, Rostock Ortsteile). Defaults to
#: ``../shared/data`` beside the repository; a git worktree elsewhere sets GEO_COHESION_SHARED_DATA.
SHARED_DATA = Path(os.environ.get("GEO_COHESION_SHARED_DATA")
                   or Path(__file__).resolve().parents[2] / "shared" / "data")


def pytest_collection_modifyitems(config, items):
    """Tests that need the full four-city demo are slow, wherever they live."""
    for item in items:
        if "demo_out" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def r_reference() -> dict:
    """Values computed by R survey 4.1-1 (tests/reference/r_survey_reference.R)."""
    return json.loads((REFERENCE / "r_survey_reference.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def small_survey() -> pd.DataFrame:
    """The 240-respondent data set the R reference was computed on."""
    return pd.read_csv(REFERENCE / "survey_small.csv", dtype={"district": str, "stratum": str})


@pytest.fixture(scope="session")
def small_margins() -> dict:
    """Population margins of the R reference data set, as {column: {category: total}}."""
    table = pd.read_csv(REFERENCE / "margins_small.csv", dtype={"category": str})
    return {v: dict(zip(g["category"], g["population"])) for v, g in table.groupby("variable", sort=False)}


def make_survey(n: int = 400, n_districts: int = 5, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """A random survey with district/age/gender, design weights, two outcomes, and matching margins."""
    rng = np.random.default_rng(seed)
    districts = [f"D{i:02d}" for i in range(n_districts)]
    frame = pd.DataFrame({
        "district": rng.choice(districts, n),
        "age_group": rng.choice(["18-34", "35-64", "65+"], n, p=[0.2, 0.5, 0.3]),
        "gender": rng.choice(["w", "m"], n),
    })
    frame["design_weight"] = rng.uniform(50, 150, n)
    frame["y"] = rng.uniform(0, 100, n)
    frame["z"] = np.where(rng.random(n) < 0.1, np.nan, rng.normal(60, 10, n))
    total = 100_000
    margins = {
        "district": dict(zip(districts, np.full(n_districts, total / n_districts))),
        "age_group": {"18-34": 0.3 * total, "35-64": 0.45 * total, "65+": 0.25 * total},
        "gender": {"w": 0.52 * total, "m": 0.48 * total},
    }
    return frame, margins


# ---------------------------------------------------------------------------------------------
# One small synthetic city, run once per session


SMALL_CITY = "Musterstadt"
SMALL_SLUG = "musterstadt"
SMALL_NOTE = "synthetische Testdaten"
#: 12 districts on a 4 x 3 grid of 1 km squares (row 0 is the north).
SMALL_IDS = [f"{i:02d}" for i in range(1, 13)]
SMALL_NAMES = ["Nordheim", "Hörde-Nord", "Am Bach", "St. Georg", "Mitte", "Altstadt", "Weißenfeld", "Süd-Ost",
               "Heide", "Auenviertel", "Bahnhof", "Tal"]
#: Respondents per district (411 in all); district "12" has fewer than min_n = 30 and is suppressed.
SMALL_SAMPLE = [40, 38, 36, 34, 42, 36, 38, 34, 36, 35, 40, 22]
SMALL_GROUPS = {"Nord": SMALL_IDS[:4], "Mitte": SMALL_IDS[4:8], "Süd": SMALL_IDS[8:]}
SMALL_AGES = ["18-34", "35-64", "65+"]
SMALL_GENDERS = ["weiblich", "männlich"]


@dataclass(frozen=True)
class SmallProject:
    """The small city's input folder (``project.yaml`` and its files) and the folder of its outputs."""

    inputs: Path
    out: Path

    @property
    def config(self) -> Path:
        return self.inputs / "project.yaml"

    def table(self, name: str) -> pd.DataFrame:
        """An output table (``tables/<name>``) with text district ids."""
        return pd.read_csv(self.out / "tables" / name, dtype={"district_id": str})


def write_small_city(folder: Path, seed: int = 3) -> Path:
    """Write the inputs of one small synthetic city and its project file; returns ``project.yaml``.

    Cohesion falls from north-west to south-east and deprivation rises with it, so comparisons,
    association and Moran's I have something to find. ~4 % of answers are "weiß nicht" codes.
    """
    import geopandas as gpd
    import shapely
    import yaml

    from geo_cohesion.radar.codebook import load_codebook

    rng = np.random.default_rng(seed)
    codebook = load_codebook()
    items = [item.item for item in codebook.items]
    scale_max = np.array([item.scale_max for item in codebook.items])
    reversed_ = np.array([item.reversed for item in codebook.items])
    row, col = np.divmod(np.arange(len(SMALL_IDS)), 4)
    level = 0.8 - 0.25 * row - 0.12 * col            # latent district cohesion, north-west high
    rows = []
    for district, n, shift in zip(SMALL_IDS, SMALL_SAMPLE, level):
        for k in range(n):
            person = shift + rng.normal(0, 0.5)
            mean = (scale_max + 1) / 2 + np.where(reversed_, -1, 1) * person * (scale_max - 1) / 4
            answers = np.clip(np.rint(rng.normal(mean, 0.9)), 1, scale_max).astype(int).astype(object)
            answers[rng.random(len(items)) < 0.04] = 9
            rows.append({"bezirk": district, "altersgruppe": SMALL_AGES[rng.integers(3)],
                         "geschlecht": SMALL_GENDERS[k % 2], "designgewicht": round(float(rng.uniform(0.6, 1.8)), 3),
                         **dict(zip(items, answers))})
    survey = pd.DataFrame(rows)
    population = pd.DataFrame([{"bezirk": d, "altersgruppe": a, "geschlecht": g,
                                "einwohner": int(rng.integers(900, 2500))}
                               for d in SMALL_IDS for a in SMALL_AGES for g in SMALL_GENDERS])
    deprivation = 1 - level
    structural = pd.DataFrame({
        "bezirk": SMALL_IDS, "name": SMALL_NAMES,
        "migration_share_pct": np.round(15 + 30 * deprivation + rng.normal(0, 3, 12), 1),
        "unemployment_pct": np.round(4 + 8 * deprivation + rng.normal(0, 1, 12), 1),
        "sgb2_share_pct": np.round(6 + 15 * deprivation + rng.normal(0, 1.5, 12), 1),
    })
    x0, y0, size = 390_000.0, 5_705_000.0, 1000.0
    boxes = [shapely.box(x0 + c * size, y0 - (r + 1) * size, x0 + (c + 1) * size, y0 - r * size)
             for r, c in zip(row, col)]
    boundaries = gpd.GeoDataFrame({"bez_id": SMALL_IDS, "bez_name": SMALL_NAMES}, geometry=boxes, crs="EPSG:25832")
    folder.mkdir(parents=True, exist_ok=True)
    survey.to_csv(folder / "befragung.csv", index=False)
    population.to_csv(folder / "bevoelkerung.csv", index=False)
    structural.to_csv(folder / "strukturdaten.csv", index=False)
    boundaries.to_file(folder / "bezirke.gpkg", layer="bezirke", driver="GPKG")
    config = {
        "title": "Zusammenhaltsbefragung Musterstadt",
        "note": SMALL_NOTE,
        "survey_period": "2025",
        "seed": 1,
        "estimates": {"level": 0.95, "min_n": 30},
        "maps": {"figures": True, "figure_formats": ["svg"], "figure_variables": ["index"]},
        "compare": {"permutations": 199, "rank_draws": 2000},
        "cities": [{
            "name": SMALL_CITY,
            "survey": {"path": "befragung.csv", "district_column": "bezirk", "age_column": "altersgruppe",
                       "gender_column": "geschlecht", "weight_column": "designgewicht"},
            "population": {"path": "bevoelkerung.csv", "district_column": "bezirk", "age_column": "altersgruppe",
                           "gender_column": "geschlecht", "population_column": "einwohner"},
            "structural": {"path": "strukturdaten.csv", "district_column": "bezirk", "name_column": "name"},
            "weighting": {"margins": ["altersgruppe", "geschlecht", "bezirk"]},
            "boundaries": {"path": "bezirke.gpkg", "layer": "bezirke", "id_column": "bez_id",
                           "name_column": "bez_name"},
            "groups": SMALL_GROUPS,
        }],
    }
    path = folder / "project.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def small_project(tmp_path_factory) -> SmallProject:
    """One run of a small synthetic city (12 districts, 411 respondents, groups, maps, two figures)
    through :func:`geo_cohesion.project.run.run_project`, shared by every test that needs
    "some project output". Tests must not modify its folders (copy first)."""
    from geo_cohesion.project.config import load_project
    from geo_cohesion.project.run import run_project

    root = tmp_path_factory.mktemp("small_city")
    config = write_small_city(root / "inputs")
    run_project(load_project(config), root / "out")
    return SmallProject(root / "inputs", root / "out")


@pytest.fixture(scope="session")
def demo_out(tmp_path_factory) -> Path:
    """One full `geo-cohesion demo` run (four cities: tables, comparisons, maps, figures), for the
    tests of demo-specific facts (published city indices, the seed's findings). Slow."""
    from geo_cohesion.cli import main

    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out)]) == 0
    return out
