"""Interval MSE candidates for the Fay-Herriot model, compared by simulation (issue #14).

    python benchmarks/sae_mse_candidates.py --replicates 200

Same populations and sampling design as ``benchmarks/sae_simulation.py`` (same seeds, so the same
samples), but only the non-spatial Fay-Herriot model is fitted, once per sample and score, and
its estimates are given these intervals:

* ``prasad_rao``: the Prasad-Rao MSE (``FayHerriotResult.mse``, R ``sae`` ``mseFH``),
* ``conditional``: the conditional MSE of Rivest & Belmonte (2000) (``mse_conditional``; a
  negative value gives an empty interval),
* ``robust``: their maximum (``estimates.model_mse: robust``),
* ``groups``: Prasad-Rao intervals of a model whose covariate candidates also include one
  indicator per reporting group of the demo city (forward AIC as in the pipeline) - a fixed
  regional effect, tried and not adopted.
* ``twofold``: the model with *random* effects of the demo city's reporting groups
  (``fay_herriot(..., groups=...)``, same covariates as the plain model) with its analytic MSE
  g1 + g2 + 2 g3 (Das, Jiang & Rao 2004);
* ``twofold_boot``: the same estimates with the parametric bootstrap MSE (200 replicates). Its
  direct-or-model rule is the one below (bootstrap MSE alone), not the pipeline's, which now
  compares with the larger of the bootstrap and the analytic MSE; ``sae_simulation.py
  --estimators fay_herriot+group_effects`` measures the pipeline as it publishes.

As in the pipeline a district with n >= 30 keeps its direct estimate where the smoothed sampling
variance is not above the Prasad-Rao MSE. Printed: coverage (%) and mean half-width by score and
size class, and the coverage of the index by city and, for Dessau-Roßlau, by district (n < 15).
"""
from __future__ import annotations

import argparse
import sys
import time
import zlib

import numpy as np
import pandas as pd
from sae_simulation import MIN_N, SIZE_CLASSES, VARIABLES, Z95, build_population, draw_sample

from geo_cohesion.demo.assumptions import load_assumptions
from geo_cohesion.survey.design import SurveyDesign
from geo_cohesion.survey.sae import fay_herriot, robust_mse
from geo_cohesion.survey.sae_twofold import fit_two_fold
from geo_cohesion.survey.small_area import (
    district_models,
    gvf_sampling_variance,
    pooled_within_variance,
    select_covariates,
    standardise,
)

CANDIDATES = ("prasad_rao", "conditional", "robust", "groups", "twofold", "twofold_boot")


