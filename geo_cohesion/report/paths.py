"""Safe file names for reports named after districts (whose ids are user data).

A district id may be anything a statistics office writes ("020", "Nord/Süd", "../../etc",
"<script>"). :func:`file_stems` turns ids into short, portable, unique file stems that keep
what a planner recognises (leading zeros, capitals, digits); :func:`inside` checks that a path
built from them stays inside the output folder.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from geo_cohesion.errors import InputError
from geo_cohesion.keys import MAX_SLUG_CHARS

_TRANSLIT = {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}
#: Names Windows reserves for devices (also with an extension).
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def safe_stem(text: object, fallback: str = "gebiet") -> str:
    """A portable file stem: letters, digits, ``-`` and ``_`` only.

    Umlauts are transliterated (``Hörde`` -> ``Hoerde``), accents dropped, every other run of
    characters becomes ``-``; leading zeros and capitals are kept; at most
    :data:`geo_cohesion.keys.MAX_SLUG_CHARS` characters; never empty, never a Windows device name.

    Examples
    --------
    >>> safe_stem("020")
    '020'
    >>> safe_stem("../../etc")
    'etc'
    >>> safe_stem("Süd/Ost")
    'Sued-Ost'
    """
    value = unicodedata.normalize("NFC", str(text))
    value = "".join(_TRANSLIT.get(ch, ch) for ch in value)
    value = unicodedata.normalize("NFKD", value)
    value = "".join(ch for ch in value if not unicodedata.combining(ch))
    value = re.sub(r"[^A-Za-z0-9_-]+", "-", value).strip("-_")
    value = value[:MAX_SLUG_CHARS].strip("-_") or fallback
    if value.lower() in _RESERVED:
        value += "_"
    return value


def file_stems(ids: Iterable[object], fallback: str = "gebiet") -> dict[str, str]:
    """``{id: stem}`` with unique stems (case-insensitively, for Windows and macOS).

    Collisions (``"Nord Süd"`` and ``"Nord-Süd"``) get ``-2``, ``-3`` ... in the order given.
    """
    out: dict[str, str] = {}
    taken: set[str] = set()
    for key in ids:
        key = str(key)
        if key in out:
            continue
        base = safe_stem(key, fallback)
        stem, counter = base, 2
        while stem.casefold() in taken:
            stem = f"{base[:MAX_SLUG_CHARS - 4]}-{counter}"
            counter += 1
        taken.add(stem.casefold())
        out[key] = stem
    return out


def inside(path: Path, root: Path) -> Path:
    """``path`` if it lies inside ``root`` (after resolving ``..`` and links), else InputError."""
    resolved, base = Path(path).resolve(), Path(root).resolve()
    if resolved != base and base not in resolved.parents:
        raise InputError(f"refusing to write outside the output folder: {path}", str(root),
                         "district ids and city names are made file-name safe; report this as a bug")
    return path
