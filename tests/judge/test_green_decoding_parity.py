"""Decoding path: the reference GREEN loop and rrg-eval's transformers back-end give identical answers.

tests/data/green_tiny_llama_golden.json holds the completions of ``green_score.green.GREEN`` (Stanford-AIMI/GREEN
commit d72c195, run once outside rrg-eval in its own environment with its pinned transformers 4.40.0; its
"provenance" field says how) on the synthetic tiny GREEN model that
``rrg_eval.synthetic_weights.green.synthesize(DIR, size="tiny", seed=0)`` writes; the file records the weights'
sha256, and the test first checks that this machine rebuilds the same weights.

The reference decodes batches of 8 in input order in float16; with the same batches and data type, rrg-eval's
back-end (transformers 5) gives the same text for every pair. With other batches (rrg-eval's default sorts by
length) padding changes float16 rounding, and a random model's near-ties can then flip a token; docs/metrics.md
says so.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from rrg_eval.backends.generation import GenerationSettings, HFChatGenerator  # noqa: E402
from rrg_eval.judge.green_protocol import CHAT_TEMPLATE, chat_messages, clean_response, green_prompt  # noqa: E402
from rrg_eval.synthetic_weights.green import model_folder, synthesize  # noqa: E402

GOLDEN = json.loads((Path(__file__).parent / "data" / "green_tiny_llama_golden.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_reference_loop_and_backend_give_identical_answers(tmp_path):
    torch.set_num_threads(1)
    folder = model_folder(synthesize(tmp_path, size="tiny", seed=0))
    digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert digest == GOLDEN["model_sha256"], "the synthetic model's weights differ from the golden run's"
    gen = HFChatGenerator(str(folder), chat_template=CHAT_TEMPLATE, to_messages=chat_messages, clean=clean_response,
                          settings=GenerationSettings(device="cpu", dtype="float16", batch_size=8,
                                                      sort_by_length=False))
    prompts = [green_prompt(r, p) for r, p in zip(GOLDEN["references"], GOLDEN["predictions"])]
    assert gen.generate(prompts) == GOLDEN["completions"]
