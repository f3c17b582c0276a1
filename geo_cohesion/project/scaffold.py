"""Scaffold a project: inspect a folder of input files and write a commented project file.

:func:`inspect_folder` looks at every table and boundary file in a folder and decides what each
one is (survey microdata, population table, structural data, weighted scores, boundaries) and
which columns mean what (district id, age group, gender, weights, strata, population counts,
item columns of the Radar codebook, indicator columns). :func:`project_yaml` turns that into a
project file with everything it could infer and a ``TODO`` comment on every value a person must
check or fill in. ``geo-cohesion init DIR`` is the command-line entry.

Inference is by content first (which columns hold codebook items, which ids match across files)
and by column names second (German and English); every guess is written as a comment, never
silently.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyogrio

from geo_cohesion.errors import InputError
from geo_cohesion.io.tables import EXCEL_SUFFIXES, SPSS_SUFFIXES, read_table
from geo_cohesion.keys import normalise_key
from geo_cohesion.radar.codebook import Codebook, load_codebook

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", *EXCEL_SUFFIXES, *SPSS_SUFFIXES)
BOUNDARY_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".zip")
#: Column-name patterns (normalised keys) for each meaning, most specific first.
NAME_PATTERNS = {
    "district": r"(district|bezirk|stadtteil|ortsteil|quartier|gebiet|sozialraum|plr|bzr|ortsbeirat|viertel)",
    "name": r"(name|bezeichnung|label)",
    "age": r"(alter|age)",
    "gender": r"(geschlecht|gender|sex)",
    "weight": r"(gewicht|weight)",
    "strata": r"(schicht|strat)",
    "population": r"(einwohner|population|bevoelkerung|anzahl|count|^ew$|^n$)",
}
#: Words that name a file's role; what remains of a file name identifies its city.
ROLE_WORDS = ("survey", "befragung", "umfrage", "population", "bevoelkerung", "einwohner", "structural",
              "strukturdaten", "struktur", "boundaries", "grenzen", "bezirke", "gebiete", "scores", "werte")


@dataclass
class TableFile:
    """One table of the folder and what it was found to be."""

    path: Path
    role: str
    table: pd.DataFrame
    columns: dict[str, str | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class BoundaryFile:
    """One boundary file: its layer, fields, CRS and the id/name columns found."""

    path: Path
    layer: str | None
    fields: list[str]
    crs: str | None
    id_column: str | None = None
    name_column: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class CityFiles:
    """The files of one city found in the folder."""

    key: str
    survey: TableFile | None = None
    population: TableFile | None = None
    structural: TableFile | None = None
    scores: TableFile | None = None
    boundaries: BoundaryFile | None = None
    notes: list[str] = field(default_factory=list)


def _matches(column: str, meaning: str) -> bool:
    return re.search(NAME_PATTERNS[meaning], normalise_key(column).replace(" ", "_")) is not None


def _first_named(columns: list[str], meaning: str, exclude: set[str] = frozenset()) -> str | None:
    return next((c for c in columns if c not in exclude and _matches(c, meaning)), None)


def _keys(values: pd.Series) -> set[str]:
    return {normalise_key(v) for v in values.dropna().astype(str) if str(v).strip()}


def _classify(table: pd.DataFrame, codebook: Codebook) -> str:
    columns = list(table.columns)
    items = sum(1 for item in codebook.items if item.item in columns)
    if items >= max(3, len(codebook.items) // 3):
        return "survey"
    if {"variable", "estimate"} <= set(columns):
        return "scores"
    if _first_named(columns, "population") and (_first_named(columns, "age") or _first_named(columns, "gender")):
        return "population"
    return "structural"


def _read(path: Path) -> pd.DataFrame:
    """A table with every column as text, so that ids keep their leading zeros."""
    if path.suffix.lower() in (*EXCEL_SUFFIXES, *SPSS_SUFFIXES):
        table = read_table(path)
        return table.astype({c: str for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])})
    return read_table(path, dtype=str)


def _boundary_file(path: Path) -> BoundaryFile | None:
    try:
        layers = pyogrio.list_layers(path)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError):
        return None
    polygon_layers = [str(name) for name, geometry in layers if geometry and "Polygon" in str(geometry)]
    if not polygon_layers:
        return None
    layer = polygon_layers[0]
    info = pyogrio.read_info(path, layer=layer)
    notes = ([f"the file has {len(polygon_layers)} polygon layers; the first was chosen"]
             if len(polygon_layers) > 1 else [])
    return BoundaryFile(path, layer if path.suffix.lower() == ".gpkg" else None, [str(f) for f in info["fields"]],
                        info.get("crs"), notes=notes)


def _city_key(path: Path) -> str:
    words = [w for w in re.split(r"[_\s.]+", normalise_key(path.stem)) if w and w not in ROLE_WORDS]
    return "-".join(words)


def _district_column(table: pd.DataFrame, reference: set[str] | None) -> str | None:
    """The column whose values best match ``reference`` keys, else the first district-like name."""
    columns = [str(c) for c in table.columns]
    if reference:
        overlap = {c: len(_keys(table[c]) & reference) / max(len(reference), 1) for c in columns
                   if not pd.api.types.is_float_dtype(table[c])}
        best = max(overlap, key=lambda c: overlap[c], default=None)
        if best is not None and overlap[best] >= 0.5:
            return best
    return _first_named(columns, "district")


def _category_column(table: pd.DataFrame, categories: set[str], meaning: str, exclude: set[str]) -> str | None:
    """The column holding the same categories as the survey's (by value), else by name."""
    if categories:
        for column in table.columns:
            if column not in exclude and _keys(table[column]) and _keys(table[column]) <= categories | {""}:
                return str(column)
    return _first_named([str(c) for c in table.columns], meaning, exclude)


