"""Parallel print figures (geo_cohesion.maps.parallel): same files, same order as serial."""
from __future__ import annotations

import multiprocessing

import numpy as np
import pandas as pd
import pytest

from geo_cohesion.demo.shapes import build_schematic_boundaries, load_cities
from geo_cohesion.maps.figures import write_city_figures
from geo_cohesion.maps.layers import build_city_map
from geo_cohesion.maps.parallel import MAX_AUTO_WORKERS, FigureRequest, resolve_workers, write_figures
from geo_cohesion.radar.codebook import load_radar


def _city_map(slug: str):
    city = next(c for c in load_cities() if c["slug"] == slug)
    b = build_schematic_boundaries(city)
    rng = np.random.default_rng(0)
    est = pd.DataFrame([{"district_id": d, "variable": v, "estimate": rng.uniform(40, 80), "n": 50}
                        for d in b["district_id"] for v in load_radar().variables])
    return build_city_map(city["name"], b, est, notes=["synthetische Demodaten"])


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs the fork start method")
def test_parallel_figures_are_the_serial_files_in_the_serial_order(tmp_path):
    maps = [("dortmund", _city_map("dortmund")), ("lippstadt", _city_map("lippstadt"))]
    variables = ["index", "soziale_beziehungen"]
    serial = []
    for stem, city_map in maps:
        serial += write_city_figures(city_map, tmp_path / "serial", variables, formats=("svg", "png"), dpi=30,
                                     stem=stem)
    parallel = write_figures([FigureRequest(m, tmp_path / "parallel", variables, stem) for stem, m in maps],
                             formats=("svg", "png"), dpi=30, workers=2)
    assert [p.name for p in parallel] == [p.name for p in serial]
    assert len(parallel) == 2 * 2 * 3  # 2 cities x (2 layers + dimensions) x 2 formats
    for a, b in zip(serial, parallel):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_unknown_variable_fails_before_any_file_is_written(tmp_path):
    with pytest.raises(KeyError):
        write_figures([FigureRequest(_city_map("dortmund"), tmp_path, ["index", "no_such_layer"], "x")], ("svg",),
                      workers=1)
    assert not list(tmp_path.glob("*.svg"))


def test_worker_count():
    assert resolve_workers(1, 10) == 1
    assert resolve_workers(3, 2) in (1, 2)  # never more workers than figures
    auto = resolve_workers(0, 100)
    assert 1 <= auto <= MAX_AUTO_WORKERS


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs the fork start method")
def test_any_figure_jobs_in_parallel_are_the_serial_files(tmp_path):
    # the comparison figures (project/analysis.py) go through render_jobs: a map and a scatter plot
    from geo_cohesion.maps.figures import plot_association, plot_layer
    from geo_cohesion.maps.parallel import FigureJob, render_jobs

    city = next(c for c in load_cities() if c["slug"] == "lippstadt")
    bounds = build_schematic_boundaries(city)
    rng = np.random.default_rng(1)
    est = pd.DataFrame([{"district_id": d, "variable": "index", "estimate": rng.uniform(40, 80), "n": 50,
                         "ci_low": 30.0, "ci_high": 90.0} for d in bounds["district_id"]])
    structural = pd.DataFrame({"district_id": bounds["district_id"],
                               "unemployment_pct": rng.uniform(3, 15, len(bounds))})
    city_map = build_city_map(city["name"], bounds, est, structural, notes=["synthetische Demodaten"])
    association = {"r": -0.4, "r_ci_low": -0.7, "r_ci_high": 0.0, "slope": -1.0, "intercept": 70.0,
                   "n_districts": len(bounds), "note": ""}

    def jobs(folder):
        return [FigureJob(plot_layer, (city_map, "index"), tmp_path / folder / "map"),
                FigureJob(plot_association, (city_map, "index", "unemployment_pct", association),
                          tmp_path / folder / "sub" / "scatter"),
                FigureJob(plot_layer, (city_map, "unemployment_pct"), tmp_path / folder / "structural")]

    serial = render_jobs(jobs("serial"), formats=("png", "pdf"), dpi=40, workers=1)
    parallel = render_jobs(jobs("parallel"), formats=("png", "pdf"), dpi=40, workers=2)
    assert [p.relative_to(tmp_path / "parallel") for p in parallel] == \
        [p.relative_to(tmp_path / "serial") for p in serial]
    assert [p.name for p in parallel] == ["map.png", "map.pdf", "scatter.png", "scatter.pdf", "structural.png",
                                          "structural.pdf"]
    for a, b in zip(serial, parallel):
        assert a.read_bytes() == b.read_bytes(), a.name


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs the fork start method")
def test_fork_map_returns_results_in_item_order_whatever_the_costs():
    import os

    from geo_cohesion.maps.parallel import fork_map

    items = list(range(7))
    costs = [1.0, 5.0, 2.0, 9.0, 0.5, 3.0, 4.0]  # the costliest start first; results stay in item order
    results = fork_map(lambda i: (i * i, os.getpid()), items, workers=2, costs=costs)
    assert [r[0] for r in results] == [i * i for i in items]
    assert len({pid for _, pid in results} - {os.getpid()}) >= 1  # computed in worker processes
    assert fork_map(lambda i: i * i, items, workers=1) == [i * i for i in items]
    assert [pid for _, pid in fork_map(lambda i: (i, os.getpid()), items, workers=1)] == [os.getpid()] * 7


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs the fork start method")
def test_fork_map_raises_the_workers_exception_here():
    from geo_cohesion.errors import InputError
    from geo_cohesion.maps.parallel import fork_map

    def fail_on_three(i):
        if i == 3:
            raise InputError("kaputt", "datei.csv", "reparieren")
        return i

    with pytest.raises(InputError) as info:
        fork_map(fail_on_three, range(5), workers=2)
    assert (info.value.message, info.value.source, info.value.hint) == ("kaputt", "datei.csv", "reparieren")


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs the fork start method")
def test_a_worker_that_dies_is_an_error_not_a_hang():
    import os

    from geo_cohesion.errors import InputError
    from geo_cohesion.maps.parallel import fork_map

    def die_on_two(i):
        if i == 2:
            os._exit(9)  # as if the out-of-memory killer had ended it
        return i

    with pytest.raises(InputError, match="worker process ended unexpectedly") as info:
        fork_map(die_on_two, range(4), workers=2)
    assert "workers: 1" in info.value.hint
