"""``rrg-eval score``: one system's predictions against references (``rrg_eval.score``), optionally with CIs."""

from __future__ import annotations

import argparse
import sys

from ..render import FORMATS
from .options import add_metric_options, api_options, dry_run_note
from .progress import add_quiet_argument, progress_from_args
from .saved_runs import add_save_run_arguments, check_save_run_args, save_run_from_args
from .suites import add_suite_argument, render_score


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score one system's predictions against references",
                       description="Score predictions against references, paired by id.")
    p.add_argument("predictions", help="predictions file (.jsonl, .json, .csv, .tsv, .parquet)")
    p.add_argument("references", help="references file (same formats)")
    p.add_argument("--format", default="table", choices=list(FORMATS), help="output format (default: table)")
    p.add_argument("--per-report", metavar="OUT.jsonl", help="write one JSON line per id with every per-report score")
    p.add_argument("--out", metavar="RESULTS.json", help="write the JSON result to this file")
    p.add_argument("--ci", nargs="?", type=float, const=0.95, metavar="LEVEL",
                   help="each key's percentile bootstrap interval (LEVEL default 0.95), as compare gives it")
    p.add_argument("--resamples", type=int, default=1000, metavar="N",
                   help="bootstrap resamples of --ci (default: 1000)")
    p.add_argument("--seed", type=int, default=12345, help="seed of the --ci resampling (default: 12345)")
    add_metric_options(p)
    add_suite_argument(p)
    add_save_run_arguments(p)
    add_quiet_argument(p)


def run(args: argparse.Namespace) -> int:
    # the API is imported when a command runs, so that --help and --version stay instant
    from ..api import plan_judges
    from ..api import score as score_api
    from ..judge.dryrun import render_plan
    from ..outputs import check_outputs, write_all
    from .writing import per_report_text, report_unwritten, terminal_width

    # every output is checked before any work: same file as an input, a folder, an unwritable place
    check_outputs({"--out": args.out, "--per-report": args.per_report},
                  {"predictions": args.predictions, "references": args.references, "--config": args.config})
    check_save_run_args(args)
    options = api_options(args)
    if args.dry_run:
        plans = plan_judges(predictions=args.predictions, references=args.references, **options)
        if not plans:
            sys.stdout.write(dry_run_note(args.metrics is not None))
        for plan in plans:
            sys.stdout.write(render_plan(plan))
        return 0
    with progress_from_args(args) as progress:  # on stderr: bars on a terminal, lines in logs, none with -q
        result = score_api(predictions=args.predictions, references=args.references, strict=args.strict,
                           ci=args.ci, resamples=args.resamples, seed=args.seed, suite=args.suite,
                           progress=progress or False, **options)
    writes: list[tuple[str, str]] = []
    if args.out:
        writes.append((args.out, result.to_json() + "\n"))
    if args.per_report:
        writes.append((args.per_report, per_report_text(result)))
    failed = write_all(writes)  # a failed write is reported after the results are printed
    save_run_from_args(args, result)
    sys.stdout.write(render_score(result, args.format, terminal_width()))
    for name, message in result.errors.items():
        print(f"rrg-eval: error: metric {name} failed: {message}", file=sys.stderr)
    return report_unwritten(failed) or (1 if result.errors else 0)
