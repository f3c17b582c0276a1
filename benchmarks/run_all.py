"""Run the estimation benchmarks in one go and record them in benchmarks/RESULTS.md.

Usage::

    python benchmarks/run_all.py            # full suite (~15-30 min), rewrites its RESULTS.md section
    python benchmarks/run_all.py --quick    # smaller sizes and budgets, prints only (add --write to record)

Parts:

1. ``bench_linearise``: calibration-aware linearised SEs at 10k / 100k / 1M / 5M respondents
   (200 districts) and 12 / 200 / 2,000 / 20,000 districts (100k respondents): time, peak memory
   (one subprocess per size), growth exponents, against the old dense algorithm and R ``survey``
   measured in the same run.
2. ``bench_estimates``: the issue #2 check (100k x 9 x 200 under 0.5 s, agreement with a dense
   textbook computation), printed as is.
3. :func:`bench_whole_run`: whole-pipeline runs (``run_project``: reading, raking, estimation,
   comparison and rank intervals, spatial statistics, maps, figures, exports, reports) at 200 /
   2,000 / 20,000 districts, time and peak memory per stage (``bench_whole_run.py``).

The section between the ``BEGIN/END linearise-scaling`` markers of RESULTS.md is replaced; the
other sections are left alone.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_linearise
import bench_whole_run as bench_whole_run_module

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
BEGIN, END = "<!-- BEGIN linearise-scaling -->", "<!-- END linearise-scaling -->"


def machine() -> list[str]:
    """nproc, RAM, CPU model, load, Python/numpy/scipy versions, BLAS, R."""
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as fh:
        mem_kb = next(int(line.split()[1]) for line in fh if line.startswith("MemTotal"))
    try:
        blas_info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas_info.get('name')} {blas_info.get('version')}"
    except Exception:  # older numpy: no dict mode
        blas = "unknown"
    threads = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
               if k in os.environ}
    r_line = bench_linearise.r_version() if bench_linearise.r_available() is None else bench_linearise.r_available()
    return [f"nproc {os.cpu_count()}, RAM {mem_kb / 2**20:.1f} GiB, CPU {cpu}",
            (f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
            f"BLAS {blas} (threads: {threads or 'library default'})"),
            f"R: {r_line}",
            f"load average at start {os.getloadavg()[0]:.1f} (1 min)"]


def bench_whole_run(quick: bool, tmp: Path) -> str:
    """Whole-pipeline runs at 200 / 2,000 / 20,000 districts (``bench_whole_run``), one subprocess each.

    A synthetic city (square districts, population, structural data, a survey of 120,000
    respondents at every size; 12,000 and 200 / 2,000 districts with ``--quick``) is run through
    ``run_project`` with the project defaults; time and peak memory per stage and the growth
    exponents come back as a markdown section.

    Parameters
    ----------
    quick : bool
        Smaller sizes for ``--quick``.
    tmp : Path
        Folder for the generated inputs and outputs.

    Returns
    -------
    str
        Markdown for RESULTS.md.
    """
    sizes = bench_whole_run_module.QUICK_SIZES if quick else bench_whole_run_module.SIZES
    respondents = bench_whole_run_module.QUICK_RESPONDENTS if quick else bench_whole_run_module.RESPONDENTS
    results = []
    for districts in sizes:
        print(f"  whole run, {districts:,} districts ...", flush=True)
        results.append(bench_whole_run_module.run_size(districts, respondents, tmp))
    return ("### Whole run (`bench_whole_run.py`)\n\n" + bench_whole_run_module.report(results))


def bench_estimates(quick: bool) -> str:
    cmd = [sys.executable, str(HERE / "bench_estimates.py")] + (["--quick"] if quick else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=HERE.parent,
                          env=bench_linearise.child_env())
    return (proc.stdout + proc.stderr).strip()


def write_section(text: str) -> None:
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    block = f"{BEGIN}\n{text.rstrip()}\n{END}"
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        current = head + block + tail
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(current, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and time budgets")
    parser.add_argument("--write", action="store_true", help="with --quick: record in RESULTS.md anyway")
    parser.add_argument("--no-r", action="store_true", help="skip R survey")
    parser.add_argument("--blas-threads", type=int,
                        help="set OPENBLAS/OMP/MKL_NUM_THREADS for the measured subprocesses (default: "
                             "library default); 1 avoids spin-wait slowdowns on a shared, oversubscribed machine")
    args = parser.parse_args()
    if args.blas_threads:
        for key in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[key] = str(args.blas_threads)      # inherited by the worker and R processes
    started = time.perf_counter()
    when = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    load_start = os.getloadavg()[0]
    info = machine()
    print("\n".join(info))
    r_reason = "disabled with --no-r" if args.no_r else bench_linearise.r_available()
    if r_reason:
        print(f"R survey skipped: {r_reason}")
    sections, all_notes = [], []
    sweeps = bench_linearise.QUICK_SWEEPS if args.quick else bench_linearise.SWEEPS
    with tempfile.TemporaryDirectory() as tmp:
        for name, sizes in sweeps.items():
            print(f"\n{name} sweep")
            body, notes = bench_linearise.report(
                bench_linearise.run_sweep(name, sizes, Path(tmp), args.quick, r_reason))
            print(body)
            for note in notes:
                print(f"  note: {note}")
            sections.append((name, body))
            all_notes += notes
        print("\nwhole-run benchmarks")
        whole = bench_whole_run(args.quick, Path(tmp))
        print(whole)
    issue2 = bench_estimates(args.quick)
    print("\nbench_estimates.py:\n" + issue2)
    load_end = os.getloadavg()[0]
    minutes = (time.perf_counter() - started) / 60
    print(f"\ntotal {minutes:.1f} min, load average at end {load_end:.1f}")
    if args.quick and not args.write:
        return
    text = [(f"## Linearised SEs: scaling in respondents and districts (`python benchmarks/run_all.py"
            f"{' --quick' if args.quick else ''}`)"), "",
            f"Run {when}, {minutes:.0f} min. Machine: " + "; ".join(info)
            + f"; load average at end {load_end:.1f}.", "",
            ("9 variables, raked on age (4) x sex (2) x district, 2 strata; one subprocess per size. "
            "`new` = geo-cohesion (`domain_means`; `contrast` = `deviations_from_city`), `old` = the "
            "dense algorithm before this change (copy in `bench_linearise.py`), R = "
            "`calibrate(calfun=\"raking\")` + `svyby(svymean)` per variable. Seconds are the best of 3 "
            "(1 at >= 1M respondents); *est. peak* is the peak of traced allocations during one "
            "`domain_means` call (tracemalloc), *max RSS* the whole subprocess (data, raking, "
            "estimation).")]
    if max(load_start, load_end) > (os.cpu_count() or 1):
        text += ["", (f"The machine was shared during this run (load average {load_start:.1f} at start, "
                 f"{load_end:.1f} at end, on {os.cpu_count()} cores): absolute times are inflated and "
                 "noisy; the ratios and exponents within the run are the meaningful numbers.")]
    for name, body in sections:
        text += ["", f"### {name.capitalize()} {'sweep' if name != 'small' else 'case'}", "", body]
    if all_notes:
        text += ["", "Skipped or failed:", ""] + [f"- {note}" for note in all_notes]
    text += ["", whole, "", "`bench_estimates.py` in the same run:", "", "```", issue2, "```"]
    write_section("\n".join(text))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
