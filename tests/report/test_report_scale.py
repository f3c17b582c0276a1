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
