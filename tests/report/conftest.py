"""Fixtures of the report tests."""
from __future__ import annotations

import pytest

from geo_cohesion.report.model import ReportSettings


@pytest.fixture
def settings() -> ReportSettings:
    return ReportSettings(title="Testbefragung", note="synthetische Demodaten", survey_period="2017-03-27/2017-05-23")
