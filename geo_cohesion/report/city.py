"""City report: summary in plain German, maps, comparison tables, spatial findings, need, methods,
limitations, and the cross-city comparison with the study's reference values.

:func:`city_context` returns one JSON-ready dictionary of formatted text and tables from which
both the HTML and the PDF report are rendered (:mod:`geo_cohesion.report.render`).
"""
from __future__ import annotations

import math
from functools import lru_cache
from importlib import resources
from typing import Any

import pandas as pd
import yaml

from geo_cohesion.keys import normalise_key
from geo_cohesion.radar.codebook import load_radar
from geo_cohesion.radar.indicators import known_labels
from geo_cohesion.report import text as t
from geo_cohesion.report.model import CityReportInput, ReportSettings
from geo_cohesion.report.need import need_classes
from geo_cohesion.report.profile import DEMO_LABEL, _true, sources
from geo_cohesion.survey.reliability import unpublished_when

#: German names of the demo's raking margins (other column names are shown as they are).
MARGIN_NAMES = {"age_group": "Altersgruppe", "gender": "Geschlecht", "district_id": "Gebiet"}
#: Moran's I statements need at least this many districts (as :mod:`geo_cohesion.spatial.autocorrelation`).
MIN_SPATIAL_DISTRICTS = 10


@lru_cache(maxsize=1)
def load_reference_values() -> dict[str, Any]:
    """The study's reference values (Germany, Länder, study cities) with their source.

    Read from ``geo_cohesion/report/data/reference_values.yaml``.
    """
    ref = resources.files("geo_cohesion").joinpath("report/data/reference_values.yaml")
    return yaml.safe_load(ref.read_text(encoding="utf-8"))


def city_references(city_name: str) -> list[tuple[str, float]]:
    """``[(label, index value), ...]`` to compare a city with: Germany and, for a study city, its Land."""
    ref = load_reference_values()
    out = [(f"{ref['germany']['name']} (Radar 2017)", float(ref["germany"]["index"]))]
    study = {normalise_key(c["name"]): c for c in ref["cities"]}
    land = study.get(normalise_key(city_name), {}).get("land")
    for entry in ref["laender"]:
        if entry["name"] == land:
            out.append((f"{entry['name']} (Radar 2017)", float(entry["index"])))
    return out


def published_city_index(city_name: str) -> float | None:
    """The study's published index of a study city (None for other cities)."""
    for entry in load_reference_values()["cities"]:
        if normalise_key(entry["name"]) == normalise_key(city_name):
            return float(entry["index"])
    return None


# --------------------------------------------------------------------------- helpers


