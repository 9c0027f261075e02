"""The seeds' recipes in the reference generator (issue 19): R2Gen2 (native VLM, structured JSON), LLaVA-Rad
(CLIP-style tower + MLP projector + LLM, projector first, then LoRA) and Gla-AI4BioMed at RRG24 (four views
stitched, one model per section). Each tiny config (random weights, CPU) trains a few steps on synthetic studies,
its loss falls, it generates, and ``rrg-eval score`` scores the output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("PIL")

from rrg_baselines.generator.config import CONFIG_DIR, load_config  # noqa: E402
from rrg_baselines.generator.structured import (  # noqa: E402
    json_valid,
    report_to_r2gen2,
    structured_target,
)
from rrg_baselines.studies import Study, read_studies  # noqa: E402
from rrg_baselines.synthetic import make_studies, write_jsonl  # noqa: E402

from rrg_eval.errors import ConfigError, InputError  # noqa: E402

TINY = {"r2gen2-tiny": "r2gen2-qwen2-vl-7b", "llava-rad-tiny": "llava-rad", "rrg24-tiny": "rrg24-gla-findings",
        "rrg24-tiny-impression": "rrg24-gla-impression"}


@pytest.fixture(autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(1)  # tiny ops: a second thread only adds contention on a shared CPU


def _write_set(folder: Path, n_train: int, n_test: int, config: dict | None = None) -> dict[str, Path]:
    images = folder / "img"
    write_jsonl(make_studies(n_train, images, seed=0), folder / "train.jsonl")
    write_jsonl(make_studies(n_test, images, seed=2, prefix="t"), folder / "test.jsonl")
    paths = {"images": images, "train": folder / "train.jsonl", "test": folder / "test.jsonl"}
    if config is not None:
        import yaml

        (folder / "config.yaml").write_text(yaml.safe_dump(config))
        paths["config"] = folder / "config.yaml"
    return paths


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


# ----------------------------------------------------------------------------------------------- configs
def test_every_recipe_has_a_full_size_config_with_its_facts_and_a_tiny_twin() -> None:
    for tiny, full in TINY.items():
        small, big = load_config(tiny), load_config(full)
        assert small.meta.smoke_test and not big.meta.smoke_test
        assert small.arch == big.arch and small.train.schedule == big.train.schedule
        assert small.data.views == big.data.views and small.data.text_field == big.data.text_field
        assert small.mapping.type == big.mapping.type
        assert big.meta.gpu_memory and big.meta.hub_ids and big.meta.published and big.meta.sources
        assert big.lm.pretrained in big.meta.hub_ids
    assert load_config("r2gen2-qwen2-vl-7b-json").data.target == "r2gen2_json"
    assert load_config("r2gen2-tiny").data.target == "r2gen2_json"
    assert load_config("llava-rad").encoder.pretrained.startswith("open_clip:hf-hub:microsoft/BiomedCLIP")
    assert load_config("rrg24-gla-findings").data.max_views == 4
    names = {p.stem for p in CONFIG_DIR.glob("*.yaml")}
    assert set(TINY) | set(TINY.values()) <= names


@pytest.mark.parametrize("bad, message", [
    ("arch: native\nlm: {config: {model_type: qwen2_vl}}\n", "arch must be"),
    ("data: {target: r2gen2_json}\nencoder: {config: {model_type: resnet}}\nlm: {config: {model_type: gpt2}}\n",
     "needs arch: native_vlm"),
    ("arch: native_vlm\nlm: {config: {model_type: qwen2_vl}}\n", "one_stage"),
    ("lm: {config: {model_type: gpt2}, quantization: 3bit}\nencoder: {config: {model_type: resnet}}\n",
     "lm.quantization"),
])
def test_bad_recipe_configs_are_refused(tmp_path, bad, message) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.yaml"
    path.write_text(bad)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_quantization_without_a_gpu_trains_plain_lora_and_says_so() -> None:
    from rrg_baselines.generator.model import quantization_active
    from rrg_baselines.generator.train import quantization_warning

    cfg = load_config("r2gen2-tiny")
    assert cfg.lm.quantization == "4bit" and cfg.train.device == "cpu"
    assert not quantization_active(cfg)
    assert "trains plain LoRA" in quantization_warning(cfg)
    assert quantization_warning(cfg.replace("lm", quantization=None)) is None


# ----------------------------------------------------------------------------------------------- structured
def test_reports_become_r2gen2_labels_that_json_overlap_reads() -> None:
    from rrg_eval.metrics.json_overlap import parse_structured

    labels = report_to_r2gen2("The heart is enlarged. No pleural effusion. Possible left basilar atelectasis.")
    sentences = labels["Sentences"]
    assert [s["clinical findings"][0]["existence"] for s in sentences] == ["pos_dx", "neg_dx", "unc_dx"]
    assert sentences[0]["anatomical entity"] == "heart"
    assert sentences[1]["clinical findings"][0]["observation"] == "pleural effusion"
    assert sentences[2]["location_descriptor"] == "left"
    read = parse_structured(json.dumps(labels), schema="r2gen2")
    assert len(read) == 3 and read[1]["clinical_findings"][0]["existence"] == "neg_dx"
    # ready labels in the study win over the derived ones; broken ones are refused with the field named
    ready = {"Sentences": [{"anatomical entity": "lungs", "clinical findings": [
        {"clinical finding": "clear", "existence": "neg_dx", "observation": "opacity"}]}]}
    study = Study(id="a", report="Heart enlarged.", fields={"labels": ready})
    assert json.loads(structured_target(study, study.report, "labels")) == ready
    derived = structured_target(Study(id="b", report="Heart enlarged.", fields={}), "Heart enlarged.", "labels")
    assert json.loads(derived)["Sentences"][0]["clinical findings"][0]["clinical finding"] == "Heart enlarged"
    with pytest.raises(InputError, match='field "labels"'):
        structured_target(Study(id="c", report="x", fields={"labels": {"Sentences": 3}}), "x", "labels")


def test_json_validation_counts_what_json_overlap_cannot_read() -> None:
    good = json.dumps(report_to_r2gen2("No pneumothorax."))
    assert json_valid(good) and json_valid("```json\n" + good + "\n```")
    assert not json_valid('{"Sentences": [{"anatomical entity": "heart"')  # cut off
    assert not json_valid("the heart is normal")
    assert not json_valid('[{"anatomical_entity": "heart"}]')  # rrg-eval's schema, not R2Gen2's


# ----------------------------------------------------------------------------------------------- R2Gen2
def _r2gen2_run(tmp_path: Path, epochs: int, n_train: int, max_new_tokens: int) -> tuple[dict, list[dict], str]:
    from rrg_eval.cli import main

    cfg = load_config("r2gen2-tiny").replace("train", epochs=epochs).to_dict()
    paths = _write_set(tmp_path, n_train, 4, cfg)
    run = tmp_path / "run"
    assert main(["baseline", "train", str(paths["config"]), "--train", str(paths["train"]), "--images",
                 str(paths["images"]), "--out", str(run)]) == 0
    preds = tmp_path / "preds.jsonl"
    assert main(["baseline", "generate", str(run), "--test", str(paths["test"]), "--images", str(paths["images"]),
                 "--out", str(preds), "--max-new-tokens", str(max_new_tokens)]) == 0
    rows = [json.loads(line) for line in preds.read_text().splitlines()]
    return paths, rows, str(preds)


def test_r2gen2_tiny_native_vlm_trains_generates_and_counts_invalid_json(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A few steps of the tiny Qwen2-VL: the loss falls; outputs cut at 12 tokens are not valid JSON, and they are
    counted, kept and scored 0 by json_overlap, never dropped."""
    import rrg_eval
    from rrg_eval.cli import main

    paths, rows, preds = _r2gen2_run(tmp_path, epochs=3, n_train=16, max_new_tokens=12)
    err = capsys.readouterr().err
    assert "trains plain LoRA" in err  # lm.quantization: 4bit on a machine without a GPU
    log = _log(tmp_path / "run")
    assert log[-1]["train_loss"] < 0.7 * log[0]["train_loss"], log
    assert (tmp_path / "run/checkpoints/last/adapter.safetensors").is_file()
    assert (tmp_path / "run/vlm_base.safetensors").is_file()
    assert [r["id"] for r in rows] == [s.id for s in read_studies(paths["test"])]
    assert all(r["json_valid"] is False and r["tokens"] == 12 and 0 < r["confidence"] <= 1 for r in rows)
    assert "4 not valid R2Gen2 JSON, kept as written" in err
    assert "4 of 4 generated outputs are not valid R2Gen2 JSON" in err
    assert main(["score", preds, str(paths["test"]), "--metrics", "json_overlap", "--no-cache"]) == 0
    result = rrg_eval.score(predictions=preds, references=paths["test"], metrics=["json_overlap"], use_cache=False)
    assert result.scores["json_invalid_rate"] == 1.0 and result.scores["json_value_recall"] == 0.0


