"""Shared fixtures: small data built in code."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REFERENCE = Path(__file__).parent / "reference"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


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


@pytest.fixture(scope="session")
def demo_out(tmp_path_factory) -> Path:
    """One full `geo-cohesion demo` run (tables, comparisons, maps, figures) shared by the tests."""
    from geo_cohesion.cli import main

    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out)]) == 0
    return out
