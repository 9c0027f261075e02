"""JSON extraction from model output: linear time, bounded depth, no recursion.

Chat models wrap their JSON in prose or Markdown code fences and write trailing commas or single quotes. Two
modes read such output:

* ``lenient`` (the default of ``json_overlap``): the first complete top-level JSON value after an optional code
  fence. The value starts at the first ``{`` or ``[`` (after the first fence, when a fence comes before that
  bracket; when the text has no bracket at all, a scalar at its start is read, so that ``"text"`` is a string and
  not "no JSON"). What follows the value (a closing fence, prose) is ignored. When the value starting at one
  bracket is not valid, the next bracket *after the point where it failed* is tried, so the work stays linear
  (the regions tried never overlap), up to :data:`MAX_ATTEMPTS` brackets; a value that broke after its first
  element is not searched inside (a fragment of broken JSON is not the answer). Tolerated beyond JSON: one
  trailing comma before ``]`` or ``}``, strings and keys in single quotes (``'it\\'s'``), Python's ``None`` /
  ``True`` / ``False``, raw control characters in strings, any Unicode whitespace between tokens.
* ``strict``: the whole text (inside a code fence that spans all of it, when fences are allowed) is one JSON
  value, read as :func:`json.loads` reads it.

Both modes return exactly what :func:`json.loads` returns on valid JSON (the property tests check this) and
raise :class:`json.JSONDecodeError` otherwise. Nesting deeper than :data:`MAX_DEPTH` is an error, never a
``RecursionError``: no structured report needs more than five levels. Valid JSON is read by the C decoder of
:mod:`json`; the rest by an iterative reader whose tokens are read by C code (``json.decoder.scanstring``,
``str.find``, linear regular expressions): a 100 kB input takes well under a second.
"""

from __future__ import annotations

