"""The ``rrg-eval`` command line. The only module that prints.

Exit codes: 0 ok, 2 bad input or usage, 1 a metric failed (the other metrics' numbers are still printed and
written).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .errors import RrgEvalError
from .version import __version__


def _add_score_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score one system's predictions against references",
                       description="Score predictions against references, paired by id.")
    p.add_argument("predictions", help="predictions file (.jsonl, .json, .csv, .tsv, .parquet)")
    p.add_argument("references", help="references file (same formats)")
    p.add_argument("--metrics", help="comma-separated metric names (default: every metric that can run here)")
    p.add_argument("--format", default="table", choices=["table", "json", "markdown", "csv", "latex"],
                   help="output format (default: table)")
    p.add_argument("--per-report", metavar="OUT.jsonl", help="write one JSON line per id with every per-report score")
    p.add_argument("--out", metavar="RESULTS.json", help="write the JSON result to this file")
    p.add_argument("--id-field", default="id", help="name of the id field (default: id)")
    p.add_argument("--text-field", default="report", help="name of the text field (default: report)")
    p.add_argument("--set", dest="set_options", action="append", default=[], metavar="METRIC.FIELD=VALUE",
                   help="override a metric option, e.g. --set rouge.use_stemmer=false (repeatable)")
    p.add_argument("--config", metavar="FILE.yaml", help="YAML file of {metric: {field: value}} options")
    p.add_argument("--normalize", choices=["none", "lower", "r2gen", "r2gen_mimic"],
                   help="text normalisation for the lexical metrics (default: none)")
    cache = p.add_mutually_exclusive_group()
    cache.add_argument("--cache-dir", metavar="DIR", help="annotation cache folder (default: ~/.cache/rrg-eval)")
    cache.add_argument("--no-cache", action="store_true", help="do not read or write the annotation cache")
    p.add_argument("--strict", action="store_true", help="a metric that cannot run here is an error")
    _add_judge_arguments(p)


# --- LLM judge options (chexprompt): --dry-run, --chexprompt-prompt, --allow-remote-judge -------------------
def _add_judge_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of the LLM-judge metrics on ``score``."""
    p.add_argument("--dry-run", action="store_true",
                   help="LLM judges: print the requests, estimated tokens and cost that would be sent, send nothing")
    p.add_argument("--chexprompt-prompt", choices=["rrg-eval", "official"],
                   help="shortcut for --set chexprompt.prompt=...")
    p.add_argument("--allow-remote-judge", action="store_true",
                   help="allow LLM judges to send report text to non-private hosts (as RRG_EVAL_ALLOW_REMOTE_JUDGE=1)")


def _apply_judge_flags(args: argparse.Namespace, set_options: dict) -> None:
    """Turn the judge shortcuts into ``--set`` options (an explicit --set wins)."""
    if args.chexprompt_prompt:
        set_options.setdefault("chexprompt", {}).setdefault("prompt", args.chexprompt_prompt)
    if args.allow_remote_judge:
        set_options.setdefault("chexprompt", {}).setdefault("allow_remote", "true")


def _run_dry_run(args: argparse.Namespace, set_options: dict, file_options: dict) -> int:
    """Print what the selected LLM judges would send; nothing is sent and nothing is scored.

    Availability is not required (a dry run sends nothing): a privacy refusal or a missing key is shown as a note.
    """
    from . import options as opts
    from .api import resolve_cache_dir
    from .inputs import pair, read_reports
    from .judge.dryrun import render_plan
    from .metrics.registry import metric_class

    names, explicit = opts.select_metrics(args.metrics)
    if not explicit:
        print("dry run: the default metric set sends nothing (LLM judges run only when named, e.g. "
              "--metrics chexprompt)")
        return 0
    opts.check_known(set_options)
    opts.check_known(file_options)
    merged = opts.merge({k: v for k, v in file_options.items() if k in names}, set_options)
    planners = [metric_class(n)(**merged.get(n, {})) for n in names if hasattr(metric_class(n), "plan_requests")]
    if not planners:
        print("dry run: no LLM-judge metric selected; nothing would be sent (name one, e.g. --metrics chexprompt)")
        return 0
    preds = read_reports(args.predictions, id_field=args.id_field, text_field=args.text_field)
    refs = read_reports(args.references, id_field=args.id_field, text_field=args.text_field)
    pairs = pair(preds, refs)
    cache_dir = resolve_cache_dir(args.cache_dir, not args.no_cache)
    for metric in planners:
        plan = metric.plan_requests(predictions=pairs.predictions, references=pairs.references, cache_dir=cache_dir)
        sys.stdout.write(render_plan(plan))
    return 0
