"""Cheaper figure encoding (geo_cohesion.maps.encoding): the same pages and pixels as matplotlib's own."""
from __future__ import annotations

import io
import subprocess

import matplotlib
import numpy as np
import pytest
from fontTools.ttLib import TTFont
from matplotlib.figure import Figure
from PIL import Image

from geo_cohesion.maps import encoding
from geo_cohesion.maps.encoding import (
    LAYOUT_TABLES,
    lean_glyphs_subset,
    lean_pdf_fonts,
    lean_subset_supported,
    write_png,
)
from geo_cohesion.maps.figures import STYLE, _style

TEXT = "Sozialer Zusammenhalt – Größe, Straße: 61,4 % (Ø) fi ffl"


def _figure(facecolor: str = "white") -> Figure:
    with _style():
        fig = Figure(figsize=(4, 3), facecolor=facecolor)
        ax = fig.add_axes((0.1, 0.2, 0.8, 0.7))
        ax.fill([0, 1, 1], [0, 0, 1], color="#2166ac", alpha=0.6, hatch="///")
        ax.set_title(TEXT, fontweight="bold")
        fig.text(0.02, 0.05, TEXT, fontsize=7)
    return fig


def test_installed_matplotlib_gets_the_lean_subsets():
    # fails (instead of silently getting slower) when matplotlib changes the function we replace
    version = tuple(int(p) for p in matplotlib.__version__.split(".")[:2])
    assert lean_subset_supported() == (version >= (3, 11))


@pytest.mark.skipif(not lean_subset_supported(), reason="matplotlib < 3.11 subsets fonts differently")
def test_lean_subset_has_the_same_glyphs_and_ids_without_layout_tables():
    from matplotlib import font_manager
    from matplotlib.backends import _backend_pdf_ps
    from matplotlib.ft2font import FT2Font

    path = font_manager.findfont(STYLE["font.family"])
    font_path = font_manager.FontPath(path, 0)
    face = FT2Font(path)
    glyphs = {face.get_char_index(ord(c)) for c in set(TEXT)}
    with _backend_pdf_ps.get_glyphs_subset(font_path, glyphs) as full, lean_glyphs_subset(font_path, glyphs) as saved:
        lean_font = TTFont(io.BytesIO(saved.font.data))  # as the PDF embeds it
        # every requested glyph, by its name, with the same outline and advance width; matplotlib's
        # subset also carries the ligatures its GSUB closure adds (fi, ffl), which no PDF references
        assert glyphs <= set(saved.glyph_index_map) <= set(full.glyph_index_map)
        lean_names, full_names = lean_font.getGlyphOrder(), full.font.getGlyphOrder()
        for glyph in glyphs:
            name = lean_names[saved.glyph_index_map[glyph]]
            assert name == full_names[full.glyph_index_map[glyph]]
            assert lean_font["glyf"][name] == full.font["glyf"][name], name
            assert lean_font["hmtx"][name] == full.font["hmtx"][name], name
        assert any(t in full.font for t in LAYOUT_TABLES)  # DejaVu Sans has them; the lean subset not
        assert not any(t in lean_font for t in LAYOUT_TABLES)
    # reused within the process: the same bytes as a freshly made subset
    encoding._SUBSETS.clear()
    with lean_glyphs_subset(font_path, glyphs) as first, lean_glyphs_subset(font_path, set(glyphs)) as again:
        assert first.font.data == again.font.data == saved.font.data
        assert first.glyph_index_map == again.glyph_index_map == saved.glyph_index_map
    assert len(encoding._SUBSETS) == 1


def test_lean_fonts_are_restored_after_an_error():
    from matplotlib.backends import _backend_pdf_ps

    original = _backend_pdf_ps.get_glyphs_subset
    with pytest.raises(RuntimeError), lean_pdf_fonts():
        raise RuntimeError("boom")
    assert _backend_pdf_ps.get_glyphs_subset is original


def _pdf(lean: bool) -> bytes:
    buffer = io.BytesIO()
    with _style(), lean_pdf_fonts() if lean else matplotlib.rc_context():
        _figure().savefig(buffer, format="pdf", metadata={"Creator": None, "Producer": None, "CreationDate": None})
    return buffer.getvalue()


