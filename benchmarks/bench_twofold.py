"""Cost of the Fay-Herriot model with random group effects (issue #14).

    python benchmarks/bench_twofold.py [--write]

For m districts in groups of 5 (synthetic data generated here from the two-fold model), times
one ``fay_herriot`` fit per setting and reports ratios against the plain Fay-Herriot fit (the
baseline, measured in the same run): the two-fold model with the analytic MSE, and with the
parametric-bootstrap MSE at 200 replicates (``estimates.group_mse_bootstrap`` default). Best of
three timings per cell (the bootstrap: one timing).
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from geo_cohesion.survey.sae import fay_herriot

RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "## Random group effects: cost (`python benchmarks/bench_twofold.py`)"
SIZES = (25, 100, 500, 2000)


def data(m: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, np.ndarray]:
    """Direct estimates, sampling variances, one covariate and group labels of m areas."""
    rng = np.random.default_rng(seed)
    group = np.arange(m) // 5
    x = rng.normal(size=m)
    psi = rng.uniform(1.0, 6.0, m)
    theta = 60.0 + 2.0 * x + rng.normal(0, 1.2, group.max() + 1)[group] + rng.normal(0, 1.0, m)
    return theta + rng.normal(0, np.sqrt(psi)), psi, pd.DataFrame({"x": x}), group


def best(*args, repeat: int = 3, **kwargs) -> float:
    """Shortest of ``repeat`` timings of ``fay_herriot(*args, **kwargs)`` in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fay_herriot(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the table into benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    rows = []
    for m in SIZES:
        y, psi, x, group = data(m)
        base = best(y, psi, x)
        analytic = best(y, psi, x, groups=group)
        boot = best(y, psi, x, groups=group, mse_bootstrap=200, seed=1, repeat=1)
        rows.append(f"| {m:,} | {base * 1e3:.1f} | {analytic * 1e3:.0f} ({analytic / base:.0f}x) | "
                    f"{boot:.2f} s ({boot / base:.0f}x) |")
    table = "\n".join(["| districts | plain FH (ms, baseline) | two-fold, analytic MSE (ms) | two-fold, bootstrap "
                       "200 |", "|---:|---:|---:|---:|", *rows])
    print(table)
    if args.write:
        text = RESULTS.read_text(encoding="utf-8")
        block = (f"{SECTION}\n\nOne score, groups of 5 districts, synthetic data from the model; "
                 f"{time.strftime('%Y-%m-%d')}, shared 2-core machine.\n\n{table}\n")
        pattern = re.compile(re.escape(SECTION) + r".*?(?=\n## |\Z)", re.S)
        text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block
        RESULTS.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
