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

from geo_cohesion.survey.domains import group_codes


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

    Notes
    -----
    The variance of domain ``g`` is ``sum_h f_h [sum_{i in h} z_ig^2 - S_hg^2 / n_h]`` with
    ``f_h = n_h / (n_h - 1)`` and ``S_hg = sum_{i in h} z_ig``. It is never formed as a stratum x
    domain table: ``sum_i f_h(i) z_ig^2`` is a sum over respondents, and ``S_hg`` is a sparse part
    (strata the domain meets) plus a rank-``s`` part, so both terms cost O(domains).

    With calibration, the GREG fitted values ``x_i' B_g`` come from :class:`_GregBasis`: the
    largest margin (usually the districts, ``q`` categories) is absorbed exactly like a fixed
    effect (its block of ``X'DX`` is diagonal), the ``s`` dummies of the other margins (one
    category each dropped, spanned by the rest) are demeaned within its categories, and only their
    ``s x s`` Schur complement is pseudo-inverted. Per domain, the fitted values are
    ``xt(cell)' gamma_g + m_g[large category]`` with ``gamma_g`` of length ``s`` and ``m_g``
    nonzero only in the large-margin categories the domain meets; every sum the variance needs is
    a quadratic form in ``(gamma_g, m_g)`` with small precomputed matrices. Fitted values (hence
    SEs) are the same as with the pseudo-inverse of the full ``X'DX`` (and R's ``qr.resid``); only
    the non-unique coefficients differ.

    Cost: O(n V) for the row sums, then per variable O((K + cells) s + G s^2 + E) time and
    O((K + cells + E) s + G s) memory, with K the (cell, domain) pairs (<= n), G domains and E the
    (domain, stratum) pairs linked directly or through a large-margin category (<= G x strata;
    about 2 G when the domains are the districts and there are 2 strata; G when the strata are the
    districts). The factorisation costs O(cells s + s^3) once: cheap for age x gender x district
    (s = 4), cubic in the size of a second fine-grained margin (e.g. s = 2,000 takes seconds).
    """
    n_vars = y.shape[1]
    w = np.asarray(weights, dtype=float)
    domain = np.asarray(domain, dtype=np.intp)
    strata = np.asarray(strata, dtype=np.intp)
    n_strata = int(strata.max()) + 1
    stratum_size = np.bincount(strata, minlength=n_strata).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = stratum_size / (stratum_size - 1.0)          # f_h = n_h / (n_h - 1)
        per_sum = factor / stratum_size                          # f_h / n_h, multiplies S_hg^2
    factor[stratum_size == 0] = 0.0
    per_sum[stratum_size == 0] = 0.0

    # cells (stratum x margin categories) and (cell, domain) pairs k
    cell, cell_first = group_codes(strata, *margin_codes)
    n_cell = cell_first.size
    cellg, first = group_codes(cell, domain)
    n_k = first.size
    k_cell, k_domain, k_stratum = cell[first], domain[first], strata[first]
    h_cell = strata[cell_first]
    w_cell = np.bincount(cell, weights=w, minlength=n_cell)
    w2_cell = np.bincount(cell, weights=w**2, minlength=n_cell)
    basis = None
    if margin_codes:
        if design_weights is None:
            raise ValueError("design_weights are needed with margin_codes")
        d = np.asarray(design_weights, dtype=float)
        basis = _GregBasis.build(margin_codes, cell, cell_first, h_cell, d, w_cell, w2_cell, factor, per_sum)
    pairs = _Pairs.build(k_cell, k_domain, k_stratum, factor, n_domains, basis)
    cells = {"h": h_cell, "w": w_cell, "w2": w2_cell, "factor": factor, "per_sum": per_sum}

    shape = (n_domains, n_vars)
    mean, var, count, sum_w, sum_w2 = (np.zeros(shape) for _ in range(5))
    overall, var_c = np.zeros(n_vars), np.zeros(shape)
    for v in range(n_vars):
        yv = y[:, v]
        observed = ~np.isnan(yv)
        y0 = np.where(observed, yv, 0.0)
        wo = np.where(observed, w, 0.0)
        sum_w[:, v] = np.bincount(domain, weights=wo, minlength=n_domains)
        sum_w2[:, v] = np.bincount(domain, weights=wo * w, minlength=n_domains)
        count[:, v] = np.bincount(domain, weights=observed, minlength=n_domains)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean[:, v] = np.bincount(domain, weights=wo * y0, minlength=n_domains) / sum_w[:, v]
        # scaled, centred influence values u_i (0 outside the domain's observed cases and in
        # domains without weight)
        usable = sum_w[:, v] > 0
        inv_sum = np.divide(1.0, sum_w[:, v], out=np.zeros(n_domains), where=usable)
        centre = np.where(usable, mean[:, v], 0.0)
        u = np.where(observed, (y0 - centre[domain]) * inv_sum[domain], 0.0)
        wu = w * u
        sums = {"wu": np.bincount(cellg, weights=wu, minlength=n_k),
                "w2u": np.bincount(cellg, weights=wu * w, minlength=n_k),
                "w2u2": np.bincount(cellg, weights=wu * wu, minlength=n_k)}
        if basis is not None:
            sums["du"] = np.bincount(cellg, weights=u * d, minlength=n_k)
        whole = None
        if contrast:
            total_w = wo.sum()
            overall[v] = (wo * y0).sum() / total_w
            b = np.where(observed, (y0 - overall[v]) / total_w, 0.0)   # influence of the overall mean
            wb = w * b
            sums["w2ub"] = np.bincount(cellg, weights=wu * wb, minlength=n_k)
            whole = {"wb": np.bincount(cell, weights=wb, minlength=n_cell),
                     "w2b": np.bincount(cell, weights=wb * w, minlength=n_cell),
                     "w2b2": np.bincount(strata, weights=wb * wb, minlength=n_strata)}
            if basis is not None:
                whole["db"] = np.bincount(cell, weights=b * d, minlength=n_cell)
        var[:, v], contrast_var = _domain_variances(pairs, basis, cells, sums, whole)
        if contrast:
            var_c[:, v] = contrast_var

    out = {"mean": mean, "var": np.maximum(var, 0.0), "n": count, "sum_w": sum_w, "sum_w2": sum_w2}
    if contrast:
        out.update(overall=overall, var_contrast=np.maximum(var_c, 0.0))
    return out


class _Pairs:
    """Index arrays shared by all variables: every sum the variance needs is a ``bincount`` over them.

    * ``k``: (cell, domain) pairs (``k_cell``, ``k_domain``, ``k_stratum``, ``k_factor`` = f_h).
    * ``e``: (domain, stratum) pairs where ``S_hg`` has a sparse part: strata the domain meets, and
      with calibration strata that share a large-margin category with it. ``e_of_k`` and
      ``e_of_trip`` map pairs ``k`` and triples (``q`` pair, stratum) onto them.
    * ``q`` (calibration only): (domain, large-margin category) pairs, where ``m_g`` is nonzero.
    * ``*_flat``/``*_row``/``*_data``: nonzeros of ``xt[k_cell]``, ``r2[q_lcat]`` and
      ``psi_qh[e_stratum]``, with the flat index ``domain * s + column`` of a (domains, s) array.

    Sizes: K pairs <= min(n, cells x domains); the others are O(K) unless strata and domains both
    cross many large-margin categories (then up to strata x domains).
    """

    # set by build(); the q_*, trip_*, xk_*, r2_* parts only with calibration, e_psi_qh/e_flat only
    # when the basis has small-margin columns
    n_domains: int
    k_cell: np.ndarray
    k_domain: np.ndarray
    k_factor: np.ndarray
    e_of_k: np.ndarray
    e_of_trip: np.ndarray
    e_domain: np.ndarray
    e_stratum: np.ndarray
    n_e: int
    q_of_k: np.ndarray
    q_domain: np.ndarray
    q_lcat: np.ndarray
    n_q: int
    q_invd: np.ndarray
    q_fw2: np.ndarray
    trip_q: np.ndarray
    trip_al: np.ndarray
    xk_row: np.ndarray
    xk_data: np.ndarray
    xk_flat: np.ndarray
    r2_row: np.ndarray
    r2_data: np.ndarray
    r2_flat: np.ndarray
    e_psi_qh: np.ndarray
    e_flat: np.ndarray

    def __init__(self, **parts: np.ndarray | int) -> None:
        self.__dict__.update(parts)

    @classmethod
    def build(cls, k_cell: np.ndarray, k_domain: np.ndarray, k_stratum: np.ndarray, factor: np.ndarray,
              n_domains: int, basis: _GregBasis | None) -> _Pairs:
        """Group the pairs (O(K log K) at most)."""
        parts: dict[str, np.ndarray | int] = {"k_cell": k_cell, "k_domain": k_domain, "k_factor": factor[k_stratum],
                       "n_domains": n_domains}
        e_domain, e_stratum = k_domain, k_stratum
        if basis is not None:
            s = basis.s
            q_of_k, q_first = group_codes(k_domain, basis.lcat[k_cell])
            q_domain, q_lcat = k_domain[q_first], basis.lcat[k_cell[q_first]]
            # triples (q pair, stratum h) with al[h, lcat] != 0: the sparse part of S_hg from m_g
            al = basis.al.tocsc()
            counts = np.diff(al.indptr)[q_lcat]
            trip_q = np.repeat(np.arange(q_lcat.size), counts)
            pos = al.indptr[q_lcat][trip_q] + np.arange(trip_q.size) - np.repeat(np.cumsum(counts) - counts, counts)
            e_domain = np.concatenate([k_domain, q_domain[trip_q]])
            e_stratum = np.concatenate([k_stratum, al.indices[pos]])
            xk = basis.xt[k_cell].tocoo()
            r2q = basis.r2[q_lcat].tocoo()
            parts.update(q_of_k=q_of_k, q_domain=q_domain, q_lcat=q_lcat, n_q=q_lcat.size,
                         q_invd=basis.inv_d_large[q_lcat], q_fw2=basis.fw2_large[q_lcat],
                         trip_q=trip_q, trip_al=al.data[pos],
                         xk_row=xk.row, xk_data=xk.data, xk_flat=k_domain[xk.row] * s + xk.col,
                         r2_row=r2q.row, r2_data=r2q.data, r2_flat=q_domain[r2q.row] * s + r2q.col)
        e_of, e_first = group_codes(e_domain, e_stratum)
        n_k = k_cell.size
        e_domain, e_stratum = e_domain[e_first], e_stratum[e_first]
        parts.update(e_of_k=e_of[:n_k], e_of_trip=e_of[n_k:], e_domain=e_domain,
                     e_stratum=e_stratum, n_e=e_first.size)
        if basis is not None and basis.s:
            parts.update(e_psi_qh=basis.psi_qh[e_stratum].ravel(),
                         e_flat=(e_domain[:, None] * basis.s + np.arange(basis.s)).ravel())
        return cls(**parts)


# Eigenvalues of the Schur complement, scaled by the categories' design-weighted sizes, at or
# below this are treated as zero (collinear dummies, as R's qr(tol = 1e-7) on column norms);
# the floor grows with the size so rounding noise of the eigensolver stays below it.
_RANK_TOL = 1e-13
# Up to this many demeaned dummy columns, Gram matrices are formed from the demeaned rows
# (no cancellation); beyond, from the sparse dummies and category means (same accuracy class as
# R's Householder QR, much cheaper when a second margin is fine-grained).
_DIRECT_GRAM_MAX = 64


class _GregBasis:
    """The margin dummies ``X`` split for an exact, structured GREG projection.

    With ``L`` the largest margin (``q`` categories) and ``S`` the other margins' dummies less one
    category each (``s`` columns), ``span(X) = span(X_L) + span(Xt)`` with ``Xt = S - P_L S`` the
    dummies demeaned (design-weighted) within the categories of ``L``; the two parts are
    orthogonal in the design-weight metric, so the fitted values of any ``u`` are
    ``P_L u + Xt T^+ Xt' D u`` with ``T = Xt' D Xt`` (the Schur complement of the diagonal block of
    ``L`` in ``X'DX``). For domain ``g`` this is ``xt(cell)' gamma_g + m_g[lcat(cell)]``.

    Members: ``xt`` (cells, s) demeaned dummies of the other margins (sparse); ``lam`` (cells, q)
    indicator of the large margin's category, ``lcat`` (cells,) that category; ``inv_d_large``
    (q,) 1 / its design-weight total (0 if empty); ``tpinv`` (s, s) pseudo-inverse of ``T``. The
    small matrices that turn the weighted sums of fitted values the variance needs into quadratic
    forms in ``(gamma_g, m_g)``: ``g2_sq`` (s, s) ``Xt' diag(f w2) Xt``; ``r2`` (q, s)
    ``Lambda' diag(f w2) Xt``; ``fw2_large`` (q,) sum of ``f_h w^2`` per large category; ``qh``
    (H, s) per stratum sum of ``w xt``; ``psi_qh`` = ``f_h / n_h qh``; ``qpsi_sq`` (s, s)
    ``qh' diag(f_h / n_h) qh``; ``al`` (H, q) per stratum sum of ``w`` per large category.
    """

    __slots__ = ("al", "fw2_large", "g2_sq", "inv_d_large", "lam", "lcat", "psi_qh", "qh", "qpsi_sq", "r2",
                 "tpinv", "xt")
    al: sparse.csr_matrix
    fw2_large: np.ndarray
    g2_sq: np.ndarray
    inv_d_large: np.ndarray
    lam: sparse.csr_matrix
    lcat: np.ndarray
    psi_qh: np.ndarray
    qh: np.ndarray
    qpsi_sq: np.ndarray
    r2: sparse.csr_matrix
    tpinv: np.ndarray
    xt: sparse.csr_matrix

    def __init__(self, **parts: np.ndarray | sparse.csr_matrix) -> None:
        for name in self.__slots__:
            setattr(self, name, parts.pop(name))
        if parts:
            raise TypeError(f"unknown parts: {sorted(parts)}")

    @classmethod
    def build(cls, margin_codes: Sequence[np.ndarray], cell: np.ndarray, cell_first: np.ndarray,
              h_cell: np.ndarray, d: np.ndarray, w_cell: np.ndarray, w2_cell: np.ndarray,
              factor: np.ndarray, per_sum: np.ndarray) -> _GregBasis:
        """Split the margins and precompute the projection (O(cells s + s^3))."""
        n_cell = cell_first.size
        d_cell = np.bincount(cell, weights=d, minlength=n_cell)
        codes = [np.asarray(c, dtype=np.intp)[cell_first] for c in margin_codes]
        sizes = [int(c.max()) + 1 for c in codes]
        large = int(np.argmax(sizes))
        lcat, n_large = codes[large], sizes[large]
        lam = sparse.csr_matrix((np.ones(n_cell), (np.arange(n_cell), lcat)), shape=(n_cell, n_large))
        d_large = np.bincount(lcat, weights=d_cell, minlength=n_large)
        inv_d_large = np.divide(1.0, d_large, out=np.zeros(n_large), where=d_large > 0)

        rows, cols, col_size, offset = [], [], [], 0
        for m, c in enumerate(codes):
            if m == large:
                continue
            totals = np.bincount(c, weights=d_cell, minlength=sizes[m])
            reference = int(np.argmax(totals))        # dropped: the best-conditioned choice
            column = np.full(sizes[m], -1, dtype=np.intp)
            others = np.delete(np.arange(sizes[m]), reference)
            column[others] = offset + np.arange(others.size)
            keep = np.flatnonzero(c != reference)
            rows.append(keep)
            cols.append(column[c[keep]])
            col_size.append(totals[others])
            offset += others.size
        s = offset
        if s:
            rows_all, cols_all = np.concatenate(rows), np.concatenate(cols)
            x_small = sparse.csr_matrix((np.ones(rows_all.size), (rows_all, cols_all)), shape=(n_cell, s))
            mu = sparse.diags(inv_d_large) @ (lam.T @ sparse.diags(d_cell) @ x_small)    # (q, s) means
            xt = (x_small - lam @ mu).tocsr()
        else:
            xt = x_small = sparse.csr_matrix((n_cell, 0))
            mu = sparse.csr_matrix((n_large, 0))

        def gram(c: np.ndarray) -> np.ndarray:  # Xt' diag(c) Xt, (s, s)
            g: np.ndarray
            if s <= _DIRECT_GRAM_MAX:
                g = (xt.T @ sparse.diags(c) @ xt).toarray().reshape(s, s)
                return g
            # the same from the sparse dummies and the category means: sum over cells is
            # S'CS - B'mu - mu'B + mu' diag(C_l) mu with B = Lambda'CS, C_l = Lambda'c
            b = lam.T @ sparse.diags(c) @ x_small
            cross = (b.T @ mu).toarray()
            g = ((x_small.T @ sparse.diags(c) @ x_small).toarray() - cross - cross.T
                 + (mu.T @ sparse.diags(lam.T @ c) @ mu).toarray())
            return g

        tpinv = _scaled_pinv(gram(d_cell), np.concatenate(col_size)) if s else np.zeros((0, 0))
        fw2 = factor[h_cell] * w2_cell
        oh_w = sparse.csr_matrix((w_cell, (h_cell, np.arange(n_cell))), shape=(factor.size, n_cell))
        qh = np.asarray((oh_w @ xt).todense()).reshape(factor.size, s)
        psi_qh = per_sum[:, None] * qh
        return cls(xt=xt, lam=lam, lcat=lcat, inv_d_large=inv_d_large, tpinv=tpinv,
                   g2_sq=gram(fw2),
                   r2=(lam.T @ sparse.diags(fw2) @ xt).tocsr(),
                   fw2_large=np.bincount(lcat, weights=fw2, minlength=n_large),
                   qh=qh, psi_qh=psi_qh, qpsi_sq=qh.T @ psi_qh, al=(oh_w @ lam).tocsr())

    @property
    def s(self) -> int:
        """Columns of the demeaned small-margin dummies."""
        s: int = self.xt.shape[1]
        return s


def _scaled_pinv(t: np.ndarray, col_size: np.ndarray) -> np.ndarray:
    """Pseudo-inverse of the PSD matrix ``t`` after scaling column ``j`` by ``1/sqrt(col_size[j])``.

    The scaling makes the rank decision relative to each dummy's own design-weighted size (like R's
    ``qr`` tolerance on column norms); the result is still a generalised inverse of ``t``, so
    ``Xt t^+ Xt' D`` is the exact projector on ``span(Xt)``.
    """
    scale = np.divide(1.0, np.sqrt(col_size), out=np.zeros(col_size.size), where=col_size > 0)
    scaled = t * scale[:, None] * scale[None, :]
    values, vectors = np.linalg.eigh(scaled)
    tol = max(_RANK_TOL, 64 * t.shape[0] * np.finfo(float).eps)
    keep = values > tol
    inner = (vectors[:, keep] / values[keep]) @ vectors[:, keep].T
    pinv: np.ndarray = scale[:, None] * inner * scale[None, :]
    return pinv


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products of two (m, s) arrays."""
    dots: np.ndarray = np.einsum("ij,ij->i", a, b)
    return dots