import json
import re
from json.decoder import scanstring
from typing import Any, Literal

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted (``json.loads`` itself fails near 1,000 with RecursionError)."""

MAX_ATTEMPTS = 100
"""Brackets tried, at most, before lenient extraction gives up (prose rarely opens that many before its JSON)."""

FENCE = "```"

ParseMode = Literal["lenient", "strict"]

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_JSON_SPACE = re.compile(r"[ \t\n\r]*")
_ANY_SPACE = re.compile(r"\s*")
_LANG = re.compile(r"[a-zA-Z]*")
_SINGLE_QUOTED_ESCAPES = re.compile(r'\\(.)|"', re.DOTALL)
_CONSTANTS = {"true": True, "false": False, "null": None, "NaN": float("nan"), "Infinity": float("inf"),
              "-Infinity": float("-inf")}
_PYTHON_CONSTANTS = {"True": True, "False": False, "None": None}
_CONSTANT_WORDS: dict[str, tuple[str, ...]] = {}
for _word in (*_CONSTANTS, *_PYTHON_CONSTANTS):
    _CONSTANT_WORDS[_word[0]] = (*_CONSTANT_WORDS.get(_word[0], ()), _word)
# a bracket that can open a value: ``{`` before a key or ``}``, ``[`` before a value or ``]`` (lookaheads scan
# only the whitespace right after their own bracket, so a search is linear)
_CANDIDATE = re.compile(r"""\{(?=\s*["'}])|\[(?=\s*[-0-9"'{\[\]tfnNITF])""")
_NUMBER_START = frozenset("-0123456789")
_JSON_SPACE_CHARS = frozenset(" \t\n\r")


_C_DECODERS = {True: json.JSONDecoder(strict=False), False: json.JSONDecoder()}  # by leniency


def depth_within(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when arrays and objects in ``value`` nest at most ``limit`` deep (iterative)."""
    stack = [(value, 1)] if isinstance(value, (list, dict)) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return False
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, (list, dict)))
    return True


class _Fail(Exception):
    """A failed attempt: where it failed and how far the text was read (internal, cheap to raise)."""

    def __init__(self, message: str, pos: int, scanned_to: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos
        self.scanned_to = pos if scanned_to is None else scanned_to


class _Reader:
    """An iterative JSON reader over ``text`` with an explicit stack (no recursion)."""

    def __init__(self, text: str, *, lenient: bool) -> None:
        self.text = text
        self.progress = False
        self.lenient = lenient
        self.space = _ANY_SPACE if lenient else _JSON_SPACE
        self.constants = {**_CONSTANTS, **_PYTHON_CONSTANTS} if lenient else _CONSTANTS

    def skip(self, pos: int) -> int:
        """The first position at or after ``pos`` that is not whitespace."""
        text = self.text
        if pos >= len(text) or not (text[pos] in _JSON_SPACE_CHARS or (self.lenient and text[pos].isspace())):
            return pos
        return self.space.match(text, pos).end()  # type: ignore[union-attr]  # ``*`` always matches

    def value(self, pos: int, *, fast: bool = True) -> tuple[Any, int]:
        """Read one value starting at ``pos`` (after whitespace); return it and the position after it.

        Valid JSON is read by the C decoder of :mod:`json` (the same value, many times faster); what it refuses
        (trailing commas, single quotes) or cannot finish (a ``RecursionError`` on deep nesting) is read here.
        A failure after the value's first element (or key) was read marks the rest of the text as read
        (``scanned_to``): the value was JSON that broke, so no bracket inside it starts a top-level value.
        ``fast=False`` skips the C decoder: its errors cost time linear in ``pos`` (line numbers), so only the
        first attempt on a text uses it.
        """
        pos = self.skip(pos)
        if not fast:
            return self.read(pos)
        try:
            value, end = _C_DECODERS[self.lenient].raw_decode(self.text, pos)
        except ValueError:  # JSONDecodeError, or int() refusing a 5,000-digit number: the reader says which
            pass
        except RecursionError:
            raise _Fail(f"nested deeper than {MAX_DEPTH} levels", pos, len(self.text)) from None
        else:
            if not depth_within(value):
                raise _Fail(f"nested deeper than {MAX_DEPTH} levels", pos, len(self.text))
            return value, end
        return self.read(pos)

    def read(self, pos: int) -> tuple[Any, int]:
        """:meth:`value` without the C decoder (the property tests compare the two)."""
        self.progress = False
        try:
            return self._value(pos)
        except _Fail as fail:
            if self.progress:
                fail.scanned_to = len(self.text)
            raise

    def _value(self, pos: int) -> tuple[Any, int]:
        text = self.text
        n = len(text)
        stack: list[tuple[list | dict, str | None]] = []  # container, key awaiting its value (objects)
        pos = self.skip(pos)
        while True:
            # -- one value (or the opening of a container) at pos --------------------------------------------
            if pos >= n:
                raise _Fail("Expecting value", pos)
            char = text[pos]
            if char == "{" or char == "[":
                if len(stack) >= MAX_DEPTH:
                    raise _Fail(f"nested deeper than {MAX_DEPTH} levels", pos, n)
                closer = "}" if char == "{" else "]"
                pos = self.skip(pos + 1)
                if pos < n and text[pos] == closer:  # empty container: a complete value
                    item: Any = {} if char == "{" else []
                    pos += 1
                else:
                    if char == "{":
                        key, pos = self.key(pos)
                        self.progress = True
                        stack.append(({}, key))
                    else:
                        stack.append(([], None))
                    continue
            else:
                item, pos = self.scalar(pos)
            # -- attach the finished value; close every container that ends here ---------------------------
            while True:
                if not stack:
                    return item, pos
                container, key = stack[-1]
                self.progress = True
                if isinstance(container, dict):
                    container[key] = item  # type: ignore[index]
                else:
                    container.append(item)
                pos = self.skip(pos)
                closer = "}" if isinstance(container, dict) else "]"
                if pos < n and text[pos] == ",":
                    pos = self.skip(pos + 1)
                    if not (self.lenient and pos < n and text[pos] == closer):  # else: one trailing comma
                        if isinstance(container, dict):
                            key, pos = self.key(pos)
                            stack[-1] = (container, key)
                        break  # read the next element
                if pos < n and text[pos] == closer:
                    stack.pop()
                    item = container
                    pos += 1
                    continue
                raise _Fail(f"Expecting ',' delimiter or '{closer}'", pos)

    def key(self, pos: int) -> tuple[str, int]:
        """An object key and its colon; returns the key and the position of its value."""
        text = self.text
        if pos < len(text) and (text[pos] == '"' or (self.lenient and text[pos] == "'")):
            key, pos = self.string(pos)
        else:
            raise _Fail("Expecting property name enclosed in double quotes", pos)
        pos = self.skip(pos)
        if pos >= len(text) or text[pos] != ":":
            raise _Fail("Expecting ':' delimiter", pos)
        return key, self.skip(pos + 1)

    def string(self, pos: int) -> tuple[str, int]:
        text = self.text
        if text[pos] == '"':
            try:
                return scanstring(text, pos + 1, not self.lenient)
            except json.JSONDecodeError as exc:
                unterminated = exc.msg.startswith("Unterminated")
                raise _Fail(exc.msg, exc.pos, len(text) if unterminated else exc.pos) from None
        return self.single_quoted(pos)

    def single_quoted(self, pos: int) -> tuple[str, int]:
        """A single-quoted string: JSON escapes, plus ``\\'``; a double quote inside stands for itself."""
        text = self.text
        search = pos + 1
        while True:
            end = text.find("'", search)
            if end < 0:
                raise _Fail("Unterminated string starting at", pos, len(text))
            slashes = 0
            while end - 1 - slashes > pos and text[end - 1 - slashes] == "\\":
                slashes += 1
            if slashes % 2 == 0:
                break
            search = end + 1
        body = _SINGLE_QUOTED_ESCAPES.sub(_requote, text[pos + 1:end])
        try:
            value, _ = scanstring('"' + body + '"', 1, False)
        except json.JSONDecodeError as exc:
            raise _Fail(exc.msg, pos, end + 1) from None
        return value, end + 1

    def scalar(self, pos: int) -> tuple[Any, int]:
        text = self.text
        char = text[pos]
        if char == '"' or (self.lenient and char == "'"):
            return self.string(pos)
        if char in _NUMBER_START:
            match = _NUMBER.match(text, pos)
            if match is not None:
                token = match.group()
                try:
                    number = float(token) if match.group(1) or match.group(2) else int(token)
                except ValueError as exc:  # more digits than int() converts (sys.get_int_max_str_digits)
                    raise _Fail(f"number not readable: {exc}", pos, match.end()) from None
                return number, match.end()
        for word in _CONSTANT_WORDS.get(char, ()):
            if text.startswith(word, pos) and word in self.constants:
                return self.constants[word], pos + len(word)
        raise _Fail("Expecting value", pos)


def _requote(match: re.Match[str]) -> str:
    escaped = match.group(1)
    if escaped is None:
        return '\\"'
    return "'" if escaped == "'" else "\\" + escaped


def _error(message: str, text: str, pos: int) -> json.JSONDecodeError:
    return json.JSONDecodeError(message, text, min(pos, len(text)))


def strip_fence(text: str) -> str | None:
    """The inside of a Markdown code fence that spans all of ``text`` (ends trimmed), or None; linear.

    Same matches as the former pattern ``^\\s*```[a-zA-Z]*\\s*\\n?(.*?)\\n?\\s*```\\s*$`` (which was cubic on a
    fence followed by many spaces): an opening fence with an optional language tag, a closing fence at the end.
    """
    inner = text.strip()
    if len(inner) < 2 * len(FENCE) or not inner.startswith(FENCE) or not inner.endswith(FENCE):
        return None
    lang_end = _LANG.match(inner, len(FENCE)).end()  # type: ignore[union-attr]
    if lang_end > len(inner) - len(FENCE):
        return None
    return inner[lang_end:len(inner) - len(FENCE)]


def _first_bracket(text: str, start: int, stop: int) -> int:
    """Index of the first ``{`` or ``[`` in ``text[start:stop]``, or -1 (two C scans)."""
    found = [i for i in (text.find("{", start, stop), text.find("[", start, stop)) if i >= 0]
    return min(found) if found else -1


def fenced_before_json(text: str) -> bool:
    """True when a code fence opens before the first bracket (the JSON is, or would be, inside a fence)."""
    fence = text.find(FENCE)
    if fence < 0:
        return False
    bracket = _first_bracket(text, 0, len(text))
    return bracket < 0 or fence < bracket


def extract_json(text: str, *, mode: ParseMode = "lenient", fences: bool = True) -> Any:
    """The JSON value in ``text`` (see the module docstring); raises :class:`json.JSONDecodeError`.

    ``fences=False`` refuses output whose JSON sits in a code fence (the error says so).
    """
    if not fences and fenced_before_json(text):
        raise _error("wrapped in a code fence (json_overlap.strip_code_fences is off)", text, text.find(FENCE))
    if mode == "strict":
        return _strict(text, fences=fences)
    return _lenient(text)


def _strict(text: str, *, fences: bool) -> Any:
    inner = strip_fence(text) if fences else None
    body = text if inner is None else inner
    reader = _Reader(body, lenient=False)
    try:
        value, end = reader.value(0)
    except _Fail as fail:
        raise _error(fail.message, body, fail.pos) from None
    end = reader.skip(end)
    if end != len(body):
        raise _error("Extra data", body, end)
    return value


def _lenient(text: str) -> Any:
    reader = _Reader(text, lenient=True)
    start, stop = 0, len(text)
    bracket = _first_bracket(text, 0, stop)
    fence = text.find(FENCE)
    if fence >= 0 and (bracket < 0 or fence < bracket):
        start = fence + len(FENCE)
        closing = text.find(FENCE, start)
        stop = closing if closing >= 0 else len(text)
        bracket = _first_bracket(text, start, stop)
    if bracket < 0:  # no object or array: a scalar at the start (a string, a number), or nothing
        try:
            return reader.value(start)[0]
        except _Fail as fail:
            raise _error(f"no JSON object or array found ({fail.message})", text, fail.pos) from None
    candidate = _CANDIDATE.search(text, bracket, stop)
    first_failure: _Fail | None = None
    attempts = 0
    while candidate is not None and attempts < MAX_ATTEMPTS:
        attempts += 1
        try:
            return reader.value(candidate.start(), fast=first_failure is None)[0]
        except _Fail as fail:
            first_failure = first_failure or fail
            resume = max(fail.pos, fail.scanned_to, candidate.start() + 1)
            candidate = _CANDIDATE.search(text, resume, stop) if resume < stop else None
    if first_failure is None:
        raise _error("no JSON object or array found (no bracket opens one)", text, bracket)
    raise _error(first_failure.message, text, first_failure.pos)
