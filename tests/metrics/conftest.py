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
    """sembscore and a bertscore with the cxr preset registered as stand-ins; radgraph_combined replaced too."""
    CALLS.clear()
    monkeypatch.setitem(registry._extra, "sembscore", FakeSembScore)
    for name, cls in (("bertscore", FakeBertScore), ("radgraph_combined", FakeRadGraph)):
        monkeypatch.delitem(registry.BUILTIN, name)
        monkeypatch.setitem(registry._extra, name, cls)
