"""Estimate: weighted domain means with design-based (Taylor-linearised) standard errors.

Design
------
A stratified single-stage design sampled with replacement: the variance of an estimated total
``sum_i z_i`` is ``sum_h n_h/(n_h-1) * sum_{i in h} (z_i - zbar_h)^2`` (e.g. Lohr, *Sampling:
Design and Analysis*, ch. 9; R ``survey::svyrecvar``). For the ratio mean of variable ``y`` in
domain ``g`` the linearised variable is ``z_i = w_i * u_i`` with
``u_i = 1[i in g, y_i observed] (y_i - ybar_g) / Nhat_g``. Respondents outside the domain stay in
the variance with ``u_i = 0`` (domain estimation, not conditioning on the domain size).

Calibrated (raked) weights
--------------------------
For a raked design the influence values are replaced by GREG residuals on the dummies of every
raking margin: ``z_i = w_i * (u_i - x_i' B)`` with ``B = (X' D X)^+ X' D u`` fitted with the
*design* weights ``D`` (Deville & Särndal 1992; Särndal, Swensson & Wretman 1992, ch. 6). This is
exactly what R ``survey::calibrate(..., calfun = "raking")`` does (``qr.resid(qr(X*sqrt(d)),
x/w)*w`` with ``w = g*sqrt(d)``), so our SEs reproduce it to rounding error; the tests check that
against stored R output. R's ``rake()`` instead subtracts unweighted margin means for ten
backfitting sweeps, an approximation of the same projection that depends on the number of
sweeps; we prefer the exact projection. Point estimates and weights are identical either way.

Speed
-----
All sums are formed once per *cell* (stratum x raking-margin categories x domain) with
``np.bincount``; no Python loop runs over respondents or domains, so 100k respondents x 9
variables x 200 districts take a fraction of a second (see ``benchmarks/``).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from geo_cohesion.survey.domains import column_sums, group_codes


def linearised_domain_variance(y: np.ndarray, weights: np.ndarray, domain: np.ndarray, n_domains: int,
                               strata: np.ndarray, design_weights: np.ndarray | None = None,
                               margin_codes: Sequence[np.ndarray] = (),
                               contrast: bool = False) -> dict[str, np.ndarray]:
    """Domain means and their linearised variances for many variables at once.

    Parameters
    ----------
    y : ndarray (n, V)
        Values, NaN where missing (each variable uses its own available cases).
    weights : ndarray (n,)
        Final (possibly calibrated) weights.
    domain : ndarray (n,) of int
        Domain code ``0..n_domains-1`` per respondent.
    n_domains : int
        Number of domains.
    strata : ndarray (n,) of int
        Stratum code per respondent.
    design_weights : ndarray (n,), optional
        Weights before calibration (needed with ``margin_codes``).
    margin_codes : sequence of ndarray (n,) of int
        Category codes of each raking margin; empty for an uncalibrated design.
    contrast : bool
        Also return ``overall`` (the mean over all respondents, shape (V,)) and ``var_contrast``:
        the variance of *domain mean minus overall mean*, which accounts for the domain being
        part of the whole (the covariance of the two estimates).

    Returns
    -------
    dict
        ``mean``, ``var``, ``n`` (respondents with a value), ``sum_w``, ``sum_w2``; each an
        array of shape (n_domains, V); with ``contrast`` also ``overall`` and ``var_contrast``.
    """
    n, n_vars = y.shape
    observed = ~np.isnan(y)
    y0 = np.where(observed, y, 0.0)
    w = np.asarray(weights, dtype=float)
    n_strata = int(strata.max()) + 1
    stratum_size = np.bincount(strata, minlength=n_strata).astype(float)

    def per_domain(values: np.ndarray) -> np.ndarray:  # (n, V) -> (G, V)
        return column_sums(domain, values, n_domains)

    sum_w = per_domain(observed * w[:, None])
    sum_w2 = per_domain(observed * (w**2)[:, None])
    count = per_domain(observed.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = per_domain(y0 * w[:, None]) / sum_w
        # scaled, centred influence values u_iv (0 outside the domain's observed cases)
        u = np.where(observed, (y0 - mean[domain]) / sum_w[domain], 0.0)
    u = np.nan_to_num(u)
    if contrast:
        total_w = (observed * w[:, None]).sum(axis=0)
        overall = (y0 * w[:, None]).sum(axis=0) / total_w
        b = np.where(observed, (y0 - overall) / total_w, 0.0)   # influence of the overall mean

    # --- aggregate rows to cells (stratum x margins x domain); u-sums per cell and variable
    cell_codes = [strata, *margin_codes]
    cellg, first = group_codes(*cell_codes, domain)
    n_cellg = first.size
    g_of = domain[first]
    h_of = strata[first]

    def per_cellg(values: np.ndarray) -> np.ndarray:  # (n, V) -> (K, V)
        return column_sums(cellg, values, n_cellg)

    wu = per_cellg(u * w[:, None])
    w2u2 = per_cellg(u**2 * (w**2)[:, None])
    hg = h_of * n_domains + g_of
    size_hg = n_strata * n_domains

    def to_hg(values: np.ndarray) -> np.ndarray:  # (K, V) -> (H, G, V)
        return column_sums(hg, values, size_hg).reshape(n_strata, n_domains, n_vars)

    sum_z = to_hg(wu)          # per stratum: sum of z over respondents in the domain
    sum_z2 = to_hg(w2u2)
    if contrast:
        sum_b = column_sums(strata, b * w[:, None], n_strata)               # (H, V)
        sum_b2 = column_sums(strata, b**2 * (w**2)[:, None], n_strata)      # (H, V)
        cross_ab = to_hg(per_cellg(u * b * (w**2)[:, None]))  # (H, G, V)

    if margin_codes:
        d = np.asarray(design_weights, dtype=float)
        sizes = [int(c.max()) + 1 for c in margin_codes]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        p = int(sum(sizes))
        # dummy matrix of the cells (stratum x margins), shared by all domains
        cell, cell_first = group_codes(*cell_codes)
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
        # which cell each cellg group belongs to
        cell_of_cellg = cell[first]
        x_cellg = x_cell[cell_of_cellg]                       # (K, p)
        du = per_cellg(u * d[:, None])                        # (K, V)
        h_onehot_w = sparse.csr_matrix((w_cell, (h_cell, np.arange(n_cell))), shape=(n_strata, n_cell))
        h_onehot_w2 = sparse.csr_matrix((w2_cell, (h_cell, np.arange(n_cell))), shape=(n_strata, n_cell))
        w2u = per_cellg(u * (w**2)[:, None])
        if contrast:
            db_cell = column_sums(cell, b * d[:, None], n_cell)
            w2b_cell = column_sums(cell, b * (w**2)[:, None], n_cell)
            gamma = xdx_pinv @ (x_cell.T @ db_cell)                          # (p, V)
            onehot = sparse.csr_matrix((np.ones(n_cell), (h_cell, np.arange(n_cell))), shape=(n_strata, n_cell))
            fit_b = x_cell @ gamma                                           # (n_cell, V)
        for v in range(n_vars):
            # X'Du for every domain at once: (p, G)
            dom_du = sparse.csr_matrix((du[:, v], (np.arange(n_cellg), g_of)), shape=(n_cellg, n_domains))
            beta = xdx_pinv @ (x_cellg.T @ dom_du).toarray()          # (p, G)
            fitted = x_cell @ beta                                     # (n_cell, G)
            sum_fit_w = h_onehot_w @ fitted                            # (H, G)
            sum_fit2_w2 = h_onehot_w2 @ (fitted**2)                    # (H, G)
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


