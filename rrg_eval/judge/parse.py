"""Parse a CheXprompt answer: error counts of six types, clinically significant and insignificant.

The answer holds two lines::

    Number of clinically significant errors by type: [(A, 1), (B, 0), (C, 0), (D, 0), (E, 0), (F, 0)]
    Number of clinically insignificant errors by type: ((A, 0), (B, 1), (C, 0), (D, 0), (E, 0), (F, 0))

Square or round outer brackets both parse. Text around the lines (explanations, Markdown bold, blank lines)
is ignored; when a header appears more than once, the last occurrence followed by a complete list wins. A list
must name each of A..F exactly once with a whole number from 0 to :data:`MAX_COUNT`; anything else is unparsed
(``None``), never zero. A count above :data:`MAX_COUNT` (50 errors of one type in one report) is taken as a
broken answer, not a count: it is unparsed before anything is cached, so it can neither overflow the means nor
be served from the cache. Parsing is linear in the answer's length (headers, brackets and pairs are each
scanned once), so an answer of any size or shape ends as counts or as unparsed, never as an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ERROR_TYPES = ("A", "B", "C", "D", "E", "F")
MAX_COUNT = 50  # the most errors of one type in one report taken as a count; more is an unparsed answer

_HEADER = re.compile(r"number\s+of\s+clinically\s+(in)?significant\s+errors(?:\s+by\s+types?)?\s*[:\-=]?",
                     re.IGNORECASE)
_PAIR = re.compile(r"\(\s*[\"']?([A-Fa-f])[\"']?\s*[,:]\s*(\d{1,6})\s*\)")  # longer numbers never match
_OPEN = {"[": "]", "(": ")"}


@dataclass(frozen=True)
class Counts:
    """Error counts by type (A..F), significant and insignificant."""

    significant: tuple[int, ...]
    insignificant: tuple[int, ...]


def _bracketed(segment: str) -> str | None:
    """The first balanced ``[...]`` or ``(...)`` group in ``segment`` (its outer brackets included)."""
    start = next((i for i, ch in enumerate(segment) if ch in _OPEN), None)
    if start is None:
        return None
    stack: list[str] = []
    for i in range(start, len(segment)):
        ch = segment[i]
        if ch in _OPEN:
            stack.append(_OPEN[ch])
        elif ch in ")]":
            if not stack or stack.pop() != ch:
                return None
            if not stack:
                return segment[start:i + 1]
    return None


def parse_list(text: str) -> tuple[int, ...] | None:
    """Counts A..F from ``[(A, n), ...]`` or ``((A, n), ...)``; None unless each type appears exactly once."""
    group = _bracketed(text)
    if group is None:
        return None
    pairs = _PAIR.findall(group)
    found: dict[str, int] = {}
    for letter, number in pairs:
        letter = letter.upper()
        count = int(number)
        if letter in found or count > MAX_COUNT:
            return None
        found[letter] = count
    if set(found) != set(ERROR_TYPES):
        return None
    return tuple(found[t] for t in ERROR_TYPES)


def parse_answer(text: str | None) -> Counts | None:
    """Both count lists of a judge answer, or None when either is missing or malformed."""
    if not text:
        return None
    matches = list(_HEADER.finditer(text))
    found: dict[bool, tuple[int, ...]] = {}
    for k, match in enumerate(matches):
        end = matches[k + 1].start() if k + 1 < len(matches) else len(text)
        counts = parse_list(text[match.end():end])
        if counts is not None:
            found[bool(match.group(1))] = counts  # later occurrences win
    if False not in found or True not in found:
        return None
    return Counts(significant=found[False], insignificant=found[True])


def counts_to_json(counts: Counts) -> dict[str, list[int]]:
    """The form stored in the judge cache."""
    return {"significant": list(counts.significant), "insignificant": list(counts.insignificant)}


def counts_from_json(data: object) -> Counts | None:
    """Counts read back from the judge cache, or None unless both lists hold six counts within the bound."""
    if not isinstance(data, dict):
        return None
    lists = []
    for name in ("significant", "insignificant"):
        values = data.get(name)
        if (not isinstance(values, list) or len(values) != len(ERROR_TYPES)
                or not all(type(v) is int and 0 <= v <= MAX_COUNT for v in values)):
            return None
        lists.append(tuple(values))
    return Counts(significant=lists[0], insignificant=lists[1])