@pytest.mark.slow
def test_r2gen2_tiny_native_vlm_learns_valid_json(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Eight epochs (about 30 s on a loaded CPU): the outputs become valid R2Gen2 JSON that json_overlap reads,
    and most of their values are found in the reference reports."""
    import rrg_eval

    paths, rows, preds = _r2gen2_run(tmp_path, epochs=8, n_train=24, max_new_tokens=96)
    assert sum(r["json_valid"] for r in rows) >= 3, rows
    result = rrg_eval.score(predictions=preds, references=paths["test"], metrics=["json_overlap"], use_cache=False)
    assert result.scores["json_invalid_rate"] <= 0.25 and result.scores["json_value_recall"] > 0.5, result.scores


def test_native_vlm_from_a_pretrained_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``lm.pretrained`` loads through AutoModelForImageTextToText (here a saved tiny Qwen2-VL, no download); the
    base weights then stay out of the run folder; adapters train, load back and generate."""
    from rrg_baselines.generator.generate import generate_reports
    from rrg_baselines.generator.train import load_run, train
    from rrg_baselines.generator.vlm import build_processor, build_vlm

    rows = make_studies(8, tmp_path / "img", seed=0)
    studies = [Study(id=r["id"], report=r["report"], images=tuple(r["images"]), fields=r) for r in rows]
    tiny = load_config("r2gen2-tiny").replace("data", target="text")
    processor = build_processor(tiny, [s.report for s in studies])
    model, random_base = build_vlm(tiny, processor)
    assert random_base and type(model).__name__ == "Qwen2VLForConditionalGeneration"
    model.save_pretrained(str(tmp_path / "base"))
    processor.save_pretrained(str(tmp_path / "base"))
    cfg = tiny.replace("lm", pretrained=str(tmp_path / "base"), config={}, tokenizer=None).replace("train", epochs=1)
    outcome = train(cfg, studies, [], tmp_path / "img", tmp_path / "run")
    assert outcome.epochs_run == 1 and any("plain LoRA" in w for w in outcome.warnings)
    assert not (tmp_path / "run/vlm_base.safetensors").exists()
    vlm, tokenizer, loaded = load_run(tmp_path / "run")
    assert all("lora_" in n or "modules_to_save" in n for n in vlm.trainable_names())
    generated = generate_reports(vlm, tokenizer, studies[:2], tmp_path / "img", loaded, max_new_tokens=4)
    assert [g.id for g in generated] == [s.id for s in studies[:2]] and all(g.json_valid is None for g in generated)


def test_native_vlm_runs_do_not_resume_into_a_used_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from rrg_baselines.generator.train import train

    studies = [Study(id=r["id"], report=r["report"], images=tuple(r["images"]), fields=r)
               for r in make_studies(2, tmp_path / "img", seed=0)]
    (tmp_path / "run/checkpoints/last").mkdir(parents=True)
    with pytest.raises(ConfigError, match="do not resume"):
        train(load_config("r2gen2-tiny"), studies, [], tmp_path / "img", tmp_path / "run")


# ----------------------------------------------------------------------------------------------- LLaVA-Rad
def test_llava_rad_tiny_projector_first_then_lora_on_findings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Stage 1 trains the MLP projector only (LoRA B stays zero), stage 2 adds LoRA, the CLIP tower never trains;
    the findings it writes beat the constant baseline."""
    from rrg_baselines.generator.data import load_tokenizer
    from rrg_baselines.generator.model import build_model
    from safetensors.torch import load_file

    import rrg_eval
    from rrg_eval.cli import main

    cfg = load_config("llava-rad-tiny").replace("train", epochs=1)
    paths = _write_set(tmp_path, 48, 16, cfg.to_dict())
    run = tmp_path / "run"
    base = ["baseline", "train", str(paths["config"]), "--train", str(paths["train"]), "--images",
            str(paths["images"]), "--out", str(run)]
    assert main(base) == 0
    adapter = load_file(str(run / "checkpoints/last/adapter.safetensors"))
    assert all(not v.any() for k, v in adapter.items() if "lora_B" in k)  # stage 1: LoRA untouched
    initial, _ = build_model(cfg, load_tokenizer(str(run / "tokenizer")))
    mapping = load_file(str(run / "checkpoints/last/mapping.safetensors"))
    assert any(not torch.equal(mapping[k], v) for k, v in initial.mapping.state_dict().items())
    cfg3 = cfg.replace("train", epochs=3)
    import yaml

    paths["config"].write_text(yaml.safe_dump(cfg3.to_dict()))
    assert main(base) == 0  # resumes into stage 2
    adapter = load_file(str(run / "checkpoints/last/adapter.safetensors"))
    assert any(v.any() for k, v in adapter.items() if "lora_B" in k)
    encoder = load_file(str(run / "checkpoints/last/encoder.safetensors"))
    assert all(torch.equal(encoder[k], v) for k, v in initial.encoder.state_dict().items())
    log = _log(run)
    assert [(r["stage"], r["lora_trainable"], r["encoder_trainable"]) for r in log] == [
        ("1", False, False), ("2", True, False), ("2", True, False)]
    assert log[-1]["train_loss"] < 0.5 * log[0]["train_loss"]
    preds, constant = tmp_path / "preds.jsonl", tmp_path / "constant.jsonl"
    assert main(["baseline", "generate", str(run), "--test", str(paths["test"]), "--images", str(paths["images"]),
                 "--out", str(preds), "--checkpoint", "last"]) == 0
    refs = tmp_path / "refs.jsonl"
    write_jsonl([{"id": s.id, "report": s.fields["findings"]} for s in read_studies(paths["test"])], refs)
    write_jsonl([{"id": s.id, "report": s.fields["findings"]} for s in read_studies(paths["train"])],
                tmp_path / "train_findings.jsonl")
    assert main(["baseline", "run", "constant", "--train", str(tmp_path / "train_findings.jsonl"), "--test",
                 str(refs), "--out", str(constant)]) == 0
    assert main(["score", str(preds), str(refs), "--metrics", "bleu,rouge", "--no-cache"]) == 0
    ours = rrg_eval.score(predictions=preds, references=refs, metrics=["rouge"], use_cache=False).scores
    const = rrg_eval.score(predictions=constant, references=refs, metrics=["rouge"], use_cache=False).scores
    assert ours["rougeL"] > const["rougeL"] + 0.05, (ours, const)


def test_open_clip_tower_gives_the_trunk_tokens(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``encoder.pretrained: open_clip:NAME`` (BiomedCLIP): the ViT trunk's tokens feed the projector; a stand-in
    open_clip module (no download) checks the plumbing."""
    from types import ModuleType, SimpleNamespace

    from rrg_baselines.generator.data import load_tokenizer
    from rrg_baselines.generator.model import build_model

    class Trunk(torch.nn.Module):
        num_features = 12

        def __init__(self) -> None:
            super().__init__()
            self.proj = torch.nn.Conv2d(3, 12, 8, stride=8)
            self.blocks = torch.nn.Sequential(torch.nn.Linear(12, 12), torch.nn.Linear(12, 12))
            self.norm = torch.nn.LayerNorm(12)

        def forward_features(self, x: torch.Tensor) -> torch.Tensor:
            return self.norm(self.blocks(self.proj(x).flatten(2).transpose(1, 2)))

    fake = ModuleType("open_clip")
    made = []

    def create_model(name: str):  # type: ignore[no-untyped-def]
        made.append(name)
        visual = torch.nn.Module()
        visual.trunk = Trunk()
        visual.image_size = (32, 32)
        return SimpleNamespace(visual=visual)

    fake.create_model = create_model  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "open_clip", fake)
    cfg = load_config("llava-rad-tiny").replace("encoder", pretrained="open_clip:hf-hub:some/biomedclip", config={})
    assert cfg.encoder.select_layer == -2
    model, _ = build_model(cfg, load_tokenizer("wordlevel", ["a b c"]))
    assert made == ["hf-hub:some/biomedclip"]
    pixels = torch.randn(2, 3, 32, 32)
    assert model.prefix(pixels).shape == (2, 16, 64)  # 4x4 patches, LM width
    trunk = model.encoder.visual.trunk
    with torch.no_grad():  # the penultimate layer: the first block's output, before the last block and the norm
        penultimate = trunk.blocks[0](trunk.proj(pixels).flatten(2).transpose(1, 2))
        assert torch.allclose(model.visual_features(pixels), penultimate)
    monkeypatch.setitem(sys.modules, "open_clip", None)
    with pytest.raises(ConfigError, match="open_clip_torch"):
        build_model(cfg, load_tokenizer("wordlevel", ["a b c"]))


