"""GREEN: a fine-tuned chat model lists a candidate report's errors against the reference (Ostmeier et al., 2024).

For each (reference, candidate) pair the judge answers in four sections (explanation; clinically significant
errors (a)..(f); clinically insignificant errors (a)..(f); matched findings) that
:mod:`rrg_eval.judge.green_protocol` reads as the reference ``green_score`` does. A report's GREEN is
``m / (m + significant errors)``, 0 when ``m`` (matched findings) is 0.

Keys: ``green`` (mean over reports), ``green_std`` (population standard deviation, as the reference reports
it), ``green_significant_a`` .. ``_f`` and ``green_insignificant_a`` .. ``_f`` (mean counts),
``green_matched_findings`` (mean), ``green_unparsed_rate`` (share of answers without a significant-errors or
matched-findings section after the re-asks). With ``unparsed=null`` (default) those reports are excluded from
the means and ``null`` per report; with ``unparsed=zero`` they are scored as the reference does (every missing
count zero, hence GREEN 0) and still counted in ``green_unparsed_rate``.

Two back-ends, chosen by ``base_url``: empty -> local ``transformers`` (greedy, the reference's settings,
:class:`rrg_eval.backends.generation.HFChatGenerator`); a URL -> any OpenAI-compatible server through the judge
client (bounded concurrency, retries, privacy guard). Answers are cached either way. Named-only: it never runs
in the default metric set.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .. import option_spec as cfg
from ..backends.generation import GenerationSettings, HFChatGenerator, TextGenerator
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
from ..judge.dryrun import JudgePlan, make_plan
from ..judge.green_protocol import (
    CHAT_TEMPLATE,
    ERROR_TYPES,
    MAX_WORDS,
    PROMPT_DIGEST,
    GreenAnswer,
    chat_messages,
    clean_response,
    cut_words,
    green_prompt,
    read_answer,
)
from ..judge.privacy import Route, checked_route, classify_host, endpoint_of, host_of, privacy_refusal
from ..option_spec import option, torch_device
from ..progress import ANSWERS
from ..stats import Stats
from .base import Metric, RunContext, count_empty

PREFIX = "green"
_DTYPES = ("auto", "float32", "float16", "bfloat16")



def _installed(*modules: str) -> bool:
    """Whether every module can be imported, found without importing it (availability checks stay light)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in modules)

