"""The ``rrg-eval`` command line: parse the arguments, call the API, print. The only package that prints.

One module per command group (:mod:`.score`, :mod:`.compare`, :mod:`.gate`, :mod:`.models`, :mod:`.baseline`,
:mod:`.metrics`) over one definition of the metric options (:mod:`.options`), so ``score`` and ``compare``
accept the same flags. Exit codes: 0 ok, 2 bad input or usage, 1 a metric failed (the other metrics' numbers
are still printed and written).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import RrgEvalError
from ..version import __version__
from . import baseline, cache, compare, gate, metrics, models, score, suites

COMMANDS = {"score": score, "metrics": metrics, "compare": compare, "models": models, "baseline": baseline,
            "gate": gate, "cache": cache, "suites": suites}


def build_parser() -> argparse.ArgumentParser:
    """The ``rrg-eval`` parser with every command group's sub-parser."""
    parser = argparse.ArgumentParser(prog="rrg-eval",
                                     description="Evaluate radiology report generation: lexical, clinical and "
                                                 "LLM-judge metrics with reproducible signatures.")
    parser.add_argument("--version", action="version", version=f"rrg-eval {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rrg-eval`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command].run(args)
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
