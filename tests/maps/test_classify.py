"""Classes and legends (geo_cohesion.maps.classify): collapsed classes say so."""
from __future__ import annotations

import numpy as np
import pytest

from geo_cohesion.maps.classify import classify_values


@pytest.mark.parametrize("scheme", ["quantiles", "natural_breaks"])
def test_tied_values_collapse_to_fewer_classes_and_the_legend_says_so(scheme):
    values = np.array([64.4] * 8 + [70.0, 71.0])
    cls = classify_values(values, scheme, k=5)
    assert cls.collapsed and cls.requested == 5
    # every legend class holds districts, and no class reads "64,4 – 64,4"
    assert sorted(set(cls.class_index)) == list(range(len(cls.labels)))
    assert all(" – " not in lab or lab.split(" – ")[0] != lab.split(" – ")[1] for lab in cls.labels)
    assert cls.labels[0] == "64,4"
    assert cls.legend_notes() == [f"nur {len(cls.labels)} statt 5 Klassen: zu wenige verschiedene Werte"]
    assert cls.legend_notes("en") == [f"only {len(cls.labels)} instead of 5 classes: too few distinct values"]


def test_a_single_value_is_one_class_labelled_with_that_value():
    cls = classify_values(np.array([64.4, 64.4, 64.4, np.nan]), "quantiles", k=5)
    assert cls.labels == ("64,4",) and list(cls.class_index) == [0, 0, 0, -1]
    assert cls.legend_notes()[0] == "nur 1 statt 5 Klassen: zu wenige verschiedene Werte"


def test_distinct_values_keep_every_class_and_no_note():
    cls = classify_values(np.arange(20.0), "quantiles", k=5)
    assert len(cls.labels) == 5 and not cls.collapsed and cls.legend_notes() == []
    assert all(" – " in lab for lab in cls.labels)


def test_mostly_missing_values_are_named_in_the_legend():
    values = np.array([50.0, 60.0, 70.0] + [np.nan] * 7)
    cls = classify_values(values, "equal_interval", k=3)
    assert cls.legend_notes() == ["nur 3 von 10 Gebieten mit Wert"]
    assert classify_values(np.array([50.0, 60.0, 70.0, np.nan]), "equal_interval", k=3).legend_notes() == []


def test_fixed_and_diverging_classes_never_report_a_collapse():
    assert classify_values(np.array([55.0, 55.0]), "fixed").legend_notes() == []
    assert classify_values(np.array([-1.0, 1.0]), diverging=True).legend_notes() == []
