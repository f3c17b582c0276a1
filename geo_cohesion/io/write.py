"""Write outputs atomically: a temporary file in the target folder, then ``os.replace``.

A crash or a bad input never leaves a half-written table or map behind, and an existing good
output stays intact until its replacement is complete.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyogrio

if TYPE_CHECKING:
    import geopandas as gpd

#: Value of GDAL's ``OGR_CURRENT_DATE`` while writing GeoPackages, so their timestamps (and thus
#: their bytes) are reproducible (last day of the survey period, 23.05.2017).
FIXED_GPKG_DATE: str = "2017-05-23T00:00:00Z"
#: The same instant as a timezone-aware datetime: creation date of PDFs and workbooks.
FIXED_DATE: dt.datetime = dt.datetime(2017, 5, 23, tzinfo=dt.timezone.utc)
#: First characters that make a spreadsheet treat a text cell as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only if the block succeeds.

    Parameters
    ----------
    path : str or Path
        Final destination.
    suffix : str, optional
        Suffix of the temporary file (some writers, e.g. GDAL, look at the extension);
        defaults to the destination's suffix.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix or path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.unlink()  # some writers refuse to overwrite; they create the file themselves
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Atomically write bytes."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Atomically write UTF-8 text with ``\\n`` line ends."""
    return write_bytes(path, text.encode("utf-8"))


def neutralise_formula(value: Any) -> Any:
    """A text cell that a spreadsheet cannot run as a formula (OWASP CSV-injection rule).

    Text starting with one of :data:`FORMULA_TRIGGERS` (``=``, ``+``, ``-``, ``@``, tab, carriage
    return) gets a leading single quote, so ``=HYPERLINK(...)`` is shown as text. Everything that
    is not a ``str`` (numbers, including negative ones, booleans, missing values) is returned
    unchanged.

    Examples
    --------
    >>> neutralise_formula("=1+2")
    "'=1+2"
    >>> neutralise_formula(-2.5)
    -2.5
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell and text column name passed through :func:`neutralise_formula`.

    Numeric, boolean and datetime columns are left untouched, so negative numbers stay numbers.
    Every CSV and XLSX writer of geo-cohesion calls this before writing.
    """
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_object_dtype(out[column]) or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(neutralise_formula, na_action="ignore")
    out.columns = [neutralise_formula(c) for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path: str | Path, excel_de: bool = False) -> Path:
    """Atomically write a CSV; text cells that a spreadsheet would run as formulas are neutralised.

    Parameters
    ----------
    frame : DataFrame
    path : str or Path
    excel_de : bool
        False: UTF-8, ``,`` separated, decimal point (machine-readable, the contract format).
        True: for German Excel: UTF-8 with BOM, ``;`` separated, decimal comma.

    Notes
    -----
    See :func:`neutralise_frame`: a district called ``=HYPERLINK(...)`` is written as
    ``'=HYPERLINK(...)``.
    """
    frame = neutralise_frame(frame)
    if excel_de:
        text = frame.to_csv(index=False, sep=";", decimal=",", lineterminator="\n")
        return write_bytes(path, ("\ufeff" + text).encode("utf-8"))
    return write_text(path, frame.to_csv(index=False, lineterminator="\n"))


@contextlib.contextmanager
def fixed_gdal_date(value: str = FIXED_GPKG_DATE) -> Iterator[None]:
    """Temporarily set GDAL's ``OGR_CURRENT_DATE`` (the previous value is restored afterwards).

    Parameters
    ----------
    value : str
        ISO 8601 timestamp GDAL writes instead of "now" (e.g. GeoPackage ``last_change``).
    """
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": value})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})


def write_gpkg(gdf: gpd.GeoDataFrame, path: str | Path, layer: str | None = None,
               attribute_tables: dict[str, pd.DataFrame] | None = None) -> Path:
    """Atomically write a GeoPackage (one spatial layer) with reproducible bytes.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
    path : str or Path
        Destination ``.gpkg``; an existing file is replaced only once the new one is complete.
    layer : str, optional
        Layer name; defaults to the file name without suffix.
    attribute_tables : dict of str to DataFrame, optional
        Non-spatial tables written into the same file (registered in ``gpkg_contents`` as
        ``attributes``), e.g. QGIS's ``layer_styles``. Boolean columns become OGR booleans,
        datetime columns OGR date-times.

    Returns
    -------
    Path
        ``path``.

    Notes
    -----
    The same data give byte-identical files: GDAL's timestamp is pinned to
    :data:`FIXED_GPKG_DATE` (see :func:`fixed_gdal_date`).
    """
    path = Path(path)
    layer = layer or path.stem  # not the temporary file's name
    with atomic_path(path, suffix=".gpkg") as tmp:  # GDAL picks the driver by suffix
        try:
            with fixed_gdal_date():
                gdf.to_file(tmp, layer=layer, driver="GPKG", engine="pyogrio")
                for name, table in (attribute_tables or {}).items():
                    pyogrio.write_dataframe(table, tmp, layer=name, driver="GPKG")
        finally:
            for extra in ("-journal", "-wal", "-shm"):
                tmp.with_name(tmp.name + extra).unlink(missing_ok=True)
    return path


def write_geojson(gdf: gpd.GeoDataFrame, path: str | Path, precision: int = 6) -> Path:
    """Atomically write RFC 7946 GeoJSON (WGS 84 longitude/latitude) for web maps.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Any CRS; reprojected to EPSG:4326.
    path : str or Path
    precision : int
        Decimal places of coordinates (6 is about 0.1 m).

    Returns
    -------
    Path
        ``path``. The same data give byte-identical files.
    """
    wgs = gdf.to_crs("EPSG:4326") if gdf.crs is not None else gdf
    with atomic_path(path, suffix=".geojson") as tmp:
        pyogrio.write_dataframe(wgs, tmp, driver="GeoJSON", layer_options={
            "RFC7946": "YES", "COORDINATE_PRECISION": str(precision), "WRITE_NAME": "NO"})
    return Path(path)
