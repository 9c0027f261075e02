"""RaTEScore's two models: the RaTE-NER DeBERTa token classifier and the BioLORD entity encoder.

What the official ``ratescore`` 0.6.0 package does, batched (facts from its source, re-implemented here):

* sentences: each report goes through medspaCy (``medspacy.load`` with only the PyRuSH sentencizer enabled, on a
  blank spaCy English tokenizer); each sentence is stripped, and sentences with no word or shorter than 3
  characters are dropped (:class:`MedspacySplitter`);
* NER: every kept sentence is tokenized alone (``max_length=512``, truncation, ``[CLS] ... [SEP]``), the token
  classifier's argmax label is taken at every position, and labels are turned into entity spans by the package's
  IOB walk (:func:`entity_spans`, quirks kept); an entity's text is ``convert_tokens_to_string`` of its tokens,
  its type the label without ``B-``/``I-``. A report's entities are those of its sentences in order;
* embeddings: an entity's vector is the ``[CLS]`` (first) position of BioLORD's last hidden state, the text
  tokenized with ``max_length=30`` and truncation (:class:`EntityEncoder`).

The package runs the classifier one sentence at a time and the encoder one report at a time; here the distinct
sentences and the distinct entity strings of a whole run are sorted by length and encoded in padded batches
(attention-masked, so each row's numbers are those of the row alone, to float rounding).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MetricUnavailable

MAX_NER_TOKENS = 512
MAX_ENTITY_TOKENS = 30
MIN_SENTENCE_CHARS = 3
SPECIAL_TOKENS = ("[CLS]", "[SEP]")  # the tokens the package's IOB walk skips
# RaTE-NER's label set (ids as in the RaTE-NER data set); types are the labels without the B-/I- prefix
LABELS = ("B-ABNORMALITY", "I-ABNORMALITY", "B-NON-ABNORMALITY", "I-NON-ABNORMALITY", "B-DISEASE", "I-DISEASE",
          "B-NON-DISEASE", "I-NON-DISEASE", "B-ANATOMY", "I-ANATOMY", "O")
ENTITY_TYPES = ("ABNORMALITY", "NON-ABNORMALITY", "DISEASE", "NON-DISEASE", "ANATOMY")

Entity = tuple[str, str]  # (text, type)
Splitter = Callable[[str], list[str]]


def keep_sentence(sentence: str) -> str | None:
    """The package's filter: the stripped sentence, or None when it has no word or fewer than 3 characters."""
    s = sentence.strip()
    if not s.split() or len(s) < MIN_SENTENCE_CHARS:
        return None
    return s


