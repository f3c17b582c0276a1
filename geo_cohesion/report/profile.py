"""District profile ("Gebietsprofil"): the evidence for one district on one or two A4 pages.

:func:`profile_context` gathers the district's numbers (index, domains, dimensions with intervals,
the city values, the tested deviations and rank intervals, structural indicators, need class and
its stability) into one JSON-ready dictionary, formatted for German readers, with a paragraph in
plain German that can be lifted into a funding application. The HTML and the PDF are both
rendered from this dictionary (:mod:`geo_cohesion.report.render`), so they say the same.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from geo_cohesion import __version__
from geo_cohesion.radar.codebook import load_radar
from geo_cohesion.radar.indicators import known_labels
from geo_cohesion.report import text as t
from geo_cohesion.report.model import CityReportInput, ReportSettings
from geo_cohesion.report.need import main_drivers, need_classes
from geo_cohesion.stats.change import latest_wave_changes
from geo_cohesion.stats.compare import rank_open
from geo_cohesion.survey.reliability import unpublished_when
from geo_cohesion.survey.small_area import ESTIMATOR_LABELS

#: Label of synthetic demo outputs (every page of a demo report carries it).
DEMO_LABEL = "Synthetische Demodaten – keine echten Befragungsergebnisse"
#: Structural indicators shown in profiles, in this order (others present follow).
STRUCTURAL_ORDER = ("sgb2_share_pct", "unemployment_pct", "migration_share_pct", "foreigners_pct")
#: Articles of the structural indicators named in the profile paragraph (in this order).
ARTICLES = {"sgb2_share_pct": "die", "unemployment_pct": "die"}


@dataclass
class DistrictFacts:
    """The numbers of one district that profiles and summaries speak about."""

    district_id: str
    name: str
    estimates: pd.DataFrame  # indexed by variable
    comparison: pd.DataFrame | None  # indexed by variable
    city: pd.DataFrame | None  # city estimates indexed by variable
    n_ranked: int
    suppressed: bool

    def value(self, variable: str, column: str = "estimate") -> float:
        """A number of the district's estimate row (NaN if absent or suppressed)."""
        if variable not in self.estimates.index or column not in self.estimates.columns:
            return math.nan
        row = self.estimates.loc[variable]
        if column in ("estimate", "se", "ci_low", "ci_high") and bool(row.get("suppressed", False)):
            return math.nan
        return _float(row[column])

    def city_value(self, variable: str, column: str = "estimate") -> float:
        """A number of the city's estimate (NaN without one)."""
        if self.city is not None and variable in self.city.index and column in self.city.columns:
            return _float(self.city.loc[variable, column])
        if column == "estimate" and self.comparison is not None and variable in self.comparison.index:
            return _float(self.comparison.loc[variable, "city_value"])
        return math.nan

    def compared(self, variable: str, column: str) -> Any:
        """A cell of the district's comparison row (None without a comparison)."""
        if self.comparison is None or variable not in self.comparison.index:
            return None
        return self.comparison.loc[variable, column]

    def ranked(self, variable: str, column: str = "rank") -> Any:
        """The district's rank (``rank``, ``rank_low`` or ``rank_high``) among the published values, as
        on the map (``district_estimates.csv``); from the comparison table where the estimates have
        no ranks (tables from before). None or NaN where not ranked."""
        if variable in self.estimates.index and column in self.estimates.columns:
            return self.estimates.loc[variable, column]
        return self.compared(variable, column)

    def direction(self, variable: str) -> int:
        """-1/+1 when the comparison table says the deviation is significant, else 0."""
        significant, deviation = self.compared(variable, "significant"), self.compared(variable, "deviation")
        if significant is None or t.missing(deviation) or not _true(significant):
            return 0
        return -1 if float(deviation) < 0 else 1


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _true(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "ja", "1")
    return bool(value) if not t.missing(value) else False


