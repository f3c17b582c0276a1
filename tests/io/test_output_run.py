"""A run writes all of its outputs or none: staging, lock, journalled commit, collisions, escapes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from geo_cohesion.errors import InputError
from geo_cohesion.io.write import LOCK_NAME, MANIFEST_NAME, STAGING_NAME, OutputRun, recover_output_folder, write_text


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every visible file below ``folder`` (hidden bookkeeping files left out)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)}


def _run(out: Path, files: dict[str, str], prune: bool = True) -> None:
    with OutputRun(out, prune=prune) as run:
        for rel, text in files.items():
            write_text(run.root / rel, text)


def test_success_moves_everything_into_place(tmp_path):
    _run(tmp_path, {"tables/a.csv": "1", "map.html": "<p>"})
    assert _snapshot(tmp_path) == {"map.html": b"<p>", "tables/a.csv": b"1"}
    assert not (tmp_path / STAGING_NAME).exists() and not (tmp_path / LOCK_NAME).exists()
    assert (tmp_path / MANIFEST_NAME).exists()


def test_failure_leaves_earlier_outputs_exactly_as_they_were(tmp_path):
    _run(tmp_path, {"tables/a.csv": "old", "figures/x.png": "old"})
    before = _snapshot(tmp_path)
    with pytest.raises(RuntimeError), OutputRun(tmp_path) as run:
        write_text(run.root / "tables/a.csv", "new")
        raise RuntimeError("figure rendering failed")
    assert _snapshot(tmp_path) == before
    assert not (tmp_path / STAGING_NAME).exists()


def test_outputs_of_the_previous_run_that_were_not_written_again_are_removed(tmp_path):
    (tmp_path / "README.md").write_text("mine")  # not an output: never touched
    _run(tmp_path, {"a.csv": "1", "old_city.html": "x"})
    _run(tmp_path, {"a.csv": "2"})
    assert _snapshot(tmp_path) == {"README.md": b"mine", "a.csv": b"2"}


def test_a_partial_run_keeps_the_other_outputs(tmp_path):
    _run(tmp_path, {"tables/a.csv": "1", "map.html": "m"})
    _run(tmp_path, {"tables/a.csv": "2"}, prune=False)
    assert _snapshot(tmp_path) == {"map.html": b"m", "tables/a.csv": b"2"}
    _run(tmp_path, {"tables/a.csv": "3"})  # the kept map was still recorded as an output
    assert _snapshot(tmp_path) == {"tables/a.csv": b"3"}


def test_two_runs_into_one_folder_do_not_interleave(tmp_path):
    with OutputRun(tmp_path), pytest.raises(InputError, match="another geo-cohesion run"), OutputRun(tmp_path):
        pass


def test_two_outputs_with_the_same_file_name_are_an_error(tmp_path):
    with pytest.raises(InputError, match="same file 'x_gruppen.html'"), OutputRun(tmp_path) as run:
        write_text(run.root / "x_gruppen.html", "group map of city x")
        write_text(run.root / "x_gruppen.html", "district map of city x_gruppen")
    assert _snapshot(tmp_path) == {}


@pytest.mark.parametrize("name", ["../escaped.png", "../../escaped.png", "/tmp/escaped.png"])
def test_no_output_can_leave_the_output_folder(tmp_path, name):
    out = tmp_path / "out"
    with pytest.raises(InputError, match="outside the output folder"), OutputRun(out) as run:
        write_text(run.root / name, "x")
    assert not (tmp_path / "escaped.png").exists()


def test_a_commit_interrupted_midway_is_completed_by_the_next_run(tmp_path, monkeypatch):
    _run(tmp_path, {f"f{i}.csv": "old" for i in range(5)})
    real_replace = os.replace
    moved = []

    def crash_after_two(src, dst):
        committing = STAGING_NAME in str(src) and STAGING_NAME not in str(dst)
        if committing and len(moved) == 2:
            raise KeyboardInterrupt("killed")
        if committing:
            moved.append(src)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, {f"f{i}.csv": "new" for i in range(5)})
    monkeypatch.setattr(os, "replace", real_replace)
    assert len(moved) == 2 and (tmp_path / STAGING_NAME).exists()  # half committed
    assert recover_output_folder(tmp_path) == "completed"
    assert _snapshot(tmp_path) == {f"f{i}.csv": b"new" for i in range(5)}


_SLOW_RUN = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from geo_cohesion.io.write import OutputRun, write_text
    out, tag = Path(sys.argv[1]), sys.argv[2]
    with OutputRun(out) as run:
        for i in range(20):
            write_text(run.root / "tables" / f"t{i}.csv", tag * 1000)
            time.sleep(0.01)
""")


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.05, 0.1, 0.2, 0.3, 0.5, 1.0])
def test_a_killed_run_leaves_old_or_new_outputs_never_a_mix(tmp_path, delay):
    """SIGKILL at different moments: the next run's recovery leaves exactly one run's outputs."""
    script = tmp_path / "slow_run.py"
    script.write_text(_SLOW_RUN)
    out = tmp_path / "out"
    subprocess.run([sys.executable, str(script), str(out), "o"], check=True)
    old = _snapshot(out)
    proc = subprocess.Popen([sys.executable, str(script), str(out), "n"])
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    recover_output_folder(out)
    state = _snapshot(out)
    new = {k: b"n" * 1000 for k in old}
    assert state in (old, new)
    assert not (out / STAGING_NAME).exists()
    assert not [p for p in out.rglob("*") if p.name.startswith(".t")]  # no temporary files behind
