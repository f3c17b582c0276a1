"""Reuse a run's results: ``compare`` and ``report`` read what ``run`` wrote instead of recomputing.

A complete run (``run``, ``demo``) stores a *run record* in the output folder's manifest
(:data:`geo_cohesion.io.write.MANIFEST_NAME`): the validated settings, the language, the
geo-cohesion version, a SHA-256 of every input file and one hash over all of them
(:func:`run_record`). :func:`fresh_run` checks an output folder against the current project
file: a missing or partial run, changed settings, changed input files or deleted outputs are one
:class:`~geo_cohesion.errors.InputError` that says what changed and how to get fresh results.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd

from geo_cohesion import __version__
from geo_cohesion.errors import InputError
from geo_cohesion.io.write import MANIFEST_NAME
from geo_cohesion.project.config import ProjectConfig


def input_files(project: ProjectConfig) -> list[str]:
    """Every input file of the project as written in the project file (shapefile sidecars included)."""
    paths: list[str] = []
    for city in project.cities:
        specs = [city.survey, city.scores, city.structural, city.boundaries]
        paths += [spec.path for spec in specs if spec is not None]
        if city.survey is not None and city.survey.codebook:
            paths.append(city.survey.codebook)
        if city.population is not None:
            paths += ([city.population.path] if city.population.path
                      else [t.path for t in city.population.margin_tables])
    files: list[str] = []
    for path in dict.fromkeys(paths):
        files.append(path)
        resolved = project.resolve(path)
        if resolved.suffix.lower() == ".shp":  # the attributes and CRS live next to the .shp
            files += [str(Path(path).with_suffix(s)) for s in (".dbf", ".shx", ".prj", ".cpg")
                      if resolved.with_suffix(s).exists()]
    return files


def _sha256(path: Path) -> str:
    if path.is_dir():  # a shapefile folder
        digest = hashlib.sha256()
        for part in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(part.relative_to(path).as_posix().encode() + b"\0" + part.read_bytes())
        return digest.hexdigest()
    if not path.is_file():
        return "missing"
    return hashlib.sha256(path.read_bytes()).hexdigest()


#: Settings that decide only how many processes do the work, never a number or a byte of the
#: outputs: left out of the run record, so changing them does not make a run stale.
SPEED_ONLY_SETTINGS = (("estimates", "workers"), ("maps", "figure_workers"))


def run_record(project: ProjectConfig, lang: str) -> dict[str, Any]:
    """What a complete run was computed from, with ``config_hash`` over all of it (except
    :data:`SPEED_ONLY_SETTINGS`)."""
    settings = project.model_dump(mode="json")
    for section, key in SPEED_ONLY_SETTINGS:
        settings.get(section, {}).pop(key, None)
    record: dict[str, Any] = {"settings": settings, "lang": lang, "version": __version__,
                              "inputs": {p: _sha256(project.resolve(p)) for p in input_files(project)}}
    canonical = json.dumps(record, sort_keys=True, ensure_ascii=False)
    return {"config_hash": hashlib.sha256(canonical.encode("utf-8")).hexdigest(), **record}


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        out = {}
        for i, item in enumerate(value):
            out.update(_flat(item, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def _changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two run records, in plain words."""
    changes = []
    a, b = _flat(old.get("settings", {})), _flat(new["settings"])
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            changes.append(f"{key}: {a.get(key)!r} → {b.get(key)!r}")
    old_inputs, new_inputs = old.get("inputs", {}), new["inputs"]
    for path in sorted(set(old_inputs) | set(new_inputs)):
        if old_inputs.get(path) != new_inputs.get(path):
            changes.append(f"input file {path} " + ("is new" if path not in old_inputs else
                                                     "is missing" if new_inputs.get(path) == "missing" else
                                                     "was removed from the project" if path not in new_inputs
                                                     else "changed"))
    if old.get("lang") != new["lang"]:
        changes.append(f"language: {old.get('lang')} → {new['lang']}")
    if old.get("version") != new["version"]:
        changes.append(f"geo-cohesion version: {old.get('version')} → {new['version']}")
    return changes


