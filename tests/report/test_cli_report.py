"""`geo-cohesion report CONFIG --out DIR` on a small project; `compare` writes exports but no reports."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]


def _corpus():
    path = Path(__file__).resolve().parents[1] / "test_bad_inputs.py"
    spec = importlib.util.spec_from_file_location("bad_inputs_for_report", path)
    if spec.name in sys.modules:
        return sys.modules[spec.name]
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m geo_cohesion.cli ARGS`` in a fresh interpreter that imports this checkout."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "geo_cohesion.cli", *args], cwd=cwd, capture_output=True, text=True,
                          encoding="utf-8", errors="replace", timeout=600, env=env)


def test_report_command_writes_reports_exports_and_no_maps(tmp_path):
    corpus = _corpus()
    project = corpus.base_project(tmp_path)
    project.write()
    out = tmp_path / "out"
    result = run_cli(project.dir, "report", "project.yaml", "--out", str(out), "--recompute")
    assert result.returncode == 0, result.stderr
    assert "reports written to" in result.stdout
    report = out / "report"
    assert sorted(p.name for p in (report / "profiles" / "teststadt").iterdir()) == \
        sorted(f"{d}.{ext}" for d in corpus.IDS for ext in ("html", "pdf"))
    assert (report / "teststadt.html").is_file() and (report / "teststadt.pdf").read_bytes().startswith(b"%PDF")
    assert not list(out.glob("*.html")) and not (out / "figures").exists()  # no interactive maps or figures
    assert (out / "gis" / "teststadt.gpkg").is_file() and (out / "gis" / "teststadt.geojson").is_file()
    workbook = pd.ExcelFile(out / "tables" / "geo_cohesion.xlsx")
    assert "Gebietswerte" in workbook.sheet_names and "Vergleich Teststadt" in workbook.sheet_names

    compared = tmp_path / "compared"
    result = run_cli(project.dir, "compare", "project.yaml", "--out", str(compared), "--no-maps", "--recompute")
    assert result.returncode == 0, result.stderr
    assert not (compared / "report").exists() and "reports written" not in result.stdout
    assert (compared / "tables" / "excel_de" / "comparison_teststadt.csv").is_file()
    assert (compared / "gis" / "teststadt.gpkg").is_file()


def test_report_help():
    result = run_cli(Path.cwd(), "report", "--help")
    assert result.returncode == 0 and "profiles" in result.stdout
