"""Indicator registry (geo_cohesion.radar.indicators): declared > known > generic, roles, notes."""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import pandas as pd
import pytest
import yaml

from geo_cohesion.errors import InputError
from geo_cohesion.radar.indicators import (
    DIRECTIONS,
    ROLES,
    Indicator,
    check_declared,
    indicator_registry,
    indicator_table,
    known_indicator,
)


def table(**extra) -> pd.DataFrame:
    frame = pd.DataFrame({"bezirk": ["01", "02", "03"], "name": ["Nord", "Mitte", "Süd"],
                          "einwohner": [1000, 2000, 1500], "transferbezug_pct": [12.0, 4.5, 8.0],
                          "arbeitslose_pct": [9.0, 3.0, 6.5], **extra})
    frame.attrs["source"] = "strukturdaten.csv"
    return frame


@dataclass
class Spec:
    """Stands in for the pydantic IndicatorSpec of the settings schema (attributes, not keys)."""

    label: str | None = None
    unit: str | None = None
    direction: str | None = None
    role: str | None = None


def test_known_catalogue_is_complete_in_both_languages():
    raw = yaml.safe_load(resources.files("geo_cohesion").joinpath("radar/data/indicators.yaml")
                         .read_text(encoding="utf-8"))
    for column, entry in raw.items():
        assert set(entry["label"]) == {"de", "en"}, column
        assert entry["direction"] in DIRECTIONS and entry.get("role") in ROLES, column
        for lang in ("de", "en"):
            assert known_indicator(column, lang).label == entry["label"][lang]
    assert {"population_total", "migration_share_pct", "unemployment_pct", "sgb2_share_pct", "arbeitslose_pct",
            "transferbezug_pct", "kinderarmut_pct", "auslaender_pct", "altersarmut_pct",
            "alleinerziehende_pct"} <= set(raw)


def test_known_indicators_match_by_alias_and_case():
    assert known_indicator("SGB2_Quote").label == "SGB-II-Quote"
    assert known_indicator("SGB2_Quote").column == "SGB2_Quote"  # the user's spelling is kept
    assert known_indicator("Einwohner").role == "population"
    assert known_indicator("sgb2_share_pct", "en").label == "SGB II benefit rate"
    assert known_indicator("kita_quote") is None


def test_every_numeric_column_except_id_and_name_in_table_order():
    registry = indicator_registry(table(bemerkung=["a", "b", "c"], kita_quote=[1.0, 2.0, 3.0]),
                                  exclude=["bezirk", "name"])
    assert registry.columns == ["einwohner", "transferbezug_pct", "arbeitslose_pct", "kita_quote"]
    assert [i.origin for i in registry] == ["known", "known", "known", "generic"]
    assert registry.population().column == "einwohner"
    assert registry.deprivation().column == "transferbezug_pct"
    assert [i.column for i in registry.for_association()] == ["transferbezug_pct", "arbeitslose_pct", "kita_quote"]
    assert registry.for_maps() == registry.for_association()
    generic = registry["kita_quote"]
    assert (generic.label, generic.unit, generic.direction, generic.role) == ("kita_quote", "", "neutral", None)
    assert any("no label declared for column 'kita_quote'" in n and "structural.indicators" in n
               for n in registry.notes)
    assert "kita_quote" in registry and "bemerkung" not in registry and registry.get("bemerkung") is None


def test_declared_spec_wins_field_by_field():
    declared = {"transferbezug_pct": {"label": "Transferbezug", "role": "deprivation"},
                "arbeitslose_pct": {"label": "Arbeitslose (Anteil)", "unit": "% der 15- bis 64-Jährigen"}}
    registry = indicator_registry(table(), declared, exclude=["bezirk", "name"])
    t = registry["transferbezug_pct"]
    assert (t.label, t.unit, t.direction, t.role, t.origin) == ("Transferbezug", "%", "higher_is_worse",
                                                                "deprivation", "declared")
    a = registry["arbeitslose_pct"]
    assert (a.label, a.unit, a.direction) == ("Arbeitslose (Anteil)", "% der 15- bis 64-Jährigen", "higher_is_worse")
    assert a.title == "Arbeitslose (Anteil) (% der 15- bis 64-Jährigen)"


def test_specs_as_objects_work_like_mappings():
    registry = indicator_registry(table(), {"arbeitslose_pct": Spec(label="Arbeitslose", role="deprivation")},
                                  exclude=["bezirk", "name"])
    assert registry.deprivation().column == "arbeitslose_pct"  # declared beats the known transferbezug_pct
    assert registry["transferbezug_pct"].role is None
    assert registry["arbeitslose_pct"].label == "Arbeitslose"


def test_no_deprivation_indicator_is_reported_with_how_to_declare_it():
    frame = table().drop(columns=["transferbezug_pct"])
    registry = indicator_registry(frame, exclude=["bezirk", "name"])
    assert registry.deprivation() is None
    note = next(n for n in registry.notes if "deprivation" in n)
    assert "bivariate map" in note and "structural.indicators" in note
    assert "arbeitslose_pct: {role: deprivation}" in note


