"""Join keys (geo_cohesion.keys): matching cost and the unmatched-key report.

Name variants and the message format are tested with the map join in tests/maps/test_join.py.
"""
from __future__ import annotations

import difflib

import pytest

from geo_cohesion import keys
from geo_cohesion.errors import InputError
from geo_cohesion.keys import match_keys

#: 542 eight-digit ids like Berlin's Planungsräume.
BERLIN_LIKE = [f"{b:02d}{r:02d}{p:04d}" for b in range(1, 13) for r in range(1, 10) for p in range(1, 7)][:542]


@pytest.fixture
def counted(monkeypatch):
    """Count calls of the key normaliser and of difflib's fuzzy matcher inside geo_cohesion.keys."""
    calls = {"normalise": 0, "close": 0}
    normalise, close = keys.normalise_key, difflib.get_close_matches

    def counting_normalise(value):
        calls["normalise"] += 1
        return normalise(value)

    def counting_close(*args, **kwargs):
        calls["close"] += 1
        return close(*args, **kwargs)

    monkeypatch.setattr(keys, "normalise_key", counting_normalise)
    monkeypatch.setattr(keys.difflib, "get_close_matches", counting_close)
    return calls


def test_542_unmatched_ids_cost_linear_work_and_suggest_only_for_reported_keys(counted):
    left = BERLIN_LIKE
    right = [f"X{k}" for k in BERLIN_LIKE]   # nothing matches: 1084 problems
    with pytest.raises(InputError) as info:
        match_keys(left, right, "mss.csv", "plr.shp")
    text = str(info.value)
    assert text.count("not found in") == keys.MAX_REPORTED and f"(and {2 * 542 - keys.MAX_REPORTED} more)" in text
    assert text.startswith("districts do not match: '01010001' from mss.csv not found in plr.shp; did you mean 'X")
    assert counted["close"] == keys.MAX_REPORTED                # suggestions only for the reported keys
    assert counted["normalise"] <= 2 * (len(left) + len(right))  # each key normalised a bounded number of times


def test_matching_is_dictionary_lookups(counted):
    left = BERLIN_LIKE
    right = [str(int(k)) for k in BERLIN_LIKE]   # "01010001" and "1010001" are the same key
    mapping = match_keys(left, right, "a", "b")
    assert mapping == dict(zip(left, right))
    assert counted["close"] == 0 and counted["normalise"] <= 2 * (len(left) + len(right))


def test_unmatched_on_both_sides_are_reported_left_first():
    with pytest.raises(InputError) as info:
        match_keys(["Hörde", "Evng", "Mitte"], ["Hoerde", "Eving", "Brackel"], "scores.csv", "bezirke.shp")
    text = str(info.value)
    assert text.index("'Evng' from scores.csv") < text.index("'Brackel' from bezirke.shp")
    assert "did you mean 'Eving'?" in text
    assert match_keys(["Hörde", "Evng"], ["Hoerde", "Eving"], "a", "b", allow_missing=True) == {"Hörde": "Hoerde"}


def test_dashes_match_like_hyphens():
    """Excel turns '18-34' into '18–34' (en dash); a dash separates like a hyphen."""
    assert keys.normalise_key("18–34") == keys.normalise_key("18-34") == "18 34"
    assert keys.normalise_key("Innenstadt—West") == keys.normalise_key("Innenstadt-West")
