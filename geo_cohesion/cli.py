"""Command line: a thin layer over the Python API.

Every user-fixable problem ends with one readable message on stderr and exit code 2; a
traceback is shown only with ``--debug``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

from geo_cohesion import __version__
from geo_cohesion.errors import InputError
from geo_cohesion.spatial.weights import CONTIGUITIES
from geo_cohesion.stats.multiple_testing import ADJUSTMENTS

EXIT_INPUT_ERROR = 2


def _check_out(out: Path) -> Path:
    """The output folder: it may exist (earlier results are replaced), but must be a folder."""
    if out.exists() and not out.is_dir():
        raise InputError("the output folder is a file", str(out), "give a folder with --out")
    return out


def _one_line(text: object) -> str:
    """A message as one line (values with line breaks stay readable)."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _cmd_demo(args: argparse.Namespace) -> int:
    from geo_cohesion.demo.synthetic import write_demo_inputs
    from geo_cohesion.project.config import load_project
    from geo_cohesion.project.run import run_project

    out = _check_out(Path(args.out))
    inputs = Path(args.inputs) if args.inputs else out / "demo_inputs"
    project_file = write_demo_inputs(inputs, seed=args.seed)
    project = load_project(project_file)
    _set_estimator(project, args.estimator)
    results = run_project(project, out)
    _summary(results, out, project.estimates.level)
    return 0


def _set_estimator(project, estimator: str | None) -> None:
    """Apply ``--estimator`` (validated like the project file's ``estimates.estimator``)."""
    from geo_cohesion.project.config import validate_estimates

    if estimator is not None:
        project.estimates.estimator = estimator
        validate_estimates(project.estimates)


def _run_project_file(config: str, out: str, maps: bool = True, estimator: str | None = None,
                      **compare_overrides) -> int:
    from geo_cohesion.project.config import load_project
    from geo_cohesion.project.run import run_project

    project = load_project(config)
    _set_estimator(project, estimator)
    alpha = compare_overrides.get("alpha")
    if alpha is not None and not 0 < alpha < 1:
        raise InputError(f"--alpha must be between 0 and 1, got {alpha}")
    for key, value in compare_overrides.items():
        if value is not None:
            setattr(project.compare, key, value)
    results = run_project(project, _check_out(Path(out)), maps=maps)
    _summary(results, Path(out), project.estimates.level)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    return _run_project_file(args.config, args.out, estimator=args.estimator)


def _cmd_compare(args: argparse.Namespace) -> int:
    return _run_project_file(args.config, args.out, maps=not args.no_maps, estimator=args.estimator,
                             alpha=args.alpha, adjust=args.adjust, contiguity=args.contiguity)


def _cmd_map(args: argparse.Namespace) -> int:
    from geo_cohesion.io.boundaries import read_boundaries
    from geo_cohesion.io.tables import read_table
    from geo_cohesion.maps.html import write_html_map
    from geo_cohesion.maps.layers import build_city_map
    from geo_cohesion.survey.estimates import estimates_from_table

    boundaries = read_boundaries(args.boundaries, id_column=args.id_column, name_column=args.name_column,
                                 crs=args.crs, layer=args.layer)
    scores = read_table(args.scores, text_columns=[args.scores_id_column])
    if "city" in scores.columns:
        cities = sorted(scores["city"].dropna().astype(str).unique())
        if args.city is not None:
            if args.city not in cities:
                raise InputError(f"city {args.city!r} not in the score table", args.scores,
                                 f"choose one of: {', '.join(cities)}")
            scores = scores[scores["city"].astype(str) == args.city].reset_index(drop=True)
            scores.attrs["source"] = str(args.scores)
        elif len(cities) > 1:
            raise InputError(f"the score table holds several cities ({', '.join(cities)})", args.scores,
                             "choose one with --city")
    estimates = estimates_from_table(scores, args.scores_id_column, min_n=args.min_n)
    if "estimator" in scores.columns:  # e.g. tables/district_estimates.csv: tooltips name the estimator
        estimates["estimator"] = [e.strip() if isinstance(e, str) else None for e in scores["estimator"]]
    structural = None
    if args.structural:
        structural = read_table(args.structural, text_columns=[args.structural_id_column])
    breaks = [float(b) for b in args.breaks.split(",")] if args.breaks else None
    city_map = build_city_map(args.city or args.title or Path(args.boundaries).stem, boundaries, estimates, structural,
                              args.structural_id_column, allow_missing=args.allow_missing, scheme=args.scheme,
                              k=args.k, breaks=breaks, title=args.title or "", notes=args.note or [],
                              source=args.source or "", min_n=args.min_n)
    path = write_html_map(city_map, args.out, offline=args.offline)
    print(f"map written to {path} ({len(city_map.layers)} layers, {len(boundaries)} districts)")
    return 0


