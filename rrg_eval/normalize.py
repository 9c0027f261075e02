"""Optional text normalisation for the lexical metrics (``--normalize none|lower|r2gen|r2gen_mimic``).

``r2gen`` reproduces the report cleaning that R2Gen (Chen et al., 2020) applies to IU X-ray reports before
training and scoring, and ``r2gen_mimic`` its MIMIC-CXR variant; R2Gen-lineage papers score cleaned text.
"""

from __future__ import annotations

import re
from typing import Literal

Normalization = Literal["none", "lower", "r2gen", "r2gen_mimic"]

# R2Gen strips these characters inside sentences. Its pattern '[.,?;*!%^&_+():-\[\]{}]' contains the
# range ':-\[' (':' to '['), i.e. ':;<=>?@', the capitals A-Z and '['; text is lower-cased first.
_R2GEN_STRIP = re.compile(r"[.,?;*!%^&_+():;<=>?@A-Z\[\]{}]")
_NUMBERED = [(". 2. ", ". "), (". 3. ", ". "), (". 4. ", ". "), (". 5. ", ". "),
             (" 2. ", ". "), (" 3. ", ". "), (" 4. ", ". "), (" 5. ", ". ")]


def _replace_repeatedly(text: str, old: str, new: str, times: int) -> str:
    for _ in range(times):
        text = text.replace(old, new)
    return text


def _r2gen_sentence(sentence: str) -> str:
    for ch in ('"', "/", "\\", "'"):
        sentence = sentence.replace(ch, "")
    return _R2GEN_STRIP.sub("", sentence.strip().lower())


def _r2gen(text: str, *, mimic: bool) -> str:
    if mimic:
        text = text.replace("\n", " ")
        text = _replace_repeatedly(text, "__", "_", 7)
        text = _replace_repeatedly(text, "  ", " ", 6)
        text = _replace_repeatedly(text, "..", ".", 8)
    else:
        text = _replace_repeatedly(text, "..", ".", 3)
    text = text.replace("1. ", "")
    for old, new in _NUMBERED:
        text = text.replace(old, new)
    sentences = text.strip().lower().split(". ")
    # R2Gen's filter compares a string with [] and so keeps every sentence, empty ones included.
    return " . ".join(_r2gen_sentence(s) for s in sentences) + " ."


def normalize(text: str, mode: Normalization) -> str:
    """Apply normalisation ``mode`` to one report."""
    if mode == "none":
        return text
    if mode == "lower":
        return text.lower()
    if mode == "r2gen":
        return _r2gen(text, mimic=False)
    if mode == "r2gen_mimic":
        return _r2gen(text, mimic=True)
    raise ValueError(f"unknown normalisation {mode!r}")
