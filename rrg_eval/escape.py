"""Escaping of user-derived text (system names, section names, ids, warnings) for each output format.

Pure functions the renderers call on every string they did not write themselves: a system named
``"x\\n\\\\input{/etc/passwd}"``, ``"=HYPERLINK(...)"`` or ``"<img onerror=...>"`` must come out as text in LaTeX,
spreadsheets and Markdown, never as a command, a formula or HTML. (HTML pages use :func:`html.escape`.)
"""

from __future__ import annotations

import re

# Every character Python counts as a line break (str.splitlines) and the other C0/C1 controls: none of them may
# reach a line-oriented format raw.
_BREAKS_AND_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
          ">": r"\textgreater{}", "|": r"\textbar{}", "↓": r"$\downarrow$"}

# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones that can start HTML, an entity,
# a link, a code span or a table cell. Emphasis characters (* _) are left alone: names like base_line stay legible.
_MARKDOWN_SPECIAL = re.compile(r"([\\`|<>&\[\]])")

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def one_line(text: str) -> str:
    """``text`` with every line break and control character replaced by a space."""
    return _BREAKS_AND_CONTROLS.sub(" ", text)


def latex_text(text: str) -> str:
    """Text for a LaTeX document body: special characters escaped, line breaks and controls as spaces."""
    return "".join(_LATEX.get(ch, ch) for ch in one_line(text))


def latex_comment(text: str) -> str:
    """Text for the rest of a ``% ...`` line: a line break would end the comment and start a live line."""
    return one_line(text)


def csv_cell(text: str) -> str:
    """A text cell for CSV: one that a spreadsheet would run as a formula (``= + - @``) gets a leading ``'``."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def markdown_text(text: str) -> str:
    """Text for Markdown (tables included): no raw HTML, entities, links, code spans or cell breaks; one line."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", one_line(text))


def markdown_code(text: str) -> str:
    """``text`` as an inline code span (shown verbatim, HTML never interpreted), fenced by enough backticks."""
    text = one_line(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def plot_text(text: str) -> str:
    """Text for matplotlib labels: ``$`` escaped so that a name is never parsed as mathtext."""
    return one_line(text).replace("$", r"\$")