# --- end of LLM judge options -----------------------------------------------------------------------------


def _add_metrics_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("metrics", help="list the registered metrics",
                       description="List every metric: what it measures, the extra it needs, whether it can "
                                   "run here, and its default config.")
    p.add_argument("--format", default="table", choices=["table", "json"])


# -- compare (leaderboards) ------------------------------------------------------------------------------------

def _add_compare_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="leaderboard of several systems with CIs and paired significance tests",
                       description="Compare systems on the same references: every metric with a 95% bootstrap "
                                   "CI, a paired test of each system against the first (the baseline), ranks "
                                   "and a mean rank. See docs/compare.md.")
    p.add_argument("systems", nargs="+", metavar="SYSTEM",
                   help="predictions files (name from the file stem) or NAME=PATH; the first is the baseline")
    p.add_argument("--refs", required=True, metavar="REFS", help="references file")
    p.add_argument("--metrics", help="comma-separated metric names (default: every metric that can run here)")
    p.add_argument("--test", default="bootstrap", choices=["bootstrap", "ar"],
                   help="paired test: bootstrap (paired bootstrap) or ar (approximate randomization)")
    p.add_argument("--resamples", type=int, metavar="N",
                   help="bootstrap resamples or AR trials (default: 1000 for bootstrap, 10000 for ar)")
    p.add_argument("--ci-resamples", type=int, metavar="N",
                   help="bootstrap resamples for the CIs (default: --resamples for bootstrap, 1000 for ar)")
    p.add_argument("--seed", type=int, default=12345, help="seed of the resampling (default: 12345)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the marks (default: 0.05)")
    p.add_argument("--format", default="table", choices=["table", "markdown", "latex", "csv", "json", "html"],
                   help="output format (default: table)")
    p.add_argument("--plot", metavar="FILE.png|FILE.svg", help="draw one panel per metric with CIs")
    p.add_argument("--out", metavar="FILE", help="write the rendered output to FILE instead of stdout")
    p.add_argument("--sections", metavar="FIELD,FIELD",
                   help="compare these text fields as separate blocks, e.g. findings,impression")
    p.add_argument("--id-field", default="id", help="name of the id field (default: id)")
    p.add_argument("--text-field", default="report", help="name of the text field (default: report)")
    p.add_argument("--set", dest="set_options", action="append", default=[], metavar="METRIC.FIELD=VALUE",
                   help="override a metric option, e.g. --set rouge.use_stemmer=false (repeatable)")
    p.add_argument("--config", metavar="FILE.yaml", help="YAML file of {metric: {field: value}} options")
    p.add_argument("--normalize", choices=["none", "lower", "r2gen", "r2gen_mimic"],
                   help="text normalisation for the lexical metrics (default: none)")
    cache = p.add_mutually_exclusive_group()
    cache.add_argument("--cache-dir", metavar="DIR", help="annotation cache folder (default: ~/.cache/rrg-eval)")
    cache.add_argument("--no-cache", action="store_true", help="do not read or write the annotation cache")
    p.add_argument("--strict", action="store_true", help="a metric that cannot run here is an error")