@pytest.mark.browser  # rasterises PDFs with poppler, like the other PDF tests
def test_lean_pdf_is_the_same_page_with_embedded_truetype_fonts(tmp_path):
    from pdf_tools import tool

    pages, texts = [], []
    for lean in (False, True):
        pdf = tmp_path / f"lean_{lean}.pdf"
        pdf.write_bytes(_pdf(lean))
        fonts = subprocess.run([tool("pdffonts"), str(pdf)], check=True, capture_output=True, text=True).stdout
        rows = fonts.splitlines()[2:]
        assert rows and all("CID TrueType" in r and r.split()[-5:-2] == ["yes", "yes", "yes"] for r in rows), fonts
        subprocess.run([tool("pdftoppm"), "-r", "200", "-png", "-singlefile", str(pdf), str(pdf.with_suffix(""))],
                       check=True, capture_output=True)
        pages.append(np.asarray(Image.open(pdf.with_suffix(".png")).convert("RGB")))
        texts.append(subprocess.run([tool("pdftotext"), str(pdf), "-"], check=True, capture_output=True,
                                    text=True).stdout)
    assert np.array_equal(pages[0], pages[1])
    assert texts[0] == texts[1] and "Größe, Straße" in texts[1]
    assert len((tmp_path / "lean_True.pdf").read_bytes()) < len((tmp_path / "lean_False.pdf").read_bytes())


@pytest.mark.parametrize("facecolor, mode", [("white", "RGB"), ("none", "RGBA")])
def test_png_has_the_pixels_and_resolution_of_savefig(facecolor, mode):
    with _style():
        reference, ours = io.BytesIO(), io.BytesIO()
        _figure().savefig(reference, format="png", dpi=120, facecolor=facecolor, metadata={"Software": None},
                          pil_kwargs={"compress_level": 1})
        write_png(_figure(), ours, 120, 1, facecolor=facecolor)
    expected, got = Image.open(reference), Image.open(ours)
    assert got.mode == mode  # opaque figures lose only their constant alpha channel
    assert got.size == expected.size and got.info.get("dpi") == pytest.approx(expected.info["dpi"])
    assert np.array_equal(np.asarray(got.convert("RGBA")), np.asarray(expected.convert("RGBA")))
    assert not any(k in got.info for k in ("Software", "Creation Time"))


@pytest.mark.parametrize("channels, mode", [(3, "RGB"), (4, "RGBA")])
def test_png_bytes_is_a_valid_png_with_exactly_these_pixels(channels, mode):
    pixels = np.random.default_rng(5).integers(0, 256, size=(37, 53, channels), dtype=np.uint8)
    pixels[:10] = 255  # a flat band, as on a map
    data = encoding.png_bytes(pixels, 300, 1)
    Image.open(io.BytesIO(data)).verify()  # chunk CRCs and structure
    image = Image.open(io.BytesIO(data))
    assert image.mode == mode and image.size == (53, 37)
    assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    assert np.array_equal(np.asarray(image), pixels)
    assert encoding.png_bytes(pixels, 300, 1) == data  # reproducible
    if channels == 4:  # the colours only
        rgb = Image.open(io.BytesIO(encoding.png_bytes(pixels, 300, 1, channels=3)))
        assert rgb.mode == "RGB" and np.array_equal(np.asarray(rgb), pixels[..., :3])


@pytest.mark.skipif(not lean_subset_supported(), reason="matplotlib < 3.11 subsets fonts differently")
@pytest.mark.parametrize("weight", ["normal", "bold"])
def test_subsets_cut_from_the_repertoire_font_are_the_bytes_of_subsets_of_the_whole_font(weight):
    import random

    from matplotlib import font_manager
    from matplotlib.backends import _backend_pdf_ps
    from matplotlib.ft2font import FT2Font

    path = font_manager.findfont(font_manager.FontProperties(family=STYLE["font.family"], weight=weight))
    font_path = font_manager.FontPath(path, 0)
    face = FT2Font(path)
    rng = random.Random(7)
    texts = ["".join(rng.sample(encoding.REPERTOIRE, rng.randint(3, 60))) for _ in range(12)]
    texts += [TEXT, "Ζ Ж ∑ ő"]  # the last one is outside the repertoire: cut from the whole font
    for text in texts:
        glyphs = {face.get_char_index(ord(c)) for c in set(text)}
        encoding._SUBSETS.clear()
        with lean_glyphs_subset(font_path, glyphs) as fast:
            direct, direct_map = encoding._subset_font(font_path, glyphs)
            with direct:
                assert fast.font.data == _backend_pdf_ps.font_as_file(direct).getvalue(), text
            assert fast.glyph_index_map == dict(direct_map)  # every kept glyph, as matplotlib's
    assert "Ж" not in encoding.REPERTOIRE and "ő" in encoding.REPERTOIRE


def test_matplotlib_encoding_for_the_benchmark_baseline_gives_the_same_pixels(tmp_path, monkeypatch):
    from geo_cohesion.maps.figures import save_figure

    (fast,) = save_figure(_figure(), tmp_path / "fast", formats=("png",), dpi=60, close=True)
    monkeypatch.setattr(encoding, "FAST_ENCODING", False)
    (plain,) = save_figure(_figure(), tmp_path / "plain", formats=("png",), dpi=60, close=True)
    assert Image.open(plain).mode == "RGBA" and Image.open(fast).mode == "RGB"
    assert np.array_equal(np.asarray(Image.open(plain).convert("RGB")), np.asarray(Image.open(fast)))
