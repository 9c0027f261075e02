"""``radgraph`` metric: preprocessing, rewards, caching and bad input, on a tiny synthetic archive.

Parity with the official package lives in ``test_radgraph_parity.py``; the golden values of the real weights in
``test_radgraph_golden`` below (marked ``model``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from rrg_eval.errors import MetricUnavailable
from rrg_eval.metrics.radgraph import report_rewards
from rrg_eval.metrics.registry import load_metric
from rrg_eval.stats import concat, take

pytest.importorskip("torch")
pytest.importorskip("transformers")

from rrg_eval.backends.radgraph_model import words_of  # noqa: E402
from rrg_eval.synthetic_weights import radgraph as synth  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rg-tiny")
    synth.synthesize(out, "tiny", seed=0, model_types=("radgraph-xl",))
    return out


@pytest.fixture()
def metric(model_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(model_dir))
    m = load_metric("radgraph", device="cpu")
    yield m
    m.close()


def test_words_of_xl_and_v1() -> None:
    text = 'Tube (5 cm).\\nSize 10%, "x" /. y\nz\\u2122ok'
    assert words_of(text, "radgraph-xl") == ["Tube", "(", "5", "cm", ")", ".", "Size", "10", "%", ",",
                                              '"', "x", '"', "/.", "y", "z", "ok"]
    assert words_of("Lungs/heart: clear, (no) effusion-free.", "radgraph") == [
        "Lungs", "/", "heart", ":", "clear", ",", "(", "no", ")", "effusion-free", "."]
    assert words_of("   ", "radgraph-xl") == []


def _entity(tokens: str, label: str, relations: list[list[str]] | None = None) -> dict:
    return {"tokens": tokens, "label": label, "start_ix": 0, "end_ix": 0, "relations": relations or []}


def test_report_rewards_by_hand() -> None:
    hyp = {"1": _entity("Effusion", "OBS-DP", [["located_at", "2"]]), "2": _entity("pleural", "ANAT-DP"),
           "3": _entity("heart", "ANAT-DP")}
    ref = {"1": _entity("effusion", "OBS-DP", [["located_at", "2"]]), "2": _entity("pleural", "ANAT-DP")}
    simple, partial, complete = report_rewards(hyp, ref)
    # simple: hyp {Effusion, pleural, heart} vs ref {effusion, pleural}: p=1/3, r=1/2
    assert simple == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    # partial: (Effusion, OBS-DP, True) differs by case from (effusion, ...); pleural matches
    assert partial == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    # complete: relation tuples are lowercased, so (effusion, OBS-DP, located_at, pleural) matches too
    assert complete == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))
    lower = report_rewards(hyp, ref, lowercase=True)
    assert lower[0] == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))
    assert report_rewards({}, ref) == (0.0, 0.0, 0.0)
    assert report_rewards(hyp, {}) == (0.0, 0.0, 0.0)


def test_scores_empty_reports_and_warnings(metric, iu_val: list[dict], tmp_path: Path) -> None:
    refs = [r["report"] for r in iu_val[:6]]
    preds = [refs[0], "", refs[2], "   ", refs[4], refs[5]]
    refs[5] = ""
    result = metric.compute(predictions=preds, references=refs, cache_dir=tmp_path)
    per = result.per_report
    assert set(result.scores) == set(metric.keys)
    for key in metric.keys:
        assert per[key][[1, 3, 5]].tolist() == [0.0, 0.0, 0.0]  # empty or blank: 0, and in the mean
        assert result.scores[key] == pytest.approx(per[key].mean())
    assert per["radgraph_simple"][0] == 1.0  # identical non-empty report with entities
    assert any("empty prediction" in w for w in result.warnings)
    assert any("empty reference" in w for w in result.warnings)
    assert any("1 pair(s) with a blank" in w for w in result.warnings)
    assert result.stats["prediction_entities"][1] == {}
    assert result.stats["reference_entities"][0] == result.stats["prediction_entities"][0]
    assert "model:radgraph-xl" in result.signature and "lower:no" in result.signature
    assert "weights:" in result.signature and "unresolved" not in result.signature


def test_aggregate_is_pure_over_rows(metric, iu_pairs, tmp_path: Path) -> None:
    ids, preds, refs = iu_pairs
    result = metric.compute(predictions=preds[:12], references=refs[:12], cache_dir=tmp_path)
    stats = result.stats
    both = concat(take(stats, range(6)), take(stats, range(6, 12)))
    assert metric.aggregate(both) == metric.aggregate(stats)
    resampled = take(stats, [0, 0, 3])
    assert metric.aggregate(resampled)["radgraph_simple"] == pytest.approx(
        np.mean(result.per_report["radgraph_simple"][[0, 0, 3]]))


def test_cache_annotates_references_once(metric, iu_pairs, tmp_path: Path) -> None:
    ids, preds, refs = iu_pairs
    model = metric.model()
    seen: list[str] = []
    original = model.annotate

    def counting(texts):
        seen.extend(texts)
        return original(texts)

    model.annotate = counting
    first = metric.compute(predictions=preds[:10], references=refs[:10], cache_dir=tmp_path)
    assert len(seen) == len(set(preds[:10]) | set(refs[:10]))
    seen.clear()
    other = [p + " No pneumothorax." for p in preds[:10]]
    second = metric.compute(predictions=other, references=refs[:10], cache_dir=tmp_path)
    assert sorted(seen) == sorted(set(other))  # references came from the cache
    seen.clear()
    again = metric.compute(predictions=preds[:10], references=refs[:10], cache_dir=tmp_path)
    assert seen == []
    assert again.scores == first.scores
    assert second.stats["reference_entities"] == first.stats["reference_entities"]


def test_batching_does_not_change_graphs(model_dir: Path, monkeypatch: pytest.MonkeyPatch, iu_val) -> None:
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(model_dir))
    texts = [r["report"] for r in iu_val[:12]]
    one = load_metric("radgraph", batch_size=1, device="cpu").annotate(texts)
    many = load_metric("radgraph", batch_size=8, device="cpu").annotate(texts)
    assert [g["entities"] for g in one] == [g["entities"] for g in many]


def test_blocked_scoring_does_not_change_graphs(model_dir: Path, monkeypatch: pytest.MonkeyPatch, iu_val) -> None:
    """Spans and span pairs scored a few at a time (issue 11, item 23) give the graphs of one block per report."""
    from rrg_eval.backends import radgraph_model

    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(model_dir))
    texts = [r["report"] for r in iu_val[:8]] + [" ".join(r["report"] for r in iu_val[20:30])]
    whole = load_metric("radgraph", device="cpu").annotate(texts)
    monkeypatch.setattr(radgraph_model, "BLOCK_BYTES", 4096)  # ~8 spans, one row of pairs per block
    blocked = load_metric("radgraph", device="cpu").annotate(texts)
    assert [g["entities"] for g in blocked] == [g["entities"] for g in whole]
    assert sum(len(e["relations"]) for g in whole for e in g["entities"].values()) > 20


def test_long_reports_are_windowed_and_counted(metric, iu_val: list[dict], tmp_path: Path) -> None:
    long = " ".join(r["report"] for r in iu_val[:20])
    result = metric.compute(predictions=[long, "Heart normal."], references=[iu_val[0]["report"], long],
                            cache_dir=tmp_path)
    warnings = [w for w in result.warnings if "longer than" in w]
    assert len(warnings) == 1 and warnings[0].startswith("radgraph: 1 report(s)")
    graph = metric.annotate([long], cache_dir=tmp_path)[0]
    assert graph["windows"] >= 2 and graph["n_wordpieces"] > 510
    assert max(int(e["end_ix"]) for e in graph["entities"].values()) > 300  # entities past the first window


def test_odd_characters(metric, tmp_path: Path) -> None:
    preds = ["Lungs clear \u2713 \u2014 no effusion; na\u00efve caf\u00e9 \u4e2d\u6587 \U0001F642 \u200b \x00 \ufeff",
             "\u0645\u0631\u062d\u0628\u0627 \u0431\u0435\u0437 \u043f\u0430\u0442\u043e\u043b\u043e\u0433\u0438\u0438",
             "\u200b\u200b"]
    refs = ["Heart size normal.", "Normal.", "No acute disease."]
    result = metric.compute(predictions=preds, references=refs, cache_dir=tmp_path)
    for key in metric.keys:
        assert np.all((result.per_report[key] >= 0) & (result.per_report[key] <= 1))


def test_corrupt_cache_is_rebuilt(metric, iu_pairs, tmp_path: Path) -> None:
    ids, preds, refs = iu_pairs
    first = metric.compute(predictions=preds[:5], references=refs[:5], cache_dir=tmp_path)
    files = sorted(tmp_path.glob("radgraph-*.sqlite"))
    assert files
    files[0].write_bytes(b"this is not a sqlite database" * 100)
    again = load_metric("radgraph", device="cpu", model_path=str(metric.archive_path()))
    second = again.compute(predictions=preds[:5], references=refs[:5], cache_dir=tmp_path)
    assert second.scores == first.scores
    assert any("rebuilt" in w for w in second.warnings)
    # a readable file with a broken entry: recomputed, counted
    import sqlite3

    conn = sqlite3.connect(files[0])
    with conn:
        conn.execute("UPDATE entries SET value = ?", (b"{broken",))
    conn.close()
    third = load_metric("radgraph", device="cpu", model_path=str(metric.archive_path())).compute(
        predictions=preds[:5], references=refs[:5], cache_dir=tmp_path)
    assert third.scores == first.scores
    assert any("unreadable cache" in w for w in third.warnings)


def test_missing_weights_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    metric = load_metric("radgraph")
    assert metric.signature().endswith("weights:unresolved")
    with pytest.raises(MetricUnavailable) as err:
        metric.compute(predictions=["Heart normal."], references=["Heart normal."], cache_dir=tmp_path)
    message = str(err.value)
    assert "radgraph-xl.tar.gz" in message
    assert "StanfordAIMI--RRG_scorers" in message and str(tmp_path / "empty") in message
    assert "rrg-eval models download" in message
    assert [r.filename for r in metric.required_weights()] == ["radgraph-xl.tar.gz"]


def test_required_weights_name_the_encoder(metric) -> None:
    requests = metric.required_weights()
    assert [(r.repo_id, r.filename) for r in requests] == [
        ("StanfordAIMI/RRG_scorers", "radgraph-xl.tar.gz"),
        ("rrg-eval-synthetic/radgraph-xl-encoder-tiny", "config.json"),
        ("rrg-eval-synthetic/radgraph-xl-encoder-tiny", "vocab.txt")]


def test_config_options_and_signature() -> None:
    m = load_metric("radgraph", model_type="radgraph", lowercase="true", batch_size="4")
    sig = m.signature()
    assert "model:radgraph|" in sig and "lower:yes" in sig and "batch" not in sig
    assert m.required_weights()[0].filename == "radgraph.tar.gz"


# -- golden values of the real weights ----------------------------------------------------------------------
# radgraph 0.1.18, tests/radgraph_test.py::test_f1radgraph:
#   F1RadGraph(reward_level="all", model_type="radgraph")(hyps=HYPS, refs=REFS)
GOLDEN_REFS = [
    "no acute cardiopulmonary abnormality",
    "et tube terminates 2 cm above the carina retraction by several centimeters is recommended for more optimal "
    "placement bibasilar consolidations better assessed on concurrent chest ct",
    "there is no significant change since the previous exam the feeding tube and nasogastric tube have been removed",
    "unchanged mild pulmonary edema no radiographic evidence pneumonia",
    "no evidence of acute pulmonary process moderately large size hiatal hernia",
    "no acute intrathoracic process",
]
GOLDEN_HYPS = [
    "no acute cardiopulmonary abnormality",
    "endotracheal tube terminates 2 5 cm above the carina bibasilar opacities likely represent atelectasis or "
    "aspiration",
    "there is no significant change since the previous exam",
    "unchanged mild pulmonary edema and moderate cardiomegaly",
    "no evidence of acute cardiopulmonary process moderate hiatal hernia",
    "no acute cardiopulmonary process",
]
GOLDEN_MEAN = (0.6238095238095238, 0.5111111111111111, 0.5011204481792717)
GOLDEN_PER_REPORT = ([1.0, 0.4, 0.5714285714285715, 0.8, 0.5714285714285715, 0.4],
                     [1.0, 0.26666666666666666, 0.5714285714285715, 0.4, 0.42857142857142855, 0.4],
                     [1.0, 0.23529411764705885, 0.5714285714285715, 0.4, 0.4, 0.4])


@pytest.mark.model
def test_radgraph_golden(tmp_path: Path) -> None:
    root = os.environ.get("RRG_EVAL_MODEL_DIR")
    if not root or not (Path(root) / "StanfordAIMI--RRG_scorers" / "radgraph.tar.gz").is_file():
        pytest.skip("needs StanfordAIMI--RRG_scorers/radgraph.tar.gz (and its encoder) in $RRG_EVAL_MODEL_DIR")
    metric = load_metric("radgraph", model_type="radgraph")
    result = metric.compute(predictions=GOLDEN_HYPS, references=GOLDEN_REFS, cache_dir=tmp_path)
    for j, key in enumerate(metric.keys):
        assert result.scores[key] == pytest.approx(GOLDEN_MEAN[j], abs=1e-9)
        assert result.per_report[key].tolist() == pytest.approx(GOLDEN_PER_REPORT[j], abs=1e-9)
