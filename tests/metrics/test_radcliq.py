"""``radcliq``: the published composite against the reference formula (scikit-learn's StandardScaler and
LinearRegression, as ``CXRMetric/run_eval.py`` applies them), the constants against RadEval's copy, and the
composite orchestration (components declared, computed once, unavailable without their weights), and radcliq
end to end on the real components with synthetic weights (slow).

RadEval's pinned per-pair values (``tests/test_radcliq.py``: 0.8346, 0.0416, 0.3987 on three pairs) come from
the real weights of all four components and RadEval does not give the feature vectors behind them, so they cannot
be checked without those weights; the formula is checked on fixed feature vectors instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rrg_eval
from rrg_eval.errors import MetricUnavailable
from rrg_eval.metrics import radcliq as rq
from rrg_eval.metrics.base import RunContext

FEATURES = np.array([
    [0.0, 0.0, 0.0, 0.0],
    [1.0, 1.0, 1.0, 1.0],
    [0.5379231241355762, 0.6175725628125001, 0.7647942121140658, 0.44738335396242174],
    [0.25, -0.3, 0.9, 0.1],
    [0.731, 0.412, 0.95, 0.623],
    [0.05, 0.88, 0.12, 0.0],
])


def sklearn_reference(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """run_eval.calc_metric with the pickled objects rebuilt from the constants (v1, v0)."""
    sklearn_pre = pytest.importorskip("sklearn.preprocessing")
    from sklearn.linear_model import LinearRegression

    def scaler(mean: np.ndarray, scale: np.ndarray) -> Any:
        s = sklearn_pre.StandardScaler()
        s.mean_, s.scale_, s.var_ = mean, scale, scale ** 2
        s.n_features_in_ = 4
        return s

    v1_scaler = scaler(rq.V1_MEAN, rq.V1_SCALE)
    norm = v1_scaler.transform(features)  # CompositeMetric.predict
    v1 = np.concatenate((norm, np.ones((norm.shape[0], 1))), axis=1) @ rq.V1_COEFS
    model = LinearRegression()
    model.coef_, model.intercept_, model.n_features_in_ = rq.V0_COEF, rq.V0_INTERCEPT, 4
    v0 = model.predict(scaler(rq.V0_MEAN, rq.V0_SCALE).transform(features))
    return v1, v0


def test_formula_against_reference() -> None:
    v1, v0 = sklearn_reference(FEATURES)
    assert np.abs(rq.radcliq_v1(FEATURES) - v1).max() <= 1e-9
    assert np.abs(rq.radcliq_v0(FEATURES) - v0).max() <= 1e-9
    # at the training mean, v1 is its intercept; a perfect report scores below a useless one
    assert rq.radcliq_v1(FEATURES[2:3])[0] == pytest.approx(rq.V1_COEFS[-1], abs=1e-12)
    assert rq.radcliq_v1(FEATURES[1:2])[0] < rq.radcliq_v1(FEATURES[0:1])[0]


def test_constants_agree_with_radeval() -> None:
    """RadEval's radeval/metrics/RadCliQv1/radcliq.py (commit e0a3909) hard-codes the v1 constants, rounded."""
    radeval_mean = [0.53792312, 0.61757256, 0.76479421, 0.44738335]
    radeval_scale = [0.30282584, 0.22430938, 0.25394391, 0.29892717]
    radeval_coefs = [-3.77083683e-01, -3.70300100e-01, -2.52616218e-01, 4.31504841e-12, 2.46655256e-10]
    assert np.allclose(rq.V1_MEAN, radeval_mean, atol=5e-9, rtol=0)
    assert np.allclose(rq.V1_SCALE, radeval_scale, atol=5e-9, rtol=0)
    assert np.allclose(rq.V1_COEFS, radeval_coefs, rtol=5e-9, atol=0)


