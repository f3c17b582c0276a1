"""Rendering: hostile names stay text in HTML and PDF, PDFs are A4 and reproducible, file names are safe."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from report_fixtures import HOSTILE, make_city, tool

from geo_cohesion.errors import InputError
from geo_cohesion.report.build import write_reports
from geo_cohesion.report.paths import file_stems, inside, safe_stem
from geo_cohesion.report.render import render_html


@pytest.fixture(scope="module")
def hostile_reports(tmp_path_factory):
    """Reports of a city whose district names are markup, typst code and a spreadsheet formula."""
    from geo_cohesion.report.model import ReportSettings

    out = tmp_path_factory.mktemp("hostile")
    city = make_city(names=HOSTILE, name="Teststadt $x$ #panic()")
    settings = ReportSettings(title="Test *fett* #panic()", note="synthetische Demodaten",
                              survey_period="2017-03-27/2017-05-23")
    written = write_reports([city], settings, out)
    return out, city, written


def _text(pdf: Path) -> str:
    return subprocess.run([tool("pdftotext"), "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout


def _pdfinfo(pdf: Path) -> str:
    return subprocess.run([tool("pdfinfo"), str(pdf)], check=True, capture_output=True, text=True).stdout


def test_files_and_names(hostile_reports):
    out, city, written = hostile_reports
    names = sorted(p.relative_to(out).as_posix() for p in written)
    assert names == sorted([*(f"report/profiles/teststadt/0{i}.{ext}" for i in range(1, 5) for ext in ("html", "pdf")),
                            "report/teststadt.html", "report/teststadt.pdf"])


def test_hostile_names_are_escaped_in_html(hostile_reports):
    out, _, _ = hostile_reports
    html = (out / "report" / "profiles" / "teststadt" / "03.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Hörde" in html
    city = (out / "report" / "teststadt.html").read_text(encoding="utf-8")
    assert "<script" not in city
    assert "=HYPERLINK(&quot;http://x&quot;,&quot;y&quot;)" in city
    assert not re.search(r'(src|href)="(https?:)?//', city + html), "reports must be self-contained"
    assert html.count('src="data:image/svg+xml;base64,') == 2


@pytest.mark.parametrize("district, name", list(zip(["01", "02", "03", "04"], HOSTILE)))
def test_hostile_names_are_printed_literally_in_the_pdf(hostile_reports, district, name):
    out, _, _ = hostile_reports
    text = _text(out / "report" / "profiles" / "teststadt" / f"{district}.pdf")
    flat = " ".join(text.replace("\u00ad", "").split())
    assert f"Gebietsprofil {name}" in flat
    assert "Teststadt $x$ #panic()" in flat and "Test *fett* #panic()" in flat


def test_hostile_city_report_compiles_and_shows_every_name(hostile_reports):
    out, _, _ = hostile_reports
    flat = " ".join(_text(out / "report" / "teststadt.pdf").replace("\u00ad", "").split())
    for name in HOSTILE:
        assert name in flat, name


def test_profile_pdf_is_a4_not_blank_and_has_umlauts(hostile_reports, tmp_path):
    out, _, _ = hostile_reports
    pdf = out / "report" / "profiles" / "teststadt" / "03.pdf"
    info = _pdfinfo(pdf)
    pages = int(re.search(r"^Pages:\s+(\d+)$", info, re.M).group(1))
    assert 1 <= pages <= 2 and re.search(r"^Page size:.*\(A4\)", info, re.M), info
    assert re.search(r"^CreationDate:\s+Tue May 23 00:00:00 2017", info, re.M), info  # fixed, not "now"
    subprocess.run([tool("pdftoppm"), "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True,
                   capture_output=True)
    images = sorted(tmp_path.glob("page*.png"))
    assert len(images) == pages
    pixels = np.asarray(Image.open(images[0]).convert("RGB")).astype(int)
    assert pixels.shape[:2] == pytest.approx((468, 331), abs=2)  # A4 portrait at 40 dpi
    ink = ~np.all(pixels >= 245, axis=2)
    assert 0.05 < ink.mean() < 0.7
    text = _text(pdf)
    assert "Hörde" in text and "Zusammenhaltsindex" in text and "Weißenburg" not in text
    assert "Synthetische Demodaten" in text


def test_reports_are_reproducible(hostile_reports, tmp_path):
    from geo_cohesion.report.model import ReportSettings

    out, city, written = hostile_reports
    settings = ReportSettings(title="Test *fett* #panic()", note="synthetische Demodaten",
                              survey_period="2017-03-27/2017-05-23")
    again = write_reports([make_city(names=HOSTILE, name="Teststadt $x$ #panic()")], settings, tmp_path)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in written]


def test_template_prints_only_escaped_values():
    html = render_html("profile.html", {
        "title": "<b>x</b>", "city": "C", "subtitle": "s", "demo": None, "summary": "a & b", "key": [],
        "scores": {"header": ["<i>"], "rows": [{"cells": ["</td><script>"], "level": 0, "mark": ""}],
                   "align": ["left"]},
        "locator_caption": "", "radar_caption": "", "structural": None, "need": None, "footnotes": [],
        "sources": [], "footer": "", "district": "", "district_id": ""}, {})
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert "</td><script>" not in html and "a &amp; b" in html and "&lt;i&gt;" in html


def test_templates_use_safe_only_on_macros():
    from importlib import resources

    folder = resources.files("geo_cohesion").joinpath("report/templates")
    for entry in folder.iterdir():
        if entry.name.endswith(".html"):
            for match in re.finditer(r"\{\{(.*?)\|safe\s*\}\}", entry.read_text(encoding="utf-8")):
                assert re.fullmatch(r"\s*(datatable|keyfigures|marklegend)\(.*\)\s*", match.group(1)), match.group(0)


def test_safe_file_names():
    assert safe_stem("020") == "020"
    assert safe_stem("../../etc") == "etc"
    assert safe_stem("Nord\nSüd") == "Nord-Sued"
    assert safe_stem("CON") == "CON_"
    assert safe_stem("///") == "gebiet"
    stems = file_stems(["Nord Süd", "Nord-Süd", "nord süd", "<script>", "a" * 100])
    assert stems == {"Nord Süd": "Nord-Sued", "Nord-Süd": "Nord-Sued-2", "nord süd": "nord-sued-3",
                     "<script>": "script", "a" * 100: "a" * 60}


def test_inside_refuses_paths_outside_the_output(tmp_path):
    assert inside(tmp_path / "report" / "x.html", tmp_path) == tmp_path / "report" / "x.html"
    with pytest.raises(InputError):
        inside(tmp_path / "report" / ".." / ".." / "x.html", tmp_path)