def _by_variable(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    return None if frame is None else frame.set_index("variable")


def _index_comparison(city: CityReportInput) -> pd.DataFrame | None:
    if city.comparison is None:
        return None
    comp = city.comparison[city.comparison["variable"] == load_radar().index_slug].copy()
    return comp


def _names(frame: pd.DataFrame) -> list[str]:
    return [str(n) for n in frame["district_name"]]


#: Most rows of a district table in the city report; a larger city shows the first and the last
#: half and says where all districts are (a 20,000-row table is hundreds of PDF pages).
MAX_TABLE_ROWS = 200


def _table(header: list[str], rows: list[dict[str, Any]], align: list[str] | None = None) -> dict[str, Any]:
    if len(rows) > MAX_TABLE_ROWS:
        half = MAX_TABLE_ROWS // 2
        gap = {"cells": [f"… {len(rows) - 2 * half:,} weitere Gebiete (alle in den Tabellen und der Excel-Datei)"
                         .replace(",", "."), *([""] * (len(header) - 1))], "level": 0, "mark": ""}
        rows = [*rows[:half], gap, *rows[-half:]]
    return {"header": header, "rows": rows, "align": align or ["left"] + ["right"] * (len(header) - 1)}


# --------------------------------------------------------------------------- summary


def city_summary(city: CityReportInput, settings: ReportSettings) -> list[str]:
    """Paragraphs of the plain-German summary (what is high, low, significant; priority areas)."""
    radar = load_radar()
    index = radar.index_slug
    paragraphs: list[str] = []
    city_est = _by_variable(city.city_estimates)
    label = t.ci_label(settings.level)
    if city_est is not None and index in city_est.index:
        row = city_est.loc[index]
        first = (f"In {city.name} liegt der Zusammenhaltsindex bei {t.num(row['estimate'])} Punkten "
                 f"({label} {t.interval(row['ci_low'], row['ci_high'])}; {t.num(row['n'], 0)} Befragte mit "
                 f"gültigem Indexwert).")
        refs = city_references(city.name)
        if refs:
            items = t.join([f"{name.replace(' (Radar 2017)', '')} {t.num(value, 2)}" for name, value in refs])
            where = ["über" if row["estimate"] > v else "unter" for _, v in refs]
            relation = (f"liegt rechnerisch {where[0]} diesem Wert" if len(refs) == 1 else
                        f"liegt rechnerisch {where[0]} dem bundesweiten Wert und {where[1]} dem Landeswert")
            first += (f" Zum Vergleich: Der Radar gesellschaftlicher Zusammenhalt 2017 weist für {items} Punkte aus; "
                      f"der Stadtwert {relation}. Die Referenzwerte stammen aus einer anderen Befragung und haben "
                      f"keine Unsicherheitsangabe – ein Test ist deshalb nicht möglich.")
        dims = [(radar.labels[d.slug], float(city_est.loc[d.slug, "estimate"])) for d in radar.dimensions
                if d.slug in city_est.index]
        if dims:
            high = max(dims, key=lambda x: x[1])
            low = min(dims, key=lambda x: x[1])
            first += (f" Am höchsten bewerten die Befragten die Dimension {high[0]} ({t.num(high[1])} Punkte), "
                      f"am niedrigsten {low[0]} ({t.num(low[1])} Punkte).")
        paragraphs.append(first)
    else:
        paragraphs.append(f"Für {city.name} liegen Gebietswerte vor, aber keine Mikrodaten; Stadtwert, Tests und "
                          f"Rangintervalle fehlen deshalb.")
    spread = city.spread
    if spread is not None and not spread.empty and index in set(spread["variable"]):
        row = spread[spread["variable"] == index].iloc[0]
        second = (f"Zwischen den {t.num(row['n_districts'], 0)} Gebieten mit ausgewiesenem Wert reicht der Index von "
                  f"{t.num(row['min'])} ({row['lowest']}) bis {t.num(row['max'])} Punkten ({row['highest']}), "
                  f"eine Spannweite von {t.num(row['range'])} Punkten.")
        comp = _index_comparison(city)
        if comp is not None:
            tested = comp[comp["p_adjusted"].notna()]
            sig = tested[tested["significant"].map(_true)]
            above = sig[sig["deviation"] > 0].sort_values("deviation", ascending=False)
            below = sig[sig["deviation"] < 0].sort_values("deviation")
            rest = len(tested) - len(above) - len(below)
            parts = []
            if len(above):
                parts.append(f"{len(above)} {'Gebiet liegt' if len(above) == 1 else 'Gebiete liegen'} signifikant "
                             f"über dem Stadtwert ({t.join(_names(above))})")
            if len(below):
                parts.append(f"{len(below)} {'Gebiet liegt' if len(below) == 1 else 'Gebiete liegen'} signifikant "
                             f"darunter ({t.join(_names(below))})")
            adjust = t.ADJUST_NAMES.get(settings.adjust, settings.adjust)
            if parts:
                second += " " + "; ".join(parts) + \
                    f"; bei {rest} weiteren ist der Unterschied statistisch nicht gesichert ({adjust})."
            else:
                second += f" Kein Gebiet weicht beim Index signifikant vom Stadtwert ab ({adjust})."
        paragraphs.append(second)
    spatial_text = spatial_sentence(city, settings)
    if spatial_text:
        paragraphs.append(spatial_text)
    priority = priority_sentence(city)
    if priority:
        paragraphs.append(priority)
    if city.is_synthetic:
        paragraphs.append("Achtung: Dieser Bericht beruht auf synthetischen Demodaten; die Werte sind keine echten "
                          "Befragungsergebnisse.")
    return paragraphs


def spatial_sentence(city: CityReportInput, settings: ReportSettings) -> str:
    """What Moran's I and the LISA clusters say about the index (no verdict with few districts)."""
    spatial = city.spatial
    index = load_radar().index_slug
    if spatial is None or index not in set(spatial["variable"]):
        return ""
    row = spatial[spatial["variable"] == index].iloc[0]
    n = int(row["n_districts"]) if not t.missing(row["n_districts"]) else 0
    if n < MIN_SPATIAL_DISTRICTS or t.missing(row["p_value"]):
        return (f"Mit {n} Gebieten hat ein Test auf räumliche Häufung (Moran's I) zu wenig Teststärke; ein Urteil "
                "über räumliche Muster ist daher nicht möglich.")
    stat = f"Moran's I = {t.num(row['moran_i'], 2)}, {t.p_text(row['p_value'])}"
    if row["p_value"] < settings.alpha and row["moran_i"] > 0:
        text = (f"Der Index ist räumlich geclustert ({stat}): Gebiete mit ähnlichen Werten liegen häufiger "
                "nebeneinander, als bei zufälliger Verteilung zu erwarten wäre.")
    else:
        text = f"Eine räumliche Häufung des Index ist statistisch nicht gesichert ({stat})."
    lisa = city.lisa
    if lisa is not None:
        names = dict(zip(city.district_estimates["district_id"].astype(str),
                         city.district_estimates["district_name"].astype(str)))
        rows = lisa[lisa["variable"] == index]
        for code, words in (("LL", "Cluster niedriger Werte"), ("HH", "Cluster hoher Werte")):
            members = [names.get(str(d), str(d)) for d in rows.loc[rows["cluster"] == code, "district_id"]]
            if members:
                text += f" Lokales {words} (LISA, FDR-kontrolliert): {t.join(members)}."
    return text


def priority_sentence(city: CityReportInput) -> str:
    """Priority areas: districts in the two highest need classes, with their stability."""
    need = city.need
    if need is None or "need_class" not in need.columns:
        return ""
    classes = need_classes(need)
    top = classes[-2:] if len(classes) >= 3 else classes[-1:]
    names = dict(zip(city.district_estimates["district_id"].astype(str),
                     city.district_estimates["district_name"].astype(str)))
    chosen = need["priority"].astype(bool) if "priority" in need.columns else need["need_class"].isin(top)
    rows = need[chosen].sort_values("need_score", ascending=False)
    if "priority" in need.columns:  # the project's need.priority: classes ("4") or status/dynamics cells ("3/5")
        top = list(need.attrs.get("priority") or top)
    if rows.empty:
        return ("Nach dem Bedarfsindex fällt kein Gebiet in die Vorrangklassen "
                f"({t.join([str(c) for c in top], 'und')}).")
    items = []
    for _, row in rows.iterrows():
        item = f"{names.get(str(row['district_id']), row['district_id'])} (Klasse {int(row['need_class'])}"
        if "class_stability" in row and not t.missing(row["class_stability"]) and need.attrs.get("simulated"):
            item += f", Stabilität {t.percent(row['class_stability'])}"
            if "flag_unstable" in row and not t.missing(row["flag_unstable"]) and bool(row["flag_unstable"]):
                item += ", Einstufung unsicher"
        if "flag_weighting" in row and not t.missing(row["flag_weighting"]) and bool(row["flag_weighting"]):
            item += ", Klasse hängt von der Gewichtung ab"
        items.append(item + ")")
    if len(items) > 50:  # a long list is no sentence: the 50 highest, then the count
        items = [*items[:50], f"{len(items) - 50:,} weitere".replace(",", ".")]
    words = t.join([str(c) for c in top], "und")
    return (f"Vorranggebiete nach dem Bedarfsindex (Klassen {words} von {len(classes)}, Methode MSS Berlin): "
            f"{t.join(items)}.")


# --------------------------------------------------------------------------- tables


def index_table(city: CityReportInput, settings: ReportSettings) -> dict[str, Any]:
    """Districts sorted by index: value, interval, deviation, test, rank interval, respondents."""
    index = load_radar().index_slug
    est = city.district_estimates[city.district_estimates["variable"] == index].copy()
    comp = _index_comparison(city)
    if comp is not None:
        # ranks of the published index (as on the map) where the table has them, else the comparison's
        ranks = [] if "rank_low" in est.columns else ["rank", "rank_low", "rank_high"]
        est = est.merge(comp[["district_id", "deviation", "p_adjusted", "significant", *ranks]], on="district_id",
                        how="left")
    hidden = est["suppressed"].astype(bool) if "suppressed" in est else pd.Series(False, index=est.index)
    est = est.assign(_sort=est["estimate"].where(~hidden)).sort_values("_sort", ascending=False, na_position="last")
    header = ["Gebiet", "Index", t.ci_label(settings.level)]
    if comp is not None:
        header += ["Abweichung", "p (korr.)", "signifikant", "Rang (Intervall)"]
    header.append("Befragte")
    rows = []
    for _, r in est.iterrows():
        suppressed = bool(r.get("suppressed", False))
        cells = [str(r["district_name"]), t.DASH if suppressed else t.num(r["estimate"]),
                 t.DASH if suppressed else t.interval(r["ci_low"], r["ci_high"])]
        mark = ""
        if comp is not None:
            significant = _true(r.get("significant")) and not suppressed
            if significant:
                mark = "below" if r["deviation"] < 0 else "above"
            cells += [t.signed(r["deviation"]), t.DASH if t.missing(r["p_adjusted"]) else t.num(r["p_adjusted"], 3),
                      t.DASH if suppressed else ("ja" if significant else "nein"),
                      t.DASH if t.missing(r["rank"]) else
                      f"{t.num(r['rank'], 0)} ({t.num(r['rank_low'], 0)}{t.DASH}{t.num(r['rank_high'], 0)})"]
        cells.append(t.num(r["n"], 0))
        rows.append({"cells": cells, "level": 0, "mark": mark})
    return _table(header, rows)


def dimension_matrix(city: CityReportInput) -> dict[str, Any]:
    """Districts × the 9 dimensions; ▲/▼ marks significant deviations from the city value."""
    radar = load_radar()
    dims = [d.slug for d in radar.dimensions]
    est = city.district_estimates
    comp = city.comparison
    ids = list(dict.fromkeys(est["district_id"].astype(str)))
    names = dict(zip(est["district_id"].astype(str), est["district_name"].astype(str)))
    value = {(str(r.district_id), r.variable): (r.estimate, bool(getattr(r, "suppressed", False)))
             for r in est.itertuples()}
    direction: dict[tuple[str, str], int] = {}
    if comp is not None:
        for r in comp.itertuples():
            if _true(r.significant) and not t.missing(r.deviation):
                direction[(str(r.district_id), r.variable)] = -1 if r.deviation < 0 else 1
    short = {d.slug: d.label for d in radar.dimensions}
    rows = []
    for d in sorted(ids, key=lambda i: names[i]):
        cells = [names[d]]
        marks = []
        for v in dims:
            estimate, hidden = value.get((d, v), (math.nan, True))
            sign = direction.get((d, v), 0)
            arrow = " ▼" if sign < 0 else " ▲" if sign > 0 else ""
            cells.append(t.DASH if hidden or t.missing(estimate) else t.num(estimate) + arrow)
            marks.append("below" if sign < 0 else "above" if sign > 0 else "")
        rows.append({"cells": cells, "level": 0, "mark": "", "marks": [""] + marks})
    city_est = _by_variable(city.city_estimates)
    if city_est is not None:
        rows.append({"cells": [f"Stadt {city.name}"] + [t.num(city_est.loc[v, "estimate"]) if v in city_est.index
                                                        else t.DASH for v in dims],
                     "level": 1, "mark": "", "marks": [""] * (len(dims) + 1)})
    return _table(["Gebiet", *[short[v] for v in dims]], rows)


def spatial_table(city: CityReportInput) -> dict[str, Any] | None:
    """Moran's I of the index, domains and dimensions."""
    if city.spatial is None:
        return None
    labels = load_radar().labels
    rows = []
    for _, r in city.spatial.iterrows():
        note = r.get("note") if isinstance(r.get("note"), str) else ""
        rows.append({"cells": [labels.get(r["variable"], r["variable"]), t.num(r["moran_i"], 2),
                               t.DASH if t.missing(r["p_value"]) else t.num(r["p_value"], 3),
                               t.num(r["n_districts"], 0), note.replace("synthetische Demodaten", "").strip("; ")],
                     "level": 0, "mark": ""})
    return _table(["Merkmal", "Moran's I", "p (Permutation)", "Gebiete", "Hinweis"], rows,
                  ["left", "right", "right", "right", "left"])


def association_table(city: CityReportInput, settings: ReportSettings) -> dict[str, Any] | None:
    """Correlation of the index with the structural indicators across districts."""
    assoc = city.association
    if assoc is None or assoc.empty:
        return None
    index = load_radar().index_slug
    rows = []
    for _, r in assoc[assoc["variable"] == index].iterrows():
        label = known_labels().get(r["indicator"], (r["indicator"], ""))[0]
        rows.append({"cells": [label, t.num(r["r"], 2), t.interval(r["r_ci_low"], r["r_ci_high"], 2),
                               t.signed(r["slope"], 2), t.num(r["n_districts"], 0)], "level": 0, "mark": ""})
    if not rows:
        return None
    return _table(["Strukturindikator", "Korrelation r", t.ci_label(settings.level), "Steigung (Punkte je %-Pkt.)",
                   "Gebiete"], rows)


def need_table(city: CityReportInput) -> dict[str, Any] | None:
    """Need class, score, stability and main driver per district (highest need first)."""
    need = city.need
    if need is None or "need_class" not in need.columns:
        return None
    from geo_cohesion.report.need import row_drivers

    labels = {k: v[0] for k, v in known_labels().items()} | load_radar().labels
    names = dict(zip(city.district_estimates["district_id"].astype(str),
                     city.district_estimates["district_name"].astype(str)))
    classes = need_classes(need)
    rows = []
    for _, r in need.sort_values("need_score", ascending=False, na_position="last").iterrows():
        if t.missing(r["need_class"]):
            rows.append({"cells": [names.get(str(r["district_id"]), str(r["district_id"])), t.DASH, t.DASH, t.DASH,
                                   "kein Wert (fehlender Indikator)"], "level": 0, "mark": ""})
            continue
        drivers = row_drivers(r, top=2)  # the row itself: a search per district would be quadratic
        stability = t.percent(r["class_stability"]) if "class_stability" in r and need.attrs.get("simulated") \
            else t.DASH
        mark = "warn" if int(r["need_class"]) in classes[-2:] and len(classes) >= 3 else ""
        rows.append({"cells": [names.get(str(r["district_id"]), str(r["district_id"])),
                               f"{int(r['need_class'])} ({t.need_words(int(r['need_class']), len(classes))})",
                               t.signed(r["need_score"], 2), stability,
                               t.join([labels.get(n, n) for n, _ in drivers]) or t.DASH],
                     "level": 0, "mark": mark})
    return _table(["Gebiet", "Bedarfsklasse", "Bedarfsindex (SD)", "Klassenstabilität", "wichtigste Treiber"], rows,
                  ["left", "left", "right", "right", "left"])


# --------------------------------------------------------------------------- methods and limitations


def methods(city: CityReportInput, settings: ReportSettings) -> list[dict[str, str]]:
    """Methods section: weighting, estimation, small-area model, suppression, tests, spatial, need."""
    items = []
    diag = city.diagnostics or {}
    if city.city_estimates is not None:
        margins = city.weighting.get("margins") or []
        bounds = city.weighting.get("bounds")
        if city.weighting.get("method") == "none":
            text = ("Die Gewichte der Befragten wurden so übernommen, wie sie im Datensatz stehen (z. B. die "
                    "Endgewichte des Erhebungsinstituts), ohne erneute Anpassung an die Bevölkerung; die "
                    "Standardfehler enthalten daher keinen Kalibrierungsterm.")
        else:
            text = ("Die Befragten tragen Designgewichte (Ziehungswahrscheinlichkeiten, ggf. nach Schichten) und "
                    "wurden per Raking (iterative proportionale Anpassung) an die Bevölkerung angepasst")
            text += f" – nach {t.join([MARGIN_NAMES.get(str(m), str(m)) for m in margins])}" if margins else ""
            text += (f"; die g-Faktoren sind auf {t.num(bounds[0], 2)} bis {t.num(bounds[1], 2)} begrenzt"
                     if bounds else "") + "."
        if diag.get("deff_kish"):
            text += (f" Designeffekt der Gewichte (Kish) {t.num(diag['deff_kish'], 2)}, effektive Fallzahl "
                     f"{t.num(diag.get('n_eff'), 0)} von {t.num(diag.get('n_respondents'), 0)} Befragten.")
        items.append({"title": "Gewichtung", "text": text})
        items.append({"title": "Schätzung", "text": (
            "Gebiets- und Stadtwerte sind gewichtete Mittelwerte der Befragten (Skala 0–100; Dimension = Mittel "
            "ihrer Items, Bereich = Mittel seiner drei Dimensionen, Index = Mittel der neun Dimensionen). "
            "Standardfehler: Taylor-Linearisierung für ein geschichtetes Design mit Zurücklegen, bei "
            "kalibrierten Gewichten mit GREG-Residuen auf allen Raking-Rändern (wie R survey::calibrate). "
            f"Intervalle: {t.level_percent(settings.level)}-%-Konfidenzintervalle.")})
    else:
        items.append({"title": "Schätzung", "text": "Die Gebietswerte wurden als fertige gewichtete Werte übernommen "
                      "(keine Mikrodaten); Tests gegen den Stadtwert sind deshalb nicht möglich."})
    if "estimator" in city.district_estimates.columns:
        items.append({"title": "Kleingebietsschätzung", "text": (
            "Für Gebiete mit wenigen Befragten werden modellgestützte Kleingebietsschätzungen (Fay-Herriot-Modell "
            "mit Strukturindikatoren) verwendet; die Spalte „Schätzverfahren“ nennt je Gebiet das Verfahren, die "
            "Intervalle beruhen dann auf dem mittleren quadratischen Fehler (MSE).")})
    items.append({"title": "Veröffentlichungsregel", "text": (
        f"Nicht ausgewiesen werden Werte bei "
        f"{unpublished_when(settings.level, settings.min_n, settings.max_ci_halfwidth)} (Karten: grau "
        f"schraffiert, Tabellen: leer bzw. {t.DASH}).")})
    if city.comparison is not None:
        items.append({"title": "Tests und Ränge", "text": (
            "Je Gebiet und Merkmal wird die Differenz Gebiet minus Stadt mit ihrem Standardfehler getestet "
            "(die Kovarianz zwischen Gebiet und Stadt ist berücksichtigt). Korrektur für multiples Testen über die "
            f"Gebiete: {t.ADJUST_NAMES.get(settings.adjust, settings.adjust)}, Niveau "
            f"{t.num(settings.alpha * 100, 0)} %. Rangintervalle aus {t.num(settings.rank_draws, 0)} "
            "Simulationen der Schätzwerte (Goldstein & Spiegelhalter 1996).")})
    if city.spatial is not None:
        items.append({"title": "Räumliche Statistik", "text": (
            f"Globales Moran's I und lokale Cluster (LISA) mit {settings.contiguity}-Nachbarschaft "
            f"({'gemeinsame Grenze oder Ecke' if settings.contiguity == 'queen' else 'gemeinsame Grenze'}), "
            f"{t.num(settings.permutations, 0)} Permutationen; lokale p-Werte mit Benjamini-Hochberg kontrolliert. "
            f"Unter {MIN_SPATIAL_DISTRICTS} Gebieten wird kein Urteil abgegeben.")})
    if city.association is not None:
        items.append({"title": "Zusammenhang mit Strukturdaten", "text": (
            "Mit der Einwohnerzahl gewichtete Korrelation und Regression über die Gebiete (Fisher-z-Intervall). "
            "Ein Zusammenhang zwischen Gebieten sagt nichts über einzelne Personen (ökologischer Fehlschluss).")})
    if city.need is not None:
        weights = city.need.attrs.get("indicators") or city.need.attrs.get("weights") or {}
        labels = {k: v[0] for k, v in known_labels().items()} | load_radar().labels
        parts = [f"{labels.get(k, k)} ({'+' if w > 0 else t.MINUS}{t.num(abs(w), 0)})" for k, w in weights.items()]
        breaks = list(city.need.attrs.get("class_breaks") or (-1.0, 1.0, 1.5))
        text = ("Bedarfsindex nach der Methode des Monitorings Soziale Stadtentwicklung Berlin (MSS 2021): "
                "Indikatoren z-standardisiert, gewichtet summiert, die Summe erneut standardisiert; Klassen an "
                f"{t.join([t.signed(b) if b else t.num(b) for b in breaks])} Standardabweichungen (Klasse 1 = "
                f"geringer, {len(breaks) + 1} = höchster Handlungsbedarf).")
        if "dynamics_class" in city.need.columns:
            text += (" Dynamikindex ebenso aus den Veränderungen seit der früheren Befragungswelle (Klassen 1 = "
                     "positiv, 3 = stabil, 5 = negativ); Status/Dynamik wie im MSS.")
        if parts:
            text += f" Indikatoren und Gewichte: {t.join(parts)}."
        if city.need.attrs.get("simulated"):
            text += (f" Klassenstabilität: Anteil von {t.num(city.need.attrs.get('draws'), 0)} Simulationen, in denen "
                     "das Gebiet unter der Stichprobenunsicherheit der Befragungswerte in derselben Klasse landet; "
                     "unter 80 % gilt die Einstufung als unsicher.")
        no_se = city.need.attrs.get("no_se") or []
        if no_se:
            names = dict(zip(city.district_estimates["district_id"].astype(str),
                             city.district_estimates["district_name"].astype(str)))
            text += (f" Ohne Klassenstabilität: {t.join([names.get(d, d) for d in no_se])} (Befragungswert ohne "
                     "Standardfehler, weniger als zwei gültige Antworten).")
        items.append({"title": "Bedarfsindex", "text": text})
    return items


def limitations(city: CityReportInput, settings: ReportSettings) -> list[str]:
    """Plain limitations of the evidence."""
    out = [
        "Befragungswerte sind Stichprobenergebnisse: Kleine Unterschiede zwischen Gebieten liegen oft im Bereich "
        "des Zufalls. Maßgeblich sind die Intervalle und die korrigierten Tests, nicht die Rangfolge der Punktwerte.",
        "Bei vielen Gebieten und Merkmalen fallen einzelne Abweichungen auch zufällig auf; die Korrektur für "
        "multiples Testen begrenzt das, schließt es aber nicht aus.",
        "Zusammenhänge mit Strukturdaten beschreiben Gebiete, nicht Personen, und belegen keine Ursache.",
        "Die Referenzwerte für Deutschland und die Länder stammen aus einer anderen Befragung (Radar 2017) ohne "
        "Unsicherheitsangabe; Vergleiche damit sind nur eine Einordnung.",
        "Eine einzelne Befragung zeigt einen Stand, keine Entwicklung.",
    ]
    if city.is_synthetic:
        out.insert(0, "Alle Werte dieses Berichts beruhen auf synthetischen Demodaten; sie zeigen, wie ein Bericht "
                      "aussieht, und sind keine Aussagen über die Stadt.")
    if any("schematisch" in n for n in city.notes):
        out.append("Die Gebietsgrenzen sind schematisch und nicht amtlich.")
    return out


# --------------------------------------------------------------------------- cross-city comparison


def cross_city(cities: list[CityReportInput], settings: ReportSettings) -> dict[str, Any] | None:
    """The study's city comparison: index and 9 dimensions per city with reference values.

    Returns ``{"table", "series", "references", "source", "text"}`` or None without city values.
    """
    usable = [c for c in cities if c.city_estimates is not None]
    if not usable:
        return None
    radar = load_radar()
    variables = [radar.index_slug, *(d.slug for d in radar.dimensions)]
    labels = [radar.labels[v] for v in variables]
    ref = load_reference_values()
    rows = []
    series = {"labels": labels, "cities": [c.name for c in usable], "value": [], "low": [], "high": []}
    for v, label in zip(variables, labels):
        cells, vals, lows, highs = [label], [], [], []
        for c in usable:
            est = c.city_estimates.set_index("variable")
            ok = v in est.index
            vals.append(float(est.loc[v, "estimate"]) if ok else math.nan)
            lows.append(float(est.loc[v, "ci_low"]) if ok else math.nan)
            highs.append(float(est.loc[v, "ci_high"]) if ok else math.nan)
            cells.append(t.num(vals[-1]))
        series["value"].append(vals)
        series["low"].append(lows)
        series["high"].append(highs)
        rows.append({"cells": cells, "level": 1 if v == radar.index_slug else 2, "mark": ""})
    published = [published_city_index(c.name) for c in usable]
    if any(p is not None for p in published):
        rows.append({"cells": ["Index laut Studie (veröffentlicht)"] + [t.num(p, 2) if p is not None else t.DASH
                                                                         for p in published], "level": 3, "mark": ""})
    references = [(ref["germany"]["name"], float(ref["germany"]["index"]))]
    references += [(e["name"], float(e["index"])) for e in ref["laender"]]
    ref_rows = [{"cells": [name, t.num(value, 2)], "level": 0, "mark": ""} for name, value in references]
    low, high = ref["laender_range"]
    text = (f"Zum Vergleich nennt die Studie für Deutschland {t.num(ref['germany']['index'], 2)} Punkte und für die "
            f"Länder Werte von {t.num(low, 2)} bis {t.num(high, 2)} Punkten, darunter "
            + t.join([f"{e['name']} {t.num(e['index'], 2)}" for e in ref["laender"]])
            + ". Diese Werte haben keine Unsicherheitsangabe und stammen aus einer anderen Befragung; sie dienen der "
              "Einordnung, nicht einem Test.")
    if any(c.is_synthetic for c in usable):
        text += (" Die Stadtwerte dieser Seite beruhen auf synthetischen Demodaten; die Zeile „Index laut Studie“ "
                 "zeigt zum Abgleich die veröffentlichten Werte der echten Befragung.")
    return {"table": _table(["Merkmal", *[c.name for c in usable]], rows),
            "references": _table(["Referenz (Radar 2017)", "Index"], ref_rows),
            "series": series, "reference_values": references, "source": " ".join(ref["source"].split()),
            "text": text}


# --------------------------------------------------------------------------- context


def city_context(city: CityReportInput, settings: ReportSettings, cross: dict[str, Any] | None,
                 profiles: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """Everything the city report shows, as a JSON-ready dictionary of formatted text and tables.

    Parameters
    ----------
    city : CityReportInput
    settings : ReportSettings
    cross : dict, optional
        :func:`cross_city` of all cities of the project.
    profiles : list of dict, optional
        ``[{"name", "href"}]``: links to the district profiles (HTML).
    """
    # the end of the survey period; none without one (the fixed file date is no date of the data)
    stand = t.period_end(settings.survey_period)
    at = f" · Stand {stand}" if stand else ""
    index = load_radar().index_slug
    key = []
    city_est = _by_variable(city.city_estimates)
    if city_est is not None and index in city_est.index:
        row = city_est.loc[index]
        key.append({"label": "Zusammenhaltsindex", "value": t.num(row["estimate"]),
                    "detail": f"{t.ci_label(settings.level)} {t.interval(row['ci_low'], row['ci_high'])}"})
        key.append({"label": "Befragte", "value": t.num(city.diagnostics.get("n_respondents", row["n"]), 0),
                    "detail": f"effektiv {t.num(city.diagnostics.get('n_eff'), 0)}" if city.diagnostics.get("n_eff")
                    else ""})
    key.append({"label": "Gebiete", "value": str(city.district_estimates["district_id"].nunique()), "detail": ""})
    for name, value in city_references(city.name):
        key.append({"label": name, "value": t.num(value, 2), "detail": "Referenzwert ohne Test"})
    return {
        "kind": "city",
        "title": f"Sozialer Zusammenhalt in {city.name}",
        "city": city.name,
        "subtitle": f"{settings.title}{at}",
        "demo": DEMO_LABEL if city.is_synthetic else None,
        "summary": city_summary(city, settings),
        "key": key,
        "index_table": index_table(city, settings),
        "dimension_matrix": dimension_matrix(city),
        "spatial_text": spatial_sentence(city, settings),
        "spatial_table": spatial_table(city),
        "association_table": association_table(city, settings),
        "association_note": ("Korrelation über die Gebiete, gewichtet mit der Einwohnerzahl. Bei wenigen Gebieten "
                             "sind die Intervalle breit."),
        "need_table": need_table(city),
        "need_text": priority_sentence(city),
        "cross": cross,
        "methods": methods(city, settings),
        "limitations": limitations(city, settings),
        "sources": sources(city, settings),
        "significance_note": t.significance_note(settings.alpha, settings.adjust, settings.level)
        if city.comparison is not None else "",
        "stand": stand,
        "footer": f"Sozialer Zusammenhalt in {city.name}{at}",
        "profiles": profiles or [],
        "images": {},
        "figures": [],
    }
