"""GREEN's judge protocol: the prompt, the chat template, answer cleaning, and the four answer sections.

GREEN (Ostmeier et al., 2024; github.com/Stanford-AIMI/GREEN, ``green_score`` 0.0.12) asks a fine-tuned chat
model to list, for a (reference, candidate) pair, the clinically significant and insignificant errors of six
types (a) .. (f) and the matched findings; the score of one report is ``m / (m + significant errors)``, 0 when
``m`` is 0. This module states that protocol in rrg-eval's own code; the texts (prompt, chat template) are
facts carried over from ``green_score/utils.py`` and ``green_score/green.py`` and the parsing rules behave as
``GREEN.parse_error_counts`` / ``clean_responses`` do. tests/data/green_golden.json holds the reference
functions' outputs on the published fixtures and on 200 generated answers, and tests/test_green_protocol.py
checks this module against them.

Parsing as the reference does it:

* a section is the text after ``[<Title>]:`` up to the first blank line (or the end);
* a section that starts with ``No`` counts zero;
* error sections: the lines ``(a) ...`` .. ``(f) ...`` (or ``(1) ...`` .. ``(6) ...`` when no letter line
  exists), sorted as strings; the count of a type is the first ``: <digits>.`` of its line (the last such line
  wins when a type appears twice); a type without a line counts zero;
* matched findings: the ``<digits>.`` the section starts with, else zero.

Where the reference scores an answer that lacks a section as if it had zero errors (and hence 0 when the
matched-findings section is missing), :func:`parse_green` returns ``None`` when the significant-errors or the
matched-findings section is missing, so the metric can re-ask and count it as unparsed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

MAX_WORDS = 300  # each report is cut to its first 300 whitespace-separated tokens (make_prompt's max_len)

SIGNIFICANT = "Clinically Significant Errors"
INSIGNIFICANT = "Clinically Insignificant Errors"
MATCHED = "Matched Findings"
ERROR_TYPES = ("a", "b", "c", "d", "e", "f")

# The prompt of green_score/utils.py:make_prompt, line by line (joined with "\n").
_PROMPT_LINES = (
    "Objective: Evaluate the accuracy of a candidate radiology report in comparison to a reference radiology "
    "report composed by expert radiologists.",
    "",
    "    Process Overview: You will be presented with:",
    "",
    "    1. The criteria for making a judgment.",
    "    2. The reference radiology report.",
    "    3. The candidate radiology report.",
    "    4. The desired format for your assessment.",
    "",
    "    1. Criteria for Judgment:",
    "",
    "    For each candidate report, determine:",
    "",
    "    The count of clinically significant errors.",
    "    The count of clinically insignificant errors.",
    "",
    "    Errors can fall into one of these categories:",
    "",
    "    a) False report of a finding in the candidate.",
    "    b) Missing a finding present in the reference.",
    "    c) Misidentification of a finding's anatomic location/position.",
    "    d) Misassessment of the severity of a finding.",
    "    e) Mentioning a comparison that isn't in the reference.",
    "    f) Omitting a comparison detailing a change from a prior study.",
    "    Note: Concentrate on the clinical findings rather than the report's writing style. Evaluate only the "
    "findings that appear in both reports.",
    "",
    "    2. Reference Report:",
    "    {reference}",
    "",
    "    3. Candidate Report:",
    "    {candidate}",
    "",
    "    4. Reporting Your Assessment:",
    "",
    "    Follow this specific format for your output, even if no errors are found:",
    "    ```",
    "    [Explanation]:",
    "    <Explanation>",
    "",
    "    [Clinically Significant Errors]:",
    "    (a) <Error Type>: <The number of errors>. <Error 1>; <Error 2>; ...; <Error n>",
    "    ....",
    "    (f) <Error Type>: <The number of errors>. <Error 1>; <Error 2>; ...; <Error n>",
    "",
    "    [Clinically Insignificant Errors]:",
    "    (a) <Error Type>: <The number of errors>. <Error 1>; <Error 2>; ...; <Error n>",
    "    ....",
    "    (f) <Error Type>: <The number of errors>. <Error 1>; <Error 2>; ...; <Error n>",
    "",
    "    [Matched Findings]:",
    "    <The number of matched findings>. <Finding 1>; <Finding 2>; ...; <Finding n>",
    "    ```",
    "",
)
PROMPT_TEMPLATE = "\n".join(_PROMPT_LINES)

# The Jinja chat template green_score/green.py sets on the tokenizer. Messages use the reference's keys
# ("from": human/system/gpt, "value"); the reference sends [human: prompt, gpt: ""] with a generation prompt.
CHAT_TEMPLATE = (
    "{% for message in messages %}\n{% if message['from'] == 'human' %}\n{{ '<|user|>\n' + message['value'] + "
    "eos_token }}\n{% elif message['from'] == 'system' %}\n{{ '<|system|>\n' + message['value'] + eos_token }}\n"
    "{% elif message['from'] == 'gpt' %}\n{{ '<|assistant|>\n'  + message['value'] + eos_token }}\n{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"
)

# For OpenAI-compatible servers (vLLM --chat-template): one user message (role/content) renders to the same text
# as the reference's template does for [human: prompt, gpt: ""] with a generation prompt, with the BOS the
# reference's tokenizer adds in front and the EOS it appends (add_eos_token=True); servers tokenize chat
# prompts without adding special tokens. docs/metrics.md shows the `vllm serve` command.
SERVER_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ '<|user|>\n' + message['content'] + eos_token + '\n' }}{% endif %}{% endfor %}"
    "{{ '<|assistant|>\n' + eos_token + '\n<|assistant|>\n' + eos_token }}"
)

PROMPT_DIGEST = hashlib.sha256((PROMPT_TEMPLATE + "\x00" + CHAT_TEMPLATE).encode("utf-8")).hexdigest()[:12]


def cut_words(text: str, max_words: int = MAX_WORDS) -> str:
    """The first ``max_words`` whitespace-separated tokens of ``text``, joined by single spaces."""
    return " ".join(text.split()[:max_words])


def green_prompt(reference: str, candidate: str, max_words: int = MAX_WORDS) -> str:
    """The GREEN prompt for one pair (each report cut to its first ``max_words`` words)."""
    head, rest = PROMPT_TEMPLATE.split("{reference}", 1)
    middle, tail = rest.split("{candidate}", 1)
    return head + cut_words(reference, max_words) + middle + cut_words(candidate, max_words) + tail


def chat_messages(prompt: str) -> list[dict[str, str]]:
    """The reference's conversation for one prompt (keys ``from``/``value``, for :data:`CHAT_TEMPLATE`)."""
    return [{"from": "human", "value": prompt}, {"from": "gpt", "value": ""}]


