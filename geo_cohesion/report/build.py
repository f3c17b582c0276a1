"""Write the reports: one city report per city and one profile per district, as HTML and PDF.

Layout under the output folder::

    report/<city>.html, report/<city>.pdf
    report/profiles/<city>/<district>.html, .pdf

``<city>`` is the city's slug, ``<district>`` the district id made file-name safe
(:func:`geo_cohesion.report.paths.file_stems`); every path is checked to stay inside the output
folder. Charts are drawn once per district and shared by the HTML and the PDF.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from geo_cohesion.io.write import write_bytes, write_text
from geo_cohesion.maps.figures import dimension_variables, plot_layer, plot_small_multiples
from geo_cohesion.radar.codebook import load_radar
from geo_cohesion.report import text as t
from geo_cohesion.report.charts import (
    LocatorMap,
    RadarChart,
    city_comparison_chart,
    interval_chart,
    radial_limits,
    svg_bytes,
)
from geo_cohesion.report.city import city_context, cross_city
from geo_cohesion.report.model import CityReportInput, ReportSettings
from geo_cohesion.report.paths import file_stems, inside
from geo_cohesion.report.profile import district_facts, profile_context, radar_series
from geo_cohesion.report.render import PdfRenderer, render_html, typst_started

#: Most districts of a city that get one profile each (HTML and PDF); a city with more gets none and
#: its report says so (profiles of 20,000 municipalities are hours of rendering no one reads; every
#: district is in the tables, the workbook and the GeoPackage).
MAX_PROFILE_DISTRICTS = 1_000
#: Most districts drawn as one row each in the report's interval chart; above, the lowest and the
#: highest ``MAX_INTERVAL_ROWS // 2`` (the chart would be metres high).
MAX_INTERVAL_ROWS = 200


@dataclass
class ReportTimings:
    """CPU seconds (all threads of the process) spent per stage, for the benchmark."""

    charts: float = 0.0
    html: float = 0.0
    pdf: float = 0.0
    documents: int = 0
    written: list[Path] = field(default_factory=list)


def radar_for_city(city: CityReportInput, settings: ReportSettings) -> RadarChart:
    """The radar chart of a city: same scale for all its districts, with the city line."""
    radar = load_radar()
    dims = [d.slug for d in radar.dimensions]
    est = city.district_estimates[city.district_estimates["variable"].isin(dims)]
    hidden = est["suppressed"].astype(bool) if "suppressed" in est else False
    values = [*est["ci_low"].where(~hidden).dropna(), *est["ci_high"].where(~hidden).dropna()]
    city_values = [math.nan] * len(dims)
    if city.city_estimates is not None:
        by = city.city_estimates.set_index("variable")["estimate"]
        city_values = [float(by.get(d, math.nan)) for d in dims]
    limits = radial_limits([*values, *city_values])
    return RadarChart([radar.labels[d] for d in dims], city_values, f"{city.name} (Stadtwert)",
                      t.ci_label(settings.level), limits)


def profile_stems(city: CityReportInput) -> dict[str, str]:
    """``{district_id: file stem}`` of a city's profiles."""
    return file_stems(city.district_estimates["district_id"].astype(str).unique())


def _figure(key: str, fig, caption: str, section: str) -> tuple[dict, bytes]:
    width, height = fig.get_size_inches()
    return {"key": key, "caption": caption, "section": section, "aspect": round(float(height / width), 4)}, \
        svg_bytes(fig)


