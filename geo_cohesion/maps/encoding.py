"""Cheaper encoding of print figures: TrueType font subsets without layout tables, opaque PNGs as RGB.

Both change how a figure is stored, never what it shows:

* **PDF fonts** stay embedded TrueType (``pdf.fonttype: 42``, a CIDFontType2 font with its
  glyph outlines, widths and a ToUnicode map; text stays selectable and searchable). Matplotlib
  subsets each font with fontTools and keeps its OpenType layout tables (GSUB, GPOS, GDEF, MATH,
  kern, ...); reading and subsetting those is about two thirds of the cost of a PDF save, yet a
  PDF reader never uses them (matplotlib places every glyph itself, and a CIDFontType2 font is
  addressed by glyph id). :func:`lean_pdf_fonts` drops them while a figure is saved: the same
  glyphs with the same ids, about 3x faster, a slightly smaller file, the same page.
* **PNG**: a figure on a white background is opaque, so its alpha channel is 255 everywhere.
  :func:`write_png` stores such an image as RGB (the same pixels, a quarter less data) and
  keeps RGBA only where something is transparent; :func:`png_bytes` leaves the rows unfiltered,
  which for maps (runs of flat colour) compresses about 4x faster than Pillow's adaptive filters
  and into smaller files.
"""
from __future__ import annotations

import contextlib
import inspect
import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from matplotlib.figure import Figure

#: OpenType layout and math tables: needed to shape text, which matplotlib does itself; a PDF
#: reader draws an embedded TrueType font by glyph id and ignores them.
LAYOUT_TABLES: tuple[str, ...] = ("GSUB", "GPOS", "GDEF", "BASE", "JSTF", "MATH", "kern")
#: Tables matplotlib itself drops from every subset (``_backend_pdf_ps.get_glyphs_subset``, 3.11).
MATPLOTLIB_DROPPED: tuple[str, ...] = ("FFTM", "PfEd", "BDF", "meta", "MERG", "TSIV", "Zapf", "bdat", "bloc", "cidg",
                                       "fdsc", "feat", "fmtx", "fond", "just", "kerx", "ltag", "morx", "trak", "xref")


def subset_options() -> Any:
    """fontTools subsetting options of matplotlib's PDF backend, without the layout tables."""
    from fontTools import subset

    options = subset.Options(glyph_names=True, recommended_glyphs=True, layout_features=[])
    options.drop_tables += [*MATPLOTLIB_DROPPED, *LAYOUT_TABLES]
    return options


#: Subsets already made by this process: (font file, face, glyph ids) -> (font file bytes, glyph id map).
_SUBSETS: dict[tuple[str, int, frozenset[int]], tuple[bytes, dict[int, int]]] = {}
#: At most this many subsets are kept (each is a few tens of kB).
MAX_CACHED_SUBSETS = 256
#: Characters of every figure's text in practice (Latin letters with German and other European
#: accents, digits, punctuation, dashes, quotes, €, −, ≤, ≥): each process first subsets a font to
#: them once; a figure's subset is then cut from that small font (about 6x faster than from the
#: whole font, the same bytes). Text with other characters is subset from the whole font.
REPERTOIRE = "".join(chr(c) for start, stop in [(0x20, 0x7F), (0xA0, 0x180), (0x2010, 0x2027), (0x2030, 0x203B),
                                                (0x20AC, 0x20AD), (0x2212, 0x2213), (0x2264, 0x2266)]
                     for c in range(start, stop))
#: Per font (file, face): the repertoire subset as a file and its map from the font's glyph ids.
_REPERTOIRE_FONTS: dict[tuple[str, int], tuple[bytes, dict[int, int]]] = {}


