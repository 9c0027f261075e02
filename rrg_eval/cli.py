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
    p.add_argument("--device", help="device for model metrics: auto (default), cpu, cuda, cuda:1")
    p.add_argument("--batch-size", type=int, metavar="N", help="batch size for model metrics")
    cache = p.add_mutually_exclusive_group()
    cache.add_argument("--cache-dir", metavar="DIR", help="annotation cache folder (default: ~/.cache/rrg-eval)")
    cache.add_argument("--no-cache", action="store_true", help="do not read or write the annotation cache")
    p.add_argument("--strict", action="store_true", help="a metric that cannot run here is an error")


def _add_metrics_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("metrics", help="list the registered metrics",
                       description="List every metric: what it measures, the extra it needs, whether it can "
                                   "run here, and its default config.")
    p.add_argument("--format", default="table", choices=["table", "json"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rrg-eval",
                                     description="Evaluate radiology report generation: lexical, clinical and "
                                                 "LLM-judge metrics with reproducible signatures.")
    parser.add_argument("--version", action="version", version=f"rrg-eval {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_score_parser(sub)
    _add_metrics_parser(sub)
    _add_models_parser(sub)
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
    file_options = opts.load_config_file(args.config) if args.config else {}
    global_options = {"normalize": args.normalize} if args.normalize else {}
    if args.device:
        global_options["device"] = args.device
    if args.batch_size is not None:
        global_options["batch_size"] = args.batch_size
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


# -- rrg-eval models: list / download / verify / synth (logic in rrg_eval.model_admin) -------------------------
def _add_models_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list, download, verify or synthesise the model files metrics need",
                       description="Model files of the model-based metrics: where they are found, fetching "
                                   "them for an air-gapped machine, checking them, and synthetic checkpoints.")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    for action, text in (("list", "what each metric needs, where it was found, size and sha256"),
                         ("verify", "check that every file is present and loadable, with its sha256")):
        a = msub.add_parser(action, help=text, description=text)
        a.add_argument("--metrics", help="comma-separated metric names (default: every registered metric)")
        a.add_argument("--format", default="table", choices=["table", "json"])
    d = msub.add_parser("download", help="fetch every needed file from the Hugging Face hub",
                        description="Fetch every needed file, into DIR laid out as $RRG_EVAL_MODEL_DIR (or into "
                                    "the hub cache without --to).")
    d.add_argument("--to", metavar="DIR", help="target folder, usable as $RRG_EVAL_MODEL_DIR")
    d.add_argument("--metrics", help="comma-separated metric names (default: every registered metric)")
    d.add_argument("--format", default="table", choices=["table", "json"])
    s = msub.add_parser("synth", help="write synthetic checkpoints (seeded random weights) for offline tests",
                        description="Write synthetic checkpoints in the official formats into OUT_DIR, laid out "
                                    "as $RRG_EVAL_MODEL_DIR.")
    s.add_argument("kind", help="bertscore, chexbert or radgraph")
    s.add_argument("out_dir", help="output folder (use it as $RRG_EVAL_MODEL_DIR)")
    s.add_argument("--size", default="tiny", choices=["tiny", "base"], help="tiny (tests) or base (real sizes)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def _run_models(args: argparse.Namespace) -> int:
    from . import model_admin
    from .options import select_metrics

    selected = select_metrics(args.metrics)[0] if getattr(args, "metrics", None) else None
    if args.models_command == "list":
        sys.stdout.write(model_admin.render_weights(model_admin.list_weights(selected), args.format))
        return 0
    if args.models_command == "download":
        sys.stdout.write(model_admin.render_weights(model_admin.download(args.to, selected), args.format))
        return 0
    if args.models_command == "verify":
        results = model_admin.verify(selected)
        sys.stdout.write(model_admin.render_verify(results, args.format))
        return 0 if all(r.ok for r in results) else 1
    root = model_admin.synth(args.kind, args.out_dir, size=args.size, seed=args.seed)
    print(f"wrote synthetic {args.kind} ({args.size}, seed {args.seed}) to {root}; use it as RRG_EVAL_MODEL_DIR={root}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rrg-eval`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    handlers = {"score": _run_score, "metrics": _run_metrics, "models": _run_models}
    try:
        return handlers[args.command](args)
    except RrgEvalError as exc:
        print(f"rrg-eval: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("rrg-eval: interrupted", file=sys.stderr)
        return 130