def city_figures(city: CityReportInput, settings: ReportSettings, cross: dict | None) -> tuple[list[dict], dict]:
    """The figures of a city report: maps (index, dimensions, bivariate, LISA), interval chart, cross-city chart."""
    figures, images = [], {}
    radar = load_radar()
    city_map = city.city_map
    if city_map is not None:
        present = {layer.variable for layer in city_map.layers}
        wanted = [("map_index", radar.index_slug, "Zusammenhaltsindex nach Gebieten (Klassen wie in der interaktiven "
                   "Karte und der GeoPackage-Datei)")]
        wanted += [("map_bivariate", f"{radar.index_slug}__x__sgb2_share_pct",
                    "Zusammenhalt und SGB-II-Quote (je drei Klassen): rot = geringer Zusammenhalt bei hoher "
                    "Benachteiligung"),
                   ("map_lisa", f"{radar.index_slug}__cluster", "Lokale räumliche Cluster des Index (LISA)")]
        for key, variable, caption in wanted:
            if variable in present:
                spec, svg = _figure(key, plot_layer(city_map, variable), caption, "maps")
                figures.append(spec)
                images[key] = svg
        if dimension_variables(city_map):
            spec, svg = _figure("map_dimensions", plot_small_multiples(city_map),
                                "Die neun Dimensionen nach Gebieten (jede Karte mit eigenen Klassen)", "maps")
            figures.append(spec)
            images["map_dimensions"] = svg
    est = city.district_estimates[city.district_estimates["variable"] == radar.index_slug]
    shown = ""
    if len(est) > MAX_INTERVAL_ROWS:  # the lowest and the highest districts
        order = est["estimate"].where(~est["suppressed"].astype(bool) if "suppressed" in est else True)
        order = order.sort_values(kind="stable", na_position="first").dropna().index
        half = MAX_INTERVAL_ROWS // 2
        est = est.loc[list(order[:half]) + list(order[-half:])]
        shown = f" (die {half} niedrigsten und {half} höchsten von {len(order):,} Gebieten)".replace(",", ".")
    if len(est):
        directions = []
        for d in est["district_id"].astype(str):
            directions.append(district_facts(city, d).direction(radar.index_slug))
        hidden = est["suppressed"].astype(bool) if "suppressed" in est else False
        city_value = None
        if city.city_estimates is not None:
            row = city.city_estimates[city.city_estimates["variable"] == radar.index_slug]
            city_value = float(row["estimate"].iloc[0]) if len(row) else None
        fig = interval_chart(est["district_name"].astype(str).tolist(), est["estimate"].where(~hidden).tolist(),
                             est["ci_low"].where(~hidden).tolist(), est["ci_high"].where(~hidden).tolist(),
                             city_value, directions, f"Stadtwert {city.name}", unit="Punkte (0–100)")
        spec, svg = _figure("intervals", fig, f"Zusammenhaltsindex je Gebiet{shown} mit {t.ci_label(settings.level)}; "
                            "Farbe: Ergebnis des korrigierten Tests gegen den Stadtwert", "compare")
        figures.append(spec)
        images["intervals"] = svg
    if cross is not None:
        s = cross["series"]
        fig = city_comparison_chart(s["labels"], s["cities"], s["value"], s["low"], s["high"],
                                    cross["reference_values"], highlight=city.name)
        spec, svg = _figure("cross", fig, f"Index und Dimensionen je Stadt mit {t.ci_label(settings.level)}; "
                            "Linien in der Indexzeile: Referenzwerte des Radars 2017 (Deutschland, Länder)", "cross")
        figures.append(spec)
        images["cross"] = svg
    return figures, images


def write_reports(cities: list[CityReportInput], settings: ReportSettings, out_dir: str | Path,
                  timings: ReportTimings | None = None) -> list[Path]:
    """Write every city report and district profile (HTML and, unless ``settings.pdf`` is False, PDF).

    With ``settings.workers`` other than 1 the documents are written by forked worker processes
    (one per available core for 0), each with its own typst compiler; the files are the same
    bytes and the returned list the same order as one after another. Processes are not forked
    once typst has run in this process (its thread pool would not survive a fork): then the
    documents are written here, one after another.

    Parameters
    ----------
    cities : list of CityReportInput
    settings : ReportSettings
    out_dir : str or Path
        The run's output folder; files go to ``out_dir/report``.
    timings : ReportTimings, optional
        Filled with the CPU seconds spent on charts, HTML and PDF (in this process and, when
        parallel, in the workers).

    Returns
    -------
    list of Path
        Written files.
    """
    from geo_cohesion.maps.parallel import resolve_workers

    out_dir = Path(out_dir)
    root = out_dir / "report"
    timings = timings or ReportTimings()
    cross = cross_city(cities, settings)
    plans = [_profile_plan(city) for city in cities]
    n = resolve_workers(settings.workers, sum(len(stems) for stems in plans))
    if n > 1 and not (settings.pdf and typst_started()):
        written = _write_parallel(cities, settings, cross, root, plans, n, timings)
    else:
        renderer = PdfRenderer(settings.created) if settings.pdf else None
        written = []
        try:
            for city, stems in zip(cities, plans):
                written += _write_city(city, settings, cross, root, renderer, timings, stems)
        finally:
            if renderer is not None:
                renderer.close()
    timings.written = written
    return written


