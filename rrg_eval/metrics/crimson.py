"""CRIMSON: clinically weighted findings and errors judged by an LLM (Baharoon et al., 2026; crimson-score 0.2.0).

A chat model lists the abnormal findings of both reports with their clinical significance, matches them and
lists false findings, missing findings and attribute errors as JSON; :mod:`rrg_eval.judge.crimson_protocol`
scores that as ``crimson-score`` does (score in (-1, 1], higher is better: 1 a perfect report, 0 no more
informative than a normal template, negative more weighted errors than correct findings).

Keys: ``crimson`` (mean over reports whose answer parsed), ``crimson_false_findings``,
``crimson_missing_findings``, ``crimson_attribute_errors`` and ``crimson_<type>_errors`` for the eight attribute
error types (mean counts per report, lower is better), ``crimson_unparsed_rate`` (answers that are not JSON the
score can be computed from, after ``parse_retries`` re-asks; excluded from the means, ``null`` per report).

Back-end: any OpenAI-compatible server (``crimson.base_url``, e.g. vLLM serving
``rajpurkarlab/medgemma-4b-it-crimson``) through the judge client (bounded concurrency, retries, privacy guard,
answer cache, dry run). The prompt is read from the installed ``crimson-score`` package. Named-only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .. import option_spec as cfg
from ..backends.generation import GenerationSettings, HFMessagesGenerator, TextGenerator
from ..errors import ConfigError, MetricError, MetricUnavailable
from ..judge.cache import AnswerCache, CacheWriter, answer_key
from ..judge.client import (
    DEFAULT_REQUEST_DEADLINE,
    LOCAL_PLACEHOLDER_KEY,
    Answer,
    ChatBackend,
    Decoding,
    Job,
    JudgeError,
    JudgeRunner,
    OpenAIChatBackend,
    RunnerStats,
    run_coroutine,
)
from ..judge.crimson_protocol import (
    COUNT_NAMES,
    FINE_TUNED_MODEL,
    SYSTEM_MESSAGE,
    CrimsonPrompt,
    CrimsonResult,
    load_prompt,
    read_answer,
)
from ..judge.dryrun import JudgePlan, make_plan
from ..judge.privacy import checked_route, classify_host, endpoint_of, host_of, privacy_refusal
from ..option_spec import option, torch_device
from ..progress import ANSWERS
from ..stats import Stats
from .base import Metric, RunContext, count_empty

PREFIX = "crimson"
COUNT_KEYS = tuple(f"{PREFIX}_{name}" for name in COUNT_NAMES)



def _installed(*modules: str) -> bool:
    """Whether every module can be imported, found without importing it (availability checks stay light)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in modules)

