"""Benchmark: print figures of the four demo cities, serial against parallel, by format.

Run: ``python benchmarks/bench_figures.py [--quick]``

The figure set is the demo's default (issue #18): per city the index, the 3 domains, every
structural indicator and the small multiples of the 9 dimensions, for the four demo cities
(schematic boundaries, synthetic values). Measured in the same run:

* each format alone (one figure per city, serial), to choose the default formats;
* the default formats (``maps.figure_formats``: png, pdf) written serially (``figure_workers: 1``)
  and in parallel (``figure_workers: 0`` = one process per available core), with the ratio;
* the old default (png, pdf, svg) serially, as the baseline of the change of defaults.

Serial, parallel and old default take turns (best of ``--rounds``), so a change of the shared
machine's load does not favour one of them.

The parallel files are checked byte for byte against the serial ones.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from geo_cohesion.demo.shapes import build_schematic_boundaries, load_cities
from geo_cohesion.maps.layers import build_city_map
from geo_cohesion.maps.parallel import FigureRequest, available_cores, resolve_workers, write_figures
from geo_cohesion.radar.codebook import load_radar
from geo_cohesion.settings import DEFAULT_FIGURE_FORMATS, FIGURE_FORMATS

STRUCTURAL = ["unemployment_pct", "sgb2_share_pct", "migration_share_pct"]


def demo_requests(out: Path) -> list[FigureRequest]:
    """The default figure set of the four demo cities."""
    radar = load_radar()
    requests = []
    for seed, city in enumerate(load_cities()):
        b = build_schematic_boundaries(city)
        rng = np.random.default_rng(seed)
        est = pd.DataFrame([{"district_id": d, "variable": v, "estimate": rng.uniform(40, 80), "n": 60}
                            for d in b["district_id"] for v in radar.variables])
        structural = pd.DataFrame({"district_id": b["district_id"],
                                   **{c: rng.uniform(2, 30, len(b)) for c in STRUCTURAL}})
        city_map = build_city_map(city["name"], b, est, structural, notes=["synthetische Demodaten"])
        variables = [radar.index_slug, *radar.domains, *STRUCTURAL]
        requests.append(FigureRequest(city_map, out, variables, city["slug"]))
    return requests


def timed(requests, formats, workers) -> tuple[float, list[Path]]:
    start = time.perf_counter()
    paths = write_figures(requests, formats, workers=workers)
    return time.perf_counter() - start, paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two cities only")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of serial/parallel/old; best of each")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        requests = demo_requests(root / "serial")
        if args.quick:
            requests = requests[:2]
        figures = sum(len(r.variables or []) + 1 for r in requests)
        print(f"case: {len(requests)} demo cities, {figures} figures (index, 3 domains, {len(STRUCTURAL)} structural, "
              f"dimensions); cores available {available_cores()}, load average {load:.1f}")
        one = [FigureRequest(r.city_map, root / "formats", ["index"], r.stem) for r in requests]
        for fmt in FIGURE_FORMATS:
            seconds, _ = timed(one, (fmt,), 1)
            print(f"  {fmt} alone, one figure per city, serial      : {seconds / len(one):6.2f} s per figure")
        # serial, parallel and the old default take turns, best of --rounds each: the shared
        # machine's load changes by the minute, so interleaving keeps the ratios fair
        parallel_requests = [FigureRequest(r.city_map, root / "parallel", r.variables, r.stem) for r in requests]
        old = [FigureRequest(r.city_map, root / "old", r.variables, r.stem) for r in requests]
        workers = resolve_workers(0, figures)
        t_serial = t_parallel = t_old = float("inf")
        for _ in range(args.rounds):
            seconds, serial = timed(requests, DEFAULT_FIGURE_FORMATS, 1)
            t_serial = min(t_serial, seconds)
            seconds, parallel = timed(parallel_requests, DEFAULT_FIGURE_FORMATS, 0)
            t_parallel = min(t_parallel, seconds)
            seconds, old_paths = timed(old, FIGURE_FORMATS, 1)
            t_old = min(t_old, seconds)
        same = all(a.read_bytes() == b.read_bytes() for a, b in zip(serial, parallel)) and len(serial) == len(parallel)
        fmt = "+".join(DEFAULT_FIGURE_FORMATS)
        print(f"default formats ({fmt}), serial              : {t_serial:7.2f} s  {len(serial)} files")
        print(f"default formats ({fmt}), {workers} workers           : {t_parallel:7.2f} s  "
              f"ratio serial/parallel {t_serial / t_parallel:.2f}x; files identical: {same}")
        print(f"old default (png+pdf+svg), serial             : {t_old:7.2f} s  {len(old_paths)} files  "
              f"ratio old/new-parallel {t_old / t_parallel:.2f}x")
        end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"best of {args.rounds} interleaved rounds; load average at end {end:.1f}")
        if not same:
            sys.exit("parallel figures differ from the serial ones")


if __name__ == "__main__":
    main()
