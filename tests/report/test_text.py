"""The plain-German paragraphs: numbers in German format, and only claims the data support."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from report_fixtures import make_city

from geo_cohesion.report import text as t
from geo_cohesion.report.city import city_summary, cross_city, methods, priority_sentence
from geo_cohesion.report.model import ReportSettings
from geo_cohesion.report.need import default_need
from geo_cohesion.report.profile import profile_context


@pytest.fixture
def settings() -> ReportSettings:
    return ReportSettings(title="Testbefragung", note="synthetische Demodaten", survey_period="2017-03-27/2017-05-23")


def test_german_numbers():
    assert t.num(58.14) == "58,1" and t.num(-2.69) == "\u22122,7" and t.num(None) == "–"
    assert t.signed(2.76) == "+2,8" and t.signed(-0.04) == "0,0"
    assert t.interval(54.0, 62.2) == "54,0–62,2"
    assert t.percent(0.97) == "97\u00a0%"
    assert t.p_text(0.0004) == "p < 0,001" and t.p_text(0.056115) == "p = 0,056"
    assert t.period("2017-03-27/2017-05-23") == "27.03.2017–23.05.2017"
    assert t.ci_label(0.9) == "90-%-KI" and t.join(["a", "b", "c"]) == "a, b und c"
    assert t.missing(pd.NA) and t.missing(np.nan) and not t.missing(0)


def test_significant_deviation_is_claimed_from_the_table(settings):
    city = make_city(index=[55.0, 58.0, 62.0, 65.0], significant=[True, False, False, True])
    text = profile_context(city, "01", settings)["summary"]
    assert "Im Gebiet Altstadt (Teststadt) liegt der Zusammenhaltsindex bei 55,0 Punkten (95-%-KI 52,1–57,9)" in text
    assert "signifikant unter dem Stadtwert von 60,0 Punkten" in text
    assert "Abweichung \u22125,0 Punkte, p = 0,004 nach Holm-Korrektur" in text
    assert "Rang 4" in text and "Rangintervall 3 bis 4" in text
    assert "Achtung" in text and "synthetischen Demodaten" in text
    assert "Grundlage sind 80 Befragte im Gebiet (Erhebung 27.03.2017–23.05.2017)." in text
    high = profile_context(city, "04", settings)["summary"]
    assert "signifikant über dem Stadtwert" in high


def test_no_significance_claim_without_the_table_verdict_even_if_intervals_do_not_overlap(settings):
    # district 2: 58,0 (55,1-60,9) vs city 60 -> table says not significant: the text must say so
    # district 3 is made far away from the city value but the table's verdict stays "not significant"
    city = make_city(index=[55.0, 58.0, 70.0, 65.0], significant=[True, False, False, True])
    text = profile_context(city, "03", settings)["summary"]
    assert "statistisch nicht gesichert" in text
    assert "signifikant über" not in text and "signifikant unter dem Stadtwert von" not in text


def test_without_microdata_no_test_is_claimed(settings):
    city = make_city(comparison=False)
    context = profile_context(city, "01", settings)
    assert "signifikant" not in context["summary"]
    assert "Rang" not in context["summary"]
    assert context["scores"]["header"] == ["Merkmal", "Gebiet", "95-%-KI", "Stadt", "Abweichung"]


def test_suppressed_district_gets_no_numbers(settings):
    city = make_city(suppressed=1)
    context = profile_context(city, "02", settings)
    assert "zu wenige Befragte" in context["summary"] and "n = 12" in context["summary"]
    assert "Zusammenhaltsindex bei" not in context["summary"]
    assert context["key"][0]["value"] == "–"


def test_significant_dimensions_are_listed(settings):
    city = make_city(significant=[True, False, False, True])
    text = profile_context(city, "01", settings)["summary"]
    assert "Signifikant unter dem Stadtwert liegen die Dimensionen" in text
    city = make_city(significant=[False, False, False, False])
    assert "Keine der neun Dimensionen weicht signifikant vom Stadtwert ab." in \
        profile_context(city, "01", settings)["summary"]


def test_need_evidence_in_profile_and_summary(settings):
    city = make_city()
    city.need = default_need(city.district_estimates, city.structural, seed=1, draws=200)
    assert city.need is not None and city.need.attrs["indicators"] == {"sgb2_share_pct": 1.0,
                                                                         "unemployment_pct": 1.0, "index": -1.0}
    context = profile_context(city, "01", settings)
    assert "Im Bedarfsindex" in context["summary"] and "Klasse" in context["summary"]
    assert context["need"]["need_class"] == str(int(city.need.loc[0, "need_class"]))
    assert "SGB-II-Quote" in " ".join(" ".join(r["cells"]) for r in context["need"]["table"]["rows"])
    assert priority_sentence(city).startswith("Vorranggebiete nach dem Bedarfsindex") or \
        "kein Gebiet" in priority_sentence(city)


def test_need_index_kept_when_a_score_has_no_se(settings):
    # a district with one valid answer under the direct estimator with min_n 0: estimate, no SE. It keeps
    # its need class; only its class stability (a simulation of the SE) is missing, and the methods say why
    city = make_city()
    est = city.district_estimates
    est.loc[(est["district_id"] == est["district_id"].iloc[0]) & (est["variable"] == "index"), "se"] = np.nan
    need = default_need(est, city.structural, seed=1, draws=200)
    assert need is not None and need.attrs["no_se"] == [str(est["district_id"].iloc[0])]
    assert need["need_class"].notna().all()
    assert need["class_stability"].isna().tolist() == [True, False, False, False]
    assert need["flag_unstable"].isna().tolist() == [True, False, False, False]
    city.need = need
    text = " ".join(item["text"] for item in methods(city, settings))
    assert "Ohne Klassenstabilität: Altstadt (Befragungswert ohne Standardfehler" in text


def test_city_summary_names_significant_districts(settings):
    city = make_city(significant=[True, False, False, True])
    city.spread = pd.DataFrame([{"variable": "index", "min": 55.0, "max": 65.0, "range": 10.0, "lowest": "Altstadt",
                                 "highest": "Weißenburg", "n_districts": 4}])
    text = " ".join(city_summary(city, settings))
    assert "In Teststadt liegt der Zusammenhaltsindex bei 60,0 Punkten (95-%-KI 59,0–61,0" in text
    assert "1 Gebiet liegt signifikant über dem Stadtwert (Weißenburg)" in text
    assert "1 Gebiet liegt signifikant darunter (Altstadt)" in text
    assert "bei 2 weiteren ist der Unterschied statistisch nicht gesichert" in text
    assert "Deutschland 61,37" in text and "kein Test" not in text.replace("ein Test ist deshalb nicht möglich", "")


@pytest.mark.parametrize("name, land", [("Dortmund", "Nordrhein-Westfalen 60,71"),
                                        ("Rostock", "Mecklenburg-Vorpommern 59,34"),
                                        ("Dessau-Roßlau", "Sachsen-Anhalt 58,76")])
def test_study_cities_are_compared_with_their_land(settings, name, land):
    city = make_city(name=name)
    assert land in " ".join(city_summary(city, settings))


def test_cross_city_page_has_the_reference_values(settings):
    cities = [make_city(name="Dortmund"), make_city(name="Lippstadt")]
    cross = cross_city(cities, settings)
    refs = {row["cells"][0]: row["cells"][1] for row in cross["references"]["rows"]}
    assert refs == {"Deutschland": "61,37", "Nordrhein-Westfalen": "60,71", "Mecklenburg-Vorpommern": "59,34",
                    "Sachsen-Anhalt": "58,76"}
    assert cross["table"]["header"] == ["Merkmal", "Dortmund", "Lippstadt"]
    assert len(cross["table"]["rows"]) == 11  # index + 9 dimensions + published study index
    assert cross["table"]["rows"][-1]["cells"] == ["Index laut Studie (veröffentlicht)", "63,43", "64,07"]
    assert "Bertelsmann Stiftung (2017)" in cross["source"] and "III.1" in cross["source"]


def test_profile_ranks_the_published_values_and_says_when_no_rank_is_recognisable(settings):
    """With published ranks in the estimates (district_estimates.csv) the profile uses them, not the
    comparison table's; an interval over every rank is said in words, not as "Rang 1"."""
    city = make_city()
    estimates = city.district_estimates.assign(estimator="fay_herriot")
    index = estimates["variable"] == "index"
    estimates.loc[index, ["rank", "rank_low", "rank_high"]] = [[2, 1, 3], [1, 1, 4], [3, 2, 4], [4, 3, 4]]
    city.district_estimates = estimates
    text = profile_context(city, "01", settings)["summary"]
    assert "steht das Gebiet beim Index auf Rang 2" in text and "Rangintervall 1 bis 3" in text
    context = profile_context(city, "02", settings)
    assert "Einen Rang beim Index unter den 4 Gebieten der Stadt mit ausgewiesenem Wert lassen die Daten nicht " \
           "erkennen: das 95-%-Rangintervall reicht von 1 bis 4." in context["summary"]
    assert "auf Rang 1" not in context["summary"]
    key = {item["label"]: item for item in context["key"]}
    assert key["Schätzverfahren"]["value"] == "Fay-Herriot"  # the label, not the identifier
    assert "Nicht ausgewiesen (–): 95-%-Intervall breiter als ±10 Punkte oder direkte Schätzung aus weniger als " \
           "30 Befragten." in context["footnotes"]


def test_no_survey_period_gives_no_made_up_date(settings):
    """Without a survey period the reports state no 'Stand' (not the fixed date of the files, 23.05.2017)."""
    from dataclasses import replace

    from geo_cohesion.report.city import city_context

    city = make_city(index=[55.0, 58.0, 62.0, 65.0], significant=[True, False, False, True])
    dated = profile_context(city, "01", settings)
    assert dated["footer"].endswith(" · Stand 23.05.2017")
    undated = replace(settings, survey_period=None)
    assert "Stand" not in profile_context(city, "01", undated)["footer"]
    context = city_context(city, undated, None)
    assert "Stand" not in context["subtitle"] and "Stand" not in context["footer"]
    assert "23.05.2017" not in str(context)
