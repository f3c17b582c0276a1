"""Command line: a thin layer over the Python API.

Every user-fixable problem ends with one readable message on stderr and exit code 2; a
traceback is shown only with ``--debug``.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from geo_cohesion import __version__
from geo_cohesion.errors import InputError
from geo_cohesion.labels import DEFAULT_LANG
from geo_cohesion.settings import ADJUSTMENTS, CONTIGUITIES, SCHEMES

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
    from geo_cohesion.settings import ProjectConfig, check_value

    if args.seed is not None:
        check_value(ProjectConfig, "seed", args.seed, "--seed")
    out = _check_out(Path(args.out))
    inputs = Path(args.inputs) if args.inputs else out / "demo_inputs"
    from geo_cohesion.project import progress

    progress.expect(1)
    with progress.step("writing the synthetic demo inputs"):
        project_file = write_demo_inputs(inputs, seed=args.seed)
    project = _with_estimator(load_project(project_file), args.estimator)
    results = run_project(project, out, lang=args.lang)
    _summary(results, out, project.estimates.level, reports=True)
    return 0


def _with_estimator(project, estimator: str | None):
    """``--estimator``, validated like the project file's ``estimates.estimator``."""
    from geo_cohesion.settings import override

    if estimator is None:
        return project
    return override(project, {"estimates": {"estimator": estimator}}, {"estimates.estimator": "--estimator"})


