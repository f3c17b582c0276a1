"""Reading tables (geo_cohesion.io.tables): no process-wide side effects."""
from __future__ import annotations

import csv
import importlib

import pytest

from geo_cohesion.errors import InputError
from geo_cohesion.io import tables
from geo_cohesion.io.tables import read_table


@pytest.fixture
def small_csv_limit():
    """The csv module's field size limit set to a known small value, restored afterwards."""
    original = csv.field_size_limit(1000)
    yield 1000
    csv.field_size_limit(original)


def test_import_does_not_change_the_csv_field_size_limit(small_csv_limit):
    importlib.reload(tables)   # runs the module's top-level code again
    assert csv.field_size_limit() == small_csv_limit


def test_large_field_is_read_and_the_limit_restored(tmp_path, small_csv_limit):
    path = tmp_path / "survey.csv"
    answer = "x" * 200_000    # a free-text answer larger than the csv module's default limit (128 KB)
    path.write_text(f"district_id;comment;value\n01;{answer};1,5\n02;kurz;2\n", encoding="utf-8")
    table = read_table(path, text_columns=["district_id"])
    assert table["comment"].str.len().tolist() == [200_000, 4] and table["value"].tolist() == [1.5, 2.0]
    assert csv.field_size_limit() == small_csv_limit
    bad = tmp_path / "bad.csv"
    bad.write_text('district_id,name\n01,"Nord\n02,Süd,extra\n', encoding="utf-8")
    with pytest.raises(InputError):
        read_table(bad)
    assert csv.field_size_limit() == small_csv_limit   # restored on errors, too
