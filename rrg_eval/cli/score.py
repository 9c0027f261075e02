"""``rrg-eval score``: one system's predictions against references (``rrg_eval.score``), optionally with CIs."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from ..render import FORMATS
from .options import add_metric_options, api_options, dry_run_note
from .saved_runs import add_save_run_arguments, check_save_run_args, save_run_from_args

if TYPE_CHECKING:
    from ..result import Result


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
    add_save_run_arguments(p)


def _write_per_report(path: str, result: Result) -> None:
    from ..atomic import write_text_atomic

    lines = [json.dumps(r, ensure_ascii=False) for r in result.per_report_records()]
    write_text_atomic(path, "".join(line + "\n" for line in lines))


def run(args: argparse.Namespace) -> int:
    # the API is imported when a command runs, so that --help and --version stay instant
    from ..api import plan_judges
    from ..api import score as score_api
    from ..atomic import write_text_atomic
    from ..judge.dryrun import render_plan
    from ..render import render_result

    check_save_run_args(args)
    options = api_options(args)
    if args.dry_run:
        plans = plan_judges(predictions=args.predictions, references=args.references, **options)
        if not plans:
            sys.stdout.write(dry_run_note(args.metrics is not None))
        for plan in plans:
            sys.stdout.write(render_plan(plan))
        return 0
    result = score_api(predictions=args.predictions, references=args.references, strict=args.strict,
                       ci=args.ci, resamples=args.resamples, seed=args.seed, **options)
    if args.out:
        write_text_atomic(args.out, result.to_json() + "\n")
    if args.per_report:
        _write_per_report(args.per_report, result)
    save_run_from_args(args, result)
    sys.stdout.write(render_result(result, args.format))
    for name, message in result.errors.items():
        print(f"rrg-eval: error: metric {name} failed: {message}", file=sys.stderr)
    return 1 if result.errors else 0
