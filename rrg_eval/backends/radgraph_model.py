"""RadGraph inference: the DyGIE span model of the official ``radgraph`` package, batched, in plain torch.

The official package (0.1.18) wraps a vendored AllenNLP/DyGIE++ and annotates one report at a time. This module
reads the same archives (``radgraph.tar.gz``, ``radgraph-xl.tar.gz``, ``modern-radgraph-xl.tar.gz`` from
``StanfordAIMI/RRG_scorers``: ``config.json``, ``vocabulary/``, ``weights.th``) and reproduces its inference:

1. per-model word tokenisation (:func:`words_of`): the RadGraph-v1 punctuation regex, or for the XL models the
   escape clean-up + NLTK ``wordpunct`` split + a few punctuation fixes;
2. every word split into word pieces on its own (no special tokens); the word pieces of a report are cut into
   windows of ``max_length - 2`` and each gets the tokenizer's start/end tokens (AllenNLP's long-sequence
   folding, so reports longer than 512 word pieces are encoded in several windows, never truncated). For
   ``modern-radgraph-xl`` the official package, through AllenNLP and the generic ``PreTrainedTokenizerFast``,
   feeds the word pieces without [CLS]/[SEP] while still shifting each word's offsets by one (each word gets
   the vectors of the pieces one position to its right); :meth:`RadGraphModel._layout` reproduces that too;
3. the encoder's last hidden state, averaged over the word pieces of each word;
4. every span of at most ``max_span_width`` words embedded as [first word; last word; width embedding];
5. NER: a feed-forward scorer per span with a fixed zero score for the null label; argmax;
6. relations: a mention scorer keeps the ``ceil(n_words * spans_per_word)`` best spans (in text order); every
   ordered pair [a; b; a*b] is scored, plus both mention scores, against a zero null score; argmax;
7. the graph: entities in span order (ids "1", "2", ...), each with the relations whose first span is that entity
   and whose second span is also an entity, as the package's ``get_entity`` builds them.

What this module does differently is only speed and memory: many reports per encoder call (segments sorted by
length to cut padding), word pieces cached per word, the archive's weights read with
``torch.load(weights_only=True)``, and spans and span pairs scored in blocks of at most :data:`BLOCK_BYTES` instead
of all at once (the official package's k x k pair tensor is 20 GB for a 3,000-word report; each span and each pair
is scored on its own, so the graphs are the same).
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MetricError, MetricUnavailable
from ..weights import read_checkpoint_error

_V1_SPLIT = re.compile(r"(?<! )(?=[/,-,:,.,!?()])|(?<=[/,-,:,.,!?()])(?! )")
_WORDPUNCT = re.compile(r"\w+|[^\w\s]+")
_SPACES = re.compile(r"\s+")

BLOCK_BYTES = 64 * 2**20
"""Working memory of one block of span or span-pair scoring (float32 bytes, estimated). Every span and every pair
of kept spans is scored on its own, so blocking changes how many are scored per matrix product, not the result."""


def words_of(text: str, model_type: str) -> list[str]:
    """The words the official package feeds the model for ``text`` (its ``preprocess_reports``)."""
    if model_type == "radgraph":
        return _V1_SPLIT.sub(" ", text).split()
    # radgraph-xl and modern-radgraph-xl (the package also sends every other model type down this branch)
    text = text.replace("\\n", "  ").replace("\\f", "  ").replace("\\u2122", "      ")
    text = text.replace("\n", " ").replace('\\"', "``")
    joined = " ".join(_WORDPUNCT.findall(_SPACES.sub(" ", text)))
    for old, new in ((").", ") ."), ("%.", "% ."), (".'", ". '"), ("%,", "% ,"), ("%)", "% )")):
        joined = joined.replace(old, new)
    return joined.split()


def _model_word(word: str) -> str:
    """DyGIE's reader turns "/." and "/?" into "." and "?" before word-piece tokenisation."""
    return word[1:] if word in ("/.", "/?") else word


