"""R2Gen2's "custom JSON overlap", as published: ``json_overlap`` with ``convention=r2gen2``.

Source: the function ``evaluate_labels`` in R2Gen2's training notebook (GitHub aayushv001/R2Gen2,
``Training/train_model.ipynb``; its mean over 98 test reports is the published 0.7632). Restated from its
behaviour (no code copied), per report, on the raw generated string and the raw reference text:

1. delete every ``\\n``, ``}``, ``{``, ``"``, ``:``, ``[``, ``]`` and ``,`` (nothing else: ``\\r``, tabs and single
   quotes stay);
2. split on single spaces (``str.split(" ")``: runs of spaces give empty words, a tab does not split);
3. drop the empty word and the schema words of :data:`STOP_WORDS` (whole-word, case-sensitive equality);
4. count the remaining words (repeats included) that occur in the reference *as a substring*, case-sensitive
   (``"heart"`` is not in ``"Heart size ..."``; ``"art"`` is in ``"heart"``);
5. the report's value is that count over the number of remaining words; the corpus value is the mean over
   reports.

The published code divides by zero when no word remains (an empty output, or one made only of schema words) and
stops the whole evaluation. rrg-eval scores such a report **0.0** (nothing in it was found), keeps it in the
mean, and counts it in the warnings.
"""

from __future__ import annotations

from collections.abc import Sequence

STRIPPED_CHARACTERS = '\n}{":[],'
"""Characters R2Gen2 deletes before splitting (its chain of ``str.replace`` calls)."""

STOP_WORDS = frozenset({"", "Sentences", "anatomical", "entity", "location_descriptor", "null", "procedure",
                        "clinical", "findings", "finding", "existence", "pos_dx", "neg_dx", "unc_dx",
                        "observation"})
"""R2Gen2's list of schema words left out of the count (from ``evaluate_labels``)."""

_DELETE = str.maketrans("", "", STRIPPED_CHARACTERS)


def r2gen2_words(generated: str) -> list[str]:
    """The words of a generated string that R2Gen2 counts (steps 1-3), in order, repeats kept."""
    return [word for word in generated.translate(_DELETE).split(" ") if word not in STOP_WORDS]


def r2gen2_counts(generated: str, reference: str) -> tuple[int, int]:
    """``(found, total)`` of one report: words of ``generated`` that are substrings of ``reference``, and all."""
    words = r2gen2_words(generated)
    seen: dict[str, bool] = {}  # a repeated word is looked up once (a substring search of the reference)
    found = 0
    for word in words:
        hit = seen.get(word)
        if hit is None:
            hit = seen[word] = word in reference
        found += hit
    return found, len(words)


def r2gen2_value(found: int, total: int) -> float:
    """One report's value: ``found / total``; 0.0 where R2Gen2 divides by zero (no counted word)."""
    return found / total if total else 0.0


def r2gen2_overlap(generated: Sequence[str], references: Sequence[str]) -> list[float]:
    """Per-report values of R2Gen2's JSON overlap (their mean is the corpus value)."""
    return [r2gen2_value(*r2gen2_counts(g, r)) for g, r in zip(generated, references)]
