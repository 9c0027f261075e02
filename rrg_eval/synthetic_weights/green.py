"""A synthetic GREEN judge: a Llama causal LM in Hugging Face format with seeded random weights.

``synthesize(out_dir)`` writes ``out_dir/StanfordAIMI--GREEN-radllama2-7b/`` (``config.json``,
``model.safetensors``, ``tokenizer.json``, ``tokenizer_config.json``, ``special_tokens_map.json``), the files
``AutoModelForCausalLM`` / ``AutoTokenizer`` read, as for ``StanfordAIMI/GREEN-radllama2-7b``. The tokenizer is a
word-level one over the words of GREEN's prompt plus common report words (one token per whitespace-separated
word, unknown words -> ``<unk>``), with Llama's special tokens ``<s>`` (added in front), ``</s>`` (appended, as
Llama's tokenizer does with the reference's ``add_eos_token=True``), ``<unk>`` and
the chat markers ``<|user|>``/``<|assistant|>`` as added tokens. ``size="tiny"``: 2 layers, 64 wide (tests and
CPU benchmarks); ``size="base"``: Llama-2-7B's shape (32 layers, 4096 wide, about 6.5 G parameters; GPU
benchmarks only). Its answers are random word strings: meaningless, but the decoding path is the real one.
"""

from __future__ import annotations

import json
from pathlib import Path

HUB_FOLDER = "StanfordAIMI--GREEN-radllama2-7b"
SIZES: dict[str, dict[str, int]] = {
    "tiny": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2},
    "base": {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
             "num_key_value_heads": 32},
}
SPECIAL = ("<unk>", "<s>", "</s>")
CHAT_MARKERS = ("<|user|>", "<|assistant|>", "<|system|>")
REPORT_WORDS = ("no acute cardiopulmonary process heart size normal lungs clear pleural effusion pneumothorax "
                "cardiomegaly mild moderate severe small large left right bilateral lower upper lobe opacity "
                "consolidation atelectasis edema stable unchanged improved worsened since prior study compared "
                "with there is are the of and in a an to at findings impression").split()


def vocabulary() -> list[str]:
    """Token strings by id: special tokens, chat markers, then the prompt's and report words (first seen)."""
    from ..judge.green_protocol import PROMPT_TEMPLATE

    words = list(SPECIAL) + list(CHAT_MARKERS)
    seen = set(words)
    for word in PROMPT_TEMPLATE.split() + list(REPORT_WORDS):
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def _tokenizer_files(folder: Path) -> None:
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, processors

    vocab = {word: i for i, word in enumerate(vocabulary())}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens([AddedToken(t, special=True) for t in SPECIAL])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in CHAT_MARKERS])
    # BOS in front and EOS at the end, as a Llama tokenizer loaded with add_eos_token=True (the reference's
    # call) encodes; written both as the post-processor (read by transformers 4.x) and as add_*_token (5.x)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> <s> $B </s>",
                                                       special_tokens=[("<s>", vocab["<s>"]),
                                                                       ("</s>", vocab["</s>"])])
    tok.save(str(folder / "tokenizer.json"))
    special = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 4096, "add_bos_token": True,
              "add_eos_token": True,
              "clean_up_tokenization_spaces": False, **special}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=1), encoding="utf-8")


def synthesize(out_dir: str | Path, size: str = "tiny", seed: int = 0) -> Path:
    """Write the synthetic GREEN model under ``out_dir`` (see the module docstring); returns ``out_dir``."""
    import torch
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    folder = out / HUB_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    vocab = vocabulary()
    config = LlamaConfig(vocab_size=len(vocab), max_position_embeddings=4096, bos_token_id=1, eos_token_id=2,
                         tie_word_embeddings=False, rms_norm_eps=1e-5, **SIZES[size])
    with torch.device("meta"):
        skeleton = LlamaForCausalLM(config)
    generator = torch.Generator().manual_seed(seed)
    dtype = torch.float32 if size == "tiny" else torch.float16
    state = {}
    for name, param in sorted(skeleton.state_dict().items()):
        if name.endswith("norm.weight"):
            state[name] = torch.ones(param.shape, dtype=dtype)
        else:
            scale = 1.0 if "embed_tokens" in name or "lm_head" in name else param.shape[-1] ** -0.5
            state[name] = (torch.randn(param.shape, generator=generator) * scale).to(dtype)
    _tokenizer_files(folder)
    if size == "tiny":
        _make_answers_end(state, config, folder)
    config.save_pretrained(str(folder))
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return out


def _make_answers_end(state: dict, config: object, folder: Path, steps: int = 32) -> None:
    """Let random answers end: the EOS row of ``lm_head`` becomes 1.01 x the row of the token that greedy
    decoding picks most often (after its first 4 steps) on a few calibration prompts, so EOS wins wherever that
    token would (answers then end after tens of tokens instead of running to the length limit)."""
    from collections import Counter

    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    from ..judge.green_protocol import CHAT_TEMPLATE, chat_messages, green_prompt

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    tokenizer.chat_template = CHAT_TEMPLATE
    model = LlamaForCausalLM(config)
    model.load_state_dict(state, strict=False)
    model.eval()
    votes: Counter = Counter()
    pairs = [(REPORT_WORDS[i], " ".join(REPORT_WORDS[i:i + 7])) for i in range(0, 40, 8)]
    for reference, candidate in pairs:
        text = tokenizer.apply_chat_template(chat_messages(green_prompt(reference, candidate)), tokenize=False,
                                             add_generation_prompt=True)
        ids = torch.tensor([tokenizer(text)["input_ids"]])
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=steps,
                                 do_sample=False, eos_token_id=None, pad_token_id=0, temperature=None, top_p=None)
        votes.update(set(out[0, ids.shape[1] + 4:].tolist()) - {0, 1, 2})
    if votes:
        token = votes.most_common(1)[0][0]
        state["lm_head.weight"][2] = state["lm_head.weight"][token] * 1.01


def model_folder(out_dir: str | Path) -> Path:
    """Where :func:`synthesize` puts the model inside ``out_dir``."""
    return Path(out_dir) / HUB_FOLDER
