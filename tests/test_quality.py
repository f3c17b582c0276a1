"""Quality gates, run as tests so that the README's one test command (and CI) runs them too.

* ``ruff check .``: lint rules in pyproject ``[tool.ruff]``;
* ``lint-imports``: the layer contracts in ``[tool.importlinter]`` (imports point down only);
* ``mypy``: strict on ``geo_cohesion/survey`` and ``geo_cohesion/stats`` (``[tool.mypy]``);
* no module of the package longer than :data:`MAX_MODULE_LINES` lines;
* the README's test command is the one ``.ci/run`` runs.

The tools come with the ``test`` extra. Without them a gate skips, except under ``CI=true``,
where it fails (as the browser tests do). Run just these with ``python3 -m pytest -m quality``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "geo_cohesion"
MAX_MODULE_LINES = 700

pytestmark = pytest.mark.quality


def _tool(name: str, module: str | None = None) -> list[str]:
    """The command for a tool: ``python -m module`` if importable, else the script beside Python."""
    if module is not None:
        probe = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True)
        if probe.returncode == 0:
            return [sys.executable, "-m", module]
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    script = shutil.which(name, path=path)
    if script is None:
        reason = f"{name} is not installed (python3 -m pip install -e '.[test]')"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI=true: quality gates must run", pytrace=False)
        pytest.skip(reason)
    return [script]


def _run(command: list[str]) -> None:
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(command[-2:])} found problems:\n{result.stdout}\n{result.stderr}"


def test_ruff():
    _run([*_tool("ruff", "ruff"), "check", "."])


def test_import_layers():
    _run(_tool("lint-imports"))


def test_mypy_strict_on_survey_and_stats():
    _run(_tool("mypy", "mypy"))


def test_no_module_is_longer_than_700_lines():
    lengths = {p.relative_to(REPO).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
               for p in PACKAGE.rglob("*.py")}
    assert {path: n for path, n in lengths.items() if n > MAX_MODULE_LINES} == {}


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    command = next(line for line in readme.splitlines() if "pytest" in line and line.startswith("python3 -m venv"))
    ci = [line for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
          if line.strip() and not line.startswith("#")]
    assert ci[-1] == command
