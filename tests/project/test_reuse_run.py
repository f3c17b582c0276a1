"""`compare` and `report` reuse the results of `run` (issue #17): nothing is recomputed, and a
missing, partial or stale run is one readable error saying what changed."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from geo_cohesion.cli import main
from geo_cohesion.io.write import MANIFEST_NAME


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def copied(small_project, tmp_path) -> tuple[Path, Path]:
    """A copy of the small city's inputs and run outputs (the shared ones stay untouched)."""
    shutil.copytree(small_project.inputs, tmp_path / "inputs")
    shutil.copytree(small_project.out, tmp_path / "out")
    return tmp_path / "inputs" / "project.yaml", tmp_path / "out"


def test_compare_and_report_reuse_the_run(small_project, capsys):
    before = _snapshot(small_project.out)
    assert main(["compare", str(small_project.config), "--out", str(small_project.out)]) == 0
    out = capsys.readouterr().out
    assert "Musterstadt:" in out and "districts differ significantly from the city's index" in out
    assert "Moran's I of the index" in out and "nothing recomputed" in out
    assert main(["report", str(small_project.config), "--out", str(small_project.out)]) == 0
    out = capsys.readouterr().out
    assert "12 district profiles" in out and "nothing recomputed" in out
    assert _snapshot(small_project.out) == before  # not a byte written


def test_summary_names_the_significant_districts(small_project, capsys):
    comp = small_project.table("comparison_musterstadt.csv")
    rows = comp[(comp["variable"] == "index") & comp["significant"].astype(bool)]
    assert main(["compare", str(small_project.config), "--out", str(small_project.out)]) == 0
    out = capsys.readouterr().out
    assert f"{len(rows)} of {int((comp['variable'] == 'index').sum())} districts" in out
    for name in rows["district_name"]:
        assert name in out


def test_changed_setting_is_stale(small_project, capsys):
    assert main(["compare", str(small_project.config), "--out", str(small_project.out), "--alpha", "0.1"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err
    assert "are stale" in err and "compare.alpha: 0.05 → 0.1" in err and "--recompute" in err


def test_changed_input_file_is_stale(copied, capsys):
    config, out = copied
    structural = config.parent / "strukturdaten.csv"
    structural.write_text(structural.read_text(encoding="utf-8").replace("Nordheim", "Nordhausen"), encoding="utf-8")
    assert main(["report", str(config), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "input file strukturdaten.csv changed" in err and "geo-cohesion run" in err


def test_missing_run(tmp_path, small_project, capsys):
    assert main(["compare", str(small_project.config), "--out", str(tmp_path / "leer")]) == 2
    err = capsys.readouterr().err
    assert "no results of 'geo-cohesion run'" in err and "Traceback" not in err


def test_deleted_output_file(copied, capsys):
    config, out = copied
    (out / "tables" / "comparison_musterstadt.csv").unlink()
    assert main(["compare", str(config), "--out", str(out)]) == 2
    assert "tables/comparison_musterstadt.csv" in capsys.readouterr().err


def test_partial_run_is_not_reused(copied, capsys):
    config, out = copied
    assert main(["compare", str(config), "--out", str(out), "--no-maps", "--recompute", "--quiet"]) == 0
    assert '"run": null' in (out / MANIFEST_NAME).read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["report", str(config), "--out", str(out)]) == 2
    assert "not from a complete 'geo-cohesion run'" in capsys.readouterr().err
