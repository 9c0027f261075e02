"""The two-stage generator on a synthetic study set (tiny random ResNet + GPT-2, word-level tokenizer); CPU.

Fast tests check the mechanics (LoRA-only LM training, stage-1 freeze, resume, confidence); the last test proves
that the tiny configuration learns: its reports beat the ``constant`` baseline on rrg-eval's BLEU-4 and ROUGE-L.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("PIL")

from rrg_baselines.generator.config import load_config  # noqa: E402
from rrg_baselines.generator.data import load_tokenizer  # noqa: E402
from rrg_baselines.generator.generate import generate_reports  # noqa: E402
from rrg_baselines.generator.model import build_model, lm_trainable_names  # noqa: E402
from rrg_baselines.generator.train import load_run, train  # noqa: E402
from rrg_baselines.studies import Study, read_studies  # noqa: E402
from rrg_baselines.synthetic import make_studies, write_jsonl  # noqa: E402


@pytest.fixture(autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(1)  # tiny ops: a second thread only adds contention on a shared CPU


def _as_studies(rows: list[dict]) -> list[Study]:
    return [Study(id=r["id"], report=r["report"], images=tuple(r["images"]), fields=r) for r in rows]


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Study], list[Study]]:
    folder = tmp_path_factory.mktemp("synthetic")
    return folder, _as_studies(make_studies(24, folder, seed=0)), _as_studies(make_studies(6, folder, seed=1,
                                                                                           prefix="v"))


def _tiny(**train: object):  # type: ignore[no-untyped-def]
    return load_config("tiny").replace("train", **train)


def _tensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def test_lm_trains_lora_weights_only(synth) -> None:  # type: ignore[no-untyped-def]
    _, studies, _ = synth
    tokenizer = load_tokenizer("wordlevel", [s.report for s in studies])
    plain = load_config("tiny").replace("lora", target_modules=None, modules_to_save=())
    model, random_lm = build_model(plain, tokenizer)
    assert random_lm
    names = lm_trainable_names(model)
    assert names and all("lora_" in n for n in names)
    assert all(".c_attn." in n for n in names)  # default target for GPT-2: the fused q/k/v projection
    tiny, _ = build_model(load_config("tiny"), tokenizer)
    assert all("lora_" in n or "modules_to_save" in n for n in lm_trainable_names(tiny))
    frozen = [n for n, p in tiny.lm.named_parameters() if not p.requires_grad]
    assert any("wte" in n for n in frozen) and any("base_layer" in n for n in frozen)


def test_stage1_freezes_the_encoder_and_stage2_trains_it(synth, tmp_path) -> None:  # type: ignore[no-untyped-def]
    images, studies, _ = synth
    run = tmp_path / "run"
    train(_tiny(epochs=1), studies, [], images, run)
    tokenizer = load_tokenizer(str(run / "tokenizer"))
    initial, _ = build_model(_tiny(epochs=1), tokenizer)  # same seed: the initial weights
    start = {k: v.clone() for k, v in initial.encoder.state_dict().items()}
    after1 = _tensors(run / "checkpoints/last/encoder.safetensors")
    assert set(after1) == set(start)
    assert all(torch.equal(after1[k], start[k]) for k in start)  # weights and batch-norm statistics
    mapping0 = initial.mapping.state_dict()
    mapping1 = _tensors(run / "checkpoints/last/mapping.safetensors")
    assert any(not torch.equal(mapping1[k], mapping0[k]) for k in mapping0)
    outcome = train(_tiny(epochs=2), studies, [], images, run)  # resumes: stage 2 unfreezes the encoder
    assert outcome.resumed_from == 1 and outcome.epochs_run == 1
    after2 = _tensors(run / "checkpoints/last/encoder.safetensors")
    assert any(not torch.equal(after2[k], start[k]) for k in start)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [(r["stage"], r["encoder_trainable"]) for r in log] == [("1", False), ("2", True)]


def test_frozen_encoder_schedule_never_trains_it(synth, tmp_path) -> None:  # type: ignore[no-untyped-def]
    images, studies, _ = synth
    cfg = _tiny(epochs=2, schedule="frozen_encoder")
    train(cfg, studies[:8], [], images, tmp_path / "run")
    initial, _ = build_model(cfg, load_tokenizer(str(tmp_path / "run" / "tokenizer")))
    after = _tensors(tmp_path / "run/checkpoints/last/encoder.safetensors")
    assert all(torch.equal(after[k], v) for k, v in initial.encoder.state_dict().items())


def test_resume_after_interruption_matches_an_uninterrupted_run(synth, tmp_path) -> None:  # type: ignore[no-untyped-def]
    images, studies, val = synth
    studies, val = studies[:16], val[:2]
    cfg = _tiny(epochs=3)
    full = train(cfg, studies, val, images, tmp_path / "full")

    def interrupt(event: str, info: dict) -> None:
        if event == "step" and info["epoch"] == 2 and info["step"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, studies, val, images, tmp_path / "cut", progress=interrupt)
    state = json.loads((tmp_path / "cut/checkpoints/last/state.json").read_text())
    assert state["epochs_done"] == 1
    resumed = train(cfg, studies, val, images, tmp_path / "cut")
    assert resumed.resumed_from == 1 and resumed.epochs_run == 2
    assert [r["train_loss"] for r in resumed.history] == pytest.approx([r["train_loss"] for r in full.history],
                                                                        rel=1e-5)
    for name in ("encoder.safetensors", "mapping.safetensors", "adapter.safetensors"):
        a, b = _tensors(tmp_path / "full/checkpoints/last" / name), _tensors(tmp_path / "cut/checkpoints/last" / name)
        assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a), name
    assert resumed.best_epoch == full.best_epoch
    with pytest.raises(Exception, match="different config"):
        train(cfg.replace("train", lr=0.5), studies, val, images, tmp_path / "cut")


def test_generation_carries_confidence(synth, tmp_path) -> None:  # type: ignore[no-untyped-def]
    images, studies, val = synth
    train(_tiny(epochs=1), studies[:8], val[:2], images, tmp_path / "run")
    model, tokenizer, cfg = load_run(tmp_path / "run")
    for beams in (1, 3):
        generated = generate_reports(model, tokenizer, val, images, cfg, num_beams=beams, max_new_tokens=8)
        assert [g.id for g in generated] == [s.id for s in val]
        for g in generated:
            assert 0.0 < g.confidence <= 1.0 and 1 <= g.tokens <= 8
    # the confidence is the mean probability of the report's tokens, recomputed by teacher forcing
    g = generate_reports(model, tokenizer, val[:1], images, cfg, num_beams=1, max_new_tokens=8)[0]
    ids = tokenizer(g.report, add_special_tokens=False)["input_ids"]
    if g.tokens > len(ids):
        ids = ids + [tokenizer.eos_token_id]
    from rrg_baselines.generator.data import load_study_image

    pixels = torch.from_numpy(load_study_image(val[0], images, cfg.data, model.channels)).unsqueeze(0)
    t = torch.tensor([ids])
    with torch.no_grad():
        logp = model.token_logprobs(pixels, t, torch.ones_like(t), t)
    assert g.confidence == pytest.approx(float(logp.exp().mean()), rel=1e-4)


def test_tiny_generator_learns_and_beats_the_constant_baseline(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Trains the tiny config through both stages via the CLI (about 12 s on one CPU thread); the bar is the
    constant baseline scored by rrg-eval's own BLEU-4 and ROUGE-L on 40 held-out synthetic studies."""
    import rrg_eval
    from rrg_eval.cli import main

    images = tmp_path / "img"
    write_jsonl(make_studies(160, images, seed=0), tmp_path / "train.jsonl")
    write_jsonl(make_studies(16, images, seed=1, prefix="v"), tmp_path / "val.jsonl")
    write_jsonl(make_studies(40, images, seed=2, prefix="t"), tmp_path / "test.jsonl")
    run = tmp_path / "run"
    assert main(["baseline", "train", "tiny", "--train", str(tmp_path / "train.jsonl"), "--val",
                 str(tmp_path / "val.jsonl"), "--images", str(images), "--out", str(run)]) == 0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["stage"] for r in log] == ["1"] + ["2"] * (len(log) - 1)
    assert main(["baseline", "generate", str(run), "--test", str(tmp_path / "test.jsonl"), "--images", str(images),
                 "--out", str(tmp_path / "gen.jsonl")]) == 0
    assert main(["baseline", "run", "constant", "--train", str(tmp_path / "train.jsonl"), "--test",
                 str(tmp_path / "test.jsonl"), "--out", str(tmp_path / "constant.jsonl")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "gen.jsonl").read_text().splitlines()]
    assert all(0 < r["confidence"] <= 1 for r in rows)
    refs = {s.id: s.report for s in read_studies(tmp_path / "test.jsonl")}
    scores = {}
    for name in ("gen", "constant"):
        result = rrg_eval.score(predictions=tmp_path / f"{name}.jsonl", references=refs, metrics=["bleu", "rouge"],
                                use_cache=False)
        scores[name] = result.scores
    assert scores["gen"]["bleu4"] > scores["constant"]["bleu4"] + 0.08, scores
    assert scores["gen"]["rougeL"] > scores["constant"]["rougeL"] + 0.05, scores
    assert not math.isnan(scores["gen"]["bleu4"])


