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

The same machinery serves any other work: :func:`fork_map` (e.g. the cities of a run,
:func:`geo_cohesion.project.run.compute_cities`) and :func:`fork_pool` (the reports); a worker
that dies is an error, not a hang.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geo_cohesion.errors import InputError
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


@contextlib.contextmanager
def fork_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """``workers`` forked worker processes (they inherit this process's memory).

    An executor, not a ``multiprocessing.Pool``: a worker that dies (the out-of-memory killer,
    say) fails the call instead of leaving it waiting forever for the lost work; that is raised
    as an :class:`~geo_cohesion.errors.InputError` saying how to run with fewer processes.
    """
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            yield pool
    except BrokenProcessPool:
        raise InputError("a worker process ended unexpectedly (killed, e.g. when the memory ran out)",
                         hint="run with fewer processes: 'estimates: {workers: 1}' and "
                              "'maps: {figure_workers: 1}' in the project file") from None


#: (function, items) of the running :func:`fork_map`, inherited by forked workers.
_MAP_STATE: tuple = ()


def _call(index: int) -> Any:
    func, items = _MAP_STATE
    return func(items[index])


def fork_map(func: Callable[[Any], Any], items: Sequence[Any], workers: int = 0,
             costs: Sequence[float] | None = None) -> list[Any]:
    """``[func(item) for item in items]``, in forked worker processes where cores allow.

    ``func`` and ``items`` are inherited by the workers (``fork``), not pickled; only the results
    travel back, pickled, so they must be picklable. An exception raised by ``func`` is raised
    here. Nothing is shared between the calls: a function whose result depends only on its item
    gives the same results in any number of processes. A worker process that dies is an error
    (:func:`fork_pool`), never a run that waits forever.

    Parameters
    ----------
    func : callable
        Called with one item.
    items : sequence
    workers : int
        Processes; 0 = one per available core (at most :data:`MAX_AUTO_WORKERS`), 1 = in this
        process, one after another (also without ``fork`` and for a single item).
    costs : sequence of float, optional
        Relative cost of each item: the costliest start first, so that none is left running
        alone at the end.

    Returns
    -------
    list
        The results in the order of ``items``.
    """
    global _MAP_STATE
    n = resolve_workers(workers, len(items))
    if n == 1:
        return [func(item) for item in items]
    order = sorted(range(len(items)), key=lambda i: -costs[i]) if costs is not None else list(range(len(items)))
    _MAP_STATE = (func, list(items))
    try:
        with fork_pool(n) as pool:
            done = dict(zip(order, pool.map(_call, order)))
    finally:
        _MAP_STATE = ()
    return [done[i] for i in range(len(items))]


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
    for job in jobs:
        Path(job.path_stem).parent.mkdir(parents=True, exist_ok=True)
    formats = tuple(formats)
    parts = fork_map(lambda job: save_figure(job.draw(*job.args), job.path_stem, formats, dpi, close=True),
                     list(jobs), workers, costs=[job.cost for job in jobs])
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
