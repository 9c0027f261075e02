"""A synthetic ``distilroberta-base`` folder for the BERTScore CXR preset: hub file layout, seeded random weights.

Writes ``<out_dir>/distilroberta-base/`` with ``config.json`` (a ``RobertaModel``), ``vocab.json`` and
``merges.txt`` (a byte-level BPE tokenizer), ``tokenizer_config.json`` (``model_max_length`` 512) and
``model.safetensors`` (every ``RobertaModel`` parameter drawn from ``np.random.default_rng(seed)``).

The real tokenizer files cannot be downloaded here, so the tokenizer is a byte-level BPE trained (with the
``tokenizers`` package, deterministic) on the radiology sentences below; its vocabulary is then padded with unused
entries to RoBERTa's 50265 ids, with ``<s>``, ``<pad>``, ``</s>``, ``<unk>`` at 0-3 and ``<mask>`` last, as in
the real one. ``base`` has distilroberta-base's real sizes (6 layers, 768 hidden, 3072 feed-forward, 12 heads,
514 positions); ``tiny`` keeps the 6 layers (so bert-score's layer 5 exists) at 32 hidden.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

REPO_FOLDER = "distilroberta-base"
VOCAB_SIZE = 50265
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
SIZES = {
    "tiny": {"hidden_size": 32, "num_hidden_layers": 6, "num_attention_heads": 2, "intermediate_size": 64},
    "base": {"hidden_size": 768, "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 3072},
}
TRAINING_TEXT = (
    "The heart size is normal. The lungs are clear. No pleural effusion or pneumothorax.",
    "Cardiomegaly with mild pulmonary edema. Small bilateral pleural effusions.",
    "Right lower lobe consolidation concerning for pneumonia. No acute cardiopulmonary abnormality.",
    "Bibasilar atelectasis. No focal consolidation. Stable cardiomediastinal silhouette.",
    "Degenerative changes of the thoracic spine. Healed right rib fractures. Lungs are hyperinflated.",
    "Left-sided PICC line with tip in the superior vena cava. Possible small left pleural effusion.",
    "The mediastinal contours are within normal limits. There is no evidence of focal airspace disease.",
    "Calcified granuloma in the right upper lobe. Mild scarring at the lung bases. Interval improvement.",
    "Endotracheal tube terminates above the carina. Nasogastric tube courses below the diaphragm.",
    "Findings: frontal and lateral views of the chest. Impression: no active disease. Comparison none.",
)


def roberta_config(size: str) -> dict:
    """A ``RobertaModel`` ``config.json`` of the given size (distilroberta-base's constants)."""
    s = SIZES[size]
    return {"architectures": ["RobertaModel"], "model_type": "roberta", "vocab_size": VOCAB_SIZE,
            "hidden_size": s["hidden_size"], "num_hidden_layers": s["num_hidden_layers"],
            "num_attention_heads": s["num_attention_heads"], "intermediate_size": s["intermediate_size"],
            "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
            "max_position_embeddings": 514, "type_vocab_size": 1, "initializer_range": 0.02,
            "layer_norm_eps": 1e-05, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2}


def roberta_state_dict(config: dict, seed: int) -> dict[str, np.ndarray]:
    """Seeded random float32 weights with RobertaModel's parameter names and shapes (pooler included)."""
    rng = np.random.default_rng(seed)
    h, inter = config["hidden_size"], config["intermediate_size"]

    def normal(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)).astype(np.float32)

    def norm(prefix: str, out: dict[str, np.ndarray]) -> None:
        out[f"{prefix}.weight"] = (1 + normal(h)).astype(np.float32)
        out[f"{prefix}.bias"] = normal(h)

    def linear(prefix: str, n_out: int, n_in: int, out: dict[str, np.ndarray]) -> None:
        out[f"{prefix}.weight"] = normal(n_out, n_in)
        out[f"{prefix}.bias"] = normal(n_out)

    sd: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": normal(config["vocab_size"], h),
        "embeddings.position_embeddings.weight": normal(config["max_position_embeddings"], h),
        "embeddings.token_type_embeddings.weight": normal(config["type_vocab_size"], h),
    }
    norm("embeddings.LayerNorm", sd)
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        for name in ("query", "key", "value"):
            linear(f"{p}.attention.self.{name}", h, h, sd)
        linear(f"{p}.attention.output.dense", h, h, sd)
        norm(f"{p}.attention.output.LayerNorm", sd)
        linear(f"{p}.intermediate.dense", inter, h, sd)
        linear(f"{p}.output.dense", h, inter, sd)
        norm(f"{p}.output.LayerNorm", sd)
    linear("pooler.dense", h, h, sd)
    return sd


def bpe_files() -> tuple[dict[str, int], list[str]]:
    """(vocab, merges) of the synthetic byte-level BPE: trained on :data:`TRAINING_TEXT`, padded to 50265 ids."""
    from tokenizers import ByteLevelBPETokenizer

    tokenizer = ByteLevelBPETokenizer()
    tokenizer.train_from_iterator(list(TRAINING_TEXT) * 4, vocab_size=2000, min_frequency=2,
                                  special_tokens=list(SPECIALS), show_progress=False)
    data = json.loads(tokenizer.to_str())
    vocab: dict[str, int] = dict(data["model"]["vocab"])
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    if [vocab.get(t) for t in SPECIALS] != [0, 1, 2, 3]:  # pragma: no cover - tokenizers keeps their order
        raise RuntimeError("synthetic distilroberta: special tokens did not get ids 0-3")
    for i in range(len(vocab), VOCAB_SIZE - 1):
        vocab[f"<unused{i}>"] = i
    vocab["<mask>"] = VOCAB_SIZE - 1
    return vocab, merges


def synthesize(out_dir: Path, size: str, seed: int) -> Path:
    """Write ``out_dir/distilroberta-base/`` (see the module docstring); returns ``out_dir``."""
    from safetensors.numpy import save_file

    folder = out_dir / REPO_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    config = roberta_config(size)
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    vocab, merges = bpe_files()
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512}) + "\n", encoding="utf-8")
    save_file(roberta_state_dict(config, seed), str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "SYNTHETIC.json").write_text(json.dumps({"kind": "distilroberta", "size": size, "seed": seed,
                                                       "note": "random weights: numbers are meaningless"})
                                           + "\n", encoding="utf-8")
    return out_dir