@dataclass(frozen=True)
class GreenConfig:
    """Options of ``green``. Those that change answers are in the signature; the API key never is."""

    model: str = option("", sig="model", help="judge model: a Hugging Face id or local folder (transformers "
                                              "back-end), or the served model name (server back-end), e.g. "
                                              "StanfordAIMI/GREEN-radllama2-7b")
    base_url: str = option("", in_signature=False, help="OpenAI-compatible server URL, e.g. http://127.0.0.1:8000/v1 "
                                                        "(vLLM); empty: run the model locally with transformers")
    api_key_env: str = option("OPENAI_API_KEY", in_signature=False,
                              help="environment variable holding the API key (optional for local servers)")
    unparsed: Literal["null", "zero"] = option(
        "null", sig="unparsed", help="an answer without its significant-errors or matched-findings section: "
                                     "'null' (excluded from the means) or 'zero' (the reference: zero errors, "
                                     "GREEN 0)")
    parse_retries: int = option(1, sig="parse_retries", help="server back-end: re-asks of an answer that lacks a "
                                                             "section (greedy local decoding is not re-asked)")
    max_tokens: int = option(1024, sig="max_tokens", help="server back-end: answer length limit")
    max_length: int = option(2048, sig="max_length", help="transformers back-end: prompt + answer tokens "
                                                          "(the reference's 2048)")
    dtype: str = option("auto", sig="dtype", choices=_DTYPES,
                        help="transformers back-end: auto = bfloat16/float16 on GPU, float32 on CPU "
                             "(the reference: float16)")
    batch_size: int = option(8, in_signature=False, help="transformers back-end: prompts per generate call")
    sort_by_length: bool = option(True, in_signature=False, help="transformers back-end: batch prompts by token "
                                                                 "length (false: in input order, as the reference)")
    device: str = option("auto", in_signature=False, help="transformers back-end: auto, cpu, cuda, cuda:1, ...",
                         check=torch_device)
    device_map: str = option("", in_signature=False, help="transformers back-end: e.g. 'auto' to spread the "
                                                          "model over several GPUs (accelerate)")
    concurrency: int = option(8, in_signature=False, help="server back-end: requests in flight at once")
    requests_per_minute: float = option(0.0, in_signature=False, help="server back-end: request rate limit")
    max_retries: int = option(5, in_signature=False, help="retries on 429, 5xx, timeouts, dropped connections")
    timeout: float = option(300.0, in_signature=False, help="seconds per read (connect, each read of the answer) "
                                                            "before the request is retried")
    request_deadline: float = option(DEFAULT_REQUEST_DEADLINE, in_signature=False,
                                     help="seconds one request may take in all before it is abandoned and retried")
    backoff: float = option(1.0, in_signature=False, help="first retry delay in seconds (doubles each retry)")
    allow_remote: bool = option(False, in_signature=False, help="allow sending reports to non-private hosts "
                                                                "(or set RRG_EVAL_ALLOW_REMOTE_JUDGE=1)")

    def __post_init__(self) -> None:
        checks = [(self.unparsed in ("null", "zero"), "unparsed must be 'null' or 'zero'"),
                  (self.parse_retries >= 0, "parse_retries must be 0 or more"),
                  (self.max_tokens >= 1, "max_tokens must be at least 1"),
                  (self.max_length >= 16, "max_length must be at least 16"),
                  (self.batch_size >= 1, "batch_size must be at least 1"),
                  (self.concurrency >= 1, "concurrency must be at least 1"),
                  (self.max_retries >= 0, "max_retries must be 0 or more"),
                  (self.timeout > 0, "timeout must be positive"),
                  (self.request_deadline > 0, "request_deadline must be positive"),
                  (self.backoff >= 0, "backoff must be 0 or more"),
                  (self.requests_per_minute >= 0, "requests_per_minute must be 0 (no limit) or more")]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


BackendFactory = Callable[[GreenConfig, str], ChatBackend]
GeneratorFactory = Callable[[GreenConfig], TextGenerator]

SIG_KEYS = tuple(f"{PREFIX}_significant_{t}" for t in ERROR_TYPES)
INSIG_KEYS = tuple(f"{PREFIX}_insignificant_{t}" for t in ERROR_TYPES)


def answer_to_json(answer: GreenAnswer) -> dict[str, Any]:
    """The cached form of one read answer (the cache keeps only an excerpt of the text)."""
    return {"significant": list(answer.significant), "insignificant": list(answer.insignificant),
            "matched": answer.matched, "complete": answer.complete}


def answer_from_json(value: Any) -> GreenAnswer | None:
    """A cached read answer, or None when the stored value is not one."""
    try:
        sig = tuple(int(x) for x in value["significant"])
        insig = tuple(int(x) for x in value["insignificant"])
        if len(sig) != len(ERROR_TYPES) or len(insig) != len(ERROR_TYPES):
            return None
        return GreenAnswer(significant=sig, insignificant=insig, matched=int(value["matched"]),
                           complete=bool(value["complete"]))
    except (TypeError, KeyError, ValueError):
        return None


