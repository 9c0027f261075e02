"""A synthetic CRIMSON judge: a Gemma-3 text model in Hugging Face format with seeded random weights.

``synthesize(out_dir)`` writes ``out_dir/rajpurkarlab--medgemma-4b-it-crimson/`` (``config.json``,
``model.safetensors``, ``generation_config.json``, ``tokenizer.json``, ``tokenizer_config.json`` with a Gemma-style
chat template), which ``AutoModelForCausalLM``, ``AutoTokenizer`` and the ``text-generation`` pipeline read. The
tokenizer is word-level over common report and prompt words (one token per whitespace-separated word, unknown
words -> ``<unk>``), with ``<bos>``, ``<eos>``, ``<pad>``, ``<start_of_turn>`` and ``<end_of_turn>``; the chat
template folds the system message into the first user turn, as Gemma's does. ``generation_config.json`` asks for
greedy decoding of at most 48 new tokens (a model's own generation config, which crimson-score uses when a
model has one), so that a random model's answers stay short. Only ``size="tiny"`` (2 layers, 64 wide).
"""

from __future__ import annotations

import json
from pathlib import Path

HUB_FOLDER = "rajpurkarlab--medgemma-4b-it-crimson"
SPECIAL = ("<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>")
WORDS = ("{ } [ ] : , \" id finding reference_findings predicted_findings matched_findings errors false_findings "
         "missing_findings attribute_errors ref_id pred_id urgent actionable_not_urgent not_actionable_not_urgent "
         "benign_expected significant negligible location severity descriptor measurement certainty unspecific "
         "overinterpretation temporal R1 R2 P1 P2 pleural effusion pneumothorax opacity left right small large "
         "mild moderate severe no new stable the of and in is with findings user model").split()
CHAT_TEMPLATE = (
    "{{ bos_token }}{% set first = true %}{% set system = '' %}"
    "{% for message in messages %}{% if message['role'] == 'system' %}{% set system = message['content'] %}"
    "{% endif %}{% endfor %}"
    "{% for message in messages if message['role'] != 'system' %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' }}{% if loop.first and system %}{{ system + '\n\n' }}{% endif %}"
    "{{ message['content'] | trim }}{{ '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)
MAX_NEW_TOKENS = 48


def _tokenizer_files(folder: Path) -> None:
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers

    vocab = {word: i for i, word in enumerate(dict.fromkeys((*SPECIAL, *WORDS)))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens([AddedToken(t, special=True) for t in SPECIAL])
    tok.save(str(folder / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 32768, "bos_token": "<bos>",
              "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>", "padding_side": "left",
              "clean_up_tokenization_spaces": False, "chat_template": CHAT_TEMPLATE}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")


def synthesize(out_dir: str | Path, size: str = "tiny", seed: int = 0) -> Path:
    """Write the synthetic CRIMSON model under ``out_dir`` (see the module docstring); returns ``out_dir``."""
    import torch
    from safetensors.torch import save_file
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, GenerationConfig

    if size != "tiny":
        raise ValueError("the synthetic CRIMSON model has only size 'tiny'")
    out = Path(out_dir)
    folder = out / HUB_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    _tokenizer_files(folder)
    vocab_size = len(dict.fromkeys((*SPECIAL, *WORDS)))
    config = Gemma3TextConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                              num_attention_heads=4, num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=16,
                              max_position_embeddings=32768, sliding_window=512,
                              layer_types=["sliding_attention", "full_attention"], pad_token_id=0, eos_token_id=1,
                              bos_token_id=2, tie_word_embeddings=False)
    with torch.device("meta"):
        skeleton = Gemma3ForCausalLM(config)
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, param in sorted(skeleton.state_dict().items()):
        if "q_norm" in name or "k_norm" in name:
            # Gemma's norms scale by (1 + weight): 8x queries and keys make attention peaked, so that answers
            # depend on the reports and not only on the prompt's long fixed text
            state[name] = torch.full(param.shape, 7.0)
        elif "norm" in name:
            state[name] = torch.zeros(param.shape)
        else:
            scale = 1.0 if "embed_tokens" in name or "lm_head" in name else param.shape[-1] ** -0.5
            state[name] = torch.randn(param.shape, generator=generator) * scale
    config.save_pretrained(str(folder))
    GenerationConfig(do_sample=False, max_new_tokens=MAX_NEW_TOKENS, eos_token_id=1, pad_token_id=0,
                     bos_token_id=2).save_pretrained(str(folder))
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return out


def model_folder(out_dir: str | Path) -> Path:
    """Where :func:`synthesize` puts the model inside ``out_dir``."""
    return Path(out_dir) / HUB_FOLDER
