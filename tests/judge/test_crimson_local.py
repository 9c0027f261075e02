"""CRIMSON's local transformers back-end: the reference's pipeline answers on a synthetic tiny Gemma-3 model.

tests/data/crimson_tiny_gemma_golden.json holds what crimson-score 0.2.0's own ``CRIMSONScore(api="hf")`` path (a
transformers text-generation pipeline, batch size 1) answered on the model that
``rrg_eval.synthetic_weights.crimson.synthesize(DIR, size="tiny", seed=0)`` writes (run once outside rrg-eval; its
"provenance" field says how; the file records the weights' sha256). rrg-eval's back-end must give the same text
for every pair, batched or not; then the metric runs on it with a cache (a warm rerun generates nothing).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from rrg_eval.backends.generation import GenerationSettings, HFMessagesGenerator  # noqa: E402
from rrg_eval.judge.crimson_protocol import _PART_NAMES, SYSTEM_MESSAGE, load_prompt  # noqa: E402
from rrg_eval.metrics.registry import load_metric  # noqa: E402
from rrg_eval.synthetic_weights.crimson import model_folder, synthesize  # noqa: E402

GOLDEN = json.loads((Path(__file__).parent / "data" / "crimson_tiny_gemma_golden.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    folder = model_folder(synthesize(tmp_path_factory.mktemp("crimson"), size="tiny", seed=0))
    assert hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest() == GOLDEN["model_sha256"]
    return folder




def official_prompt_parts() -> Path | None:
    """crimson-score's prompt_parts.py in its venv (.ci/setup_official_crimson.sh), if built."""
    venv = Path(os.environ.get("OFFICIAL_CRIMSON_VENV", Path(__file__).resolve().parents[2] /
                               ".venv-official-crimson"))
    found = sorted(venv.glob("lib/python*/site-packages/CRIMSON/prompt_parts.py"))
    return found[0] if found else None


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", [1, 4])
def test_backend_answers_equal_the_reference_pipeline(tiny, batch_size):
    source = official_prompt_parts()
    if source is None:  # the answers depend on the package's prompt text, which is read from it
        pytest.skip("official crimson-score venv absent; run .ci/setup_official_crimson.sh")
    prompt = load_prompt(source)
    gen = HFMessagesGenerator(str(tiny), to_messages=lambda p: [{"role": "system", "content": SYSTEM_MESSAGE},
                                                                {"role": "user", "content": p}],
                              settings=GenerationSettings(device="cpu", dtype="bfloat16", batch_size=batch_size))
    texts = [prompt.text(r, h, guidelines=GOLDEN["guidelines"])
             for r, h in zip(GOLDEN["references"], GOLDEN["predictions"])]
    assert gen.generate(texts) == GOLDEN["completions"]


def test_metric_local_backend_and_cache(tiny, tmp_path):
    parts = tmp_path / "prompt_parts.py"
    parts.write_text("".join(f'{name} = """text of {name}"""\n' for name in _PART_NAMES), encoding="utf-8")
    metric = load_metric("crimson", model=str(tiny), prompt_source=str(parts), device="cpu", dtype="float32")
    assert metric.unavailable_reason() is None
    assert metric.signature().startswith(f"crimson|backend:transformers|model:{tiny}|")
    preds, refs = ["a b", "c d", "a b"], ["x", "y", "x"]
    first = metric.compute(predictions=preds, references=refs, ids=["1", "2", "3"], cache_dir=tmp_path)
    assert first.scores["crimson_unparsed_rate"] == 1.0  # a random model's answers are not JSON
    calls = []

    class Counting:
        identity = "counting"

        def generate(self, prompts):
            calls.append(prompts)
            return ["{}"] * len(prompts)

    warm = load_metric("crimson", model=str(tiny), prompt_source=str(parts), device="cpu", dtype="float32")
    warm._generator_factory = lambda config: Counting()
    again = warm.compute(predictions=preds, references=refs, ids=["1", "2", "3"], cache_dir=tmp_path)
    assert calls == [] and again.scores["crimson_unparsed_rate"] == 1.0