def _profile_plan(city: CityReportInput) -> dict[str, str]:
    """``{district_id: file stem}`` of the profiles to write (none above :data:`MAX_PROFILE_DISTRICTS`)."""
    stems = profile_stems(city)
    return {} if len(stems) > MAX_PROFILE_DISTRICTS else stems


def _emit(path: Path, root: Path, data: bytes | str) -> Path:
    inside(path, root)
    return write_text(path, data) if isinstance(data, str) else write_bytes(path, data)


@dataclass
class _CityTools:
    """A city's radar chart and locator map, drawn once and reused for each of its districts."""

    radar: RadarChart
    locator: LocatorMap | None
    known: set[str]

    @classmethod
    def build(cls, city: CityReportInput, settings: ReportSettings) -> _CityTools:
        locator = LocatorMap(city.city_map) if city.city_map is not None else None
        known = set(city.city_map.boundaries["district_id"].astype(str)) if city.city_map is not None else set()
        return cls(radar_for_city(city, settings), locator, known)

    def close(self) -> None:
        self.radar.close()
        if self.locator is not None:
            self.locator.close()


def _write_profile(city: CityReportInput, district_id: str, stem: str, settings: ReportSettings, root: Path,
                   renderer: PdfRenderer | None, tools: _CityTools, timings: ReportTimings) -> tuple[list[Path], dict]:
    """One district profile (HTML, PDF); returns the files and its entry in the city report's list."""
    written = []
    folder = root / "profiles" / city.slug
    t0 = time.process_time()
    context = profile_context(city, district_id, settings)
    series = radar_series(city, district_id)
    images = {"radar": tools.radar.svg(series["value"], series["low"], series["high"], series["direction"],
                                       series["name"])}
    if tools.locator is not None and district_id in tools.known:
        images["locator"] = tools.locator.svg(district_id)
    timings.charts += time.process_time() - t0
    t0 = time.process_time()
    written.append(_emit(folder / f"{stem}.html", root, render_html("profile.html", context, images)))
    timings.html += time.process_time() - t0
    if renderer is not None:
        t0 = time.process_time()
        written.append(_emit(folder / f"{stem}.pdf", root, renderer.render("profile.typ", context, images)))
        timings.pdf += time.process_time() - t0
    timings.documents += 1
    return written, {"name": context["district"], "href": f"profiles/{city.slug}/{stem}.html"}


def _write_city(city: CityReportInput, settings: ReportSettings, cross: dict | None, root: Path,
                renderer: PdfRenderer | None, timings: ReportTimings, stems: dict[str, str]) -> list[Path]:
    written: list[Path] = []
    profiles = []
    tools = _CityTools.build(city, settings)
    try:
        for district_id, stem in stems.items():
            files, entry = _write_profile(city, district_id, stem, settings, root, renderer, tools, timings)
            written += files
            profiles.append(entry)
    finally:
        tools.close()
    return written + _write_city_report(city, settings, cross, root, renderer, timings, profiles)