@dataclass(frozen=True)
class CrimsonConfig:
    """Options of ``crimson``; those that change answers are in the signature, the API key never is."""

    model: str = option(FINE_TUNED_MODEL, sig="model", help="served model name")
    base_url: str = option("", in_signature=False, help="OpenAI-compatible server URL, e.g. "
                                                        "http://127.0.0.1:8000/v1 (vLLM); empty: run the model "
                                                        "locally with transformers")
    api_key_env: str = option("OPENAI_API_KEY", in_signature=False,
                              help="environment variable holding the API key (optional for local servers)")
    prompt_source: str = option("", in_signature=False, help="path of a crimson-score prompt_parts.py to read the "
                                                             "prompt from (empty: the installed crimson-score)")
    guidelines: Literal["auto", "on", "off"] = option(
        "auto", sig="guidelines", help="significance examples and attribute guidelines in the prompt; auto: off "
                                       "for the fine-tuned MedGemma (trained without them), on otherwise")
    max_tokens: int = option(8192, sig="max_tokens", help="answer length limit (the package's 8192)")
    seed: int | None = option(42, sig="seed", help="sampling seed sent to the server (the package sends 42)")
    parse_retries: int = option(1, sig="parse_retries", help="re-asks of an answer that does not parse")
    dtype: str = option("auto", sig="dtype", choices=("auto", "float32", "float16", "bfloat16"),
                        help="local back-end: auto = bfloat16/float16 on GPU, float32 on CPU (the package: bfloat16)")
    device: str = option("auto", in_signature=False, help="local back-end: auto, cpu, cuda, cuda:1, ...",
                         check=torch_device)
    device_map: str = option("", in_signature=False, help="local back-end: e.g. 'auto' for several GPUs")
    batch_size: int = option(1, in_signature=False, help="local back-end: prompts per generate call (the "
                                                         "package's default 1: no padding)")
    concurrency: int = option(8, in_signature=False, help="requests in flight at once")
    requests_per_minute: float = option(0.0, in_signature=False, help="request rate limit (0: none)")
    max_retries: int = option(5, in_signature=False, help="retries on 429, 5xx, timeouts, dropped connections")
    timeout: float = option(300.0, in_signature=False, help="seconds per read before the request is retried")
    request_deadline: float = option(DEFAULT_REQUEST_DEADLINE, in_signature=False,
                                     help="seconds one request may take in all before it is abandoned and retried")
    backoff: float = option(1.0, in_signature=False, help="first retry delay in seconds (doubles each retry)")
    allow_remote: bool = option(False, in_signature=False, help="allow sending reports to non-private hosts "
                                                                "(or set RRG_EVAL_ALLOW_REMOTE_JUDGE=1)")

    def __post_init__(self) -> None:
        checks = [(self.guidelines in ("auto", "on", "off"), "guidelines must be auto, on or off"),
                  (self.max_tokens >= 1, "max_tokens must be at least 1"),
                  (self.parse_retries >= 0, "parse_retries must be 0 or more"),
                  (self.concurrency >= 1, "concurrency must be at least 1"),
                  (self.max_retries >= 0, "max_retries must be 0 or more"),
                  (self.timeout > 0, "timeout must be positive"),
                  (self.request_deadline > 0, "request_deadline must be positive"),
                  (self.backoff >= 0, "backoff must be 0 or more"),
                  (self.requests_per_minute >= 0, "requests_per_minute must be 0 (no limit) or more")]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


BackendFactory = Callable[[CrimsonConfig, str], ChatBackend]
GeneratorFactory = Callable[[CrimsonConfig], TextGenerator]


def result_to_json(result: CrimsonResult) -> dict[str, Any]:
    """The cached form of one scored answer (the cache keeps only an excerpt of the text)."""
    return {"score": result.score, "counts": list(result.counts), "n_g": result.n_g, "e_false": result.e_false,
            "e_miss": result.e_miss, "correct": result.correct}


def result_from_json(value: Any) -> CrimsonResult | None:
    """A cached scored answer, or None when the stored value is not one."""
    try:
        counts = tuple(int(x) for x in value["counts"])
        if len(counts) != len(COUNT_NAMES):
            return None
        return CrimsonResult(score=float(value["score"]), counts=counts, n_g=float(value["n_g"]),
                             e_false=float(value["e_false"]), e_miss=float(value["e_miss"]),
                             correct=float(value["correct"]))
    except (TypeError, KeyError, ValueError):
        return None


