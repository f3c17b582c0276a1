"""Scoring (geo_cohesion.radar.scoring): hand-computed cases of the Radar rules."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo_cohesion.errors import InputError
from geo_cohesion.io.tables import read_table
from geo_cohesion.radar.codebook import Codebook, Item, load_codebook, load_radar
from geo_cohesion.radar.scoring import item_scores, score_respondents


def tiny_codebook(min_valid_share: float = 0.5) -> Codebook:
    """Two items per dimension on a 1-5 scale; the second item of each dimension is reversed."""
    items = []
    for dim in load_radar().dimensions:
        items.append(Item(f"{dim.slug}_a", dim.slug, "", 1, 5, False, frozenset({8.0, 9.0})))
        items.append(Item(f"{dim.slug}_b", dim.slug, "", 1, 5, True, frozenset({8.0, 9.0})))
    return Codebook(tuple(items), min_valid_share)


def answers(**overrides) -> pd.DataFrame:
    codebook = tiny_codebook()
    row = {it.item: 3 for it in codebook.items}
    row.update(overrides)
    return pd.DataFrame([row])


def test_rescaling_and_reversal_by_hand():
    # a: 5 on 1-5 -> 100; b (reversed): 2 on 1-5 -> 25 -> 100 - 25 = 75
    frame = answers(soziale_netze_a=5, soziale_netze_b=2)
    scores = item_scores(frame, tiny_codebook())
    assert scores.loc[0, "soziale_netze_a"] == 100.0
    assert scores.loc[0, "soziale_netze_b"] == 75.0
    result = score_respondents(frame, tiny_codebook())
    assert result.loc[0, "soziale_netze"] == pytest.approx(87.5)
    # other dimensions: 3 -> 50 and reversed 3 -> 50; domain soziale_beziehungen = (87.5 + 50 + 50) / 3
    assert result.loc[0, "soziale_beziehungen"] == pytest.approx((87.5 + 100) / 3)
    assert result.loc[0, "index"] == pytest.approx((87.5 + 8 * 50) / 9)


def test_missing_codes_and_min_valid_rule():
    frame = answers(soziale_netze_a=8, identifikation_a=9, identifikation_b=" weiß nicht ")
    result = score_respondents(frame.astype(object), tiny_codebook())
    assert result.loc[0, "soziale_netze"] == 50.0        # 1 of 2 valid: 50 % share suffices
    assert np.isnan(result.loc[0, "identifikation"])     # 0 of 2 valid
    assert np.isnan(result.loc[0, "verbundenheit"])      # domain needs all its dimensions
    assert np.isnan(result.loc[0, "index"])
    assert result.loc[0, "soziale_beziehungen"] == 50.0
    strict = score_respondents(frame.astype(object), tiny_codebook(min_valid_share=1.0))
    assert np.isnan(strict.loc[0, "soziale_netze"])


def test_scores_stay_within_0_100_on_packaged_codebook():
    codebook = load_codebook()
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({it.item: rng.integers(int(it.scale_min), int(it.scale_max) + 1, 200)
                          for it in codebook.items})
    result = score_respondents(frame, codebook)
    values = result.to_numpy()
    assert np.nanmin(values) >= 0 and np.nanmax(values) <= 100
    assert not np.isnan(values).any()


def test_answer_outside_scale_names_file_line_and_column(tmp_path):
    codebook = tiny_codebook()
    frame = answers()
    frame = pd.concat([frame, answers(vertrauen_in_mitmenschen_a=7)], ignore_index=True)
    path = tmp_path / "survey.csv"
    frame.to_csv(path, index=False)
    table = read_table(path)
    with pytest.raises(InputError) as info:
        score_respondents(table, codebook)
    text = str(info.value)
    assert "survey.csv" in text and "line 3" in text and "vertrauen_in_mitmenschen_a" in text
    assert "outside its scale 1–5" in text


def test_non_integer_and_text_answers_are_errors():
    with pytest.raises(InputError, match="outside its scale"):
        score_respondents(answers(soziale_netze_a=2.5), tiny_codebook())
    with pytest.raises(InputError, match="is not a number"):
        score_respondents(answers(soziale_netze_a="viel").astype(object), tiny_codebook())


def test_codebook_items_missing_from_survey():
    frame = answers().drop(columns=["soziale_netze_a", "identifikation_b"])
    with pytest.raises(InputError, match="not found in the survey: soziale_netze_a, identifikation_b"):
        score_respondents(frame, tiny_codebook())


def test_spss_label_weiss_nicht_inside_the_scale_is_an_error_naming_the_cases(tmp_path):
    """A 1-4 item with 5 = "weiß nicht" (SPSS value label) under a codebook that says 1-5 was scored as 100."""
    pyreadstat = pytest.importorskip("pyreadstat")
    frame = pd.concat([answers(soziale_netze_a=a) for a in (1, 4, 5, 2)], ignore_index=True).astype(float)
    pyreadstat.write_sav(frame, tmp_path / "s.sav",
                         variable_value_labels={"soziale_netze_a": {1.0: "nie", 4.0: "oft", 5.0: "Weiß nicht"}})
    table = read_table(tmp_path / "s.sav")
    with pytest.raises(InputError, match=r"s\.sav, case 3, column 'soziale_netze_a': code 5 .*'Weiß nicht'"):
        item_scores(table, tiny_codebook())
    # declared missing in SPSS (read as missing) or a label on a code outside the scale: fine
    pyreadstat.write_sav(frame, tmp_path / "m.sav", missing_ranges={"soziale_netze_a": [5.0]},
                         variable_value_labels={"soziale_netze_a": {5.0: "weiß nicht", 9.0: "keine Angabe"}})
    scores = item_scores(read_table(tmp_path / "m.sav"), tiny_codebook())
    assert scores["soziale_netze_a"].isna().tolist() == [False, False, True, False]
    # an unlabelled 5 is an answer
    assert item_scores(frame, tiny_codebook()).loc[2, "soziale_netze_a"] == 100.0
