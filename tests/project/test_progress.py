"""Progress on stderr (rich), --quiet and --verbose: outputs and the error contract stay the same."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from conftest import write_small_city
from rich.console import Console

from geo_cohesion.cli import main
from geo_cohesion.project import progress


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=terminal, width=100, highlight=False), buffer


@pytest.mark.parametrize("verbosity, terminal, shown", [
    (progress.QUIET, True, False), (progress.NORMAL, False, False), (progress.VERBOSE, False, True)])
def test_levels(monkeypatch, verbosity, terminal, shown):
    monkeypatch.delenv("CI", raising=False)
    console, buffer = _console(terminal)
    with progress.reporting(verbosity, console) as reporter:
        progress.expect(2)
        with progress.step("Musterstadt [Nord]: estimating"):
            pass
        with progress.step("writing tables"):
            pass
    assert [d for d, _ in reporter.steps] == ["Musterstadt [Nord]: estimating", "writing tables"]
    text = buffer.getvalue()
    assert ("✓ Musterstadt [Nord]: estimating (" in text) is shown   # brackets are text, not rich markup
    assert bool(text) is shown


def test_bar_only_on_a_terminal_and_not_under_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    console, buffer = _console(True)
    with progress.reporting(progress.NORMAL, console) as reporter:
        assert reporter.show_bar
        progress.expect(1)
        with progress.step("step one"):
            pass
    monkeypatch.setenv("CI", "true")
    with progress.reporting(progress.NORMAL, _console(True)[0]) as reporter:
        assert not reporter.show_bar


def test_failed_step_is_not_counted():
    with (progress.reporting(progress.VERBOSE, _console(False)[0]) as reporter, pytest.raises(ValueError),
          progress.step("broken")):
        raise ValueError
    assert reporter.steps == []


def test_steps_run_in_workers_are_recorded_with_their_duration(monkeypatch):
    """Worker processes run muted; the parent records their steps (counted, printed with VERBOSE)."""
    monkeypatch.delenv("CI", raising=False)
    console, buffer = _console(True)
    with progress.reporting(progress.VERBOSE, console) as reporter:
        progress.expect(2)
        progress.describe("2 cities: estimating (in parallel)")
        assert reporter._progress.tasks[0].description == "2 cities: estimating (in parallel)"
        with progress.muted(), progress.step("inside a worker"):  # no reporter: neither counted nor printed
            pass
        progress.record("Musterstadt: estimating", 2.5)
        progress.record("Zweitstadt: estimating", 1.25)
        assert reporter._progress.tasks[0].completed == 2
    assert reporter.steps == [("Musterstadt: estimating", 2.5), ("Zweitstadt: estimating", 1.25)]
    text = buffer.getvalue()
    assert "✓ Musterstadt: estimating (2.5 s)" in text and "inside a worker" not in text


def test_without_a_reporter_steps_do_nothing():
    progress.expect(3)
    with progress.step("nothing happens"):
        pass


@pytest.mark.slow
def test_quiet_and_verbose_write_identical_outputs(tmp_path, capsys):
    config = write_small_city(tmp_path / "inputs")
    assert main(["run", str(config), "--out", str(tmp_path / "verbose"), "--verbose"]) == 0
    verbose = capsys.readouterr()
    assert main(["run", str(config), "--out", str(tmp_path / "quiet"), "--quiet"]) == 0
    quiet = capsys.readouterr()
    assert "✓ Musterstadt: reading, weighting, estimating (" in verbose.err
    assert "✓ writing city reports and district profiles (HTML, PDF) (" in verbose.err
    assert quiet.err == "" and "tables written to" in quiet.out
    files = sorted(p.relative_to(tmp_path / "quiet") for p in (tmp_path / "quiet").rglob("*") if p.is_file())
    assert len(files) > 20
    for rel in files:
        assert (tmp_path / "quiet" / rel).read_bytes() == (tmp_path / "verbose" / rel).read_bytes(), rel


def test_error_with_verbose_is_one_message(tmp_path, capsys):
    config = write_small_city(tmp_path / "inputs")
    population = tmp_path / "inputs" / "bevoelkerung.csv"
    population.write_text(population.read_text(encoding="utf-8").replace("einwohner", "anzahl"), encoding="utf-8")
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "--verbose"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("geo-cohesion: error:") and "einwohner" in lines[-1]
    assert err.count("error:") == 1 and "Traceback" not in err
    assert not (Path(tmp_path / "out") / "tables").exists()


def test_done_removes_the_bar(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    console, _ = _console(True)
    with progress.reporting(progress.NORMAL, console) as reporter:
        progress.expect(1)
        with progress.step("one"):
            pass
        progress.done()
        assert reporter._progress is None
        with progress.step("after the bar"):
            pass
    assert len(reporter.steps) == 2