def test_ambiguous_roles():
    registry = indicator_registry(table(sgb2_quote=[1.0, 2.0, 3.0]), exclude=["bezirk", "name"])
    assert registry.deprivation().column == "transferbezug_pct" and registry["sgb2_quote"].role is None
    assert any("several deprivation columns (transferbezug_pct, sgb2_quote)" in n for n in registry.notes)
    with pytest.raises(InputError, match="2 columns have role deprivation"):
        indicator_registry(table(), {"transferbezug_pct": {"role": "deprivation"},
                                     "arbeitslose_pct": {"role": "deprivation"}}, exclude=["bezirk", "name"])


def test_a_known_role_can_be_cleared():
    registry = indicator_registry(table(), {"transferbezug_pct": {"role": None}}, exclude=["bezirk", "name"])
    assert registry.deprivation() is None


def test_population_is_not_associated_and_its_absence_noted():
    registry = indicator_registry(table().drop(columns=["einwohner"]), exclude=["bezirk", "name"])
    assert registry.population() is None
    assert any("unweighted" in n and "role: population" in n for n in registry.notes)


@pytest.mark.parametrize("declared, message", [
    ({"kita": {"label": "Kita"}}, "column 'kita' is not in the structural table"),
    ({"bezirk": {}}, "'bezirk' is the district id or name column"),
    ({"arbeitslose_pct": {"lable": "x"}}, "unknown key(s) 'lable'"),
    ({"arbeitslose_pct": {"direction": "up"}}, "direction' must be one of higher_is_worse"),
    ({"arbeitslose_pct": {"role": "armut"}}, "role' must be one of deprivation, population, context"),
    ({"arbeitslose_pct": {"label": 3}}, "label' must be text"),
    ({"arbeitslose_pct": {"role": "deprivation", "direction": "higher_is_better"}},
     "deprivation indicator must have direction higher_is_worse"),
    ({"arbeitslose_pct": "Arbeitslose"}, "must be a mapping"),
])
def test_bad_declarations_are_input_errors(declared, message):
    with pytest.raises(InputError) as info:
        indicator_registry(table(), declared, exclude=["bezirk", "name"])
    assert message in str(info.value)


def test_declared_column_with_text_names_the_rows():
    frame = table(kinderarmut_pct=["12,5", "x", "7"])
    with pytest.raises(InputError, match=r"'x' is not a number") as info:
        indicator_registry(frame, {"kinderarmut_pct": {}}, exclude=["bezirk", "name"])
    assert "strukturdaten.csv" in str(info.value) and "kinderarmut_pct" in str(info.value)
    # undeclared, the column is left out with a note instead
    registry = indicator_registry(frame, exclude=["bezirk", "name"])
    assert "kinderarmut_pct" not in registry
    assert any("'kinderarmut_pct' is mostly numbers but also holds text" in n for n in registry.notes)


def test_decimal_comma_text_columns_are_indicators_read_as_numbers():
    frame = table(kinderarmut_pct=["12,5", "3,0", ""])
    registry = indicator_registry(frame, exclude=["bezirk", "name"])
    assert registry["kinderarmut_pct"].label == "Kinderarmut"
    numeric = indicator_table(frame, registry)
    assert numeric["kinderarmut_pct"].tolist()[:2] == [12.5, 3.0] and pd.isna(numeric["kinderarmut_pct"].iloc[2])


@pytest.mark.parametrize("value", [1e300, float("inf"), -2e12])
def test_absurd_indicator_values_are_an_error_naming_the_cell(value):
    """An indicator of 1e300 overflowed the association statistics (nan correlations, pages of
    RuntimeWarnings; robustness sweep 2)."""
    frame = table(kinderarmut_pct=[12.5, value, 3.0])
    registry = indicator_registry(frame, exclude=["bezirk", "name"])
    with pytest.raises(InputError, match=r"line 3, column 'kinderarmut_pct'.*not a plausible number"):
        frame.attrs["source"] = "struktur.csv"
        indicator_table(frame, registry)
    assert indicator_table(table(kinderarmut_pct=[12.5, 1e11, None]), registry)["kinderarmut_pct"].iloc[1] == 1e11


def test_explicit_selection_names_unknown_and_available():
    registry = indicator_registry(table(), exclude=["bezirk", "name"])
    assert [i.column for i in registry.select(None, "compare.indicators")] == ["transferbezug_pct",
                                                                               "arbeitslose_pct"]
    assert [i.column for i in registry.select(["arbeitslose_pct"], "compare.indicators")] == ["arbeitslose_pct"]
    with pytest.raises(InputError) as info:
        registry.select(["arbeitslose_pct", "sgb2_share_pct"], "compare.indicators")
    assert "compare.indicators: unknown indicator(s) 'sgb2_share_pct'" in str(info.value)
    assert "available: einwohner, transferbezug_pct, arbeitslose_pct" in info.value.hint


def test_column_names_only_and_english():
    registry = indicator_registry(["population_total", "unemployment_pct", "eigenes"], lang="en")
    assert [i.label for i in registry] == ["Population", "Unemployment rate", "eigenes"]
    assert registry["population_total"].unit == "persons"
    with pytest.raises(InputError, match="unknown language"):
        indicator_registry(["x"], lang="fr")


def test_check_declared_accepts_empty_specs():
    check_declared(None)
    check_declared({"arbeitslose_pct": None, "kita": {}})
    with pytest.raises(InputError, match="must be a mapping"):
        check_declared(["arbeitslose_pct"])


def test_indicator_is_frozen():
    indicator = Indicator("x", "X")
    with pytest.raises(AttributeError):
        indicator.label = "Y"  # type: ignore[misc]
