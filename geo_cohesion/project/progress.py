"""Progress of the long steps of a run on stderr, with rich.

Three levels (:data:`QUIET`, :data:`NORMAL`, :data:`VERBOSE`; the CLI's ``--quiet`` and
``--verbose``):

* quiet: nothing (errors and the final summary are printed by the CLI);
* normal: a transient progress bar on a terminal; nothing without a terminal or under CI
  (``CI`` set), so logs and pipes stay clean;
* verbose: one line per finished step with its duration (also without a terminal), plus the bar
  on a terminal.

Progress never touches outputs: the same inputs and seed give byte-identical files at every
level. Pipeline code reports steps with :func:`step` and announces them with :func:`expect`;
without an active :func:`reporting` block both do nothing.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import time
from collections.abc import Iterator

QUIET, NORMAL, VERBOSE = 0, 1, 2
_ACTIVE: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar("geo_cohesion_progress", default=None)


class Reporter:
    """Shows steps on a rich console on stderr (see the module docstring for the levels).

    Parameters
    ----------
    verbosity : {QUIET, NORMAL, VERBOSE}
    console : rich.console.Console, optional
        Where to show progress; a console on stderr by default.
    """

    def __init__(self, verbosity: int = NORMAL, console=None) -> None:
        from rich.console import Console

        self.verbosity = verbosity
        self.console = console if console is not None else Console(stderr=True, highlight=False)
        self.show_bar = (verbosity >= NORMAL and self.console.is_terminal
                         and not os.environ.get("CI") and not self.console.is_dumb_terminal)
        self._progress = None
        self._task = None
        self.steps: list[tuple[str, float]] = []

    def __enter__(self) -> Reporter:
        if self.show_bar:
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(),
                                      TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                                      console=self.console, transient=True, redirect_stdout=False,
                                      redirect_stderr=False)
            self._progress.start()
            self._task = self._progress.add_task("geo-cohesion", total=0)
        return self

    def __exit__(self, *exc) -> None:
        self.done()

    def done(self) -> None:
        """Remove the bar (before the summary is printed); later steps are still counted and printed."""
        if self._progress is not None:
            self._progress.stop()  # transient: the bar disappears, messages after it stand alone
            self._progress = None

    def expect(self, steps: int) -> None:
        """Announce ``steps`` more steps (the bar's total)."""
        if self._progress is not None:
            total = self._progress.tasks[0].total or 0
            self._progress.update(self._task, total=total + steps)

    @contextlib.contextmanager
    def step(self, description: str) -> Iterator[None]:
        """Show ``description`` while the block runs; count it (and print it with VERBOSE) when it succeeds."""
        if self._progress is not None:
            self._progress.update(self._task, description=description)
        start = time.perf_counter()
        yield
        self.record(description, time.perf_counter() - start)

    def describe(self, description: str) -> None:
        """Show ``description`` on the bar (work under way elsewhere, e.g. in worker processes)."""
        if self._progress is not None:
            self._progress.update(self._task, description=description)

    def record(self, description: str, elapsed: float) -> None:
        """Count a finished step that took ``elapsed`` seconds (from :meth:`step`, or run in a worker process)."""
        self.steps.append((description, elapsed))
        if self._progress is not None:
            self._progress.advance(self._task)
        if self.verbosity >= VERBOSE:
            from rich.text import Text

            self.console.print(Text(f"✓ {description} ({elapsed:.1f} s)"))


@contextlib.contextmanager
def reporting(verbosity: int = NORMAL, console=None) -> Iterator[Reporter]:
    """Make a :class:`Reporter` the active one for the block (pipeline steps report to it)."""
    reporter = Reporter(verbosity, console)
    token = _ACTIVE.set(reporter)
    try:
        with reporter:
            yield reporter
    finally:
        _ACTIVE.reset(token)


def expect(steps: int) -> None:
    """Announce ``steps`` more steps to the active reporter (nothing without one)."""
    reporter = _ACTIVE.get()
    if reporter is not None:
        reporter.expect(steps)


def done() -> None:
    """Remove the active reporter's bar, e.g. before printing the summary on stdout."""
    reporter = _ACTIVE.get()
    if reporter is not None:
        reporter.done()


def describe(description: str) -> None:
    """Show what is under way on the active reporter's bar, without counting a step."""
    reporter = _ACTIVE.get()
    if reporter is not None:
        reporter.describe(description)


def record(description: str, elapsed: float) -> None:
    """Count a step that ran in a worker process, with its duration (nothing without a reporter)."""
    reporter = _ACTIVE.get()
    if reporter is not None:
        reporter.record(description, elapsed)


@contextlib.contextmanager
def muted() -> Iterator[None]:
    """No reporter for the block: steps run in a worker process are recorded by the parent."""
    token = _ACTIVE.set(None)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


@contextlib.contextmanager
def step(description: str) -> Iterator[None]:
    """Report the block as one step to the active reporter (nothing without one)."""
    reporter = _ACTIVE.get()
    if reporter is None:
        yield
        return
    with reporter.step(description):
        yield