def lean_glyphs_subset(fontfile: Any, glyphs: Any) -> Any:
    """Drop-in for matplotlib's ``_backend_pdf_ps.get_glyphs_subset`` (matplotlib >= 3.11: a font
    path with a face index and a set of glyph ids) that leaves out :data:`LAYOUT_TABLES`.

    A subset already made in this process (the same glyphs of the same font, e.g. the footer's)
    is reused; made or reused, and cut from the :data:`REPERTOIRE` font or from the whole font,
    its font file is the same bytes, so outputs do not depend on which figures a process saved
    before.
    """
    from matplotlib.backends import _backend_pdf_ps

    wanted = frozenset(int(g) for g in glyphs)
    key = (str(fontfile), int(fontfile.face_index), wanted)
    if key not in _SUBSETS:
        if len(_SUBSETS) >= MAX_CACHED_SUBSETS:
            _SUBSETS.clear()
        small, to_small = _repertoire_font(fontfile)
        if wanted <= to_small.keys():
            font, small_map = _subset_font(io.BytesIO(small), {to_small[g] for g in wanted})
            glyph_index_map = {g: small_map[to_small[g]] for g in to_small if to_small[g] in small_map}
        else:
            font, glyph_index_map = _subset_font(fontfile, wanted)
        with font:
            _SUBSETS[key] = (_backend_pdf_ps.font_as_file(font).getvalue(), dict(glyph_index_map))
    data, glyph_index_map = _SUBSETS[key]
    return _backend_pdf_ps.SubsetResults(_SavedFont(data), dict(glyph_index_map))._as_cm()


def _repertoire_font(fontfile: Any) -> tuple[bytes, dict[int, int]]:
    """The font subset to :data:`REPERTOIRE` (made once per process) and the map of glyph ids."""
    from matplotlib.backends import _backend_pdf_ps

    key = (str(fontfile), int(fontfile.face_index))
    if key not in _REPERTOIRE_FONTS:
        from fontTools import subset

        options = subset_options()
        options.font_number = fontfile.face_index
        whole = subset.load_font(fontfile, options)
        cmap = whole.getBestCmap() or {}
        glyphs = {whole.getGlyphID(cmap[ord(c)]) for c in REPERTOIRE if ord(c) in cmap}
        whole.close()
        font, glyph_index_map = _subset_font(fontfile, glyphs)
        with font:
            _REPERTOIRE_FONTS[key] = (_backend_pdf_ps.font_as_file(font).getvalue(), dict(glyph_index_map))
    return _REPERTOIRE_FONTS[key]


def _subset_font(fontfile: Any, glyphs: Any) -> tuple[Any, dict[int, int]]:
    """fontTools subset of ``fontfile`` (a matplotlib font path or font file bytes) to ``glyphs``
    with :func:`subset_options` (no timestamp, no recalculated bounds: reproducible)."""
    from fontTools import subset

    options = subset_options()
    options.font_number = getattr(fontfile, "face_index", -1)
    font = subset.load_font(fontfile, options)
    for tag in LAYOUT_TABLES:  # before subsetting, which would read them (fontTools 4.6x) only to drop them
        if tag in font:
            del font[tag]
    subsetter = subset.Subsetter(options=options)
    subsetter.populate(gids=glyphs)
    subsetter.subset(font)
    return font, subsetter.glyph_index_map


