"""Greedy and beam-search decoding; every report carries its confidence.

Confidence is the average probability the model gives to the tokens of its own report (each token's
``softmax`` probability given the image and the tokens before it, the final end-of-sequence token included),
the definition of the two-stage paper's confidence analysis. It is recomputed with one teacher-forced pass over
the chosen sequence, so greedy and beam outputs are measured the same way (no length penalty, no processors).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..studies import Study
from .config import GeneratorConfig
from .data import StudyDataset, prompt_ids
from .model import ReportGenerator

Progress = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class Generated:
    """One generated report with its confidence (mean token probability) and token count.

    With ``data.sections`` the report is the sections' texts joined by a space, in config order; ``sections``
    holds each text and ``section_confidence`` each section's confidence; ``confidence`` is then the mean over
    all the report's tokens.
    """

    id: str
    report: str
    confidence: float
    tokens: int
    sections: dict[str, str] = field(default_factory=dict)
    section_confidence: dict[str, float] = field(default_factory=dict)
    json_valid: bool | None = None      # structured mode (data.target: r2gen2_json): is it valid R2Gen2 JSON?


def _strip_after_eos(ids: list[int], eos: int, pad: int) -> list[int]:
    out = []
    for token in ids:
        out.append(token)
        if token == eos:
            break
    if out and out[-1] != eos:  # ran out of max_new_tokens: drop trailing pads only
        while out and out[-1] == pad and pad != eos:
            out.pop()
    return out


@torch.no_grad()
def generate_reports(model: ReportGenerator, tokenizer: Any, studies: Sequence[Study], image_dir: str | Path,
                     cfg: GeneratorConfig, *, num_beams: int | None = None, max_new_tokens: int | None = None,
                     batch_size: int | None = None, device: str | torch.device | None = None,
                     progress: Progress | None = None) -> list[Generated]:
    """Generate a report for every study (in input order); ``device``: default, where the model is.

    A native VLM (``arch: native_vlm``, from ``load_run``) generates through :func:`.vlm.generate_vlm`."""
    if getattr(model, "native_vlm", False):
        from .vlm import generate_vlm

        return generate_vlm(model, studies, image_dir, cfg, num_beams=num_beams,  # type: ignore[arg-type]
                            max_new_tokens=max_new_tokens, batch_size=batch_size, progress=progress)
    gen = cfg.generate
    num_beams = num_beams or gen.num_beams
    max_new_tokens = max_new_tokens or gen.max_new_tokens
    batch_size = batch_size or gen.batch_size
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    if device is None:
        device = next(model.mapping.parameters()).device
    studies = list(studies)
    dataset = StudyDataset(studies, image_dir, dataclasses.replace(cfg.data, sections=()), tokenizer,
                           channels=model.channels)
    sections: list[str | None] = list(cfg.data.sections) or [None]
    texts: dict[str, dict[str | None, tuple[str, float, int]]] = {s.id: {} for s in studies}
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(studies), batch_size):
            chunk = range(start, min(start + batch_size, len(studies)))
            pixels = torch.from_numpy(np.stack([dataset.pixels(k) for k in chunk])).to(device)
            for section in sections:
                prompt = prompt_ids(tokenizer, cfg.data, section)
                prefix = model.prefix(pixels, prompt)
                mask = torch.ones(prefix.shape[:2], dtype=torch.long, device=prefix.device)
                beam = {"num_beams": num_beams, "length_penalty": gen.length_penalty, "early_stopping": True}
                sequences = model.lm.generate(inputs_embeds=prefix, attention_mask=mask,
                                              max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eos,
                                              pad_token_id=pad, **(beam if num_beams > 1 else {}))
                rows = [_strip_after_eos(seq.tolist(), eos, pad) for seq in sequences]
                confidences = _confidence(model, pixels, rows, pad, prompt)
                for k, row, conf in zip(chunk, rows, confidences):
                    text = tokenizer.decode([t for t in row if t != eos], skip_special_tokens=True).strip()
                    texts[studies[k].id][section] = (text, conf, len(row))
            if progress:
                progress("generate", {"done": chunk.stop, "total": len(studies)})
    finally:
        model.train(was_training)
    out = []
    for study in studies:
        parts = texts[study.id]
        tokens = sum(n for _, _, n in parts.values())
        weighted = sum(c * n for _, c, n in parts.values() if n)
        confidence = weighted / tokens if tokens else float("nan")
        report = " ".join(t for t, _, _ in (parts[s] for s in sections) if t)
        named = {s: parts[s][0] for s in sections if s is not None}
        named_conf = {s: parts[s][1] for s in sections if s is not None}
        out.append(Generated(id=study.id, report=report, confidence=confidence, tokens=tokens, sections=named,
                             section_confidence=named_conf))
    return out


def _confidence(model: ReportGenerator, pixels: torch.Tensor, rows: list[list[int]], pad: int,
                prompt: list[int]) -> list[float]:
    """Mean probability of each row's tokens under teacher forcing, after the prompt (NaN for an empty row)."""
    length = max((len(r) for r in rows), default=0)
    if length == 0:
        return [float("nan")] * len(rows)
    p = len(prompt)
    ids = torch.full((len(rows), p + length), pad, dtype=torch.long)
    labels = torch.full((len(rows), p + length), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), p + length), dtype=torch.long)
    for k, row in enumerate(rows):
        if prompt:
            ids[k, :p] = torch.tensor(prompt)
            mask[k, :p] = 1
        if row:
            ids[k, p:p + len(row)] = torch.tensor(row)
            labels[k, p:p + len(row)] = torch.tensor(row)
            mask[k, p:p + len(row)] = 1
    device = pixels.device
    logp = model.token_logprobs(pixels, ids.to(device), mask.to(device), labels.to(device))
    probs = logp.exp() * (labels.to(device) != -100)
    counts = (labels != -100).sum(1)
    return [float(probs[k].sum() / counts[k]) if counts[k] else float("nan") for k in range(len(rows))]


