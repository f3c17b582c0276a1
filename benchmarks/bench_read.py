"""Benchmark: reading a large survey CSV with :func:`geo_cohesion.io.tables.read_table`.

Run: ``python benchmarks/bench_read.py``

A synthetic survey (generated here: 120,000 respondents, an id, district, age group, gender and
40 item answers 1-5) is written to a temporary CSV. ``read_table`` reads every cell as text and
decides each column's number format from all its values (:func:`~geo_cohesion.io.tables.infer_number_format`);
the baseline, measured in the same run, is ``pandas.read_csv`` with its own type inference
(no format checks). Best of three.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from geo_cohesion.io.tables import read_table

RESPONDENTS = 120_000
ITEMS = 40


def survey(n: int = RESPONDENTS, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"id": np.arange(n), "district": rng.integers(0, 200, n).astype(str),
                          "age_group": rng.choice(["18-34", "35-49", "50-64", "65+"], n),
                          "gender": rng.choice(["weiblich", "männlich"], n)})
    for j in range(ITEMS):
        frame[f"q{j:02d}"] = rng.integers(1, 6, n)
    return frame


def best_of(func, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "survey.csv"
        survey().to_csv(path, index=False)
        baseline = best_of(lambda: pd.read_csv(path))
        ours = best_of(lambda: read_table(path, text_columns=["district", "age_group", "gender"]))
    print(f"{RESPONDENTS:,} respondents x {ITEMS + 4} columns: pandas.read_csv {baseline:.2f} s, "
          f"read_table {ours:.2f} s, ratio {ours / baseline:.1f}")


if __name__ == "__main__":
    main()
