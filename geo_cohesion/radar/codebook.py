"""Radar structure and item codebook.

The Radar of social cohesion has 3 domains with 3 dimensions each (``data/radar.yaml``, slugs
only; their labels are the ``radar.<slug>`` keys of the label catalogue :mod:`geo_cohesion.labels`). A
codebook (``data/codebook_radar.csv`` or a user's own CSV with the same columns) maps survey
items to dimensions and states each item's answer scale, whether it is reversed and which codes
mean "weiß nicht" / "keine Angabe".
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd
import yaml

from geo_cohesion.errors import InputError
from geo_cohesion.io.tables import NO, YES
from geo_cohesion.labels import DEFAULT_LANG, label

CODEBOOK_COLUMNS = ("item", "dimension", "label", "scale_min", "scale_max", "reversed", "missing_codes")
#: Answer texts that always count as missing, whatever the codebook says.
MISSING_TEXTS = frozenset({"weiß nicht", "weiss nicht", "keine angabe", "k.a.", "k. a."})


@dataclass(frozen=True)
class Dimension:
    """One Radar dimension: stable slug, German label and the domain it belongs to."""

    slug: str
    label: str
    domain: str


@dataclass(frozen=True)
class Radar:
    """The fixed Radar structure.

    Attributes
    ----------
    index_slug, index_label : str
        Slug and label of the overall index (mean of the 9 dimensions).
    domains : dict[str, str]
        Domain slug -> German label, in Radar order.
    dimensions : tuple[Dimension, ...]
        The 9 dimensions in Radar order.
    """

    index_slug: str
    index_label: str
    domains: dict[str, str]
    dimensions: tuple[Dimension, ...]

    def dimensions_of(self, domain: str) -> list[str]:
        """Slugs of the dimensions in ``domain``."""
        return [d.slug for d in self.dimensions if d.domain == domain]

    @property
    def variables(self) -> list[str]:
        """All output variables in report order: index, 3 domains, 9 dimensions."""
        return [self.index_slug, *self.domains, *(d.slug for d in self.dimensions)]

    @property
    def labels(self) -> dict[str, str]:
        """Variable slug -> German label for the index, domains and dimensions."""
        out = {self.index_slug: self.index_label, **self.domains}
        out.update({d.slug: d.label for d in self.dimensions})
        return out

    def labels_in(self, lang: str = DEFAULT_LANG) -> dict[str, str]:
        """Variable slug -> label in ``lang`` (``"de"`` or ``"en"``) for the index, domains and dimensions."""
        return {slug: label(f"radar.{slug}", lang) for slug in self.variables}


@lru_cache(maxsize=1)
def load_radar() -> Radar:
    """Load the packaged Radar structure (``data/radar.yaml``) with the German labels of the catalogue."""
    text = resources.files("geo_cohesion").joinpath("radar/data/radar.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    domains: dict[str, str] = {}
    dims: list[Dimension] = []
    for dom in raw["domains"]:
        domains[dom["slug"]] = label(f"radar.{dom['slug']}")
        dims.extend(Dimension(d["slug"], label(f"radar.{d['slug']}"), dom["slug"]) for d in dom["dimensions"])
    index = raw["index"]["slug"]
    return Radar(index, label(f"radar.{index}"), domains, tuple(dims))


@dataclass(frozen=True)
class Item:
    """One survey item of the codebook."""

    item: str
    dimension: str
    label: str
    scale_min: float
    scale_max: float
    reversed: bool
    missing_codes: frozenset[float] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Codebook:
    """Items mapped to Radar dimensions, plus the minimum-valid-items rule.

    Attributes
    ----------
    items : tuple[Item, ...]
        All items in file order.
    min_valid_share : float
        A dimension score needs at least ``ceil(min_valid_share * k)`` valid items out of its
        ``k`` items; otherwise it is missing for that respondent.
    source : str
        Where the codebook came from (for messages).
    """

    items: tuple[Item, ...]
    min_valid_share: float = 0.5
    source: str = "codebook"

    def items_of(self, dimension: str) -> list[Item]:
        """Items that measure ``dimension``."""
        return [it for it in self.items if it.dimension == dimension]

    def min_valid(self, dimension: str) -> int:
        """Minimum number of valid items for ``dimension``."""
        k = len(self.items_of(dimension))
        return max(1, math.ceil(self.min_valid_share * k - 1e-9))


def _parse_bool(value: object, where: str) -> bool:
    text = str(value).strip().lower() if value is not None and not pd.isna(value) else ""
    if text in YES:
        return True
    if text in NO:
        return False
    raise InputError(f"'reversed' must be yes/no, got {value!r}", where, "write 'yes' or 'no'")


def _parse_codes(value: object, where: str) -> frozenset[float]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return frozenset()
    codes = []
    for part in str(value).replace(",", ";").split(";"):
        part = part.strip()
        if not part:
            continue
        try:
            codes.append(float(part))
        except ValueError:
            raise InputError(f"missing code {part!r} is not a number", where,
                             "list numeric codes separated by ';', e.g. '8;9'") from None
    return frozenset(codes)


def load_codebook(path: str | Path | None = None, min_valid_share: float = 0.5) -> Codebook:
    """Read a codebook CSV (the packaged Radar codebook when ``path`` is None).

    Parameters
    ----------
    path : str or Path, optional
        CSV with columns ``item, dimension, label, scale_min, scale_max, reversed,
        missing_codes`` (``;`` or ``,`` separated, UTF-8).
    min_valid_share : float
        Share of a dimension's items that must be valid (0 < share <= 1).

    Returns
    -------
    Codebook

    Raises
    ------
    InputError
        Unknown dimensions, duplicate items, bad scales, or a dimension without items.
    """
    from geo_cohesion.io.tables import read_table  # local import: readers imports nothing from here

    if not 0 < min_valid_share <= 1:
        raise InputError(f"min_valid_share must be in (0, 1], got {min_valid_share}")
    if path is None:
        ref = resources.files("geo_cohesion").joinpath("radar/data/codebook_radar.csv")
        with resources.as_file(ref) as real:
            table = read_table(real, dtype=str)
        source = "built-in Radar codebook"
    else:
        table = read_table(path, dtype=str)
        source = str(path)
    missing_cols = [c for c in CODEBOOK_COLUMNS if c not in table.columns and c != "label"]
    if missing_cols:
        raise InputError(f"missing column(s) {', '.join(missing_cols)}", source,
                         f"a codebook needs the columns {', '.join(CODEBOOK_COLUMNS)}")
    radar = load_radar()
    known = {d.slug for d in radar.dimensions}
    items: list[Item] = []
    seen: set[str] = set()
    for pos, row in enumerate(table.to_dict("records")):
        where = f"{source}, row {pos + 2}"
        name = str(row["item"]).strip()
        if not name or name == "nan":
            raise InputError("empty item name", where)
        if name in seen:
            raise InputError(f"item {name!r} is listed twice", where, "each item may appear once")
        seen.add(name)
        dim = str(row["dimension"]).strip()
        if dim not in known:
            raise InputError(f"unknown dimension {dim!r} for item {name!r}", where,
                             f"use one of: {', '.join(sorted(known))}")
        try:
            lo, hi = float(row["scale_min"]), float(row["scale_max"])
        except (TypeError, ValueError):
            raise InputError(f"scale_min/scale_max of item {name!r} are not numbers", where) from None
        if not hi > lo:
            raise InputError(f"scale_max must be larger than scale_min for item {name!r}", where)
        codes = _parse_codes(row.get("missing_codes"), where)
        if any(lo <= c <= hi for c in codes):
            raise InputError(f"a missing code of item {name!r} lies inside its scale {lo:g}–{hi:g}", where,
                             "use codes outside the answer scale, e.g. 8 and 9 for a 1–5 scale")
        label = row.get("label")
        items.append(Item(name, dim, "" if label is None or pd.isna(label) else str(label), lo, hi,
                          _parse_bool(row["reversed"], where), codes))
    empty = [d.slug for d in radar.dimensions if not any(it.dimension == d.slug for it in items)]
    if empty:
        raise InputError(f"no items for dimension(s) {', '.join(empty)}", source,
                         "every Radar dimension needs at least one item")
    return Codebook(tuple(items), min_valid_share, source)