def _domain_variances(p: _Pairs, basis: _GregBasis | None, cells: dict[str, np.ndarray],
                      sums: dict[str, np.ndarray], whole: dict[str, np.ndarray] | None
                      ) -> tuple[np.ndarray, np.ndarray | None]:
    """Variance (and contrast variance) of every domain for one variable from pair sums.

    ``sums`` holds per (cell, domain) pair ``k`` the sums ``wu``, ``w2u``, ``w2u2`` (and ``du``
    with calibration, ``w2ub`` with a contrast) of ``w u``, ``w^2 u``, ``w^2 u^2``, ``d u`` and
    ``w^2 u b``. ``whole`` (contrast only) holds per cell ``wb``, ``w2b`` (and ``db``) and per
    stratum ``w2b2`` for the overall mean's influence values ``b``. ``cells`` holds per cell
    ``h`` (stratum), ``w``, ``w2`` and per stratum ``factor`` (f_h) and ``per_sum`` (f_h / n_h).

    Writing ``f_g`` for domain ``g``'s fitted values (0 without calibration),
    ``z_ig = w_i (u_ig - f_g(cell_i))`` and
    ``var_g = sum_i f_h(i) z_ig^2 - sum_h f_h/n_h S_hg^2`` with
    ``S_hg = e_hg - qh[h]' gamma_g`` (``e`` sparse over the ``e`` pairs); both terms are expanded
    into bincounts over the pairs and O(s^2) work per domain.
    """
    n_dom = p.n_domains

    def by_domain(codes: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.bincount(codes, weights=weights, minlength=n_dom)

    per_sum = cells["per_sum"]
    t1 = by_domain(p.k_domain, p.k_factor * sums["w2u2"])
    e = np.bincount(p.e_of_k, weights=sums["wu"], minlength=p.n_e)   # sum of w u by (domain, stratum)
    if basis is not None:
        s = basis.s

        def flat(index: np.ndarray, weights: np.ndarray) -> np.ndarray:  # (domains, s) sums
            return np.bincount(index, weights=weights, minlength=n_dom * s).reshape(n_dom, s)

        k_fw2u = p.k_factor * sums["w2u"]
        m = np.bincount(p.q_of_k, weights=sums["du"], minlength=p.n_q) * p.q_invd   # m_g[l] per q pair
        gamma = flat(p.xk_flat, p.xk_data * sums["du"][p.xk_row]) @ basis.tpinv     # (G, s)
        # sum over the domain's pairs of f w^2 u f_g, and over all cells of f w^2 f_g^2
        cross = (_rowdot(flat(p.xk_flat, p.xk_data * k_fw2u[p.xk_row]), gamma)
                 + by_domain(p.q_domain, np.bincount(p.q_of_k, weights=k_fw2u, minlength=p.n_q) * m))
        quad = (_rowdot(gamma @ basis.g2_sq, gamma) + 2.0 * _rowdot(flat(p.r2_flat, p.r2_data * m[p.r2_row]), gamma)
                + by_domain(p.q_domain, p.q_fw2 * m**2))
        t1 += quad - 2.0 * cross
        e -= np.bincount(p.e_of_trip, weights=p.trip_al * m[p.trip_q], minlength=p.n_e)
        t2 = by_domain(p.e_domain, per_sum[p.e_stratum] * e**2) + _rowdot(gamma @ basis.qpsi_sq, gamma)
        if s:
            t2 -= 2.0 * _rowdot(flat(p.e_flat, p.e_psi_qh * np.repeat(e, s)), gamma)
    else:
        t2 = by_domain(p.e_domain, per_sum[p.e_stratum] * e**2)
    var = t1 - t2
    if whole is None:
        return var, None

    fb = np.zeros(cells["h"].size)
    if basis is not None:
        gamma_b = basis.tpinv @ (basis.xt.T @ whole["db"])
        m_b = (basis.lam.T @ whole["db"]) * basis.inv_d_large
        fb = basis.xt @ gamma_b + m_b[basis.lcat]          # fitted values of b per cell
    fcell = cells["factor"][cells["h"]]
    sb = np.bincount(cells["h"], weights=whole["wb"] - cells["w"] * fb, minlength=per_sum.size)  # S_h of z_b
    psb = per_sum * sb
    zb2 = cells["factor"] @ whole["w2b2"] - 2.0 * (fcell * whole["w2b"]) @ fb + (fcell * cells["w2"]) @ fb**2
    x1 = by_domain(p.k_domain, p.k_factor * (sums["w2ub"] - sums["w2u"] * fb[p.k_cell]))
    x2 = by_domain(p.e_domain, e * psb[p.e_stratum])
    if basis is not None:
        cb = fcell * (whole["w2b"] - cells["w2"] * fb)      # sum_i f w^2 (b - fb) f_g = cb' f_g
        x1 -= gamma @ (basis.xt.T @ cb) + by_domain(p.q_domain, m * (basis.lam.T @ cb)[p.q_lcat])
        x2 -= gamma @ (basis.qh.T @ psb)
    return var, (t1 - 2.0 * x1 + zb2) - (t2 - 2.0 * x2 + psb @ sb)
