"""CheXprompt: a chat model counts a candidate report's errors against the reference (LLaVA-Rad's LLM judge).

For each (reference, candidate) pair the judge counts errors of six types (A false finding, B omitted finding,
C wrong location, D wrong severity, E comparison not in the reference, F omitted comparison), separately as
clinically significant and insignificant, and answers in two lines that :mod:`rrg_eval.judge.parse` reads.

Keys (means over the reports whose answer parsed):

* ``chexprompt_significant_errors`` / ``chexprompt_insignificant_errors``: mean error counts per report;
* ``chexprompt_error_free_rate``: share of reports with zero clinically significant errors;
* ``chexprompt_significant_A`` .. ``_F``: mean significant errors of each type;
* ``chexprompt_unparsed_rate``: share of reports whose answer never parsed (after ``parse_retries`` re-asks).
  Those reports are excluded from every mean (never counted as zero) and their ids are listed in the warnings.

The metric never runs as part of the default metric set (it sends report text to a server): name it with
``--metrics chexprompt``. Privacy rules, the cache and ``--dry-run`` are described in docs/chexprompt.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .. import option_spec as cfg
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
from ..judge.parse import ERROR_TYPES, Counts, counts_from_json, counts_to_json, parse_answer
from ..judge.privacy import (
    DEFAULT_OPENAI_URL,
    Route,
    checked_route,
    classify_host,
    endpoint_of,
    host_of,
    privacy_refusal,
    url_problem,
)
from ..judge.prompts import Prompt, load_prompt
from ..option_spec import option
from ..progress import ANSWERS
from ..stats import Stats
from .base import Metric, RunContext, count_empty

PREFIX = "chexprompt"


@dataclass(frozen=True)
class ChexpromptConfig:
    """Options of ``chexprompt``. Those that change answers are in the signature; the API key never is."""

    model: str = option("", sig="model", help="judge model name (OpenAI or local server); for Azure the "
                                              "underlying model, for the signature and the price table")
    base_url: str = option("", in_signature=False, check=url_problem,
                           help="server URL, e.g. http://127.0.0.1:8000/v1 (vLLM), http://localhost:11434/v1 "
                                "(Ollama), the Azure endpoint; empty: https://api.openai.com/v1 (remote). In the "
                                "signature as endpoint: (scheme, host, port, path); never with credentials")
    api_key_env: str = option("OPENAI_API_KEY", in_signature=False,
                              help="environment variable holding the API key (optional for local servers)")
    azure_deployment: str = option("", in_signature=False, help="Azure OpenAI deployment name (selects Azure)")
    api_version: str = option("2024-06-01", in_signature=False, help="Azure OpenAI api-version")
    temperature: float = option(0.0, sig="temp", help="sampling temperature (published setup: 0)")
    max_tokens: int = option(128, sig="max_tokens", help="answer length limit (published setup: 128)")
    top_p: float = option(0.9, sig="top_p", help="nucleus sampling (published setup: 0.9)")
    seed: int | None = option(None, sig="seed", help="sampling seed sent to the server (none: not sent)")
    prompt: Literal["rrg-eval", "official"] = option(
        "rrg-eval", sig="prompt", help="'rrg-eval' (own prompt) or 'official' (read from the chexprompt package)")
    parse_retries: int = option(2, sig="parse_retries", help="re-asks when an answer does not parse")
    concurrency: int = option(4, in_signature=False, help="requests in flight at once")
    requests_per_minute: float = option(0.0, in_signature=False, help="request rate limit (0: none)")
    max_retries: int = option(5, in_signature=False, help="retries on 429, 5xx, timeouts, dropped connections")
    timeout: float = option(60.0, in_signature=False, help="seconds per read (connect, each read of the answer) "
                                                           "before the request is retried")
    request_deadline: float = option(DEFAULT_REQUEST_DEADLINE, in_signature=False,
                                     help="seconds one request may take in all (connect, send, wait, read) "
                                          "before it is abandoned and retried")
    backoff: float = option(1.0, in_signature=False, help="first retry delay in seconds (doubles each retry; "
                                                          "a longer Retry-After wins)")
    allow_remote: bool = option(False, in_signature=False, help="allow sending reports to non-private hosts "
                                                                "(or set RRG_EVAL_ALLOW_REMOTE_JUDGE=1)")

    def __post_init__(self) -> None:
        checks = [(self.max_tokens >= 1, "max_tokens must be at least 1"),
                  (self.concurrency >= 1, "concurrency must be at least 1"),
                  (self.parse_retries >= 0, "parse_retries must be 0 or more"),
                  (self.max_retries >= 0, "max_retries must be 0 or more"),
                  (self.timeout > 0, "timeout must be positive"),
                  (self.request_deadline > 0, "request_deadline must be positive"),
                  (self.backoff >= 0, "backoff must be 0 or more"),
                  (self.requests_per_minute >= 0, "requests_per_minute must be 0 (no limit) or more"),
                  (0.0 <= self.top_p <= 1.0, "top_p must be between 0 and 1"),
                  (self.temperature >= 0, "temperature must be 0 or more")]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


BackendFactory = Callable[[ChexpromptConfig, str], ChatBackend]

_SIG_TYPE_KEYS = tuple(f"{PREFIX}_significant_{t}" for t in ERROR_TYPES)
_INSIG_TYPE_KEYS = tuple(f"{PREFIX}_insignificant_{t}" for t in ERROR_TYPES)


class Chexprompt(Metric):
    """LLM-judge error counts (CheXprompt protocol) through an OpenAI, Azure or OpenAI-compatible server."""

    name = "chexprompt"
    Config = ChexpromptConfig
    description = "LLM judge (CheXprompt): clinically significant / insignificant error counts by type"
    reference = ("Zambrano Chaves et al., LLaVA-Rad (2024), CheXprompt protocol; rrg-eval's own prompt by default, "
                 "the published one with prompt=official (github.com/microsoft/chexprompt)")
    keys = (f"{PREFIX}_significant_errors", f"{PREFIX}_insignificant_errors", f"{PREFIX}_error_free_rate",
            *_SIG_TYPE_KEYS, f"{PREFIX}_unparsed_rate")
    key_kinds = {f"{PREFIX}_significant_errors": "count", f"{PREFIX}_insignificant_errors": "count",
                 **{k: "count" for k in _SIG_TYPE_KEYS}, f"{PREFIX}_unparsed_rate": "rate"}
    lower_is_better = frozenset({f"{PREFIX}_significant_errors", f"{PREFIX}_insignificant_errors",
                                 *_SIG_TYPE_KEYS, f"{PREFIX}_unparsed_rate"})
    extra = "judge"

    def __init__(self, config: Any = None, *, backend_factory: BackendFactory | None = None,
                 **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._backend_factory = backend_factory
        self.last_run = RunnerStats()

    def with_options(self, **overrides: Any) -> Chexprompt:
        return type(self)(self.config, backend_factory=self._backend_factory, **overrides)

    # -- where and what --------------------------------------------------------------------------------------
    @property
    def backend_kind(self) -> str:
        return "azure" if self.config.azure_deployment else "openai"

    @property
    def model_id(self) -> str:
        """The judge's identity in signatures and cache keys."""
        c = self.config
        if c.azure_deployment:
            return f"{c.azure_deployment}/{c.model}" if c.model else c.azure_deployment
        return c.model

    def base_url(self) -> str:
        """The URL requests go to (OpenAI's when none is configured)."""
        if self.config.base_url:
            return self.config.base_url
        if self.config.azure_deployment:
            raise ConfigError("chexprompt: Azure needs the endpoint: --set chexprompt.base_url="
                              "https://RESOURCE.openai.azure.com")
        return DEFAULT_OPENAI_URL

    def endpoint(self) -> str:
        """The server's identity in signatures and cache keys: scheme, host, port and path (never the key)."""
        try:
            return endpoint_of(self.base_url())
        except ConfigError:
            return "none"

    def _prompt(self) -> Prompt:
        return load_prompt(self.config.prompt)

    def _decoding(self) -> Decoding:
        c = self.config
        return Decoding(temperature=c.temperature, max_tokens=c.max_tokens, top_p=c.top_p, seed=c.seed)

    def _api_key(self, private: bool) -> str:
        key = os.environ.get(self.config.api_key_env, "").strip() if self.config.api_key_env else ""
        if key:
            return key
        if private:
            return LOCAL_PLACEHOLDER_KEY
        raise MetricUnavailable(f"chexprompt: no API key: set the environment variable ${self.config.api_key_env} "
                                "(or name another one with --set chexprompt.api_key_env=VAR)")

    # -- availability ---------------------------------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        try:
            import openai  # noqa: F401
        except ImportError:
            return "the judge needs the openai client: pip install 'rrg-eval[judge]'"
        c = self.config
        if not c.model and not c.azure_deployment:
            return ("no judge configured: name the model and server, e.g. --set chexprompt.model=NAME "
                    "--set chexprompt.base_url=http://127.0.0.1:8000/v1 (local vLLM/Ollama), or "
                    "chexprompt.azure_deployment + chexprompt.base_url for Azure OpenAI (docs/chexprompt.md)")
        try:
            url = self.base_url()
            self._prompt()
            refusal = privacy_refusal(url, allow_remote=c.allow_remote, metric=self.name)
            if refusal:
                return refusal
            self._api_key(classify_host(host_of(url))[0])
        except (MetricUnavailable, ConfigError) as exc:
            return str(exc)
        return None

    named_only = True
    judge = True  # JudgeMetric: plan_requests says what would be sent

    def skip_reason(self, *, predictions: Sequence[str], references: Sequence[str]) -> str | None:
        return ("an LLM judge sends report text to a chat server and may cost money; it runs only when named "
                "(--metrics chexprompt)")

    def backend_versions(self) -> dict[str, str]:
        return {}

    def signature_fields(self) -> list[str]:
        """``backend:..|model:..|endpoint:..|prompt:..|temp:..|...|prompt_hash:..`` (the tail is the base class's)."""
        parts = [p for p in cfg.signature_parts(self.config) if not p.startswith("model:")]
        try:
            digest = self._prompt().digest
        except MetricUnavailable:
            digest = "unavailable"
        return [f"backend:{self.backend_kind}", f"model:{self.model_id or 'none'}", f"endpoint:{self.endpoint()}",
                *parts, f"prompt_hash:{digest}"]

    # -- planning ---------------------------------------------------------------------------------------
    def _questions(self, predictions: Sequence[str], references: Sequence[str], prompt: Prompt,
                   ) -> tuple[list[str], dict[str, tuple[str, str]]]:
        """Row keys, and key -> (reference, candidate) for each distinct pair."""
        decoding = self._decoding().as_key()
        endpoint = self.endpoint()
        row_keys: list[str] = []
        distinct: dict[str, tuple[str, str]] = {}
        for pred, ref in zip(predictions, references):
            key = answer_key(backend=self.backend_kind, endpoint=endpoint, model=self.model_id,
                             prompt_digest=prompt.digest, decoding=decoding, reference=ref, candidate=pred)
            row_keys.append(key)
            distinct.setdefault(key, (ref, pred))
        return row_keys, distinct

    def _needs_asking(self, cached: dict[str, Any], key: str) -> bool:
        entry = cached.get(key)
        if entry is None:
            return True
        if entry.accepted:
            return counts_from_json(entry.parsed) is None  # an unreadable stored result is asked again
        return entry.attempts < 1 + self.config.parse_retries

    def plan_requests(self, *, predictions: Sequence[str], references: Sequence[str],
                      cache_dir: str | Path | None = None) -> JudgePlan:
        """What :meth:`compute_stats` would send on these inputs, after the cache; sends nothing.

        Needs a configured model and a loadable prompt (MetricUnavailable otherwise); a privacy refusal or a
        missing API key does not stop the plan, it is shown as its note.
        """
        if not self.config.model and not self.config.azure_deployment:
            raise MetricUnavailable(f"{self.name}: {self.unavailable_reason()}")
        prompt = self._prompt()
        _, distinct = self._questions(predictions, references, prompt)
        cache = AnswerCache(cache_dir, f"{self.name}-answers")
        try:
            cached = cache.get_many(distinct) if cache.enabled else {}
        finally:
            cache.close()
        to_send = [prompt.messages(ref, cand) for key, (ref, cand) in distinct.items()
                   if self._needs_asking(cached, key)]
        url = self.base_url()
        private = classify_host(host_of(url))[0]
        return make_plan(metric=self.name, backend=self.backend_kind, model=self.model_id or "(none)",
                         host=host_of(url), host_private=private, pairs=len(predictions),
                         cached=len(distinct) - len(to_send), to_send=to_send, max_tokens=self.config.max_tokens,
                         parse_retries=self.config.parse_retries, refusal=self.unavailable_reason())

    # -- computing ---------------------------------------------------------------------------------------
    def _make_backend(self, url: str, api_key: str, route: Route) -> ChatBackend:
        if self._backend_factory is not None:
            return self._backend_factory(self.config, api_key)
        c = self.config
        return OpenAIChatBackend(base_url=url, model=c.model, api_key=api_key, timeout=c.timeout,
                                 azure_deployment=c.azure_deployment, api_version=c.api_version,
                                 api_key_env=c.api_key_env, direct=route.private, route=route)

    def compute_stats(self, *, predictions: list[str], references: list[str], ids: list[str],
                      context: RunContext) -> Stats:
        reason = self.unavailable_reason()
        if reason is not None:
            raise MetricUnavailable(f"{self.name} cannot run: {reason}")
        count_empty(predictions, references, self.name, context)
        prompt = self._prompt()
        row_keys, distinct = self._questions(predictions, references, prompt)
        namespace = f"{self.name}-answers"
        lookup = AnswerCache(context.cache_dir, namespace)
        try:
            cached = lookup.get_many(distinct) if lookup.enabled else {}
            if lookup.problem:
                context.warn(self.name, lookup.problem)
        finally:
            lookup.close()
        jobs = [Job(key=k, messages=prompt.messages(ref, cand),
                    attempts_done=cached[k].attempts if k in cached and not cached[k].accepted else 0)
                for k, (ref, cand) in distinct.items() if self._needs_asking(cached, k)]
        final: dict[str, Counts | None] = {k: counts_from_json(v.parsed) if v.accepted else None
                                           for k, v in cached.items()}
        self.last_run = RunnerStats()
        if jobs:
            self._ask(jobs, final, context.cache_dir, namespace, context)
        return self._build_stats(row_keys, final, ids, context)

    def _ask(self, jobs: list[Job], final: dict[str, Counts | None], cache_dir: Path | None,
             namespace: str, context: RunContext) -> None:
        c = self.config
        url = self.base_url()
        route = checked_route(url, allow_remote=c.allow_remote, metric=self.name)  # requests go only there
        api_key = self._api_key(route.private)
        arrived = [0]
        store = CacheWriter(cache_dir, namespace)  # commits from its own thread, as answers arrive
        context.report(ANSWERS, self.name, done=0, total=len(jobs))

        def on_answer(job: Job, answer: Answer) -> None:
            counts = parse_answer(answer.text) if answer.accepted else None
            final[job.key] = counts
            store.put(job.key, answer.text, answer.attempts, counts is not None,
                      counts_to_json(counts) if counts is not None else None)
            arrived[0] += 1
            context.report(ANSWERS, self.name, done=arrived[0], total=len(jobs))

        async def main() -> None:
            backend = self._make_backend(url, api_key, route)
            runner = JudgeRunner(backend, self._decoding(), concurrency=c.concurrency,
                                 requests_per_minute=c.requests_per_minute, max_retries=c.max_retries,
                                 parse_retries=c.parse_retries, backoff_base=c.backoff,
                                 request_deadline=c.request_deadline)
            self.last_run = runner.stats
            await runner.run_async(jobs, lambda text: parse_answer(text) is not None, on_answer)

        try:
            run_coroutine(main)
        except JudgeError as exc:
            store.close()
            kept = (f"; the {arrived[0]} answer(s) received before it are cached, rerun to resume"
                    if cache_dir is not None and arrived[0] and store.error is None else "")
            raise JudgeError(f"{exc}{kept}") from None
        except MetricError:
            raise
        except Exception as exc:  # never leak request objects (they hold headers) into tracebacks
            raise MetricError(f"{self.name}: judge client failed: {type(exc).__name__}") from None
        finally:
            store.close()
        if store.error is not None:
            context.warn(self.name, f"could not write the answer cache ({type(store.error).__name__}: "
                                    f"{store.error}); the scores are complete but a rerun will ask again")

    def _build_stats(self, row_keys: list[str], final: dict[str, Counts | None], ids: list[str],
                     context: RunContext) -> Stats:
        n = len(row_keys)
        significant = np.full((n, len(ERROR_TYPES)), np.nan)
        insignificant = np.full((n, len(ERROR_TYPES)), np.nan)
        parsed = np.zeros(n, dtype=bool)
        unparsed_ids = []
        for i, key in enumerate(row_keys):
            counts = final.get(key)
            if counts is None:
                unparsed_ids.append(ids[i])
                continue
            parsed[i] = True
            significant[i] = counts.significant
            insignificant[i] = counts.insignificant
        if unparsed_ids:
            shown = ", ".join(unparsed_ids[:20]) + (", ..." if len(unparsed_ids) > 20 else "")
            context.warn(self.name, f"{len(unparsed_ids)} of {n} judge answers did not parse after "
                                    f"{self.config.parse_retries} re-ask(s); excluded from the means, counted in "
                                    f"{PREFIX}_unparsed_rate (ids: {shown})")
        return {"significant": significant, "insignificant": insignificant, "parsed": parsed}

    def aggregate(self, stats: Stats) -> dict[str, float]:
        parsed = np.asarray(stats["parsed"], dtype=bool)
        n = len(parsed)
        out: dict[str, float] = {}
        sig = stats["significant"][parsed]
        insig = stats["insignificant"][parsed]
        some = bool(parsed.any())
        sig_total = sig.sum(axis=1)
        out[f"{PREFIX}_significant_errors"] = float(sig_total.mean()) if some else float("nan")
        out[f"{PREFIX}_insignificant_errors"] = float(insig.sum(axis=1).mean()) if some else float("nan")
        out[f"{PREFIX}_error_free_rate"] = float((sig_total == 0).mean()) if some else float("nan")
        for j, key in enumerate(_SIG_TYPE_KEYS):
            out[key] = float(sig[:, j].mean()) if some else float("nan")
        out[f"{PREFIX}_unparsed_rate"] = float((~parsed).mean()) if n else 0.0
        return out

    def per_report(self, stats: Stats) -> dict[str, np.ndarray]:
        parsed = np.asarray(stats["parsed"], dtype=bool)
        sig = stats["significant"]
        insig = stats["insignificant"]
        sig_total = sig.sum(axis=1)  # NaN for unparsed rows
        out = {f"{PREFIX}_significant_errors": sig_total, f"{PREFIX}_insignificant_errors": insig.sum(axis=1),
               f"{PREFIX}_error_free": np.where(parsed, (sig_total == 0).astype(float), np.nan)}
        for j, t in enumerate(ERROR_TYPES):
            out[f"{PREFIX}_significant_{t}"] = sig[:, j].copy()
            out[f"{PREFIX}_insignificant_{t}"] = insig[:, j].copy()
        out[f"{PREFIX}_unparsed"] = (~parsed).astype(float)
        return out
