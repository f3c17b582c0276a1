"""Print figures of several city maps (or any figures), rendered in parallel processes where cores allow.

Drawing and saving a figure is pure CPU work in matplotlib (PDF font subsetting, PNG
rasterising) and holds the GIL, so threads do not help; :func:`write_figures` (and
:func:`render_jobs` for any :class:`FigureJob`, e.g. the comparison figures) forks worker
processes instead (``fork`` start method: the city maps are inherited, not pickled). Every
figure is written atomically by :func:`geo_cohesion.maps.figures.save_figure` exactly as in a
serial run, so the files are byte-identical whatever the number of workers; the returned paths
are in the same order as :func:`geo_cohesion.maps.figures.write_city_figures` gives them.
Without ``fork`` (Windows, macOS defaults) or with one worker the figures are drawn one after
another in this process.
"""
from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geo_cohesion.keys import slugify
from geo_cohesion.maps.figures import (
    DEFAULT_FORMATS,
    dimension_variables,
    file_part,
    plot_layer,
    plot_small_multiples,
    save_figure,
)
from geo_cohesion.maps.layers import CityMap

#: Most worker processes chosen automatically (``workers=0``).
MAX_AUTO_WORKERS = 4


@dataclass(frozen=True)
class FigureRequest:
    """The figures of one city map: as the arguments of :func:`~geo_cohesion.maps.figures.write_city_figures`."""

    city_map: CityMap
    out_dir: Path
    variables: Sequence[str] | None = None
    stem: str | None = None


@dataclass(frozen=True)
class FigureJob:
    """One figure: ``draw(*args)`` returns it, :func:`~geo_cohesion.maps.figures.save_figure` writes it
    to ``path_stem`` plus each format's extension."""

    draw: Callable[..., Any]
    args: tuple[Any, ...]
    path_stem: Path
    #: Relative cost: workers start with the costliest figures, so none is left running alone at the end.
    cost: float = 1.0


#: (jobs, formats, dpi) of the running :func:`render_jobs`, inherited by forked workers.
_STATE: tuple = ()


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def resolve_workers(workers: int, jobs: int) -> int:
    """Worker processes for ``jobs`` figures: ``workers`` if positive, else one per available core
    (at most :data:`MAX_AUTO_WORKERS`); never more than the jobs, and 1 without ``fork``."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    chosen = workers if workers > 0 else min(available_cores(), MAX_AUTO_WORKERS)
    return max(1, min(chosen, jobs))


def _jobs(requests: Sequence[FigureRequest]) -> list[FigureJob]:
    jobs = []
    for request in requests:
        city_map = request.city_map
        slug = request.stem or slugify(city_map.city)
        variables = ([layer.variable for layer in city_map.layers] if request.variables is None
                     else list(request.variables))
        for variable in variables:
            city_map.layer(variable)  # fail before writing anything
        jobs += [FigureJob(plot_layer, (city_map, v), Path(request.out_dir) / f"{slug}_{file_part(v)}")
                 for v in variables]
        if dimension_variables(city_map):
            jobs.append(FigureJob(plot_small_multiples, (city_map,), Path(request.out_dir) / f"{slug}_dimensionen",
                                  cost=3.0))  # nine maps on one page
    return jobs


def _render(index: int) -> list[Path]:
    jobs, formats, dpi = _STATE
    job = jobs[index]
    return save_figure(job.draw(*job.args), job.path_stem, formats, dpi, close=True)


def render_jobs(jobs: Sequence[FigureJob], formats: Sequence[str] = DEFAULT_FORMATS, dpi: int = 300,
                workers: int = 0) -> list[Path]:
    """Draw and write figures, in parallel processes where cores allow.

    Parameters
    ----------
    jobs : sequence of FigureJob
    formats : sequence of {"png", "pdf", "svg"}
    dpi : int
    workers : int
        Processes; 0 = one per available core (at most :data:`MAX_AUTO_WORKERS`), 1 = serial.

    Returns
    -------
    list of Path
        Every written file, in job order and within a job in ``formats`` order: the files and the
        order of a serial run, byte for byte.
    """
    global _STATE
    for job in jobs:
        Path(job.path_stem).parent.mkdir(parents=True, exist_ok=True)
    n = resolve_workers(workers, len(jobs))
    _STATE = (list(jobs), tuple(formats), dpi)
    try:
        if n == 1:
            parts = [_render(i) for i in range(len(jobs))]
        else:
            order = sorted(range(len(jobs)), key=lambda i: -jobs[i].cost)  # stable: costliest first
            with multiprocessing.get_context("fork").Pool(n) as pool:
                done = dict(zip(order, pool.map(_render, order, chunksize=1)))
            parts = [done[i] for i in range(len(jobs))]
    finally:
        _STATE = ()
    return [path for part in parts for path in part]


def write_figures(requests: Sequence[FigureRequest], formats: Sequence[str] = DEFAULT_FORMATS, dpi: int = 300,
                  workers: int = 0) -> list[Path]:
    """Write the print figures of every request, in parallel processes where cores allow.

    Parameters
    ----------
    requests : sequence of FigureRequest
    formats : sequence of {"png", "pdf", "svg"}
    dpi : int
    workers : int
        Processes; 0 = one per available core (at most :data:`MAX_AUTO_WORKERS`), 1 = serial.

    Returns
    -------
    list of Path
        Every written file, in request order and within a request in the order of
        :func:`~geo_cohesion.maps.figures.write_city_figures`.
    """
    jobs = _jobs(requests)
    for request in requests:
        Path(request.out_dir).mkdir(parents=True, exist_ok=True)
    return render_jobs(jobs, formats, dpi, workers)
