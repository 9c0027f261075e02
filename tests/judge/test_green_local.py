"""GREEN's local transformers back-end on the synthetic tiny GREEN model (rrg_eval.synthetic_weights.green):
the reference's chat rendering, de-duplication, length-sorted batches giving the texts of one-by-one decoding,
the answer cache (a warm rerun generates nothing), and the metric on top (fake generator for exact values)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from rrg_eval.backends.generation import GenerationSettings, HFChatGenerator  # noqa: E402
from rrg_eval.judge.green_protocol import (  # noqa: E402
    CHAT_TEMPLATE,
    chat_messages,
    clean_response,
    green_prompt,
)
from rrg_eval.metrics.registry import load_metric  # noqa: E402
from rrg_eval.synthetic_weights.green import model_folder, synthesize  # noqa: E402

REFS = ["Heart size normal. Lungs are clear.", "Small left pleural effusion.", "No acute cardiopulmonary process.",
        "Right lower lobe opacity, new since prior study.", "Heart size normal. Lungs are clear."]
PREDS = ["Normal heart. Clear lungs.", "No effusion.", "No acute cardiopulmonary process.",
         "Left lower lobe consolidation.", "Normal heart. Clear lungs."]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    return model_folder(synthesize(tmp_path_factory.mktemp("green"), size="tiny", seed=0))


def generator(folder: Path, **settings) -> HFChatGenerator:
    return HFChatGenerator(str(folder), chat_template=CHAT_TEMPLATE, to_messages=chat_messages, clean=clean_response,
                           settings=GenerationSettings(**{"dtype": "float32", "device": "cpu", **settings}))


def test_chat_rendering_is_the_references(tiny):
    gen = generator(tiny)
    text = gen.render("PROMPT")
    # trim_blocks/lstrip_blocks drop the template's newlines after block tags, not after expressions
    assert text == "<|user|>\nPROMPT</s>\n<|assistant|>\n</s>\n<|assistant|>\n"
    ids = gen.tokenizer(text)["input_ids"]
    assert ids[0] == gen.tokenizer.bos_token_id and ids[-1] == gen.tokenizer.eos_token_id  # as the reference's
    assert gen.tokenizer.padding_side == "left"


def test_sorted_deduplicated_batches_equal_one_by_one(tiny):
    prompts = [green_prompt(r, p) for r, p in zip(REFS, PREDS)]
    batched = generator(tiny, batch_size=3)
    out = batched.generate(prompts)
    assert out[0] == out[4]  # duplicates answered once
    single = generator(tiny, batch_size=1, sort_by_length=False)
    assert single.generate(prompts[:4]) == out[:4]
    assert all(isinstance(t, str) for t in out) and batched.tokens_generated > 0


def test_metric_local_backend_and_cache(tiny, tmp_path):
    metric = load_metric("green", model=str(tiny), dtype="float32", device="cpu", batch_size=4)
    assert metric.unavailable_reason() is None
    first = metric.compute(predictions=PREDS, references=REFS, ids=list("abcde"), cache_dir=tmp_path)
    # random weights: the answers never hold the sections, so every report is unparsed
    assert first.scores["green_unparsed_rate"] == 1.0 and math.isnan(first.scores["green"])
    calls = []

    class Counting:
        identity = "counting"

        def generate(self, prompts):
            calls.append(list(prompts))
            return [""] * len(prompts)

    warm = load_metric("green", model=str(tiny), dtype="float32", device="cpu")
    warm._generator_factory = lambda config: Counting()
    again = warm.compute(predictions=PREDS, references=REFS, ids=list("abcde"), cache_dir=tmp_path)
    assert calls == [] and again.scores["green_unparsed_rate"] == 1.0


def test_metric_values_through_a_fake_generator(tmp_path):
    answers = {
        PREDS[0]: "[Explanation]:\nok\n\n[Clinically Significant Errors]:\n(a) x: 1. y\n\n[Matched Findings]:\n1. z",
        PREDS[1]: "[Clinically Significant Errors]:\nNo errors.\n\n[Matched Findings]:\n2. a; b",
        PREDS[2]: "nothing useful",
        PREDS[3]: "[Clinically Significant Errors]:\n(b) x: 2. y\n\n[Clinically Insignificant Errors]:\n(e) x: 1. "
                  "y\n\n[Matched Findings]:\n0.",
    }

    class Fake:
        identity = "fake"

        def generate(self, prompts):
            out = []
            for prompt in prompts:
                cand = next(p for p in answers if f"3. Candidate Report:\n    {p}\n" in prompt)
                out.append(answers[cand])
            return out

    metric = load_metric("green", model="fake/model", device="cpu", dtype="float32")
    metric._generator_factory = lambda config: Fake()
    result = metric.compute(predictions=PREDS, references=REFS, ids=list("abcde"), cache_dir=None)
    per = result.per_report["green"].tolist()
    assert per[:2] == [0.5, 1.0] and math.isnan(per[2]) and per[3] == 0.0 and per[4] == 0.5
    assert result.scores["green"] == pytest.approx(2.0 / 4)
    assert result.scores["green_unparsed_rate"] == pytest.approx(1 / 5)
    assert result.scores["green_insignificant_e"] == pytest.approx(1 / 4)
    assert result.per_report["green_unparsed"].tolist() == [0, 0, 1, 0, 0]


def test_server_template_gives_the_references_tokens(tiny):
    """SERVER_CHAT_TEMPLATE (for vLLM's --chat-template) on one user message, tokenized as servers tokenize chat
    prompts (no special tokens added), gives the token ids the reference feeds its model."""
    from rrg_eval.judge.green_protocol import SERVER_CHAT_TEMPLATE

    gen = generator(tiny)
    prompt = green_prompt(REFS[0], PREDS[0])
    reference_ids = gen.tokenizer(gen.render(prompt))["input_ids"]
    rendered = gen.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                 chat_template=SERVER_CHAT_TEMPLATE)
    assert gen.tokenizer(rendered, add_special_tokens=False)["input_ids"] == reference_ids
