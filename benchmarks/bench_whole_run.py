"""Benchmark: a whole ``geo-cohesion run`` as the number of districts grows (200 / 2,000 / 20,000).

Run through ``python benchmarks/run_all.py`` (its whole-run part) or one size alone::

    python benchmarks/bench_whole_run.py --worker --districts 2000 --respondents 120000 --out /tmp/x

A synthetic city is generated in code (labelled synthetic): square districts on a grid (boundaries
as a GeoPackage), a population table (district x 4 age groups x 2 genders), structural indicators
and a survey with the built-in Radar items, the same number of respondents at every size (so the
growth is the districts' alone). The complete pipeline (``run_project``: reading, raking,
estimation, comparison and rank intervals, variance decomposition, spatial statistics, maps,
figures (PNG), exports and reports) runs in one subprocess per size.

Stages are timed by wrapping the pipeline's functions; a sampler thread reads the process's
resident memory every 20 ms and keeps the maximum per stage (nested stages count for their
parents too). The whole process's peak is ``getrusage`` max RSS.
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SIZES = [200, 2_000, 20_000]
QUICK_SIZES = [200, 2_000]
RESPONDENTS = 120_000
QUICK_RESPONDENTS = 12_000
TIMEOUT_S = 3600.0
AGES = ["18-34", "35-49", "50-64", "65+"]
GENDERS = ["weiblich", "männlich"]

#: (module, function, stage name): the pipeline functions timed as stages, outermost first.
STAGES = [
    ("geo_cohesion.project.run", "read_city_boundaries", "read boundaries"),
    ("geo_cohesion.project.run", "run_city", "read, rake, estimate"),
    ("geo_cohesion.project.run", "analyse_city", "analyse (compare, spatial, maps)"),
    ("geo_cohesion.project.analysis", "compare_design", "compare + rank intervals"),
    ("geo_cohesion.project.analysis", "_with_ranks", "rank intervals"),
    ("geo_cohesion.project.analysis", "variance_decomposition", "variance decomposition"),
    ("geo_cohesion.project.analysis", "structural_association", "associations"),
    ("geo_cohesion.project.analysis", "spatial_tables", "spatial weights, Moran, LISA"),
    ("geo_cohesion.project.run", "merge_city", "merge small districts"),
    ("geo_cohesion.project.run", "city_maps", "map layers"),
    ("geo_cohesion.project.run", "write_tables", "write tables"),
    ("geo_cohesion.project.analysis", "write_comparison_tables", "write comparison tables"),
    ("geo_cohesion.project.run", "write_maps", "write HTML maps + map figures"),
    ("geo_cohesion.maps.figures", "write_city_figures", "map figures"),
    ("geo_cohesion.project.analysis", "write_comparison_figures", "comparison figures"),
    ("geo_cohesion.project.reporting", "write_deliverables", "exports + reports"),
]


# ---------------------------------------------------------------------------------------------
# Synthetic city


def write_inputs(folder: Path, districts: int, respondents: int, seed: int = 1, rank_draws: int | None = None,
                 permutations: int | None = None) -> Path:
    """Write a synthetic city with ``districts`` square districts; returns the project file."""
    import geopandas as gpd
    import shapely

    from geo_cohesion.io.write import write_gpkg
    from geo_cohesion.radar.codebook import load_codebook

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ids = np.array([f"D{i:05d}" for i in range(districts)])
    side = math.ceil(math.sqrt(districts))
    col, row = np.arange(districts) % side, np.arange(districts) // side
    size = 250.0
    x0, y0 = 380_000.0, 5_700_000.0
    boxes = shapely.box(x0 + col * size, y0 + row * size, x0 + (col + 1) * size, y0 + (row + 1) * size)
    boundaries = gpd.GeoDataFrame({"bezirk": ids, "name": [f"Bezirk {i}" for i in range(districts)]},
                                  geometry=boxes, crs="EPSG:25832")
    write_gpkg(boundaries, folder / "bezirke.gpkg")
    # a smooth spatial pattern, so that Moran's I and LISA find something
    effect = 6 * np.sin(col / side * 3.1) + 4 * np.cos(row / side * 2.3) + rng.normal(0, 2, districts)
    pop = rng.integers(300, 3000, size=(districts, len(AGES), len(GENDERS)))
    population = pd.DataFrame({
        "bezirk": np.repeat(ids, len(AGES) * len(GENDERS)),
        "altersgruppe": np.tile(np.repeat(AGES, len(GENDERS)), districts),
        "geschlecht": np.tile(GENDERS, districts * len(AGES)),
        "einwohner": pop.reshape(-1)})
    population.to_csv(folder / "bevoelkerung.csv", index=False)
    structural = pd.DataFrame({
        "bezirk": ids, "name": boundaries["name"],
        "population_total": pop.sum(axis=(1, 2)),
        "sgb2_share_pct": np.round(np.clip(12 - effect + rng.normal(0, 2, districts), 0.5, 60), 2),
        "unemployment_pct": np.round(np.clip(7 - effect / 2 + rng.normal(0, 1, districts), 0.5, 40), 2),
        "migration_share_pct": np.round(rng.uniform(5, 50, districts), 2)})
    structural.to_csv(folder / "strukturdaten.csv", index=False)
    # every district gets respondents (at least 5), the rest in proportion to the population
    weights = pop.sum(axis=(1, 2)).astype(float)
    extra = respondents - 5 * districts
    counts = 5 + (rng.multinomial(extra, weights / weights.sum()) if extra > 0 else 0)
    district = np.repeat(np.arange(districts), counts)
    n = district.size
    survey = pd.DataFrame({"bezirk": ids[district],
                           "altersgruppe": np.asarray(AGES)[rng.integers(0, len(AGES), n)],
                           "geschlecht": np.asarray(GENDERS)[rng.integers(0, len(GENDERS), n)]})
    codebook = load_codebook()
    latent = effect[district] / 10 + rng.normal(0, 1, n)
    for item in codebook.items:
        low, top = int(item.scale_min), int(item.scale_max)
        raw = (top + low) / 2 + latent * (top - low) / 5 + rng.normal(0, 0.8, n)
        answers = np.clip(np.rint(raw), low, top).astype(int)
        if item.missing_codes:  # 3 % item non-response, coded as the codebook's missing code
            answers[rng.random(n) < 0.03] = int(min(item.missing_codes))
        survey[item.item] = answers
    survey.to_csv(folder / "befragung.csv", index=False)
    config = f"""title: "Benchmark (synthetische Daten, {districts} Bezirke)"