class _SavedFont:
    """A subset font as its file: what matplotlib's PDF backend does with it (``save``, ``with``)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def save(self, file: BinaryIO, reorderTables: bool = False) -> None:
        file.write(self.data)

    def __enter__(self) -> _SavedFont:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def lean_subset_supported() -> bool:
    """True when the installed matplotlib subsets fonts the way :func:`lean_glyphs_subset` replaces
    (3.11's ``get_glyphs_subset(fontfile, glyphs)`` returning ``SubsetResults``); else figures are
    saved with matplotlib's own subsetting (same pages, only slower)."""
    try:
        from matplotlib.backends import _backend_pdf_ps
    except ImportError:  # pragma: no cover - matplotlib without its PDF backend
        return False
    original = getattr(_backend_pdf_ps, "get_glyphs_subset", None)
    if original is None or not hasattr(_backend_pdf_ps, "SubsetResults"):
        return False
    return list(inspect.signature(original).parameters) == ["fontfile", "glyphs"]


@contextlib.contextmanager
def lean_pdf_fonts() -> Iterator[None]:
    """Within the block, PDF (and PostScript) Type 42 font subsets leave out :data:`LAYOUT_TABLES`;
    matplotlib's own function is restored afterwards (also on error)."""
    if not lean_subset_supported():
        yield
        return
    from matplotlib.backends import _backend_pdf_ps

    original = _backend_pdf_ps.get_glyphs_subset
    _backend_pdf_ps.get_glyphs_subset = lean_glyphs_subset
    try:
        yield
    finally:
        _backend_pdf_ps.get_glyphs_subset = original


def write_png(fig: Figure, path: Path | BinaryIO, dpi: int, compress_level: int, facecolor: str = "white") -> None:
    """Write ``fig`` as PNG with the pixels of ``fig.savefig(path, format="png", dpi=dpi,
    facecolor=facecolor)``: RGB when every pixel is opaque, else RGBA; see :func:`png_bytes`.

    Parameters
    ----------
    fig : Figure
    path : Path or binary file
    dpi : int
    compress_level : int
        zlib level (0-9).
    facecolor : str
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # draws through Agg from now on (PDF and SVG saves switch canvases as usual)
    fig.savefig(_Discard(), format="raw", dpi=dpi, facecolor=facecolor)  # draws at ``dpi``
    rgba = np.asarray(canvas.renderer.buffer_rgba())  # that drawing: height x width x 4
    data = png_bytes(rgba, dpi, compress_level, channels=3 if bool(np.all(rgba[..., 3] == 255)) else 4)
    if isinstance(path, (str, Path)):
        Path(path).write_bytes(data)
    else:
        path.write(data)


def png_bytes(pixels: np.ndarray, dpi: int, compress_level: int, channels: int | None = None) -> bytes:
    """A PNG file of 8-bit RGB or RGBA ``pixels`` (height x width x 3 or 4) with its resolution;
    ``channels=3`` stores only the colours of RGBA pixels (default: all channels of ``pixels``).

    Every row is stored unfiltered (PNG filter type 0): a map is mostly runs of the same colour,
    which zlib packs well as they are, so this is about 4x faster than Pillow's adaptive
    per-row filters at the same zlib level and gives smaller files (the demo's maps: ~10 %).
    Chunks: IHDR, pHYs (pixels per metre from ``dpi``), one IDAT, IEND; no text, no time.
    """
    height, width = pixels.shape[:2]
    channels = channels or pixels.shape[2]
    rows = np.empty((height, width * channels + 1), dtype=np.uint8)
    rows[:, 0] = 0  # filter type "None"
    target = rows[:, 1:].reshape(height, width, channels)
    for k in range(channels):  # channel by channel: several times faster than one strided copy
        target[..., k] = pixels[..., k]
    per_metre = int(dpi / 0.0254 + 0.5)
    chunks = [(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, {3: 2, 4: 6}[channels], 0, 0, 0)),
              (b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1)),
              (b"IDAT", zlib.compress(rows, compress_level)),
              (b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(struct.pack(">I", len(data)) + tag + data
                                           + struct.pack(">I", zlib.crc32(tag + data)) for tag, data in chunks)


#: False: PNG and PDF as matplotlib writes them (Pillow's filters, full font subsets), for the
#: baseline of ``benchmarks/bench_demo.py``; the pages and pixels are the same either way.
FAST_ENCODING = True


def save_format(fig: Figure, path: Path | BinaryIO, ext: str, dpi: int, metadata: dict[str, None],
                png_compress_level: int) -> None:
    """Save ``fig`` in one format on a white background: PNG through :func:`write_png`, PDF with
    :func:`lean_pdf_fonts`, SVG as matplotlib writes it; ``metadata`` as for ``savefig``."""
    if ext == "png" and FAST_ENCODING:
        write_png(fig, path, dpi, png_compress_level)
        return
    extra = {"pil_kwargs": {"compress_level": png_compress_level}} if ext == "png" else {}
    with lean_pdf_fonts() if ext == "pdf" and FAST_ENCODING else contextlib.nullcontext():
        fig.savefig(path, format=ext, dpi=dpi, metadata=metadata, facecolor="white", **extra)


class _Discard(io.RawIOBase):
    """A binary sink: matplotlib's raw buffer is read from the renderer instead."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return len(memoryview(data))
