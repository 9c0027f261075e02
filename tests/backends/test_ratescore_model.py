"""RaTEScore back-end pieces: the package's IOB walk (quirks included), the sentence filter, torch.topk's ties.

Expected spans are worked out by hand from the walk of ratescore 0.6.0 (``RaTEScore/utils.py``,
``post_process``): a label acts through the label after it, and ``[CLS]``/``[SEP]`` are skipped.
"""

from __future__ import annotations

import numpy as np
import pytest

from rrg_eval.backends.ratescore_model import LABELS, entity_spans, keep_sentence
from rrg_eval.metrics.ratescore import torch_top1

TOKENS = ["[CLS]", "a", "b", "c", "[SEP]"]


@pytest.mark.parametrize(("labels", "expected"), [
    (["O", "B-X", "I-X", "O", "O"], [(1, 2, "X")]),                      # B I O: one entity
    (["O", "B-X", "B-Y", "O", "O"], [(1, 1, "X"), (2, 2, "Y")]),         # B B: one-token entities
    (["O", "B-X", "I-X", "B-Y", "O"], [(1, 2, "X"), (3, 3, "Y")]),       # I B closes the open entity
    (["O", "B-X", "I-X", "I-X", "I-Y"], [(1, 3, "X")]),                  # open at the end: up to before [SEP]
    (["O", "B-X", "B-Y", "I-Y", "I-Y"], [(1, 1, "X")]),                  # open at the end after B B: lost
    (["O", "I-X", "O", "O", "O"], []),                                   # I without B opens nothing
    (["O", "O", "O", "B-X", "I-Y"], [(3, 3, "X")]),                      # the [SEP] label counts as follower
    (["B-X", "I-X", "O", "O", "B-X"], []),                               # labels on [CLS]/[SEP] are skipped
])
def test_entity_spans_follow_the_package_walk(labels: list[str], expected: list[tuple[int, int, str]]) -> None:
    assert entity_spans(TOKENS, labels) == expected


def test_b_after_i_starts_its_own_entity() -> None:
    tokens = ["[CLS]", "a", "b", "c", "d", "[SEP]"]
    # I-X then B-Y: X closes at b; the entity the walk reopens at b is overridden by the B at c
    assert entity_spans(tokens, ["O", "B-X", "I-X", "B-Y", "O", "O"]) == [(1, 2, "X"), (3, 3, "Y")]
    assert entity_spans(tokens, ["O", "B-X", "I-X", "B-Y", "I-Y", "O"]) == [(1, 2, "X"), (3, 4, "Y")]


def test_label_set() -> None:
    assert len(LABELS) == 11 and LABELS[-1] == "O"
    assert {lab[2:] for lab in LABELS if lab != "O"} == {"ABNORMALITY", "NON-ABNORMALITY", "DISEASE",
                                                          "NON-DISEASE", "ANATOMY"}


@pytest.mark.parametrize(("text", "kept"), [
    ("  The lungs are clear.  ", "The lungs are clear."), ("ab", None), (" a ", None), ("abc", "abc"),
    ("...", "..."), (" \n\t ", None), ("", None),
])
def test_sentence_filter(text: str, kept: str | None) -> None:
    assert keep_sentence(text) == kept


def test_top1_equals_torch_topk_with_ties() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for n in [*range(1, 70), 100, 130]:
        for _ in range(40):
            values = (rng.integers(0, 4, size=n) / 3).astype(np.float32)
            expected = int(torch.topk(torch.from_numpy(values), 1, largest=True).indices[0])
            assert torch_top1(values) == expected, (n, values.tolist())
