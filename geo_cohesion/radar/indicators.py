"""Indicator registry: what each structural column of a city is (label, unit, direction, role).

A city's structural table has its own column names (``sgb2_share_pct``, ``transferbezug_pct``,
``arbeitslose_pct`` ...). :func:`indicator_registry` turns every numeric column except the
district id and name into an :class:`Indicator`, in table order:

1. what the project file declares under ``structural.indicators`` (label, unit, direction,
   role) wins, field by field over
2. the entry of the known catalogue (``data/indicators.yaml``, matched by column name or alias,
   case-insensitive), else
3. a generic indicator: label = column name, no unit, direction ``neutral`` - with a note
   saying so and how to declare it.

The registry answers the questions the maps and statistics ask: which indicator is the
deprivation axis of the bivariate map (:meth:`IndicatorRegistry.deprivation`), which column
weights districts (:meth:`IndicatorRegistry.population`), which indicators to correlate with
the scores (:meth:`IndicatorRegistry.for_association`) and to map
(:meth:`IndicatorRegistry.for_maps`). Whatever it cannot decide (no deprivation indicator, two
of them, columns without a label) it says in :attr:`IndicatorRegistry.notes`.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import yaml

from geo_cohesion.errors import InputError
from geo_cohesion.io.tables import row_ref, to_numeric_column
from geo_cohesion.labels import DEFAULT_LANG, check_lang

#: Allowed values of :attr:`Indicator.direction`.
DIRECTIONS: tuple[str, ...] = ("higher_is_worse", "higher_is_better", "neutral")
#: Allowed values of :attr:`Indicator.role` (None: an ordinary indicator).
ROLES: tuple[str | None, ...] = (None, "deprivation", "population", "context")
#: The fields a project file may declare per column (``structural.indicators``).
SPEC_FIELDS: tuple[str, ...] = ("label", "unit", "direction", "role")


@dataclass(frozen=True)
class Indicator:
    """One structural indicator of a city.

    Attributes
    ----------
    column : str
        Column of the structural table (the stable key in tables and map layers).
    label : str
        Label shown to users.
    unit : str
        Unit shown after values and in legends (``"%"``), empty if unknown.
    direction : {"higher_is_worse", "higher_is_better", "neutral"}
        Whether a high value means disadvantage; drives the map palette.
    role : {None, "deprivation", "population", "context"}
        ``deprivation``: the axis of the bivariate map; ``population``: district weights (not
        mapped, not correlated); ``context``: describes the population without judgement.
    origin : {"declared", "known", "generic"}
        Where label, unit and direction came from: the project file, the known catalogue, or
        nowhere (label = column name).
    """

    column: str
    label: str
    unit: str = ""
    direction: str = "neutral"
    role: str | None = None
    origin: str = "generic"

    @property
    def title(self) -> str:
        """``"label (unit)"``, or the label alone without a unit."""
        return f"{self.label} ({self.unit})" if self.unit else self.label


def _spec_value(spec: Any, name: str) -> Any:
    """Field ``name`` of a declared spec: a mapping (``spec["label"]``) or an object (``spec.label``)."""
    if spec is None:
        return None
    if isinstance(spec, Mapping):
        return spec.get(name)
    return getattr(spec, name, None)


def _text(value: Any, lang: str) -> str:
    """A catalogue text: a plain string or ``{de: ..., en: ...}``."""
    if isinstance(value, Mapping):
        return str(value[lang])
    return "" if value is None else str(value)


@lru_cache(maxsize=1)
def _known_raw() -> dict[str, dict]:
    text = resources.files("geo_cohesion").joinpath("radar/data/indicators.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    by_name: dict[str, dict] = {}
    for column, entry in raw.items():
        if entry.get("direction", "neutral") not in DIRECTIONS or entry.get("role") not in ROLES:
            raise RuntimeError(f"indicators.yaml: bad direction or role for {column!r}")
        for name in (column, *entry.get("aliases", ())):
            key = str(name).strip().lower()
            if key in by_name:
                raise RuntimeError(f"indicators.yaml: {name!r} is listed twice")
            by_name[key] = entry
    return by_name


def known_indicator(column: str, lang: str = DEFAULT_LANG) -> Indicator | None:
    """The known catalogue's description of ``column`` (by name or alias, case-insensitive), or None.

    Parameters
    ----------
    column : str
        Column name as in the user's table; the returned indicator keeps this spelling.
    lang : {"de", "en"}
        Language of label and unit.
    """
    check_lang(lang)
    entry = _known_raw().get(str(column).strip().lower())
    if entry is None:
        return None
    return Indicator(str(column), _text(entry["label"], lang), _text(entry.get("unit"), lang),
                     entry.get("direction", "neutral"), entry.get("role"), "known")


def known_columns() -> list[str]:
    """Every column name and alias of the known catalogue (lower case)."""
    return sorted(_known_raw())


def known_labels(lang: str = DEFAULT_LANG) -> dict[str, tuple[str, str]]:
    """``{column: (label, unit)}`` for every name and alias of the known catalogue."""
    out = {}
    for column in known_columns():
        known = known_indicator(column, lang)
        if known is not None:
            out[column] = (known.label, known.unit)
    return out


def describe_column(column: str, lang: str = DEFAULT_LANG) -> Indicator:
    """The known indicator of ``column``, or a generic one (label = column name, neutral)."""
    return known_indicator(column, lang) or Indicator(str(column), str(column))


def check_declared(declared: Mapping[str, Any] | None, where: str = "structural.indicators") -> None:
    """Validate declared indicator specs (the ``structural.indicators`` mapping of a project file).

    Each value is a mapping (or an object with attributes) with any of ``label, unit,
    direction, role``; an empty value keeps the known or generic description.

    Raises
    ------
    InputError
        Unknown fields, a label or unit that is not text, a direction or role that does not
        exist, or a deprivation indicator whose direction is not ``higher_is_worse``.
    """
    if declared is None:
        return
    if not isinstance(declared, Mapping):
        raise InputError(f"'{where}' must be a mapping of column names to their description",
                         hint="e.g. 'indicators: {transferbezug_pct: {label: \"Transferbezug\", unit: \"%\", "
                              "direction: higher_is_worse, role: deprivation}}'")
    for column, spec in declared.items():
        at = f"{where}.{column}"
        if spec is None:
            continue
        if isinstance(spec, Mapping):
            unknown = sorted(set(map(str, spec)) - set(SPEC_FIELDS))
            if unknown:
                raise InputError(f"unknown key(s) {', '.join(repr(k) for k in unknown)} in '{at}'",
                                 hint=f"allowed: {', '.join(SPEC_FIELDS)}")
        elif not any(hasattr(spec, f) for f in SPEC_FIELDS):
            raise InputError(f"'{at}' must be a mapping with {', '.join(SPEC_FIELDS)}",
                             hint="e.g. '{label: \"Arbeitslose\", unit: \"%\", direction: higher_is_worse}'")
        for name in ("label", "unit"):
            value = _spec_value(spec, name)
            if value is not None and not isinstance(value, str):
                raise InputError(f"'{at}.{name}' must be text, got {value!r}", hint=f"write {name} in quotes")
        if _spec_value(spec, "label") is not None and not _spec_value(spec, "label").strip():
            raise InputError(f"'{at}.label' is empty", hint="give the label shown on maps, or leave it out")
        direction, role = _spec_value(spec, "direction"), _spec_value(spec, "role")
        if direction is not None and direction not in DIRECTIONS:
            raise InputError(f"'{at}.direction' must be one of {', '.join(DIRECTIONS)}, got {direction!r}",
                             hint="higher_is_worse: a high value means disadvantage (e.g. SGB II share)")
        if role is not None and role not in ROLES:
            raise InputError(f"'{at}.role' must be one of {', '.join(r for r in ROLES if r)} or empty, got {role!r}",
                             hint="deprivation: axis of the bivariate map; population: district weights; "
                                  "context: describes the population")
        if role == "deprivation" and direction not in (None, "higher_is_worse"):
            raise InputError(f"'{at}': a deprivation indicator must have direction higher_is_worse, got {direction!r}",
                             hint="the bivariate map reads a high value as more deprivation; choose an indicator "
                                  "where that holds, or drop 'role: deprivation'")


def _declared_indicator(column: str, spec: Any, lang: str) -> Indicator:
    """Declared fields over the known entry (field by field) over the generic description.

    A role given explicitly as empty (``role: null``) clears a known role; a deprivation
    indicator without a declared direction is ``higher_is_worse``.
    """
    base = describe_column(column, lang)
    role = _spec_value(spec, "role") if _has_field(spec, "role") else base.role
    direction = _spec_value(spec, "direction")
    if direction is None:
        direction = "higher_is_worse" if role == "deprivation" else base.direction
    unit = _spec_value(spec, "unit")
    return Indicator(column, _spec_value(spec, "label") or base.label, base.unit if unit is None else unit,
                     direction, role, "declared")


def _has_field(spec: Any, name: str) -> bool:
    """True if ``spec`` gives field ``name`` explicitly (even as empty)."""
    if spec is None:
        return False
    if isinstance(spec, Mapping):
        return name in spec
    given = getattr(spec, "model_fields_set", None)  # pydantic: the fields set explicitly
    return name in given if given is not None else getattr(spec, name, None) is not None


def _numeric_share(series: pd.Series) -> float:
    """Share of the non-blank cells of a text column that read as numbers (decimal comma allowed)."""
    text = series.dropna().astype(str).str.strip()
    text = text[text != ""]
    if text.empty:
        return 0.0
    return float(pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce").notna().mean())


@dataclass(frozen=True)
class IndicatorRegistry:
    """The structural indicators of one city, in table order.

    Iterating yields :class:`Indicator` objects; ``column in registry`` and ``registry[column]``
    work by column name.

    Attributes
    ----------
    indicators : tuple of Indicator
    notes : tuple of str
        What the registry could not decide or had to guess, for the analyst (English, like
        error messages): columns without a label, a missing or ambiguous deprivation or
        population indicator, columns that are not numeric.
    lang : str
        Language of the known and generic labels.
    """

    indicators: tuple[Indicator, ...]
    notes: tuple[str, ...] = ()
    lang: str = DEFAULT_LANG

    def __iter__(self) -> Iterator[Indicator]:
        return iter(self.indicators)

    def __len__(self) -> int:
        return len(self.indicators)

    def __contains__(self, column: object) -> bool:
        return any(i.column == column for i in self.indicators)

    def __getitem__(self, column: str) -> Indicator:
        found = self.get(column)
        if found is None:
            raise KeyError(column)
        return found

    def get(self, column: str) -> Indicator | None:
        """The indicator of ``column``, or None."""
        return next((i for i in self.indicators if i.column == column), None)

    @property
    def columns(self) -> list[str]:
        """Columns of all indicators, in table order."""
        return [i.column for i in self.indicators]

    def _with_role(self, role: str) -> Indicator | None:
        return next((i for i in self.indicators if i.role == role), None)

    def deprivation(self) -> Indicator | None:
        """The deprivation indicator (axis of the bivariate map), or None (see :attr:`notes`)."""
        return self._with_role("deprivation")

    def population(self) -> Indicator | None:
        """The population indicator (district weights), or None."""
        return self._with_role("population")

    def for_association(self) -> list[Indicator]:
        """Indicators to correlate with the scores: all but the population."""
        return [i for i in self.indicators if i.role != "population"]

    def for_maps(self) -> list[Indicator]:
        """Indicators to map as structural layers: all but the population (it is the weight)."""
        return [i for i in self.indicators if i.role != "population"]

    def select(self, columns: Sequence[str] | None, where: str, default: Sequence[Indicator] | None = None
               ) -> list[Indicator]:
        """The indicators named in ``columns`` (an explicit setting), or ``default`` when None.

        Parameters
        ----------
        columns : sequence of str, optional
            Column names, e.g. the project's ``compare.indicators``.
        where : str
            Name of the setting, for the message.
        default : sequence of Indicator, optional
            Used when ``columns`` is None; :meth:`for_association` by default.

        Raises
        ------
        InputError
            Naming every listed column that is not an indicator, and the available ones.
        """
        if columns is None:
            return list(self.for_association() if default is None else default)
        unknown = [c for c in columns if c not in self]
        if unknown:
            available = ", ".join(self.columns) or "none (the structural table has no numeric column)"
            raise InputError(f"{where}: unknown indicator(s) {', '.join(repr(c) for c in unknown)}",
                             hint=f"available: {available}; or leave the setting out to use all")
        return [self[c] for c in columns]


def indicator_registry(structural_columns: pd.DataFrame | Sequence[str], declared: Mapping[str, Any] | None = None,
                       lang: str = DEFAULT_LANG, exclude: Sequence[str | None] = ()) -> IndicatorRegistry:
    """Build the indicator registry of one city from its structural table.

    Parameters
    ----------
    structural_columns : DataFrame or sequence of str
        The structural table (every numeric column except ``exclude`` becomes an indicator;
        text columns are skipped) or just its column names (all become indicators).
    declared : mapping, optional
        ``{column: spec}`` from the project file (``structural.indicators``); a spec is a mapping
        or an object with ``label, unit, direction, role`` (any may be missing). Declared
        columns must exist and be numeric.
    lang : {"de", "en"}
        Language of known and generic labels (declared labels are used as written).
    exclude : sequence of str
        Columns that are not indicators: the district id and name columns.

    Returns
    -------
    IndicatorRegistry

    Raises
    ------
    InputError
        A declared column that is not in the table, is the id/name column or holds text; a
        malformed spec (see :func:`check_declared`); two declared deprivation or population
        indicators.
    """
    check_lang(lang)
    check_declared(declared)
    declared = {str(column): spec for column, spec in (declared or {}).items()}  # YAML may read 2020 as a number
    table = structural_columns if isinstance(structural_columns, pd.DataFrame) else None
    columns = [str(c) for c in (table.columns if table is not None else structural_columns)]
    excluded = {str(c) for c in exclude if c}
    source = table.attrs.get("source") if table is not None else None
    notes: list[str] = []
    for column in declared:
        if column not in columns:
            raise InputError(f"structural.indicators: column {column!r} is not in the structural table", source,
                             f"the table has: {', '.join(columns[:40])}")
        if column in excluded:
            raise InputError(f"structural.indicators: {column!r} is the district id or name column, not an indicator",
                             source, "remove it from structural.indicators")
    indicators: list[Indicator] = []
    for column in columns:
        if column in excluded:
            continue
        if table is not None and column not in declared:
            series = table[column]
            if pd.api.types.is_bool_dtype(series):
                continue
            if not pd.api.types.is_numeric_dtype(series):
                share = _numeric_share(series)
                if 0.5 <= share < 1:
                    notes.append(f"column {column!r} is mostly numbers but also holds text, so it is not used as "
                                 "an indicator; leave cells without a value empty, or declare it under "
                                 "structural.indicators to have the text cells reported")
                if share < 1:
                    continue
            elif series.isna().all():
                notes.append(f"column {column!r} is empty and not used as an indicator")
                continue
        if table is not None and column in declared:
            to_numeric_column(table, column, f"indicator {column!r}:")  # text cells: an error naming the rows
        if column in declared:
            indicators.append(_declared_indicator(column, declared[column], lang))
            continue
        known = known_indicator(column, lang)
        if known is not None:
            indicators.append(known)
            continue
        indicators.append(Indicator(column, column))
        notes.append(f"no label declared for column {column!r}: it is shown under its column name, without unit, "
                     "as neutral; add it under structural.indicators (label, unit, direction, role)")
    indicators = _resolve_role(indicators, "deprivation", notes)
    indicators = _resolve_role(indicators, "population", notes)
    if not any(i.role == "deprivation" for i in indicators):
        example = next((i.column for i in indicators if i.role != "population"), "<column>")
        notes.append("no deprivation indicator among the structural columns, so the bivariate map (cohesion × "
                     "deprivation) is skipped; declare one under structural.indicators, e.g. "
                     f"'{example}: {{role: deprivation}}' (a column where a high value means more deprivation, "
                     "such as the SGB II share)")
    if indicators and not any(i.role == "population" for i in indicators):
        notes.append("no population column among the structural columns, so associations across districts are "
                     "unweighted; declare one under structural.indicators with 'role: population'")
    return IndicatorRegistry(tuple(indicators), tuple(notes), lang)


#: Largest magnitude of a structural indicator value (1e300 overflowed the association statistics).
MAX_INDICATOR = 1e12


def indicator_table(structural: pd.DataFrame, registry: IndicatorRegistry) -> pd.DataFrame:
    """A copy of ``structural`` with every indicator column as float (decimal commas read).

    Raises
    ------
    InputError
        Naming the rows of an indicator column that holds text, infinity or a value larger than
        :data:`MAX_INDICATOR` in size.
    """
    out = structural.copy()
    for column in registry.columns:
        if column in out.columns:
            values = to_numeric_column(structural, column, f"indicator {column!r}:")
            absurd = np.isinf(values) | (np.abs(np.nan_to_num(values)) > MAX_INDICATOR)
            if absurd.any():
                raise InputError(f"indicator {column!r}: value {values[absurd][0]:g} is not a plausible number "
                                 f"(more than {MAX_INDICATOR:g} in size)",
                                 row_ref(structural, structural.index[absurd], column),
                                 "correct these cells (an Excel error value or a unit mix-up?), or leave them empty")
            out[column] = values
    out.attrs = structural.attrs
    return out


def _resolve_role(indicators: list[Indicator], role: str, notes: list[str]) -> list[Indicator]:
    """At most one indicator per role: declared ones win; two declared are an error; of several
    known ones the first in table order keeps the role (with a note)."""
    having = [i for i in indicators if i.role == role]
    declared = [i for i in having if i.origin == "declared"]
    if len(declared) > 1:
        raise InputError(f"structural.indicators: {len(declared)} columns have role {role} "
                         f"({', '.join(i.column for i in declared)})", hint=f"give 'role: {role}' to one column only")
    keep = declared[0] if declared else (having[0] if having else None)
    if keep is None:
        return indicators
    if len(having) > 1 and not declared:
        notes.append(f"several {role} columns ({', '.join(i.column for i in having)}): using {keep.column!r}; "
                     f"declare 'role: {role}' under structural.indicators for the one to use")
    return [i if i.role != role or i is keep else Indicator(i.column, i.label, i.unit, i.direction, None, i.origin)
            for i in indicators]
