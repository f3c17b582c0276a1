"""Write outputs atomically: a temporary file in the target folder, then ``os.replace``.

A crash or a bad input never leaves a half-written table or map behind, and an existing good
output stays intact until its replacement is complete.
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pandas as pd
import pyogrio

from geo_cohesion.errors import InputError

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
    run = _ACTIVE.get()
    if run is not None:
        run.claim(path)
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


# ---------------------------------------------------------------------------- whole-run outputs
#: Hidden names inside an output folder: the lock, the staging folder, the journal of a commit
#: and the manifest of the files the last complete run wrote.
LOCK_NAME = ".geo-cohesion.lock"
STAGING_NAME = ".geo-cohesion-staging"
JOURNAL_NAME = "COMMIT.json"
MANIFEST_NAME = ".geo-cohesion-manifest.json"
_ACTIVE: contextvars.ContextVar[OutputRun | None] = contextvars.ContextVar("geo_cohesion_output_run", default=None)


def _lock(handle: IO[str]) -> bool:
    """Take an exclusive, non-blocking lock on an open file; False if another process holds it."""
    try:
        if sys.platform == "win32":  # pragma: no cover - Windows (os.name == "nt"; mypy checks this form)
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _files_below(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _fsync_write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def recover_output_folder(out_dir: str | Path) -> str | None:
    """Finish or discard what an interrupted run left in ``out_dir``.

    A run killed while computing or writing leaves a staging folder without a journal: it is
    deleted (the earlier outputs were never touched). A run killed while moving its finished
    outputs into place left a journal: the move is completed (rolled forward), so the folder
    holds the complete new outputs. Returns what was done (``"discarded"``, ``"completed"``) or
    None when there was nothing to do.
    """
    out_dir = Path(out_dir)
    staging = out_dir / STAGING_NAME
    if not staging.exists():
        return None
    journal = staging / JOURNAL_NAME
    if not journal.exists():
        shutil.rmtree(staging)
        return "discarded"
    plan = json.loads(journal.read_text(encoding="utf-8"))
    _apply_commit(out_dir, staging, plan)
    return "completed"


def _apply_commit(out_dir: Path, staging: Path, plan: dict) -> None:
    for rel in plan["write"]:
        source = staging / rel
        if source.exists():  # not yet moved (a rolled-forward commit skips what was done)
            target = out_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
    for rel in plan["delete"]:
        (out_dir / rel).unlink(missing_ok=True)
    manifest = out_dir / MANIFEST_NAME
    tmp = out_dir / (MANIFEST_NAME + ".tmp")
    files = sorted(set(plan["write"]) | set(plan.get("keep", [])))
    _fsync_write(tmp, json.dumps({"files": files, "run": plan.get("run")}, ensure_ascii=False, indent=1) + "\n")
    os.replace(tmp, manifest)
    shutil.rmtree(staging)


class OutputRun:
    """Write all outputs of one run, or none: a staging folder, a lock and a journalled commit.

    Use it as a context manager around everything a run writes; writers write below
    :attr:`root` (the staging folder inside ``out_dir``). When the block succeeds the files are
    moved into ``out_dir`` (a few renames, journalled so that a run killed in the middle is
    completed by the next one), and outputs of the previous run that this run did not write
    again are removed, so that tables, maps and figures always come from one run. When the block
    fails, the staging folder is deleted and ``out_dir`` is exactly as it was.

    While a run is active, every atomic write checks that its file lies inside the staging
    folder (no user-derived name can leave ``--out``) and that no two outputs of the run go to
    the same file (e.g. a city ``x_gruppen`` next to city ``x``'s group map).

    Parameters
    ----------
    out_dir : str or Path
        The output folder; created if missing.
    prune : bool
        Remove outputs of the previous run that this run did not write again (default). A run
        that deliberately writes only part of the outputs (tables without maps) keeps the rest.
    record : dict, optional
        What a complete run was computed from (settings, input hashes), stored as ``run`` in the
        manifest so that later commands can reuse the outputs; None (a partial run) clears it.

    Raises
    ------
    InputError
        Another run holds the folder's lock; ``out_dir`` is a file.
    """

    def __init__(self, out_dir: str | Path, prune: bool = True, record: dict | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.prune = prune
        self.record = record
        self.root = self.out_dir / STAGING_NAME
        self.written: dict[str, str] = {}
        self._lock_handle: IO[str] | None = None
        self._token: contextvars.Token | None = None

    def __enter__(self) -> OutputRun:
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise InputError("the output folder is a file", str(self.out_dir), "give a folder with --out")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.out_dir / LOCK_NAME, "a+")
        if not _lock(handle):
            handle.close()
            raise InputError("another geo-cohesion run is writing into this folder", str(self.out_dir),
                             "wait until it has finished, or write into another folder with --out")
        self._lock_handle = handle
        recover_output_folder(self.out_dir)
        self.root.mkdir()
        self._token = _ACTIVE.set(self)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self._token is not None
        _ACTIVE.reset(self._token)
        try:
            if exc_type is None:
                self.commit()
            else:
                shutil.rmtree(self.root, ignore_errors=True)
        finally:
            assert self._lock_handle is not None
            self._lock_handle.close()
            with contextlib.suppress(OSError):
                (self.out_dir / LOCK_NAME).unlink()

    def commit(self) -> list[str]:
        """Move the staged files into place (journalled) and remove stale ones; returns the files."""
        files = [f for f in _files_below(self.root) if f != JOURNAL_NAME]
        previous = self.out_dir / MANIFEST_NAME
        old = json.loads(previous.read_text(encoding="utf-8"))["files"] if previous.exists() else []
        stale = sorted(set(old) - set(files)) if self.prune else []
        kept = [] if self.prune else sorted(set(old) - set(files))
        plan = {"write": files, "delete": stale, "keep": kept, "run": self.record}
        _fsync_write(self.root / JOURNAL_NAME, json.dumps(plan, ensure_ascii=False) + "\n")
        _apply_commit(self.out_dir, self.root, plan)
        return files

    def claim(self, path: Path, what: str = "") -> None:
        """Register that this run writes ``path``; refuse paths outside the run and duplicates."""
        resolved = path.resolve()
        root = self.root.resolve()
        if not resolved.is_relative_to(root):
            raise InputError(f"an output file would be written outside the output folder: {path}",
                             str(self.out_dir), "names used in file names must not contain '/' or '..'")
        rel = resolved.relative_to(root).as_posix()
        if rel in self.written:
            raise InputError(f"two outputs of this run would be written to the same file '{rel}'",
                             str(self.out_dir), "give the cities (or groups) names whose file names differ, "
                                                "e.g. with 'slug' in the project file")
        self.written[rel] = what


def active_output_run() -> OutputRun | None:
    """The :class:`OutputRun` currently writing, if any."""
    return _ACTIVE.get()