def fresh_run(project: ProjectConfig, out_dir: str | Path, lang: str, config: str, command: str) -> dict[str, Any]:
    """The manifest of the complete run in ``out_dir`` if it was computed from exactly this project.

    Parameters
    ----------
    project : ProjectConfig
        The project as ``compare``/``report`` would compute it (command-line overrides applied).
    out_dir : str or Path
    lang : str
    config : str
        The project file as given on the command line (for the hint).
    command : str
        ``"compare"`` or ``"report"`` (for the hint).

    Raises
    ------
    InputError
        No run in ``out_dir``, a partial run, a stale run (with what changed), or output files of
        the run that are gone.
    """
    out_dir = Path(out_dir)
    rerun = f"'geo-cohesion run {config} --out {out_dir}'"
    recompute = f"or 'geo-cohesion {command} {config} --out {out_dir} --recompute' to compute only this part"
    manifest = out_dir / MANIFEST_NAME
    if not manifest.is_file():
        raise InputError(f"no results of 'geo-cohesion run' in {out_dir}", str(out_dir),
                         f"run {rerun} first ({command} reuses its results), {recompute}")
    try:
        stored = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InputError("the run's manifest cannot be read", str(manifest), f"run {rerun} again") from None
    previous = stored.get("run")
    if not previous or "config_hash" not in previous:
        raise InputError(f"the results in {out_dir} are not from a complete 'geo-cohesion run' (written by compare "
                         "or report with --recompute, or by an older geo-cohesion)", str(out_dir),
                         f"run {rerun} first, {recompute}")
    current = run_record(project, lang)
    if previous["config_hash"] != current["config_hash"]:
        changes = _changes(previous, current) or ["the project's settings"]
        more = f" and {len(changes) - 5} more" if len(changes) > 5 else ""
        raise InputError(f"the results in {out_dir} are stale: since that run {'; '.join(changes[:5])}{more}",
                         str(out_dir), f"run {rerun} again, {recompute}")
    gone = [f for f in stored.get("files", []) if not (out_dir / f).is_file()]
    if gone:
        raise InputError(f"{len(gone)} output file(s) of the run are missing, e.g. {gone[0]}", str(out_dir),
                         f"run {rerun} again")
    return stored


def comparison_summary(project: ProjectConfig, out_dir: str | Path, index: str = "index") -> list[str]:
    """Lines summarising the comparison tables of a run (significant deviations, Moran's I of the index)."""
    tables = Path(out_dir) / "tables"
    lines = []
    for city in project.cities:
        line = f"{city.name}:"
        path = tables / f"comparison_{city.slug}.csv"
        if path.is_file():
            comp = pd.read_csv(path, dtype={"district_id": str})
            rows = comp[comp["variable"] == index]
            hits = rows[rows["significant"].astype(str).str.lower() == "true"]
            names = rows["district_name"] if "district_name" in rows else rows["district_id"]
            above = [str(n) for n, d in zip(names[hits.index], hits["deviation"]) if d > 0]
            below = [str(n) for n, d in zip(names[hits.index], hits["deviation"]) if d < 0]
            line += f" {len(hits)} of {len(rows)} districts differ significantly from the city's index"
            if above:
                line += f" (above: {', '.join(above[:8])}{' …' if len(above) > 8 else ''})"
            if below:
                line += f" (below: {', '.join(below[:8])}{' …' if len(below) > 8 else ''})"
        else:
            line += " no district comparison (no microdata)"
        spatial = tables / f"spatial_{city.slug}.csv"
        if spatial.is_file():
            moran = pd.read_csv(spatial)
            row = moran[moran["variable"] == index]
            if len(row) and pd.notna(row["moran_i"].iloc[0]):
                line += f"; Moran's I of the index {row['moran_i'].iloc[0]:.2f} (p = {row['p_value'].iloc[0]:.3g})"
        lines.append(line)
    return lines
