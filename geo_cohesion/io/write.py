"""Write outputs atomically: a temporary file in the target folder, then ``os.replace``.

A crash or a bad input never leaves a half-written table or map behind, and an existing good
output stays intact until its replacement is complete.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyogrio

if TYPE_CHECKING:
    import geopandas as gpd

#: Value of GDAL's ``OGR_CURRENT_DATE`` while writing GeoPackages, so their timestamps (and thus
#: their bytes) are reproducible (last day of the survey period, 23.05.2017).
FIXED_GPKG_DATE: str = "2017-05-23T00:00:00Z"


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


def write_csv(frame: pd.DataFrame, path: str | Path, excel_de: bool = False) -> Path:
    """Atomically write a CSV.

    Parameters
    ----------
    frame : DataFrame
    path : str or Path
    excel_de : bool
        False: UTF-8, ``,`` separated, decimal point (machine-readable, the contract format).
        True: for German Excel: UTF-8 with BOM, ``;`` separated, decimal comma.
    """
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


def write_gpkg(gdf: gpd.GeoDataFrame, path: str | Path, layer: str | None = None) -> Path:
    """Atomically write a one-layer GeoPackage with reproducible bytes.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
    path : str or Path
        Destination ``.gpkg``; an existing file is replaced only once the new one is complete.
    layer : str, optional
        Layer name; defaults to the file name without suffix.

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
        finally:
            for extra in ("-journal", "-wal", "-shm"):
                tmp.with_name(tmp.name + extra).unlink(missing_ok=True)
    return path
