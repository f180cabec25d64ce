"""A small OpenAI-compatible chat server for tests (standard library only).

    def responder(body: dict) -> dict:
        return {"content": "hello", "tool_calls": []}

    with OpenAICompatServer(responder) as srv:
        model = ChatOpenAI(base_url=srv.base_url, api_key="test", model="local")
        model.invoke("hi")
        assert srv.requests[-1].body["messages"][0]["content"] == "hi"

Endpoints: ``POST /v1/chat/completions`` (plain JSON, or SSE chunks with ``"stream": true``,
plus a final usage chunk when ``stream_options.include_usage``) and ``GET /v1/models``.

Responder contract: it is called once per chat-completion request with the parsed JSON
request body (``messages``, ``model``, ``tools``, ``tool_choice``, ``stream``, ...; keys the
client did not send are absent) and returns the assistant message::

    {"content": str | None,
     "tool_calls": [{"id": "call_1", "type": "function",
                     "function": {"name": "lookup", "arguments": '{"q": "x"}'}}]}

``tool_calls`` may be omitted or empty; a missing ``id`` is generated; ``arguments`` may also
be a dict (JSON-encoded for you); ``type`` defaults to ``"function"``. Optional keys:
``finish_reason`` (overrides "tool_calls"/"stop") and ``usage`` (overrides the approximate
chars/4 counts). Raise :class:`ResponderError` to answer with an HTTP error (e.g. 429/500);
any other exception becomes a 500. The server adds ``id``, ``object``, ``created``,
``model``, ``choices[0].finish_reason`` and ``usage``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

Responder = Callable[[dict[str, Any]], dict[str, Any]]

__all__ = [
    "OpenAICompatServer",
    "RecordedRequest",
    "Responder",
    "ResponderError",
    "echo_responder",
    "scripted",
    "tool_call",
]


class ResponderError(Exception):
    """Raised by a responder to make the server answer with an HTTP error."""

    def __init__(
        self,
        status: int,
        message: str,
        err_type: str = "server_error",
        *,
        should_retry: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.err_type = err_type
        self.should_retry = should_retry  # sent as x-should-retry (the openai client honours it)


@dataclass
class RecordedRequest:
    """One HTTP request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None = None
    raw: bytes = b""


# --- responder helpers ---------------------------------------------------------------------


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return str(content)


def echo_responder(body: dict[str, Any]) -> dict[str, Any]:
    """Reply ``"echo: <last user message>"``."""
    last = ""
    for msg in body.get("messages", []):
        if msg.get("role") == "user":
            last = _text_of(msg.get("content"))
    return {"content": f"echo: {last}", "tool_calls": []}