def splitter_versions() -> dict[str, str]:
    """Versions of the packages that split sentences (part of the NER cache's identity); imports nothing."""
    out = {}
    for dist in ("medspacy", "PyRuSH", "spacy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


def encode_entities(entities: Sequence[Entity]) -> bytes:
    """One report's entities as cache bytes (JSON list of [text, type])."""
    return json.dumps([list(e) for e in entities], ensure_ascii=False).encode("utf-8")


def decode_entities(data: bytes) -> list[Entity] | None:
    """The entities stored by :func:`encode_entities`; None for an entry that is not such a list."""
    value = json.loads(data.decode("utf-8"))
    if not isinstance(value, list) or any(not isinstance(e, list) or len(e) != 2 for e in value):
        return None
    return [(str(text), str(kind)) for text, kind in value]


def encode_vector(vector: np.ndarray) -> bytes:
    """One entity vector as cache bytes (float32)."""
    return np.asarray(vector, dtype=np.float32).tobytes()


def decode_vector(data: bytes) -> np.ndarray | None:
    """The float32 vector stored by :func:`encode_vector`; None for an empty or cut entry."""
    if not data or len(data) % 4:
        return None
    return np.frombuffer(data, dtype=np.float32)


class MedspacySplitter:
    """Sentences of a report as the package splits them: medspaCy's PyRuSH sentencizer, then the filter."""

    def __init__(self) -> None:
        try:
            import medspacy
        except ImportError as exc:
            raise MetricUnavailable("ratescore splits sentences with medspaCy: pip install 'rrg-eval[ratescore]' "
                                    f"({exc})") from exc
        try:  # PyRuSH logs every token at DEBUG level through loguru: silence it (output only, no effect on splits)
            from loguru import logger

            logger.disable("PyRuSH")
        except ImportError:
            pass
        # the package enables ["medspacy_pyrush", "medspacy_conte"]; the second name matches no component
        self.nlp = medspacy.load(medspacy_enable=["medspacy_pyrush"])

    def __call__(self, text: str) -> list[str]:
        out = []
        for sent in self.nlp(text).sents:
            kept = keep_sentence(str(sent))
            if kept is not None:
                out.append(kept)
        return out


def entity_spans(tokens: Sequence[str], labels: Sequence[str]) -> list[tuple[int, int, str]]:
    """(first, last, type) token spans from per-position IOB labels, as the package's walk finds them.

    Kept as the package has it: a label only counts through the label that follows it (the label of ``[SEP]``
    included); ``I-`` without an open entity opens nothing; ``B-`` followed by ``B-`` records a one-token
    entity and leaves it open, so that an entity still open at the end is recorded (up to the token before the
    last) only when no entity was ever closed before it; ``[CLS]``/``[SEP]`` are skipped.
    """
    spans: list[tuple[int, int, str]] = []
    start: int | None = None
    end: int | None = None
    kind: str | None = None
    n_labels = len(labels)
    for i, (token, label) in enumerate(zip(tokens, labels)):
        if token in SPECIAL_TOKENS or label == "O" or i >= n_labels - 1:
            continue
        follower = labels[i + 1]
        if label.startswith("B-"):
            if follower.startswith("I-"):
                start, kind = i, label[2:]
            elif follower.startswith("B-"):
                spans.append((i, i, label[2:]))
                start, end, kind = i, i, label[2:]
            elif follower.startswith("O"):
                spans.append((i, i, label[2:]))
                start = end = kind = None
        elif label.startswith("I-"):
            if follower.startswith("B-"):
                end = i
                if start is not None:
                    spans.append((start, i, kind or ""))
                start, kind = i, label[2:]
            elif follower.startswith("O"):
                end = i
                if start is not None:
                    spans.append((start, i, kind or ""))
                start = end = kind = None
    if start is not None and end is None:
        spans.append((start, len(tokens) - 2, kind or ""))
    return spans


def _device(name: str) -> Any:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[s:s + batch_size] for s in range(0, len(order), max(1, batch_size))]


