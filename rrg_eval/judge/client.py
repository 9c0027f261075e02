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
  answers rejected by ``accept`` re-asked up to ``parse_retries`` times, every request bounded by a total
  ``request_deadline`` (connect, send, wait and read together; ``timeout`` alone is per read, so a server
  trickling a few bytes a second could otherwise hold a request forever).

Transport rules (report text is patient data): redirects are never followed (a 3xx answer is a
:class:`JudgeError` naming its target); requests to a private host go only to the addresses the privacy check
resolved and checked (:class:`rrg_eval.judge.privacy.Route`), through a transport that refuses any other
host; only a well-formed chat completion is an answer (a 200 with HTML, a body that is not JSON or JSON that
is not a chat completion is a :class:`TransientError`, retried like a dropped connection, never cached).

The API key is held only by the ``openai`` client object; it is redacted from every error message and from
every answer (a server that echoes it never gets it into the cache), and never part of a repr.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib
import json
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import MetricError
from .privacy import Route

Messages = list[dict[str, str]]
LOCAL_PLACEHOLDER_KEY = "EMPTY"  # sent to key-less local servers (vLLM, Ollama), which ignore it; not a secret
DEFAULT_REQUEST_DEADLINE = 300.0  # seconds a request may take in all before it is abandoned and retried


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