class Crimson(Metric):
    """CRIMSON through an OpenAI-compatible server."""

    name = "crimson"
    Config = CrimsonConfig
    description = "LLM judge (CRIMSON): clinically weighted correct findings minus false/missing findings, (-1, 1]"
    reference = ("Baharoon et al., CRIMSON: A Clinically-Grounded LLM-Based Metric for Generative Radiology "
                 "Report Evaluation (2026); crimson-score 0.2.0 (github.com/rajpurkarlab/CRIMSON)")
    keys = (PREFIX, *COUNT_KEYS, f"{PREFIX}_unparsed_rate")
    key_kinds = {**{k: "count" for k in COUNT_KEYS}, f"{PREFIX}_unparsed_rate": "rate"}
    lower_is_better = frozenset({*COUNT_KEYS, f"{PREFIX}_unparsed_rate"})
    extra = "judge"
    named_only = True
    judge = True  # JudgeMetric: plan_requests says what would be sent

    def __init__(self, config: Any = None, *, backend_factory: BackendFactory | None = None,
                 generator_factory: GeneratorFactory | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._backend_factory = backend_factory
        self._generator_factory = generator_factory
        self._generator: TextGenerator | None = None
        self.last_run = RunnerStats()

    def with_options(self, **overrides: Any) -> Crimson:
        return type(self)(self.config, backend_factory=self._backend_factory,
                          generator_factory=self._generator_factory, **overrides)

    @property
    def backend_kind(self) -> str:
        return "openai" if self.config.base_url else "transformers"

    def _resolved_dtype(self) -> str:
        from ..backends.generation import resolve_device, resolve_dtype

        try:
            return resolve_dtype(self.config.dtype, resolve_device(self.config.device))
        except MetricUnavailable:
            return self.config.dtype

    def generator(self) -> TextGenerator:
        """The local generator (loaded once per metric object)."""
        if self._generator is None:
            c = self.config
            if self._generator_factory is not None:
                self._generator = self._generator_factory(c)
            else:
                settings = GenerationSettings(batch_size=c.batch_size, dtype=c.dtype, device=c.device,
                                              device_map=c.device_map)
                self._generator = HFMessagesGenerator(
                    c.model, to_messages=lambda text: [{"role": "system", "content": SYSTEM_MESSAGE},
                                                       {"role": "user", "content": text}],
                    max_new_tokens=c.max_tokens, settings=settings)
        return self._generator

    @property
    def guidelines(self) -> bool:
        c = self.config
        return c.guidelines == "on" or (c.guidelines == "auto" and not c.model.endswith("medgemma-4b-it-crimson"))

    def _decoding(self) -> Decoding:
        return Decoding(temperature=0.0, max_tokens=self.config.max_tokens, top_p=1.0, seed=self.config.seed)

    def _api_key(self, private: bool) -> str:
        c = self.config
        key = os.environ.get(c.api_key_env, "").strip() if c.api_key_env else ""
        if key:
            return key
        if private:
            return LOCAL_PLACEHOLDER_KEY
        raise MetricUnavailable(f"crimson: no API key: set the environment variable ${c.api_key_env}")

    def unavailable_reason(self) -> str | None:
        c = self.config
        if not c.base_url:
            if not _installed("torch", "transformers"):
                return ("the local back-end needs torch and transformers: pip install 'rrg-eval[models]' (or serve "
                        "the model and set crimson.base_url)")
            try:
                load_prompt(self.config.prompt_source or None)
            except MetricUnavailable as exc:
                return str(exc)
            return None
        try:
            import openai  # noqa: F401
        except ImportError:
            return "the judge needs the openai client: pip install 'rrg-eval[judge]'"
        try:
            load_prompt(self.config.prompt_source or None)
            refusal = privacy_refusal(c.base_url, allow_remote=c.allow_remote, metric=self.name)
            if refusal:
                return refusal
            self._api_key(classify_host(host_of(c.base_url))[0])
        except (MetricUnavailable, ConfigError) as exc:
            return str(exc)
        return None

    def skip_reason(self, *, predictions: Sequence[str], references: Sequence[str]) -> str | None:
        return "an LLM judge sends report text to a chat server; it runs only when named (--metrics crimson)"

    def backend_versions(self) -> dict[str, str]:
        try:
            return {"crimson-score": load_prompt(self.config.prompt_source or None).version}
        except MetricUnavailable:
            return {}

    def signature_fields(self) -> list[str]:
        """``backend:openai|model:..|guidelines:..|...|prompt_hash:..`` (the tail is the base class's)."""
        parts = [p for p in cfg.signature_parts(self.config) if not p.startswith(("model:", "guidelines:"))]
        try:
            digest = load_prompt(self.config.prompt_source or None).digest
        except MetricUnavailable:
            digest = "unavailable"
        if not self.config.base_url:
            parts = [p if p != "dtype:auto" else f"dtype:{self._resolved_dtype()}" for p in parts
                     if not p.startswith(("seed:", "parse_retries:"))]
        else:
            parts = [p for p in parts if not p.startswith("dtype:")]
        where = [f"endpoint:{self.endpoint()}"] if self.config.base_url else []
        return [f"backend:{self.backend_kind}", f"model:{self.config.model}", *where,
               f"guidelines:{'on' if self.guidelines else 'off'}", *parts, f"prompt_hash:{digest}"]

    def endpoint(self) -> str:
        """The server's identity in signatures and cache keys (scheme, host, port, path)."""
        try:
            return endpoint_of(self.config.base_url) if self.config.base_url else "none"
        except ConfigError:
            return "none"

    def _questions(self, predictions: Sequence[str], references: Sequence[str], prompt: CrimsonPrompt,
                   ) -> tuple[list[str], dict[str, tuple[str, str]]]:
        decoding = (f"{self._decoding().as_key()};guidelines={self.guidelines}" if self.config.base_url else
                    f"greedy;max_new={self.config.max_tokens};dtype={self._resolved_dtype()};"
                    f"guidelines={self.guidelines}")
        endpoint = self.endpoint()
        row_keys: list[str] = []
        distinct: dict[str, tuple[str, str]] = {}
        for pred, ref in zip(predictions, references):
            key = answer_key(backend=self.backend_kind, endpoint=endpoint, model=self.config.model,
                             prompt_digest=prompt.digest, decoding=decoding, reference=ref, candidate=pred)
            row_keys.append(key)
            distinct.setdefault(key, (ref, pred))
        return row_keys, distinct

    def _needs_asking(self, cached: dict[str, Any], key: str) -> bool:
        entry = cached.get(key)
        if entry is None:
            return True
        if entry.accepted:
            return result_from_json(entry.parsed) is None  # a stored result that cannot be read is asked again
        # greedy local decoding would answer the same again: only a server is re-asked
        return bool(self.config.base_url) and entry.attempts < 1 + self.config.parse_retries

    def _cached(self, cache_dir: str | Path | None, keys: Any) -> dict[str, Any]:
        cache = AnswerCache(cache_dir, f"{self.name}-answers")
        try:
            return cache.get_many(keys) if cache.enabled else {}
        finally:
            cache.close()

    def plan_requests(self, *, predictions: Sequence[str], references: Sequence[str],
                      cache_dir: str | Path | None = None) -> JudgePlan:
        """What :meth:`compute_stats` would send, after the cache; sends nothing."""
        prompt = load_prompt(self.config.prompt_source or None)
        _, distinct = self._questions(predictions, references, prompt)
        cached = self._cached(cache_dir, distinct)
        to_send = [prompt.messages(r, c, guidelines=self.guidelines) for k, (r, c) in distinct.items()
                   if self._needs_asking(cached, k)]
        url = self.config.base_url
        return make_plan(metric=self.name, backend=self.backend_kind, model=self.config.model,
                         host=host_of(url) if url else "local transformers",
                         host_private=classify_host(host_of(url))[0] if url else True, pairs=len(predictions),
                         cached=len(distinct) - len(to_send), to_send=to_send, max_tokens=self.config.max_tokens,
                         parse_retries=self.config.parse_retries, refusal=self.unavailable_reason())

    def compute_stats(self, *, predictions: list[str], references: list[str], ids: list[str],
                      context: RunContext) -> Stats:
        reason = self.unavailable_reason()
        if reason is not None:
            raise MetricUnavailable(f"{self.name} cannot run: {reason}")
        count_empty(predictions, references, self.name, context)
        prompt = load_prompt(self.config.prompt_source or None)
        row_keys, distinct = self._questions(predictions, references, prompt)
        cached = self._cached(context.cache_dir, distinct)
        final: dict[str, CrimsonResult | None] = {k: result_from_json(v.parsed) if v.accepted else None
                                                  for k, v in cached.items()}
        jobs = [Job(key=k, messages=prompt.messages(r, c, guidelines=self.guidelines),
                    attempts_done=cached[k].attempts if k in cached and not cached[k].accepted else 0)
                for k, (r, c) in distinct.items() if self._needs_asking(cached, k)]
        self.last_run = RunnerStats()
        if jobs and self.config.base_url:
            self._ask(jobs, final, context)
        elif jobs:
            self._generate_locally(jobs, final, context)
        return self._build_stats(row_keys, final, ids, context)

    def _ask(self, jobs: list[Job], final: dict[str, CrimsonResult | None], context: RunContext) -> None:
        c = self.config
        route = checked_route(c.base_url, allow_remote=c.allow_remote, metric=self.name)  # requests go only there
        api_key = self._api_key(route.private)
        arrived = [0]
        store = CacheWriter(context.cache_dir, f"{self.name}-answers")
        context.report(ANSWERS, self.name, done=0, total=len(jobs))

        def on_answer(job: Job, answer: Answer) -> None:
            result = read_answer(answer.text)
            final[job.key] = result
            store.put(job.key, answer.text, answer.attempts, result is not None,
                      result_to_json(result) if result is not None else None)
            arrived[0] += 1
            context.report(ANSWERS, self.name, done=arrived[0], total=len(jobs))

        async def main() -> None:
            backend = (self._backend_factory(c, api_key) if self._backend_factory is not None else
                       OpenAIChatBackend(base_url=c.base_url, model=c.model, api_key=api_key, timeout=c.timeout,
                                         api_key_env=c.api_key_env, direct=route.private, route=route))
            runner = JudgeRunner(backend, self._decoding(), concurrency=c.concurrency,
                                 requests_per_minute=c.requests_per_minute, max_retries=c.max_retries,
                                 parse_retries=c.parse_retries, backoff_base=c.backoff,
                                 request_deadline=c.request_deadline)
            self.last_run = runner.stats
            await runner.run_async(jobs, lambda text: read_answer(text) is not None, on_answer)

        try:
            run_coroutine(main)
        except JudgeError as exc:
            store.close()
            kept = (f"; the {arrived[0]} answer(s) received before it are cached, rerun to resume"
                    if context.cache_dir is not None and arrived[0] and store.error is None else "")
            raise JudgeError(f"{exc}{kept}") from None
        except MetricError:
            raise
        except Exception as exc:  # never leak request objects (they hold headers) into tracebacks
            raise MetricError(f"{self.name}: judge client failed: {type(exc).__name__}") from None
        finally:
            store.close()

    def _generate_locally(self, jobs: list[Job], final: dict[str, CrimsonResult | None],
                          context: RunContext) -> None:
        store = CacheWriter(context.cache_dir, f"{self.name}-answers")
        context.report(ANSWERS, self.name, done=0, total=len(jobs))
        try:
            generator = self.generator()
            chunk = max(64, 16 * self.config.batch_size)  # an interrupted run keeps what it generated
            for start in range(0, len(jobs), chunk):
                part = jobs[start:start + chunk]
                texts = generator.generate([job.messages[-1]["content"] for job in part])
                for job, text in zip(part, texts):
                    result = read_answer(text)
                    final[job.key] = result
                    store.put(job.key, text, 1, result is not None,
                              result_to_json(result) if result is not None else None)
                context.report(ANSWERS, self.name, done=start + len(part), total=len(jobs))
        finally:
            store.close()

    def _build_stats(self, row_keys: list[str], final: dict[str, CrimsonResult | None], ids: list[str],
                     context: RunContext) -> Stats:
        n = len(row_keys)
        score = np.full(n, np.nan)
        counts = np.full((n, len(COUNT_NAMES)), np.nan)
        unparsed = []
        for i, key in enumerate(row_keys):
            result = final.get(key)
            if result is None:
                unparsed.append(ids[i])
                continue
            score[i] = result.score
            counts[i] = result.counts
        if unparsed:
            shown = ", ".join(unparsed[:20]) + (", ..." if len(unparsed) > 20 else "")
            context.warn(self.name, f"{len(unparsed)} of {n} answers are not JSON the score can be computed from; "
                                    f"excluded from the means, counted in {PREFIX}_unparsed_rate (ids: {shown})")
        return {"score": score, "counts": counts}

    def aggregate(self, stats: Stats) -> dict[str, float]:
        score = np.asarray(stats["score"], dtype=float)
        parsed = ~np.isnan(score)
        some = bool(parsed.any())
        out = {PREFIX: float(score[parsed].mean()) if some else float("nan")}
        counts = np.asarray(stats["counts"], dtype=float)[parsed]
        for j, key in enumerate(COUNT_KEYS):
            out[key] = float(counts[:, j].mean()) if some else float("nan")
        out[f"{PREFIX}_unparsed_rate"] = float((~parsed).mean()) if len(score) else 0.0
        return out

    def per_report(self, stats: Stats) -> dict[str, np.ndarray]:
        score = np.asarray(stats["score"], dtype=float)
        out = {PREFIX: score.copy()}
        counts = np.asarray(stats["counts"], dtype=float)
        for j, key in enumerate(COUNT_KEYS):
            out[key] = counts[:, j].copy()
        out[f"{PREFIX}_unparsed"] = np.isnan(score).astype(float)
        return out
