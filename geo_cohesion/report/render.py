"""Render report contexts to self-contained HTML (jinja2) and to PDF (typst).

Both routes take the same JSON-ready context dictionary (:mod:`geo_cohesion.report.profile`,
:mod:`geo_cohesion.report.city`) and the same chart images (SVG bytes).

* **HTML**: templates ``report/templates/*.html``; every ``{{ value }}`` passes through the
  project's one escaper (:func:`geo_cohesion.io.htmlsafe.escape_html`, as jinja2 ``finalize``),
  images are inlined as ``data:`` URIs, so one file holds the whole report. The only values
  printed unescaped are the templates' own macros (``{{ table(t)|safe }}``), whose every value
  was escaped inside the macro.
* **PDF**: templates ``report/templates/*.typ`` compiled by the ``typst`` Python package (a
  self-contained wheel, no system libraries). User text never becomes typst markup: the context
  is written as ``data.json`` next to the images in a temporary project folder and the template
  reads it with ``json(...)``, so a district called ``#panic()`` or ``*bold*`` is printed as text.
  Fonts: typst's embedded fonts plus matplotlib's DejaVu Sans (a dependency already installed);
  system fonts are ignored, so every machine renders the same PDF. The creation date is fixed
  (:attr:`ReportSettings.created`), so the same data give byte-identical PDFs.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from geo_cohesion.errors import InputError
from geo_cohesion.io.htmlsafe import escape_html

TEMPLATES = "report/templates"


def _finalize(value: Any) -> str:
    """Every value printed by a template: missing -> empty, everything else escaped.

    The one exception is the output of the templates' own macros, marked ``|safe`` in the
    template: it is markup built from values that were escaped here already.
    """
    from markupsafe import Markup

    if isinstance(value, Markup):
        return str(value)
    return "" if value is None else escape_html(value)


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    loader = jinja2.FunctionLoader(lambda name: resources.files("geo_cohesion").joinpath(
        f"{TEMPLATES}/{name}").read_text(encoding="utf-8"))
    return jinja2.Environment(loader=loader, autoescape=False, finalize=_finalize, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def data_uri(svg: bytes) -> str:
    """``data:image/svg+xml;base64,...`` for an inline image."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def render_html(template: str, context: dict[str, Any], images: dict[str, bytes]) -> str:
    """A self-contained HTML page.

    Parameters
    ----------
    template : str
        Template file name in ``report/templates`` (``profile.html``, ``city.html``).
    context : dict
        Report context; ``images`` and ``figures[*].image`` are filled here.
    images : dict of str to bytes
        SVG images by key (``radar``, ``locator``, ``map_index`` ...).
    """
    uris = {key: data_uri(svg) for key, svg in images.items()}
    context = {**context, "images": uris,
               "figures": [{**f, "image": uris[f["key"]]} for f in context.get("figures", []) if f["key"] in uris]}
    return _environment().get_template(template).render(**context)


def _font_dirs() -> list[str]:
    import matplotlib

    return [str(Path(matplotlib.get_data_path()) / "fonts" / "ttf")]


#: True once this process has made a typst compiler: a process forked after that can deadlock in
#: typst (its worker threads are not copied by ``fork``), so parallel report writing forks only before.
_TYPST_STARTED = False


def typst_started() -> bool:
    """Whether this process has started typst (see :data:`_TYPST_STARTED`)."""
    return _TYPST_STARTED


class PdfRenderer:
    """Compile typst report templates; one compiler (fonts loaded once) for many documents.

    Parameters
    ----------
    created : datetime
        Creation date written into every PDF.
    folder : str or Path, optional
        Where the temporary project folder is made (default: the system's temporary folder).

    Notes
    -----
    Use as a context manager; the temporary project folder is removed on exit. Every document
    gets its own sub-folder (``/d/<n>/``) for ``data.json`` and its images, so no file is
    rewritten between compilations.
    """

    def __init__(self, created: dt.datetime, folder: str | Path | None = None) -> None:
        global _TYPST_STARTED
        try:
            import typst
        except ImportError as exc:  # pragma: no cover - typst is a dependency
            raise InputError("PDF reports need the 'typst' package", hint="pip install 'typst>=0.15'") from exc
        self._typst = typst
        self._created = created
        self._tmp = tempfile.TemporaryDirectory(prefix="geo-cohesion-typst-", dir=folder)
        self.root = Path(self._tmp.name)
        folder = resources.files("geo_cohesion").joinpath(TEMPLATES)
        for entry in folder.iterdir():
            if entry.name.endswith(".typ"):
                (self.root / entry.name).write_bytes(entry.read_bytes())
        _TYPST_STARTED = True  # from here on this process must not fork writers (typst's threads)
        self._compiler = typst.Compiler(root=str(self.root), font_paths=_font_dirs(), ignore_system_fonts=True)
        self._count = 0

    def __enter__(self) -> PdfRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the temporary project folder."""
        self._tmp.cleanup()

    def render(self, template: str, context: dict[str, Any], images: dict[str, bytes]) -> bytes:
        """Compile ``template`` (``profile.typ``, ``city.typ``) with ``context`` to PDF bytes."""
        self._count += 1
        folder = self.root / "d" / str(self._count)
        folder.mkdir(parents=True)
        paths = {}
        for key, svg in images.items():
            (folder / f"{key}.svg").write_bytes(svg)
            paths[key] = f"/d/{self._count}/{key}.svg"
        data = {**context, "images": paths,
                "figures": [{**f, "image": paths[f["key"]]} for f in context.get("figures", []) if f["key"] in paths]}
        (folder / "data.json").write_text(json.dumps(data, ensure_ascii=False, allow_nan=False), encoding="utf-8")
        try:
            pdf = self._compiler.compile(input=str(self.root / template), format="pdf",
                                         sys_inputs={"data": f"/d/{self._count}/data.json"},
                                         timestamp=self._created)
        except Exception as exc:  # typst reports template errors as TypstError (a RuntimeError)
            raise RuntimeError(f"typst could not compile {template}: {exc}") from exc
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return pdf