def test_shipped_configs_parse_and_bad_keys_are_rejected(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from rrg_baselines.generator.config import CONFIG_DIR

    from rrg_eval.errors import ConfigError

    names = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    assert {"gpt2-large", "gpt2-small", "open-llama-7b", "tiny"} <= set(names)
    for name in names:
        assert load_config(name).name == name
    for name in ["gpt2-large", "gpt2-small", "open-llama-7b", "tiny"]:
        cfg = load_config(name)
        assert cfg.name == name and cfg.lora.r == 8 and cfg.train.schedule == "two_stage"
    assert load_config("gpt2-small").mapping.num_queries == 10
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {epochz: 3}\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(bad)
    bad.write_text("mapping: {type: lstm}\nencoder: {config: {model_type: resnet}}\nlm: {config: {model_type: gpt2}}\n")
    with pytest.raises(ConfigError, match="mapping.type"):
        load_config(bad)


def test_cli_train_generate_and_image_nearest(synth, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import yaml
    from rrg_baselines.generator.embed import ImageEncoder
    from rrg_baselines.text import nearest_baseline

    from rrg_eval.cli import main

    images, studies, val = synth
    rows = [s.fields for s in studies[:8]]
    write_jsonl(rows, tmp_path / "train.jsonl")
    write_jsonl([s.fields for s in val[:2]], tmp_path / "val.jsonl")
    config = load_config("tiny").replace("train", epochs=1).to_dict()
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    run = tmp_path / "run"
    assert main(["baseline", "train", str(tmp_path / "c.yaml"), "--train", str(tmp_path / "train.jsonl"), "--val",
                 str(tmp_path / "val.jsonl"), "--images", str(images), "--out", str(run)]) == 0
    assert (run / "checkpoints/best/adapter.safetensors").is_file() and (run / "lm_base.safetensors").is_file()
    out = tmp_path / "preds.jsonl"
    assert main(["baseline", "generate", str(run), "--test", str(tmp_path / "val.jsonl"), "--images", str(images),
                 "--out", str(out), "--beams", "2", "--max-new-tokens", "6"]) == 0
    preds = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["id"] for p in preds] == [s.id for s in val[:2]]
    assert all(0 < p["confidence"] <= 1 and isinstance(p["report"], str) for p in preds)
    assert main(["baseline", "generate", str(tmp_path), "--test", str(out), "--images", str(images),
                 "--out", str(out)]) == 2  # not a run folder
    # nearest by image: a training study used as a query finds itself (identical image, cosine 1)
    train_studies = studies[:8]
    for source in ("tiny", str(run)):
        encoder = ImageEncoder(source, images)
        found = nearest_baseline(train_studies, train_studies[2:5], encoder=encoder)
        assert found == {s.id: s.report for s in train_studies[2:5]}


def test_one_model_with_section_prompts(synth, tmp_path) -> None:  # type: ignore[no-untyped-def]
    images, studies, val = synth
    cfg = load_config("tiny").replace("data", sections=("findings", "impression")).replace("train", epochs=1)
    train(cfg, studies[:8], val[:2], images, tmp_path / "run")
    model, tokenizer, loaded = load_run(tmp_path / "run")
    assert loaded.data.sections == ("findings", "impression")
    assert tokenizer.unk_token_id not in tokenizer("impression:", add_special_tokens=False)["input_ids"]
    generated = generate_reports(model, tokenizer, val[:2], images, loaded, max_new_tokens=5)
    for g in generated:
        assert list(g.sections) == ["findings", "impression"]
        assert g.report == " ".join(t for t in g.sections.values() if t)
        assert all(0 < c <= 1 for c in g.section_confidence.values()) and 0 < g.confidence <= 1


def test_vit_encoder_with_mlp_adapter_trains_a_step(synth) -> None:  # type: ignore[no-untyped-def]
    from rrg_baselines.generator.data import StudyDataset, collate

    from rrg_eval.errors import ConfigError

    images, studies, _ = synth
    cfg = load_config("tiny").replace("data", views="frontal", image_size=(32, 32)).replace(
        "encoder", config={"model_type": "clip_vision_model", "image_size": 32, "patch_size": 8, "hidden_size": 32,
                           "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}).replace(
        "mapping", type="mlp")
    tokenizer = load_tokenizer("wordlevel", [s.report for s in studies])
    model, _ = build_model(cfg, tokenizer)
    batch = collate([StudyDataset(studies[:2], images, cfg.data, tokenizer)[k] for k in range(2)],
                    tokenizer.pad_token_id)
    assert model.prefix(batch["pixel_values"]).shape == (2, 17, 64)  # 16 patches + class token, LM width
    loss = model(batch["pixel_values"], batch["input_ids"], batch["attention_mask"], batch["labels"])
    loss.backward()
    assert math.isfinite(float(loss)) and model.mapping.net[0].weight.grad is not None
    with pytest.raises(ConfigError, match="takes 32x32 images"):
        build_model(cfg.replace("data", image_size=(32, 64)), tokenizer)


def test_accelerate_and_gradient_checkpointing_match_the_plain_loop(synth, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("accelerate")
    images, studies, _ = synth
    plain = _tiny(epochs=2)
    train(plain, studies[:8], [], images, tmp_path / "plain")
    other = plain.replace("train", accelerate=True, grad_checkpointing=True)
    outcome = train(other, studies[:8], [], images, tmp_path / "acc")
    assert outcome.epochs_run == 2
    for name in ("encoder.safetensors", "mapping.safetensors", "adapter.safetensors"):
        a, b = _tensors(tmp_path / "plain/checkpoints/last" / name), _tensors(tmp_path / "acc/checkpoints/last" / name)
        assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a), name
