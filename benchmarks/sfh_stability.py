"""Spatial Fay-Herriot with few areas: Fisher scoring alone (as R sae eblupSFH) against the fit
with the profile-likelihood fallback (issue #14).

    OMP_NUM_THREADS=1 python benchmarks/sfh_stability.py [--samples 200]

200 samples of a 20-area model (4 x 5 rook lattice, row-standardised; SAR(0.6) area effects with
variance 1; sampling variances uniform 1-4; intercept and one covariate), REML. Each fit is
classed as the pipeline does (``small_area._spatial_problem``): kept, not converged,
sigma2_u = 0, or rho at the bound +-0.999. Also counted: of the fits scoring alone kept, how
many the new fit returns bit-identically.
"""
from __future__ import annotations

import argparse
import collections

import numpy as np

from geo_cohesion.survey import sae_fit


def rook_lattice(rows: int, cols: int) -> np.ndarray:
    """Row-standardised rook contiguity of a rows x cols grid."""
    m = rows * cols
    w = np.zeros((m, m))
    for i in range(rows):
        for j in range(cols):
            for di, dj in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                a, b = i + di, j + dj
                if 0 <= a < rows and 0 <= b < cols:
                    w[i * cols + j, a * cols + b] = 1.0
    out: np.ndarray = w / w.sum(axis=1, keepdims=True)
    return out


def sample(seed: int, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Direct estimates, sampling variances and design matrix of one sample: SAR(0.6) area effects
    with variance 1 on ``w``, sampling variances uniform 1-4, intercept and one covariate (demo-like)."""
    rng = np.random.default_rng(seed)
    m = w.shape[0]
    x = np.column_stack([np.ones(m), rng.normal(size=m)])
    psi = rng.uniform(1.0, 4.0, m)
    u = np.linalg.solve(np.eye(m) - 0.6 * w, rng.normal(0.0, 1.0, m))
    return x @ np.array([50.0, 1.0]) + u + rng.normal(0.0, np.sqrt(psi)), psi, x


def classify(sigma2: float, rho: float, converged: bool, boundary: bool) -> str:
    if not converged:
        return "not converged"
    if boundary or sigma2 == 0.0:
        return "sigma2_u = 0"
    return "rho at bound" if abs(rho) >= 0.999 else "kept"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    w = rook_lattice(4, 5)
    s_idx = np.arange(w.shape[0])
    old: collections.Counter[str] = collections.Counter()
    new: collections.Counter[str] = collections.Counter()
    identical = kept_before = 0
    for seed in range(args.samples):
        y, psi, x = sample(seed, w)
        o = sae_fit._fit_sfh(w, y, psi, x, s_idx, "REML", 100, 1e-8)
        n = sae_fit._fit_sfh_stable(w, y, psi, x, s_idx, "REML", 100, 1e-8)
        before, after = classify(o[0], o[1], o[2], o[4]), classify(n[0], n[1], n[2], n[4])
        old[before] += 1
        new[after] += 1
        if before == "kept":
            kept_before += 1
            identical += int(o[0] == n[0] and o[1] == n[1])
    print(f"scoring only:           {dict(old)}")
    print(f"with profile fallback:  {dict(new)}")
    print(f"kept by scoring and bit-identical with the fallback: {identical} of {kept_before}")


if __name__ == "__main__":
    main()
