"""A scripted OpenAI-compatible HTTP server on 127.0.0.1 for fault tests and benchmarks.

It serves ``POST /v1/chat/completions`` and ``GET /v1/models`` and records every chat body.
Replies come from a queue of ``Reply`` objects (then the default), or from a callable given
the request body. The default reply is instant and valid: for each of the ``n`` choices it
answers the request's JSON schema with the first enum value of each property, so the stub
doubles as an "instant endpoint" for overhead benchmarks.

    with StubServer([Reply(429, headers={"Retry-After": "0.2"})]) as stub:
        backend = OpenAICompatBackend(BackendSpec(type="openai_compat", base_url=stub.url, ...))
        await RetryPolicy().call(lambda: backend.complete(request))  # as the runner does
        assert stub.calls == 2
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer. ``body=None`` means the default answer (with ``choices`` of them,
    default the request's ``n``); ``delay`` sleeps first; ``drop`` closes the connection
    without answering; ``trickle`` sends the body one byte per that many seconds."""

    status: int = 200
    body: dict[str, Any] | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    choices: int | None = None
    delay: float = 0.0
    drop: bool = False
    trickle: float = 0.0


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (timeout tests) is expected; anything else is a stub bug.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def error(status: int, message: str, type_: str = "invalid_request_error", **extra: Any) -> Reply:
    """An OpenAI-shaped error reply: ``{"error": {"message", "type", "code", ...}}``."""
    code = extra.pop("code", status)
    headers = extra.pop("headers", {})
    return Reply(
        status,
        {"error": {"message": message, "type": type_, "code": code, **extra}},
        headers=headers,
    )


Script = Callable[[dict[str, Any]], "Reply | None"]


class StubServer:
    """Threaded stub; ``url`` is the ``/v1`` base URL. Use as a context manager.

    ``script``: a list of replies used in order (then defaults), or a callable from the
    request body to a reply (``None`` for the default). ``models``: names it serves; a request
    for another model gets the 404 vLLM sends. ``None`` accepts any model. ``model_card``:
    extra fields of each ``/v1/models`` entry (vLLM's ``max_model_len``). ``tokenize``: the
    token ids of a chat, served as vLLM's ``POST /tokenize`` (without it: 404, as hosted APIs).
    """

    def __init__(
        self,
        script: Iterable[Reply] | Script | None = None,
        *,
        models: Iterable[str] | None = None,
        model_card: dict[str, Any] | None = None,
        tokenize: Callable[[list[dict[str, Any]]], list[int]] | None = None,
    ) -> None:
        self.model_card = model_card or {}
        self.tokenize = tokenize
        self._queue: deque[Reply] = deque()
        self._script: Script | None = None
        if callable(script):
            self._script = script
        elif script is not None:
            self._queue.extend(script)
        self.models = list(models) if models is not None else None
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd = _QuietServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.bodies)

    def push(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def start(self) -> StubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.bodies.append(body)
            queued = self._queue.popleft() if self._queue else None
        if queued is not None:
            return queued
        if self.models is not None and body.get("model") not in self.models:
            model = body.get("model")
            return error(404, f"The model `{model}` does not exist.", "NotFoundError")
        reply = self._script(body) if self._script is not None else None
        return reply or Reply()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each keep-alive request stalls ~40 ms

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/") != "/v1/models":
                    return self._send(Reply(404, {"error": {"message": "no such route"}}), {})
                names = stub.models if stub.models is not None else ["stub-model"]
                card = {"object": "model", "owned_by": "stub", **stub.model_card}
                data = [{"id": m, **card} for m in names]
                self._send(Reply(200, {"object": "list", "data": data}), {})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.rstrip("/") == "/tokenize" and stub.tokenize is not None:
                    ids = stub.tokenize(json.loads(raw)["messages"])
                    answer = {"count": len(ids), "max_model_len": 8192, "tokens": ids}
                    return self._send(Reply(200, answer), {})
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._send(Reply(404, {"error": {"message": "no such route"}}), {})
                body = json.loads(raw or b"{}")
                reply = stub._next_reply(body)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return None
                self._send(reply, body)

            def _send(self, reply: Reply, body: dict[str, Any]) -> None:
                payload = reply.body if reply.body is not None else default_answer(body, reply)
                payload = _spelled(payload)
                data = payload if isinstance(payload, str) else json.dumps(payload)
                blob = data.encode()
                self.send_response(reply.status)
                if "Content-Type" not in reply.headers:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(blob)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if not reply.trickle:
                    self.wfile.write(blob)
                    return
                for i in range(len(blob)):
                    self.wfile.write(blob[i : i + 1])
                    self.wfile.flush()
                    time.sleep(reply.trickle)

        return Handler


def request_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema a chat body constrains to, in any of the three request shapes."""
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return response_format.get("json_schema", {}).get("schema")  # type: ignore[no-any-return]
    if "structured_outputs" in body:
        return body["structured_outputs"].get("json")  # type: ignore[no-any-return]
    return body.get("guided_json")


def example_value(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> Any:
    """A value valid for simple schemas: first enum/const value, first anyOf branch, etc."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return example_value(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return example_value(schema[key][0], defs)
    kind = schema.get("type", "object")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        props = schema.get("properties", {})
        return {name: example_value(sub, defs) for name, sub in props.items()}
    if kind == "array":
        count = schema.get("minItems", 0)
        return [example_value(schema.get("items", {}), defs) for _ in range(count)]
    return {"string": "x", "integer": 0, "number": 0, "boolean": True, "null": None}.get(kind)


def token_logprobs(text: str) -> dict[str, Any]:
    """Logprobs as a server reports them: tokens that spell ``text`` (two halves, -0.25 and
    -0.5), each listing itself as its only alternative."""
    cut = len(text) // 2
    content = []
    for piece, logprob in ((text[:cut], -0.25), (text[cut:], -0.5)):
        token = {"token": piece, "logprob": logprob, "bytes": list(piece.encode())}
        content.append({**token, "top_logprobs": [token]})
    return {"content": content}


def _spelled(payload: Any) -> Any:
    """Like a real server, every choice's token logprobs spell its text, also when a script
    replaced the text of a default answer."""
    if not isinstance(payload, dict):
        return payload
    for choice in payload.get("choices") or []:
        tokens = (choice.get("logprobs") or {}).get("content")
        text = (choice.get("message") or {}).get("content") or ""
        if tokens is not None and "".join(t["token"] for t in tokens) != text:
            choice["logprobs"] = token_logprobs(text)
    return payload


def default_answer(body: dict[str, Any], reply: Reply | None = None) -> dict[str, Any]:
    """A valid chat.completion for ``body``: ``n`` (or ``reply.choices``) identical choices."""
    schema = request_schema(body)
    text = json.dumps(example_value(schema) if schema else {"label": "x"})
    n = reply.choices if reply is not None and reply.choices is not None else body.get("n", 1)
    logprobs = token_logprobs(text) if body.get("logprobs") else None
    choices = [
        {
            "index": i,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
            "logprobs": logprobs,
        }
        for i in range(n)
    ]
    prompt_chars = sum(len(m.get("content") or "") for m in body.get("messages", []))
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "stub-model"),
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_chars // 4 + 1,
            "completion_tokens": len(text) // 4 + 1,
            "total_tokens": prompt_chars // 4 + len(text) // 4 + 2,
        },
    }
