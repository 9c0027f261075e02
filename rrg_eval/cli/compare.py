"""``rrg-eval compare``: a leaderboard of several systems (``rrg_eval.compare``) with the metric options of
``score`` (one definition, :mod:`.options`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError
from ..render import COMPARE_FORMATS
from .options import add_metric_options, api_options, dry_run_note
from .progress import add_quiet_argument, progress_from_args
from .saved_runs import add_compare_arguments, compare_from_runs
from .suites import add_suite_argument, suite_options, take_suite_header, with_suite


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="leaderboard of several systems with CIs and paired significance tests",
                       description="Compare systems on the same references: every metric with a 95% bootstrap "
                                   "CI, a paired test of each system against the first (the baseline), ranks "
                                   "and a mean rank. See docs/compare.md.")
    p.add_argument("systems", nargs="*", metavar="SYSTEM",
                   help="predictions files (name from the file stem) or NAME=PATH; the first is the baseline")
    p.add_argument("--refs", metavar="REFS", help="references file (required unless --runs)")
    p.add_argument("--test", default="bootstrap", choices=["bootstrap", "ar"],
                   help="paired test: bootstrap (paired bootstrap) or ar (approximate randomization)")
    p.add_argument("--resamples", type=int, metavar="N",
                   help="bootstrap resamples or AR trials (default: 1000 for bootstrap, 10000 for ar)")
    p.add_argument("--ci-resamples", type=int, metavar="N",
                   help="bootstrap resamples for the CIs (default: --resamples for bootstrap, 1000 for ar)")
    p.add_argument("--seed", type=int, default=12345, help="seed of the resampling (default: 12345)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the marks (default: 0.05)")
    p.add_argument("--format", default="table", choices=list(COMPARE_FORMATS), help="output format (default: table)")
    p.add_argument("--plot", metavar="FILE.png|FILE.svg", help="draw one panel per metric with CIs")
    p.add_argument("--out", metavar="FILE", help="write the rendered output to FILE instead of stdout")
    p.add_argument("--sections", metavar="FIELD,FIELD",
                   help="compare these text fields as separate blocks, e.g. findings,impression")
    add_metric_options(p)
    add_suite_argument(p)
    add_compare_arguments(p)
    add_quiet_argument(p)


def _systems(specs: list[str]) -> dict[str, str]:
    """``NAME=PATH`` or ``PATH`` (name from the file stem); names must be unique."""
    systems: dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or Path(spec).exists():
            name, path = Path(spec).stem, spec
        if name in systems:
            raise ConfigError(f'two systems are named "{name}"; name them explicitly with NAME=PATH')
        systems[name] = path
    return systems


def run(args: argparse.Namespace) -> int:
    # the API is imported when a command runs, so that --help and --version stay instant
    from ..api import plan_judges
    from ..judge.dryrun import render_plan
    from ..leaderboard import compare as compare_api
    from ..leaderboard.plot import PLOT_FORMATS, plot_leaderboard
    from ..leaderboard.render import render_leaderboard
    from ..outputs import Need, check_outputs, write_all
    from .writing import report_unwritten, terminal_width

    if not args.runs and (not args.refs or not args.systems):
        raise ConfigError("compare needs --refs REFS and prediction files, or --runs RUN RUN ...")
    systems = _systems(args.systems)
    options = api_options(args)
    if args.dry_run and not args.runs:  # every system's requests, as score --dry-run shows one system's
        planned = False
        for name, path in systems.items():
            for plan in plan_judges(predictions=path, references=args.refs, **options):
                sys.stdout.write(f"system {name}:\n{render_plan(plan)}")
                planned = True
        if not planned:
            sys.stdout.write(dry_run_note(args.metrics is not None))
        return 0
    plot_fmt = None
    if args.plot:
        plot_fmt = Path(args.plot).suffix.lower().lstrip(".")
        if plot_fmt not in PLOT_FORMATS:
            raise ConfigError(f"--plot {args.plot}: the file must end in .png or .svg")
    extra = "pip install 'rrg-eval[compare]'"
    check_outputs({"--out": args.out, "--plot": args.plot},
                  {**{f"system {n}": p for n, p in systems.items()}, "--refs": args.refs, "--config": args.config,
                   **{f"run {r}": r for r in (args.runs or [])}},
                  needs={"--plot": [Need("matplotlib", extra)] if args.plot else [],
                         "--format table": [Need("rich", extra)] if args.format == "table" else []})
    sections = [s.strip() for s in args.sections.split(",") if s.strip()] if args.sections else None
    suite = args.suite if args.suite and not args.runs else None
    if suite:  # rrg_eval.compare(suite=...) builds the suite's metrics with their exact options
        options = suite_options(options)
    if args.runs:
        board = compare_from_runs(args)
    else:
        with progress_from_args(args) as progress:  # on stderr: bars on a terminal, lines in logs, none with -q
            board = compare_api(systems=systems, references=args.refs, test=args.test, resamples=args.resamples,
                                ci_resamples=args.ci_resamples, seed=args.seed, alpha=args.alpha,
                                sections=sections, strict=args.strict, adjust=args.adjust,
                                cluster_field=args.cluster_field, suite=suite, progress=progress or False,
                                **options)
    suite_header = take_suite_header(board, suite) if suite else ""
    text = render_leaderboard(board, args.format, width=None if args.out else terminal_width())
    if suite_header:
        text = with_suite(text, args.format, suite, suite_header)
    failed: list[str] = []
    if args.plot:
        try:
            failed += write_all([(args.plot, plot_leaderboard(board, plot_fmt))])
        except ConfigError as exc:  # e.g. nothing to plot: the table is still written
            failed.append(f"{args.plot}: {exc}")
    unwritten = write_all([(args.out, text)]) if args.out else []
    if not args.out or unwritten:
        sys.stdout.write(text)  # a failed --out still shows the results
    for name, message in board.errors.items():
        print(f"rrg-eval: error: metric {name} failed: {message}", file=sys.stderr)
    return report_unwritten(failed + unwritten) or (1 if board.errors else 0)
