"""Fixtures of the metric tests."""

from __future__ import annotations

import pytest
from radcliq_stand_ins import CALLS, FakeBertScore, FakeRadGraph, FakeSembScore

from rrg_eval.metrics import registry


@pytest.fixture()
def stand_in_calls() -> dict[str, int]:
    return CALLS


@pytest.fixture()
def stand_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    """sembscore, bertscore (with a preset option) and radgraph_combined replaced by counting stand-ins."""
    CALLS.clear()
    for name, cls in (("bertscore", FakeBertScore), ("radgraph_combined", FakeRadGraph),
                      ("sembscore", FakeSembScore)):
        monkeypatch.delitem(registry.BUILTIN, name)
        monkeypatch.setitem(registry._extra, name, cls)