note: "synthetische Benchmarkdaten"
seed: 1
estimates: {{min_n: 5}}
maps: {{figure_formats: [png]}}
{{compare}}cities:
  - name: Benchmarkstadt
    survey: {{path: befragung.csv, district_column: bezirk, age_column: altersgruppe, gender_column: geschlecht}}
    population: {{path: bevoelkerung.csv, district_column: bezirk, age_column: altersgruppe,
                 gender_column: geschlecht, population_column: einwohner}}
    structural:
      path: strukturdaten.csv
      district_column: bezirk
      name_column: name
      indicators:
        population_total: {{role: population}}
        sgb2_share_pct: {{role: deprivation}}
    weighting: {{margins: [altersgruppe, geschlecht, bezirk]}}
    boundaries: {{path: bezirke.gpkg, id_column: bezirk, name_column: name}}
"""
    chosen = {k: v for k, v in (("rank_draws", rank_draws), ("permutations", permutations)) if v is not None}
    config = config.replace("{compare}", ("compare: {" + ", ".join(f"{k}: {v}" for k, v in chosen.items()) + "}\n")
                            if chosen else "")
    path = folder / "project.yaml"
    path.write_text(config, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# Measuring one run (worker)


class StageMeter:
    """Seconds and peak resident memory per stage (a sampler thread reads /proc/self/statm)."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.peak: dict[str, float] = {}
        self.page = os.sysconf("SC_PAGE_SIZE")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def rss(self) -> float:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * self.page / 2**20

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            now = self.rss()
            for name in list(self.stack):
                if now > self.peak.get(name, 0.0):
                    self.peak[name] = now

    def __enter__(self) -> StageMeter:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def wrap(self, func, name: str):
        @functools.wraps(func)
        def timed(*args, **kwargs):
            self.stack.append(name)
            now = self.rss()
            self.peak[name] = max(self.peak.get(name, 0.0), now)
            start, cpu = time.perf_counter(), time.process_time()
            try:
                return func(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
                self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - cpu
                self.calls[name] = self.calls.get(name, 0) + 1
                self.stack.remove(name)
        return timed


def worker(districts: int, respondents: int, out: Path, rank_draws: int | None = None,
           permutations: int | None = None) -> dict:
    """Generate the inputs, run the whole pipeline with stage timing; returns the measurements."""
    import importlib

    start = time.perf_counter()
    config = write_inputs(out / "inputs", districts, respondents, rank_draws=rank_draws,
                          permutations=permutations)
    generate_s = time.perf_counter() - start
    from geo_cohesion.project.config import load_project
    from geo_cohesion.project.run import run_project

    meter = StageMeter()
    for module_name, function, name in STAGES:
        module = importlib.import_module(module_name)
        setattr(module, function, meter.wrap(getattr(module, function), name))
    with meter:
        start = time.perf_counter()
        project = load_project(config)
        results = run_project(project, out / "results")
        total = time.perf_counter() - start
    files = [p for p in (out / "results").rglob("*") if p.is_file()]
    index = results[0].city_estimates.set_index("variable").loc["index"]
    return {"districts": districts, "respondents": respondents, "generate_s": generate_s, "total_s": total,
            "rank_draws": project.compare.rank_draws, "permutations": project.compare.permutations,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "stages": {name: {"seconds": meter.seconds.get(name, 0.0), "cpu_s": meter.cpu.get(name, 0.0),
                              "calls": meter.calls.get(name, 0),
                              "peak_rss_mb": meter.peak.get(name, float("nan"))}
                       for _, _, name in STAGES if name in meter.seconds},
            "files": len(files), "output_mb": sum(p.stat().st_size for p in files) / 2**20,
            "city_index": float(index["estimate"])}


# ---------------------------------------------------------------------------------------------
# Driver


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def run_size(districts: int, respondents: int, tmp: Path, timeout: float = TIMEOUT_S, extra: tuple = ()) -> dict:
    """One size in its own subprocess; a failure or timeout is returned as ``{"error": ...}``."""
    out = tmp / f"whole_{districts}"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--districts", str(districts),
           "--respondents", str(respondents), "--out", str(out), *extra]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=child_env(), cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"districts": districts, "respondents": respondents, "error": f"did not finish in {timeout:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])[:300]
        return {"districts": districts, "respondents": respondents,
                "error": f"exit code {proc.returncode}: {tail}"}
    return json.loads(lines[-1])


