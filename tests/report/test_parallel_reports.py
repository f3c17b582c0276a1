"""Reports written by forked worker processes: the serial files, byte for byte, in the serial order."""
from __future__ import annotations

import dataclasses
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest
from report_fixtures import make_city

from geo_cohesion.report.build import write_reports
from geo_cohesion.report.model import ReportSettings
from geo_cohesion.report.render import typst_started


def _files(written, root):
    return [(p.relative_to(root).as_posix(), p.read_bytes()) for p in written]


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs the fork start method")
def test_parallel_reports_are_the_serial_files_and_never_fork_after_typst(tmp_path):
    """Runs in this process if typst has not run here yet; otherwise (later in a full test run,
    where write_reports rightly refuses to fork) in a fresh Python process."""
    if not typst_started():
        check_parallel_reports(tmp_path)
        return
    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here), str(here.parent), str(here.parents[1]),
                                                         os.environ.get("PYTHONPATH", "")])}
    code = "import sys, pathlib, test_parallel_reports as t; t.check_parallel_reports(pathlib.Path(sys.argv[1]))"
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def check_parallel_reports(tmp_path: Path) -> None:
    """Parallel reports equal the serial ones; after typst ran, workers are refused (serial, same files)."""
    assert not typst_started()
    first = make_city()
    second = dataclasses.replace(make_city(names=["Nord", "Ost", "Süd", "West"], index=[61.0, 57.0, 66.0, 52.0],
                                           name="Zweitstadt"), slug="zweitstadt")
    settings = ReportSettings(title="Test", note="synthetische Demodaten")

    parallel = write_reports([first, second], dataclasses.replace(settings, workers=2), tmp_path / "parallel")
    assert not typst_started()  # the documents were compiled in the workers
    serial = write_reports([first, second], dataclasses.replace(settings, workers=1), tmp_path / "serial")
    assert typst_started()
    assert _files(parallel, tmp_path / "parallel") == _files(serial, tmp_path / "serial")
    names = [p.relative_to(tmp_path / "serial").as_posix() for p in serial]
    assert names[-2:] == ["report/zweitstadt.html", "report/zweitstadt.pdf"]
    assert len(names) == 2 * (4 + 1) * 2  # 2 cities x (4 profiles + report) x (HTML, PDF)

    # typst has run here now: asking for workers writes one document after another, the same files
    again = write_reports([first, second], dataclasses.replace(settings, workers=2), tmp_path / "again")
    assert _files(again, tmp_path / "again") == _files(serial, tmp_path / "serial")