def district_facts(city: CityReportInput, district_id: str) -> DistrictFacts:
    """Collect the estimate, city and comparison rows of one district."""
    est = city.district_estimates
    rows = city.rows_of("district_estimates", district_id)
    if rows is None:
        rows = est.iloc[:0].set_index("variable")
    name = str(rows["district_name"].iloc[0]) if "district_name" in rows and len(rows) else str(district_id)
    comparison = city.rows_of("comparison", district_id)
    city_est = city.city_estimates.set_index("variable") if city.city_estimates is not None else None
    index_slug = load_radar().index_slug
    index_rows = est[est["variable"] == index_slug]
    hidden = index_rows["suppressed"].astype(bool) if "suppressed" in index_rows \
        else pd.Series(False, index=index_rows.index)
    n_ranked = int((~hidden & index_rows["estimate"].notna()).sum())
    suppressed = bool(rows.loc[index_slug, "suppressed"]) \
        if index_slug in rows.index and "suppressed" in rows else False
    return DistrictFacts(str(district_id), name, rows, comparison, city_est, n_ranked, suppressed)


# --------------------------------------------------------------------------- structural indicators


def structural_rows(city: CityReportInput, district_id: str) -> list[dict[str, Any]]:
    """District value, city value and rank of every known structural indicator.

    The city value is the mean over the districts weighted by ``population_total`` when present
    (else the plain mean), and says so.
    """
    table = city.structural
    if table is None or "district_id" not in table.columns:
        return []
    frame = table.copy()
    frame["district_id"] = frame["district_id"].astype(str)
    if str(district_id) not in set(frame["district_id"]):
        return []
    weights = pd.to_numeric(frame["population_total"], errors="coerce") if "population_total" in frame else None
    columns = [c for c in STRUCTURAL_ORDER if c in frame.columns]
    columns += [c for c in known_labels() if c in frame.columns and c not in columns and c != "population_total"]
    out = []
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        ok = values.notna()
        if weights is not None and (weights[ok] > 0).all() and ok.any():
            city_value = float(np.average(values[ok], weights=weights[ok]))
            basis = "gewichtet mit der Einwohnerzahl"
        else:
            city_value = float(values[ok].mean()) if ok.any() else math.nan
            basis = "ungewichtetes Mittel der Gebiete"
        mine = float(values[frame["district_id"] == str(district_id)].iloc[0])
        rank = int((values > mine).sum() + 1) if math.isfinite(mine) else None
        label, unit = known_labels()[column]
        out.append({"variable": column, "label": label, "unit": unit, "value": mine, "city": city_value,
                    "basis": basis, "rank": rank, "n": int(ok.sum())})
    if "population_total" in frame.columns:
        population = pd.to_numeric(frame["population_total"], errors="coerce")
        mine = float(population[frame["district_id"] == str(district_id)].iloc[0])
        out.append({"variable": "population_total", "label": "Einwohner", "unit": "", "value": mine,
                    "city": float(population.sum()), "basis": "Summe der Gebiete", "rank": None, "n": 0})
    return out


def _unit(value: float, unit: str, decimals: int = 1) -> str:
    if unit == "%":
        return f"{t.num(value, decimals)}\u00a0%"
    if unit == "" and math.isfinite(value) and float(value).is_integer():
        return t.num(value, 0)
    return t.num(value, decimals)


# --------------------------------------------------------------------------- need