class RaTENER:
    """The RaTE-NER token classifier (a Hugging Face folder): ``entities(sentences)`` -> entities per sentence."""

    def __init__(self, folder: Path, *, device: str = "cpu", batch_size: int = 16, precision: str = "fp32") -> None:
        """Load the classifier; ``precision`` (``rrg_eval.backends.precision``) applies to the DeBERTa encoder
        only: the token-classification head stays float32 and takes the encoder's output cast to float32."""
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        from .precision import check, prepare

        self.device = _device(device)
        check(precision, self.device, metric="ratescore")
        self.precision = precision
        self.batch_size = max(1, int(batch_size))
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.model = AutoModelForTokenClassification.from_pretrained(str(folder)).eval().to(self.device)
        if precision != "fp32":
            prefix = self.model.base_model_prefix
            setattr(self.model, prefix, prepare(getattr(self.model, prefix), precision, self.device,
                                                metric="ratescore"))
        self.id2label = {int(k): v for k, v in self.model.config.id2label.items()}
        self.truncated = 0

    def entities(self, sentences: Sequence[str]) -> list[list[Entity]]:
        """Entities (text, type) of each sentence, in order."""
        import torch

        if not sentences:
            return []
        ids = [self.tokenizer(s, max_length=MAX_NER_TOKENS, truncation=True)["input_ids"] for s in sentences]
        full = [len(self.tokenizer(s)["input_ids"]) for s in sentences]
        self.truncated += sum(1 for a, b in zip(ids, full) if b > len(a))
        out: list[list[Entity]] = [[] for _ in sentences]
        pad = self.tokenizer.pad_token_id
        for chunk in _length_batches([len(x) for x in ids], self.batch_size):
            batch = self.tokenizer([sentences[i] for i in chunk], max_length=MAX_NER_TOKENS, padding=True,
                                   truncation=True, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                pred = torch.argmax(self._logits(batch), dim=2).cpu().numpy()
            rows = batch["input_ids"].cpu().numpy()
            for row, i in enumerate(chunk):
                own = len(ids[i])  # the package predicts each sentence alone: labels of its own positions
                labels = [self.id2label[int(x)] for x in pred[row, :own]]
                kept = int((rows[row] != pad).sum())  # the package drops pad ids by counting them
                tokens = self.tokenizer.convert_ids_to_tokens([int(x) for x in rows[row, :kept]])
                out[i] = [(self.tokenizer.convert_tokens_to_string(tokens[a:b + 1]), kind)
                          for a, b, kind in entity_spans(tokens, labels)]
        return out

    def _logits(self, batch: Any) -> Any:
        """Token logits: the model as loaded for fp32 (unchanged); else the reduced-precision encoder, its output
        cast to float32, then the float32 head (dropout is the identity in eval mode)."""
        if self.precision == "fp32":
            return self.model(**batch).logits
        hidden = getattr(self.model, self.model.base_model_prefix)(**batch)[0].float()
        return self.model.classifier(self.model.dropout(hidden))


class EntityEncoder:
    """BioLORD (a Hugging Face folder) as the package uses it: ``[CLS]`` of the last hidden state."""

    def __init__(self, folder: Path, *, device: str = "cpu", batch_size: int = 128, precision: str = "fp32") -> None:
        """Load the encoder; ``precision`` (``rrg_eval.backends.precision``) converts it, outputs cast to float32."""
        from transformers import AutoModel, AutoTokenizer

        from .precision import check, prepare

        self.device = _device(device)
        check(precision, self.device, metric="ratescore")
        self.batch_size = max(1, int(batch_size))
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = AutoModel.from_pretrained(str(folder)).eval().to(self.device)
        self.hidden_size = int(model.config.hidden_size)
        self.model = prepare(model, precision, self.device, metric="ratescore")

    @property
    def dim(self) -> int:
        return self.hidden_size

    def side_matches(self, queries: Sequence[str], candidates: Sequence[str]) -> tuple[list[int], list[float],
                                                                                  list[int], list[float]]:
        """Best matches computed exactly as the package does for one pair, float rounding included.

        Each side's entities are encoded in one padded batch in their order (``process_embedding``), normalised
        with ``F.normalize`` and matched row by row with ``torch.matmul`` and ``torch.topk(k=1)``
        (``topk_similarity``). Returns (best candidate index, similarity) of every query, then (best query
        index, similarity) of every candidate. Used for the pairs where the choice among repeated entities of
        different types depends on that rounding.
        """
        import torch
        import torch.nn.functional as F

        def side(texts: Sequence[str]) -> Any:
            batch = self.tokenizer(list(texts), truncation=True, padding=True, return_tensors="pt",
                                   max_length=MAX_ENTITY_TOKENS).to(self.device)
            with torch.no_grad():
                return F.normalize(self.model(**batch).last_hidden_state[:, 0, :].to("cpu").float(), p=2, dim=1)

        def best(a: Any, b: Any) -> tuple[list[int], list[float]]:
            idx, val = [], []
            for row in a:
                v, i = torch.topk(torch.matmul(b, row), 1, largest=True)
                idx.append(int(i[0]))
                val.append(float(v[0]))
            return idx, val

        q, c = side(queries), side(candidates)
        return (*best(q, c), *best(c, q))

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """The ids each text is encoded as (texts with equal ids have equal vectors)."""
        return [list(x) for x in self.tokenizer(list(texts), max_length=MAX_ENTITY_TOKENS,
                                                truncation=True)["input_ids"]] if texts else []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(n, hidden) float32 vectors of ``texts``."""
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        lengths = [len(self.tokenizer(t, max_length=MAX_ENTITY_TOKENS, truncation=True)["input_ids"])
                   for t in texts]
        for chunk in _length_batches(lengths, self.batch_size):
            batch = self.tokenizer([texts[i] for i in chunk], max_length=MAX_ENTITY_TOKENS, padding=True,
                                   truncation=True, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                cls = self.model(**batch).last_hidden_state[:, 0, :].float().cpu().numpy()
            out[np.asarray(chunk)] = cls
        return out
