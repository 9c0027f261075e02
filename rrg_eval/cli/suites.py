"""``rrg-eval suites`` and the ``--suite`` flag of score and compare (logic in ``rrg_eval.suites``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("suites", help="list the named metric suites (leaderboards' and papers' tables)",
                       description="List every suite: its version, columns, metrics and exact options.")
    p.add_argument("--format", default="table", choices=["table", "json"])


def run(args: argparse.Namespace) -> int:
    from ..suites import render_suites

    sys.stdout.write(render_suites(args.format))
    return 0


def add_suite_argument(p: argparse.ArgumentParser) -> None:
    """``--suite NAME`` on score and compare."""
    p.add_argument("--suite", metavar="NAME", help="a named suite (rrg-eval suites): its metrics, options and "
                   "table columns, e.g. rexrank")


def render_score(result: Any, fmt: str, width: int | None = None) -> str:
    """The score output; a suite's table (its column order and names) for table and markdown. ``width``: the
    terminal's, that the table's notes are wrapped to."""
    from ..render import render_result

    if result.suite is None or fmt not in ("table", "markdown"):
        return render_result(result, fmt, width=width)
    from ..suites import get_suite, render_suite_table

    return render_suite_table(result.scores, result.unavailable, result.errors, get_suite(result.suite["name"]),
                              n=result.n)


def suite_options(options: dict[str, Any]) -> dict[str, Any]:
    """``compare --suite``: the API options without ``metrics`` (the suite names them); both is a ConfigError."""
    from ..errors import ConfigError

    if options.get("metrics"):
        raise ConfigError("give either --metrics or --suite, not both")
    return {k: v for k, v in options.items() if k != "metrics"}


def take_suite_header(board: Any, name: str) -> str:
    """The header of ``compare --suite``: the suite, and its metrics that cannot run here (taken out of
    ``board.unavailable``, so that they are named once, under the suite)."""
    from ..suites import get_suite

    suite = get_suite(name)
    left_out = {m: board.unavailable.pop(m) for m in suite.metrics if m in board.unavailable}
    header = f"suite {suite.label()}: {suite.description}"
    if left_out:
        header += "\n" + "".join(f"- {m}: not available: {why}\n" for m, why in left_out.items())
    return header + "\n"


def with_suite(text: str, fmt: str, name: str, header: str) -> str:
    """A compare output that names its suite: a header (table, markdown), a comment (latex), a key (json)."""
    from ..suites import get_suite, suite_info

    if fmt in ("table", "markdown"):
        return header + text
    if fmt == "latex":
        return "".join(f"% {line}\n" for line in header.strip().splitlines()) + text
    if fmt == "json":
        data = json.loads(text)
        if isinstance(data, dict):
            data["suite"] = suite_info(get_suite(name))
            return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return text