def replicate(pop, groups: pd.Series, rng: np.random.Generator) -> pd.DataFrame:
    """Estimates and the four interval MSEs of every district and score for one sample."""
    sample = draw_sample(pop, rng)
    design = SurveyDesign(sample, weight="design_weight", strata="stratum").rake(pop.margins)
    direct = design.domain_means(list(VARIABLES), "district_id", min_n=0)
    w = design.weights.to_numpy()
    s2 = {v: pooled_within_variance(sample[v].to_numpy(), w, sample["district_id"].to_numpy()) for v in VARIABLES}
    names = list(district_models(direct, s2, pop.covariates, estimator="fay_herriot").covariates)
    areas = pd.Index(pop.covariates.index.astype(str))
    z, _ = standardise(pop.covariates.set_axis(areas))
    dummies = pd.get_dummies(groups.reindex(areas).fillna("")).astype(float)
    dummies = dummies.loc[:, dummies.std(ddof=0) > 0]
    zg = pd.concat([z, ((dummies - dummies.mean()) / dummies.std(ddof=0)).add_prefix("group:")], axis=1)

    def inputs(variable: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = direct[direct["variable"] == variable].set_index("district_id").reindex(areas)
        psi = gvf_sampling_variance(s2[variable], rows["n_eff"].to_numpy(dtype=float))
        return rows["estimate"].to_numpy(dtype=float), psi, rows["se"].to_numpy(dtype=float) ** 2

    y_index, psi_index, _ = inputs("index")
    with_groups = list(select_covariates(y_index, psi_index, zg).names)
    n = pop.allocation.reindex(areas).to_numpy(dtype=float)
    labels = groups.reindex(areas)
    codes = np.where(labels.isna(), "area:" + areas.to_series().to_numpy(), labels.astype(str))
    codes = np.unique(codes, return_inverse=True)[1]
    out = []
    for variable in VARIABLES:
        y, psi, dvar = inputs(variable)
        fit = fay_herriot(y, psi, z[names] if names else None)
        fit_g = fay_herriot(y, psi, zg[with_groups] if with_groups else None)
        xz = np.column_stack([np.ones(len(areas)), z[names].to_numpy()]) if names else np.ones((len(areas), 1))
        tf = fit_two_fold(y, psi, xz, codes, np.isfinite(y), float(fit.sigma2_u))
        boot = fit_two_fold(y, psi, xz, codes, np.isfinite(y), float(fit.sigma2_u), bootstrap=200,
                            seed=zlib.crc32(y.tobytes()))  # own stream: the samples stay those of sae_simulation.py
        mses = {"prasad_rao": fit.mse, "conditional": fit.mse_conditional,
                "robust": robust_mse(fit.mse, fit.mse_conditional), "groups": fit_g.mse, "twofold": tf["mse"],
                "twofold_boot": boot["mse"]}
        for name, mse in mses.items():
            f_est, f_mse = ((fit_g.estimate, fit_g.mse) if name == "groups" else
                            (tf["estimate"], mse) if name.startswith("twofold") else (fit.estimate, fit.mse))
            keep = (n >= MIN_N) & (psi <= f_mse)
            est = np.where(keep, y, f_est)
            halfwidth = Z95 * np.sqrt(np.clip(np.where(keep, dvar, mse), 0.0, None))
            out.append(pd.DataFrame({"district_id": areas, "variable": variable, "candidate": name,
                                     "estimate": est, "halfwidth": halfwidth, "n": n}))
    return pd.concat(out, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    assumptions = load_assumptions()
    frames = []
    for index, city in enumerate(assumptions["cities"]):
        pop = build_population(city, assumptions, args.seed)
        groups = pd.Series({d: g for g, ds in (city.get("groups") or {}).items() for d in ds}, dtype=object)
        rng = np.random.default_rng([args.seed, index])
        reps = [replicate(pop, groups, rng) for _ in range(args.replicates)]
        frame = pd.concat(reps, ignore_index=True).assign(city=pop.name)
        truth = pop.truth.stack().rename("truth")
        truth.index.names = ["district_id", "variable"]
        frames.append(frame.join(truth, on=["district_id", "variable"]))
    frame = pd.concat(frames, ignore_index=True)
    frame["size_class"] = pd.cut(frame["n"], [lo for lo, _, _ in SIZE_CLASSES] + [SIZE_CLASSES[-1][1]], right=False,
                                 labels=[lab for _, _, lab in SIZE_CLASSES])
    frame["covered"] = (frame["estimate"] - frame["truth"]).abs() <= frame["halfwidth"]
    by = ["variable", "size_class", "candidate"]
    frame["sq"] = (frame["estimate"] - frame["truth"]) ** 2
    table = frame.groupby(by, observed=True).agg(coverage=("covered", "mean"), halfwidth=("halfwidth", "mean"),
                                                 rmse=("sq", "mean"))
    table["rmse"] = np.sqrt(table["rmse"])
    table["coverage"] *= 100
    print(f"{args.replicates} replicates per city, seed {args.seed}, {time.perf_counter() - start:.0f} s")
    print("coverage % / mean half-width by score and size class")
    print(table.unstack("candidate").round(1).to_string())
    index = frame[frame["variable"] == "index"]
    print("\ncoverage % of the index by city and size class")
    print((index.groupby(["city", "size_class", "candidate"], observed=True)["covered"].mean() * 100)
          .unstack("candidate").round(1).to_string())
    small = index[(index["city"] == "Dessau-Roßlau") & (index["n"] < 15)]
    print("\nDessau-Roßlau, index, districts with n < 15: coverage %")
    print((small.groupby(["district_id", "candidate"])["covered"].mean() * 100).unstack("candidate").round(0)
          .to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
