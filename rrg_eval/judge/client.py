"""A reusable chat-judge client: a small backend protocol, and a runner with bounded concurrency, a
requests-per-minute limit, retries with backoff, and answer validation with re-asking.

* :class:`ChatBackend` is the protocol a metric talks to: ``await complete(messages, decoding) -> str``. It
  raises :class:`TransientError` (429, 408, 409, 5xx, timeouts, dropped connections: worth retrying) or
  :class:`JudgeError` (401/403, unknown model, rejected request: retrying cannot help).
* :class:`OpenAIChatBackend` implements it with the official ``openai`` client (``AsyncOpenAI`` for OpenAI and
  OpenAI-compatible servers such as vLLM, Ollama, llama.cpp and TGI; ``AsyncAzureOpenAI`` for Azure OpenAI).
  The client's own retries are off: :class:`JudgeRunner` retries, honouring ``Retry-After``.
* :class:`JudgeRunner` sends many requests: at most ``concurrency`` at a time, request starts spaced to keep
  under ``requests_per_minute``, each answer handed to a callback as it arrives (so the caller can cache it),
  answers rejected by ``accept`` re-asked up to ``parse_retries`` times.

The API key is held only by the ``openai`` client object; it is redacted from every error message and never
part of a repr.
"""

from __future__ import annotations

import asyncio
import email.utils
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import MetricError

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Decoding:
    """Decoding settings sent with every request (they change answers, so they are in signatures)."""

    temperature: float = 0.0
    max_tokens: int = 128
    top_p: float = 0.9
    seed: int | None = None

    def as_key(self) -> str:
        return f"t={self.temperature!r};max={self.max_tokens};top_p={self.top_p!r};seed={self.seed}"


class JudgeError(MetricError):
    """The judge server refused in a way retrying cannot fix (bad key, no access, unknown model, bad request)."""


class TransientError(Exception):
    """A failure worth retrying; ``retry_after`` is the server's requested wait in seconds, if it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ChatBackend(Protocol):
    """What a judge metric needs from a chat server."""

    kind: str   # 'openai', 'azure', or a test double's name; part of signatures and cache keys
    model: str  # the model (or Azure deployment) named in requests

    async def complete(self, messages: Messages, decoding: Decoding) -> str:
        """The assistant's answer text ('' when the server sent no content)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every occurrence of each non-trivial secret replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def parse_retry_after(headers: Any, *, cap: float = 300.0) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date), capped."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return min(cap, max(0.0, float(ms) / 1000.0))
    except (TypeError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return min(cap, max(0.0, float(value)))
    except (TypeError, ValueError):
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(cap, max(0.0, when.timestamp() - time.time()))


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return str(getattr(exc, "message", "") or "")


class OpenAIChatBackend:
    """Chat completions through the official ``openai`` client: OpenAI, OpenAI-compatible servers, or Azure."""

    def __init__(self, *, base_url: str, model: str, api_key: str, timeout: float,
                 azure_deployment: str = "", api_version: str = "", api_key_env: str = "OPENAI_API_KEY",
                 direct: bool = False) -> None:
        """``direct``: ignore proxy environment variables (used for private hosts, so text stays on the LAN)."""
        try:
            import openai
        except ImportError:
            from ..errors import MetricUnavailable

            raise MetricUnavailable("the judge needs the openai client: pip install 'rrg-eval[judge]'") from None
        self._secrets = (api_key,)
        self._api_key_env = api_key_env
        http_client = openai.DefaultAsyncHttpxClient(trust_env=False) if direct else None
        if azure_deployment:
            self.kind = "azure"
            self.model = azure_deployment
            self._client: Any = openai.AsyncAzureOpenAI(
                azure_endpoint=base_url, azure_deployment=azure_deployment, api_version=api_version,
                api_key=api_key, timeout=timeout, max_retries=0, http_client=http_client)
        else:
            self.kind = "openai"
            self.model = model
            self._client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0,
                                              http_client=http_client)
        self._host = base_url

    def __repr__(self) -> str:
        return f"OpenAIChatBackend(kind={self.kind!r}, base_url={self._host!r}, model={self.model!r})"

    async def complete(self, messages: Messages, decoding: Decoding) -> str:
        import openai

        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": decoding.temperature,
                                  "max_tokens": decoding.max_tokens, "top_p": decoding.top_p}
        if decoding.seed is not None:
            kwargs["seed"] = decoding.seed
        try:
            response = await self._client.chat.completions.create(**kwargs)
        except openai.APITimeoutError:
            raise TransientError("the request timed out") from None
        except openai.APIConnectionError as exc:
            raise TransientError(f"connection failed ({type(exc.__cause__ or exc).__name__})") from None
        except openai.APIStatusError as exc:
            raise self._status_error(exc) from None
        except openai.APIResponseValidationError:
            raise TransientError("the server sent a malformed response") from None
        if not getattr(response, "choices", None):
            return ""
        message = response.choices[0].message
        return (message.content or "") if message is not None else ""

    def _status_error(self, exc: Any) -> Exception:
        status = int(getattr(exc, "status_code", 0) or 0)
        said = redact(_server_message(exc), self._secrets)[:300]
        said_part = f"; the server said: {said}" if said else ""
        if status in (408, 409, 429) or status >= 500:
            headers = getattr(getattr(exc, "response", None), "headers", None)
            return TransientError(f"HTTP {status}{said_part}", retry_after=parse_retry_after(headers))
        where = f"{self.kind} server {self._host}"
        if status == 401:
            return JudgeError(f"the {where} rejected the API key (401); check the key in ${self._api_key_env} "
                              f"(chexprompt.api_key_env names the variable){said_part}")
        if status == 403:
            return JudgeError(f"the {where} denied access (403); the key in ${self._api_key_env} may lack access "
                              f"to {self.model!r}{said_part}")
        if status == 404:
            what = "Azure deployment" if self.kind == "azure" else "model"
            return JudgeError(f"the {where} does not know the {what} {self.model!r} (404); check the name (and "
                              f"base_url{', api_version' if self.kind == 'azure' else ''}){said_part}")
        return JudgeError(f"the {where} rejected the request (HTTP {status}){said_part}")

    async def aclose(self) -> None:
        await self._client.close()


