"""A whole run is all or nothing: a failure while drawing figures leaves the earlier outputs intact."""
from __future__ import annotations

import pytest
import yaml

from geo_cohesion.demo.synthetic import write_demo_inputs
from geo_cohesion.project import analysis
from geo_cohesion.project.config import load_project
from geo_cohesion.project.run import run_project


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


@pytest.mark.slow
def test_failure_while_writing_figures_changes_nothing(tmp_path, monkeypatch):
    inputs = tmp_path / "inputs"
    project_file = write_demo_inputs(inputs)
    config = yaml.safe_load(project_file.read_text(encoding="utf-8"))
    config["cities"] = [c for c in config["cities"] if c["name"] == "Lippstadt"]
    config.setdefault("maps", {})["figure_formats"] = ["png"]
    project_file.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "out"
    run_project(load_project(project_file), out)
    before = _snapshot(out)
    assert any(name.startswith("figures/") for name in before) and "tables/metadata.json" in before

    config["title"] = "Zweiter Lauf"  # changes every map, figure and the metadata
    project_file.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(analysis, "write_comparison_figures", broken)
    with pytest.raises(OSError):
        run_project(load_project(project_file), out)
    assert _snapshot(out) == before
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [".geo-cohesion-manifest.json"]


@pytest.mark.slow
def test_full_disk_is_one_line_exit_2_and_changes_nothing(tmp_path, monkeypatch, capsys):
    """A full disk while writing the exports: the CLI's normal one-line error, earlier outputs intact."""
    import errno

    from geo_cohesion import cli
    from geo_cohesion.report import exports

    project_file = write_demo_inputs(tmp_path / "inputs")
    config = yaml.safe_load(project_file.read_text(encoding="utf-8"))
    config["cities"] = [c for c in config["cities"] if c["name"] == "Lippstadt"]
    config.setdefault("maps", {})["figures"] = False
    project_file.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "out"
    assert cli.main(["run", str(project_file), "--out", str(out), "--quiet"]) == 0
    before = _snapshot(out)
    capsys.readouterr()

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "tables" / "geo_cohesion.xlsx"))

    monkeypatch.setattr(exports, "write_exports", full_disk)
    config["title"] = "Zweiter Lauf"
    project_file.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    assert cli.main(["run", str(project_file), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "No space left on device" in err and "geo_cohesion.xlsx" in err
    assert _snapshot(out) == before
