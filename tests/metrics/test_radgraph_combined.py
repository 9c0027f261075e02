"""``radgraph_combined``: CXR-Report-Metric's entity/relation-set F1, on hand-made graphs and a tiny synthetic
RadGraph v1 archive (parity with the official radgraph package's graphs: ``test_radgraph_combined_parity.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rrg_eval.metrics.radgraph_combined import combined_row, entity_set, relation_set, set_f1
from rrg_eval.metrics.registry import load_metric
from rrg_eval.stats import concat, take

A = {"1": {"tokens": "effusion", "label": "OBS-DA", "relations": [["located_at", "2"]]},
     "2": {"tokens": "pleural", "label": "ANAT-DP", "relations": []}}
B = {"1": {"tokens": "Effusion", "label": "OBS-DA", "relations": [["located_at", "2"]]},
     "2": {"tokens": "pleural", "label": "ANAT-DP", "relations": []},
     "3": {"tokens": "heart", "label": "ANAT-DP", "relations": []}}


def test_sets_and_f1_by_hand() -> None:
    assert entity_set(A) == {("effusion", "OBS-DA"), ("pleural", "ANAT-DP")}
    assert relation_set(A) == {(("effusion", "OBS-DA"), ("pleural", "ANAT-DP"), "located_at")}
    assert set_f1(set(), set()) == 0.0  # two empty sets score 0, as compute_f1 does
    assert set_f1({1}, set()) == 0.0
    assert set_f1({1, 2}, {2, 3, 4}) == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    # case-sensitive: "Effusion" != "effusion"; entity F1 = 2 * 1/3 * 1/2 / (1/3 + 1/2), no relation matches
    ent, rel = combined_row(B, A)
    assert ent == pytest.approx(0.4) and rel == 0.0
    assert combined_row(A, A) == (1.0, 1.0)
    assert combined_row({}, A) == (0.0, 0.0)


pytest.importorskip("torch")
pytest.importorskip("transformers")

from rrg_eval.synthetic_weights import radgraph as synth  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rg-v1-tiny")
    synth.synthesize(out, "tiny", seed=0, model_types=("radgraph",))
    return out


def test_default_model_is_v1_and_signature() -> None:
    metric = load_metric("radgraph_combined")
    assert metric.config.model_type == "radgraph"
    assert "model:radgraph" in metric.signature()
    assert load_metric("radgraph_combined", model_type="radgraph-xl").config.model_type == "radgraph-xl"


def test_equals_definition_on_radgraph_graphs(model_dir: Path, iu_pairs, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Same graphs as ``radgraph`` (shared annotation cache: no second model pass), the reference sets on top."""
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(model_dir))
    ids, preds, refs = (list(x[:40]) for x in iu_pairs)
    preds[3] = ""
    refs[7] = "   "
    radgraph = load_metric("radgraph", model_type="radgraph", device="cpu")
    rg = radgraph.compute(predictions=preds, references=refs, ids=ids, cache_dir=tmp_path)
    radgraph.close()

    from rrg_eval.backends import radgraph_model

    def no_model(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("radgraph_combined re-ran the model although the cache holds every graph")

    monkeypatch.setattr(radgraph_model.RadGraphModel, "annotate", no_model)
    metric = load_metric("radgraph_combined", device="cpu")
    result = metric.compute(predictions=preds, references=refs, ids=ids, cache_dir=tmp_path)
    expected = np.array([combined_row(h, r) for h, r in zip(rg.stats["prediction_entities"],
                                                             rg.stats["reference_entities"])])
    assert np.array_equal(result.per_report["radgraph_entity_f1"], expected[:, 0])
    assert np.array_equal(result.per_report["radgraph_relation_f1"], expected[:, 1])
    assert np.array_equal(result.per_report["radgraph_combined"], (expected[:, 0] + expected[:, 1]) / 2)
    assert result.scores["radgraph_combined"] == pytest.approx(float(expected.mean()), abs=1e-15)
    assert result.per_report["radgraph_combined"][3] == 0.0 and result.per_report["radgraph_combined"][7] == 0.0
    assert "radgraph_combined: 1 empty reference(s), scored 0 (no entities, not sent to the model): rrg-eval's " \
           "choice, the official radgraph package raises on a whitespace-only report" in result.warnings
    assert any(w.startswith("radgraph_combined: 1 empty prediction(s), scored 0") for w in result.warnings)
    # pure aggregate over rows
    both = concat(take(result.stats, range(10)), take(result.stats, range(10, 40)))
    assert metric.aggregate(both) == result.scores
    # the comparison means something
    assert sum(len(e) for e in rg.stats["reference_entities"]) > 40
    assert len(set(np.round(result.per_report["radgraph_combined"], 6))) > 5
