"""Merging margin categories without respondents (geo_cohesion.survey.calibrate.collapse_empty_categories).

The rule, by hand on small graphs: an empty category goes to the candidate partner with the fewest
respondents; rounds are breadth-first (a direct partner with respondents wins over a chain);
partner mappings are tiers tried in order; the population total never changes.
"""
from __future__ import annotations

import pytest
from conftest import make_survey

from geo_cohesion.errors import InputError
from geo_cohesion.survey.calibrate import CollapseReport, collapse_empty_categories
from geo_cohesion.survey.design import SurveyDesign

#   a - b - c - d - e      (a line of districts; x is an island, z has no population)
LINE = {"a": ["b"], "b": ["a", "c"], "c": ["b", "d"], "d": ["c", "e"], "e": ["d"]}


def test_empty_category_goes_to_the_partner_with_fewest_respondents():
    totals, report = collapse_empty_categories({"a": 100, "b": 50, "c": 20}, {"a": 9, "b": 3}, {"c": ["a", "b"]})
    assert totals == {"a": 100.0, "b": 70.0}
    assert report.merged == {"c": "b"} and report.describe() == "c→b" and bool(report)


def test_ties_are_broken_by_text_order_and_nothing_else_changes():
    totals, report = collapse_empty_categories({"a": 10, "b": 10, "c": 5, "z": 0}, {"b": 4, "a": 4},
                                               {"c": ["b", "a"]})
    assert report.merged == {"c": "a"}
    assert totals == {"a": 15.0, "b": 10.0, "z": 0.0}   # no population: passed through, not merged


def test_nothing_to_do():
    totals, report = collapse_empty_categories({"a": 10, "b": 20}, {"a": 1, "b": 2}, {})
    assert totals == {"a": 10.0, "b": 20.0} and not report and report.describe() == ""


def test_chained_empties_go_breadth_first():
    # b and d are empty: each has a neighbour with respondents and is merged directly
    totals, report = collapse_empty_categories({k: 10 for k in "abcde"}, {"a": 5, "c": 9, "e": 2}, LINE)
    assert report.merged == {"b": "a", "d": "e"}
    assert report.via == report.merged
    assert sum(totals.values()) == 50


def test_empty_category_whose_only_neighbours_are_empty():
    # a and b are empty; a's only neighbour b is empty: b -> c first, then a -> c through b
    totals, report = collapse_empty_categories({k: 10 for k in "abcde"}, {"c": 3, "d": 1, "e": 8}, LINE)
    assert report.merged == {"b": "c", "a": "c"}
    assert report.via == {"b": "c", "a": "b"}
    assert report.pairs() == ["b→c", "a→c (über b)"]
    assert totals == {"c": 30.0, "d": 10.0, "e": 10.0}


def test_a_direct_partner_wins_over_a_chain_even_with_more_respondents():
    # c is empty and next to d (50 respondents) and b (empty, next to a with 1 respondent)
    _, report = collapse_empty_categories({k: 10 for k in "abcd"}, {"a": 1, "d": 50},
                                          {"b": ["a", "c"], "c": ["b", "d"]})
    assert report.merged == {"b": "a", "c": "d"}


def test_partner_tiers_are_tried_in_order_and_restart_after_a_merge():
    same_group = {"c": ["d"], "d": []}            # c prefers its group neighbour d (empty itself)
    neighbours = {"c": ["a", "d"], "d": ["e"]}     # d only has e (other group)
    totals, report = collapse_empty_categories({k: 10 for k in "acde"}, {"a": 2, "e": 7}, [same_group, neighbours])
    # round 1 (tier 1) finds nothing; tier 2 merges c -> a and d -> e at once ... c chose a (2 < 7)
    assert report.merged == {"c": "a", "d": "e"}
    # with d resolved first in a tier, c then takes its same-group partner d
    _, report = collapse_empty_categories({k: 10 for k in "acde"}, {"a": 2, "e": 7},
                                          [same_group, {"d": ["e"]}, {"c": ["a"]}])
    assert report.merged == {"d": "e", "c": "e"} and report.via["c"] == "d"


def test_unresolvable_empty_category_is_an_error_or_reported():
    with pytest.raises(InputError, match=r"'x'.*no partner") as info:
        collapse_empty_categories({"a": 10, "x": 5}, {"a": 3}, {"a": []})
    assert "neighbouring" in info.value.hint
    # two empties that only know each other
    totals, report = collapse_empty_categories({"a": 10, "x": 5, "y": 5}, {"a": 3}, {"x": ["y"], "y": ["x"]},
                                               strict=False)
    assert report.unresolved == ("x", "y") and totals == {"a": 10.0, "x": 5.0, "y": 5.0}


def test_collapsed_margins_rake_and_the_report_is_in_the_diagnostics():
    frame, margins = make_survey(n=300, n_districts=4, seed=3)
    margins["district"]["D04"] = 7_000.0      # a district with population but nobody in the sample
    margins["district"]["D00"] -= 7_000.0
    design = SurveyDesign(frame, weight="design_weight")
    with pytest.raises(InputError, match="'D04' of 'district' has population 7000 but no respondents"):
        design.rake(margins)
    counts = frame["district"].value_counts().to_dict()
    partners = {"D04": ["D01", "D03"]}
    district, report = collapse_empty_categories(margins["district"], counts, partners)
    raked = design.rake({**margins, "district": district}, collapsed=report)
    fewest = min(["D01", "D03"], key=lambda d: counts[d])
    assert report.merged == {"D04": fewest}
    assert raked.diagnostics.collapsed == f"D04→{fewest}"
    assert isinstance(raked.collapsed, CollapseReport)
    sums = raked.weights.groupby(frame["district"]).sum()
    assert sums[fewest] == pytest.approx(margins["district"][fewest] + 7_000.0, rel=1e-9)
    assert raked.weights.sum() == pytest.approx(100_000.0, rel=1e-9)   # the whole city, empty district included
    assert design.rake(margins | {"district": district}).diagnostics.collapsed == ""
