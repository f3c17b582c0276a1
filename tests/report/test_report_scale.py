"""Reports for cities with very many districts degrade with a note instead of taking hours (issue #20)."""
from __future__ import annotations

from report_fixtures import make_city

from geo_cohesion.report import build
from geo_cohesion.report.model import ReportSettings


def test_above_the_profile_limit_no_profiles_and_the_report_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "MAX_PROFILE_DISTRICTS", 3)
    monkeypatch.setattr(build, "MAX_INTERVAL_ROWS", 2)
    city = make_city()
    written = build.write_reports([city], ReportSettings(pdf=False), tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in written] == ["report/teststadt.html"]
    html = (tmp_path / "report" / "teststadt.html").read_text(encoding="utf-8")
    assert "Gebietsprofile werden für Städte mit bis zu 3 Gebieten geschrieben; Teststadt hat 4." in html
    assert "die 1 niedrigsten und 1 höchsten von 4 Gebieten" in html


def test_below_the_limit_every_district_has_a_profile(tmp_path):
    written = build.write_reports([make_city()], ReportSettings(pdf=False), tmp_path)
    assert len([p for p in written if "profiles" in p.parts]) == 4
    assert "Gebietsprofile werden" not in (tmp_path / "report" / "teststadt.html").read_text(encoding="utf-8")


def test_need_table_drivers_from_the_row_equal_the_search():
    """need_table takes each district's drivers from its own row (linear), as main_drivers finds them."""
    import numpy as np
    import pandas as pd

    from geo_cohesion.report.need import main_drivers, row_drivers

    rng = np.random.default_rng(3)
    need = pd.DataFrame({"district_id": [f"{i:03d}" for i in range(50)], "need_score": rng.normal(size=50),
                         "contribution_sgb2": rng.normal(size=50), "contribution_index": rng.normal(size=50),
                         "contribution_alo": np.where(rng.random(50) < 0.2, np.nan, rng.normal(size=50))})
    for _, row in need.sort_values("need_score").iterrows():
        assert row_drivers(row, top=2) == main_drivers(need, row["district_id"], top=2)


def test_city_report_tables_show_the_first_and_last_rows_of_a_large_city(monkeypatch):
    from geo_cohesion.report import city as city_module

    monkeypatch.setattr(city_module, "MAX_TABLE_ROWS", 2)
    table = city_module.index_table(make_city(), ReportSettings())
    first = [row["cells"][0] for row in table["rows"]]
    assert len(first) == 3 and first[1].startswith("… 2 weitere Gebiete")
    assert all(len(row["cells"]) == len(table["header"]) for row in table["rows"])
