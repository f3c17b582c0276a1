"""Benchmark: calibration-aware linearised SEs as respondents and districts grow.

Run through ``python benchmarks/run_all.py [--quick]`` (this module is its scaling part); one size
alone: ``python benchmarks/bench_linearise.py --worker --n 100000 --districts 2000 --method new``.

Two sweeps, 9 variables, raked on age (4) x sex (2) x district, 2 strata:

* respondents: 10k / 100k / 1M / 5M at 200 districts;
* districts: 12 / 200 / 2,000 / 20,000 at 100k respondents;
* small: 10k respondents x 12 districts, where R finishes quickly (agreement with R).

Every size runs in its own subprocess (so peak memory is that size's alone) for three methods,
measured in the same run on the same data:

* ``new``: geo-cohesion as it is (``SurveyDesign.domain_means`` and ``compare.deviations_from_city``,
  which use the contrast path);
* ``old``: the dense algorithm before the structured projection (a verbatim copy below,
  ``dense_linearised_domain_variance``), swapped into the same functions. It forms ``X'DX`` over
  all margin categories and ``(categories x domains)`` coefficient and fitted-value arrays, so it
  grows with the square/cube of the districts; it runs only where ``domain_means`` is predicted to
  finish within ``OLD_BUDGET_S`` seconds (the subprocess is stopped at 3x that);
* ``R``: ``survey::calibrate(..., calfun = "raking")`` + ``svyby(svymean)`` per variable
  (``bench_r_survey.R``) where ``Rscript`` and the package exist and the run is predicted to take
  less than ``R_BUDGET_S`` seconds (hard timeout at that budget).

Reported per size: seconds (best of ``repeat`` for the new method), peak memory (the process's
maximum resident set from ``getrusage``, and for the new method the peak of Python-traced
allocations during one ``domain_means`` call, i.e. the estimation's own memory, from
``tracemalloc``), ratios old/new and R/new, the largest relative SE difference between methods,
and per sweep the fitted growth exponent (slope of log time on log size).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
N_VARS = 9
AGES = ["18-34", "35-49", "50-64", "65+"]
SEXES = ["m", "w"]
OLD_BUDGET_S = 60.0
R_BUDGET_S = 120.0
NEW_TIMEOUT_S = 900.0
SWEEPS = {
    "respondents": [(10_000, 200), (100_000, 200), (1_000_000, 200), (5_000_000, 200)],
    "districts": [(100_000, 12), (100_000, 200), (100_000, 2_000), (100_000, 20_000)],
    "small": [(10_000, 12)],     # a size R survey finishes quickly: agreement with R in the same run
}
QUICK_SWEEPS = {
    "respondents": [(10_000, 200), (100_000, 200), (1_000_000, 200)],
    "districts": [(100_000, 12), (100_000, 200), (100_000, 2_000), (100_000, 20_000)],
    "small": [(10_000, 12)],
}
QUICK_OLD_BUDGET_S = 15.0
QUICK_R_BUDGET_S = 30.0


# --------------------------------------------------------------------------------------- data
def district_labels(n_districts: int) -> list[str]:
    """Zero-padded labels, so text order (ours and R's) is numeric order."""
    return [f"D{i:05d}" for i in range(n_districts)]


def make_data(n: int, n_districts: int, n_vars: int = N_VARS, seed: int = 1) -> tuple[pd.DataFrame, dict]:
    """A survey with categorical margins (compact at 5M rows) and population margins."""
    rng = np.random.default_rng(seed)
    district = rng.integers(0, n_districts, n)
    district[: min(n, n_districts)] = np.arange(min(n, n_districts))   # every district present
    labels = district_labels(n_districts)
    stratum = (rng.random(n) < 0.2).astype(np.int8)
    frame = pd.DataFrame({
        "district": pd.Categorical.from_codes(district, categories=labels),
        "age": pd.Categorical.from_codes(rng.integers(0, len(AGES), n), categories=AGES),
        "sex": pd.Categorical.from_codes(rng.integers(0, len(SEXES), n), categories=SEXES),
        "stratum": pd.Categorical.from_codes(stratum, categories=["a", "b"]),
        "dw": np.where(stratum == 0, 100.0, 60.0),
    })
    for v in range(n_vars):
        values = rng.uniform(0, 100, n)
        values[rng.random(n) < 0.03] = np.nan
        frame[f"v{v}"] = values
    total = 1e7
    margins = {
        "age": dict.fromkeys(AGES, 0.25 * total),
        "sex": {"m": 0.49 * total, "w": 0.51 * total},
        "district": dict.fromkeys(labels, total / n_districts),
    }
    return frame, margins


def write_r_inputs(frame: pd.DataFrame, margins: dict, folder: Path) -> tuple[Path, Path]:
    data_csv, margins_csv = folder / "survey.csv", folder / "margins.csv"
    frame.to_csv(data_csv, index=False, float_format="%.17g")
    rows = [(var, cat, tot) for var, table in margins.items() for cat, tot in table.items()]
    pd.DataFrame(rows, columns=["variable", "category", "population"]).to_csv(margins_csv, index=False,
                                                                           float_format="%.17g")
    return data_csv, margins_csv


# ------------------------------------------------------------- the old algorithm (the baseline)
# Verbatim copy of geo_cohesion/estimation.py at commit d047dd0 (before the structured
# projection), kept here so the baseline does not change when the package does.
def _old_group(*codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    combined = np.zeros(codes[0].shape[0], dtype=np.int64)
    radix = 1
    for code in reversed(codes):
        size = int(code.max()) + 1 if code.size else 1
        combined += code.astype(np.int64) * radix
        radix *= size
    if radix <= 4 * combined.size + 1_000_000:
        present = np.bincount(combined, minlength=radix) > 0
        ids = np.cumsum(present) - 1
        inverse = ids[combined]
    else:
        _, inverse = np.unique(combined, return_inverse=True)
    inverse = inverse.astype(np.intp)
    first = np.full(int(inverse.max()) + 1 if inverse.size else 0, combined.size, dtype=np.intp)
    np.minimum.at(first, inverse, np.arange(combined.size, dtype=np.intp))
    return inverse, first


def _old_column_sums(codes: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    values = values.reshape(values.shape[0], -1)
    return np.column_stack([np.bincount(codes, weights=values[:, v], minlength=size)
                            for v in range(values.shape[1])]) if values.shape[1] else np.empty((size, 0))


def dense_linearised_domain_variance(y, weights, domain, n_domains, strata, design_weights=None,
                                     margin_codes=(), contrast=False) -> dict[str, np.ndarray]:
    """The pre-change algorithm: dense pinv of X'DX, (p, G) coefficients, (cells, G) fitted values."""
    _n, n_vars = y.shape
    observed = ~np.isnan(y)
    y0 = np.where(observed, y, 0.0)
    w = np.asarray(weights, dtype=float)
    n_strata = int(strata.max()) + 1
    stratum_size = np.bincount(strata, minlength=n_strata).astype(float)

    def per_domain(values: np.ndarray) -> np.ndarray:  # (n, V) -> (G, V)
        return _old_column_sums(domain, values, n_domains)

    sum_w = per_domain(observed * w[:, None])
    sum_w2 = per_domain(observed * (w**2)[:, None])
    count = per_domain(observed.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = per_domain(y0 * w[:, None]) / sum_w
        u = np.where(observed, (y0 - mean[domain]) / sum_w[domain], 0.0)
    u = np.nan_to_num(u)
    if contrast:
        total_w = (observed * w[:, None]).sum(axis=0)
        overall = (y0 * w[:, None]).sum(axis=0) / total_w
        b = np.where(observed, (y0 - overall) / total_w, 0.0)

    cell_codes = [strata, *margin_codes]
    cellg, first = _old_group(*cell_codes, domain)
    n_cellg = first.size
    g_of = domain[first]
    h_of = strata[first]

    def per_cellg(values: np.ndarray) -> np.ndarray:  # (n, V) -> (K, V)
        return _old_column_sums(cellg, values, n_cellg)

    wu = per_cellg(u * w[:, None])
    w2u2 = per_cellg(u**2 * (w**2)[:, None])
    hg = h_of * n_domains + g_of
    size_hg = n_strata * n_domains

    def to_hg(values: np.ndarray) -> np.ndarray:  # (K, V) -> (H, G, V)
        return _old_column_sums(hg, values, size_hg).reshape(n_strata, n_domains, n_vars)

    sum_z = to_hg(wu)
    sum_z2 = to_hg(w2u2)
    if contrast:
        sum_b = _old_column_sums(strata, b * w[:, None], n_strata)
        sum_b2 = _old_column_sums(strata, b**2 * (w**2)[:, None], n_strata)
        cross_ab = to_hg(per_cellg(u * b * (w**2)[:, None]))

    if margin_codes:
        d = np.asarray(design_weights, dtype=float)
        sizes = [int(c.max()) + 1 for c in margin_codes]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        p = int(sum(sizes))
        cell, cell_first = _old_group(*cell_codes)
        n_cell = cell_first.size
        cols = np.stack([c[cell_first] + o for c, o in zip(margin_codes, offsets)], axis=1)
        rows = np.repeat(np.arange(n_cell), len(margin_codes))
        x_cell = sparse.csr_matrix((np.ones(rows.size), (rows, cols.ravel())), shape=(n_cell, p))
        d_cell = np.bincount(cell, weights=d, minlength=n_cell)
        w_cell = np.bincount(cell, weights=w, minlength=n_cell)
        w2_cell = np.bincount(cell, weights=w**2, minlength=n_cell)
        h_cell = strata[cell_first]
        xdx = (x_cell.T @ sparse.diags(d_cell) @ x_cell).toarray()
        xdx_pinv = np.linalg.pinv(xdx, hermitian=True)
        cell_of_cellg = cell[first]
        x_cellg = x_cell[cell_of_cellg]
        du = per_cellg(u * d[:, None])
        h_onehot_w = sparse.csr_matrix((w_cell, (h_cell, np.arange(n_cell))), shape=(n_strata, n_cell))
        h_onehot_w2 = sparse.csr_matrix((w2_cell, (h_cell, np.arange(n_cell))), shape=(n_strata, n_cell))
        w2u = per_cellg(u * (w**2)[:, None])
        if contrast:
            db_cell = _old_column_sums(cell, b * d[:, None], n_cell)
            w2b_cell = _old_column_sums(cell, b * (w**2)[:, None], n_cell)
            gamma = xdx_pinv @ (x_cell.T @ db_cell)
            onehot = sparse.csr_matrix((np.ones(n_cell), (h_cell, np.arange(n_cell))), shape=(n_strata, n_cell))
            fit_b = x_cell @ gamma
        for v in range(n_vars):
            dom_du = sparse.csr_matrix((du[:, v], (np.arange(n_cellg), g_of)), shape=(n_cellg, n_domains))
            beta = xdx_pinv @ (x_cellg.T @ dom_du).toarray()
            fitted = x_cell @ beta
            sum_fit_w = h_onehot_w @ fitted
            sum_fit2_w2 = h_onehot_w2 @ (fitted**2)
            cross = np.bincount(hg, weights=w2u[:, v] * fitted[cell_of_cellg, g_of],
                                minlength=size_hg).reshape(n_strata, n_domains)
            sum_z[:, :, v] -= sum_fit_w
            sum_z2[:, :, v] += sum_fit2_w2 - 2.0 * cross
            if contrast:
                fb = fit_b[:, v]
                sum_b[:, v] -= onehot @ (w_cell * fb)
                sum_b2[:, v] += onehot @ (w2_cell * fb**2) - 2.0 * (onehot @ (w2b_cell[:, v] * fb))
                term2 = np.bincount(hg, weights=w2u[:, v] * fb[cell_of_cellg], minlength=size_hg)
                term3 = onehot @ (w2b_cell[:, v][:, None] * fitted)
                term4 = onehot @ ((w2_cell * fb)[:, None] * fitted)
                cross_ab[:, :, v] += -term2.reshape(n_strata, n_domains) - term3 + term4

    factor = (stratum_size / (stratum_size - 1.0))[:, None, None]
    centred = sum_z2 - sum_z**2 / stratum_size[:, None, None]
    var = np.sum(factor * centred, axis=0)
    out = {"mean": mean, "var": np.maximum(var, 0.0), "n": count, "sum_w": sum_w, "sum_w2": sum_w2}
    if contrast:
        diff_sum = sum_z - sum_b[:, None, :]
        diff_sq = sum_z2 + sum_b2[:, None, :] - 2.0 * cross_ab
        var_c = np.sum(factor * (diff_sq - diff_sum**2 / stratum_size[:, None, None]), axis=0)
        out.update(overall=overall, var_contrast=np.maximum(var_c, 0.0))
    return out


def use_baseline() -> int:
    """Swap the old algorithm into every geo_cohesion module that holds the engine function
    (works before and after the move of estimation.py into the survey sub-package)."""
    swapped = 0
    for name, module in list(sys.modules.items()):
        if name.startswith("geo_cohesion") and hasattr(module, "linearised_domain_variance"):
            module.linearised_domain_variance = dense_linearised_domain_variance
            swapped += 1
    return swapped


# ------------------------------------------------------------------------------------ worker
def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(n: int, n_districts: int, method: str, repeat: int, trace: bool, se_out: str | None,
           r_dir: str | None) -> dict:
    """Time one size in this process; returns a JSON-able dict."""
    sys.path.insert(0, str(ROOT))
    from geo_cohesion.stats.compare import deviations_from_city
    from geo_cohesion.survey.design import SurveyDesign

    start = time.perf_counter()
    frame, margins = make_data(n, n_districts)
    if r_dir:
        write_r_inputs(frame, margins, Path(r_dir))
        return {"written": r_dir, "seconds": time.perf_counter() - start}
    t_data = time.perf_counter() - start
    variables = [f"v{i}" for i in range(N_VARS)]
    start = time.perf_counter()
    raked = SurveyDesign(frame, weight="dw", strata="stratum").rake(margins)
    t_rake = time.perf_counter() - start
    if method == "old" and not use_baseline():
        raise SystemExit("could not find the engine function to swap")
    rss_before = _rss_mb()
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = raked.domain_means(variables, "district")
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    deviations = deviations_from_city(raked, variables, "district", min_n=0)
    t_contrast = time.perf_counter() - start
    out = {"n": n, "districts": n_districts, "method": method, "seconds": min(times),
           "seconds_all": times, "contrast_seconds": t_contrast, "data_seconds": t_data,
           "rake_seconds": t_rake, "rss_before_mb": rss_before, "maxrss_mb": _maxrss_mb()}
    if trace:
        del result
        tracemalloc.start()
        result = raked.domain_means(variables, "district")
        out["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    if se_out:
        ordered = result.sort_values(["district", "variable"])
        np.savez(se_out, se=ordered["se"].to_numpy(), estimate=ordered["estimate"].to_numpy(),
                 district=ordered["district"].astype(str).to_numpy(), variable=ordered["variable"].to_numpy(),
                 contrast_se=deviations.sort_values(["district", "variable"])["se"].to_numpy())
    return out


# ---------------------------------------------------------------------------------- parent
def child_env() -> dict[str, str]:
    """The environment with this checkout first on the import path (not an installed copy)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _run(cmd: list[str], timeout: float, partial: dict | None = None
         ) -> tuple[subprocess.CompletedProcess | None, float]:
    """Run ``cmd``; None on timeout (then ``partial['stderr']`` holds what it wrote so far)."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False,
                              env=child_env())
    except subprocess.TimeoutExpired as exc:
        if partial is not None:
            err = exc.stderr or b""
            partial["stderr"] = err.decode(errors="replace") if isinstance(err, bytes) else err
        return None, time.perf_counter() - start
    return proc, time.perf_counter() - start


def _r_progress(stderr: str) -> dict[str, float]:
    return {line.split()[1]: float(line.split()[2]) for line in stderr.splitlines()
            if line.startswith("TIME ") and len(line.split()) == 3}


def run_python(n: int, n_districts: int, method: str, folder: Path, timeout: float, repeat: int = 3,
               trace: bool = False) -> dict:
    se_file = folder / f"se_{method}_{n}_{n_districts}.npz"
    cmd = [sys.executable, str(Path(__file__)), "--worker", "--n", str(n), "--districts", str(n_districts),
           "--method", method, "--repeat", str(repeat), "--se-out", str(se_file)] + (["--trace"] if trace else [])
    proc, wall = _run(cmd, timeout)
    if proc is None:
        return {"status": f"timed out after {timeout:.0f} s", "wall": wall}
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"status": f"failed (exit {proc.returncode}): {' | '.join(tail)}", "wall": wall}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out.update(status="ok", wall=wall, se_file=str(se_file))
    return out


def r_available() -> str | None:
    """None if Rscript with the survey package can run, else the reason."""
    if shutil.which("Rscript") is None:
        return "Rscript not installed (apt-get install r-base-core r-cran-survey)"
    proc, _ = _run(["Rscript", "-e", ("suppressPackageStartupMessages(library(survey)); "
                    "cat(R.version$major, R.version$minor, as.character(packageVersion('survey')))")], 60)
    if proc is None or proc.returncode != 0:
        return "R package 'survey' not installed (apt-get install r-cran-survey)"
    return None


def r_version() -> str:
    proc, _ = _run(["Rscript", "-e", ("suppressPackageStartupMessages(library(survey)); "
                    "cat(R.version.string, '/ survey', as.character(packageVersion('survey')))")], 60)
    return proc.stdout.strip() if proc is not None and proc.returncode == 0 else "n/a"


def run_r(n: int, n_districts: int, folder: Path, timeout: float) -> dict:
    data_dir = folder / f"r_{n}_{n_districts}"
    data_dir.mkdir(exist_ok=True)
    proc, _ = _run([sys.executable, str(Path(__file__)), "--worker", "--n", str(n), "--districts",
                    str(n_districts), "--write-r", str(data_dir)], NEW_TIMEOUT_S)
    if proc is None or proc.returncode != 0:
        return {"status": "could not write the R input"}
    out_csv = data_dir / "r_out.csv"
    timer = ["/usr/bin/time", "-f", "MAXRSS_KB %M"] if Path("/usr/bin/time").exists() else []
    cmd = [*timer, "Rscript", str(HERE / "bench_r_survey.R"), str(data_dir / "survey.csv"),
           str(data_dir / "margins.csv"), str(out_csv)]
    partial: dict = {}
    proc, wall = _run(cmd, timeout, partial)
    if proc is None:
        done = _r_progress(partial.get("stderr", ""))
        by = [t for k, t in done.items() if k.startswith("svyby_")]
        if "calibrate" not in done:
            progress = "calibrate() alone did not finish"
        elif not by:
            progress = f"calibrate() took {done['calibrate']:.0f} s, no svyby() finished"
        else:
            total = done["calibrate"] + N_VARS * float(np.mean(by))
            progress = (f"calibrate() {done['calibrate']:.0f} s, svyby() {np.mean(by):.0f} s per variable "
                        f"({len(by)} of {N_VARS} done): about {total:,.0f} s for all (extrapolated)")
        return {"status": f"did not finish within {timeout:.0f} s ({progress})", "wall": wall}
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-2:]
        return {"status": f"failed (exit {proc.returncode}): {' | '.join(tail)}", "wall": wall}
    times = _r_progress(proc.stderr)
    svyby_total = sum(t for k, t in times.items() if k.startswith("svyby_"))
    rss = [line.split()[1] for line in proc.stderr.splitlines() if line.startswith("MAXRSS_KB ")]
    table = pd.read_csv(out_csv, dtype={"district": str}).sort_values(["district", "variable"])
    return {"status": "ok", "wall": wall, "calibrate_seconds": times["calibrate"],
            "svyby_seconds": svyby_total, "seconds": times["calibrate"] + svyby_total,
            "maxrss_mb": float(rss[0]) / 1024.0 if rss else float("nan"), "se": table["se"].to_numpy(),
            "district": table["district"].to_numpy(), "variable": table["variable"].to_numpy()}


def slope(sizes: list[float], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) on log(size)."""
    if len(sizes) < 2:
        return float("nan")
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def predict(sizes: list[float], seconds: list[float], size: float) -> tuple[float, float]:
    """Time at ``size`` extrapolated from the last two measured sizes (exponent >= 1; 1 from a
    single size, an optimistic guess that the hard timeout backs up) and the exponent used."""
    if not sizes:
        return 0.0, float("nan")
    k = max(slope(sizes[-2:], seconds[-2:]), 1.0) if len(sizes) >= 2 else 1.0
    return seconds[-1] * (size / sizes[-1]) ** k, k


def max_rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b) & (np.abs(b) > 0)
    return float(np.max(np.abs(a[ok] / b[ok] - 1.0))) if ok.any() else float("nan")


def run_sweep(name: str, sizes: list[tuple[int, int]], folder: Path, quick: bool, with_r: str | None,
              log=print) -> dict:
    """Run one sweep; ``with_r`` is None when R can run, else the reason it cannot."""
    old_budget = QUICK_OLD_BUDGET_S if quick else OLD_BUDGET_S
    r_budget = QUICK_R_BUDGET_S if quick else R_BUDGET_S
    axis = 0 if name == "respondents" else 1
    rows = []
    done = {"old": ([], []), "R": ([], [])}
    stop = {"old": None, "R": with_r}
    for n, n_districts in sizes:
        size = (n, n_districts)[axis]
        row = {"n": n, "districts": n_districts}
        log(f"  [{name}] n={n:,} districts={n_districts:,}: new ...")
        row["new"] = run_python(n, n_districts, "new", folder, NEW_TIMEOUT_S, repeat=1 if n >= 1_000_000 else 3,
                                trace=True)
        for method, budget in (("old", old_budget), ("R", r_budget)):
            sz, secs = done[method]
            if stop[method]:
                row[method] = {"status": f"skipped: {stop[method]}"}
                continue
            guess, k = predict(sz, secs, size)
            if guess > budget:
                reason = (f"predicted {guess:,.0f} s > {budget:.0f} s budget (extrapolated from "
                          f"{sz[-1]:,} {name} with exponent {k:.1f})")
                row[method] = {"status": f"skipped: {reason}"}
                stop[method] = reason
                continue
            log(f"  [{name}] n={n:,} districts={n_districts:,}: {method} ...")
            if method == "old":
                # hard limit: the subprocess also makes the data, rakes and runs the contrast path
                row[method] = run_python(n, n_districts, "old", folder, 3 * budget, repeat=1)
            else:
                row[method] = run_r(n, n_districts, folder, budget)
            if row[method]["status"] == "ok":
                sz.append(size)
                secs.append(row[method]["seconds"])
            else:
                stop[method] = f"a smaller size {row[method]['status']}"
        _agreement(row)
        rows.append(row)
    return {"name": name, "rows": rows}


def _agreement(row: dict) -> None:
    new = row["new"]
    if new.get("status") != "ok":
        return
    ours = np.load(new["se_file"], allow_pickle=True)
    old = row.get("old", {})
    if old.get("status") == "ok":
        theirs = np.load(old["se_file"], allow_pickle=True)
        row["diff_old"] = max(max_rel_diff(ours["se"], theirs["se"]),
                              max_rel_diff(ours["contrast_se"], theirs["contrast_se"]))
    r = row.get("R", {})
    if r.get("status") == "ok":
        key_ours = pd.MultiIndex.from_arrays([ours["district"], ours["variable"]])
        key_r = pd.MultiIndex.from_arrays([r["district"], r["variable"]])
        r_se = pd.Series(r["se"], index=key_r).reindex(key_ours).to_numpy()
        row["diff_r"] = max_rel_diff(ours["se"], r_se)


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def report(sweep: dict) -> tuple[str, list[str]]:
    """Markdown table, slopes and notes for one sweep."""
    name, rows = sweep["name"], sweep["rows"]
    axis = "n" if name == "respondents" else "districts"
    lines = [("| respondents | districts | new s | new contrast s | new est. peak MB | new max RSS MB "
             "| old s | old contrast s | old max RSS MB | old/new | R s (calibrate + svyby) | R max RSS MB "
             "| R/new | max rel. SE diff old, R |"),
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    notes = []
    for row in rows:
        new, old, r = row["new"], row.get("old", {}), row.get("R", {})
        if new.get("status") != "ok":
            notes.append(f"new at n={row['n']:,}, districts={row['districts']:,}: {new.get('status')}")
            continue
        ok_old, ok_r = old.get("status") == "ok", r.get("status") == "ok"
        r_time = (_fmt(r['seconds'], '.2f') + ' (' + _fmt(r['calibrate_seconds'], '.2f') + ' + '
                  + _fmt(r['svyby_seconds'], '.2f') + ')') if ok_r else '–'
        lines.append(
            f"| {row['n']:,} | {row['districts']:,} | {_fmt(new['seconds'])} | {_fmt(new['contrast_seconds'])} "
            f"| {_fmt(new.get('traced_peak_mb'), ',.0f')} | {_fmt(new['maxrss_mb'], ',.0f')} "
            f"| {_fmt(old['seconds']) if ok_old else '–'} | {_fmt(old['contrast_seconds']) if ok_old else '–'} "
            f"| {_fmt(old['maxrss_mb'], ',.0f') if ok_old else '–'} "
            f"| {_fmt(old['seconds'] / new['seconds'], '.1f') + '×' if ok_old else '–'} "
            f"| {r_time} "
            f"| {_fmt(r['maxrss_mb'], ',.0f') if ok_r else '–'} "
            f"| {_fmt(r['seconds'] / new['seconds'], '.0f') + '×' if ok_r else '–'} "
            f"| {_fmt(row.get('diff_old'), '.1e')}, {_fmt(row.get('diff_r'), '.1e')} |")
        for method, res in (("old", old), ("R", r)):
            status = res.get("status", "")
            if status and status != "ok":
                notes.append(f"{method} at n={row['n']:,}, districts={row['districts']:,}: {status}")
    summary = []
    for method in ("new", "old", "R"):
        pts = [(row[axis], row[method]["seconds"]) for row in rows if row.get(method, {}).get("status") == "ok"]
        if len(pts) >= 2:
            xs, ys = zip(*pts)
            local = slope(list(xs[-2:]), list(ys[-2:]))
            summary.append(f"{method}: exponent {slope(list(xs), list(ys)):.2f} over {xs[0]:,}–{xs[-1]:,} "
                           f"{axis} (last step {local:.2f})")
    if name == "respondents":
        big = [row for row in rows if row["n"] >= 5_000_000 and row["new"].get("status") == "ok"]
        for row in big:
            summary.append(f"memory at {row['n']:,} respondents: estimation peak (tracemalloc) "
                           f"{row['new']['traced_peak_mb']:,.0f} MB, whole process max RSS (data, raking, "
                           f"estimation) {row['new']['maxrss_mb']:,.0f} MB; goal <= 2,048 MB")
    else:
        by = {row["districts"]: row["new"] for row in rows if row["new"].get("status") == "ok"}
        if 200 in by and 20_000 in by:
            ratio = by[20_000]["seconds"] / by[200]["seconds"]
            summary.append(f"20,000 / 200 districts (new): {ratio:.1f}× (goal <= 50×): "
                           f"{'met' if ratio <= 50 else 'NOT met'}")
    body = "\n".join(lines) + "\n\n" + "\n".join(f"- {s}" for s in summary)
    return body, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help="time one size in this process (internal)")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--districts", type=int, default=200)
    parser.add_argument("--method", choices=["new", "old"], default="new")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--se-out")
    parser.add_argument("--write-r", help="write survey.csv and margins.csv for R into this folder")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.n, args.districts, args.method, args.repeat, args.trace, args.se_out,
                                args.write_r)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for name, sizes in (QUICK_SWEEPS if args.quick else SWEEPS).items():
            body, notes = report(run_sweep(name, sizes, Path(tmp), args.quick, r_available()))
            print(f"\n## {name}\n{body}")
            for note in notes:
                print(f"  note: {note}")


if __name__ == "__main__":
    main()