def need_facts(city: CityReportInput, district_id: str) -> dict[str, Any] | None:
    """Need class, score with interval, stability and main drivers of one district (None without need)."""
    need = city.need
    if need is None or "district_id" not in need.columns:
        return None
    row = need[need["district_id"].astype(str) == str(district_id)]
    if row.empty or t.missing(row["need_class"].iloc[0]):
        return None
    row = row.iloc[0]
    classes = need_classes(need)
    labels = {k: v[0] for k, v in known_labels().items()} | load_radar().labels
    drivers = [(labels.get(name, name), value) for name, value in main_drivers(need, district_id)]
    contributions = []
    weights = need.attrs.get("indicators") or need.attrs.get("weights") or {}
    for column in need.columns:
        if column.startswith("contribution_"):
            name = column.removeprefix("contribution_")
            raw = row.get(f"value_{name}", math.nan)
            unit = known_labels().get(name, ("", "Punkte"))[1] or "Punkte"
            contributions.append({"label": labels.get(name, name), "value": raw, "unit": unit,
                                  "weight": weights.get(name), "contribution": _float(row[column])})
    stability = _float(row.get("class_stability", math.nan))
    flag = row.get("flag_unstable", None)
    ranked = need.dropna(subset=["need_score"]).sort_values("need_score", ascending=False)
    position = list(ranked["district_id"].astype(str)).index(str(district_id)) + 1
    return {"need_class": int(row["need_class"]), "n_classes": len(classes), "words": t.need_words(
        int(row["need_class"]), len(classes)), "score": _float(row["need_score"]),
        "low": _float(row.get("need_score_low", math.nan)), "high": _float(row.get("need_score_high", math.nan)),
        "stability": stability, "unstable": None if t.missing(flag) else _true(flag), "drivers": drivers,
        "contributions": contributions, "position": position, "n_scored": len(ranked),
        "draws": need.attrs.get("draws"), "simulated": need.attrs.get("simulated", [])}


# --------------------------------------------------------------------------- the paragraph


