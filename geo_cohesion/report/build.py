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
from geo_cohesion.report.render import PdfRenderer, render_html

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

    Parameters
    ----------
    cities : list of CityReportInput
    settings : ReportSettings
    out_dir : str or Path
        The run's output folder; files go to ``out_dir/report``.
    timings : ReportTimings, optional
        Filled with the seconds spent on charts, HTML and PDF.

    Returns
    -------
    list of Path
        Written files.
    """
    out_dir = Path(out_dir)
    root = out_dir / "report"
    timings = timings or ReportTimings()
    cross = cross_city(cities, settings)
    renderer = PdfRenderer(settings.created) if settings.pdf else None
    written: list[Path] = []
    try:
        for city in cities:
            written += _write_city(city, settings, cross, root, renderer, timings)
    finally:
        if renderer is not None:
            renderer.close()
    timings.written = written
    return written


def _emit(path: Path, root: Path, data: bytes | str) -> Path:
    inside(path, root)
    return write_text(path, data) if isinstance(data, str) else write_bytes(path, data)


def _write_city(city: CityReportInput, settings: ReportSettings, cross: dict | None, root: Path,
                renderer: PdfRenderer | None, timings: ReportTimings) -> list[Path]:
    written: list[Path] = []
    stems = profile_stems(city)
    folder = root / "profiles" / city.slug
    locator = LocatorMap(city.city_map) if city.city_map is not None else None
    radar = radar_for_city(city, settings)
    known = set(city.city_map.boundaries["district_id"].astype(str)) if city.city_map is not None else set()
    profiles = []
    skipped = len(stems) > MAX_PROFILE_DISTRICTS
    if skipped:
        stems = {}
    try:
        for district_id, stem in stems.items():
            t0 = time.process_time()
            context = profile_context(city, district_id, settings)
            series = radar_series(city, district_id)
            images = {"radar": radar.svg(series["value"], series["low"], series["high"], series["direction"],
                                         series["name"])}
            if locator is not None and district_id in known:
                images["locator"] = locator.svg(district_id)
            timings.charts += time.process_time() - t0
            t0 = time.process_time()
            written.append(_emit(folder / f"{stem}.html", root, render_html("profile.html", context, images)))
            timings.html += time.process_time() - t0
            if renderer is not None:
                t0 = time.process_time()
                written.append(_emit(folder / f"{stem}.pdf", root, renderer.render("profile.typ", context, images)))
                timings.pdf += time.process_time() - t0
            timings.documents += 1
            profiles.append({"name": context["district"], "href": f"profiles/{city.slug}/{stem}.html"})
    finally:
        radar.close()
        if locator is not None:
            locator.close()
    t0 = time.process_time()
    figures, images = city_figures(city, settings, cross)
    timings.charts += time.process_time() - t0
    context = city_context(city, settings, cross, sorted(profiles, key=lambda p: p["name"]))
    context["figures"] = figures
    if skipped:
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
