"""Cities computed in parallel processes (estimates.workers): the serial results, the serial error."""
from __future__ import annotations

import copy
import multiprocessing

import pytest
import yaml
from conftest import write_small_city

from geo_cohesion.errors import InputError
from geo_cohesion.project import run
from geo_cohesion.project.config import load_project
from geo_cohesion.project.reuse import run_record
from geo_cohesion.project.run import compute_cities, read_city_boundaries, resolve_groups

pytestmark = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                                reason="needs the fork start method")


def _two_cities(tmp_path, workers: int):
    """The small city twice, under two names (same inputs)."""
    path = write_small_city(tmp_path / f"in{workers}")
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    second = {**copy.deepcopy(config["cities"][0]), "name": "Zweitstadt", "slug": "zweitstadt"}
    config["cities"].append(second)
    config["estimates"]["workers"] = workers
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    project = load_project(path)
    cities = [resolve_groups(c, project) for c in project.cities]
    return project, cities, [read_city_boundaries(c, project) for c in cities]


def test_parallel_cities_give_the_serial_results(tmp_path):
    project, cities, boundaries = _two_cities(tmp_path, 1)
    serial = compute_cities(cities, boundaries, project, maps=True)
    project, cities, boundaries = _two_cities(tmp_path, 2)
    parallel = compute_cities(cities, boundaries, project, maps=True)
    for (a, b) in zip(serial[0], parallel[0]):
        assert a.city.name == b.city.name
        assert a.district_estimates.equals(b.district_estimates)
        assert a.models.equals(b.models)
    for a, b in zip(serial[1], parallel[1]):
        assert a.comparison.comparison.equals(b.comparison.comparison)
        assert a.comparison.lisa.equals(b.comparison.lisa)
        assert [stem for stem, _ in a.maps] == [stem for stem, _ in b.maps]
        assert b.result is not None and b.result.city.name == a.result.city.name
    assert [r.city.name for r in parallel[0]] == ["Musterstadt", "Zweitstadt"]


def test_the_error_is_the_one_a_serial_run_meets_first(tmp_path, monkeypatch):
    """City 1 fails in the analysis, city 2 in the estimation: one city after another, the
    estimation of city 2 fails before any analysis runs; in parallel the same error is raised."""
    project, cities, boundaries = _two_cities(tmp_path, 2)
    real_run, real_analyse = run.run_city, run.analyse_city

    def run_city(city, *args):
        if city.name == "Zweitstadt":
            raise InputError("estimation failed", "zweitstadt.csv")
        return real_run(city, *args)

    def analyse_city(result, *args):
        if result.city.name == "Musterstadt":
            raise InputError("analysis failed", "muster.gpkg")
        return real_analyse(result, *args)

    monkeypatch.setattr(run, "run_city", run_city)
    monkeypatch.setattr(run, "analyse_city", analyse_city)
    for workers in (2, 1):
        project = project.model_copy(update={"estimates": project.estimates.model_copy(update={"workers": workers})})
        with pytest.raises(InputError) as info:
            compute_cities(cities, boundaries, project, maps=False)
        assert str(info.value) == "zweitstadt.csv: [Zweitstadt] estimation failed"


def test_the_number_of_processes_does_not_make_a_run_stale(tmp_path):
    project, _, _ = _two_cities(tmp_path, 1)
    other = project.model_copy(update={
        "estimates": project.estimates.model_copy(update={"workers": 3}),
        "maps": project.maps.model_copy(update={"figure_workers": 2})})
    assert run_record(other, "de")["config_hash"] == run_record(project, "de")["config_hash"]
    changed = project.model_copy(update={"estimates": project.estimates.model_copy(update={"min_n": 20})})
    assert run_record(changed, "de")["config_hash"] != run_record(project, "de")["config_hash"]


def test_cities_are_estimated_with_one_blas_thread(tmp_path, monkeypatch):
    from threadpoolctl import threadpool_info

    project, cities, boundaries = _two_cities(tmp_path, 1)
    seen = []
    real_run = run.run_city

    def run_city(city, *args):
        seen.append({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})
        return real_run(city, *args)

    monkeypatch.setattr(run, "run_city", run_city)
    compute_cities(cities[:1], boundaries[:1], project, maps=False)
    assert seen == [{1}]