def _run_compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from . import options as opts
    from .atomic import write_text_atomic
    from .errors import ConfigError
    from .leaderboard import compare
    from .leaderboard.files import write_bytes_atomic

    systems: dict[str, str] = {}
    for spec in args.systems:
        name, sep, path = spec.partition("=")
        if not sep or not name or Path(spec).exists():
            name, path = Path(spec).stem, spec
        if name in systems:
            raise ConfigError(f'two systems are named "{name}"; name them explicitly with NAME=PATH')
        systems[name] = path
    plot_fmt = None
    if args.plot:
        plot_fmt = Path(args.plot).suffix.lower().lstrip(".")
        if plot_fmt not in ("png", "svg"):
            raise ConfigError(f"--plot {args.plot}: the file must end in .png or .svg")
    sections = [s.strip() for s in args.sections.split(",") if s.strip()] if args.sections else None
    config = opts.parse_set_flags(args.set_options)
    if args.normalize:
        config["normalize"] = args.normalize  # type: ignore[assignment]
    board = compare(systems=systems, references=args.refs, metrics=args.metrics, test=args.test,
                    resamples=args.resamples, ci_resamples=args.ci_resamples, seed=args.seed, alpha=args.alpha,
                    sections=sections, strict=args.strict, cache_dir=args.cache_dir, use_cache=not args.no_cache,
                    id_field=args.id_field, text_field=args.text_field, config_file=args.config, **config)
    text = board.render(args.format)
    if args.plot:
        write_bytes_atomic(args.plot, board.plot(plot_fmt))
    if args.out:
        write_text_atomic(args.out, text)
    else:
        sys.stdout.write(text)
    for name, message in board.errors.items():
        print(f"rrg-eval: error: metric {name} failed: {message}", file=sys.stderr)
    return 1 if board.errors else 0

# -- end of compare --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rrg-eval",
                                     description="Evaluate radiology report generation: lexical, clinical and "
                                                 "LLM-judge metrics with reproducible signatures.")
    parser.add_argument("--version", action="version", version=f"rrg-eval {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_score_parser(sub)
    _add_metrics_parser(sub)
    _add_compare_parser(sub)
    return parser


def _write_per_report(path: str, result) -> None:  # type: ignore[no-untyped-def]
    from .atomic import write_text_atomic

    lines = [json.dumps(r, ensure_ascii=False) for r in result.per_report_records()]
    write_text_atomic(path, "".join(line + "\n" for line in lines))


def _run_score(args: argparse.Namespace) -> int:
    from . import options as opts
    from .api import build_metrics, resolve_cache_dir, score_pairs
    from .atomic import write_text_atomic
    from .inputs import pair, read_reports
    from .render import render_result

    set_options = opts.parse_set_flags(args.set_options)
    _apply_judge_flags(args, set_options)
    file_options = opts.load_config_file(args.config) if args.config else {}
    if args.dry_run:
        return _run_dry_run(args, set_options, file_options)
    global_options = {"normalize": args.normalize} if args.normalize else {}
    metrics, unavailable = build_metrics(args.metrics, strict=args.strict, options=set_options,
                                         global_options=global_options, file_options=file_options)
    preds = read_reports(args.predictions, id_field=args.id_field, text_field=args.text_field)
    refs = read_reports(args.references, id_field=args.id_field, text_field=args.text_field)
    pairs = pair(preds, refs)
    try:
        result = score_pairs(pairs, metrics, cache_dir=resolve_cache_dir(args.cache_dir, not args.no_cache),
                             unavailable=unavailable, explicit=args.metrics is not None)
    finally:
        for metric in metrics:
            metric.close()
    if args.out:
        write_text_atomic(args.out, result.to_json() + "\n")
    if args.per_report:
        _write_per_report(args.per_report, result)
    sys.stdout.write(render_result(result, args.format))
    for name, message in result.errors.items():
        print(f"rrg-eval: error: metric {name} failed: {message}", file=sys.stderr)
    return 1 if result.errors else 0


def _run_metrics(args: argparse.Namespace) -> int:
    from .catalog import catalog
    from .render import render_catalog

    sys.stdout.write(render_catalog(catalog(), args.format))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rrg-eval`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    handlers = {"score": _run_score, "metrics": _run_metrics, "compare": _run_compare}
    try:
        return handlers[args.command](args)
    except RrgEvalError as exc:
        print(f"rrg-eval: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # an unreadable input or an unwritable output path: one line, not a traceback
        where = exc.filename2 if exc.filename2 is not None else exc.filename
        print(f"rrg-eval: error: {where}: {exc.strerror or exc}" if where is not None else f"rrg-eval: error: {exc}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rrg-eval: interrupted", file=sys.stderr)
        return 130