@dataclass
class Graph:
    """The RadGraph annotation of one report: the official ``entities`` dict and the model's words."""

    text: str
    entities: dict[str, dict[str, Any]] = field(default_factory=dict)
    n_wordpieces: int = 0
    windows: int = 1

    def to_json(self) -> bytes:
        return json.dumps({"text": self.text, "entities": self.entities, "n_wordpieces": self.n_wordpieces,
                           "windows": self.windows}, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Graph:
        obj = json.loads(data.decode("utf-8"))
        if not isinstance(obj, dict) or not isinstance(obj.get("entities"), dict):
            raise ValueError("not a RadGraph annotation")
        return cls(text=str(obj["text"]), entities=obj["entities"], n_wordpieces=int(obj.get("n_wordpieces", 0)),
                   windows=int(obj.get("windows", 1)))


@dataclass(frozen=True)
class ArchiveSpec:
    """What inference needs from an archive's ``config.json`` and ``vocabulary/``."""

    model_type: str
    encoder_name: str
    max_length: int
    max_span_width: int
    feature_size: int
    ff_layers: int
    ff_hidden: tuple[int, ...]
    spans_per_word: float
    ner_labels: tuple[str, ...]
    relation_labels: tuple[str, ...]


def _read_vocab_file(data: bytes) -> list[str]:
    lines = re.split(r"\r?\n", data.decode("utf-8"))
    if lines and lines[-1] == "":
        lines = lines[:-1]
    return [line.replace("@@NEWLINE@@", "\n") for line in lines]


def parse_spec(cfg: dict[str, Any], vocab: dict[str, list[str]], model_type: str, *, where: str) -> ArchiveSpec:
    """The inference settings of an archive from its ``config.json`` and label vocabularies."""
    ner_ns, rel_ns = f"{model_type}__ner_labels", f"{model_type}__relation_labels"
    if ner_ns not in vocab or rel_ns not in vocab:
        raise MetricUnavailable(f"the RadGraph archive {where} has no label vocabulary for model type "
                                f"{model_type!r} (namespaces {ner_ns}, {rel_ns}); is model_type right?")
    if not vocab[ner_ns] or vocab[ner_ns][0] != "":
        raise MetricError(f"{where}: the NER label vocabulary must start with the empty (null) label")
    model = cfg["model"]
    indexer = cfg["dataset_reader"]["token_indexers"]["bert"]
    ff = model["feedforward_params"]
    layers = int(ff["num_layers"])
    hidden = ff["hidden_dims"]
    hidden_t = tuple(int(h) for h in hidden) if isinstance(hidden, list) else (int(hidden),) * layers
    loss_weights = model.get("loss_weights", {})
    if float(loss_weights.get("coref", 0)) > 0 or int(model["modules"].get("coref", {}).get("coref_prop", 0)) > 0:
        raise MetricError(f"{where}: coreference propagation is not supported (no released RadGraph model uses it)")
    spec = ArchiveSpec(
        model_type=model_type,
        encoder_name=str(model["embedder"]["token_embedders"]["bert"]["model_name"]),
        max_length=int(indexer.get("max_length") or 512),
        max_span_width=int(cfg["dataset_reader"]["max_span_width"]),
        feature_size=int(model["feature_size"]),
        ff_layers=layers,
        ff_hidden=hidden_t,
        spans_per_word=float(model["modules"]["relation"]["spans_per_word"]),
        ner_labels=tuple(vocab[ner_ns]),
        relation_labels=tuple(vocab[rel_ns]),
    )
    return spec


def archive_encoder_name(path: Path) -> str | None:
    """The encoder (hub id or folder) an archive's ``config.json`` names; None when unreadable."""
    try:
        with tarfile.open(path, "r:*") as tar:
            for info in tar:
                name = info.name[2:] if info.name.startswith("./") else info.name
                if name == "config.json" and info.isfile():
                    extracted = tar.extractfile(info)
                    if extracted is None:
                        return None
                    cfg = json.loads(extracted.read().decode("utf-8"))
                    return str(cfg["model"]["embedder"]["token_embedders"]["bert"]["model_name"])
    except (tarfile.TarError, OSError, EOFError, ValueError, KeyError):
        return None
    return None


def read_archive(path: Path, model_type: str) -> tuple[ArchiveSpec, dict[str, Any]]:
    """Parse an official archive: the spec and the state dict (loaded with ``weights_only=True``)."""
    import torch

    members: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for info in tar:
                if not info.isfile():
                    continue
                name = info.name[2:] if info.name.startswith("./") else info.name
                if name == "config.json" or name == "weights.th" or name.startswith("vocabulary/"):
                    extracted = tar.extractfile(info)
                    if extracted is not None:
                        members[name] = extracted.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise MetricUnavailable(f"cannot read the RadGraph archive {path}: {exc}; delete it and fetch it again "
                                "with `rrg-eval models download`") from None
    for needed in ("config.json", "weights.th"):
        if needed not in members:
            raise MetricUnavailable(f"the RadGraph archive {path} has no {needed}")
    cfg = json.loads(members["config.json"].decode("utf-8"))
    vocab = {name[len("vocabulary/"):-len(".txt")]: _read_vocab_file(data)
             for name, data in members.items() if name.startswith("vocabulary/") and name.endswith(".txt")}
    spec = parse_spec(cfg, vocab, model_type, where=str(path))
    try:
        state = torch.load(io.BytesIO(members["weights.th"]), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle / zip errors come in many types
        raise read_checkpoint_error(path, exc, what="RadGraph archive's weights.th in") from None
    return spec, state


def _feedforward(state: dict[str, Any], prefix: str, layers: int) -> Any:
    """An AllenNLP FeedForward (Linear + ReLU per layer) from ``state``; dropout is a no-op at inference."""
    import torch

    modules: list[torch.nn.Module] = []
    for i in range(layers):
        w = state[f"{prefix}._linear_layers.{i}.weight"]
        lin = torch.nn.Linear(w.shape[1], w.shape[0])
        lin.load_state_dict({"weight": w, "bias": state[f"{prefix}._linear_layers.{i}.bias"]})
        modules += [lin, torch.nn.ReLU()]
    return torch.nn.Sequential(*modules)


def _linear(state: dict[str, Any], prefix: str) -> Any:
    import torch

    w = state[prefix + ".weight"]
    lin = torch.nn.Linear(w.shape[1], w.shape[0])
    lin.load_state_dict({"weight": w, "bias": state[prefix + ".bias"]})
    return lin


def _windows_get_specials(encoder_dir: Path, config: Any) -> bool:
    """Whether the official package (transformers 4) wraps each window in special tokens for this tokenizer.

    AllenNLP calls ``build_inputs_with_special_tokens``; the tokenizer classes of BERT and its kin add [CLS] and
    [SEP] there, the generic ``PreTrainedTokenizerFast`` (ModernBERT's tokenizer class) adds nothing.
    """
    cls_name = ""
    path = Path(encoder_dir) / "tokenizer_config.json"
    if path.is_file():
        try:
            cls_name = str(json.loads(path.read_text(encoding="utf-8")).get("tokenizer_class") or "")
        except (ValueError, OSError):
            cls_name = ""
    if not cls_name:
        cls_name = "PreTrainedTokenizerFast" if getattr(config, "model_type", "") == "modernbert" else "auto"
    return cls_name != "PreTrainedTokenizerFast"


class RadGraphModel:
    """A loaded RadGraph archive that annotates batches of reports."""

    def __init__(self, archive: Path | None, model_type: str, encoder_dir: Path | Callable[[str], Path], *,
                 device: str = "cpu", batch_size: int = 16,
                 loaded: tuple[ArchiveSpec, dict[str, Any]] | None = None, precision: str = "fp32") -> None:
        """Load ``archive`` (or an already parsed ``loaded=(spec, state_dict)``, as the synthesizer does).

        ``precision`` (``rrg_eval.backends.precision``) applies to the encoder; the span heads stay float32.
        """
        import torch
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        from .precision import check, prepare

        self.model_type = model_type
        if loaded is not None:
            self.spec, state = loaded
        elif archive is not None:
            self.spec, state = read_archive(archive, model_type)
        else:
            raise ValueError("RadGraphModel needs an archive or loaded=(spec, state)")
        self.device = torch.device(device)
        check(precision, self.device, metric="radgraph")
        self.batch_size = max(1, int(batch_size))
        if callable(encoder_dir):  # resolve the encoder the archive names
            encoder_dir = encoder_dir(self.spec.encoder_name)
        self.tokenizer = AutoTokenizer.from_pretrained(str(encoder_dir))
        config = AutoConfig.from_pretrained(str(encoder_dir))
        self.encoder = AutoModel.from_config(config)
        prefix = "_embedder.token_embedder_bert._matched_embedder.transformer_model."
        enc_state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        missing, unexpected = self.encoder.load_state_dict(enc_state, strict=False)
        missing = [k for k in missing if not k.startswith("pooler.") and not k.endswith("position_ids")]
        if missing:
            raise MetricError(f"{archive}: encoder weights missing from weights.th: {missing[:5]}")
        self.encoder.eval().to(self.device)
        self.encoder = prepare(self.encoder, precision, self.device, metric="radgraph")
        ner_ns = f"{model_type}__ner_labels"
        rel_ns = f"{model_type}__relation_labels"
        layers = self.spec.ff_layers
        self.width_embedding = state["_endpoint_span_extractor._span_width_embedding.weight"].to(self.device)
        self.ner_ff = _feedforward(state, f"_ner._ner_scorers.{ner_ns}.0._module", layers).to(self.device)
        self.ner_out = _linear(state, f"_ner._ner_scorers.{ner_ns}.1._module").to(self.device)
        self.prune_ff = _feedforward(state, f"_relation._mention_pruners.{rel_ns}._scorer.0._module",
                                     layers).to(self.device)
        self.prune_out = _linear(state, f"_relation._mention_pruners.{rel_ns}._scorer.1._module").to(self.device)
        self.rel_ff = _feedforward(state, f"_relation._relation_feedforwards.{rel_ns}", layers).to(self.device)
        self.rel_out = _linear(state, f"_relation._relation_scorers.{rel_ns}").to(self.device)
        del state
        self._start, self._end = self._special_tokens()
        self._windows_get_specials = _windows_get_specials(encoder_dir, config)
        self._pieces: dict[str, list[int]] = {}
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.raw_scores: list[tuple[Any, Any]] | None = None  # set to [] to record (NER max, relation max) scores

    def _special_tokens(self) -> tuple[list[int], list[int]]:
        """The ids the tokenizer puts before and after a single sequence ([CLS] / [SEP] for BERT)."""
        plain = self.tokenizer("a", add_special_tokens=False)["input_ids"]
        full = self.tokenizer("a", add_special_tokens=True)["input_ids"]
        for i in range(len(full) - len(plain) + 1):
            if full[i:i + len(plain)] == plain:
                return list(full[:i]), list(full[i + len(plain):])
        raise MetricError("cannot locate the special tokens of the RadGraph encoder's tokenizer")

    def _word_pieces(self, words: Sequence[str]) -> list[list[int]]:
        todo = [w for w in dict.fromkeys(words) if w not in self._pieces]
        if todo:
            encoded = self.tokenizer(todo, add_special_tokens=False)["input_ids"]
            for w, ids in zip(todo, encoded):
                self._pieces[w] = list(ids)
        return [self._pieces[w] for w in words]

    def max_wordpieces(self) -> int:
        return self.spec.max_length - len(self._start) - len(self._end)

    def annotate(self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None) -> list[Graph]:
        """Graphs of ``texts`` (one per text, same order); batched, longest first; ``on_batch(done)`` after
        each batch (progress)."""
        import torch

        docs = [words_of(t, self.model_type) for t in texts]
        pieces = [self._word_pieces([_model_word(w) for w in words]) for words in docs]
        n_wp = [sum(len(p) for p in ps) for ps in pieces]
        order = sorted(range(len(texts)), key=lambda i: -n_wp[i])
        graphs: list[Graph | None] = [None] * len(texts)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                chunk = order[start:start + self.batch_size]
                for i, g in zip(chunk, self._annotate_batch([docs[i] for i in chunk], [pieces[i] for i in chunk])):
                    g.n_wordpieces = n_wp[i]
                    g.windows = max(1, -(-n_wp[i] // self.max_wordpieces()))
                    graphs[i] = g
                if on_batch is not None:
                    on_batch(start + len(chunk))
        return [g for g in graphs if g is not None]

    def _layout(self, doc: list[list[int]]) -> tuple[list[list[int]], list[list[tuple[int, int] | None]]]:
        """Encoder rows of one document and, per word, where its vectors sit in those rows.

        This mirrors AllenNLP's mismatched indexer + embedder as the official package runs them: the word pieces
        are cut into windows of ``max_length - n_special`` and each window is wrapped by the tokenizer's
        ``build_inputs_with_special_tokens`` (which adds nothing for a generic ``PreTrainedTokenizerFast``, the
        ModernBERT case); sequences longer than ``max_length`` are folded into rows of ``max_length`` and unfolded
        by dropping each row's first and last special positions; word ``j`` averages positions
        ``[start_j + n_start, end_j + n_start]`` of the result (positions past its end are left out, the zero
        vector of a re-inserted end token counts). A position is ``(row, column)``, or None for a zero vector.
        """
        a, b = len(self._start), len(self._end)
        size = self.spec.max_length
        flat = [p for word in doc for p in word]
        seg_len = size - a - b
        token_ids: list[int] = []
        for s in range(0, len(flat), seg_len):
            part = flat[s:s + seg_len]
            token_ids += (self._start + part + self._end) if self._windows_get_specials else part
        total = len(token_ids)
        final: list[tuple[int, int] | None]
        if total <= size:
            rows = [token_ids] if token_ids else []
            final = [(0, c) for c in range(total)]
        else:
            n_rows = -(-total // size)
            rows = [token_ids[r * size:(r + 1) * size] for r in range(n_rows)]
            body: list[tuple[int, int] | None] = [(r, c) for r in range(n_rows) for c in range(a, size - b)]
            body += [None] * b
            removed = n_rows * (a + b) - b
            for k in range(b):
                at = total - k - 1
                body[at - removed] = (at // size, at % size)
            final = [(0, c) for c in range(a)] + body
            final = final[:total - (n_rows - 1) * (a + b)]
        places: list[list[tuple[int, int] | None]] = []
        start = 0
        for word in doc:
            if word:
                lo, hi = start + a, start + len(word) - 1 + a
                places.append([final[q] for q in range(lo, hi + 1) if q < len(final)])
            else:
                places.append([])
            start += len(word)
        return rows, places

    def _encode(self, pieces: list[list[list[int]]]) -> list[Any]:
        """Word embeddings [n_words, hidden] of each document (mean of its word pieces' last hidden states)."""
        import torch

        rows: list[list[int]] = []
        layouts: list[list[list[tuple[int, int] | None]]] = []
        for doc in pieces:
            doc_rows, places = self._layout(doc)
            offset = len(rows)
            rows += doc_rows
            layouts.append([[None if q is None else (q[0] + offset, q[1]) for q in word] for word in places])
        lengths = [len(r) for r in rows]
        hidden_size = self.encoder.config.hidden_size
        states: list[Any] = [None] * len(rows)
        order = sorted(range(len(rows)), key=lambda i: -lengths[i])
        for b in range(0, len(order), self.batch_size):
            idx = order[b:b + self.batch_size]
            width = max(lengths[i] for i in idx)
            ids = torch.full((len(idx), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, :lengths[i]] = torch.tensor(rows[i], dtype=torch.long)
                mask[r, :lengths[i]] = 1
            out = self.encoder(input_ids=ids.to(self.device), attention_mask=mask.to(self.device))
            hidden = (out[0] if isinstance(out, tuple) else out.last_hidden_state).float()
            for r, i in enumerate(idx):
                states[i] = hidden[r, :lengths[i]]
        zero = torch.zeros(hidden_size, device=self.device)
        result = []
        for doc, places in zip(pieces, layouts):
            emb = torch.zeros((len(doc), hidden_size), device=self.device)
            vectors = [states[q[0]][q[1]] if q is not None else zero for word in places for q in word]
            if vectors:
                word_index = torch.tensor([w for w, word in enumerate(places) for _ in word], device=self.device)
                counts = torch.tensor([len(word) for word in places], device=self.device, dtype=emb.dtype)
                emb.index_add_(0, word_index, torch.stack(vectors))
                emb = emb / counts.clamp_min(1).unsqueeze(1)
            result.append(emb)
        return result

    def _annotate_batch(self, docs: list[list[str]], pieces: list[list[list[int]]]) -> list[Graph]:
        spec = self.spec
        graphs = [Graph(text=" ".join(words)) for words in docs]
        live = [i for i, words in enumerate(docs) if words]
        if not live:
            return graphs
        embeddings = self._encode([pieces[i] for i in live])
        for i, emb in zip(live, embeddings):
            n = emb.shape[0]
            spans = [(s, e) for s in range(n) for e in range(s, min(s + spec.max_span_width, n))]
            graphs[i].entities = self._decode(docs[i], spans, emb)
        return graphs

    def _span_embeddings(self, emb: Any, spans: Sequence[tuple[int, int]]) -> Any:
        """[first word; last word; width embedding] of each span, (len(spans), 2 * hidden + feature_size)."""
        import torch

        starts = torch.tensor([s for s, _ in spans], device=self.device, dtype=torch.long)
        ends = torch.tensor([e for _, e in spans], device=self.device, dtype=torch.long)
        return torch.cat([emb[starts], emb[ends], self.width_embedding[ends - starts]], dim=-1)

    def _block_rows(self, bytes_per_row: int) -> int:
        """How many rows of ``bytes_per_row`` bytes fit in one block of :data:`BLOCK_BYTES` (at least 1)."""
        return max(1, BLOCK_BYTES // max(1, bytes_per_row))

    def _decode(self, words: list[str], spans: list[tuple[int, int]], emb: Any) -> dict:
        """The entities dict of one document from its word embeddings ``emb`` (n_words, hidden).

        Spans are embedded and scored in blocks of at most :data:`BLOCK_BYTES` (each span's scores depend on that
        span alone), so memory grows linearly with the number of words, never with the number of spans squared.
        """
        import torch

        spec = self.spec
        n_words = emb.shape[0]
        span_dim = 2 * emb.shape[1] + self.width_embedding.shape[1]
        widest = max((*spec.ff_hidden, len(spec.ner_labels)))
        step = self._block_rows(4 * (span_dim + 2 * widest + 2))
        labels: list[int] = []
        mentions: list[Any] = []
        ner_maxima: list[Any] = []
        for b in range(0, len(spans), step):
            block = self._span_embeddings(emb, spans[b:b + step])
            # NER: zero score for the null label, argmax
            ner_scores = self.ner_out(self.ner_ff(block))
            ner_scores = torch.cat([ner_scores.new_zeros((ner_scores.shape[0], 1)), ner_scores], dim=-1)
            labels += ner_scores.max(dim=1)[1].tolist()
            if self.raw_scores is not None:
                ner_maxima.append(ner_scores[:, 1:].max(dim=1)[0])
            mentions.append(self.prune_out(self.prune_ff(block))[:, 0])
            del block, ner_scores
        entity_spans = [(spans[k], spec.ner_labels[lab]) for k, lab in enumerate(labels) if lab != 0]
        # relations: keep the best ceil(n * spans_per_word) spans by mention score, in text order
        mention = torch.cat(mentions)
        keep = int(torch.ceil(torch.tensor(float(n_words), dtype=torch.float32)
                              * torch.tensor(spec.spans_per_word, dtype=torch.float32)).item())
        keep_n = max(keep, 1)
        top = mention.topk(keep_n)[1].sort()[0]
        top_spans = [spans[t] for t in top.tolist()]
        rel_pairs, rel_max = self._score_pairs(self._span_embeddings(emb, top_spans), mention[top])
        if self.raw_scores is not None:
            self.raw_scores.append((torch.cat(ner_maxima), rel_max))
        relations: dict[tuple[int, int], list[tuple[tuple[int, int], str]]] = {}
        for a, b, lab in rel_pairs:
            relations.setdefault(top_spans[a], []).append((top_spans[b], spec.relation_labels[lab]))
        # the official graph: entity ids in span order, relations to other entities only
        entity_index = {span: str(j + 1) for j, (span, _) in enumerate(entity_spans)}
        entities: dict[str, dict[str, Any]] = {}
        for j, ((s, e), label) in enumerate(entity_spans):
            rels = [[lab, entity_index[b]] for b, lab in relations.get((s, e), ()) if b in entity_index]
            entities[str(j + 1)] = {"tokens": " ".join(words[s:e + 1]), "label": label, "start_ix": s,
                                    "end_ix": e, "relations": rels}
        return entities

    def _score_pairs(self, top_emb: Any, top_mention: Any) -> tuple[list[tuple[int, int, int]], Any]:
        """Relations among the kept spans: ``(a, b, label index)`` for every ordered pair whose best label is not
        the null one, in row-major order; plus, when ``raw_scores`` is recording, every pair's best non-null score.

        Each pair's score is [a; b; a*b] through the relation feed-forward plus both mention scores; the pairs are
        built and scored a block of first spans at a time (at most :data:`BLOCK_BYTES` per block, one first span at
        least), so the k x k x 3 * span_dim tensor of all pairs (20 GB for a 3,000-word report with the released
        models) is never built.
        """
        import torch

        k, dim = top_emb.shape
        widest = max((*self.spec.ff_hidden, len(self.spec.relation_labels) + 1))
        rows = self._block_rows(4 * k * (4 * dim + 2 * widest + 2))
        found: list[tuple[int, int, int]] = []
        maxima: list[Any] = []
        second = top_emb.unsqueeze(0)
        for a0 in range(0, k, rows):
            first = top_emb[a0:a0 + rows].unsqueeze(1)
            r = first.shape[0]
            pairs = torch.cat([first.expand(r, k, -1), second.expand(r, k, -1), first * second], dim=-1)
            rel = self.rel_out(self.rel_ff(pairs.reshape(r * k, -1))).reshape(r, k, -1)
            del pairs
            rel = rel + (top_mention[a0:a0 + r].unsqueeze(1) + top_mention.unsqueeze(0)).unsqueeze(-1)
            rel = torch.cat([rel.new_zeros((r, k, 1)), rel], dim=-1)
            rel_labels = rel.max(dim=-1)[1] - 1
            if self.raw_scores is not None:
                maxima.append(rel[..., 1:].max(dim=-1)[0].flatten())
            hits = (rel_labels >= 0).nonzero()
            hit_labels = rel_labels[hits[:, 0], hits[:, 1]].tolist()
            found += [(a + a0, b, lab) for (a, b), lab in zip(hits.tolist(), hit_labels)]
        return found, (torch.cat(maxima) if maxima else None)