def _run_project_file(config: str, out: str, maps: bool = True, reports: bool = True,
                      estimator: str | None = None, lang: str = DEFAULT_LANG, **compare_overrides) -> int:
    """Run a project file; ``compare_overrides`` (``alpha=...``; None = as in the file) are validated like the file."""
    from geo_cohesion.project.config import load_project
    from geo_cohesion.project.run import run_project
    from geo_cohesion.settings import override

    project = load_project(config)
    project = _with_estimator(project, estimator)
    updates = {key: value for key, value in compare_overrides.items() if value is not None}
    if updates:
        project = override(project, {"compare": updates}, {f"compare.{key}": f"--{key}" for key in updates})
    results = run_project(project, _check_out(Path(out)), maps=maps, reports=reports, lang=lang)
    _summary(results, Path(out), project.estimates.level, reports=reports)
    from geo_cohesion.project.check import encoding_notes

    for note in encoding_notes(project):
        print(f"  note: {note}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    return _run_project_file(args.config, args.out, estimator=args.estimator, lang=args.lang)


def _load_with_overrides(config: str, estimator: str | None = None, **compare_overrides):
    """The project as ``compare``/``report`` would compute it (command-line overrides validated like the file)."""
    from geo_cohesion.project.config import load_project
    from geo_cohesion.settings import override

    project = _with_estimator(load_project(config), estimator)
    updates = {key: value for key, value in compare_overrides.items() if value is not None}
    if updates:
        project = override(project, {"compare": updates}, {f"compare.{key}": f"--{key}" for key in updates})
    return project


def _cmd_compare(args: argparse.Namespace) -> int:
    overrides = dict(alpha=args.alpha, adjust=args.adjust, contiguity=args.contiguity, permutations=args.permutations)
    if args.recompute:
        print("recomputing the project for the comparison (--recompute)", file=sys.stderr)
        return _run_project_file(args.config, args.out, maps=not args.no_maps, reports=False,
                                 estimator=args.estimator, lang=args.lang, **overrides)
    from geo_cohesion.project.reuse import comparison_summary, fresh_run

    project = _load_with_overrides(args.config, args.estimator, **overrides)
    out = _check_out(Path(args.out))
    fresh_run(project, out, args.lang, args.config, "compare")
    for line in comparison_summary(project, out):
        print(line)
    print(f"comparison tables in {out / 'tables'} (comparison_*, spatial_*, lisa_*, association_*; "
          "from the run, nothing recomputed)")
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    from geo_cohesion.project.scaffold import write_project_file

    path = write_project_file(args.folder, args.output, overwrite=args.force)
    todos = sum("TODO" in line for line in path.read_text(encoding="utf-8").splitlines())
    print(f"project file written to {path} ({todos} lines marked TODO: check them, then run "
          f"'geo-cohesion check {path}')")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from geo_cohesion.project.check import check_project, encoding_notes
    from geo_cohesion.project.config import load_project

    project = load_project(args.config)
    for report in check_project(project):
        print(report.summary())
    for note in encoding_notes(project):
        print(f"  note: {note}")
    print(f"{args.config}: all inputs are valid; 'geo-cohesion run {args.config}' will compute the results")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    if args.recompute:
        print("recomputing the project for the reports (--recompute)", file=sys.stderr)
        return _run_project_file(args.config, args.out, maps=False, reports=True, lang=args.lang)
    from geo_cohesion.project.reuse import fresh_run

    project = _load_with_overrides(args.config)
    out = _check_out(Path(args.out))
    manifest = fresh_run(project, out, args.lang, args.config, "report")
    files = manifest.get("files", [])
    for city in project.cities:
        profiles = [f for f in files if f.startswith(f"report/profiles/{city.slug}/") and f.endswith(".pdf")]
        print(f"{city.name}: {out / 'report' / city.slug}.html/.pdf, {len(profiles)} district profiles in "
              f"{out / 'report' / 'profiles' / city.slug}")
    print(f"reports in {out / 'report'} (from the run, nothing recomputed)")
    return 0


def _cmd_map(args: argparse.Namespace) -> int:
    from geo_cohesion.io.boundaries import read_boundaries
    from geo_cohesion.io.tables import read_table
    from geo_cohesion.maps.html import write_html_map
    from geo_cohesion.maps.layers import add_rank_intervals, build_city_map
    from geo_cohesion.settings import EstimateSpec, MapSpec, validate_section
    from geo_cohesion.survey.estimates import estimates_from_table

    breaks = [b.strip() for b in args.breaks.split(",")] if args.breaks else None
    basemap = ({"url": args.basemap, "attribution": args.basemap_attribution or "",
                "wms_layers": args.basemap_wms_layers} if args.basemap else None)
    settings = validate_section(MapSpec, {"scheme": args.scheme, "k": args.k, "breaks": breaks, "basemap": basemap},
                                {"scheme": "--scheme", "k": "--k", "breaks": "--breaks", "basemap": "--basemap",
                                 "basemap.url": "--basemap",
                                 "basemap.attribution": "--basemap-attribution",
                                 "basemap.wms_layers": "--basemap-wms-layers"})
    min_n = validate_section(EstimateSpec, {"min_n": args.min_n}, {"min_n": "--min-n"}).min_n
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
    estimates = estimates_from_table(scores, args.scores_id_column, min_n=min_n)
    if "estimator" in scores.columns:  # e.g. tables/district_estimates.csv: tooltips name the estimator
        estimates["estimator"] = [e.strip() if isinstance(e, str) else None for e in scores["estimator"]]
    structural = None
    if args.structural:
        structural = read_table(args.structural, text_columns=[args.structural_id_column])
    city_map = build_city_map(args.city or args.title or Path(args.boundaries).stem, boundaries, estimates, structural,
                              args.structural_id_column, allow_missing=args.allow_missing, scheme=settings.scheme,
                              k=settings.k, breaks=settings.breaks, title=args.title or "", notes=args.note or [],
                              source=args.source or "", min_n=min_n)
    if {"rank", "rank_low", "rank_high"} <= set(scores.columns):  # e.g. district_estimates.csv: the run's ranks
        add_rank_intervals(city_map, scores, id_column=args.scores_id_column, basis="published")
    path = write_html_map(city_map, args.out, offline=not args.cdn, basemap=settings.basemap)
    print(f"map written to {path} ({len(city_map.layers)} layers, {len(boundaries)} districts)")
    for message in city_map.messages:
        print(f"  note: {message}")
    return 0


def _summary(results, out: Path, level: float = 0.95, reports: bool = False) -> None:
    from geo_cohesion.project import progress

    progress.done()  # the bar (stderr) is gone before the summary (stdout)
    for res in results:
        est = res.city_estimates
        line = f"{res.city.name}: {len(res.district_estimates['district_id'].unique())} districts"
        if est is not None:
            index = est.loc[est["variable"] == "index"].iloc[0]
            line += (f", index {index['estimate']:.2f} ({level * 100:g}% CI {index['ci_low']:.2f}–"
                     f"{index['ci_high']:.2f}, n={index['n']})")
        if res.city.note:
            line += f" [{res.city.note}]"
        print(line)
        districts = res.district_estimates[res.district_estimates["variable"] == "index"]
        hidden = int(districts["suppressed"].astype(bool).sum()) if "suppressed" in districts else 0
        if hidden:
            print(f"  note: {hidden} of {len(districts)} districts have no published index estimate "
                  "(below the reliability rule; see the 'suppressed' and 'note' columns)")
        for warning in str(res.diagnostics.get("warnings") or "").split("; "):
            if warning:
                print(f"  warning: {warning}")
        for note in res.indicators.notes if getattr(res, "indicators", None) is not None else ():
            print(f"  note: {note}")
    print(f"tables written to {out / 'tables'}")
    if reports:
        print(f"reports written to {out / 'report'} (city reports and district profiles, HTML and PDF)")


def _add_estimator(parser: argparse.ArgumentParser) -> None:
    from geo_cohesion.settings import ESTIMATORS

    parser.add_argument("--estimator", choices=ESTIMATORS, default=None,
                        help="district estimator (default: the project's estimates.estimator, fay_herriot); "
                             "see README 'Small-area estimation'")


def _add_lang(parser: argparse.ArgumentParser,
              help_text: str = "language of labels and notes on maps, figures and tables (default: de, German); "
                               "the city reports and district profiles are always German") -> None:
    from geo_cohesion.labels import LANGUAGES

    parser.add_argument("--lang", choices=LANGUAGES, default=DEFAULT_LANG, help=help_text)


def _add_verbosity(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quiet", "-q", action="store_const", const=0, dest="verbosity",
                       help="print only errors and the final summary")
    group.add_argument("--verbose", "-v", action="store_const", const=2, dest="verbosity",
                       help="print every step with its duration (on stderr)")


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
    demo.add_argument("--seed", type=int, default=None,
                      help="random seed of the synthetic data, 0 <= seed < 2**32 (default: from the assumptions file)")
    demo.add_argument("--inputs", default=None, help="folder for the generated inputs (default: OUT/demo_inputs)")
    _add_estimator(demo)
    _add_lang(demo)
    _add_verbosity(demo)
    demo.set_defaults(func=_cmd_demo)

    run = sub.add_parser("run", help="run a project configuration (your own cities)",
                         description="Run every city of a project YAML file (see README: 'Your own city').")
    run.add_argument("config", help="project configuration (YAML)")
    run.add_argument("--out", default="maps", help="output folder (default: maps/)")
    _add_estimator(run)
    _add_lang(run)
    _add_verbosity(run)
    run.set_defaults(func=_cmd_run)

    init = sub.add_parser("init", help="write a starting project file for the input files in a folder",
                          description="Inspect the survey, population, structural and boundary files in FOLDER "
                                      "and write a commented project file with everything that could be "
                                      "inferred; every value to check is marked TODO.")
    init.add_argument("folder", help="folder with your input files")
    init.add_argument("--output", default=None, help="project file to write (default: FOLDER/project.yaml)")
    init.add_argument("--force", action="store_true", help="replace an existing project file")
    init.set_defaults(func=_cmd_init)

    check = sub.add_parser("check", help="validate a project's files and settings without computing",
                           description="Read and validate every input file of the project, match district keys "
                                       "across files and rake the survey, with the same messages as 'run'.")
    check.add_argument("config", help="project configuration (YAML)")
    _add_verbosity(check)
    check.set_defaults(func=_cmd_check)

    report = sub.add_parser("report", help="city reports and district profiles (HTML and PDF) of a project",
                            description="List the city reports (OUT/report/<city>.html/.pdf) and district profiles "
                                        "(OUT/report/profiles/<city>/<id>.html/.pdf) that 'run' wrote into OUT, "
                                        "after checking that they were computed from this project file and its "
                                        "current input files (otherwise: an error saying what changed). With "
                                        "--recompute: compute the project and write tables, exports and reports "
                                        "(no interactive maps or figures).")
    report.add_argument("config", help="project configuration (YAML)")
    report.add_argument("--out", default="maps", help="output folder of the run (default: maps/)")
    report.add_argument("--recompute", action="store_true",
                        help="compute the project again and write tables, exports and reports, instead of "
                             "reusing the results of 'run' in OUT")
    _add_lang(report, "language of the run to reuse (default: de); the reports themselves are always German")
    _add_verbosity(report)
    report.set_defaults(func=_cmd_report)

    compare = sub.add_parser("compare", help="compare districts within each city and run spatial statistics",
                             description="Summarise the within-city comparison (deviations with tests, rank "
                                         "intervals, spread, variance shares, structural association) and spatial "
                                         "statistics (Moran's I, LISA) that 'run' wrote into OUT, after checking "
                                         "that they were computed from this project file, these settings and the "
                                         "current input files (otherwise: an error saying what changed). With "
                                         "--recompute: compute them again and write them next to the estimate "
                                         "tables.")
    compare.add_argument("config", help="project configuration (YAML)")
    compare.add_argument("--out", default="maps", help="output folder of the run (default: maps/)")
    compare.add_argument("--alpha", type=float, default=None, help="significance level (default 0.05)")
    compare.add_argument("--adjust", choices=ADJUSTMENTS, default=None,
                         help="multiple-testing control across districts (default holm)")
    compare.add_argument("--contiguity", choices=CONTIGUITIES, default=None, help="spatial weights (default queen)")
    compare.add_argument("--permutations", type=int, default=None,
                         help="permutations of Moran's I and LISA (at least 99; default 999)")
    compare.add_argument("--no-maps", action="store_true",
                         help="with --recompute: write tables only, no HTML maps or figures")
    compare.add_argument("--recompute", action="store_true",
                         help="compute the comparison again (needed for settings other than the run's), instead of "
                              "reusing the results of 'run' in OUT")
    _add_estimator(compare)
    _add_lang(compare)
    _add_verbosity(compare)
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
    mapper.add_argument("--offline", action="store_true",
                        help="self-contained map, Leaflet inlined (the default; kept for old scripts)")
    mapper.add_argument("--basemap", default=None, metavar="TILE_URL",
                        help="base map tiles under the districts, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png "
                             "(off by default: the map then needs no network)")
    mapper.add_argument("--basemap-attribution", default=None, metavar="TEXT",
                        help="attribution the tile provider requires, e.g. '© OpenStreetMap contributors'")
    mapper.add_argument("--basemap-wms-layers", default=None, metavar="LAYERS",
                        help="with --basemap a WMS address: its layer name(s), comma-separated, e.g. "
                             "--basemap https://sgx.geodatenzentrum.de/wms_basemapde "
                             "--basemap-wms-layers de_basemapde_web_raster_grau")
    mapper.add_argument("--cdn", action="store_true",
                        help="load Leaflet from a CDN instead of inlining it (smaller file, needs internet)")
    mapper.set_defaults(func=_cmd_map)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``geo-cohesion`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    from geo_cohesion.project.progress import NORMAL, reporting

    verbosity = getattr(args, "verbosity", None)
    try:
        with reporting(NORMAL if verbosity is None else verbosity):  # progress on stderr; ends before any message
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