def parse_section_runs(specs: Sequence[str]) -> dict[str | None, str]:
    """``["RUN_DIR"]`` -> ``{None: RUN_DIR}``; ``["findings=RUN_F", "impression=RUN_I"]`` -> one run per section,
    in the given order (RRG24-style: a separate model for each section)."""
    from rrg_eval.errors import ConfigError

    if len(specs) == 1 and "=" not in specs[0]:
        return {None: specs[0]}
    runs: dict[str | None, str] = {}
    for spec in specs:
        section, sep, path = spec.partition("=")
        if not sep or not section or not path:
            raise ConfigError(f"{spec!r}: with several runs, name each one's section: SECTION=RUN_DIR "
                              "(e.g. findings=runs/f impression=runs/i)")
        if section in runs:
            raise ConfigError(f"section {section!r} given twice")
        runs[section] = path
    return runs


def generate_by_section(models: dict[str, tuple[Any, Any, GeneratorConfig]], studies: Sequence[Study],
                        image_dir: str | Path, *, num_beams: int | None = None, max_new_tokens: int | None = None,
                        progress: Progress | None = None) -> list[Generated]:
    """One model per section (``{section: (model, tokenizer, config)}``, from ``load_run``): each writes its
    section; ``report`` joins the non-empty sections in the given order; ``confidence`` is the token-weighted mean
    of the sections' confidences."""
    for name, (_, _, cfg) in models.items():
        if progress and cfg.data.text_field not in (name, "report"):
            progress("warning", {"message": f"section {name!r} is written by a model trained on "
                                            f"{cfg.data.text_field!r} (data.text_field)"})
    per_section = {name: {g.id: g for g in generate_reports(m, tok, studies, image_dir, cfg, num_beams=num_beams,
                                                             max_new_tokens=max_new_tokens, progress=progress)}
                   for name, (m, tok, cfg) in models.items()}
    out = []
    for study in studies:
        parts = {name: gens[study.id] for name, gens in per_section.items()}
        tokens = sum(g.tokens for g in parts.values())
        weighted = sum(g.confidence * g.tokens for g in parts.values() if g.tokens)
        out.append(Generated(id=study.id, report=" ".join(g.report for g in parts.values() if g.report),
                             confidence=weighted / tokens if tokens else float("nan"), tokens=tokens,
                             sections={n: g.report for n, g in parts.items()},
                             section_confidence={n: g.confidence for n, g in parts.items()}))
    return out
