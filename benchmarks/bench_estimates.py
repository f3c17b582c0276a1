"""Benchmark: raked district estimates for 100k respondents x 9 variables x 200 districts.

Run: ``python benchmarks/bench_estimates.py`` (add ``--quick`` for a smaller case).

Prints the time of geo-cohesion's vectorised linearisation (``SurveyDesign.rake`` +
``domain_means``) and ratios against two baselines measured in the same run:

* ``dense``: a straightforward implementation of the same formula that builds the n x (districts x
  variables) influence matrix in column chunks and projects it on the margin dummies with a sparse
  least-squares solve (what one would write first). Its numbers must agree with ours.
* ``groupby``: pandas weighted means per district without any standard errors (a lower bound).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import sparse

from geo_cohesion.survey.design import SurveyDesign


def make_data(n: int, n_districts: int, n_vars: int, seed: int = 1) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "district": rng.integers(0, n_districts, n).astype(str),
        "age": rng.choice(["18-34", "35-49", "50-64", "65+"], n),
        "sex": rng.choice(["w", "m"], n),
        "stratum": rng.choice(["a", "b"], n, p=[0.8, 0.2]),
    })
    frame["dw"] = np.where(frame["stratum"] == "a", 100.0, 60.0)
    for v in range(n_vars):
        frame[f"v{v}"] = np.where(rng.random(n) < 0.03, np.nan, rng.uniform(0, 100, n))
    total = 1e7
    margins = {
        "district": {str(d): total / n_districts for d in range(n_districts)},
        "age": {"18-34": 0.25 * total, "35-49": 0.25 * total, "50-64": 0.25 * total, "65+": 0.25 * total},
        "sex": {"w": 0.51 * total, "m": 0.49 * total},
    }
    return frame, margins


def dense_baseline(design: SurveyDesign, variables: list[str], by: str, chunk: int = 64) -> np.ndarray:
    """Textbook computation: z = w * (u - X b), b from design-weighted LS; variance per stratum."""
    data = design.data
    w = design.weights.to_numpy()
    d = design.design_weights.to_numpy()
    strata = pd.factorize(data[design.strata])[0] if design.strata else np.zeros(len(data), int)
    cal = design.calibration
    sizes = [len(c) for c in cal.categories]
    offsets = np.cumsum([0, *sizes[:-1]])
    rows = np.repeat(np.arange(len(data)), len(sizes))
    cols = np.stack([c + o for c, o in zip(cal.codes, offsets)], axis=1).ravel()
    x = sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(len(data), sum(sizes)))
    xdx_pinv = np.linalg.pinv((x.T @ sparse.diags(d) @ x).toarray())
    domains = sorted(data[by].astype(str).unique())
    columns = [(g, v) for g in domains for v in variables]
    se = np.empty(len(columns))
    keys = data[by].astype(str).to_numpy()
    n_h = np.bincount(strata).astype(float)
    for start in range(0, len(columns), chunk):
        block = columns[start:start + chunk]
        u = np.zeros((len(data), len(block)))
        for j, (g, v) in enumerate(block):
            y = data[v].to_numpy()
            mask = (keys == g) & ~np.isnan(y)
            total = w[mask].sum()
            u[mask, j] = (y[mask] - np.sum(w[mask] * y[mask]) / total) / total
        beta = xdx_pinv @ (x.T @ (u * d[:, None]))
        z = w[:, None] * (u - x @ beta)
        var = np.zeros(len(block))
        for h in range(n_h.size):
            zh = z[strata == h]
            var += n_h[h] / (n_h[h] - 1) * ((zh - zh.mean(axis=0)) ** 2).sum(axis=0)
        se[start:start + len(block)] = np.sqrt(var)
    return se


def timed(func, repeat: int = 3):
    best, result = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k respondents, 50 districts")
    args = parser.parse_args()
    n, n_districts, n_vars = (10_000, 50, 9) if args.quick else (100_000, 200, 9)
    frame, margins = make_data(n, n_districts, n_vars)
    variables = [f"v{i}" for i in range(n_vars)]
    base = SurveyDesign(frame, weight="dw", strata="stratum")

    def rake_and_estimate() -> tuple[SurveyDesign, pd.DataFrame]:
        raked = base.rake(margins)
        return raked, raked.domain_means(variables, "district")

    t_ours, (raked, est) = timed(rake_and_estimate)
    t_rake, _ = timed(lambda: base.rake(margins))
    t_dense, dense_se = timed(lambda: dense_baseline(raked, variables, "district"), repeat=1)
    t_groupby, _ = timed(lambda: frame[variables].mul(raked.weights, axis=0).groupby(frame["district"]).sum()
                         .div(frame[variables].notna().mul(raked.weights, axis=0).groupby(frame["district"]).sum()))
    ours_se = est.sort_values(["district", "variable"])["se"].to_numpy()
    agree = np.max(np.abs(ours_se / dense_se - 1))

    print(f"case: {n:,} respondents x {n_vars} variables x {n_districts} districts, raked on 3 margins, 2 strata")
    print(f"geo-cohesion rake + domain_means : {t_ours:8.3f} s  (rake alone {t_rake:.3f} s; goal < 0.5 s)")
    print(f"baseline dense linearisation     : {t_dense:8.3f} s  ratio {t_dense / t_ours:6.1f}x slower than ours")
    print(f"baseline pandas means, no SEs    : {t_groupby:8.3f} s  ratio {t_groupby / t_ours:6.2f}x of ours")
    print(f"max relative SE difference ours vs dense baseline: {agree:.2e}")
    if agree > 1e-8:
        raise SystemExit("SEs disagree with the dense baseline")


if __name__ == "__main__":
    main()
