"""Writing the command line's output files (``rrg_eval.outputs``): nothing computed is lost when a write fails."""

from __future__ import annotations

import json
import os
import shutil
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..result import Result


def per_report_text(result: Result) -> str:
    """One JSON line per id with every per-report score."""
    lines = [json.dumps(r, ensure_ascii=False) for r in result.per_report_records()]
    return "".join(line + "\n" for line in lines)


def write_or_print(path: str, text: str) -> list[str]:
    """Write ``text`` to ``path``; if that fails, print it to stdout so that nothing computed is lost."""
    from ..outputs import write_all

    failed = write_all([(path, text)])
    if failed:
        sys.stdout.write(text)
    return failed


def report_unwritten(failed: list[str]) -> int:
    """Say which outputs could not be written (the results were printed); exit code 2 if any."""
    for message in failed:
        print(f"rrg-eval: error: cannot write {message} (the results are printed above)", file=sys.stderr)
    return 2 if failed else 0


def terminal_width() -> int | None:
    """The width the terminal table should fit: ``$COLUMNS`` if set, else the terminal's when standard output is
    one; None (no limit) when the output goes to a file or a pipe."""
    value = os.environ.get("COLUMNS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None
