"""German wording: numbers, intervals, periods and the plain-language sentences of the reports.

Every sentence is generated from numbers that the tables hold, and claims only what they support:
"signifikant" comes from the comparison table's adjusted test (never from overlapping intervals);
reference values without an uncertainty are compared in words ("über"/"unter") but never tested.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence

import pandas as pd

from geo_cohesion.maps.classify import format_number

MINUS = "\u2212"
DASH = "\u2013"

#: Names of the multiple-testing corrections.
ADJUST_NAMES = {"holm": "Holm-Korrektur", "fdr_bh": "Benjamini-Hochberg-Korrektur (Falscherkennungsrate)",
                "none": "ohne Korrektur für multiples Testen"}
#: Words of the MSS need classes (class 1 = lowest need) when there are four classes.
NEED_WORDS = {1: "geringer", 2: "mittlerer", 3: "hoher", 4: "sehr hoher"}


def missing(value: object) -> bool:
    """True for None, NaN, NaT and pandas' NA."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(math.isnan(float(value)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def num(value: object, decimals: int = 1) -> str:
    """German number (``58,1``); ``–`` when missing; a real minus sign."""
    if missing(value):
        return DASH
    text = format_number(float(value), decimals)  # type: ignore[arg-type]
    return text.replace("-", MINUS)


def signed(value: object, decimals: int = 1) -> str:
    """Signed German number (``+2,8``, ``−2,7``)."""
    if missing(value):
        return DASH
    number = float(value)  # type: ignore[arg-type]
    if round(number, decimals) == 0:
        return num(0.0, decimals)
    return ("+" if number > 0 else "") + num(number, decimals)


def interval(low: object, high: object, decimals: int = 1) -> str:
    """``54,0–62,2`` (``–`` when either end is missing)."""
    if missing(low) or missing(high):
        return DASH
    return f"{num(low, decimals)}{DASH}{num(high, decimals)}"


def percent(share: object, decimals: int = 0) -> str:
    """``97 %`` for 0.97."""
    if missing(share):
        return DASH
    return f"{num(100 * float(share), decimals)}\u00a0%"  # type: ignore[arg-type]


def p_text(p: object) -> str:
    """``p = 0,003`` or ``p < 0,001``."""
    if missing(p):
        return "p nicht verfügbar"
    value = float(p)  # type: ignore[arg-type]
    return "p < 0,001" if value < 0.001 else f"p = {num(value, 3)}"


def level_percent(level: float) -> str:
    """``95`` for 0.95 (``99,5`` for 0.995)."""
    return f"{level * 100:g}".replace(".", ",")


def ci_label(level: float) -> str:
    """``95-%-KI``."""
    return f"{level_percent(level)}-%-KI"


def join(items: Sequence[str], conjunction: str = "und") -> str:
    """``a, b und c``."""
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


_ISO_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def german_date(text: str) -> str:
    """``23.05.2017`` for ``2017-05-23``; other text unchanged."""
    match = _ISO_DAY.match(text.strip())
    return f"{match.group(3)}.{match.group(2)}.{match.group(1)}" if match else text.strip()


def period(survey_period: str | None) -> str:
    """``27.03.2017–23.05.2017`` for an ISO interval; other text unchanged; ``""`` if None."""
    if not survey_period:
        return ""
    parts = str(survey_period).split("/")
    if len(parts) == 2:
        return f"{german_date(parts[0])}{DASH}{german_date(parts[1])}"
    return german_date(str(survey_period))


def period_end(survey_period: str | None) -> str:
    """The last day of the survey period (``23.05.2017``), or ``""``."""
    if not survey_period:
        return ""
    return german_date(str(survey_period).split("/")[-1])


def need_words(need_class: int, n_classes: int) -> str:
    """``"sehr hoher Handlungsbedarf"`` for class 4 of 4; ``"Bedarfsklasse k"`` otherwise."""
    if n_classes == 4 and need_class in NEED_WORDS:
        return f"{NEED_WORDS[need_class]} Handlungsbedarf"
    return f"Bedarfsklasse {need_class} von {n_classes}"


def direction_word(deviation: float, significant: bool | None, tested: bool = True) -> str:
    """``signifikant unter``/``signifikant über``/``nicht signifikant verschieden von`` (tested)."""
    if not tested or significant is None:
        return "ohne Test (keine Mikrodaten) " + ("unter" if deviation < 0 else "über")
    if significant:
        return "signifikant unter" if deviation < 0 else "signifikant über"
    return "nicht signifikant verschieden von"


def significance_note(alpha: float, adjust: str, level: float) -> str:
    """How "signifikant" is meant, in one sentence."""
    return (f"„Signifikant“ heißt: Die Abweichung vom Stadtwert ist im zweiseitigen Test auf dem Niveau "
            f"{num(alpha * 100, 0)} % nach {ADJUST_NAMES.get(adjust, adjust)} über alle Gebiete der Stadt gesichert "
            f"(Test der Differenz Gebiet minus Stadt mit ihrem eigenen Standardfehler, nicht am Überlappen der "
            f"{ci_label(level)}e abgelesen).")
