"""Parity of ``radgraph_combined``: CXR-Report-Metric's definition applied to the official ``radgraph`` package's
(0.1.18) annotations of the same synthetic archives, against ours.

The reference side below restates ``CXRMetric/radgraph_evaluate_model.py`` (``parse_entity_relation``,
``compute_f1``, ``add_radgraph_col``): entities {(tokens, label)}, relations {((tokens, label), (target tokens,
target label), relation)}, F1 of the reference's set against the prediction's, 0 when undefined; a report
without a graph (an empty text) has empty sets. The graphs come from ``tests/official_radgraph_runner.py`` in
``.venv-official-radgraph`` (``.ci/setup_official_radgraph.sh``); pairs as in ``tests/test_radgraph_parity.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from test_radgraph_parity import OFFICIAL_PY, OFFICIAL_VENV, parity_pairs, run_official  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not OFFICIAL_PY.is_file(), reason=f"official radgraph venv absent ({OFFICIAL_VENV}); "
                       "create it with .ci/setup_official_radgraph.sh"),
]


def reference_sets(annotation: dict) -> tuple[set, set]:
    """CXR-Report-Metric's parse_entity_relation for one report's graph."""
    entities = annotation["entities"]
    ents = {(e["tokens"], e["label"]) for e in entities.values()}
    rels = set()
    for e in entities.values():
        for rel in e["relations"]:
            target = entities[rel[1]]
            rels.add(((e["tokens"], e["label"]), (target["tokens"], target["label"]), rel[0]))
    return ents, rels


def reference_f1(test: set, retrieved: set) -> float:
    """CXR-Report-Metric's compute_f1(test, retrieved)."""
    tp = len(test & retrieved)
    fp = len(retrieved) - tp
    fn = len(test) - tp
    precision = tp / (tp + fp) if tp + fp != 0 else 0
    recall = tp / (tp + fn) if tp + fn != 0 else 0
    return 2 * precision * recall / (precision + recall) if precision + recall != 0 else 0


@pytest.mark.parametrize("model_type", ["radgraph", "radgraph-xl"])
def test_parity_with_official_graphs(model_type: str, iu_val: list[dict], tmp_path_factory: pytest.TempPathFactory,
                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from rrg_eval.synthetic_weights import radgraph as synth

    model_dir = tmp_path_factory.mktemp("rgc-models")
    synth.synthesize(model_dir, "tiny", seed=0, model_types=(model_type,))
    hub = synth.official_hub_cache(model_dir, tmp_path_factory.mktemp("rgc-hub"))
    preds, refs = parity_pairs(iu_val)
    official = run_official(hub, model_type, preds, refs, tmp_path)
    live = [i for i in range(len(preds)) if preds[i] and refs[i]]
    empty = {"entities": {}}
    hyp_ann = [empty] * len(preds)
    ref_ann = [empty] * len(preds)
    for j, i in enumerate(live):
        hyp_ann[i] = official["hyp_annotations"][j]
        ref_ann[i] = official["ref_annotations"][j]
    expected = []
    for hyp, ref in zip(hyp_ann, ref_ann):
        (he, hr), (re_, rr) = reference_sets(hyp), reference_sets(ref)
        e, r = reference_f1(re_, he), reference_f1(rr, hr)
        expected.append((e, r, (e + r) / 2))
    expected_arr = np.array(expected)

    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(model_dir))
    from rrg_eval.metrics.registry import load_metric

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        metric = load_metric("radgraph_combined", model_type=model_type, device="cpu")
        result = metric.compute(predictions=preds, references=refs, cache_dir=tmp_path / "cache")
    finally:
        torch.set_num_threads(threads)
    for j, key in enumerate(("radgraph_entity_f1", "radgraph_relation_f1", "radgraph_combined")):
        assert np.abs(result.per_report[key] - expected_arr[:, j]).max() <= 1e-12, key
        assert result.scores[key] == pytest.approx(float(expected_arr[:, j].mean()), abs=1e-12)
    assert len(set(np.round(expected_arr[:, 2], 6))) > 20
    assert expected_arr[:, 1].max() > 0  # relations match somewhere
