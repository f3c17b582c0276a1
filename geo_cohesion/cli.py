"""Command line: a thin layer over the Python API.

Every user-fixable problem ends with one readable message on stderr and exit code 2; a
traceback is shown only with ``--debug``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

from . import __version__
from .errors import InputError

EXIT_INPUT_ERROR = 2


def _cmd_demo(args: argparse.Namespace) -> int:
    from .config import load_project
    from .demo import write_demo_inputs
    from .pipeline import run_project

    out = Path(args.out)
    inputs = Path(args.inputs) if args.inputs else out / "demo_inputs"
    project_file = write_demo_inputs(inputs, seed=args.seed)
    results = run_project(load_project(project_file), out)
    _summary(results, out)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .config import load_project
    from .pipeline import run_project

    results = run_project(load_project(args.config), Path(args.out))
    _summary(results, Path(args.out))
    return 0


def _summary(results, out: Path) -> None:
    for res in results:
        est = res.city_estimates
        line = f"{res.city.name}: {len(res.district_estimates['district_id'].unique())} districts"
        if est is not None:
            index = est.loc[est["variable"] == "index"].iloc[0]
            line += f", index {index['estimate']:.2f} (95% CI {index['ci_low']:.2f}–{index['ci_high']:.2f}, n={index['n']})"
        if res.city.note:
            line += f" [{res.city.note}]"
        print(line)
    print(f"tables written to {out / 'tables'}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with all subcommands."""
    parser = argparse.ArgumentParser(
        prog="geo-cohesion",
        description="Weighted district estimates, maps and evidence tables for social cohesion "
                    "(Radar gesellschaftlicher Zusammenhalt).")
    parser.add_argument("--version", action="version", version=f"geo-cohesion {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the whole pipeline on the built-in synthetic demo (4 cities)",
                          description="Generate the synthetic demo inputs for Dortmund, Lippstadt, Rostock and "
                                      "Dessau-Roßlau and run them through the same pipeline as a user's own city.")
    demo.add_argument("--out", default="maps", help="output folder (default: maps/)")
    demo.add_argument("--seed", type=int, default=None, help="random seed of the synthetic data (default: from the assumptions file)")
    demo.add_argument("--inputs", default=None, help="folder for the generated inputs (default: OUT/demo_inputs)")
    demo.set_defaults(func=_cmd_demo)

    run = sub.add_parser("run", help="run a project configuration (your own cities)",
                         description="Run every city of a project YAML file (see README: 'Your own city').")
    run.add_argument("config", help="project configuration (YAML)")
    run.add_argument("--out", default="maps", help="output folder (default: maps/)")
    run.set_defaults(func=_cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``geo-cohesion`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except InputError as exc:
        if args.debug:
            raise
        print(f"geo-cohesion: error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        print("geo-cohesion: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