def test_aggregate_inverse_and_sign_problem() -> None:
    metric = rrg_eval.load_metric("radcliq")
    stats = {"radcliq_features": FEATURES[[0, 3, 5]]}
    scores = metric.aggregate(stats)
    v1 = rq.radcliq_v1(FEATURES[[0, 3, 5]])
    assert scores["radcliq_v1"] == pytest.approx(v1.mean(), abs=1e-15)
    assert scores["radcliq_v1_inverse"] == pytest.approx(1 / v1.mean(), abs=1e-12)
    good = {"radcliq_features": FEATURES[[1, 4]]}  # mean RadCliQ-v1 < 0: no inverse, and a warning
    assert metric.aggregate(good)["radcliq_v1"] < 0
    assert "radcliq_v1_inverse" not in metric.aggregate(good)
    context = RunContext()
    metric.combine(FEATURES[[1, 4]], context)
    assert any("not positive" in w for w in context.warnings)
    assert metric.lower_is_better == {"radcliq_v1", "radcliq_v0"}


def test_unavailable_without_component_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every component exists now; without their weights (offline, empty model folder) radcliq says which."""
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    metric = rrg_eval.load_metric("radcliq")
    assert [type(m).__name__ for m in metric.component_metrics()] == ["RadGraphCombined", "BertScore", "SembScore",
                                                                      "Bleu2Cxr"]
    reason = metric.unavailable_reason()
    assert reason is not None and reason.startswith("component ") and "cannot run" in reason
    with pytest.raises(MetricUnavailable, match="component"):
        rrg_eval.score(predictions=["a"], references=["a"], metrics=["radcliq"], use_cache=False)
    result = rrg_eval.score(predictions=["a b"], references=["a b"], metrics=None, use_cache=False)
    assert "radcliq" in result.unavailable


# -- the orchestration, with stand-ins for the components still to be added (conftest.stand_ins) ----------


def test_components_computed_once(stand_ins: None, stand_in_calls: dict[str, int]) -> None:
    preds = ["No effusion.", "Heart normal. Lungs clear.", "", "Mild cardiomegaly."]
    refs = ["No pleural effusion.", "Lungs are clear.", "Normal.", "Cardiomegaly, mild."]
    result = rrg_eval.score(predictions=preds, references=refs, use_cache=False,
                            metrics=["bleu2_cxr", "radcliq", "sembscore"])
    assert stand_in_calls == {"bertscore": 1, "sembscore": 1, "radgraph_combined": 1}
    assert not result.errors and set(result.scores) >= {"bleu2_cxr", "sembscore", "radcliq_v1", "radcliq_v0"}
    assert "radgraph_combined" not in result.scores  # computed for radcliq, not asked for
    features = np.column_stack([result.stats["radcliq"]["radcliq_features"][:, 0],
                                result.stats["radcliq"]["radcliq_features"][:, 1],
                                result.per_report_values["sembscore"], result.per_report_values["bleu2_cxr"]])
    v1, v0 = sklearn_reference(features)
    assert np.abs(result.per_report_values["radcliq_v1"] - v1).max() <= 1e-9
    assert np.abs(result.per_report_values["radcliq_v0"] - v0).max() <= 1e-9
    assert result.scores["radcliq_v1"] == pytest.approx(v1.mean(), abs=1e-9)
    assert not result.key_info["radcliq_v1"].higher_is_better
    assert rq.RadCliQ.higher_is_better("radcliq_v1_inverse")
    if v1.mean() > 0:
        assert result.scores["radcliq_v1_inverse"] == pytest.approx(1 / v1.mean(), abs=1e-9)
    else:
        assert "radcliq_v1_inverse" not in result.scores
        assert any("radcliq: mean RadCliQ-v1 is not positive" in w for w in result.warnings)
    sig = result.signatures["radcliq"]
    assert "consts:rajpurkarlab/CXR-Report-Metric@9c9ecad3" in sig and "preset:cxr" in sig


def test_idf_option_reaches_the_bertscore_component(stand_ins: None) -> None:
    metric = rrg_eval.load_metric("radcliq", idf=True)
    bert = metric.component_metrics()[1]
    assert bert.config.idf is True and bert.config.preset == "cxr"
    assert "idf:yes" in metric.signature() or "idf:True" in metric.signature() or "idf:true" in metric.signature()


def test_compute_once_memo(stand_ins: None, stand_in_calls: dict[str, int]) -> None:
    """Same class and options (speed options aside) on the same pairs: one computation per run context."""
    from rrg_eval.metrics.base import compute_once
    from rrg_eval.metrics.registry import load_metric

    context = RunContext()
    args = {"predictions": ["a b", "c"], "references": ["a b", "d"], "ids": ["1", "2"], "context": context}
    first = compute_once(load_metric("sembscore"), **args)
    assert compute_once(load_metric("sembscore", device="cpu"), **args) is first  # device: speed only
    assert stand_in_calls == {"sembscore": 1}
    compute_once(load_metric("bertscore", idf=True), **args)
    compute_once(load_metric("bertscore", idf=False), **args)
    assert stand_in_calls["bertscore"] == 2  # an option that changes numbers: computed again
    compute_once(load_metric("sembscore"), **{**args, "predictions": ["a b", "x"]})
    assert stand_in_calls["sembscore"] == 2  # other pairs
    compute_once(load_metric("sembscore"), **{**args, "context": RunContext()})
    assert stand_in_calls["sembscore"] == 3  # another run


# -- end to end on the real components (tiny synthetic weights) ---------------------------------------------------


@pytest.mark.slow
def test_radcliq_on_real_components(cxr_models: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                    iu_pairs: tuple[list[str], list[str], list[str]]) -> None:
    """radcliq with its components and f1chexbert in one run: each component once, one CheXbert pass, the
    composite equal to the reference formula on the components' own per-report values; the rexrank suite."""
    from rrg_eval.metrics.f1chexbert import F1CheXbert

    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(cxr_models))
    passes: list[int] = []
    original = F1CheXbert.load_backend

    def counting(self: F1CheXbert) -> Any:
        backend = original(self)
        run = backend.run

        def counted(texts: list[str]) -> Any:
            passes.append(len(texts))
            return run(texts)

        backend.run = counted
        return backend

    monkeypatch.setattr(F1CheXbert, "load_backend", counting)
    ids, preds, refs = (list(x[:40]) for x in iu_pairs)
    result = rrg_eval.score(predictions=dict(zip(ids, preds)), references=dict(zip(ids, refs)), use_cache=False,
                            device="cpu", metrics=["radcliq", "bleu2_cxr", "sembscore", "radgraph_combined",
                                                   "bertscore", "f1chexbert"], bertscore={"preset": "cxr"})
    assert not result.errors, result.errors
    assert passes == [len(set(t.strip() for t in preds + refs))]  # one CheXbert pass for sembscore + f1chexbert
    features = np.column_stack([result.per_report_values[k] for k in ("radgraph_combined", "bertscore_cxr_f1",
                                                                      "sembscore", "bleu2_cxr")])
    v1, v0 = sklearn_reference(features)
    assert np.abs(result.per_report_values["radcliq_v1"] - v1).max() <= 1e-9
    assert np.abs(result.per_report_values["radcliq_v0"] - v0).max() <= 1e-9
    suite = rrg_eval.score(predictions=dict(zip(ids, preds)), references=dict(zip(ids, refs)), use_cache=False,
                           device="cpu", suite="rexrank")
    assert not suite.errors, suite.errors
    for key in ("bleu2_cxr", "bertscore_cxr_f1", "sembscore", "radgraph_combined", "radcliq_v1"):
        assert suite.scores[key] == pytest.approx(result.scores[key], abs=1e-12), key
    assert ("radcliq_v1_inverse" in suite.scores) == (suite.scores["radcliq_v1"] > 0)