# ----------------------------------------------------------------------------------------------- RRG24
def test_rrg24_tiny_one_model_per_section_joined_at_generation(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Four views stitched into one image; a findings model and an impression model trained apart; generation
    routes each section to its model and joins them in the given order."""
    from rrg_baselines.generator.data import load_study_image

    import rrg_eval
    from rrg_eval.cli import main

    paths = _write_set(tmp_path, 48, 12)
    study = read_studies(paths["train"])[0]
    assert load_study_image(study, paths["images"], load_config("rrg24-tiny").data).shape == (3, 64, 64)
    runs = {}
    for section, name in (("findings", "rrg24-tiny"), ("impression", "rrg24-tiny-impression")):
        import yaml

        cfg = load_config(name).replace("train", epochs=3)
        (tmp_path / f"{section}.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
        runs[section] = tmp_path / section
        assert main(["baseline", "train", str(tmp_path / f"{section}.yaml"), "--train", str(paths["train"]),
                     "--images", str(paths["images"]), "--out", str(runs[section])]) == 0
        log = _log(runs[section])
        assert log[-1]["train_loss"] < 0.5 * log[0]["train_loss"]
    preds = tmp_path / "preds.jsonl"
    assert main(["baseline", "generate", f"findings={runs['findings']}", f"impression={runs['impression']}",
                 "--test", str(paths["test"]), "--images", str(paths["images"]), "--out", str(preds),
                 "--checkpoint", "last"]) == 0
    rows = [json.loads(line) for line in preds.read_text().splitlines()]
    assert len(rows) == 12
    for r in rows:
        assert list(r["sections"]) == ["findings", "impression"]
        assert r["report"] == " ".join(t for t in r["sections"].values() if t)
        assert set(r["section_confidence"]) == {"findings", "impression"} and 0 < r["confidence"] <= 1
    refs = tmp_path / "refs.jsonl"
    write_jsonl([{"id": s.id, "report": f'{s.fields["findings"]} {s.fields["impression"]}'}
                 for s in read_studies(paths["test"])], refs)
    assert main(["score", str(preds), str(refs), "--metrics", "bleu,rouge", "--no-cache"]) == 0
    scores = rrg_eval.score(predictions=preds, references=refs, metrics=["rouge"], use_cache=False).scores
    assert scores["rougeL"] > 0.5, scores
    assert main(["baseline", "generate", str(runs["findings"]), f"impression={runs['impression']}", "--test",
                 str(paths["test"]), "--images", str(paths["images"]), "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "SECTION=RUN_DIR" in capsys.readouterr().err
