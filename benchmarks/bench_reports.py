"""Benchmark: time to write the reports and exports of the demo (74 districts in 4 cities).

Run: ``python benchmarks/bench_reports.py [OUT]``

Runs the demo pipeline once without reports (not timed), then times, in wall-clock and CPU seconds:
the exports (German CSVs, workbook, GeoPackages), the 74 district profiles (HTML + PDF) and the 4
city reports. Baseline for the profiles, measured in the same run: a fresh matplotlib radar
figure per district (instead of one figure per city updated per district). Goal (issue #16): all
profile PDFs add no more than ~20 s.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from geo_cohesion.demo.synthetic import write_demo_inputs
from geo_cohesion.project import run as pipeline
from geo_cohesion.project.analysis import write_comparison_tables
from geo_cohesion.project.config import load_project
from geo_cohesion.project.reporting import report_inputs, report_settings
from geo_cohesion.report.build import ReportTimings, radar_for_city, write_reports
from geo_cohesion.report.charts import radar_chart, svg_bytes
from geo_cohesion.report.exports import write_exports
from geo_cohesion.report.profile import radar_series


def timed(func, *args):
    wall, cpu = time.perf_counter(), time.process_time()
    result = func(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main(out: Path) -> None:
    project = load_project(write_demo_inputs(out / "demo_inputs"))
    project.maps.figures = False
    boundaries = [pipeline.read_city_boundaries(c, project) for c in project.cities]
    results = [pipeline.run_city(c, project) for c in project.cities]
    outputs = [pipeline.analyse_city(r, project, True, b) for r, b in zip(results, boundaries)]
    tables = pipeline.write_tables(results, project, out) + write_comparison_tables(outputs, project, out)
    cities, settings = report_inputs(outputs, project), report_settings(project)
    n = sum(c.district_estimates["district_id"].nunique() for c in cities)

    _, wall, cpu = timed(write_exports, cities, settings, out, tables)
    print(f"exports (CSV x {len(tables)}, workbook, 4 GeoPackages) : {wall:6.1f} s wall {cpu:6.1f} s CPU")
    timings = ReportTimings()
    _, wall, cpu = timed(write_reports, cities, settings, out, timings)
    print(f"reports: {timings.documents} profiles + {len(cities)} city reports, HTML + PDF : "
          f"{wall:6.1f} s wall {cpu:6.1f} s CPU")
    print(f"  of which charts {timings.charts:.1f} s, HTML {timings.html:.1f} s, PDF (typst) {timings.pdf:.1f} s "
          f"(CPU); {n} districts")

    def radars_once_per_city():
        for city in cities:
            chart = radar_for_city(city, settings)
            for d in city.district_estimates["district_id"].astype(str).unique():
                s = radar_series(city, d)
                chart.svg(s["value"], s["low"], s["high"], s["direction"], s["name"])
            chart.close()

    def radars_fresh_figure():
        for city in cities:
            for d in city.district_estimates["district_id"].astype(str).unique():
                s = radar_series(city, d)
                svg_bytes(radar_chart(s["labels"], s["value"], s["low"], s["high"], s["city"], s["direction"],
                                      s["name"], city.name))

    _, _, ours = timed(radars_once_per_city)
    _, _, base = timed(radars_fresh_figure)
    print(f"radar charts, one figure per city   : {ours:6.1f} s CPU")
    print(f"baseline, a new figure per district : {base:6.1f} s CPU  ratio {base / ours:.1f}x")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
