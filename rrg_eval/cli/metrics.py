"""``rrg-eval metrics``: the registered metrics, whether they can run here, and their default configs."""

from __future__ import annotations

import argparse
import sys

from ..render import CATALOG_FORMATS, render_catalog


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("metrics", help="list the registered metrics",
                       description="List every metric: what it measures, the extra it needs, whether it can "
                                   "run here, and its default config.")
    p.add_argument("--format", default="table", choices=list(CATALOG_FORMATS))


def run(args: argparse.Namespace) -> int:
    from ..catalog import catalog

    sys.stdout.write(render_catalog(catalog(), args.format))
    return 0