def profile_paragraph(city: CityReportInput, facts: DistrictFacts, settings: ReportSettings,
                      structural: list[dict[str, Any]], need: dict[str, Any] | None) -> str:
    """The plain-German paragraph of a profile, generated from the numbers.

    Claims only what the data support: significance comes from the comparison table (adjusted
    test), never from overlapping intervals; without microdata no test is claimed.
    """
    radar = load_radar()
    index = radar.index_slug
    label = t.ci_label(settings.level)
    parts: list[str] = []
    name = facts.name
    n = facts.value(index, "n")
    if facts.suppressed or not math.isfinite(facts.value(index)):
        parts.append(f"Für das Gebiet {name} ({city.name}) liegen zu wenige Befragte vor "
                     f"(n = {t.num(n, 0)}, Mindestzahl {settings.min_n}); Werte zum Zusammenhalt werden "
                     f"deshalb nicht ausgewiesen.")
    else:
        value, low, high = facts.value(index), facts.value(index, "ci_low"), facts.value(index, "ci_high")
        city_value = facts.city_value(index)
        sentence = (f"Im Gebiet {name} ({city.name}) liegt der Zusammenhaltsindex bei {t.num(value)} Punkten "
                    f"({label} {t.interval(low, high)})")
        deviation = facts.compared(index, "deviation")
        if deviation is not None and not t.missing(deviation):
            p_adj = facts.compared(index, "p_adjusted")
            if facts.direction(index) < 0:
                sentence += f" und damit signifikant unter dem Stadtwert von {t.num(city_value)} Punkten"
            elif facts.direction(index) > 0:
                sentence += f" und damit signifikant über dem Stadtwert von {t.num(city_value)} Punkten"
            else:
                sentence += (f"; der Unterschied zum Stadtwert von {t.num(city_value)} Punkten ist statistisch "
                             f"nicht gesichert")
            sentence += f" (Abweichung {t.signed(deviation)} Punkte, {t.p_text(p_adj)} nach " \
                        f"{t.ADJUST_NAMES.get(settings.adjust, settings.adjust)})."
        elif math.isfinite(city_value):
            sentence += f"; der Stadtwert beträgt {t.num(city_value)} Punkte (ohne Mikrodaten kein Test)."
        else:
            sentence += "."
        parts.append(sentence)
        if facts.comparison is not None:
            below = [(radar.labels[d.slug], facts.compared(d.slug, "deviation")) for d in radar.dimensions
                     if facts.direction(d.slug) < 0]
            above = [(radar.labels[d.slug], facts.compared(d.slug, "deviation")) for d in radar.dimensions
                     if facts.direction(d.slug) > 0]
            if not below and not above:
                parts.append("Keine der neun Dimensionen weicht signifikant vom Stadtwert ab.")
            else:
                if below:
                    items = t.join([f"{lab} ({t.signed(dev)})" for lab, dev in below])
                    verb = "liegt die Dimension" if len(below) == 1 else "liegen die Dimensionen"
                    parts.append(f"Signifikant unter dem Stadtwert {verb} {items}.")
                if above:
                    items = t.join([f"{lab} ({t.signed(dev)})" for lab, dev in above])
                    verb = "liegt die Dimension" if len(above) == 1 else "liegen die Dimensionen"
                    parts.append(f"Signifikant über dem Stadtwert {verb} {items}.")
            rank, rank_low, rank_high = (facts.ranked(index, c) for c in ("rank", "rank_low", "rank_high"))
            if not t.missing(rank) and bool(rank_open(rank_low, rank_high, facts.n_ranked)):
                parts.append(f"Einen Rang beim Index unter den {facts.n_ranked} Gebieten der Stadt mit ausgewiesenem "
                             f"Wert lassen die Daten nicht erkennen: das {t.level_percent(settings.level)}-%-"
                             f"Rangintervall reicht von 1 bis {facts.n_ranked}.")
            elif not t.missing(rank):
                parts.append(f"Unter den {facts.n_ranked} Gebieten der Stadt mit ausgewiesenem Wert steht das "
                             f"Gebiet beim Index auf Rang {t.num(rank, 0)} (1 = höchster Wert; "
                             f"{t.level_percent(settings.level)}-%-Rangintervall {t.num(rank_low, 0)} bis "
                             f"{t.num(rank_high, 0)}).")
    shown = [r for r in structural if r["variable"] in ARTICLES and math.isfinite(r["value"])][:2]
    if shown:
        first, *rest = shown
        sentence = (f"{ARTICLES[first['variable']].capitalize()} {first['label']} beträgt "
                    f"{_unit(first['value'], first['unit'])} (Stadt {_unit(first['city'], first['unit'])})")
        for r in rest:
            sentence += (f", {ARTICLES[r['variable']]} {r['label']} {_unit(r['value'], r['unit'])} "
                         f"(Stadt {_unit(r['city'], r['unit'])})")
        parts.append(sentence + ".")
    if need is not None:
        sentence = (f"Im Bedarfsindex (Methode des Berliner Monitorings Soziale Stadtentwicklung) gehört das Gebiet "
                    f"zur Klasse {need['need_class']} von {need['n_classes']} ({need['words']})")
        if need["drivers"]:
            sentence += "; den größten Beitrag leisten " if len(need["drivers"]) > 1 else \
                "; den größten Beitrag leistet "
            sentence += t.join([f"{name} ({t.signed(value, 2)})" for name, value in need["drivers"]])
        sentence += "."
        parts.append(sentence)
        if math.isfinite(need["stability"]) and need["simulated"]:
            stable = (f"Berücksichtigt man die Stichprobenunsicherheit der Befragungswerte, ergibt sich diese "
                      f"Klasse in {t.percent(need['stability'])} der Simulationen")
            stable += " – die Einstufung ist damit unsicher." if need["unstable"] else "."
            parts.append(stable)
    if change := _index_change(city, facts.district_id):
        parts.append(change)
    if not t.missing(n) and not facts.suppressed:
        when = t.period(settings.survey_period)
        parts.append(f"Grundlage sind {t.num(n, 0)} Befragte im Gebiet" + (f" (Erhebung {when})." if when else "."))
    if city.is_synthetic:
        parts.append("Achtung: Alle Werte beruhen auf synthetischen Demodaten und sind keine echten "
                     "Befragungsergebnisse.")
    return " ".join(parts)


