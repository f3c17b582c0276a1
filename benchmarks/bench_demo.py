"""Benchmark: the full demo (``geo-cohesion demo``), timed by stage.

Run: ``python benchmarks/bench_demo.py [--write]``

The demo's four synthetic cities go through the same code as ``geo-cohesion demo``
(:func:`geo_cohesion.project.run.run_project`). Each stage function is wrapped by a timer for the
duration of the run (nothing in the package is changed); stages do not overlap, and "other" is
the rest of the time (configuration, metadata, the output folder's commit). Each stage gets its
wall time and its CPU time (user + system, with the figure worker processes it started): on a
shared machine the CPU times vary less than the wall times, which show the parallel gain.

Two configurations are measured in the same run, one after the other:

* **baseline**: figures and reports as before issue #18's speed work: PNG, PDF and SVG, PNG at
  zlib level 6 with Pillow's row filters, PDF fonts subset by matplotlib (with their OpenType
  layout tables), every city, figure and report document one after another
  (``estimates.workers: 1``, ``maps.figure_workers: 1``;
  :data:`geo_cohesion.maps.encoding.FAST_ENCODING` off);
* **current**: the defaults (``maps.figure_formats: [png, pdf]``, PNG at level 1 with unfiltered
  rows, lean PDF font subsets, ``estimates.workers: 0`` and ``maps.figure_workers: 0`` = one
  process per core for the cities, the print maps, the comparison figures and the reports).

Both run BLAS on one thread while the cities are computed (the package does that since issue
#18's second speed round; ``benchmarks/bench_blas_threads.py`` measures it on its own). The
cities stage's parts (estimation, comparison, merging, map layers) are timed only where they run
in this process, i.e. in the baseline.

With ``--write`` the table replaces the ``demo-stages`` section of ``benchmarks/RESULTS.md``.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
BEGIN, END = "<!-- BEGIN demo-stages -->", "<!-- END demo-stages -->"

#: (label, module, function): non-overlapping stages of a run, in pipeline order.
STAGES = [
    ("synthetic inputs", "geo_cohesion.demo.synthetic", "write_demo_inputs"),
    ("boundaries", "geo_cohesion.project.run", "read_city_boundaries"),
    ("cities: estimation, comparison, map layers", "geo_cohesion.project.run", "compute_cities"),
    ("tables", "geo_cohesion.project.run", "write_tables"),
    ("comparison tables", "geo_cohesion.project.analysis", "write_comparison_tables"),
    ("need, change and priority tables", "geo_cohesion.project.need", "write_need_outputs"),
    ("HTML maps", "geo_cohesion.maps.html", "write_html_map"),
    ("print maps", "geo_cohesion.maps.parallel", "write_figures"),
    ("comparison figures", "geo_cohesion.project.analysis", "write_comparison_figures"),
    ("exports (CSV de, XLSX, GeoPackage)", "geo_cohesion.report.exports", "write_exports"),
    ("reports and profiles (HTML, PDF)", "geo_cohesion.report.build", "write_reports"),
]
#: Parts of the cities stage, timed only where they run in this process (one city after another,
#: ``estimates.workers: 1``); with city processes they run in the workers and show as "–".
SUBSTAGES = [
    ("of which estimation (read, rake, SE, small-area)", "geo_cohesion.project.run", "run_city"),
    ("of which comparison and spatial statistics", "geo_cohesion.project.analysis", "compare_city"),
    ("of which merging small districts", "geo_cohesion.project.run", "merge_city"),
    ("of which map layers", "geo_cohesion.project.run", "city_maps"),
]


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the figure workers), user + system."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@contextlib.contextmanager
def timed_stages(totals: dict[str, float]) -> Iterator[None]:
    """Wrap every stage function so its wall time is added to ``totals[label]`` and its CPU time
    (with the worker processes it started) to ``totals[label + " cpu"]``."""
    import importlib

    originals = []
    for label, module_name, name in [*STAGES, *SUBSTAGES]:
        module = importlib.import_module(module_name)
        original = getattr(module, name)

        def wrapper(*args, _original=original, _label=label, **kwargs):
            start, cpu = time.perf_counter(), cpu_seconds()
            try:
                return _original(*args, **kwargs)
            finally:
                totals[_label] += time.perf_counter() - start
                totals[_label + " cpu"] += cpu_seconds() - cpu

        setattr(module, name, wrapper)
        originals.append((module, name, original))
    try:
        yield
    finally:
        for module, name, original in originals:
            setattr(module, name, original)


def run_demo(baseline: bool) -> dict[str, float]:
    """One demo run into a temporary folder; seconds per stage plus ``other`` and ``total``."""
    import geo_cohesion.demo.synthetic as synthetic
    from geo_cohesion.maps import encoding, figures
    from geo_cohesion.project.config import load_project
    from geo_cohesion.project.run import run_project
    from geo_cohesion.settings import override

    totals: dict[str, float] = defaultdict(float)
    level = figures.PNG_COMPRESS_LEVEL
    with tempfile.TemporaryDirectory() as tmp, timed_stages(totals):
        start, cpu = time.perf_counter(), cpu_seconds()
        project_file = synthetic.write_demo_inputs(Path(tmp) / "demo_inputs")
        project = load_project(project_file)
        if baseline:
            project = override(project, {"maps": {"figure_formats": ["png", "pdf", "svg"], "figure_workers": 1},
                                         "estimates": {"workers": 1}})
            figures.PNG_COMPRESS_LEVEL = 6
            encoding.FAST_ENCODING = False
        try:
            run_project(project, Path(tmp) / "out")
        finally:
            figures.PNG_COMPRESS_LEVEL = level
            encoding.FAST_ENCODING = True
        total, total_cpu = time.perf_counter() - start, cpu_seconds() - cpu
    out = {label: totals.get(label, 0.0) for label, _, _ in STAGES}
    out["other"] = total - sum(out.values())
    out["total"] = total
    cpu_out = {f"{label} cpu": totals.get(f"{label} cpu", 0.0) for label, _, _ in STAGES}
    cpu_out["other cpu"] = total_cpu - sum(cpu_out.values())
    cpu_out["total cpu"] = total_cpu
    sub = {key: totals[key] for label, _, _ in SUBSTAGES for key in (label, f"{label} cpu") if key in totals}
    return out | cpu_out | sub


def table(baseline: dict[str, float], current: dict[str, float]) -> str:
    lines = ["| stage | baseline CPU (s) | current CPU (s) | CPU ratio | baseline wall (s) | current wall (s) |",
             "|---|---:|---:|---:|---:|---:|"]
    def cell(run: dict[str, float], key: str) -> str:
        return f"{run[key]:.1f}" if key in run else "–"

    labels = [s[0] for s in STAGES]
    cut = labels.index("cities: estimation, comparison, map layers") + 1  # its parts right below it
    for label in [*labels[:cut], *(s[0] for s in SUBSTAGES), *labels[cut:], "other", "total"]:
        b, c = baseline.get(f"{label} cpu"), current.get(f"{label} cpu")
        ratio = f"{c / b:.2f}" if b is not None and c is not None and b > 0.05 else "–"
        name = f"**{label}**" if label == "total" else label
        lines.append(f"| {name} | {cell(baseline, label + ' cpu')} | {cell(current, label + ' cpu')} | {ratio} | "
                     f"{cell(baseline, label)} | {cell(current, label)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="record the table in benchmarks/RESULTS.md")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent))
    baseline = run_demo(baseline=True)
    current = run_demo(baseline=False)
    text = table(baseline, current)
    load = os.getloadavg()
    header = (f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} CPUs, Python {platform.python_version()}, "
              f"load average at the end {load[0]:.1f} (other processes inflate wall times, and "
              "CPU times less so).")
    print(header)
    print(text)
    if args.write:
        section = f"{BEGIN}\n{header}\n\n{text}\n{END}"
        old = RESULTS.read_text(encoding="utf-8")
        if BEGIN in old:
            new = old[:old.index(BEGIN)] + section + old[old.index(END) + len(END):]
        else:
            new = old.rstrip("\n") + "\n\n## The demo by stage (issue #18)\n\n" + section + "\n"
        RESULTS.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    main()
