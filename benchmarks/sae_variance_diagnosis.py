"""Why the group model's intervals cover too much in one city and too little in another (issue #14).

    python benchmarks/sae_variance_diagnosis.py --replicates 60

Same populations and samples as ``benchmarks/sae_simulation.py`` (same seeds). For each demo city
with reporting groups and each score it prints

* the *true* between-district variance the model is meant to estimate: the residual variance of
  the true district means regressed on the covariates the pipeline chooses most often and the
  group indicators (``true_resid_var``, divided by districts minus parameters), and the true
  group effects' spread (``true_group_var``: the variance of the group means of the regression
  on the covariates alone, weighted by districts);
* the distribution over replicates of the REML estimates ``sigma2_u`` and ``sigma2_v`` of the
  pipeline's group model (``estimates.group_effects: true``) and the share of fits at 0;
* per district size class: the mean published MSE against the empirical MSE of the estimates
  (``mse_ratio`` > 1: the intervals are too wide on average), and the coverage.

No thresholds, nothing tuned: it explains the table of ``sae_simulation.py``.
"""
from __future__ import annotations

import argparse
import sys
import time
import zlib

import numpy as np
import pandas as pd
from sae_simulation import GROUP_BOOTSTRAP, MIN_N, SIZE_CLASSES, VARIABLES, Z95, build_population, draw_sample

from geo_cohesion.demo.assumptions import load_assumptions
from geo_cohesion.survey.design import SurveyDesign
from geo_cohesion.survey.small_area import district_models, pooled_within_variance


def true_variances(truth: pd.Series, covariates: pd.DataFrame, dummies: pd.DataFrame) -> tuple[float, float]:
    """Residual variance of the true district means given covariates and groups, and the spread of
    the group means of the residuals given covariates alone."""
    x = (covariates - covariates.mean()) / covariates.std()
    base = np.column_stack([np.ones(len(truth)), x.to_numpy()])
    full = np.column_stack([base, dummies.to_numpy()])
    y = truth.to_numpy(float)
    resid_full = y - full @ np.linalg.lstsq(full, y, rcond=None)[0]
    resid_base = y - base @ np.linalg.lstsq(base, y, rcond=None)[0]
    resid_var = float(resid_full @ resid_full / (len(y) - np.linalg.matrix_rank(full)))
    labels = dummies.idxmax(axis=1).where(dummies.sum(axis=1) > 0, "reference")
    group_means = pd.Series(resid_base, index=truth.index).groupby(labels).transform("mean")
    return resid_var, float(np.mean(group_means.to_numpy() ** 2))


def diagnose(city: dict, assumptions: dict, index: int, replicates: int,
             seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Variance estimates per replicate and MSE ratios per size class of one city."""
    pop = build_population(city, assumptions, seed, VARIABLES)
    rng = np.random.default_rng([seed, index])
    fits, tables = [], []
    for r in range(replicates):
        sample = draw_sample(pop, rng)
        design = SurveyDesign(sample, weight="design_weight", strata="stratum").rake(pop.margins)
        direct = design.domain_means(list(VARIABLES), "district_id", min_n=0)
        w = design.weights.to_numpy()
        s2 = {v: pooled_within_variance(sample[v].to_numpy(), w, sample["district_id"].to_numpy()) for v in VARIABLES}
        chosen = district_models(direct, s2, pop.covariates, estimator="fay_herriot", direct_min_n=MIN_N)
        models = district_models(direct, s2, pop.covariates, estimator="fay_herriot",
                                 covariate_names=list(chosen.covariates), direct_min_n=MIN_N,
                                 mse_method="prasad_rao", groups=pop.groups, mse_bootstrap=GROUP_BOOTSTRAP,
                                 seed=zlib.crc32(direct["estimate"].to_numpy().tobytes()))
        fits.append(models.models.assign(replicate=r, covariates=", ".join(chosen.covariates)))
        tables.append(models.table.assign(replicate=r))
    fit_frame = pd.concat(fits, ignore_index=True)
    table = pd.concat(tables, ignore_index=True)
    truth = pop.truth.stack().rename("truth")
    truth.index.names = ["district_id", "variable"]
    table = table.join(truth, on=["district_id", "variable"])
    table["n"] = table["district_id"].map(pop.allocation)
    table["size_class"] = pd.cut(table["n"], [lo for lo, _, _ in SIZE_CLASSES] + [SIZE_CLASSES[-1][1]],
                                 right=False, labels=[lab for _, _, lab in SIZE_CLASSES])
    table["squared_error"] = (table["estimate"] - table["truth"]) ** 2
    table["covered"] = np.sqrt(table["squared_error"]) <= Z95 * np.sqrt(table["mse"])
    ratios = (table.groupby(["variable", "size_class"], observed=True)
              .agg(districts=("district_id", "nunique"), mse_published=("mse", "mean"),
                   mse_empirical=("squared_error", "mean"), coverage_pct=("covered", "mean")))
    ratios["mse_ratio"] = ratios["mse_published"] / ratios["mse_empirical"]
    ratios["coverage_pct"] *= 100
    common = fit_frame["covariates"].mode().iloc[0].split(", ")
    rows = []
    for variable in VARIABLES:
        resid_var, group_var = true_variances(pop.truth[variable], pop.covariates[common], pop.group_dummies)
        f = fit_frame[fit_frame["variable"] == variable]
        rows.append({"variable": variable, "covariates": ", ".join(common), "true_resid_var": resid_var,
                     "true_group_var": group_var,
                     "sigma2_u_median": f["sigma2_u"].median(), "sigma2_u_mean": f["sigma2_u"].mean(),
                     "sigma2_u_zero_pct": 100 * (f["sigma2_u"] <= 1e-8).mean(),
                     "sigma2_v_median": f["sigma2_v"].median(), "sigma2_v_mean": f["sigma2_v"].mean(),
                     "sigma2_v_zero_pct": 100 * (f["sigma2_v"] <= 1e-8).mean()})
    return pd.DataFrame(rows), ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=60)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--cities", nargs="*", default=None, help="demo cities (default: all with groups)")
    args = parser.parse_args(argv)
    assumptions = load_assumptions()
    start = time.perf_counter()
    pd.set_option("display.width", 200)
    for index, city in enumerate(assumptions["cities"]):
        if not city.get("groups") or (args.cities is not None and city["name"] not in args.cities):
            continue
        variances, ratios = diagnose(city, assumptions, index, args.replicates, args.seed)
        print(f"\n{city['name']}: {args.replicates} replicates, seed {args.seed}")
        print(variances.round(2).to_string(index=False))
        print(ratios.round(2).to_string())
    print(f"\n{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
