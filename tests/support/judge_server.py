"""A scripted chat-completions server on 127.0.0.1 for the LLM-judge tests (stdlib only).

It speaks enough of the OpenAI chat-completions API for the real ``openai`` client (``/v1/chat/completions``
and Azure's ``/openai/deployments/<name>/chat/completions?api-version=...``). What it answers is scripted per
candidate report: ``server.script[candidate] = [action, action, ...]`` (consumed one per request, the last one
repeats), else ``server.default(candidate)``. Actions:

* a string: a 200 answer with that content; ``None``: a 200 answer with null content;
* ``("status", code, headers, body)``: an error response (body: a JSON-able object);
* ``("hang", seconds)``: wait, then answer the default (the client has timed out by then);
* ``("drop",)``: close the connection without a response;
* ``("raw", code, content_type, body_bytes)``: exactly that status, Content-Type and body (an HTML page, a
  body that is not JSON);
* ``("redirect", code, location)``: a redirect to ``location`` (which the client must not follow);
* ``("trickle", bytes_per_second)``: a 200 whose valid answer is sent a few bytes at a time at that rate.

``server.fatal_after = k`` makes every request after the k-th answer 401 (a crash mid-run).
Every request is recorded (path, query, headers, JSON body) in ``server.requests``.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ZERO = "[(A, 0), (B, 0), (C, 0), (D, 0), (E, 0), (F, 0)]"


def answer(sig: tuple[int, ...], insig: tuple[int, ...], *, round_brackets: bool = False) -> str:
    """A well-formed two-line CheXprompt answer."""
    def fmt(counts: tuple[int, ...]) -> str:
        inner = ", ".join(f"({t}, {n})" for t, n in zip("ABCDEF", counts))
        return f"({inner})" if round_brackets else f"[{inner}]"
    return (f"Number of clinically significant errors by type: {fmt(sig)}\n"
            f"Number of clinically insignificant errors by type: {fmt(insig)}")


_CANDIDATE = re.compile(r'Candidate (?:report|Findings): """(.*)"""', re.DOTALL)
_GREEN_CANDIDATE = re.compile(r"\n    3\. Candidate Report:\n    (.*?)\n\n    4\. Reporting Your Assessment:",
                              re.DOTALL)


class _Handler(BaseHTTPRequestHandler):
    server: JudgeServer  # type: ignore[assignment]
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr logging
        return

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        parts = urlsplit(self.path)
        srv = self.server
        with srv.lock:
            headers = {k.lower(): v for k, v in self.headers.items()}
            srv.requests.append({"path": parts.path, "query": parse_qs(parts.query), "headers": headers, "body": body})
            index = len(srv.requests)
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        try:
            self._respond(body, index, parts.path)
        finally:
            with srv.lock:
                srv.in_flight -= 1

    def _respond(self, body: dict, index: int, path: str) -> None:
        srv = self.server
        if not path.endswith("/chat/completions"):
            return self._send(404, {"error": {"message": f"no route {path}"}})
        if srv.fatal_after is not None and index > srv.fatal_after:
            auth = self.headers.get("Authorization", "") or self.headers.get("api-key", "")
            return self._send(401, {"error": {"message": f"Incorrect API key provided: {auth}",
                                              "type": "invalid_request_error"}})
        if srv.known_models is not None and body.get("model") not in srv.known_models:
            return self._send(404, {"error": {"message": f"The model `{body.get('model')}` does not exist"}})
        messages = body.get("messages") or [{}]
        match = _CANDIDATE.search(messages[-1].get("content") or "") or _GREEN_CANDIDATE.search(
            messages[-1].get("content") or "")  # CheXprompt's prompts, else GREEN's
        candidate = match.group(1) if match else ""
        action = srv.next_action(candidate)
        if isinstance(action, tuple) and action and action[0] == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return None
        if isinstance(action, tuple) and action and action[0] == "hang":
            time.sleep(action[1])
            action = srv.default(candidate)
        if isinstance(action, tuple) and action and action[0] == "status":
            _, code, headers, payload = action
            return self._send(code, payload, headers)
        if isinstance(action, tuple) and action and action[0] == "raw":
            _, code, content_type, data = action
            return self._send_bytes(code, data, {"Content-Type": content_type})
        if isinstance(action, tuple) and action and action[0] == "redirect":
            _, code, location = action
            return self._send_bytes(code, b"", {"Location": location, "Content-Type": "text/plain"})
        if isinstance(action, tuple) and action and action[0] == "trickle":
            return self._trickle(self._completion(index, body, srv.default(candidate)), float(action[1]))
        return self._send(200, self._completion(index, body, action))

    @staticmethod
    def _completion(index: int, body: dict, content: Any) -> dict:
        return {
            "id": f"chatcmpl-{index}", "object": "chat.completion", "created": 0, "model": body.get("model", ""),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    def _send_bytes(self, code: int, data: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_response(code)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass

    def _trickle(self, payload: dict, rate: float) -> None:
        data = json.dumps(payload).encode("utf-8")
        chunk = 4
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.flush()
            for start in range(0, len(data), chunk):
                if self.server.stopping.is_set():
                    return
                self.wfile.write(data[start:start + chunk])
                self.wfile.flush()
                time.sleep(chunk / rate)
        except OSError:  # the client gave up: what a deadline is for
            pass

    def _send(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (timeout): nothing to do
            pass


class JudgeServer(ThreadingHTTPServer):
    """The scripted server; use as a context manager (``with JudgeServer() as srv: srv.url``)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.script: dict[str, list[Any]] = {}
        self.fatal_after: int | None = None
        self.known_models: set[str] | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def default(self, candidate: str) -> Any:
        return answer((0,) * 6, (0,) * 6)

    def next_action(self, candidate: str) -> Any:
        with self.lock:
            queue = self.script.get(candidate)
            if not queue:
                return self.default(candidate)
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def __enter__(self) -> JudgeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
