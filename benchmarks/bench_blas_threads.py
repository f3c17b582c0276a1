"""Benchmark: small-area fits with one BLAS thread against BLAS's default thread count.

Run: ``python benchmarks/bench_blas_threads.py [--sizes 500 1500] [--rounds 2]``

:func:`geo_cohesion.project.run.compute_cities` limits BLAS to one thread while it estimates
(``threadpoolctl``). This benchmark is the evidence: the three Fay-Herriot variants the
pipeline fits, on synthetic areas of the given sizes (a rook grid for the spatial model, groups
of ten for the group effects with 200 bootstrap replicates), each timed with one BLAS thread
and with the default (the baseline), interleaved, best of ``--rounds``. It prints wall and CPU
seconds and the ratio default / one thread.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd
from scipy import sparse
from threadpoolctl import threadpool_info, threadpool_limits

from geo_cohesion.survey.sae import fay_herriot


def rook_grid(m: int) -> sparse.csr_matrix:
    """Rook contiguity of m cells filled row by row into a square grid."""
    side = int(np.ceil(np.sqrt(m)))
    rows, cols = [], []
    for i in range(m):
        r, c = divmod(i, side)
        for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)):
            j = (r + dr) * side + (c + dc)
            if 0 <= r + dr < side and 0 <= c + dc < side and j < m:
                rows.append(i)
                cols.append(j)
    return sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(m, m))


def cases(m: int, seed: int = 0) -> dict:
    """(direct, sampling variances, covariates, keyword arguments) of each model for m areas."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(m, 2)), columns=["a", "b"])
    psi = rng.uniform(1, 4, m)
    y = pd.Series(50 + x.to_numpy() @ [1.0, -1.0] + rng.normal(0, 1.5, m) + rng.normal(0, np.sqrt(psi)))
    groups = np.repeat(np.arange(m // 10 + 1), 10)[:m]
    return {"plain": (y, psi, x, {}),
            "group effects, bootstrap MSE (200)": (y, psi, x, {"groups": groups, "mse_bootstrap": 200, "seed": 1}),
            "spatial (SAR, REML)": (y, psi, x, {"spatial_weights": rook_grid(m)})}


def timed(limit: int | None, args: tuple) -> tuple[float, float]:
    y, psi, x, kwargs = args
    with threadpool_limits(limits=limit, user_api="blas"):
        wall, cpu = time.perf_counter(), time.process_time()
        fay_herriot(y, psi, x, **kwargs)
        return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1500])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    blas = [f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)" for i in threadpool_info()
            if i["user_api"] == "blas"]
    print(f"BLAS: {', '.join(blas)}; cores {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'areas':>6}  {'model':<36} {'1 thread wall/CPU (s)':>22} {'default wall/CPU (s)':>21} {'ratio':>6}")
    for m in args.sizes:
        for name, case in cases(m).items():
            best: dict = {1: (np.inf, np.inf), None: (np.inf, np.inf)}
            for _ in range(args.rounds):
                for limit in (1, None):  # interleaved, so both see the same load
                    best[limit] = min(best[limit], timed(limit, case))
            one, default = best[1], best[None]
            ratio = default[0] / one[0] if one[0] > 0.005 else float("nan")
            print(f"{m:>6}  {name:<36} {one[0]:>10.2f} / {one[1]:<9.2f} {default[0]:>9.2f} / {default[1]:<9.2f}"
                  f" {ratio:>6.2f}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