def _index_change(city: CityReportInput, district_id: str) -> str:
    change = city.change
    if change is None or "district_id" not in change.columns:
        return ""
    change = latest_wave_changes(change)  # as the maps: since the most recent earlier wave
    rows = change[(change["district_id"].astype(str) == str(district_id)) & (change["variable"] == "index")]
    if rows.empty or t.missing(rows["change"].iloc[0]):
        return ""
    row = rows.iloc[0]
    verdict = "statistisch gesichert" if _true(row.get("significant")) else "statistisch nicht gesichert"
    since = f" ({row['wave_from']})" if "wave_from" in row.index and not t.missing(row["wave_from"]) else ""
    return (f"Gegenüber der früheren Befragung{since} hat sich der Index um {t.signed(row['change'])} Punkte "
            f"verändert ({verdict}).")


# --------------------------------------------------------------------------- the context


def _score_table(facts: DistrictFacts, settings: ReportSettings) -> dict[str, Any]:
    radar = load_radar()
    tested = facts.comparison is not None
    header = ["Merkmal", "Gebiet", t.ci_label(settings.level), "Stadt", "Abweichung"]
    header += ["signifikant", "Rang (Intervall)"] if tested else []
    rows = []
    order = [(radar.index_slug, 1)]
    for domain in radar.domains:
        order.append((domain, 1))
        order += [(d, 2) for d in radar.dimensions_of(domain)]
    for variable, level in order:
        value = facts.value(variable)
        deviation = facts.compared(variable, "deviation") if tested else \
            (value - facts.city_value(variable) if math.isfinite(value) else math.nan)
        cells = [radar.labels[variable], t.num(value), t.interval(facts.value(variable, "ci_low"),
                                                                   facts.value(variable, "ci_high")),
                 t.num(facts.city_value(variable)), t.signed(deviation)]
        if tested:
            significant = facts.compared(variable, "significant")
            rank = facts.ranked(variable)
            cells.append(t.DASH if t.missing(value) else ("ja" if _true(significant) else "nein"))
            cells.append(t.DASH if t.missing(rank) else
                         f"{t.num(rank, 0)} ({t.num(facts.ranked(variable, 'rank_low'), 0)}"
                         f"{t.DASH}{t.num(facts.ranked(variable, 'rank_high'), 0)})")
        direction = facts.direction(variable)
        rows.append({"cells": cells, "level": level,
                     "mark": "below" if direction < 0 else "above" if direction > 0 else ""})
    return {"header": header, "rows": rows, "align": ["left"] + ["right"] * (len(header) - 1)}


