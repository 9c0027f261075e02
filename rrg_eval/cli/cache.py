"""``rrg-eval cache``: what each on-disk cache holds, and clearing one metric's entries (``cache_admin``)."""

from __future__ import annotations

import argparse
import sys

from .. import cache_admin
from ..api import resolve_cache_dir


def add_parser(sub: argparse._SubParsersAction) -> None:
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


def run(args: argparse.Namespace) -> int:
    folder = resolve_cache_dir(args.cache_dir, True)
    if args.cache_command == "info":
        sys.stdout.write(cache_admin.render_info(folder, cache_admin.cache_files(folder), args.format))
        return 0
    cleared = cache_admin.clear(folder, args.metric)
    sys.stdout.write(cache_admin.render_cleared(folder, args.metric, cleared))
    return 0