def _describe_survey(info: TableFile, codebook: Codebook) -> None:
    columns = [str(c) for c in info.table.columns]
    found = {
        "district_column": _first_named(columns, "district"),
        "age_column": _first_named(columns, "age"),
        "gender_column": _first_named(columns, "gender"),
        "weight_column": _first_named(columns, "weight"),
        "strata_column": _first_named(columns, "strata"),
    }
    info.columns = found
    missing_items = [item.item for item in codebook.items if item.item not in columns]
    if missing_items:
        info.notes.append(f"codebook items not in the survey: {', '.join(missing_items[:10])}"
                          + (" …" if len(missing_items) > 10 else "")
                          + " (rename the columns, or give your own codebook)")


def _describe_population(info: TableFile, survey: TableFile | None, districts: set[str]) -> None:
    columns = [str(c) for c in info.table.columns]
    count = _first_named(columns, "population")
    district = _district_column(info.table, districts)
    taken = {c for c in (count, district) if c}
    age = gender = None
    if survey is not None:
        for meaning, survey_col in (("age", survey.columns.get("age_column")),
                                    ("gender", survey.columns.get("gender_column"))):
            cats = _keys(survey.table[survey_col]) if survey_col else set()
            found = _category_column(info.table, cats, meaning, taken)
            taken |= {found} if found else set()
            age, gender = (found, gender) if meaning == "age" else (age, found)
    info.columns = {"district_column": district, "age_column": age, "gender_column": gender,
                    "population_column": count}


def _describe_structural(info: TableFile, districts: set[str]) -> None:
    columns = [str(c) for c in info.table.columns]
    district = _district_column(info.table, districts)
    name = _first_named(columns, "name", {district} if district else set())
    indicators = []
    for column in columns:
        if column in (district, name):
            continue
        values = pd.to_numeric(info.table[column].astype(str).str.replace(",", ".", regex=False), errors="coerce")
        if values.notna().mean() >= 0.8:
            indicators.append(column)
    info.columns = {"district_column": district, "name_column": name}
    info.notes.append("indicator columns: " + (", ".join(indicators) if indicators else "none found"))


