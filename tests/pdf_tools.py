"""poppler-utils for the PDF tests: the one lookup shared by maps, report and pipeline tests."""
from __future__ import annotations

import os
import shutil

import pytest


def tool(name: str) -> str:
    """Path of a poppler tool (``pdftotext``, ``pdftoppm``, ``pdfinfo``); skip without it, fail under
    ``CI=true`` (``.ci/run`` installs poppler-utils)."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} not installed (apt-get install poppler-utils)"
        if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
            pytest.fail(f"{reason} (CI=true: PDF tests must run; .ci/run installs poppler-utils)", pytrace=False)
        pytest.skip(reason)
    return path
