"""``rrg-eval models``: list, download, verify or synthesise the model files metrics need (``model_admin``)."""

from __future__ import annotations

import argparse
import os
import sys

from ..render import CATALOG_FORMATS
from .progress import add_quiet_argument, make_progress


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list, download, verify or synthesise the model files metrics need",
                       description="Model files of the model-based metrics: where they are found, fetching "
                                   "them for an air-gapped machine, checking them, and synthetic checkpoints.")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    for action, text in (("list", "what each metric needs, where it was found, size and sha256"),
                         ("verify", "check that every file is present and loadable, with its sha256")):
        a = msub.add_parser(action, help=text, description=text)
        a.add_argument("--metrics", help="comma-separated metric names (default: every registered metric)")
        a.add_argument("--format", default="table", choices=list(CATALOG_FORMATS))
    d = msub.add_parser("download", help="fetch every needed file from the Hugging Face hub",
                        description="Fetch every needed file, into DIR laid out as $RRG_EVAL_MODEL_DIR (or into "
                                    "the hub cache without --to).")
    d.add_argument("--to", metavar="DIR", help="target folder, usable as $RRG_EVAL_MODEL_DIR")
    d.add_argument("--metrics", help="comma-separated metric names (default: every registered metric)")
    d.add_argument("--format", default="table", choices=list(CATALOG_FORMATS))
    add_quiet_argument(d)
    s = msub.add_parser("synth", help="write synthetic checkpoints (seeded random weights) for offline tests",
                        description="Write synthetic checkpoints in the official formats into OUT_DIR, laid out "
                                    "as $RRG_EVAL_MODEL_DIR.")
    s.add_argument("kind", help="bertscore, chexbert, radgraph or ratescore")
    s.add_argument("out_dir", help="output folder (use it as $RRG_EVAL_MODEL_DIR)")
    s.add_argument("--size", default="tiny", choices=["tiny", "base"], help="tiny (tests) or base (real sizes)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def run(args: argparse.Namespace) -> int:
    from .. import model_admin
    from ..option_sources import select_metrics

    selected = select_metrics(args.metrics)[0] if getattr(args, "metrics", None) else None
    if args.models_command == "list":
        sys.stdout.write(model_admin.render_weights(model_admin.list_weights(selected), args.format))
        return 0
    if args.models_command == "download":
        # a line per file; the hub's byte bars only on a terminal (in a log they run lines together)
        if args.quiet or not sys.stderr.isatty():
            os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        progress = make_progress(sys.stderr, quiet=args.quiet, terminal=False)
        fetched = model_admin.download(args.to, selected, progress=progress)
        sys.stdout.write(model_admin.render_weights(fetched, args.format))
        return 0
    if args.models_command == "verify":
        results = model_admin.verify(selected)
        sys.stdout.write(model_admin.render_verify(results, args.format))
        return 0 if all(r.ok for r in results) else 1
    root = model_admin.synth(args.kind, args.out_dir, size=args.size, seed=args.seed)
    print(f"wrote synthetic {args.kind} ({args.size}, seed {args.seed}) to {root}; use it as RRG_EVAL_MODEL_DIR={root}")
    return 0