def _summary(results, out: Path, level: float = 0.95) -> None:
    for res in results:
        est = res.city_estimates
        line = f"{res.city.name}: {len(res.district_estimates['district_id'].unique())} districts"
        if est is not None:
            index = est.loc[est["variable"] == "index"].iloc[0]
            line += f", index {index['estimate']:.2f} ({level * 100:g}% CI {index['ci_low']:.2f}–{index['ci_high']:.2f}, n={index['n']})"
        if res.city.note:
            line += f" [{res.city.note}]"
        print(line)
    print(f"tables written to {out / 'tables'}")


def _add_estimator(parser: argparse.ArgumentParser) -> None:
    from geo_cohesion.survey.small_area import ESTIMATORS

    parser.add_argument("--estimator", choices=ESTIMATORS, default=None,
                        help="district estimator (default: the project's estimates.estimator, fay_herriot); "
                             "see README 'Small-area estimation'")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with all subcommands."""
    from geo_cohesion.maps.classify import SCHEMES
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
    _add_estimator(demo)
    demo.set_defaults(func=_cmd_demo)

    run = sub.add_parser("run", help="run a project configuration (your own cities)",
                         description="Run every city of a project YAML file (see README: 'Your own city').")
    run.add_argument("config", help="project configuration (YAML)")
    run.add_argument("--out", default="maps", help="output folder (default: maps/)")
    _add_estimator(run)
    run.set_defaults(func=_cmd_run)

    compare = sub.add_parser("compare", help="compare districts within each city and run spatial statistics",
                             description="Run a project and write the within-city comparison (deviations with "
                                         "tests, rank intervals, spread, variance shares, structural association) "
                                         "and spatial statistics (Moran's I, LISA) next to the estimate tables.")
    compare.add_argument("config", help="project configuration (YAML)")
    compare.add_argument("--out", default="maps", help="output folder (default: maps/)")
    compare.add_argument("--alpha", type=float, default=None, help="significance level (default 0.05)")
    compare.add_argument("--adjust", choices=ADJUSTMENTS, default=None,
                         help="multiple-testing control across districts (default holm)")
    compare.add_argument("--contiguity", choices=CONTIGUITIES, default=None, help="spatial weights (default queen)")
    compare.add_argument("--no-maps", action="store_true", help="write tables only, no HTML maps or figures")
    _add_estimator(compare)
    compare.set_defaults(func=_cmd_compare)

    mapper = sub.add_parser("map", help="interactive HTML map from your boundaries and a score table",
                            description="Join a tidy score table (district_id, variable, estimate[, se, ci_low, "
                                        "ci_high, n, suppressed]) onto district boundaries and write one HTML "
                                        "map with a switchable layer per variable.")
    mapper.add_argument("boundaries", help="shapefile (.shp, folder or .zip), GeoPackage or GeoJSON")
    mapper.add_argument("scores", help="score table (CSV/XLSX), e.g. tables/district_estimates.csv of one city")
    mapper.add_argument("--id-column", required=True, help="district id column in the boundary file")
    mapper.add_argument("--name-column", default=None, help="district name column in the boundary file")
    mapper.add_argument("--layer", default=None, help="layer of a GeoPackage")
    mapper.add_argument("--crs", default=None, help="CRS when the file has none (e.g. EPSG:25832)")
    mapper.add_argument("--city", default=None, help="city to map when the score table has a 'city' column")
    mapper.add_argument("--scores-id-column", default="district_id", help="district column of the score table")
    mapper.add_argument("--structural", default=None, help="table of structural indicators per district")
    mapper.add_argument("--structural-id-column", default="district_id", help="district column of --structural")
    mapper.add_argument("--out", required=True, help="output HTML file")
    mapper.add_argument("--allow-missing", action="store_true", help="show unmatched districts as 'keine Daten'")
    mapper.add_argument("--scheme", default="quantiles",
                        choices=SCHEMES, help="classification")
    mapper.add_argument("--k", type=int, default=5, help="number of classes (default 5)")
    mapper.add_argument("--breaks", default=None, help="upper class bounds for --scheme user, e.g. 55,60,65,100")
    mapper.add_argument("--title", default=None, help="map title")
    mapper.add_argument("--source", default=None, help="data source shown on the map")
    mapper.add_argument("--note", action="append", help="note shown on the map (repeatable)")
    mapper.add_argument("--min-n", type=int, default=30, help="suppress estimates with n below this (default 30)")
    mapper.add_argument("--offline", action="store_true", help="inline Leaflet so the map works without internet")
    mapper.set_defaults(func=_cmd_map)
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
        print(f"geo-cohesion: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except OSError as exc:  # a file that cannot be read or written, a full disk: fixable by the user
        if args.debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"geo-cohesion: error: {_one_line(where + (exc.strerror or str(exc)))} – check the path, its "
              "permissions and the free disk space (--debug shows details)", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        print("geo-cohesion: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