def _write_city_report(city: CityReportInput, settings: ReportSettings, cross: dict | None, root: Path,
                       renderer: PdfRenderer | None, timings: ReportTimings, profiles: list[dict]) -> list[Path]:
    written: list[Path] = []
    t0 = time.process_time()
    figures, images = city_figures(city, settings, cross)
    timings.charts += time.process_time() - t0
    context = city_context(city, settings, cross, sorted(profiles, key=lambda p: p["name"]))
    context["figures"] = figures
    if len(profile_stems(city)) > MAX_PROFILE_DISTRICTS:
        context["limitations"] = [*context["limitations"], (
            f"Gebietsprofile werden für Städte mit bis zu {MAX_PROFILE_DISTRICTS:,} Gebieten geschrieben; "
            f"{city.name} hat {len(profile_stems(city)):,}. Alle Gebiete stehen in den Tabellen, der "
            "Excel-Datei und der GeoPackage-Datei.").replace(",", ".")]
    written.append(_emit(root / f"{city.slug}.html", root, render_html("city.html", context, images)))
    if renderer is not None:
        t0 = time.process_time()
        written.append(_emit(root / f"{city.slug}.pdf", root, renderer.render("city.typ", context, images)))
        timings.pdf += time.process_time() - t0
    return written


# --------------------------------------------------------------------------- parallel documents

#: (cities, settings, cross, root, typst folder) of the running :func:`_write_parallel`, inherited by forked workers.
_STATE: tuple = ()
#: Per worker process: its typst renderer and the tools of the city it wrote last.
_WORKER: dict = {}


def _worker_renderer() -> PdfRenderer | None:
    _cities, settings, _cross, _root, folder = _STATE
    if settings.pdf and "renderer" not in _WORKER:
        _WORKER["renderer"] = PdfRenderer(settings.created, folder)
    return _WORKER.get("renderer")


def _profile_job(job: tuple[int, str, str]) -> tuple[list[Path], dict, tuple[float, float, float, int]]:
    cities, settings, _cross, root, _folder = _STATE
    c, district_id, stem = job
    if _WORKER.get("city") != c:
        if "tools" in _WORKER:
            _WORKER["tools"].close()
        _WORKER["city"], _WORKER["tools"] = c, _CityTools.build(cities[c], settings)
    timings = ReportTimings()
    files, entry = _write_profile(cities[c], district_id, stem, settings, root, _worker_renderer(), _WORKER["tools"],
                                  timings)
    return files, entry, (timings.charts, timings.html, timings.pdf, timings.documents)


def _city_job(job: tuple[int, list[dict]]) -> tuple[list[Path], tuple[float, float, float, int]]:
    cities, settings, cross, root, _folder = _STATE
    c, profiles = job
    timings = ReportTimings()
    files = _write_city_report(cities[c], settings, cross, root, _worker_renderer(), timings, profiles)
    return files, (timings.charts, timings.html, timings.pdf, timings.documents)


def _write_parallel(cities: list[CityReportInput], settings: ReportSettings, cross: dict | None, root: Path,
                    plans: list[dict[str, str]], workers: int, timings: ReportTimings) -> list[Path]:
    """The documents of :func:`write_reports`, written by ``workers`` forked processes: first every
    profile, then the city reports (which list the profiles); files and order as serially."""
    import tempfile

    from geo_cohesion.maps.parallel import fork_pool

    global _STATE
    jobs = [(c, district_id, stem) for c, stems in enumerate(plans) for district_id, stem in stems.items()]
    with tempfile.TemporaryDirectory(prefix="geo-cohesion-reports-") as folder:
        _STATE = (cities, settings, cross, root, folder)
        try:
            with fork_pool(workers) as pool:
                done = list(pool.map(_profile_job, jobs, chunksize=max(1, min(8, len(jobs) // (4 * workers)))))
                by_city: list[list] = [[] for _ in cities]
                for (c, _d, _s), result in zip(jobs, done):
                    by_city[c].append(result)
                reports = list(pool.map(_city_job, [(c, [r[1] for r in results])
                                                     for c, results in enumerate(by_city)]))
        finally:
            _STATE = ()
    written: list[Path] = []
    for results, (files, spent) in zip(by_city, reports):
        for profile_files, _entry, used in results:
            written += profile_files
            _add(timings, used)
        written += files
        _add(timings, spent)
    return written


def _add(timings: ReportTimings, spent: tuple[float, float, float, int]) -> None:
    timings.charts += spent[0]
    timings.html += spent[1]
    timings.pdf += spent[2]
    timings.documents += spent[3]