def tool_call(name: str, arguments: dict[str, Any] | str, id: str | None = None) -> dict[str, Any]:
    """Build one tool call for a responder's ``tool_calls`` list."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {
        "id": id or f"call_{uuid.uuid4().hex[:12]}",
        "type": "function",
        "function": {"name": name, "arguments": args},
    }


def scripted(replies: Iterable[dict[str, Any] | str]) -> Responder:
    """A responder that returns ``replies`` in order (a str is a plain content reply).

    Raises ``ResponderError(500)`` once the script is exhausted.
    """
    it = iter(replies)
    lock = threading.Lock()

    def respond(body: dict[str, Any]) -> dict[str, Any]:
        with lock:
            try:
                reply = next(it)
            except StopIteration:
                raise ResponderError(500, "scripted responder exhausted") from None
        return {"content": reply} if isinstance(reply, str) else reply

    return respond


# --- token approximation -------------------------------------------------------------------


def _approx_tokens(chars: int) -> int:
    return max(1, (chars + 3) // 4)


def _prompt_chars(body: dict[str, Any]) -> int:
    n = 0
    for msg in body.get("messages", []):
        n += len(_text_of(msg.get("content"))) + len(str(msg.get("role", "")))
        for tc in msg.get("tool_calls") or []:
            fn = tc.get("function", {})
            n += len(str(fn.get("name", ""))) + len(str(fn.get("arguments", "")))
    if body.get("tools"):
        n += len(json.dumps(body["tools"]))
    return n


def _completion_chars(message: dict[str, Any]) -> int:
    n = len(message.get("content") or "")
    for tc in message.get("tool_calls") or []:
        n += len(tc["function"]["name"]) + len(tc["function"]["arguments"])
    return n


# --- the server ------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every response carries Content-Length
    server_version = "KeelOpenAICompat/1.0"
    timeout = 30  # idle keep-alive connections are closed after this many seconds
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.owner.verbose:
            super().log_message(format, *args)

    # plumbing

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self, status: int, payload: bytes, content_type: str, should_retry: bool | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if should_retry is not None:
            self.send_header("x-should-retry", "true" if should_retry else "false")
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _send_json(self, status: int, obj: Any, should_retry: bool | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json", should_retry)

    def _error(
        self,
        status: int,
        message: str,
        err_type: str = "invalid_request_error",
        should_retry: bool | None = False,
    ) -> None:
        error = {"message": message, "type": err_type, "param": None, "code": None}
        self._send_json(status, {"error": error}, should_retry)

    def _record(self, raw: bytes, body: dict[str, Any] | None) -> None:
        rec = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw=raw,
        )
        with self.server.owner._lock:
            self.server.owner.requests.append(rec)

    # routes

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        self._record(b"", None)
        if path == "/v1/models":
            owner = self.server.owner
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": m, "object": "model", "created": owner.created, "owned_by": "keel"}
                        for m in owner.models
                    ],
                },
            )
        else:
            self._error(404, f"no route GET {path}")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        raw = self._read_body()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._record(raw, None)
            self._error(400, "request body is not valid JSON")
            return
        if not isinstance(body, dict):
            self._record(raw, None)
            self._error(400, "request body must be a JSON object")
            return
        self._record(raw, body)
        if path != "/v1/chat/completions":
            self._error(404, f"no route POST {path}")
            return
        if not isinstance(body.get("messages"), list):
            self._error(400, "'messages' is required")
            return
        owner = self.server.owner
        try:
            reply = owner.responder(body)
            message, finish_reason, usage = _normalise(body, reply)
        except ResponderError as exc:
            self._error(exc.status, exc.message, exc.err_type, exc.should_retry)
            return
        except Exception as exc:  # a broken responder is a 500, not a hung client
            self._error(500, f"responder failed: {exc!r}", "server_error")
            return
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        model = str(body.get("model") or owner.models[0])
        created = int(time.time())
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            sse = b"".join(
                b"data: " + json.dumps(chunk).encode() + b"\n\n"
                for chunk in _stream_chunks(
                    completion_id, created, model, message, finish_reason, usage, include_usage
                )
            )
            self._send(200, sse + b"data: [DONE]\n\n", "text/event-stream; charset=utf-8")
            return
        self._send_json(
            200,
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "system_fingerprint": "keel-tests",
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": finish_reason,
                    }
                ],
                "usage": usage,
            },
        )


def _normalise(
    body: dict[str, Any], reply: dict[str, Any]
) -> tuple[dict[str, Any], str, dict[str, int]]:
    if not isinstance(reply, dict):
        raise TypeError(f"responder must return a dict, got {type(reply).__name__}")
    content = reply.get("content")
    if content is not None and not isinstance(content, str):
        raise TypeError("responder 'content' must be a str or None")
    tool_calls: list[dict[str, Any]] = []
    for tc in reply.get("tool_calls") or []:
        fn = tc.get("function") or {}
        args = fn.get("arguments", "{}")
        if not isinstance(args, str):
            args = json.dumps(args)
        tool_calls.append(
            {
                "id": tc.get("id") or f"call_{uuid.uuid4().hex[:12]}",
                "type": tc.get("type", "function"),
                "function": {"name": fn["name"], "arguments": args},
            }
        )
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    finish_reason = reply.get("finish_reason") or ("tool_calls" if tool_calls else "stop")
    prompt = _approx_tokens(_prompt_chars(body))
    completion = _approx_tokens(_completion_chars(message))
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if reply.get("usage"):
        usage.update(reply["usage"])
        usage["total_tokens"] = reply["usage"].get(
            "total_tokens", usage["prompt_tokens"] + usage["completion_tokens"]
        )
    return message, finish_reason, usage


def _pieces(text: str, size: int = 8) -> Iterator[str]:
    for i in range(0, len(text), size):
        yield text[i : i + size]


def _stream_chunks(
    completion_id: str,
    created: int,
    model: str,
    message: dict[str, Any],
    finish_reason: str,
    usage: dict[str, int],
    include_usage: bool,
) -> Iterator[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        c: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "keel-tests",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            c["usage"] = None
        return c

    yield chunk({"role": "assistant", "content": ""})
    for piece in _pieces(message.get("content") or ""):
        yield chunk({"content": piece})
    for index, tc in enumerate(message.get("tool_calls") or []):
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": tc["id"],
                        "type": tc["type"],
                        "function": {"name": tc["function"]["name"], "arguments": ""},
                    }
                ]
            }
        )
        for piece in _pieces(tc["function"]["arguments"]):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, finish_reason)
    if include_usage:
        yield {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "keel-tests",
            "choices": [],
            "usage": usage,
        }


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: OpenAICompatServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)


@dataclass
class OpenAICompatServer:
    """An OpenAI-compatible server on 127.0.0.1:<free port> in a background thread."""

    responder: Responder = echo_responder
    models: list[str] = field(default_factory=lambda: ["local"])
    verbose: bool = False
    requests: list[RecordedRequest] = field(default_factory=list, init=False)
    created: int = field(default_factory=lambda: int(time.time()), init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _httpd: _HTTPServer | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    def start(self) -> OpenAICompatServer:
        """Bind and serve in a daemon thread; idempotent."""
        if self._httpd is None:
            self._httpd = _HTTPServer(self)
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"openai-compat-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._httpd = None
            self._thread = None

    def __enter__(self) -> OpenAICompatServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (the server must be started)."""
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` — pass as ``base_url`` to ChatOpenAI / openai.OpenAI."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """Bodies of the chat-completion requests received so far, oldest first."""
        with self._lock:
            return [
                r.body
                for r in self.requests
                if r.body is not None and r.path.rstrip("/").endswith("/chat/completions")
            ]
