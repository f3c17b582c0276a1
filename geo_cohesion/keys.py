"""Join keys: one normaliser for district ids and names, and matching with suggestions.

Scores, structural data and boundaries name districts in slightly different ways
("Innenstadt West", "Innenstadt-West", "innenstadt-west", "St. Georg" / "Sankt Georg",
"Hörde" / "Hoerde"). :func:`normalise_key` maps all of these to one key; :func:`match_keys`
joins two key lists and reports every unmatched key with its closest candidates.
"""
from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING

from geo_cohesion.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

_UMLAUTS = {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "oe"}


def normalise_key(value: object) -> str:
    """Normalise a district id or name for matching.

    Lower case; umlauts and ß transliterated (ä→ae, ß→ss); other accents stripped; "St." and
    "Sankt" unified; hyphens, dashes, slashes, dots and runs of white space collapsed to one space;
    numeric ids lose leading zeros only when they are purely numeric ("007" and "7" match).

    Examples
    --------
    >>> normalise_key(" Innenstadt-West ")
    'innenstadt west'
    >>> normalise_key("Hörde") == normalise_key("Hoerde")
    True
    >>> normalise_key("St. Georg") == normalise_key("Sankt Georg")
    True
    """
    text = unicodedata.normalize("NFC", str(value)).strip().lower()
    text = "".join(_UMLAUTS.get(ch, ch) for ch in text)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"\bst\.?(?=\s|-|$)", "sankt", text)
    text = re.sub(r"[\s\-\u2010-\u2015_/.,;:()']+", " ", text).strip()  # \u2010-\u2015: dashes (–, —)
    if text.isdigit():
        text = text.lstrip("0") or "0"
    return text


def _by_norm(keys: Iterable[str]) -> dict[str, str]:
    """Normalised key -> first original spelling with that normalised form."""
    by_norm: dict[str, str] = {}
    for key in keys:
        by_norm.setdefault(normalise_key(key), key)
    return by_norm


def _closest(norm: str, by_norm: dict[str, str], n: int = 3) -> list[str]:
    """Closest candidates (original spelling) to the normalised key ``norm``."""
    return [by_norm[c] for c in difflib.get_close_matches(norm, list(by_norm), n=n, cutoff=0.6)]


def suggestions(key: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Closest candidates (original spelling) for an unmatched key."""
    return _closest(normalise_key(key), _by_norm(candidates), n)


#: How to fix unmatched districts when missing districts may be allowed (maps).
MATCH_HINT = ("fix the spelling, or allow missing districts (--allow-missing) to show them as 'keine Daten'")
#: Unmatched keys listed (with suggestions) in one error message; the rest are counted.
MAX_REPORTED = 12


def _not_found(key: str, source: str, other: str, close: list[str]) -> str:
    guess = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"{key!r} from {source} not found in {other}{guess}"


def match_keys(left: Iterable, right: Iterable, left_name: str, right_name: str,
               allow_missing: bool = False, hint: str | None = None) -> dict[str, str]:
    """Map every key of ``left`` to the key of ``right`` with the same normalised form.

    Parameters
    ----------
    left, right : iterable
        Keys (ids or names) as they appear in the two sources.
    left_name, right_name : str
        Names of the sources for messages (e.g. file names).
    allow_missing : bool
        If False, any key of either side without a partner raises InputError; if True, unmatched
        keys are simply left out of the mapping.
    hint : str, optional
        How to fix unmatched keys (default :data:`MATCH_HINT`).

    Returns
    -------
    dict
        ``{left key (as text): right key (as text)}``.

    Raises
    ------
    InputError
        Unmatched keys (each listed with its closest candidates) or keys that become ambiguous
        after normalisation.
    """
    left = [str(k) for k in dict.fromkeys(left)]
    right = [str(k) for k in dict.fromkeys(right)]
    right_by_norm: dict[str, str] = {}
    for key in right:
        norm = normalise_key(key)
        if norm in right_by_norm and right_by_norm[norm] != key:
            raise InputError(f"{right_by_norm[norm]!r} and {key!r} are the same district after normalisation",
                             right_name, "make the district keys unique")
        right_by_norm[norm] = key
    left_norm = {key: normalise_key(key) for key in left}
    mapping: dict[str, str] = {}
    unmatched_left: list[str] = []
    for key in left:
        target = right_by_norm.get(left_norm[key])
        if target is None:
            unmatched_left.append(key)
        else:
            mapping[key] = target
    matched = set(mapping.values())
    unmatched_right = [key for key in right if key not in matched]
    n_problems = len(unmatched_left) + len(unmatched_right)
    if n_problems and not allow_missing:
        # suggestions (difflib, linear in the candidates each) only for the keys the message shows
        shown = [_not_found(key, left_name, right_name, _closest(left_norm[key], right_by_norm))
                 for key in unmatched_left[:MAX_REPORTED]]
        if len(shown) < MAX_REPORTED:
            left_by_norm: dict[str, str] = {}
            for key, norm in left_norm.items():
                left_by_norm.setdefault(norm, key)
            shown += [_not_found(key, right_name, left_name, _closest(normalise_key(key), left_by_norm))
                      for key in unmatched_right[:MAX_REPORTED - len(shown)]]
        more = f" (and {n_problems - MAX_REPORTED} more)" if n_problems > MAX_REPORTED else ""
        raise InputError("districts do not match: " + "; ".join(shown) + more, hint=hint or MATCH_HINT)
    return mapping


def align_keys(values: pd.Series, canonical: Iterable, left_name: str, right_name: str,
               allow_missing: bool = False, hint: str | None = None) -> pd.Series:
    """Rewrite ``values`` in the spelling of ``canonical`` (e.g. structural ids "7" -> survey ids "007").

    Match once here, then every later step can join on exact text. Unmatched keys raise (see
    :func:`match_keys`) or, with ``allow_missing``, stay as they are.

    Returns
    -------
    pandas.Series
        Same index as ``values``, text.
    """
    text = values.astype(str)
    mapping = match_keys(text.unique(), canonical, left_name, right_name, allow_missing, hint)
    return text.map(lambda key: mapping.get(key, key))


#: Longest slug (output file names are built from it).
MAX_SLUG_CHARS = 60


SAFE_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def slugify(name: str) -> str:
    """File-name-safe slug: ``"Dessau-Roßlau"`` -> ``"dessau-rosslau"``.

    Only ``a-z``, ``0-9`` and ``-``, at most :data:`MAX_SLUG_CHARS` characters, never empty
    (``"stadt"``): names such as ``"../x"``, ``"/"`` or ``".."`` cannot leave the output folder.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", normalise_key(unicodedata.normalize("NFC", str(name))))
    slug = slug.strip("-")[:MAX_SLUG_CHARS].strip("-")
    return slug or "stadt"
