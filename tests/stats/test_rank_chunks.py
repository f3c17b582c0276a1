"""rank_intervals in chunks: identical to the one-block simulation, bounded memory (issue #20)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo_cohesion.stats import compare
from geo_cohesion.stats.compare import rank_intervals


def one_block_reference(est, se, level, n_draws, seed, df=None) -> pd.DataFrame:
    """The implementation before chunking (verbatim): all draws at once, ranks by double argsort."""
    est, sd = np.asarray(est, float), np.asarray(se, float)
    ok = ~np.isnan(est) & ~np.isnan(sd)
    if df is not None:
        nu = np.asarray(df, float)
        ok &= ~np.isnan(nu) & (nu > 0)
    valid = np.flatnonzero(ok)
    out = pd.DataFrame({"rank": np.nan, "rank_low": np.nan, "rank_high": np.nan}, index=range(est.size))
    rng = np.random.default_rng(seed)
    if df is None:
        draws = rng.normal(est[valid], sd[valid], size=(n_draws, valid.size))
    else:
        noise = rng.standard_normal((n_draws, valid.size))
        finite = np.isfinite(nu[valid])
        if finite.any():
            noise[:, finite] = rng.standard_t(nu[valid][finite], size=(n_draws, int(finite.sum())))
        draws = est[valid] + sd[valid] * noise
    ranks = (-draws).argsort(axis=1, kind="stable").argsort(axis=1, kind="stable") + 1
    tail = (1.0 - level) / 2.0
    out.loc[valid, "rank"] = pd.Series(est[valid]).rank(ascending=False, method="min").to_numpy()
    out.loc[valid, "rank_low"] = np.quantile(ranks, tail, axis=0, method="inverted_cdf")
    out.loc[valid, "rank_high"] = np.quantile(ranks, 1.0 - tail, axis=0, method="inverted_cdf")
    return out


@pytest.mark.parametrize("chunk_cells", [1, 97, 5_000, 10_000_000])
@pytest.mark.parametrize("with_df", ["none", "mixed", "all_finite", "all_infinite"])
def test_chunked_ranks_equal_the_one_block_simulation(monkeypatch, chunk_cells, with_df):
    rng = np.random.default_rng(11)
    g = 57
    est = np.round(rng.normal(60, 4, g), 1)  # rounded: ties, so the stable tie order matters too
    se = rng.uniform(0.5, 3, g)
    est[[3, 20]] = np.nan
    se[7] = np.nan
    df = {"none": None, "mixed": np.where(rng.random(g) < 0.5, rng.integers(2, 40, g).astype(float), np.inf),
          "all_finite": rng.integers(2, 40, g).astype(float), "all_infinite": np.full(g, np.inf)}[with_df]
    if df is not None:
        df[11] = np.nan
    monkeypatch.setattr(compare, "RANK_CHUNK_CELLS", chunk_cells)
    monkeypatch.setattr(compare, "_QUANTILE_COLUMNS", 5)
    got = rank_intervals(est, se, 0.9, 301, seed=4, df=df)
    pd.testing.assert_frame_equal(got, one_block_reference(est, se, 0.9, 301, 4, df))


def test_rank_table_is_small_integers_and_memory_is_bounded():
    ranks = compare._simulated_ranks(np.zeros(3000), np.ones(3000), None, 200, 0)
    assert ranks.dtype == np.uint16 and ranks.shape == (200, 3000)
    assert (np.sort(ranks, axis=1) == np.arange(1, 3001)).all()  # every draw is a permutation
