"""Property tests (hypothesis) for the statistical invariants."""
from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings, strategies as st

from geo_cohesion.radar.codebook import load_codebook
from geo_cohesion.radar.scoring import score_respondents
from geo_cohesion.survey.design import SurveyDesign

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def surveys(draw):
    """A survey where every margin category has respondents, plus margins that raking can reach."""
    n = draw(st.integers(30, 120))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_districts = draw(st.integers(2, 5))
    districts = [f"d{i}" for i in range(n_districts)]
    frame = pd.DataFrame({
        "district": np.concatenate([districts, rng.choice(districts, n - n_districts)]),
        "age": np.concatenate([["a", "b", "c"], rng.choice(["a", "b", "c"], n - 3)]),
        "sex": np.concatenate([["w", "m"], rng.choice(["w", "m"], n - 2)]),
    })
    frame["dw"] = rng.uniform(1, 5, n)
    frame["y"] = rng.uniform(0, 100, n)
    # margins are the totals of some positive reweighting of the sample, so a solution exists
    scale = float(draw(st.integers(1_000, 1_000_000))) / n
    true_weights = rng.uniform(0.3, 3.0, n) * scale
    margins = {c: pd.Series(true_weights).groupby(frame[c]).sum().to_dict() for c in ("district", "age", "sex")}
    return frame, margins


@SETTINGS
@given(surveys())
def test_raked_weights_reproduce_every_margin(case):
    frame, margins = case
    raked = SurveyDesign(frame, weight="dw").rake(margins, max_iter=5000)
    for column, totals in margins.items():
        sums = raked.weights.groupby(frame[column]).sum()
        for category, total in totals.items():
            assert abs(sums[category] - total) <= 1e-8 * total


@SETTINGS
@given(surveys(), st.randoms(use_true_random=False))
def test_estimates_do_not_depend_on_row_or_district_order(case, rnd):
    frame, margins = case
    order = list(range(len(frame)))
    rnd.shuffle(order)
    shuffled = frame.iloc[order].reset_index(drop=True)
    shuffled_margins = {k: dict(sorted(v.items(), reverse=True)) for k, v in margins.items()}
    a = SurveyDesign(frame, weight="dw").rake(margins).domain_means("y", "district")
    b = SurveyDesign(shuffled, weight="dw").rake(shuffled_margins).domain_means("y", "district")
    pd.testing.assert_frame_equal(a, b, rtol=1e-9, atol=1e-9)


@SETTINGS
@given(surveys(), st.integers(1, 30))
def test_district_estimate_unchanged_by_respondents_elsewhere_with_fixed_weights(case, extra):
    frame, _ = case
    target = frame["district"].iloc[0]
    others = frame[frame["district"] != target]
    if others.empty:
        return
    added = others.sample(extra, replace=True, random_state=extra).assign(y=lambda f: 100 - f["y"])
    bigger = pd.concat([frame, added], ignore_index=True)
    a = SurveyDesign(frame, weight="dw").domain_means("y", "district")
    b = SurveyDesign(bigger, weight="dw").domain_means("y", "district")
    row_a = a[a["district"] == target].iloc[0]
    row_b = b[b["district"] == target].iloc[0]
    assert abs(row_a["estimate"] - row_b["estimate"]) < 1e-9


@SETTINGS
@given(st.data())
def test_index_between_0_and_100(data):
    codebook = load_codebook()
    n = data.draw(st.integers(1, 20))
    columns = {}
    for item in codebook.items:
        choices = list(range(int(item.scale_min), int(item.scale_max) + 1)) + sorted(int(c) for c in item.missing_codes)
        columns[item.item] = data.draw(st.lists(st.sampled_from(choices), min_size=n, max_size=n))
    scores = score_respondents(pd.DataFrame(columns), codebook).to_numpy()
    finite = scores[~np.isnan(scores)]
    assert (finite >= 0).all() and (finite <= 100).all()
