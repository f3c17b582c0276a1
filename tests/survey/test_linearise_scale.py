"""The structured (linear-in-domains) linearised variance against a dense textbook implementation.

``dense_reference`` below is the formula written out for every respondent, with nothing shared
with geo_cohesion.survey.linearise: influence values ``u`` per (domain, variable), GREG residuals
``z = w (u - X b)`` with ``b`` from a design-weighted least-squares fit of ``u`` on the dummies of
*all* raking margins (``numpy.linalg.lstsq`` on ``sqrt(d) X``: SVD, like R's ``qr.resid`` it gives
the unique residuals of a rank-deficient ``X``), and the stratified with-replacement variance
``sum_h n_h/(n_h-1) sum_{i in h} (z_i - zbar_h)^2``. The fast path must agree to 1e-10.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from geo_cohesion.survey import linearise as estimation
from geo_cohesion.survey.linearise import linearised_domain_variance


def dense_reference(y: np.ndarray, w: np.ndarray, domain: np.ndarray, n_domains: int, strata: np.ndarray,
                    d: np.ndarray | None, margins: list[np.ndarray], contrast: bool) -> dict[str, np.ndarray]:
    """Textbook domain means, variances and contrast variances, one (domain, variable) at a time."""
    n, n_vars = y.shape
    if margins:
        x = np.column_stack([(codes[:, None] == np.arange(codes.max() + 1)).astype(float) for codes in margins])
        sqrt_d = np.sqrt(d)

    def residual(u: np.ndarray) -> np.ndarray:  # z = w (u - fitted), columns of u at once
        if not margins:
            return w[:, None] * u
        coef, *_ = np.linalg.lstsq(x * sqrt_d[:, None], u * sqrt_d[:, None], rcond=None)
        return w[:, None] * (u - x @ coef)

    def variance(z: np.ndarray) -> np.ndarray:
        out = np.zeros(z.shape[1])
        for h in np.unique(strata):
            zh = z[strata == h]
            n_h = zh.shape[0]
            out += n_h / (n_h - 1) * ((zh - zh.mean(axis=0)) ** 2).sum(axis=0)
        return out

    mean = np.full((n_domains, n_vars), np.nan)
    var = np.zeros((n_domains, n_vars))
    var_c = np.zeros((n_domains, n_vars))
    overall = np.zeros(n_vars)
    for v in range(n_vars):
        obs = ~np.isnan(y[:, v])
        u = np.zeros((n, n_domains))
        for g in range(n_domains):
            rows = obs & (domain == g)
            if rows.any():
                total = w[rows].sum()
                mean[g, v] = np.sum(w[rows] * y[rows, v]) / total
                u[rows, g] = (y[rows, v] - mean[g, v]) / total
        z = residual(u)
        var[:, v] = variance(z)
        if contrast:
            total = w[obs].sum()
            overall[v] = np.sum(w[obs] * y[obs, v]) / total
            b = np.where(obs, (np.where(obs, y[:, v], 0.0) - overall[v]) / total, 0.0)
            var_c[:, v] = variance(z - residual(b[:, None]))
    return {"mean": mean, "var": var, "overall": overall, "var_contrast": var_c}


def random_design(seed: int, n: int = 300, margin_sizes: tuple[int, ...] = (4, 2, 12), n_strata: int = 2,
                  domain: str | int = "random", n_domains: int = 7, n_vars: int = 2, rare: bool = True) -> dict:
    """A random stratified design with raking margins; ``domain`` is a margin index or "random"."""
    rng = np.random.default_rng(seed)
    margins = []
    for size in margin_sizes:
        p = rng.dirichlet(np.ones(size))
        codes = rng.choice(size, n, p=p)
        codes[:size] = np.arange(size)       # every category present
        codes[size:2 * size] = np.arange(size)
        if rare and size > 2:
            codes[codes == size - 1] = 0     # make the last category a single respondent
            codes[rng.integers(n)] = size - 1
        margins.append(codes.astype(np.intp))
    if domain == "random":
        dom = rng.integers(0, n_domains, n)
        dom[:n_domains] = np.arange(n_domains)
    else:
        dom = margins[int(domain)].copy()
    strata = rng.integers(0, n_strata, n)
    strata[: 2 * n_strata] = np.repeat(np.arange(n_strata), 2)
    d = rng.uniform(1.0, 5.0, n) * np.where(strata == 0, 1.0, 0.4)
    w = d * rng.uniform(0.5, 2.0, n)
    y = rng.normal(50, 10, (n, n_vars))
    y[rng.random((n, n_vars)) < 0.1] = np.nan
    return {"y": y, "w": w, "domain": dom.astype(np.intp), "n_domains": int(dom.max()) + 1,
            "strata": strata.astype(np.intp), "d": d, "margins": margins}


def compare(case: dict, contrast: bool, rtol: float = 1e-10) -> None:
    fast = linearised_domain_variance(case["y"], case["w"], case["domain"], case["n_domains"], case["strata"],
                                      case["d"], case["margins"], contrast=contrast)
    ref = dense_reference(case["y"], case["w"], case["domain"], case["n_domains"], case["strata"], case["d"],
                          case["margins"], contrast)
    np.testing.assert_allclose(fast["mean"], ref["mean"], rtol=rtol)
    # absolute tolerance on the scale of the variance before calibration (calibration can take a
    # variance to 0, e.g. a single domain in one stratum, where both results are rounding noise)
    plain = dense_reference(case["y"], case["w"], case["domain"], case["n_domains"], case["strata"], None, [],
                            contrast)
    scale = max(np.nanmax(ref["var"]), np.nanmax(plain["var"]))
    np.testing.assert_allclose(fast["var"], ref["var"], rtol=rtol, atol=rtol * scale)
    if contrast:
        np.testing.assert_allclose(fast["overall"], ref["overall"], rtol=rtol)
        np.testing.assert_allclose(fast["var_contrast"], ref["var_contrast"], rtol=rtol,
                                   atol=rtol * max(scale, np.nanmax(ref["var_contrast"])))


CASES = {
    "districts are a margin": {"margin_sizes": (4, 2, 12), "domain": 2},
    "domains cross the margins": {"margin_sizes": (4, 2, 12), "domain": "random"},
    "two margins": {"margin_sizes": (3, 15), "domain": 1, "n_strata": 3},
    "four margins, two fine": {"margin_sizes": (5, 2, 20, 14), "domain": 3, "n_strata": 2},
    "four margins, domains cross": {"margin_sizes": (5, 2, 20, 14), "domain": "random", "n_domains": 9},
    "one margin": {"margin_sizes": (9,), "domain": 0, "n_strata": 1},
    "one stratum, domain = small margin": {"margin_sizes": (4, 2, 12), "domain": 0, "n_strata": 1},
    "many strata": {"margin_sizes": (4, 2, 10), "domain": 2, "n_strata": 12, "n": 400},
    "tiny cells": {"margin_sizes": (6, 3, 40), "domain": 2, "n": 150, "n_strata": 3},
}


@pytest.mark.parametrize("contrast", [False, True])
@pytest.mark.parametrize("name", list(CASES))
def test_fast_path_equals_dense_reference(name, contrast):
    for seed in range(3):
        compare(random_design(seed, **CASES[name]), contrast)


@pytest.mark.parametrize("contrast", [False, True])
def test_uncalibrated_design(contrast):
    case = random_design(5, n_strata=3)
    case["margins"] = []
    compare(case, contrast)


@pytest.mark.parametrize("contrast", [False, True])
def test_strata_are_the_domains(contrast):
    """Stratified by district (a common design): strata x domains is G^2, never formed."""
    case = random_design(6, n=600, margin_sizes=(4, 2, 25), domain=2, rare=False)
    case["strata"] = case["domain"].copy()
    compare(case, contrast)


@pytest.mark.parametrize("contrast", [False, True])
def test_nested_margin_is_rank_deficient_but_fitted_values_unique(contrast):
    """A region margin that is a function of the district: X has extra null directions."""
    case = random_design(7, margin_sizes=(4, 2, 12), domain=2)
    case["margins"].append(case["margins"][2] // 4)                    # region = district // 4
    compare(case, contrast)
    nested_small = random_design(8, margin_sizes=(6, 2, 12), domain=2)
    nested_small["margins"].append(nested_small["margins"][0] // 2)   # coarse age inside age
    compare(nested_small, contrast)


def test_category_codes_with_gaps():
    """Codes that skip a category (no respondents) leave an empty dummy: ignored, as pinv does."""
    case = random_design(9, margin_sizes=(4, 2, 12), domain="random")
    case["margins"][0] = np.where(case["margins"][0] == 1, 3, case["margins"][0])
    case["margins"][2] = np.where(case["margins"][2] == 0, 5, case["margins"][2])
    compare(case, True)


def test_thousands_of_districts_stay_fast():
    """20,000 districts x 20,000 respondents would need ~3 GB per G x G array in the dense
    algorithm; the structured one is linear and finishes in well under a few seconds."""
    rng = np.random.default_rng(11)
    n, n_districts = 20_000, 20_000
    district = rng.integers(0, n_districts, n)
    district[:n_districts] = np.arange(n_districts)
    margins = [rng.integers(0, 4, n), rng.integers(0, 2, n), district]
    strata = (rng.random(n) < 0.2).astype(np.intp)
    d = np.where(strata == 0, 100.0, 60.0)
    y = rng.uniform(0, 100, (n, 2))
    out = linearised_domain_variance(y, d * rng.uniform(0.7, 1.4, n), district, n_districts, strata, d, margins,
                                     contrast=True)
    assert out["var"].shape == (n_districts, 2)
    assert np.isfinite(out["var"]).all() and np.isfinite(out["var_contrast"]).all()


@st.composite
def designs(draw) -> tuple[dict, bool]:
    n_margins = draw(st.integers(1, 4))
    sizes = tuple(draw(st.lists(st.integers(1, 15), min_size=n_margins, max_size=n_margins)))
    domain = draw(st.sampled_from(["random", *range(n_margins)]))
    case = random_design(draw(st.integers(0, 2**32 - 1)), n=draw(st.integers(2 * max(sizes) + 10, 160)),
                         margin_sizes=sizes, n_strata=draw(st.integers(1, 4)), domain=domain,
                         n_domains=draw(st.integers(1, 8)), n_vars=draw(st.integers(1, 3)),
                         rare=draw(st.booleans()))
    return case, draw(st.booleans())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(designs())
def test_property_fast_path_equals_dense_reference(drawn):
    case, contrast = drawn
    compare(case, contrast)


@pytest.mark.parametrize("name", ["four margins, two fine", "four margins, domains cross", "tiny cells"])
def test_gram_from_sparse_dummies_for_fine_second_margins(name, monkeypatch):
    """Above _DIRECT_GRAM_MAX columns the Gram matrices come from the sparse dummies and means."""
    monkeypatch.setattr(estimation, "_DIRECT_GRAM_MAX", 0)
    for seed in range(2):
        compare(random_design(seed, **CASES[name]), True)
    nested = random_design(3, margin_sizes=(4, 2, 12), domain=2)
    nested["margins"].append(nested["margins"][2] // 4)
    compare(nested, True)