def _describe_boundaries(info: BoundaryFile, districts: set[str]) -> None:
    if not info.fields:
        return
    table = pyogrio.read_dataframe(info.path, layer=info.layer, columns=info.fields, read_geometry=False)
    table = table.astype(str)
    info.id_column = _district_column(table, districts)
    names = [f for f in info.fields if f != info.id_column and _matches(f, "name")]
    info.name_column = names[0] if names else None


def inspect_folder(folder: str | Path, codebook: Codebook | None = None) -> list[CityFiles]:
    """Find the input files of one or more cities in ``folder`` and what their columns mean.

    Parameters
    ----------
    folder : str or Path
        A folder with survey, population, structural, score and boundary files.
    codebook : Codebook, optional
        Defaults to the packaged Radar codebook (used to recognise the survey).

    Returns
    -------
    list of CityFiles
        One entry per city (files are grouped by what their names have in common once role
        words such as ``survey`` or ``bevoelkerung`` are removed; one city when there is one
        survey).

    Raises
    ------
    InputError
        The folder does not exist or holds no readable table.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("folder not found", str(folder), "give the folder that holds your input files")
    codebook = codebook or load_codebook()
    tables: list[TableFile] = []
    boundaries: list[BoundaryFile] = []
    for path in sorted(folder.iterdir()):
        suffix = path.suffix.lower()
        if suffix in BOUNDARY_SUFFIXES:
            found = _boundary_file(path)
            if found is not None:
                boundaries.append(found)
        elif suffix in TABLE_SUFFIXES:
            table = _read(path)
            tables.append(TableFile(path, _classify(table, codebook), table))
    if not tables:
        raise InputError("no table files (.csv, .xlsx, .sav) in the folder", str(folder),
                         "put the survey, population and structural tables into this folder")
    surveys = [t for t in tables if t.role in ("survey", "scores")]
    single = len(surveys) <= 1
    cities: dict[str, CityFiles] = {}
    for item in [*tables, *boundaries]:
        key = "" if single else _city_key(item.path)
        city = cities.setdefault(key, CityFiles(key))
        role = item.role if isinstance(item, TableFile) else "boundaries"
        if getattr(city, role) is not None:
            city.notes.append(f"more than one {role} file ({item.path.name} not used)")
            continue
        setattr(city, role, item)
    if single and "" in cities:  # one city: name it after its survey (or first) file
        city = cities.pop("")
        main = city.survey or city.scores or (tables[0] if tables else None)
        city.key = _city_key(main.path) if main is not None else ""
        cities[city.key] = city
    for city in cities.values():
        _describe_city(city, codebook)
    return [cities[k] for k in sorted(cities)]


def _describe_city(city: CityFiles, codebook: Codebook) -> None:
    districts: set[str] = set()
    if city.survey is not None:
        _describe_survey(city.survey, codebook)
        column = city.survey.columns.get("district_column")
        districts = _keys(city.survey.table[column]) if column else set()
    elif city.scores is not None:
        column = _first_named([str(c) for c in city.scores.table.columns], "district")
        city.scores.columns = {"district_column": column}
        districts = _keys(city.scores.table[column]) if column else set()
    if city.population is not None:
        _describe_population(city.population, city.survey, districts)
    if city.structural is not None:
        _describe_structural(city.structural, districts)
    if city.boundaries is not None:
        _describe_boundaries(city.boundaries, districts)


def _value(value: object) -> str:
    """A YAML scalar, always quoted (ids and names stay text as written)."""
    text = "" if value is None else str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _line(key: str, value: object, indent: int, todo: str | None = None) -> str:
    pad = " " * indent
    if value is None:
        return f"{pad}{key}: null  # TODO: {todo or 'fill in'}"
    return f"{pad}{key}: {_value(value)}" + (f"  # TODO: {todo}" if todo else "")


def _section(name: str, info: TableFile | BoundaryFile, fields: dict[str, object], folder: Path) -> list[str]:
    lines = [f"    {name}:", _line("path", Path(os.path.relpath(info.path, folder)).as_posix(), 6)]
    for key, value in fields.items():
        lines.append(_line(key, value, 6, "no such column found: name it" if value is None else None))
    lines += [f"      # note: {n}" for n in info.notes]
    return lines


def project_yaml(cities: list[CityFiles], folder: str | Path, title: str = "Zusammenhaltsbefragung") -> str:
    """A commented project file for the inspected cities (see :func:`inspect_folder`).

    Every inferred value is written out; values that could not be inferred are ``null`` with a
    ``# TODO`` comment, as are values a person must confirm (city name, survey period).
    """
    folder = Path(folder)
    out = ["# Project file written by 'geo-cohesion init'. Check every line marked TODO, then run",
           "#   geo-cohesion check project.yaml   and   geo-cohesion run project.yaml --out results/",
           "# Reference of every key: docs/config.md",
           f"title: {_value(title)}  # TODO: the title shown on maps and reports",
           "survey_period: null  # TODO: e.g. \"2025-03/2025-05\"",
           "note: null  # optional: a note printed on every map and table",
           "estimates: {level: 0.95, min_n: 30}",
           "cities:"]
    for city in cities:
        name = city.key.replace("-", " ").title() if city.key else "Meine Stadt"
        out.append(f"  - name: {_value(name)}  # TODO: the city's name as it should appear")
        out += [f"    # note: {n}" for n in city.notes]
        if city.survey is not None:
            out += _section("survey", city.survey, city.survey.columns, folder)
        elif city.scores is not None:
            out += _section("scores", city.scores, city.scores.columns, folder)
        if city.population is not None:
            out += _section("population", city.population, city.population.columns, folder)
        elif city.survey is not None:
            out.append("    population: null  # TODO: a population table by district, age group and gender, or, to use "
                       "the survey's weights as they are, 'weighting: {method: none}' and no population line")
        if city.structural is not None:
            out += _section("structural", city.structural, city.structural.columns, folder)
        if city.survey is not None:
            columns = city.survey.columns
            margins = [columns[c] for c in ("age_column", "gender_column", "district_column") if columns.get(c)]
            out.append("    weighting:")
            out.append("      margins: [" + ", ".join(_value(m) for m in margins) + "]"
                       + ("" if len(margins) == 3 else "  # TODO: the survey columns to weight by"))
        if city.boundaries is not None:
            fields = {"id_column": city.boundaries.id_column, "name_column": city.boundaries.name_column}
            if city.boundaries.layer:
                fields["layer"] = city.boundaries.layer
            if not city.boundaries.crs:
                fields["crs"] = None
            out += _section("boundaries", city.boundaries, fields, folder)
        else:
            out.append("    # boundaries: {path: ..., id_column: ..., name_column: ...}  # TODO for maps")
        out.append("    # groups: {Gruppenname: [id, id, ...]}  # optional: districts estimated together;")
        out.append("    #   the small-area model then also learns each group's level (estimates.group_effects)")
        out.append("    #   (or group_key_prefix: N, or group_column: <column of the structural table>)")
    return "\n".join(out) + "\n"


def write_project_file(folder: str | Path, path: str | Path | None = None, overwrite: bool = False) -> Path:
    """Inspect ``folder`` and write ``project.yaml`` there (or to ``path``); returns the path."""
    from geo_cohesion.io.write import write_text

    folder = Path(folder)
    target = Path(path) if path is not None else folder / "project.yaml"
    if target.exists() and not overwrite:
        raise InputError("the project file exists already", str(target),
                         "give another file name with --output, or --force to replace it")
    cities = inspect_folder(folder)
    text = project_yaml(cities, target.parent)
    return write_text(target, text)