class Green(Metric):
    """GREEN through a local transformers model or an OpenAI-compatible server."""

    name = "green"
    Config = GreenConfig
    description = "LLM judge (GREEN): matched findings / (matched + clinically significant errors), per report"
    reference = ("Ostmeier et al., GREEN: Generative Radiology Report Evaluation and Error Notation (EMNLP "
                 "Findings 2024); github.com/Stanford-AIMI/GREEN (green_score 0.0.12)")
    keys = (PREFIX, f"{PREFIX}_std", *SIG_KEYS, *INSIG_KEYS, f"{PREFIX}_matched_findings",
            f"{PREFIX}_unparsed_rate")
    key_kinds = {**{k: "count" for k in (*SIG_KEYS, *INSIG_KEYS)},
                 f"{PREFIX}_matched_findings": "count", f"{PREFIX}_unparsed_rate": "rate"}
    lower_is_better = frozenset({*SIG_KEYS, *INSIG_KEYS, f"{PREFIX}_unparsed_rate"})
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

    def with_options(self, **overrides: Any) -> Green:
        return type(self)(self.config, backend_factory=self._backend_factory,
                          generator_factory=self._generator_factory, **overrides)

    # -- where and what --------------------------------------------------------------------------------------
    @property
    def backend_kind(self) -> str:
        return "openai" if self.config.base_url else "transformers"

    def endpoint(self) -> str:
        """The server's identity in signatures and cache keys (scheme, host, port, path); 'local' without one."""
        if not self.config.base_url:
            return "local"
        try:
            return endpoint_of(self.config.base_url)
        except ConfigError:
            return "none"

    def _decoding(self) -> Decoding:
        return Decoding(temperature=0.0, max_tokens=self.config.max_tokens, top_p=1.0, seed=None)

    def _resolved_dtype(self) -> str:
        from ..backends.generation import resolve_device, resolve_dtype

        try:
            return resolve_dtype(self.config.dtype, resolve_device(self.config.device))
        except MetricUnavailable:
            return self.config.dtype

    def _decoding_key(self) -> str:
        c = self.config
        if c.base_url:
            return self._decoding().as_key()
        return GenerationSettings(max_length=c.max_length).key(self._resolved_dtype())

    def _api_key(self, private: bool) -> str:
        c = self.config
        key = os.environ.get(c.api_key_env, "").strip() if c.api_key_env else ""
        if key:
            return key
        if private:
            return LOCAL_PLACEHOLDER_KEY
        raise MetricUnavailable(f"green: no API key: set the environment variable ${c.api_key_env} "
                                "(or name another one with --set green.api_key_env=VAR)")

    def unavailable_reason(self) -> str | None:
        c = self.config
        if not c.model:
            return ("no judge model configured: --set green.model=StanfordAIMI/GREEN-radllama2-7b (local "
                    "transformers) or --set green.model=NAME --set green.base_url=http://127.0.0.1:8000/v1 "
                    "(a vLLM server; docs/metrics.md)")
        if c.base_url:
            try:
                import openai  # noqa: F401
            except ImportError:
                return "the server back-end needs the openai client: pip install 'rrg-eval[judge]'"
            try:
                refusal = privacy_refusal(c.base_url, allow_remote=c.allow_remote, metric=self.name)
                if refusal:
                    return refusal
                self._api_key(classify_host(host_of(c.base_url))[0])
            except (MetricUnavailable, ConfigError) as exc:
                return str(exc)
            return None
        if not _installed("torch", "transformers"):
            return "the local back-end needs torch and transformers: pip install 'rrg-eval[models]'"
        return None

    def skip_reason(self, *, predictions: Sequence[str], references: Sequence[str]) -> str | None:
        return ("an LLM judge runs a 7B model or sends report text to a chat server; it runs only when named "
                "(--metrics green)")

    def backend_versions(self) -> dict[str, str]:
        return {}

    def signature_fields(self) -> list[str]:
        """``backend:..|model:..|unparsed:..|...|prompt_hash:..`` (the tail is the base class's)."""
        c = self.config
        skip = ("model:", "max_tokens:", "parse_retries:") if not c.base_url else ("model:", "max_length:", "dtype:")
        parts = [p for p in cfg.signature_parts(c) if not p.startswith(skip)]
        if not c.base_url and c.dtype == "auto":  # the data type as resolved here (it changes answers)
            parts = [f"dtype:{self._resolved_dtype()}" if p == "dtype:auto" else p for p in parts]
        where = [f"endpoint:{self.endpoint()}"] if c.base_url else []
        return [f"backend:{self.backend_kind}", f"model:{c.model or 'none'}", *where, *parts,
                f"prompt_hash:{PROMPT_DIGEST}"]

    # -- planning ---------------------------------------------------------------------------------------
    def _questions(self, predictions: Sequence[str], references: Sequence[str],
                   ) -> tuple[list[str], dict[str, tuple[str, str]]]:
        """Row keys, and key -> (cut reference, cut candidate) for each distinct prompt."""
        decoding = self._decoding_key()
        endpoint = self.endpoint()
        row_keys: list[str] = []
        distinct: dict[str, tuple[str, str]] = {}
        for pred, ref in zip(predictions, references):
            ref_cut, pred_cut = cut_words(ref, MAX_WORDS), cut_words(pred, MAX_WORDS)
            key = answer_key(backend=self.backend_kind, endpoint=endpoint, model=self.config.model,
                             prompt_digest=PROMPT_DIGEST, decoding=decoding, reference=ref_cut, candidate=pred_cut)
            row_keys.append(key)
            distinct.setdefault(key, (ref_cut, pred_cut))
        return row_keys, distinct

    def _needs_asking(self, cached: dict[str, Any], key: str) -> bool:
        entry = cached.get(key)
        if entry is None or answer_from_json(entry.parsed) is None:
            return True  # never asked, or a stored result that cannot be read
        if entry.accepted:
            return False
        return bool(self.config.base_url) and entry.attempts < 1 + self.config.parse_retries

    def _read_cache(self, cache_dir: str | Path | None, keys: Any) -> dict[str, Any]:
        cache = AnswerCache(cache_dir, f"{self.name}-answers")
        try:
            return cache.get_many(keys) if cache.enabled else {}
        finally:
            cache.close()

    def plan_requests(self, *, predictions: Sequence[str], references: Sequence[str],
                      cache_dir: str | Path | None = None) -> JudgePlan:
        """What :meth:`compute_stats` would ask, after the cache; asks nothing."""
        if not self.config.model:
            raise MetricUnavailable(f"{self.name}: {self.unavailable_reason()}")
        _, distinct = self._questions(predictions, references)
        cached = self._read_cache(cache_dir, distinct)
        to_send = [[{"role": "user", "content": green_prompt(r, c)}] for k, (r, c) in distinct.items()
                   if self._needs_asking(cached, k)]
        url = self.config.base_url
        host = host_of(url) if url else "local transformers"
        private = classify_host(host_of(url))[0] if url else True
        return make_plan(metric=self.name, backend=self.backend_kind, model=self.config.model, host=host,
                         host_private=private, pairs=len(predictions), cached=len(distinct) - len(to_send),
                         to_send=to_send, max_tokens=self.config.max_tokens,
                         parse_retries=self.config.parse_retries if url else 0, refusal=self.unavailable_reason())

    # -- computing ---------------------------------------------------------------------------------------
    def compute_stats(self, *, predictions: list[str], references: list[str], ids: list[str],
                      context: RunContext) -> Stats:
        reason = self.unavailable_reason()
        if reason is not None:
            raise MetricUnavailable(f"{self.name} cannot run: {reason}")
        count_empty(predictions, references, self.name, context)
        row_keys, distinct = self._questions(predictions, references)
        cached = self._read_cache(context.cache_dir, distinct)
        todo = {k: v for k, v in distinct.items() if self._needs_asking(cached, k)}
        final: dict[str, GreenAnswer] = {k: a for k, v in cached.items()
                                         if k not in todo and (a := answer_from_json(v.parsed)) is not None}
        self.last_run = RunnerStats()
        if todo:
            if self.config.base_url:
                jobs = [Job(key=k, messages=[{"role": "user", "content": green_prompt(r, c)}],
                            attempts_done=cached[k].attempts if k in cached and not cached[k].accepted else 0)
                        for k, (r, c) in todo.items()]
                self._ask_server(jobs, final, context)
            else:
                self._generate_locally(todo, final, context)
        return self._build_stats(row_keys, final, ids, context)

    def generator(self) -> TextGenerator:
        """The local generator (loaded once per metric object)."""
        if self._generator is None:
            c = self.config
            if self._generator_factory is not None:
                self._generator = self._generator_factory(c)
            else:
                settings = GenerationSettings(max_length=c.max_length, batch_size=c.batch_size, dtype=c.dtype,
                                              device=c.device, device_map=c.device_map,
                                              sort_by_length=c.sort_by_length)
                self._generator = HFChatGenerator(c.model, chat_template=CHAT_TEMPLATE, to_messages=chat_messages,
                                                  clean=clean_response, settings=settings)
        return self._generator

    def _generate_locally(self, todo: dict[str, tuple[str, str]], final: dict[str, GreenAnswer],
                          context: RunContext) -> None:
        keys = list(todo)
        store = CacheWriter(context.cache_dir, f"{self.name}-answers")
        context.report(ANSWERS, self.name, done=0, total=len(keys))
        try:
            generator = self.generator()
            # in chunks (each sorted by length inside), so that an interrupted run keeps what it generated
            chunk = max(256, 16 * self.config.batch_size)
            for start in range(0, len(keys), chunk):
                part = keys[start:start + chunk]
                answers = generator.generate([green_prompt(*todo[k]) for k in part])
                for key, text in zip(part, answers):
                    answer = read_answer(text)
                    final[key] = answer
                    store.put(key, text, 1, answer.complete, answer_to_json(answer))
                context.report(ANSWERS, self.name, done=start + len(part), total=len(keys))
        finally:
            store.close()
        if store.error is not None:
            context.warn(self.name, f"could not write the answer cache ({type(store.error).__name__}); the "
                                    "scores are complete but a rerun will generate again")

    def _make_backend(self, url: str, api_key: str, route: Route) -> ChatBackend:
        if self._backend_factory is not None:
            return self._backend_factory(self.config, api_key)
        c = self.config
        return OpenAIChatBackend(base_url=url, model=c.model, api_key=api_key, timeout=c.timeout,
                                 api_key_env=c.api_key_env, direct=route.private, route=route)

    def _ask_server(self, jobs: list[Job], final: dict[str, GreenAnswer], context: RunContext) -> None:
        c = self.config
        url = c.base_url
        route = checked_route(url, allow_remote=c.allow_remote, metric=self.name)  # requests go only there
        api_key = self._api_key(route.private)
        arrived = [0]
        store = CacheWriter(context.cache_dir, f"{self.name}-answers")
        context.report(ANSWERS, self.name, done=0, total=len(jobs))

        def on_answer(job: Job, answer: Answer) -> None:
            text = clean_response(answer.text)
            read = read_answer(text)
            final[job.key] = read
            store.put(job.key, text, answer.attempts, read.complete, answer_to_json(read))
            arrived[0] += 1
            context.report(ANSWERS, self.name, done=arrived[0], total=len(jobs))

        async def main() -> None:
            backend = self._make_backend(url, api_key, route)
            runner = JudgeRunner(backend, self._decoding(), concurrency=c.concurrency,
                                 requests_per_minute=c.requests_per_minute, max_retries=c.max_retries,
                                 parse_retries=c.parse_retries, backoff_base=c.backoff,
                                 request_deadline=c.request_deadline)
            self.last_run = runner.stats
            await runner.run_async(jobs, lambda text: read_answer(clean_response(text)).complete, on_answer)

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
        if store.error is not None:
            context.warn(self.name, f"could not write the answer cache ({type(store.error).__name__}); the "
                                    "scores are complete but a rerun will ask again")

    def _build_stats(self, row_keys: list[str], final: dict[str, GreenAnswer], ids: list[str],
                     context: RunContext) -> Stats:
        n = len(row_keys)
        significant = np.full((n, len(ERROR_TYPES)), np.nan)
        insignificant = np.full((n, len(ERROR_TYPES)), np.nan)
        matched = np.full(n, np.nan)
        complete = np.zeros(n, dtype=bool)
        included = np.zeros(n, dtype=bool)
        unparsed_ids = []
        zero = self.config.unparsed == "zero"
        for i, key in enumerate(row_keys):
            answer = final.get(key) or read_answer("")
            complete[i] = answer.complete
            if not answer.complete:
                unparsed_ids.append(ids[i])
                if not zero:
                    continue
            included[i] = True
            significant[i] = answer.significant
            insignificant[i] = answer.insignificant
            matched[i] = answer.matched
        if unparsed_ids:
            shown = ", ".join(unparsed_ids[:20]) + (", ..." if len(unparsed_ids) > 20 else "")
            fate = ("scored as the reference does (zero errors, GREEN 0)" if zero
                    else "excluded from the means")
            context.warn(self.name, f"{len(unparsed_ids)} of {n} answers lack the significant-errors or "
                                    f"matched-findings section; {fate}, counted in {PREFIX}_unparsed_rate "
                                    f"(ids: {shown})")
        return {"significant": significant, "insignificant": insignificant, "matched": matched,
                "complete": complete, "included": included}

    @staticmethod
    def _scores(stats: Stats) -> np.ndarray:
        matched = np.asarray(stats["matched"], dtype=float)
        total = matched + np.asarray(stats["significant"], dtype=float).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.where(matched == 0, 0.0, matched / np.where(total == 0, 1.0, total))
        return np.where(np.asarray(stats["included"], dtype=bool), value, np.nan)

    def aggregate(self, stats: Stats) -> dict[str, float]:
        included = np.asarray(stats["included"], dtype=bool)
        complete = np.asarray(stats["complete"], dtype=bool)
        n = len(included)
        some = bool(included.any())
        scores = self._scores(stats)[included]
        out: dict[str, float] = {PREFIX: float(np.mean(scores)) if some else float("nan"),
                                 f"{PREFIX}_std": float(np.std(scores)) if some else float("nan")}
        sig = np.asarray(stats["significant"], dtype=float)[included]
        insig = np.asarray(stats["insignificant"], dtype=float)[included]
        for j in range(len(ERROR_TYPES)):
            out[SIG_KEYS[j]] = float(sig[:, j].mean()) if some else float("nan")
        for j in range(len(ERROR_TYPES)):
            out[INSIG_KEYS[j]] = float(insig[:, j].mean()) if some else float("nan")
        matched = np.asarray(stats["matched"], dtype=float)[included]
        out[f"{PREFIX}_matched_findings"] = float(matched.mean()) if some else float("nan")
        out[f"{PREFIX}_unparsed_rate"] = float((~complete).mean()) if n else 0.0
        return out

    def per_report(self, stats: Stats) -> dict[str, np.ndarray]:
        out = {PREFIX: self._scores(stats)}
        sig = np.asarray(stats["significant"], dtype=float)
        insig = np.asarray(stats["insignificant"], dtype=float)
        for j in range(len(ERROR_TYPES)):
            out[SIG_KEYS[j]] = sig[:, j].copy()
        for j in range(len(ERROR_TYPES)):
            out[INSIG_KEYS[j]] = insig[:, j].copy()
        out[f"{PREFIX}_matched_findings"] = np.asarray(stats["matched"], dtype=float).copy()
        out[f"{PREFIX}_unparsed"] = (~np.asarray(stats["complete"], dtype=bool)).astype(float)
        return out