def _structural_table(structural: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not structural:
        return None
    rows = []
    for r in structural:
        rank = f"{r['rank']} von {r['n']}" if r["rank"] is not None else t.DASH
        rows.append({"cells": [r["label"], _unit(r["value"], r["unit"]), _unit(r["city"], r["unit"]), rank],
                     "level": 0, "mark": ""})
    return {"header": ["Indikator", "Gebiet", "Stadt", "Rang"], "rows": rows,
            "align": ["left", "right", "right", "right"]}


def _need_block(need: dict[str, Any] | None, settings: ReportSettings) -> dict[str, Any] | None:
    if need is None:
        return None
    rows = []
    for c in need["contributions"]:
        weight = c["weight"]
        direction = t.DASH if weight is None else ("+" if weight > 0 else MINUS_SIGN)
        rows.append({"cells": [c["label"], _unit(_float(c["value"]), "%" if c["unit"] == "%" else ""),
                               direction, t.signed(c["contribution"], 2)], "level": 0,
                     "mark": "below" if c["contribution"] > 0.5 else ""})
    lines = [f"Bedarfsindex {t.signed(need['score'], 2)} Standardabweichungen"
             + (f" (Simulationsintervall {t.interval(need['low'], need['high'], 2)})"
                if math.isfinite(need["low"]) else ""),
             f"Platz {need['position']} von {need['n_scored']} Gebieten (1 = höchster Bedarf)"]
    if math.isfinite(need["stability"]) and need["simulated"]:
        lines.append(f"Klassenstabilität {t.percent(need['stability'])} ({need['draws']} Simulationen"
                     f"{'; unsicher' if need['unstable'] else ''})")
    return {"need_class": str(need["need_class"]), "n_classes": str(need["n_classes"]), "words": need["words"],
            "lines": lines,
            "table": {"header": ["Indikator", "Wert", "Richtung", "Beitrag (SD)"], "rows": rows,
                      "align": ["left", "right", "center", "right"]},
            "method": ("Methode: Monitoring Soziale Stadtentwicklung Berlin (MSS 2021) – Indikatoren z-standardisiert, "
                       "gewichtet summiert, erneut standardisiert; Klassengrenzen −1, +1 und +1,5 "
                       "Standardabweichungen. Richtung „+“: höherer Wert = mehr Bedarf; „−“: niedrigerer Wert = "
                       "mehr Bedarf. Beitrag: Anteil des Indikators am Bedarfsindex.")}


MINUS_SIGN = t.MINUS


def sources(city: CityReportInput, settings: ReportSettings, respondents: float | None = None) -> list[str]:
    """Data-source lines of a report (survey, period, notes, software)."""
    lines = [f"Befragung: {settings.title}"]
    when = t.period(settings.survey_period)
    if when:
        lines.append(f"Erhebungszeitraum: {when}")
    if city.city_estimates is not None and "n" in city.city_estimates.columns:
        total = city.diagnostics.get("n_respondents")
        if total:
            lines.append(f"Befragte in {city.name}: {t.num(total, 0)}")
    if respondents is not None and not t.missing(respondents):
        lines.append(f"Befragte im Gebiet: {t.num(respondents, 0)}")
    estimator = None
    if "estimator" in city.district_estimates.columns:
        values = city.district_estimates["estimator"].dropna().astype(str).unique().tolist()
        estimator = ", ".join(sorted(values))
    weights = "Gewichte der Erhebung" if city.weighting.get("method") == "none" else "Raking"
    lines.append("Schätzung: " + (f"{estimator}" if estimator else f"direkte gewichtete Schätzung ({weights}, "
                                  "Taylor-Linearisierung)"))
    if city.structural is not None:
        lines.append("Strukturdaten: Angaben der Stadt je Gebiet (Eingangsdaten der Auswertung)")
    for note in dict.fromkeys(city.notes):
        lines.append(f"Hinweis: {note}")
    lines.append(f"Auswertung: geo-cohesion {__version__}")
    return lines


def profile_context(city: CityReportInput, district_id: str, settings: ReportSettings) -> dict[str, Any]:
    """Everything a district profile shows, as a JSON-ready dictionary of formatted text.

    Keys: ``title, city, district, district_id, demo, summary, key (list of label/value/detail),
    scores, structural, need, sources, footnotes, stand, images`` (``images`` is filled by the
    renderer). Tables are ``{"header": [...], "rows": [{"cells": [...], "level", "mark"}], "align"}``.
    """
    facts = district_facts(city, district_id)
    radar = load_radar()
    index = radar.index_slug
    structural = structural_rows(city, district_id)
    need = need_facts(city, district_id)
    label = t.ci_label(settings.level)
    key = []
    value = facts.value(index)
    key.append({"label": "Zusammenhaltsindex", "value": t.num(value),
                "detail": f"{label} {t.interval(facts.value(index, 'ci_low'), facts.value(index, 'ci_high'))}"
                if math.isfinite(value) else f"zu wenige Befragte (n < {settings.min_n})"})
    city_value = facts.city_value(index)
    if math.isfinite(city_value):
        city_ci = t.interval(facts.city_value(index, "ci_low"), facts.city_value(index, "ci_high"))
        key.append({"label": f"Stadtwert {city.name}", "value": t.num(city_value), "detail": f"{label} {city_ci}"})
    rank = facts.ranked(index)
    if rank is not None and not t.missing(rank):
        key.append({"label": "Rang in der Stadt", "value": f"{t.num(rank, 0)} von {facts.n_ranked}",
                    "detail": f"Rangintervall {t.num(facts.ranked(index, 'rank_low'), 0)}{t.DASH}"
                              f"{t.num(facts.ranked(index, 'rank_high'), 0)}"})
    n = facts.value(index, "n")
    n_eff = facts.value(index, "n_eff")
    key.append({"label": "Befragte", "value": t.num(n, 0),
                "detail": f"effektive Fallzahl {t.num(n_eff, 0)}" if math.isfinite(n_eff) else ""})
    if need is not None:
        key.append({"label": "Bedarfsklasse", "value": f"{need['need_class']} von {need['n_classes']}",
                    "detail": need["words"]})
    if "estimator" in facts.estimates.columns and index in facts.estimates.index:
        estimator = str(facts.estimates.loc[index, "estimator"])
        key.append({"label": "Schätzverfahren", "value": ESTIMATOR_LABELS.get(estimator, estimator), "detail": ""})
    footnotes = []
    if facts.comparison is not None:
        footnotes.append(t.significance_note(settings.alpha, settings.adjust, settings.level))
        footnotes.append(f"Rangintervall: {t.level_percent(settings.level)}-%-Intervall der Ränge aus "
                         f"{t.num(settings.rank_draws, 0)} Simulationen der Schätzwerte (1 = höchster Wert).")
    footnotes.append(f"Nicht ausgewiesen ({t.DASH}): "
                     f"{unpublished_when(settings.level, settings.min_n, settings.max_ci_halfwidth)}.")
    if structural:
        footnotes.append("Strukturindikatoren: Stadtwert = Mittel der Gebiete, " + structural[0]["basis"]
                         + "; Rang 1 = höchster Wert der Stadt.")
    # the end of the survey period; none without one (the fixed file date is no date of the data)
    stand = t.period_end(settings.survey_period)
    at = f" · Stand {stand}" if stand else ""
    return {
        "kind": "profile",
        "title": f"Gebietsprofil {facts.name}",
        "city": city.name,
        "district": facts.name,
        "district_id": facts.district_id,
        "subtitle": f"{city.name} · Gebiets-ID {facts.district_id} · {settings.title}",
        "demo": DEMO_LABEL if city.is_synthetic else None,
        "summary": profile_paragraph(city, facts, settings, structural, need),
        "key": key,
        "scores": _score_table(facts, settings),
        "structural": _structural_table(structural),
        "need": _need_block(need, settings),
        "sources": sources(city, settings, n),
        "footnotes": footnotes,
        "stand": stand,
        "footer": f"Gebietsprofil {facts.name} · {city.name}{at}",
        "radar_caption": (f"Die neun Dimensionen im Gebiet (Linie, mit {label}) und in der ganzen Stadt "
                          f"(gestrichelt). Gefüllte Punkte: signifikante Abweichung vom Stadtwert."),
        "locator_caption": f"Lage des Gebiets {facts.name} in {city.name}",
        "images": {},
    }


def radar_series(city: CityReportInput, district_id: str) -> dict[str, list]:
    """Values of the radar chart: labels, district value/interval, city value, significance direction."""
    facts = district_facts(city, district_id)
    radar = load_radar()
    dims = [d.slug for d in radar.dimensions]
    return {"labels": [radar.labels[d] for d in dims], "value": [facts.value(d) for d in dims],
            "low": [facts.value(d, "ci_low") for d in dims], "high": [facts.value(d, "ci_high") for d in dims],
            "city": [facts.city_value(d) for d in dims], "direction": [facts.direction(d) for d in dims],
            "name": facts.name}
