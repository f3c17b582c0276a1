"""The one label catalogue: every text shown to users, in German (default) and English.

The texts live in the package data file ``geo_cohesion/labels.yaml`` as ``key: {de: ..., en: ...}``;
code asks for them by key::

    >>> label("note.synthetic")
    'synthetische Demodaten'
    >>> label("note.too_few", "en", min_n=30)
    'too few respondents (n < 30)'

Keys are dotted: ``radar.<slug>`` (index, domains, dimensions), ``kind.*`` (layer kinds),
``cluster.*`` (LISA clusters), ``class.*`` (niedrig/mittel/hoch), ``note.*``, ``legend.*``,
``map.*``, ``figure.*``, ``scheme.*``, ``unit.*``, ``ci.*``. The Radar's structure
(``radar/data/radar.yaml``) holds slugs only; its labels are the catalogue's ``radar.<slug>``
keys, so every German string exists once. Labels of structural indicators belong to the indicator
registry (``radar/data/indicators.yaml``) with their unit, direction and role.

This module is at the bottom of the layer stack: it imports nothing from geo-cohesion except
:mod:`geo_cohesion.errors`.
"""
from __future__ import annotations

import string
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from geo_cohesion.errors import InputError

#: Languages every key is available in; the first is the default.
LANGUAGES: tuple[str, ...] = ("de", "en")
DEFAULT_LANG = "de"


def placeholders(text: str) -> frozenset[str]:
    """Names of the ``{placeholders}`` in a label text."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)


@lru_cache(maxsize=1)
def _catalogue() -> dict[str, dict[str, str]]:
    """The parsed catalogue, checked: every key has a text in every language, same placeholders."""
    text = resources.files("geo_cohesion").joinpath("labels.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    out: dict[str, dict[str, str]] = {}
    for key, texts in raw.items():
        if not isinstance(texts, dict) or set(texts) != set(LANGUAGES) \
                or not all(isinstance(t, str) and t for t in texts.values()):
            raise RuntimeError(f"labels.yaml: {key!r} needs a non-empty text for each of {', '.join(LANGUAGES)}")
        if len({placeholders(t) for t in texts.values()}) != 1:
            raise RuntimeError(f"labels.yaml: the placeholders of {key!r} differ between languages")
        out[str(key)] = dict(texts)
    return out


def check_lang(lang: str) -> str:
    """Return ``lang`` if it is a catalogue language, else raise.

    Raises
    ------
    InputError
        For a language the catalogue does not have.
    """
    if lang not in LANGUAGES:
        raise InputError(f"unknown language {lang!r}", hint=f"choose one of: {', '.join(LANGUAGES)}")
    return lang


def labels(lang: str = DEFAULT_LANG) -> dict[str, str]:
    """All labels of one language, ``{key: text}`` (a fresh dict; texts still have their placeholders).

    Parameters
    ----------
    lang : {"de", "en"}

    Raises
    ------
    InputError
        For an unknown language.
    """
    check_lang(lang)
    return {key: texts[lang] for key, texts in _catalogue().items()}


def label(key: str, lang: str = DEFAULT_LANG, **fmt: Any) -> str:
    """The text of ``key`` in ``lang``, with ``{placeholders}`` filled from ``fmt``.

    Parameters
    ----------
    key : str
        Catalogue key, e.g. ``"radar.index"`` or ``"note.too_few"``.
    lang : {"de", "en"}
        Language; German by default.
    **fmt
        Values of the key's placeholders (``label("note.too_few", min_n=30)``). Without any,
        the text is returned as stored (placeholders included).

    Raises
    ------
    KeyError
        If the catalogue has no such key (a programming error, not a user error).
    InputError
        For an unknown language.
    """
    check_lang(lang)
    try:
        text = _catalogue()[key][lang]
    except KeyError:
        raise KeyError(f"no label {key!r} in geo_cohesion/labels.yaml") from None
    return text.format(**fmt) if fmt else text


def has_label(key: str) -> bool:
    """True if the catalogue has ``key``."""
    return key in _catalogue()


def format_level(level: float, lang: str = DEFAULT_LANG) -> str:
    """A confidence level as a percentage for labels: ``0.95 -> "95"``, ``0.995 -> "99,5"`` (de)."""
    text = f"{level * 100:g}"
    return text.replace(".", ",") if lang == "de" else text