def clean_response(text: str) -> str:
    """The answer part of a decoded generation, as ``green_score.utils.clean_responses`` cuts it."""
    if "[Explanation]:" in text:
        if "<|assistant|>" in text:
            text = text.split("<|assistant|>")[-1]
        # The reference's condition reduces to its first operand (a non-empty string literal).
        pieces = text.split("[Explanation]:")
        text = pieces[1] if "[Explanation]:\n    <Explanation>\n" in text else pieces[-1]
    if "<|assistant|>" in text:
        text = text.split("<|assistant|>")[-1]
    return text.replace("</s>", "").replace("<unk>", "")


_ITEM_LETTER = re.compile(r"\([a-f]\) .*")
_ITEM_DIGIT = re.compile(r"\([1-6]\) .*")
_ITEM_COUNT = re.compile(r"(?<=: )\b\d+\b(?=\.)")
_MATCHED_COUNT = re.compile(r"^\b\d+\b(?=\.)")
_SECTION = {title: re.compile(rf"\[{re.escape(title)}\]:\s*(.*?)(?:\n\s*\n|\Z)", re.DOTALL)
            for title in (SIGNIFICANT, INSIGNIFICANT, MATCHED)}


def section(text: str, title: str) -> str | None:
    """The body of section ``[title]:`` (up to the first blank line), or None when the answer has none."""
    found = _SECTION[title].search(text)
    return None if found is None else found.group(1)


def error_counts(body: str | None) -> list[int]:
    """Counts of error types a..f in an error section body (zeros for a missing or 'No ...' section)."""
    counts = [0] * len(ERROR_TYPES)
    if body is None or body.startswith("No"):
        return counts
    items = sorted(_ITEM_LETTER.findall(body))
    labels: tuple[str, ...] = ERROR_TYPES
    if not items:
        items = sorted(_ITEM_DIGIT.findall(body))
        labels = tuple(str(i) for i in range(1, len(ERROR_TYPES) + 1))
    for position, label in enumerate(labels):
        prefix = f"({label}) "
        for item in items:
            if item.startswith(prefix):
                found = _ITEM_COUNT.search(item)
                if found:
                    counts[position] = int(found.group(0))
    return counts


def matched_count(body: str | None) -> int:
    """The number of matched findings a section body starts with (0 for a missing or 'No ...' section)."""
    if body is None or body.startswith("No"):
        return 0
    found = _MATCHED_COUNT.search(body)
    return int(found.group(0)) if found else 0


def green_value(matched: int, significant: list[int] | tuple[int, ...]) -> float:
    """One report's GREEN: ``m / (m + sum of significant errors)``, 0 when ``m`` is 0."""
    if matched == 0:
        return 0.0
    return matched / (matched + sum(significant))


@dataclass(frozen=True)
class GreenAnswer:
    """The counts read from one answer; ``complete`` is False when the significant-errors or the
    matched-findings section is missing (the reference would score that answer as zero errors)."""

    significant: tuple[int, ...]
    insignificant: tuple[int, ...]
    matched: int
    complete: bool

    @property
    def score(self) -> float:
        return green_value(self.matched, self.significant)


def read_answer(text: str) -> GreenAnswer:
    """Every count of an (already cleaned) answer, read as the reference reads it."""
    sig_body = section(text, SIGNIFICANT)
    matched_body = section(text, MATCHED)
    return GreenAnswer(significant=tuple(error_counts(sig_body)),
                       insignificant=tuple(error_counts(section(text, INSIGNIFICANT))),
                       matched=matched_count(matched_body),
                       complete=sig_body is not None and matched_body is not None)


def parse_green(text: str) -> GreenAnswer | None:
    """The counts of an answer, or None when its significant-errors or matched-findings section is missing."""
    answer = read_answer(text)
    return answer if answer.complete else None
