"""Benchmark: merging small districts (max-p regions) on Berlin's 542 Planungsräume.

Run: ``python benchmarks/bench_merge.py``

Reads the Planungsräume and their population (``EW`` in the MSS 2021 table) from
``../shared/data/berlin`` (official open data, read in place, never copied; another folder via
``GEO_COHESION_SHARED_DATA``) and spreads 3,000 and 10,000 simulated respondents over them in
proportion to population. Reports the time of :func:`merge_small_districts` (spopt imported
beforehand; its import time is shown separately), the time of the queen contiguity weights
alone (libpysal, part of the merge), the areas found, whether every area reaches 30, how many
districts with 30 or more respondents stay alone with and without the final pass that frees
them, and whether a second run gives the same areas. Skips with a reason when the data are absent.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

SHARED = Path(os.environ.get("GEO_COHESION_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
BERLIN = SHARED / "berlin"
MIN_N = 30


def simulated_counts(population: pd.Series, respondents: int, seed: int = 0) -> pd.Series:
    """Respondents per district, drawn in proportion to population."""
    rng = np.random.default_rng(seed)
    draw = rng.choice(len(population), size=respondents, p=(population / population.sum()).to_numpy())
    return pd.Series(np.bincount(draw, minlength=len(population)), index=population.index)


def main() -> int:
    shp, mss_csv = BERLIN / "lor_planungsraeume_2021.shp", BERLIN / "mss_2021.csv"
    if not (shp.exists() and mss_csv.exists()):
        print(f"skipped: Berlin data not available ({shp}, {mss_csv}; see ../shared/data/README.md)")
        return 0
    from geo_cohesion.io.boundaries import read_boundaries
    from geo_cohesion.io.tables import read_table
    from geo_cohesion.spatial import regions
    from geo_cohesion.spatial.weights import contiguity_weights

    gdf = read_boundaries(shp, id_column="PLR_ID", name_column="PLR_NAME")
    mss = read_table(mss_csv, text_columns=["PLR_ID"])
    population = pd.to_numeric(mss.set_index("PLR_ID")["EW"]).reindex(gdf["district_id"]).fillna(0)
    start = time.perf_counter()
    import spopt.region.maxp  # noqa: F401  (imported once per process, on the first merge)
    t_import = time.perf_counter() - start
    start = time.perf_counter()
    contiguity_weights(gdf)
    t_weights = time.perf_counter() - start
    print(f"case: Berlin, {len(gdf)} Planungsräume (real boundaries), respondents spread by population (EW), "
          f"min_n = {MIN_N}, seed 0")
    print(f"spopt import (once per process): {t_import:6.2f} s; queen contiguity weights alone: {t_weights:6.2f} s")
    for respondents in (3_000, 10_000):
        counts = simulated_counts(population, respondents)
        start = time.perf_counter()
        merged = regions.merge_small_districts(gdf, counts, MIN_N)
        elapsed = time.perf_counter() - start
        again = regions.merge_small_districts(gdf, counts, MIN_N)
        keep = regions._keep_large_alone
        regions._keep_large_alone = lambda found, *args: found  # max-p alone, for comparison
        try:
            plain = regions.merge_small_districts(gdf, counts, MIN_N)
        finally:
            regions._keep_large_alone = keep
        areas = merged.drop_duplicates("area_id")
        large = merged["respondents"] >= MIN_N
        print(f"{respondents:>6,} respondents: {elapsed:6.2f} s, {len(areas)} areas (max-p alone: "
              f"{plain['area_id'].nunique()}), smallest {areas['area_respondents'].min()} respondents, "
              f"largest {areas['area_size'].max()} districts; districts with >= {MIN_N}: {int(large.sum())}, "
              f"alone {int((merged.loc[large, 'area_size'] == 1).sum())} (max-p alone: "
              f"{int((plain.loc[large, 'area_size'] == 1).sum())}); second run identical: {merged.equals(again)}")
        if areas["area_respondents"].min() < MIN_N or not merged.equals(again):
            print("FAILED: an area below min_n or a run that differs")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
