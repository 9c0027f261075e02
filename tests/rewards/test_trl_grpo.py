"""A real TRL GRPOTrainer runs a few steps on CPU with an rrg-eval reward, and the rewards it logs are ours.

The policy is a tiny random Llama with a word-level tokenizer built here (no download). The reward sees the
generated completions and the dataset's ``reference`` column; we record every call and check each value against
``rrg_eval.score(...).per_report_values`` for the same pairs.
"""

from __future__ import annotations

import numpy as np
import pytest

import rrg_eval
from rrg_eval.rewards import Scorer, make_reward

trl = pytest.importorskip("trl")
torch = pytest.importorskip("torch")

WORDS = ("the heart is normal in size lungs are clear no pleural effusion pneumothorax mild cardiomegaly "
         "stable chest . findings impression").split()


def _tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(["<pad>", "<s>", "</s>", "<unk>", *dict.fromkeys(WORDS)])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>")


@pytest.mark.slow
def test_grpo_trainer_steps_with_rrg_eval_reward(tmp_path) -> None:
    from datasets import Dataset
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2)
    model = LlamaForCausalLM(config)
    refs = ["the heart is normal in size .", "lungs are clear .", "no pleural effusion .", "mild cardiomegaly ."]
    data = Dataset.from_dict({"prompt": ["findings"] * 8, "reference": refs * 2})

    scorer = Scorer(cache_dir=tmp_path / "cache")
    inner = make_reward("rouge", key="rougeL", scorer=scorer)
    calls: list[tuple[list[str], list[str], list]] = []

    def reward(prompts, completions, reference, **kwargs):
        values = inner(prompts=prompts, completions=completions, reference=reference, **kwargs)
        calls.append((list(completions), list(reference), values))
        return values

    reward.__name__ = inner.__name__
    args = trl.GRPOConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, num_generations=4,
                          max_completion_length=8, max_steps=2, learning_rate=1e-3, logging_steps=1,
                          report_to=[], use_cpu=True, save_strategy="no", seed=0, bf16=False)
    trainer = trl.GRPOTrainer(model=model, reward_funcs=[reward], args=args, train_dataset=data,
                              processing_class=tokenizer)
    trainer.train()
    assert calls, "the trainer never called the reward"
    for completions, references, values in calls:
        expected = rrg_eval.score(predictions=completions, references=references, metrics=["rouge"],
                                  use_cache=False).per_report_values["rougeL"]
        np.testing.assert_allclose(values, expected, rtol=0, atol=1e-12)
    scorer.close()