def safe_url(url: str, limit: int = 200) -> str:
    """``scheme://host:port/path`` of ``url``, without credentials, query or fragment (for messages)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an unreadable URL)"
    shown = f"[{host}]" if ":" in host else host
    out = f"{parts.scheme}://{shown}{port}{parts.path}" if parts.scheme else f"{shown}{port}{parts.path}"
    return out[:limit]


class HostGuardError(Exception):
    """A request was about to go to a host other than the checked one (raised by the pinned transport)."""


def _httpx_module(openai: Any) -> Any:
    """The HTTP library the installed ``openai`` client is built on (``httpx``, or ``httpx2`` in newer ones)."""
    for cls in openai.DefaultAsyncHttpxClient.__mro__:
        root = cls.__module__.split(".")[0]
        if root in ("httpx", "httpx2"):
            return importlib.import_module(root)
    import httpx  # pragma: no cover - every openai release so far is built on one of the two

    return httpx  # pragma: no cover


def pinned_transport(httpx: Any, base_url: str, route: Route) -> Any:
    """An ``httpx`` transport that sends only to ``base_url``'s scheme, host and port, connecting to the
    addresses in ``route`` (tried in order) instead of resolving the name again; the name stays in the
    ``Host`` header and, for https, in the TLS server name (so certificates are checked against it)."""
    from urllib.parse import urlsplit

    parts = urlsplit(base_url if "://" in base_url else f"http://{base_url}")
    scheme = (parts.scheme or "http").lower()
    origin = (scheme, route.host, parts.port or (443 if scheme == "https" else 80))

    class PinnedTransport(httpx.AsyncBaseTransport):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            self._inner = httpx.AsyncHTTPTransport(trust_env=False)

        async def handle_async_request(self, request: Any) -> Any:
            url = request.url
            port = url.port or (443 if url.scheme == "https" else 80)
            if (url.scheme, (url.host or "").lower(), port) != origin:
                raise HostGuardError(f"refusing to send report text to {safe_url(str(url))}: only "
                                     f"{origin[0]}://{origin[1]}:{origin[2]} was checked as private")
            addresses = route.addresses or (route.host,)
            for i, address in enumerate(addresses):
                request.url = url.copy_with(host=address)
                if scheme == "https":
                    request.extensions = {**request.extensions, "sni_hostname": route.host}
                try:
                    return await self._inner.handle_async_request(request)
                except httpx.ConnectError:
                    if i == len(addresses) - 1:
                        raise
            raise HostGuardError("no address to connect to")  # pragma: no cover - addresses is never empty

        async def aclose(self) -> None:
            await self._inner.aclose()

    return PinnedTransport()


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
                 direct: bool = False, route: Route | None = None) -> None:
        """``direct``: ignore proxy environment variables (used for private hosts, so text stays on the LAN).
        ``route``: a private host's checked addresses; requests connect only to them (and only to this host).
        Redirects are never followed."""
        try:
            import openai
        except ImportError:
            from ..errors import MetricUnavailable

            raise MetricUnavailable("the judge needs the openai client: pip install 'rrg-eval[judge]'") from None
        self._secrets = tuple(s for s in (api_key,) if s and s != LOCAL_PLACEHOLDER_KEY)
        self._api_key_env = api_key_env
        client_options: dict[str, Any] = {"follow_redirects": False}
        if route is not None and route.private:
            client_options.update(trust_env=False, transport=pinned_transport(_httpx_module(openai), base_url, route))
        elif direct:
            client_options["trust_env"] = False
        http_client = openai.DefaultAsyncHttpxClient(**client_options)
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
        self._host = safe_url(base_url)

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
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise TransientError("the server sent a body that is not valid JSON") from None
        except HostGuardError as exc:
            raise JudgeError(redact(str(exc), self._secrets)) from None
        return redact(self._content(response), self._secrets)

    @staticmethod
    def _content(response: Any) -> str:
        """The answer text of a chat completion; a TransientError when ``response`` is not one."""
        from openai.types.chat import ChatCompletion

        choices = getattr(response, "choices", None) if isinstance(response, ChatCompletion) else None
        if not isinstance(choices, list):
            what = "text" if isinstance(response, str) else type(response).__name__
            raise TransientError(f"the server's answer was not a chat completion (got {what}; an HTML page or a "
                                 "proxy's error page?)")
        if not choices:
            return ""
        message = getattr(choices[0], "message", None)
        content = getattr(message, "content", None) if message is not None else None
        if content is not None and not isinstance(content, str):
            raise TransientError("the server's answer was not a chat completion (content is not text)")
        return content or ""

    def _status_error(self, exc: Any) -> Exception:
        status = int(getattr(exc, "status_code", 0) or 0)
        said = redact(_server_message(exc), self._secrets)[:300]
        said_part = f"; the server said: {said}" if said else ""
        if status in (408, 409, 429) or status >= 500:
            headers = getattr(getattr(exc, "response", None), "headers", None)
            return TransientError(f"HTTP {status}{said_part}", retry_after=parse_retry_after(headers))
        where = f"{self.kind} server {self._host}"
        if 300 <= status < 400:
            headers = getattr(getattr(exc, "response", None), "headers", None)
            location = headers.get("location") if headers is not None else None
            target = redact(safe_url(location), self._secrets) if location else "(no Location header)"
            return JudgeError(f"the {where} answered HTTP {status}, a redirect to {target}; judge requests never "
                              f"follow redirects (the report text would be sent again, to another address): set "
                              f"base_url to the address that answers")
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
                 backoff_base: float = 0.5, backoff_max: float = 30.0,
                 request_deadline: float | None = DEFAULT_REQUEST_DEADLINE) -> None:
        """``request_deadline``: seconds one request may take in all (None or 0: no limit); past it the
        request is abandoned and counts as a transient failure (retried)."""
        self.backend = backend
        self.request_deadline = request_deadline if request_deadline and request_deadline > 0 else None
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
                return await self._complete(messages)
            except TransientError as exc:
                if attempt >= self.max_retries:
                    raise JudgeError(f"the judge server kept failing; gave up after {attempt + 1} tries: "
                                     f"{exc}") from None
                self.stats.note_retry(str(exc).split(";")[0])
                await asyncio.sleep(self._backoff(attempt, exc.retry_after))
                attempt += 1

    async def _complete(self, messages: Messages) -> str:
        """One request, abandoned (as a TransientError) when it runs past ``request_deadline``."""
        if self.request_deadline is None:
            return await self.backend.complete(messages, self.decoding)
        task = asyncio.ensure_future(self.backend.complete(messages, self.decoding))
        try:
            done, _ = await asyncio.wait({task}, timeout=self.request_deadline)
        except BaseException:  # the run was cancelled: the request goes with it
            task.cancel()
            raise
        if task in done:
            return task.result()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise TransientError(f"the request ran past its deadline of {self.request_deadline:g} s "
                             "(request_deadline)")

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