class RateLimiter:
    """Spaces request starts at least ``60 / requests_per_minute`` seconds apart (0 or less: no limit)."""

    def __init__(self, requests_per_minute: float) -> None:
        self.interval = 60.0 / requests_per_minute if requests_per_minute > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if self.interval <= 0:
            return
        async with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass
class Answer:
    """The final answer to one job: its text, how many answers were asked for, whether ``accept`` took it."""

    text: str
    attempts: int
    accepted: bool


@dataclass
class RunnerStats:
    """What a run cost: requests sent, retries by cause."""

    requests: int = 0
    retries: dict[str, int] = field(default_factory=dict)
    reasks: int = 0

    def note_retry(self, cause: str) -> None:
        self.retries[cause] = self.retries.get(cause, 0) + 1


@dataclass(frozen=True)
class Job:
    """One question for the judge; ``attempts_done`` counts answers already rejected (from a cache)."""

    key: str
    messages: Messages
    attempts_done: int = 0


class JudgeRunner:
    """Sends jobs through a backend with a concurrency bound, a rate limit, retries and re-asking."""

    def __init__(self, backend: ChatBackend, decoding: Decoding, *, concurrency: int = 4,
                 requests_per_minute: float = 0.0, max_retries: int = 5, parse_retries: int = 2,
                 backoff_base: float = 0.5, backoff_max: float = 30.0) -> None:
        self.backend = backend
        self.decoding = decoding
        self.concurrency = max(1, int(concurrency))
        self.requests_per_minute = requests_per_minute
        self.max_retries = max(0, int(max_retries))
        self.parse_retries = max(0, int(parse_retries))
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.stats = RunnerStats()
        self._stopped = False  # set by the first fatal error: no new request starts after it

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        delay = min(self.backoff_max, self.backoff_base * (2 ** attempt))
        return max(delay, retry_after) if retry_after is not None else delay

    async def _ask(self, messages: Messages, limiter: RateLimiter) -> str:
        """One answer, retrying transient failures up to ``max_retries`` times."""
        attempt = 0
        while True:
            await limiter.wait()
            if self._stopped:
                raise asyncio.CancelledError
            self.stats.requests += 1
            try:
                return await self.backend.complete(messages, self.decoding)
            except TransientError as exc:
                if attempt >= self.max_retries:
                    raise JudgeError(f"the judge server kept failing; gave up after {attempt + 1} tries: "
                                     f"{exc}") from None
                self.stats.note_retry(str(exc).split(";")[0])
                await asyncio.sleep(self._backoff(attempt, exc.retry_after))
                attempt += 1

    async def _job(self, job: Job, accept: Callable[[str], bool], limiter: RateLimiter,
                   semaphore: asyncio.Semaphore) -> Answer:
        async with semaphore:
            attempts = job.attempts_done
            text = ""
            while True:
                text = await self._ask(job.messages, limiter)
                attempts += 1
                if accept(text):
                    return Answer(text=text, attempts=attempts, accepted=True)
                if attempts >= 1 + self.parse_retries:
                    return Answer(text=text, attempts=attempts, accepted=False)
                self.stats.reasks += 1

    async def run_async(self, jobs: Sequence[Job], accept: Callable[[str], bool],
                        on_answer: Callable[[Job, Answer], None]) -> dict[str, Answer]:
        """Answer every job; ``on_answer`` runs as each arrives. A JudgeError cancels the rest and propagates."""
        limiter = RateLimiter(self.requests_per_minute)
        semaphore = asyncio.Semaphore(self.concurrency)
        answers: dict[str, Answer] = {}

        async def one(job: Job) -> None:
            try:
                answer = await self._job(job, accept, limiter, semaphore)
            except Exception:
                self._stopped = True
                raise
            answers[job.key] = answer
            on_answer(job, answer)

        tasks = [asyncio.ensure_future(one(job)) for job in jobs]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            await self.backend.aclose()
        return answers


def run_coroutine(factory: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``factory()`` to completion from sync code, in a worker thread when a loop is already running
    (Jupyter); everything the coroutine touches is created inside it, in that thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())  # type: ignore[arg-type]
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(factory())  # type: ignore[arg-type]
        except BaseException as exc:  # handed back to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="rrg-eval-judge")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")
