"""Codebook and Radar structure (geo_cohesion.radar.codebook)."""
from __future__ import annotations

import pytest

from geo_cohesion.errors import InputError
from geo_cohesion.radar.codebook import load_codebook, load_radar

CONTRACT_SLUGS = ["index", "soziale_beziehungen", "verbundenheit", "gemeinwohlorientierung", "soziale_netze",
                  "vertrauen_in_mitmenschen", "akzeptanz_von_diversitaet", "identifikation",
                  "vertrauen_in_institutionen", "gerechtigkeitsempfinden", "solidaritaet_und_hilfsbereitschaft",
                  "anerkennung_sozialer_regeln", "gesellschaftliche_teilhabe"]


def test_radar_has_nine_dimensions_in_three_domains_with_contract_slugs():
    radar = load_radar()
    assert radar.variables == CONTRACT_SLUGS
    assert len(radar.dimensions) == 9
    assert all(len(radar.dimensions_of(d)) == 3 for d in radar.domains)
    assert radar.labels["akzeptanz_von_diversitaet"] == "Akzeptanz von Diversität"


def test_packaged_codebook_covers_every_dimension():
    codebook = load_codebook()
    for dim in load_radar().dimensions:
        assert codebook.items_of(dim.slug), dim.slug
    assert codebook.min_valid("soziale_netze") == 2  # 3 items, at least half valid -> 2
    assert codebook.min_valid("identifikation") == 2  # 4 items -> 2


def write(tmp_path, text):
    path = tmp_path / "codebook.csv"
    path.write_text(text, encoding="utf-8")
    return path


HEADER = "item,dimension,label,scale_min,scale_max,reversed,missing_codes\n"


def full_rows(extra: str = "") -> str:
    rows = [f"{d.slug}_{i},{d.slug},x,1,5,no,8;9" for d in load_radar().dimensions for i in range(2)]
    return HEADER + "\n".join(rows) + "\n" + extra


def test_user_codebook_with_semicolons_and_reversed_items(tmp_path):
    text = full_rows().replace(",", ";").replace("8;9", "8|9").replace("|", ",")
    text = text.replace("gesellschaftliche_teilhabe_0;gesellschaftliche_teilhabe;x;1;5;no",
                        "gesellschaftliche_teilhabe_0;gesellschaftliche_teilhabe;x;1;5;ja")
    codebook = load_codebook(write(tmp_path, text))
    item = {it.item: it for it in codebook.items}["gesellschaftliche_teilhabe_0"]
    assert item.reversed and item.missing_codes == {8.0, 9.0}


@pytest.mark.parametrize("extra, message", [
    ("zz1,unbekannt,x,1,5,no,8\n", "unknown dimension 'unbekannt'"),
    ("soziale_netze_0,soziale_netze,x,1,5,no,8\n", "listed twice"),
    ("zz2,soziale_netze,x,1,5,no,3\n", "inside its scale"),
    ("zz3,soziale_netze,x,5,1,no,8\n", "scale_max must be larger"),
    ("zz4,soziale_netze,x,1,5,vielleicht,8\n", "'reversed' must be yes/no"),
    ("zz5,soziale_netze,x,1,5,no,acht\n", "is not a number"),
])
def test_bad_user_codebook_rows_name_the_row(tmp_path, extra, message):
    with pytest.raises(InputError, match=message) as info:
        load_codebook(write(tmp_path, full_rows(extra)))
    assert "row 20" in str(info.value)  # 18 item rows + header -> the extra row is line 20


def test_codebook_without_items_for_a_dimension(tmp_path):
    text = HEADER + "a1,soziale_netze,x,1,5,no,8\n"
    with pytest.raises(InputError, match="no items for dimension"):
        load_codebook(write(tmp_path, text))


def test_codebook_missing_column(tmp_path):
    with pytest.raises(InputError, match="missing column"):
        load_codebook(write(tmp_path, "item,dimension\na,soziale_netze\n"))


def test_yes_and_no_are_spelled_as_in_every_other_table():
    """One catalogue of yes/no spellings (io.tables.YES/NO) for the codebook and the score tables:
    German Excel's WAHR/FALSCH work in the codebook's 'reversed' column too."""
    from geo_cohesion.io.tables import NO, YES
    from geo_cohesion.radar.codebook import _parse_bool

    assert all(_parse_bool(text.upper(), "codebook.csv") for text in YES)
    assert not any(_parse_bool(text.upper(), "codebook.csv") for text in NO)
    assert _parse_bool(" WAHR ", "x") and not _parse_bool("Falsch", "x") and not _parse_bool(None, "x")