def exponent(sizes: list[float], values: list[float]) -> float:
    """Slope of log(value) on log(size) (the growth exponent)."""
    if len(sizes) < 2:
        return float("nan")
    return float(np.polyfit(np.log(sizes), np.log(values), 1)[0])


def report(results: list[dict]) -> str:
    """Markdown: totals per size, then seconds and peak memory per stage, with growth exponents."""
    ok = [r for r in results if "error" not in r]
    lines = ["| districts | respondents | whole run (s) | max RSS (MB) | output files | output (MB) |",
             "|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['districts']:,} | {r['respondents']:,} | failed: {r['error']} | | | |")
        else:
            lines.append(f"| {r['districts']:,} | {r['respondents']:,} | {r['total_s']:.1f} | {r['max_rss_mb']:,.0f} | "
                         f"{r['files']} | {r['output_mb']:.1f} |")
    if len(ok) >= 2:
        sizes = [r["districts"] for r in ok]
        lines += ["", f"Growth exponent of the whole run in districts: "
                  f"{exponent(sizes, [r['total_s'] for r in ok]):.2f} (1 = linear)."]
    if ok:
        names = [name for _, _, name in STAGES if any(name in r["stages"] for r in ok)]
        head = " | ".join(f"{r['districts']:,}: s / peak MB" for r in ok)
        lines += ["", f"| stage | {head} | exponent |", "|---|" + "---:|" * (len(ok) + 1)]
        for name in names:
            cells, secs, sizes = [], [], []
            for r in ok:
                stage = r["stages"].get(name)
                if stage is None:
                    cells.append("–")
                    continue
                cells.append(f"{stage['seconds']:.2f} / {stage['peak_rss_mb']:,.0f}")
                if stage["seconds"] > 0.05:
                    secs.append(stage["seconds"])
                    sizes.append(r["districts"])
            slope = exponent(sizes, secs) if len(sizes) >= 2 else float("nan")
            lines.append(f"| {name} | {' | '.join(cells)} | {'' if math.isnan(slope) else f'{slope:.2f}'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--districts", type=int, nargs="*")
    parser.add_argument("--respondents", type=int, default=RESPONDENTS)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--rank-draws", type=int, help="compare.rank_draws (default: the project default)")
    parser.add_argument("--permutations", type=int, help="compare.permutations (default: the project default)")
    parser.add_argument("--json", type=Path, help="driver: append each size's result to this JSON-lines file")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.districts[0], args.respondents, args.out, args.rank_draws, args.permutations)))
        return
    import tempfile

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for districts in args.districts or SIZES:
            extra = [a for k, v in (("--rank-draws", args.rank_draws), ("--permutations", args.permutations))
                     if v is not None for a in (k, str(v))]
            result = run_size(districts, args.respondents, Path(tmp), extra=tuple(extra))
            print(json.dumps(result), flush=True)
            if args.json:
                with args.json.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(result) + "\n")
            results.append(result)
    print(report(results))


if __name__ == "__main__":
    main()
