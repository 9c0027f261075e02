"""Parity of ``radgraph`` with the official ``radgraph`` package (0.1.18) on synthetic archives.

The official package runs in its own venv (``.venv-official-radgraph``, made by ``.ci/setup_official_radgraph.sh``:
its vendored AllenNLP needs transformers < 5) through ``tests/support/official_radgraph_runner.py``, exchanging JSON.
Both sides load the same synthetic archive (``rrg_eval.synthetic_weights.radgraph``; the official package finds it in a
hub-cache folder, offline) and score the same 240 IU X-ray validation pairs (with empty reports, odd characters
and reports longer than 512 word pieces among them); every key, every per-report value and every graph must
agree. rrg-eval runs with a small scoring block (``BLOCK_BYTES`` = 64 KiB: about 130 spans, one row of span pairs
per block) so that the blocking that bounds its memory (issue 11, item 23) is what is compared.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from rrg_eval.synthetic_weights import radgraph as synth

REPO = Path(__file__).resolve().parents[2]
OFFICIAL_VENV = Path(os.environ.get("OFFICIAL_RADGRAPH_VENV", REPO / ".venv-official-radgraph"))
OFFICIAL_PY = OFFICIAL_VENV / "bin" / "python"
RUNNER = REPO / "tests" / "support" / "official_radgraph_runner.py"
N_PAIRS = 240

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not OFFICIAL_PY.is_file(), reason=f"official radgraph venv absent ({OFFICIAL_VENV}); "
                       "create it with .ci/setup_official_radgraph.sh"),
]


def parity_pairs(rows: list[dict]) -> tuple[list[str], list[str]]:
    """Predictions that share some findings with their references (so F1 values are spread), plus empties."""
    refs = [r["report"] for r in rows[:N_PAIRS]]
    preds = []
    for i, ref in enumerate(refs):
        sentences = [s for s in ref.split(". ") if s]
        if i % 3 == 0:  # another report
            preds.append(rows[(i * 7 + 3) % len(rows)]["report"])
        elif i % 3 == 1:  # the reference without its first sentence
            preds.append(". ".join(sentences[1:]) or ref)
        else:  # the reference's sentences reversed, plus a sentence of another report
            other = rows[(i * 11 + 5) % len(rows)]["report"].split(". ")[0]
            preds.append(". ".join(reversed(sentences)) + ". " + other)
    preds[5] = ""
    preds[17] = ""
    refs[29] = ""
    # odd characters, and reports longer than the encoder's 512 word pieces (encoded in windows)
    preds[40] = ("Lungs clear \u2713 \u2014 no effusion; na\u00efve caf\u00e9 \u4e2d\u6587 \U0001F642 (5%). "
                 "3/4 \u200b x\ty")
    refs[41] = "C\u0153ur normal.\\n Pas d'\u00e9panchement /. ni de pneumothorax /? \"quoted\" 10%, 20%) \u2122"
    preds[50] = " ".join(r["report"] for r in rows[300:316])
    refs[61] = " ".join(r["report"] for r in rows[320:330])
    return preds, refs


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    model_dir = tmp_path_factory.mktemp("rg-models")
    synth.synthesize(model_dir, "tiny", seed=0, model_types=("radgraph-xl", "radgraph", "modern-radgraph-xl"))
    hub = synth.official_hub_cache(model_dir, tmp_path_factory.mktemp("rg-hub"))
    return model_dir, hub


def run_official(hub: Path, model_type: str, preds: list[str], refs: list[str], work: Path) -> dict:
    job = work / f"job-{model_type}.json"
    out = work / f"out-{model_type}.json"
    job.write_text(json.dumps({"hub_cache": str(hub), "model_type": model_type, "hyps": preds, "refs": refs,
                               "threads": 1}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run([str(OFFICIAL_PY), str(RUNNER), str(job), str(out)], capture_output=True, text=True,
                          env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.mark.parametrize("model_type", ["radgraph-xl", "radgraph", "modern-radgraph-xl"])
def test_parity_with_official(model_type: str, synthetic: tuple[Path, Path], iu_val: list[dict],
                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    model_dir, hub = synthetic
    preds, refs = parity_pairs(iu_val)
    official = run_official(hub, model_type, preds, refs, tmp_path)

    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(model_dir))
    from rrg_eval.backends import radgraph_model
    from rrg_eval.metrics.registry import load_metric

    monkeypatch.setattr(radgraph_model, "BLOCK_BYTES", 1 << 16)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        metric = load_metric("radgraph", model_type=model_type, device="cpu")
        result = metric.compute(predictions=preds, references=refs, cache_dir=tmp_path / "cache")
    finally:
        torch.set_num_threads(threads)

    for j, key in enumerate(metric.keys):
        assert result.scores[key] == pytest.approx(official["mean"][j], abs=1e-6), key
        ours = result.per_report[key]
        theirs = np.asarray(official["rewards"][j])
        assert ours.shape == theirs.shape
        assert np.abs(ours - theirs).max() <= 1e-6, (key, np.flatnonzero(np.abs(ours - theirs) > 1e-6)[:10])
    # the graphs of the non-empty pairs, in the official order
    live = [i for i in range(len(preds)) if preds[i] and refs[i]]
    assert len(official["hyp_annotations"]) == len(live)
    for j, i in enumerate(live):
        assert result.stats["prediction_entities"][i] == official["hyp_annotations"][j]["entities"], i
        assert result.stats["reference_entities"][i] == official["ref_annotations"][j]["entities"], i
    # the comparison means something: entities, relations and spread-out scores
    assert sum(len(e) for e in result.stats["reference_entities"]) > 5 * len(refs)
    assert sum(len(v["relations"]) for e in result.stats["reference_entities"] for v in e.values()) > len(refs)
    assert 0.05 < result.scores["radgraph_simple"] < 0.95
    assert len(set(np.round(result.per_report["radgraph_complete"], 6))) > 20
    assert any("longer than" in w for w in result.warnings)


def test_whitespace_only_official_raises_rrg_eval_scores_0(synthetic: tuple[Path, Path], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 11, item 24: the official package fails on a whitespace-only report (its AllenNLP reader asserts);
    rrg-eval scores the pair 0 and says in its warning that this is its own choice."""
    model_dir, hub = synthetic
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"hub_cache": str(hub), "model_type": "radgraph", "hyps": ["  \n "],
                               "refs": ["Heart size normal."], "threads": 1}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run([str(OFFICIAL_PY), str(RUNNER), str(job), str(tmp_path / "out.json")],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode != 0 and "AssertionError" in proc.stderr

    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(model_dir))
    from rrg_eval.metrics.registry import load_metric

    result = load_metric("radgraph", model_type="radgraph", device="cpu").compute(
        predictions=["  \n "], references=["Heart size normal."], cache_dir=tmp_path / "cache")
    assert result.scores == {"radgraph_simple": 0.0, "radgraph_partial": 0.0, "radgraph_complete": 0.0}
    assert any("the official package raises on them" in w for w in result.warnings)
