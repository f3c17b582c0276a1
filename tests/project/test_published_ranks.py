"""Rank intervals of the published district estimates (geo_cohesion.project.small_area.published_ranks):
the ranks behind the map tooltips and ``district_estimates.csv``, model and direct rows together."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from geo_cohesion.project.small_area import published_ranks
from geo_cohesion.stats.compare import rank_intervals

PROJECT = SimpleNamespace(estimates=SimpleNamespace(level=0.95), compare=SimpleNamespace(rank_draws=4000), seed=7)


def _table(rng: np.random.Generator, districts: int = 12) -> pd.DataFrame:
    rows = []
    for variable in ("index", "identifikation"):
        for k in range(districts):
            model = k % 3 != 0
            rows.append({"district_id": f"{k + 1:02d}", "variable": variable,
                         "estimate": float(rng.uniform(50, 75)), "se": float(rng.uniform(0.5, 3.0)),
                         "df": float(rng.integers(4, 80)), "suppressed": k == 5,
                         "estimator": "fay_herriot" if model else "direct"})
    return pd.DataFrame(rows)


def test_each_row_enters_with_its_own_reference_distribution():
    table = _table(np.random.default_rng(1))
    ranked = published_ranks(table, PROJECT)
    for _variable, rows in ranked.groupby("variable"):
        shown = rows[~rows["suppressed"]].sort_values("district_id")
        # direct rows: t with their df (as their interval); model rows: normal (as theirs)
        df = np.where(shown["estimator"] == "direct", shown["df"], np.inf)
        expected = rank_intervals(shown["estimate"], shown["se"], 0.95, 4000, seed=7, df=df)
        np.testing.assert_array_equal(shown[["rank", "rank_low", "rank_high"]].to_numpy(), expected.to_numpy())
        assert rows.loc[rows["suppressed"], ["rank", "rank_low", "rank_high"]].isna().all().all()
        assert shown["rank"].max() <= len(shown) and sorted(shown["rank"]) == list(range(1, len(shown) + 1))


def test_row_order_does_not_change_a_districts_ranks():
    table = _table(np.random.default_rng(2))
    first = published_ranks(table, PROJECT).set_index(["variable", "district_id"]).sort_index()
    shuffled = published_ranks(table.sample(frac=1.0, random_state=3), PROJECT)
    second = shuffled.set_index(["variable", "district_id"]).sort_index()
    pd.testing.assert_frame_equal(first[["rank", "rank_low", "rank_high"]], second[["rank", "rank_low", "rank_high"]])


def test_equal_model_estimates_cannot_be_told_apart():
    """A synthetic estimate shared by every district (sigma2_u = 0): all tie, the intervals span the city."""
    table = pd.DataFrame({"district_id": [f"{k}" for k in range(1, 9)], "variable": "index", "estimate": 60.0,
                          "se": 0.5, "df": 10.0, "suppressed": False, "estimator": "fay_herriot"})
    ranked = published_ranks(table, PROJECT)
    assert (ranked["rank"] == 1).all()
    assert ranked["rank_low"].max() <= 2 and ranked["rank_high"].min() >= 7


def test_without_df_every_row_is_normal_and_nothing_published_means_no_ranks():
    table = _table(np.random.default_rng(4)).drop(columns="df")
    ranked = published_ranks(table, PROJECT)
    rows = ranked[(ranked["variable"] == "index") & ~ranked["suppressed"]].sort_values("district_id")
    expected = rank_intervals(rows["estimate"], rows["se"], 0.95, 4000, seed=7)
    np.testing.assert_array_equal(rows[["rank", "rank_low", "rank_high"]].to_numpy(), expected.to_numpy())
    hidden = published_ranks(table.assign(suppressed=True), PROJECT)
    assert hidden[["rank", "rank_low", "rank_high"]].isna().all().all()


def test_group_tables_rank_by_their_key():
    table = _table(np.random.default_rng(5))
    by_group = published_ranks(table.rename(columns={"district_id": "group"}), PROJECT, "group")
    by_district = published_ranks(table, PROJECT)
    np.testing.assert_array_equal(by_group[["rank", "rank_low", "rank_high"]].to_numpy(),
                                  by_district[["rank", "rank_low", "rank_high"]].to_numpy())


def test_a_direct_row_without_df_is_ranked_with_the_normal_reference():
    """Weighted score tables may lack df: their intervals are normal, and so are their rank draws."""
    table = _table(np.random.default_rng(6))
    table.loc[table["estimator"] == "direct", "df"] = np.nan
    ranked = published_ranks(table, PROJECT)
    shown = ranked[~ranked["suppressed"]]
    assert shown["rank"].notna().all()
    normal = published_ranks(table.drop(columns="df"), PROJECT)
    np.testing.assert_array_equal(ranked[["rank", "rank_low", "rank_high"]].to_numpy(),
                                  normal[["rank", "rank_low", "rank_high"]].to_numpy())
