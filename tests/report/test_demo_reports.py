"""Reports of the demo run: Dortmund's Innenstadt-Nord has its profile with need evidence, every
profile and city report exists as HTML and PDF, and the PDF pages render (poppler)."""
from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
from PIL import Image
from report_fixtures import tool

from geo_cohesion.report.exports import read_output_table

SLUGS = {"Dortmund": "dortmund", "Lippstadt": "lippstadt", "Rostock": "rostock", "Dessau-Roßlau": "dessau-rosslau"}


def _text(pdf) -> str:
    text = subprocess.run([tool("pdftotext"), str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    return " ".join(text.replace("\u00ad", "").replace("-\n", "-").split())


def _pages(pdf) -> int:
    info = subprocess.run([tool("pdfinfo"), str(pdf)], check=True, capture_output=True, text=True).stdout
    assert re.search(r"^Page size:\s+595\.\d* x 841\.\d* pts \(A4\)", info, re.M), info
    return int(re.search(r"^Pages:\s+(\d+)$", info, re.M).group(1))


def test_every_district_has_a_profile_and_every_city_a_report(demo_out):
    estimates = read_output_table(demo_out / "tables" / "district_estimates.csv")
    for city, slug in SLUGS.items():
        assert (demo_out / "report" / f"{slug}.html").is_file() and (demo_out / "report" / f"{slug}.pdf").is_file()
        ids = estimates.loc[estimates["city"] == city, "district_id"].unique()
        files = sorted(p.name for p in (demo_out / "report" / "profiles" / slug).iterdir())
        assert files == sorted([f"{d}.{ext}" for d in ids for ext in ("html", "pdf")])


def test_innenstadt_nord_profile_is_ready_to_attach(demo_out):
    html = (demo_out / "report" / "profiles" / "dortmund" / "020.html").read_text(encoding="utf-8")
    pdf = demo_out / "report" / "profiles" / "dortmund" / "020.pdf"
    assert 1 <= _pages(pdf) <= 2
    text = _text(pdf)
    comparison = read_output_table(demo_out / "tables" / "comparison_dortmund.csv")
    row = comparison[(comparison["district_id"] == "020") & (comparison["variable"] == "index")].iloc[0]
    value = f"{row['estimate']:.1f}".replace(".", ",")
    city = f"{row['city_value']:.1f}".replace(".", ",")
    for document in (text, " ".join(html.split())):
        assert "Gebietsprofil Innenstadt-Nord" in document
        assert f"liegt der Zusammenhaltsindex bei {value} Punkten" in document
        if row["significant"]:
            assert f"signifikant unter dem Stadtwert von {city} Punkten" in document
        else:
            assert f"der Unterschied zum Stadtwert von {city} Punkten ist statistisch nicht gesichert" in document
        assert "Bedarfsindex" in document and "Klasse 4 von 4" in document  # need evidence
        assert "Synthetische Demodaten" in document
    need = read_output_table(demo_out / "tables" / "need_dortmund.csv").set_index("district_id")
    assert need.loc["020", "need_class"] == 4
    assert "Dortmund" in text and "Erhebungszeitraum: 27.03.2017–23.05.2017" in text


@pytest.mark.parametrize("city", list(SLUGS))
def test_profile_paragraphs_follow_the_comparison_table(demo_out, city):
    comparison = read_output_table(demo_out / "tables" / f"comparison_{SLUGS[city]}.csv")
    index = comparison[comparison["variable"] == "index"]
    for _, row in index.iterrows():
        html = (demo_out / "report" / "profiles" / SLUGS[city] / f"{row['district_id']}.html").read_text("utf-8")
        summary = re.search(r'<div class="summary">(.*?)</div>\s*<div class="keys">', html, re.S).group(1)
        if row["suppressed"]:  # no design-based test for this district: no significance claim
            assert "signifikant unter" not in summary and "signifikant über" not in summary, row["district_id"]
        elif row["significant"]:
            word = "unter" if row["deviation"] < 0 else "über"
            assert f"signifikant {word} dem Stadtwert" in summary, row["district_id"]
        else:
            assert "statistisch nicht gesichert" in summary, row["district_id"]


@pytest.mark.parametrize("city", list(SLUGS))
def test_city_report_pdf_pages_render(demo_out, city, tmp_path):
    pdf = demo_out / "report" / f"{SLUGS[city]}.pdf"
    pages = _pages(pdf)
    assert 5 <= pages <= 14
    subprocess.run([tool("pdftoppm"), "-r", "30", "-png", str(pdf), str(tmp_path / "p")], check=True,
                   capture_output=True, timeout=300)
    images = sorted(tmp_path.glob("p*.png"))
    assert len(images) == pages
    for image in images:
        pixels = np.asarray(Image.open(image).convert("RGB")).astype(int)
        assert pixels.shape[:2] == pytest.approx((351, 248), abs=2)  # A4 portrait at 30 dpi
        ink = ~np.all(pixels >= 245, axis=2)
        assert ink.mean() > 0.02, f"blank page in {pdf.name}"
    text = _text(pdf)
    assert f"Sozialer Zusammenhalt in {city}" in text
    assert "Städtevergleich" in text and "61,37" in text and "60,71" in text and "59,34" in text and "58,76" in text
    assert "Methoden" in text and "Grenzen der Aussagekraft" in text
    assert "Bertelsmann Stiftung (2017)" in text


def test_city_report_html_is_self_contained_and_links_profiles(demo_out):
    html = (demo_out / "report" / "dortmund.html").read_text(encoding="utf-8")
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert html.count('src="data:image/svg+xml;base64,') >= 5
    assert 'href="profiles/dortmund/020.html"' in html
    assert "Vorranggebiete nach dem Bedarfsindex" in html and "Innenstadt-Nord (Klasse 4" in html
