"""German headers, units and explanations of the output tables: one place for every export.

The machine-readable tables (``tables/*.csv``) keep their stable English column names; everything
a person opens in Excel (``tables/excel_de/*.csv``, ``tables/geo_cohesion.xlsx``) and every report
uses the German header from :data:`COLUMNS`. This catalogue is meant to move into the project's
label catalogue (``labels.py``) once that exists; until then it is the only place to change a
German header.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo_cohesion.radar.codebook import load_radar
from geo_cohesion.radar.indicators import known_labels

#: Words for booleans in German tables.
YES_NO: tuple[str, str] = ("ja", "nein")


@dataclass(frozen=True)
class Column:
    """German header, unit and one-sentence explanation of an output column."""

    header: str
    unit: str = ""
    text: str = ""


#: Output column -> German header, unit, explanation.
COLUMNS: dict[str, Column] = {
    "city": Column("Stadt"),
    "district_id": Column("Gebiets-ID", "",
                          "Kennung des Gebiets (Stadtbezirk, Stadtteil, Ortsteil) wie in den Eingangsdaten"),
    "district_name": Column("Gebiet"),
    "group": Column("Gebietsgruppe", "", "Zusammenfassung mehrerer Gebiete (z. B. Sozialraum)"),
    "variable": Column("Merkmal", "", "Gesamtindex, Bereich oder Dimension des Radars gesellschaftlicher Zusammenhalt"),
    "indicator": Column("Strukturindikator"),
    "estimate": Column("Schätzwert", "Punkte (0–100)", "gewichteter Mittelwert der Befragten im Gebiet"),
    "se": Column("Standardfehler", "Punkte", "Unsicherheit des Schätzwerts (Taylor-Linearisierung)"),
    "ci_low": Column("KI untere Grenze", "Punkte", "untere Grenze des Konfidenzintervalls"),
    "ci_high": Column("KI obere Grenze", "Punkte", "obere Grenze des Konfidenzintervalls"),
    "n": Column("Befragte", "Anzahl", "Zahl der Befragten mit gültigem Wert"),
    "n_eff": Column("effektive Fallzahl", "Anzahl", "Fallzahl nach Kish unter Berücksichtigung der Gewichte"),
    "suppressed": Column("unterdrückt", "ja/nein", "ja = zu wenige Befragte, kein Wert veröffentlicht"),
    "note": Column("Hinweis"),
    "estimator": Column("Schätzverfahren", "", "direkt = Mittelwert der Befragten; Modell = Kleingebietsschätzung"),
    "mse": Column("mittlerer quadratischer Fehler", "Punkte²", "MSE der Kleingebietsschätzung"),
    "direct_estimate": Column("direkter Schätzwert", "Punkte (0–100)", "Mittelwert der Befragten ohne Modell"),
    "direct_se": Column("Standardfehler direkt", "Punkte"),
    "df": Column("Freiheitsgrade", "Anzahl"),
    "deviation": Column("Abweichung vom Stadtwert", "Punkte", "Gebietswert minus Stadtwert"),
    "city_value": Column("Stadtwert", "Punkte (0–100)"),
    "p_value": Column("p-Wert", "", "zweiseitiger Test, ohne Korrektur für multiples Testen"),
    "p_adjusted": Column("p-Wert korrigiert", "", "für multiples Testen über die Gebiete korrigiert"),
    "q_value": Column("q-Wert", "", "p-Wert nach Korrektur der Falscherkennungsrate"),
    "significant": Column("signifikant", "ja/nein", "ja = korrigierter p-Wert unter dem Signifikanzniveau"),
    "rank": Column("Rang", "", "1 = höchster Wert in der Stadt"),
    "rank_low": Column("Rang von", "", "untere Grenze des Rangintervalls"),
    "rank_high": Column("Rang bis", "", "obere Grenze des Rangintervalls"),
    "r": Column("Korrelation r", "", "gewichtete Korrelation über die Gebiete"),
    "r_ci_low": Column("r KI untere Grenze"),
    "r_ci_high": Column("r KI obere Grenze"),
    "intercept": Column("Achsenabschnitt", "Punkte"),
    "slope": Column("Steigung", "Punkte je Prozentpunkt"),
    "slope_se": Column("Standardfehler Steigung", "Punkte je Prozentpunkt"),
    "slope_ci_low": Column("Steigung KI untere Grenze", "Punkte je Prozentpunkt"),
    "slope_ci_high": Column("Steigung KI obere Grenze", "Punkte je Prozentpunkt"),
    "n_districts": Column("Zahl der Gebiete", "Anzahl"),
    "moran_i": Column("Moran's I", "", "globale räumliche Autokorrelation (−1 bis 1)"),
    "expected_i": Column("Erwartungswert I", "", "Moran's I ohne räumliche Struktur"),
    "z_sim": Column("z-Wert (Permutation)"),
    "weights": Column("Nachbarschaft", "", "queen = gemeinsame Grenze oder Ecke, rook = gemeinsame Grenze"),
    "islands": Column("Inseln", "", "Gebiete ohne Nachbarn"),
    "island_fallback": Column("Umgang mit Inseln"),
    "permutations": Column("Permutationen", "Anzahl"),
    "local_i": Column("lokales Moran's I"),
    "cluster": Column("Cluster", "", "HH/LL = Gebiet und Nachbarn hoch/niedrig; HL/LH = Ausreißer"),
    "quadrant": Column("Quadrant"),
    "min": Column("Minimum", "Punkte (0–100)"),
    "max": Column("Maximum", "Punkte (0–100)"),
    "range": Column("Spannweite", "Punkte"),
    "lowest": Column("niedrigstes Gebiet"),
    "highest": Column("höchstes Gebiet"),
    "total": Column("Gesamtvarianz", "Punkte²"),
    "between": Column("Varianz zwischen Gebieten", "Punkte²"),
    "between_corrected": Column("Varianz zwischen Gebieten (bereinigt)", "Punkte²",
                                "um den Stichprobenfehler bereinigt"),
    "within": Column("Varianz innerhalb der Gebiete", "Punkte²"),
    "share_between": Column("Anteil zwischen Gebieten", "Anteil (0–1)"),
    "share_between_corrected": Column("Anteil zwischen Gebieten (bereinigt)", "Anteil (0–1)"),
    "between_cities": Column("Varianz zwischen Städten", "Punkte²"),
    "between_districts_within_cities": Column("Varianz zwischen Gebieten in den Städten", "Punkte²"),
    "within_districts": Column("Varianz innerhalb der Gebiete", "Punkte²"),
    "districts_exceed_cities": Column("Gebiete unterscheiden sich stärker als Städte", "ja/nein"),
    "n_respondents": Column("Befragte", "Anzahl"),
    "iterations": Column("Iterationen", "Anzahl", "Iterationen des Raking-Verfahrens"),
    "converged": Column("konvergiert", "ja/nein"),
    "max_margin_error": Column("größte Randabweichung", "Personen"),
    "weight_min": Column("kleinstes Gewicht"),
    "weight_max": Column("größtes Gewicht"),
    "g_min": Column("kleinster g-Faktor", "", "Verhältnis Endgewicht zu Designgewicht"),
    "g_max": Column("größter g-Faktor"),
    "deff_kish": Column("Designeffekt (Kish)"),
    "worst_margin": Column("Rand mit größter Abweichung"),
    "need_score": Column("Bedarfsindex", "Standardabweichungen", "doppelt standardisierte Summe (Methode MSS Berlin)"),
    "need_class": Column("Bedarfsklasse", "", "1 = geringer bis 4 = sehr hoher Handlungsbedarf"),
    "class_stability": Column("Klassenstabilität", "Anteil (0–1)",
                              "Anteil der Simulationen mit derselben Bedarfsklasse"),
    "flag_unstable": Column("Klasse unsicher", "ja/nein"),
    "need_score_low": Column("Bedarfsindex untere Grenze", "Standardabweichungen"),
    "need_score_high": Column("Bedarfsindex obere Grenze", "Standardabweichungen"),
    "change": Column("Veränderung", "Punkte", "spätere minus frühere Welle"),
    "estimate_from": Column("Wert frühere Welle", "Punkte (0–100)"),
    "estimate_to": Column("Wert spätere Welle", "Punkte (0–100)"),
    "wave_from": Column("frühere Welle"),
    "wave_to": Column("spätere Welle"),
    "n_from": Column("Befragte frühere Welle", "Anzahl"),
    "n_to": Column("Befragte spätere Welle", "Anzahl"),
    "few_respondents": Column("wenige Befragte", "ja/nein", "in einer der Wellen weniger Befragte als die "
                                                            "Veröffentlichungsgrenze"),
    "flag_weighting": Column("Klasse hängt von Gewichtung ab", "ja/nein",
                             "die Klasse ändert sich, wenn ein Gewicht zwischen 0,5- und 1,5-fach variiert"),
    "modal_class": Column("häufigste simulierte Klasse"),
    "need_score_sd": Column("Standardabweichung Bedarfsindex (Simulation)", "Standardabweichungen"),
    "dynamics_score": Column("Dynamikindex", "Standardabweichungen",
                             "doppelt standardisierte Summe der Veränderungen (Methode MSS Berlin)"),
    "dynamics_class": Column("Dynamikklasse", "", "1 = positiv, 3 = stabil, 5 = negativ"),
    "status_dynamics": Column("Status/Dynamik", "", "Bedarfsklasse/Dynamikklasse"),
    "priority": Column("Vorranggebiet", "ja/nein"),
    "priority_area": Column("Vorranggebiet (Cluster)", "", "zusammenhängende Vorranggebiete P1, P2, …"),
    "dynamics_1": Column("Dynamik positiv", "Gebiete"),
    "dynamics_3": Column("Dynamik stabil", "Gebiete"),
    "dynamics_5": Column("Dynamik negativ", "Gebiete"),
}

#: Columns that are text even when they look like numbers (ids keep their leading zeros).
TEXT_COLUMNS: frozenset[str] = frozenset({
    "city", "district_id", "district_name", "group", "variable", "indicator", "note", "estimator", "weights",
    "islands", "island_fallback", "cluster", "quadrant", "lowest", "highest", "worst_margin",
    "wave_from", "wave_to", "status_dynamics", "priority_area"})

#: Table (file stem without city) -> German sheet name and description.
TABLES: dict[str, tuple[str, str]] = {
    "district_estimates": ("Gebietswerte", "Schätzwerte je Gebiet und Merkmal mit Konfidenzintervall"),
    "city_estimates": ("Stadtwerte", "Schätzwerte je Stadt und Merkmal"),
    "group_estimates": ("Gebietsgruppen", "Schätzwerte je Gebietsgruppe (aus den Mikrodaten)"),
    "weighting_diagnostics": ("Gewichtung", "Kennzahlen der Gewichtung (Raking) je Stadt"),
    "comparison": ("Vergleich", "Abweichung jedes Gebiets vom Stadtwert mit Test und Rangintervall"),
    "comparison_groups": ("Vergleich Gruppen", "Abweichung jeder Gebietsgruppe vom Stadtwert"),
    "association": ("Zusammenhang", "Zusammenhang der Werte mit Strukturindikatoren über die Gebiete"),
    "spatial": ("Räumlich", "globale räumliche Autokorrelation (Moran's I)"),
    "lisa": ("LISA", "lokale räumliche Cluster (LISA)"),
    "spread": ("Spannweite", "höchstes und niedrigstes Gebiet je Stadt und Merkmal"),
    "variance_decomposition": ("Varianzanteile", "Varianz zwischen und innerhalb der Gebiete je Stadt"),
    "between_vs_within": ("Städte vs. Gebiete", "Unterschiede zwischen Städten und zwischen Gebieten"),
    "need": ("Bedarf", "Bedarfsindex je Gebiet mit Klasse, Stabilität und Treibern"),
    "change": ("Veränderung", "Veränderung je Gebiet und Merkmal seit der früheren Welle mit Test"),
    "status_dynamics": ("Status x Dynamik", "Gebiete je Bedarfsklasse und Dynamikklasse"),
}
_PER_CITY = ("comparison_groups", "comparison", "association", "spatial", "lisa", "need", "change",
             "status_dynamics")


def variable_labels() -> dict[str, str]:
    """Slug -> German label of every Radar variable and known structural indicator."""
    labels = dict(load_radar().labels)
    labels.update({k: v[0] for k, v in known_labels().items()})
    return labels


def header(column: str) -> str:
    """German header of ``column`` (contribution columns are named after their indicator)."""
    if column in COLUMNS:
        return COLUMNS[column].header
    match = re.fullmatch(r"contribution_(.+)", column)
    if match:
        return f"Beitrag {variable_labels().get(match.group(1), match.group(1))}"
    match = re.fullmatch(r"value_(.+)", column)
    if match:
        return f"Wert {variable_labels().get(match.group(1), match.group(1))}"
    match = re.fullmatch(r"prob_class_(.+)", column)
    if match:
        return f"Wahrscheinlichkeit Klasse {match.group(1)}"
    return column


def table_key(stem: str, city_slugs: dict[str, str]) -> tuple[str, str | None]:
    """``("comparison", "dortmund")`` for ``comparison_dortmund``; ``(stem, None)`` for cross-city tables."""
    for prefix in _PER_CITY:
        if stem.startswith(prefix + "_"):
            slug = stem[len(prefix) + 1:]
            if slug in city_slugs:
                return prefix, slug
    return stem, None


def table_title(stem: str, city_slugs: dict[str, str]) -> str:
    """German sheet name of a table file stem, e.g. ``"Vergleich Dortmund"``."""
    key, slug = table_key(stem, city_slugs)
    title = TABLES.get(key, (stem, ""))[0]
    return f"{title} {city_slugs[slug]}" if slug else title


def table_description(stem: str, city_slugs: dict[str, str]) -> str:
    """One-sentence German description of a table file stem."""
    key, slug = table_key(stem, city_slugs)
    text = TABLES.get(key, ("", ""))[1]
    return f"{text} ({city_slugs[slug]})" if slug and text else text


def is_boolean(series: pd.Series) -> bool:
    """True for boolean columns (also nullable or object columns holding only booleans)."""
    if pd.api.types.is_bool_dtype(series):
        return True
    values = series.dropna()
    return len(values) > 0 and bool(values.map(lambda v: isinstance(v, (bool, np.bool_))).all())


def german_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The table as a German reader sees it: German headers, ``ja``/``nein``, German labels.

    Booleans (also nullable ones) become ``ja``/``nein``; float columns holding only whole numbers
    (ranks, counts with gaps) become integers; the ``variable`` and ``indicator`` columns show German
    labels instead of slugs; numbers stay numbers.
    """
    labels = variable_labels()
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if is_boolean(series):
            out[column] = series.map(lambda v: YES_NO[0] if bool(v) else YES_NO[1], na_action="ignore").astype(object)
        elif pd.api.types.is_float_dtype(series) and series.notna().any() and \
                (series.dropna() == series.dropna().round()).all() and (series.dropna().abs() < 2**53).all():
            out[column] = series.astype("Int64")  # ranks and counts: 2, not 2,0
        elif column in ("variable", "indicator"):
            out[column] = series.map(lambda v: labels.get(v, v), na_action="ignore")
    out.columns = [header(str(c)) for c in out.columns]
    return out


def column_notes(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    """``(German header, unit, explanation)`` for every column of ``frame`` that the catalogue explains."""
    rows = []
    for column in frame.columns:
        entry = COLUMNS.get(str(column))
        if entry is not None and (entry.unit or entry.text):
            rows.append((entry.header, entry.unit, entry.text))
    return rows
