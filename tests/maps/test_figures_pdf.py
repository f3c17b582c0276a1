"""Print figures as a printer sees them: the PDF rasterised by poppler's ``pdftoppm``.

The PDF page is A4 (portrait or landscape), the page is not blank, every class colour of the
map is on the page, and the notes are real text (``pdftotext``). Without poppler-utils the tests
skip with the reason; with ``CI=true`` they fail instead (``.ci/run`` installs poppler-utils).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pdf_tools import tool
from PIL import Image

from geo_cohesion.demo.shapes import build_schematic_boundaries, load_cities
from geo_cohesion.maps.figures import A4_INCHES, plot_layer, save_figure
from geo_cohesion.maps.layers import build_city_map
from geo_cohesion.radar.codebook import load_radar

pytestmark = pytest.mark.browser  # rasterises PDFs with poppler's pdftoppm, like the browser tests
DPI = 100
NOTES = ["synthetische Demodaten", "schematische Grenzen – nicht amtlich"]
SUPPRESSED = {1, 6}


def _city_map(name: str):
    city = next(c for c in load_cities() if c["name"] == name)
    boundaries = build_schematic_boundaries(city)
    rng = np.random.default_rng(3)
    rows = [{"district_id": d, "variable": v, "estimate": float(rng.normal(62, 7)),
             "n": 12 if i in SUPPRESSED else int(rng.integers(30, 150)), "suppressed": i in SUPPRESSED}
            for v in ("index", *load_radar().variables[1:3]) for i, d in enumerate(boundaries["district_id"])]
    structural = pd.DataFrame({"district_id": boundaries["district_id"],
                               "unemployment_pct": rng.uniform(3, 15, len(boundaries))})
    return build_city_map(name, boundaries, pd.DataFrame(rows), structural, notes=NOTES,
                          source="Radar gesellschaftlicher Zusammenhalt (synthetisch)")


def _rasterise(pdf: Path, dpi: int = DPI) -> np.ndarray:
    stem = pdf.with_suffix("")
    subprocess.run([tool("pdftoppm"), "-r", str(dpi), "-png", "-singlefile", str(pdf), str(stem)],
                   check=True, capture_output=True, timeout=120)
    return np.asarray(Image.open(stem.with_suffix(".png")).convert("RGB")).astype(int)


@pytest.mark.parametrize("city, variable, landscape", [("Lippstadt", "index", True),
                                                       ("Rostock", "unemployment_pct", False)])
def test_pdf_page_is_a4_and_shows_the_map(city, variable, landscape, tmp_path):
    city_map = _city_map(city)
    (pdf,) = save_figure(plot_layer(city_map, variable), tmp_path / f"{city}_{variable}", formats=("pdf",),
                         close=True)
    info = subprocess.run([tool("pdfinfo"), str(pdf)], check=True, capture_output=True, text=True).stdout
    assert re.search(r"^Pages:\s+1$", info, re.M) and re.search(r"^Page size:.*\(A4\)", info, re.M), info

    pixels = _rasterise(pdf)
    height, width, _ = pixels.shape
    short, long = (round(x * DPI) for x in A4_INCHES)
    assert (width, height) == pytest.approx((long, short) if landscape else (short, long), abs=1)

    flat = pixels.reshape(-1, 3)
    ink = ~np.all(flat >= 250, axis=1)
    assert 0.15 < ink.mean() < 0.9, f"page looks blank or flooded ({ink.mean():.0%} ink)"
    assert len(np.unique(flat, axis=0)) > 50
    layer = city_map.layer(variable)
    shown = {layer.classification.colours[c] for c, s in zip(layer.classification.class_index, layer.suppressed)
             if c >= 0 and not s}
    for colour in shown:  # every class colour fills a visible area of the page
        rgb = np.array([int(colour[k:k + 2], 16) for k in (1, 3, 5)])
        assert np.all(np.abs(flat - rgb) <= 2, axis=1).sum() > 300, f"{colour} missing on the page"

    text = subprocess.run([tool("pdftotext"), "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    assert f"{city}: {layer.label}" in text
    assert all(note in " ".join(text.split()) for note in NOTES)
    if os.environ.get("GC_SCREENSHOT_DIR"):  # to look at it: GC_SCREENSHOT_DIR=/some/dir pytest ...
        shutil.copy(pdf.with_suffix(".png"), Path(os.environ["GC_SCREENSHOT_DIR"]) / f"{pdf.stem}.png")
